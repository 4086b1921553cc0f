//! Signed-distance maps as colour: a diverging blue–white–red map and a PLY writer with
//! per-vertex colour and the scalar beside it.
//!
//! The map is Moreland's "cool to warm" diverging map (Moreland, "Diverging Color Maps for
//! Scientific Visualization", 2009), sampled at its two ends and centre and interpolated
//! linearly in sRGB: blue for negative (inside / below the reference), near white at zero,
//! red for positive (outside / above). Values beyond the legend range are clamped to the end
//! colours. The legend ([`Legend`]) goes into the report so that a reader can map colours
//! back to millimetres.

use std::io::Write;

use osteon_mesh::Mesh;
use serde::{Deserialize, Serialize};

/// The colour legend of a map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Legend {
    /// Value drawn in full blue, mm.
    pub min_mm: f64,
    /// Value drawn in full red, mm.
    pub max_mm: f64,
    /// Name of the colour map.
    pub colormap: String,
    /// Colour of `min`, the centre and `max`, RGB.
    pub stops_rgb: [[u8; 3]; 3],
}

const BLUE: [f64; 3] = [59.0, 76.0, 192.0];
const WHITE: [f64; 3] = [221.0, 221.0, 221.0];
const RED: [f64; 3] = [180.0, 4.0, 38.0];

impl Legend {
    /// A legend symmetric about zero covering `values` (at least ±`floor`, mm).
    pub fn symmetric(values: &[f64], floor: f64) -> Legend {
        let m = values
            .iter()
            .filter(|v| v.is_finite())
            .fold(floor.abs(), |m, v| m.max(v.abs()));
        Legend::new(-m, m)
    }

    /// A legend from `min` (blue) to `max` (red); the centre colour sits at their midpoint.
    pub fn new(min_mm: f64, max_mm: f64) -> Legend {
        Legend {
            min_mm,
            max_mm,
            colormap: "cool-warm diverging (Moreland): blue < 0 (inside / below), white 0, red > 0 (outside / above)".into(),
            stops_rgb: [BLUE, WHITE, RED].map(|c| c.map(|x| x as u8)),
        }
    }

    /// The colour of `v`.
    pub fn colour(&self, v: f64) -> [u8; 3] {
        let (lo, hi) = (self.min_mm, self.max_mm);
        let mid = 0.5 * (lo + hi);
        let t = if !v.is_finite() || hi <= lo {
            0.5
        } else if v <= mid {
            0.5 * ((v - lo) / (mid - lo)).clamp(0.0, 1.0)
        } else {
            0.5 + 0.5 * ((v - mid) / (hi - mid)).clamp(0.0, 1.0)
        };
        let (a, b, s) = if t <= 0.5 {
            (BLUE, WHITE, t * 2.0)
        } else {
            (WHITE, RED, (t - 0.5) * 2.0)
        };
        [0, 1, 2].map(|k| (a[k] + (b[k] - a[k]) * s).round().clamp(0.0, 255.0) as u8)
    }
}

/// Writes `mesh` as binary little-endian PLY with per-vertex `red green blue` (uchar) from
/// `legend` and the value itself as a float property `name`.
///
/// Errors with [`std::io::ErrorKind::InvalidInput`] when `values` does not have one entry
/// per vertex, `name` is not a plain identifier, or there are more than `i32::MAX` vertices.
pub fn write_colour_ply<W: Write + ?Sized>(
    mesh: &Mesh,
    values: &[f64],
    name: &str,
    legend: &Legend,
    w: &mut W,
) -> std::io::Result<()> {
    let invalid = |s: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, s);
    if values.len() != mesh.positions.len() {
        return Err(invalid(format!(
            "{} values for {} vertices",
            values.len(),
            mesh.positions.len()
        )));
    }
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(invalid(format!(
            "'{name}' is not a plain PLY property name"
        )));
    }
    if mesh.positions.len() > i32::MAX as usize {
        return Err(invalid("more than i32::MAX vertices".into()));
    }
    let mut h = String::from("ply\nformat binary_little_endian 1.0\n");
    h.push_str(&format!(
        "comment osteon distance map: {name} in mm, colour legend {} (blue) .. {} (red)\n",
        legend.min_mm, legend.max_mm
    ));
    h.push_str(&format!("element vertex {}\n", mesh.positions.len()));
    h.push_str("property float x\nproperty float y\nproperty float z\n");
    h.push_str("property uchar red\nproperty uchar green\nproperty uchar blue\n");
    h.push_str(&format!("property float {name}\n"));
    h.push_str(&format!("element face {}\n", mesh.triangles.len()));
    h.push_str("property list uchar int vertex_indices\nend_header\n");
    w.write_all(h.as_bytes())?;
    let mut buf = Vec::with_capacity(1 << 16);
    for (p, &v) in mesh.positions.iter().zip(values) {
        for c in p.to_array() {
            buf.extend_from_slice(&c.to_le_bytes());
        }
        buf.extend_from_slice(&legend.colour(v));
        buf.extend_from_slice(&(v as f32).to_le_bytes());
        if buf.len() >= 1 << 16 {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    for t in &mesh.triangles {
        buf.push(3);
        for &i in t {
            buf.extend_from_slice(&(i as i32).to_le_bytes());
        }
        if buf.len() >= 1 << 16 {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    w.write_all(&buf)
}
