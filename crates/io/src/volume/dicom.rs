//! (being written)
use std::path::Path;
use crate::{IoError, ReadOptions, Scan};
/// Reads a DICOM series.
pub fn read_series(path: &Path, _opts: &ReadOptions) -> Result<Scan, IoError> {
    Err(IoError::Unsupported { path: path.to_path_buf(), what: "dicom reader not yet written".into() })
}
