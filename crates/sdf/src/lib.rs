//! Signed distance fields of triangle meshes, and the solids made from them: offsets,
//! hollow shells, thickened surface patches and closed wraps — each with its measured error.
//!
//! * [`SignedDistance`] — exact (signed) distance, closest point and winding number of a
//!   mesh at any point (BVH; sign by pseudo-normals or the generalised winding number).
//! * [`signed_distance_field`] — that distance sampled on a voxel grid, exact in a narrow
//!   band, clamped outside it ([`field`]).
//! * [`offset`], [`shell`], [`thicken`], [`wrap`] — a field meshed with marching cubes
//!   (`osteon-iso`), vertices projected onto the exact level set and creased triangles
//!   split until the surface is within tolerance, folds those moves made undone by
//!   relaxation along the level set or, failing that, roll-back ([`project`];
//!   the output is free of self-intersections, checked exactly); each returns the mesh and an
//!   [`OffsetReport`] with the voxel size, the measured error ([`measure`]) and timings.
//!
//! All lengths are millimetres; the output is closed, 2-manifold and outward-oriented
//! (marching cubes guarantees it, projection and splitting keep the connectivity).
//!
//! ```
//! use osteon_geom::{NeverCancel, NoProgress, Vec3};
//! use osteon_mesh::Mesh;
//! use osteon_sdf::{offset, SdfOptions};
//! // A 4 mm cube, offset outward by 1 mm at 0.25 mm voxels: a rounded cube.
//! let p: Vec<Vec3> = (0..8)
//!     .map(|i| Vec3::new((i & 1) as f32, ((i >> 1) & 1) as f32, (i >> 2) as f32) * 4.0)
//!     .collect();
//! let t = vec![
//!     [0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6], [0, 1, 4], [1, 5, 4],
//!     [2, 6, 3], [3, 6, 7], [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5],
//! ];
//! let cube = Mesh::new(p, t).unwrap();
//! let opts = SdfOptions::default().with_voxel_mm(0.25);
//! let (rounded, report) = offset(&cube, 1.0, &opts, &NoProgress, &NeverCancel).unwrap();
//! let pi = std::f64::consts::PI;
//! let expected = 64.0 + 6.0 * 16.0 + 3.0 * pi * 4.0 + 4.0 / 3.0 * pi; // Minkowski sum
//! assert!((rounded.signed_volume() / expected - 1.0).abs() < 0.01);
//! assert_eq!(report.components, 1);
//! assert!(report.error.p99_pct_voxel <= 10.0);
//! ```
#![deny(missing_docs)]

mod batch;
mod bvh;
mod crease;
pub mod field;
mod many;
pub mod measure;
mod ops;
pub mod project;
mod signed_distance;
mod untangle;

pub use field::signed_distance_field;
pub use ops::{offset, shell, thicken, wrap};
pub use signed_distance::{auto_sign_method, SignedDistance};

use std::collections::BTreeMap;

use osteon_iso::IsoError;
use osteon_mesh::MeshError;
use serde::{Deserialize, Serialize};

/// Voxels along the mesh's bounding-box diagonal when no voxel size is given.
pub const DEFAULT_VOXELS_PER_DIAGONAL: f64 = 256.0;

/// How the inside of the input mesh is decided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignMethod {
    /// Pseudo-normals for a watertight, manifold, oriented mesh; the winding number otherwise.
    #[default]
    Auto,
    /// Angle-weighted pseudo-normals (Bærentzen & Aanæs 2005): exact for clean closed meshes.
    PseudoNormal,
    /// Generalised winding number ≥ ½ (Jacobson et al. 2013): robust to holes and overlaps.
    WindingNumber,
}

impl SignMethod {
    /// `auto`, `pseudo_normal` or `winding_number`.
    pub fn name(self) -> &'static str {
        match self {
            SignMethod::Auto => "auto",
            SignMethod::PseudoNormal => "pseudo_normal",
            SignMethod::WindingNumber => "winding_number",
        }
    }
}

/// Which side of the surface a [`shell`] grows into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShellSide {
    /// The wall lies inside the input: outer surface = input, cavity = offset(−t).
    Inward,
    /// The wall lies outside the input: outer surface = offset(+t), cavity = input.
    Outward,
}

/// Options of every operation of this crate.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SdfOptions {
    /// Voxel edge in mm; `None`: the bounding-box diagonal / [`DEFAULT_VOXELS_PER_DIAGONAL`],
    /// coarsened if needed to fit `max_memory_bytes` (with a warning).
    pub voxel_mm: Option<f64>,
    /// Largest memory the voxel grids may take; a grid needing more is refused
    /// ([`SdfError::MemoryBudget`]) before anything is allocated. Default 4 GiB.
    pub max_memory_bytes: u64,
    /// How the inside is decided.
    pub sign: SignMethod,
    /// Project output vertices onto the exact level set and split triangles that stray
    /// from it (default true). Off: plain marching-cubes interpolation.
    pub project: bool,
    /// Rounds of splitting triangles whose edge midpoints or centroids are off the level set
    /// by more than `refine_tolerance_voxel` (default 1; 0 = projection only, without the
    /// crease step either).
    pub refine_passes: u32,
    /// Tolerance of that splitting, and of the crease step that follows it (triangles
    /// straying farther get a vertex on the crease or an edge along it), as a fraction of
    /// the voxel (default 0.08).
    pub refine_tolerance_voxel: f64,
    /// Half-width of the exactly computed band around the level set, in voxels (default 1.5;
    /// ≥ 1 keeps the interpolation of every crossing edge exact).
    pub band_voxels: f64,
    /// Closing radius of [`wrap`] in mm; `None`: 2 voxels. Holes narrower than about twice
    /// this are spanned.
    pub wrap_radius_mm: Option<f64>,
    /// Measure the error of the result (default true).
    pub measure: bool,
}

impl Default for SdfOptions {
    fn default() -> Self {
        SdfOptions {
            voxel_mm: None,
            max_memory_bytes: 4 << 30,
            sign: SignMethod::Auto,
            project: true,
            refine_passes: 1,
            refine_tolerance_voxel: 0.08,
            band_voxels: 1.5,
            wrap_radius_mm: None,
            measure: true,
        }
    }
}

impl SdfOptions {
    /// Same options with a voxel size in mm.
    pub fn with_voxel_mm(mut self, voxel_mm: f64) -> Self {
        self.voxel_mm = Some(voxel_mm);
        self
    }
    /// Same options with a memory budget in bytes.
    pub fn with_max_memory_bytes(mut self, bytes: u64) -> Self {
        self.max_memory_bytes = bytes;
        self
    }
    /// Same options with a sign method.
    pub fn with_sign(mut self, sign: SignMethod) -> Self {
        self.sign = sign;
        self
    }
    /// Same options with projection on or off.
    pub fn with_project(mut self, project: bool) -> Self {
        self.project = project;
        self
    }
    /// Same options with `passes` rounds of splitting.
    pub fn with_refine_passes(mut self, passes: u32) -> Self {
        self.refine_passes = passes;
        self
    }
    /// Same options with a wrap closing radius in mm.
    pub fn with_wrap_radius_mm(mut self, radius_mm: f64) -> Self {
        self.wrap_radius_mm = Some(radius_mm);
        self
    }
    /// Same options with error measurement on or off.
    pub fn with_measure(mut self, measure: bool) -> Self {
        self.measure = measure;
        self
    }

    /// Checks value ranges.
    pub fn validate(&self) -> Result<(), SdfError> {
        if let Some(v) = self.voxel_mm {
            if !(v.is_finite() && v > 0.0) {
                return Err(SdfError::InvalidOption(format!(
                    "voxel_mm = {v} (must be finite and > 0)"
                )));
            }
        }
        if !(self.refine_tolerance_voxel.is_finite() && self.refine_tolerance_voxel > 0.0) {
            return Err(SdfError::InvalidOption(format!(
                "refine_tolerance_voxel = {} (must be > 0)",
                self.refine_tolerance_voxel
            )));
        }
        if !(self.band_voxels.is_finite() && self.band_voxels >= 1.0 && self.band_voxels <= 64.0) {
            return Err(SdfError::InvalidOption(format!(
                "band_voxels = {} (must be in [1, 64])",
                self.band_voxels
            )));
        }
        if let Some(r) = self.wrap_radius_mm {
            if !(r.is_finite() && r > 0.0) {
                return Err(SdfError::InvalidOption(format!(
                    "wrap_radius_mm = {r} (must be finite and > 0)"
                )));
            }
        }
        Ok(())
    }
}

/// The measured distance error of an output surface: at sample points all over it (every
/// vertex and three barycentric points per triangle, statistics weighted by area; a dense
/// search of triangles with large errors for the maximum),
/// `| exact distance to the input surface − |target| |`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OffsetError {
    /// Area-weighted mean, mm.
    pub mean_mm: f64,
    /// Area-weighted 99th percentile, mm.
    pub p99_mm: f64,
    /// Maximum over all samples, mm.
    pub max_mm: f64,
    /// `mean_mm` in % of the voxel.
    pub mean_pct_voxel: f64,
    /// `p99_mm` in % of the voxel.
    pub p99_pct_voxel: f64,
    /// `max_mm` in % of the voxel.
    pub max_pct_voxel: f64,
    /// Sample points.
    pub samples: usize,
}

impl OffsetError {
    /// All zero (nothing measured).
    pub fn zero() -> OffsetError {
        OffsetError {
            mean_mm: 0.0,
            p99_mm: 0.0,
            max_mm: 0.0,
            mean_pct_voxel: 0.0,
            p99_pct_voxel: 0.0,
            max_pct_voxel: 0.0,
            samples: 0,
        }
    }
}

/// What an operation did and measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OffsetReport {
    /// `offset`, `shell_inward`, `shell_outward`, `thicken` or `wrap`.
    pub operation: String,
    /// Offset distance, shell or plate thickness, or wrap closing radius, mm.
    pub distance_mm: f64,
    /// Voxel edge, mm.
    pub voxel_mm: f64,
    /// Grid dimensions.
    pub grid_dims: [usize; 3],
    /// Output triangles.
    pub triangles: usize,
    /// Output vertices.
    pub vertices: usize,
    /// Output connected components (edge-connected).
    pub components: usize,
    /// Vertices left off the level set: moved back toward their marching-cubes position
    /// (split vertices: onto their marching-cubes edge) because projection folded their
    /// triangles into others and relaxation along the level set did not undo it, and not
    /// pushed back onto the level set afterwards (a push that would make a triangle cross
    /// another is refused); the measured error includes them. 0 without projection.
    #[serde(default)]
    pub rolled_back_vertices: usize,
    /// Triangles found folded into others after projection and splitting (before untangling;
    /// 0 without projection): tangential relaxation on the level set undoes most folds, the
    /// rest are rolled back.
    #[serde(default)]
    pub folded_faces: usize,
    /// Vertices put on creases and corners of the level set, and edges flipped to run along
    /// them, where projected triangles cut across (0 without projection).
    #[serde(default)]
    pub crease_vertices: usize,
    /// See [`OffsetReport::crease_vertices`].
    #[serde(default)]
    pub crease_flips: usize,
    /// Triangles of the output that still intersect another after the roll-back (`None`
    /// when nothing was searched: without projection, marching cubes cannot fold).
    #[serde(default)]
    pub self_intersecting_faces: Option<usize>,
    /// Measured distance error of the output.
    pub error: OffsetError,
    /// Sign method used (`pseudo_normal`, `winding_number`, or `unsigned`).
    pub sign_method: String,
    /// Things the caller should know (coarsened voxel, inner shells, …).
    pub warnings: Vec<String>,
    /// Seconds per stage: `sdf`, `extract`, `project`, `crease`, `untangle`, `components`,
    /// `measure`.
    pub timings_s: BTreeMap<String, f64>,
}

/// Errors of this crate.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SdfError {
    /// The mesh has no triangle.
    #[error("the mesh has no triangles")]
    Empty,
    /// The grid would need more memory than allowed.
    #[error(
        "a {voxel_mm} mm voxel grid needs {needed_bytes} bytes ({:.2} GiB), more than the budget of {budget_bytes} bytes ({:.2} GiB); choose a larger voxel or raise the budget",
        *needed_bytes as f64 / 1073741824.0,
        *budget_bytes as f64 / 1073741824.0
    )]
    MemoryBudget {
        /// Bytes the grids would take.
        needed_bytes: u64,
        /// The budget.
        budget_bytes: u64,
        /// The voxel size asked for, mm.
        voxel_mm: f64,
    },
    /// An option or argument is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The input mesh is unusable.
    #[error("mesh: {0}")]
    Mesh(MeshError),
    /// Surface extraction failed.
    #[error("extraction: {0}")]
    Iso(IsoError),
    /// The mesh lies so far from the origin that its `f32` coordinates are coarser than a
    /// quarter of the voxel there: the field and the output could not resolve the voxel.
    #[error(
        "the mesh reaches {coordinate_mm:.3e} mm from the origin, where its f32 coordinates step \
         by up to {step_mm:.3e} mm, more than a quarter of the {voxel_mm} mm voxel; move it \
         nearer the origin or choose a larger voxel"
    )]
    Precision {
        /// Largest coordinate magnitude of the grid, mm.
        coordinate_mm: f64,
        /// Upper bound of the spacing of `f32` values there (`|x| · f32::EPSILON`), mm.
        step_mm: f64,
        /// The voxel size, mm.
        voxel_mm: f64,
    },
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
}
