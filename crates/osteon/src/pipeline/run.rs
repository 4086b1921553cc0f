//! Running a recipe: the steps in order, each timed and reported, outputs kept in memory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use osteon_fit::{FitError, FitReport};
use osteon_geom::{Cancel, Frame, Progress, Vec3};
use osteon_io::Scan;
use osteon_iso::ExtractReport;
use osteon_mesh::{
    report_with, DecimateReport, Mesh, MeshReport, RepairLog, ReportOptions, SmoothReport,
};
use osteon_sdf::{OffsetReport, SdfError};
use osteon_volume::SelectReport;
use serde::{Deserialize, Serialize};

use osteon_fit::CompareReport;
use osteon_slice::clf::{self, ClfReport};
use osteon_slice::gcode::{self, GcodeReport};
use osteon_slice::png::{self, PngFrame, StackHeader};
use osteon_slice::{svg, Layer, LayerSummary, SliceError, SliceReport};
use rayon::prelude::*;

use super::recipe::{Recipe, SliceFormat, SliceStep, SolidOperation};
use crate::job::{read_stage, surface, volume_vs_voxels_rel, Stages, SurfaceSpec};
use crate::{Error, ScanSummary};

/// Where the scan of a run comes from.
#[derive(Debug)]
#[non_exhaustive]
pub enum ScanInput {
    /// A scan file or folder, read with the recipe's read options.
    Path(PathBuf),
    /// A scan already in memory (a planning program's own volume); `name` names it in
    /// reports and errors.
    Memory {
        /// The scan.
        scan: Box<Scan>,
        /// Its name.
        name: String,
    },
}

/// The inputs of a run.
#[derive(Debug)]
#[non_exhaustive]
pub struct Inputs {
    /// The scan.
    pub scan: ScanInput,
    /// An implant mesh already in memory for the fit step (instead of the recipe's file).
    pub implant: Option<Mesh>,
}

impl Inputs {
    /// A scan file or folder.
    pub fn path(path: impl Into<PathBuf>) -> Inputs {
        Inputs {
            scan: ScanInput::Path(path.into()),
            implant: None,
        }
    }
    /// The same inputs with an implant mesh in memory for the fit step.
    pub fn with_implant(mut self, implant: Mesh) -> Inputs {
        self.implant = Some(implant);
        self
    }
    /// A scan in memory.
    pub fn memory(scan: Scan, name: impl Into<String>) -> Inputs {
        Inputs {
            scan: ScanInput::Memory {
                scan: Box::new(scan),
                name: name.into(),
            },
            implant: None,
        }
    }
}

/// A step starting or finishing, for callers that show per-step progress.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum StepEvent {
    /// Step `index` (from 1) of `total`, named `step`, starts.
    Started {
        /// Step name (`read`, `select`, `extract`, `repair`, `smooth`, `decimate`, `offset`,
        /// `fit`, `report`, `compare`, `slice`).
        step: String,
        /// 1-based position.
        index: usize,
        /// Steps in this run.
        total: usize,
    },
    /// The step finished after `seconds`.
    Finished {
        /// Step name.
        step: String,
        /// Wall time.
        seconds: f64,
    },
}

/// Every step's report, typed (the manifest and `report.json` hold them as JSON, without
/// timings).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Reports {
    /// The scan read.
    pub scan: ScanSummary,
    /// The selection applied.
    pub select: SelectReport,
    /// The surface extraction.
    pub extract: ExtractReport,
    /// Mesh repair, when it ran.
    pub repair: Option<RepairLog>,
    /// Smoothing, when it ran.
    pub smooth: Option<SmoothReport>,
    /// Decimation, when it ran.
    pub decimate: Option<DecimateReport>,
    /// The SDF solid, when it ran.
    pub offset: Option<OffsetReport>,
    /// The implant's fit against the bone, when it ran (its per-vertex signed distances
    /// are on the `implant` output mesh).
    pub fit: Option<FitReport>,
    /// The comparison against the reference mesh, when it ran (`a` = the compared output
    /// mesh, `b` = the reference).
    pub compare: Option<CompareReport>,
    /// The slicing, when it ran.
    pub slice: Option<SliceStepReport>,
    /// (bone mesh volume − selected voxels' volume) / voxels' volume.
    pub volume_vs_voxels_rel: f64,
}

/// What the slice step measured and wrote.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SliceStepReport {
    /// The output mesh sliced.
    pub mesh: String,
    /// Layers, volume from the layers vs the mesh, overhangs, per-layer areas.
    pub report: SliceReport,
    /// The CLI writer's report (hatch length, time and material estimates), when written.
    pub cli: Option<ClfReport>,
    /// The G-code writer's report (paths, filament, time), when written.
    pub gcode: Option<GcodeReport>,
    /// The PNG stack's header (frame, exposure, resin estimate, layer table), when written.
    pub png: Option<StackHeader>,
    /// Worst |lit area − layer area| of the PNG stack, in pixel rows along the perimeter
    /// (≤ 1 means the rasteriser is within one pixel of the exact contours).
    pub png_lit_area_error_pixel_rows: Option<f64>,
    /// Files written, relative to the output folder, in format order.
    pub files: Vec<String>,
}

/// A print file the slice step made, in memory.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SliceFile {
    /// Path relative to the output folder (`slices/bone.cli`).
    pub path: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// A mesh the run produced, its file stem, and its report.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OutputMesh {
    /// File stem (`bone`, `offset`, …).
    pub name: String,
    /// The mesh, in [`RunOutput::frame`] coordinates.
    pub mesh: Mesh,
    /// Topology and measures of the mesh.
    pub report: MeshReport,
    /// A value per vertex, when the mesh carries a map (the implant's signed distance to
    /// the bone, mm, negative inside).
    pub signed_distance_mm: Option<Vec<f32>>,
}

/// One threshold of the recipe and how the run compares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckResult {
    /// Check name, as in the recipe's `[checks]`.
    pub check: String,
    /// The limit, as text.
    pub limit: String,
    /// The measured value, as text.
    pub value: String,
    /// Whether it passed.
    pub pass: bool,
}

/// Everything a run produced, in memory.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RunOutput {
    /// The effective recipe (overrides applied).
    pub recipe: Recipe,
    /// Name of the scan (its path as given, or the in-memory name).
    pub input_name: String,
    /// Every file whose bytes made the scan (empty for an in-memory scan).
    pub input_files: Vec<PathBuf>,
    /// Frame of the mesh coordinates.
    pub frame: Frame,
    /// The meshes: the bone first, then the SDF solid if any.
    pub meshes: Vec<OutputMesh>,
    /// Every step's report.
    pub reports: Reports,
    /// The print files of the slice step (empty without one).
    pub slice_files: Vec<SliceFile>,
    /// The recipe's checks.
    pub checks: Vec<CheckResult>,
    /// Seconds per stage (`read`, `select`, `extract`, `repair`, `smooth`, `decimate`,
    /// `offset`, `fit`, `report`, `compare`, `slice`). Not part of any hashed output.
    pub timings_s: BTreeMap<String, f64>,
}

impl RunOutput {
    /// True when every check passed (or there are none).
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.pass)
    }
    /// The bone mesh.
    pub fn bone(&self) -> &OutputMesh {
        &self.meshes[0]
    }
}

/// Runs `recipe` on `inputs`. Progress goes to `progress`; `cancel` is asked between and
/// inside steps. Nothing is written: see [`super::write_dir`].
pub fn run(
    recipe: &Recipe,
    inputs: Inputs,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<RunOutput, Error> {
    run_observed(recipe, inputs, progress, cancel, &|_| {})
}

struct Steps<'a> {
    names: Vec<&'static str>,
    observer: &'a dyn Fn(&StepEvent),
    timings: BTreeMap<String, f64>,
    cancel: &'a dyn Cancel,
}

impl Stages for Steps<'_> {
    fn stage<T>(
        &mut self,
        name: &'static str,
        f: impl FnOnce() -> Result<T, Error>,
    ) -> Result<T, Error> {
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let index = self.names.iter().position(|n| *n == name).unwrap_or(0) + 1;
        (self.observer)(&StepEvent::Started {
            step: name.into(),
            index,
            total: self.names.len(),
        });
        let t = Instant::now();
        let r = f()?;
        let seconds = t.elapsed().as_secs_f64();
        *self.timings.entry(name.into()).or_insert(0.0) += seconds;
        (self.observer)(&StepEvent::Finished {
            step: name.into(),
            seconds,
        });
        Ok(r)
    }
}

/// [`run`] with a callback told when each step starts and finishes.
pub fn run_observed(
    recipe: &Recipe,
    inputs: Inputs,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
    observer: &dyn Fn(&StepEvent),
) -> Result<RunOutput, Error> {
    recipe.validate()?;
    let mut names = vec!["read", "select", "extract"];
    if recipe.repair.is_some() {
        names.push("repair");
    }
    if recipe.smooth.is_some() {
        names.push("smooth");
    }
    if recipe.decimate.is_some() {
        names.push("decimate");
    }
    if recipe.offset.is_some() {
        names.push("offset");
    }
    if recipe.fit.is_some() {
        names.push("fit");
    }
    names.push("report");
    if recipe.compare.is_some() {
        names.push("compare");
    }
    if recipe.slice.is_some() {
        names.push("slice");
    }
    let mut steps = Steps {
        names,
        observer,
        timings: BTreeMap::new(),
        cancel,
    };

    let implant_in = inputs.implant;
    let (scan, path) = match inputs.scan {
        ScanInput::Path(p) => {
            let scan = steps.stage("read", || read_stage(&p, &recipe.read, progress))?;
            (scan, p)
        }
        ScanInput::Memory { scan, name } => {
            steps.stage("read", || Ok(()))?;
            (*scan, PathBuf::from(name))
        }
    };
    let mut input_files = scan.files.clone();
    let surf = surface(
        scan,
        &path,
        SurfaceSpec {
            select: recipe.select.as_ref(),
            extract: &recipe.extract,
            frame: recipe.frame,
            repair: recipe.repair.as_ref(),
            smooth: recipe.smooth.as_ref(),
            decimate: recipe.decimate.as_ref(),
        },
        &mut steps,
        progress,
        cancel,
    )?;
    let bone = surf.mesh;
    let mut solid = None;
    if let Some(o) = &recipe.offset {
        let (m, r) = steps.stage("offset", || {
            let r = match o.operation {
                SolidOperation::Offset => {
                    osteon_sdf::offset(&bone, o.distance_mm, &o.sdf, progress, cancel)
                }
                SolidOperation::Shell => {
                    osteon_sdf::shell(&bone, o.distance_mm, o.side, &o.sdf, progress, cancel)
                }
                SolidOperation::Thicken => {
                    osteon_sdf::thicken(&bone, o.distance_mm, &o.sdf, progress, cancel)
                }
                SolidOperation::Wrap => osteon_sdf::wrap(&bone, &o.sdf, progress, cancel),
            };
            r.map_err(|e| sdf_err(e, &path))
        })?;
        solid = Some((o.operation.name(), m, r));
    }
    let mut fit = None;
    if let Some(f) = &recipe.fit {
        let (implant, report) = steps.stage("fit", || {
            let implant = match (implant_in, &f.implant, &f.plate_on_bone) {
                (Some(m), _, _) => m,
                (None, Some(file), _) => {
                    input_files.push(file.clone());
                    osteon_io::read_mesh(file)?
                }
                (None, None, Some(p)) => {
                    let c = Vec3::new(
                        p.centre_mm[0] as f32,
                        p.centre_mm[1] as f32,
                        p.centre_mm[2] as f32,
                    );
                    osteon_fit::phantom::plate_on_surface(
                        &bone,
                        c,
                        p.radius_mm as f32,
                        p.gap_mm as f32,
                        p.thickness_mm as f32,
                    )
                    .ok_or_else(|| Error::Usage {
                        path: path.clone(),
                        reason: format!(
                            "fit.plate_on_bone: no bone triangle lies within {} mm of {:?}",
                            p.radius_mm, p.centre_mm
                        ),
                    })?
                }
                (None, None, None) => {
                    return Err(Error::Recipe {
                        reason: "fit: give `implant` or `plate_on_bone` in the recipe, or an implant in memory".into(),
                    })
                }
            };
            let r = osteon_fit::fit_with(&implant, &bone, &f.options, progress, cancel)
                .map_err(|e| fit_err(e, &path))?;
            Ok((implant, r))
        })?;
        fit = Some((implant, report));
    }
    // Self-intersections can only come from smoothing, decimation or projection onto an
    // offset surface; extraction cannot create them (see `mesh_volume`).
    let search = recipe.repair.is_some() || recipe.smooth.is_some() || recipe.decimate.is_some();
    // The meshes move into the outputs; their reports stay for `Reports`.
    let (solid_mesh, offset_report) = match solid {
        Some((name, m, r)) => (Some((name, m)), Some(r)),
        None => (None, None),
    };
    let (implant_mesh, fit_report) = match fit {
        Some((m, r)) => {
            let d: Vec<f32> = r.signed_distance.iter().map(|&d| d as f32).collect();
            (Some((m, d)), Some(r))
        }
        None => (None, None),
    };
    let meshes = steps.stage("report", || {
        let bone_report = report_with(&bone, &ReportOptions::default().self_intersections(search))?;
        let mut meshes = vec![OutputMesh {
            name: recipe.output.mesh_name.clone(),
            mesh: bone,
            report: bone_report,
            signed_distance_mm: None,
        }];
        if let Some((name, m)) = solid_mesh {
            let rep = report_with(&m, &ReportOptions::default())?;
            meshes.push(OutputMesh {
                name: name.into(),
                mesh: m,
                report: rep,
                signed_distance_mm: None,
            });
        }
        if let Some((m, d)) = implant_mesh {
            let rep = report_with(&m, &ReportOptions::default())?;
            meshes.push(OutputMesh {
                name: "implant".into(),
                mesh: m,
                report: rep,
                signed_distance_mm: Some(d),
            });
        }
        Ok(meshes)
    })?;
    let mut compare = None;
    if let Some(c) = &recipe.compare {
        let r = steps.stage("compare", || {
            let file = c.reference.as_ref().ok_or_else(|| Error::Recipe {
                reason: "compare: give `reference = \"mesh file\"`".into(),
            })?;
            input_files.push(file.clone());
            let reference = osteon_io::read_mesh(file)?;
            let a = pick_mesh(&meshes, c.mesh.as_deref(), "compare")?;
            osteon_fit::compare_with(&a.mesh, &reference, &c.options, progress, cancel)
                .map_err(|e| fit_err(e, file))
        })?;
        compare = Some(r);
    }
    let mut slice_out = None;
    if let Some(sl) = &recipe.slice {
        slice_out = Some(steps.stage("slice", || {
            let m = pick_mesh(&meshes, sl.mesh.as_deref(), "slice")?;
            slice_step(m, sl, progress, cancel).map_err(|e| match e {
                SliceError::Cancelled => Error::Cancelled,
                e => Error::Usage {
                    path: path.clone(),
                    reason: format!("slice ({}): {e}", m.name),
                },
            })
        })?);
    }
    let (slice_report, slice_files) = match slice_out {
        Some((r, f)) => (Some(r), f),
        None => (None, Vec::new()),
    };
    let rel = volume_vs_voxels_rel(meshes[0].report.volume_mm3, &surf.extract);
    let reports = Reports {
        scan: surf.summary,
        select: surf.select,
        extract: surf.extract,
        repair: surf.repair,
        smooth: surf.smooth,
        decimate: surf.decimate,
        offset: offset_report,
        fit: fit_report,
        compare,
        slice: slice_report,
        volume_vs_voxels_rel: rel,
    };
    let checks = evaluate_checks(recipe, &meshes, &reports);
    Ok(RunOutput {
        recipe: recipe.clone(),
        input_name: path.to_string_lossy().into_owned(),
        input_files,
        frame: surf.frame,
        meshes,
        reports,
        slice_files,
        checks,
        timings_s: steps.timings,
    })
}

fn pick_mesh<'a>(
    meshes: &'a [OutputMesh],
    name: Option<&str>,
    step: &str,
) -> Result<&'a OutputMesh, Error> {
    match name {
        None => Ok(&meshes[0]),
        Some(n) => meshes
            .iter()
            .find(|m| m.name == n)
            .ok_or_else(|| Error::Recipe {
                reason: format!(
                    "{step}.mesh = {n:?}: this run makes {}",
                    meshes
                        .iter()
                        .map(|m| format!("{:?}", m.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
    }
}

/// Slices `m` and encodes every requested format into memory.
fn slice_step(
    m: &OutputMesh,
    sl: &SliceStep,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<(SliceStepReport, Vec<SliceFile>), SliceError> {
    let mut layers: Vec<Layer> = Vec::new();
    let plan = osteon_slice::slice(&m.mesh, &sl.options, &mut layers, progress, cancel)?;
    let summaries: Vec<LayerSummary> = layers.iter().map(LayerSummary::of).collect();
    let reoriented: usize = layers.iter().map(|l| l.reoriented).sum();
    let bounds = svg::bounds(&layers).ok_or_else(|| {
        SliceError::InvalidOption(format!("no layer of mesh {:?} has a contour", m.name))
    })?;
    let areas: Vec<f64> = summaries.iter().map(|s| s.area_mm2).collect();
    let report = osteon_slice::report(&m.mesh, &plan, summaries, reoriented, bounds, &sl.report);
    let h = plan.layer_height_mm;
    let mut out = SliceStepReport {
        mesh: m.name.clone(),
        report,
        cli: None,
        gcode: None,
        png: None,
        png_lit_area_error_pixel_rows: None,
        files: Vec::new(),
    };
    let mut files = Vec::new();
    for &f in &sl.formats {
        if cancel.is_cancelled() {
            return Err(SliceError::Cancelled);
        }
        let mut bytes: Vec<u8> = Vec::new();
        match f {
            SliceFormat::Svg => svg::write_layers(&layers, bounds, &mut bytes)?,
            SliceFormat::Cli => {
                let planned = clf::plan_layers(&layers, &sl.cli)?;
                let dim = [
                    bounds[0], bounds[1], plan.z_min, bounds[2], bounds[3], plan.z_max,
                ];
                out.cli = Some(clf::write(&planned, h, &areas, dim, &sl.cli, &mut bytes)?);
            }
            SliceFormat::Gcode => {
                let plans = gcode::plan(&layers, &sl.gcode)?;
                out.gcode = Some(gcode::write(
                    &plans,
                    h,
                    bounds,
                    plan.z(0),
                    &sl.gcode,
                    &mut bytes,
                )?);
            }
            SliceFormat::Png => {
                let o = &sl.png;
                let frame = PngFrame::new(bounds, o)?;
                let encoded: Vec<(Vec<u8>, f64)> = layers
                    .par_iter()
                    .map(|l| {
                        let img = png::rasterize(l, &frame, o.anti_alias);
                        let lit = png::lit_area_mm2(&img, &frame);
                        let mut b = Vec::new();
                        png::encode(&img, &frame, &mut b).map(|_| (b, lit))
                    })
                    .collect::<Result<_, _>>()?;
                let za: Vec<(f64, f64)> = layers
                    .iter()
                    .zip(&encoded)
                    .map(|(l, e)| (l.z_mm, e.1))
                    .collect();
                let worst = layers
                    .iter()
                    .zip(&za)
                    .map(|(l, &(_, lit))| {
                        (lit - l.area_mm2()).abs()
                            / (l.perimeter_mm() * frame.pixel_mm).max(f64::MIN_POSITIVE)
                    })
                    .fold(0.0, f64::max);
                let header = png::StackHeader::new(frame, o, h, &za);
                let pngs: Vec<Vec<u8>> = encoded.into_iter().map(|e| e.0).collect();
                let mut cur = std::io::Cursor::new(Vec::new());
                png::write_zip(&header, &pngs, &mut cur)?;
                bytes = cur.into_inner();
                out.png = Some(header);
                out.png_lit_area_error_pixel_rows = Some(worst);
            }
        }
        let file = format!("slices/{}.{}", m.name, f.extension());
        out.files.push(file.clone());
        files.push(SliceFile { path: file, bytes });
    }
    Ok((out, files))
}

fn evaluate_checks(recipe: &Recipe, meshes: &[OutputMesh], reports: &Reports) -> Vec<CheckResult> {
    let c = &recipe.checks;
    let mut out = Vec::new();
    let mut push = |check: &str, limit: String, value: String, pass: bool| {
        out.push(CheckResult {
            check: check.into(),
            limit,
            value,
            pass,
        })
    };
    let bone = &meshes[0].report;
    if c.watertight == Some(true) {
        for m in meshes {
            let r = &m.report;
            let ok = r.watertight && r.manifold && r.outward;
            let value = if ok {
                "closed, manifold, outward".to_string()
            } else {
                r.problems().join("; ")
            };
            push(
                &format!("watertight ({})", m.name),
                "closed, manifold, outward".into(),
                value,
                ok,
            );
        }
    }
    if let Some(n) = c.min_triangles {
        push(
            "min_triangles",
            format!(">= {n}"),
            bone.triangles.to_string(),
            bone.triangles >= n,
        );
    }
    if let Some(n) = c.max_triangles {
        push(
            "max_triangles",
            format!("<= {n}"),
            bone.triangles.to_string(),
            bone.triangles <= n,
        );
    }
    if let Some(v) = c.min_volume_mm3 {
        push(
            "min_volume_mm3",
            format!(">= {v}"),
            format!("{:.3}", bone.volume_mm3),
            bone.volume_mm3 >= v,
        );
    }
    if let Some(v) = c.max_volume_mm3 {
        push(
            "max_volume_mm3",
            format!("<= {v}"),
            format!("{:.3}", bone.volume_mm3),
            bone.volume_mm3 <= v,
        );
    }
    if let Some(p) = c.max_volume_vs_voxels_pct {
        let v = 100.0 * reports.volume_vs_voxels_rel;
        push(
            "max_volume_vs_voxels_pct",
            format!("|x| <= {p}"),
            format!("{v:+.4}"),
            v.abs() <= p,
        );
    }
    if let Some(mm) = c.max_decimate_deviation_mm {
        match &reports.decimate {
            Some(d) => push(
                "max_decimate_deviation_mm",
                format!("<= {mm}"),
                format!("{:.5}", d.max_deviation_mm),
                d.max_deviation_mm <= mm,
            ),
            None => push(
                "max_decimate_deviation_mm",
                format!("<= {mm}"),
                "no decimation step".into(),
                false,
            ),
        }
    }
    if let Some(mm) = c.max_offset_error_mm {
        match &reports.offset {
            Some(o) if o.error.samples > 0 => push(
                "max_offset_error_mm",
                format!("<= {mm}"),
                format!("{:.5}", o.error.max_mm),
                o.error.max_mm <= mm,
            ),
            _ => push(
                "max_offset_error_mm",
                format!("<= {mm}"),
                "no measured offset step".into(),
                false,
            ),
        }
    }
    if let Some(mm) = c.max_offset_error_p99_mm {
        match &reports.offset {
            Some(o) if o.error.samples > 0 => push(
                "max_offset_error_p99_mm",
                format!("<= {mm}"),
                format!("{:.5}", o.error.p99_mm),
                o.error.p99_mm <= mm,
            ),
            _ => push(
                "max_offset_error_p99_mm",
                format!("<= {mm}"),
                "no measured offset step".into(),
                false,
            ),
        }
    }
    if let Some(f) = &reports.fit {
        let failed: Vec<String> = f
            .checks
            .iter()
            .filter(|k| !k.pass)
            .map(|k| format!("{} {:?} vs {}", k.name, k.value, k.limit))
            .collect();
        push(
            "fit (recipe's fit.options)",
            f.checks
                .iter()
                .map(|k| format!("{} {}", k.name, k.limit))
                .collect::<Vec<_>>()
                .join(", "),
            if failed.is_empty() {
                format!(
                    "max penetration {} mm, clearance {:.3} mm",
                    f.max_penetration_mm
                        .map(|v| format!("{v:.4}"))
                        .unwrap_or_else(|| "n/a".into()),
                    f.min_clearance_mm
                )
            } else {
                failed.join("; ")
            },
            f.pass,
        );
    }
    if let Some(n) = c.max_self_intersecting_faces {
        for m in meshes {
            match m.report.self_intersecting_faces {
                Some(f) => push(
                    &format!("max_self_intersecting_faces ({})", m.name),
                    format!("<= {n}"),
                    f.to_string(),
                    f <= n,
                ),
                None => push(
                    &format!("max_self_intersecting_faces ({})", m.name),
                    format!("<= {n}"),
                    "not searched (extraction cannot create any)".into(),
                    true,
                ),
            }
        }
    }
    type Measure = fn(&CompareReport) -> f64;
    let compare_checks: [(&str, Option<f64>, Measure); 3] = [
        ("max_hausdorff_mm", c.max_hausdorff_mm, |r| r.hausdorff_mm),
        ("max_hd95_mm", c.max_hd95_mm, |r| r.hd95_mm),
        ("max_mean_deviation_mm", c.max_mean_deviation_mm, |r| {
            r.mean_mm
        }),
    ];
    for (name, limit, value) in compare_checks {
        if let Some(mm) = limit {
            match &reports.compare {
                Some(r) => push(
                    name,
                    format!("<= {mm}"),
                    format!("{:.5}", value(r)),
                    value(r) <= mm,
                ),
                None => push(name, format!("<= {mm}"), "no compare step".into(), false),
            }
        }
    }
    if let Some(p) = c.max_slice_volume_error_pct {
        match &reports.slice {
            Some(s) => {
                let v = 100.0 * s.report.volume_rel_error;
                push(
                    "max_slice_volume_error_pct",
                    format!("|x| <= {p}"),
                    format!("{v:+.4}"),
                    v.abs() <= p,
                )
            }
            None => push(
                "max_slice_volume_error_pct",
                format!("|x| <= {p}"),
                "no slice step".into(),
                false,
            ),
        }
    }
    out
}

fn sdf_err(e: SdfError, path: &Path) -> Error {
    match e {
        SdfError::Cancelled => Error::Cancelled,
        source => Error::Sdf {
            path: path.to_path_buf(),
            source: Box::new(source),
        },
    }
}

fn fit_err(e: FitError, path: &Path) -> Error {
    match e {
        FitError::Cancelled => Error::Cancelled,
        source => Error::Fit {
            path: path.to_path_buf(),
            source: Box::new(source),
        },
    }
}
