//! Branch-free squared distances from a batch of [`LANES`] points to one triangle.
//!
//! **In:** a triangle prepared relative to a local origin ([`PreparedTri`]) and up to
//! [`LANES`] points in the same local frame (structure of arrays, [`Lanes`]). **Out:** the
//! exact squared Euclidean distance of each point to the triangle (f32).
//!
//! The closest point of a triangle is on its face when the point projects inside all three
//! edges (the inward edge normals `n × eᵢ` all see it), and on the nearest of the three edges
//! (clamped segments) otherwise. Both are computed for every lane and selected without a
//! branch, so the compiler vectorises the loop over the lanes; the field evaluates a block of
//! voxels against a short list of candidate triangles this way (`field`), several times
//! faster than one closest-point query per voxel. Working relative to the block centre keeps
//! the differences small (no cancellation of millimetre coordinates).
//!
//! Degenerate triangles: a zero-length edge degenerates to its start point (inverse length
//! 0), and a zero-area triangle never takes the face branch.

use osteon_geom::Vec3;

/// Points a batch holds.
pub(crate) const LANES: usize = 8;

/// Points in structure-of-arrays form, relative to the batch's local origin.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Lanes {
    /// x coordinates.
    pub x: [f32; LANES],
    /// y coordinates.
    pub y: [f32; LANES],
    /// z coordinates.
    pub z: [f32; LANES],
}

impl Lanes {
    /// Point `l`.
    #[inline]
    pub fn get(&self, l: usize) -> Vec3 {
        Vec3::new(self.x[l], self.y[l], self.z[l])
    }
}

/// A triangle `abc` prepared for [`dist2`], relative to a local origin.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PreparedTri {
    /// Corner `a` (local).
    a: [f32; 3],
    /// Edges `b − a`, `c − b`, `a − c`.
    e: [[f32; 3]; 3],
    /// Inverse squared edge lengths (0 for a zero-length edge).
    il: [f32; 3],
    /// Unit normal (zero when degenerate).
    n: [f32; 3],
    /// Inward edge normals `n × eᵢ` (unnormalised; zero when degenerate).
    m: [[f32; 3]; 3],
    /// Thresholds of the inside tests: `(p − a)·mᵢ ≥ sᵢ` for all `i` means the face is nearest.
    s: [f32; 3],
}

#[inline(always)]
fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

#[inline(always)]
fn min(a: f32, b: f32) -> f32 {
    if a < b {
        a
    } else {
        b
    }
}

#[inline(always)]
fn unit(t: f32) -> f32 {
    let t = if t > 0.0 { t } else { 0.0 };
    if t < 1.0 {
        t
    } else {
        1.0
    }
}

impl PreparedTri {
    /// Prepares triangle `tri` (millimetres) relative to `origin`.
    pub fn new(tri: [Vec3; 3], origin: Vec3) -> PreparedTri {
        let (a, b, c) = (tri[0] - origin, tri[1] - origin, tri[2] - origin);
        let e = [b - a, c - b, a - c];
        let il = e.map(|e| {
            let l2 = e.length_squared();
            if l2 > 0.0 && (1.0 / l2).is_finite() {
                1.0 / l2
            } else {
                0.0
            }
        });
        let cross = e[0].cross(c - a);
        let n = cross.normalize_or_zero();
        let (m, s) = if n == Vec3::ZERO {
            // Never inside: 0 ≥ 1 is false.
            ([Vec3::ZERO; 3], [1.0; 3])
        } else {
            let m = e.map(|e| cross.cross(e));
            (m, [0.0, e[0].dot(m[1]), -e[2].dot(m[2])])
        };
        PreparedTri {
            a: a.to_array(),
            e: e.map(|v| v.to_array()),
            il,
            n: n.to_array(),
            m: m.map(|v| v.to_array()),
            s,
        }
    }
}

impl PreparedTri {
    /// The same triangle relative to `origin` (prepared relative to the coordinate origin).
    #[inline]
    pub fn moved(&self, origin: Vec3) -> PreparedTri {
        let mut t = *self;
        t.a = [
            self.a[0] - origin.x,
            self.a[1] - origin.y,
            self.a[2] - origin.z,
        ];
        t
    }
}

/// Squared distances of the points `p` to the triangle `t` (same local frame).
#[inline]
#[allow(clippy::needless_range_loop)] // lane-indexed on purpose: the loop is vectorised
pub(crate) fn dist2(t: &PreparedTri, p: &Lanes, out: &mut [f32; LANES]) {
    for l in 0..LANES {
        let q = [p.x[l] - t.a[0], p.y[l] - t.a[1], p.z[l] - t.a[2]];
        let inside =
            (dot(q, t.m[0]) >= t.s[0]) & (dot(q, t.m[1]) >= t.s[1]) & (dot(q, t.m[2]) >= t.s[2]);
        let pd = dot(q, t.n);
        let face = pd * pd;
        // Edge 0 from a, edge 1 from b = a + e0, edge 2 from c = a − e2.
        let q0 = q;
        let q1 = [q[0] - t.e[0][0], q[1] - t.e[0][1], q[2] - t.e[0][2]];
        let q2 = [q[0] + t.e[2][0], q[1] + t.e[2][1], q[2] + t.e[2][2]];
        let seg = |q: [f32; 3], e: [f32; 3], il: f32| {
            let s = unit(dot(q, e) * il);
            let d = [q[0] - s * e[0], q[1] - s * e[1], q[2] - s * e[2]];
            dot(d, d)
        };
        let d0 = seg(q0, t.e[0], t.il[0]);
        let d1 = seg(q1, t.e[1], t.il[1]);
        let d2 = seg(q2, t.e[2], t.il[2]);
        let edge = min(min(d0, d1), d2);
        out[l] = if inside { face } else { edge };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osteon_geom::Lcg;

    /// Distance from `p` to triangle `abc` in f64: the nearest of the three edges, or the
    /// plane when `p` projects inside a non-degenerate triangle.
    fn reference(p: Vec3, a: Vec3, b: Vec3, c: Vec3) -> f64 {
        let (p, a, b, c) = (p.as_dvec3(), a.as_dvec3(), b.as_dvec3(), c.as_dvec3());
        let seg = |s: osteon_geom::DVec3, e: osteon_geom::DVec3| {
            let d = e - s;
            let l2 = d.length_squared();
            let t = if l2 > 0.0 {
                ((p - s).dot(d) / l2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            p.distance(s + d * t)
        };
        let edges = seg(a, b).min(seg(b, c)).min(seg(c, a));
        let n = (b - a).cross(c - a);
        if n.length_squared() < 1e-12 {
            return edges;
        }
        let inside = [(a, b), (b, c), (c, a)]
            .iter()
            .all(|&(s, e)| n.cross(e - s).dot(p - s) >= 0.0);
        if inside {
            (p - a).dot(n).abs() / n.length()
        } else {
            edges
        }
    }

    /// Uniform in `[-1, 1)`.
    fn lcg(s: &mut Lcg) -> f32 {
        s.range(-1.0, 1.0) as f32
    }

    /// The batch kernel agrees with the branching closest-point routine (Ericson) on random
    /// triangles — including slivers and zero-length edges — and random points.
    #[test]
    fn batch_matches_closest_point() {
        let mut s = Lcg::new(7);
        let origin = Vec3::new(120.0, -40.0, 75.0);
        let mut worst = 0.0f32;
        for it in 0..4000 {
            let mut v = || Vec3::new(lcg(&mut s), lcg(&mut s), lcg(&mut s)) * 3.0;
            let (a, mut b, mut c) = (v(), v(), v());
            match it % 5 {
                0 => b = a,                                     // zero-length edge
                1 => c = a + (b - a) * 0.37,                    // collinear: zero area
                2 => c = a + (b - a) * 0.5 + Vec3::splat(1e-4), // sliver
                _ => {}
            }
            let tri = [a + origin, b + origin, c + origin];
            let prep = PreparedTri::new(tri, origin);
            let mut pts = Lanes::default();
            for l in 0..LANES {
                let p = v() * 1.5;
                pts.x[l] = p.x;
                pts.y[l] = p.y;
                pts.z[l] = p.z;
            }
            let mut out = [0.0; LANES];
            dist2(&prep, &pts, &mut out);
            for (l, &got) in out.iter().enumerate() {
                let p = pts.get(l);
                let want = reference(p, a, b, c);
                let err = (f64::from(got).sqrt() - want).abs();
                worst = worst.max(err as f32);
                assert!(
                    err <= 1e-4 * (1.0 + want),
                    "iteration {it} lane {l}: batch {} vs exact {want}",
                    got.sqrt()
                );
            }
        }
        assert!(worst < 1e-4, "worst {worst}");
    }
}
