//! Hole filling: boundary loops closed by fair patches (Liepa 2003).
//!
//! In: a [`Mesh`] with manifold, consistently wound edges (after
//! [`super::split_nonmanifold`] and [`super::orient`]). Out: the mesh with every boundary
//! loop no larger than the limit closed by a patch wound like its surroundings, and a
//! [`HolesReport`] listing every loop with its perimeter, size and patch area.
//!
//! Per loop, following P. Liepa, *Filling Holes in Meshes* (SGP 2003):
//! 1. **Triangulation** by dynamic programming over the loop's vertices, minimising first
//!    the largest dihedral angle between neighbouring triangles (including the mesh
//!    triangles along the loop) and then the total area — O(n³); loops of more than
//!    [`DP_MAX`] vertices are first cut by the shortest chord relative to the loop length
//!    it spans (both sides at least a third of the loop), recursively.
//! 2. **Refinement**: a patch triangle is split at its centroid while the centroid lies
//!    farther than the local edge scale (√2 × distance > σ, σ the mean boundary edge length
//!    interpolated), each round followed by Delaunay edge flips inside the patch, so that
//!    the patch triangles match the density of the surrounding mesh.
//! 3. **Fairing**: the new vertices minimise the discrete thin-plate energy Σ‖Δv‖² (uniform
//!    umbrella operator; boundary vertices and the mesh fixed, their Laplacians taken over
//!    their whole one-ring) by conjugate gradients, so the patch continues the curvature
//!    around it (Kobbelt 1997, as in Liepa).
//!
//! **Planar caps**: a loop whose vertices lie in a plane (within 10⁻⁶ of its size) is capped
//! flat: the constrained Delaunay triangulation of the loop polygon ([`crate::cdt`], in the
//! plane of its Newell normal's largest component) replaces step 1, refined by step 2
//! (Delaunay flips in the plane); no fairing, which would bulge it. A loop whose
//! projection is not a simple polygon falls back to step 1.
//!
//! A loop larger than `max_hole_mm` (diagonal of its bounding box) is left open and listed
//! with the reason. Loops are found by a sort of boundary edges; each patch is planned on
//! its own (in parallel over the loops: a patch reads only the mesh around its loop) and
//! the patches are appended in loop order: deterministic at any thread count.

use std::collections::HashMap;

use osteon_geom::{DVec3, FastHash};
use rayon::prelude::*;

use super::log::{HoleRecord, HolesReport};
use super::Work;
use crate::topology::{Topology, BOUNDARY};
use crate::{Mesh, MeshError};

/// Loops up to this many vertices are triangulated by one O(n³) dynamic programme.
pub const DP_MAX: usize = 160;

/// Closes every boundary loop of `mesh` whose size (bounding-box diagonal) is at most
/// `max_hole_mm` (all when `None`); see the module documentation.
///
/// Errors: invalid meshes as [`Mesh::validate`]; [`MeshError::InvalidOption`] for a
/// negative or NaN limit.
pub fn fill_holes(mesh: &Mesh, max_hole_mm: Option<f64>) -> Result<(Mesh, HolesReport), MeshError> {
    mesh.validate()?;
    check_max_hole(max_hole_mm)?;
    let mut w = Work::from_mesh(mesh);
    let r = fill_holes_work(&mut w, max_hole_mm, true)?;
    Ok((w.into_mesh(), r))
}

pub(crate) fn check_max_hole(max_hole_mm: Option<f64>) -> Result<(), MeshError> {
    if let Some(m) = max_hole_mm {
        if m.is_nan() || m < 0.0 {
            return Err(MeshError::InvalidOption(format!(
                "maximum hole size must be ≥ 0 mm, got {m}"
            )));
        }
    }
    Ok(())
}

/// One boundary loop: vertices `v[i]`, mesh edges `v[i] → v[i+1]`, and the unit normal of
/// the mesh triangle along each edge.
pub(crate) struct Loop {
    pub v: Vec<u32>,
    pub normals: Vec<DVec3>,
}

/// The boundary loops of the mesh, ordered by their first boundary corner's vertex.
pub(crate) fn boundary_loops(w: &mut Work) -> Result<Vec<Loop>, MeshError> {
    let topo = w.with_mesh(Topology::new)?;
    let opp = topo.opposites();
    let corners: Vec<u32> = (0..opp.len() as u32)
        .filter(|&c| opp[c as usize] == BOUNDARY)
        .collect();
    Ok(loops_of(w, &corners))
}

/// The boundary loops through the boundary corners `corners` (corners `3·t + k` whose
/// edge has no other triangle), ordered by their first boundary corner's vertex.
fn loops_of(w: &Work, corners: &[u32]) -> Vec<Loop> {
    let tris = &w.t;
    let from = |c: usize| tris[c / 3][c % 3];
    let to = |c: usize| tris[c / 3][(c + 1) % 3];
    let mut bnd: Vec<(u32, u32)> = corners.iter().map(|&c| (from(c as usize), c)).collect();
    bnd.sort_unstable();
    let mut used = vec![false; bnd.len()];
    let mut loops = Vec::new();
    let normal = |c: usize| {
        let [a, b, d] = tris[c / 3].map(|i| w.p[i as usize].as_dvec3());
        (b - a).cross(d - a).normalize_or_zero()
    };
    for s in 0..bnd.len() {
        if used[s] {
            continue;
        }
        let start_vertex = bnd[s].0;
        let mut k = s;
        let mut v = Vec::new();
        let mut normals = Vec::new();
        loop {
            used[k] = true;
            let c = bnd[k].1 as usize;
            v.push(from(c));
            normals.push(normal(c));
            let next = to(c);
            if next == start_vertex {
                break;
            }
            let at = bnd.partition_point(|e| e.0 < next);
            match (at..bnd.len())
                .take_while(|&i| bnd[i].0 == next)
                .find(|&i| !used[i])
            {
                Some(i) => k = i,
                None => break,
            }
        }
        if v.len() >= 3 {
            loops.push(Loop { v, normals });
        }
    }
    loops
}

pub(crate) fn fill_holes_work(
    w: &mut Work,
    max_hole: Option<f64>,
    fair: bool,
) -> Result<HolesReport, MeshError> {
    let loops = boundary_loops(w)?;
    Ok(fill_loops(w, &loops, max_hole, fair))
}

/// [`fill_holes_work`] with the mesh's boundary corners at hand (see
/// [`super::orient::consistent_work_boundary`]).
pub(crate) fn fill_holes_work_at(
    w: &mut Work,
    boundary: &[u32],
    max_hole: Option<f64>,
    fair: bool,
) -> HolesReport {
    let loops = loops_of(w, boundary);
    fill_loops(w, &loops, max_hole, fair)
}

/// Fills `loops`: each patch is planned on its own (in parallel: a patch reads only the
/// mesh around its loop, never another patch), then the patches are appended in loop
/// order, so the result does not depend on the number of threads.
fn fill_loops(w: &mut Work, loops: &[Loop], max_hole: Option<f64>, fair: bool) -> HolesReport {
    let mut report = HolesReport::default();
    if loops.is_empty() {
        return report;
    }
    // Mesh neighbours of every loop vertex (for the Laplacians of the fairing).
    let mut on_loop = vec![false; w.p.len()];
    for l in loops {
        for &v in &l.v {
            on_loop[v as usize] = true;
        }
    }
    let on_loop = &on_loop;
    let mut pairs: Vec<(u32, u32)> =
        w.t.par_iter()
            .with_min_len(4096)
            .flat_map_iter(|t| {
                let t = *t;
                (0..3)
                    .filter(move |&k| on_loop[t[k] as usize])
                    .flat_map(move |k| [(t[k], t[(k + 1) % 3]), (t[k], t[(k + 2) % 3])])
            })
            .collect();
    pairs.par_sort_unstable();
    pairs.dedup();
    let plans: Vec<Plan> = {
        let w: &Work = w;
        loops
            .par_iter()
            .with_max_len(1)
            .map(|l| plan_one(w, l, max_hole, fair, &pairs))
            .collect()
    };
    for (l, plan) in loops.iter().zip(plans) {
        let rec = apply(w, l, plan);
        if rec.filled {
            report.filled += 1;
            report.triangles_added += rec.triangles_added;
            report.vertices_added += rec.vertices_added;
        } else {
            report.skipped += 1;
        }
        report.holes.push(rec);
    }
    report
}

/// A patch planned for one loop: its record, the new points (local ids from the loop's
/// length on) and the triangles in local ids (loop vertices first).
struct Plan {
    rec: HoleRecord,
    points: Vec<DVec3>,
    tris: Vec<[u32; 3]>,
}

/// Appends a planned patch to the mesh (new vertices after the existing ones).
fn apply(w: &mut Work, l: &Loop, plan: Plan) -> HoleRecord {
    let Plan {
        mut rec,
        points,
        tris,
    } = plan;
    if !rec.filled {
        return rec;
    }
    let n = l.v.len();
    let base = w.p.len() as u32;
    let gid = |i: u32| -> u32 {
        if (i as usize) < n {
            l.v[i as usize]
        } else {
            base + i - n as u32
        }
    };
    w.p.extend(points.iter().map(|q| q.as_vec3()));
    let mut area = 0.0;
    for t in &tris {
        let g = t.map(gid);
        let [a, b, c] = g.map(|i| w.p[i as usize].as_dvec3());
        area += 0.5 * (b - a).cross(c - a).length();
        w.push_new(g, true);
    }
    rec.area_mm2 = area;
    rec.triangles_added = tris.len();
    rec.vertices_added = points.len();
    rec
}

fn plan_one(
    w: &Work,
    l: &Loop,
    max_hole: Option<f64>,
    fair: bool,
    mesh_nbrs: &[(u32, u32)],
) -> Plan {
    let n = l.v.len();
    let pts: Vec<DVec3> = l.v.iter().map(|&i| w.p[i as usize].as_dvec3()).collect();
    let perimeter: f64 = (0..n).map(|i| pts[i].distance(pts[(i + 1) % n])).sum();
    let (lo, hi) = pts.iter().fold(
        (DVec3::splat(f64::INFINITY), DVec3::splat(f64::NEG_INFINITY)),
        |(lo, hi), p| (lo.min(*p), hi.max(*p)),
    );
    let size = (hi - lo).length();
    let mut rec = HoleRecord {
        boundary_edges: n,
        perimeter_mm: perimeter,
        size_mm: size,
        ..HoleRecord::default()
    };
    if let Some(m) = max_hole {
        if size > m {
            rec.reason = Some(format!(
                "larger than the limit: {size:.4} mm across > {m} mm (--max-hole)"
            ));
            return Plan {
                rec,
                points: Vec::new(),
                tris: Vec::new(),
            };
        }
    }
    // 1. Triangulate (local indices into the loop).
    let normals: Vec<Option<DVec3>> = l.normals.iter().map(|&n| Some(n)).collect();
    let idx: Vec<usize> = (0..n).collect();
    let mut tris: Vec<[u32; 3]> = Vec::with_capacity(n);
    let planar = is_planar(&pts, size);
    match planar.then(|| planar_cap(&pts)).flatten() {
        Some(t) => tris = t,
        None => triangulate(&pts, &idx, &normals, &mut tris),
    }
    // 2. Refine (new local vertices from n on).
    let sigma: Vec<f64> = (0..n)
        .map(|i| 0.5 * (pts[i].distance(pts[(i + 1) % n]) + pts[i].distance(pts[(i + n - 1) % n])))
        .collect();
    let mut p = pts;
    let mut s = sigma;
    refine(&mut p, &mut s, &mut tris, n);
    // 3. Fair unless planar.
    if fair && !planar && p.len() > n {
        fair_patch(&mut p, &tris, n, l, mesh_nbrs, w);
    }
    rec.filled = true;
    p.drain(..n);
    Plan {
        rec,
        points: p,
        tris,
    }
}

/// Newell's normal of a closed polygon (not normalised).
fn newell(pts: &[DVec3]) -> DVec3 {
    let n = pts.len();
    let mut normal = DVec3::ZERO;
    for i in 0..n {
        let (a, b) = (pts[i], pts[(i + 1) % n]);
        normal += DVec3::new(
            (a.y - b.y) * (a.z + b.z),
            (a.z - b.z) * (a.x + b.x),
            (a.x - b.x) * (a.y + b.y),
        );
    }
    normal
}

/// The constrained Delaunay triangulation of a planar loop (projected on the plane of its
/// largest Newell component), wound against the loop like the other patches; `None` when
/// the projected polygon is not simple (the caller then uses the dynamic programme).
fn planar_cap(pts: &[DVec3]) -> Option<Vec<[u32; 3]>> {
    let nrm = newell(pts);
    let k = if nrm.x.abs() >= nrm.y.abs() && nrm.x.abs() >= nrm.z.abs() {
        0
    } else if nrm.y.abs() >= nrm.z.abs() {
        1
    } else {
        2
    };
    let (i0, i1) = ((k + 1) % 3, (k + 2) % 3);
    // Counter-clockwise in 2-D when the normal's k component is positive.
    let p2: Vec<[f64; 2]> = pts
        .iter()
        .map(|p| {
            if nrm[k] > 0.0 {
                [p[i0], p[i1]]
            } else {
                [p[i1], p[i0]]
            }
        })
        .collect();
    let n = pts.len() as u32;
    let cons: Vec<[u32; 2]> = (0..n).map(|i| [i, (i + 1) % n]).collect();
    let t = crate::cdt::triangulate(&p2, &cons, crate::cdt::Domain::Enclosed).ok()?;
    // Every loop vertex used, and the area of the polygon covered: a simple polygon.
    let area2 = |a: [f64; 2], b: [f64; 2], c: [f64; 2]| {
        (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    };
    let poly: f64 = (0..pts.len())
        .map(|i| area2([0.0, 0.0], p2[i], p2[(i + 1) % pts.len()]))
        .sum();
    let sum: f64 = t
        .iter()
        .map(|q| area2(p2[q[0] as usize], p2[q[1] as usize], p2[q[2] as usize]))
        .sum();
    if t.len() != pts.len() - 2 || (sum - poly).abs() > 1e-9 * poly.abs() {
        return None;
    }
    // The loop runs along the mesh edges; the cap runs the other way.
    Some(t.into_iter().map(|[a, b, c]| [a, c, b]).collect())
}

fn is_planar(pts: &[DVec3], size: f64) -> bool {
    // Newell's normal and the mean point define the plane.
    let n = pts.len();
    let normal = newell(pts).normalize_or_zero();
    if normal == DVec3::ZERO {
        return false;
    }
    let c = pts.iter().copied().sum::<DVec3>() / n as f64;
    pts.iter()
        .all(|p| (*p - c).dot(normal).abs() <= 1e-6 * size)
}

/// Triangulates the polygon `idx` (indices into `pts`, boundary edges `idx[i] → idx[i+1]`
/// with the mesh normal `normals[i]` when there is a mesh triangle on it), appending
/// triangles `[a, c, b]` (reverse winding of the boundary) to `out`.
fn triangulate(pts: &[DVec3], idx: &[usize], normals: &[Option<DVec3>], out: &mut Vec<[u32; 3]>) {
    let m = idx.len();
    if m < 3 {
        return;
    }
    if m > DP_MAX {
        // Cut by the shortest chord relative to the boundary length it spans.
        let mut arc = vec![0.0; m + 1];
        for i in 0..m {
            arc[i + 1] = arc[i] + pts[idx[i]].distance(pts[idx[(i + 1) % m]]);
        }
        let total = arc[m];
        let min_span = m / 3;
        let mut best = (f64::INFINITY, 0, 0);
        for a in 0..m {
            for b in a + min_span..m {
                if m - (b - a) < min_span {
                    break;
                }
                let span = (arc[b] - arc[a]).min(total - (arc[b] - arc[a]));
                let r = pts[idx[a]].distance(pts[idx[b]]) / span.max(f64::MIN_POSITIVE);
                if r < best.0 {
                    best = (r, a, b);
                }
            }
        }
        let (_, a, b) = best;
        let ia: Vec<usize> = idx[a..=b].to_vec();
        let mut na: Vec<Option<DVec3>> = normals[a..b].to_vec();
        na.push(None);
        let mut ib: Vec<usize> = idx[b..].to_vec();
        ib.extend_from_slice(&idx[..=a]);
        let mut nb: Vec<Option<DVec3>> = normals[b..].to_vec();
        nb.extend_from_slice(&normals[..a]);
        nb.push(None);
        triangulate(pts, &ia, &na, out);
        triangulate(pts, &ib, &nb, out);
        return;
    }
    let q: Vec<DVec3> = idx.iter().map(|&i| pts[i]).collect();
    // Unit normal and area of triangle (i, j, k) from one cross product.
    let tri = |i: usize, j: usize, k: usize| -> (Option<DVec3>, f64) {
        let n = (q[j] - q[i]).cross(q[k] - q[i]);
        let l = n.length();
        if l > 0.0 {
            (Some(n / l), 0.5 * l)
        } else {
            (None, 0.0)
        }
    };
    // Dihedral angles are compared through the cosine of the angle between normals (acos
    // is decreasing, so the largest angle is the smallest cosine; no acos in the loop). A
    // missing normal on either side counts as angle 0 (cosine 1).
    let cosine = |a: Option<DVec3>, b: Option<DVec3>| -> f64 {
        match (a, b) {
            (Some(a), Some(b)) => a.dot(b).clamp(-1.0, 1.0),
            _ => 1.0,
        }
    };
    // A flat (zero-area) triangle is worse than any fold (angle > π: cosine < −1).
    const FLAT: f64 = -3.0;
    // Per sub-polygon (i, j): the smallest cosine (worst angle) inside it, its area, the
    // chosen apex and the chosen triangle's normal (cached for the parents). Stored twice,
    // by rows (i·m + j, read along k as (i, k)) and by columns (j·m + i, read along k as
    // (k, j)), so the inner loop reads both contiguously.
    let at = |i: usize, j: usize| i * m + j;
    let mut wc = vec![1.0f64; m * m];
    let mut ws = vec![0.0f64; m * m];
    let mut wc_t = vec![1.0f64; m * m];
    let mut ws_t = vec![0.0f64; m * m];
    let mut mid = vec![u32::MAX; m * m];
    let mut nrm: Vec<Option<DVec3>> = vec![None; m * m];
    let mut nrm_t: Vec<Option<DVec3>> = vec![None; m * m];
    for len in 2..m {
        for i in 0..m - len {
            let j = i + len;
            let mut best = (f64::NEG_INFINITY, f64::INFINITY, u32::MAX, None);
            for k in i + 1..j {
                let (wl, wr) = (wc[at(i, k)], wc_t[at(j, k)]);
                // The worst angle of this choice is at most its children's: a choice whose
                // children are already worse than the best one cannot win (ties on the
                // angle are decided by the area, so only strictly worse ones are skipped).
                if wl.min(wr) < best.0 {
                    continue;
                }
                let (n, area) = tri(i, j, k);
                let mut c = if n.is_none() { FLAT } else { 1.0 };
                // Across (i, k): the mesh, or the child triangle.
                let left = if k == i + 1 {
                    normals[i]
                } else {
                    nrm[at(i, k)]
                };
                let right = if j == k + 1 {
                    normals[k]
                } else {
                    nrm_t[at(j, k)]
                };
                c = c.min(cosine(n, left)).min(cosine(n, right));
                if i == 0 && j == m - 1 {
                    c = c.min(cosine(n, normals[m - 1]));
                }
                let wc_ = c.min(wl).min(wr);
                let ws_ = area + ws[at(i, k)] + ws_t[at(j, k)];
                if wc_ > best.0 || (wc_ == best.0 && ws_ < best.1) {
                    best = (wc_, ws_, k as u32, n);
                }
            }
            wc[at(i, j)] = best.0;
            ws[at(i, j)] = best.1;
            wc_t[at(j, i)] = best.0;
            ws_t[at(j, i)] = best.1;
            mid[at(i, j)] = best.2;
            nrm[at(i, j)] = best.3;
            nrm_t[at(j, i)] = best.3;
        }
    }
    let mut stack = vec![(0usize, m - 1)];
    while let Some((i, j)) = stack.pop() {
        if j < i + 2 {
            continue;
        }
        let k = mid[at(i, j)] as usize;
        out.push([idx[i] as u32, idx[j] as u32, idx[k] as u32]);
        stack.push((k, j));
        stack.push((i, k));
    }
}

/// Liepa's refinement with Delaunay flips; vertices `< nb` are the loop's.
fn refine(p: &mut Vec<DVec3>, s: &mut Vec<f64>, tris: &mut Vec<[u32; 3]>, nb: usize) {
    let alpha = std::f64::consts::SQRT_2;
    // Bound the growth: a patch never needs many more vertices than the area suggests.
    let cap = 50 * nb + 1000;
    relax(p, tris, nb);
    for _round in 0..30 {
        let mut split = false;
        let count = tris.len();
        for t in 0..count {
            let [a, b, c] = tris[t].map(|i| i as usize);
            let vc = (p[a] + p[b] + p[c]) / 3.0;
            let sc = (s[a] + s[b] + s[c]) / 3.0;
            let far = [a, b, c].iter().all(|&m| {
                let d = alpha * vc.distance(p[m]);
                d > sc && d > s[m]
            });
            if far && p.len() < cap {
                let v = p.len() as u32;
                p.push(vc);
                s.push(sc);
                tris[t] = [a as u32, b as u32, v];
                tris.push([b as u32, c as u32, v]);
                tris.push([c as u32, a as u32, v]);
                split = true;
            }
        }
        if !split {
            break;
        }
        relax(p, tris, nb);
    }
}

/// `!(a <= b)`: true when `a > b` or either is NaN (a run stops only on a real ≤).
fn not_le(a: f64, b: f64) -> bool {
    !matches!(
        a.partial_cmp(&b),
        Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
    )
}

/// Flips interior patch edges until every one is locally Delaunay (opposite angles sum to
/// at most π), a bounded number of passes.
fn relax(p: &[DVec3], tris: &mut [[u32; 3]], _nb: usize) {
    let ang = |o: DVec3, a: DVec3, b: DVec3| -> f64 {
        let (u, v) = (a - o, b - o);
        u.cross(v).length().atan2(u.dot(v))
    };
    for _pass in 0..40 {
        let mut edges: HashMap<(u32, u32), (usize, usize), FastHash> =
            HashMap::with_capacity_and_hasher(tris.len() * 3, FastHash::default());
        for (t, tri) in tris.iter().enumerate() {
            for k in 0..3 {
                edges.insert((tri[k], tri[(k + 1) % 3]), (t, k));
            }
        }
        let mut keys: Vec<(u32, u32)> = edges
            .keys()
            .copied()
            .filter(|&(a, b)| a < b && edges.contains_key(&(b, a)))
            .collect();
        keys.sort_unstable();
        let mut touched = vec![false; tris.len()];
        let mut flips = 0;
        for (a, b) in keys {
            let (t1, k1) = edges[&(a, b)];
            let (t2, k2) = edges[&(b, a)];
            if touched[t1] || touched[t2] {
                continue;
            }
            let c = tris[t1][(k1 + 2) % 3];
            let d = tris[t2][(k2 + 2) % 3];
            if c == d || edges.contains_key(&(c, d)) || edges.contains_key(&(d, c)) {
                continue;
            }
            let (pa, pb, pc, pd) = (p[a as usize], p[b as usize], p[c as usize], p[d as usize]);
            if ang(pc, pa, pb) + ang(pd, pa, pb) <= std::f64::consts::PI + 1e-9 {
                continue;
            }
            // The new triangles must keep the winding (no fold): their normals agree with
            // the old pair's.
            let n_old = (pb - pa).cross(pc - pa) + (pa - pb).cross(pd - pb);
            let n1 = (pd - pa).cross(pc - pa);
            let n2 = (pb - pd).cross(pc - pd);
            if n1.dot(n_old) <= 0.0 || n2.dot(n_old) <= 0.0 {
                continue;
            }
            tris[t1] = [a, d, c];
            tris[t2] = [d, b, c];
            touched[t1] = true;
            touched[t2] = true;
            flips += 1;
        }
        if flips == 0 {
            break;
        }
    }
}

/// Minimises Σ‖Δv‖² over the new vertices (local ids ≥ `nb`) by conjugate gradients on the
/// normal equations, the loop vertices and the mesh fixed.
#[allow(clippy::needless_range_loop)] // x, res, dir and ad advance together
fn fair_patch(
    p: &mut [DVec3],
    tris: &[[u32; 3]],
    nb: usize,
    l: &Loop,
    mesh_nbrs: &[(u32, u32)],
    w: &Work,
) {
    let nv = p.len();
    let nf = nv - nb;
    // Neighbours within the patch (local ids).
    let mut nbr: Vec<Vec<u32>> = vec![Vec::new(); nv];
    for t in tris {
        for k in 0..3 {
            nbr[t[k] as usize].push(t[(k + 1) % 3]);
            nbr[t[k] as usize].push(t[(k + 2) % 3]);
        }
    }
    for x in &mut nbr {
        x.sort_unstable();
        x.dedup();
    }
    // Rows: Δ at every patch vertex. Entries on free columns, constant from fixed points.
    struct Row {
        cols: Vec<(u32, f64)>,
        constant: DVec3,
    }
    let mut rows: Vec<Row> = Vec::with_capacity(nv);
    for v in 0..nv {
        let mut cols: Vec<(u32, f64)> = Vec::new();
        let mut constant = DVec3::ZERO;
        let mut fixed_nbrs: Vec<DVec3> = Vec::new();
        let mut free_nbrs: Vec<u32> = Vec::new();
        for &q in &nbr[v] {
            if (q as usize) < nb {
                fixed_nbrs.push(p[q as usize]);
            } else {
                free_nbrs.push(q);
            }
        }
        if v < nb {
            // The mesh side of a loop vertex (mesh neighbours not on the patch).
            let g = l.v[v];
            let start = mesh_nbrs.partition_point(|e| e.0 < g);
            for &(_, q) in mesh_nbrs[start..].iter().take_while(|e| e.0 == g) {
                let pq = w.p[q as usize].as_dvec3();
                if !fixed_nbrs.contains(&pq) {
                    fixed_nbrs.push(pq);
                }
            }
        }
        let d = (fixed_nbrs.len() + free_nbrs.len()) as f64;
        if d == 0.0 {
            continue;
        }
        for q in &fixed_nbrs {
            constant += *q / d;
        }
        for &q in &free_nbrs {
            cols.push((q - nb as u32, 1.0 / d));
        }
        if v < nb {
            constant -= p[v];
        } else {
            cols.push(((v - nb) as u32, -1.0));
        }
        if !cols.is_empty() {
            rows.push(Row { cols, constant });
        }
    }
    // CG on AᵀA x = −Aᵀc, per coordinate (same matrix): the three runs advance in
    // lockstep through one traversal of the matrix per step, each with its own scalars
    // and its own stop (the arithmetic of each coordinate is that of a run on its own).
    let mut row_start: Vec<u32> = Vec::with_capacity(rows.len() + 1);
    let mut entries: Vec<(u32, f64)> = Vec::new();
    row_start.push(0);
    for r in &rows {
        entries.extend_from_slice(&r.cols);
        row_start.push(entries.len() as u32);
    }
    let apply = |x: &[DVec3], out: &mut [DVec3], rowbuf: &mut Vec<DVec3>| {
        rowbuf.clear();
        for r in 0..rows.len() {
            let row = &entries[row_start[r] as usize..row_start[r + 1] as usize];
            rowbuf.push(
                row.iter()
                    .fold(DVec3::splat(-0.0), |s, &(c, wt)| s + wt * x[c as usize]),
            );
        }
        out.iter_mut().for_each(|o| *o = DVec3::ZERO);
        for (r, &y) in rowbuf.iter().enumerate() {
            for &(c, wt) in &entries[row_start[r] as usize..row_start[r + 1] as usize] {
                out[c as usize] += wt * y;
            }
        }
    };
    // Σ a·b per coordinate, in order (as `Iterator::sum`, which starts from −0).
    let dot = |a: &[DVec3], b: &[DVec3]| {
        a.iter()
            .zip(b)
            .fold(DVec3::splat(-0.0), |s, (a, b)| s + *a * *b)
    };
    let mut rowbuf = Vec::with_capacity(rows.len());
    let mut x: Vec<DVec3> = p[nb..].to_vec();
    let mut b = vec![DVec3::ZERO; nf];
    for r in &rows {
        let cval = -r.constant;
        for &(c, wt) in &r.cols {
            b[c as usize] += wt * cval;
        }
    }
    let mut ax = vec![DVec3::ZERO; nf];
    apply(&x, &mut ax, &mut rowbuf);
    let mut res: Vec<DVec3> = b.iter().zip(&ax).map(|(b, a)| *b - *a).collect();
    let mut dir = res.clone();
    let mut rr = dot(&res, &res);
    let bb = dot(&b, &b).max(DVec3::splat(f64::MIN_POSITIVE));
    let mut ad = vec![DVec3::ZERO; nf];
    let mut running = [true; 3];
    for _ in 0..(4 * nf).clamp(50, 2000) {
        for axis in 0..3 {
            running[axis] &= not_le(rr[axis], 1e-24 * bb[axis]);
        }
        if !running.iter().any(|&r| r) {
            break;
        }
        apply(&dir, &mut ad, &mut rowbuf);
        let dad = dot(&dir, &ad);
        for axis in 0..3 {
            running[axis] &= not_le(dad[axis], 0.0);
        }
        if !running.iter().any(|&r| r) {
            break;
        }
        // Stopped coordinates keep their values: alpha 0 and beta 1 would not (rounding),
        // so they are masked instead.
        let alpha = rr / dad;
        for i in 0..nf {
            for axis in 0..3 {
                if running[axis] {
                    x[i][axis] += alpha[axis] * dir[i][axis];
                    res[i][axis] -= alpha[axis] * ad[i][axis];
                }
            }
        }
        let rr2 = dot(&res, &res);
        let beta = rr2 / rr;
        for axis in 0..3 {
            if running[axis] {
                rr[axis] = rr2[axis];
            }
        }
        for i in 0..nf {
            for axis in 0..3 {
                if running[axis] {
                    dir[i][axis] = res[i][axis] + beta[axis] * dir[i][axis];
                }
            }
        }
    }
    for i in 0..nf {
        for axis in 0..3 {
            if x[i][axis].is_finite() {
                p[nb + i][axis] = x[i][axis];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planar_cap_is_the_constrained_delaunay_triangulation() {
        // A comb-shaped (non-convex) polygon in the plane z = 2, tilted loop order.
        let mut pts = Vec::new();
        for i in 0..6 {
            let x = i as f64;
            pts.push(DVec3::new(x, 0.0, 2.0));
        }
        for i in (0..6).rev() {
            let x = i as f64;
            let y = if i % 2 == 0 { 3.0 } else { 1.0 };
            pts.push(DVec3::new(x + 0.3, y, 2.0));
        }
        // The loop runs clockwise seen from +z; the cap must wind the other way.
        let tris = planar_cap(&pts).expect("simple polygon");
        assert_eq!(tris.len(), pts.len() - 2);
        let mut area = 0.0;
        for t in &tris {
            let [a, b, c] = t.map(|i| pts[i as usize]);
            let n = (b - a).cross(c - a);
            // Reverse of the loop's orientation (the loop's Newell normal is +z).
            assert!(n.z * newell(&pts).z < 0.0);
            area += 0.5 * n.length();
        }
        assert!((area - 0.5 * newell(&pts).length()).abs() < 1e-9);
        // Constrained Delaunay: every edge shared by two cap triangles is locally Delaunay.
        for t in &tris {
            for k in 0..3 {
                let (a, b) = (t[k], t[(k + 1) % 3]);
                if let Some(u) = tris
                    .iter()
                    .find(|u| (0..3).any(|e| u[e] == b && u[(e + 1) % 3] == a))
                {
                    let c = t[(k + 2) % 3];
                    let d = *u.iter().find(|&&x| x != a && x != b).unwrap();
                    let ang = |o: DVec3, p: DVec3, q: DVec3| (p - o).angle_between(q - o);
                    let p = |v: u32| pts[v as usize];
                    assert!(
                        ang(p(c), p(a), p(b)) + ang(p(d), p(a), p(b))
                            <= std::f64::consts::PI + 1e-9
                    );
                }
            }
        }
        // A self-overlapping projection is refused (the dynamic programme takes over).
        let bow = [
            DVec3::new(0.0, 0.0, 0.0),
            DVec3::new(1.0, 1.0, 0.0),
            DVec3::new(1.0, 0.0, 0.0),
            DVec3::new(0.0, 1.0, 0.0),
        ];
        assert!(planar_cap(&bow).is_none());
    }
}
