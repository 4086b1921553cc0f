//! Common Layer Interface (CLI) files for powder-bed machines (SLM, EBM), ASCII or binary.
//!
//! Follows the CLI specification (version 2.0, Brite-EuRam project): an ASCII header
//! between `$$HEADERSTART` and `$$HEADEREND` (`$$ASCII` or `$$BINARY`, `$$UNITS`, `$$VERSION`,
//! `$$LABEL`, `$$DIMENSION`, `$$LAYERS`), then per layer `$$LAYER/z`, the contours as
//! `$$POLYLINE/id,dir,n,x1,y1,…` (dir 1 counter-clockwise, 0 clockwise, 2 open) and the
//! fill as `$$HATCHES/id,n,x1s,y1s,x1e,y1e,…`. Coordinates and z are multiples of
//! `$$UNITS` (mm). Binary files use the "long" commands: 127 layer (f32 z), 130 polyline
//! (i32 id, dir, n, f32 points), 132 hatches (i32 id, n, f32 start/end pairs), all
//! little-endian, each preceded by its u16 command number.
//!
//! Each layer's region is shrunk by the beam offset (half the melt-track width) for the
//! contours, and by the beam offset plus a contour–hatch gap for the hatches; hatch lines
//! are `hatch_spacing_mm` apart, rotated by `hatch_rotation_deg` more on every layer.

use std::io::Write;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::region::hatch_lines;
use crate::{signed_area, Layer, SliceError};

/// Options of the CLI writer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct ClfOptions {
    /// Binary (long commands) instead of ASCII.
    pub binary: bool,
    /// Length of one coordinate unit, mm (`$$UNITS`).
    pub units_mm: f64,
    /// Distance between hatch lines, mm.
    pub hatch_spacing_mm: f64,
    /// Hatch direction of layer 0, degrees from +x.
    pub hatch_angle_deg: f64,
    /// Added to the hatch direction at every layer, degrees (67° is the usual choice).
    pub hatch_rotation_deg: f64,
    /// Contour offset for the beam (half the melt-track width), mm.
    pub beam_offset_mm: f64,
    /// Extra inset of the hatch area inside the contour, mm.
    pub hatch_contour_gap_mm: f64,
    /// Part id and label written in the file.
    pub part_id: i32,
    /// Part label (`$$LABEL`).
    pub label: String,
    /// Scan speed for the time estimate, mm/s.
    pub scan_speed_mm_s: f64,
    /// Recoating time per layer for the time estimate, s.
    pub recoat_s: f64,
    /// Powder material density, g/cm³ (material estimate; titanium Ti-6Al-4V 4.43).
    pub density_g_cm3: f64,
}

impl Default for ClfOptions {
    fn default() -> Self {
        ClfOptions {
            binary: false,
            units_mm: 0.001,
            hatch_spacing_mm: 0.1,
            hatch_angle_deg: 0.0,
            hatch_rotation_deg: 67.0,
            beam_offset_mm: 0.05,
            hatch_contour_gap_mm: 0.05,
            part_id: 1,
            label: "part".into(),
            scan_speed_mm_s: 1000.0,
            recoat_s: 10.0,
            density_g_cm3: 4.43,
        }
    }
}

impl ClfOptions {
    /// Binary instead of ASCII.
    pub fn with_binary(mut self, b: bool) -> Self {
        self.binary = b;
        self
    }
    /// Sets the hatch spacing, mm.
    pub fn with_hatch_spacing_mm(mut self, s: f64) -> Self {
        self.hatch_spacing_mm = s;
        self
    }
    /// Sets the per-layer hatch rotation, degrees.
    pub fn with_hatch_rotation_deg(mut self, a: f64) -> Self {
        self.hatch_rotation_deg = a;
        self
    }
    /// Sets the beam (contour) offset, mm.
    pub fn with_beam_offset_mm(mut self, d: f64) -> Self {
        self.beam_offset_mm = d;
        self
    }
    /// Sets the coordinate unit, mm.
    pub fn with_units_mm(mut self, u: f64) -> Self {
        self.units_mm = u;
        self
    }

    fn check(&self) -> Result<(), SliceError> {
        let pos = |v: f64, name: &str| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(SliceError::InvalidOption(format!(
                    "{name} must be positive, got {v}"
                )))
            }
        };
        pos(self.units_mm, "CLI units")?;
        pos(self.hatch_spacing_mm, "hatch spacing")?;
        if !(self.beam_offset_mm >= 0.0 && self.hatch_contour_gap_mm >= 0.0) {
            return Err(SliceError::InvalidOption(
                "beam offset and hatch gap must be >= 0".into(),
            ));
        }
        Ok(())
    }
}

/// The scan vectors of one layer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClfLayer {
    /// Plane height, mm.
    pub z_mm: f64,
    /// Contours (closed: last point = first), with direction 1 = CCW, 0 = CW.
    pub contours: Vec<(Vec<[f64; 2]>, i32)>,
    /// Hatch vectors, start and end, mm.
    pub hatches: Vec<[[f64; 2]; 2]>,
    /// Hatch direction used, degrees.
    pub hatch_angle_deg: f64,
}

/// Totals of a CLI file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClfReport {
    /// Layers written.
    pub layers: usize,
    /// Contour polylines.
    pub contours: usize,
    /// Hatch vectors.
    pub hatches: usize,
    /// Contour scan length, mm.
    pub contour_length_mm: f64,
    /// Hatch scan length, mm.
    pub hatch_length_mm: f64,
    /// Scanning plus recoating time, s.
    pub estimated_time_s: f64,
    /// Melted volume estimate (Σ layer area × h), mm³.
    pub volume_mm3: f64,
    /// Mass estimate, g.
    pub mass_g: f64,
}

/// Most hatch lines across one layer (a 1 m part at 1 µm spacing): past it the spacing is a
/// typo and the vectors would not fit in memory.
pub const MAX_HATCH_LINES_PER_LAYER: f64 = 1e6;

/// Refuses a hatch spacing that would need more than [`MAX_HATCH_LINES_PER_LAYER`] lines
/// across a layer whose box has diagonal `diag_mm` (the diagonal over the spacing bounds
/// their number whatever the angle).
pub fn check_hatch_lines(diag_mm: f64, spacing_mm: f64) -> Result<(), SliceError> {
    let lines = diag_mm / spacing_mm;
    if lines.is_nan() || lines > MAX_HATCH_LINES_PER_LAYER {
        return Err(SliceError::InvalidOption(format!(
            "hatch spacing {spacing_mm} mm: {lines:.0} hatch lines across a {diag_mm:.1} mm \
             layer (limit {MAX_HATCH_LINES_PER_LAYER:e})"
        )));
    }
    Ok(())
}

/// Computes the contours and hatches of a layer.
///
/// Errors: [`SliceError::InvalidOption`] for bad options, or a spacing that would need more
/// than [`MAX_HATCH_LINES_PER_LAYER`] lines across the layer.
pub fn plan_layer(layer: &Layer, o: &ClfOptions) -> Result<ClfLayer, SliceError> {
    o.check()?;
    let region = layer.region();
    // Checked before the lines are made.
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in region.loops().flatten() {
        for a in 0..2 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    if lo[0].is_finite() {
        check_hatch_lines((hi[0] - lo[0]).hypot(hi[1] - lo[1]), o.hatch_spacing_mm)?;
    }
    let contour = region.offset(-o.beam_offset_mm);
    let hatch_area = if o.hatch_contour_gap_mm > 0.0 {
        contour.offset(-o.hatch_contour_gap_mm)
    } else {
        contour.clone()
    };
    let angle = (o.hatch_angle_deg + layer.index as f64 * o.hatch_rotation_deg).rem_euclid(180.0);
    let lines = hatch_lines(&hatch_area, o.hatch_spacing_mm, angle);
    let hatches = hatch_area
        .clip_lines(&lines)
        .into_iter()
        .map(|p| [p[0], p[p.len() - 1]])
        .filter(|[a, b]| a != b)
        .collect();
    let contours = contour
        .loops()
        .map(|c| {
            let mut p = c.clone();
            let dir = if signed_area(&p) > 0.0 { 1 } else { 0 };
            p.push(p[0]);
            (p, dir)
        })
        .collect();
    Ok(ClfLayer {
        z_mm: layer.z_mm,
        contours,
        hatches,
        hatch_angle_deg: angle,
    })
}

/// Plans every layer in parallel (order kept).
pub fn plan_layers(layers: &[Layer], o: &ClfOptions) -> Result<Vec<ClfLayer>, SliceError> {
    layers.par_iter().map(|l| plan_layer(l, o)).collect()
}

/// Writes a complete CLI file. `dimension` is [x1, y1, z1, x2, y2, z2] in mm.
pub fn write(
    layers: &[ClfLayer],
    layer_height_mm: f64,
    layer_areas_mm2: &[f64],
    dimension: [f64; 6],
    o: &ClfOptions,
    w: &mut dyn Write,
) -> Result<ClfReport, SliceError> {
    o.check()?;
    let u = o.units_mm;
    writeln!(w, "$$HEADERSTART")?;
    writeln!(w, "{}", if o.binary { "$$BINARY" } else { "$$ASCII" })?;
    writeln!(w, "$$UNITS/{:016.6}", u)?;
    writeln!(w, "$$VERSION/200")?;
    writeln!(
        w,
        "$$LABEL/{},{}",
        o.part_id,
        o.label.replace([',', '\n', '\r', '/'], "_")
    )?;
    let d = dimension;
    writeln!(
        w,
        "$$DIMENSION/{:.6},{:.6},{:.6},{:.6},{:.6},{:.6}",
        d[0], d[1], d[2], d[3], d[4], d[5]
    )?;
    writeln!(w, "$$LAYERS/{:06}", layers.len())?;
    if o.binary {
        write!(w, "$$HEADEREND")?;
    } else {
        writeln!(w, "$$HEADEREND")?;
        writeln!(w, "$$GEOMETRYSTART")?;
    }
    let mut r = ClfReport {
        layers: layers.len(),
        ..Default::default()
    };
    let q = |v: f64| v / u;
    for l in layers {
        if o.binary {
            w.write_all(&127u16.to_le_bytes())?;
            w.write_all(&(q(l.z_mm) as f32).to_le_bytes())?;
        } else {
            writeln!(w, "$$LAYER/{:.3}", q(l.z_mm))?;
        }
        for (c, dir) in &l.contours {
            r.contours += 1;
            r.contour_length_mm += c.windows(2).map(|s| dist(s[0], s[1])).sum::<f64>();
            if o.binary {
                w.write_all(&130u16.to_le_bytes())?;
                w.write_all(&o.part_id.to_le_bytes())?;
                w.write_all(&dir.to_le_bytes())?;
                w.write_all(&(c.len() as i32).to_le_bytes())?;
                for p in c {
                    w.write_all(&(q(p[0]) as f32).to_le_bytes())?;
                    w.write_all(&(q(p[1]) as f32).to_le_bytes())?;
                }
            } else {
                write!(w, "$$POLYLINE/{},{},{}", o.part_id, dir, c.len())?;
                for p in c {
                    write!(w, ",{:.2},{:.2}", q(p[0]), q(p[1]))?;
                }
                writeln!(w)?;
            }
        }
        if !l.hatches.is_empty() {
            r.hatches += l.hatches.len();
            r.hatch_length_mm += l.hatches.iter().map(|h| dist(h[0], h[1])).sum::<f64>();
            if o.binary {
                w.write_all(&132u16.to_le_bytes())?;
                w.write_all(&o.part_id.to_le_bytes())?;
                w.write_all(&(l.hatches.len() as i32).to_le_bytes())?;
                for h in &l.hatches {
                    for p in h {
                        w.write_all(&(q(p[0]) as f32).to_le_bytes())?;
                        w.write_all(&(q(p[1]) as f32).to_le_bytes())?;
                    }
                }
            } else {
                write!(w, "$$HATCHES/{},{}", o.part_id, l.hatches.len())?;
                for h in &l.hatches {
                    write!(
                        w,
                        ",{:.2},{:.2},{:.2},{:.2}",
                        q(h[0][0]),
                        q(h[0][1]),
                        q(h[1][0]),
                        q(h[1][1])
                    )?;
                }
                writeln!(w)?;
            }
        }
    }
    if !o.binary {
        writeln!(w, "$$GEOMETRYEND")?;
    }
    r.estimated_time_s = (r.contour_length_mm + r.hatch_length_mm) / o.scan_speed_mm_s
        + layers.len() as f64 * o.recoat_s;
    r.volume_mm3 = layer_areas_mm2.iter().sum::<f64>() * layer_height_mm;
    r.mass_g = r.volume_mm3 / 1000.0 * o.density_g_cm3;
    Ok(r)
}

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt()
}
