//! Decimation benchmarks.
//!
//! `cargo bench -p osteon-mesh --bench decimate` runs criterion on a synthetic sphere
//! (~160 k triangles, like the head CT bone mesh): ratio 0.1 without measurement, and the
//! 0.1 mm bounded mode.
//!
//! With `OSTEON_DECIMATE_PLY=a.ply,b.ply` it instead prints a table for real meshes (binary
//! little-endian PLY as written by `osteon mesh`): time to 10 % (ratio mode, no measurement,
//! best of 3), time and reduction at 0.1 mm, measured deviations, topology of the result and
//! self-intersections; with `OSTEON_DECIMATE_OUT=dir` the 0.1 mm results are written there
//! as `<name>.dec.ply` with a `<name>.dec.json` report (for independent checks), and with
//! `OSTEON_DEC_RATIO_ONLY=1` only the ratio-mode timings are printed.

use std::io::Write;
use std::time::Instant;

use criterion::{criterion_group, Criterion};
use osteon_geom::{NeverCancel, NoProgress, Vec3};
use osteon_mesh::shapes::icosphere;
use osteon_mesh::{decimate, report, self_intersections, DecimateOptions, Mesh};

fn bench(c: &mut Criterion) {
    // 20 · 4^6 = 81 920 triangles; two copies side by side make ~164 k.
    let s = icosphere(6, 40.0);
    let mut m = s.clone();
    let n = m.positions.len() as u32;
    m.positions
        .extend(s.positions.iter().map(|p| *p + Vec3::X * 100.0));
    m.triangles
        .extend(s.triangles.iter().map(|t| t.map(|i| i + n)));
    let mut g = c.benchmark_group("decimate");
    g.sample_size(10);
    let ratio = DecimateOptions::default().ratio(Some(0.1)).measure(false);
    g.bench_function("spheres_164k_ratio_0.1", |b| {
        b.iter(|| decimate(&m, &ratio, &NoProgress, &NeverCancel).unwrap())
    });
    let bounded = DecimateOptions::default()
        .max_error_mm(Some(0.1))
        .measure(false);
    g.bench_function("spheres_164k_0.1mm", |b| {
        b.iter(|| decimate(&m, &bounded, &NoProgress, &NeverCancel).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
/// Reads a mesh with osteon's own reader (any format it reads).
fn read_mesh_file(path: &str) -> Mesh {
    osteon_io::read_mesh(std::path::Path::new(path)).expect("readable mesh")
}

fn write_ply(path: &str, m: &Mesh) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    write!(
        w,
        "ply\nformat binary_little_endian 1.0\nelement vertex {}\nproperty float x\nproperty float y\nproperty float z\nelement face {}\nproperty list uchar int vertex_indices\nend_header\n",
        m.positions.len(),
        m.triangles.len()
    )
    .unwrap();
    for p in &m.positions {
        for c in p.to_array() {
            w.write_all(&c.to_le_bytes()).unwrap();
        }
    }
    for t in &m.triangles {
        w.write_all(&[3]).unwrap();
        for i in t {
            w.write_all(&i.to_le_bytes()).unwrap();
        }
    }
}

fn table(list: &str) {
    let out_dir = std::env::var("OSTEON_DECIMATE_OUT").ok();
    let e = 0.1;
    println!(
        "| mesh | triangles | ratio 0.1 s | 0.1 mm s | after 0.1 mm | kept % | out→in max mm | in→out max mm | mean mm | vol % | genus | closed/manifold/oriented | self-x | stopped |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for path in list.split(',') {
        let m = read_mesh_file(path);
        let name = std::path::Path::new(path)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let ratio = DecimateOptions::default().ratio(Some(0.1)).measure(false);
        let mut best = f64::INFINITY;
        let mut last = None;
        for _ in 0..if m.triangles.len() > 1_000_000 { 1 } else { 3 } {
            let t0 = Instant::now();
            let r = decimate(&m, &ratio, &NoProgress, &NeverCancel).unwrap();
            best = best.min(t0.elapsed().as_secs_f64());
            last = Some(std::hint::black_box(r));
        }
        if std::env::var("OSTEON_DEC_RATIO_ONLY").is_ok() {
            let (out, rep) = last.expect("one run");
            println!(
                "{name}: ratio 0.1 best {best:.3} s ({} -> {} triangles, {} passes)",
                rep.triangles_before,
                out.triangles.len(),
                rep.passes
            );
            continue;
        }
        // Timed with the measurement of the report included.
        let t0 = Instant::now();
        let (out, rep) = decimate(
            &m,
            &DecimateOptions::default().max_error_mm(Some(e)),
            &NoProgress,
            &NeverCancel,
        )
        .unwrap();
        let t_bounded = t0.elapsed().as_secs_f64();
        let r = report(&out).unwrap();
        let sx = self_intersections(&out);
        let sx_in = self_intersections(&m);
        println!(
            "| {name} | {} | {best:.3} | {t_bounded:.2} | {} | {:.1} | {:.4} | {:.4} | {:.4} | {:+.3} | {:?}→{:?} | {}/{}/{} | {} (input {}) | {} |",
            rep.triangles_before,
            rep.triangles_after,
            100.0 * rep.triangles_after as f64 / rep.triangles_before as f64,
            rep.max_deviation_output_to_input_mm,
            rep.max_deviation_input_to_output_mm,
            rep.mean_deviation_mm,
            rep.volume_change_pct,
            rep.genus_before,
            rep.genus_after,
            r.watertight,
            r.manifold,
            r.oriented,
            sx.pairs,
            sx_in.pairs,
            rep.stopped_by
        );
        if let Some(dir) = &out_dir {
            write_ply(&format!("{dir}/{name}.dec.ply"), &out);
            std::fs::write(
                format!("{dir}/{name}.dec.json"),
                serde_json::to_string_pretty(&rep).unwrap(),
            )
            .unwrap();
        }
    }
}

fn main() {
    if let Ok(list) = std::env::var("OSTEON_DECIMATE_PLY") {
        table(&list);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
