//! Whole jobs over the component crates: scan → bone mask → mesh, with reports and timings.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use osteon_geom::{Cancel, Frame, Progress, Vec3};
use osteon_io::{read_scan, QcWarning, ReadOptions, Scan, ScanFormat};
use osteon_iso::{extract_mask, ExtractOptions, ExtractReport, IsoError};
use osteon_mesh::{
    decimate, repair_with, report_with, smooth, DecimateOptions, DecimateReport, Mesh, MeshError,
    MeshReport, RepairLog, RepairOptions, ReportOptions, SmoothOptions, SmoothReport,
};
use osteon_volume::{
    select, Criterion, Preset, SelectOptions, SelectReport, ValueKind, VolumeError,
};
use serde::{Deserialize, Serialize};

use crate::Error;

/// What a scan is: grid, frame, values and QC warnings (the `osteon info` report for scans).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScanSummary {
    /// Always `"scan"`.
    pub object: String,
    /// Format read.
    pub format: ScanFormat,
    /// What the values mean.
    pub kind: ValueKind,
    /// Stored sample type (`u8`, `i16`, …).
    pub sample_type: String,
    /// Voxel counts i, j, k.
    pub dims: [usize; 3],
    /// Spacing, mm.
    pub spacing_mm: [f64; 3],
    /// Centre of voxel (0,0,0), mm, in `frame`.
    pub origin_mm: [f64; 3],
    /// Rows: unit vectors of i, j, k in `frame`.
    pub direction: [[f64; 3]; 3],
    /// `LPS`, `RAS` or `NONE`.
    pub frame: String,
    /// Smallest and largest value.
    pub value_range: Option<[f64; 2]>,
    /// Extent of the voxel centres' box in the frame, mm (min, max).
    pub bbox_mm: [[f64; 3]; 2],
    /// Number of files read.
    pub files: usize,
    /// QC warnings.
    pub warnings: Vec<QcWarning>,
}

/// Summarises a scan that has been read.
pub fn scan_summary(scan: &Scan) -> ScanSummary {
    let g = scan.volume.grid();
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for corner in 0..8 {
        let ijk = [
            if corner & 1 != 0 {
                (g.dims[0] - 1) as f64
            } else {
                0.0
            },
            if corner & 2 != 0 {
                (g.dims[1] - 1) as f64
            } else {
                0.0
            },
            if corner & 4 != 0 {
                (g.dims[2] - 1) as f64
            } else {
                0.0
            },
        ];
        let p = g.world(ijk);
        for a in 0..3 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    ScanSummary {
        object: "scan".into(),
        format: scan.format,
        kind: scan.kind,
        sample_type: scan.volume.type_name().into(),
        dims: g.dims,
        spacing_mm: g.spacing,
        origin_mm: g.origin,
        direction: g.direction,
        frame: g.frame.name().into(),
        value_range: scan.volume.value_range().map(|(a, b)| [a, b]),
        bbox_mm: [lo, hi],
        files: scan.files.len(),
        warnings: scan.warnings.clone(),
    }
}

/// Options of [`mesh_scan`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct MeshJobOptions {
    /// How to read the scan.
    pub read: ReadOptions,
    /// Which voxels are bone; `None` picks by the scan's kind (see [`auto_criterion`]).
    pub select: Option<SelectOptions>,
    /// Extraction options.
    pub extract: ExtractOptions,
    /// Frame of the output coordinates (LPS by default; RAS for tools that expect it).
    pub frame: Frame,
    /// Smooth the extracted surface (before decimation).
    pub smooth: Option<SmoothOptions>,
    /// Decimate the (smoothed) surface.
    pub decimate: Option<DecimateOptions>,
}

impl MeshJobOptions {
    /// Sets the read options.
    pub fn read(mut self, read: ReadOptions) -> Self {
        self.read = read;
        self
    }
    /// Sets the selection.
    pub fn select(mut self, select: Option<SelectOptions>) -> Self {
        self.select = select;
        self
    }
    /// Sets the output frame.
    pub fn frame(mut self, frame: Frame) -> Self {
        self.frame = frame;
        self
    }
    /// Sets the smoothing step.
    pub fn smooth(mut self, smooth: Option<SmoothOptions>) -> Self {
        self.smooth = smooth;
        self
    }
    /// Sets the decimation step.
    pub fn decimate(mut self, decimate: Option<DecimateOptions>) -> Self {
        self.decimate = decimate;
        self
    }
}

/// What [`mesh_scan`] did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeshJobReport {
    /// The scan read.
    pub scan: ScanSummary,
    /// The selection applied.
    pub select: SelectReport,
    /// The extraction.
    pub extract: ExtractReport,
    /// The smoothing, when asked for.
    pub smooth: Option<SmoothReport>,
    /// The decimation, when asked for.
    pub decimate: Option<DecimateReport>,
    /// The output mesh.
    pub mesh: MeshReport,
    /// Frame of the mesh coordinates.
    pub frame: String,
    /// (mesh volume − selected voxels' volume) / selected voxels' volume.
    pub volume_vs_voxels_rel: f64,
    /// Seconds per stage: `read`, `select`, `extract`, `report`.
    pub timings_s: BTreeMap<String, f64>,
}

/// The selection used when the caller gives none: masks → non-zero voxels, HU scans → the
/// `bone` preset; label maps and uncalibrated scans need an explicit choice.
pub fn auto_criterion(scan: &Scan, path: &Path) -> Result<Criterion, Error> {
    match scan.kind {
        ValueKind::Mask => Ok(Criterion::NonZero),
        ValueKind::CtHu => Ok(Criterion::Preset(Preset::Bone)),
        ValueKind::Labels => Err(Error::Usage {
            path: path.to_path_buf(),
            reason: "this is a label map: choose the structure with --label N".into(),
        }),
        ValueKind::CtRaw => Err(Error::Usage {
            path: path.to_path_buf(),
            reason: "values are not calibrated HU: give a threshold in the scan's own units with --hu MIN[:MAX]".into(),
        }),
    }
}

fn timed<T>(timings: &mut BTreeMap<String, f64>, name: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    timings.insert(name.into(), t.elapsed().as_secs_f64());
    r
}

/// Reads the scan at `path`, with the `read` stage's progress (the timing is the caller's).
pub(crate) fn read_stage(
    path: &Path,
    opts: &ReadOptions,
    progress: &dyn Progress,
) -> Result<Scan, Error> {
    progress.begin("read", 1);
    let scan = read_scan(path, opts)?;
    progress.finish();
    Ok(scan)
}

/// Reads a scan, selects bone, and extracts a watertight surface in `opts.frame`.
pub fn mesh_scan(
    path: &Path,
    opts: &MeshJobOptions,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<(Mesh, MeshJobReport), Error> {
    let mut timings = BTreeMap::new();
    let scan = timed(&mut timings, "read", || {
        read_stage(path, &opts.read, progress)
    })?;
    if cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    let (mesh, mut report) = mesh_volume(scan, path, opts, progress, cancel)?;
    timings.append(&mut report.timings_s);
    report.timings_s = timings;
    Ok((mesh, report))
}

/// One named, timed stage of a job. The pipeline's steps (with their observer) and
/// [`mesh_volume`]'s timings both implement it, so the scan → surface path exists once.
pub(crate) trait Stages {
    /// Runs `f` as the stage `name`.
    fn stage<T>(
        &mut self,
        name: &'static str,
        f: impl FnOnce() -> Result<T, Error>,
    ) -> Result<T, Error>;
}

/// Stages timed into a map, nothing else.
struct Timed(BTreeMap<String, f64>);

impl Stages for Timed {
    fn stage<T>(
        &mut self,
        name: &'static str,
        f: impl FnOnce() -> Result<T, Error>,
    ) -> Result<T, Error> {
        timed(&mut self.0, name, f)
    }
}

/// What [`surface`] does: the selection (`None`: by the scan's kind), the extraction, the
/// output frame, and the optional mesh steps after extraction, in this order: repair,
/// smooth, decimate.
pub(crate) struct SurfaceSpec<'a> {
    pub select: Option<&'a SelectOptions>,
    pub extract: &'a ExtractOptions,
    pub frame: Frame,
    pub repair: Option<&'a RepairOptions>,
    pub smooth: Option<&'a SmoothOptions>,
    pub decimate: Option<&'a DecimateOptions>,
}

/// The surface of the selected voxels, in the output frame, with what was done to get it.
pub(crate) struct Surface {
    pub mesh: Mesh,
    pub summary: ScanSummary,
    pub select: SelectReport,
    pub extract: ExtractReport,
    pub repair: Option<RepairLog>,
    pub smooth: Option<SmoothReport>,
    pub decimate: Option<DecimateReport>,
    /// Frame of the mesh coordinates (`NONE` when the scan has none).
    pub frame: Frame,
}

/// Selects bone, extracts its surface in `frame`, then repairs, smooths and decimates it
/// as `spec` asks (the `select`, `extract`, `repair`, `smooth` and `decimate` stages). The
/// scan is taken by value so that its voxels are freed as soon as the mask exists.
pub(crate) fn surface(
    scan: Scan,
    path: &Path,
    spec: SurfaceSpec<'_>,
    stages: &mut impl Stages,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<Surface, Error> {
    let select_opts = match spec.select {
        Some(s) => s.clone(),
        None => SelectOptions::default().criterion(auto_criterion(&scan, path)?),
    };
    let summary = scan_summary(&scan);
    let (mask, select_report) = stages.stage("select", || {
        select(&scan.volume, &select_opts, progress, cancel).map_err(|e| volume_err(e, path))
    })?;
    let from = scan.volume.grid().frame;
    drop(scan);
    let (mut mesh, extract_report) = stages.stage("extract", || {
        extract_mask(&mask, spec.extract, progress, cancel).map_err(|e| iso_err(e, path))
    })?;
    drop(mask);
    let frame = if from == Frame::None {
        Frame::None
    } else {
        spec.frame
    };
    // A flip of x and y is an exact rotation: the steps after it give the same surface
    // (negated) whether they run before or after it.
    if from.flips_xy(frame) {
        mesh = mesh.map_positions(|p| Vec3::new(-p.x, -p.y, p.z));
    }
    let repair = mesh_step(
        &mut mesh,
        spec.repair,
        "repair",
        repair_with,
        stages,
        progress,
        cancel,
    )?;
    let smooth = mesh_step(
        &mut mesh,
        spec.smooth,
        "smooth",
        smooth,
        stages,
        progress,
        cancel,
    )?;
    let decimate = mesh_step(
        &mut mesh,
        spec.decimate,
        "decimate",
        decimate,
        stages,
        progress,
        cancel,
    )?;
    Ok(Surface {
        mesh,
        summary,
        select: select_report,
        extract: extract_report,
        repair,
        smooth,
        decimate,
        frame,
    })
}

/// A mesh step of the library (`repair_with`, `smooth`, `decimate`): options in, a new mesh
/// and the step's report out.
type MeshStepFn<O, R> = fn(&Mesh, &O, &dyn Progress, &dyn Cancel) -> Result<(Mesh, R), MeshError>;

/// Runs the mesh step `name` (`run` with options `opts`) on `mesh` in place when `opts` is
/// given, and returns its report.
fn mesh_step<O, R>(
    mesh: &mut Mesh,
    opts: Option<&O>,
    name: &'static str,
    run: MeshStepFn<O, R>,
    stages: &mut impl Stages,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<Option<R>, Error> {
    let Some(o) = opts else {
        return Ok(None);
    };
    let (m, r) = stages.stage(name, || run(mesh, o, progress, cancel).map_err(mesh_err))?;
    *mesh = m;
    Ok(Some(r))
}

/// (mesh volume − selected voxels' volume) / selected voxels' volume; 0 when no voxel was
/// selected.
pub(crate) fn volume_vs_voxels_rel(mesh_volume_mm3: f64, extract: &ExtractReport) -> f64 {
    let voxels = extract.inside_volume_mm3;
    if voxels > 0.0 {
        (mesh_volume_mm3 - voxels) / voxels
    } else {
        0.0
    }
}

/// Selects bone in a scan already read (or built in memory) and extracts its surface: the
/// in-memory half of [`mesh_scan`]; `path` only names the scan in errors. The scan is taken
/// by value so that its voxels are freed as soon as the bone mask exists: peak memory is the
/// volume plus the mask during selection, then the mask plus the mesh.
pub fn mesh_volume(
    scan: Scan,
    path: &Path,
    opts: &MeshJobOptions,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<(Mesh, MeshJobReport), Error> {
    let mut stages = Timed(BTreeMap::new());
    let surf = surface(
        scan,
        path,
        SurfaceSpec {
            select: opts.select.as_ref(),
            extract: &opts.extract,
            frame: opts.frame,
            repair: None,
            smooth: opts.smooth.as_ref(),
            decimate: opts.decimate.as_ref(),
        },
        &mut stages,
        progress,
        cancel,
    )?;
    let mesh = surf.mesh;
    // The self-intersection search costs seconds on multi-million-triangle meshes; extraction
    // cannot create intersections (tested on every scan), smoothing and decimation could, so
    // it runs when either did (`self_intersecting_faces` is null otherwise).
    // The last of them already searched its whole output exactly: reuse its count.
    let check_intersections = opts.smooth.is_some() || opts.decimate.is_some();
    let searched = match (&surf.decimate, &surf.smooth) {
        (Some(d), _) => d.self_intersecting_faces,
        (None, Some(s)) => s.self_intersecting_faces_after,
        (None, None) => None,
    };
    let mut mesh_report = stages.stage("report", || {
        report_with(
            &mesh,
            &ReportOptions::default().self_intersections(check_intersections && searched.is_none()),
        )
        .map_err(Error::from)
    })?;
    if searched.is_some() {
        mesh_report.self_intersecting_faces = searched;
    }
    let rel = volume_vs_voxels_rel(mesh_report.volume_mm3, &surf.extract);
    Ok((
        mesh,
        MeshJobReport {
            scan: surf.summary,
            select: surf.select,
            extract: surf.extract,
            smooth: surf.smooth,
            decimate: surf.decimate,
            mesh: mesh_report,
            frame: surf.frame.name().into(),
            volume_vs_voxels_rel: rel,
            timings_s: stages.0,
        },
    ))
}

fn volume_err(e: VolumeError, path: &Path) -> Error {
    match e {
        VolumeError::Cancelled => Error::Cancelled,
        source => Error::Volume {
            path: path.to_path_buf(),
            source,
        },
    }
}

fn iso_err(e: IsoError, path: &Path) -> Error {
    match e {
        IsoError::Cancelled => Error::Cancelled,
        source => Error::Iso {
            path: path.to_path_buf(),
            source,
        },
    }
}

pub(crate) fn mesh_err(e: MeshError) -> Error {
    match e {
        MeshError::Cancelled => Error::Cancelled,
        e => Error::Mesh(e),
    }
}
