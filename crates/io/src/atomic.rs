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
        return Err(IoError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("the folder {} does not exist", dir.display()),
            ),
        });
    }
    let name = path
        .file_name()
        .ok_or_else(|| IoError::malformed(path, "output path has no file name"))?;
    // The rename would replace whatever is there: refuse anything but a regular file (a
    // device such as /dev/null, a FIFO or a folder must not be swapped for our output).
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() {
            return Err(IoError::malformed(
                path,
                if meta.is_dir() {
                    "the output path is a folder"
                } else {
                    "the output path exists and is not a regular file (a device or pipe?)"
                },
            ));
        }
    }
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        // Name the output the user asked for, not the hidden temporary file.
        let file = std::fs::File::create(&tmp).map_err(|e| IoError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                e.kind(),
                format!("cannot create a file in {} ({e})", dir.display()),
            ),
        })?;
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
    fn refuses_to_replace_a_folder_or_a_device() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("out.stl");
        std::fs::create_dir(&sub).unwrap();
        let e =
            write_atomic(&sub, |w| w.write_all(b"x").map_err(|e| IoError::io("x", e))).unwrap_err();
        assert!(
            e.to_string().contains("out.stl") && e.to_string().contains("folder"),
            "{e}"
        );
        assert!(sub.is_dir());
        // A special file (here a Unix socket; /dev/null as root in real life) must stay.
        #[cfg(unix)]
        {
            let sock = dir.path().join("out.ply");
            let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
            let e = write_atomic(&sock, |w| {
                w.write_all(b"x").map_err(|e| IoError::io("x", e))
            })
            .unwrap_err();
            assert!(e.to_string().contains("out.ply"), "{e}");
            assert!(!std::fs::symlink_metadata(&sock).unwrap().is_file());
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        }
    }

    #[test]
    fn errors_name_the_output_not_the_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing_folder").join("out.stl");
        let e =
            write_atomic(&p, |w| w.write_all(b"x").map_err(|e| IoError::io("x", e))).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("out.stl") && msg.contains("missing_folder"),
            "{msg}"
        );
        assert!(!msg.contains("out.stl.tmp"), "{msg}");
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
