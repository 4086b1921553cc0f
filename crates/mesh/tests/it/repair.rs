//! Mesh repair: analytic breakages with known answers, the public meshes, bad input.

use osteon_geom::Vec3;
use osteon_mesh::repair::{fill_holes, orient_outward, repair, split_nonmanifold, RepairOptions};
use osteon_mesh::shapes::icosphere;
use osteon_mesh::{report, Mesh, MeshError, RepairLog};

use crate::common::{assert_directed_edges_paired, read};

fn fix(m: &Mesh) -> (Mesh, RepairLog) {
    let (out, log) = repair(m, &RepairOptions::default()).expect("repair runs");
    // The log's final report is the output's, as a fresh report finds it.
    assert_eq!(log.report.as_ref(), Some(&report(&out).unwrap()));
    (out, log)
}

/// Closed by osteon's report and by an independent directed-edge count: every directed
/// edge once, its reverse once, no degenerate or duplicate triangle, positive volume, no
/// self-intersection.
fn assert_closed(m: &Mesh) {
    let r = report(m).unwrap();
    assert!(
        r.watertight && r.manifold && r.oriented && r.outward,
        "{:?}",
        r.problems()
    );
    assert_eq!(r.self_intersecting_faces, Some(0));
    assert_eq!((r.degenerate_triangles, r.duplicate_triangles), (0, 0));
    assert_directed_edges_paired(m, "repaired mesh");
    // No two vertices at one position (an STL round trip would weld them).
    let mut p: Vec<[u32; 3]> = m
        .positions
        .iter()
        .map(|v| v.to_array().map(f32::to_bits))
        .collect();
    p.sort_unstable();
    assert!(
        p.windows(2).all(|w| w[0] != w[1]),
        "two vertices at one position"
    );
}

/// The same surface as a soup of unshared corners (every vertex duplicated).
fn soup(m: &Mesh) -> Mesh {
    let positions = m
        .triangles
        .iter()
        .flat_map(|t| t.map(|i| m.positions[i as usize]))
        .collect();
    let triangles = (0..m.triangles.len() as u32)
        .map(|t| [3 * t, 3 * t + 1, 3 * t + 2])
        .collect();
    Mesh::new(positions, triangles).unwrap()
}

#[test]
fn sphere_with_holes_flips_and_duplicates_is_closed_again() {
    let sphere = icosphere(4, 10.0); // 5 120 triangles
    let mut broken = soup(&sphere);
    // Two holes: the triangles near two poles; then flip every 7th triangle.
    let near = |t: &[u32; 3], c: Vec3, r: f32| {
        t.iter()
            .any(|&i| broken.positions[i as usize].distance(c) < r)
    };
    let holes: Vec<bool> = broken
        .triangles
        .iter()
        .map(|t| near(t, Vec3::Z * 10.0, 3.0) || near(t, Vec3::X * 10.0, 2.0))
        .collect();
    let removed = holes.iter().filter(|&&h| h).count();
    let mut i = 0;
    broken.triangles.retain(|_| {
        i += 1;
        !holes[i - 1]
    });
    for t in broken.triangles.iter_mut().step_by(7) {
        t.swap(1, 2);
    }
    let flipped = broken.triangles.len().div_ceil(7);
    let (out, log) = fix(&broken);
    assert_closed(&out);
    assert!(log.closed && log.problems.is_empty(), "{:?}", log.problems);
    assert_eq!(log.holes.filled, 2);
    assert!(log.holes.triangles_added >= removed / 2, "{log:?}");
    assert_eq!(log.orient.triangles_flipped, flipped);
    let mut bits: Vec<[u32; 3]> = broken
        .positions
        .iter()
        .map(|v| v.to_array().map(f32::to_bits))
        .collect();
    bits.sort_unstable();
    bits.dedup();
    assert_eq!(
        log.weld.vertices_welded,
        broken.positions.len() - bits.len()
    );
    // The patches continue the sphere (fairing): every vertex within 3 % of the radius.
    for p in &out.positions {
        assert!((p.length() - 10.0).abs() < 0.3, "{p} off the sphere");
    }
    let v = out.signed_volume();
    let exact = sphere.signed_volume();
    assert!((v - exact).abs() < 0.01 * exact, "{v} vs {exact}");
    // Outside the patches nothing moved.
    assert!(log.deviation.max_mm < 1e-9 && log.deviation.samples > 0);
    // Idempotent.
    let (again, log2) = fix(&out);
    assert_eq!(again, out);
    assert!(!log2.changed && log2.closed);
}

#[test]
fn clean_meshes_come_out_identical() {
    for m in [
        icosphere(3, 5.0),
        read("openforge_leg-right_femur.stl"),
        read("openforge_leg-right_tibia.stl"),
    ] {
        let (out, log) = fix(&m);
        assert_eq!(out, m);
        assert!(!log.changed && log.closed);
        assert!(log.deviation.max_mm < 1e-12, "{:?}", log.deviation);
    }
}

#[test]
fn flat_hole_gets_a_flat_cap_and_curved_hole_a_fair_patch() {
    // An open cylinder (no caps): both rims are planar loops.
    let (n, h, r) = (48u32, 10.0f32, 4.0f32);
    let mut p = Vec::new();
    for k in 0..2 {
        for i in 0..n {
            let a = i as f32 / n as f32 * std::f32::consts::TAU;
            p.push(Vec3::new(r * a.cos(), r * a.sin(), k as f32 * h));
        }
    }
    let mut t = Vec::new();
    for i in 0..n {
        let j = (i + 1) % n;
        t.push([i, j, n + j]);
        t.push([i, n + j, n + i]);
    }
    let tube = Mesh::new(p, t).unwrap();
    let (capped, holes) = fill_holes(&tube, None).unwrap();
    assert_eq!((holes.filled, holes.skipped), (2, 0));
    for q in &capped.positions {
        assert!(q.z == 0.0 || q.z == h, "cap vertex off its plane: {q}");
    }
    let (capped, _) = orient_outward(&capped).unwrap();
    let polygon = 0.5 * n as f64 * (r as f64).powi(2) * (std::f64::consts::TAU / n as f64).sin();
    assert!((capped.signed_volume() - polygon * h as f64).abs() < 1e-3 * polygon * h as f64);
    for hole in &holes.holes {
        assert!((hole.area_mm2 - polygon).abs() < 1e-4 * polygon, "{hole:?}");
        assert!(
            (hole.perimeter_mm
                - n as f64 * 2.0 * r as f64 * (std::f64::consts::PI / n as f64).sin())
            .abs()
                < 1e-4
        );
    }
    // --max-hole below the rim size leaves both open and says so.
    let (_, skipped) = fill_holes(&tube, Some(5.0)).unwrap();
    assert_eq!(skipped.skipped, 2);
    assert!(skipped.holes[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("larger than the limit"));
    let (out, log) = repair(&tube, &RepairOptions::default().with_max_hole_mm(Some(5.0))).unwrap();
    assert!(!log.closed && log.problems.iter().any(|p| p.contains("left open")));
    assert_eq!(out.triangles.len(), tube.triangles.len());
}

#[test]
fn nonmanifold_edge_and_vertex_become_separate_sheets() {
    // Two tetrahedra sharing an edge, and a third touching one at a vertex.
    let pts = [
        [0., 0., 0.],
        [1., 0., 0.],
        [0.5, 1., 0.5],
        [0.5, -1., 0.5],
        [0.5, 0.3, -1.],
        [0.5, -0.3, 2.],
        [2., 0., 0.],
        [3., 1., 0.],
        [3., 0., 1.],
    ];
    let tets = [[0u32, 1, 2, 4], [0, 1, 3, 5], [1, 6, 7, 8]];
    let mut t = Vec::new();
    for q in tets {
        // Outward faces of tetrahedron (a, b, c, d) with positive orientation fixed below.
        for f in [[0, 1, 2], [0, 3, 1], [0, 2, 3], [1, 3, 2]] {
            t.push(f.map(|k| q[k]));
        }
    }
    let mut m = Mesh::new(pts.iter().map(|&a| Vec3::from(a)).collect(), t).unwrap();
    // Make each tetrahedron outward.
    for k in 0..3 {
        let part = Mesh {
            positions: m.positions.clone(),
            triangles: m.triangles[4 * k..4 * k + 4].to_vec(),
        };
        if part.signed_volume() < 0.0 {
            for tri in &mut m.triangles[4 * k..4 * k + 4] {
                tri.swap(1, 2);
            }
        }
    }
    let before = report(&m).unwrap();
    assert!(!before.manifold);
    let (split, r) = split_nonmanifold(&m, 1e-6, 1e-5).unwrap();
    assert!(r.edges_split >= 1 && r.vertices_split >= 1, "{r:?}");
    assert!(r.max_displacement_mm <= 1.1e-5, "{r:?}"); // 1e-5 plus f32 rounding
    assert!(report(&split).unwrap().manifold);
    let (out, log) = fix(&m);
    assert_closed(&out);
    assert!(log.closed);
    assert_eq!(report(&out).unwrap().components, 3);
    assert!((out.signed_volume() - m.signed_volume()).abs() < 1e-4);
}

#[test]
fn zero_area_and_duplicate_triangles_are_removed_without_opening() {
    // A cube whose top face has a T-junction: the corner 8 lies on the edge 4-5 and a flat
    // triangle (4, 8, 5) caps it; plus a duplicated face and a two-sided pair.
    let p: Vec<Vec3> = (0..8)
        .map(|i| Vec3::new((i & 1) as f32, ((i >> 1) & 1) as f32, ((i >> 2) & 1) as f32))
        .chain([Vec3::new(0.5, 0.0, 1.0)])
        .collect();
    let quads = [[0, 2, 3, 1], [0, 4, 6, 2], [1, 3, 7, 5], [2, 6, 7, 3]];
    let mut t: Vec<[u32; 3]> = quads
        .iter()
        .flat_map(|q| [[q[0], q[1], q[2]], [q[0], q[2], q[3]]])
        .collect();
    // Top (z = 1) and front (y = 0) faces use corner 8.
    t.extend([[4, 5, 7], [4, 7, 6]]);
    t.extend([[0, 1, 5], [0, 5, 8], [0, 8, 4]]);
    t.push([4, 8, 5]); // flat: 8 is the middle of 4-5
    t.push([0, 2, 3]); // same-winding duplicate
    t.extend([[1, 3, 6], [1, 6, 3]]); // a two-sided sheet inside
    let m = Mesh::new(p, t).unwrap();
    let (out, log) = fix(&m);
    assert_closed(&out);
    assert_eq!(log.degenerate.zero_area_triangles, 1);
    assert_eq!(log.degenerate.neighbours_split, 1);
    assert_eq!(log.degenerate.duplicate_triangles, 3);
    assert_eq!(log.holes.filled, 0);
    assert!((out.signed_volume() - 1.0).abs() < 1e-12);
}

#[test]
fn shells_point_out_cavities_in_and_solids_inside_solids_go() {
    let outer = icosphere(2, 10.0);
    let inner = icosphere(2, 4.0);
    let join = |a: &Mesh, b: &Mesh| {
        let mut m = a.clone();
        let base = m.positions.len() as u32;
        m.positions.extend_from_slice(&b.positions);
        m.triangles
            .extend(b.triangles.iter().map(|t| t.map(|i| i + base)));
        m
    };
    // A proper cavity stays as it is.
    let hollow = join(&outer, &inner.flipped());
    let (out, log) = fix(&hollow);
    assert_eq!(out, hollow);
    assert_eq!(log.orient.cavities, 1);
    // The whole thing inside out: both shells flip, the cavity stays a cavity.
    let (out, log) = fix(&hollow.flipped());
    assert_eq!(out, hollow);
    assert_eq!((log.orient.shells_flipped, log.orient.cavities), (2, 1));
    // A solid inside a solid, wound the same way: redundant for the union, removed.
    let (out, log) = fix(&join(&outer, &inner));
    assert_eq!(out, outer);
    assert_eq!(log.orient.enclosed_shells_removed, 1);
    assert!(log.closed);
}

#[test]
fn public_meshes() {
    // Bunny: holes, non-manifold edges, duplicate faces, inconsistent winding.
    let bunny = read("trimesh_bunny.ply");
    let (out, log) = fix(&bunny);
    assert_closed(&out);
    assert!(log.closed && log.holes.filled >= 5 && log.degenerate.duplicate_triangles > 0);
    assert!(log.deviation.relative_to_bbox < 1e-4, "{:?}", log.deviation);
    let (again, log2) = fix(&out);
    assert!(again == out && !log2.changed);
    // Overlapping shells: topology repaired, the overlaps merged by the union or reported.
    for name in [
        "vtk_footbones.ply",
        "trimesh_teapot.stl",
        "openforge_skull_b.stl",
    ] {
        let m = read(name);
        let (out, log) = fix(&m);
        let r = report(&out).unwrap();
        assert!(
            r.watertight && r.manifold && r.oriented && r.outward,
            "{name}: {:?}",
            r.problems()
        );
        assert!(log.self_intersections.pairs_between_shells > 0, "{name}");
        assert_eq!(
            log.self_intersections.pairs_between_shells, log.self_intersections.pairs_after,
            "{name}: every pair left is between shells"
        );
        // The union of the shells (crates/mesh/tests/union.rs) closes them; when it
        // cannot, the overlaps stay and are reported.
        if log.union.applied {
            assert!(log.closed, "{name}: {:?}", log.problems);
            assert_eq!(r.self_intersecting_faces, Some(0));
        } else {
            assert!(!log.closed, "{name}");
            assert!(
                log.problems.iter().any(|p| p.contains("different shells")),
                "{name}"
            );
            assert_eq!(
                r.self_intersecting_faces,
                Some(log.self_intersections.faces_after)
            );
        }
        assert!(
            log.deviation.relative_to_bbox < 1e-4,
            "{name}: {:?}",
            log.deviation
        );
    }
}

#[test]
fn deterministic_across_thread_counts() {
    let bunny = read("trimesh_bunny.ply");
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let four = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    let (a, mut la) = one.install(|| fix(&bunny));
    let (b, mut lb) = four.install(|| fix(&bunny));
    assert_eq!(a, b);
    // Timings measure the run, not its result.
    assert!(la.timings_s.contains_key("weld") && lb.timings_s.contains_key("weld"));
    la.timings_s.clear();
    lb.timings_s.clear();
    assert_eq!(la, lb);
}

#[test]
fn bad_input_is_an_error() {
    let ok = icosphere(1, 1.0);
    let mut nan = ok.clone();
    nan.positions[3].y = f32::NAN;
    assert!(matches!(
        fix_err(&nan),
        MeshError::NonFinite { vertex: 3, .. }
    ));
    let mut inf = ok.clone();
    inf.positions[0].x = f32::INFINITY;
    assert!(matches!(
        fix_err(&inf),
        MeshError::NonFinite { vertex: 0, .. }
    ));
    let mut bad = ok.clone();
    bad.triangles[2][1] = 9999;
    assert!(matches!(
        fix_err(&bad),
        MeshError::IndexOutOfRange {
            triangle: 2,
            index: 9999,
            ..
        }
    ));
    assert!(matches!(fix_err(&Mesh::default()), MeshError::Empty));
    for o in [
        RepairOptions::default().with_weld_tolerance_mm(Some(-1.0)),
        RepairOptions::default().with_max_hole_mm(Some(f64::NAN)),
        RepairOptions::default().with_min_shell_volume_mm3(f64::INFINITY),
    ] {
        assert!(matches!(repair(&ok, &o), Err(MeshError::InvalidOption(_))));
    }
    // Options round-trip through JSON (recipes and manifests hold them).
    let o = RepairOptions::default().with_max_hole_mm(Some(3.0));
    let back: RepairOptions = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
    assert_eq!(back, o);
}

fn fix_err(m: &Mesh) -> MeshError {
    repair(m, &RepairOptions::default()).expect_err("bad input refused")
}
