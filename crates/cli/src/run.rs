//! `osteon run RECIPE -o OUTDIR`: a whole recipe from scan to checked package.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Context};
use clap::Args;
use osteon::geom::NeverCancel;
use osteon::pipeline::{self, Inputs, Provenance, Recipe, RunOutput, StepEvent};
use serde_json::{json, Value};

use crate::{print_json, progress::Bars, Failure};

pub const EXAMPLES: &str = "\
Examples:
  osteon run recipes/sample.toml -o package/
  osteon run recipes/sample.toml -o package/ --set decimate.max_error_mm=0.05 --json
  osteon run bone.toml -o out/ --input ct.nii.gz --set 'select.criterion={preset=\"cortical\"}'
  osteon verify package/                # re-hash every file of the package

The package holds the meshes, report.json, report.html and manifest.json (SHA-256 of every
input and output, the effective options, every step's report). It is byte-identical between
runs and thread counts; timings are printed (--json: timings_s), never written into it.
Exit codes: 0 all checks pass, 1 a check of the recipe failed, 2 bad input or recipe.";

#[derive(Args)]
pub struct RunArgs {
    /// Recipe file (TOML).
    pub recipe: PathBuf,
    /// Output folder (created; an earlier osteon package there is replaced).
    #[arg(short, long)]
    pub output: PathBuf,
    /// The scan (default: the recipe's `input`, relative to the recipe file).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Override a recipe option: dotted key = TOML value (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print the reports and timings as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Reads a recipe file with overrides; errors name the file.
pub fn load_recipe(path: &Path, set: &[String]) -> Result<Recipe, Failure> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the recipe", path.display()))?;
    Recipe::parse_with(&text, set)
        .map(|r| r.resolve_paths(&recipe_dir(path)))
        .map_err(|e| Failure(anyhow!("{}: {e}", path.display())))
}

fn recipe_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// One line per output mesh and check, for humans.
pub fn summary_table(out: &RunOutput, files: &[String]) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{:<16} {:>10} {:>10} {:>14} {:>12} {:>5}  {}\n",
        "mesh", "triangles", "vertices", "volume mm3", "area mm2", "parts", "closed"
    ));
    for (m, f) in out.meshes.iter().zip(files) {
        let r = &m.report;
        s.push_str(&format!(
            "{:<16} {:>10} {:>10} {:>14.1} {:>12.1} {:>5}  {}\n",
            f,
            r.triangles,
            r.vertices,
            r.volume_mm3,
            r.area_mm2,
            r.components,
            if r.watertight && r.manifold && r.outward {
                "watertight, manifold, outward".to_string()
            } else {
                format!("NO: {}", r.problems().join("; "))
            }
        ));
    }
    if let Some(sl) = &out.reports.slice {
        let r = &sl.report;
        s.push_str(&format!(
            "slices of {}: {} layers of {} mm, volume from layers {:+.3} % vs mesh, overhang {:.1} mm2 -> {}\n",
            sl.mesh,
            r.layers,
            r.layer_height_mm,
            100.0 * r.volume_rel_error,
            r.overhang_area_mm2,
            sl.files.join(", ")
        ));
    }
    if let Some(c) = &out.reports.compare {
        s.push_str(&format!(
            "compare with reference: Hausdorff {:.4} mm, HD{} {:.4} mm, mean {:.4} mm, RMS {:.4} mm\n",
            c.hausdorff_mm, c.percentile, c.hd95_mm, c.mean_mm, c.rms_mm
        ));
    }
    for c in &out.checks {
        s.push_str(&format!(
            "check {:<40} {:<6} value {} (limit {})\n",
            c.check,
            if c.pass { "pass" } else { "FAIL" },
            c.value,
            c.limit
        ));
    }
    s
}

pub fn run(a: &RunArgs, quiet: bool) -> Result<ExitCode, Failure> {
    let t_all = Instant::now();
    let recipe = load_recipe(&a.recipe, &a.set)?;
    let input = match (&a.input, recipe.input.clone()) {
        (Some(i), _) => i.clone(),
        (None, Some(i)) => i,
        (None, None) => {
            return Err(Failure(anyhow!(
                "{}: the recipe names no input: give --input SCAN",
                a.recipe.display()
            )))
        }
    };
    let bars = Bars::new(quiet);
    let show = !quiet;
    let observer = |e: &StepEvent| {
        if let StepEvent::Finished { step, seconds } = e {
            bars.clear();
            if show {
                eprintln!("  {step:<9} {seconds:>8.3} s  done");
            }
        }
    };
    if show {
        eprintln!(
            "{} on {} ({})",
            recipe.name,
            input.display(),
            a.recipe.display()
        );
    }
    let out = pipeline::run_observed(
        &recipe,
        Inputs::path(&input),
        &bars,
        &NeverCancel,
        &observer,
    )?;
    bars.clear();
    let t = Instant::now();
    let prov = Provenance::new(Some(a.recipe.clone()), a.set.clone());
    let manifest = pipeline::write_dir(&out, &a.output, &prov)?;
    let write_s = t.elapsed().as_secs_f64();
    let mut timings: BTreeMap<String, f64> = out.timings_s.clone();
    timings.insert("write".into(), write_s);
    timings.insert("total".into(), t_all.elapsed().as_secs_f64());
    let files = pipeline::mesh_file_names(&out);
    if a.json {
        let meshes: serde_json::Map<String, Value> = out
            .meshes
            .iter()
            .zip(&files)
            .map(|(m, f)| {
                (
                    f.clone(),
                    serde_json::to_value(&m.report).unwrap_or(Value::Null),
                )
            })
            .collect();
        print_json(&json!({
            "recipe": recipe.name,
            "input": input,
            "output": a.output,
            "manifest": a.output.join(pipeline::MANIFEST),
            "passed": out.passed(),
            "checks": out.checks,
            "meshes": meshes,
            "outputs": manifest.outputs,
            "reports": pipeline::reports_json(&out)?,
            "timings_s": timings,
        }));
    } else if show {
        eprintln!("  {:<9} {:>8.3} s", "write", write_s);
        eprint!("{}", summary_table(&out, &files));
        for w in &out.reports.scan.warnings {
            eprintln!("warning: [{}] {}", w.code, w.message);
        }
        eprintln!(
            "{} -> {} ({} files, manifest.json); {}",
            input.display(),
            a.output.display(),
            manifest.outputs.len(),
            if out.passed() {
                "all checks pass"
            } else {
                "CHECKS FAILED"
            }
        );
    }
    Ok(ExitCode::from(if out.passed() { 0 } else { 1 }))
}
