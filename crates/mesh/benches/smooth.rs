//! Smoothing and self-intersection benchmarks.
//!
//! `cargo bench -p osteon-mesh --bench smooth` runs criterion on a synthetic staircase (the
//! voxel-face surface of a ball, ~160 k triangles, like the head CT bone mesh): windowed
//! sinc and Taubin with defaults, and the self-intersection search.
//!
//! With `OSTEON_SMOOTH_PLY=a.ply,b.ply` it instead prints a table for real meshes (binary
//! little-endian PLY as written by `osteon mesh`): smoothing time (best of 5) with the
//! default options, volume change, displacements, mean angle between neighbouring faces
//! before and after, and self-intersections (with their search time) before and after.
//! `OSTEON_SMOOTH_THREADS=n` sets the thread count of that run; `OSTEON_SMOOTH_ONLY=smooth`
//! (best of 3, one line per mesh) or `=si` (self-intersection search, best of 5) time one
//! part;
//! the options come from `OSTEON_SMOOTH_ITER`, `OSTEON_SMOOTH_PASSBAND`,
//! `OSTEON_SMOOTH_METHOD=taubin`, `OSTEON_SMOOTH_KEEP_VOLUME=0`, `OSTEON_SMOOTH_CHECK=0`.

use std::collections::HashMap;
use std::time::Instant;

use criterion::{criterion_group, Criterion};
use osteon_geom::{NeverCancel, NoProgress, Vec3};
use osteon_mesh::{self_intersections, smooth, Mesh, SmoothMethod, SmoothOptions};

/// Voxel-face surface of a digital ball of radius `r` voxels (1 mm voxels).
fn staircase_ball(r: i32) -> Mesh {
    let inside = |c: [i32; 3]| c[0] * c[0] + c[1] * c[1] + c[2] * c[2] <= r * r;
    let mut ids: HashMap<[i32; 3], u32> = HashMap::new();
    let mut positions = Vec::new();
    let mut triangles = Vec::new();
    for i in -r - 1..=r + 1 {
        for j in -r - 1..=r + 1 {
            for k in -r - 1..=r + 1 {
                let c = [i, j, k];
                if !inside(c) {
                    continue;
                }
                for d in 0..3 {
                    for s in [-1, 1] {
                        let mut n = c;
                        n[d] += s;
                        if inside(n) {
                            continue;
                        }
                        let (u, w) = ((d + 1) % 3, (d + 2) % 3);
                        let mut quad = [(-1, -1), (1, -1), (1, 1), (-1, 1)].map(|(a, b)| {
                            let mut q = c.map(|x| 2 * x);
                            q[d] += s;
                            q[u] += a;
                            q[w] += b;
                            q
                        });
                        if s < 0 {
                            quad.reverse();
                        }
                        let q = quad.map(|key| {
                            *ids.entry(key).or_insert_with(|| {
                                positions.push(Vec3::new(
                                    key[0] as f32 * 0.5,
                                    key[1] as f32 * 0.5,
                                    key[2] as f32 * 0.5,
                                ));
                                positions.len() as u32 - 1
                            })
                        });
                        triangles.push([q[0], q[1], q[2]]);
                        triangles.push([q[0], q[2], q[3]]);
                    }
                }
            }
        }
    }
    Mesh::new(positions, triangles).unwrap()
}
/// Reads a mesh with osteon's own reader (any format it reads).
fn read_mesh_file(path: &str) -> Mesh {
    osteon_io::read_mesh(std::path::Path::new(path)).expect("readable mesh")
}

fn best_of<T>(n: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..n {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (best, out.expect("n > 0"))
}

/// The defaults, or `OSTEON_SMOOTH_ITER` / `OSTEON_SMOOTH_PASSBAND` / `OSTEON_SMOOTH_METHOD`
/// (`taubin`) / `OSTEON_SMOOTH_KEEP_VOLUME` (`0`) / `OSTEON_SMOOTH_CHECK` (`0`: no
/// self-intersection roll-back).
fn options() -> SmoothOptions {
    let mut o = SmoothOptions::default();
    if let Some(n) = std::env::var("OSTEON_SMOOTH_ITER")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        o = o.iterations(n);
    }
    if let Some(k) = std::env::var("OSTEON_SMOOTH_PASSBAND")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        o = o.passband(k);
    }
    if std::env::var("OSTEON_SMOOTH_CHECK").as_deref() == Ok("0") {
        o = o.prevent_self_intersections(false);
    }
    if std::env::var("OSTEON_SMOOTH_KEEP_VOLUME").as_deref() == Ok("0") {
        o = o.preserve_volume(false);
    }
    if std::env::var("OSTEON_SMOOTH_METHOD").as_deref() == Ok("taubin") {
        o = o.method(SmoothMethod::Taubin);
    }
    o
}

fn table(list: &str) {
    println!(
        "mesh | triangles | smooth s | volume % | max disp mm | mean disp mm | angle before° | after° | ratio | self-int before (s) | after (s)"
    );
    for path in list.split(',') {
        let m = read_mesh_file(path);
        if std::env::var("OSTEON_SMOOTH_ONLY").as_deref() == Ok("si") {
            let (t, s) = best_of(5, || self_intersections(&m));
            println!("{path}: {} faces, {t:.4} s", s.faces.len());
            continue;
        }
        if std::env::var("OSTEON_SMOOTH_ONLY").as_deref() == Ok("smooth") {
            let o = options();
            let (t, (_, r)) = best_of(3, || smooth(&m, &o, &NoProgress, &NeverCancel).unwrap());
            println!(
                "{path} {} {} {}: {t:.4} s, volume {:+.3} % (filter {:+.3} %, offset {:.4} mm), angle {:.2} -> {:.2} ({:.3}), rolled back {} vertices, {:?} left",
                o.method,
                o.iterations,
                o.passband,
                r.volume_change_pct,
                r.filter_volume_change_pct,
                r.volume_offset_mm,
                r.mean_normal_angle_before_deg,
                r.mean_normal_angle_after_deg,
                r.mean_normal_angle_after_deg / r.mean_normal_angle_before_deg,
                r.rolled_back_vertices,
                r.self_intersecting_faces_after
            );
            continue;
        }
        let o = options();
        let (ts, (s, r)) = best_of(5, || smooth(&m, &o, &NoProgress, &NeverCancel).unwrap());
        let (ti0, i0) = best_of(3, || self_intersections(&m));
        let (ti1, i1) = best_of(3, || self_intersections(&s));
        let name = std::path::Path::new(path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        println!(
            "{name} | {} | {ts:.4} | {:+.4} | {:.3} | {:.4} | {:.2} | {:.2} | {:.3} | {} ({ti0:.3}) | {} ({ti1:.3})",
            m.triangles.len(),
            r.volume_change_pct,
            r.max_displacement_mm,
            r.mean_displacement_mm,
            r.mean_normal_angle_before_deg,
            r.mean_normal_angle_after_deg,
            r.mean_normal_angle_after_deg / r.mean_normal_angle_before_deg,
            i0.faces.len(),
            i1.faces.len(),
        );
    }
}

fn benches(c: &mut Criterion) {
    let m = staircase_ball(64);
    eprintln!("staircase ball: {} triangles", m.triangles.len());
    let mut g = c.benchmark_group("smooth");
    g.sample_size(20);
    g.bench_function("windowed_sinc_default", |b| {
        b.iter(|| smooth(&m, &SmoothOptions::default(), &NoProgress, &NeverCancel).unwrap())
    });
    let taubin = SmoothOptions::default().method(SmoothMethod::Taubin);
    g.bench_function("taubin_default", |b| {
        b.iter(|| smooth(&m, &taubin, &NoProgress, &NeverCancel).unwrap())
    });
    g.bench_function("self_intersections", |b| b.iter(|| self_intersections(&m)));
    g.finish();
}

criterion_group!(group, benches);

fn main() {
    if let Ok(list) = std::env::var("OSTEON_SMOOTH_PLY") {
        let threads = std::env::var("OSTEON_SMOOTH_THREADS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| table(&list));
        return;
    }
    group();
    Criterion::default().configure_from_args().final_summary();
}
