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
    // `osteon verify package/manifest.json` means its folder (it read
    // "package/manifest.json/manifest.json: Not a directory").
    let dir = if a.dir.is_file() && a.dir.file_name().is_some_and(|n| n == "manifest.json") {
        match a.dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    } else {
        a.dir.clone()
    };
    if dir.exists() && !dir.is_dir() {
        return Err(Failure(anyhow!(
            "{}: not a folder (give the folder written by `osteon run` or one scan's folder of \
             `osteon batch`)",
            dir.display()
        )));
    }
    // The error names the manifest (its path starts with the folder).
    let v = osteon::pipeline::verify_dir(&dir).map_err(|e| Failure(anyhow!(e)))?;
    if v.checked == 0 {
        // A manifest listing nothing verified as "all 0 files match" (exit 0).
        return Err(Failure(anyhow!(
            "{}: the manifest lists no files: nothing to verify",
            dir.join("manifest.json").display()
        )));
    }
    if a.json {
        print_json(&json!({
            "dir": dir,
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
                    dir.join(u).display()
                );
            }
            if v.ok() {
                eprintln!(
                    "{}: all {} files match the manifest",
                    dir.display(),
                    v.checked
                );
            } else {
                eprintln!(
                    "{}: {} of {} files differ from the manifest",
                    dir.display(),
                    v.problems.len(),
                    v.checked
                );
            }
        }
    }
    Ok(ExitCode::from(if v.ok() { 0 } else { 1 }))
}
