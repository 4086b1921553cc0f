//! G-code for FDM printers (Marlin / RepRap dialect, relative extrusion).
//!
//! Per layer: `perimeters` closed loops at `w/2 + i·w` inside the layer region (w = the
//! extrusion width), then rectilinear infill inside what the perimeters leave: solid (line
//! spacing w) where the region has a top or bottom surface within `top_layers` /
//! `bottom_layers` layers (regions of the neighbouring layers are intersected and
//! subtracted, so solid skins follow the part, not only the first and last layers), sparse
//! (spacing w / density) elsewhere; the infill direction alternates ±angle every layer.
//!
//! Extrusion: a bead of width w and height h has cross-section w·h (the rectangular model),
//! so a move of length L feeds E = L·w·h·multiplier / (π·d²/4) mm of filament (d = filament
//! diameter). Travel moves longer than `retract_min_travel_mm` retract and prime.
//! The header carries the estimated time (every move at its feed rate, no acceleration
//! model, plus retractions) and the filament used (mm, cm³, g).
//!
//! The part is printed in the bed frame: x/y translated so the part's centre sits at
//! `bed_center_mm`, z from the bed (layer k prints at (k+1)·h).

use std::fmt::Write as _;
use std::io::Write;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::region::hatch_lines;
use crate::{Layer, MaterialProfile, Region, SliceError};

/// Options of the G-code writer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct GcodeOptions {
    /// Material, temperatures, extrusion and speeds.
    pub profile: MaterialProfile,
    /// Where the part's x/y centre goes on the bed, mm.
    pub bed_center_mm: [f64; 2],
}

impl Default for GcodeOptions {
    fn default() -> Self {
        GcodeOptions {
            profile: MaterialProfile::default(),
            bed_center_mm: [125.0, 105.0],
        }
    }
}

impl GcodeOptions {
    /// Sets the material profile.
    pub fn with_profile(mut self, p: MaterialProfile) -> Self {
        self.profile = p;
        self
    }
    /// Sets the bed position of the part's centre, mm.
    pub fn with_bed_center_mm(mut self, c: [f64; 2]) -> Self {
        self.bed_center_mm = c;
        self
    }
}

/// Kind of an extrusion path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathKind {
    /// A perimeter loop.
    Perimeter,
    /// Solid infill (top and bottom skins).
    Solid,
    /// Sparse infill.
    Sparse,
}

/// The planned extrusion paths of one layer, in part coordinates (mm).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerPaths {
    /// Layer index.
    pub index: usize,
    /// Paths in print order; perimeters are closed (last point = first).
    pub paths: Vec<(PathKind, Vec<[f64; 2]>)>,
    /// Planned fill of the layer: perimeter band + solid area + density × sparse area, mm².
    pub planned_fill_mm2: f64,
}

/// Totals of the G-code.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GcodeReport {
    /// Layers.
    pub layers: usize,
    /// Estimated print time, s.
    pub estimated_time_s: f64,
    /// Filament fed, mm.
    pub filament_mm: f64,
    /// Filament volume, mm³ (= extruded volume).
    pub filament_mm3: f64,
    /// Filament mass, g.
    pub filament_g: f64,
    /// Planned fill volume: Σ h × planned fill area, mm³.
    pub planned_fill_mm3: f64,
    /// Extrusion length by kind: perimeters, solid, sparse, mm.
    pub perimeter_mm: f64,
    /// Solid infill length, mm.
    pub solid_mm: f64,
    /// Sparse infill length, mm.
    pub sparse_mm: f64,
    /// Travel length, mm.
    pub travel_mm: f64,
    /// Retractions.
    pub retractions: usize,
}

fn check(o: &GcodeOptions, h: f64) -> Result<(), SliceError> {
    o.profile.check()?;
    if !(h.is_finite() && h > 0.0) {
        return Err(SliceError::InvalidLayerHeight(h));
    }
    if h > o.profile.extrusion_width_mm {
        return Err(SliceError::InvalidOption(format!(
            "layer height {h} mm exceeds the extrusion width {} mm",
            o.profile.extrusion_width_mm
        )));
    }
    Ok(())
}

/// Plans perimeters and infill for every layer (in parallel, order kept).
pub fn plan(layers: &[Layer], o: &GcodeOptions) -> Result<Vec<LayerPaths>, SliceError> {
    let p = &o.profile;
    let w = p.extrusion_width_mm;
    let regions: Vec<Region> = layers.par_iter().map(|l| l.region()).collect();
    let n = layers.len();
    // Exposed surfaces: top_j = R_j − R_{j+1}, bottom_j = R_j − R_{j−1}. A point of layer k
    // lies under a top surface within `top` layers iff it is missing from some R_{k+m},
    // m = 1..=top, i.e. iff it lies in top_j for some j in k..k+top (the first layer above it
    // where it is missing); likewise below. So the solid skin of layer k is
    // inner_k ∩ (∪ top_j ∪ ∪ bottom_j), the same set as inner_k − ∩ R_{k±m}, from small
    // surface regions instead of intersections of whole layers.
    let (top_n, bot_n) = (p.top_layers as usize, p.bottom_layers as usize);
    let surfaces: Vec<(Region, Region)> = (0..n)
        .into_par_iter()
        .map(|j| {
            let top = if j + 1 < n {
                regions[j].difference(&regions[j + 1])
            } else {
                regions[j].clone()
            };
            let bottom = if j > 0 {
                regions[j].difference(&regions[j - 1])
            } else {
                regions[j].clone()
            };
            (top, bottom)
        })
        .collect();
    let plans = (0..n)
        .into_par_iter()
        .map(|k| {
            let r = &regions[k];
            let mut paths = Vec::new();
            let mut rings: Vec<Region> = Vec::with_capacity(p.perimeters as usize);
            for i in 0..p.perimeters {
                rings.push(r.offset(-(0.5 + i as f64) * w));
            }
            // Inner perimeters first, outer last (the outer wall sets the surface).
            for ring in rings.iter().rev() {
                for c in ring.loops() {
                    let mut c = c.clone();
                    c.push(c[0]);
                    paths.push((PathKind::Perimeter, c));
                }
            }
            let inner = if p.perimeters > 0 {
                r.offset(-(p.perimeters as f64) * w)
            } else {
                r.clone()
            };
            let all_solid = k < bot_n || k + top_n >= n || p.infill_density >= 1.0;
            let solid = if all_solid {
                inner.clone()
            } else {
                let mut near = Region::default();
                for (t, _) in &surfaces[k..k + top_n] {
                    near.shapes.extend(t.shapes.iter().cloned());
                }
                for (_, b) in &surfaces[k + 1 - bot_n..=k] {
                    near.shapes.extend(b.shapes.iter().cloned());
                }
                // Overlapping pieces: the non-zero intersection with `inner` unites them.
                inner.intersection(&near)
            };
            let sparse = if all_solid {
                Region::default()
            } else {
                inner.difference(&solid)
            };
            let angle = if k % 2 == 0 {
                p.infill_angle_deg
            } else {
                -p.infill_angle_deg
            };
            for (kind, area, spacing) in [
                (PathKind::Solid, &solid, w),
                (
                    PathKind::Sparse,
                    &sparse,
                    if p.infill_density > 0.0 {
                        w / p.infill_density
                    } else {
                        0.0
                    },
                ),
            ] {
                if area.is_empty() || spacing <= 0.0 {
                    continue;
                }
                // One island at a time, so the zig-zag does not jump between islands.
                for shape in &area.shapes {
                    let island = Region {
                        shapes: vec![shape.clone()],
                    };
                    let lines = hatch_lines(&island, spacing, angle);
                    let mut clipped = island.clip_lines(&lines);
                    // Order along the hatch normal, alternating direction (zig-zag).
                    let (s, c) = angle.to_radians().sin_cos();
                    let key = |q: &[f64; 2]| (-q[0] * s + q[1] * c, q[0] * c + q[1] * s);
                    for seg in &mut clipped {
                        if key(&seg[0]).1 > key(&seg[seg.len() - 1]).1 {
                            seg.reverse();
                        }
                    }
                    clipped.sort_by(|a, b| {
                        let (ka, kb) = (key(&a[0]), key(&b[0]));
                        ka.partial_cmp(&kb).unwrap_or(std::cmp::Ordering::Equal)
                    });
                    let mut row = 0usize;
                    let mut last_v = f64::NAN;
                    for mut seg in clipped {
                        let v = key(&seg[0]).0;
                        if (v - last_v).abs() > 1e-6 * spacing.max(1.0) {
                            row += 1;
                            last_v = v;
                        }
                        if row.is_multiple_of(2) {
                            seg.reverse();
                        }
                        paths.push((kind, seg));
                    }
                }
            }
            let band = r.area() - inner.area();
            let planned = band + solid.area() + p.infill_density * sparse.area();
            LayerPaths {
                index: layers[k].index,
                paths,
                planned_fill_mm2: planned,
            }
        })
        .collect();
    Ok(plans)
}

fn fmt_time(s: f64) -> String {
    let s = s.round() as u64;
    format!("{}h {}m {}s", s / 3600, (s / 60) % 60, s % 60)
}

/// Writes the G-code for planned layers. `bounds` are the part's x/y bounds
/// ([xmin, ymin, xmax, ymax], mm), used to centre it on the bed; `mesh_z_of_first_plane` (the
/// first layer's cutting plane in mesh coordinates) is recorded in the header with the x/y
/// offset, so a reader can map every move back to the mesh.
pub fn write(
    plans: &[LayerPaths],
    layer_height_mm: f64,
    bounds: [f64; 4],
    mesh_z_of_first_plane: f64,
    o: &GcodeOptions,
    w: &mut dyn Write,
) -> Result<GcodeReport, SliceError> {
    check(o, layer_height_mm)?;
    let p = &o.profile;
    let h = layer_height_mm;
    let dx = o.bed_center_mm[0] - 0.5 * (bounds[0] + bounds[2]);
    let dy = o.bed_center_mm[1] - 0.5 * (bounds[1] + bounds[3]);
    let fil_area = std::f64::consts::PI * 0.25 * p.filament_diameter_mm * p.filament_diameter_mm;
    let e_per_mm = p.extrusion_width_mm * h * p.extrusion_multiplier / fil_area;
    let mut r = GcodeReport {
        layers: plans.len(),
        ..Default::default()
    };
    // Body first (into memory), so the header can carry the totals.
    let mut body = String::with_capacity(1 << 20);
    let mut pos = [f64::NAN, f64::NAN];
    let mut time = 0.0;
    let retract_t = 2.0 * p.retract_length_mm / p.retract_speed_mm_s;
    for (li, lp) in plans.iter().enumerate() {
        let z = (li as f64 + 1.0) * h;
        let first = li == 0;
        let _ = writeln!(body, ";LAYER:{li}\n;Z:{z:.3}");
        if li == 1 {
            let _ = writeln!(body, "M104 S{:.0}", p.nozzle_temp_c);
            let _ = writeln!(body, "M140 S{:.0}", p.bed_temp_c);
            let _ = writeln!(body, "M106 S{:.0}", p.fan_percent / 100.0 * 255.0);
        }
        let _ = writeln!(body, "G1 Z{z:.3} F600");
        time += h / 10.0;
        let mut last_kind = None;
        for (kind, path) in &lp.paths {
            if path.len() < 2 {
                continue;
            }
            if last_kind != Some(*kind) {
                let _ = writeln!(
                    body,
                    ";TYPE:{}",
                    match kind {
                        PathKind::Perimeter => "perimeter",
                        PathKind::Solid => "solid-infill",
                        PathKind::Sparse => "sparse-infill",
                    }
                );
                last_kind = Some(*kind);
            }
            let start = [path[0][0] + dx, path[0][1] + dy];
            let travel = if pos[0].is_nan() {
                f64::INFINITY
            } else {
                ((start[0] - pos[0]).powi(2) + (start[1] - pos[1]).powi(2)).sqrt()
            };
            let retract = travel > p.retract_min_travel_mm && p.retract_length_mm > 0.0;
            if retract {
                let _ = writeln!(
                    body,
                    "G1 E{:.5} F{:.0}",
                    -p.retract_length_mm,
                    p.retract_speed_mm_s * 60.0
                );
                r.retractions += 1;
                time += retract_t;
            }
            let _ = writeln!(
                body,
                "G0 X{:.4} Y{:.4} F{:.0}",
                start[0],
                start[1],
                p.travel_speed_mm_s * 60.0
            );
            if travel.is_finite() {
                r.travel_mm += travel;
                time += travel / p.travel_speed_mm_s;
            }
            if retract {
                let _ = writeln!(
                    body,
                    "G1 E{:.5} F{:.0}",
                    p.retract_length_mm,
                    p.retract_speed_mm_s * 60.0
                );
            }
            let speed = if first {
                p.first_layer_speed_mm_s
            } else if *kind == PathKind::Perimeter {
                p.perimeter_speed_mm_s
            } else {
                p.infill_speed_mm_s
            };
            let mut f_written = false;
            let mut prev = start;
            for q in &path[1..] {
                let q = [q[0] + dx, q[1] + dy];
                let len = ((q[0] - prev[0]).powi(2) + (q[1] - prev[1]).powi(2)).sqrt();
                if len == 0.0 {
                    continue;
                }
                let e = len * e_per_mm;
                if f_written {
                    let _ = writeln!(body, "G1 X{:.4} Y{:.4} E{:.5}", q[0], q[1], e);
                } else {
                    let _ = writeln!(
                        body,
                        "G1 X{:.4} Y{:.4} E{:.5} F{:.0}",
                        q[0],
                        q[1],
                        e,
                        speed * 60.0
                    );
                    f_written = true;
                }
                r.filament_mm += e;
                time += len / speed;
                match kind {
                    PathKind::Perimeter => r.perimeter_mm += len,
                    PathKind::Solid => r.solid_mm += len,
                    PathKind::Sparse => r.sparse_mm += len,
                }
                prev = q;
            }
            pos = prev;
        }
        r.planned_fill_mm3 += lp.planned_fill_mm2 * h;
    }
    r.estimated_time_s = time;
    r.filament_mm3 = r.filament_mm * fil_area;
    r.filament_g = r.filament_mm3 / 1000.0 * p.density_g_cm3;
    // Header.
    writeln!(
        w,
        "; generated by osteon-slice {}",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(w, "; material = {} ({})", p.material, p.name)?;
    writeln!(w, "; layer_height = {h}")?;
    writeln!(w, "; layers = {}", plans.len())?;
    writeln!(w, "; extrusion_width = {}", p.extrusion_width_mm)?;
    writeln!(w, "; perimeters = {}", p.perimeters)?;
    writeln!(w, "; infill_density = {}", p.infill_density)?;
    writeln!(w, "; filament_diameter = {}", p.filament_diameter_mm)?;
    writeln!(w, "; estimated printing time = {}", fmt_time(time))?;
    writeln!(w, "; estimated_time_s = {time:.1}")?;
    writeln!(w, "; filament used [mm] = {:.2}", r.filament_mm)?;
    writeln!(w, "; filament used [cm3] = {:.3}", r.filament_mm3 / 1000.0)?;
    writeln!(w, "; filament used [g] = {:.2}", r.filament_g)?;
    writeln!(w, "; planned fill [mm3] = {:.3}", r.planned_fill_mm3)?;
    writeln!(
        w,
        "; (time: feed rates without acceleration, plus retractions)"
    )?;
    writeln!(w, "; bed_offset_xy = {dx:.6},{dy:.6}")?;
    writeln!(w, "; mesh_z_of_first_plane = {:.6}", mesh_z_of_first_plane)?;
    writeln!(
        w,
        "G21 ; millimetres\nG90 ; absolute positions\nM83 ; relative extrusion"
    )?;
    if let Some(c) = p.chamber_temp_c {
        writeln!(w, "M141 S{c:.0} ; chamber")?;
    }
    writeln!(w, "M140 S{:.0}", p.first_layer_bed_temp_c)?;
    writeln!(w, "M104 S{:.0}", p.first_layer_nozzle_temp_c)?;
    writeln!(w, "G28 ; home")?;
    writeln!(w, "M190 S{:.0}", p.first_layer_bed_temp_c)?;
    if let Some(c) = p.chamber_temp_c {
        writeln!(w, "M191 S{c:.0}")?;
    }
    writeln!(w, "M109 S{:.0}", p.first_layer_nozzle_temp_c)?;
    writeln!(w, "M106 S{:.0}", p.first_layer_fan_percent / 100.0 * 255.0)?;
    w.write_all(body.as_bytes())?;
    writeln!(w, ";END")?;
    writeln!(
        w,
        "G1 E{:.5} F{:.0}",
        -p.retract_length_mm,
        p.retract_speed_mm_s * 60.0
    )?;
    writeln!(w, "G91\nG1 Z5 F600\nG90")?;
    writeln!(w, "M104 S0\nM140 S0")?;
    if p.chamber_temp_c.is_some() {
        writeln!(w, "M141 S0")?;
    }
    writeln!(w, "M107\nM84")?;
    Ok(r)
}
