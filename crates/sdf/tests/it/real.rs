//! Real bone meshes from ../shared/scans/meshes (units unknown, treated as mm: the femur is
//! 3.5 × 1.9 × 9.3 and the tibia 1.5 × 1.3 × 7.6, so voxels of 0.05 mm).

use osteon_geom::{NeverCancel, NoProgress};
use osteon_mesh::Mesh;
use osteon_sdf::{offset, SdfError, SdfOptions};

use crate::check::{assert_closed_manifold, independent};

fn load(name: &str) -> Mesh {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/scans/meshes")
        .join(name);
    osteon_io::read_mesh(&p).expect("read mesh")
}

/// Offsets `mesh` by `d`, checks topology, the bounds (max bound `max_pct`) and the
/// independent check against the report.
fn check(mesh: &Mesh, d: f64, voxel: f64, max_pct: f64) {
    let opts = SdfOptions::default().with_voxel_mm(voxel);
    let (m, r) = offset(mesh, d, &opts, &NoProgress, &NeverCancel).expect("offset");
    assert_closed_manifold(&m);
    assert_eq!(r.components, 1, "d {d}: {r:?}");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let e = &r.error;
    assert!(
        e.mean_pct_voxel <= 2.0 && e.p99_pct_voxel <= 10.0,
        "d {d}: {e:?}"
    );
    assert!(e.max_pct_voxel <= max_pct, "d {d}: {e:?}");
    let ind = independent(mesh, &m, 200_000, |u| (u - d.abs() as f32).abs());
    let pct = |v: f64| 100.0 * v / voxel;
    assert!(
        pct(ind.mean) <= 2.0 && pct(ind.p99) <= 10.0 && pct(ind.max) <= max_pct,
        "{ind:?}"
    );
    assert!(
        (e.mean_mm - ind.mean).abs() <= 0.1 * ind.mean,
        "mean {e:?} vs {ind:?}"
    );
    assert!(
        (e.p99_mm - ind.p99).abs() <= 0.1 * ind.p99.max(0.01 * voxel),
        "p99 {e:?} vs {ind:?}"
    );
}

#[test]
fn femur_offsets() {
    let m = load("openforge_leg-right_femur.stl");
    check(&m, 1.0, 0.05, 30.0);
}

#[test]
fn tibia_offsets() {
    let m = load("openforge_leg-right_tibia.stl");
    check(&m, 1.0, 0.05, 30.0);
    check(&m, 0.3, 0.05, 30.0);
    // The tibia is at most ~1 mm thick below its plateau: −0.5 mm leaves nothing.
    let opts = SdfOptions::default().with_voxel_mm(0.05);
    assert!(matches!(
        offset(&m, -0.5, &opts, &NoProgress, &NeverCancel),
        Err(SdfError::Iso(_))
    ));
}
