//! One recipe over every scan of a folder, in parallel, with one summary row per scan.
//!
//! [`discover`] finds the scans under a folder: slice stacks (a folder with `volume.json`),
//! DICOM series (a folder holding DICOM files), and NIfTI, NRRD and MetaImage files (by
//! name: `.nii`, `.nii.gz`, `.nrrd`, `.nhdr`, `.mhd`, `.mha`). [`run_batch`] runs the recipe
//! on each (with the recipe's `[[batch.overrides]]` for matching paths), writes each scan's
//! package into its own folder, and returns a [`ScanRow`] per scan in discovery order. A scan
//! that fails — unreadable, no bone, a panic in a step — becomes a row with status `error`
//! and its message; the batch goes on. Rows whose checks fail get status `fail`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use osteon_geom::{Cancel, NoProgress};
use osteon_io::IoError;
use serde::{Deserialize, Serialize};

use crate::pipeline::{self, Inputs, Provenance, Recipe};
use crate::report::{self, escape, render};
use crate::Error;

/// Scan file extensions recognised by name (lower case).
const SCAN_SUFFIXES: [&str; 6] = [".nii", ".nii.gz", ".nrrd", ".nhdr", ".mhd", ".mha"];

fn is_dicom_file(p: &Path) -> bool {
    use std::io::Read;
    let name = p
        .file_name()
        .map(|s| s.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name.ends_with(".dcm") {
        return true;
    }
    let mut head = [0u8; 132];
    match std::fs::File::open(p) {
        Ok(mut f) => f.read_exact(&mut head).is_ok() && &head[128..132] == b"DICM",
        Err(_) => false,
    }
}

/// Every scan under `dir`, sorted by path. Hidden entries (`.name`) are skipped.
pub fn discover(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    if !dir.is_dir() {
        return Err(IoError::NotFound {
            path: dir.to_path_buf(),
        }
        .into());
    }
    let mut found = Vec::new();
    walk(dir, &mut found, &mut BTreeSet::new())?;
    found.sort();
    Ok(found)
}

/// `seen` holds the canonical folders walked so far: a symbolic link back up the tree (or two
/// links to one folder) made the same scans appear again and again, 41 times for one loop.
fn walk(dir: &Path, found: &mut Vec<PathBuf>, seen: &mut BTreeSet<PathBuf>) -> Result<(), Error> {
    let canonical = std::fs::canonicalize(dir).map_err(|e| IoError::io(dir, e))?;
    if !seen.insert(canonical) {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| IoError::io(dir, e))?
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    entries.sort();
    // `exists`: a `volume.json` that is not a file is still a (broken) stack, reported.
    if dir.join("volume.json").exists() {
        found.push(dir.to_path_buf());
        return Ok(());
    }
    let mut dicom = false;
    for p in &entries {
        if p.is_dir() {
            walk(p, found, seen)?;
        } else if p.is_file() {
            let name = p
                .file_name()
                .map(|s| s.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            if SCAN_SUFFIXES.iter().any(|s| name.ends_with(s)) {
                found.push(p.clone());
            } else if !dicom && is_dicom_file(p) {
                dicom = true;
            }
        }
    }
    if dicom {
        found.push(dir.to_path_buf());
    }
    Ok(())
}

/// The outcome of one scan of a batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScanRow {
    /// The scan's path relative to the batch folder (`/`-separated).
    pub scan: String,
    /// `pass`, `fail` (a check failed) or `error` (the scan could not be processed).
    pub status: String,
    /// The error, for status `error`.
    pub error: Option<String>,
    /// Folder of this scan's package, relative to the batch output folder.
    pub output: Option<String>,
    /// Triangles of the bone mesh.
    pub triangles: Option<usize>,
    /// Volume of the bone mesh, mm³.
    pub volume_mm3: Option<f64>,
    /// Bone mesh closed, manifold and outward.
    pub watertight: Option<bool>,
    /// Components of the bone mesh.
    pub components: Option<usize>,
    /// Verdict of a fit step (none in this recipe: null).
    pub fit_verdict: Option<String>,
    /// Symmetric Hausdorff distance to the recipe's `[compare]` reference (null without
    /// one), mm.
    pub deviation_max_mm: Option<f64>,
    /// HD95 (the compare percentile) to the reference, mm.
    pub deviation_hd95_mm: Option<f64>,
    /// Mean surface distance to the reference, mm.
    pub deviation_mean_mm: Option<f64>,
    /// Names of the checks that failed.
    pub failed_checks: Vec<String>,
    /// Seconds per stage, and `write` and `total`.
    pub timings_s: BTreeMap<String, f64>,
    /// A small rendered view (PNG, base64) for the batch report; not serialised.
    #[serde(skip)]
    pub thumbnail: Option<String>,
}

/// What [`run_batch`] produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchSummary {
    /// The recipe's name.
    pub recipe: String,
    /// The folder scanned.
    pub input_dir: String,
    /// Scans found.
    pub scans: usize,
    /// Rows with status `pass`.
    pub passed: usize,
    /// Rows with status `fail`.
    pub failed: usize,
    /// Rows with status `error`.
    pub errors: usize,
    /// One row per scan, in discovery order.
    pub rows: Vec<ScanRow>,
}

impl BatchSummary {
    /// True when every row passed.
    pub fn all_passed(&self) -> bool {
        self.passed == self.scans
    }
}

/// The relative path of `scan` under `dir`, `/`-separated.
pub fn relative_name(dir: &Path, scan: &Path) -> String {
    let rel = scan.strip_prefix(dir).unwrap_or(scan);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// Folder name of a scan's package: its relative path with `/` (and any character other
/// than ASCII letters, digits, `.`, `-`, `_`) replaced by `_`, leading dots removed; `scan`
/// when nothing is left (the batch folder is itself one scan, `.`), so a package never
/// lands in the batch output folder itself, where the summary's `report.html` overwrote it.
pub fn package_name(relative: &str) -> String {
    let name = relative
        .chars()
        .map(|c| match c {
            '/' | '\\' => '_',
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') => c,
            _ => '_',
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_string();
    if name.is_empty() {
        "scan".into()
    } else {
        name
    }
}

/// [`package_name`] of each scan, made unique in discovery order by a `-2`, `-3`… suffix:
/// `a/b.nii` and `a_b.nii` both map to `a_b.nii` and wrote into one folder at once.
fn package_names(relative: &[String]) -> Vec<String> {
    let mut used = BTreeSet::new();
    relative
        .iter()
        .map(|r| {
            let base = package_name(r);
            let mut name = base.clone();
            let mut n = 1;
            while !used.insert(name.to_ascii_lowercase()) {
                n += 1;
                name = format!("{base}-{n}");
            }
            name
        })
        .collect()
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

fn one_scan(
    recipe: &Recipe,
    dir: &Path,
    scan: &Path,
    name: &str,
    out_dir: &Path,
    prov: &Provenance,
    cancel: &dyn Cancel,
) -> ScanRow {
    let rel = relative_name(dir, scan);
    let mut row = ScanRow::error(rel.clone(), None);
    let t_all = Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let recipe = recipe.for_scan(&rel)?;
        let out = pipeline::run(&recipe, Inputs::path(scan), &NoProgress, cancel)?;
        let t = Instant::now();
        pipeline::write_dir(&out, &out_dir.join(name), prov)?;
        let write_s = t.elapsed().as_secs_f64();
        Ok::<_, Error>((out, name, write_s))
    }));
    match result {
        Ok(Ok((out, name, write_s))) => {
            let b = &out.bone().report;
            row.status = if out.passed() { "pass" } else { "fail" }.into();
            row.output = Some(name.to_string());
            row.triangles = Some(b.triangles);
            row.volume_mm3 = Some(b.volume_mm3);
            row.watertight = Some(b.watertight && b.manifold && b.outward);
            row.components = Some(b.components);
            row.fit_verdict = out
                .reports
                .fit
                .as_ref()
                .map(|f| if f.pass { "pass" } else { "fail" }.to_string());
            if let Some(c) = &out.reports.compare {
                row.deviation_max_mm = Some(c.hausdorff_mm);
                row.deviation_hd95_mm = Some(c.hd95_mm);
                row.deviation_mean_mm = Some(c.mean_mm);
            }
            row.failed_checks = out
                .checks
                .iter()
                .filter(|c| !c.pass)
                .map(|c| format!("{} ({} vs {})", c.check, c.value, c.limit))
                .collect();
            row.timings_s = out.timings_s.clone();
            row.timings_s.insert("write".into(), write_s);
            let px = 160;
            let rgb = render::render(
                &out.bone().mesh,
                render::View::Oblique,
                out.frame,
                px,
                &render::Colouring::Solid(render::BONE),
            );
            row.thumbnail = Some(render::base64(&render::png(&rgb, px)));
        }
        Ok(Err(e)) => row.error = Some(e.to_string()),
        Err(p) => row.error = Some(format!("internal error (panic): {}", panic_message(p))),
    }
    row.timings_s
        .insert("total".into(), t_all.elapsed().as_secs_f64());
    row
}

/// Runs `recipe` on every scan under `dir` with `jobs` scans at a time, writing each
/// package to `out_dir/<package_name>` (made unique) and calling `on_row` as each scan
/// finishes. Errors (before anything is written) when `dir` cannot be listed or holds no
/// scan, or `out_dir` is a file; a scan's failure is its row.
pub fn run_batch(
    recipe: &Recipe,
    dir: &Path,
    out_dir: &Path,
    jobs: usize,
    prov: &Provenance,
    cancel: &dyn Cancel,
    on_row: &(dyn Fn(&ScanRow) + Sync),
) -> Result<BatchSummary, Error> {
    let scans = discover(dir)?;
    if scans.is_empty() {
        // A wrong folder must not pass as "0 scans, all passed" (exit 0).
        return Err(Error::Usage {
            path: dir.to_path_buf(),
            reason: "no scans found (looked for slice-stack folders with volume.json, DICOM \
                     folders, .nii, .nii.gz, .nrrd, .nhdr, .mhd and .mha files)"
                .into(),
        });
    }
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(Error::Usage {
            path: out_dir.to_path_buf(),
            reason: "the batch output must be a folder, and this is a file".into(),
        });
    }
    let names = package_names(
        &scans
            .iter()
            .map(|s| relative_name(dir, s))
            .collect::<Vec<_>>(),
    );
    std::fs::create_dir_all(out_dir).map_err(|e| IoError::io(out_dir, e))?;
    let next = AtomicUsize::new(0);
    let rows: Mutex<Vec<Option<ScanRow>>> = Mutex::new(vec![None; scans.len()]);
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, scans.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= scans.len() {
                    break;
                }
                let row = if cancel.is_cancelled() {
                    let mut r = one_scan_skipped(dir, &scans[i]);
                    r.error = Some("cancelled".into());
                    r
                } else {
                    one_scan(recipe, dir, &scans[i], &names[i], out_dir, prov, cancel)
                };
                on_row(&row);
                if let Ok(mut rows) = rows.lock() {
                    rows[i] = Some(row);
                }
            });
        }
    });
    let rows: Vec<ScanRow> = rows
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .zip(&scans)
        .map(|(r, scan)| r.unwrap_or_else(|| one_scan_skipped(dir, scan)))
        .collect();
    let count = |s: &str| rows.iter().filter(|r| r.status == s).count();
    Ok(BatchSummary {
        recipe: recipe.name.clone(),
        input_dir: dir.to_string_lossy().into_owned(),
        scans: rows.len(),
        passed: count("pass"),
        failed: count("fail"),
        errors: count("error"),
        rows,
    })
}

fn one_scan_skipped(dir: &Path, scan: &Path) -> ScanRow {
    ScanRow::error(relative_name(dir, scan), Some("not processed".into()))
}

impl ScanRow {
    /// A row with status `error` and nothing measured yet.
    fn error(scan: String, error: Option<String>) -> ScanRow {
        ScanRow {
            scan,
            status: "error".into(),
            error,
            output: None,
            triangles: None,
            volume_mm3: None,
            watertight: None,
            components: None,
            fit_verdict: None,
            deviation_max_mm: None,
            deviation_hd95_mm: None,
            deviation_mean_mm: None,
            failed_checks: Vec::new(),
            timings_s: BTreeMap::new(),
            thumbnail: None,
        }
    }
}

/// Stages listed as columns of `summary.csv`.
pub const CSV_STAGES: [&str; 13] = [
    "read", "select", "extract", "repair", "smooth", "decimate", "offset", "fit", "report",
    "compare", "slice", "write", "total",
];

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `summary.csv`: one line per scan.
pub fn summary_csv(summary: &BatchSummary) -> String {
    let mut s = String::from(
        "scan,status,triangles,volume_mm3,watertight,components,fit_verdict,hausdorff_mm,hd95_mm,mean_deviation_mm,failed_checks,error",
    );
    for st in CSV_STAGES {
        s.push_str(&format!(",{st}_s"));
    }
    s.push('\n');
    let opt = |v: Option<String>| v.unwrap_or_default();
    for r in &summary.rows {
        let fields = [
            r.scan.clone(),
            r.status.clone(),
            opt(r.triangles.map(|v| v.to_string())),
            opt(r.volume_mm3.map(|v| format!("{v:.3}"))),
            opt(r.watertight.map(|v| v.to_string())),
            opt(r.components.map(|v| v.to_string())),
            opt(r.fit_verdict.clone()),
            opt(r.deviation_max_mm.map(|v| format!("{v:.4}"))),
            opt(r.deviation_hd95_mm.map(|v| format!("{v:.4}"))),
            opt(r.deviation_mean_mm.map(|v| format!("{v:.4}"))),
            r.failed_checks.join("; "),
            opt(r.error.clone()),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        s.push_str(&line.join(","));
        for st in CSV_STAGES {
            s.push(',');
            if let Some(t) = r.timings_s.get(st) {
                s.push_str(&format!("{t:.3}"));
            }
        }
        s.push('\n');
    }
    s
}

/// The batch's `report.html`: a sortable summary table with a thumbnail and a link to each
/// scan's own report.
pub fn summary_html(summary: &BatchSummary) -> String {
    let mut b = format!(
        "<p>Folder <code>{}</code> · {} scans · <span class=\"pass\">{} pass</span> · <span class=\"fail\">{} fail</span> · <span class=\"fail\">{} error</span></p>",
        escape(&summary.input_dir),
        summary.scans,
        summary.passed,
        summary.failed,
        summary.errors
    );
    b.push_str("<table class=\"sortable\"><thead><tr><th>scan</th><th>view</th><th>status</th><th>triangles</th><th>volume mm³</th><th>watertight</th><th>components</th><th>fit</th><th>Hausdorff mm</th><th>HD95 mm</th><th>mean dev. mm</th><th>seconds</th><th>details</th></tr></thead><tbody>");
    for r in &summary.rows {
        let cls = if r.status == "pass" { "pass" } else { "fail" };
        let thumb = r
            .thumbnail
            .as_ref()
            .map(|t| format!("<img class=\"view\" alt=\"{} oblique\" width=\"80\" height=\"80\" src=\"data:image/png;base64,{t}\">", escape(&r.scan)))
            .unwrap_or_default();
        let link = r
            .output
            .as_ref()
            .map(|o| format!("<a href=\"{0}/report.html\">{0}/report.html</a>", escape(o)))
            .unwrap_or_default();
        let mut details = link;
        if let Some(e) = &r.error {
            details.push_str(&escape(e));
        }
        for f in &r.failed_checks {
            details.push_str(&format!("<br>failed: {}", escape(f)));
        }
        let num = |v: Option<String>| v.unwrap_or_else(|| "—".into());
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"{cls}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.scan),
            thumb,
            escape(&r.status),
            num(r.triangles.map(|v| v.to_string())),
            num(r.volume_mm3.map(|v| format!("{v:.1}"))),
            num(r.watertight.map(|v| v.to_string())),
            num(r.components.map(|v| v.to_string())),
            escape(&num(r.fit_verdict.clone())),
            num(r.deviation_max_mm.map(|v| format!("{v:.3}"))),
            num(r.deviation_hd95_mm.map(|v| format!("{v:.3}"))),
            num(r.deviation_mean_mm.map(|v| format!("{v:.3}"))),
            num(r.timings_s.get("total").map(|v| format!("{v:.2}"))),
            details
        ));
    }
    b.push_str("</tbody></table>");
    report::page(
        &format!("osteon batch: {}", summary.recipe),
        &b,
        report::SORT_SCRIPT,
    )
}

/// Writes `summary.json`, `summary.csv` and `report.html` into `out_dir` (atomically each).
pub fn write_summary(summary: &BatchSummary, out_dir: &Path) -> Result<(), Error> {
    let json = serde_json::to_string_pretty(summary).map_err(|e| Error::Recipe {
        reason: format!("cannot serialise the summary: {e}"),
    })? + "\n";
    for (name, text) in [
        ("summary.json", json),
        ("summary.csv", summary_csv(summary)),
        ("report.html", summary_html(summary)),
    ] {
        let p = out_dir.join(name);
        osteon_io::write_atomic(&p, |w| {
            w.write_all(text.as_bytes()).map_err(|e| IoError::io(&p, e))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            relative_name(Path::new("/a"), Path::new("/a/b/c.nii.gz")),
            "b/c.nii.gz"
        );
        assert_eq!(package_name("b/c d.nii.gz"), "b_c_d.nii.gz");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"x\""), "\"say \"\"x\"\"\"");
    }

    #[test]
    fn discovery_finds_each_kind_once() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::create_dir_all(p.join("stack")).unwrap();
        std::fs::write(p.join("stack/volume.json"), "{}").unwrap();
        std::fs::write(p.join("stack/slice_0000.png"), "x").unwrap();
        std::fs::create_dir_all(p.join("dicom/sub")).unwrap();
        let mut dcm = vec![0u8; 200];
        dcm[128..132].copy_from_slice(b"DICM");
        std::fs::write(p.join("dicom/a"), &dcm).unwrap();
        std::fs::write(p.join("dicom/b"), &dcm).unwrap();
        std::fs::write(p.join("ct.nii.gz"), "x").unwrap();
        std::fs::write(p.join("frog.mhd"), "x").unwrap();
        std::fs::write(p.join("frog.zraw"), "x").unwrap();
        std::fs::write(p.join("notes.txt"), "x").unwrap();
        std::fs::write(p.join(".hidden.nii"), "x").unwrap();
        let found: Vec<String> = discover(p)
            .unwrap()
            .iter()
            .map(|f| relative_name(p, f))
            .collect();
        assert_eq!(found, ["ct.nii.gz", "dicom", "frog.mhd", "stack"]);
    }
}
