//! Offsets with analytic answers: spheres and cubes.

use osteon_geom::{NeverCancel, NoProgress, Vec3};
use osteon_mesh::Mesh;
use osteon_sdf::{offset, OffsetReport, SdfOptions, SignedDistance};
use std::f64::consts::PI;

use crate::check::{assert_closed_manifold, cube, icosphere, independent};

fn off(m: &Mesh, d: f64, voxel: f64) -> (Mesh, OffsetReport) {
    let opts = SdfOptions::default().with_voxel_mm(voxel);
    offset(m, d, &opts, &NoProgress, &NeverCancel).expect("offset")
}

/// The report's bounds of the issue, in % of the voxel.
pub fn assert_bounds(r: &OffsetReport) {
    assert!(r.error.mean_pct_voxel <= 2.0, "mean {:?}", r.error);
    assert!(r.error.p99_pct_voxel <= 10.0, "p99 {:?}", r.error);
    assert!(r.error.max_pct_voxel <= 30.0, "max {:?}", r.error);
}

#[test]
fn signed_distance_of_a_sphere() {
    let s = icosphere(10.0, 5, Vec3::ZERO);
    let sd = SignedDistance::new(&s).unwrap();
    for p in [
        Vec3::ZERO,
        Vec3::new(3.0, -2.0, 1.0),
        Vec3::new(0.0, 0.0, 15.0),
    ] {
        let exact = p.length() - 10.0;
        // The polyhedron is inside the sphere by at most its sagitta (~0.005 mm).
        assert!((sd.signed_distance(p) - exact).abs() < 0.02, "{p}");
    }
    // Order-1 far field (Barill et al. 2018, beta = 2): a few % off, far from the ½ decision.
    assert!((sd.winding_number(Vec3::ZERO) - 1.0).abs() < 0.05);
    assert!(sd.winding_number(Vec3::splat(20.0)).abs() < 0.05);
    let (q, _) = sd.closest_point(Vec3::new(0.0, 0.0, 20.0));
    assert!((q.z - 10.0).abs() < 0.01);
}

#[test]
fn sphere_offsets_are_spheres() {
    let s = icosphere(10.0, 5, Vec3::ZERO);
    for d in [1.0f64, -0.5] {
        let voxel = 0.25;
        let (m, r) = off(&s, d, voxel);
        assert_closed_manifold(&m);
        assert_eq!(r.components, 1);
        assert_bounds(&r);
        // Vertex radii: the input polyhedron has a sagitta of ~0.005 mm (2 % of the voxel).
        let worst = m
            .positions
            .iter()
            .map(|p| (f64::from(p.length()) - (10.0 + d)).abs())
            .fold(0.0, f64::max);
        assert!(worst < 0.05 * voxel, "d {d}: vertex radius off by {worst}");
    }
}

#[test]
fn cube_offsets_match_minkowski_volumes() {
    let a = 4.0f64;
    let c = cube(a as f32);
    let d = 1.0;
    let (m, r) = off(&c, d, 0.2);
    assert_closed_manifold(&m);
    assert_bounds(&r);
    let v = a.powi(3) + 6.0 * a * a * d + 3.0 * PI * a * d * d + 4.0 / 3.0 * PI * d.powi(3);
    assert!(
        (m.signed_volume() / v - 1.0).abs() < 0.01,
        "{} vs {v}",
        m.signed_volume()
    );
    let (m, r) = off(&c, -0.5, 0.2);
    assert_closed_manifold(&m);
    // Each corner of the inner cube is a point where three sheets of the level set meet,
    // first cut off by a chamfer triangle (33 % of the voxel, libigl 33.4 %); the crease
    // step puts a vertex on it. Its three corners lie on the cube's edges, each naming one
    // of its two sheets, so the step also reads the sheets near the chamfer's edges.
    assert!(r.error.mean_pct_voxel <= 2.0, "mean {:?}", r.error);
    // Measured: p99 and max 0.10 % of the voxel; 5× that is allowed.
    assert!(r.error.p99_pct_voxel <= 0.5, "p99 {:?}", r.error);
    assert!(r.error.max_pct_voxel <= 0.5, "max {:?}", r.error);
    // A vertex on every corner of the inner cube [0.5, 3.5]³.
    for k in 0..8 {
        let corner = Vec3::new(
            [0.5, 3.5][k & 1],
            [0.5, 3.5][(k >> 1) & 1],
            [0.5, 3.5][(k >> 2) & 1],
        );
        let near = m
            .positions
            .iter()
            .map(|p| p.distance(corner))
            .fold(f32::INFINITY, f32::min);
        assert!(
            near < 0.01 * 0.2,
            "corner {corner}: nearest vertex {near} mm away"
        );
    }
    let v = (a - 1.0).powi(3);
    assert!(
        (m.signed_volume() / v - 1.0).abs() < 0.01,
        "{} vs {v}",
        m.signed_volume()
    );
}

#[test]
fn offset_out_then_in_returns() {
    for (d, voxel) in [(1.0, 0.25), (0.6, 0.2)] {
        let s = icosphere(10.0, 4, Vec3::new(1.0, 2.0, 3.0));
        let (m1, _) = off(&s, d, voxel);
        let (m2, _) = off(&m1, -d, voxel);
        let v0 = s.signed_volume();
        assert!((m2.signed_volume() / v0 - 1.0).abs() < 0.01);
        let c = cube(4.0);
        let (m1, _) = off(&c, d, voxel);
        let (m2, _) = off(&m1, -d, voxel);
        // Closing a convex solid gives it back (edges within the crease tolerance).
        assert!(
            (m2.signed_volume() / 64.0 - 1.0).abs() < 0.01,
            "{}",
            m2.signed_volume()
        );
    }
}

#[test]
fn report_agrees_with_independent_check() {
    let s = icosphere(10.0, 3, Vec3::ZERO);
    let voxel = 0.3;
    let (m, r) = off(&s, 1.0, voxel);
    let ind = independent(&s, &m, 200_000, |u| (u - 1.0).abs());
    let tol = 0.1f64;
    let close = |ours: f64, theirs: f64| (ours - theirs).abs() <= tol * theirs.max(0.005 * voxel);
    assert!(close(r.error.mean_mm, ind.mean), "{:?} vs {ind:?}", r.error);
    assert!(close(r.error.p99_mm, ind.p99), "{:?} vs {ind:?}", r.error);
    // The report's maximum is searched (grid and local search on the worst triangles): random
    // points never find more, and find nearly as much.
    assert!(
        ind.max <= r.error.max_mm * 1.02 + 1e-5,
        "{:?} vs {ind:?}",
        r.error
    );
    assert!(ind.max >= r.error.max_mm * 0.8, "{:?} vs {ind:?}", r.error);
}
