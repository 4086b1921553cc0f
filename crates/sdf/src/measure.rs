//! The distance error of an output surface against its input.
//!
//! **In:** the output mesh, the input's [`SignedDistance`] and the target distance(s).
//! **Out:** an [`OffsetError`]: `| exact unsigned distance to the input − |target| |` at
//! every vertex and at six barycentric points of every triangle (Dunavant's degree-4 rule),
//! mean and 99th percentile weighted by area (each point carries its rule weight of its
//! triangle's area; vertices enter the maximum only),
//! so the figures estimate the error over the surface as area-uniform random sampling would.
//! The maximum is searched: triangles whose pattern points or corners err by at least half
//! the largest error seen (and by 1 % of the voxel; the 20 000 worst at most) are evaluated on a 45-point barycentric
//! grid, then around each one's best grid point by a shrinking 5 × 5 stencil (6 rounds), so
//! the stated maximum is the peak of a narrow ridge, not a sample beside it. The queries are
//! grouped spatially (`many`): exact, and the same at any thread count.
//! For shells the error of a point is against the nearer of its two levels.
//!
//! Cost (the +1 mm offset of the 157 k-triangle head bone at 0.5 mm: 3.16 M output
//! triangles, 20.5 M samples): almost all of it is the exact closest-point queries of the
//! pattern points. Each vertex is queried together with the pattern points of its first
//! triangle's chunk (sparse vertices alone share the grouped queries poorly: a separate
//! vertex pass cost about a fifth of the measurement), and the 99th percentile selects the
//! top 4 % of the samples before sorting them instead of sorting all. Same figures, exactly.

use osteon_geom::Vec3;
use osteon_mesh::Mesh;
use rayon::prelude::*;

use crate::field::Shape;
use crate::many::closest_many_map;
use crate::{OffsetError, SignedDistance};

/// Barycentric sample points per triangle and their shares of its area: Dunavant's 6-point
/// rule (degree 4; D. A. Dunavant, IJNME 21, 1985) — three points near the corners, three
/// toward the edge midpoints, where the error of a projected triangle (zero at its corners)
/// peaks. Not the centroid or the midpoints themselves, which the splitting in `project`
/// drove within tolerance (sampling exactly there would flatter it).
const A1: f32 = 0.816_847_57;
const B1: f32 = 0.091_576_21;
const A2: f32 = 0.108_103_02;
const B2: f32 = 0.445_948_49;
const W1: f32 = 0.109_951_74;
const W2: f32 = 0.223_381_6;
const PATTERN: [[f32; 3]; 6] = [
    [A1, B1, B1],
    [B1, A1, B1],
    [B1, B1, A1],
    [A2, B2, B2],
    [B2, A2, B2],
    [B2, B2, A2],
];
const WEIGHTS: [f32; 6] = [W1, W1, W1, W2, W2, W2];
/// Triangles whose pattern points or corners err by at least this share of the largest
/// error seen there are searched for the maximum (which sparse sampling underestimates).
const DENSE_SHARE: f32 = 0.5;
/// ... but not below this share of the voxel (errors that small cannot be the maximum that
/// matters, and would put most of the surface into the search).
const DENSE_FLOOR_VOXEL: f32 = 0.01;
/// At most this many triangles are searched: the worst first.
const MAX_DENSE: usize = 20_000;
/// Grid divisions of that search (a barycentric grid of `DENSE + 1` points a side).
const DENSE: usize = 8;
/// Rounds of the local search around each searched triangle's best grid point: a 5 × 5
/// barycentric stencil of half the previous spacing each round.
const ZOOM: usize = 6;
/// Triangles per batch of grouped queries (bounds the memory of the point lists).
const CHUNK: usize = 1 << 16;

/// The point at barycentric `(u, v)` (weights of corners 1 and 2) of `c`.
#[inline]
fn at(c: &[Vec3; 3], u: f32, v: f32) -> Vec3 {
    c[0] * (1.0 - u - v) + c[1] * u + c[2] * v
}

/// Measures `out` against the input behind `sd` for the levels of `shape`.
pub(crate) fn measure(out: &Mesh, sd: &SignedDistance, shape: Shape, voxel: f64) -> OffsetError {
    let cell = (crate::ops::GROUP_CELL_VOXELS * voxel) as f32;
    let err_of =
        |h: Option<crate::bvh::Hit>| h.map_or(0.0, |h| shape.unsigned_error(h.dist2.sqrt()));
    let errors = |pts: &[Vec3]| -> Vec<f32> { closest_many_map(sd, pts, cell, 0.0, &err_of) };
    let corners = |t: usize| {
        let t = out.triangles[t];
        [
            out.positions[t[0] as usize],
            out.positions[t[1] as usize],
            out.positions[t[2] as usize],
        ]
    };
    let nt = out.triangles.len();
    // Each vertex is measured with the pattern points of its first triangle's chunk (dense
    // points share the grouped queries better than the sparse vertices alone).
    let nv = out.positions.len();
    let first = first_triangles(out);
    let mut verr = vec![0.0f32; nv];
    // Pattern points: (error, weight) per sample, worst per triangle.
    let mut samples: Vec<(f32, f32)> = Vec::with_capacity(nt * PATTERN.len());
    let mut worst = vec![0.0f32; nt];
    for c0 in (0..nt).step_by(CHUNK) {
        let c1 = (c0 + CHUNK).min(nt);
        let mut pts: Vec<Vec3> = (c0..c1)
            .into_par_iter()
            .flat_map_iter(|t| {
                let c = corners(t);
                PATTERN.map(|b| c[0] * b[0] + c[1] * b[1] + c[2] * b[2])
            })
            .collect();
        let verts = chunk_vertices(&out.triangles, &first, c0, c1);
        let np = pts.len();
        pts.extend(verts.iter().map(|&v| out.positions[v as usize]));
        let e = errors(&pts);
        for (&v, &x) in verts.iter().zip(&e[np..]) {
            verr[v as usize] = x;
        }
        let block: Vec<(f32, [(f32, f32); PATTERN.len()])> = (c0..c1)
            .into_par_iter()
            .zip(e[..np].par_chunks(PATTERN.len()))
            .map(|(t, es)| {
                let c = corners(t);
                let area = 0.5 * (c[1] - c[0]).cross(c[2] - c[0]).length();
                let w = es.iter().copied().fold(0.0f32, f32::max);
                (w, std::array::from_fn(|j| (es[j], area * WEIGHTS[j])))
            })
            .collect();
        for (t, (w, s)) in (c0..c1).zip(block) {
            worst[t] = w;
            samples.extend_from_slice(&s);
        }
    }
    // Vertices of no triangle.
    let loose: Vec<u32> = (0..nv as u32)
        .filter(|&v| first[v as usize] == u32::MAX)
        .collect();
    if !loose.is_empty() {
        let pts: Vec<Vec3> = loose.iter().map(|&v| out.positions[v as usize]).collect();
        for (&v, x) in loose.iter().zip(errors(&pts)) {
            verr[v as usize] = x;
        }
    }
    let mut vmax = 0.0f32;
    for v in &verr {
        vmax = vmax.max(*v);
    }
    for (t, tri) in out.triangles.iter().enumerate() {
        for &v in tri {
            worst[t] = worst[t].max(verr[v as usize]);
        }
    }
    let n = samples.len() + out.positions.len();
    if samples.is_empty() {
        return OffsetError::zero();
    }
    // The maximum: a dense grid on the triangles near the largest error seen, then a local
    // search around each one's best grid point.
    let seen = worst.iter().copied().fold(0.0f32, f32::max);
    let above = (DENSE_SHARE * seen).max(DENSE_FLOOR_VOXEL * voxel as f32);
    let mut dense: Vec<usize> = (0..nt).filter(|&t| worst[t] >= above).collect();
    if dense.len() > MAX_DENSE {
        dense.sort_unstable_by(|&a, &b| worst[b].total_cmp(&worst[a]).then(a.cmp(&b)));
        dense.truncate(MAX_DENSE);
        dense.sort_unstable();
    }
    let mut dense_max = 0.0f32;
    if !dense.is_empty() {
        let grid: Vec<(f32, f32)> = (0..=DENSE)
            .flat_map(|i| (0..=(DENSE - i)).map(move |j| (i, j)))
            .map(|(i, j)| (i as f32 / DENSE as f32, j as f32 / DENSE as f32))
            .collect();
        let pts: Vec<Vec3> = dense
            .iter()
            .flat_map(|&t| {
                let c = corners(t);
                grid.iter().map(move |&(u, v)| at(&c, u, v))
            })
            .collect();
        let e = errors(&pts);
        // Best (u, v, error) per searched triangle.
        let mut best: Vec<(f32, f32, f32)> = e
            .chunks(grid.len())
            .map(|es| {
                let (k, &v) = es.iter().enumerate().fold((0, &f32::NEG_INFINITY), |b, x| {
                    if x.1 > b.1 {
                        x
                    } else {
                        b
                    }
                });
                (grid[k].0, grid[k].1, v)
            })
            .collect();
        let mut step = 1.0 / DENSE as f32;
        let offs = [-1.0f32, -0.5, 0.0, 0.5, 1.0];
        for _ in 0..ZOOM {
            let mut uvs: Vec<(f32, f32)> = Vec::with_capacity(best.len() * offs.len() * offs.len());
            for b in &best {
                for a in offs {
                    for c in offs {
                        let (u, v) = (
                            (b.0 + step * a).clamp(0.0, 1.0),
                            (b.1 + step * c).clamp(0.0, 1.0),
                        );
                        uvs.push(if u + v > 1.0 {
                            (u / (u + v), v / (u + v))
                        } else {
                            (u, v)
                        });
                    }
                }
            }
            let pts: Vec<Vec3> = uvs
                .chunks(offs.len() * offs.len())
                .zip(&dense)
                .flat_map(|(uv, &t)| {
                    let c = corners(t);
                    uv.iter().map(move |&(u, v)| at(&c, u, v))
                })
                .collect();
            let e = errors(&pts);
            for ((b, es), uv) in best
                .iter_mut()
                .zip(e.chunks(offs.len() * offs.len()))
                .zip(uvs.chunks(offs.len() * offs.len()))
            {
                for (&v, &(u, w)) in es.iter().zip(uv) {
                    if v > b.2 {
                        *b = (u, w, v);
                    }
                }
            }
            step *= 0.5;
        }
        dense_max = best.iter().map(|b| b.2).fold(0.0, f32::max);
    }
    let vmax = vmax.max(dense_max);
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
    let p99 = weighted_quantile(&mut samples, total, 0.99);
    // `seen`: the largest pattern sample or vertex error.
    let max = f64::from(seen.max(vmax));
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

/// The first (lowest-numbered) triangle of every vertex; `u32::MAX` for a vertex of none.
fn first_triangles(mesh: &Mesh) -> Vec<u32> {
    let mut first = vec![u32::MAX; mesh.positions.len()];
    for (t, tri) in mesh.triangles.iter().enumerate().rev() {
        for &v in tri {
            first[v as usize] = t as u32;
        }
    }
    first
}

/// The vertices whose first triangle ([`first_triangles`]) is one of `c0..c1`, in triangle
/// and corner order: over consecutive chunks, every vertex of a triangle exactly once.
fn chunk_vertices(tris: &[[u32; 3]], first: &[u32], c0: usize, c1: usize) -> Vec<u32> {
    (c0..c1)
        .flat_map(|t| tris[t].map(|v| (v, t as u32)))
        .filter(|&(v, t)| first[v as usize] == t)
        .map(|(v, _)| v)
        .collect()
}

/// The weighted `q`-quantile of `samples` (value, weight), `total` their weight: the value
/// of the first sample in ascending order of value whose cumulative weight reaches
/// `q · total`. Only the top share of the samples is sorted (selection first), unless the
/// quantile falls below it; reorders `samples`.
fn weighted_quantile(samples: &mut [(f32, f32)], total: f64, q: f64) -> f64 {
    let n = samples.len();
    if n == 0 {
        return 0.0;
    }
    let cmp = |a: &(f32, f32), b: &(f32, f32)| a.0.total_cmp(&b.0);
    let want = q * total;
    // The top 4 % of the samples by value, sorted; usually holds the top 1 % of the weight.
    let k = n - (n / 25).max(1).min(n);
    let mut acc = 0.0f64;
    if k > 0 {
        samples.select_nth_unstable_by(k, cmp);
        acc = samples[..k].iter().map(|s| f64::from(s.1)).sum();
        if acc >= want {
            // The quantile lies below the selection: sort everything.
            samples.par_sort_unstable_by(cmp);
            acc = 0.0;
            return first_reaching(samples, &mut acc, want);
        }
    }
    samples[k..].par_sort_unstable_by(cmp);
    first_reaching(&samples[k..], &mut acc, want)
}

/// The value of the first of `sorted` at which `acc` plus the weights so far reaches `want`
/// (the last value when none does).
fn first_reaching(sorted: &[(f32, f32)], acc: &mut f64, want: f64) -> f64 {
    for s in sorted {
        *acc += f64::from(s.1);
        if *acc >= want {
            return f64::from(s.0);
        }
    }
    sorted.last().map_or(0.0, |s| f64::from(s.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SignMethod;
    use osteon_geom::Lcg;

    /// Uniform in `[0, 1)`.
    fn lcg(s: &mut Lcg) -> f32 {
        s.next_f64() as f32
    }

    /// The weighted quantile by selection equals the one of a full sort (the first sample in
    /// ascending order whose cumulative weight reaches the share), with many ties, for
    /// shares inside and below the selected top part (all weight in the bottom half: the
    /// fallback to a full sort), and for tiny inputs.
    #[test]
    fn weighted_quantile_matches_a_full_sort() {
        let reference = |v: &[(f32, f32)], q: f64| -> f64 {
            let mut v = v.to_vec();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            let total: f64 = v.iter().map(|s| f64::from(s.1)).sum();
            let mut acc = 0.0;
            for s in &v {
                acc += f64::from(s.1);
                if acc >= q * total {
                    return f64::from(s.0);
                }
            }
            f64::from(v[v.len() - 1].0)
        };
        let mut seed = Lcg::new(7);
        for n in [1usize, 2, 3, 30, 1000, 20_000] {
            // Integer weights: the sums are exact in any order.
            let mut v: Vec<(f32, f32)> = (0..n)
                .map(|_| {
                    let x = (lcg(&mut seed) * 50.0).floor() / 50.0;
                    (x, (lcg(&mut seed) * 9.0).floor() + 1.0)
                })
                .collect();
            for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
                let total: f64 = v.iter().map(|s| f64::from(s.1)).sum();
                let want = reference(&v, q);
                let mut w = v.clone();
                assert_eq!(weighted_quantile(&mut w, total, q), want, "n {n} q {q}");
            }
            // All the weight on the lower half: the 0.99 quantile lies below the top part.
            for s in v.iter_mut() {
                if s.0 > 0.5 {
                    s.1 = 0.0;
                }
            }
            let total: f64 = v.iter().map(|s| f64::from(s.1)).sum();
            if total > 0.0 {
                let want = reference(&v, 0.99);
                assert_eq!(weighted_quantile(&mut v, total, 0.99), want, "n {n}");
            }
        }
    }

    /// Over consecutive chunks of triangles, every vertex of a triangle is measured exactly
    /// once (with its first triangle's chunk), whatever the chunk size; vertices of no
    /// triangle are left out (measured separately).
    #[test]
    fn chunk_vertices_cover_each_vertex_once() {
        let mut m = osteon_mesh::shapes::icosphere(3, 5.0);
        // An unreferenced vertex.
        m.positions.push(Vec3::splat(9.0));
        let first = first_triangles(&m);
        assert_eq!(first[m.positions.len() - 1], u32::MAX);
        let nt = m.triangles.len();
        for chunk in [1usize, 7, 64, nt, nt + 5] {
            let mut seen = vec![0u32; m.positions.len()];
            for c0 in (0..nt).step_by(chunk) {
                for v in chunk_vertices(&m.triangles, &first, c0, (c0 + chunk).min(nt)) {
                    seen[v as usize] += 1;
                }
            }
            let (last, rest) = seen.split_last().unwrap();
            assert_eq!(*last, 0, "chunk {chunk}");
            assert!(rest.iter().all(|&c| c == 1), "chunk {chunk}");
        }
    }

    /// Every vertex, also one of no triangle, enters the maximum, and the sample count is
    /// six pattern points per triangle plus the vertices: a unit sphere measured against a
    /// sphere of radius 0.5 at offset 0.5 errs only where its vertices are moved.
    #[test]
    fn vertex_errors_enter_the_maximum() {
        let input = osteon_mesh::shapes::icosphere(4, 0.5);
        let sd = SignedDistance::with_sign(&input, SignMethod::PseudoNormal).unwrap();
        let mut out = osteon_mesh::shapes::icosphere(2, 1.0);
        let nt = out.triangles.len();
        // No loose vertex: the maximum is at least the exact error of every vertex.
        let e = measure(&out, &sd, Shape::Offset(0.5), 0.1);
        assert_eq!(e.samples, 6 * nt + out.positions.len());
        let vmax = out
            .positions
            .iter()
            .map(|&p| (sd.distance(p) - 0.5).abs())
            .fold(0.0f32, f32::max);
        assert!(e.max_mm >= f64::from(vmax) - 1e-6, "{} < {vmax}", e.max_mm);
        // A vertex of the mesh pushed 0.3 mm out (measured in its first triangle's batch)
        // errs by more than any chord: it is the maximum.
        let k = out.triangles[nt / 2][1] as usize;
        out.positions[k] *= 1.3;
        let e = measure(&out, &sd, Shape::Offset(0.5), 0.1);
        let want = f64::from(sd.distance(out.positions[k]) - 0.5);
        assert!(want > 0.25, "{want}");
        assert!((e.max_mm - want).abs() < 1e-6, "{} vs {want}", e.max_mm);
        out.positions[k] /= 1.3;
        // A loose vertex 2 mm out errs by 2 mm: that is the maximum.
        out.positions.push(Vec3::new(0.0, 0.0, 3.0));
        let e = measure(&out, &sd, Shape::Offset(0.5), 0.1);
        let want = f64::from(sd.distance(Vec3::new(0.0, 0.0, 3.0)) - 0.5);
        assert!((e.max_mm - want).abs() < 1e-6, "{} vs {want}", e.max_mm);
        assert_eq!(e.samples, 6 * nt + out.positions.len());
    }

    /// A narrow ridge of the error inside a triangle: over a V groove (two half-planes at
    /// ±45° meeting along the y axis) the distance is `(z − |x|)/√2`, with a kink on the
    /// groove line. An output triangle at height `H = 1.1·√2` crossing it, offset `d = 1`, errs
    /// by `|0.1 − |x|/√2|`: at most 0.1 mm, on the line, which lies halfway between two columns
    /// of the 45-point search grid (that grid alone would report ≤ 0.089). The stated maximum
    /// must find the ridge top.
    #[test]
    fn maximum_finds_a_ridge_between_grid_points() {
        let v = |x: f32, y: f32, z: f32| Vec3::new(x, y, z);
        let input = Mesh::new(
            vec![
                v(-10.0, -10.0, 10.0),
                v(0.0, -10.0, 0.0),
                v(0.0, 10.0, 0.0),
                v(-10.0, 10.0, 10.0),
                v(10.0, -10.0, 10.0),
                v(10.0, 10.0, 10.0),
            ],
            vec![[0, 1, 2], [0, 2, 3], [1, 4, 5], [1, 5, 2]],
        )
        .unwrap();
        let sd = SignedDistance::with_sign(&input, SignMethod::PseudoNormal).unwrap();
        let h = 1.1 * std::f32::consts::SQRT_2;
        let out = Mesh::new(
            vec![
                v(-0.234375, -0.2, h),
                v(0.265625, -0.2, h),
                v(0.015625, 0.3, h),
            ],
            vec![[0, 1, 2]],
        )
        .unwrap();
        let e = measure(&out, &sd, Shape::Offset(1.0), 0.5);
        assert!(
            (e.max_mm - 0.1).abs() < 5e-4,
            "max {} mm, want 0.1 (the ridge top)",
            e.max_mm
        );
        // Mean and p99 are area estimates: below the maximum.
        assert!(e.mean_mm < e.max_mm && e.p99_mm <= e.max_mm);
    }
}
