//! Osteon: from a CT scan to a watertight, manifold, outward-oriented bone surface in patient
//! millimetres, with a report of what each step did.
//!
//! The facade re-exports the component crates ([`geom`], [`volume`], [`mesh`], [`iso`], [`sdf`],
//! [`io`])
//! and offers whole jobs: [`mesh_scan`] (read → select → extract) and [`scan_summary`].
//!
//! ```no_run
//! use osteon::{mesh_scan, MeshJobOptions};
//! use osteon::geom::{NoProgress, NeverCancel};
//! let (mesh, report) = mesh_scan(
//!     std::path::Path::new("sample-scans/long_bone_fracture"),
//!     &MeshJobOptions::default(),
//!     &NoProgress,
//!     &NeverCancel,
//! )?;
//! assert!(report.mesh.watertight);
//! osteon::io::write_mesh("bone.stl".as_ref(), &mesh, &Default::default())?;
//! # Ok::<(), osteon::Error>(())
//! ```
#![deny(missing_docs)]

mod job;
pub mod phantom;

pub use job::{
    auto_criterion, mesh_scan, mesh_volume, scan_summary, MeshJobOptions, MeshJobReport,
    ScanSummary,
};
pub use osteon_geom as geom;
pub use osteon_io as io;
pub use osteon_iso as iso;
pub use osteon_mesh as mesh;
pub use osteon_sdf as sdf;
pub use osteon_volume as volume;

/// Any error of an osteon job.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file.
    #[error(transparent)]
    Io(#[from] io::IoError),
    /// Volume processing (selection).
    #[error("{path}: {source}")]
    Volume {
        /// The scan concerned.
        path: std::path::PathBuf,
        /// What went wrong.
        source: volume::VolumeError,
    },
    /// Surface extraction.
    #[error("{path}: {source}")]
    Iso {
        /// The scan concerned.
        path: std::path::PathBuf,
        /// What went wrong.
        source: iso::IsoError,
    },
    /// A mesh operation.
    #[error(transparent)]
    Mesh(#[from] mesh::MeshError),
    /// Options that do not fit the input.
    #[error("{path}: {reason}")]
    Usage {
        /// The input concerned.
        path: std::path::PathBuf,
        /// What to change.
        reason: String,
    },
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
}
