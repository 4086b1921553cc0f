//! `osteon repair`: make any mesh a closed, manifold, outward-oriented solid, or say why not.
//!
//! Reads a mesh, runs [`osteon::mesh::repair`], optionally rebuilds the solid through a
//! distance field (`--rebuild VOXEL_MM`, [`osteon::sdf::wrap`]), writes the result
//! atomically with a provenance manifest, and prints the repair log (human or `--json`).
//! Exit codes: 0 the output is closed, 1 it is still not closed (the reasons are printed),
//! 2 bad input or usage (nothing is written).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Context};
use clap::Args;
use osteon::geom::{Frame, NeverCancel};
use osteon::io::MeshWriteOptions;
use osteon::mesh::{RepairLog, RepairOptions};
use serde_json::json;

use crate::{print_json, progress::Bars, Failure};

/// Arguments of `osteon repair`.
#[derive(Args)]
pub struct RepairArgs {
    /// Input mesh (.stl, .ply, .obj, .3mf).
    pub input: PathBuf,
    /// Output mesh (.stl, .ply, .obj, .3mf).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Leave holes larger than this open (diagonal of the hole's bounding box, mm).
    #[arg(long, value_name = "MM")]
    pub max_hole: Option<f64>,
    /// After repair, rebuild the solid through a distance field with this voxel size (mm):
    /// closes anything and merges overlapping shells, at the cost of resampling the surface.
    #[arg(long, value_name = "VOXEL_MM")]
    pub rebuild: Option<f64>,
    /// Weld vertices closer than this, mm (default: 1e-6 × the bounding-box diagonal).
    #[arg(long, value_name = "MM")]
    pub weld: Option<f64>,
    /// Remove shells with fewer triangles than this.
    #[arg(long, value_name = "N", default_value = "0")]
    pub min_shell_triangles: usize,
    /// Remove closed shells enclosing less than this volume, mm³.
    #[arg(long, value_name = "MM3", default_value = "0")]
    pub min_shell_volume: f64,
    /// Do not fair hole patches (flat minimum-dihedral triangulation only).
    #[arg(long)]
    pub no_fair: bool,
    /// Do not try to resolve self-intersections.
    #[arg(long)]
    pub keep_intersections: bool,
    /// Also remesh where different shells overlap (removes and refills both around the
    /// contact, before the union: closes without one, but loses volume there).
    #[arg(long)]
    pub remesh_overlaps: bool,
    /// Keep overlapping shells as they are instead of replacing them by their union (the
    /// default cuts them exactly along their intersection curves and drops the inner parts).
    #[arg(long)]
    pub no_union: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

impl RepairArgs {
    fn options(&self) -> Result<RepairOptions, Failure> {
        if let Some(v) = self.rebuild {
            if !(v.is_finite() && v > 0.0) {
                return Err(Failure(anyhow!(
                    "--rebuild {v}: the voxel size must be a positive number of mm"
                )));
            }
        }
        Ok(RepairOptions::default()
            .with_max_hole_mm(self.max_hole)
            .with_weld_tolerance_mm(self.weld)
            .with_min_shell_triangles(self.min_shell_triangles)
            .with_min_shell_volume_mm3(self.min_shell_volume)
            .with_fair_holes(!self.no_fair)
            .with_resolve_self_intersections(!self.keep_intersections)
            .with_remesh_overlapping_shells(self.remesh_overlaps)
            .with_union_overlapping_shells(!self.no_union))
    }
}

/// Runs `osteon repair`.
pub fn run(a: &RepairArgs, quiet: bool) -> Result<ExitCode, Failure> {
    let format = osteon::io::MeshFormat::from_path(&a.output).with_context(|| {
        format!(
            "{}: unknown mesh format (use .stl, .ply, .obj or .3mf)",
            a.output.display()
        )
    })?;
    let opts = a.options()?;
    let mut timings: BTreeMap<&str, f64> = BTreeMap::new();
    let t = Instant::now();
    let input = osteon::io::read_mesh(&a.input)?;
    timings.insert("read", t.elapsed().as_secs_f64());
    let frame = osteon::io::frame_hint(&a.input).unwrap_or(Frame::None);
    let bars = Bars::new(quiet);
    let t = Instant::now();
    let (mut mesh, log): (_, RepairLog) =
        osteon::mesh::repair_with(&input, &opts, &bars, &NeverCancel)
            .map_err(|e| Failure(anyhow!("{}: {e}", a.input.display())))?;
    timings.insert("repair", t.elapsed().as_secs_f64());
    let mut rebuild = None;
    let mut rebuild_log: Option<RepairLog> = None;
    if let Some(voxel) = a.rebuild {
        let t = Instant::now();
        let sdf = osteon::sdf::SdfOptions::default().with_voxel_mm(voxel);
        let (wrapped, report) = osteon::sdf::wrap(&mesh, &sdf, &bars, &NeverCancel)
            .map_err(|e| Failure(anyhow!("{}: rebuild: {e}", a.input.display())))?;
        // The wrap's surface is projected back onto the input and can fold in places:
        // repair it like any other mesh (one shell now, so local remeshing applies).
        let (fixed, fix_log) = osteon::mesh::repair_with(&wrapped, &opts, &bars, &NeverCancel)
            .map_err(|e| Failure(anyhow!("{}: rebuild: {e}", a.input.display())))?;
        mesh = fixed;
        rebuild = Some(json!({ "wrap": report, "repair": &fix_log }));
        rebuild_log = Some(fix_log);
        timings.insert("offset", t.elapsed().as_secs_f64());
    }
    bars.clear();
    let t = Instant::now();
    // Repair's own final report describes `mesh` (after --rebuild, the second repair's).
    let final_report = match &rebuild_log {
        Some(l) => l.report.clone(),
        None => log.report.clone(),
    };
    let report = match final_report {
        Some(r) => r,
        None => osteon::mesh::report(&mesh)?,
    };
    timings.insert("report", t.elapsed().as_secs_f64());
    let closed = report.watertight
        && report.manifold
        && report.outward
        && report.degenerate_triangles == 0
        && report.duplicate_triangles == 0
        && report.self_intersecting_faces == Some(0);
    let mut problems = report.problems();
    if rebuild.is_none() {
        for p in &log.problems {
            if !problems.contains(p) {
                problems.push(p.clone());
            }
        }
    }
    let t = Instant::now();
    let wopts = MeshWriteOptions::default()
        .with_frame(frame)
        .with_format(format);
    osteon::io::write_mesh(&a.output, &mesh, &wopts)?;
    timings.insert("write", t.elapsed().as_secs_f64());
    let options = json!({ "repair": &opts, "rebuild_voxel_mm": a.rebuild });
    let manifest = osteon::io::Manifest::new(
        std::env::args().collect(),
        options,
        std::slice::from_ref(&a.input),
        std::slice::from_ref(&a.output),
        json!({ "repair": &log, "rebuild": &rebuild, "mesh": &report, "closed": closed, "problems": &problems }),
    )?;
    let manifest_path = osteon::io::manifest_path_for(&a.output);
    manifest.write(&manifest_path)?;
    if a.json {
        print_json(&json!({
            "input": a.input,
            "output": a.output,
            "manifest": manifest_path,
            "frame": frame.name(),
            "closed": closed,
            "problems": problems,
            "repair": log,
            "rebuild": rebuild,
            "mesh": report,
            "timings_s": timings,
        }));
    } else if !quiet {
        print_human(
            a,
            &input,
            &log,
            rebuild.is_some(),
            &report,
            closed,
            &problems,
        );
    }
    if !closed && !quiet {
        eprintln!(
            "not closed: {}: {}{}",
            a.output.display(),
            problems.join("; "),
            if a.rebuild.is_none() && log.self_intersections.pairs_between_shells > 0 {
                " (try --rebuild VOXEL_MM)"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::from(if closed { 0 } else { 1 }))
}

fn print_human(
    a: &RepairArgs,
    input: &osteon::mesh::Mesh,
    log: &RepairLog,
    rebuilt: bool,
    report: &osteon::mesh::MeshReport,
    closed: bool,
    problems: &[String],
) {
    eprintln!(
        "{} -> {}: {} -> {} triangles{}",
        a.input.display(),
        a.output.display(),
        input.triangles.len(),
        report.triangles,
        if rebuilt {
            " (rebuilt through a distance field)"
        } else {
            ""
        }
    );
    let d = &log.degenerate;
    let h = &log.holes;
    let s = &log.self_intersections;
    eprintln!("  welded vertices       {}", log.weld.vertices_welded);
    eprintln!(
        "  removed triangles     {} repeated-index, {} zero-area, {} duplicate; {} unreferenced vertices",
        d.repeated_index_triangles, d.zero_area_triangles, d.duplicate_triangles, d.unreferenced_vertices
    );
    eprintln!(
        "  non-manifold          {} edges, {} vertices split",
        log.nonmanifold.edges_split, log.nonmanifold.vertices_split
    );
    eprintln!(
        "  orientation           {} triangles flipped, {} shells flipped, {} cavities",
        log.orient.triangles_flipped, log.orient.shells_flipped, log.orient.cavities
    );
    eprintln!(
        "  holes                 {} filled ({} triangles added), {} left open",
        h.filled, h.triangles_added, h.skipped
    );
    for (i, hole) in h
        .holes
        .iter()
        .enumerate()
        .filter(|(_, x)| x.filled)
        .take(10)
    {
        eprintln!(
            "    hole {i}: {} edges, perimeter {:.4} mm, patch area {:.4} mm²",
            hole.boundary_edges, hole.perimeter_mm, hole.area_mm2
        );
    }
    eprintln!(
        "  self-intersections    {} faces before, {} after ({} rounds, {} triangles remeshed)",
        s.faces_before, s.faces_after, s.iterations, s.triangles_removed
    );
    let u = &log.union;
    if u.pairs_between_shells > 0 {
        eprintln!(
            "  union of shells       {}: {} pairs cut, {} faces cut, {} interior faces removed, volume {:.4} -> {:.4} mm³{}",
            if u.applied { "made" } else { "NOT made" },
            u.pairs_resolved,
            u.faces_cut,
            u.faces_removed_interior,
            u.volume_before_mm3,
            if u.applied { u.volume_after_mm3 } else { u.volume_before_mm3 },
            u.fallback.as_ref().map_or(String::new(), |f| format!(" ({f})"))
        );
    }
    eprintln!("  small shells removed  {}", log.components.shells_removed);
    eprintln!(
        "  deviation outside patches: max {:.3e} mm ({:.2e} of the bbox diagonal), mean {:.3e} mm",
        log.deviation.max_mm, log.deviation.relative_to_bbox, log.deviation.mean_mm
    );
    if closed {
        eprintln!("  result: closed (watertight, manifold, outward, no self-intersections)");
    } else {
        eprintln!("  result: NOT closed: {}", problems.join("; "));
    }
}
