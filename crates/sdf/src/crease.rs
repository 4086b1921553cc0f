//! Vertices on the creases and corners of the level set, and edges along them, where
//! projected triangles still cut across them.
//!
//! **In:** the projected and refined mesh (every vertex on the level set), its level-set
//! normals and marching-cubes origins, the input's distance. **Out:** the same surface where
//! each triangle straying from the level set by more than `tol` (the refinement's
//! tolerance, `SdfOptions::refine_tolerance_voxel`) got the best of a few local changes
//! that lower its error: a vertex on the crease line or corner point under it, or an edge
//! flip. Closed, manifold and oriented as before.
//!
//! Where two or three sheets of the level set meet (a groove of the input for an outward
//! offset, a convex edge or vertex for an inward one), a triangle whose corners lie on
//! different sheets cuts across the crease: its interior is off by up to a third of a voxel
//! although its corners are exact. Splitting at edge midpoints (`project::refine`) puts
//! vertices where edges cross a crease line, but not on a corner where three sheets meet,
//! nor does it turn an edge that runs across a crease into one along it.
//!
//! * Detection: triangles with two corner normals more than 30° apart ([`SUSPECT_COS`])
//!   that could stray by half the tolerance (a crease crossed sags at most ≈ Lθ/4) are
//!   screened at their centroid, those erring by 40 % of the tolerance there sampled on a
//!   barycentric grid (18 points; grouped queries; at most [`SCREEN_KEEP`] × [`MAX_BAD`]
//!   of them, the worst at the centroid); those off by more than the tolerance are taken
//!   worst first (at most [`MAX_BAD`] a pass).
//! * Feature point (the quadric-error point of Kobbelt et al. 2001 / Ju et al. 2002, nearest
//!   to the start): the tangent planes of the sheets the triangle's corners lie on, and of
//!   the sheets the exact closest points of the search meet (`n · y = n · closest + level`,
//!   `n` the distance gradient), at most three, nearly dependent ones dropped; the point
//!   nearest to the start on all of them (the sheet, the crease line, the corner), then the
//!   closest point of that point adds its sheet, up to 8 steps. Kept only within a voxel of
//!   the start and on the level set (exact distance within [`ON_LEVEL_VOXEL`] of the voxel).
//!   Starts: the triangle's worst sample, and for each edge whose end normals differ, the
//!   point where the ends' tangent planes meet nearest to its midpoint. For the worst
//!   sample the seeds also include the tangent planes of the closest points of three
//!   points inside the triangle, one near the middle of each edge: a corner lying on a
//!   crease names one of its two sheets only, so the three corners of a chamfer triangle
//!   across a corner of three sheets may name two (before these seeds an inward offset of
//!   a cube kept every corner cut off, six of them by a whole chamfer triangle, 33 % of the
//!   voxel; now 0.1 %). A probe's plane counts only when it turns from every seed by a
//!   crease's angle ([`CREASE_COS`]).
//! * Changes: the feature point splits the triangle into three, or the edge it lies within
//!   [`EDGE_SHARE`] of (always the edge, for an edge start; the neighbour across it is split
//!   too); or one of the triangle's edges is flipped (when the other diagonal is not an edge
//!   already). A change is valid when no new triangle degenerates or turns by more than
//!   120° from a triangle it replaces or 87° from their mean (a vertex at the bottom of a
//!   groove makes its fan steep); it is kept when its new triangles' largest sampled error
//!   is below [`GAIN`] times that of the triangles it replaces, the best change per
//!   triangle. Changes are proposed in parallel and applied in the fixed worst-first order
//!   (a triangle changes at most once a pass), so the result is the same at any thread
//!   count. Up to [`PASSES`] passes, each testing only the triangles the last one made.
//! * Limits: a slit of the offset narrower than a voxel (two facing sheets bridged by the
//!   marching-cubes surface) needs the surface to dip into it; a single vertex on its floor
//!   lowers the error too little to be kept, so the largest errors on real bones stay there.
//!
//! New vertices get the marching-cubes origin at the same barycentric place, so the
//! untangling (which runs next and undoes any fold these changes make) still rolls back
//! toward a subdivision of the marching-cubes surface.

use std::collections::HashSet;

use osteon_geom::{Cancel, Vec3};
use osteon_mesh::Mesh;
use rayon::prelude::*;

use crate::many::closest_many_map;
use crate::project::Projector;
use crate::SdfError;

/// A feature point counts as on the level set within this share of the voxel.
pub(crate) const ON_LEVEL_VOXEL: f32 = 0.01;
/// Passes of detection and insertion.
pub(crate) const PASSES: u32 = 3;
/// At most this many triangles are changed a pass (the worst first): bounds the cost.
pub(crate) const MAX_BAD: usize = 1_500;
/// A point within this barycentric share of an edge splits the edge instead of the face.
const EDGE_SHARE: f32 = 0.15;
/// A change is kept when the new triangles' largest error is below this share of the old.
const GAIN: f32 = 0.9;
/// Edges whose ends' level-set normals are farther apart than this (cosine) may cross a
/// crease: their crossing point is a candidate vertex.
const CREASE_COS: f32 = 0.985;
/// Triangles are tested only when the normals of two corners are farther apart than this
/// (cosine; 30°): creases, not the smooth bends between neighbouring voxels.
const SUSPECT_COS: f32 = 0.87;
/// A new triangle may turn from each triangle it replaces by up to acos of this, and from
/// their mean by up to acos of `MIN_AVG_COS` (a vertex at the bottom of a groove makes its
/// fan steep; folds are the untangling's to undo).
const MIN_COS: f32 = -0.5;
const MIN_AVG_COS: f32 = 0.05;
/// Steps of the feature-point search.
const STEPS: usize = 8;
/// Two tangent planes count as one sheet when their normals are closer than this (cosine).
const SAME_SHEET_COS: f32 = 0.9998;
/// The coarse screen's points `(u, v)`: the centroid (a crease crossing a triangle bows it
/// most in the middle).
const COARSE: [(f32, f32); 1] = [(1.0 / 3.0, 1.0 / 3.0)];
/// Triangles whose screen point errs by more than this share of the tolerance get the
/// full grid.
const SCREEN: f32 = 0.4;
/// The full grid is sampled on at most this many times [`MAX_BAD`] triangles a pass, the
/// worst at the screen.
const SCREEN_KEEP: usize = 4;
/// Barycentric divisions of the sampling grid (its corners excluded).
const GRID: usize = 5;

/// Barycentric sample points `(u, v)` (weights of corners 1 and 2), corners excluded.
fn pattern() -> Vec<(f32, f32)> {
    let mut out = Vec::new();
    for i in 0..=GRID {
        for j in 0..=(GRID - i) {
            if (i == GRID && j == 0) || (i == 0 && j == GRID) || (i == 0 && j == 0) {
                continue;
            }
            out.push((i as f32 / GRID as f32, j as f32 / GRID as f32));
        }
    }
    out
}

#[inline]
fn at(c: &[Vec3; 3], (u, v): (f32, f32)) -> Vec3 {
    c[0] * (1.0 - u - v) + c[1] * u + c[2] * v
}

/// The points of `pattern` on each triangle of `list`, triangle after triangle.
fn pattern_points(
    pos: &[Vec3],
    tris: &[[u32; 3]],
    list: &[u32],
    pattern: &[(f32, f32)],
) -> Vec<Vec3> {
    list.par_iter()
        .with_min_len(1024)
        .flat_map_iter(|&t| {
            let c = corners(pos, tris[t as usize]);
            pattern.iter().map(move |&b| at(&c, b))
        })
        .collect()
}

#[inline]
fn corners(pos: &[Vec3], t: [u32; 3]) -> [Vec3; 3] {
    [pos[t[0] as usize], pos[t[1] as usize], pos[t[2] as usize]]
}

#[inline]
fn normal(c: &[Vec3; 3]) -> Vec3 {
    (c[1] - c[0]).cross(c[2] - c[0])
}

/// The level-set error of each point (grouped queries).
fn errors(pr: &Projector<'_>, pts: &[Vec3], cell: f32) -> Vec<f32> {
    closest_many_map(pr.sd, pts, cell, f32::INFINITY, &|h| {
        h.map_or(f32::INFINITY, |h| pr.shape.unsigned_error(h.dist2.sqrt()))
    })
}

/// The point nearest to `x` on all `planes` (`n · y = c`, up to three), or `None` when
/// their normals are nearly dependent.
fn nearest_on(x: Vec3, planes: &[(Vec3, f32)]) -> Option<Vec3> {
    let k = planes.len();
    let r: Vec<f32> = planes.iter().map(|(n, c)| c - n.dot(x)).collect();
    match k {
        1 => Some(x + planes[0].0 * r[0]),
        2 => {
            let g = planes[0].0.dot(planes[1].0);
            let det = 1.0 - g * g;
            if det < 1e-3 {
                return None;
            }
            let l0 = (r[0] - g * r[1]) / det;
            let l1 = (r[1] - g * r[0]) / det;
            Some(x + planes[0].0 * l0 + planes[1].0 * l1)
        }
        3 => {
            let (a, b, c) = (planes[0].0, planes[1].0, planes[2].0);
            // The three planes meet in one point: solve [a b c]ᵀ y = (c0, c1, c2).
            let det = a.dot(b.cross(c));
            if det.abs() < 0.03 {
                return None;
            }
            let (ca, cb, cc) = (planes[0].1, planes[1].1, planes[2].1);
            Some((b.cross(c) * ca + c.cross(a) * cb + a.cross(b) * cc) / det)
        }
        _ => None,
    }
}

/// The feature point near `x`: on the crease line or corner of the sheets the closest points
/// meet, nearest to `x`. Returns the point, a level-set normal there and its error, or
/// `None` when the search leaves a ball of radius `reach` around `x`.
fn feature_point(
    pr: &Projector<'_>,
    x: Vec3,
    seed: &[(Vec3, f32)],
    reach: f32,
) -> Option<(Vec3, Vec3, f32)> {
    let mut planes: Vec<(Vec3, f32)> = Vec::with_capacity(4);
    for &(n, c) in seed {
        if n != Vec3::ZERO && planes.iter().all(|(m, _)| m.dot(n) < SAME_SHEET_COS) {
            planes.push((n, c));
        }
    }
    planes.truncate(3);
    let mut p = match nearest_on(x, &planes) {
        Some(y) if y.distance(x) <= reach => y,
        _ => x,
    };
    let mut hint = None;
    let mut best: Option<(Vec3, Vec3, f32)> = None;
    for step in 0..=STEPS {
        let (s, g, c, t, tri) = pr.eval(p, hint)?;
        hint = Some(tri);
        let err = (s - t).abs();
        if best.is_none_or(|b| err < b.2) {
            best = Some((p, g, err));
        }
        if err <= pr.eps || g == Vec3::ZERO || step == STEPS {
            break;
        }
        planes.retain(|(n, _)| n.dot(g) < SAME_SHEET_COS);
        if planes.len() == 3 {
            planes.remove(0);
        }
        planes.push((g, g.dot(c) + t));
        let mut next = None;
        while !planes.is_empty() {
            match nearest_on(x, &planes) {
                Some(y) if y.distance(x) <= reach => {
                    next = Some(y);
                    break;
                }
                _ => {
                    planes.remove(0);
                }
            }
        }
        p = next?;
    }
    best
}

/// Barycentric coordinates of `q` projected onto the plane of `c`.
fn barycentric(c: &[Vec3; 3], q: Vec3) -> Option<[f32; 3]> {
    let (e0, e1, w) = (c[1] - c[0], c[2] - c[0], q - c[0]);
    let (d00, d01, d11) = (e0.dot(e0), e0.dot(e1), e1.dot(e1));
    let (d20, d21) = (w.dot(e0), w.dot(e1));
    let den = d00 * d11 - d01 * d01;
    if den.abs() <= f32::EPSILON * d00 * d11 || den == 0.0 {
        return None;
    }
    let v = (d11 * d20 - d01 * d21) / den;
    let w2 = (d00 * d21 - d01 * d20) / den;
    Some([1.0 - v - w2, v, w2])
}

/// A proposed local change: triangles `olds` replaced by `news` (the first `olds.len()` in
/// place, the rest appended), with a new vertex (`u32::MAX` in `news`) when `vertex` is set.
#[derive(Clone)]
struct Cand {
    olds: Vec<u32>,
    news: Vec<[u32; 3]>,
    /// The new vertex, its level-set normal and its marching-cubes origin.
    vertex: Option<(Vec3, Vec3, Vec3)>,
}

/// The new vertex's index in a candidate's triangles.
const NEW: u32 = u32::MAX;

/// Sorted keys of the undirected edges of the triangles that touch a corner of a triangle
/// in `around`, with their triangles: every edge a change of those triangles reads (their
/// neighbours across an edge, and the edges at their corners).
fn edge_index(tris: &[[u32; 3]], nv: usize, around: &[u32]) -> Vec<(u64, u32)> {
    let mut near = vec![false; nv];
    for &t in around {
        for v in tris[t as usize] {
            near[v as usize] = true;
        }
    }
    let mut e: Vec<(u64, u32)> = tris
        .par_iter()
        .enumerate()
        .with_min_len(4096)
        .filter(|(_, tri)| tri.iter().any(|&v| near[v as usize]))
        .flat_map_iter(|(t, tri)| {
            (0..3).map(move |k| {
                let (a, b) = (tri[k], tri[(k + 1) % 3]);
                ((u64::from(a.min(b)) << 32) | u64::from(a.max(b)), t as u32)
            })
        })
        .collect();
    e.par_sort_unstable();
    e
}

/// The triangle other than `t` on edge `a`–`b`, when exactly two share it.
fn across(index: &[(u64, u32)], a: u32, b: u32, t: u32) -> Option<u32> {
    let key = (u64::from(a.min(b)) << 32) | u64::from(a.max(b));
    let i = index.partition_point(|e| e.0 < key);
    let run: Vec<u32> = index[i..]
        .iter()
        .take_while(|e| e.0 == key)
        .map(|e| e.1)
        .collect();
    match run.as_slice() {
        [x, y] if *x == t => Some(*y),
        [x, y] if *y == t => Some(*x),
        _ => None,
    }
}

/// The triangle across edge `a → b` of triangle `t` (it runs `b → a` there: consistently
/// oriented) and its third corner.
fn neighbour(
    index: &[(u64, u32)],
    tris: &[[u32; 3]],
    t: u32,
    a: u32,
    b: u32,
) -> Option<(u32, u32)> {
    let other = across(index, a, b, t)?;
    let ot = tris[other as usize];
    let r = ot.iter().position(|&v| v == b)?;
    (ot[(r + 1) % 3] == a).then_some((other, ot[(r + 2) % 3]))
}

/// The flip of edge `a`–`b` of triangle `t = [a, b, c]` (rotated): with the neighbour
/// `[b, a, e]`, the edge `c`–`e` instead. `None` when the edge is not shared by exactly two
/// triangles or `c`–`e` exists already (the flip would make the mesh non-manifold).
fn flip(index: &[(u64, u32)], tris: &[[u32; 3]], t: u32, a: u32, b: u32, c: u32) -> Option<Cand> {
    let (other, e) = neighbour(index, tris, t, a, b)?;
    if e == c {
        return None;
    }
    let key = (u64::from(c.min(e)) << 32) | u64::from(c.max(e));
    let i = index.partition_point(|x| x.0 < key);
    if index.get(i).is_some_and(|x| x.0 == key) {
        return None;
    }
    Some(Cand {
        olds: vec![t, other],
        news: vec![[c, a, e], [c, e, b]],
        vertex: None,
    })
}

/// A vertex on the feature point under the worst sample `x` of triangle `t`: splitting the
/// triangle into three, or the nearest edge (and the neighbour across it) into four.
#[allow(clippy::too_many_arguments)]
fn insertion(
    pr: &Projector<'_>,
    pos: &[Vec3],
    normals: &[Vec3],
    origin: &[Vec3],
    index: &[(u64, u32)],
    tris: &[[u32; 3]],
    t: u32,
    x: Vec3,
    edge: Option<usize>,
    voxel: f32,
    on_level: f32,
) -> Option<Cand> {
    let tri = tris[t as usize];
    let c = corners(pos, tri);
    // The sheets the corners lie on seed the search: a corner of three sheets is found
    // even when the worst sample's closest point is on one of them only.
    // For an edge start, the sheets of the edge's ends only (the crease it crosses).
    let ends: &[u32] = match edge {
        Some(k) if k < 2 => &tri[k..k + 2],
        Some(_) => &[tri[2], tri[0]],
        None => &tri,
    };
    let mut seed: Vec<(Vec3, f32)> = ends
        .iter()
        .map(|&v| {
            let n = normals[v as usize];
            (n, n.dot(pos[v as usize]))
        })
        .collect();
    if edge.is_none() {
        // A corner on a crease has the normal of one of its sheets only, so three corners
        // may name two sheets of a corner where three meet (a chamfer triangle across an
        // inward cube corner). Points inside the triangle, one near the middle of each
        // edge, see the sheet nearest to that edge (the one its two ends share there; a
        // point near a corner would lie on the corner's own tie of two sheets): the tangent
        // planes of their closest points.
        for k in 0..3 {
            let mut w = [0.4f32; 3];
            w[k] = 0.2;
            let y = c[0] * w[0] + c[1] * w[1] + c[2] * w[2];
            // Only a sheet that turns from every seed by a crease's angle: a point on one
            // of the corners' own (curved) sheets would fill the third plane instead.
            if let Some((_, g, cp, lvl, _)) = pr.eval(y, None) {
                if seed.iter().all(|(m, _)| m.dot(g) < CREASE_COS) {
                    seed.push((g, g.dot(cp) + lvl));
                }
            }
        }
    }
    let (q, n, e) = feature_point(pr, x, &seed, voxel)?;
    if e > on_level {
        return None;
    }
    let l = barycentric(&c, q)?;
    let (mut kmin, mut lmin) = l
        .iter()
        .copied()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    if let Some(k) = edge {
        // The edge from corner k to k + 1: opposite corner k + 2.
        kmin = (k + 2) % 3;
        lmin = l[kmin];
        if lmin.abs() > 0.25 {
            return None;
        }
    }
    if lmin < -0.1 || l.iter().any(|&v| v > 0.9) {
        return None;
    }
    let lc = l.map(|v| v.max(0.0));
    let sum = lc[0] + lc[1] + lc[2];
    let o = (origin[tri[0] as usize] * lc[0]
        + origin[tri[1] as usize] * lc[1]
        + origin[tri[2] as usize] * lc[2])
        / sum;
    if lmin < EDGE_SHARE || edge.is_some() {
        // Split edge a → b opposite corner kmin; `ap` the apex.
        let (a, b, ap) = (tri[(kmin + 1) % 3], tri[(kmin + 2) % 3], tri[kmin]);
        let (other, e2) = neighbour(index, tris, t, a, b)?;
        Some(Cand {
            olds: vec![t, other],
            news: vec![[a, NEW, ap], [b, NEW, e2], [NEW, b, ap], [NEW, a, e2]],
            vertex: Some((q, n, o)),
        })
    } else {
        let [a, b, cc] = tri;
        Some(Cand {
            olds: vec![t],
            news: vec![[a, b, NEW], [b, cc, NEW], [cc, a, NEW]],
            vertex: Some((q, n, o)),
        })
    }
}

/// The lengths the crease step works with, mm.
#[derive(Clone, Copy)]
pub(crate) struct Scale {
    /// The grid's voxel edge.
    pub voxel: f32,
    /// Triangles straying farther from the level set are changed.
    pub tol: f32,
    /// Group cell of the grouped closest-point queries.
    pub cell: f32,
}

/// Inserts vertices on the creases and corners under straying triangles and flips edges
/// across them (see the module documentation); returns the vertices inserted and the edges
/// flipped.
pub(crate) fn crease(
    mesh: &mut Mesh,
    normals: &mut Vec<Vec3>,
    origin: &mut Vec<Vec3>,
    pr: &Projector<'_>,
    scale: &Scale,
    cancel: &dyn Cancel,
) -> Result<(usize, usize), SdfError> {
    let Scale { voxel, tol, cell } = *scale;
    let on_level = (ON_LEVEL_VOXEL * voxel).max(pr.eps);
    let pat = pattern();
    let (mut inserted, mut flips) = (0usize, 0usize);
    let mut fresh: Vec<bool> = vec![true; mesh.triangles.len()];
    for _ in 0..PASSES {
        if cancel.is_cancelled() {
            return Err(SdfError::Cancelled);
        }
        let pos = &mesh.positions;
        let tris = &mesh.triangles;
        // Triangles whose normals turn enough to stray by half the tolerance (as in
        // `project::refine`: a crease crossed anywhere sags at most ≈ Lθ/4).
        let suspects: Vec<u32> = (0..tris.len() as u32)
            .into_par_iter()
            .with_min_len(4096)
            .filter(|&t| {
                if !fresh[t as usize] {
                    return false;
                }
                let tri = tris[t as usize];
                (0..3).any(|k| {
                    let (a, b) = (tri[k] as usize, tri[(k + 1) % 3] as usize);
                    let (na, nb) = (normals[a], normals[b]);
                    if na == Vec3::ZERO || nb == Vec3::ZERO {
                        return true;
                    }
                    // A crease turns the normal by more than `SUSPECT_COS`; smooth
                    // curvature between a voxel's neighbours does not.
                    let cos = na.dot(nb);
                    let theta = cos.clamp(-1.0, 1.0).acos();
                    cos < SUSPECT_COS && pos[a].distance(pos[b]) * theta * 0.25 > 0.5 * tol
                })
            })
            .collect();
        // A coarse screen first (the centroid),
        // then the full grid on the triangles it flags.
        let coarse_err = errors(pr, &pattern_points(pos, tris, &suspects, &COARSE), cell);
        let mut screened: Vec<(f32, u32)> = suspects
            .iter()
            .zip(coarse_err.chunks(COARSE.len()))
            .map(|(&t, e)| (e.iter().copied().fold(0.0f32, f32::max), t))
            .filter(|&(e, _)| e > SCREEN * tol)
            .collect();
        // Only the worst `MAX_BAD` are changed: the full grid goes to the
        // `SCREEN_KEEP × MAX_BAD` worst at the screen (on a noisy skull, 96 k triangles
        // stray beyond the tolerance and 222 k pass the screen).
        let keep = SCREEN_KEEP * MAX_BAD;
        if screened.len() > keep {
            screened.select_nth_unstable_by(keep, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            screened.truncate(keep);
            screened.sort_unstable_by_key(|&(_, t)| t);
        }
        let suspects: Vec<u32> = screened.into_iter().map(|(_, t)| t).collect();
        let pts = pattern_points(pos, tris, &suspects, &pat);
        let err = errors(pr, &pts, cell);
        // (worst error, triangle, worst sample) of the straying triangles, worst first.
        let mut bad: Vec<(f32, u32, Vec3)> = suspects
            .iter()
            .enumerate()
            .filter_map(|(k, &t)| {
                let e = &err[k * pat.len()..(k + 1) * pat.len()];
                let (j, &w) = e
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))?;
                (w > tol && w.is_finite()).then_some((w, t, pts[k * pat.len() + j]))
            })
            .collect();
        if bad.is_empty() {
            break;
        }
        bad.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        bad.truncate(MAX_BAD);
        let worst: Vec<u32> = bad.iter().map(|b| b.1).collect();
        let index = edge_index(tris, pos.len(), &worst);
        // Candidate changes of each straying triangle: a vertex on the feature point, and
        // the flips of its three edges (which turn an edge across a crease into one along it
        // when the crease's vertices exist).
        let cands: Vec<Vec<Cand>> = bad
            .par_iter()
            .with_min_len(16)
            .map(|&(_, t, x)| {
                let mut out = Vec::with_capacity(4);
                let tri = tris[t as usize];
                for k in 0..3 {
                    let (a, b, c) = (tri[k], tri[(k + 1) % 3], tri[(k + 2) % 3]);
                    if let Some(f) = flip(&index, tris, t, a, b, c) {
                        out.push(f);
                    }
                }
                if let Some(c) = insertion(
                    pr, pos, normals, origin, &index, tris, t, x, None, voxel, on_level,
                ) {
                    out.push(c);
                }
                // Where an edge crosses a crease: the point of the ends' tangent planes'
                // intersection line nearest to its midpoint, on the crease.
                for k in 0..3 {
                    let (a, b) = (tri[k] as usize, tri[(k + 1) % 3] as usize);
                    let (na, nb) = (normals[a], normals[b]);
                    if na.dot(nb) > CREASE_COS || na == Vec3::ZERO || nb == Vec3::ZERO {
                        continue;
                    }
                    let m = (pos[a] + pos[b]) * 0.5;
                    let planes = [(na, na.dot(pos[a])), (nb, nb.dot(pos[b]))];
                    let Some(y) = nearest_on(m, &planes) else {
                        continue;
                    };
                    if let Some(c) = insertion(
                        pr,
                        pos,
                        normals,
                        origin,
                        &index,
                        tris,
                        t,
                        y,
                        Some(k),
                        voxel,
                        on_level,
                    ) {
                        out.push(c);
                    }
                }
                out
            })
            .collect();
        let corner_of = |c: &Cand, v: u32| match (v, c.vertex) {
            (NEW, Some(x)) => x.0,
            _ => pos[v as usize],
        };
        // Orientation and size of the new triangles against the ones they replace.
        let valid = |c: &Cand| -> bool {
            let refn: Vec<Vec3> = c
                .olds
                .iter()
                .map(|&t| normal(&corners(pos, tris[t as usize])))
                .collect();
            let avg = refn
                .iter()
                .fold(Vec3::ZERO, |s, n| s + n.normalize_or_zero());
            c.news.iter().all(|t| {
                let n = normal(&t.map(|v| corner_of(c, v)));
                0.5 * n.length() > 1e-6 * voxel * voxel
                    && refn
                        .iter()
                        .all(|r| n.dot(*r) > MIN_COS * n.length() * r.length())
                    && n.dot(avg) > MIN_AVG_COS * n.length() * avg.length()
            })
        };
        // Sampled errors of every valid candidate's new triangles and replaced neighbours,
        // in one batch of grouped queries.
        let mut test_pts: Vec<Vec3> = Vec::new();
        // Per candidate: (start of new samples, start of old samples, end), or None.
        let spans: Vec<Vec<Option<(usize, usize, usize)>>> = cands
            .iter()
            .zip(&bad)
            .map(|(cs, &(_, t, _))| {
                cs.iter()
                    .map(|c| {
                        if !valid(c) {
                            return None;
                        }
                        let s = test_pts.len();
                        for n in &c.news {
                            let q = n.map(|v| corner_of(c, v));
                            test_pts.extend(pat.iter().map(|&b| at(&q, b)));
                        }
                        let mid = test_pts.len();
                        for &o in c.olds.iter().filter(|&&o| o != t) {
                            let q = corners(pos, tris[o as usize]);
                            test_pts.extend(pat.iter().map(|&b| at(&q, b)));
                        }
                        Some((s, mid, test_pts.len()))
                    })
                    .collect()
            })
            .collect();
        let test_err = errors(pr, &test_pts, cell);
        let max_of = |r: &[f32]| r.iter().copied().fold(0.0f32, f32::max);
        // The best candidate of each straying triangle, applied in the fixed worst-first
        // order; a triangle changes at most once a pass.
        let mut locked = vec![false; mesh.triangles.len()];
        let mut new_fresh = vec![false; mesh.triangles.len()];
        let mut added = 0usize;
        let mut flipped = 0usize;
        // Edges made by this pass's flips: `flip` checked the old edges only, and two flips
        // across one pinch (an octahedral vertex pair) could make the same edge twice.
        let mut made: HashSet<u64> = HashSet::new();
        for ((cs, sp), &(w, _, _)) in cands.into_iter().zip(&spans).zip(&bad) {
            let mut best: Option<(f32, Cand)> = None;
            for (c, span) in cs.iter().zip(sp) {
                let Some((s, mid, e)) = *span else { continue };
                let old = w.max(max_of(&test_err[mid..e]));
                let new = max_of(&test_err[s..mid]);
                if new < GAIN * old && best.as_ref().is_none_or(|b| new < b.0) {
                    best = Some((new, c.clone()));
                }
            }
            let Some((_, c)) = best else { continue };
            if c.olds.iter().any(|&t| locked[t as usize]) {
                continue;
            }
            if c.vertex.is_none() {
                let (a, b) = (c.news[0][0], c.news[0][2]);
                if !made.insert((u64::from(a.min(b)) << 32) | u64::from(a.max(b))) {
                    continue;
                }
            }
            let v = mesh.positions.len() as u32;
            if let Some((p, n, o)) = c.vertex {
                if mesh.positions.len() >= u32::MAX as usize - 1 {
                    break;
                }
                mesh.positions.push(p);
                normals.push(n);
                origin.push(o);
                added += 1;
            } else {
                flipped += 1;
            }
            let fix = |t: &[u32; 3]| t.map(|x| if x == NEW { v } else { x });
            for (k, t) in c.news.iter().enumerate() {
                if let Some(&o) = c.olds.get(k) {
                    mesh.triangles[o as usize] = fix(t);
                    locked[o as usize] = true;
                    new_fresh[o as usize] = true;
                } else {
                    mesh.triangles.push(fix(t));
                    locked.push(true);
                    new_fresh.push(true);
                }
            }
        }
        inserted += added;
        flips += flipped;
        fresh = new_fresh;
        if added + flipped == 0 {
            break;
        }
    }
    Ok((inserted, flips))
}
