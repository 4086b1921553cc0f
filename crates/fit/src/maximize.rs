//! Certified maximum of a distance-like function over a triangle surface, by branch and
//! bound: the penetration depth of the implant below the bone (`fit`) and the distance of
//! one surface to the other (`compare`'s Hausdorff).
//!
//! Such an `f` is bounded on a (sub-)triangle `S` by `f(v) + r` (1-Lipschitz; `v` a corner,
//! `r` its longer edge) and, for every triangle `B` of the other mesh, by `dist(x, B)`.
//! `dist(·, B)` is convex, so on `S` it lies below `L_B`, the linear interpolant of its
//! corner values; hence `f ≤ min_B L_B` on `S`. The candidates `B` are the other-mesh
//! triangles nearest the corners of `S` and of its parent and, when those do not settle
//! `S`, the triangles across the edges of its corners' nearest ones that face the centre of
//! `S` ([`Field::neighbours_toward`]):
//! where the other surface is meshed finer than `S`, the point of `B` nearest a corner is
//! often on an edge of `B`, and `L_B` over-estimates the distance of the rest of `S` until
//! the triangle beyond that edge joins in (on the plate pushed into the sample bone, this
//! cuts the evaluations from 5 910 to 2 511). Below a ridge of the other surface (two faces
//! meeting) `f` is the lower of two nearly linear functions, which this bound follows,
//! where the largest corner value of one `B` alone over-estimates it until the triangles
//! are tiny.
//!
//! A sub-triangle is dropped when `min_B L_B` stays at or below the best value found plus
//! the tolerance everywhere on it: the triangle, clipped in barycentric coordinates by the
//! half-planes `L_B ≥ best + tol`, is empty (`clip_empty`; a small linear feasibility
//! problem, in place of the exact maximum of the concave function, which only ordered the
//! heap). The others keep the cheaper bound (Lipschitz, or the least largest corner value
//! of one `L_B`) as their key and are split into four at their edge midpoints (three
//! warm-started evaluations). When the evaluation budget runs out, the gap reported is
//! read from those keys, so it is wider than the exact maximum of `min_B L_B` would make
//! it (still a valid bound). Batches of the most promising items are split in parallel;
//! the batches depend on the heap order alone, so the result does not depend on the thread
//! count. The answer is the best value found; the largest remaining bound tells how far
//! the true maximum can lie above it.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use osteon_geom::{DVec3, FastHash};
use osteon_mesh::distance::point_triangle_distance2;
use rayon::prelude::*;

use crate::geometry::Tri;

/// The other mesh, as the maximiser sees it.
pub(crate) trait Field: Sync {
    /// `f(x)` and a triangle `B` of the other mesh with `f(x) ≤ dist(x, B)` everywhere (the
    /// closest one to `x`); `hint` is an other-mesh triangle near `x` (a warm start).
    fn eval(&self, x: DVec3, hint: u32) -> (f64, u32);
    /// Distance from `x` to triangle `b` of the other mesh.
    fn dist_to(&self, b: u32, x: DVec3) -> f64;
    /// Corners of the other-mesh triangles across those edges of triangle `b` that have
    /// `x` on their outer side in the plane of `b` (more candidates for the bound; none by
    /// default).
    fn neighbours_toward(&self, _b: u32, _x: DVec3) -> [Option<Tri>; 3] {
        [None; 3]
    }
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
    /// Points evaluated.
    pub evaluations: usize,
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

/// True when no point of the triangle has `min_j lin[j]·λ ≥ t` (λ barycentric): the
/// triangle, clipped by every half-plane `(lin[j] − t)·λ ≥ 0` in turn (Sutherland–Hodgman;
/// `Σλ = 1`, so subtracting `t` from each corner value subtracts it from the function), is
/// empty. A clipped convex polygon gains at most one side per half-plane.
fn clip_empty(lin: &[DVec3], t: f64) -> bool {
    // Room for two new sides per half-plane: rounding can add one more where lines nearly
    // coincide; past that the answer is "not empty" (safe: the item is split).
    const MAX: usize = 3 + 2 * MAX_FUNCTIONS;
    let mut poly = [DVec3::ZERO; MAX];
    let mut next = [DVec3::ZERO; MAX];
    poly[..3].copy_from_slice(&[DVec3::X, DVec3::Y, DVec3::Z]);
    let mut n = 3;
    for f in lin {
        let g = *f - DVec3::splat(t);
        let mut m = 0;
        for i in 0..n {
            if m + 2 > MAX {
                return false;
            }
            let (p, q) = (poly[i], poly[(i + 1) % n]);
            let (sp, sq) = (g.dot(p), g.dot(q));
            if sp >= 0.0 {
                next[m] = p;
                m += 1;
            }
            if (sp >= 0.0) != (sq >= 0.0) {
                next[m] = p + (q - p) * (sp / (sp - sq));
                m += 1;
            }
        }
        if m == 0 {
            return true;
        }
        poly[..m].copy_from_slice(&next[..m]);
        n = m;
    }
    false
}

/// Most candidate functions of one bound: six nearest triangles and three neighbours of
/// each of the corners' three.
const MAX_FUNCTIONS: usize = 15;

/// Upper bound of `f` over a (sub-)triangle from its corner values and the other-mesh
/// triangles near its corners and its parent's corners, and their neighbours (no query);
/// at most `enough` exactly when the sub-triangle cannot hold a value above `enough`
/// (see the module documentation). `dist(b, k)` is the distance from corner `k` of `tri`
/// to other-mesh triangle `b` (callers share these between sibling sub-triangles).
fn bound<F: Field>(
    f: &F,
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
    let mut lin = [DVec3::ZERO; MAX_FUNCTIONS];
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
    // Toward the centre: the neighbours across the other edges rarely hold its minimum.
    let centre = (tri[0] + tri[1] + tri[2]) / 3.0;
    let mut own = *near;
    own.sort_unstable();
    for (i, &b) in own.iter().enumerate() {
        if i > 0 && own[i - 1] == b {
            continue;
        }
        for c in f.neighbours_toward(b, centre).into_iter().flatten() {
            let l = DVec3::new(
                point_triangle_distance2(tri[0], &c).sqrt(),
                point_triangle_distance2(tri[1], &c).sqrt(),
                point_triangle_distance2(tri[2], &c).sqrt(),
            );
            ub = ub.min(l.max_element());
            lin[m] = l;
            m += 1;
        }
    }
    if ub <= enough {
        return ub;
    }
    // Functions at or above another one at every corner never hold the minimum.
    let all = &lin[..m];
    let mut keep = [DVec3::ZERO; MAX_FUNCTIONS];
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
    // Slack: the clipped points carry rounding (relative 1e-9 on λ).
    if clip_empty(keep, enough - 1e-8 * scale) {
        enough
    } else {
        ub
    }
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
            let ub = bound(f, t, v, near, near, enough, |b, k| {
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
                    let ub = bound(f, &t, &v, &n, &it.near, enough, |bt, k| {
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
        evaluations,
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

    /// The search over `tris`, their corners evaluated by `f` itself.
    fn search<F: Field>(f: &F, tris: &[Tri], start: DVec3, tol: f64) -> Maximum {
        let items: Vec<(Tri, [f64; 3], [u32; 3])> = tris
            .iter()
            .map(|t| {
                let e = t.map(|x| f.eval(x, 0));
                (*t, e.map(|x| x.0), e.map(|x| x.1))
            })
            .collect();
        maximize(f, &items, f64::NEG_INFINITY, start, tol, 100_000)
    }

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
        let a = search(&plain, &tris, g(0, 0), 1e-4);
        let b = search(&shared, &tris, g(0, 0), 1e-4);
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

    /// Distance to a finely triangulated bowl `z = 0.05 (x² + y²)` (many small convex
    /// pieces), with or without the edge neighbours of each triangle as extra candidates.
    struct Bowl<const NEIGHBOURS: bool> {
        tris: Vec<Tri>,
        /// Triangles across each edge (`u32::MAX`: none).
        across: Vec<[u32; 3]>,
    }

    impl<const NEIGHBOURS: bool> Bowl<NEIGHBOURS> {
        fn new() -> Self {
            let n = 24;
            let p = |i: usize, j: usize| {
                let (x, y) = (i as f64 * 0.25 - 3.0, j as f64 * 0.25 - 3.0);
                DVec3::new(x, y, 0.05 * (x * x + y * y))
            };
            let mut tris = Vec::new();
            let mut ids = Vec::new();
            let v = |i: usize, j: usize| (i * (n + 1) + j) as u32;
            for i in 0..n {
                for j in 0..n {
                    tris.push([p(i, j), p(i + 1, j), p(i + 1, j + 1)]);
                    ids.push([v(i, j), v(i + 1, j), v(i + 1, j + 1)]);
                    tris.push([p(i, j), p(i + 1, j + 1), p(i, j + 1)]);
                    ids.push([v(i, j), v(i + 1, j + 1), v(i, j + 1)]);
                }
            }
            let across = ids
                .iter()
                .enumerate()
                .map(|(t, a)| {
                    std::array::from_fn(|k| {
                        let (x, y) = (a[k], a[(k + 1) % 3]);
                        ids.iter()
                            .enumerate()
                            .position(|(u, b)| u != t && b.contains(&x) && b.contains(&y))
                            .map_or(u32::MAX, |u| u as u32)
                    })
                })
                .collect();
            Bowl { tris, across }
        }
    }

    impl<const NEIGHBOURS: bool> Field for Bowl<NEIGHBOURS> {
        fn eval(&self, x: DVec3, _hint: u32) -> (f64, u32) {
            (0..self.tris.len() as u32)
                .map(|b| (self.dist_to(b, x), b))
                .fold((f64::INFINITY, 0), |a, c| if c.0 < a.0 { c } else { a })
        }
        fn dist_to(&self, b: u32, x: DVec3) -> f64 {
            point_triangle_distance2(x, &self.tris[b as usize]).sqrt()
        }
        fn neighbours_toward(&self, b: u32, x: DVec3) -> [Option<Tri>; 3] {
            let t = &self.tris[b as usize];
            let n = (t[1] - t[0]).cross(t[2] - t[0]);
            std::array::from_fn(|k| {
                let u = self.across[b as usize][k];
                let outside = (t[(k + 1) % 3] - t[k]).cross(x - t[k]).dot(n) < 0.0;
                (NEIGHBOURS && u != u32::MAX && outside).then(|| self.tris[u as usize])
            })
        }
        const SHARE_MIDPOINTS: bool = true;
        const VALUE_IS_DISTANCE: bool = true;
    }

    #[test]
    fn neighbour_candidates_keep_the_maximum_certified() {
        // A 1.5 mm grid lifted 0.5 mm above the bowl: its triangles are chords that sag away
        // from the bowl (~0.03 mm; each spans dozens of the bowl's triangles), so the
        // maximum sits inside them, above the corners' 0.5 mm.
        let lift = |i: i32, j: i32| {
            let (x, y) = (i as f64 * 1.5, j as f64 * 1.5);
            DVec3::new(x, y, 0.05 * (x * x + y * y) + 0.5)
        };
        let mut tris = Vec::new();
        for i in -1..1 {
            for j in -1..1 {
                tris.push([lift(i, j), lift(i + 1, j), lift(i + 1, j + 1)]);
                tris.push([lift(i, j), lift(i + 1, j + 1), lift(i, j + 1)]);
            }
        }
        let with = Bowl::<true>::new();
        let without = Bowl::<false>::new();
        let a = search(&with, &tris, tris[0][0], 1e-5);
        let b = search(&without, &tris, tris[0][0], 1e-5);
        let mut sample = f64::NEG_INFINITY;
        for t in &tris {
            for i in 0..=60 {
                for j in 0..=60 - i {
                    let (u, v) = (i as f64 / 60.0, j as f64 / 60.0);
                    sample =
                        sample.max(with.eval(t[0] + (t[1] - t[0]) * u + (t[2] - t[0]) * v, 0).0);
                }
            }
        }
        for m in [a, b] {
            // Certified: no sample above value + gap; the value is reached at its point.
            assert!(sample <= m.value + m.gap + 1e-12, "{sample} {m:?}");
            assert!(m.gap <= 1e-5 + 1e-12, "{m:?}");
            assert!((with.eval(m.point, 0).0 - m.value).abs() < 1e-12, "{m:?}");
        }
        // The neighbours do their work: fewer evaluations (960 against 1 128 when written).
        assert!(
            (a.evaluations as f64) < 0.9 * b.evaluations as f64,
            "{} {}",
            a.evaluations,
            b.evaluations
        );
        // The maximum is inside the triangles, well above the corners' values.
        let corners = tris
            .iter()
            .flatten()
            .map(|&x| with.eval(x, 0).0)
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(a.value > corners + 0.01, "{a:?} {corners}");
    }

    #[test]
    fn clipping_finds_the_maximum_of_the_lower_envelope() {
        // 1 − λ0 and 1 − λ1: the minimum peaks at λ2 = 1 with value 1.
        let a = DVec3::new(0.0, 1.0, 1.0);
        let b = DVec3::new(1.0, 0.0, 1.0);
        assert!(!clip_empty(&[a, b], 1.0 - 1e-9));
        assert!(clip_empty(&[a, b], 1.0 + 1e-9));
        // λ0, λ1, λ2: the centre, 1/3.
        let (x, y, z) = (DVec3::X, DVec3::Y, DVec3::Z);
        assert!(!clip_empty(&[x, y, z], 1.0 / 3.0 - 1e-9));
        assert!(clip_empty(&[x, y, z], 1.0 / 3.0 + 1e-9));
        // Random functions: the threshold where the clipped triangle empties is the
        // maximum a dense grid finds (up to the grid's spacing).
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..200 {
            let k = 1 + (rnd() * 8.0) as usize;
            let f: Vec<DVec3> = (0..k).map(|_| DVec3::new(rnd(), rnd(), rnd())).collect();
            let mut grid = f64::NEG_INFINITY;
            for i in 0..=120 {
                for j in 0..=120 - i {
                    let l = DVec3::new(i as f64, j as f64, (120 - i - j) as f64) / 120.0;
                    grid = grid.max(f.iter().map(|g| g.dot(l)).fold(f64::INFINITY, f64::min));
                }
            }
            // Bisect the emptying threshold.
            let (mut lo, mut hi) = (-1.0, 2.0);
            for _ in 0..60 {
                let mid = 0.5 * (lo + hi);
                if clip_empty(&f, mid) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            assert!(lo >= grid - 1e-12 && lo - grid < 0.01, "{lo} {grid} {f:?}");
        }
    }
}
