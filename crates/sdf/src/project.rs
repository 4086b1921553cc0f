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
//!   part of the surface (a crease of the offset); there the steps alternate between the two
//!   sheets and converge towards their intersection, the crease. Up to [`NEWTON_STEPS`].
//! * Splitting: edges marked (midpoint error, or all three edges of a triangle whose centroid
//!   errs) get a projected midpoint; triangles with 1, 2 or 3 marked edges become 2, 3 or 4
//!   (red-green templates), so the mesh stays conforming — closed and manifold — and the
//!   winding is kept. New vertices are numbered in sorted-edge order: deterministic.

use osteon_geom::{Cancel, Vec3};
use osteon_mesh::Mesh;
use rayon::prelude::*;

use crate::field::Shape;
use crate::{SdfError, SignedDistance};

/// Newton steps per vertex.
pub const NEWTON_STEPS: usize = 6;

/// The level-set error `s(p) − target` of a point (unsigned for unsigned shapes), and its
/// projection onto the level set.
pub(crate) struct Projector<'a> {
    pub sd: &'a SignedDistance,
    pub shape: Shape,
    /// Stop when the error is below this (mm).
    pub eps: f32,
}

impl Projector<'_> {
    /// Projection of `p` onto the level set and the remaining error (mm) before the last step.
    pub(crate) fn project(&self, mut p: Vec3) -> Vec3 {
        let mut hint = None;
        for _ in 0..NEWTON_STEPS {
            let Some(h) = self.sd.hit(p, hint) else {
                return p;
            };
            hint = Some(h.tri);
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
            } else {
                if u <= 1e-7 {
                    // On an unsigned surface: any normal direction; keep the point.
                    let n = self.sd.pseudo_normal(&h).normalize_or_zero();
                    (u, n)
                } else {
                    (u, (p - h.point) / u)
                }
            };
            let t = self.shape.target(s);
            if (s - t).abs() <= self.eps || g == Vec3::ZERO {
                return p;
            }
            p = h.point + g * t;
        }
        p
    }

    /// Unsigned error of `p`: distance to the nearest target level.
    #[inline]
    pub(crate) fn error(&self, p: Vec3) -> f32 {
        match self.sd.hit(p, None) {
            Some(h) => self.shape.unsigned_error(h.dist2.sqrt()),
            None => 0.0,
        }
    }
}

/// Projects every vertex (in parallel; deterministic).
pub(crate) fn project_vertices(
    mesh: &mut Mesh,
    pr: &Projector<'_>,
    cancel: &dyn Cancel,
) -> Result<(), SdfError> {
    if cancel.is_cancelled() {
        return Err(SdfError::Cancelled);
    }
    mesh.positions
        .par_iter_mut()
        .with_min_len(256)
        .for_each(|p| *p = pr.project(*p));
    Ok(())
}

/// Splits triangles whose edge midpoints or centroid are farther than `tol` mm from the level
/// set, for up to `passes` rounds, projecting the new vertices. Returns the rounds done.
pub(crate) fn refine(
    mesh: &mut Mesh,
    pr: &Projector<'_>,
    tol: f32,
    passes: u32,
    cancel: &dyn Cancel,
) -> Result<u32, SdfError> {
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
        let pos = &mesh.positions;
        let mut marked: Vec<bool> = edges
            .par_iter()
            .with_min_len(256)
            .map(|&(a, b)| {
                let m = (pos[a as usize] + pos[b as usize]) * 0.5;
                pr.error(m) > tol
            })
            .collect();
        let centroid_bad: Vec<bool> = mesh
            .triangles
            .par_iter()
            .with_min_len(256)
            .map(|t| {
                let c = (pos[t[0] as usize] + pos[t[1] as usize] + pos[t[2] as usize]) / 3.0;
                pr.error(c) > tol
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
        if split.is_empty() {
            return Ok(pass);
        }
        if mesh.positions.len() + split.len() > u32::MAX as usize {
            return Ok(pass);
        }
        let new_pos: Vec<Vec3> = split
            .par_iter()
            .with_min_len(64)
            .map(|&e| {
                let (a, b) = edges[e];
                pr.project((pos[a as usize] + pos[b as usize]) * 0.5)
            })
            .collect();
        let base = mesh.positions.len() as u32;
        let mut mid = vec![u32::MAX; edges.len()];
        for (n, &e) in split.iter().enumerate() {
            mid[e] = base + n as u32;
        }
        mesh.positions.extend_from_slice(&new_pos);
        let mut out: Vec<[u32; 3]> = Vec::with_capacity(nt + 3 * split.len());
        for (t, tri) in mesh.triangles.iter().enumerate() {
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
        }
        mesh.triangles = out;
    }
    Ok(passes)
}
