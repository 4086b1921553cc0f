//! `osteon slice`: a mesh in, print files out (SVG, PNG stack, CLI, G-code), with the slice
//! report (per-layer areas, volume check, overhangs, estimates) and a provenance manifest.
//!
//! Exit codes: 0 success, 2 bad input (empty mesh, zero layer height, open mesh for
//! G-code/CLI without `--allow-open`, bad profile).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Context};
use clap::{Args, ValueEnum};
use osteon::geom::NeverCancel;
use osteon::slice::clf::{self, ClfOptions};
use osteon::slice::gcode::{self, GcodeOptions};
use osteon::slice::png::{self, PngFrame, PngOptions};
use osteon::slice::{svg, Layer, LayerSummary, MaterialProfile, ReportOptions, SliceOptions};
use rayon::prelude::*;
use serde_json::{json, Value};

use crate::{print_json, progress::Bars, Failure};

pub const EXAMPLES: &str = "\
Examples:
  osteon slice guide.stl -o guide_png --layer-height 0.05 --format png --pixel-size 0.035 --zip
  osteon slice implant.stl -o implant_cli --layer-height 0.03 --format cli --hatch-spacing 0.1
  osteon slice model.stl -o model_gcode --layer-height 0.2 --format gcode --profile peek
  osteon slice model.stl -o model_gcode --layer-height 0.2 --format gcode --profile my_petg.json
  osteon slice bone.stl -o layers --layer-height 0.1 --format svg --json

Layer k is cut at mid-layer, z = zmin + (k + 1/2)·h. Contours are exact: chained by mesh edge,
outer loops counter-clockwise, holes clockwise. An open mesh slices with its open polylines
reported per layer; G-code and CLI refuse it unless --allow-open.
Profiles: built-in peek, pla, petg, or a JSON file with the same fields
(see crates/slice/profiles/).";

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One SVG per layer (or one multi-layer file with --single-file).
    Svg,
    /// PNG layer stack for resin printers (+ header.json, or one zip with --zip).
    Png,
    /// Common Layer Interface file for powder-bed machines (ASCII, or --binary).
    Cli,
    /// G-code for FDM printers.
    Gcode,
}

/// Arguments of `osteon slice`.
#[derive(Args)]
pub struct SliceArgs {
    /// Input mesh (.stl, .ply, .obj, .3mf), millimetres.
    pub input: PathBuf,
    /// Output folder (created if missing).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Layer height, mm.
    #[arg(long, value_name = "MM")]
    pub layer_height: f64,
    /// Output format.
    #[arg(long, value_enum)]
    pub format: Format,
    /// PNG pixel size, mm.
    #[arg(long, value_name = "MM", default_value = "0.05")]
    pub pixel_size: f64,
    /// PNG image size WxH in pixels (default: the part plus a margin).
    #[arg(long, value_name = "WxH")]
    pub resolution: Option<String>,
    /// PNG anti-aliasing: scan lines per pixel row (1 = off).
    #[arg(long, value_name = "N", default_value = "4")]
    pub anti_alias: u32,
    /// PNG exposure of normal and bottom layers, s.
    #[arg(long, value_name = "S", default_value = "2.5")]
    pub exposure: f64,
    /// PNG exposure of the bottom layers, s.
    #[arg(long, value_name = "S", default_value = "25")]
    pub bottom_exposure: f64,
    /// Bundle the PNG stack and its header into one layers.zip.
    #[arg(long)]
    pub zip: bool,
    /// SVG: one multi-layer file (layers.svg) instead of one file per layer.
    #[arg(long)]
    pub single_file: bool,
    /// CLI: binary (long) commands instead of ASCII.
    #[arg(long)]
    pub binary: bool,
    /// CLI: hatch spacing, mm.
    #[arg(long, value_name = "MM", default_value = "0.1")]
    pub hatch_spacing: f64,
    /// CLI: hatch rotation per layer, degrees.
    #[arg(long, value_name = "DEG", default_value = "67")]
    pub hatch_rotation: f64,
    /// CLI: contour offset for the beam (half the melt-track width), mm.
    #[arg(long, value_name = "MM", default_value = "0.05")]
    pub beam_offset: f64,
    /// G-code material profile: peek, pla, petg, or a JSON profile file.
    #[arg(long, value_name = "FILE|NAME", default_value = "pla")]
    pub profile: String,
    /// G-code: bed position of the part's centre X,Y in mm.
    #[arg(long, value_name = "X,Y", default_value = "125,105")]
    pub bed_center: String,
    /// Slice open meshes for G-code/CLI too (open polylines are left out of the toolpaths).
    #[arg(long)]
    pub allow_open: bool,
    /// Faces facing down steeper than this from vertical count as overhangs, degrees.
    #[arg(long, value_name = "DEG", default_value = "45")]
    pub overhang_angle: f64,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn bad(msg: String) -> Failure {
    Failure(anyhow!(msg))
}

fn load_profile(spec: &str) -> Result<MaterialProfile, Failure> {
    let path = Path::new(spec);
    if path.extension().is_some() || path.is_file() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read the profile", path.display()))?;
        MaterialProfile::from_json(&text).map_err(|e| bad(format!("{}: {e}", path.display())))
    } else {
        MaterialProfile::builtin(spec).map_err(|e| bad(e.to_string()))
    }
}

fn write_file(
    path: &Path,
    f: impl FnOnce(&mut dyn std::io::Write) -> Result<(), osteon::slice::SliceError>,
) -> Result<(), Failure> {
    osteon::io::write_atomic(path, |w| {
        f(w).map_err(|e| match e {
            osteon::slice::SliceError::Write(e) => osteon::io::IoError::io(path, e),
            e => osteon::io::IoError::malformed(path, e.to_string()),
        })
    })?;
    Ok(())
}

/// Runs `osteon slice`. A run that fails leaves no output folder it created behind.
pub fn run(a: &SliceArgs, quiet: bool) -> Result<ExitCode, Failure> {
    let existed = a.output.exists();
    let result = run_inner(a, quiet);
    if result.is_err() && !existed && a.output.is_dir() {
        // Only the folder this run created, with the layer files it wrote into it.
        let _ = std::fs::remove_dir_all(&a.output);
    }
    result
}

fn finite(v: f64, flag: &str, at_least_zero: bool) -> Result<(), Failure> {
    if !v.is_finite() || (at_least_zero && v < 0.0) {
        return Err(bad(format!(
            "{flag} {v}: need a finite number{}",
            if at_least_zero { " >= 0" } else { "" }
        )));
    }
    Ok(())
}

fn run_inner(a: &SliceArgs, quiet: bool) -> Result<ExitCode, Failure> {
    let t_all = Instant::now();
    let mut timings: BTreeMap<&str, f64> = BTreeMap::new();
    if !(a.layer_height.is_finite() && a.layer_height > 0.0) {
        return Err(bad(format!(
            "--layer-height must be a positive number of millimetres, got {}",
            a.layer_height
        )));
    }
    // Options first, so bad ones fail before any work.
    let profile = if a.format == Format::Gcode {
        Some(load_profile(&a.profile)?)
    } else {
        None
    };
    let bed: Vec<f64> = a
        .bed_center
        .split(',')
        .map(|v| v.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad(format!("--bed-center {}: expected X,Y in mm", a.bed_center)))?;
    if bed.len() != 2 || bed.iter().any(|v| !v.is_finite()) {
        return Err(bad(format!(
            "--bed-center {}: expected X,Y in mm",
            a.bed_center
        )));
    }
    finite(a.exposure, "--exposure", true)?;
    finite(a.bottom_exposure, "--bottom-exposure", true)?;
    finite(a.hatch_rotation, "--hatch-rotation", false)?;
    finite(a.overhang_angle, "--overhang-angle", false)?;
    let resolution = match &a.resolution {
        None => None,
        Some(r) => {
            let (w, h) = r
                .split_once(['x', 'X'])
                .ok_or_else(|| bad(format!("--resolution {r}: expected WxH")))?;
            let res: [u32; 2] = [
                w.trim()
                    .parse()
                    .map_err(|_| bad(format!("--resolution {r}: bad width")))?,
                h.trim()
                    .parse()
                    .map_err(|_| bad(format!("--resolution {r}: bad height")))?,
            ];
            png::check_resolution(res[0], res[1])
                .map_err(|e| bad(format!("--resolution {r}: {e}")))?;
            Some(res)
        }
    };

    let t = Instant::now();
    let mesh = osteon::io::read_mesh(&a.input)?;
    if mesh.is_empty() {
        return Err(bad(format!(
            "{}: the mesh has no triangles",
            a.input.display()
        )));
    }
    timings.insert("read", t.elapsed().as_secs_f64());

    let refuse_open = matches!(a.format, Format::Gcode | Format::Cli) && !a.allow_open;
    let sopts = SliceOptions::default()
        .with_layer_height_mm(a.layer_height)
        .with_allow_open(!refuse_open);
    let bars = Bars::new(quiet);
    let t = Instant::now();
    let mut layers: Vec<Layer> = Vec::new();
    let plan =
        osteon::slice::slice(&mesh, &sopts, &mut layers, &bars, &NeverCancel).map_err(|e| {
            let hint = if matches!(e, osteon::slice::SliceError::OpenContours { .. }) {
                " (use --allow-open to slice it anyway, or repair the mesh first: osteon repair)"
            } else {
                ""
            };
            bad(format!("{}: {e}{hint}", a.input.display()))
        })?;
    bars.clear();
    timings.insert("slice", t.elapsed().as_secs_f64());

    let summaries: Vec<LayerSummary> = layers.iter().map(LayerSummary::of).collect();
    let reoriented: usize = layers.iter().map(|l| l.reoriented).sum();
    let bounds = svg::bounds(&layers)
        .ok_or_else(|| bad(format!("{}: no layer has a contour", a.input.display())))?;
    let report = osteon::slice::report(
        &mesh,
        &plan,
        summaries.clone(),
        reoriented,
        bounds,
        &ReportOptions::default().with_overhang_angle_deg(a.overhang_angle),
    );

    if a.format == Format::Cli {
        // Checked here too (the planner refuses it per layer) to name the flag before the
        // output folder is made.
        if a.hatch_spacing > 0.0 {
            let diag = (bounds[2] - bounds[0]).hypot(bounds[3] - bounds[1]);
            clf::check_hatch_lines(diag, a.hatch_spacing)
                .map_err(|e| bad(format!("--hatch-spacing {}: {e}", a.hatch_spacing)))?;
        }
    }

    let t = Instant::now();
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("{}: cannot create the folder", a.output.display()))?;
    let stem = a
        .input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "part".into());
    let mut files: Vec<PathBuf> = Vec::new();
    let format_report: Value;
    let options: Value;
    match a.format {
        Format::Svg => {
            options = json!({ "single_file": a.single_file });
            if a.single_file {
                let p = a.output.join("layers.svg");
                write_file(&p, |w| svg::write_layers(&layers, bounds, w))?;
                files.push(p);
            } else {
                let paths: Vec<PathBuf> = layers
                    .iter()
                    .map(|l| a.output.join(format!("layer_{:05}.svg", l.index)))
                    .collect();
                layers
                    .par_iter()
                    .zip(&paths)
                    .try_for_each(|(l, p)| write_file(p, |w| svg::write_layer(l, bounds, w)))?;
                files.extend(paths);
            }
            format_report = json!({ "files": files.len() });
        }
        Format::Png => {
            let o = PngOptions::default()
                .with_pixel_size_mm(a.pixel_size)
                .with_resolution(resolution)
                .with_anti_alias(a.anti_alias)
                .with_exposure_s(a.exposure, a.bottom_exposure);
            let frame = PngFrame::new(bounds, &o).map_err(|e| bad(e.to_string()))?;
            let encoded: Vec<(Vec<u8>, f64)> = layers
                .par_iter()
                .map(|l| {
                    let img = png::rasterize(l, &frame, o.anti_alias);
                    let lit = png::lit_area_mm2(&img, &frame);
                    let mut bytes = Vec::new();
                    png::encode(&img, &frame, &mut bytes).map(|_| (bytes, lit))
                })
                .collect::<Result<_, _>>()
                .map_err(|e| anyhow!("PNG encoding: {e}"))?;
            let za: Vec<(f64, f64)> = layers
                .iter()
                .zip(&encoded)
                .map(|(l, e)| (l.z_mm, e.1))
                .collect();
            let header = png::StackHeader::new(frame, &o, a.layer_height, &za);
            let pngs: Vec<Vec<u8>> = encoded.into_iter().map(|e| e.0).collect();
            if a.zip {
                let mut cur = std::io::Cursor::new(Vec::new());
                png::write_zip(&header, &pngs, &mut cur).map_err(|e| anyhow!("zip: {e}"))?;
                let p = a.output.join("layers.zip");
                let bytes = cur.into_inner();
                write_file(&p, |w| Ok(w.write_all(&bytes)?))?;
                files.push(p);
            } else {
                let paths: Vec<PathBuf> = (0..pngs.len())
                    .map(|k| a.output.join(png::layer_file_name(k)))
                    .collect();
                pngs.par_iter()
                    .zip(&paths)
                    .try_for_each(|(b, p)| write_file(p, |w| Ok(w.write_all(b)?)))?;
                files.extend(paths);
                let p = a.output.join("header.json");
                let text = serde_json::to_string_pretty(&header)?;
                write_file(&p, |w| Ok(w.write_all(text.as_bytes())?))?;
                files.push(p);
            }
            // The lit-area check, per layer: within one pixel row along the perimeter.
            let worst = layers
                .iter()
                .zip(&za)
                .map(|(l, &(_, lit))| {
                    (lit - l.area_mm2()).abs()
                        / (l.perimeter_mm() * a.pixel_size).max(f64::MIN_POSITIVE)
                })
                .fold(0.0, f64::max);
            options = serde_json::to_value(&o)?;
            format_report = json!({
                "frame": frame,
                "estimated_time_s": header.estimated_time_s,
                "resin_ml": header.resin_ml,
                "resin_g": header.resin_g,
                "lit_area_error_worst_in_pixel_rows": worst,
            });
        }
        Format::Cli => {
            let o = ClfOptions::default()
                .with_binary(a.binary)
                .with_hatch_spacing_mm(a.hatch_spacing)
                .with_hatch_rotation_deg(a.hatch_rotation)
                .with_beam_offset_mm(a.beam_offset);
            let planned = clf::plan_layers(&layers, &o).map_err(|e| bad(e.to_string()))?;
            if planned
                .iter()
                .all(|l| l.contours.is_empty() && l.hatches.is_empty())
            {
                return Err(bad(format!(
                    "{}: --beam-offset {} mm leaves no contour or hatch on any layer",
                    a.input.display(),
                    a.beam_offset
                )));
            }
            let areas: Vec<f64> = summaries.iter().map(|s| s.area_mm2).collect();
            let dim = [
                bounds[0], bounds[1], plan.z_min, bounds[2], bounds[3], plan.z_max,
            ];
            let p = a.output.join(format!("{stem}.cli"));
            let mut r = None;
            write_file(&p, |w| {
                r = Some(clf::write(&planned, a.layer_height, &areas, dim, &o, w)?);
                Ok(())
            })?;
            files.push(p);
            options = serde_json::to_value(&o)?;
            format_report = serde_json::to_value(r.expect("written"))?;
        }
        Format::Gcode => {
            let o = GcodeOptions::default()
                .with_profile(profile.expect("loaded for gcode"))
                .with_bed_center_mm([bed[0], bed[1]]);
            let plans = gcode::plan(&layers, &o).map_err(|e| bad(e.to_string()))?;
            let p = a.output.join(format!("{stem}.gcode"));
            let mut r = None;
            write_file(&p, |w| {
                r = Some(gcode::write(
                    &plans,
                    a.layer_height,
                    bounds,
                    plan.z(0),
                    &o,
                    w,
                )?);
                Ok(())
            })?;
            files.push(p);
            let r = r.expect("written");
            options = serde_json::to_value(&o)?;
            format_report = json!({
                "gcode": r,
                "extruded_vs_planned_rel": r.filament_mm3 / r.planned_fill_mm3 - 1.0,
            });
        }
    }
    timings.insert("write", t.elapsed().as_secs_f64());

    let mut report_v = serde_json::to_value(&report)?;
    report_v["per_layer"] = json!(format!("{} layers: see `layers`", summaries.len()));
    let layers_v: Vec<Value> = summaries
        .iter()
        .map(|s| json!({"z_mm": s.z_mm, "area_mm2": s.area_mm2, "loops": s.loops, "holes": s.holes, "open_polylines": s.open_polylines}))
        .collect();
    let format_name = format!("{:?}", a.format).to_lowercase();
    let manifest = osteon::io::Manifest::new(
        std::env::args().collect(),
        json!({ "slice": &sopts, "format": &format_name, format_name.clone(): options }),
        std::slice::from_ref(&a.input),
        &files,
        json!({ "slice": &report, "output": &format_report }),
    )?;
    let manifest_path = a.output.join("slice.manifest.json");
    manifest.write(&manifest_path)?;
    let open_layers = report.open_layers;
    if a.json {
        let mut tv = serde_json::to_value(&timings)?;
        tv["total"] = json!(t_all.elapsed().as_secs_f64());
        print_json(&json!({
            "input": a.input,
            "output": a.output,
            "format": format_name,
            "files": files.len(),
            "manifest": manifest_path,
            "report": report_v,
            "output_report": format_report,
            "layers": layers_v,
            "timings_s": tv,
        }));
    } else if !quiet {
        eprintln!(
            "{} -> {}: {} layers of {} mm, {} files ({format_name}); volume from layers {:.2} mm3 vs mesh {:.2} mm3 ({:+.3}%), overhang {:.1} mm2, footprint {:.1} mm2",
            a.input.display(),
            a.output.display(),
            report.layers,
            a.layer_height,
            files.len(),
            report.volume_from_layers_mm3,
            report.mesh_volume_mm3,
            100.0 * report.volume_rel_error,
            report.overhang_area_mm2,
            report.footprint_mm2,
        );
        eprintln!("  {}", serde_json::to_string(&format_report)?);
        eprintln!(
            "  timings: read {:.3}s, slice {:.3}s, write {:.3}s",
            timings["read"], timings["slice"], timings["write"]
        );
    }
    if open_layers > 0 && !quiet {
        eprintln!("warning: {open_layers} layer(s) have open contours: the mesh is not closed");
    }
    Ok(ExitCode::SUCCESS)
}
