//! Planar slicing for printing: exact layer contours, and the files printers take.
//!
//! * [`slice()`] cuts a [`Mesh`](osteon_mesh::Mesh) at mid-layer planes into [`Layer`]s of
//!   closed [`Loop`]s (outer counter-clockwise, holes clockwise, with a nesting tree), in
//!   parallel, streamed in order to a [`LayerSink`].
//! * [`Region`] offsets, intersects and clips the layer polygons (i_overlay inside).
//! * Encoders over `std::io::Write`: [`svg`] for inspection, [`png`] layer stacks for resin
//!   printers, [`clf`] Common Layer Interface files (contours + hatches) for powder-bed
//!   machines, [`gcode`] for FDM printers with [`MaterialProfile`]s (PEEK, PLA, PETG built in).
//! * [`report()`] measures the slicing: per-layer area, volume from the layers against the
//!   mesh volume, overhang area, footprint.
//!
//! ```
//! use osteon_slice::{slice_to_vec, SliceOptions};
//! let sphere = osteon_mesh::shapes::icosphere(4, 10.0);
//! let (plan, layers) = slice_to_vec(&sphere, &SliceOptions::default().with_layer_height_mm(0.5)).unwrap();
//! assert_eq!(plan.count, layers.len());
//! assert!(layers.iter().all(|l| l.open.is_empty()));
//! // Σ area × h ≈ the mesh volume.
//! let v: f64 = layers.iter().map(|l| l.area_mm2() * 0.5).sum();
//! assert!((v / sphere.signed_volume() - 1.0).abs() < 0.01);
//! ```
#![deny(missing_docs)]

pub mod clf;
pub mod gcode;
pub mod png;
mod profile;
mod region;
mod report;
mod slicer;
pub mod svg;

pub use gcode::{GcodeOptions, GcodeReport};
pub use profile::MaterialProfile;
pub use region::Region;
pub use report::{report, LayerSummary, ReportOptions, SliceReport};
pub use slicer::{signed_area, slice, slice_to_vec, LayerPlan, SliceOptions};

use serde::{Deserialize, Serialize};

/// Errors of slicing and encoding.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SliceError {
    /// The mesh has no triangles.
    #[error("the mesh has no triangles")]
    EmptyMesh,
    /// The layer height is zero, negative or not finite.
    #[error("layer height must be a positive number of millimetres, got {0}")]
    InvalidLayerHeight(f64),
    /// The mesh itself is invalid (bad index, NaN coordinate).
    #[error(transparent)]
    Mesh(osteon_mesh::MeshError),
    /// An option is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// A layer has contours that do not close (the mesh is open) and open contours were
    /// refused.
    #[error("layer {layer} (z = {z_mm:.4} mm) has {open_polylines} open contour(s): the mesh is not closed")]
    OpenContours {
        /// Layer index.
        layer: usize,
        /// Plane height, mm.
        z_mm: f64,
        /// Number of open polylines.
        open_polylines: usize,
    },
    /// A material profile could not be parsed.
    #[error("material profile: {0}")]
    Profile(String),
    /// Writing failed.
    #[error("write failed: {0}")]
    Write(#[from] std::io::Error),
    /// Image or archive encoding failed.
    #[error("encoding failed: {0}")]
    Encode(String),
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// One closed contour of a layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Loop {
    /// Vertices in order, mm; the closing edge back to the first is implicit.
    pub points: Vec<[f64; 2]>,
    /// Signed area, mm²: positive for outer loops (counter-clockwise), negative for holes.
    pub area_mm2: f64,
    /// Index of the smallest loop of the same layer that contains this one.
    pub parent: Option<usize>,
    /// Number of loops containing this one: even = outer boundary, odd = hole.
    pub depth: usize,
}

impl Loop {
    /// True for a hole (clockwise, odd depth).
    pub fn is_hole(&self) -> bool {
        self.depth % 2 == 1
    }
    /// Length of the closed loop, mm.
    pub fn perimeter_mm(&self) -> f64 {
        closed_length(&self.points)
    }
}

pub(crate) fn closed_length(p: &[[f64; 2]]) -> f64 {
    (0..p.len())
        .map(|i| {
            let (a, b) = (p[i], p[(i + 1) % p.len()]);
            ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt()
        })
        .sum()
}

/// One layer: its plane and its contours.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// Layer index, from 0 at the bottom.
    pub index: usize,
    /// Height of the cutting plane (mid-layer), mm.
    pub z_mm: f64,
    /// Closed contours with their nesting tree.
    pub loops: Vec<Loop>,
    /// Chains that do not close (only on open meshes), mm.
    pub open: Vec<Vec<[f64; 2]>>,
    /// Loops whose direction had to be reversed to match their nesting depth (0 on an
    /// outward-oriented closed mesh).
    pub reoriented: usize,
}

impl Layer {
    /// Material area of the layer (outer areas minus holes), mm².
    pub fn area_mm2(&self) -> f64 {
        self.loops.iter().map(|l| l.area_mm2).sum()
    }
    /// Total contour length, mm.
    pub fn perimeter_mm(&self) -> f64 {
        self.loops.iter().map(|l| l.perimeter_mm()).sum()
    }
    /// The layer's material as a [`Region`].
    pub fn region(&self) -> Region {
        Region::from_loops(&self.loops)
    }
}

/// Receives layers in order, bottom first.
pub trait LayerSink {
    /// Takes the next layer.
    fn layer(&mut self, layer: Layer) -> Result<(), SliceError>;
}

impl LayerSink for Vec<Layer> {
    fn layer(&mut self, layer: Layer) -> Result<(), SliceError> {
        self.push(layer);
        Ok(())
    }
}
