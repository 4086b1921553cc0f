//! `osteon fit` (implant against bone: interference, clearance, contact, verdict) and
//! `osteon compare` (surface deviation both ways), with signed-distance maps.
//!
//! Exit codes: 0 pass, 1 a threshold failed (fit), 2 bad input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Context};
use clap::{Args, ValueEnum};
use osteon::fit::{CompareOptions, FitOptions, Legend, Sampling};
use osteon::geom::{Frame, NeverCancel};
use osteon::io::MeshWriteOptions;
use osteon::mesh::Mesh;
use serde_json::{json, Value};

use crate::{print_json, progress::Bars, Failure};

pub const FIT_EXAMPLES: &str = "\
Examples:
  osteon fit plate.stl femur.stl                       # exit 1 if the plate enters the bone
  osteon fit plate.stl femur.stl --max-penetration 0.2 --clearance 0.1:0.5 --min-contact 0.6
  osteon fit plate.stl femur.stl --map plate_gap.ply --json

Signed distance: negative inside the bone. Penetration depth is the deepest implant surface
point below the bone surface; the volume is that of implant ∩ bone. The contact fraction is
the share of the implant's bone-facing area whose gap lies in the --clearance band.
Without --max-penetration no penetration at all is allowed.";

pub const COMPARE_EXAMPLES: &str = "\
Examples:
  osteon compare printed_scan.stl plan.stl --map deviation.ply
  osteon compare a.ply b.ply --json
  osteon compare scan.stl plan.stl --sampling vertices   # fast screening, vertex samples

Statistics are area-weighted over both surfaces (adaptive sampling, the default: per
sub-triangle 3/4 of its area at its centroid, 1/12 at each corner, exact for quadratics,
triangles split where the distance bends; --sampling vertices: every vertex with a third of
its triangles' area, as the vertex-based Hausdorff of VTK or MeshLib, about a third of the
queries, no error estimate): mean, RMS, HD95 (the larger of the two directed 95th
percentiles), Hausdorff (certified maximum over the whole surface, both ways, in either
mode), signed mean of A against B (positive: A outside B).";

/// Arguments of `osteon fit`.
#[derive(Args)]
pub struct FitArgs {
    /// Implant mesh (.stl, .ply, .obj, .3mf).
    pub implant: PathBuf,
    /// Bone mesh.
    pub bone: PathBuf,
    /// Largest allowed penetration depth, mm (default 0: none).
    #[arg(long, value_name = "MM")]
    pub max_penetration: Option<f64>,
    /// Planned gap band MIN:MAX, mm: contact is measured in it and the clearance must be >= MIN.
    #[arg(long, value_name = "MIN:MAX")]
    pub clearance: Option<String>,
    /// Smallest allowed fraction (0..1) of the bone-facing area within the band.
    #[arg(long, value_name = "F")]
    pub min_contact: Option<f64>,
    /// Write the implant with its signed distance as colour and scalar (PLY).
    #[arg(long, value_name = "OUT.ply")]
    pub map: Option<PathBuf>,
    /// Write the implant with its signed distance as a plain scalar property (PLY).
    #[arg(long, value_name = "OUT.ply")]
    pub scalar_map: Option<PathBuf>,
    /// Half-range of the colour legend, mm (default: the largest |distance|).
    #[arg(long, value_name = "MM")]
    pub legend: Option<f64>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `osteon compare`.
#[derive(Args)]
pub struct CompareArgs {
    /// First mesh (e.g. the printed part's scan).
    pub a: PathBuf,
    /// Second mesh (e.g. the plan).
    pub b: PathBuf,
    /// Write A with its signed distance to B as colour and scalar (PLY).
    #[arg(long, value_name = "OUT.ply")]
    pub map: Option<PathBuf>,
    /// Half-range of the colour legend, mm (default: the largest |distance|).
    #[arg(long, value_name = "MM")]
    pub legend: Option<f64>,
    /// Most sub-triangles (centroid samples) per mesh for the adaptive quadrature (a cap;
    /// every triangle gets at least its centroid).
    #[arg(long, value_name = "N", default_value = "200000")]
    pub samples: usize,
    /// Quadrature refinement target, mm (see `quadrature_error_mm` in the report).
    #[arg(long, value_name = "MM", default_value = "0.001")]
    pub quadrature_tolerance: f64,
    /// Where the surfaces are sampled for mean, RMS and HD95 (the Hausdorff distance is
    /// certified over the whole surface either way).
    #[arg(long, value_enum, default_value_t = SamplingArg::Adaptive)]
    pub sampling: SamplingArg,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `--sampling` of `osteon compare`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SamplingArg {
    /// Vertices, centroids and a finer grid where the distance bends (with an error estimate).
    Adaptive,
    /// Vertices only, a third of their triangles' area each (fast; no error estimate).
    Vertices,
}

fn read(path: &Path, what: &str) -> Result<Mesh, Failure> {
    let m = osteon::io::read_mesh(path).with_context(|| format!("cannot read the {what}"))?;
    if m.is_empty() {
        return Err(Failure(anyhow!(
            "{}: the {what} mesh has no triangles",
            path.display()
        )));
    }
    Ok(m)
}

fn parse_band(s: &str) -> Result<(f64, f64), Failure> {
    let (lo, hi) = s
        .split_once(':')
        .ok_or_else(|| anyhow!("--clearance {s}: expected MIN:MAX in mm, e.g. 0.1:0.5"))?;
    let lo: f64 = lo
        .trim()
        .parse()
        .map_err(|_| anyhow!("--clearance {s}: '{lo}' is not a number"))?;
    let hi: f64 = hi
        .trim()
        .parse()
        .map_err(|_| anyhow!("--clearance {s}: '{hi}' is not a number"))?;
    if !(lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo <= hi) {
        return Err(Failure(anyhow!("--clearance {s}: need 0 <= MIN <= MAX")));
    }
    Ok((lo, hi))
}

fn legend_for(values: &[f64], half: Option<f64>) -> Result<Legend, Failure> {
    match half {
        Some(h) if h.is_finite() && h > 0.0 => Ok(Legend::new(-h, h)),
        Some(h) => Err(Failure(anyhow!(
            "--legend {h}: need a positive half-range in mm"
        ))),
        None => Ok(Legend::symmetric(values, 1e-3)),
    }
}

/// Writes the colour map and/or scalar map of `mesh`; returns the written paths.
fn write_maps(
    mesh: &Mesh,
    values: &[f64],
    legend: &Legend,
    map: Option<&PathBuf>,
    scalar: Option<&PathBuf>,
    frame: Frame,
) -> Result<Vec<PathBuf>, Failure> {
    let mut out = Vec::new();
    let v: Vec<f32> = values.iter().map(|&d| d as f32).collect();
    if let Some(p) = map {
        let colours: Vec<[u8; 3]> = values.iter().map(|&d| legend.colour(d)).collect();
        let comment = format!(
            "osteon distance map: signed_distance in mm, colour legend {} (blue) .. {} (red)",
            legend.min_mm, legend.max_mm
        );
        osteon::io::write_ply_colour_map(
            p,
            mesh,
            "signed_distance",
            &v,
            &colours,
            &comment,
            &MeshWriteOptions::default().with_frame(frame),
        )?;
        out.push(p.clone());
    }
    if let Some(p) = scalar {
        osteon::io::write_ply_with_scalar(
            p,
            mesh,
            "signed_distance",
            &v,
            &MeshWriteOptions::default().with_frame(frame),
        )?;
        out.push(p.clone());
    }
    Ok(out)
}

fn manifest(
    options: Value,
    inputs: &[PathBuf],
    outputs: &[PathBuf],
    report: Value,
) -> Result<Vec<PathBuf>, Failure> {
    let mut written = Vec::new();
    if outputs.is_empty() {
        return Ok(written);
    }
    let m =
        osteon::io::Manifest::new(std::env::args().collect(), options, inputs, outputs, report)?;
    let p = osteon::io::manifest_path_for(&outputs[0]);
    m.write(&p)?;
    written.push(p);
    Ok(written)
}

/// Maps are PLY (a per-vertex scalar and colour): refuse another extension before any work,
/// rather than write PLY bytes into a file named `.stl`.
fn check_map_paths(paths: &[(&str, Option<&PathBuf>)]) -> Result<(), Failure> {
    for (flag, p) in paths {
        if let Some(p) = p {
            let ply = p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("ply"));
            if !ply {
                return Err(Failure(anyhow!(
                    "{flag} {}: a distance map is written as PLY; name it .ply",
                    p.display()
                )));
            }
        }
    }
    Ok(())
}

/// `osteon fit`.
pub fn fit_cmd(a: &FitArgs, quiet: bool) -> Result<ExitCode, Failure> {
    check_map_paths(&[
        ("--map", a.map.as_ref()),
        ("--scalar-map", a.scalar_map.as_ref()),
    ])?;
    let mut opts = FitOptions::default();
    if let Some(m) = a.max_penetration {
        if !(m.is_finite() && m >= 0.0) {
            return Err(Failure(anyhow!(
                "--max-penetration {m}: need a value >= 0 mm"
            )));
        }
        opts = opts.with_max_penetration_mm(Some(m));
    }
    if let Some(s) = &a.clearance {
        let (lo, hi) = parse_band(s)?;
        opts = opts.with_clearance_mm(lo, hi).with_check_clearance(true);
    }
    if let Some(c) = a.min_contact {
        if !(0.0..=1.0).contains(&c) {
            return Err(Failure(anyhow!(
                "--min-contact {c}: need a fraction in 0..1"
            )));
        }
        opts = opts.with_min_contact(Some(c));
    }
    let mut timings: BTreeMap<&str, f64> = BTreeMap::new();
    let t = Instant::now();
    let (implant, bone) = rayon::join(|| read(&a.implant, "implant"), || read(&a.bone, "bone"));
    let (implant, bone) = (implant?, bone?);
    timings.insert("read", t.elapsed().as_secs_f64());
    let bars = Bars::new(quiet);
    let t = Instant::now();
    let report = osteon::fit::fit_with(&implant, &bone, &opts, &bars, &NeverCancel)
        .map_err(|e| anyhow!("{} against {}: {e}", a.implant.display(), a.bone.display()))?;
    bars.clear();
    timings.insert("fit", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let legend = legend_for(&report.signed_distance, a.legend)?;
    let frame = osteon::io::frame_hint(&a.implant).unwrap_or(Frame::None);
    let outputs = write_maps(
        &implant,
        &report.signed_distance,
        &legend,
        a.map.as_ref(),
        a.scalar_map.as_ref(),
        frame,
    )?;
    let inputs = [a.implant.clone(), a.bone.clone()];
    let manifests = manifest(
        json!({ "fit": &opts }),
        &inputs,
        &outputs,
        json!({ "fit": &report, "legend": &legend }),
    )?;
    if !outputs.is_empty() {
        timings.insert("write", t.elapsed().as_secs_f64());
    }
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["implant_path"] = json!(a.implant);
        v["bone_path"] = json!(a.bone);
        v["outputs"] = json!(outputs);
        v["manifest"] = json!(manifests.first());
        v["legend"] = json!(legend);
        v["timings_s"] = json!(timings);
        print_json(&v);
    } else {
        let r = &report;
        let mm = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{x:.4} mm"));
        println!(
            "{} against {}: {}",
            a.implant.display(),
            a.bone.display(),
            if r.pass { "PASS" } else { "FAIL" }
        );
        println!(
            "  intersects        {}{}",
            r.intersects,
            if r.implant_inside_bone {
                " (implant entirely inside the bone)"
            } else if r.bone_inside_implant {
                " (bone inside the implant)"
            } else if r.surfaces_cross {
                " (surfaces cross)"
            } else {
                ""
            }
        );
        println!(
            "  max penetration   {}{}{}",
            mm(r.max_penetration_mm),
            r.max_penetration_certified_mm
                .filter(|&g| g > 0.0)
                .map_or(String::new(), |g| format!(
                    " (true maximum within +{g:.4} mm)"
                )),
            r.max_penetration_at.map_or(String::new(), |p| format!(
                " at [{:.3}, {:.3}, {:.3}]",
                p[0], p[1], p[2]
            ))
        );
        println!(
            "  penetration vol.  {}",
            r.penetration_volume_mm3
                .map_or("n/a".into(), |v| format!("{v:.4} mm3"))
        );
        println!(
            "  min clearance     {:.4} mm (implant [{:.3}, {:.3}, {:.3}], bone [{:.3}, {:.3}, {:.3}])",
            r.min_clearance_mm,
            r.clearance_implant_point[0],
            r.clearance_implant_point[1],
            r.clearance_implant_point[2],
            r.clearance_bone_point[0],
            r.clearance_bone_point[1],
            r.clearance_bone_point[2]
        );
        println!(
            "  contact           {} of {:.1} mm2 bone-facing area in {}..{} mm",
            r.contact_fraction
                .map_or("n/a".into(), |c| format!("{:.1} %", 100.0 * c)),
            r.facing_area_mm2,
            r.clearance_band_mm[0],
            r.clearance_band_mm[1]
        );
        for c in &r.checks {
            println!(
                "  check {:<16} {} (value {}, limit {})",
                c.name,
                if c.pass { "pass" } else { "FAIL" },
                c.value.map_or("n/a".into(), |v| format!("{v:.4}")),
                c.limit
            );
            if !c.pass && c.note.contains("certified") {
                println!("    {}", c.note);
            }
        }
        if !outputs.is_empty() {
            println!(
                "  map legend        {:.3} mm (blue) .. {:.3} mm (red)",
                legend.min_mm, legend.max_mm
            );
        }
    }
    if !quiet {
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
    }
    Ok(ExitCode::from(if report.pass { 0 } else { 1 }))
}

/// `osteon compare`.
pub fn compare_cmd(a: &CompareArgs, quiet: bool) -> Result<ExitCode, Failure> {
    check_map_paths(&[("--map", a.map.as_ref())])?;
    if a.samples == 0 {
        return Err(Failure(anyhow!("--samples must be at least 1")));
    }
    let opts = CompareOptions::default()
        .with_target_samples(a.samples)
        .with_quadrature_tolerance_mm(a.quadrature_tolerance)
        .with_sampling(match a.sampling {
            SamplingArg::Adaptive => Sampling::Adaptive,
            SamplingArg::Vertices => Sampling::Vertices,
        });
    let mut timings: BTreeMap<&str, f64> = BTreeMap::new();
    let t = Instant::now();
    let (ma, mb) = rayon::join(|| read(&a.a, "first"), || read(&a.b, "second"));
    let (ma, mb) = (ma?, mb?);
    timings.insert("read", t.elapsed().as_secs_f64());
    let bars = Bars::new(quiet);
    let t = Instant::now();
    let report = osteon::fit::compare_with(&ma, &mb, &opts, &bars, &NeverCancel)
        .map_err(|e| anyhow!("{} against {}: {e}", a.a.display(), a.b.display()))?;
    bars.clear();
    timings.insert("compare", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let legend = legend_for(&report.a_vertex_distance, a.legend)?;
    let frame = osteon::io::frame_hint(&a.a).unwrap_or(Frame::None);
    let outputs = write_maps(
        &ma,
        &report.a_vertex_distance,
        &legend,
        a.map.as_ref(),
        None,
        frame,
    )?;
    let manifests = manifest(
        json!({ "compare": &opts }),
        &[a.a.clone(), a.b.clone()],
        &outputs,
        json!({ "compare": &report, "legend": &legend }),
    )?;
    if !outputs.is_empty() {
        timings.insert("write", t.elapsed().as_secs_f64());
    }
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["a_path"] = json!(a.a);
        v["b_path"] = json!(a.b);
        v["outputs"] = json!(outputs);
        v["manifest"] = json!(manifests.first());
        v["legend"] = json!(legend);
        v["timings_s"] = json!(timings);
        print_json(&v);
    } else {
        let r = &report;
        println!("{} against {}:", a.a.display(), a.b.display());
        println!(
            "  hausdorff {:.4} mm, HD{} {:.4} mm, mean {:.4} mm, RMS {:.4} mm, signed mean {}",
            r.hausdorff_mm,
            r.percentile,
            r.hd95_mm,
            r.mean_mm,
            r.rms_mm,
            r.signed_mean_mm
                .map_or("n/a".into(), |s| format!("{s:+.4} mm"))
        );
        for (name, d) in [("A->B", &r.a_to_b), ("B->A", &r.b_to_a)] {
            println!(
                "  {name}: max {:.4} mm, HD{} {:.4} mm, mean {:.4} mm, RMS {:.4} mm over {:.1} mm2 ({} samples)",
                d.max_mm, r.percentile, d.hd95_mm, d.mean_mm, d.rms_mm, d.area_mm2, d.samples
            );
        }
        println!(
            "  estimated quadrature error of the mean {}; Hausdorff certified to {:.4} mm",
            r.quadrature_error_mm
                .map_or("n/a (vertex sampling)".into(), |e| format!("{e:.5} mm")),
            r.a_to_b.max_certified_mm.max(r.b_to_a.max_certified_mm)
        );
        if !outputs.is_empty() {
            println!(
                "  map legend {:.3} mm (blue) .. {:.3} mm (red)",
                legend.min_mm, legend.max_mm
            );
        }
    }
    if !quiet {
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
