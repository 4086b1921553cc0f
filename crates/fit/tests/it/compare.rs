use osteon_fit::compare::area_samples;
use osteon_fit::phantom::box_mesh;
use osteon_fit::{compare, compare_with, CompareOptions, FitError, Sampling};
use osteon_geom::Vec3;
use osteon_mesh::Mesh;

use crate::scans;

#[test]
fn box_against_a_taller_box() {
    // A = [0,10]³, B = A with its top raised by 0.5 mm: every integral is exact.
    let a = box_mesh(Vec3::ZERO, Vec3::splat(10.0));
    let b = box_mesh(Vec3::ZERO, Vec3::new(10.0, 10.0, 10.5));
    let r = compare(&a, &b).unwrap();
    // A's top: min(0.5, distance to the square's border); its other faces lie on B.
    let band = 4.0 * (10.0 * 0.125 - 2.0 * 0.125 / 3.0);
    let ab = 81.0 * 0.5 + band;
    // B's top 0.5 mm from A's; its side strips rise linearly from 0 to 0.5.
    let ba = 100.0 * 0.5 + 4.0 * 10.0 * 0.125;
    let (area_a, area_b) = (600.0, 620.0);
    assert!(
        (r.a_to_b.mean_mm - ab / area_a).abs() < 1e-4,
        "{}",
        r.a_to_b.mean_mm
    );
    assert!(
        (r.b_to_a.mean_mm - ba / area_b).abs() < 1e-4,
        "{}",
        r.b_to_a.mean_mm
    );
    assert!((r.mean_mm - (ab + ba) / (area_a + area_b)).abs() < 1e-4);
    let ab2: f64 = 81.0 * 0.25 + 4.0 * (10.0 * 0.125 / 3.0 - 2.0 * 0.0625 / 4.0);
    let ba2 = 25.0 + 40.0 * 0.125 / 3.0;
    assert!(
        (r.rms_mm - ((ab2 + ba2) / 1220.0).sqrt()).abs() < 1e-4,
        "{}",
        r.rms_mm
    );
    assert!((r.hausdorff_mm - 0.5).abs() < 1e-4 && r.a_to_b.max_certified_mm <= 1e-3);
    assert!((r.hd95_mm - 0.5).abs() < 1e-4);
    // B: 500 of 620 mm² lie on A (80.6 %), the top (16.1 %) 0.5 mm away.
    assert!((r.b_to_a.hd95_mm - 0.5).abs() < 1e-12);
    let p80 = compare_with(
        &a,
        &b,
        &CompareOptions::default().with_percentile(80.0),
        &osteon_geom::NoProgress,
        &osteon_geom::NeverCancel,
    )
    .unwrap();
    assert!(p80.b_to_a.hd95_mm < 1e-12, "{}", p80.b_to_a.hd95_mm);
    // A lies inside B: negative signed mean; B outside A: positive.
    assert!((r.signed_mean_mm.unwrap() + ab / area_a).abs() < 1e-4);
    assert!((r.b_to_a.signed_mean_mm.unwrap() - ba / area_b).abs() < 1e-4);
    assert!((r.a_to_b.area_mm2 - 600.0).abs() < 1e-9);
}

#[test]
fn samples_cover_the_area_exactly() {
    let a = box_mesh(Vec3::ZERO, Vec3::new(3.0, 1.0, 7.0));
    let s = area_samples(&a, 10_000);
    let w: f64 = s.iter().map(|x| x.1).sum();
    assert!((w - a.area()).abs() < 1e-9);
    assert!(s.len() >= 5_000 && s.len() <= 40_000, "{}", s.len());
    // Centroid of the samples = centroid of the surface.
    let c = s
        .iter()
        .fold(osteon_geom::DVec3::ZERO, |c, x| c + x.0 * x.1)
        / w;
    assert!((c - osteon_geom::DVec3::new(1.5, 0.5, 3.5)).length() < 1e-9);
}

#[test]
fn femur_against_itself_moved() {
    let femur =
        osteon_io::read_mesh(&scans().join("meshes/openforge_leg-right_femur.stl")).unwrap();
    let same = compare(&femur, &femur).unwrap();
    // Zero up to the rounding of f64 closest points.
    assert!(same.hausdorff_mm < 1e-12 && same.mean_mm < 1e-12 && same.hd95_mm < 1e-12);
    let t = Vec3::new(0.3, 0.0, 0.0);
    let moved = femur.map_positions(|p| p + t);
    let r = compare(&femur, &moved).unwrap();
    // Moving a surface by t moves no point farther than |t| from the moved surface.
    assert!(
        r.hausdorff_mm <= 0.3 + 1e-5 && r.hausdorff_mm > 0.25,
        "{}",
        r.hausdorff_mm
    );
    assert!(r.mean_mm < r.hd95_mm && r.hd95_mm <= r.hausdorff_mm);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn open_meshes_compare_unsigned_with_a_warning() {
    let teapot = osteon_io::read_mesh(&scans().join("meshes/trimesh_teapot.stl")).unwrap();
    let r = compare(&teapot, &teapot.map_positions(|p| p * 1.01)).unwrap();
    assert!(r.signed_mean_mm.is_none() && r.hausdorff_mm > 0.0);
    assert!(r.warnings.iter().any(|w| w.contains("not a closed solid")));
    assert!(matches!(
        compare(&Mesh::default(), &teapot),
        Err(FitError::Empty { .. })
    ));
    let bad = compare_with(
        &teapot,
        &teapot,
        &CompareOptions::default().with_percentile(0.0),
        &osteon_geom::NoProgress,
        &osteon_geom::NeverCancel,
    );
    assert!(matches!(bad, Err(FitError::InvalidOption(_))));
}

#[test]
fn samples_scale_with_the_mesh_and_the_distance() {
    // A box inside a box 0.5 mm larger on every side: every point of the inner surface
    // lies 0.5 mm from the outer one, so no triangle needs more than its centroid.
    let inner = box_mesh(Vec3::splat(-5.0), Vec3::splat(5.0));
    let outer = box_mesh(Vec3::splat(-5.5), Vec3::splat(5.5));
    let r = compare(&inner, &outer).unwrap();
    let (v, t) = (inner.positions.len(), inner.triangles.len());
    assert_eq!(r.a_to_b.samples, v + t);
    assert!(
        r.a_to_b.quadrature_error_mm.unwrap() < 1e-12,
        "{:?}",
        r.a_to_b.quadrature_error_mm
    );
    assert!((r.a_to_b.mean_mm - 0.5).abs() < 1e-9 && (r.a_to_b.hd95_mm - 0.5).abs() < 1e-9);
    assert!(!r.a_to_b.budget_reached && r.warnings.is_empty());
    // The outer box's edges and corners are farther (up to √3 · 0.5): refined there.
    assert!(r.b_to_a.samples > v + t && r.b_to_a.samples < 50_000);
    // Twelve triangles whose distance has kinks get refined (far beyond one sample per
    // triangle) but stay far below the budget, and the error estimate covers the true
    // error of the exact box integrals (see `box_against_a_taller_box`).
    let a = box_mesh(Vec3::ZERO, Vec3::splat(10.0));
    let b = box_mesh(Vec3::ZERO, Vec3::new(10.0, 10.0, 10.5));
    let r = compare(&a, &b).unwrap();
    assert!(
        r.a_to_b.samples > 1_000 && r.a_to_b.samples < 50_000,
        "{}",
        r.a_to_b.samples
    );
    let exact = (81.0 * 0.5 + 4.0 * (10.0 * 0.125 - 2.0 * 0.125 / 3.0)) / 600.0;
    let err = (r.a_to_b.mean_mm - exact).abs();
    let estimate = r.a_to_b.quadrature_error_mm.unwrap();
    assert!(err <= estimate, "{err} vs {estimate}");
    assert!(estimate < 1e-3);
    // A finer tolerance refines further and lands closer.
    let fine = compare_with(
        &a,
        &b,
        &CompareOptions::default().with_quadrature_tolerance_mm(1e-4),
        &osteon_geom::NoProgress,
        &osteon_geom::NeverCancel,
    )
    .unwrap();
    assert!(fine.a_to_b.samples > r.a_to_b.samples);
    assert!(fine.a_to_b.quadrature_error_mm.unwrap() < estimate);
    let bad = compare_with(
        &a,
        &b,
        &CompareOptions::default().with_quadrature_tolerance_mm(0.0),
        &osteon_geom::NoProgress,
        &osteon_geom::NeverCancel,
    );
    assert!(matches!(bad, Err(FitError::InvalidOption(_))));
}

/// Two large triangles whose distance rises linearly across them: the adaptive quadrature
/// has nothing to refine (the centroid equals the corners' average), so the percentile
/// needs its own refinement. A unit square tilted as `z = x` over the plane `z = -1`:
/// |d| = 1 + x, uniform in area over x ∈ [0, 1], so the p-th percentile is 1 + p / 100.
/// Vertex sampling is exact here to rounding (a distance linear on every triangle is its
/// own interpolant), with one sample per vertex and no error estimate.
#[test]
fn percentile_of_a_linear_ramp_over_two_triangles() {
    let square = |xy: f32, z: [f32; 4]| Mesh {
        positions: vec![
            Vec3::new(-xy, -xy, z[0]),
            Vec3::new(1.0 + xy, -xy, z[1]),
            Vec3::new(1.0 + xy, 1.0 + xy, z[2]),
            Vec3::new(-xy, 1.0 + xy, z[3]),
        ],
        triangles: vec![[0, 1, 2], [0, 2, 3]],
    };
    let ramp = square(0.0, [0.0, 1.0, 1.0, 0.0]);
    // The plane z = -1, far wider than the ramp so no edge is nearest.
    let plane = square(50.0, [-1.0; 4]);
    for (sampling, tolerance) in [(Sampling::Adaptive, 2e-3), (Sampling::Vertices, 1e-9)] {
        for p in [50.0, 95.0] {
            let r = compare_with(
                &ramp,
                &plane,
                &CompareOptions::default()
                    .with_percentile(p)
                    .with_sampling(sampling),
                &osteon_geom::NoProgress,
                &osteon_geom::NeverCancel,
            )
            .unwrap();
            let want = 1.0 + p / 100.0;
            assert!(
                (r.a_to_b.hd95_mm - want).abs() < tolerance,
                "{sampling:?} p{p}: {} vs {want}",
                r.a_to_b.hd95_mm
            );
            // The mean of a linear function is exact with or without refinement.
            assert!(
                (r.a_to_b.mean_mm - 1.5).abs() < 1e-9,
                "{}",
                r.a_to_b.mean_mm
            );
            assert!((r.a_to_b.max_mm - 2.0).abs() < 1e-9);
            if sampling == Sampling::Vertices {
                assert_eq!(r.a_to_b.samples, 4);
                assert!(r.a_to_b.quadrature_error_mm.is_none() && r.quadrature_error_mm.is_none());
            } else {
                // Four vertices and two centroids: a linear ramp splits no triangle.
                assert!(r.a_to_b.samples == 6 && r.quadrature_error_mm.is_some());
            }
        }
    }
}

/// Same report, byte for byte, and the same per-vertex distances with one thread and with
/// three (warm-start chains, the percentile's sums and the Hausdorff batches are fixed by
/// the input alone).
#[test]
fn compare_does_not_depend_on_the_thread_count() {
    let femur =
        osteon_io::read_mesh(&scans().join("meshes/openforge_leg-right_femur.stl")).unwrap();
    let grown = femur.map_positions(|p| p * 1.02 + Vec3::new(0.05, -0.1, 0.2));
    let run = |n: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
            .install(|| compare(&femur, &grown).unwrap())
    };
    let (a, b) = (run(1), run(3));
    assert!(a.hausdorff_mm > 0.05 && a.a_to_b.samples > femur.triangles.len());
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    assert_eq!(a.a_vertex_distance, b.a_vertex_distance);
    assert_eq!(a.b_vertex_distance, b.b_vertex_distance);
}

/// Vertex sampling on the femur against itself grown and moved: one sample per used
/// vertex, the same vertex answers and the same certified Hausdorff distance as the adaptive
/// rule, and integrals that are the vertex rule's (recomputed here) from a third of the
/// samples or fewer.
#[test]
fn vertex_sampling_certifies_the_same_maximum_from_fewer_samples() {
    let vertices = || CompareOptions::default().with_sampling(Sampling::Vertices);
    let femur =
        osteon_io::read_mesh(&scans().join("meshes/openforge_leg-right_femur.stl")).unwrap();
    let grown = femur.map_positions(|p| p * 1.02 + Vec3::new(0.05, -0.1, 0.2));
    let run = |o: CompareOptions| {
        compare_with(
            &femur,
            &grown,
            &o,
            &osteon_geom::NoProgress,
            &osteon_geom::NeverCancel,
        )
        .unwrap()
    };
    let (v, a) = (run(vertices()), run(CompareOptions::default()));
    assert!(
        (v.hausdorff_mm - a.hausdorff_mm).abs() <= 1e-3,
        "{} vs {}",
        v.hausdorff_mm,
        a.hausdorff_mm
    );
    assert!(v.a_to_b.max_certified_mm <= 1e-3 && v.b_to_a.max_certified_mm <= 1e-3);
    let used = |m: &Mesh| {
        let mut seen = vec![false; m.positions.len()];
        m.triangles
            .iter()
            .flatten()
            .for_each(|&i| seen[i as usize] = true);
        seen.iter().filter(|&&s| s).count()
    };
    assert_eq!(v.a_to_b.samples, used(&femur));
    assert!(3 * v.a_to_b.samples <= a.a_to_b.samples);
    assert!((v.a_to_b.area_mm2 - a.a_to_b.area_mm2).abs() < 1e-6 * a.a_to_b.area_mm2);
    // The rule itself: a third of each triangle's area on each corner, recomputed here
    // from the per-vertex distances.
    let mut w = vec![0.0f64; femur.positions.len()];
    for t in &femur.triangles {
        let c = t.map(|i| femur.positions[i as usize].as_dvec3());
        let area = 0.5 * (c[1] - c[0]).cross(c[2] - c[0]).length();
        t.iter().for_each(|&i| w[i as usize] += area / 3.0);
    }
    let d = &v.a_vertex_distance;
    let total: f64 = w.iter().sum();
    let mean = w.iter().zip(d).map(|(w, d)| w * d.abs()).sum::<f64>() / total;
    let signed = w.iter().zip(d).map(|(w, d)| w * d).sum::<f64>() / total;
    assert!(
        (v.a_to_b.mean_mm - mean).abs() < 1e-12 * mean,
        "{} vs {mean}",
        v.a_to_b.mean_mm
    );
    assert!((v.a_to_b.signed_mean_mm.unwrap() - signed).abs() < 1e-12 * signed.abs());
    // The same vertex answers as the adaptive rule's; integrals of the same order (the
    // coarse femur, 3 548 triangles for 9 mm, is where the vertex rule is crude: its
    // means differ by up to about a fifth here).
    assert_eq!(v.a_vertex_distance, a.a_vertex_distance);
    for (x, y) in [
        (v.mean_mm, a.mean_mm),
        (v.rms_mm, a.rms_mm),
        (v.hd95_mm, a.hd95_mm),
    ] {
        assert!((x - y).abs() < 0.3 * y, "{x} vs {y}");
    }
}
