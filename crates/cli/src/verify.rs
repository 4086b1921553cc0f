//! `osteon verify OUTDIR`: re-hash a package against its manifest and say what changed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::anyhow;
use clap::Args;
use serde_json::json;

use crate::{print_json, Failure};

pub const EXAMPLES: &str = "\
Examples:
  osteon verify package/
  osteon verify package/ --json

Re-hashes every output (paths relative to the folder), every input file and chained
manifest (paths as recorded, relative to where the run was started) and the recipe file.
Exit codes: 0 every hash matches, 1 something changed or is missing, 2 no readable manifest.";

#[derive(Args)]
pub struct VerifyArgs {
    /// A folder written by `osteon run` or one scan's folder of `osteon batch`.
    pub dir: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn verify(a: &VerifyArgs, quiet: bool) -> Result<ExitCode, Failure> {
    let v = osteon::pipeline::verify_dir(&a.dir)
        .map_err(|e| Failure(anyhow!("{}: {e}", a.dir.display())))?;
    if a.json {
        print_json(&json!({
            "dir": a.dir,
            "ok": v.ok(),
            "checked": v.checked,
            "problems": v.problems,
            "unlisted": v.unlisted,
        }));
    } else {
        for p in &v.problems {
            println!("CHANGED {p}");
        }
        if !quiet {
            for u in &v.unlisted {
                eprintln!(
                    "note: {} is not listed in the manifest",
                    a.dir.join(u).display()
                );
            }
            if v.ok() {
                eprintln!(
                    "{}: all {} files match the manifest",
                    a.dir.display(),
                    v.checked
                );
            } else {
                eprintln!(
                    "{}: {} of {} files differ from the manifest",
                    a.dir.display(),
                    v.problems.len(),
                    v.checked
                );
            }
        }
    }
    Ok(ExitCode::from(if v.ok() { 0 } else { 1 }))
}
