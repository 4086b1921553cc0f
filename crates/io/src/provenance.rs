//! Provenance manifests: which input bytes and which settings made an output.
//!
//! A manifest is a JSON file written beside an output (`<output>.manifest.json`) holding the
//! tool version, the command line, the effective options, SHA-256 of every input and output
//! file, the steps' reports, and the SHA-256 of any input's own manifest (a chain back to
//! the scan). It holds no time stamps and no timings, so the same run gives the same bytes.

use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{write_atomic, IoError};

/// A file and the SHA-256 of its bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    /// Path as given.
    pub path: String,
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Hex SHA-256 and size of a file, read in 1 MiB chunks.
pub fn hash_file(path: &Path) -> Result<FileHash, IoError> {
    let mut f = std::fs::File::open(path).map_err(|e| IoError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| IoError::io(path, e))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        h.update(&buf[..n]);
    }
    let digest = h.finalize();
    let sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(FileHash {
        path: path.to_string_lossy().into_owned(),
        sha256,
        bytes,
    })
}

/// Hashes many files in parallel; the result keeps the given order.
pub fn hash_files(paths: &[PathBuf]) -> Result<Vec<FileHash>, IoError> {
    paths.par_iter().map(|p| hash_file(p)).collect()
}

/// The manifest path for an output: `<output>.manifest.json`.
pub fn manifest_path_for(output: &Path) -> PathBuf {
    let mut s = output.as_os_str().to_owned();
    s.push(".manifest.json");
    PathBuf::from(s)
}

/// A provenance manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `osteon`.
    pub tool: String,
    /// The tool's version.
    pub version: String,
    /// Units of every coordinate in the outputs.
    pub units: String,
    /// The command line.
    pub command: Vec<String>,
    /// Effective options of every step.
    pub options: serde_json::Value,
    /// Every input file.
    pub inputs: Vec<FileHash>,
    /// Manifests of inputs that osteon itself made (`<input>.manifest.json`), hashed.
    pub input_manifests: Vec<FileHash>,
    /// Every output file.
    pub outputs: Vec<FileHash>,
    /// Each step's report.
    pub reports: serde_json::Value,
}

impl Manifest {
    /// Hashes `inputs` and `outputs` (which must exist) and assembles a manifest.
    pub fn new(
        command: Vec<String>,
        options: serde_json::Value,
        inputs: &[PathBuf],
        outputs: &[PathBuf],
        reports: serde_json::Value,
    ) -> Result<Manifest, IoError> {
        let chained: Vec<PathBuf> = inputs
            .iter()
            .map(|p| manifest_path_for(p))
            .filter(|m| m.is_file())
            .collect();
        Ok(Manifest {
            tool: "osteon".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            units: "mm".into(),
            command,
            options,
            inputs: hash_files(inputs)?,
            input_manifests: hash_files(&chained)?,
            outputs: hash_files(outputs)?,
            reports,
        })
    }

    /// Writes the manifest atomically as pretty JSON.
    pub fn write(&self, path: &Path) -> Result<(), IoError> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| IoError::malformed(path, format!("cannot serialise manifest: {e}")))?;
        write_atomic(path, |w| {
            w.write_all(text.as_bytes())
                .and_then(|_| w.write_all(b"\n"))
                .map_err(|e| IoError::io(path, e))
        })
    }

    /// Re-hashes every input and output and lists those whose bytes changed or vanished.
    pub fn verify(&self) -> Vec<String> {
        self.inputs
            .iter()
            .chain(&self.outputs)
            .filter_map(|f| match hash_file(Path::new(&f.path)) {
                Ok(h) if h.sha256 == f.sha256 => None,
                Ok(_) => Some(format!("{}: content changed", f.path)),
                Err(e) => Some(e.to_string()),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc.txt");
        std::fs::write(&p, b"abc").unwrap();
        let h = hash_file(&p).unwrap();
        assert_eq!(
            h.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(h.bytes, 3);
    }

    #[test]
    fn verify_names_a_changed_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("in.txt"), dir.path().join("out.txt"));
        std::fs::write(&a, b"scan").unwrap();
        std::fs::write(&b, b"mesh").unwrap();
        let m = Manifest::new(
            vec![],
            serde_json::Value::Null,
            &[a],
            std::slice::from_ref(&b),
            serde_json::Value::Null,
        )
        .unwrap();
        assert!(m.verify().is_empty());
        std::fs::write(&b, b"mesH").unwrap();
        let bad = m.verify();
        assert_eq!(bad.len(), 1);
        assert!(bad[0].contains("out.txt"), "{bad:?}");
    }
}
