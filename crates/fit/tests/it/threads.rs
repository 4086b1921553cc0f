//! Fit answers do not depend on the thread count (fixed splits, ordered reductions, the
//! depth search's batches and midpoint cache).

use osteon_fit::phantom::plate_on_surface;
use osteon_fit::{fit, FitOptions, FitReport};
use osteon_geom::Vec3;
use osteon_mesh::shapes::icosphere;
use osteon_mesh::Mesh;

fn run(threads: usize, implant: &Mesh, bone: &Mesh) -> FitReport {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| fit(implant, bone, &FitOptions::default()).unwrap())
}

#[test]
fn fit_is_identical_at_one_and_three_threads() {
    // A plate laid on a sphere and pushed 0.5 mm into it: every stage runs (crossing,
    // certified depth over many sub-triangles, volume, contact).
    let bone = icosphere(5, 15.0);
    let plate = plate_on_surface(&bone, Vec3::new(15.0, 0.0, 0.0), 10.0, 0.3, 2.0).unwrap();
    let pushed = plate.map_positions(|p| p - Vec3::X * 0.8);
    let one = run(1, &pushed, &bone);
    let three = run(3, &pushed, &bone);
    assert!(one.intersects && one.max_penetration_mm.unwrap() > 0.4);
    assert_eq!(one, three);
    let s1 = serde_json::to_string(&one).unwrap();
    let s3 = serde_json::to_string(&three).unwrap();
    assert_eq!(s1, s3);
    assert_eq!(one.signed_distance, three.signed_distance);
    // The depth is certified: the deepest implant vertex is no deeper than the answer.
    let deepest = -one.signed_distance_range_mm[0];
    assert!(one.max_penetration_mm.unwrap() >= deepest - 1e-12);
}
