//! Independent error check (parry3d point projection at 200 k area-uniform random points plus
//! all vertices) of an offset surface: `measure_pair INPUT OUTPUT DISTANCE VOXEL`.

use osteon_geom::Vec3;
use parry3d::query::PointQuery;
use parry3d::shape::TriMesh;
use rayon::prelude::*;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 5 {
        eprintln!("usage: measure_pair INPUT OUTPUT DISTANCE VOXEL");
        std::process::exit(2);
    }
    let input = osteon_io::read_mesh(std::path::Path::new(&a[1])).expect("input");
    let out = osteon_io::read_mesh(std::path::Path::new(&a[2])).expect("output");
    let d: f32 = a[3].parse().expect("distance");
    let v: f64 = a[4].parse().expect("voxel");
    let mut cum = Vec::new();
    let mut acc = 0.0f64;
    for t in 0..out.triangles.len() {
        let [p, q, r] = out.corners(t);
        acc += 0.5 * f64::from((q - p).cross(r - p).length());
        cum.push(acc);
    }
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let n = 200_000;
    let pts: Vec<Vec3> = (0..n)
        .map(|_| {
            let t = cum.partition_point(|&c| c < rnd() * acc).min(cum.len() - 1);
            let [p, q, r] = out.corners(t);
            let (r1, r2) = (rnd().sqrt() as f32, rnd() as f32);
            p * (1.0 - r1) + q * (r1 * (1.0 - r2)) + r * (r1 * r2)
        })
        .chain(out.positions.iter().copied())
        .collect();
    let tm = TriMesh::new(input.positions.clone(), input.triangles.clone()).expect("trimesh");
    let e: Vec<f64> = pts
        .par_iter()
        .map(|&p| f64::from((tm.distance_to_local_point(p, false) - d.abs()).abs()))
        .collect();
    let max = e.iter().cloned().fold(0.0, f64::max);
    let mut area = e[..n].to_vec();
    area.sort_by(f64::total_cmp);
    let mean = area.iter().sum::<f64>() / n as f64;
    let p99 = area[n * 99 / 100];
    let pct = |x: f64| 100.0 * x / v;
    println!(
        "independent: mean {:.2} % p99 {:.2} % max {:.2} % of voxel ({} triangles)",
        pct(mean),
        pct(p99),
        pct(max),
        out.triangles.len()
    );
}
