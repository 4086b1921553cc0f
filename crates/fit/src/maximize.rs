//! Certified maximum of a distance-like function over a triangle surface, by branch and
//! bound.
//!
//! The functions maximised here (the depth of a point inside the other solid, or its
//! distance to the other surface) are bounded above, on any triangle `S`, by
//! `dist(x, B)` for every triangle `B` of the other mesh — a convex function of `x`, so its
//! maximum over `S` is reached at a corner — and by `f(v) + r` (1-Lipschitz, `v` a corner,
//! `r` the longer of its two edges). A sub-triangle whose bound does not exceed the best
//! value found by more than the tolerance is dropped; the others are split into four at
//! their edge midpoints (three evaluations, with warm-started queries). The answer is the
//! best value found, and the largest remaining bound tells how far the true maximum can lie
//! above it (zero remaining items: within the tolerance).

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
    /// Other-mesh triangles closest to the corners (for the convex bound of children).
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

/// Upper bound of `f` over a (sub-)triangle from its corner values and the other-mesh
/// triangles near its corners and its parent's corners: no query. `f ≤ f(v) + |x − v|`
/// (1-Lipschitz) and `f ≤ dist(x, B)` (convex: largest at a corner).
/// Stops early (returning the Lipschitz bound) once the bound is at most `enough`.
fn bound<F: Field>(
    f: &F,
    tri: &Tri,
    vals: &[f64; 3],
    near: &[u32; 3],
    parent: &[u32; 3],
    enough: f64,
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
    for (i, &b) in ids.iter().enumerate() {
        if i > 0 && ids[i - 1] == b {
            continue;
        }
        let m = tri.iter().map(|&p| f.dist_to(b, p)).fold(0.0, f64::max);
        ub = ub.min(m);
        if ub <= enough {
            break;
        }
    }
    ub
}

/// Maximum of `f` over the triangles `tris` (each with its corners' values and nearest
/// other-mesh triangles), starting from a known value `start` at `start_point`.
///
/// A split costs three evaluations (the edge midpoints); the four children reuse the
/// parent's corners.
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
        .map(|(t, v, near)| bound(f, t, v, near, near, enough))
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
    // Batches of the most promising items, split in parallel; the batch is fixed by the
    // heap order alone, so the result does not depend on the thread count.
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
                [
                    ([a, ab, ca], [va, vab, vca], [na, nab, nca]),
                    ([ab, b, bc], [vab, vb, vbc], [nab, nb, nbc]),
                    ([ca, bc, c], [vca, vbc, vc], [nca, nbc, nc]),
                    ([ab, bc, ca], [vab, vbc, vca], [nab, nbc, nca]),
                ]
                .into_iter()
                .map(|(t, v, n)| (bound(f, &t, &v, &n, &it.near, enough), t, v, n))
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
