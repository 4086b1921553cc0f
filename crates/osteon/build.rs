//! Records the git revision osteon is built from (`OSTEON_GIT_REVISION`), for provenance
//! manifests. Builds without git or outside a checkout get `unknown`; a packager may set
//! `OSTEON_GIT_REVISION` in the environment instead.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env_dir())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn env_dir() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()))
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=OSTEON_GIT_REVISION");
    let rev = match std::env::var("OSTEON_GIT_REVISION") {
        Ok(r) if !r.trim().is_empty() => r.trim().to_string(),
        _ => {
            // Rebuild when HEAD moves: HEAD itself, the branch it points at, packed refs.
            if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
                let dir = PathBuf::from(dir);
                let mut watch = vec![dir.join("HEAD"), dir.join("packed-refs")];
                if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
                    watch.push(dir.join(r));
                }
                // A missing file would make cargo rerun this script on every build.
                for f in watch.iter().filter(|f| f.is_file()) {
                    println!("cargo:rerun-if-changed={}", f.display());
                }
            }
            git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
    };
    println!("cargo:rustc-env=OSTEON_GIT_REVISION={rev}");
}
