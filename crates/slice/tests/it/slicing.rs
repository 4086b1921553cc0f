//! Contours: closure, orientation, nesting, ties, areas, volume, bad input, determinism.

use osteon_mesh::shapes::icosphere;
use osteon_mesh::Mesh;
use osteon_slice::{slice, slice_to_vec, Layer, SliceError, SliceOptions};

use crate::common::{brute_area, join, ngon_area, prism};

fn layers(mesh: &Mesh, h: f64) -> Vec<Layer> {
    slice_to_vec(mesh, &SliceOptions::default().with_layer_height_mm(h))
        .unwrap()
        .1
}

/// Every loop closed (≥ 3 distinct points, no open chain), outer CCW / holes CW, and the
/// area equal to the brute-force oracle at the same plane.
fn check_exact(mesh: &Mesh, h: f64, rel: f64) -> Vec<Layer> {
    let ls = layers(mesh, h);
    for l in &ls {
        assert!(l.open.is_empty(), "layer {} has open chains", l.index);
        assert_eq!(l.reoriented, 0, "layer {} needed reorienting", l.index);
        for lp in &l.loops {
            assert!(lp.points.len() >= 3);
            assert_eq!(
                lp.area_mm2 > 0.0,
                !lp.is_hole(),
                "layer {}: orientation vs depth",
                l.index
            );
        }
        let oracle = brute_area(mesh, l.z_mm);
        let a = l.area_mm2();
        assert!(
            (a - oracle).abs() <= rel * oracle.abs().max(1e-9),
            "layer {} z {}: area {a} vs oracle {oracle}",
            l.index,
            l.z_mm
        );
    }
    ls
}

#[test]
fn prism_sections_are_the_polygon_even_with_vertices_on_every_plane() {
    // Rings at z = -0.5, 0, 1, ..., 9: with h = 1 and z_min = -0.5 the planes are z = 0..9,
    // so every plane passes exactly through a ring of vertices and edges, and the top cap
    // lies in the last plane.
    let mut zs = vec![-0.5f32];
    zs.extend((0..=9).map(|z| z as f32));
    let m = prism(24, 10.0, 3.0, -2.0, &zs);
    let ls = check_exact(&m, 1.0, 1e-12);
    assert_eq!(ls.len(), 10);
    let expect = ngon_area(24, 10.0);
    for l in &ls {
        assert_eq!(l.loops.len(), 1, "layer {}", l.index);
        assert_eq!(l.loops[0].points.len(), 24, "each ring vertex once");
        assert!(
            (l.area_mm2() - expect).abs() < 1e-4 * expect,
            "{} vs {expect}",
            l.area_mm2()
        );
        assert_eq!(l.z_mm, l.index as f64);
    }
}

#[test]
fn sphere_areas_match_brute_force_and_volume_converges() {
    let r = 20.0;
    let m = icosphere(5, r);
    let ls = check_exact(&m, 0.1, 1e-9);
    assert!(ls.iter().all(|l| l.loops.len() == 1));
    let v: f64 = ls.iter().map(|l| l.area_mm2() * 0.1).sum();
    let rel = v / m.signed_volume() - 1.0;
    assert!(rel.abs() < 0.005, "volume from layers off by {rel}");
    // Against the analytic sphere too (the icosphere is inscribed: slightly smaller).
    let mid = &ls[ls.len() / 2];
    let analytic = std::f64::consts::PI * (r as f64 * r as f64 - mid.z_mm * mid.z_mm);
    assert!((mid.area_mm2() / analytic - 1.0).abs() < 0.01);
}

#[test]
fn nesting_tree_outer_hole_island() {
    // Solid cylinder r 20, a cavity r 12 inside it, and a rod r 5 inside the cavity.
    let outer = prism(48, 20.0, 0.0, 0.0, &[0.0, 30.0]);
    let cavity = prism(40, 12.0, 0.0, 0.0, &[2.0, 28.0]).flipped();
    let rod = prism(32, 5.0, 0.0, 0.0, &[4.0, 26.0]);
    let m = join(&[outer, cavity, rod]);
    let ls = check_exact(&m, 0.5, 1e-10);
    let mid = &ls[30];
    assert_eq!(mid.loops.len(), 3);
    let mut by_depth: Vec<_> = mid.loops.iter().enumerate().collect();
    by_depth.sort_by_key(|(_, l)| l.depth);
    let (i0, l0) = by_depth[0];
    let (i1, l1) = by_depth[1];
    let (_, l2) = by_depth[2];
    assert_eq!((l0.depth, l1.depth, l2.depth), (0, 1, 2));
    assert_eq!(l0.parent, None);
    assert_eq!(l1.parent, Some(i0));
    assert_eq!(l2.parent, Some(i1));
    assert!(l0.area_mm2 > 0.0 && l1.area_mm2 < 0.0 && l2.area_mm2 > 0.0);
    let expect = ngon_area(48, 20.0) - ngon_area(40, 12.0) + ngon_area(32, 5.0);
    assert!((mid.area_mm2() - expect).abs() < 1e-4 * expect);
    // Below the cavity: one solid disc.
    assert_eq!(ls[1].loops.len(), 1);
}

#[test]
fn inverted_mesh_is_reoriented_and_counted() {
    let m = prism(16, 5.0, 0.0, 0.0, &[0.0, 4.0]).flipped();
    let ls = layers(&m, 1.0);
    for l in &ls {
        assert_eq!(l.reoriented, 1);
        assert!(
            l.loops[0].area_mm2 > 0.0,
            "outer loop made counter-clockwise"
        );
    }
}

#[test]
fn open_mesh_gives_open_polylines_or_an_error() {
    let mut m = icosphere(3, 10.0);
    // Remove a band of triangles crossing z = 0.
    m.triangles.retain(|t| {
        let zs = t.map(|v| m.positions[v as usize].z);
        !(zs.iter().any(|&z| z > 0.0)
            && zs.iter().any(|&z| z < 0.0)
            && m.positions[t[0] as usize].x > 0.0)
    });
    let (_, ls) = slice_to_vec(&m, &SliceOptions::default().with_layer_height_mm(0.5)).unwrap();
    let open: Vec<_> = ls.iter().filter(|l| !l.open.is_empty()).collect();
    assert!(!open.is_empty());
    for l in &open {
        assert!(l.open.iter().all(|p| p.len() >= 2));
        assert!(l.open.iter().all(|p| p[0] != p[p.len() - 1]));
    }
    // Layers away from the hole stay closed.
    assert!(ls.first().unwrap().open.is_empty() && ls.last().unwrap().open.is_empty());
    let err = slice_to_vec(
        &m,
        &SliceOptions::default()
            .with_layer_height_mm(0.5)
            .with_allow_open(false),
    )
    .unwrap_err();
    assert!(
        matches!(err, SliceError::OpenContours { open_polylines, .. } if open_polylines > 0),
        "{err}"
    );
}

#[test]
fn bad_input_gives_clear_errors() {
    let empty = Mesh::new(vec![], vec![]).unwrap();
    let e = slice_to_vec(&empty, &SliceOptions::default()).unwrap_err();
    assert!(matches!(e, SliceError::EmptyMesh));
    assert_eq!(e.to_string(), "the mesh has no triangles");
    let m = icosphere(1, 1.0);
    for h in [0.0, -0.1, f64::NAN, f64::INFINITY] {
        let e = slice_to_vec(&m, &SliceOptions::default().with_layer_height_mm(h)).unwrap_err();
        assert!(matches!(e, SliceError::InvalidLayerHeight(_)), "{h}: {e}");
        assert!(e.to_string().contains("layer height"));
    }
    let mut nan = icosphere(1, 1.0);
    nan.positions[0].x = f32::NAN;
    assert!(matches!(
        slice_to_vec(&nan, &SliceOptions::default()),
        Err(SliceError::Mesh(_))
    ));
}

#[test]
fn same_layers_at_any_thread_count_and_batch_size() {
    let m = icosphere(4, 7.0);
    let run = |threads: usize, batch: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                slice_to_vec(
                    &m,
                    &SliceOptions::default()
                        .with_layer_height_mm(0.05)
                        .with_batch_layers(batch),
                )
                .unwrap()
                .1
            })
    };
    let a = run(1, 1000);
    assert_eq!(a, run(2, 7));
    assert_eq!(a, run(3, 1));
}

#[test]
fn sink_receives_layers_in_order_and_cancel_stops() {
    struct Order(Vec<usize>);
    impl osteon_slice::LayerSink for Order {
        fn layer(&mut self, l: Layer) -> Result<(), SliceError> {
            self.0.push(l.index);
            Ok(())
        }
    }
    let m = icosphere(3, 5.0);
    let mut s = Order(Vec::new());
    let o = SliceOptions::default()
        .with_layer_height_mm(0.1)
        .with_batch_layers(9);
    let plan = slice(
        &m,
        &o,
        &mut s,
        &osteon_geom::NoProgress,
        &osteon_geom::NeverCancel,
    )
    .unwrap();
    assert_eq!(s.0, (0..plan.count).collect::<Vec<_>>());
    let stop = std::sync::atomic::AtomicBool::new(true);
    let e = slice(
        &m,
        &o,
        &mut Order(Vec::new()),
        &osteon_geom::NoProgress,
        &stop,
    )
    .unwrap_err();
    assert!(matches!(e, SliceError::Cancelled));
}
