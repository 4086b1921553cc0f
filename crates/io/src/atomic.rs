//! Atomic file writes: write to a temporary file beside the target, then rename.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::IoError;

/// Writes `path` atomically: `write` fills a temporary file in the same directory, which is
/// flushed, synced and renamed over `path` only when `write` succeeds. On any error the
/// temporary file is removed and `path` is left as it was (absent or the old content).
pub fn write_atomic<F>(path: &Path, write: F) -> Result<(), IoError>
where
    F: FnOnce(&mut dyn Write) -> Result<(), IoError>,
{
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(IoError::NotFound { path: dir });
    }
    let name = path
        .file_name()
        .ok_or_else(|| IoError::malformed(path, "output path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(|e| IoError::io(&tmp, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        write(&mut w)?;
        let file = w
            .into_inner()
            .map_err(|e| IoError::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| IoError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| IoError::io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        let r = write_atomic(&p, |w| {
            w.write_all(b"half").unwrap();
            Err(IoError::malformed("x", "boom"))
        });
        assert!(r.is_err());
        assert!(!p.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn successful_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        std::fs::write(&p, b"old").unwrap();
        write_atomic(&p, |w| w.write_all(b"new").map_err(|e| IoError::io("x", e))).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
    }
}
