//! Real bone meshes from the public scans.

use osteon_geom::Vec3;
use osteon_slice::{slice_to_vec, SliceOptions};

use crate::common::{brute_area, scans};

#[test]
fn femur_and_tibia_slice_closed_exact_and_volume_within_half_a_percent() {
    for (name, layers_min) in [
        ("openforge_leg-right_femur.stl", 900),
        ("openforge_leg-right_tibia.stl", 700),
    ] {
        let path = scans().join("meshes").join(name);
        let m = osteon_io::read_mesh(&path).unwrap();
        // The files have no units; at ×10 the femur is a 93 mm bone.
        let m = m.map_positions(|p| p * 10.0 + Vec3::new(0.0, 0.0, 0.0));
        let h = 0.1;
        let (plan, ls) = slice_to_vec(
            &m,
            &SliceOptions::default()
                .with_layer_height_mm(h)
                .with_allow_open(false),
        )
        .unwrap();
        assert!(plan.count >= layers_min, "{name}: {} layers", plan.count);
        for l in &ls {
            assert!(l.open.is_empty());
            let o = brute_area(&m, l.z_mm);
            assert!(
                (l.area_mm2() - o).abs() <= 1e-9 * o.abs().max(1e-9),
                "{name} layer {}: {} vs {o}",
                l.index,
                l.area_mm2()
            );
        }
        let v: f64 = ls.iter().map(|l| l.area_mm2() * h).sum();
        let rel = v / m.signed_volume() - 1.0;
        assert!(rel.abs() < 0.005, "{name}: volume from layers off by {rel}");
    }
}
