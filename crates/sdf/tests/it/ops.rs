//! Shell, thicken, wrap, bad input, memory budget, determinism.

use osteon_geom::{NeverCancel, NoProgress, Vec3};
use osteon_mesh::Mesh;
use osteon_sdf::{offset, shell, thicken, wrap, SdfError, SdfOptions, ShellSide, SignMethod};
use parry3d::query::{Ray, RayCast};
use parry3d::shape::TriMesh;
use std::f64::consts::PI;

use crate::check::{assert_closed_manifold, cube, icosphere};

fn opts(voxel: f64) -> SdfOptions {
    SdfOptions::default().with_voxel_mm(voxel)
}

#[test]
fn sphere_shells_have_the_volume_of_the_wall() {
    let s = icosphere(10.0, 5, Vec3::ZERO);
    let t = 2.0;
    let v = |r: f64| 4.0 / 3.0 * PI * r.powi(3);
    for (side, outer, inner) in [
        (ShellSide::Inward, 10.0, 8.0),
        (ShellSide::Outward, 12.0, 10.0),
    ] {
        let (m, r) = shell(&s, t, side, &opts(0.25), &NoProgress, &NeverCancel).unwrap();
        assert_closed_manifold(&m);
        assert_eq!(r.components, 2, "outer and inner shells");
        let expect = v(outer) - v(inner);
        assert!(
            (m.signed_volume() / expect - 1.0).abs() < 0.01,
            "{side:?}: {}",
            m.signed_volume()
        );
        assert!(r.error.p99_pct_voxel <= 10.0, "{:?}", r.error);
    }
}

/// A spherical cap of the r = 10 sphere (z > 6), open.
fn cap() -> Mesh {
    let s = icosphere(10.0, 5, Vec3::ZERO);
    let keep: Vec<[u32; 3]> = s
        .triangles
        .iter()
        .filter(|t| t.iter().all(|&i| s.positions[i as usize].z > 6.0))
        .cloned()
        .collect();
    Mesh::new(s.positions, keep).unwrap()
}

#[test]
fn thickened_cap_is_a_closed_plate_of_the_asked_thickness() {
    let patch = cap();
    let voxel = 0.2;
    let t = 1.5;
    let (m, r) = thicken(&patch, t, &opts(voxel), &NoProgress, &NeverCancel).unwrap();
    assert_closed_manifold(&m);
    assert_eq!(r.components, 1);
    // Thickness by an independent ray cast (parry3d): from each outer-face vertex over the
    // middle of the cap, along the inward normal (towards the sphere centre) to the inner face.
    let tm = TriMesh::new(m.positions.clone(), m.triangles.clone()).unwrap();
    let mut worst = 0.0f64;
    let mut n = 0;
    for p in &m.positions {
        let rad = f64::from(p.length());
        if p.z < 8.0 || rad < 10.0 {
            continue;
        }
        let dir = -p.normalize();
        let ray = Ray::new(*p + dir * 1e-3, dir);
        if let Some(toi) = tm.cast_local_ray(&ray, 10.0, false) {
            let thick = f64::from(toi) + 1e-3;
            worst = worst.max((thick - t).abs());
            n += 1;
        }
    }
    assert!(n > 100, "{n} thickness samples");
    assert!(
        worst <= 0.1 * voxel,
        "thickness off by {worst} mm ({n} samples)"
    );
}

#[test]
fn wrap_closes_a_mesh_with_holes() {
    // A sphere with a polar cap removed (a hole of radius ~2.4 mm) and a cube missing a face.
    let s = icosphere(10.0, 4, Vec3::ZERO);
    let tris: Vec<[u32; 3]> = s
        .triangles
        .iter()
        .filter(|t| !t.iter().all(|&i| s.positions[i as usize].z > 9.7))
        .cloned()
        .collect();
    let holed = Mesh::new(s.positions.clone(), tris).unwrap();
    assert!(!osteon_mesh::report(&holed).unwrap().watertight);
    let o = opts(0.3).with_wrap_radius_mm(3.0);
    let (m, r) = wrap(&holed, &o, &NoProgress, &NeverCancel).unwrap();
    assert_closed_manifold(&m);
    assert_eq!(r.components, 1);
    let expect = 4.0 / 3.0 * PI * 1000.0;
    assert!(
        (m.signed_volume() / expect - 1.0).abs() < 0.03,
        "{}",
        m.signed_volume()
    );
}

fn open_cube() -> Mesh {
    let mut c = cube(4.0);
    c.triangles.truncate(10); // drop the last face (x = a)
    c
}

#[test]
fn open_mesh_offsets_with_the_winding_number() {
    let c = open_cube();
    let (m, r) = offset(&c, 0.5, &opts(0.2), &NoProgress, &NeverCancel).unwrap();
    assert_eq!(r.sign_method, "winding_number");
    assert_closed_manifold(&m);
    assert_eq!(r.components, 1);
    // Self-intersecting input: two overlapping cubes in one mesh. Every edge is manifold, so
    // `Auto` (which sees no self-intersection in the mesh report) would pick pseudo-normals:
    // ask for the winding number.
    let a = cube(4.0);
    let b = a.map_positions(|p| p + Vec3::splat(2.0));
    let n = a.positions.len() as u32;
    let mut both = a.clone();
    both.positions.extend(b.positions);
    both.triangles
        .extend(b.triangles.iter().map(|t| t.map(|i| i + n)));
    let o = opts(0.2).with_sign(SignMethod::WindingNumber);
    let (m, r) = offset(&both, 0.3, &o, &NoProgress, &NeverCancel).unwrap();
    assert_closed_manifold(&m);
    assert_eq!(r.components, 1, "{r:?}");
    assert!(offset(&c, -0.3, &o, &NoProgress, &NeverCancel).is_ok());
    // Without it, no panic either (the inside of the overlap is then wrong).
    assert!(offset(&both, 0.3, &opts(0.2), &NoProgress, &NeverCancel).is_ok());
}

#[test]
fn memory_budget_is_enforced_with_numbers() {
    let s = icosphere(10.0, 2, Vec3::ZERO);
    let o = opts(0.01).with_max_memory_bytes(1 << 30);
    match offset(&s, 1.0, &o, &NoProgress, &NeverCancel) {
        Err(SdfError::MemoryBudget {
            needed_bytes,
            budget_bytes,
            voxel_mm,
        }) => {
            assert_eq!(budget_bytes, 1 << 30);
            assert_eq!(voxel_mm, 0.01);
            // (22 mm + padding)³ / 0.01³ voxels × 4 bytes ≈ 45 GB.
            assert!(needed_bytes > 40_000_000_000, "{needed_bytes}");
        }
        other => panic!("expected MemoryBudget, got {other:?}"),
    }
    let msg = offset(&s, 1.0, &o, &NoProgress, &NeverCancel)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("budget"), "{msg}");
}

#[test]
fn a_mesh_far_from_the_origin_is_refused_for_its_precision() {
    // A 10 mm box 1e7 mm out: its f32 coordinates step by ~1 mm, coarser than the default
    // voxel (the offset ran for a quarter of an hour). 1e3 mm out (patient coordinates)
    // is fine.
    let far = cube(10.0).map_positions(|p| p + Vec3::new(1e7, 0.0, 0.0));
    let o = SdfOptions::default();
    let (p, c) = (&NoProgress, &NeverCancel);
    for r in [
        offset(&far, 1.0, &o, p, c).map(|_| ()),
        shell(&far, 1.0, ShellSide::Inward, &o, p, c).map(|_| ()),
        thicken(&far, 1.0, &o, p, c).map(|_| ()),
        wrap(&far, &o, p, c).map(|_| ()),
    ] {
        match r {
            Err(SdfError::Precision {
                coordinate_mm,
                step_mm,
                voxel_mm,
            }) => assert!(coordinate_mm > 1e7 && step_mm > 1.0 && step_mm > 0.25 * voxel_mm),
            other => panic!("expected Precision, got {other:?}"),
        }
    }
    // A coarse enough voxel resolves it.
    let coarse = opts(5.0);
    assert!(offset(&far, 10.0, &coarse, p, c).is_ok());
    let near = cube(10.0).map_positions(|p| p + Vec3::new(1e3, -500.0, 1800.0));
    assert!(offset(&near, 1.0, &opts(0.5), p, c).is_ok());
}

#[test]
fn bad_arguments_are_errors() {
    let s = icosphere(10.0, 1, Vec3::ZERO);
    let (p, c) = (&NoProgress, &NeverCancel);
    assert!(matches!(
        offset(&s, f64::NAN, &opts(0.5), p, c),
        Err(SdfError::InvalidOption(_))
    ));
    assert!(matches!(
        offset(&s, 1.0, &opts(-1.0), p, c),
        Err(SdfError::InvalidOption(_))
    ));
    assert!(matches!(
        shell(&s, 0.0, ShellSide::Inward, &opts(0.5), p, c),
        Err(SdfError::InvalidOption(_))
    ));
    assert!(matches!(
        offset(&Mesh::default(), 1.0, &opts(0.5), p, c),
        Err(SdfError::Empty)
    ));
    assert!(matches!(
        offset(&s, -20.0, &opts(0.5), p, c),
        Err(SdfError::Iso(_))
    ));
    let cancel = std::sync::atomic::AtomicBool::new(true);
    assert!(matches!(
        offset(&s, 1.0, &opts(0.5), p, &cancel),
        Err(SdfError::Cancelled)
    ));
}

#[test]
fn output_is_identical_for_any_thread_count() {
    let s = icosphere(10.0, 3, Vec3::ZERO);
    let c = open_cube();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let (a, _) = offset(&s, 0.7, &opts(0.3), &NoProgress, &NeverCancel).unwrap();
            let (b, _) = offset(&c, 0.4, &opts(0.3), &NoProgress, &NeverCancel).unwrap();
            (a, b)
        })
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn options_round_trip_through_serde() {
    let o = SdfOptions::default()
        .with_voxel_mm(0.3)
        .with_sign(SignMethod::WindingNumber);
    let j = serde_json::to_string(&o).unwrap();
    assert_eq!(serde_json::from_str::<SdfOptions>(&j).unwrap(), o);
    assert_eq!(
        serde_json::from_str::<SdfOptions>("{}").unwrap(),
        SdfOptions::default()
    );
}
