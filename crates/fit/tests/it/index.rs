use osteon_fit::SignedIndex;
use osteon_geom::{DVec3, Vec3};
use osteon_mesh::distance::DistanceIndex;
use osteon_mesh::shapes::icosphere;
use osteon_mesh::{Mesh, Topology};

/// Deterministic points in a cube of half-size `h` (a 64-bit LCG).
fn points(n: usize, h: f64) -> Vec<DVec3> {
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    };
    (0..n)
        .map(|_| DVec3::new(next(), next(), next()) * h)
        .collect()
}

#[test]
fn warm_started_queries_match_cold_ones() {
    // A bumpy sphere: the closest triangle changes often between neighbouring points.
    let m = icosphere(4, 10.0).map_positions(|p| p * (1.0 + 0.05 * (3.0 * p.x).sin()));
    let index = DistanceIndex::new(&m).unwrap();
    let pts = points(3000, 14.0);
    let cold: Vec<f64> = pts
        .iter()
        .map(|&p| index.closest_point_f64(p, f64::INFINITY).unwrap().distance)
        .collect();
    // Any hint, near or far, gives the same distance.
    for (i, (&p, &d)) in pts.iter().zip(&cold).enumerate() {
        let hint = (i * 7919 % m.triangles.len()) as u32;
        let c = index.closest_point_near(p, hint);
        // Equally close triangles (a closest point on a shared edge) may differ in the last bit.
        assert!((c.distance - d).abs() <= 1e-12 * d.max(1.0), "point {i}");
        let corners = m.triangles[c.triangle as usize].map(|v| m.positions[v as usize].as_dvec3());
        assert_eq!(index.triangle_corners(c.triangle), &corners);
    }
    // Batches: same distances, and a hint out of range is no hint.
    let batch = index.closest_points(&pts);
    assert_eq!(batch.len(), pts.len());
    for (c, &d) in batch.iter().zip(&cold) {
        assert!((c.distance - d).abs() <= 1e-12 * d.max(1.0));
    }
    assert_eq!(index.closest_point_near(pts[0], u32::MAX).distance, cold[0]);
}

#[test]
fn signed_index_signs_match_the_sphere() {
    let r = 10.0;
    let m = icosphere(3, r as f32);
    let idx = SignedIndex::new(&m).unwrap();
    assert!(idx.solid() && !idx.check().flipped);
    // Inscribed polyhedron: inside below its inradius, outside beyond its circumradius.
    let inr = crate::sagitta(&m, r);
    let pts = points(4000, 14.0);
    let q = idx.query_many(&pts);
    let mut checked = 0;
    for (p, a) in pts.iter().zip(&q) {
        let l = p.length();
        if l < r - inr - 1e-6 {
            assert!(a.distance < 0.0, "{p} inside, got {}", a.distance);
            checked += 1;
        } else if l > r + 1e-6 {
            assert!(a.distance > 0.0, "{p} outside, got {}", a.distance);
            checked += 1;
        }
        assert!((a.distance - idx.query(*p).distance).abs() <= 1e-12);
    }
    assert!(checked > 3000);
    // Points exactly on vertices' and edges' normals (vertex / edge pseudo-normals).
    for v in m.positions.iter().take(50) {
        let v = v.as_dvec3();
        assert!(idx.query(v * 0.97).distance < 0.0 && idx.query(v * 1.03).distance > 0.0);
    }
    let t = m.triangles[0].map(|i| m.positions[i as usize].as_dvec3());
    let e = (t[0] + t[1]) * 0.5;
    assert!(idx.query(e * 0.99).distance < 0.0 && idx.query(e * 1.01).distance > 0.0);
    // Inside-out: the same signs, marked flipped.
    let f = SignedIndex::new(&m.flipped()).unwrap();
    assert!(f.solid() && f.check().flipped);
    for p in pts.iter().take(500) {
        assert!((f.query(*p).distance - idx.query(*p).distance).abs() <= 1e-12);
    }
}

#[test]
fn pinched_vertex_is_no_solid() {
    // Two tetrahedra touching at one vertex: closed and edge-manifold, but pinched.
    let tet = |o: Vec3, s: f32| {
        let p = vec![o, o + Vec3::X * s, o + Vec3::Y * s, o + Vec3::Z * s];
        Mesh::new(p, vec![[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]).unwrap()
    };
    let a = tet(Vec3::ZERO, 1.0);
    let b = tet(Vec3::ZERO, -1.0);
    let mut m = a.clone();
    // b's corner 0 is a's corner 0; b is mirrored, so reverse its triangles.
    m.positions.extend(b.positions[1..].iter().copied());
    m.triangles.extend(
        b.triangles
            .iter()
            .map(|t| t.map(|i| if i == 0 { 0 } else { i + 3 }))
            .map(|t| [t[0], t[2], t[1]]),
    );
    let topo = Topology::new(&m).unwrap();
    let idx = SignedIndex::new(&m).unwrap();
    let c = idx.check();
    assert_eq!(c.boundary_edges, 0);
    assert_eq!(c.nonmanifold_edges, 0);
    assert_eq!(c.nonmanifold_vertices, topo.nonmanifold_vertices());
    assert_eq!(c.nonmanifold_vertices, 1);
    assert!(!c.solid, "{}", c.problem());
    // Each tetrahedron alone is a solid.
    assert!(SignedIndex::new(&a).unwrap().solid());
}
