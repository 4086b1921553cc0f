//! Mesh-in, mesh-out commands: smooth, decimate, offset, shell, thicken, wrap.
//!
//! Each reads a mesh, runs one library step, writes the result atomically with a provenance
//! manifest beside it, and prints the step's report (human or `--json`, with `timings_s`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use osteon::geom::Frame;
use osteon::io::MeshWriteOptions;
use osteon::mesh::Mesh;
use serde_json::{json, Value};

use crate::{print_json, progress::Bars, Failure};

/// Input, output and output style shared by every mesh-to-mesh command.
#[derive(Args)]
pub struct MeshIo {
    /// Input mesh (.stl, .ply, .obj, .3mf).
    pub input: PathBuf,
    /// Output mesh (.stl, .ply, .obj, .3mf).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs `step` on the input mesh and writes its output. `step` returns the new mesh, its
/// report as JSON, and the output's self-intersecting triangle count when the step has
/// already searched the whole output exactly (then the mesh report does not search again);
/// `name` is the stage's key in `timings_s`.
pub fn mesh_to_mesh(
    io: &MeshIo,
    name: &str,
    options: Value,
    quiet: bool,
    step: impl FnOnce(&Mesh, &Bars) -> Result<(Mesh, Value, Option<usize>), Failure>,
) -> Result<ExitCode, Failure> {
    let format = osteon::io::MeshFormat::from_path(&io.output).with_context(|| {
        format!(
            "{}: unknown mesh format (use .stl, .ply, .obj or .3mf)",
            io.output.display()
        )
    })?;
    let mut timings: BTreeMap<String, f64> = BTreeMap::new();
    let t = Instant::now();
    let input = osteon::io::read_mesh(&io.input)?;
    if input.is_empty() {
        return Err(Failure(anyhow::anyhow!(
            "{}: the mesh has no triangles",
            io.input.display()
        )));
    }
    timings.insert("read".into(), t.elapsed().as_secs_f64());
    let frame = osteon::io::frame_hint(&io.input).unwrap_or(Frame::None);
    let bars = Bars::new(quiet);
    let t = Instant::now();
    let (mesh, report, searched) = step(&input, &bars)?;
    bars.clear();
    // A step must not turn a valid input into NaN coordinates or dangling indices; say so
    // against the input (the output file is never written).
    mesh.validate().map_err(|e| {
        Failure(anyhow::anyhow!(
            "{}: the {name} step produced an invalid mesh ({e}); nothing was written",
            io.input.display()
        ))
    })?;
    timings.insert(name.into(), t.elapsed().as_secs_f64());
    let t = Instant::now();
    let mut mesh_report = osteon::mesh::report_with(
        &mesh,
        &osteon::mesh::ReportOptions::default().self_intersections(searched.is_none()),
    )?;
    if searched.is_some() {
        mesh_report.self_intersecting_faces = searched;
    }
    timings.insert("report".into(), t.elapsed().as_secs_f64());
    let t = Instant::now();
    let wopts = MeshWriteOptions::default()
        .with_frame(frame)
        .with_format(format);
    osteon::io::write_mesh(&io.output, &mesh, &wopts)?;
    timings.insert("write".into(), t.elapsed().as_secs_f64());
    let manifest = osteon::io::Manifest::new(
        std::env::args().collect(),
        json!({ name: options }),
        std::slice::from_ref(&io.input),
        std::slice::from_ref(&io.output),
        json!({ name: &report, "mesh": &mesh_report }),
    )?;
    let manifest_path = osteon::io::manifest_path_for(&io.output);
    manifest.write(&manifest_path)?;
    if io.json {
        print_json(&json!({
            "input": io.input,
            "output": io.output,
            "manifest": manifest_path,
            "frame": frame.name(),
            name: report,
            "mesh": mesh_report,
            "timings_s": timings,
        }));
    } else if !quiet {
        eprintln!(
            "{} -> {}: {} -> {} triangles, {}",
            io.input.display(),
            io.output.display(),
            input.triangles.len(),
            mesh_report.triangles,
            state_line(&mesh_report)
        );
        eprintln!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The state of an output mesh in a few words: closed or not, and what is left.
fn state_line(r: &osteon::mesh::MeshReport) -> String {
    let problems = r.problems();
    if !(r.watertight && r.manifold && r.outward) {
        format!("NOT closed: {}", problems.join("; "))
    } else if problems.is_empty() {
        "watertight, manifold, outward".to_string()
    } else {
        // Closed, but not clean: say what is left (self-intersections, say).
        format!("watertight, manifold, outward; but {}", problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::state_line;
    use osteon::geom::Vec3;
    use osteon::mesh::shapes::cuboid;

    #[test]
    fn a_closed_mesh_with_self_intersections_says_so() {
        let a = cuboid(Vec3::ZERO, Vec3::ONE);
        assert_eq!(
            state_line(&osteon::mesh::report(&a).unwrap()),
            "watertight, manifold, outward"
        );
        // Two overlapping cubes: closed and outward, but their faces cross.
        let b = cuboid(Vec3::splat(0.5), Vec3::splat(1.5));
        let n = a.positions.len() as u32;
        let mut both = a.clone();
        both.positions.extend(&b.positions);
        both.triangles
            .extend(b.triangles.iter().map(|t| t.map(|i| i + n)));
        let line = state_line(&osteon::mesh::report(&both).unwrap());
        assert!(
            line.starts_with("watertight, manifold, outward; but ")
                && line.contains("self-intersecting triangles"),
            "{line}"
        );
    }
}
