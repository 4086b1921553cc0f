//! One call from a scan to a checked print package: a [`Recipe`] lists the steps and their
//! options (exactly the library's option structs), [`run`] executes them with progress and
//! cancellation and returns every step's report and the outputs in memory, and
//! [`write_dir`] writes the package (meshes, print files under `slices/`, `report.json`,
//! `report.html`, `manifest.json`) atomically; [`verify_dir`] re-hashes it later.
//!
//! ```no_run
//! use osteon::pipeline::{run, write_dir, Inputs, Provenance, Recipe};
//! use osteon::geom::{NeverCancel, NoProgress};
//! let recipe = Recipe::parse_with(
//!     "[select]\ncriterion = { preset = \"bone\" }\n[decimate]\nmax_error_mm = 0.1\n",
//!     &["decimate.max_error_mm=0.05".to_string()],
//! )?;
//! let out = run(&recipe, Inputs::path("sample-scans/long_bone_fracture"), &NoProgress, &NeverCancel)?;
//! println!("{} triangles, {:.1} mm3", out.bone().report.triangles, out.bone().report.volume_mm3);
//! write_dir(&out, "package".as_ref(), &Provenance::default())?;
//! # Ok::<(), osteon::Error>(())
//! ```
//!
//! Determinism: every step is deterministic at any thread count, the package holds no time
//! stamps, timings or absolute output paths, so two runs give byte-identical files.

mod recipe;
mod run;
mod write;

pub use recipe::{
    normalize, parse_override, set_dotted, BatchOptions, Checks, CompareStep, FitStep, OffsetStep,
    OutputOptions, PlateOnBone, Recipe, ScanOverride, SliceFormat, SliceStep, SolidOperation,
};
pub use run::{
    run, run_observed, CheckResult, Inputs, OutputMesh, Reports, RunOutput, ScanInput, SliceFile,
    SliceStepReport, StepEvent,
};
pub use write::{
    chained_manifests, mesh_file_names, reports_json, strip_timings, verify_dir, write_dir,
    PipelineManifest, Provenance, Verification, GIT_REVISION, MANIFEST,
};
