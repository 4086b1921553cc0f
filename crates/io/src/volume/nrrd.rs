//! (being written)
use std::path::Path;
use crate::{IoError, ReadOptions, Scan};
/// Reads a scan.
pub fn read(path: &Path, _opts: &ReadOptions) -> Result<Scan, IoError> {
    Err(IoError::Unsupported { path: path.to_path_buf(), what: "nrrd reader not yet written".into() })
}
