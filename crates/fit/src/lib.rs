//! Fit and collision checks of an implant against a bone, surface deviation, and distance
//! maps.
//!
//! * [`fit()`] → [`FitReport`]: intersection as **solids** (crossing surfaces, or one mesh
//!   inside the other), certified maximum penetration depth and where, exact penetration
//!   volume, minimum clearance with both closest points, per-vertex signed distance,
//!   contact fraction in a clearance band, and a pass/fail verdict ([`FitOptions`]).
//! * [`compare()`] → [`CompareReport`]: area-weighted surface deviation both ways
//!   (Hausdorff, HD95, mean, RMS, signed mean), for "printed part vs plan" checks.
//! * [`SignedIndex`]: exact signed distance to a closed mesh (BVH + pseudo-normals);
//!   [`colormap`]: a diverging colour map with its legend;
//!   [`phantom`]: shapes with known answers (plate on a block, boxes).
//!
//! Every query is exact up to f64 rounding on the meshes' f32 corners; reductions run in a
//! fixed order, so reports are identical at any thread count. The crate reads no files.
//!
//! ```
//! use osteon_fit::{fit, FitOptions, phantom::box_mesh};
//! use osteon_geom::Vec3;
//! // A 2 mm cube resting 0.25 mm above a block.
//! let bone = box_mesh(Vec3::new(-10.0, -10.0, -5.0), Vec3::new(10.0, 10.0, 0.0));
//! let implant = box_mesh(Vec3::new(-1.0, -1.0, 0.25), Vec3::new(1.0, 1.0, 2.25));
//! let r = fit(&implant, &bone, &FitOptions::default()).unwrap();
//! assert!(!r.intersects && r.pass);
//! assert!((r.min_clearance_mm - 0.25).abs() < 1e-6);
//! assert_eq!(r.penetration_volume_mm3, Some(0.0));
//! ```
#![deny(missing_docs)]

mod bvh;
pub mod colormap;
pub mod compare;
pub mod fit;
mod geometry;
mod maximize;
mod near;
pub mod phantom;
mod signed;

pub use colormap::Legend;
pub use compare::{compare, compare_with, CompareOptions, CompareReport, DirectedStats, Sampling};
pub use fit::{fit, fit_with, FitCheck, FitOptions, FitReport};
pub use signed::{SignedIndex, SignedPoint, SolidCheck};

use osteon_mesh::MeshError;

/// Errors of fit and compare.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FitError {
    /// A mesh has no triangle.
    #[error("the {which} mesh has no triangles")]
    Empty {
        /// Which mesh ("implant", "bone", "first mesh", ...).
        which: &'static str,
    },
    /// A mesh is invalid (indices out of range, non-finite coordinates, too large).
    #[error("the {which} mesh is invalid: {source}")]
    Mesh {
        /// Which mesh.
        which: &'static str,
        /// What is wrong.
        source: MeshError,
    },
    /// An option is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl From<MeshError> for FitError {
    fn from(source: MeshError) -> Self {
        match source {
            MeshError::Empty => FitError::Empty { which: "input" },
            source => FitError::Mesh {
                which: "input",
                source,
            },
        }
    }
}

/// [`FitError::Empty`] or [`FitError::Mesh`] (named `which`) unless `mesh` has triangles
/// and passes [`osteon_mesh::Mesh::validate`].
pub(crate) fn check_mesh(mesh: &osteon_mesh::Mesh, which: &'static str) -> Result<(), FitError> {
    if mesh.triangles.is_empty() {
        return Err(FitError::Empty { which });
    }
    mesh.validate()
        .map_err(|source| FitError::Mesh { which, source })
}

impl FitError {
    pub(crate) fn with_which(self, w: &'static str) -> FitError {
        match self {
            FitError::Empty { .. } => FitError::Empty { which: w },
            FitError::Mesh { source, .. } => FitError::Mesh { which: w, source },
            e => e,
        }
    }
}
