//! Signed-distance maps as colour: a diverging blue–white–red map (the PLY with per-vertex
//! colour and the scalar beside it is written by `osteon_io::write_ply_colour_map`).
//!
//! The map is Moreland's "cool to warm" diverging map (Moreland, "Diverging Color Maps for
//! Scientific Visualization", 2009), sampled at its two ends and centre and interpolated
//! linearly in sRGB: blue for negative (inside / below the reference), near white at zero,
//! red for positive (outside / above). Values beyond the legend range are clamped to the end
//! colours. The legend ([`Legend`]) goes into the report so that a reader can map colours
//! back to millimetres.

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
