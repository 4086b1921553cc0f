//! `osteon repair`: closed output or exit 1 with the reason; bad input exits 2 and writes
//! nothing.

use super::{assert_closed_manifold, osteon, p, scans, stderr, stdout};

fn mesh(name: &str) -> std::path::PathBuf {
    scans().join("meshes").join(name)
}

#[test]
fn bunny_is_repaired_closed_with_a_manifest_and_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bunny.stl");
    let o = osteon(&[
        "repair",
        p(&mesh("trimesh_bunny.ply")),
        "-o",
        p(&out),
        "--json",
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["closed"], true);
    assert_eq!(v["problems"].as_array().unwrap().len(), 0);
    assert!(v["repair"]["holes"]["filled"].as_u64().unwrap() >= 5);
    assert!(
        v["repair"]["degenerate"]["duplicate_triangles"]
            .as_u64()
            .unwrap()
            > 0
    );
    for k in ["read", "repair", "write"] {
        assert!(v["timings_s"][k].as_f64().is_some(), "timings_s.{k}");
    }
    assert!(dir.path().join("bunny.stl.manifest.json").exists());
    assert!(std::path::Path::new(v["manifest"].as_str().unwrap()).exists());
    let m = osteon::io::read_mesh(&out).unwrap();
    assert_closed_manifold(&m);
    // Repairing the repaired file changes nothing, byte for byte.
    let out2 = dir.path().join("again.stl");
    let o = osteon(&["repair", p(&out), "-o", p(&out2), "--json", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["repair"]["changed"], false);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&out2).unwrap());
}

#[test]
fn overlapping_shells_are_merged_or_exit_1_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("foot.stl");
    // By default the overlapping bones are merged into their union: closed, exit 0.
    let o = osteon(&["repair", p(&mesh("vtk_footbones.ply")), "-o", p(&out), "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = osteon(&[
        "repair",
        p(&mesh("vtk_footbones.ply")),
        "-o",
        p(&out),
        "--no-union",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("different shells") && e.contains("--rebuild"),
        "{e}"
    );
    // The topology is repaired and the file written, so the user can inspect it.
    assert!(out.exists());
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ply = |name: &str, verts: &str, faces: &str, nv: usize, nf: usize| {
        let path = d.join(name);
        std::fs::write(
            &path,
            format!("ply\nformat ascii 1.0\nelement vertex {nv}\nproperty float x\nproperty float y\nproperty float z\nelement face {nf}\nproperty list uchar int vertex_indices\nend_header\n{verts}{faces}"),
        )
        .unwrap();
        path
    };
    let tri = "0 0 0\n1 0 0\n0 1 0\n";
    let nan = ply("nan.ply", "0 0 0\nnan 0 0\n0 1 0\n", "3 0 1 2\n", 3, 1);
    let inf = ply("inf.ply", "0 0 0\ninf 0 0\n0 1 0\n", "3 0 1 2\n", 3, 1);
    let range = ply("range.ply", tri, "3 0 1 7\n", 3, 1);
    let empty = ply("empty.ply", tri, "", 3, 0);
    // A binary STL header claiming 40 million triangles (2 GB) over 3 of them.
    let stl = d.join("truncated.stl");
    let mut bytes = vec![0u8; 80];
    bytes.extend_from_slice(&40_000_000u32.to_le_bytes());
    bytes.extend(std::iter::repeat_n(0u8, 150));
    std::fs::write(&stl, bytes).unwrap();
    for (input, word) in [
        (nan, "non-finite"),
        (inf, "non-finite"),
        (range, "refers to vertex"),
        (empty, "no triangles"),
        (stl, "truncated"),
    ] {
        let out = d.join("out.stl");
        let o = osteon(&["repair", p(&input), "-o", p(&out)]);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{}: {}",
            input.display(),
            stderr(&o)
        );
        let e = stderr(&o);
        assert!(
            e.contains(word) && e.contains(p(&input)),
            "{}: {e}",
            input.display()
        );
        assert!(!out.exists(), "{}: output written", input.display());
        assert!(!o.stderr.is_empty() && !e.contains("panicked"));
    }
}
