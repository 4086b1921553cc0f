//! `osteon`: the command-line shell over the osteon library.
//!
//! Exit codes: 0 success, 1 a check the user asked for failed, 2 bad input or usage.

mod batch;
mod fit;
mod ops;
mod progress;
mod repair;
mod run;
mod slice;
mod verify;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use osteon::geom::{Frame, NeverCancel};
use osteon::io::{MeshWriteOptions, ReadOptions};
use osteon::volume::{Criterion, Keep, Preset, SelectOptions};
use osteon::{MeshJobOptions, MeshJobReport};
use serde_json::{json, Value};

// The geometry steps allocate and free large buffers (sample lists, trees, grids) many
// times a run; the system allocator returns them to the kernel and faults them in again.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXAMPLES: &str = "\
Examples:
  osteon phantom -o sample-scans/long_bone_fracture
  osteon info sample-scans/long_bone_fracture
  osteon mesh sample-scans/long_bone_fracture -o bone.stl --preset bone
  osteon mesh ct.nii.gz -o skull.3mf --hu 250 --keep largest --close 0.5 --fill-cavities
  osteon mesh dicom_dir/ -o bone.ply --preset cortical --frame ras --json
  osteon mesh frog.mhd -o skeleton.obj --label 13
  osteon info bone.stl --check          # exit 1 unless watertight, manifold, outward";

#[derive(Parser)]
#[command(name = "osteon", version, about = "CT scan to watertight, print-ready bone and implant meshes", after_help = EXAMPLES)]
struct Cli {
    /// No progress bars or human summaries on stderr.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Describe a scan (grid, frame, values, QC warnings) or a mesh (topology and measures).
    #[command(
        after_help = "Examples:\n  osteon info ct.nii.gz\n  osteon info dicom_dir/ --json\n  osteon info bone.stl --check"
    )]
    Info(InfoArgs),
    /// Extract a watertight bone surface from a scan.
    #[command(
        after_help = "Examples:\n  osteon mesh scan_dir/ -o bone.stl --preset bone\n  osteon mesh ct.nii.gz -o bone.3mf --hu 300:3000 --keep 2-largest --json\n  osteon mesh labels.mhd -o skeleton.ply --label 13 --label 14"
    )]
    Mesh(MeshArgs),
    /// Smooth a mesh without shrinking it (windowed sinc or Taubin), reporting how far it moved.
    #[command(
        after_help = "Examples:\n  osteon smooth bone.stl -o smooth.stl\n  osteon smooth bone.stl -o smooth.stl --iterations 30 --passband 0.05 --json"
    )]
    Smooth(SmoothArgs),
    /// Reduce the triangle count with a bounded, measured deviation from the input.
    #[command(
        after_help = "Examples:\n  osteon decimate bone.stl -o light.stl --max-error 0.1\n  osteon decimate bone.stl -o light.stl --ratio 0.1 --json"
    )]
    Decimate(DecimateArgs),
    /// Grow (+) or shrink (−) a closed surface by a distance, through an exact signed distance field.
    #[command(
        after_help = "Examples:\n  osteon offset bone.stl -o inner_face.stl --distance 0.3\n  osteon offset bone.stl -o eroded.stl --distance -0.5 --voxel 0.2 --json"
    )]
    Offset(OffsetArgs),
    /// Hollow a solid into a shell of a given wall thickness.
    #[command(
        after_help = "Example:\n  osteon shell model.stl -o hollow.stl --thickness 2 --inward"
    )]
    Shell(ShellArgs),
    /// Thicken an open surface patch into a closed plate (thickness centred on the patch).
    #[command(after_help = "Example:\n  osteon thicken patch.stl -o plate.stl --thickness 2")]
    Thicken(ThickenArgs),
    /// Rebuild any mesh (open, self-intersecting) as a closed solid through a distance field.
    #[command(after_help = "Example:\n  osteon wrap broken.stl -o solid.stl --voxel 0.3")]
    Wrap(WrapArgs),
    /// Repair a mesh into a closed, manifold, outward-oriented solid, logging every change.
    #[command(
        after_help = "Examples:\n  osteon repair broken.stl -o fixed.stl\n  osteon repair scan.ply -o fixed.stl --max-hole 10 --json\n  osteon repair overlapping.ply -o solid.stl --rebuild 0.3   # union of overlapping shells\nExit codes: 0 closed, 1 still not closed (reasons printed), 2 bad input."
    )]
    Repair(repair::RepairArgs),
    /// Write the deterministic fractured-long-bone CT phantom as a PNG slice stack.
    #[command(after_help = "Example:\n  osteon phantom -o sample-scans/long_bone_fracture")]
    Phantom(PhantomArgs),
    /// Check an implant against a bone: interference depth and volume, clearance, contact, verdict.
    #[command(after_help = fit::FIT_EXAMPLES)]
    Fit(fit::FitArgs),
    /// Surface deviation between two meshes both ways: Hausdorff, HD95, mean, RMS, signed mean.
    #[command(after_help = fit::COMPARE_EXAMPLES)]
    Compare(fit::CompareArgs),
    /// Run a recipe: scan to checked package (meshes, reports, report.html, manifest.json).
    #[command(after_help = run::EXAMPLES)]
    Run(run::RunArgs),
    /// Run a recipe over every scan of a folder, in parallel, with a summary per scan.
    #[command(after_help = batch::EXAMPLES)]
    Batch(batch::BatchArgs),
    /// Re-hash a package against its manifest.json and say what changed.
    #[command(after_help = verify::EXAMPLES)]
    Verify(verify::VerifyArgs),
    /// Slice a mesh into printer files: SVG, resin PNG stack, powder-bed CLI or FDM G-code.
    #[command(after_help = slice::EXAMPLES)]
    Slice(slice::SliceArgs),
}

#[derive(Args)]
struct ReadArgs {
    /// Read a DICOM series whose slice spacing is uneven (warned, mean spacing used).
    #[arg(long)]
    allow_uneven: bool,
    /// Let NRRD/MetaImage headers point at data files outside their folder.
    #[arg(long)]
    allow_outside_folder: bool,
}

impl ReadArgs {
    fn options(&self) -> ReadOptions {
        ReadOptions::default()
            .allow_uneven(self.allow_uneven)
            .allow_outside_folder(self.allow_outside_folder)
    }
}

#[derive(Args)]
struct InfoArgs {
    /// Scan (file or directory) or mesh (.stl, .ply, .obj, .3mf).
    path: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Exit 1 when a mesh is not watertight, manifold and outward-oriented, or a scan has QC warnings.
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(Args)]
struct MeshArgs {
    /// Scan: NIfTI, NRRD, MetaImage file, slice-stack folder or DICOM series folder.
    scan: PathBuf,
    /// Output mesh: .stl, .ply, .obj or .3mf.
    #[arg(short, long)]
    output: PathBuf,
    /// Threshold preset in HU: bone (226..3071), cortical (662..1988), cancellous (148..661).
    #[arg(long, conflicts_with_all = ["hu", "label"])]
    preset: Option<Preset>,
    /// Threshold MIN or MIN:MAX (inclusive), in HU or the scan's own units.
    #[arg(long, conflicts_with = "label", value_name = "MIN[:MAX]")]
    hu: Option<String>,
    /// Label value(s) of a label map; repeat for several.
    #[arg(long, value_name = "N")]
    label: Vec<i64>,
    /// Which connected components (26-connected) to keep: all, largest, N-largest, min-volume:MM3.
    #[arg(long, default_value = "all")]
    keep: Keep,
    /// Morphological closing radius, mm.
    #[arg(long, value_name = "MM")]
    close: Option<f64>,
    /// Fill enclosed cavities.
    #[arg(long)]
    fill_cavities: bool,
    /// Smooth the surface (windowed sinc, default settings) after extraction.
    #[arg(long)]
    smooth: bool,
    /// Decimate after extraction (and smoothing), keeping the surface within MM of it.
    #[arg(long, value_name = "MM")]
    decimate_error: Option<f64>,
    /// Frame of the output coordinates.
    #[arg(long, default_value = "lps")]
    frame: Frame,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(Args)]
struct PhantomArgs {
    /// Output folder (created if missing).
    #[arg(short, long)]
    output: PathBuf,
    /// Print the analytic truth as JSON.
    #[arg(long)]
    json: bool,
}

/// An error of the user's input: exit code 2.
struct Failure(anyhow::Error);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match &cli.command {
        Command::Info(a) => info(a, cli.quiet),
        Command::Mesh(a) => mesh(a, cli.quiet),
        Command::Phantom(a) => phantom(a),
        Command::Fit(a) => fit::fit_cmd(a, cli.quiet),
        Command::Compare(a) => fit::compare_cmd(a, cli.quiet),
        Command::Run(a) => run::run(a, cli.quiet),
        Command::Batch(a) => batch::batch(a, cli.quiet),
        Command::Verify(a) => verify::verify(a, cli.quiet),
        Command::Slice(a) => slice::run(a, cli.quiet),
        Command::Smooth(a) => smooth_cmd(a, cli.quiet),
        Command::Decimate(a) => decimate_cmd(a, cli.quiet),
        Command::Offset(a) => {
            let o = a.sdf.options();
            o.and_then(|o| {
                sdf_step(
                    &a.io,
                    cli.quiet,
                    serde_json::json!({"distance_mm": a.distance, "sdf": &o}),
                    |m, b| osteon::sdf::offset(m, a.distance, &o, b, &NeverCancel),
                )
            })
        }
        Command::Shell(a) => {
            let side = if a.outward {
                osteon::sdf::ShellSide::Outward
            } else {
                osteon::sdf::ShellSide::Inward
            };
            a.sdf.options().and_then(|o| {
                sdf_step(&a.io, cli.quiet, serde_json::json!({"thickness_mm": a.thickness, "outward": a.outward, "sdf": &o}), |m, b| {
                    osteon::sdf::shell(m, a.thickness, side, &o, b, &NeverCancel)
                })
            })
        }
        Command::Thicken(a) => a.sdf.options().and_then(|o| {
            sdf_step(
                &a.io,
                cli.quiet,
                serde_json::json!({"thickness_mm": a.thickness, "sdf": &o}),
                |m, b| osteon::sdf::thicken(m, a.thickness, &o, b, &NeverCancel),
            )
        }),
        Command::Wrap(a) => a.sdf.options().and_then(|o| {
            sdf_step(&a.io, cli.quiet, serde_json::json!({"sdf": &o}), |m, b| {
                osteon::sdf::wrap(m, &o, b, &NeverCancel)
            })
        }),
        Command::Repair(a) => repair::run(a, cli.quiet),
    };
    match result {
        Ok(code) => code,
        Err(Failure(e)) => {
            let mut line = format!("error: {e}");
            for cause in e.chain().skip(1) {
                // Typed errors often print their source already ("{path}: {source}").
                let cause = cause.to_string();
                if !line.ends_with(&cause) {
                    line.push_str(&format!(": {cause}"));
                }
            }
            eprintln!("{line}");
            ExitCode::from(2)
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.into())
    }
}

fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("JSON values serialise")
    );
}

fn is_mesh_path(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref(),
        Some("stl" | "ply" | "obj" | "3mf")
    )
}

fn info(a: &InfoArgs, quiet: bool) -> Result<ExitCode, Failure> {
    let t = Instant::now();
    let mut timings = BTreeMap::new();
    let as_mesh = a.path.is_file()
        && (is_mesh_path(&a.path)
            || matches!(
                osteon::io::detect_file(&a.path),
                Err(osteon::io::IoError::UnknownFormat { .. })
            ));
    if as_mesh {
        let mesh = osteon::io::read_mesh(&a.path)?;
        timings.insert("read", t.elapsed().as_secs_f64());
        let t2 = Instant::now();
        let report = osteon::mesh::report(&mesh)?;
        timings.insert("report", t2.elapsed().as_secs_f64());
        let problems = report.problems();
        let failed = a.check && !(report.watertight && report.manifold && report.outward);
        if a.json {
            let mut v = serde_json::to_value(&report)?;
            v["object"] = json!("mesh");
            v["path"] = json!(a.path);
            v["problems"] = json!(problems);
            v["timings_s"] = json!(timings);
            print_json(&v);
        } else {
            println!("{}: mesh", a.path.display());
            println!("{report}");
            for p in &problems {
                println!("  problem: {p}");
            }
            if !problems.is_empty() {
                println!("  fix: osteon repair {} -o repaired.stl", a.path.display());
            }
        }
        if failed && !quiet {
            eprintln!(
                "check failed: {}: {}",
                a.path.display(),
                if problems.is_empty() {
                    "not outward-oriented".to_string()
                } else {
                    problems.join("; ")
                }
            );
        }
        return Ok(ExitCode::from(if failed { 1 } else { 0 }));
    }
    let scan = osteon::io::read_scan(&a.path, &a.read.options())?;
    timings.insert("read", t.elapsed().as_secs_f64());
    let summary = osteon::scan_summary(&scan);
    let failed = a.check && !summary.warnings.is_empty();
    if a.json {
        let mut v = serde_json::to_value(&summary)?;
        v["path"] = json!(a.path);
        v["timings_s"] = json!(timings);
        print_json(&v);
    } else {
        let s = &summary;
        println!(
            "{}: scan ({:?}, {:?}, {})",
            a.path.display(),
            s.format,
            s.kind,
            s.sample_type
        );
        println!("  dims       {} x {} x {}", s.dims[0], s.dims[1], s.dims[2]);
        println!("  spacing    {:?} mm", s.spacing_mm);
        println!("  origin     {:?} mm ({})", s.origin_mm, s.frame);
        println!("  direction  {:?}", s.direction);
        if let Some([lo, hi]) = s.value_range {
            println!("  values     {lo} .. {hi}");
        }
        println!("  files      {}", s.files);
        for w in &s.warnings {
            println!("  warning [{}]: {}", w.code, w.message);
        }
    }
    if failed && !quiet {
        eprintln!(
            "check failed: {}: {} QC warning(s)",
            a.path.display(),
            summary.warnings.len()
        );
    }
    Ok(ExitCode::from(if failed { 1 } else { 0 }))
}

fn parse_range(s: &str) -> Result<(f64, f64)> {
    let (lo, hi) = match s.split_once(':') {
        Some((lo, hi)) => (lo.trim(), Some(hi.trim())),
        None => (s.trim(), None),
    };
    let lo: f64 = lo
        .parse()
        .with_context(|| format!("--hu {s}: '{lo}' is not a number"))?;
    let hi: f64 = match hi {
        Some(h) if !h.is_empty() => h
            .parse()
            .with_context(|| format!("--hu {s}: '{h}' is not a number"))?,
        _ => f64::INFINITY,
    };
    if lo.is_nan() || hi.is_nan() || lo > hi {
        bail!("--hu {s}: MIN must not exceed MAX");
    }
    Ok((lo, hi))
}

fn mesh(a: &MeshArgs, quiet: bool) -> Result<ExitCode, Failure> {
    let t_all = Instant::now();
    let format = osteon::io::MeshFormat::from_path(&a.output).with_context(|| {
        format!(
            "{}: unknown mesh format (use .stl, .ply, .obj or .3mf)",
            a.output.display()
        )
    })?;
    let criterion = if let Some(p) = a.preset {
        Some(Criterion::Preset(p))
    } else if let Some(r) = &a.hu {
        let (min, max) = parse_range(r)?;
        Some(Criterion::Range { min, max })
    } else if !a.label.is_empty() {
        Some(Criterion::Labels(a.label.clone()))
    } else {
        None
    };
    let opts = MeshJobOptions::default()
        .read(a.read.options())
        .frame(a.frame)
        .smooth(a.smooth.then(osteon::mesh::SmoothOptions::default))
        .decimate(
            a.decimate_error
                .map(|e| osteon::mesh::DecimateOptions::default().max_error_mm(Some(e))),
        );
    let bar = progress::Bars::new(quiet);
    // Read first: a selection without a criterion takes the scan's default.
    let t = Instant::now();
    let scan = osteon::io::read_scan(&a.scan, &opts.read)?;
    let read_s = t.elapsed().as_secs_f64();
    // Without a criterion the scan's kind decides (masks: non-zero, HU: `bone`).
    let criterion = match criterion {
        Some(c) => c,
        None => osteon::auto_criterion(&scan, &a.scan)?,
    };
    let select = Some(
        SelectOptions::default()
            .criterion(criterion)
            .keep(a.keep.clone())
            .fill_cavities(a.fill_cavities)
            .close_mm(a.close),
    );
    let opts = opts.select(select);
    let scan_files = scan.files.clone();
    let (mesh, mut report): (_, MeshJobReport) =
        osteon::mesh_volume(scan, &a.scan, &opts, &bar, &NeverCancel)?;
    report.timings_s.insert("read".into(), read_s);
    let t = Instant::now();
    let wopts = MeshWriteOptions::default()
        .with_frame(if report.frame == "RAS" {
            Frame::Ras
        } else if report.frame == "NONE" {
            Frame::None
        } else {
            Frame::Lps
        })
        .with_format(format);
    osteon::io::write_mesh(&a.output, &mesh, &wopts)?;
    let write_s = t.elapsed().as_secs_f64();
    report.timings_s.insert("write".into(), write_s);
    // Provenance: inputs, output, options and the step reports, beside the output.
    let manifest = osteon::io::Manifest::new(
        std::env::args().collect(),
        json!({ "mesh": &opts, "output_format": format!("{format:?}") }),
        &scan_files,
        std::slice::from_ref(&a.output),
        json!({ "select": &report.select, "extract": &report.extract, "mesh": &report.mesh }),
    )?;
    let manifest_path = osteon::io::manifest_path_for(&a.output);
    manifest.write(&manifest_path)?;
    bar.clear();
    let mut warnings: Vec<String> = report
        .scan
        .warnings
        .iter()
        .map(|w| format!("[{}] {}", w.code, w.message))
        .collect();
    if !report.mesh.watertight || !report.mesh.outward {
        warnings.push(format!(
            "the output mesh is not closed and outward: {}",
            report.mesh.problems().join("; ")
        ));
    }
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["output"] = json!(a.output);
        v["manifest"] = json!(manifest_path);
        v["timings_s"]["total"] = json!(t_all.elapsed().as_secs_f64());
        print_json(&v);
    } else if !quiet {
        let m = &report.mesh;
        eprintln!(
            "{} -> {}: {} triangles, {} vertices, {} component(s), volume {:.1} mm3 ({:+.2}% vs voxels), area {:.1} mm2, {}{}",
            a.scan.display(),
            a.output.display(),
            m.triangles,
            m.vertices,
            m.components,
            m.volume_mm3,
            100.0 * report.volume_vs_voxels_rel,
            m.area_mm2,
            if m.watertight && m.manifold && m.outward { "watertight, manifold, outward" } else { "NOT closed" },
            format_args!(" [{}]", report.frame),
        );
        let t = &report.timings_s;
        eprintln!(
            "  timings: read {:.3}s, select {:.3}s, extract {:.3}s, write {:.3}s",
            t.get("read").unwrap_or(&0.0),
            t.get("select").unwrap_or(&0.0),
            t.get("extract").unwrap_or(&0.0),
            t.get("write").unwrap_or(&0.0)
        );
    }
    if !quiet {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn phantom(a: &PhantomArgs) -> Result<ExitCode, Failure> {
    let opts = osteon::phantom::PhantomOptions::default();
    let (volume, truth) = osteon::phantom::generate(&opts);
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("{}: cannot create the folder", a.output.display()))?;
    let mut extra = serde_json::Map::new();
    extra.insert("name".into(), json!("long_bone_fracture"));
    extra.insert(
        "description".into(),
        json!("Synthetic CT of a fractured long bone (osteon phantom): cortical tube 1500 HU, cancellous ends 300 HU, marrow -60 HU, soft tissue 40 HU, air -1000 HU, oblique 2 mm fracture gap, loose 1.5 mm bone chip, partial volume and Gaussian noise"),
    );
    extra.insert("generator".into(), json!({ "command": "osteon phantom", "version": env!("CARGO_PKG_VERSION"), "options": opts }));
    extra.insert("truth".into(), serde_json::to_value(&truth)?);
    extra.insert("bone_threshold".into(), json!({ "hu": 226, "note": "preset 'bone'; 'cortical' (662 HU) isolates the cortical tube, end plates and chip" }));
    let files = osteon::io::volume::stack::write(
        &a.output,
        &osteon::volume::ScalarVolume::I16(volume),
        osteon::volume::ValueKind::CtHu,
        &extra,
    )?;
    if a.json {
        print_json(&json!({ "output": a.output, "files": files.len(), "truth": truth }));
    } else {
        eprintln!("wrote {} files to {}", files.len(), a.output.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
struct SdfArgs {
    /// Voxel size of the distance field, mm (default: from the mesh size).
    #[arg(long, value_name = "MM")]
    voxel: Option<f64>,
    /// Refuse fields needing more memory than this, GiB.
    #[arg(long, value_name = "GIB", default_value = "4")]
    max_memory_gb: f64,
}

#[derive(Args)]
struct OffsetArgs {
    #[command(flatten)]
    io: ops::MeshIo,
    /// Offset distance, mm: positive grows, negative shrinks.
    #[arg(long, allow_hyphen_values = true, value_name = "MM")]
    distance: f64,
    #[command(flatten)]
    sdf: SdfArgs,
}

#[derive(Args)]
struct ShellArgs {
    #[command(flatten)]
    io: ops::MeshIo,
    /// Wall thickness, mm.
    #[arg(long, value_name = "MM")]
    thickness: f64,
    /// Hollow inward (the outer surface stays) — the default.
    #[arg(long, conflicts_with = "outward")]
    inward: bool,
    /// Grow the wall outward (the input becomes the inner surface).
    #[arg(long)]
    outward: bool,
    #[command(flatten)]
    sdf: SdfArgs,
}

#[derive(Args)]
struct ThickenArgs {
    #[command(flatten)]
    io: ops::MeshIo,
    /// Plate thickness, mm.
    #[arg(long, value_name = "MM")]
    thickness: f64,
    #[command(flatten)]
    sdf: SdfArgs,
}

#[derive(Args)]
struct WrapArgs {
    #[command(flatten)]
    io: ops::MeshIo,
    #[command(flatten)]
    sdf: SdfArgs,
}

impl SdfArgs {
    fn options(&self) -> Result<osteon::sdf::SdfOptions, Failure> {
        if !(self.max_memory_gb.is_finite() && self.max_memory_gb > 0.0) {
            return Err(Failure(anyhow::anyhow!("--max-memory-gb must be positive")));
        }
        let mut o = osteon::sdf::SdfOptions::default()
            .with_max_memory_bytes((self.max_memory_gb * (1u64 << 30) as f64) as u64);
        if let Some(v) = self.voxel {
            o = o.with_voxel_mm(v);
        }
        Ok(o)
    }
}

fn sdf_step(
    io: &ops::MeshIo,
    quiet: bool,
    options: serde_json::Value,
    run: impl FnOnce(
        &osteon::mesh::Mesh,
        &progress::Bars,
    )
        -> Result<(osteon::mesh::Mesh, osteon::sdf::OffsetReport), osteon::sdf::SdfError>,
) -> Result<ExitCode, Failure> {
    ops::mesh_to_mesh(io, "offset", options, quiet, |mesh, bars| {
        let (out, report) =
            run(mesh, bars).map_err(|e| Failure(anyhow::anyhow!("{}: {e}", io.input.display())))?;
        let searched = report.self_intersecting_faces;
        Ok((out, serde_json::to_value(&report)?, searched))
    })
}

#[derive(Args)]
struct SmoothArgs {
    #[command(flatten)]
    io: ops::MeshIo,
    /// Filter method.
    #[arg(long, default_value = "windowed-sinc", value_parser = ["windowed-sinc", "taubin"])]
    method: String,
    /// Iterations (windowed sinc: polynomial degree).
    #[arg(long)]
    iterations: Option<usize>,
    /// Pass band (0..2; smaller smooths more).
    #[arg(long)]
    passband: Option<f64>,
    /// Keep edges sharper than this dihedral angle, degrees.
    #[arg(long, value_name = "DEG")]
    feature_angle: Option<f64>,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("stop").required(true).multiple(true).args(["max_error", "target_triangles", "ratio"])))]
struct DecimateArgs {
    #[command(flatten)]
    io: ops::MeshIo,
    /// Largest allowed distance between the output and the input surface, both ways, mm.
    #[arg(long, value_name = "MM")]
    max_error: Option<f64>,
    /// Stop at this many triangles.
    #[arg(long, value_name = "N")]
    target_triangles: Option<usize>,
    /// Stop at this fraction of the input triangles.
    #[arg(long, value_name = "R")]
    ratio: Option<f64>,
    /// Never move boundary vertices of open meshes.
    #[arg(long)]
    lock_boundary: bool,
}

fn smooth_cmd(a: &SmoothArgs, quiet: bool) -> Result<ExitCode, Failure> {
    let mut o = osteon::mesh::SmoothOptions::default()
        .method(if a.method == "taubin" {
            osteon::mesh::SmoothMethod::Taubin
        } else {
            osteon::mesh::SmoothMethod::WindowedSinc
        })
        .feature_angle_deg(a.feature_angle);
    if let Some(n) = a.iterations {
        o = o.iterations(n);
    }
    if let Some(k) = a.passband {
        o = o.passband(k);
    }
    ops::mesh_to_mesh(
        &a.io,
        "smooth",
        serde_json::to_value(&o)?,
        quiet,
        |mesh, bars| {
            let (out, report) = osteon::mesh::smooth(mesh, &o, bars, &NeverCancel)
                .map_err(|e| Failure(anyhow::anyhow!("{}: {e}", a.io.input.display())))?;
            let searched = report.self_intersecting_faces_after;
            Ok((out, serde_json::to_value(&report)?, searched))
        },
    )
}

fn decimate_cmd(a: &DecimateArgs, quiet: bool) -> Result<ExitCode, Failure> {
    let o = osteon::mesh::DecimateOptions::default()
        .max_error_mm(a.max_error)
        .target_triangles(a.target_triangles)
        .ratio(a.ratio)
        .lock_boundary(a.lock_boundary);
    ops::mesh_to_mesh(
        &a.io,
        "decimate",
        serde_json::to_value(&o)?,
        quiet,
        |mesh, bars| {
            let (out, report) = osteon::mesh::decimate(mesh, &o, bars, &NeverCancel)
                .map_err(|e| Failure(anyhow::anyhow!("{}: {e}", a.io.input.display())))?;
            let searched = report.self_intersecting_faces;
            Ok((out, serde_json::to_value(&report)?, searched))
        },
    )
}
