//! Certified maximum of a distance-like function over a triangle surface, by branch and
//! bound.
//!
//! The functions maximised here (the depth of a point inside the other solid, or its
//! distance to the other surface) are bounded above, on any triangle `S`, by
//! `dist(x, B)` for every triangle `B` of the other mesh — a convex function of `x`, so its
//! maximum over `S` is reached at a corner — and by `f(c) + r` (1-Lipschitz, `c` the
//! centroid, `r` its largest distance to a corner). A sub-triangle whose bound does not
//! exceed the best value found by more than the tolerance is dropped; the others are split
//! into four. The answer is the best value found, and the largest remaining bound tells how
//! far the true maximum can lie above it (zero remaining items: within the tolerance).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use osteon_geom::DVec3;
use rayon::prelude::*;

use crate::geometry::Tri;

/// The other mesh, as the maximiser sees it.
pub(crate) trait Field: Sync {
    /// `f(x)` and a triangle `B` of the other mesh with `f(x) ≤ dist(x, B)` everywhere (the
    /// closest one to `x`).
    fn eval(&self, x: DVec3) -> (f64, u32);
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

/// Evaluates a (sub-)triangle: returns (best value at centroid/corners with its point,
/// upper bound, near triangles of the corners).
fn evaluate<F: Field>(
    f: &F,
    tri: &Tri,
    corner_vals: Option<([f64; 3], [u32; 3])>,
    parent: [u32; 3],
) -> (f64, DVec3, f64, [u32; 3]) {
    let (vals, near) = match corner_vals {
        Some(v) => v,
        None => {
            let e = tri.map(|p| f.eval(p));
            (e.map(|x| x.0), e.map(|x| x.1))
        }
    };
    let c = (tri[0] + tri[1] + tri[2]) / 3.0;
    let (fc, bc) = f.eval(c);
    let mut best = (fc, c);
    for k in 0..3 {
        if vals[k] > best.0 {
            best = (vals[k], tri[k]);
        }
    }
    let r = tri.iter().map(|p| (*p - c).length()).fold(0.0, f64::max);
    let mut ub = fc + r;
    for b in [
        bc, near[0], near[1], near[2], parent[0], parent[1], parent[2],
    ] {
        let m = tri.iter().map(|&p| f.dist_to(b, p)).fold(0.0, f64::max);
        ub = ub.min(m);
    }
    (best.0, best.1, ub, near)
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
    // Cheap corner bound first: no query.
    let cands: Vec<&(Tri, [f64; 3], [u32; 3])> = tris
        .iter()
        .filter(|(t, v, near)| {
            // Lipschitz from each corner: f ≤ f(v) + (longest edge from v).
            let mut ub = f64::INFINITY;
            for k in 0..3 {
                let reach = (t[(k + 1) % 3] - t[k])
                    .length()
                    .max((t[(k + 2) % 3] - t[k]).length());
                ub = ub.min(v[k] + reach);
            }
            if ub <= best.0 + tol {
                return false;
            }
            for &b in near {
                ub = ub.min(t.iter().map(|&p| f.dist_to(b, p)).fold(0.0, f64::max));
            }
            ub > best.0 + tol
        })
        .collect();
    let first: Vec<(f64, DVec3, f64, Tri, [u32; 3])> = cands
        .par_iter()
        .map(|(t, v, near)| {
            let (bv, bp, ub, near) = evaluate(f, t, Some((*v, *near)), *near);
            (bv, bp, ub, *t, near)
        })
        .collect();
    let mut evaluations = first.len();
    for &(bv, bp, ..) in &first {
        if bv > best.0 {
            best = (bv, bp);
        }
    }
    let mut heap = BinaryHeap::new();
    let mut seq = 0u64;
    for (_, _, ub, tri, near) in first {
        if ub > best.0 + tol {
            heap.push(Item { ub, seq, tri, near });
            seq += 1;
        }
    }
    // Batches of the most promising items, split in parallel; the batch is fixed by the
    // heap order alone, so the result does not depend on the thread count.
    const BATCH: usize = 64;
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
        let kids: Vec<(f64, DVec3, f64, Tri, [u32; 3])> = batch
            .par_iter()
            .flat_map_iter(|it| {
                let [a, b, c] = it.tri;
                let (ab, bc, ca) = ((a + b) * 0.5, (b + c) * 0.5, (c + a) * 0.5);
                [[a, ab, ca], [ab, b, bc], [ca, bc, c], [ab, bc, ca]]
                    .into_iter()
                    .map(|k| {
                        let (bv, bp, ub, near) = evaluate(f, &k, None, it.near);
                        (bv, bp, ub, k, near)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        evaluations += kids.len();
        for &(bv, bp, ..) in &kids {
            if bv > best.0 {
                best = (bv, bp);
            }
        }
        for (_, _, ub, tri, near) in kids {
            if ub > best.0 + tol {
                heap.push(Item { ub, seq, tri, near });
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
