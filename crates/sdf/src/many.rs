//! Exact closest points of many points at once, in spatial groups.
//!
//! **In:** a [`SignedDistance`] and a list of query points (any order), plus a grouping cell
//! size (mm). **Out:** for every point, in input order, its exact closest point on the surface
//! ([`Hit`]) — the same distance a tree query gives.
//!
//! **Method.** The points are sorted along a Morton curve of cells of `cell / 4`; runs that
//! share a `cell`-sized cell (at most [`GROUP`] points) form a group. A group with centre `c`
//! (its box centre) and half-diagonal `r` gets one tree query at `c` and one box search for the
//! triangles within `u(c) + 2r` of `c`, which hold the closest triangle of each of its points
//! (the closest triangle `t` of a point `p` within `r` of `c` has `|c − t| ≤ u(p) + r ≤
//! u(c) + 2r`). Its points, 8 at a time (consecutive on the curve: compact), are evaluated
//! against those candidates with the branch-free 8-wide kernel ([`crate::batch`]); sub-groups
//! first narrow the list to the candidates within `u(cₛ) + 2rₛ` of their own centre (one more
//! 8-wide pass over the sub-group centres). The candidates whose kernel distance is within
//! the kernel's rounding of the minimum are then evaluated exactly ([`closest_on_triangle`]),
//! found in one pass over the candidates with a mask of the 8 points per candidate, and the
//! smallest `(distance², triangle)` wins. Groups too small to share a query, or with
//! too many candidates, fall back to one tree query per point (running hint). The groups and
//! their tasks depend only on the points, so results are the same at any thread count.

use osteon_geom::Vec3;
use rayon::prelude::*;

use crate::batch::{dist2, Lanes, PreparedTri, LANES};
use crate::bvh::Hit;
use crate::SignedDistance;

/// Most points in a group.
const GROUP: usize = 128;
/// Fewer points than this: one tree query each.
const MIN_GROUP: usize = 4;
/// More candidates than this: one tree query per point.
const MAX_CANDIDATES: usize = 3000;
/// Groups per parallel task (they share a running hint for the centre queries).
const TASK_GROUPS: usize = 8;

/// Interleaves the low 21 bits of `v` with two zero bits between each.
#[inline]
fn spread(v: u64) -> u64 {
    let mut x = v & 0x1f_ffff;
    x = (x | x << 32) & 0x1f_0000_0000_ffff;
    x = (x | x << 16) & 0x1f_0000_ff00_00ff;
    x = (x | x << 8) & 0x100f_00f0_0f00_f00f;
    x = (x | x << 4) & 0x10c3_0c30_c30c_30c3;
    x = (x | x << 2) & 0x1249_2492_4924_9249;
    x
}

/// Sorts `(key, index)` pairs by key, then index, for pairs made in index order: a stable
/// least-significant-digit radix sort on the key bits in use (11 bits a pass).
fn radix_sort(mut v: Vec<(u64, u32)>) -> Vec<(u64, u32)> {
    const BITS: u32 = 11;
    let top = v.iter().map(|x| x.0).max().unwrap_or(0);
    if top == u64::MAX {
        // Non-finite points present: a comparison sort.
        v.par_sort_unstable();
        return v;
    }
    let used = 64 - top.leading_zeros();
    let mut tmp = vec![(0u64, 0u32); v.len()];
    let mut shift = 0;
    while shift < used {
        let mut count = vec![0usize; (1 << BITS) + 1];
        for x in &v {
            count[((x.0 >> shift) & ((1 << BITS) - 1)) as usize + 1] += 1;
        }
        for d in 0..(1 << BITS) {
            count[d + 1] += count[d];
        }
        for x in &v {
            let d = ((x.0 >> shift) & ((1 << BITS) - 1)) as usize;
            tmp[count[d]] = *x;
            count[d] += 1;
        }
        std::mem::swap(&mut v, &mut tmp);
        shift += BITS;
    }
    v
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = const {
        std::cell::RefCell::new(Scratch {
            cands: Vec::new(),
            prep: Vec::new(),
            centre_rows: Vec::new(),
            list: Vec::new(),
            rows: Vec::new(),
        })
    };
}

struct Scratch {
    cands: Vec<(f32, u32)>,
    prep: Vec<PreparedTri>,
    /// Squared kernel distance of each candidate to the sub-group centres (8 at a time).
    centre_rows: Vec<[f32; LANES]>,
    /// Candidates (indices into `prep`) of the current sub-group.
    list: Vec<u32>,
    /// Squared kernel distance of each listed candidate to the sub-group's points.
    rows: Vec<[f32; LANES]>,
}

/// Rounding allowance of the kernel's distance (mm) at distance `u` in a frame of extent `r`.
#[inline]
fn kernel_tol(u: f32, r: f32) -> f32 {
    1e-4 * (1.0 + u + r)
}

/// Exact closest hits of `points`, in their order (`None` only where the tree query gives
/// none: non-finite points). `cell` (mm) sets the group size: a few voxels.
pub(crate) fn closest_many(sd: &SignedDistance, points: &[Vec3], cell: f32) -> Vec<Option<Hit>> {
    closest_many_map(sd, points, cell, None, &|h| h)
}

/// [`closest_many`] with every hit mapped by `f` (in the parallel tasks, before the results
/// are put in input order: a small `T` moves less memory), `empty` for no points.
pub(crate) fn closest_many_map<T: Copy + Send + Sync>(
    sd: &SignedDistance,
    points: &[Vec3],
    cell: f32,
    empty: T,
    f: &(impl Fn(Option<Hit>) -> T + Sync),
) -> Vec<T> {
    let n = points.len();
    let mut out: Vec<T> = vec![empty; n];
    if n == 0 {
        return out;
    }
    let cell = if cell.is_finite() && cell > 0.0 {
        cell
    } else {
        1.0
    };
    let fine = cell / 4.0;
    let mut lo = Vec3::splat(f32::INFINITY);
    for p in points {
        if p.is_finite() {
            lo = lo.min(*p);
        }
    }
    if !lo.is_finite() {
        lo = Vec3::ZERO;
    }
    let key = |p: Vec3| -> u64 {
        if !p.is_finite() {
            return u64::MAX;
        }
        let q = ((p - lo) / fine)
            .max(Vec3::ZERO)
            .min(Vec3::splat(2_097_151.0));
        spread(q.x as u64) | spread(q.y as u64) << 1 | spread(q.z as u64) << 2
    };
    let order: Vec<(u64, u32)> = points
        .par_iter()
        .enumerate()
        .map(|(i, &p)| (key(p), i as u32))
        .collect();
    let order = radix_sort(order);
    // Groups: runs of one coarse cell (Morton code >> 6), at most GROUP points.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut s = 0;
    while s < n {
        let coarse = order[s].0 >> 6;
        let mut e = s + 1;
        while e < n && e - s < GROUP && order[e].0 >> 6 == coarse {
            e += 1;
        }
        groups.push((s, e));
        s = e;
    }
    let order = &order;
    let results: Vec<Vec<(u32, T)>> = groups
        .par_chunks(TASK_GROUPS)
        .map(|gs| {
            let mut hint = None;
            let mut res = Vec::with_capacity(gs.iter().map(|g| g.1 - g.0).sum());
            for &(s, e) in gs {
                let idx: Vec<u32> = order[s..e].iter().map(|o| o.1).collect();
                group(sd, points, &idx, &mut hint, &mut res, f);
            }
            res
        })
        .collect();
    for r in results {
        for (i, h) in r {
            out[i as usize] = h;
        }
    }
    out
}

/// One tree query per point, with a running hint.
fn each<T>(
    sd: &SignedDistance,
    points: &[Vec3],
    idx: &[u32],
    hint: &mut Option<u32>,
    res: &mut Vec<(u32, T)>,
    f: &impl Fn(Option<Hit>) -> T,
) {
    for &i in idx {
        let h = sd.hit(points[i as usize], *hint);
        if let Some(h) = h {
            *hint = Some(h.tri);
        }
        res.push((i, f(h)));
    }
}

/// The hits of the group `idx` (indices into `points`, compact), mapped by `f`, appended to
/// `res`.
fn group<T>(
    sd: &SignedDistance,
    points: &[Vec3],
    idx: &[u32],
    hint: &mut Option<u32>,
    res: &mut Vec<(u32, T)>,
    f: &impl Fn(Option<Hit>) -> T,
) {
    if idx.len() < MIN_GROUP || !points[idx[0] as usize].is_finite() {
        return each(sd, points, idx, hint, res, f);
    }
    let (mut lo, mut hi) = (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY));
    for &i in idx {
        lo = lo.min(points[i as usize]);
        hi = hi.max(points[i as usize]);
    }
    let c = (lo + hi) * 0.5;
    let rb = 0.5 * (hi - lo).length();
    let Some(hc) = sd.hit(c, *hint) else {
        return each(sd, points, idx, hint, res, f);
    };
    *hint = Some(hc.tri);
    let uc = hc.dist2.sqrt();
    let reach = uc + 2.0 * rb;
    let reach = reach + kernel_tol(reach, rb);
    SCRATCH.with(|cell| {
        let sc = &mut *cell.borrow_mut();
        sd.candidates_unsorted(c, reach * reach, &mut sc.cands);
        if sc.cands.is_empty() || sc.cands.len() > MAX_CANDIDATES {
            return each(sd, points, idx, hint, res, f);
        }
        sc.prep.clear();
        sc.prep
            .extend(sc.cands.iter().map(|&(_, t)| sd.prepared(t, c)));
        let subs: Vec<&[u32]> = idx.chunks(LANES).collect();
        // Sub-group centres and half-diagonals (frame of c).
        let mut sub_c = Vec::with_capacity(subs.len());
        for s in &subs {
            let (mut a, mut b) = (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY));
            for &i in *s {
                a = a.min(points[i as usize] - c);
                b = b.max(points[i as usize] - c);
            }
            sub_c.push(((a + b) * 0.5, 0.5 * (b - a).length()));
        }
        // Distances of every candidate to the sub-group centres, 8 centres a pass.
        let multi = subs.len() > 1;
        let mut sub_u = vec![0.0f32; subs.len()];
        if multi {
            sc.centre_rows.clear();
            sc.centre_rows
                .resize(sc.prep.len() * subs.len().div_ceil(LANES), [0.0; LANES]);
            for (pass, cs) in sub_c.chunks(LANES).enumerate() {
                let mut lanes = Lanes::default();
                for l in 0..LANES {
                    let p = cs[l.min(cs.len() - 1)].0;
                    (lanes.x[l], lanes.y[l], lanes.z[l]) = (p.x, p.y, p.z);
                }
                let mut best = [f32::INFINITY; LANES];
                for (k, t) in sc.prep.iter().enumerate() {
                    let row = &mut sc.centre_rows[pass * sc.prep.len() + k];
                    dist2(t, &lanes, row);
                    for l in 0..LANES {
                        best[l] = best[l].min(row[l]);
                    }
                }
                for l in 0..cs.len() {
                    sub_u[pass * LANES + l] = best[l].sqrt();
                }
            }
        }
        for (si, s) in subs.iter().enumerate() {
            sc.list.clear();
            if multi {
                let (pass, lane) = (si / LANES, si % LANES);
                let r = sub_u[si] + 2.0 * sub_c[si].1;
                let lim = r + kernel_tol(r, rb);
                let lim2 = lim * lim;
                let rows = &sc.centre_rows[pass * sc.prep.len()..(pass + 1) * sc.prep.len()];
                sc.list.extend(
                    rows.iter()
                        .enumerate()
                        .filter(|(_, d)| d[lane] <= lim2)
                        .map(|(k, _)| k as u32),
                );
            } else {
                sc.list.extend(0..sc.prep.len() as u32);
            }
            let mut lanes = Lanes::default();
            for l in 0..LANES {
                let p = points[s[l.min(s.len() - 1)] as usize] - c;
                (lanes.x[l], lanes.y[l], lanes.z[l]) = (p.x, p.y, p.z);
            }
            let mut best = [f32::INFINITY; LANES];
            sc.rows.clear();
            for &k in &sc.list {
                let mut d = [0.0f32; LANES];
                dist2(&sc.prep[k as usize], &lanes, &mut d);
                for l in 0..LANES {
                    best[l] = best[l].min(d[l]);
                }
                sc.rows.push(d);
            }
            // Each lane's threshold: its candidates within the kernel's rounding of its
            // minimum are evaluated exactly, found in one pass over the rows (a lane mask
            // per row).
            let mut thr2 = [f32::NEG_INFINITY; LANES];
            for l in 0..s.len() {
                let u = best[l].sqrt();
                let thr = u + kernel_tol(u, rb);
                thr2[l] = thr * thr;
            }
            let mut pick: [Option<Hit>; LANES] = [None; LANES];
            for (row, &k) in sc.rows.iter().zip(&sc.list) {
                let mut m = 0u32;
                for l in 0..LANES {
                    m |= u32::from(row[l] <= thr2[l]) << l;
                }
                while m != 0 {
                    let l = m.trailing_zeros() as usize;
                    m &= m - 1;
                    let h = sd.hit_on(points[s[l] as usize], sc.cands[k as usize].1);
                    if pick[l].is_none_or(|b| (h.dist2, h.tri) < (b.dist2, b.tri)) {
                        pick[l] = Some(h);
                    }
                }
            }
            for (l, &i) in s.iter().enumerate() {
                match pick[l] {
                    Some(h) => res.push((i, f(Some(h)))),
                    // Not reachable when the kernel is within its tolerance; stay exact.
                    None => res.push((i, f(sd.hit(points[i as usize], *hint)))),
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use osteon_geom::Lcg;
    use osteon_mesh::Mesh;

    /// Uniform in `[-1, 1)`.
    fn lcg(s: &mut Lcg) -> f32 {
        s.range(-1.0, 1.0) as f32
    }

    /// A bumpy closed surface: an icosphere with radially displaced vertices.
    fn bumpy() -> Mesh {
        let mut m = osteon_mesh::shapes::icosphere(4, 10.0);
        let mut s = Lcg::new(3);
        for p in &mut m.positions {
            *p *= 1.0 + 0.08 * lcg(&mut s);
        }
        m
    }

    /// The radix sort orders by key, then index (as a comparison sort of the pairs).
    #[test]
    fn radix_sort_matches_sort() {
        let mut s = Lcg::new(5);
        let v: Vec<(u64, u32)> = (0..5000u32)
            .map(|i| (((lcg(&mut s) + 1.0) * 4e6) as u64 % 1_000_003, i))
            .collect();
        let mut want = v.clone();
        want.sort_unstable();
        assert_eq!(radix_sort(v), want);
    }

    /// The grouped queries give every point the same distance as a plain tree query (and as
    /// a tree query with a far-off hint), over clustered and scattered points, for every cell
    /// size; and the result of a point does not depend on the other points of the call.
    #[test]
    fn grouped_equals_tree_queries() {
        let sd = SignedDistance::new(&bumpy()).unwrap();
        let mut s = Lcg::new(11);
        let mut pts = Vec::new();
        // Clusters near the surface (the offset pipeline's case) and scattered points.
        for _ in 0..300 {
            let c = Vec3::new(lcg(&mut s), lcg(&mut s), lcg(&mut s)).normalize_or_zero() * 11.0;
            for _ in 0..20 {
                pts.push(c + Vec3::new(lcg(&mut s), lcg(&mut s), lcg(&mut s)) * 0.7);
            }
        }
        for _ in 0..500 {
            pts.push(Vec3::new(lcg(&mut s), lcg(&mut s), lcg(&mut s)) * 16.0);
        }
        for cell in [0.3f32, 1.0, 2.0, 8.0] {
            let got = closest_many(&sd, &pts, cell);
            for (i, (&p, g)) in pts.iter().zip(&got).enumerate() {
                let g = g.expect("hit");
                let want = sd.hit(p, None).unwrap();
                let hinted = sd.hit(p, Some(((i * 7919) % 5000) as u32)).unwrap();
                let (a, b) = (hinted.dist2.sqrt(), want.dist2.sqrt());
                assert!(
                    (a - b).abs() <= 1e-6 * (1.0 + b),
                    "hinted {a} vs unhinted {b}"
                );
                let (a, b) = (g.dist2.sqrt(), want.dist2.sqrt());
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b),
                    "cell {cell} point {i}: {a} vs {b}"
                );
                assert!(
                    g.point.distance(p) - a <= 1e-5,
                    "the hit's point is at its distance"
                );
            }
        }
        // The mapped form gives the mapped hits.
        let f = |h: Option<Hit>| h.map_or(-1.0, |h| h.dist2);
        let mapped = closest_many_map(&sd, &pts, 1.0, 0.0f32, &f);
        let plain = closest_many(&sd, &pts, 1.0);
        for (m, h) in mapped.iter().zip(&plain) {
            assert_eq!(*m, f(*h));
        }
        // The same call twice (any thread count): identical.
        let a = closest_many(&sd, &pts, 1.0);
        let b = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap()
            .install(|| closest_many(&sd, &pts, 1.0));
        for (x, y) in a.iter().zip(&b) {
            let (x, y) = (x.unwrap(), y.unwrap());
            assert_eq!((x.dist2, x.tri, x.point), (y.dist2, y.tri, y.point));
        }
    }
}
