//! Offsets a mesh file and prints the report as JSON:
//! `cargo run --example offset_report -- mesh.stl 1.0 0.5 [offset|shell_in|shell_out|thicken|wrap] [out.stl]`.

use osteon_geom::{NeverCancel, NoProgress};
use osteon_sdf::{offset, shell, thicken, wrap, SdfOptions, ShellSide};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: offset_report MESH DISTANCE VOXEL [op] [out]");
        std::process::exit(2);
    }
    let mesh = osteon_io::read_mesh(std::path::Path::new(&args[1])).expect("read");
    let d: f64 = args[2].parse().expect("distance");
    let v: f64 = args[3].parse().expect("voxel");
    let op = args.get(4).map(String::as_str).unwrap_or("offset");
    let mut opts = SdfOptions::default().with_voxel_mm(v);
    if let Ok(n) = std::env::var("SDF_PASSES") {
        opts = opts.with_refine_passes(n.parse().expect("passes"));
    }
    if let Ok(t) = std::env::var("SDF_TOL") {
        opts.refine_tolerance_voxel = t.parse().expect("tol");
    }
    if let Ok(b) = std::env::var("SDF_BAND") {
        opts.band_voxels = b.parse().expect("band");
    }
    if std::env::var("SDF_NOMEASURE").is_ok() {
        opts = opts.with_measure(false);
    }
    if std::env::var("SDF_NOPROJECT").is_ok() {
        opts = opts.with_project(false);
    }
    let (p, c) = (&NoProgress, &NeverCancel);
    let t = std::time::Instant::now();
    let (out, report) = match op {
        "offset" => offset(&mesh, d, &opts, p, c),
        "shell_in" => shell(&mesh, d, ShellSide::Inward, &opts, p, c),
        "shell_out" => shell(&mesh, d, ShellSide::Outward, &opts, p, c),
        "thicken" => thicken(&mesh, d, &opts, p, c),
        "wrap" => wrap(&mesh, &opts.clone().with_wrap_radius_mm(d), p, c),
        _ => panic!("unknown op"),
    }
    .expect("operation");
    eprintln!(
        "total {:.3} s, input {} triangles",
        t.elapsed().as_secs_f64(),
        mesh.triangles.len()
    );
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    if let Some(o) = args.get(5) {
        osteon_io::write_mesh(std::path::Path::new(o), &out, &Default::default()).expect("write");
    }
}
