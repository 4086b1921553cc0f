//! Moving a marching-cubes surface onto the exact level set, and splitting the triangles that
//! still stray from it.
//!
//! **In:** the extracted mesh (vertices within about a voxel of the level set), the input's
//! [`SignedDistance`] and the level. **Out:** the same connectivity with every vertex on the
//! level set (up to f32 rounding), plus, where an edge midpoint or a triangle centroid is
//! still off by more than the tolerance (curved or creased regions of the offset), the
//! triangles split and the new vertices projected too.
//!
//! * Projection: Newton steps `x ← x − (s(x) − d)·∇s(x)` with the exact distance and
//!   `∇s = ±(x − closest)/|x − closest|` (the pseudo-normal on the surface itself), which
//!   reads `x ← closest + d·∇s`: one step is exact unless the closest point jumps to another
//!   part of the surface (a crease of the offset); then the step goes to the nearest point
//!   of the two sheets' tangent planes, which converges onto the crease line (quadratically
//!   where the sheets are smooth). Up to [`NEWTON_STEPS`]; the best point reached is kept.
//!   The pipeline runs the steps of all points in rounds, each round's closest-point queries
//!   grouped spatially (`many`: one candidate search per group, 8-wide distance batches),
//!   several times cheaper than one tree query per point; the untangling projects single
//!   points with the same steps ([`Projector::project`]).
//! * Splitting: only edges whose ends' normals turn enough for the edge to stray by half
//!   the tolerance are tested. Edges marked (midpoint error, or all three edges of a triangle
//!   whose centroid errs) get a new vertex at the point where the tangent planes of their
//!   ends meet (on a crease: where the edge crosses it; on a smooth arc: above the midpoint),
//!   projected — so one pass puts vertices on the creases that marching cubes cut across.
//!   Triangles with 1, 2 or 3 marked edges become 2, 3 or 4 (red-green templates), so the
//!   mesh stays conforming — closed and manifold — and the winding is kept. New vertices
//!   are numbered in sorted-edge order: deterministic.
//! * Untangling: projection and splitting can invert marching-cubes slivers or pull two
//!   sheets of a thin groove or a crease through each other (tens of thousands of folded
//!   triangles on a 0.5 mm offset of a skull); the exact self-intersection search finds
//!   them, their vertices and first ring are relaxed along the level set (each moved to the
//!   projection of its neighbours' centroid: stays exact), which undoes ~96 % of them; the
//!   vertices of the folds that remain move back toward their marching-cubes positions
//!   until none intersect (counted in the report). Later rounds search only the triangles
//!   around the moved vertices, through a cell index of all triangles built once (filed by
//!   centroid, dense starts; triangles moved farther than a slack refiled each round in a
//!   small second index), so a round costs in proportion to the triangles it searches.
//! * Limits: concave corners where three or more sheets meet (pits), and exterior grooves
//!   narrower than a voxel, are only approached, not resolved: the largest errors sit there.

use osteon_geom::{Cancel, Vec3};
use osteon_mesh::Mesh;
use rayon::prelude::*;

use crate::bvh::Hit;
use crate::field::Shape;
use crate::many::{closest_many, closest_many_map};
use crate::{SdfError, SignedDistance};

/// Newton steps per vertex.
pub const NEWTON_STEPS: usize = 4;

/// Most sheets a Newton step solves for at once (2: a crease line of the level set).
const MAX_SHEETS: usize = 2;

/// Two linearised sheets count as one when their normals are closer than this (cosine).
const SAME_SHEET_COS: f32 = 0.9998;

/// The level-set error `s(p) − target` of a point (unsigned for unsigned shapes), and its
/// projection onto the level set.
pub(crate) struct Projector<'a> {
    pub sd: &'a SignedDistance,
    pub shape: Shape,
    /// Stop when the error is below this (mm).
    pub eps: f32,
}

/// A linearised sheet of the level set: `n · x = c`.
#[derive(Clone, Copy)]
struct Plane {
    n: Vec3,
    c: f32,
}

/// The point nearest to `p` on all `planes` (one or two), or `None` when they are nearly
/// parallel.
fn nearest_on_planes(p: Vec3, planes: &[Plane]) -> Option<Vec3> {
    let mut r = [0.0f32; 2];
    for (r, q) in r.iter_mut().zip(planes) {
        *r = q.c - q.n.dot(p);
    }
    match planes.len() {
        1 => Some(p + planes[0].n * r[0]),
        2 => {
            let k = planes[0].n.dot(planes[1].n);
            let det = 1.0 - k * k;
            if det < 1e-4 {
                return None;
            }
            let l0 = (r[0] - k * r[1]) / det;
            let l1 = (r[1] - k * r[0]) / det;
            Some(p + planes[0].n * l0 + planes[1].n * l1)
        }
        _ => None,
    }
}

/// The state of one point's Newton projection ([`Projector::project`]), fed one
/// evaluation at a time so that many points can share grouped queries.
#[derive(Clone)]
struct Newton {
    /// The point to evaluate next.
    p: Vec3,
    /// Evaluations fed so far.
    evals: usize,
    /// Linearised sheets (at most [`MAX_SHEETS`]).
    planes: [Plane; MAX_SHEETS],
    nplanes: usize,
    /// Best point so far, its error and normal.
    best: (Vec3, f32, Vec3),
}

impl Newton {
    fn new(p: Vec3) -> Newton {
        let zero = Plane {
            n: Vec3::ZERO,
            c: 0.0,
        };
        Newton {
            p,
            evals: 0,
            planes: [zero; MAX_SHEETS],
            nplanes: 0,
            best: (p, f32::INFINITY, Vec3::ZERO),
        }
    }

    /// Feeds the evaluation `(s, ∇s, closest, target, triangle)` at `self.p`; returns the
    /// projection and normal when done, else sets the next point to evaluate.
    fn feed(&mut self, ev: Option<(f32, Vec3, Vec3, f32, u32)>, eps: f32) -> Option<(Vec3, Vec3)> {
        let p = self.p;
        let Some((s, g, c, t, _)) = ev else {
            return Some(if self.evals == NEWTON_STEPS {
                (self.best.0, self.best.2)
            } else {
                (p, self.best.2)
            });
        };
        let err = (s - t).abs();
        if self.evals == NEWTON_STEPS {
            // Last evaluation of the final point.
            if err < self.best.1 {
                self.best = (p, err, g);
            }
            return Some((self.best.0, self.best.2));
        }
        self.evals += 1;
        if err < self.best.1 {
            self.best = (p, err, g);
        }
        if err <= eps || g == Vec3::ZERO {
            return Some((p, g));
        }
        // A first step toward the surface is exact: the step's end q = c + g·t lies on
        // the segment from the closest point c to p, so the ball of radius |t| around q
        // lies inside the ball around p that holds no point of the surface — q is |t|
        // from the surface, on p's side, with the same closest point. No query needed.
        if self.nplanes == 0 && s != 0.0 && s * t >= 0.0 && t.abs() <= s.abs() {
            return Some((c + g * t, g));
        }
        let plane = Plane {
            n: g,
            c: g.dot(c) + t,
        };
        // Drop the sheets this one repeats.
        let mut k = 0;
        for i in 0..self.nplanes {
            if self.planes[i].n.dot(g) < SAME_SHEET_COS {
                self.planes[k] = self.planes[i];
                k += 1;
            }
        }
        self.nplanes = k;
        // Two sheets at most: the crease line. (The corner of three sheets is one point
        // that several vertices would reach exactly, welding them together in STL.)
        if self.nplanes == MAX_SHEETS {
            self.planes.copy_within(1.., 0);
            self.nplanes -= 1;
        }
        self.planes[self.nplanes] = plane;
        self.nplanes += 1;
        let single = c + g * t;
        let mut next = single;
        while self.nplanes > 1 {
            match nearest_on_planes(p, &self.planes[..self.nplanes]) {
                // Accept the crease point only near the single-sheet step.
                Some(x) if x.distance(p) <= 4.0 * (err + (single - p).length()) + eps => {
                    next = x;
                    break;
                }
                _ => {
                    self.planes.copy_within(1.., 0);
                    self.nplanes -= 1;
                }
            }
        }
        self.p = next;
        None
    }
}

impl Projector<'_> {
    /// The signed (or unsigned) distance of `p`, its unit gradient, the closest point and
    /// the level the point belongs to.
    #[inline]
    pub(crate) fn eval(&self, p: Vec3, hint: Option<u32>) -> Option<(f32, Vec3, Vec3, f32, u32)> {
        let h = self.sd.hit(p, hint)?;
        Some(self.eval_hit(p, &h))
    }

    /// The level-set error terms of `p` from its closest hit `h` (see [`Self::eval`]).
    #[inline]
    fn eval_hit(&self, p: Vec3, h: &Hit) -> (f32, Vec3, Vec3, f32, u32) {
        let u = h.dist2.sqrt();
        let (s, g) = if self.shape.signed() {
            let inside = self.sd.inside(p, h);
            let g = if u > 1e-7 {
                (p - h.point) / u
            } else {
                let n = self.sd.pseudo_normal(h).normalize_or_zero();
                if inside {
                    -n
                } else {
                    n
                }
            };
            if inside {
                (-u, -g)
            } else {
                (u, g)
            }
        } else if u <= 1e-7 {
            (u, self.sd.pseudo_normal(h).normalize_or_zero())
        } else {
            (u, (p - h.point) / u)
        };
        (s, g, h.point, self.shape.target(s), h.tri)
    }

    /// Projection of `p` onto the level set (the best point reached) and the level set's
    /// unit normal there.
    ///
    /// Newton steps on the exact distance: each closest point linearises its sheet of the
    /// level set as the plane `g · x = g · closest + target`; when the closest point jumps to
    /// another sheet (a crease of the offset), the step goes to the nearest point on both
    /// planes, which converges onto the crease instead of oscillating between the sheets.
    ///
    /// Each step's query starts from the previous step's closest triangle.
    pub(crate) fn project(&self, p: Vec3) -> (Vec3, Vec3) {
        let mut nw = Newton::new(p);
        let mut hint = None;
        loop {
            let q = nw.p;
            let ev = self.eval(q, hint);
            if let Some(e) = &ev {
                hint = Some(e.4);
            }
            if let Some(r) = nw.feed(ev, self.eps) {
                return r;
            }
        }
    }

    /// [`Self::project`] of every point of `points` (same result up to the tie-breaking
    /// of equidistant triangles), the queries of each Newton round grouped spatially
    /// ([`closest_many`], groups of `cell` mm). Deterministic at any thread count.
    pub(crate) fn project_many(&self, points: &[Vec3], cell: f32) -> Vec<(Vec3, Vec3)> {
        let mut states: Vec<Newton> = points.iter().map(|&p| Newton::new(p)).collect();
        let mut out: Vec<(Vec3, Vec3)> = vec![(Vec3::ZERO, Vec3::ZERO); points.len()];
        let mut active: Vec<u32> = (0..points.len() as u32).collect();
        while !active.is_empty() {
            let qs: Vec<Vec3> = active.iter().map(|&i| states[i as usize].p).collect();
            let hits = closest_many(self.sd, &qs, cell);
            let fed: Vec<(Newton, Option<(Vec3, Vec3)>)> = active
                .par_iter()
                .zip(qs.par_iter().zip(hits.par_iter()))
                .with_min_len(256)
                .map(|(&i, (&q, h))| {
                    let mut nw = states[i as usize].clone();
                    let ev = h.as_ref().map(|h| self.eval_hit(q, h));
                    let r = nw.feed(ev, self.eps);
                    (nw, r)
                })
                .collect();
            let mut next = Vec::with_capacity(active.len() / 2);
            for (&i, (nw, r)) in active.iter().zip(fed) {
                match r {
                    Some(x) => out[i as usize] = x,
                    None => next.push(i),
                }
                states[i as usize] = nw;
            }
            active = next;
        }
        out
    }
}

/// Where to split edge `a`–`b` whose level-set normals are `na`, `nb`: the point of the
/// intersection line of the two tangent planes nearest to the midpoint — on a crease of the
/// offset that is where the edge crosses it, on a smooth arc it lies above the midpoint —
/// or the midpoint when the planes are nearly parallel or the point falls outside the
/// middle of the edge.
fn split_point(a: Vec3, b: Vec3, na: Vec3, nb: Vec3) -> Vec3 {
    let m = (a + b) * 0.5;
    if na == Vec3::ZERO || nb == Vec3::ZERO || na.cross(nb).length_squared() < 0.03 {
        return m;
    }
    let planes = [
        Plane {
            n: na,
            c: na.dot(a),
        },
        Plane {
            n: nb,
            c: nb.dot(b),
        },
    ];
    let Some(x) = nearest_on_planes(m, &planes) else {
        return m;
    };
    let ab = b - a;
    let len2 = ab.length_squared();
    if len2 <= 0.0 {
        return m;
    }
    let t = (x - a).dot(ab) / len2;
    if !(0.05..=0.95).contains(&t) || x.distance(m) > 2.0 * len2.sqrt() {
        return m;
    }
    x
}

/// Projects every vertex (in parallel; deterministic) and returns the level set's unit
/// normal at each. The queries are grouped in cells of `cell` mm ([`closest_many`]).
pub(crate) fn project_vertices(
    mesh: &mut Mesh,
    pr: &Projector<'_>,
    cell: f32,
    cancel: &dyn Cancel,
) -> Result<Vec<Vec3>, SdfError> {
    if cancel.is_cancelled() {
        return Err(SdfError::Cancelled);
    }
    let res = pr.project_many(&mesh.positions, cell);
    let mut normals = Vec::with_capacity(res.len());
    for (p, (q, n)) in mesh.positions.iter_mut().zip(res) {
        *p = q;
        normals.push(n);
    }
    Ok(normals)
}

/// The unsigned level-set error of each point (grouped queries, cells of `cell` mm).
fn errors_many(pr: &Projector<'_>, points: &[Vec3], cell: f32) -> Vec<f32> {
    let f = |h: Option<Hit>| h.map_or(0.0, |h| pr.shape.unsigned_error(h.dist2.sqrt()));
    closest_many_map(pr.sd, points, cell, 0.0, &f)
}

/// Splits triangles whose edge midpoints or centroid are farther than `tol` mm from the level
/// set, for up to `passes` rounds, projecting the new vertices. Returns the rounds done.
/// Queries are grouped in cells of `cell` mm (`many`).
///
/// `origin` holds each vertex's pre-projection (marching-cubes) position; a new vertex gets
/// the point of its edge's origin segment at the same edge parameter as its split point, so
/// the mesh at `origin` positions is the marching-cubes surface subdivided within its own
/// triangles.
#[allow(clippy::too_many_arguments)]
pub(crate) fn refine(
    mesh: &mut Mesh,
    normals: &mut Vec<Vec3>,
    origin: &mut Vec<Vec3>,
    pr: &Projector<'_>,
    tol: f32,
    passes: u32,
    cell: f32,
    cancel: &dyn Cancel,
) -> Result<u32, SdfError> {
    // Triangles made by the last pass: later passes only test their edges (the others were
    // tested and kept).
    let mut last: Vec<bool> = vec![true; mesh.triangles.len()];
    for pass in 0..passes {
        if cancel.is_cancelled() {
            return Err(SdfError::Cancelled);
        }
        let nt = mesh.triangles.len();
        // Unique edges (sorted vertex pairs) and the edge of each triangle corner, in
        // (smaller vertex, larger vertex, corner) order: a counting sort on the smaller
        // vertex, then each vertex's few entries sorted.
        let nv = mesh.positions.len();
        let mut start = vec![0u32; nv + 1];
        for tri in &mesh.triangles {
            for e in 0..3 {
                start[tri[e].min(tri[(e + 1) % 3]) as usize + 1] += 1;
            }
        }
        for v in 0..nv {
            start[v + 1] += start[v];
        }
        let mut fill = start.clone();
        let mut bucket: Vec<(u32, u32)> = vec![(0, 0); 3 * nt];
        for (t, tri) in mesh.triangles.iter().enumerate() {
            for e in 0..3 {
                let (a, b) = (tri[e], tri[(e + 1) % 3]);
                let slot = &mut fill[a.min(b) as usize];
                bucket[*slot as usize] = (a.max(b), (3 * t + e) as u32);
                *slot += 1;
            }
        }
        let mut edges: Vec<(u32, u32)> = Vec::with_capacity(3 * nt / 2 + 1);
        let mut tri_edge = vec![0u32; 3 * nt];
        for v in 0..nv {
            let run = &mut bucket[start[v] as usize..start[v + 1] as usize];
            run.sort_unstable();
            for &(b, corner) in run.iter() {
                if edges.last() != Some(&(v as u32, b)) {
                    edges.push((v as u32, b));
                }
                tri_edge[corner as usize] = (edges.len() - 1) as u32;
            }
        }
        let mut in_last = vec![false; edges.len()];
        for (t, &l) in last.iter().enumerate() {
            if l {
                for e in 0..3 {
                    in_last[tri_edge[3 * t + e] as usize] = true;
                }
            }
        }
        let pos = &mesh.positions;
        // An edge can stray from the level set by more than `tol` only if the level set
        // bends between its ends: a smooth arc of length L turning by θ sags ≈ Lθ/8, a crease
        // crossed anywhere at most ≈ Lθ/4. Edges below half the tolerance by that bound are
        // not queried (most of the surface), nor are triangles with only such edges.
        let suspect: Vec<bool> = edges
            .par_iter()
            .zip(&in_last)
            .with_min_len(1024)
            .map(|(&(a, b), &l)| {
                if !l {
                    return false;
                }
                let (na, nb) = (normals[a as usize], normals[b as usize]);
                if na == Vec3::ZERO || nb == Vec3::ZERO {
                    return true;
                }
                let theta = na.dot(nb).clamp(-1.0, 1.0).acos();
                pos[a as usize].distance(pos[b as usize]) * theta * 0.25 > 0.5 * tol
            })
            .collect();
        let mids: Vec<u32> = (0..edges.len() as u32)
            .filter(|&e| suspect[e as usize])
            .collect();
        let mid_pts: Vec<Vec3> = mids
            .iter()
            .map(|&e| {
                let (a, b) = edges[e as usize];
                (pos[a as usize] + pos[b as usize]) * 0.5
            })
            .collect();
        let mut marked = vec![false; edges.len()];
        for (&e, err) in mids.iter().zip(errors_many(pr, &mid_pts, cell)) {
            marked[e as usize] = err > tol;
        }
        let tri_edge_ref = &tri_edge;
        // A triangle whose three edges are already marked is split into four whatever its
        // centroid's error: its centroid is not queried.
        let cents: Vec<u32> = (0..nt as u32)
            .filter(|&t| {
                let es = &tri_edge_ref[3 * t as usize..3 * t as usize + 3];
                es.iter().any(|&e| suspect[e as usize]) && !es.iter().all(|&e| marked[e as usize])
            })
            .collect();
        let cent_pts: Vec<Vec3> = cents
            .iter()
            .map(|&t| {
                let tri = mesh.triangles[t as usize];
                (pos[tri[0] as usize] + pos[tri[1] as usize] + pos[tri[2] as usize]) / 3.0
            })
            .collect();
        let mut centroid_bad = vec![false; nt];
        for (&t, err) in cents.iter().zip(errors_many(pr, &cent_pts, cell)) {
            centroid_bad[t as usize] = err > tol;
        }
        for (t, &bad) in centroid_bad.iter().enumerate() {
            if bad {
                for e in 0..3 {
                    marked[tri_edge[3 * t + e] as usize] = true;
                }
            }
        }
        let split: Vec<usize> = (0..edges.len()).filter(|&e| marked[e]).collect();
        if split.is_empty() || mesh.positions.len() + split.len() > u32::MAX as usize {
            return Ok(pass);
        }
        let orig = &*origin;
        // Split points and their origin points, then all projected together.
        let starts: Vec<(Vec3, Vec3)> = split
            .par_iter()
            .with_min_len(256)
            .map(|&e| {
                let (a, b) = (edges[e].0 as usize, edges[e].1 as usize);
                let x = split_point(pos[a], pos[b], normals[a], normals[b]);
                let ab = pos[b] - pos[a];
                let len2 = ab.length_squared();
                let t = if len2 > 0.0 {
                    ((x - pos[a]).dot(ab) / len2).clamp(0.05, 0.95)
                } else {
                    0.5
                };
                (x, orig[a] + (orig[b] - orig[a]) * t)
            })
            .collect();
        let xs: Vec<Vec3> = starts.iter().map(|s| s.0).collect();
        let made: Vec<(Vec3, Vec3, Vec3)> = pr
            .project_many(&xs, cell)
            .into_iter()
            .zip(&starts)
            .map(|((q, n), s)| (q, n, s.1))
            .collect();
        let new_pos: Vec<Vec3> = made.iter().map(|m| m.0).collect();
        let new_normals: Vec<Vec3> = made.iter().map(|m| m.1).collect();
        origin.extend(made.iter().map(|m| m.2));
        let base = mesh.positions.len() as u32;
        let mut mid = vec![u32::MAX; edges.len()];
        for (n, &e) in split.iter().enumerate() {
            mid[e] = base + n as u32;
        }
        mesh.positions.extend_from_slice(&new_pos);
        normals.extend_from_slice(&new_normals);
        let mut out: Vec<[u32; 3]> = Vec::with_capacity(nt + 3 * split.len());
        let mut new_last: Vec<bool> = Vec::with_capacity(nt + 3 * split.len());
        for (t, tri) in mesh.triangles.iter().enumerate() {
            let before = out.len();
            let m = [
                mid[tri_edge[3 * t] as usize],
                mid[tri_edge[3 * t + 1] as usize],
                mid[tri_edge[3 * t + 2] as usize],
            ];
            let count = m.iter().filter(|&&v| v != u32::MAX).count();
            match count {
                0 => out.push(*tri),
                3 => {
                    let [v0, v1, v2] = *tri;
                    out.push([v0, m[0], m[2]]);
                    out.push([m[0], v1, m[1]]);
                    out.push([m[2], m[1], v2]);
                    out.push([m[0], m[1], m[2]]);
                }
                1 => {
                    // Rotate so edge 0 (v0 → v1) is the split one.
                    let r = m.iter().position(|&v| v != u32::MAX).unwrap_or(0);
                    let v = [tri[r], tri[(r + 1) % 3], tri[(r + 2) % 3]];
                    out.push([v[0], m[r], v[2]]);
                    out.push([m[r], v[1], v[2]]);
                }
                _ => {
                    // Rotate so edge 2 (v2 → v0) is the unsplit one.
                    let r = (m.iter().position(|&v| v == u32::MAX).unwrap_or(2) + 1) % 3;
                    let v = [tri[r], tri[(r + 1) % 3], tri[(r + 2) % 3]];
                    let (m0, m1) = (m[r], m[(r + 1) % 3]);
                    out.push([m0, v[1], m1]);
                    // Quad v0, m0, m1, v2: cut along the shorter diagonal.
                    let p = &mesh.positions;
                    let d1 = p[v[0] as usize].distance_squared(p[m1 as usize]);
                    let d2 = p[m0 as usize].distance_squared(p[v[2] as usize]);
                    if d1 <= d2 {
                        out.push([v[0], m0, m1]);
                        out.push([v[0], m1, v[2]]);
                    } else {
                        out.push([v[0], m0, v[2]]);
                        out.push([m0, m1, v[2]]);
                    }
                }
            }
            new_last.resize(out.len(), out.len() - before > 1);
        }
        mesh.triangles = out;
        last = new_last;
    }
    Ok(passes)
}

/// Moves apart vertices that ended at exactly the same position (projection onto the same
/// crease point): each duplicate after the first is moved `step` mm (times its rank) towards
/// the centroid of its neighbours, so formats that weld by position (STL) keep the mesh
/// manifold. Returns how many vertices moved.
pub(crate) fn separate_coincident(mesh: &mut Mesh, step: f32) -> usize {
    let key = |p: Vec3| (p.x.to_bits(), p.y.to_bits(), p.z.to_bits());
    let mut order: Vec<u32> = (0..mesh.positions.len() as u32).collect();
    order.par_sort_unstable_by_key(|&i| (key(mesh.positions[i as usize]), i));
    let mut rank = vec![0u32; mesh.positions.len()];
    let mut any = 0usize;
    for w in 1..order.len() {
        let (a, b) = (order[w - 1] as usize, order[w] as usize);
        if key(mesh.positions[a]) == key(mesh.positions[b]) {
            rank[b] = rank[a] + 1;
            any += 1;
        }
    }
    if any == 0 {
        return 0;
    }
    let mut sum = vec![Vec3::ZERO; mesh.positions.len()];
    let mut count = vec![0u32; mesh.positions.len()];
    for t in &mesh.triangles {
        for k in 0..3 {
            let v = t[k] as usize;
            if rank[v] > 0 {
                sum[v] += mesh.positions[t[(k + 1) % 3] as usize]
                    + mesh.positions[t[(k + 2) % 3] as usize];
                count[v] += 2;
            }
        }
    }
    for (v, &r) in rank.iter().enumerate() {
        if r > 0 && count[v] > 0 {
            let p = mesh.positions[v];
            let dir = (sum[v] / count[v] as f32 - p).normalize_or_zero();
            mesh.positions[v] = p + dir * (step * r as f32);
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;
    use osteon_geom::Lcg;

    /// Uniform in `[-1, 1)`.
    fn lcg(s: &mut Lcg) -> f32 {
        s.range(-1.0, 1.0) as f32
    }

    /// The grouped projection (`project_many`, the pipeline's path) agrees with one-point
    /// Newton projection (`project`, the untangling's path) on points around the
    /// +0.8 mm offset of a bumpy sphere (creases where the bumps meet), lands on the level
    /// set as well, and is the same at any thread count.
    #[test]
    fn grouped_projection_matches_single() {
        let mut m = osteon_mesh::shapes::icosphere(3, 10.0);
        let mut s = Lcg::new(9);
        for p in &mut m.positions {
            *p *= 1.0 + 0.1 * lcg(&mut s);
        }
        let sd = SignedDistance::new(&m).unwrap();
        let pr = Projector {
            sd: &sd,
            shape: Shape::Offset(0.8),
            eps: 1e-4,
        };
        let pts: Vec<Vec3> = (0..6000)
            .map(|_| {
                let dir = Vec3::new(lcg(&mut s), lcg(&mut s), lcg(&mut s)).normalize_or_zero();
                dir * (10.8 + 1.2 * lcg(&mut s))
            })
            .collect();
        let many = pr.project_many(&pts, 1.0);
        let other = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap()
            .install(|| pr.project_many(&pts, 1.0));
        let level = |q: Vec3| (sd.signed_distance(q) - 0.8).abs();
        let mut same = 0;
        for (i, &p) in pts.iter().enumerate() {
            let (q1, n1) = many[i];
            assert_eq!((q1, n1), other[i], "thread count changed point {i}");
            let (q0, _) = pr.project(p);
            if q0.distance(q1) <= 1e-4 {
                same += 1;
            }
            assert!(
                level(q1) <= level(q0).max(pr.eps) + 1e-4,
                "point {i}: grouped {} vs single {}",
                level(q1),
                level(q0)
            );
        }
        assert!(
            same * 100 >= 99 * pts.len(),
            "only {same} of {} agree",
            pts.len()
        );
    }
}
