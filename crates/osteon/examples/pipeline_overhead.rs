//! Overhead of `osteon::pipeline::run` over calling the same library steps directly.
//!
//! ```sh
//! cargo run --release -p osteon --example pipeline_overhead -- recipes/sample.toml [SCAN] [REPEATS]
//! ```
//!
//! Both sides run the recipe's mesh steps (read, select, extract, repair, smooth, decimate,
//! offset, mesh reports) on the same scan — the recipe's fit, compare and slice sections are
//! dropped on both sides, so the figure is the overhead over those steps only — interleaved, `REPEATS` times (default 5); the table gives the
//! minimum of each and the ratio. A second table compares writing the package
//! (`write_dir`: meshes, report.json, report.html with 8 rendered views, hashes, manifest)
//! with writing the bare meshes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use osteon::geom::{Frame, NeverCancel, NoProgress, Vec3};
use osteon::mesh::{report_with, ReportOptions};
use osteon::pipeline::{self, Inputs, Recipe, SolidOperation};
use osteon::volume::SelectOptions;

fn direct(recipe: &Recipe, scan_path: &Path) -> usize {
    let (p, c) = (&NoProgress, &NeverCancel);
    let scan = osteon::io::read_scan(scan_path, &recipe.read).unwrap();
    let sel = recipe.select.clone().unwrap_or_else(|| {
        SelectOptions::default().criterion(osteon::auto_criterion(&scan, scan_path).unwrap())
    });
    let (mask, _) = osteon::volume::select(&scan.volume, &sel, p, c).unwrap();
    let from = scan.volume.grid().frame;
    drop(scan);
    let (mut mesh, _) = osteon::iso::extract_mask(&mask, &recipe.extract, p, c).unwrap();
    drop(mask);
    if from.flips_xy(if from == Frame::None {
        Frame::None
    } else {
        recipe.frame
    }) {
        mesh = mesh.map_positions(|q| Vec3::new(-q.x, -q.y, q.z));
    }
    if let Some(o) = &recipe.repair {
        mesh = osteon::mesh::repair_with(&mesh, o, p, c).unwrap().0;
    }
    if let Some(o) = &recipe.smooth {
        mesh = osteon::mesh::smooth(&mesh, o, p, c).unwrap().0;
    }
    if let Some(o) = &recipe.decimate {
        mesh = osteon::mesh::decimate(&mesh, o, p, c).unwrap().0;
    }
    let search = recipe.repair.is_some() || recipe.smooth.is_some() || recipe.decimate.is_some();
    let r = report_with(&mesh, &ReportOptions::default().self_intersections(search)).unwrap();
    let mut n = r.triangles;
    if let Some(o) = &recipe.offset {
        let (m, _) = match o.operation {
            SolidOperation::Offset => osteon::sdf::offset(&mesh, o.distance_mm, &o.sdf, p, c),
            SolidOperation::Shell => osteon::sdf::shell(&mesh, o.distance_mm, o.side, &o.sdf, p, c),
            SolidOperation::Thicken => osteon::sdf::thicken(&mesh, o.distance_mm, &o.sdf, p, c),
            SolidOperation::Wrap => osteon::sdf::wrap(&mesh, &o.sdf, p, c),
        }
        .unwrap();
        n += report_with(&m, &ReportOptions::default().self_intersections(true))
            .unwrap()
            .triangles;
    }
    n
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let recipe_path = PathBuf::from(args.first().expect("usage: RECIPE [SCAN] [REPEATS]"));
    let text = std::fs::read_to_string(&recipe_path).unwrap();
    let recipe = Recipe::parse(&text).unwrap();
    let dir = recipe_path.parent().unwrap_or(Path::new("."));
    let scan = args
        .get(1)
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(|| recipe.input_relative_to(dir))
        .expect("a scan");
    // A batch recipe's per-scan overrides apply to this scan's path.
    let mut recipe = recipe.for_scan(&scan.to_string_lossy()).unwrap();
    (recipe.fit, recipe.compare, recipe.slice) = (None, None, None);
    let repeats: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(5);
    let (mut t_direct, mut t_pipe) = (f64::INFINITY, f64::INFINITY);
    let (mut t_write_direct, mut t_write_pkg) = (f64::INFINITY, f64::INFINITY);
    let tmp = std::env::temp_dir().join(format!("osteon_overhead_{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for _ in 0..repeats {
        let t = Instant::now();
        let n_direct = direct(&recipe, &scan);
        t_direct = t_direct.min(t.elapsed().as_secs_f64());

        let t = Instant::now();
        let out = pipeline::run(&recipe, Inputs::path(&scan), &NoProgress, &NeverCancel).unwrap();
        t_pipe = t_pipe.min(t.elapsed().as_secs_f64());
        let n_pipe: usize = out.meshes.iter().map(|m| m.report.triangles).sum();
        assert_eq!(n_direct, n_pipe, "both sides must do the same work");

        let t = Instant::now();
        for m in &out.meshes {
            osteon::io::write_mesh(
                &tmp.join(format!("direct_{}.stl", m.name)),
                &m.mesh,
                &Default::default(),
            )
            .unwrap();
        }
        t_write_direct = t_write_direct.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        pipeline::write_dir(&out, &tmp.join("pkg"), &Default::default()).unwrap();
        t_write_pkg = t_write_pkg.min(t.elapsed().as_secs_f64());
    }
    let _ = std::fs::remove_dir_all(&tmp);
    println!(
        "scan {} · recipe {} · min of {repeats} · {} threads",
        scan.display(),
        recipe_path.display(),
        rayon::current_num_threads()
    );
    println!("| what | direct s | pipeline s | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| steps (read..offset, reports; no fit/compare/slice) | {t_direct:.3} | {t_pipe:.3} | {:.3} |",
        t_pipe / t_direct
    );
    println!(
        "| writing (bare meshes vs package with report.html, hashes, manifest) | {t_write_direct:.3} | {t_write_pkg:.3} | {:.3} |",
        t_write_pkg / t_write_direct
    );
}
