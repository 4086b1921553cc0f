//! Repair benchmark.
//!
//! `cargo bench -p osteon-mesh --bench repair` runs criterion on a synthetic broken sphere
//! (icosphere level 6, 81 920 triangles, with 12 holes, the vertices of 20 % of the
//! triangles duplicated and 5 % of the triangles flipped, deterministic).
//!
//! With `OSTEON_REPAIR_MESH=a.ply,b.stl` it instead prints, for each real mesh (read with
//! osteon's reader, I/O not timed), the best of `OSTEON_REPAIR_REPEAT` (default 5) repair
//! times with the default options and the result: the in-process side of the peer
//! comparison in `/work/peers/scripts/repair_peers.py` (same file, same session), then
//! the best time of every step (the log's `timings_s`) and of two building blocks on the
//! output (`Topology::new`, `self_intersections`).

use std::collections::BTreeMap;
use std::time::Instant;

use criterion::{criterion_group, Criterion};
use osteon_geom::{Lcg, Vec3};
use osteon_mesh::repair::{repair, RepairOptions};
use osteon_mesh::shapes::icosphere;
use osteon_mesh::topology::Topology;
use osteon_mesh::{self_intersections, Mesh};

/// An icosphere with holes, duplicated vertices and flipped triangles.
fn broken_sphere() -> Mesh {
    let m = icosphere(6, 50.0);
    let mut g = Lcg::new(11);
    let seeds: Vec<Vec3> = (0..12)
        .map(|_| m.positions[(g.next_f64() * m.positions.len() as f64) as usize])
        .collect();
    let mut positions = m.positions.clone();
    let mut triangles = Vec::new();
    for t in &m.triangles {
        let c = t.iter().map(|&i| m.positions[i as usize]).sum::<Vec3>() / 3.0;
        if seeds.iter().any(|s| s.distance(c) < 2.5) {
            continue;
        }
        let mut t = *t;
        if g.next_f64() < 0.2 {
            t = t.map(|i| {
                positions.push(m.positions[i as usize]);
                positions.len() as u32 - 1
            });
        }
        if g.next_f64() < 0.05 {
            t.swap(1, 2);
        }
        triangles.push(t);
    }
    Mesh::new(positions, triangles).expect("valid")
}

fn bench(c: &mut Criterion) {
    let m = broken_sphere();
    let opts = RepairOptions::default();
    let (_, log) = repair(&m, &opts).expect("repairs");
    assert!(log.closed, "{:?}", log.problems);
    let mut g = c.benchmark_group("repair");
    g.sample_size(10);
    g.bench_function("broken_sphere_82k", |b| b.iter(|| repair(&m, &opts)));
    g.finish();
}

fn table(paths: &str) {
    let repeat: usize = std::env::var("OSTEON_REPAIR_REPEAT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    println!("| mesh | triangles in | out | best of {repeat} (s) | closed | holes filled | welded | flipped | self-int. left |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut steps: Vec<(String, BTreeMap<String, f64>)> = Vec::new();
    for path in paths.split(',') {
        let m = osteon_io::read_mesh(path.as_ref()).expect("mesh reads");
        let opts = RepairOptions::default();
        let mut best = f64::INFINITY;
        let mut last = None;
        // Per step: the best of the runs (the steps' own `timings_s`).
        let mut step_best: BTreeMap<String, f64> = BTreeMap::new();
        for _ in 0..repeat {
            let t = Instant::now();
            let r = repair(&m, &opts).expect("repairs");
            best = best.min(t.elapsed().as_secs_f64());
            for (k, &v) in r.1.timings_s.iter() {
                let e = step_best.entry(k.clone()).or_insert(f64::INFINITY);
                *e = e.min(v);
            }
            last = Some(r);
        }
        let (out, log) = last.expect("ran");
        // Building blocks on the output, best of the runs.
        let mut topo = f64::INFINITY;
        let mut si = f64::INFINITY;
        for _ in 0..repeat {
            let t = Instant::now();
            std::hint::black_box(Topology::new(&out).expect("valid"));
            topo = topo.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            std::hint::black_box(self_intersections(&out));
            si = si.min(t.elapsed().as_secs_f64());
        }
        step_best.insert("(Topology::new of the output)".into(), topo);
        step_best.insert("(self_intersections of the output)".into(), si);
        steps.push((path.to_string(), step_best));
        println!(
            "| {path} | {} | {} | {best:.3} | {} | {} | {} | {} | {} |",
            m.triangles.len(),
            out.triangles.len(),
            log.closed,
            log.holes.filled,
            log.weld.vertices_welded,
            log.orient.triangles_flipped,
            log.self_intersections.faces_after
        );
    }
    for (path, t) in steps {
        println!("\n{path}: best of {repeat} per step (s)");
        for (k, v) in t {
            println!("  {k:<36} {v:.4}");
        }
    }
}

criterion_group!(benches, bench);

fn main() {
    if let Ok(paths) = std::env::var("OSTEON_REPAIR_MESH") {
        table(&paths);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
