//! Offsets whose level set has sharp creases and corners, checked against the analytic
//! distance: an L-shaped prism (the union of two boxes) offset outward has a concave crease
//! along its inner edge and two concave corners where that crease meets the end faces'
//! offsets; offset inward it has convex creases along its convex edges and corners at the
//! convex vertices.

use osteon_geom::{NeverCancel, NoProgress, Vec3};
use osteon_mesh::Mesh;
use osteon_sdf::{offset, OffsetReport, SdfOptions};

use crate::check::parry_distances;

/// Corner of the prism (off the voxel grid on purpose).
const O: Vec3 = Vec3::new(0.037, 0.013, 0.071);
/// Arm length, arm width and height (mm).
const ARM: f32 = 4.0;
const WIDTH: f32 = 1.5;
const HEIGHT: f32 = 3.0;

/// The L-shaped prism: cross-section (0,0) (ARM,0) (ARM,W) (W,W) (W,ARM) (0,ARM), extruded
/// over z in [0, HEIGHT], outward-oriented.
fn l_prism() -> Mesh {
    let xy = [
        (0.0, 0.0),
        (ARM, 0.0),
        (ARM, WIDTH),
        (WIDTH, WIDTH),
        (WIDTH, ARM),
        (0.0, ARM),
    ];
    let mut p = Vec::new();
    for z in [0.0, HEIGHT] {
        for &(x, y) in &xy {
            p.push(O + Vec3::new(x, y, z));
        }
    }
    let mut t: Vec<[u32; 3]> = Vec::new();
    // Caps: a fan from the reflex vertex 3.
    for (a, b) in [(4, 5), (5, 0), (0, 1), (1, 2)] {
        t.push([9, 6 + a, 6 + b]);
        t.push([3, b, a]);
    }
    for i in 0..6u32 {
        let j = (i + 1) % 6;
        t.push([i, j, 6 + j]);
        t.push([i, 6 + j, 6 + i]);
    }
    Mesh::new(p, t).unwrap()
}

/// Largest `| u − d |` over a dense barycentric grid (16 divisions) of every triangle, `u`
/// the exact unsigned distance to `input` by parry3d (independent of the crate's queries).
fn analytic_max(input: &Mesh, m: &Mesh, d: f32) -> f32 {
    const N: usize = 16;
    let mut pts = Vec::new();
    for t in 0..m.triangles.len() {
        let [a, b, c] = m.corners(t);
        for i in 0..=N {
            for j in 0..=(N - i) {
                let (u, v) = (i as f32 / N as f32, j as f32 / N as f32);
                pts.push(a * (1.0 - u - v) + b * u + c * v);
            }
        }
    }
    parry_distances(input, &pts)
        .into_iter()
        .map(|u| (u - d).abs())
        .fold(0.0, f32::max)
}

fn off(m: &Mesh, d: f64, voxel: f64) -> (Mesh, OffsetReport) {
    let opts = SdfOptions::default().with_voxel_mm(voxel);
    offset(m, d, &opts, &NoProgress, &NeverCancel).expect("offset")
}

/// The prism turned by `angle` radians about the axis (1, 2, 3): creases oblique to the grid.
fn turned(angle: f32) -> Mesh {
    let r = osteon_geom::DMat3::from_axis_angle(
        osteon_geom::DVec3::new(1.0, 2.0, 3.0).normalize(),
        f64::from(angle),
    );
    let l = l_prism();
    let p = l
        .positions
        .iter()
        .map(|&p| (r * p.as_dvec3()).as_vec3())
        .collect();
    Mesh::new(p, l.triangles.clone()).unwrap()
}

/// Offsets the prism turned by `angle` by `d` at `voxel`: closed, manifold, one component,
/// no self-intersections, the bounds on the report, and the largest analytic error
/// (dense barycentric grid of every triangle) and the report's maximum both at most
/// `max_pct` of the voxel.
fn check(angle: f32, d: f64, voxel: f64, max_pct: f32) {
    let l = turned(angle);
    assert!(l.signed_volume() > 0.0);
    let (m, r) = off(&l, d, voxel);
    let rep = osteon_mesh::report(&m).expect("report");
    assert!(
        rep.watertight && rep.manifold && rep.oriented,
        "{:?}",
        rep.problems()
    );
    assert_eq!(r.components, 1);
    assert_eq!(r.self_intersecting_faces, Some(0));
    assert!(r.timings_s.contains_key("crease"));
    assert!(r.crease_vertices + r.crease_flips > 0, "{r:?}");
    let max = 100.0 * analytic_max(&l, &m, d.abs() as f32) / voxel as f32;
    assert!(r.error.mean_pct_voxel <= 2.0, "{:?}", r.error);
    assert!(r.error.p99_pct_voxel <= 10.0, "{:?}", r.error);
    assert!(r.error.max_pct_voxel <= f64::from(max_pct), "{:?}", r.error);
    assert!(max <= max_pct, "analytic max {max} % of the voxel");
    // The report's maximum is the analytic one within 10 % (plus the input's f32 rounding).
    assert!(
        (r.error.max_pct_voxel as f32 - max).abs() <= 0.1 * max + 1.0,
        "report {} vs analytic {max}",
        r.error.max_pct_voxel
    );
}

/// Inward, axis-aligned: corners of the inner prism where three sheets meet (20 % of the
/// voxel without the crease step, 17 % with it).
#[test]
fn l_prism_inward_offset_gets_its_corners() {
    check(0.0, -0.3, 0.2, 18.0);
}

/// Inward, oblique to the grid: convex creases and corners (31 % of the voxel without the
/// crease step, above the bound; 28 % with it).
#[test]
fn oblique_l_prism_inward_offset_within_bound() {
    check(0.7, -0.5, 0.2, 30.0);
}

/// Outward, oblique: the concave crease along the inner edge and its two corner ends
/// (24 % of the voxel without the crease step, 9 % with it).
#[test]
fn oblique_l_prism_outward_offset_keeps_its_concave_crease() {
    check(0.3, 0.5, 0.2, 15.0);
}

/// The crease step's changes (proposed in parallel, applied in a fixed order) do not depend
/// on the thread count: inward and outward, where it changes the mesh.
#[test]
fn crease_output_is_identical_for_any_thread_count() {
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| [off(&turned(0.7), -0.5, 0.2), off(&turned(0.3), 0.5, 0.2)])
    };
    let (one, three) = (run(1), run(3));
    for ((a, ra), (b, rb)) in one.iter().zip(&three) {
        assert!(ra.crease_vertices + ra.crease_flips > 0, "{ra:?}");
        assert_eq!(a, b);
        assert_eq!(
            (ra.crease_vertices, ra.crease_flips),
            (rb.crease_vertices, rb.crease_flips)
        );
    }
}
