//! `osteon batch DIR --recipe RECIPE -o OUTDIR`: one recipe over every scan of a folder.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::anyhow;
use clap::Args;
use osteon::geom::NeverCancel;
use osteon::pipeline::Provenance;

use crate::{print_json, Failure};

pub const EXAMPLES: &str = "\
Examples:
  osteon batch ../shared/scans --recipe recipes/batch.toml -o qa/ --jobs 2
  osteon batch scans/ --recipe recipes/sample.toml -o qa/ --set decimate.max_error_mm=0.2 --json

Scans found: slice-stack folders (volume.json), DICOM series folders, .nii/.nii.gz, .nrrd/
.nhdr, .mhd/.mha files. Each gets OUTDIR/<path with / as _>/ (mesh, report.json,
report.html, manifest.json); OUTDIR gets summary.json, summary.csv and a sortable
report.html. A scan that cannot be processed is a row with status `error` and its message.
Exit codes: 0 every scan passed, 1 a scan failed a check or could not be processed,
2 bad recipe, a folder that is missing or holds no scan, or an output that is a file.";

#[derive(Args)]
pub struct BatchArgs {
    /// Folder searched (recursively) for scans.
    pub dir: PathBuf,
    /// Recipe file (TOML); its `input` is ignored.
    #[arg(long)]
    pub recipe: PathBuf,
    /// Output folder.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Scans processed at the same time (default: 2, or 1 on a single core).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Override a recipe option: dotted key = TOML value (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn batch(a: &BatchArgs, quiet: bool) -> Result<ExitCode, Failure> {
    let t = Instant::now();
    let recipe = crate::run::load_recipe(&a.recipe, &a.set)?;
    if a.dir.exists() && !a.dir.is_dir() {
        // Was "no such folder" for an existing file.
        return Err(Failure(anyhow!(
            "{}: not a folder (batch reads a folder of scans; `osteon run` or `osteon mesh` \
             take one scan)",
            a.dir.display()
        )));
    }
    if !a.dir.is_dir() {
        return Err(Failure(anyhow!("{}: no such folder", a.dir.display())));
    }
    let jobs = a.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get().min(2))
            .unwrap_or(1)
    });
    if jobs == 0 {
        return Err(Failure(anyhow!("--jobs must be at least 1")));
    }
    let prov = Provenance::new(Some(a.recipe.clone()), a.set.clone());
    let show = !quiet && !a.json;
    let summary = osteon::batch::run_batch(
        &recipe,
        &a.dir,
        &a.output,
        jobs,
        &prov,
        &NeverCancel,
        &|row| {
            if show {
                let total = row.timings_s.get("total").copied().unwrap_or(0.0);
                match &row.error {
                    Some(e) => eprintln!("{:<5} {} ({total:.2} s): {e}", row.status, row.scan),
                    None => eprintln!(
                        "{:<5} {} ({total:.2} s): {} triangles, {:.1} mm3{}",
                        row.status,
                        row.scan,
                        row.triangles.unwrap_or(0),
                        row.volume_mm3.unwrap_or(0.0),
                        if row.failed_checks.is_empty() {
                            String::new()
                        } else {
                            format!("; failed: {}", row.failed_checks.join("; "))
                        }
                    ),
                }
            }
        },
    )?;
    osteon::batch::write_summary(&summary, &a.output)?;
    if a.json {
        let mut v = serde_json::to_value(&summary)?;
        v["output"] = serde_json::json!(a.output);
        v["timings_s"] = serde_json::json!({ "total": t.elapsed().as_secs_f64() });
        print_json(&v);
    } else if !quiet {
        eprintln!(
            "{} scans: {} pass, {} fail, {} error ({:.1} s); {}",
            summary.scans,
            summary.passed,
            summary.failed,
            summary.errors,
            t.elapsed().as_secs_f64(),
            a.output.join("summary.csv").display()
        );
    }
    Ok(ExitCode::from(if summary.all_passed() { 0 } else { 1 }))
}
