//! Offset speed on the femur of `../shared/scans/meshes` (units treated as mm; 3.5 × 1.9 ×
//! 9.3, so 0.05 mm voxels) and, when given, on a larger bone mesh.
//!
//! `cargo bench -p osteon-sdf --bench offset` prints a table (best of 3 runs per stage: the
//! field + extraction + projection without measurement, and the measurement alone), then runs
//! the criterion benchmark. `OSTEON_BENCH_MESH=path.stl OSTEON_BENCH_VOXEL=0.5` adds a mesh
//! of your own (e.g. a bone extracted from the head CT with `osteon mesh … --preset bone`).
//! MeshLib's `offsetMesh` on the same input: `/work/peers/scripts/meshlib_offset.py`.

use criterion::Criterion;
use osteon_geom::{NeverCancel, NoProgress};
use osteon_mesh::Mesh;
use osteon_sdf::{offset, SdfOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn femur() -> Option<Mesh> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/scans/meshes/openforge_leg-right_femur.stl");
    osteon_io::read_mesh(&p).ok()
}

fn best_of(n: usize, mut f: impl FnMut()) -> f64 {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn table(name: &str, mesh: &Mesh, d: f64, voxel: f64) {
    let fast = SdfOptions::default()
        .with_voxel_mm(voxel)
        .with_measure(false);
    let t_off = best_of(3, || {
        offset(mesh, d, &fast, &NoProgress, &NeverCancel).expect("offset");
    });
    let full = SdfOptions::default().with_voxel_mm(voxel);
    let (out, report) = offset(mesh, d, &full, &NoProgress, &NeverCancel).expect("offset");
    let e = &report.error;
    println!(
        "| {name} | {} | {d:+} | {voxel} | {} | {t_off:.3} | {:.3} | {:.2} / {:.2} / {:.2} |",
        mesh.triangles.len(),
        out.triangles.len(),
        report.timings_s.get("measure").copied().unwrap_or(0.0),
        e.mean_pct_voxel,
        e.p99_pct_voxel,
        e.max_pct_voxel
    );
}

fn main() {
    let Some(femur) = femur() else {
        eprintln!("../shared/scans not found: nothing to benchmark");
        return;
    };
    println!("| mesh | input tris | d mm | voxel mm | output tris | offset s (best of 3, no measure) | measure s | error mean / p99 / max % voxel |");
    println!("|---|---|---|---|---|---|---|---|");
    table("femur", &femur, 1.0, 0.05);
    table("femur", &femur, 0.3, 0.05);
    if let Ok(p) = std::env::var("OSTEON_BENCH_MESH") {
        let p = PathBuf::from(p);
        let voxel: f64 = std::env::var("OSTEON_BENCH_VOXEL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.5);
        match osteon_io::read_mesh(&p) {
            Ok(m) => table(&p.display().to_string(), &m, 1.0, voxel),
            Err(e) => eprintln!("{}: {e}", p.display()),
        }
    }
    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .configure_from_args();
    let opts = SdfOptions::default()
        .with_voxel_mm(0.05)
        .with_measure(false);
    c.bench_function("offset femur +1.0 at 0.05", |b| {
        b.iter(|| offset(&femur, 1.0, &opts, &NoProgress, &NeverCancel).expect("offset"))
    });
    c.final_summary();
}
