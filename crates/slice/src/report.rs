//! The slice report: what the layers hold, checked against the mesh.
//!
//! Volume from the layers is Σ areaₖ·h (the midpoint rule: exact for prisms, O(h²) for
//! smooth surfaces). Overhang area is the area of downward-facing triangles steeper than
//! the support angle from vertical, excluding those lying on the build plate (within half a
//! layer of the bottom). Footprint is the first layer's area.

use osteon_mesh::Mesh;
use serde::{Deserialize, Serialize};

use crate::{Layer, LayerPlan};

/// Options of [`report()`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct ReportOptions {
    /// Faces facing down at more than this angle from vertical need support, degrees.
    pub overhang_angle_deg: f64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            overhang_angle_deg: 45.0,
        }
    }
}

impl ReportOptions {
    /// Sets the support angle, degrees from vertical.
    pub fn with_overhang_angle_deg(mut self, a: f64) -> Self {
        self.overhang_angle_deg = a;
        self
    }
}

/// What one layer holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSummary {
    /// Layer index.
    pub index: usize,
    /// Plane height, mm.
    pub z_mm: f64,
    /// Material area, mm².
    pub area_mm2: f64,
    /// Closed loops (outer + holes).
    pub loops: usize,
    /// Of which holes.
    pub holes: usize,
    /// Open polylines (open mesh).
    pub open_polylines: usize,
    /// Contour length, mm.
    pub perimeter_mm: f64,
}

impl LayerSummary {
    /// Summarises a layer.
    pub fn of(layer: &Layer) -> LayerSummary {
        LayerSummary {
            index: layer.index,
            z_mm: layer.z_mm,
            area_mm2: layer.area_mm2(),
            loops: layer.loops.len(),
            holes: layer.loops.iter().filter(|l| l.is_hole()).count(),
            open_polylines: layer.open.len(),
            perimeter_mm: layer.perimeter_mm(),
        }
    }
}

/// The slice report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SliceReport {
    /// Number of layers.
    pub layers: usize,
    /// Layer height, mm.
    pub layer_height_mm: f64,
    /// Bottom and top of the mesh, mm.
    pub z_range_mm: [f64; 2],
    /// x/y bounds of all contours: [xmin, ymin, xmax, ymax], mm.
    pub xy_bounds_mm: [f64; 4],
    /// Σ area × h, mm³.
    pub volume_from_layers_mm3: f64,
    /// Signed volume of the mesh, mm³.
    pub mesh_volume_mm3: f64,
    /// volume_from_layers / mesh_volume − 1.
    pub volume_rel_error: f64,
    /// Largest layer area, mm².
    pub max_area_mm2: f64,
    /// First layer's area (contact with the build plate), mm².
    pub footprint_mm2: f64,
    /// Support angle used, degrees from vertical.
    pub overhang_angle_deg: f64,
    /// Area of faces needing support, mm².
    pub overhang_area_mm2: f64,
    /// Layers with open polylines.
    pub open_layers: usize,
    /// Loops reversed to match their nesting (0 on an outward, closed mesh).
    pub reoriented_loops: usize,
    /// Per-layer summaries.
    pub per_layer: Vec<LayerSummary>,
}

/// Builds the report from the layer summaries (in order) and the mesh.
pub fn report(
    mesh: &Mesh,
    plan: &LayerPlan,
    per_layer: Vec<LayerSummary>,
    reoriented_loops: usize,
    xy_bounds_mm: [f64; 4],
    options: &ReportOptions,
) -> SliceReport {
    let h = plan.layer_height_mm;
    let volume_from_layers_mm3: f64 = per_layer.iter().map(|l| l.area_mm2 * h).sum();
    let mesh_volume_mm3 = mesh.signed_volume();
    let sin_a = options.overhang_angle_deg.to_radians().sin();
    let mut overhang = 0.0f64;
    for t in 0..mesh.triangles.len() {
        let [a, b, c] = mesh.corners(t).map(|p| p.as_dvec3());
        let n = (b - a).cross(c - a);
        let len = n.length();
        if len == 0.0 {
            continue;
        }
        // Down-facing, and tilted from vertical by more than the support angle.
        if -n.z / len > sin_a && a.z.max(b.z).max(c.z) > plan.z_min + 0.5 * h {
            overhang += 0.5 * len;
        }
    }
    SliceReport {
        layers: per_layer.len(),
        layer_height_mm: h,
        z_range_mm: [plan.z_min, plan.z_max],
        xy_bounds_mm,
        volume_from_layers_mm3,
        mesh_volume_mm3,
        volume_rel_error: if mesh_volume_mm3 != 0.0 {
            volume_from_layers_mm3 / mesh_volume_mm3 - 1.0
        } else {
            f64::NAN
        },
        max_area_mm2: per_layer.iter().map(|l| l.area_mm2).fold(0.0, f64::max),
        footprint_mm2: per_layer.first().map(|l| l.area_mm2).unwrap_or(0.0),
        overhang_angle_deg: options.overhang_angle_deg,
        overhang_area_mm2: overhang,
        open_layers: per_layer.iter().filter(|l| l.open_polylines > 0).count(),
        reoriented_loops,
        per_layer,
    }
}
