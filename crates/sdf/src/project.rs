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

use crate::field::Shape;
use crate::{SdfError, SignedDistance};

/// Newton steps per vertex.
pub const NEWTON_STEPS: usize = 4;

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
    let r: Vec<f32> = planes.iter().map(|q| q.c - q.n.dot(p)).collect();
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

impl Projector<'_> {
    /// The signed (or unsigned) distance of `p`, its unit gradient, the closest point and
    /// the level the point belongs to.
    #[inline]
    fn eval(&self, p: Vec3, hint: Option<u32>) -> Option<(f32, Vec3, Vec3, f32, u32)> {
        let h = self.sd.hit(p, hint)?;
        let u = h.dist2.sqrt();
        let (s, g) = if self.shape.signed() {
            let inside = self.sd.inside(p, &h);
            let g = if u > 1e-7 {
                (p - h.point) / u
            } else {
                let n = self.sd.pseudo_normal(&h).normalize_or_zero();
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
            (u, self.sd.pseudo_normal(&h).normalize_or_zero())
        } else {
            (u, (p - h.point) / u)
        };
        Some((s, g, h.point, self.shape.target(s), h.tri))
    }

    /// Projection of `p` onto the level set (the best point reached) and the level set's
    /// unit normal there.
    ///
    /// Newton steps on the exact distance: each closest point linearises its sheet of the
    /// level set as the plane `g · x = g · closest + target`; when the closest point jumps to
    /// another sheet (a crease of the offset), the step goes to the nearest point on both
    /// planes, which converges onto the crease instead of oscillating between the sheets.
    ///
    /// Starts from a hint triangle (BVH order) and also returns the last closest triangle, a
    /// good hint for a nearby point.
    pub(crate) fn project_hinted(&self, p: Vec3, hint: Option<u32>) -> (Vec3, Vec3, Option<u32>) {
        let mut p = p;
        let mut hint = hint;
        let mut planes: Vec<Plane> = Vec::with_capacity(2);
        let mut best = (p, f32::INFINITY, Vec3::ZERO);
        for _ in 0..NEWTON_STEPS {
            let Some((s, g, c, t, tri)) = self.eval(p, hint) else {
                return (p, best.2, hint);
            };
            hint = Some(tri);
            let err = (s - t).abs();
            if err < best.1 {
                best = (p, err, g);
            }
            if err <= self.eps || g == Vec3::ZERO {
                return (p, g, hint);
            }
            // A first step toward the surface is exact: the step's end q = c + g·t lies on
            // the segment from the closest point c to p, so the ball of radius |t| around q
            // lies inside the ball around p that holds no point of the surface — q is |t|
            // from the surface, on p's side, with the same closest point. No query needed.
            if planes.is_empty() && s != 0.0 && s * t >= 0.0 && t.abs() <= s.abs() {
                return (c + g * t, g, hint);
            }
            let plane = Plane {
                n: g,
                c: g.dot(c) + t,
            };
            planes.retain(|q| q.n.dot(g) < SAME_SHEET_COS);
            // Two sheets at most: the crease line. (The corner of three sheets is one point
            // that several vertices would reach exactly, welding them together in STL.)
            if planes.len() == 2 {
                planes.remove(0);
            }
            planes.push(plane);
            let single = c + g * t;
            let mut next = single;
            while planes.len() > 1 {
                match nearest_on_planes(p, &planes) {
                    // Accept the crease point only near the single-sheet step.
                    Some(x) if x.distance(p) <= 4.0 * (err + (single - p).length()) + self.eps => {
                        next = x;
                        break;
                    }
                    _ => {
                        planes.remove(0);
                    }
                }
            }
            p = next;
        }
        // Last evaluation of the final point.
        if let Some((s, g, _, t, _)) = self.eval(p, hint) {
            if (s - t).abs() < best.1 {
                best = (p, (s - t).abs(), g);
            }
        }
        (best.0, best.2, hint)
    }

    /// Unsigned error of `p` (distance to the nearest target level), from a hint triangle;
    /// also returns the closest triangle.
    #[inline]
    pub(crate) fn error_hinted(&self, p: Vec3, hint: Option<u32>) -> (f32, Option<u32>) {
        match self.sd.hit(p, hint) {
            Some(h) => (self.shape.unsigned_error(h.dist2.sqrt()), Some(h.tri)),
            None => (0.0, hint),
        }
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
/// normal at each.
pub(crate) fn project_vertices(
    mesh: &mut Mesh,
    pr: &Projector<'_>,
    cancel: &dyn Cancel,
) -> Result<Vec<Vec3>, SdfError> {
    if cancel.is_cancelled() {
        return Err(SdfError::Cancelled);
    }
    // Chunks of consecutive vertices (spatially coherent) share a running hint.
    let normals: Vec<Vec3> = mesh
        .positions
        .par_chunks_mut(256)
        .flat_map_iter(|ps| {
            let mut hint = None;
            ps.iter_mut()
                .map(|p| {
                    let (q, n, h) = pr.project_hinted(*p, hint);
                    hint = h;
                    *p = q;
                    n
                })
                .collect::<Vec<_>>()
        })
        .collect();
    Ok(normals)
}

/// Splits triangles whose edge midpoints or centroid are farther than `tol` mm from the level
/// set, for up to `passes` rounds, projecting the new vertices. Returns the rounds done.
///
/// `origin` holds each vertex's pre-projection (marching-cubes) position; a new vertex gets
/// the point of its edge's origin segment at the same edge parameter as its split point, so
/// the mesh at `origin` positions is the marching-cubes surface subdivided within its own
/// triangles.
pub(crate) fn refine(
    mesh: &mut Mesh,
    normals: &mut Vec<Vec3>,
    origin: &mut Vec<Vec3>,
    pr: &Projector<'_>,
    tol: f32,
    passes: u32,
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
        // Unique edges (sorted vertex pairs) and the edge of each triangle corner.
        let mut keys: Vec<(u32, u32, u32)> = Vec::with_capacity(3 * nt);
        for (t, tri) in mesh.triangles.iter().enumerate() {
            for e in 0..3 {
                let (a, b) = (tri[e], tri[(e + 1) % 3]);
                keys.push((a.min(b), a.max(b), (3 * t + e) as u32));
            }
        }
        keys.par_sort_unstable();
        let mut edges: Vec<(u32, u32)> = Vec::with_capacity(keys.len() / 2 + 1);
        let mut tri_edge = vec![0u32; 3 * nt];
        for k in &keys {
            if edges.last() != Some(&(k.0, k.1)) {
                edges.push((k.0, k.1));
            }
            tri_edge[k.2 as usize] = (edges.len() - 1) as u32;
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
        let mut marked: Vec<bool> = edges
            .par_chunks(256)
            .zip(suspect.par_chunks(256))
            .flat_map_iter(|(es, ss)| {
                let mut hint = None;
                es.iter()
                    .zip(ss)
                    .map(|(&(a, b), &s)| {
                        if !s {
                            return false;
                        }
                        let (e, h) =
                            pr.error_hinted((pos[a as usize] + pos[b as usize]) * 0.5, hint);
                        hint = h;
                        e > tol
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let tri_edge_ref = &tri_edge;
        let centroid_bad: Vec<bool> = mesh
            .triangles
            .par_chunks(256)
            .enumerate()
            .flat_map_iter(|(ci, ts)| {
                let mut hint = None;
                ts.iter()
                    .enumerate()
                    .map(|(k, tri)| {
                        let t = ci * 256 + k;
                        if !(0..3).any(|e| suspect[tri_edge_ref[3 * t + e] as usize]) {
                            return false;
                        }
                        let c =
                            (pos[tri[0] as usize] + pos[tri[1] as usize] + pos[tri[2] as usize])
                                / 3.0;
                        let (e, h) = pr.error_hinted(c, hint);
                        hint = h;
                        e > tol
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
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
        let made: Vec<(Vec3, Vec3, Vec3)> = split
            .par_chunks(64)
            .flat_map_iter(|es| {
                let mut hint = None;
                es.iter()
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
                        let o = orig[a] + (orig[b] - orig[a]) * t;
                        let (q, n, h) = pr.project_hinted(x, hint);
                        hint = h;
                        (q, n, o)
                    })
                    .collect::<Vec<_>>()
            })
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
