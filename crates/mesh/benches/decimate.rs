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
//!
//! `OSTEON_DEC_DIAG=a.ply` times the parts of a ratio-0.1 run (self-intersection guard off,
//! the search of that output, guard on) and prints the result's quality (volume change,
//! deviations, mean angle between adjacent faces); with `OSTEON_DEC_PAIRS=1` also every
//! crossing pair of the unguarded output with its ring distance. `OSTEON_DEC_ONE=a.ply`
//! does one run (guard off with `OSTEON_DEC_GUARD=0`), for `perf`, and prints a digest of
//! the output (equal digests: almost surely byte-identical results).

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
    m.append(&s.map_positions(|p| p + Vec3::X * 100.0));
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

/// `OSTEON_DEC_DIAG=mesh.ply`: the parts of a ratio-0.1 run (guard off, the guard's
/// search, guard on) timed separately, best of 3.
fn diag(path: &str) {
    let m = read_mesh_file(path);
    let best = |f: &dyn Fn() -> String| {
        let mut b = f64::INFINITY;
        let mut s = String::new();
        for _ in 0..3 {
            let t0 = Instant::now();
            s = std::hint::black_box(f());
            b = b.min(t0.elapsed().as_secs_f64());
        }
        (b, s)
    };
    let off = DecimateOptions::default()
        .ratio(Some(0.1))
        .measure(false)
        .prevent_self_intersections(false);
    let (out, rep_off) = decimate(&m, &off, &NoProgress, &NeverCancel).unwrap();
    println!("guard off: {} passes", rep_off.passes);
    let (t_off, _) = best(&|| {
        let r = decimate(&m, &off, &NoProgress, &NeverCancel).unwrap();
        r.0.triangles.len().to_string()
    });
    let (t_search, s) = best(&|| format!("{} faces", self_intersections(&out).faces.len()));
    if std::env::var("OSTEON_DEC_PAIRS").is_ok() {
        pairs_report(&out);
    }
    println!("guard off {t_off:.3} s; search of its output {t_search:.3} s ({s})");
    let on = DecimateOptions::default().ratio(Some(0.1)).measure(false);
    let (t_on, s) = best(&|| {
        let (o, r) = decimate(&m, &on, &NoProgress, &NeverCancel).unwrap();
        format!(
            "{} tris, reruns {}, kept {}, crossing {:?}, prevented {}, passes {}",
            o.triangles.len(),
            r.intersection_reruns,
            r.kept_for_intersections,
            r.self_intersecting_faces,
            r.crossings_prevented,
            r.passes
        )
    });
    println!("guard on {t_on:.3} s: {s}");
    let (o, r) = decimate(
        &m,
        &DecimateOptions::default().ratio(Some(0.1)),
        &NoProgress,
        &NeverCancel,
    )
    .unwrap();
    println!(
        "quality: vol {:+.4} %, mean dev {:.4} mm, max dev {:.4} mm, mean face angle {:.3} deg, min quality<0.1: {}",
        r.volume_change_pct,
        r.mean_deviation_mm,
        r.max_deviation_mm,
        mean_face_angle(&o),
        o.triangles
            .iter()
            .filter(|t| shape_quality(&o, t) < 0.1)
            .count()
    );
}

/// For every crossing pair of `m`: the ring distance between the two triangles (0 when
/// they share a vertex) and their normals' dot.
fn pairs_report(m: &Mesh) {
    let faces = self_intersections(m).faces;
    let tri = |f: u32| m.triangles[f as usize].map(|i| m.positions[i as usize]);
    let mut adj = vec![Vec::new(); m.positions.len()];
    for t in &m.triangles {
        for k in 0..3 {
            adj[t[k] as usize].push(t[(k + 1) % 3]);
            adj[t[(k + 1) % 3] as usize].push(t[k]);
        }
    }
    for (i, &f) in faces.iter().enumerate() {
        for &g in &faces[i + 1..] {
            if !osteon_mesh::triangles_intersect(tri(f), tri(g)) {
                continue;
            }
            let mut dist = vec![u32::MAX; m.positions.len()];
            let mut q = std::collections::VecDeque::new();
            for v in m.triangles[f as usize] {
                dist[v as usize] = 0;
                q.push_back(v);
            }
            while let Some(v) = q.pop_front() {
                if dist[v as usize] >= 8 {
                    continue;
                }
                for &w in &adj[v as usize] {
                    if dist[w as usize] == u32::MAX {
                        dist[w as usize] = dist[v as usize] + 1;
                        q.push_back(w);
                    }
                }
            }
            let d = m.triangles[g as usize]
                .iter()
                .map(|&v| dist[v as usize])
                .min()
                .unwrap();
            let n = |t: [Vec3; 3]| (t[1] - t[0]).cross(t[2] - t[0]).normalize();
            println!(
                "pair {f} {g}: rings {d}, normal dot {:.2}",
                n(tri(f)).dot(n(tri(g)))
            );
        }
    }
}

fn shape_quality(m: &Mesh, t: &[u32; 3]) -> f64 {
    let p = t.map(|i| m.positions[i as usize].as_dvec3());
    let n = (p[1] - p[0]).cross(p[2] - p[0]).length();
    let s = (p[1] - p[0]).length_squared()
        + (p[2] - p[1]).length_squared()
        + (p[0] - p[2]).length_squared();
    if s > 0.0 {
        2.0 * 3f64.sqrt() * n / s
    } else {
        0.0
    }
}

/// Mean angle, degrees, between the normals of triangles sharing an edge.
fn mean_face_angle(m: &Mesh) -> f64 {
    let mut edges = std::collections::BTreeMap::new();
    let normal = |t: &[u32; 3]| {
        let p = t.map(|i| m.positions[i as usize].as_dvec3());
        (p[1] - p[0]).cross(p[2] - p[0]).normalize_or_zero()
    };
    let (mut sum, mut n) = (0.0, 0usize);
    for (ti, t) in m.triangles.iter().enumerate() {
        for k in 0..3 {
            let (a, b) = (t[k].min(t[(k + 1) % 3]), t[k].max(t[(k + 1) % 3]));
            if let Some(o) = edges.insert((a, b), ti) {
                let c = normal(t).dot(normal(&m.triangles[o])).clamp(-1.0, 1.0);
                sum += c.acos().to_degrees();
                n += 1;
            }
        }
    }
    sum / n.max(1) as f64
}

fn main() {
    if let Ok(path) = std::env::var("OSTEON_DEC_ONE") {
        // One ratio-0.1 run, guard on or off (`OSTEON_DEC_GUARD=0`), for `perf stat`.
        let m = read_mesh_file(&path);
        let o = DecimateOptions::default()
            .ratio(Some(0.1))
            .measure(false)
            .prevent_self_intersections(std::env::var("OSTEON_DEC_GUARD").as_deref() != Ok("0"));
        let (out, rep) = decimate(&m, &o, &NoProgress, &NeverCancel).unwrap();
        // An FNV-style hash of the output's coordinates and indices (32-bit words): equal
        // digests mean, almost surely, byte-identical results (to compare builds).
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        let words = out
            .positions
            .iter()
            .flat_map(|p| p.to_array().map(f32::to_bits));
        for w in words.chain(out.triangles.iter().flatten().copied()) {
            h = (h ^ w as u64).wrapping_mul(0x100_0000_01b3);
        }
        println!(
            "{} triangles, {} reruns, {} crossings prevented, digest {h:016x}",
            out.triangles.len(),
            rep.intersection_reruns,
            rep.crossings_prevented
        );
        return;
    }
    if let Ok(path) = std::env::var("OSTEON_DEC_DIAG") {
        diag(&path);
        return;
    }
    if let Ok(list) = std::env::var("OSTEON_DECIMATE_PLY") {
        table(&list);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
