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
use std::collections::{BinaryHeap, HashMap};

use osteon_geom::{DVec3, FastHash};
use rayon::prelude::*;

use crate::geometry::Tri;

/// The other mesh, as the maximiser sees it.
pub(crate) trait Field: Sync {
    /// `f(x)` and a triangle `B` of the other mesh with `f(x) ≤ dist(x, B)` everywhere (the
    /// closest one to `x`); `hint` is an other-mesh triangle near `x` (a warm start).
    fn eval(&self, x: DVec3, hint: u32) -> (f64, u32);
    /// Distance from `x` to triangle `b` of the other mesh.
    fn dist_to(&self, b: u32, x: DVec3) -> f64;
    /// `eval` gives the same answer whatever the hint (up to which of several equally
    /// close triangles it names), so an edge midpoint evaluated for one sub-triangle serves
    /// its neighbour across that edge too.
    const SHARE_MIDPOINTS: bool = false;
    /// `|f(x)|` is bitwise the distance from `x` to the triangle `eval` names (as
    /// `dist_to` computes it), so the bound takes it without measuring again.
    const VALUE_IS_DISTANCE: bool = false;
}

/// Best value, where, and the certified gap to the true maximum.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Maximum {
    pub value: f64,
    pub point: DVec3,
    /// The true maximum lies within `[value, value + gap]`.
    pub gap: f64,
}

/// A (sub-)triangle waiting to be split: its bound and its place in the arena (the heap
/// moves these 16 bytes, not the item).
struct Key {
    ub: f64,
    /// Order of creation, and the item's index in the arena.
    seq: u64,
}

/// The rest of an item, in the arena.
struct Item {
    tri: Tri,
    /// `f` at the corners.
    vals: [f64; 3],
    /// Other-mesh triangles closest to the corners (for the bound of the children).
    near: [u32; 3],
    /// `dist[k][j]`: distance from corner `k` to triangle `near[j]` (the bound measured
    /// them all; the children's bounds reuse them).
    dist: [[f64; 3]; 3],
}

impl PartialEq for Key {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Key {
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
    let mut ub = lipschitz_bound(tri, vals);
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

/// The 1-Lipschitz bound of `f` over a (sub-)triangle with corner values `vals`: the least
/// over its corners of the value plus the longer of the corner's two edges.
pub(crate) fn lipschitz_bound(tri: &Tri, vals: &[f64; 3]) -> f64 {
    let mut ub = f64::INFINITY;
    for k in 0..3 {
        let reach = (tri[(k + 1) % 3] - tri[k])
            .length()
            .max((tri[(k + 2) % 3] - tri[k]).length());
        ub = ub.min(vals[k] + reach);
    }
    ub
}

/// The starting list of [`maximize`]: every triangle of `triangles` (vertex indices into
/// `pos`) that `keep(index, corners, values)` accepts, with its corners, the values
/// `value(v)` at its vertices and their nearest other-mesh triangles `near(v)`. Counted
/// first, then filled at its exact size: on a large mesh it can hold half the triangles.
pub(crate) fn candidates(
    triangles: &[[u32; 3]],
    pos: &[DVec3],
    value: impl Fn(u32) -> f64,
    near: impl Fn(u32) -> u32,
    keep: impl Fn(usize, &Tri, &[f64; 3]) -> bool,
) -> Vec<(Tri, [f64; 3], [u32; 3])> {
    let input = |t: &[u32; 3]| (t.map(|i| pos[i as usize]), t.map(&value));
    let kept = |&(k, t): &(usize, &[u32; 3])| {
        let (c, v) = input(t);
        keep(k, &c, &v)
    };
    let count = triangles.iter().enumerate().filter(kept).count();
    let mut out = Vec::with_capacity(count);
    out.extend(triangles.iter().enumerate().filter(kept).map(|(_, t)| {
        let (c, v) = input(t);
        (c, v, t.map(&near))
    }));
    out
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
    let bounds: Vec<(f64, [[f64; 3]; 3])> = tris
        .par_iter()
        .map(|(t, v, near)| {
            let mut memo = [[f64::NAN; 3]; 3];
            if F::VALUE_IS_DISTANCE {
                for k in 0..3 {
                    memo[k][first(near, near[k])] = v[k].abs();
                }
            }
            let ub = bound(t, v, near, near, enough, |b, k| {
                let m = &mut memo[k][first(near, b)];
                if m.is_nan() {
                    *m = f.dist_to(b, t[k]);
                }
                *m
            });
            (ub, spread(&memo, near))
        })
        .collect();
    let mut heap = BinaryHeap::new();
    let mut arena: Vec<Item> = Vec::new();
    let mut seq = 0u64;
    for ((tri, vals, near), (ub, dist)) in tris.iter().zip(bounds) {
        if ub > best.0 + tol {
            heap.push(Key { ub, seq });
            arena.push(Item {
                tri: *tri,
                vals: *vals,
                near: *near,
                dist,
            });
            seq += 1;
        }
    }
    let mut evaluations = 0usize;
    const BATCH: usize = 64;
    type Kid = (f64, Tri, [f64; 3], [u32; 3], [[f64; 3]; 3]);
    // Sized for a few midpoints per starting triangle, at most one per evaluation the
    // budget allows (a batch may overshoot it by 64 items of 3): fewer regrowths.
    let mut midpoints: HashMap<[u64; 6], (f64, u32), FastHash> =
        HashMap::with_capacity_and_hasher((2 * arena.len()).min(budget + 192), FastHash::default());
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
        // Edge midpoints met before (a neighbour split the same edge) are not evaluated
        // again; the cache holds earlier batches' points only, so what a batch computes does
        // not depend on the order its items run in.
        let seen = &midpoints;
        let items = &arena;
        let kids: Vec<([Kid; 4], [Fresh; 3])> = batch
            .par_iter()
            .map(|key: &Key| {
                let it = &items[key.seq as usize];
                let [a, b, c] = it.tri;
                let [va, vb, vc] = it.vals;
                let [na, nb, nc] = it.near;
                let (ab, bc, ca) = ((a + b) * 0.5, (b + c) * 0.5, (c + a) * 0.5);
                let at = |p: DVec3, q: DVec3, m: DVec3, hint: u32| -> Fresh {
                    let k = edge_key(p, q);
                    match seen.get(&k) {
                        Some(&v) if F::SHARE_MIDPOINTS => (k, v, false),
                        _ => (k, f.eval(m, hint), true),
                    }
                };
                let fresh = [at(a, b, ab, na), at(b, c, bc, nb), at(c, a, ca, nc)];
                let [(vab, nab), (vbc, nbc), (vca, nca)] = fresh.map(|x| x.1);
                // The four children's corners are 6 points (a, b, c, ab, bc, ca) and their
                // candidate other-mesh triangles are among na..nca: each distance is computed
                // once per parent, on first need.
                let pts = [a, b, c, ab, bc, ca];
                let cands = [na, nb, nc, nab, nbc, nca];
                let mut memo = [[f64::NAN; 6]; 6];
                // Known already: the parent's corners to its nearest triangles, and every
                // point to its own nearest triangle (when `f` is that distance).
                for (row, known) in memo.iter_mut().zip(&it.dist) {
                    for (&d, &b) in known.iter().zip(&it.near) {
                        if !d.is_nan() {
                            row[first(&cands, b)] = d;
                        }
                    }
                }
                if F::VALUE_IS_DISTANCE {
                    let vals = [va, vb, vc, vab, vbc, vca];
                    for ((row, &v), &b) in memo.iter_mut().zip(&vals).zip(&cands) {
                        row[first(&cands, b)] = v.abs();
                    }
                }
                let kids = [
                    ([0, 3, 5], [va, vab, vca], [na, nab, nca]),
                    ([3, 1, 4], [vab, vb, vbc], [nab, nb, nbc]),
                    ([5, 4, 2], [vca, vbc, vc], [nca, nbc, nc]),
                    ([3, 4, 5], [vab, vbc, vca], [nab, nbc, nca]),
                ];
                let mut four = [(0.0, [DVec3::ZERO; 3], [0.0; 3], [0u32; 3], [[0.0; 3]; 3]); 4];
                for (slot, (ix, v, n)) in four.iter_mut().zip(kids) {
                    let t = ix.map(|i| pts[i]);
                    let ub = bound(&t, &v, &n, &it.near, enough, |bt, k| {
                        let m = &mut memo[ix[k]][first(&cands, bt)];
                        if m.is_nan() {
                            *m = f.dist_to(bt, pts[ix[k]]);
                        }
                        *m
                    });
                    let dist = ix.map(|i| n.map(|b| memo[i][first(&cands, b)]));
                    *slot = (ub, t, v, n, dist);
                }
                (four, fresh)
            })
            .collect();
        evaluations += 3 * batch.len();
        let mut flat: Vec<Kid> = Vec::with_capacity(4 * kids.len());
        for (four, fresh) in kids {
            flat.extend(four);
            for (k, v, new) in fresh {
                if new && F::SHARE_MIDPOINTS {
                    midpoints.entry(k).or_insert(v);
                }
            }
        }
        let kids = flat;
        for (_, t, v, _, _) in &kids {
            for k in 0..3 {
                if v[k] > best.0 {
                    best = (v[k], t[k]);
                }
            }
        }
        for (ub, tri, vals, near, dist) in kids {
            if ub > best.0 + tol {
                heap.push(Key { ub, seq });
                arena.push(Item {
                    tri,
                    vals,
                    near,
                    dist,
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

/// Index of the first `b` in `ids` (present).
#[inline]
fn first(ids: &[u32], b: u32) -> usize {
    ids.iter().position(|&x| x == b).expect("a candidate")
}

/// `dist[k][j]` (corner `k` to `near[j]`) from a memo indexed by corner and first position
/// in `near`.
fn spread(memo: &[[f64; 3]; 3], near: &[u32; 3]) -> [[f64; 3]; 3] {
    let mut d = [[f64::NAN; 3]; 3];
    for k in 0..3 {
        for j in 0..3 {
            d[k][j] = memo[k][first(near, near[j])];
        }
    }
    d
}

/// An evaluation of an edge midpoint: the edge's key, `f` and the triangle there, and
/// whether it was computed in this batch.
type Fresh = ([u64; 6], (f64, u32), bool);

/// The key of edge `p q` (either direction): its ends' coordinate bits, in order.
fn edge_key(p: DVec3, q: DVec3) -> [u64; 6] {
    let a = [p.x, p.y, p.z].map(f64::to_bits);
    let b = [q.x, q.y, q.z].map(f64::to_bits);
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    [lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance to the nearest of a few points (convex pieces, 1-Lipschitz): `SHARED`
    /// switches on the midpoint cache and the reuse of known distances.
    struct Points<const SHARED: bool>(Vec<DVec3>);

    impl<const SHARED: bool> Field for Points<SHARED> {
        fn eval(&self, x: DVec3, _hint: u32) -> (f64, u32) {
            (0..self.0.len() as u32)
                .map(|b| (self.dist_to(b, x), b))
                .fold((f64::INFINITY, 0), |a, c| if c.0 < a.0 { c } else { a })
        }
        fn dist_to(&self, b: u32, x: DVec3) -> f64 {
            (x - self.0[b as usize]).length()
        }
        const SHARE_MIDPOINTS: bool = SHARED;
        const VALUE_IS_DISTANCE: bool = SHARED;
    }

    #[test]
    fn shared_midpoints_and_known_distances_change_nothing() {
        // A 2 × 2 grid of triangles above a scatter of points: the farthest surface point
        // from the points, with and without sharing, and against a dense sample.
        let pts: Vec<DVec3> = (0..7)
            .map(|k| {
                let f = k as f64;
                DVec3::new((f * 1.7).sin() * 1.5, (f * 0.9).cos() * 1.5, -0.3 - 0.1 * f)
            })
            .collect();
        let g = |i: usize, j: usize| DVec3::new(i as f64 - 1.0, j as f64 - 1.0, 0.2);
        let mut tris = Vec::new();
        for i in 0..2 {
            for j in 0..2 {
                tris.push([g(i, j), g(i + 1, j), g(i + 1, j + 1)]);
                tris.push([g(i, j), g(i + 1, j + 1), g(i, j + 1)]);
            }
        }
        let plain = Points::<false>(pts.clone());
        let shared = Points::<true>(pts);
        // The search over the grid, its corners evaluated by `f` itself.
        fn search<F: Field>(f: &F, tris: &[Tri], start: DVec3) -> Maximum {
            let items: Vec<(Tri, [f64; 3], [u32; 3])> = tris
                .iter()
                .map(|t| {
                    let e = t.map(|x| f.eval(x, 0));
                    (*t, e.map(|x| x.0), e.map(|x| x.1))
                })
                .collect();
            maximize(f, &items, f64::NEG_INFINITY, start, 1e-4, 100_000)
        }
        let a = search(&plain, &tris, g(0, 0));
        let b = search(&shared, &tris, g(0, 0));
        assert_eq!(a.value.to_bits(), b.value.to_bits());
        assert_eq!(a.point, b.point);
        assert_eq!(a.gap.to_bits(), b.gap.to_bits());
        // Certified: no sample exceeds value + gap, and the value is reached.
        let mut sample = f64::NEG_INFINITY;
        for t in &tris {
            for i in 0..=40 {
                for j in 0..=40 - i {
                    let (u, v) = (i as f64 / 40.0, j as f64 / 40.0);
                    let x = t[0] + (t[1] - t[0]) * u + (t[2] - t[0]) * v;
                    sample = sample.max(plain.eval(x, 0).0);
                }
            }
        }
        assert!(sample <= a.value + a.gap + 1e-12, "{sample} {a:?}");
        assert!(a.value >= sample - 1e-3, "{sample} {a:?}");
        assert!((plain.eval(a.point, 0).0 - a.value).abs() < 1e-12);
    }

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
