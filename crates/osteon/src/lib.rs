//! Osteon: from a CT scan to a watertight, manifold, outward-oriented bone surface in patient
//! millimetres — and on to a checked print package — with a report of what each step did.
//!
//! A planning program embeds the whole chain with [`pipeline::run`]: a volume it already
//! holds, its own progress callback, a cancel flag another thread may set, and every step's
//! report as a struct (the full program is `examples/embed.rs`):
//!
//! ```no_run
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use osteon::geom::Progress;
//! use osteon::io::{Scan, ScanFormat};
//! use osteon::pipeline::{run, Inputs, Recipe};
//! use osteon::volume::{ScalarVolume, ValueKind};
//!
//! struct Status;
//! impl Progress for Status {
//!     fn begin(&self, stage: &str, _total: u64) { println!("{stage}…"); }
//! }
//! let (volume, _) = osteon::phantom::generate(&Default::default()); // the program's own CT
//! let scan = Scan { volume: ScalarVolume::I16(volume), kind: ValueKind::CtHu,
//!                   format: ScanFormat::SliceStack, files: vec![], warnings: vec![] };
//! let recipe = Recipe::parse("[select]\ncriterion = { preset = \"bone\" }\n[smooth]\n")?;
//! let cancel = AtomicBool::new(false); // a "cancel" button sets it from the UI thread
//! let out = run(&recipe, Inputs::memory(scan, "planning CT"), &Status, &cancel)?;
//! let bone = &out.bone().report;
//! println!("{} triangles, {:.0} mm3, closed: {}", bone.triangles, bone.volume_mm3, bone.watertight);
//! if let Some(s) = &out.reports.smooth { println!("moved at most {:.3} mm", s.max_displacement_mm); }
//! # cancel.store(true, Ordering::Relaxed);
//! # Ok::<(), osteon::Error>(())
//! ```
//!
//! The facade re-exports the component crates ([`geom`], [`volume`], [`mesh`], [`iso`], [`sdf`],
//! [`io`]); [`pipeline`] runs recipes and writes packages with a provenance manifest,
//! [`batch`] runs one recipe over a folder of scans, [`report`] renders the HTML report.
//! Single jobs: [`mesh_scan`] (read → select → extract) and [`scan_summary`].
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

pub mod batch;
mod job;
pub mod phantom;
pub mod pipeline;
pub mod report;

pub use job::{
    auto_criterion, mesh_scan, mesh_volume, scan_summary, MeshJobOptions, MeshJobReport,
    ScanSummary,
};
pub use osteon_fit as fit;
pub use osteon_geom as geom;
pub use osteon_io as io;
pub use osteon_iso as iso;
pub use osteon_mesh as mesh;
pub use osteon_sdf as sdf;
pub use osteon_slice as slice;
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
    /// A signed-distance-field step (offset, shell, thicken, wrap).
    #[error("{path}: {source}")]
    Sdf {
        /// The scan concerned.
        path: std::path::PathBuf,
        /// What went wrong (boxed: it is large and rare).
        source: Box<sdf::SdfError>,
    },
    /// The fit check of an implant against the bone.
    #[error("{path}: fit: {source}")]
    Fit {
        /// The scan concerned.
        path: std::path::PathBuf,
        /// What went wrong (boxed: it is large and rare).
        source: Box<osteon_fit::FitError>,
    },
    /// A recipe that cannot be read or has invalid values.
    #[error("recipe: {reason}")]
    Recipe {
        /// What is wrong, naming the key.
        reason: String,
    },
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
}
