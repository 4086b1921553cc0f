//! Exact (f64) primitives: closest point on a triangle with its feature, segment–segment and
//! triangle–triangle distance, triangle–triangle intersection segment, segment–triangle
//! crossing.

use osteon_geom::DVec3;

/// Three corners.
pub(crate) type Tri = [DVec3; 3];

pub(crate) use osteon_mesh::distance::{
    closest_feature_on_triangle as closest_feature, TriangleFeature as Feature,
};

/// Closest points of segments `[p1, q1]` and `[p2, q2]` (Ericson 5.1.9).
pub(crate) fn segment_segment(p1: DVec3, q1: DVec3, p2: DVec3, q2: DVec3) -> (DVec3, DVec3) {
    let d1 = q1 - p1;
    let d2 = q2 - p2;
    let r = p1 - p2;
    let a = d1.length_squared();
    let e = d2.length_squared();
    let f = d2.dot(r);
    const EPS: f64 = 1e-300;
    let (s, t);
    if a <= EPS && e <= EPS {
        return (p1, p2);
    }
    if a <= EPS {
        s = 0.0;
        t = (f / e).clamp(0.0, 1.0);
    } else {
        let c = d1.dot(r);
        if e <= EPS {
            t = 0.0;
            s = (-c / a).clamp(0.0, 1.0);
        } else {
            let b = d1.dot(d2);
            let denom = a * e - b * b;
            let mut s0 = if denom > 0.0 {
                ((b * f - c * e) / denom).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let mut t0 = (b * s0 + f) / e;
            if t0 < 0.0 {
                t0 = 0.0;
                s0 = (-c / a).clamp(0.0, 1.0);
            } else if t0 > 1.0 {
                t0 = 1.0;
                s0 = ((b - c) / a).clamp(0.0, 1.0);
            }
            s = s0;
            t = t0;
        }
    }
    (p1 + d1 * s, p2 + d2 * t)
}

/// Distance between two triangles that do not intersect, with the closest points: the
/// minimum over the six corner–triangle and nine edge–edge pairs (the reference that
/// [`triangle_distance_below`] must match).
#[cfg(test)]
pub(crate) fn triangle_distance(t: &Tri, u: &Tri) -> (f64, DVec3, DVec3) {
    let mut best = (f64::INFINITY, t[0], u[0]);
    let mut consider = |p: DVec3, q: DVec3| {
        let d = (p - q).length_squared();
        if d < best.0 {
            best = (d, p, q);
        }
    };
    for &p in t {
        consider(p, closest_feature(p, u).0);
    }
    for &q in u {
        consider(closest_feature(q, t).0, q);
    }
    for i in 0..3 {
        for j in 0..3 {
            let (p, q) = segment_segment(t[i], t[(i + 1) % 3], u[j], u[(j + 1) % 3]);
            consider(p, q);
        }
    }
    (best.0.sqrt(), best.1, best.2)
}

/// [`triangle_distance`] when that distance is below `bound` (same distance and points),
/// else `None`. `nt`, `nu`: unit (or zero) directions, the normals of `t` and `u` for the
/// pruning to pay. A candidate (corner–triangle or edge–edge) is skipped when its
/// projection on the other triangle's direction lies, shrunk to cover rounding, at least
/// `bound` from the interval the other triangle's corners project to: projection onto a unit
/// direction shortens no distance, so this holds for any direction (for an exact normal the
/// interval is the plane's offset), even the rounded normal of a sliver. A skipped candidate
/// cannot be below `bound`, so it is not the answer when the answer is, and the first
/// smallest candidate is the same one [`triangle_distance`] picks.
pub(crate) fn triangle_distance_below(
    t: &Tri,
    u: &Tri,
    nt: DVec3,
    nu: DVec3,
    bound: f64,
) -> Option<(f64, DVec3, DVec3)> {
    // Each triangle's corners projected on the other's direction, relative to the interval
    // (lo, hi) of the other's own corners: how far below lo (negative) or above hi
    // (positive) each lies, 0 inside.
    let side = |n: DVec3, own: &Tri, other: &Tri| -> [f64; 3] {
        let o = other.map(|q| n.dot(q - other[0]));
        let (lo, hi) = (o[0].min(o[1]).min(o[2]), o[0].max(o[1]).max(o[2]));
        own.map(|p| {
            let x = n.dot(p - other[0]);
            if x > hi {
                x - hi
            } else if x < lo {
                x - lo
            } else {
                0.0
            }
        })
    };
    let du = side(nu, t, u);
    let dt = side(nt, u, t);
    // As in the near tree's axis gaps: relative and absolute slack for the rounding.
    let far = |x: f64| x * (1.0 - 1e-9) - 1e-9 >= bound;
    // A segment whose ends lie beyond the same end of the interval is as far from it as its
    // nearer end.
    let seg_far =
        |a: f64, b: f64| (a > 0.0 && b > 0.0 || a < 0.0 && b < 0.0) && far(a.abs().min(b.abs()));
    let mut best = (f64::INFINITY, t[0], u[0]);
    let mut consider = |p: DVec3, q: DVec3| {
        let d = (p - q).length_squared();
        if d < best.0 {
            best = (d, p, q);
        }
    };
    for (&p, &d) in t.iter().zip(&du) {
        if !far(d.abs()) {
            consider(p, closest_feature(p, u).0);
        }
    }
    for (&q, &d) in u.iter().zip(&dt) {
        if !far(d.abs()) {
            consider(closest_feature(q, t).0, q);
        }
    }
    for i in 0..3 {
        if seg_far(du[i], du[(i + 1) % 3]) {
            continue;
        }
        for j in 0..3 {
            if seg_far(dt[j], dt[(j + 1) % 3]) {
                continue;
            }
            let (p, q) = segment_segment(t[i], t[(i + 1) % 3], u[j], u[(j + 1) % 3]);
            consider(p, q);
        }
    }
    let d = best.0.sqrt();
    (d < bound).then_some((d, best.1, best.2))
}

/// Unnormalised normal `(b − a) × (c − a)` (twice the area times the unit normal).
#[inline]
pub(crate) fn normal(t: &Tri) -> DVec3 {
    (t[1] - t[0]).cross(t[2] - t[0])
}

/// How two triangles meet.
pub(crate) enum Crossing {
    /// They do not meet (or only touch in a point).
    None,
    /// Coplanar and possibly overlapping: left out of the boundary integrals.
    Coplanar,
    /// They cross along this segment, oriented along `n_t × n_u`.
    Segment(DVec3, DVec3),
}

/// Interval of triangle `t` on the line of direction `dir`, where `t` crosses the plane
/// whose signed distances at its corners are `d`: the end points, sorted by `dir`.
fn plane_cut(t: &Tri, d: [f64; 3], dir: DVec3) -> Option<(f64, DVec3, f64, DVec3)> {
    let mut pts: [DVec3; 3] = [DVec3::ZERO; 3];
    let mut n = 0;
    for k in 0..3 {
        let (i, j) = (k, (k + 1) % 3);
        if d[i] == 0.0 {
            if n < 3 {
                pts[n] = t[i];
                n += 1;
            }
        } else if (d[i] < 0.0) != (d[j] < 0.0) && d[j] != 0.0 {
            let s = d[i] / (d[i] - d[j]);
            if n < 3 {
                pts[n] = t[i] + (t[j] - t[i]) * s;
                n += 1;
            }
        }
    }
    if n < 2 {
        return None;
    }
    let mut lo = (f64::INFINITY, DVec3::ZERO);
    let mut hi = (f64::NEG_INFINITY, DVec3::ZERO);
    for &p in &pts[..n] {
        let s = p.dot(dir);
        if s < lo.0 {
            lo = (s, p);
        }
        if s > hi.0 {
            hi = (s, p);
        }
    }
    Some((lo.0, lo.1, hi.0, hi.1))
}

/// The intersection of triangles `t` and `u` (non-degenerate), as a segment oriented along
/// `n_t × n_u` (so that, in `t`'s plane, the inside of `u`'s solid lies to its left).
pub(crate) fn triangle_crossing(t: &Tri, u: &Tri) -> Crossing {
    let nt = normal(t);
    let nu = normal(u);
    let du = u.map(|p| nt.dot(p - t[0]));
    if (du[0] > 0.0 && du[1] > 0.0 && du[2] > 0.0) || (du[0] < 0.0 && du[1] < 0.0 && du[2] < 0.0) {
        return Crossing::None;
    }
    let dt = t.map(|p| nu.dot(p - u[0]));
    if (dt[0] > 0.0 && dt[1] > 0.0 && dt[2] > 0.0) || (dt[0] < 0.0 && dt[1] < 0.0 && dt[2] < 0.0) {
        return Crossing::None;
    }
    let dir = nt.cross(nu);
    // Relative to the two normals' sizes: below ~1e-12 the planes are parallel to rounding.
    if dir.length_squared() <= 1e-24 * nt.length_squared() * nu.length_squared() {
        return if du == [0.0; 3] {
            Crossing::Coplanar
        } else {
            Crossing::None
        };
    }
    let (Some(a), Some(b)) = (plane_cut(t, dt, dir), plane_cut(u, du, dir)) else {
        return Crossing::None;
    };
    let (lo, plo) = if a.0 >= b.0 { (a.0, a.1) } else { (b.0, b.1) };
    let (hi, phi) = if a.2 <= b.2 { (a.2, a.3) } else { (b.2, b.3) };
    if hi <= lo {
        return Crossing::None;
    }
    Crossing::Segment(plo, phi)
}

/// Parameter `s ∈ [0, 1]` where segment `p + s (q − p)` crosses triangle `t`'s interior
/// (Möller–Trumbore), if it does.
pub(crate) fn segment_crosses(p: DVec3, q: DVec3, t: &Tri) -> Option<f64> {
    let d = q - p;
    let e1 = t[1] - t[0];
    let e2 = t[2] - t[0];
    let h = d.cross(e2);
    let det = e1.dot(h);
    if det == 0.0 || !det.is_finite() {
        return None;
    }
    let inv = 1.0 / det;
    let s0 = p - t[0];
    let u = s0.dot(h) * inv;
    if !(0.0..=1.0).contains(&u) {
        return None;
    }
    let qv = s0.cross(e1);
    let v = d.dot(qv) * inv;
    if v < 0.0 || u + v > 1.0 {
        return None;
    }
    let s = e2.dot(qv) * inv;
    (0.0..=1.0).contains(&s).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: f64, y: f64, z: f64) -> DVec3 {
        DVec3::new(x, y, z)
    }

    #[test]
    fn crossing_segment_is_oriented() {
        let t = [v(0., 0., 0.), v(4., 0., 0.), v(0., 4., 0.)];
        // A vertical triangle through x = 1, normal +x.
        let u = [v(1., -1., -1.), v(1., 3., -1.), v(1., 1., 3.)];
        let Crossing::Segment(p, q) = triangle_crossing(&t, &u) else {
            panic!("they cross")
        };
        assert!((p.x - 1.0).abs() < 1e-12 && (q.x - 1.0).abs() < 1e-12);
        // n_t × n_u = z × x = +y.
        assert!(q.y > p.y);
        assert!(
            (p.y - 0.0).abs() < 1e-12 && (q.y - 2.5).abs() < 1e-12,
            "{p} {q}"
        );
    }

    /// The unit normals and the full distance of two triangles that do not cross.
    fn apart(t: &Tri, u: &Tri) -> Option<(DVec3, DVec3, (f64, DVec3, DVec3))> {
        matches!(triangle_crossing(t, u), Crossing::None).then(|| {
            (
                normal(t).normalize_or_zero(),
                normal(u).normalize_or_zero(),
                triangle_distance(t, u),
            )
        })
    }

    #[test]
    fn distance_below_a_bound_is_the_full_distance_bit_for_bit() {
        // Pseudo-random triangle pairs, near and far, nearly parallel and not, against
        // bounds below, at and above their distance.
        let mut st: u64 = 0x2545_f491_4f6c_dd1d;
        let mut r = || {
            st = st
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (st >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        // Bounds at or below the full distance met (the case `None` must answer): the
        // random pairs must not all cross for the test to exercise it.
        let mut at_or_below = 0;
        for k in 0..4000 {
            let t = [v(r(), r(), r()), v(r(), r(), r()), v(r(), r(), r())];
            let lift = v(r(), r(), 0.2 + r().abs() * (k % 5) as f64);
            // Every other pair: a nearly parallel copy (the clearance of a plate).
            let u = if k % 2 == 0 {
                t.map(|p| p + lift + v(r(), r(), r()) * 0.05)
            } else {
                [v(r(), r(), r()), v(r(), r(), r()), v(r(), r(), r())].map(|p| p + lift * 2.0)
            };
            let Some((nt, nu, full)) = apart(&t, &u) else {
                continue;
            };
            for bound in [
                full.0 * 0.5,
                full.0,
                full.0 * (1.0 + 1e-12),
                full.0 * 1.3,
                f64::INFINITY,
            ] {
                let got = triangle_distance_below(&t, &u, nt, nu, bound);
                if full.0 < bound {
                    let (d, p, q) = got.expect("below the bound");
                    assert_eq!(
                        (
                            d.to_bits(),
                            p.to_array().map(f64::to_bits),
                            q.to_array().map(f64::to_bits)
                        ),
                        (
                            full.0.to_bits(),
                            full.1.to_array().map(f64::to_bits),
                            full.2.to_array().map(f64::to_bits)
                        ),
                        "pair {k} bound {bound}"
                    );
                } else {
                    assert!(got.is_none(), "pair {k} bound {bound}");
                    at_or_below += 1;
                }
            }
        }
        assert!(at_or_below > 1000);
        // Slivers and collinear corners at f64 coordinates far from the origin, whose
        // normals are rounding noise: still the full distance below the bound.
        for k in 0..2000 {
            let base = v(1000.0 + r(), -700.0 + r(), 350.0 + r());
            let dir = v(r(), r(), r()).normalize();
            let t = [
                base,
                base + dir * (1.0 + r()),
                base + dir * (0.5 + 1e-13 * r()),
            ];
            let off = v(r(), r(), r()) * (0.1 + r().abs());
            let u = if k % 2 == 0 {
                [
                    base + off,
                    base + off + v(r(), r(), r()),
                    base + off + v(r(), r(), r()),
                ]
            } else {
                t.map(|p| p + off)
            };
            let Some((nt, nu, full)) = apart(&t, &u) else {
                continue;
            };
            for bound in [full.0 * (1.0 + 1e-12), full.0 * 1.3, f64::INFINITY] {
                let got = triangle_distance_below(&t, &u, nt, nu, bound).expect("below");
                assert_eq!(got.0.to_bits(), full.0.to_bits(), "sliver pair {k}");
            }
            // Any direction is a valid pruning direction, tight or not.
            for n in [v(r(), r(), r()).normalize(), DVec3::ZERO] {
                let got = triangle_distance_below(&t, &u, n, -n, full.0 * 1.01).expect("below");
                assert_eq!(got.0.to_bits(), full.0.to_bits(), "pair {k}, direction {n}");
            }
        }
    }

    #[test]
    fn distances() {
        let t = [v(0., 0., 0.), v(1., 0., 0.), v(0., 1., 0.)];
        let u = t.map(|p| p + v(0.2, 0.2, 2.0));
        assert!((triangle_distance(&t, &u).0 - 2.0).abs() < 1e-12);
        // Skew edges: edge–edge is the answer.
        let a = [v(0., 0., 0.), v(2., 0., 0.), v(1., -3., 0.)];
        let b = [v(1., -1., 1.5), v(1., 1., 1.5), v(1., 0., 5.0)];
        assert!((triangle_distance(&a, &b).0 - 1.5).abs() < 1e-12);
        assert_eq!(
            segment_crosses(v(0.2, 0.2, -1.), v(0.2, 0.2, 1.), &t),
            Some(0.5)
        );
    }
}
