//! Times the parts of the distance-field stage of an offset on a mesh file (best of N):
//! `cargo run --release -p osteon-sdf --example field_timing -- mesh.ply 1.0 0.5 [N]`.
//! Prints the sign-method choice, the `SignedDistance` build, and the offset's `sdf` and
//! `extract` stages (projection and measurement off).

use osteon_geom::{NeverCancel, NoProgress};
use osteon_sdf::{auto_sign_method, offset, SdfOptions, SignedDistance};
use std::time::Instant;

fn best<T>(n: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut out = None;
    let mut b = f64::INFINITY;
    for _ in 0..n {
        let t = Instant::now();
        let r = f();
        b = b.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (b, out.expect("n > 0"))
}

/// Process CPU time (user + system), seconds, from /proc (Linux; 0 elsewhere).
fn cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 4 {
        eprintln!("usage: field_timing MESH DISTANCE VOXEL [N]");
        std::process::exit(2);
    }
    let mesh = osteon_io::read_mesh(std::path::Path::new(&a[1])).expect("read");
    let d: f64 = a[2].parse().expect("distance");
    let v: f64 = a[3].parse().expect("voxel");
    let n: usize = a.get(4).and_then(|s| s.parse().ok()).unwrap_or(3);
    let (t_sign, m) = best(n, || auto_sign_method(&mesh).expect("sign"));
    let (t_build, _) = best(n, || SignedDistance::with_sign(&mesh, m).expect("build"));
    let mut opts = SdfOptions::default()
        .with_voxel_mm(v)
        .with_project(false)
        .with_measure(false);
    if let Some(b) = std::env::var("SDF_BAND").ok().and_then(|b| b.parse().ok()) {
        opts.band_voxels = b;
    }
    let mut sdf = f64::INFINITY;
    let mut ext = f64::INFINITY;
    let mut tris = 0;
    let mut cpu_min = f64::INFINITY;
    for _ in 0..n {
        let c0 = cpu();
        let (out, r) = offset(&mesh, d, &opts, &NoProgress, &NeverCancel).expect("offset");
        sdf = sdf.min(r.timings_s["sdf"]);
        ext = ext.min(r.timings_s["extract"]);
        tris = out.triangles.len();
        cpu_min = cpu_min.min(cpu() - c0);
    }
    println!(
        "{} tris, sign {m:?}: auto_sign {t_sign:.3} s, build {t_build:.3} s, sdf {sdf:.3} s, extract {ext:.3} s, mc tris {tris}, cpu of the offset {cpu_min:.2} s",
        mesh.triangles.len()
    );
}
