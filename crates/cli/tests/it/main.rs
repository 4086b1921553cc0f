//! End-to-end tests of the `osteon` binary: real scans in, checked meshes out, bad input refused.

mod bad_input;
mod fit;
mod formats;
mod offsets;
mod pipeline;
mod quality;
mod repair;
mod sample;
mod slice;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use osteon::mesh::Mesh;

/// The public scans (CI has `shared/` beside the checkout).
pub fn scans() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/scans"
    ))
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Runs the binary with `args`.
pub fn osteon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_osteon"))
        .args(args)
        .output()
        .expect("the osteon binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `osteon ... --json`, asserts exit 0, and parses stdout.
pub fn json_ok(args: &[&str]) -> serde_json::Value {
    let o = osteon(args);
    assert!(o.status.success(), "osteon {args:?} failed: {}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("bad JSON ({e}): {}", stdout(&o)))
}

pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 test paths")
}

/// Meshes the bundled phantom with `--preset bone` and `extra` into `dir/bone.stl`.
pub fn bone_mesh(dir: &Path, extra: &[&str]) -> PathBuf {
    let out = dir.join("bone.stl");
    let sample = repo().join("sample-scans/long_bone_fracture");
    let mut args = vec!["mesh", p(&sample), "-o", p(&out), "--preset", "bone", "-q"];
    args.extend_from_slice(extra);
    let o = osteon(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    out
}

/// An independent closedness check (not osteon's MeshReport): every directed edge (a, b)
/// appears once and its reverse (b, a) once, and each vertex's incident triangles form one
/// cycle around it.
pub fn assert_closed_manifold(mesh: &Mesh) {
    use std::collections::HashMap;
    let mut directed: HashMap<(u32, u32), u32> = HashMap::new();
    for t in &mesh.triangles {
        assert!(
            t[0] != t[1] && t[1] != t[2] && t[0] != t[2],
            "degenerate triangle {t:?}"
        );
        for k in 0..3 {
            *directed.entry((t[k], t[(k + 1) % 3])).or_default() += 1;
        }
    }
    for (&(a, b), &n) in &directed {
        assert_eq!(n, 1, "directed edge ({a},{b}) used {n} times");
        assert_eq!(
            directed.get(&(b, a)),
            Some(&1),
            "edge ({a},{b}) has no opposite"
        );
    }
    // Vertex links: around each vertex v, triangles (v, a, b) map a -> b; following the map
    // from any a must visit all of v's triangles before returning (one fan, not several).
    let mut fans: Vec<(u32, u32, u32)> = Vec::with_capacity(mesh.triangles.len() * 3);
    for t in &mesh.triangles {
        for k in 0..3 {
            fans.push((t[k], t[(k + 1) % 3], t[(k + 2) % 3]));
        }
    }
    fans.sort_unstable();
    let mut start = 0;
    while start < fans.len() {
        let v = fans[start].0;
        let end = start + fans[start..].iter().take_while(|f| f.0 == v).count();
        let group = &fans[start..end];
        let first = group[0].1;
        let mut a = first;
        let mut steps = 0;
        loop {
            let i = group
                .binary_search_by_key(&a, |f| f.1)
                .unwrap_or_else(|_| panic!("vertex {v}: open fan at {a}"));
            a = group[i].2;
            steps += 1;
            if a == first || steps > group.len() {
                break;
            }
        }
        assert_eq!(
            steps,
            group.len(),
            "vertex {v}: its triangles form more than one fan"
        );
        start = end;
    }
}
