//! `Topology` and `MeshReport` on meshes whose answers are known.

use osteon_geom::Vec3;
use osteon_mesh::{report, Mesh, MeshReport, Topology};
use proptest::prelude::*;

fn mesh(p: &[[f32; 3]], t: &[[u32; 3]]) -> Mesh {
    Mesh::new(p.iter().map(|&a| Vec3::from(a)).collect(), t.to_vec()).unwrap()
}

fn tet() -> Mesh {
    mesh(
        &[[0., 0., 0.], [1., 0., 0.], [0., 1., 0.], [0., 0., 1.]],
        &[[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]],
    )
}

/// Axis-aligned cube `[lo, hi]³`, outward, 12 triangles.
fn cube(lo: f32, hi: f32) -> Mesh {
    osteon_mesh::shapes::cuboid(Vec3::splat(lo), Vec3::splat(hi))
}

/// Concatenation of meshes (indices shifted).
fn join(meshes: &[Mesh]) -> Mesh {
    let mut out = Mesh::default();
    for m in meshes {
        let base = out.positions.len() as u32;
        out.positions.extend_from_slice(&m.positions);
        out.triangles
            .extend(m.triangles.iter().map(|t| t.map(|i| i + base)));
    }
    out
}

use osteon_mesh::shapes::torus;

fn rep(m: &Mesh) -> MeshReport {
    report(m).unwrap()
}

/// The counts that must match, as a compact tuple:
/// (components, boundary, nonmanifold edges, nonmanifold vertices, inconsistent,
///  degenerate, duplicate).
fn counts(r: &MeshReport) -> [usize; 7] {
    [
        r.components,
        r.boundary_edges,
        r.nonmanifold_edges,
        r.nonmanifold_vertices,
        r.inconsistent_edges,
        r.degenerate_triangles,
        r.duplicate_triangles,
    ]
}

#[test]
fn tetrahedron() {
    let r = rep(&tet());
    assert_eq!(counts(&r), [1, 0, 0, 0, 0, 0, 0]);
    assert!(r.watertight && r.manifold && r.oriented && r.outward);
    assert_eq!(r.genus, Some(0));
    assert_eq!(r.euler_characteristic, 2);
    assert!((r.volume_mm3 - 1.0 / 6.0).abs() < 1e-12);
    assert!(r.problems().is_empty(), "{:?}", r.problems());
}

#[test]
fn cube_report() {
    let r = rep(&cube(0.0, 2.0));
    assert_eq!(counts(&r), [1, 0, 0, 0, 0, 0, 0]);
    assert!(r.watertight && r.manifold && r.oriented && r.outward);
    assert_eq!(r.genus, Some(0));
    assert!((r.volume_mm3 - 8.0).abs() < 1e-12);
    assert!((r.area_mm2 - 24.0).abs() < 1e-12);
    let b = r.bbox_mm.unwrap();
    assert_eq!((b.min, b.max), ([0.0; 3], [2.0; 3]));
    // Inside out: closed and oriented, but not outward.
    let r = rep(&cube(0.0, 2.0).flipped());
    assert!(r.watertight && r.oriented && !r.outward);
    assert!((r.volume_mm3 + 8.0).abs() < 1e-12);
    assert!(
        r.problems()[0].starts_with("inside out"),
        "{:?}",
        r.problems()
    );
}

#[test]
fn open_cube_has_one_hole() {
    let mut m = cube(0.0, 1.0);
    m.triangles.drain(0..2);
    let r = rep(&m);
    assert_eq!(counts(&r), [1, 4, 0, 0, 0, 0, 0]);
    assert!(!r.watertight && r.manifold && r.oriented && !r.outward);
    assert_eq!(r.genus, None);
    assert_eq!(r.euler_characteristic, 1); // a disc
    assert_eq!(r.problems(), vec!["4 boundary edges (holes)".to_string()]);
}

#[test]
fn two_tets_sharing_an_edge() {
    // Second tetrahedron on the same edge 0–1, on the other side.
    let mut m = tet();
    m.positions.push(Vec3::new(0.0, -1.0, 0.0));
    m.positions.push(Vec3::new(0.0, 0.0, -1.0));
    m.triangles
        .extend_from_slice(&[[0, 1, 4], [0, 5, 1], [0, 4, 5], [1, 5, 4]]);
    let r = rep(&m);
    assert_eq!(r.nonmanifold_edges, 1);
    assert_eq!(r.boundary_edges, 0);
    assert_eq!(r.components, 1);
    // Both directions of the edge are used twice: two winding conflicts by definition.
    assert_eq!(r.inconsistent_edges, 2);
    assert!(!r.watertight && !r.manifold && !r.oriented && r.genus.is_none());
    let topo = Topology::new(&m).unwrap();
    let nm = topo
        .opposites()
        .iter()
        .filter(|&&o| o == osteon_mesh::topology::NONMANIFOLD)
        .count();
    assert_eq!(nm, 4);
}

#[test]
fn two_tets_sharing_a_vertex() {
    let a = tet();
    let b = tet().map_positions(|p| -p); // point reflection: inside out, flip back
    let b = b.flipped();
    let mut m = join(&[a, b]);
    // Weld the second tet's vertex 0 (index 4) onto the first's.
    for t in &mut m.triangles {
        for i in t.iter_mut() {
            if *i == 4 {
                *i = 0;
            }
        }
    }
    let r = rep(&m);
    assert_eq!(counts(&r), [2, 0, 0, 1, 0, 0, 0]);
    assert_eq!(r.unreferenced_vertices, 1);
    assert!(r.watertight && !r.manifold && r.oriented && r.outward);
    assert_eq!(r.genus, None);
    assert!((r.volume_mm3 - 2.0 / 6.0).abs() < 1e-12);
}

#[test]
fn flipped_triangle_is_inconsistent() {
    let mut m = cube(0.0, 1.0);
    let [a, b, c] = m.triangles[5];
    m.triangles[5] = [a, c, b];
    let r = rep(&m);
    assert_eq!(counts(&r), [1, 0, 0, 0, 3, 0, 0]);
    assert!(r.watertight && r.manifold && !r.oriented && !r.outward);
    assert_eq!(r.genus, None);
}

#[test]
fn torus_has_genus_one() {
    let m = torus(3.0, 1.0, 48, 24);
    let r = rep(&m);
    assert_eq!(counts(&r), [1, 0, 0, 0, 0, 0, 0]);
    assert!(r.watertight && r.manifold && r.oriented && r.outward);
    assert_eq!(r.euler_characteristic, 0);
    assert_eq!(r.genus, Some(1));
    let exact = 2.0 * std::f64::consts::PI.powi(2) * 3.0;
    assert!(
        (r.volume_mm3 / exact - 1.0).abs() < 0.02,
        "{}",
        r.volume_mm3
    );
    // Two tori: genus adds up.
    let two = join(&[
        m.clone(),
        m.map_positions(|p| p + Vec3::new(10.0, 0.0, 0.0)),
    ]);
    assert_eq!(rep(&two).genus, Some(2));
}

#[test]
fn cube_with_cavity() {
    let m = join(&[cube(0.0, 2.0), cube(0.5, 1.5).flipped()]);
    let r = rep(&m);
    assert_eq!(counts(&r), [2, 0, 0, 0, 0, 0, 0]);
    assert!(r.watertight && r.manifold && r.oriented && r.outward);
    assert_eq!(r.genus, Some(0));
    assert_eq!(r.euler_characteristic, 4);
    assert!((r.volume_mm3 - 7.0).abs() < 1e-12);
    let topo = Topology::new(&m).unwrap();
    assert_eq!(topo.triangle_components()[0], 0);
    assert_eq!(topo.triangle_components()[12], 1);
    assert!(topo.components().iter().all(|c| c.is_closed()));
}

#[test]
fn degenerate_and_duplicate_triangles() {
    let mut m = tet();
    m.positions.push(Vec3::new(0.5, 0.0, 0.0)); // 4: on edge 0–1
    m.triangles.push([0, 4, 1]); // zero area
    m.triangles.push([2, 2, 3]); // repeated index
    m.triangles.push([1, 3, 0]); // same vertex set as [0, 1, 3]
    let r = rep(&m);
    assert_eq!(r.degenerate_triangles, 2);
    assert_eq!(r.duplicate_triangles, 1);
    assert!(!r.watertight);
    let p = r.problems();
    assert!(
        p.contains(&"2 degenerate triangles (zero area)".to_string()),
        "{p:?}"
    );
    assert!(p.contains(&"1 duplicate triangle".to_string()), "{p:?}");
}

#[test]
fn duplicate_face_conflicts_with_its_twin() {
    // [1, 3, 0] is the same cycle as [0, 1, 3]: its three edges now carry three triangles
    // each, and each edge's direction of the duplicated face is used twice.
    let mut m = tet();
    m.triangles.push([1, 3, 0]);
    let r = rep(&m);
    // Its corners join the others only through non-manifold edges: three vertices with
    // two fans each.
    assert_eq!(counts(&r), [1, 0, 3, 3, 3, 0, 1]);
    assert!(!r.watertight && !r.manifold && !r.oriented);
    // Reversed duplicate: on a closed surface every direction is already used once, so a
    // third triangle on an edge always repeats one.
    let mut m = tet();
    m.triangles.push([0, 3, 1]);
    let r = rep(&m);
    assert_eq!(counts(&r), [1, 0, 3, 3, 3, 0, 1]);
}

#[test]
fn empty_mesh() {
    let r = rep(&Mesh::default());
    assert_eq!(r.triangles, 0);
    assert!(!r.watertight && !r.outward);
    assert_eq!(r.bbox_mm, None);
    assert_eq!(r.problems(), vec!["no triangles".to_string()]);
    let j = serde_json::to_value(&r).unwrap();
    assert!(j["bbox_mm"].is_null());
}

#[test]
fn bad_index_is_an_error() {
    let m = Mesh {
        positions: vec![Vec3::ZERO; 3],
        triangles: vec![[0, 1, 7]],
    };
    assert!(matches!(
        report(&m),
        Err(osteon_mesh::MeshError::IndexOutOfRange { index: 7, .. })
    ));
}

#[test]
fn validation_names_the_first_bad_vertex_and_triangle() {
    // Large enough for several parallel runs: the first bad item in mesh order is named,
    // whatever run it falls in.
    let n = 200_000;
    let mut m = Mesh {
        positions: vec![Vec3::ONE; n],
        triangles: vec![[0, 1, 2]; n],
    };
    assert!(m.validate().is_ok());
    m.positions[150_001] = Vec3::new(1.0, f32::NAN, 0.0);
    m.positions[70_000] = Vec3::new(f32::INFINITY, 0.0, 0.0);
    assert!(matches!(
        m.validate(),
        Err(osteon_mesh::MeshError::NonFinite { vertex: 70_000, .. })
    ));
    m.positions[70_000] = Vec3::ONE;
    m.positions[150_001] = Vec3::ONE;
    m.triangles[199_999] = [0, n as u32, 1];
    m.triangles[131_072] = [0, 1, n as u32 + 5];
    assert!(matches!(
        m.validate(),
        Err(osteon_mesh::MeshError::IndexOutOfRange { triangle: 131_072, index, .. }) if index == n as u32 + 5
    ));
}

#[test]
fn json_keys() {
    let j = serde_json::to_value(rep(&cube(0.0, 1.0))).unwrap();
    let mut keys: Vec<&str> = j.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort();
    let mut want = vec![
        "vertices",
        "triangles",
        "components",
        "boundary_edges",
        "nonmanifold_edges",
        "nonmanifold_vertices",
        "inconsistent_edges",
        "degenerate_triangles",
        "duplicate_triangles",
        "watertight",
        "manifold",
        "oriented",
        "outward",
        "volume_mm3",
        "area_mm2",
        "genus",
        "euler_characteristic",
        "bbox_mm",
        "unreferenced_vertices",
        "self_intersecting_faces",
    ];
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(j["bbox_mm"]["max"], serde_json::json!([1.0, 1.0, 1.0]));
    let back: MeshReport = serde_json::from_value(j).unwrap();
    assert_eq!(back, rep(&cube(0.0, 1.0)));
}

#[test]
fn display_is_short() {
    let s = rep(&cube(0.0, 1.0)).to_string();
    assert!(s.lines().count() <= 6, "{s}");
    assert!(s.contains("watertight: yes"), "{s}");
    assert!(s.contains("problems: none"), "{s}");
}

#[test]
fn big_mesh_same_report_on_any_thread_count() {
    // > 2 chunks of 2^14 triangles, so the parallel reductions really split.
    let m = torus(30.0, 10.0, 400, 100);
    let with = |n: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
            .install(|| (rep(&m), Topology::new(&m).unwrap()))
    };
    let one = with(1);
    assert_eq!(one, with(3));
    assert_eq!(one.0.genus, Some(1));
}

fn same_up_to_rounding(a: &MeshReport, b: &MeshReport) {
    assert_eq!(counts(a), counts(b));
    assert_eq!(
        (a.vertices, a.triangles, a.unreferenced_vertices),
        (b.vertices, b.triangles, b.unreferenced_vertices)
    );
    assert_eq!(
        (
            a.watertight,
            a.manifold,
            a.oriented,
            a.genus,
            a.euler_characteristic
        ),
        (
            b.watertight,
            b.manifold,
            b.oriented,
            b.genus,
            b.euler_characteristic
        )
    );
    assert_eq!(a.bbox_mm, b.bbox_mm);
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * (1.0 + x.abs().max(y.abs()));
    assert!(close(a.volume_mm3, b.volume_mm3));
    assert!(close(a.area_mm2, b.area_mm2));
}

fn arb_mesh() -> impl Strategy<Value = Mesh> {
    (1usize..12).prop_flat_map(|nv| {
        (
            prop::collection::vec(prop::array::uniform3(-4i8..4), nv),
            prop::collection::vec(prop::array::uniform3(0..nv as u32), 0..40),
        )
            .prop_map(|(p, t)| Mesh {
                positions: p
                    .into_iter()
                    .map(|a| Vec3::new(a[0] as f32, a[1] as f32, a[2] as f32))
                    .collect(),
                triangles: t,
            })
    })
}

proptest! {
    #[test]
    fn random_meshes_never_panic(m in arb_mesh()) {
        let r = rep(&m);
        let _ = r.to_string();
        let _ = r.problems();
        let topo = Topology::new(&m).unwrap();
        // Opposites are symmetric.
        for (c, &o) in topo.opposites().iter().enumerate() {
            if let Some(o) = topo.opposite(c) {
                prop_assert_eq!(topo.opposites()[o as usize] as usize, c);
            } else {
                prop_assert!(o >= osteon_mesh::topology::DEGENERATE);
            }
        }
        prop_assert_eq!(
            topo.components().iter().map(|c| c.triangles).sum::<usize>(),
            m.triangles.len()
        );
    }

    #[test]
    fn report_ignores_triangle_order(m in arb_mesh(), seed in any::<u64>()) {
        let mut p = m.clone();
        // Fisher–Yates with a small LCG.
        let mut s = seed;
        for i in (1..p.triangles.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let j = (s >> 33) as usize % (i + 1);
            p.triangles.swap(i, j);
        }
        same_up_to_rounding(&rep(&m), &rep(&p));
    }

    #[test]
    fn report_ignores_thread_count(m in arb_mesh()) {
        let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
        let a = pool(1).install(|| rep(&m));
        let b = pool(4).install(|| rep(&m));
        prop_assert_eq!(a, b);
    }
}
