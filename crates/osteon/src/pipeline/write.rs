//! Writing a run's outputs into a folder with a provenance manifest, and verifying it later.
//!
//! The folder holds the meshes, the print files (`slices/`), `report.json` (every step's
//! report and the checks), `report.html` and `manifest.json`. It is assembled in a
//! temporary sibling folder and renamed into place, so a failed run never leaves a
//! half-written package. Nothing hashed holds a time stamp, a timing, an absolute output
//! path or the thread count: the same inputs and recipe give byte-identical files. Timings
//! are returned to the caller (the CLI prints them) and never written into the package.

use std::path::{Path, PathBuf};

use osteon_io::{hash_file, hash_files, manifest_path_for, FileHash, IoError, MeshWriteOptions};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::run::{CheckResult, RunOutput};
use crate::Error;

/// The git revision osteon was built from (`unknown` when built outside a git checkout).
pub const GIT_REVISION: &str = env!("OSTEON_GIT_REVISION");

/// Name of the manifest in an output folder.
pub const MANIFEST: &str = "manifest.json";

/// Provenance of a pipeline run: which bytes and settings made which outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PipelineManifest {
    /// Always `osteon`.
    pub tool: String,
    /// Tool version.
    pub version: String,
    /// Git revision of the build.
    pub git_revision: String,
    /// Units of every coordinate (`mm`).
    pub units: String,
    /// Frame of the mesh coordinates (`LPS`, `RAS`, `NONE`).
    pub frame: String,
    /// The recipe file, hashed (absent for a recipe built in code).
    pub recipe_file: Option<FileHash>,
    /// `--set` overrides given, in order.
    pub overrides: Vec<String>,
    /// The effective recipe: every option of every step, defaults included.
    pub options: Value,
    /// The scan's name as given.
    pub input: String,
    /// Every input file (every DICOM slice) with its SHA-256.
    pub inputs: Vec<FileHash>,
    /// Manifests of inputs that osteon itself made, hashed: the chain back to the scan.
    pub input_manifests: Vec<FileHash>,
    /// Every output file, path relative to the output folder.
    pub outputs: Vec<FileHash>,
    /// Every step's report (timings removed).
    pub reports: Value,
    /// The recipe's checks.
    pub checks: Vec<CheckResult>,
    /// Whether every check passed.
    pub passed: bool,
}

/// Where the recipe came from, for the manifest.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Provenance {
    /// The recipe file, when there is one.
    pub recipe_file: Option<PathBuf>,
    /// The `--set` overrides, as given.
    pub overrides: Vec<String>,
}

impl Provenance {
    /// Provenance of a recipe read from `file` with `overrides`.
    pub fn new(recipe_file: Option<PathBuf>, overrides: Vec<String>) -> Provenance {
        Provenance {
            recipe_file,
            overrides,
        }
    }
}

/// Removes every `timings_s` member, recursively: timings differ between runs.
pub fn strip_timings(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("timings_s");
            for x in m.values_mut() {
                strip_timings(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_timings),
        _ => {}
    }
}

/// The reports of a run as deterministic JSON (what `report.json` holds).
pub fn reports_json(out: &RunOutput) -> Result<Value, Error> {
    let mut reports = serde_json::to_value(&out.reports).map_err(json_err)?;
    let meshes: serde_json::Map<String, Value> = out
        .meshes
        .iter()
        .map(|m| {
            Ok((
                m.name.clone(),
                serde_json::to_value(&m.report).map_err(json_err)?,
            ))
        })
        .collect::<Result<_, Error>>()?;
    reports["meshes"] = Value::Object(meshes);
    reports["frame"] = json!(out.frame.name());
    strip_timings(&mut reports);
    Ok(reports)
}

fn json_err(e: serde_json::Error) -> Error {
    Error::Recipe {
        reason: format!("cannot serialise a report: {e}"),
    }
}

/// The file name of each output mesh.
pub fn mesh_file_names(out: &RunOutput) -> Vec<String> {
    let ext = out.recipe.output.mesh_format.to_ascii_lowercase();
    out.meshes
        .iter()
        .map(|m| format!("{}.{ext}", m.name))
        .collect()
}

/// Writes the outputs of `out` into `dir` (created; an earlier osteon output there is
/// replaced as a whole, any other non-empty folder is refused) and returns the manifest.
pub fn write_dir(
    out: &RunOutput,
    dir: &Path,
    prov: &Provenance,
) -> Result<PipelineManifest, Error> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dir
        .file_name()
        .ok_or_else(|| Error::Usage {
            path: dir.to_path_buf(),
            reason: "the output folder has no name".into(),
        })?
        .to_string_lossy()
        .into_owned();
    if dir.exists() {
        let is_ours = dir.join(MANIFEST).is_file();
        let empty = std::fs::read_dir(dir)
            .map_err(|e| IoError::io(dir, e))?
            .next()
            .is_none();
        if !is_ours && !empty {
            return Err(Error::Usage {
                path: dir.to_path_buf(),
                reason: "the output folder exists and holds files osteon did not write (no manifest.json); choose another folder".into(),
            });
        }
    }
    std::fs::create_dir_all(&parent).map_err(|e| IoError::io(&parent, e))?;
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| IoError::io(&tmp, e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| IoError::io(&tmp, e))?;
    let result = fill(out, &tmp, prov);
    let manifest = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    // Swap the finished folder into place: old → .old, new → dir, drop old.
    if dir.exists() {
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        std::fs::rename(dir, &old).map_err(|e| IoError::io(dir, e))?;
        if let Err(e) = std::fs::rename(&tmp, dir) {
            let _ = std::fs::rename(&old, dir);
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(IoError::io(dir, e).into());
        }
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&tmp, dir).map_err(|e| IoError::io(dir, e))?;
    }
    Ok(manifest)
}

fn fill(out: &RunOutput, dir: &Path, prov: &Provenance) -> Result<PipelineManifest, Error> {
    let mut written: Vec<String> = Vec::new();
    let wopts = MeshWriteOptions::default().with_frame(out.frame);
    for (m, file) in out.meshes.iter().zip(mesh_file_names(out)) {
        osteon_io::write_mesh(&dir.join(&file), &m.mesh, &wopts)?;
        written.push(file);
    }
    if !out.slice_files.is_empty() {
        let sdir = dir.join("slices");
        std::fs::create_dir_all(&sdir).map_err(|e| IoError::io(&sdir, e))?;
    }
    for f in &out.slice_files {
        let p = dir.join(&f.path);
        osteon_io::write_atomic(&p, |w| {
            w.write_all(&f.bytes).map_err(|e| IoError::io(&p, e))
        })?;
        written.push(f.path.clone());
    }
    let reports = reports_json(out)?;
    let report_doc = json!({
        "recipe": out.recipe.name,
        "input": out.input_name,
        "reports": reports,
        "checks": out.checks,
        "passed": out.passed(),
    });
    write_text(&dir.join("report.json"), &pretty(&report_doc)?)?;
    written.push("report.json".into());
    if out.recipe.output.html {
        let html = crate::report::run_html(out, &mesh_file_names(out));
        write_text(&dir.join("report.html"), &html)?;
        written.push("report.html".into());
    }
    let mut outputs = Vec::new();
    for f in &written {
        let mut h = hash_file(&dir.join(f))?;
        h.path = f.clone();
        outputs.push(h);
    }
    let inputs = hash_files(&out.input_files)?;
    let manifest = PipelineManifest {
        tool: "osteon".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        git_revision: GIT_REVISION.into(),
        units: "mm".into(),
        frame: out.frame.name().into(),
        recipe_file: prov.recipe_file.as_deref().map(hash_file).transpose()?,
        overrides: prov.overrides.clone(),
        options: serde_json::to_value(&out.recipe).map_err(json_err)?,
        input: out.input_name.clone(),
        inputs,
        input_manifests: hash_files(&chained_manifests(
            Path::new(&out.input_name),
            &out.input_files,
        ))?,
        outputs,
        reports,
        checks: out.checks.clone(),
        passed: out.passed(),
    };
    let text = pretty(&serde_json::to_value(&manifest).map_err(json_err)?)?;
    write_text(&dir.join(MANIFEST), &text)?;
    Ok(manifest)
}

/// Manifests beside the inputs that osteon wrote: `<input>.manifest.json` for the scan and
/// each of its files, and a pipeline `manifest.json` in a scan folder. Sorted, no repeats.
pub fn chained_manifests(input: &Path, files: &[PathBuf]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::iter::once(input)
        .chain(files.iter().map(PathBuf::as_path))
        .map(manifest_path_for)
        .filter(|m| m.is_file())
        .collect();
    if input.is_dir() && input.join(MANIFEST).is_file() {
        found.push(input.join(MANIFEST));
    }
    found.sort();
    found.dedup();
    found
}

fn pretty(v: &Value) -> Result<String, Error> {
    let mut s = serde_json::to_string_pretty(v).map_err(json_err)?;
    s.push('\n');
    Ok(s)
}

fn write_text(path: &Path, text: &str) -> Result<(), Error> {
    osteon_io::write_atomic(path, |w| {
        w.write_all(text.as_bytes())
            .map_err(|e| IoError::io(path, e))
    })?;
    Ok(())
}

/// What [`verify_dir`] found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Verification {
    /// Files checked (outputs, inputs, chained manifests).
    pub checked: usize,
    /// One line per problem: `<file>: content changed (sha256 … → …)`, `<file>: missing`.
    pub problems: Vec<String>,
    /// Files in the folder the manifest does not list (reported, not a failure).
    pub unlisted: Vec<String>,
}

impl Verification {
    /// True when every hash matched.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Re-hashes every output (relative to `dir`), input and chained manifest listed in
/// `dir/manifest.json` and says what changed. Input paths are resolved as recorded
/// (relative to the working directory of the run).
pub fn verify_dir(dir: &Path) -> Result<Verification, Error> {
    let mpath = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&mpath).map_err(|e| IoError::io(&mpath, e))?;
    let manifest: PipelineManifest = serde_json::from_str(&text)
        .map_err(|e| IoError::malformed(&mpath, format!("not an osteon pipeline manifest: {e}")))?;
    let mut v = Verification::default();
    let mut check = |shown: String, path: PathBuf, expected: &FileHash| {
        v.checked += 1;
        match hash_file(&path) {
            Ok(h) if h.sha256 == expected.sha256 => {}
            Ok(h) => v.problems.push(format!(
                "{shown}: content changed (sha256 {} -> {}, {} -> {} bytes)",
                // The recorded hash is the manifest's text: not always 64 ASCII digits.
                expected.sha256.get(..12).unwrap_or(&expected.sha256),
                &h.sha256[..12],
                expected.bytes,
                h.bytes
            )),
            Err(IoError::NotFound { .. }) => v.problems.push(format!("{shown}: missing")),
            Err(e) => v.problems.push(format!("{shown}: {e}")),
        }
    };
    for f in &manifest.outputs {
        check(
            dir.join(&f.path).to_string_lossy().into_owned(),
            dir.join(&f.path),
            f,
        );
    }
    for f in manifest.inputs.iter().chain(&manifest.input_manifests) {
        check(format!("input {}", f.path), PathBuf::from(&f.path), f);
    }
    if let Some(r) = &manifest.recipe_file {
        check(format!("recipe {}", r.path), PathBuf::from(&r.path), r);
    }
    let listed: std::collections::BTreeSet<&str> =
        manifest.outputs.iter().map(|f| f.path.as_str()).collect();
    let mut unlisted: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| IoError::io(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n != MANIFEST
                && !listed.contains(n.as_str())
                && !listed.iter().any(|l| l.starts_with(&format!("{n}/")))
        })
        .collect();
    unlisted.sort();
    v.unlisted = unlisted;
    Ok(v)
}
