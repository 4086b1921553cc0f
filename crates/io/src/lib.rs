//! Every file format osteon reads and writes, atomic writes, and provenance.
//!
//! * [`read_scan`] — a scan ([`Scan`]) from a NIfTI, NRRD or MetaImage file, a PNG/TIFF slice
//!   stack with `volume.json`, or a DICOM series directory, detected by content.
//! * [`write_atomic`] — every output goes through a temporary file and a rename.
//! * [`IoError`] — every error names the file it concerns.
#![deny(missing_docs)]

mod atomic;
mod error;
mod scan;
pub mod volume;

pub use atomic::write_atomic;
pub use error::IoError;
pub use scan::{detect_file, read_scan, QcWarning, ReadOptions, Scan, ScanFormat};
