//! Self-union of overlapping shells: analytic volumes, nesting, real overlapping meshes.

use osteon_geom::Vec3;
use osteon_mesh::repair::{repair, union_shells, RepairOptions};
use osteon_mesh::shapes::{cuboid, icosphere};
use osteon_mesh::{report, self_intersections, Mesh, RepairLog};

use crate::common::{assert_directed_edges_paired, read};

/// Two meshes as one (shells side by side in one vertex and triangle list).
fn join(a: &Mesh, b: &Mesh) -> Mesh {
    let mut m = a.clone();
    let off = m.positions.len() as u32;
    m.positions.extend_from_slice(&b.positions);
    m.triangles
        .extend(b.triangles.iter().map(|t| t.map(|i| i + off)));
    m
}

/// Closed, 2-manifold, consistently and outward oriented, no self-intersection, and every
/// directed edge has its reverse exactly once (an independent count).
fn assert_solid(m: &Mesh, what: &str) {
    let r = report(m).unwrap();
    assert!(
        r.watertight && r.manifold && r.oriented && r.outward,
        "{what}: {:?}",
        r.problems()
    );
    assert_eq!(r.self_intersecting_faces, Some(0), "{what}");
    assert_directed_edges_paired(m, what);
}

fn fix(m: &Mesh) -> (Mesh, RepairLog) {
    repair(m, &RepairOptions::default()).expect("repair runs")
}

#[test]
fn two_offset_cubes_make_their_union() {
    // Offsets chosen off the cubes' diagonals (generic position); union volume
    // 2 − (1 − a)(1 − b)(1 − c).
    let (a, b, c) = (0.37f32, 0.29f32, 0.23f32);
    let m = join(
        &cuboid(Vec3::ZERO, Vec3::ONE),
        &cuboid(Vec3::new(a, b, c), Vec3::new(1.0 + a, 1.0 + b, 1.0 + c)),
    );
    assert!(!self_intersections(&m).is_empty());
    let (out, log) = fix(&m);
    assert!(log.union.applied, "{:?}", log.union);
    assert!(log.closed, "{:?}", log.problems);
    assert_solid(&out, "cubes");
    let want = 2.0 - ((1.0 - a) * (1.0 - b) * (1.0 - c)) as f64;
    assert!(
        (out.signed_volume() - want).abs() < 1e-5,
        "{} vs {want}",
        out.signed_volume()
    );
    assert!((log.union.volume_after_mm3 - want).abs() < 1e-5);
    assert!((log.union.volume_before_mm3 - 2.0).abs() < 1e-5);
    assert!(log.union.pairs_resolved > 0 && log.union.faces_cut > 0);
    assert!(log.union.faces_removed_interior > 0);
    // Every output vertex is an input corner or on both cubes' surfaces.
    assert!(log.deviation.relative_to_bbox < 1e-6, "{:?}", log.deviation);
    // Idempotent.
    let (again, log2) = fix(&out);
    assert!(!log2.changed && again == out);
}

#[test]
fn two_spheres_union_volume() {
    // Two spheres of radius 1 with centres 1 apart: the lens of overlap is
    // π (4r + d)(2r − d)² / 12; compared with the same formula on the polyhedra's
    // inscribed volumes by the tessellation error bound.
    let s = icosphere(3, 1.0);
    let t = s.map_positions(|p| p + Vec3::new(1.0, 0.013, 0.007));
    let m = join(&s, &t);
    let (out, log) = fix(&m);
    assert!(log.union.applied, "{:?}", log.union);
    assert_solid(&out, "spheres");
    let v1 = s.signed_volume();
    // Union of the two polyhedra: less than the sum, more than one, and close to the
    // analytic union scaled by the polyhedron-to-sphere volume ratio.
    let ratio = v1 / (4.0 / 3.0 * std::f64::consts::PI);
    let d = (1.0f64 + 0.013f64.powi(2) + 0.007f64.powi(2)).sqrt();
    let lens = std::f64::consts::PI * (4.0 + d) * (2.0 - d).powi(2) / 12.0;
    let want = ratio * (2.0 * 4.0 / 3.0 * std::f64::consts::PI - lens);
    let got = out.signed_volume();
    assert!(got > v1 && got < 2.0 * v1);
    assert!((got - want).abs() < 0.01 * want, "{got} vs {want}");
    assert!(log.deviation.relative_to_bbox < 1e-6, "{:?}", log.deviation);
}

#[test]
fn cube_inside_cube_is_dropped_and_poking_cube_is_cut() {
    let outer = cuboid(Vec3::ZERO, Vec3::splat(3.0));
    let inner = cuboid(Vec3::splat(1.0), Vec3::splat(2.0));
    let (out, _) = fix(&join(&outer, &inner));
    assert_solid(&out, "nested");
    assert_eq!(out.triangles.len(), outer.triangles.len());
    assert!((out.signed_volume() - 27.0).abs() < 1e-9);
    // The library call alone, on a cube poking out of another through one face.
    let poke = cuboid(Vec3::new(1.1, 1.2, 1.3), Vec3::new(1.9, 1.8, 3.7));
    let (u, r) = union_shells(&join(&outer, &poke)).unwrap();
    assert!(r.applied, "{r:?}");
    assert_solid(&u, "poke");
    let want = 27.0 + 0.8 * 0.6 * 0.7;
    assert!(
        (u.signed_volume() - want).abs() < 1e-5,
        "{}",
        u.signed_volume()
    );
}

#[test]
fn degenerate_contact_is_nudged_into_general_position() {
    // Cubes offset along one axis only: faces coplanar, edges through edges. The later
    // shell is translated by 5·10⁻⁶ of the diagonal, then cut exactly.
    let m = join(
        &cuboid(Vec3::ZERO, Vec3::ONE),
        &cuboid(Vec3::new(0.5, 0.0, 0.0), Vec3::new(1.5, 1.0, 1.0)),
    );
    let (u, r) = union_shells(&m).unwrap();
    assert!(r.applied, "{r:?}");
    assert!(r.degenerate_pairs > 0 && r.shells_nudged == 1);
    assert_solid(&u, "nudged");
    assert!(
        (u.signed_volume() - 1.5).abs() < 1e-4,
        "{}",
        u.signed_volume()
    );
    // Without the union the overlap stays, reported.
    let (_, log) = repair(
        &m,
        &RepairOptions::default().with_union_overlapping_shells(false),
    )
    .unwrap();
    assert!(!log.closed && !log.union.applied);
}

#[test]
fn real_overlapping_meshes() {
    for name in [
        "vtk_footbones.ply",
        "trimesh_teapot.stl",
        "openforge_skull_b.stl",
    ] {
        let m = read(name);
        let (out, log) = fix(&m);
        assert!(log.union.applied, "{name}: {:?}", log.union);
        assert!(log.closed, "{name}: {:?}", log.problems);
        assert_solid(&out, name);
        // The union holds at least the largest shell and at most their sum.
        let v = out.signed_volume();
        assert!(v <= log.union.volume_before_mm3 + 1e-6, "{name}");
        assert!(
            log.deviation.relative_to_bbox < 1e-4,
            "{name}: {:?}",
            log.deviation
        );
        let (again, log2) = fix(&out);
        assert!(!log2.changed && again == out, "{name}: not idempotent");
        eprintln!("{name}: {:?}", log.union);
    }
}

/// Volume of the intersection of boxes given by their min corners (unit size).
fn overlap(corners: &[[f64; 3]]) -> f64 {
    (0..3)
        .map(|k| {
            let lo = corners.iter().map(|c| c[k]).fold(f64::MIN, f64::max);
            let hi = corners.iter().map(|c| c[k] + 1.0).fold(f64::MAX, f64::min);
            (hi - lo).max(0.0)
        })
        .product()
}

#[test]
fn three_cubes_meet_at_triple_points() {
    // Faces x = 1 of A, y = 0.29 of B and z = 0.43 of C meet inside all three: two
    // intersection curves cross inside triangles there.
    let c = [[0.0, 0.0, 0.0], [0.37, 0.29, 0.23], [0.21, 0.17, 0.43]];
    let cube = |o: [f64; 3]| {
        let o = Vec3::new(o[0] as f32, o[1] as f32, o[2] as f32);
        cuboid(o, o + Vec3::ONE)
    };
    let m = join(&join(&cube(c[0]), &cube(c[1])), &cube(c[2]));
    let (out, log) = fix(&m);
    assert!(log.union.applied, "{:?}", log.union);
    assert!(log.union.triple_points > 0, "{:?}", log.union);
    assert_solid(&out, "three cubes");
    let want = 3.0 - overlap(&c[..2]) - overlap(&[c[0], c[2]]) - overlap(&c[1..]) + overlap(&c);
    assert!(
        (out.signed_volume() - want).abs() < 1e-4,
        "{} vs {want}",
        out.signed_volume()
    );
    let (again, log2) = fix(&out);
    assert!(!log2.changed && again == out);
}

#[test]
fn planar_hole_is_capped_by_constrained_delaunay() {
    // A 40-gon prism of radius 10 (irregular radii) with its top cap missing.
    let n = 40u32;
    let h = 5.0f32;
    let mut positions = Vec::new();
    for i in 0..n {
        let a = i as f32 / n as f32 * std::f32::consts::TAU;
        let r = 10.0 + (i % 3) as f32;
        positions.push(Vec3::new(r * a.cos(), r * a.sin(), 0.0));
        positions.push(Vec3::new(r * a.cos(), r * a.sin(), h));
    }
    let bottom = positions.len() as u32;
    positions.push(Vec3::ZERO);
    let mut triangles = Vec::new();
    for i in 0..n {
        let j = (i + 1) % n;
        triangles.push([2 * i, 2 * j, 2 * j + 1]);
        triangles.push([2 * i, 2 * j + 1, 2 * i + 1]);
        triangles.push([bottom, 2 * j, 2 * i]);
    }
    let m = Mesh::new(positions.clone(), triangles).unwrap();
    let (out, log) = fix(&m);
    assert!(log.closed && log.holes.filled == 1, "{:?}", log.problems);
    assert_solid(&out, "prism");
    // The cap: every new triangle lies in z = h, covering the polygon's area.
    let ring: Vec<Vec3> = (0..n).map(|i| positions[(2 * i + 1) as usize]).collect();
    let poly: f64 = (0..n as usize)
        .map(|i| {
            let (a, b) = (ring[i].as_dvec3(), ring[(i + 1) % n as usize].as_dvec3());
            0.5 * (a.x * b.y - b.x * a.y)
        })
        .sum();
    let cap: Vec<[u32; 3]> = out
        .triangles
        .iter()
        .copied()
        .filter(|t| t.iter().all(|&v| out.positions[v as usize].z == h))
        .collect();
    let area: f64 = cap
        .iter()
        .map(|t| {
            let [a, b, c] = t.map(|v| out.positions[v as usize].as_dvec3());
            0.5 * (b - a).cross(c - a).length()
        })
        .sum();
    assert!((area - poly).abs() < 1e-4 * poly, "{area} vs {poly}");
    assert!((log.holes.holes[0].area_mm2 - poly).abs() < 1e-4 * poly);
    // Locally Delaunay: opposite angles of every interior cap edge sum to at most π.
    let ang = |o: Vec3, a: Vec3, b: Vec3| {
        let (u, v) = ((a - o).as_dvec3(), (b - o).as_dvec3());
        u.cross(v).length().atan2(u.dot(v))
    };
    for (i, t) in cap.iter().enumerate() {
        for k in 0..3 {
            let (a, b) = (t[k], t[(k + 1) % 3]);
            let Some(u) = cap
                .iter()
                .find(|u| (0..3).any(|e| u[e] == b && u[(e + 1) % 3] == a))
            else {
                continue;
            };
            let c = t[(k + 2) % 3];
            let d = *u.iter().find(|&&x| x != a && x != b).unwrap();
            let p = |v: u32| out.positions[v as usize];
            let s = ang(p(c), p(a), p(b)) + ang(p(d), p(a), p(b));
            assert!(s <= std::f64::consts::PI + 1e-6, "cap triangle {i}: {s}");
        }
    }
}

#[test]
fn union_is_deterministic_across_thread_counts() {
    let m = read("openforge_skull_b.stl");
    let run = |n: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap();
        pool.install(|| union_shells(&fix_no_union(&m)).unwrap())
    };
    let (a, ra) = run(1);
    let (b, rb) = run(4);
    assert!(ra.applied && ra.triple_points > 0, "{ra:?}");
    assert_eq!(a, b);
    assert_eq!(ra, rb);
}

/// Repair without the union: closed, outward shells that still overlap.
fn fix_no_union(m: &Mesh) -> Mesh {
    repair(
        m,
        &RepairOptions::default().with_union_overlapping_shells(false),
    )
    .unwrap()
    .0
}
