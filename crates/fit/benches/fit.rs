//! Fit and compare benchmarks.
//!
//! `cargo bench -p osteon-fit --bench fit` runs criterion on synthetic pairs: a 12 mm plate
//! laid on (and pushed 0.5 mm into) an 81 920-triangle sphere of radius 15 mm — full `fit`
//! and the signed distance of the implant vertices alone — and `compare` of two 163 840-
//! triangle meshes (two spheres) against a copy moved 0.3 mm, with the default adaptive
//! sampling and with vertex sampling.
//!
//! With `OSTEON_FIT_PAIR=implant.stl,bone.stl` (and/or `OSTEON_COMPARE_PAIR=a.stl,b.stl`) it
//! instead prints a table for those files: best of 7 runs of `fit` (also without the volume),
//! of the implant-vertex signed distances, and of `compare` (adaptive and vertex sampling),
//! with the key results — the figures quoted against MeshLib in the peer script
//! `/work/peers/scripts/fit_peer.py`.
//! `OSTEON_BENCH_RUNS=N` sets the runs (best of N), `OSTEON_BENCH_FIT_ONLY=1` times `fit`
//! alone (for `perf record`), `OSTEON_BENCH_JSON=1` also prints the report as JSON (to check
//! that a faster build gives the same figures).

use std::time::Instant;

use criterion::{criterion_group, Criterion};
use osteon_fit::phantom::plate_on_surface;
use osteon_fit::{compare, compare_with, fit, CompareOptions, FitOptions, Sampling, SignedIndex};
use osteon_geom::{DVec3, NeverCancel, NoProgress, Vec3};
use osteon_mesh::shapes::icosphere;
use osteon_mesh::Mesh;

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

/// `OSTEON_BENCH_RUNS`, else `default`.
fn bench_runs(default: usize) -> usize {
    std::env::var("OSTEON_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(default)
}

fn vertex_distances(implant: &Mesh, bone: &Mesh) -> (f64, f64) {
    let idx = SignedIndex::new(bone).unwrap();
    let p: Vec<DVec3> = implant.positions.iter().map(|p| p.as_dvec3()).collect();
    let d = idx.query_many(&p);
    let lo = d.iter().map(|q| q.distance).fold(f64::INFINITY, f64::min);
    let hi = d
        .iter()
        .map(|q| q.distance)
        .fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

fn table(implant: &str, bone: &str) {
    let i = osteon_io::read_mesh(implant.as_ref()).unwrap();
    let b = osteon_io::read_mesh(bone.as_ref()).unwrap();
    let runs = bench_runs(7);
    let (t_fit, r) = best_of(runs, || fit(&i, &b, &FitOptions::default()).unwrap());
    println!(
        "fit {implant} ({} tri) vs {bone} ({} tri)",
        i.triangles.len(),
        b.triangles.len()
    );
    println!("  fit (all)              {t_fit:.4} s  intersects {} depth {:?} volume {:?} clearance {:.4} contact {:?}",
        r.intersects, r.max_penetration_mm, r.penetration_volume_mm3, r.min_clearance_mm, r.contact_fraction);
    if std::env::var_os("OSTEON_BENCH_JSON").is_some() {
        // The report as `osteon fit --json` prints it (to compare builds).
        println!("{}", serde_json::to_string(&r).unwrap());
    }
    if std::env::var_os("OSTEON_BENCH_FIT_ONLY").is_some() {
        return;
    }
    let novol = FitOptions::default().with_penetration_volume(false);
    let (t_nv, _) = best_of(runs, || fit(&i, &b, &novol).unwrap());
    let (t_sd, (lo, hi)) = best_of(runs, || vertex_distances(&i, &b));
    println!("  fit (no volume)        {t_nv:.4} s");
    println!("  vertex signed distance {t_sd:.4} s  range {lo:.4} .. {hi:.4}");
    let (t_di, _) = best_of(runs, || osteon_mesh::DistanceIndex::new(&b).unwrap());
    let (t_to, _) = best_of(runs, || osteon_mesh::Topology::new(&b).unwrap());
    let (t_si, _) = best_of(runs, || SignedIndex::new(&b).unwrap());
    println!("  bone index: distance {t_di:.4} s, topology {t_to:.4} s, signed (both + normals) {t_si:.4} s");
}

fn compare_table(a: &str, b: &str) {
    let ma = osteon_io::read_mesh(a.as_ref()).unwrap();
    let mb = osteon_io::read_mesh(b.as_ref()).unwrap();
    let runs = bench_runs(5);
    println!(
        "compare {a} ({} tri) vs {b} ({} tri)",
        ma.triangles.len(),
        mb.triangles.len()
    );
    for sampling in [Sampling::Adaptive, Sampling::Vertices] {
        let opts = CompareOptions::default().with_sampling(sampling);
        let (t, r) = best_of(runs, || {
            compare_with(&ma, &mb, &opts, &NoProgress, &NeverCancel).unwrap()
        });
        println!(
            "  compare ({sampling:?}) {t:.4} s  hausdorff {:.6} hd95 {:.6} mean {:.6} rms {:.6}",
            r.hausdorff_mm, r.hd95_mm, r.mean_mm, r.rms_mm
        );
    }
}

fn synthetic() -> (Mesh, Mesh, Mesh, Mesh) {
    let bone = icosphere(6, 15.0);
    let plate = plate_on_surface(&bone, Vec3::new(15.0, 0.0, 0.0), 12.0, 0.3, 2.0).unwrap();
    let pushed = plate.map_positions(|p| p - Vec3::X * 0.8);
    let s = icosphere(6, 40.0);
    let mut two = s.clone();
    two.append(&s.map_positions(|p| p + Vec3::X * 100.0));
    let moved = two.map_positions(|p| p + Vec3::new(0.3, 0.0, 0.0));
    (pushed, bone, two, moved)
}

fn bench(c: &mut Criterion) {
    let (plate, bone, a, b) = synthetic();
    let mut g = c.benchmark_group("fit");
    g.sample_size(10);
    g.bench_function("plate_on_sphere82k_fit", |x| {
        x.iter(|| fit(&plate, &bone, &FitOptions::default()).unwrap())
    });
    g.bench_function("plate_on_sphere82k_vertex_sd", |x| {
        x.iter(|| vertex_distances(&plate, &bone))
    });
    g.bench_function("compare_spheres164k", |x| {
        x.iter(|| compare(&a, &b).unwrap())
    });
    let vertices = CompareOptions::default().with_sampling(Sampling::Vertices);
    g.bench_function("compare_spheres164k_vertices", |x| {
        x.iter(|| compare_with(&a, &b, &vertices, &NoProgress, &NeverCancel).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    let fit_pair = std::env::var("OSTEON_FIT_PAIR").ok();
    let cmp_pair = std::env::var("OSTEON_COMPARE_PAIR").ok();
    if fit_pair.is_none() && cmp_pair.is_none() {
        benches();
        Criterion::default().configure_from_args().final_summary();
        return;
    }
    if let Some(p) = fit_pair {
        for pair in p.split(';') {
            let (i, b) = pair.split_once(',').expect("implant.stl,bone.stl");
            table(i, b);
        }
    }
    if let Some(p) = cmp_pair {
        for pair in p.split(';') {
            let (a, b) = pair.split_once(',').expect("a.stl,b.stl");
            compare_table(a, b);
        }
    }
}
