//! Triangle meshes in millimetres: the [`Mesh`] type, its derived topology and its report.
//!
//! * [`Mesh`] — flat `Vec<Vec3>` positions and `Vec<[u32; 3]>` triangles, counter-clockwise
//!   seen from outside.
//! * [`Topology`] — derived on demand: opposite corners, boundary / non-manifold /
//!   inconsistent edges, non-manifold vertices, edge-connected components.
//! * [`MeshReport`] — [`report()`] of counts, defects, volume, area, genus and
//!   self-intersections, serialisable.
//!
//! Operations: [`smooth()`] (windowed-sinc or Taubin smoothing that keeps the volume),
//! [`self_intersections()`] (exact triangle–triangle tests over a BVH).
//!
//! ```
//! use osteon_mesh::Mesh;
//! use osteon_geom::Vec3;
//! let tet = Mesh::new(
//!     vec![Vec3::ZERO, Vec3::X, Vec3::Y, Vec3::Z],
//!     vec![[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]],
//! ).unwrap();
//! assert!((tet.signed_volume() - 1.0 / 6.0).abs() < 1e-12);
//! let r = osteon_mesh::report(&tet).unwrap();
//! assert!(r.watertight && r.outward && r.genus == Some(0));
//! ```
#![deny(missing_docs)]

pub mod cdt;
pub mod decimate;
pub mod distance;
mod mesh;
pub mod repair;
pub mod report;
pub mod self_intersect;
pub mod shapes;
pub mod smooth;
pub mod topology;

pub use decimate::{decimate, DecimateOptions, DecimateReport};
pub use distance::{surface_deviation, Deviation, DistanceIndex};
pub use mesh::Mesh;
pub use repair::{repair, repair_with, RepairLog, RepairOptions};
pub use report::{report, report_with, BoundingBox, MeshReport, ReportOptions};
pub use self_intersect::{self_intersections, triangles_intersect, SelfIntersections};
pub use smooth::{smooth, SmoothMethod, SmoothOptions, SmoothReport};
pub use topology::{Component, Topology};

/// Errors of mesh construction and processing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeshError {
    /// A triangle refers to a vertex that does not exist.
    #[error(
        "triangle {triangle} refers to vertex {index}, but there are only {vertices} vertices"
    )]
    IndexOutOfRange {
        /// Triangle number.
        triangle: usize,
        /// The bad index.
        index: u32,
        /// Vertex count.
        vertices: usize,
    },
    /// A coordinate is NaN or infinite.
    #[error("vertex {vertex} has a non-finite coordinate {position:?}")]
    NonFinite {
        /// Vertex number.
        vertex: usize,
        /// Its coordinates.
        position: [f32; 3],
    },
    /// More vertices than `u32` indices can address.
    #[error("{0} vertices exceed the u32 index limit")]
    TooManyVertices(usize),
    /// The mesh has no triangle.
    #[error("the mesh has no triangles")]
    Empty,
    /// An option value is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
    /// Smoothing collapsed a closed mesh so far that giving its volume back would move the
    /// surface by a quarter of its size or more: the mesh is too coarse for the filter (a box
    /// of 12 triangles is all "high frequency" and shrinks to a point).
    #[error(
        "smoothing left {left_pct:.1} % of the enclosed volume and restoring it would move \
         the surface by {offset_mm:.3e} mm: the mesh is too coarse for this filter (raise the \
         pass band, use fewer iterations, or do not smooth it)"
    )]
    VolumeCollapsed {
        /// Volume the filter left, percent of the input's.
        left_pct: f64,
        /// The offset along the normals that would give the volume back, mm.
        offset_mm: f64,
    },
}
