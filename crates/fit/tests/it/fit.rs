use osteon_fit::phantom::{box_mesh, PlateOnBlock};
use osteon_fit::{fit, FitError, FitOptions, SignedIndex};
use osteon_geom::Vec3;
use osteon_mesh::shapes::icosphere;
use osteon_mesh::Mesh;

use crate::{moved, sagitta};

#[test]
fn plate_pushed_into_the_bone() {
    let ph = PlateOnBlock::default();
    let (plate, bone) = ph.meshes();
    let r = fit(&plate, &bone, &FitOptions::default()).unwrap();
    assert!(r.solid_tests && r.warnings.is_empty(), "{:?}", r.warnings);
    assert!(r.intersects && r.surfaces_cross && !r.implant_inside_bone);
    // Depth: the flat zone's underside lies 0.5 mm below the block's top face.
    let d = r.max_penetration_mm.unwrap();
    assert!((d - ph.push_mm as f64).abs() < 1e-4, "depth {d}");
    let at = r.max_penetration_at.unwrap();
    assert!(
        (at[2] + 0.5).abs() < 1e-4 && at[0] >= 4.99 && at[0] <= 9.01,
        "{at:?}"
    );
    assert!(r.max_penetration_bone_point.unwrap()[2].abs() < 1e-6);
    // Volume: 4 mm × 10 mm × 0.5 mm plus the two ramps below zero.
    let v = r.penetration_volume_mm3.unwrap();
    let truth = ph.penetration_volume();
    assert!((v - truth).abs() < 1e-4 * truth, "volume {v} vs {truth}");
    // Per-vertex signed distance: underside 0.3 outside the zone, -0.5 in it, top 2.3.
    for (p, d) in plate.positions.iter().zip(&r.signed_distance) {
        assert!((*d - p.z as f64).abs() < 1e-6, "{p} {d}");
    }
    assert!((r.signed_distance_range_mm[0] + 0.5).abs() < 1e-6);
    // Contact in 0.1..0.5: the flat underside plus a quarter of each ramp.
    let c = r.contact_fraction.unwrap();
    let truth = ph.contact_fraction(0.1, 0.5);
    assert!((c - truth).abs() < 1e-9, "contact {c} vs {truth}");
    assert_eq!(r.min_clearance_mm, 0.0);
    // Verdict: the default allows no penetration; 0.6 mm allowed passes.
    assert!(!r.pass && !r.checks[0].pass);
    let ok = fit(
        &plate,
        &bone,
        &FitOptions::default()
            .with_max_penetration_mm(Some(0.6))
            .with_min_contact(Some(0.8)),
    )
    .unwrap();
    assert!(ok.pass, "{:?}", ok.checks);
    let low = fit(
        &plate,
        &bone,
        &FitOptions::default()
            .with_max_penetration_mm(Some(0.6))
            .with_min_contact(Some(0.9)),
    )
    .unwrap();
    assert!(!low.pass && low.checks[1].name == "min_contact" && !low.checks[1].pass);
}

#[test]
fn plate_at_its_designed_gap() {
    // No pushed zone: the underside is 0.3 mm above the block everywhere.
    let ph = PlateOnBlock {
        push_mm: -0.3,
        ..PlateOnBlock::default()
    };
    let (plate, bone) = ph.meshes();
    let opts = FitOptions::default()
        .with_clearance_mm(0.2, 0.4)
        .with_check_clearance(true)
        .with_min_contact(Some(0.99));
    let r = fit(&plate, &bone, &opts).unwrap();
    assert!(!r.intersects && !r.surfaces_cross);
    let gap = ph.gap_mm as f64;
    assert!(
        (r.min_clearance_mm - gap).abs() < 1e-6,
        "{}",
        r.min_clearance_mm
    );
    assert!((r.clearance_implant_point[2] - gap).abs() < 1e-6);
    assert!(r.clearance_bone_point[2].abs() < 1e-9);
    assert_eq!(r.max_penetration_mm, Some(0.0));
    assert_eq!(r.penetration_volume_mm3, Some(0.0));
    assert!((r.contact_fraction.unwrap() - 1.0).abs() < 1e-12);
    assert!(r.pass, "{:?}", r.checks);
    // A band that starts above the gap fails both clearance and contact.
    let r = fit(&plate, &bone, &opts.clone().with_clearance_mm(0.35, 0.5)).unwrap();
    assert!(!r.pass && r.checks.iter().filter(|c| !c.pass).count() == 2);
    assert_eq!(r.contact_fraction, Some(0.0));
}

#[test]
fn disjoint_parts_two_millimetres_apart() {
    let a = box_mesh(Vec3::ZERO, Vec3::ONE);
    // Face to face.
    let b = box_mesh(Vec3::new(3.0, 0.25, 0.25), Vec3::new(4.0, 0.75, 0.75));
    let r = fit(&b, &a, &FitOptions::default()).unwrap();
    assert!(!r.intersects && r.pass);
    assert!(
        (r.min_clearance_mm - 2.0).abs() < 1e-9,
        "{}",
        r.min_clearance_mm
    );
    assert!(
        (r.clearance_bone_point[0] - 1.0).abs() < 1e-9
            && (r.clearance_implant_point[0] - 3.0).abs() < 1e-9
    );
    // Edge over face, no vertex near: a box turned 45° about y whose lowest edge runs along
    // y 2 mm above the top face, ending far outside it.
    let s = std::f32::consts::FRAC_1_SQRT_2;
    let c = box_mesh(Vec3::new(-0.5, -5.0, -0.5), Vec3::new(0.5, 5.0, 0.5)).map_positions(|p| {
        let (x, z) = (s * (p.x - p.z), s * (p.x + p.z));
        Vec3::new(x + 0.5, p.y, z + 3.0 + s)
    });
    let r = fit(&c, &a, &FitOptions::default()).unwrap();
    assert!(!r.intersects);
    assert!(
        (r.min_clearance_mm - 2.0).abs() < 1e-5,
        "{}",
        r.min_clearance_mm
    );
    // The vertices alone would say more.
    let vmin = r
        .signed_distance
        .iter()
        .fold(f64::INFINITY, |m, d| m.min(*d));
    assert!(vmin > 2.5);
}

#[test]
fn sphere_inside_sphere_is_intersecting() {
    let (big_r, small_r) = (10.0f32, 4.0f32);
    let bone = icosphere(6, big_r);
    let ball = icosphere(5, small_r);
    let implant = moved(&ball, Vec3::new(2.0, 0.0, 0.0));
    let tight = FitOptions::default().with_depth_tolerance_mm(1e-4);
    let r = fit(&implant, &bone, &tight).unwrap();
    assert!(r.intersects && r.implant_inside_bone && !r.surfaces_cross);
    assert!(!r.pass);
    // Analytic: the implant point nearest the centre is 2 mm from it, 8 mm deep; the
    // closest surfaces are 10 − 6 = 4 mm apart. Tessellation moves both by at most the
    // two sagittas.
    let tol = sagitta(&bone, big_r as f64) + sagitta(&ball, small_r as f64);
    assert!(tol < 0.005, "tessellation bound {tol}");
    let d = r.max_penetration_mm.unwrap();
    assert!(
        d <= 8.0 + 1e-4 && d >= 8.0 - tol - 1e-4,
        "depth {d}, bound {tol}"
    );
    assert!(
        (r.surface_distance_mm - 4.0).abs() <= tol + 1e-6,
        "{}",
        r.surface_distance_mm
    );
    assert_eq!(r.min_clearance_mm, 0.0);
    // The whole implant is interference.
    let v = r.penetration_volume_mm3.unwrap();
    assert!((v - implant.signed_volume()).abs() < 1e-9 * v);
    // And the bone inside a bigger "implant" (the other way round) is contained too.
    let r = fit(&bone, &implant, &FitOptions::default()).unwrap();
    assert!(r.intersects && r.bone_inside_implant && !r.implant_inside_bone);
    assert_eq!(r.max_penetration_mm, Some(0.0));
    let v = r.penetration_volume_mm3.unwrap();
    assert!((v - implant.signed_volume()).abs() < 1e-6 * v, "{v}");
}

#[test]
fn overlapping_boxes_volume_is_exact() {
    let a = box_mesh(Vec3::ZERO, Vec3::splat(2.0));
    let (lo, hi) = (Vec3::new(1.3, 0.7, -0.45), Vec3::new(3.1, 2.9, 1.55));
    let b = box_mesh(lo, hi);
    let truth = (2.0 - lo.x as f64) * (2.0 - lo.y as f64) * (hi.z as f64);
    for (x, y) in [(&a, &b), (&b, &a)] {
        let r = fit(x, y, &FitOptions::default()).unwrap();
        let v = r.penetration_volume_mm3.unwrap();
        assert!((v - truth).abs() < 1e-9, "{v} vs {truth}");
        assert!(r.surfaces_cross);
    }
    // A rotated box poking through a face: volume of the part below the plane.
    let s = 0.6f32;
    let c = 0.8f32;
    let tilted = box_mesh(Vec3::new(-1.0, -1.0, -1.0), Vec3::new(1.0, 1.0, 1.0))
        .map_positions(|p| Vec3::new(c * p.x - s * p.y, s * p.x + c * p.y, p.z + 1.25));
    let slab = box_mesh(Vec3::new(-5.0, -5.0, -5.0), Vec3::new(5.0, 5.0, 1.0));
    let r = fit(&tilted, &slab, &FitOptions::default()).unwrap();
    let v = r.penetration_volume_mm3.unwrap();
    let truth = 4.0 * 0.75 * tilted.signed_volume() / 8.0;
    assert!((v - truth).abs() < 1e-5, "{v} vs {truth}");
    assert!((r.max_penetration_mm.unwrap() - 0.75).abs() < 1e-5);
}

#[test]
fn lens_of_two_spheres_matches_the_analytic_volume() {
    // Two spheres of radius 5 with centres 6 mm apart: lens volume π(4R + d)(2R − d)²/12.
    let (rr, dd) = (5.0f64, 6.0f64);
    let a = icosphere(5, rr as f32);
    let b = moved(&a, Vec3::new(dd as f32, 0.0, 0.0));
    let r = fit(&b, &a, &FitOptions::default().with_depth_tolerance_mm(1e-4)).unwrap();
    let v = r.penetration_volume_mm3.unwrap();
    let lens = std::f64::consts::PI * (4.0 * rr + dd) * (2.0 * rr - dd).powi(2) / 12.0;
    // The polyhedra lie between the true spheres and spheres shrunk by the sagitta.
    let s = sagitta(&a, rr);
    let rin = rr - s;
    let h_in = (2.0 * rin - dd).max(0.0);
    let lens_in = std::f64::consts::PI * (4.0 * rin + dd) * h_in * h_in / 12.0;
    assert!(
        v <= lens + 1e-9 && v >= lens_in - 1e-9,
        "{v} not in [{lens_in}, {lens}]"
    );
    assert!((v - lens).abs() < 0.01 * lens);
    // Depth: the deepest implant point is the lens tip, 2R − d = 4 mm below.
    let d = r.max_penetration_mm.unwrap();
    assert!((d - (2.0 * rr - dd)).abs() < 2.0 * s + 1e-4, "{d}");
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let ph = PlateOnBlock::default();
    let (plate, bone) = ph.meshes();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let four = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    let a = one.install(|| fit(&plate, &bone, &FitOptions::default()).unwrap());
    let b = four.install(|| fit(&plate, &bone, &FitOptions::default()).unwrap());
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    assert_eq!(a.signed_distance, b.signed_distance);
}

#[test]
fn open_and_nonmanifold_meshes_get_surface_only_numbers() {
    let (plate, bone) = PlateOnBlock::default().meshes();
    let mut open = bone.clone();
    open.triangles.pop();
    let r = fit(&plate, &open, &FitOptions::default()).unwrap();
    assert!(!r.solid_tests && !r.bone.solid && r.bone.boundary_edges == 3);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("bone mesh is not a closed solid") && w.contains("unreliable")),
        "{:?}",
        r.warnings
    );
    assert_eq!(r.max_penetration_mm, None);
    assert_eq!(r.penetration_volume_mm3, None);
    assert!(r.surfaces_cross && r.intersects && !r.pass);
    assert!(r.signed_distance.iter().all(|d| *d >= 0.0));
    // A non-manifold implant: a third triangle on one edge.
    let mut nm = plate.clone();
    let t = nm.triangles[0];
    nm.positions.push(Vec3::new(0.0, 0.0, 9.0));
    nm.triangles
        .push([t[0], t[1], nm.positions.len() as u32 - 1]);
    let r = fit(&nm, &bone, &FitOptions::default()).unwrap();
    assert!(!r.implant.solid && r.implant.nonmanifold_edges > 0);
    assert!(r
        .warnings
        .iter()
        .any(|w| w.contains("implant mesh is not a closed solid")));
    assert_eq!(r.penetration_volume_mm3, None);
    assert!((r.max_penetration_mm.unwrap() - 0.5).abs() < 1e-4);
}

#[test]
fn a_depth_limit_inside_the_certified_range_fails() {
    // The true maximum lies in [depth, depth + certified]: a limit in that range cannot be
    // shown to hold.
    let (plate, bone) = PlateOnBlock::default().meshes();
    let r = fit(&plate, &bone, &FitOptions::default()).unwrap();
    let (d, gap) = (
        r.max_penetration_mm.unwrap(),
        r.max_penetration_certified_mm.unwrap(),
    );
    assert!(gap > 0.0 && (d - 0.5).abs() < 1e-4, "{d} {gap}");
    let with = |limit: f64| {
        fit(
            &plate,
            &bone,
            &FitOptions::default().with_max_penetration_mm(Some(limit)),
        )
        .unwrap()
    };
    let at = with(d);
    assert!(!at.pass && !at.checks[0].pass, "{:?}", at.checks);
    assert!(
        at.checks[0].note.contains("certified only within"),
        "{:?}",
        at.checks
    );
    assert!(with(d + gap).pass);
    assert!(!with(0.99 * d).pass);
}

#[test]
fn inside_out_bone_is_reversed_with_a_warning() {
    let ph = PlateOnBlock::default();
    let (plate, bone) = ph.meshes();
    let r = fit(&plate, &bone.flipped(), &FitOptions::default()).unwrap();
    assert!(r.bone.flipped && r.warnings.iter().any(|w| w.contains("inside-out")));
    assert!((r.penetration_volume_mm3.unwrap() - ph.penetration_volume()).abs() < 1e-3);
}

#[test]
fn bad_input_is_a_typed_error() {
    let (plate, bone) = PlateOnBlock::default().meshes();
    assert!(matches!(
        fit(&Mesh::default(), &bone, &FitOptions::default()),
        Err(FitError::Empty { which: "implant" })
    ));
    let mut nan = bone.clone();
    nan.positions[0].x = f32::NAN;
    let e = fit(&plate, &nan, &FitOptions::default()).unwrap_err();
    assert!(matches!(e, FitError::Mesh { which: "bone", .. }), "{e}");
    assert!(e.to_string().contains("bone"));
    let e = fit(
        &plate,
        &bone,
        &FitOptions::default().with_clearance_mm(0.5, 0.1),
    )
    .unwrap_err();
    assert!(matches!(e, FitError::InvalidOption(_)));
}

#[test]
fn local_bone_index_matches_a_whole_bone_index() {
    // Fit indexes only the bone near the implant (a tree over all of it is built only for
    // queries the local one cannot vouch for): every vertex distance must equal a
    // whole-mesh index's, for an implant across the surface and for one far off.
    let femur =
        osteon_io::read_mesh(&crate::scans().join("meshes/openforge_leg-right_femur.stl")).unwrap();
    let whole = SignedIndex::new(&femur).unwrap();
    let top = *femur
        .positions
        .iter()
        .max_by(|a, b| a.x.total_cmp(&b.x))
        .unwrap();
    let ball = icosphere(3, 3.0);
    for (offset, crossing) in [(Vec3::ZERO, true), (Vec3::new(60.0, 0.0, 0.0), false)] {
        let implant = moved(&ball, top + offset);
        let r = fit(&implant, &femur, &FitOptions::default()).unwrap();
        assert_eq!(r.surfaces_cross, crossing);
        for (p, d) in implant.positions.iter().zip(&r.signed_distance) {
            let w = whole.query(p.as_dvec3()).distance;
            assert!((d - w).abs() < 1e-12, "{p}: {d} vs {w}");
        }
        if !crossing {
            // Far off: the clearance is at most the nearest vertex's distance, and at
            // least the distance between the two boxes.
            let vmin = r
                .signed_distance
                .iter()
                .fold(f64::INFINITY, |m, d| m.min(*d));
            assert!(r.min_clearance_mm <= vmin && r.min_clearance_mm > 50.0);
        }
    }
}

#[test]
fn a_spent_depth_budget_warns_and_certifies_what_is_left() {
    // A plate pushed into a sphere: the depth plateau needs many splits.
    let bone = icosphere(4, 15.0);
    let plate =
        osteon_fit::phantom::plate_on_surface(&bone, Vec3::new(15.0, 0.0, 0.0), 10.0, 0.3, 2.0)
            .unwrap();
    let pushed = plate.map_positions(|p| p - Vec3::X * 0.8);
    let full = fit(&pushed, &bone, &FitOptions::default()).unwrap();
    let tol = FitOptions::default().depth_tolerance_mm;
    assert_eq!(full.max_penetration_certified_mm, Some(tol));
    assert!(!full.warnings.iter().any(|w| w.contains("certified only")));
    let short = fit(
        &pushed,
        &bone,
        &FitOptions::default().with_max_depth_evaluations(30),
    )
    .unwrap();
    let (d, gap) = (
        short.max_penetration_mm.unwrap(),
        short.max_penetration_certified_mm.unwrap(),
    );
    let df = full.max_penetration_mm.unwrap();
    // The items left in the queue bound what was not searched: the full answer lies
    // within the short run's certified range, and the short run found no more.
    assert!(gap > tol, "{gap}");
    assert!(df <= d + gap + 1e-12 && d <= df + tol, "{d} {gap} {df}");
    assert!(
        short
            .warnings
            .iter()
            .any(|w| w.contains("certified only") && w.contains("budget of 30")),
        "{:?}",
        short.warnings
    );
    // Every other figure is the full run's: the stages beside the depth search do not
    // depend on it.
    assert_eq!(short.penetration_volume_mm3, full.penetration_volume_mm3);
    assert_eq!(short.contact_fraction, full.contact_fraction);
    assert_eq!(short.signed_distance, full.signed_distance);
    assert_eq!(short.clearance_implant_point, full.clearance_implant_point);
}
