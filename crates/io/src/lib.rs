//! Every file format osteon reads and writes, atomic writes, and provenance.
//!
//! * [`read_scan`] — a scan ([`Scan`]) from a NIfTI, NRRD or MetaImage file, a PNG/TIFF slice
//!   stack with `volume.json`, or a DICOM series directory, detected by content.
//! * [`write_atomic`] — every output goes through a temporary file and a rename.
//! * [`read_mesh`] and [`write_mesh`] — STL (binary, ASCII), PLY, OBJ and 3MF meshes.
//! * [`IoError`] — every error names the file it concerns.
#![deny(missing_docs)]

mod atomic;
mod error;
pub mod mesh;
mod provenance;
mod scan;
pub mod volume;

pub use atomic::write_atomic;
pub use error::IoError;
pub use mesh::{
    frame_hint, parse_mesh, read_mesh, write_3mf, write_mesh, write_obj, write_ply,
    write_ply_colour_map, write_ply_scalar, write_ply_scalar_colours, write_ply_with_scalar,
    write_stl, write_stl_ascii, MeshFormat, MeshWriteOptions,
};
pub use provenance::{hash_file, hash_files, manifest_path_for, FileHash, Manifest};
pub use scan::{detect_file, read_scan, QcWarning, ReadOptions, Scan, ScanFormat};
