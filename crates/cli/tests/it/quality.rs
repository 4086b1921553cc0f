//! `osteon smooth`, `osteon decimate` and `osteon mesh --smooth --decimate-error` end to end.

use crate::*;

#[test]
fn smoothing_keeps_the_volume_and_removes_the_staircase() {
    let dir = tempfile::tempdir().unwrap();
    let bone = bone_mesh(dir.path(), &[]);
    let out = dir.path().join("smooth.ply");
    let v = json_ok(&["smooth", p(&bone), "-o", p(&out), "--json"]);
    let s = &v["smooth"];
    assert!(s["volume_change_pct"].as_f64().unwrap().abs() < 0.5, "{s}");
    let (before, after) = (
        s["mean_normal_angle_before_deg"].as_f64().unwrap(),
        s["mean_normal_angle_after_deg"].as_f64().unwrap(),
    );
    assert!(
        after <= before / 2.0,
        "staircase not removed: {before} -> {after}"
    );
    assert_eq!(v["mesh"]["watertight"], true);
    assert_eq!(v["mesh"]["self_intersecting_faces"], 0);
    // Independent: same vertex count, volume from the file within 0.5 %.
    let a = osteon::io::read_mesh(&bone).unwrap();
    let b = osteon::io::read_mesh(&out).unwrap();
    assert_eq!(a.triangles.len(), b.triangles.len());
    let dv = (b.signed_volume() - a.signed_volume()) / a.signed_volume();
    assert!(dv.abs() < 0.005, "{dv}");
    // The report's count is smoothing's own search: a fresh one of the file agrees.
    assert!(osteon::mesh::self_intersections(&b).faces.is_empty());
}

#[test]
fn decimation_with_an_error_bound_stays_within_it() {
    let dir = tempfile::tempdir().unwrap();
    let bone = bone_mesh(dir.path(), &[]);
    let out = dir.path().join("light.stl");
    let v = json_ok(&[
        "decimate",
        p(&bone),
        "-o",
        p(&out),
        "--max-error",
        "0.1",
        "--json",
    ]);
    let d = &v["decimate"];
    assert!(d["max_deviation_mm"].as_f64().unwrap() <= 0.1, "{d}");
    assert!(
        d["triangles_after"].as_u64().unwrap() < d["triangles_before"].as_u64().unwrap() / 2,
        "{d}"
    );
    assert_eq!(v["mesh"]["watertight"], true);
    assert_eq!(v["mesh"]["outward"], true);
    assert_eq!(v["mesh"]["self_intersecting_faces"], 0);
    assert_eq!(d["genus_before"], d["genus_after"]);
    // Independent of the report: input vertices lie within 0.1 mm of the output surface.
    let a = osteon::io::read_mesh(&bone).unwrap();
    let b = osteon::io::read_mesh(&out).unwrap();
    let dev = osteon::mesh::surface_deviation(&a, &b, 0).unwrap();
    assert!(dev.a_to_b.max_mm <= 0.1 + 1e-6, "{dev:?}");
}

#[test]
fn mesh_can_smooth_and_decimate_in_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("print.stl");
    let sample = repo().join("sample-scans/long_bone_fracture");
    let v = json_ok(&[
        "mesh",
        p(&sample),
        "-o",
        p(&out),
        "--preset",
        "bone",
        "--smooth",
        "--decimate-error",
        "0.1",
        "--json",
    ]);
    for k in ["read", "select", "extract", "smooth", "decimate", "write"] {
        assert!(v["timings_s"][k].as_f64().is_some(), "timings_s.{k}");
    }
    assert!(v["smooth"]["volume_change_pct"].as_f64().unwrap().abs() < 0.5);
    assert!(v["decimate"]["max_deviation_mm"].as_f64().unwrap() <= 0.1);
    assert_eq!(v["mesh"]["watertight"], true);
}

#[test]
fn decimate_needs_a_stop_criterion() {
    let dir = tempfile::tempdir().unwrap();
    let bone = bone_mesh(dir.path(), &[]);
    let o = osteon(&["decimate", p(&bone), "-o", p(&dir.path().join("x.stl"))]);
    assert_eq!(o.status.code(), Some(2));
    let o = osteon(&[
        "decimate",
        p(&bone),
        "-o",
        p(&dir.path().join("x.stl")),
        "--ratio",
        "1.5",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("bone.stl"), "{}", stderr(&o));
}

/// On the head CT bone at 10 %, unguarded collapses push the surface through itself (67
/// crossing triangles when nothing checks); the per-collapse check refuses those
/// collapses, so the output crosses nowhere without a rerun of the whole decimation.
#[test]
fn decimation_output_does_not_cross_itself() {
    let dir = tempfile::tempdir().unwrap();
    let head = dir.path().join("head.ply");
    let scan = scans().join("head_ct_dicom2stl/ct_example.nii.gz");
    json_ok(&[
        "mesh",
        p(&scan),
        "-o",
        p(&head),
        "--hu",
        "250",
        "--keep",
        "largest",
        "--json",
    ]);
    let out = dir.path().join("head10.ply");
    let v = json_ok(&[
        "decimate",
        p(&head),
        "-o",
        p(&out),
        "--ratio",
        "0.1",
        "--json",
    ]);
    let d = &v["decimate"];
    assert!(d["crossings_prevented"].as_u64().unwrap() > 0, "{d}");
    assert_eq!(d["intersection_reruns"], 0, "{d}");
    assert_eq!(d["self_intersecting_faces"], 0, "{d}");
    assert_eq!(d["genus_before"], d["genus_after"], "{d}");
    // Independent of the report: search the file written.
    let m = osteon::io::read_mesh(&out).unwrap();
    assert_closed_manifold(&m);
    assert!(osteon::mesh::self_intersections(&m).faces.is_empty());
    let n = m.triangles.len() as f64;
    assert!((n - 15_734.0).abs() <= 2.0, "{n}");
}
