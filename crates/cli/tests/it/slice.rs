//! `osteon slice`: every format end to end on the meshed sample scan, open and bad input.

use crate::{bone_mesh, json_ok, osteon, p, stderr};

#[test]
fn slice_sample_bone_to_every_format_with_closed_layers_and_volume_check() {
    let dir = tempfile::tempdir().unwrap();
    let bone = bone_mesh(dir.path(), &[]);
    let mesh = osteon::io::read_mesh(&bone).unwrap();
    let vol = mesh.signed_volume();
    let h = 0.1;
    let out = dir.path().join("svg");
    let v = json_ok(&[
        "slice",
        p(&bone),
        "-o",
        p(&out),
        "--layer-height",
        "0.1",
        "--format",
        "svg",
        "--single-file",
        "--json",
    ]);
    let layers = v["layers"].as_array().unwrap();
    assert!(layers.len() > 100);
    let mut sum = 0.0;
    for l in layers {
        assert_eq!(l["open_polylines"], 0, "{l}");
        assert!(l["loops"].as_u64().unwrap() >= 1);
        sum += l["area_mm2"].as_f64().unwrap() * h;
    }
    assert!(
        (sum / vol - 1.0).abs() < 0.005,
        "Σ area·h {sum} vs mesh volume {vol}"
    );
    for k in ["read", "slice", "write"] {
        assert!(v["timings_s"][k].as_f64().is_some(), "timing {k}");
    }
    assert!(out.join("layers.svg").is_file() && out.join("slice.manifest.json").is_file());
    // The manifest lists the output with its hash.
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("slice.manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["outputs"].as_array().unwrap().len(), 1);

    let out = dir.path().join("gcode");
    let v = json_ok(&[
        "slice",
        p(&bone),
        "-o",
        p(&out),
        "--layer-height",
        "0.2",
        "--format",
        "gcode",
        "--profile",
        "peek",
        "--json",
    ]);
    let rel = v["output_report"]["extruded_vs_planned_rel"]
        .as_f64()
        .unwrap();
    assert!(rel.abs() < 0.05, "extruded vs planned {rel}");
    let g = std::fs::read_to_string(out.join("bone.gcode")).unwrap();
    assert!(
        g.contains("M141 S90")
            && g.contains("M104 S400")
            && g.contains("; estimated printing time")
    );

    let out = dir.path().join("png");
    let v = json_ok(&[
        "slice",
        p(&bone),
        "-o",
        p(&out),
        "--layer-height",
        "0.5",
        "--format",
        "png",
        "--pixel-size",
        "0.1",
        "--zip",
        "--json",
    ]);
    assert!(out.join("layers.zip").is_file());
    assert!(
        v["output_report"]["lit_area_error_worst_in_pixel_rows"]
            .as_f64()
            .unwrap()
            <= 1.0
    );

    let out = dir.path().join("cli");
    json_ok(&[
        "slice",
        p(&bone),
        "-o",
        p(&out),
        "--layer-height",
        "0.5",
        "--format",
        "cli",
        "--binary",
        "--json",
    ]);
    let b = std::fs::read(out.join("bone.cli")).unwrap();
    assert!(b.starts_with(b"$$HEADERSTART\n$$BINARY\n"));
}

#[test]
fn open_mesh_reports_open_polylines_and_is_refused_for_gcode_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = osteon::mesh::shapes::icosphere(3, 10.0);
    m.triangles.truncate(m.triangles.len() - 7);
    let path = dir.path().join("open.stl");
    osteon::io::write_mesh(&path, &m, &Default::default()).unwrap();
    let v = json_ok(&[
        "slice",
        p(&path),
        "-o",
        p(&dir.path().join("s")),
        "--layer-height",
        "0.5",
        "--format",
        "svg",
        "--json",
    ]);
    let open: u64 = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["open_polylines"].as_u64().unwrap())
        .sum();
    assert!(open > 0);
    for fmt in ["gcode", "cli"] {
        let o = osteon(&[
            "slice",
            p(&path),
            "-o",
            p(&dir.path().join(fmt)),
            "--layer-height",
            "0.5",
            "--format",
            fmt,
        ]);
        assert_eq!(o.status.code(), Some(2), "{fmt}");
        assert!(
            stderr(&o).contains("open contour") && stderr(&o).contains("--allow-open"),
            "{}",
            stderr(&o)
        );
    }
    let o = osteon(&[
        "slice",
        p(&path),
        "-o",
        p(&dir.path().join("g2")),
        "--layer-height",
        "0.2",
        "--format",
        "gcode",
        "--allow-open",
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn zero_layer_height_empty_mesh_and_bad_profile_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let m = osteon::mesh::shapes::icosphere(1, 5.0);
    let path = dir.path().join("ball.stl");
    osteon::io::write_mesh(&path, &m, &Default::default()).unwrap();
    let out = dir.path().join("o");
    let o = osteon(&[
        "slice",
        p(&path),
        "-o",
        p(&out),
        "--layer-height",
        "0",
        "--format",
        "svg",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--layer-height must be a positive"),
        "{}",
        stderr(&o)
    );
    let empty = dir.path().join("empty.stl");
    std::fs::write(&empty, "solid empty\nendsolid empty\n").unwrap();
    let o = osteon(&[
        "slice",
        p(&empty),
        "-o",
        p(&out),
        "--layer-height",
        "0.1",
        "--format",
        "svg",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("empty.stl"), "{}", stderr(&o));
    let prof = dir.path().join("bad.json");
    std::fs::write(&prof, "{\"name\": \"x\"}").unwrap();
    let o = osteon(&[
        "slice",
        p(&path),
        "-o",
        p(&out),
        "--layer-height",
        "0.1",
        "--format",
        "gcode",
        "--profile",
        p(&prof),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bad.json"), "{}", stderr(&o));
}
