use osteon_fit::compare::area_samples;
use osteon_fit::phantom::box_mesh;
use osteon_fit::{compare, compare_with, CompareOptions, FitError};
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
