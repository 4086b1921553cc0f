//! Certified maximum of a distance-like function over a triangle surface, by branch and
//! bound: the penetration depth of the implant below the bone (`fit`) and the distance of
//! one surface to the other (`compare`'s Hausdorff).
//!
//! Such an `f` is bounded on a (sub-)triangle `S` by `f(v) + r` (1-Lipschitz; `v` a corner,
//! `r` its longer edge) and, for every triangle `B` of the other mesh, by `dist(x, B)`.
//! `dist(·, B)` is convex, so on `S` it lies below `L_B`, the linear interpolant of its
//! corner values; hence `f ≤ min_B L_B` on `S`, and the bound used is the exact maximum of
//! that concave piecewise-linear function over `S` — a small linear programme over the
//! candidates `B` (the other-mesh triangles nearest the corners of `S` and of its parent),
//! solved by visiting the vertices of its arrangement. Below a ridge of the other surface
//! (two faces meeting) `f` is the lower of two nearly linear functions, which this bound
//! follows, where the largest corner value of one `B` alone over-estimates it until the
//! triangles are tiny.
//!
//! A sub-triangle whose bound does not exceed the best value found by more than the
//! tolerance is dropped; the others are split into four at their edge midpoints (three
//! warm-started evaluations). Batches of the most promising items are split in parallel;
//! the batches depend on the heap order alone, so the result does not depend on the thread
//! count. The answer is the best value found; the largest remaining bound tells how far
//! the true maximum can lie above it.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use osteon_geom::DVec3;
use rayon::prelude::*;

use crate::geometry::Tri;

/// The other mesh, as the maximiser sees it.
pub(crate) trait Field: Sync {
    /// `f(x)` and a triangle `B` of the other mesh with `f(x) ≤ dist(x, B)` everywhere (the
    /// closest one to `x`); `hint` is an other-mesh triangle near `x` (a warm start).
    fn eval(&self, x: DVec3, hint: u32) -> (f64, u32);
    /// Distance from `x` to triangle `b` of the other mesh.
    fn dist_to(&self, b: u32, x: DVec3) -> f64;
}

/// Best value, where, and the certified gap to the true maximum.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Maximum {
    pub value: f64,
    pub point: DVec3,
    /// The true maximum lies within `[value, value + gap]`.
    pub gap: f64,
}

struct Item {
    ub: f64,
    seq: u64,
    tri: Tri,
    /// `f` at the corners.
    vals: [f64; 3],
    /// Other-mesh triangles closest to the corners (for the bound of the children).
    near: [u32; 3],
}

impl PartialEq for Item {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Item {
    fn cmp(&self, o: &Self) -> Ordering {
        self.ub.total_cmp(&o.ub).then(o.seq.cmp(&self.seq))
    }
}

/// Largest value over the triangle of `min_j lin[j]·λ` (λ barycentric): the vertices of the
/// arrangement — corners, points of an edge where two functions tie, inner points where
/// three tie — hold the maximum of this concave piecewise-linear function.
fn lp_max(lin: &[DVec3]) -> f64 {
    let value = |l: DVec3| lin.iter().map(|f| f.dot(l)).fold(f64::INFINITY, f64::min);
    let mut best = f64::NEG_INFINITY;
    let mut consider = |w: DVec3| {
        let s = w.x + w.y + w.z;
        if s == 0.0 || !s.is_finite() {
            return;
        }
        let l = w / s;
        if l.min_element() < -1e-9 {
            return;
        }
        let l = l.max(DVec3::ZERO);
        best = best.max(value(l / (l.x + l.y + l.z)));
    };
    for e in [DVec3::X, DVec3::Y, DVec3::Z] {
        consider(e);
    }
    for i in 0..lin.len() {
        for j in i + 1..lin.len() {
            let d = lin[i] - lin[j];
            for e in [DVec3::X, DVec3::Y, DVec3::Z] {
                consider(d.cross(e));
            }
            for k in j + 1..lin.len() {
                consider(d.cross(lin[i] - lin[k]));
            }
        }
    }
    best
}

/// Upper bound of `f` over a (sub-)triangle from its corner values and the other-mesh
/// triangles near its corners and its parent's corners (no query). Stops early once the
/// bound is at most `enough`. `dist(b, k)` is the distance from corner `k` of `tri` to
/// other-mesh triangle `b` (callers share these between sibling sub-triangles).
fn bound(
    tri: &Tri,
    vals: &[f64; 3],
    near: &[u32; 3],
    parent: &[u32; 3],
    enough: f64,
    mut dist: impl FnMut(u32, usize) -> f64,
) -> f64 {
    let mut ub = f64::INFINITY;
    for k in 0..3 {
        let reach = (tri[(k + 1) % 3] - tri[k])
            .length()
            .max((tri[(k + 2) % 3] - tri[k]).length());
        ub = ub.min(vals[k] + reach);
    }
    if ub <= enough {
        return ub;
    }
    let mut ids = [near[0], near[1], near[2], parent[0], parent[1], parent[2]];
    ids.sort_unstable();
    let mut lin = [DVec3::ZERO; 6];
    let mut m = 0;
    for (i, &b) in ids.iter().enumerate() {
        if i > 0 && ids[i - 1] == b {
            continue;
        }
        let l = DVec3::new(dist(b, 0), dist(b, 1), dist(b, 2));
        ub = ub.min(l.max_element());
        lin[m] = l;
        m += 1;
    }
    if ub <= enough {
        return ub;
    }
    // Functions at or above another one at every corner never hold the minimum.
    let all = &lin[..m];
    let mut keep = [DVec3::ZERO; 6];
    let mut kept = 0;
    for (i, l) in all.iter().enumerate() {
        let dominated = all
            .iter()
            .enumerate()
            .any(|(j, o)| j != i && o.cmple(*l).all() && (o.cmplt(*l).any() || j < i));
        if !dominated {
            keep[kept] = *l;
            kept += 1;
        }
    }
    let keep = &keep[..kept];
    let scale = keep
        .iter()
        .map(|l| l.abs().max_element())
        .fold(1.0, f64::max);
    // Slack: the candidate points and values carry rounding (relative 1e-9 on λ).
    ub.min(lp_max(keep) + 1e-8 * scale)
}

/// Maximum of `f` over the triangles `tris` (each with its corners' values and nearest
/// other-mesh triangles), starting from a known value `start` at `start_point`.
pub(crate) fn maximize<F: Field>(
    f: &F,
    tris: &[(Tri, [f64; 3], [u32; 3])],
    start: f64,
    start_point: DVec3,
    tol: f64,
    budget: usize,
) -> Maximum {
    let mut best = (start, start_point);
    for (t, v, _) in tris {
        for k in 0..3 {
            if v[k] > best.0 {
                best = (v[k], t[k]);
            }
        }
    }
    let enough = best.0 + tol;
    let bounds: Vec<f64> = tris
        .par_iter()
        .map(|(t, v, near)| bound(t, v, near, near, enough, |b, k| f.dist_to(b, t[k])))
        .collect();
    let mut heap = BinaryHeap::new();
    let mut seq = 0u64;
    for ((tri, vals, near), ub) in tris.iter().zip(bounds) {
        if ub > best.0 + tol {
            heap.push(Item {
                ub,
                seq,
                tri: *tri,
                vals: *vals,
                near: *near,
            });
            seq += 1;
        }
    }
    let mut evaluations = 0usize;
    const BATCH: usize = 64;
    type Kid = (f64, Tri, [f64; 3], [u32; 3]);
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH {
            match heap.peek() {
                Some(top) if top.ub > best.0 + tol => batch.push(heap.pop().expect("peeked")),
                _ => break,
            }
        }
        if batch.is_empty() || evaluations >= budget {
            heap.extend(batch);
            break;
        }
        let enough = best.0 + tol;
        let kids: Vec<Kid> = batch
            .par_iter()
            .flat_map_iter(|it: &Item| {
                let [a, b, c] = it.tri;
                let [va, vb, vc] = it.vals;
                let [na, nb, nc] = it.near;
                let (ab, bc, ca) = ((a + b) * 0.5, (b + c) * 0.5, (c + a) * 0.5);
                let (vab, nab) = f.eval(ab, na);
                let (vbc, nbc) = f.eval(bc, nb);
                let (vca, nca) = f.eval(ca, nc);
                // The four children's corners are 6 points (a, b, c, ab, bc, ca) and their
                // candidate other-mesh triangles are among na..nca: each distance is computed
                // once per parent, on first need.
                let pts = [a, b, c, ab, bc, ca];
                let cands = [na, nb, nc, nab, nbc, nca];
                let mut memo = [[f64::NAN; 6]; 6];
                [
                    ([0, 3, 5], [va, vab, vca], [na, nab, nca]),
                    ([3, 1, 4], [vab, vb, vbc], [nab, nb, nbc]),
                    ([5, 4, 2], [vca, vbc, vc], [nca, nbc, nc]),
                    ([3, 4, 5], [vab, vbc, vca], [nab, nbc, nca]),
                ]
                .into_iter()
                .map(|(ix, v, n)| {
                    let t = ix.map(|i| pts[i]);
                    let ub = bound(&t, &v, &n, &it.near, enough, |bt, k| {
                        let c = cands.iter().position(|&x| x == bt).expect("a candidate");
                        let m = &mut memo[ix[k]][c];
                        if m.is_nan() {
                            *m = f.dist_to(bt, pts[ix[k]]);
                        }
                        *m
                    });
                    (ub, t, v, n)
                })
                .collect::<Vec<Kid>>()
            })
            .collect();
        evaluations += 3 * batch.len();
        for (_, t, v, _) in &kids {
            for k in 0..3 {
                if v[k] > best.0 {
                    best = (v[k], t[k]);
                }
            }
        }
        for (ub, tri, vals, near) in kids {
            if ub > best.0 + tol {
                heap.push(Item {
                    ub,
                    seq,
                    tri,
                    vals,
                    near,
                });
                seq += 1;
            }
        }
    }
    // Dropped items had bounds within `tol` of a value not above the final best.
    let gap = heap.iter().map(|i| i.ub - best.0).fold(tol, f64::max);
    Maximum {
        value: best.0,
        point: best.1,
        gap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lp_max_of_two_ramps_is_their_crossing() {
        // 1 − λ0 and 1 − λ1 (λ2 = 1 − λ0 − λ1): the minimum peaks at λ2 = 1 with value 1.
        let a = DVec3::new(0.0, 1.0, 1.0);
        let b = DVec3::new(1.0, 0.0, 1.0);
        assert!((lp_max(&[a, b]) - 1.0).abs() < 1e-12);
        // λ0 and λ1: the minimum peaks at λ0 = λ1 = 1/2 with value 1/2.
        let a = DVec3::new(1.0, 0.0, 0.0);
        let b = DVec3::new(0.0, 1.0, 0.0);
        assert!((lp_max(&[a, b]) - 0.5).abs() < 1e-12);
        // λ0, λ1, λ2: the centre, 1/3.
        let c = DVec3::new(0.0, 0.0, 1.0);
        assert!((lp_max(&[a, b, c]) - 1.0 / 3.0).abs() < 1e-12);
        // Brute force over a grid never exceeds it.
        let f = [
            DVec3::new(0.3, 0.9, 0.1),
            DVec3::new(0.8, 0.2, 0.5),
            DVec3::new(0.1, 0.4, 0.95),
        ];
        let m = lp_max(&f);
        let mut grid = f64::NEG_INFINITY;
        for i in 0..=100 {
            for j in 0..=100 - i {
                let l = DVec3::new(i as f64, j as f64, (100 - i - j) as f64) / 100.0;
                grid = grid.max(f.iter().map(|g| g.dot(l)).fold(f64::INFINITY, f64::min));
            }
        }
        assert!(grid <= m + 1e-12 && m - grid < 0.01, "{m} {grid}");
    }
}
