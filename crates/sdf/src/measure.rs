//! The distance error of an output surface against its input.
//!
//! **In:** the output mesh, the input's [`SignedDistance`] and the target distance(s).
//! **Out:** an [`OffsetError`]: `| exact unsigned distance to the input − |target| |` at
//! every vertex and at three barycentric points of every triangle (the cyclic permutations of
//! (0.659, 0.232, 0.109)), mean and 99th percentile weighted by area (each triangle point
//! carries a third of its triangle's area; vertices enter the maximum only),
//! so the figures estimate the error over the surface as area-uniform random sampling would.
//! Triangles where a point errs by more than 12 % of the voxel are also searched on a
//! 45-point barycentric grid, for the maximum (which sparse sampling would underestimate).
//! For shells the error of a point is against the nearer of its two levels.

use osteon_geom::Vec3;
use osteon_mesh::Mesh;
use rayon::prelude::*;

use crate::field::Shape;
use crate::{OffsetError, SignedDistance};

/// Barycentric sample points per triangle: three cyclic permutations of Strang & Fix's
/// (0.659, 0.232, 0.109) — deliberately not the centroid or edge midpoints, which the
/// splitting in `project` already drove within tolerance (sampling there would flatter it).
const A: f32 = 0.659_027_6;
const B: f32 = 0.231_933_37;
const C: f32 = 0.109_039_01;
const PATTERN: [[f32; 3]; 3] = [[A, B, C], [C, A, B], [B, C, A]];
/// A triangle whose pattern points err by more than this share of the voxel is searched on
/// a barycentric grid of `DENSE + 1` points a side for the maximum.
const DENSE_ABOVE_VOXEL: f32 = 0.12;
/// Grid divisions of that search.
const DENSE: usize = 8;

/// Measures `out` against the input behind `sd` for the levels of `shape`.
pub(crate) fn measure(out: &Mesh, sd: &SignedDistance, shape: Shape, voxel: f64) -> OffsetError {
    let err = |p: Vec3, hint: Option<u32>| -> (f32, Option<u32>) {
        match sd.hit(p, hint) {
            Some(h) => (shape.unsigned_error(h.dist2.sqrt()), Some(h.tri)),
            None => (0.0, hint),
        }
    };
    let dense_above = DENSE_ABOVE_VOXEL * voxel as f32;
    // Chunks of consecutive triangles (spatially coherent in extracted meshes) share a
    // running hint: each query starts from the previous point's closest triangle.
    let chunks: Vec<(Vec<(f32, f32)>, f32)> = out
        .triangles
        .par_chunks(256)
        .map(|ts| {
            let mut hint = None;
            let mut v = Vec::with_capacity(ts.len() * PATTERN.len());
            let mut dense_max = 0.0f32;
            for t in ts {
                let c = [
                    out.positions[t[0] as usize],
                    out.positions[t[1] as usize],
                    out.positions[t[2] as usize],
                ];
                let w = 0.5 * (c[1] - c[0]).cross(c[2] - c[0]).length() / PATTERN.len() as f32;
                let mut worst = 0.0f32;
                for b in PATTERN {
                    let (e, h) = err(c[0] * b[0] + c[1] * b[1] + c[2] * b[2], hint);
                    hint = h;
                    worst = worst.max(e);
                    v.push((e, w));
                }
                if worst > dense_above {
                    for i in 0..=DENSE {
                        for j in 0..=(DENSE - i) {
                            let (a, b) = (i as f32 / DENSE as f32, j as f32 / DENSE as f32);
                            let (e, h) = err(c[0] * a + c[1] * b + c[2] * (1.0 - a - b), hint);
                            hint = h;
                            dense_max = dense_max.max(e);
                        }
                    }
                }
            }
            (v, dense_max)
        })
        .collect();
    let vmax = out
        .positions
        .par_chunks(256)
        .map(|ps| {
            let mut hint = None;
            ps.iter().fold(0.0f32, |m, &p| {
                let (e, h) = err(p, hint);
                hint = h;
                m.max(e)
            })
        })
        .reduce(|| 0.0f32, f32::max);
    let vmax = chunks.iter().map(|c| c.1).fold(vmax, f32::max);
    let mut samples: Vec<(f32, f32)> = chunks.into_iter().flat_map(|c| c.0).collect();
    let n = samples.len() + out.positions.len();
    if samples.is_empty() {
        return OffsetError::zero();
    }
    let total: f64 = samples.iter().map(|s| f64::from(s.1)).sum();
    let mean = if total > 0.0 {
        samples
            .iter()
            .map(|s| f64::from(s.0) * f64::from(s.1))
            .sum::<f64>()
            / total
    } else {
        samples.iter().map(|s| f64::from(s.0)).sum::<f64>() / samples.len() as f64
    };
    samples.par_sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut acc = 0.0f64;
    let mut p99 = f64::from(samples[samples.len() - 1].0);
    for s in &samples {
        acc += f64::from(s.1);
        if acc >= 0.99 * total {
            p99 = f64::from(s.0);
            break;
        }
    }
    let max = f64::from(samples[samples.len() - 1].0.max(vmax));
    let pct = |v: f64| 100.0 * v / voxel;
    OffsetError {
        mean_mm: mean,
        p99_mm: p99,
        max_mm: max,
        mean_pct_voxel: pct(mean),
        p99_pct_voxel: pct(p99),
        max_pct_voxel: pct(max),
        samples: n,
    }
}
