//! Surface extraction: voxel volume → watertight triangle mesh in world millimetres.
//!
//! * [`extract_mask`] — the boundary of the non-zero voxels of a `u8` mask, through the
//!   midpoints of grid edges between inside and outside voxel centres.
//! * [`extract_field`] — the level set of an `f32` field (inside where `value < iso`),
//!   vertices by linear interpolation.
//! * [`ExtractOptions`] in, [`ExtractReport`] out; errors are [`IsoError`].
//!
//! Both are marching cubes ([`marching_cubes`]) with a case table derived programmatically
//! (the `tables` module) so that the output is closed, 2-manifold and outward-oriented for every input,
//! z-slab parallel and byte-identical whatever the thread count.
//!
//! ```
//! use osteon_geom::{NeverCancel, NoProgress};
//! use osteon_iso::{extract_mask, ExtractOptions};
//! use osteon_volume::{Grid, Volume};
//! // One voxel of 2 mm: an octahedron through the 6 face centres, 1/6 of the voxel volume.
//! let mask = Volume::new(Grid::new([1, 1, 1], [2.0, 2.0, 2.0]), vec![1u8]).unwrap();
//! let (mesh, report) =
//!     extract_mask(&mask, &ExtractOptions::default(), &NoProgress, &NeverCancel).unwrap();
//! assert_eq!((report.vertices, report.triangles), (6, 8));
//! assert!((mesh.signed_volume() - 8.0 / 6.0).abs() < 1e-6);
//! assert_eq!(report.inside_volume_mm3, 8.0);
//! ```
#![deny(missing_docs)]

pub mod marching_cubes;
mod tables;

pub use marching_cubes::{extract_field, extract_mask, FRAC_MIN};

use serde::{Deserialize, Serialize};

/// Options of [`extract_mask`] and [`extract_field`].
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtractOptions {
    /// Cell layers per parallel slab; `None` picks about 64 slabs from the dims. The output
    /// does not depend on it (only speed and scratch memory do).
    pub slab_cells: Option<usize>,
}

impl ExtractOptions {
    /// Same options with `slab_cells` layers per slab (≥ 1).
    pub fn with_slab_cells(mut self, layers: usize) -> Self {
        self.slab_cells = Some(layers);
        self
    }
}

/// What an extraction produced and measured.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExtractReport {
    /// Vertices of the mesh.
    pub vertices: usize,
    /// Triangles of the mesh.
    pub triangles: usize,
    /// Inside samples (non-zero mask voxels, or field samples below the isovalue).
    pub inside_voxels: u64,
    /// `inside_voxels` × |voxel volume|, mm³: compare with the mesh's volume.
    pub inside_volume_mm3: f64,
    /// The grid is mirrored (direction determinant < 0), so the winding was reversed to face
    /// outward in world space.
    pub mirrored: bool,
    /// Number of parallel slabs the layers were cut into.
    pub slabs: usize,
}

/// Errors of surface extraction.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum IsoError {
    /// No sample is inside: there is no surface.
    #[error("no voxel is inside: the surface is empty")]
    Empty,
    /// The mesh would have more vertices than `u32` indices address.
    #[error("the surface needs {vertices} vertices, more than the limit of {limit}")]
    TooLarge {
        /// Vertices needed (at least; counting may stop early).
        vertices: u64,
        /// The limit.
        limit: u64,
    },
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The isovalue is NaN or infinite.
    #[error("isovalue {iso} is not finite")]
    NonFiniteIso {
        /// The offending isovalue.
        iso: f32,
    },
    /// The volume's grid or sample count is unusable.
    #[error("invalid volume: {reason}")]
    InvalidVolume {
        /// What is wrong.
        reason: String,
    },
    /// An option value is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
}
