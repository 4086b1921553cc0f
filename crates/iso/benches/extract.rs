//! Extraction speed: a synthetic 512×512×400 mask of thick shells and blobs, and the
//! SkullBreak skull mask when `../shared/scans` is present.
//!
//! `cargo bench -p osteon-iso` prints a table (best of 7 runs at 1 and 2 threads: Mvoxel/s and
//! Mtriangles/s), then runs the criterion benchmarks.

use criterion::Criterion;
use osteon_geom::{NeverCancel, NoProgress};
use osteon_iso::{extract_mask, ExtractOptions};
use osteon_volume::{Grid, Volume};
use rayon::prelude::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// Deterministic phantom: three thick spherical shells, a slab and some solid blobs.
fn synthetic() -> Volume<u8> {
    let dims = [512usize, 512, 400];
    let grid = Grid::new(dims, [0.5, 0.5, 0.6]);
    let (nx, ny) = (dims[0], dims[1]);
    let shells = [
        ([256.0, 256.0, 200.0], 180.0, 8.0),
        ([200.0, 240.0, 180.0], 90.0, 5.0),
        ([330.0, 280.0, 230.0], 60.0, 12.0),
    ];
    let blobs = [
        ([120.0, 120.0, 80.0], 30.0),
        ([400.0, 130.0, 320.0], 25.0),
        ([256.0, 420.0, 60.0], 40.0),
    ];
    let mut data = vec![0u8; grid.len()];
    data.par_chunks_mut(nx * ny)
        .enumerate()
        .for_each(|(k, plane)| {
            for j in 0..ny {
                for i in 0..nx {
                    let p = [i as f64, j as f64, k as f64];
                    let d = |c: [f64; 3]| {
                        ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2) + (p[2] - c[2]).powi(2))
                            .sqrt()
                    };
                    let inside = shells.iter().any(|&(c, r, t)| (d(c) - r).abs() < t)
                        || blobs.iter().any(|&(c, r)| d(c) < r)
                        || (k > 380 && (i / 16 + j / 16) % 2 == 0);
                    plane[i + nx * j] = u8::from(inside) * 255;
                }
            }
        });
    Volume::new(grid, data).unwrap()
}

fn skull() -> Option<Volume<u8>> {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/scans"
    ))
    .join("skullbreak_parietotemporal_001/png_mask8");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("volume.json")).ok()?).ok()?;
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    let d = |a: usize| meta["dims"][a].as_u64().unwrap() as usize;
    let dims = [d(0), d(1), d(2)];
    let grid = Grid::new(dims, [0, 1, 2].map(|a| f(&meta["spacing_mm"][a])))
        .with_origin([0, 1, 2].map(|a| f(&meta["origin_mm"][a])))
        .with_direction([0, 1, 2].map(|r| [0, 1, 2].map(|c| f(&meta["direction"][r][c]))));
    let slices: Vec<Vec<u8>> = (0..dims[2])
        .into_par_iter()
        .map(|k| {
            image::open(dir.join(format!("slice_{k:04}.png")))
                .unwrap()
                .into_luma8()
                .into_raw()
        })
        .collect();
    Volume::new(grid, slices.concat()).ok()
}

fn best_of(n: usize, threads: usize, vol: &Volume<u8>) -> (Duration, usize) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut best = Duration::MAX;
        let mut tris = 0;
        for _ in 0..n {
            let t = Instant::now();
            let (mesh, _) =
                extract_mask(vol, &ExtractOptions::default(), &NoProgress, &NeverCancel).unwrap();
            best = best.min(t.elapsed());
            tris = mesh.triangles.len();
            drop(mesh);
        }
        (best, tris)
    })
}

fn main() {
    let mut cases = Vec::new();
    if std::env::var_os("ISO_BENCH_SKULL_ONLY").is_none() {
        cases.push(("synthetic 512x512x400", synthetic()));
    }
    if let Some(s) = skull() {
        cases.push(("skullbreak 512^3", s));
    }
    println!(
        "{:<24} {:>7} {:>11} {:>10} {:>9} {:>10} {:>10}",
        "mask", "threads", "triangles", "vertices", "time s", "Mvoxel/s", "Mtri/s"
    );
    for (name, vol) in &cases {
        let (_, report) =
            extract_mask(vol, &ExtractOptions::default(), &NoProgress, &NeverCancel).unwrap();
        for threads in [1, 2] {
            let (t, tris) = best_of(7, threads, vol);
            let s = t.as_secs_f64();
            println!(
                "{:<24} {:>7} {:>11} {:>10} {:>9.4} {:>10.0} {:>10.1}",
                name,
                threads,
                tris,
                report.vertices,
                s,
                vol.data.len() as f64 / s / 1e6,
                tris as f64 / s / 1e6
            );
        }
    }

    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    for (name, vol) in &cases {
        let mut g = c.benchmark_group(name.to_string());
        g.throughput(criterion::Throughput::Elements(vol.data.len() as u64));
        g.bench_function("extract_mask", |b| {
            b.iter(|| {
                extract_mask(vol, &ExtractOptions::default(), &NoProgress, &NeverCancel).unwrap()
            })
        });
        g.finish();
    }
    c.final_summary();
}
