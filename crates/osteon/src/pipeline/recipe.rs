//! Recipes: which steps run, with which options, and which checks decide pass or fail.
//!
//! A recipe is a TOML file whose sections are the steps, in a fixed order (read → select →
//! extract → repair → smooth → decimate → offset → fit → compare → slice); a step runs when
//! its section is present (read and extract always run). Each section is exactly the library's options struct, so what a
//! recipe can say is what the library can do, and the manifest records it verbatim.
//!
//! ```toml
//! name = "bone"
//! input = "../sample-scans/long_bone_fracture"   # relative to the recipe file
//! frame = "lps"
//!
//! [select]                      # osteon::volume::SelectOptions
//! criterion = { preset = "bone" }
//! keep = "largest"
//!
//! [smooth]                      # osteon::mesh::SmoothOptions (defaults)
//!
//! [decimate]                    # osteon::mesh::DecimateOptions
//! max_error_mm = 0.1
//!
//! [offset]                      # an SDF solid made from the bone surface
//! operation = "offset"          # offset | shell | thicken | wrap
//! distance_mm = 0.5
//! sdf = { voxel_mm = 0.4 }      # osteon::sdf::SdfOptions
//!
//! [compare]                     # deviation from a reference (osteon::fit::CompareOptions)
//! reference = "planned_bone.stl"
//!
//! [slice]                       # print files of the bone mesh: slices/bone.{svg,cli}
//! formats = ["svg", "cli"]      # svg | png | cli | gcode
//! options = { layer_height_mm = 0.2 }   # osteon::slice::SliceOptions
//!
//! [checks]                      # thresholds → pass / fail
//! watertight = true
//! max_decimate_deviation_mm = 0.1
//! max_hausdorff_mm = 0.3
//! ```
//!
//! Unknown keys are refused (with their dotted path), so a typo never silently falls back
//! to a default. `--set key=value` overrides ([`Recipe::parse_with`]) are applied to the
//! TOML before it is read, with dotted paths: `decimate.max_error_mm=0.2`,
//! `select.criterion={range={min=300.0,max=3071.0}}`.

use std::path::{Component, Path, PathBuf};

use osteon_geom::Frame;
use osteon_io::ReadOptions;
use osteon_iso::ExtractOptions;
use osteon_mesh::{DecimateOptions, RepairOptions, SmoothOptions};
use osteon_sdf::{SdfOptions, ShellSide};
use osteon_volume::SelectOptions;
use serde::{Deserialize, Serialize};

use crate::Error;

/// A whole job: steps, their options, outputs and checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Recipe {
    /// Short name (used in reports).
    pub name: String,
    /// What the recipe is for.
    pub description: String,
    /// The scan to read when the caller gives none; relative paths are relative to the
    /// recipe file.
    pub input: Option<PathBuf>,
    /// Frame of the output coordinates (`lps`, `ras`; scans without a patient frame stay
    /// `none`).
    pub frame: Frame,
    /// How to read the scan.
    pub read: ReadOptions,
    /// Which voxels are bone; absent: by the scan's kind (masks: non-zero, HU: `bone`).
    pub select: Option<SelectOptions>,
    /// Marching-cubes options.
    pub extract: ExtractOptions,
    /// Mesh repair (weld, orient, fill holes, …), when present.
    pub repair: Option<RepairOptions>,
    /// Smoothing, when present.
    pub smooth: Option<SmoothOptions>,
    /// Decimation, when present.
    pub decimate: Option<DecimateOptions>,
    /// An SDF solid (offset, shell, thicken, wrap) made from the bone surface, when present.
    pub offset: Option<OffsetStep>,
    /// A fit check of an implant against the final bone surface, when present.
    pub fit: Option<FitStep>,
    /// A comparison of an output mesh against a reference mesh file, when present.
    pub compare: Option<CompareStep>,
    /// Slicing of an output mesh into print files, when present.
    pub slice: Option<SliceStep>,
    /// Output files.
    pub output: OutputOptions,
    /// Thresholds that turn a run into pass or fail.
    pub checks: Checks,
    /// Batch-only settings.
    pub batch: BatchOptions,
}

impl Default for Recipe {
    fn default() -> Self {
        Recipe {
            name: "recipe".into(),
            description: String::new(),
            input: None,
            frame: Frame::Lps,
            read: ReadOptions::default(),
            select: None,
            extract: ExtractOptions::default(),
            repair: None,
            smooth: None,
            decimate: None,
            offset: None,
            fit: None,
            compare: None,
            slice: None,
            output: OutputOptions::default(),
            checks: Checks::default(),
            batch: BatchOptions::default(),
        }
    }
}

/// The SDF operation of an [`OffsetStep`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SolidOperation {
    /// Grow (+) or shrink (−) by `distance_mm` ([`osteon_sdf::offset`]).
    #[default]
    Offset,
    /// A hollow wall `distance_mm` thick ([`osteon_sdf::shell`]).
    Shell,
    /// An open patch made a plate `distance_mm` thick ([`osteon_sdf::thicken`]).
    Thicken,
    /// A closed wrap ([`osteon_sdf::wrap`]; `distance_mm` unused).
    Wrap,
}

impl SolidOperation {
    /// `offset`, `shell`, `thicken` or `wrap`: also the output mesh's name.
    pub fn name(self) -> &'static str {
        match self {
            SolidOperation::Offset => "offset",
            SolidOperation::Shell => "shell",
            SolidOperation::Thicken => "thicken",
            SolidOperation::Wrap => "wrap",
        }
    }
}

/// An SDF solid made from the bone surface: a second output mesh (`<operation>.<ext>`),
/// the bone mesh stays as it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct OffsetStep {
    /// Which operation.
    pub operation: SolidOperation,
    /// Offset distance (offset) or thickness (shell, thicken), mm.
    pub distance_mm: f64,
    /// Side of a shell's wall.
    pub side: ShellSide,
    /// Field options.
    pub sdf: SdfOptions,
}

impl Default for OffsetStep {
    fn default() -> Self {
        OffsetStep {
            operation: SolidOperation::Offset,
            distance_mm: 0.0,
            side: ShellSide::Inward,
            sdf: SdfOptions::default(),
        }
    }
}

/// The implant of a [`FitStep`]: a mesh file, or a plate laid on the bone for planning
/// demonstrations ([`osteon_fit::phantom::plate_on_surface`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct FitStep {
    /// Implant mesh file (STL, PLY, OBJ, 3MF), in the bone's frame; relative paths are
    /// relative to the recipe file.
    pub implant: Option<PathBuf>,
    /// Or: a plate laid on the bone surface. (Neither: the implant comes in memory through
    /// `Inputs::with_implant`.)
    pub plate_on_bone: Option<PlateOnBone>,
    /// The fit's thresholds and settings (`osteon::fit::FitOptions`).
    pub options: osteon_fit::FitOptions,
}

/// A plate made from the bone patch within `radius_mm` of `centre_mm`, lifted `gap_mm` off
/// the surface and `thickness_mm` thick.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PlateOnBone {
    /// Centre of the patch, mm, in the output frame.
    pub centre_mm: [f64; 3],
    /// Patch radius, mm.
    pub radius_mm: f64,
    /// Gap between bone and plate, mm.
    pub gap_mm: f64,
    /// Plate thickness, mm.
    pub thickness_mm: f64,
}

/// A comparison of an output mesh (`a`) against a reference mesh (`b`) with
/// [`osteon_fit::compare_with`]: Hausdorff distance (certified to the tolerance), HD95,
/// mean, RMS both ways.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CompareStep {
    /// Reference mesh file (STL, PLY, OBJ, 3MF), in the output frame; relative paths are
    /// relative to the recipe file. Hashed into the manifest's inputs.
    pub reference: Option<PathBuf>,
    /// Name of the output mesh compared (`bone`, `offset`, …); absent: the main (bone) mesh.
    pub mesh: Option<String>,
    /// Sampling and tolerance (`osteon::fit::CompareOptions`).
    pub options: osteon_fit::CompareOptions,
}

/// A print file format of a [`SliceStep`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SliceFormat {
    /// Every layer in one SVG document (`slices/<mesh>.svg`), for inspection.
    Svg,
    /// A zip of one PNG per layer plus `header.json` (`slices/<mesh>.png.zip`), for resin
    /// printers.
    Png,
    /// A Common Layer Interface file with contours and hatches (`slices/<mesh>.cli`), for
    /// powder-bed machines.
    Cli,
    /// G-code for FDM printers (`slices/<mesh>.gcode`).
    Gcode,
}

impl SliceFormat {
    /// `svg`, `png`, `cli` or `gcode`.
    pub fn name(self) -> &'static str {
        match self {
            SliceFormat::Svg => "svg",
            SliceFormat::Png => "png",
            SliceFormat::Cli => "cli",
            SliceFormat::Gcode => "gcode",
        }
    }
    /// File extension of the format's single output file.
    pub fn extension(self) -> &'static str {
        match self {
            SliceFormat::Svg => "svg",
            SliceFormat::Png => "png.zip",
            SliceFormat::Cli => "cli",
            SliceFormat::Gcode => "gcode",
        }
    }
}

/// Slicing of an output mesh into print files (`OUTDIR/slices/<mesh>.<ext>`), each
/// section the slice crate's options struct.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SliceStep {
    /// Name of the output mesh sliced (`bone`, `offset`, `implant`); absent: the main
    /// (bone) mesh, i.e. the surface after repair, smoothing and decimation.
    pub mesh: Option<String>,
    /// Print files to write (default: `["svg"]`).
    pub formats: Vec<SliceFormat>,
    /// Layer height and open-contour policy (`osteon::slice::SliceOptions`).
    pub options: osteon_slice::SliceOptions,
    /// Support angle of the report (`osteon::slice::ReportOptions`).
    pub report: osteon_slice::ReportOptions,
    /// PNG stack options (`osteon::slice::png::PngOptions`).
    pub png: osteon_slice::png::PngOptions,
    /// CLI options (`osteon::slice::clf::ClfOptions`).
    pub cli: osteon_slice::clf::ClfOptions,
    /// G-code options (`osteon::slice::GcodeOptions`, with its material profile).
    pub gcode: osteon_slice::GcodeOptions,
}

impl Default for SliceStep {
    fn default() -> Self {
        SliceStep {
            mesh: None,
            formats: vec![SliceFormat::Svg],
            options: osteon_slice::SliceOptions::default(),
            report: osteon_slice::ReportOptions::default(),
            png: osteon_slice::png::PngOptions::default(),
            cli: osteon_slice::clf::ClfOptions::default(),
            gcode: osteon_slice::GcodeOptions::default(),
        }
    }
}

/// Output files of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct OutputOptions {
    /// File name (without extension) of the bone mesh.
    pub mesh_name: String,
    /// Mesh file format: `stl`, `ply`, `obj` or `3mf`.
    pub mesh_format: String,
    /// Write `report.html`.
    pub html: bool,
    /// Edge of each rendered view in the HTML report, pixels.
    pub image_px: u32,
}

impl Default for OutputOptions {
    fn default() -> Self {
        OutputOptions {
            mesh_name: "bone".into(),
            mesh_format: "stl".into(),
            html: true,
            image_px: 360,
        }
    }
}

/// Thresholds; each one given becomes a check with a pass or fail in the output.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Checks {
    /// Every output mesh must be watertight, manifold and outward-oriented.
    pub watertight: Option<bool>,
    /// Fewest triangles of the bone mesh.
    pub min_triangles: Option<usize>,
    /// Most triangles of the bone mesh.
    pub max_triangles: Option<usize>,
    /// Smallest volume of the bone mesh, mm³.
    pub min_volume_mm3: Option<f64>,
    /// Largest volume of the bone mesh, mm³.
    pub max_volume_mm3: Option<f64>,
    /// Largest |mesh volume − selected voxels' volume| / voxels' volume, %.
    pub max_volume_vs_voxels_pct: Option<f64>,
    /// Largest measured decimation deviation, mm.
    pub max_decimate_deviation_mm: Option<f64>,
    /// Largest measured offset error (max over samples), mm.
    pub max_offset_error_mm: Option<f64>,
    /// Largest 99th percentile (area-weighted) of the measured offset error, mm.
    pub max_offset_error_p99_mm: Option<f64>,
    /// Most self-intersecting faces of any output mesh (searched when smoothing or
    /// decimation ran).
    pub max_self_intersecting_faces: Option<usize>,
    /// Largest symmetric Hausdorff distance to the `[compare]` reference, mm.
    pub max_hausdorff_mm: Option<f64>,
    /// Largest HD95 (the compare percentile) to the reference, mm.
    pub max_hd95_mm: Option<f64>,
    /// Largest mean surface distance to the reference, mm.
    pub max_mean_deviation_mm: Option<f64>,
    /// Largest |volume from the layers / mesh volume − 1| of the slices, %.
    pub max_slice_volume_error_pct: Option<f64>,
}

/// Batch-only settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct BatchOptions {
    /// Per-scan overrides, applied in order to the scans whose path (relative to the batch
    /// folder, `/`-separated) contains `matches`.
    pub overrides: Vec<ScanOverride>,
}

/// Settings for some scans of a batch (e.g. the label of a label map).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ScanOverride {
    /// Substring of the scan's relative path.
    pub matches: String,
    /// Dotted key → TOML value, as with `--set`.
    pub set: toml::Table,
}

impl Recipe {
    /// Reads a recipe from TOML text.
    pub fn parse(text: &str) -> Result<Recipe, Error> {
        Recipe::parse_with(text, &[])
    }

    /// Reads a recipe from TOML text after applying `key=value` overrides (dotted paths;
    /// the value is TOML, or a bare string when it does not parse as TOML).
    pub fn parse_with(text: &str, overrides: &[String]) -> Result<Recipe, Error> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| Error::Recipe {
            reason: format!("not valid TOML: {}", e.message()),
        })?;
        for o in overrides {
            let (key, value) = parse_override(o)?;
            set_dotted(&mut table, &key, value)?;
        }
        Recipe::from_table(table)
    }

    /// Reads a recipe from a TOML table, refusing unknown keys and checking values.
    pub fn from_table(table: toml::Table) -> Result<Recipe, Error> {
        let recipe: Recipe =
            toml::Value::Table(table.clone())
                .try_into()
                .map_err(|e: toml::de::Error| Error::Recipe {
                    // The deserialiser's message names the type, not the key: find it.
                    reason: match blame(&table, e.message()) {
                        Some(key) => format!("`{key}`: {}", e.message()),
                        None => e.message().to_string(),
                    },
                })?;
        // The library's option structs accept unknown keys; a round trip finds them.
        let back = recipe.to_table()?;
        let mut unknown = Vec::new();
        unknown_keys(&table, &back, "", &mut unknown);
        if let Some(k) = unknown.first() {
            return Err(Error::Recipe {
                reason: format!("unknown key `{k}`"),
            });
        }
        recipe.validate()?;
        Ok(recipe)
    }

    /// The recipe as a TOML table (every option, defaults included).
    pub fn to_table(&self) -> Result<toml::Table, Error> {
        toml::Table::try_from(self).map_err(|e| Error::Recipe {
            reason: format!("cannot write the recipe as TOML: {e}"),
        })
    }

    /// This recipe with `key=value` overrides applied.
    pub fn with_overrides(&self, overrides: &[(String, toml::Value)]) -> Result<Recipe, Error> {
        let mut table = self.to_table()?;
        for (k, v) in overrides {
            set_dotted(&mut table, k, v.clone())?;
        }
        Recipe::from_table(table)
    }

    /// This recipe with the batch overrides that match `relative_path` applied.
    pub fn for_scan(&self, relative_path: &str) -> Result<Recipe, Error> {
        let sets: Vec<(String, toml::Value)> = self
            .batch
            .overrides
            .iter()
            .filter(|o| relative_path.contains(&o.matches))
            .flat_map(|o| o.set.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect();
        if sets.is_empty() {
            return Ok(self.clone());
        }
        self.with_overrides(&sets)
    }

    /// Checks value ranges the option structs do not check when read.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |reason: String| Err(Error::Recipe { reason });
        // A NaN limit would fail every check (exit 1) instead of being a recipe error. Every
        // limit given, read from the serialised checks (so a limit added later is covered).
        let limits = toml::Table::try_from(&self.checks).map_err(|e| Error::Recipe {
            reason: format!("checks: {e}"),
        })?;
        for (name, v) in &limits {
            if let toml::Value::Float(v) = v {
                if !v.is_finite() {
                    return bad(format!("checks.{name} = {v} is not a finite number"));
                }
            }
        }
        if let Some(s) = &self.select {
            if let Err(e) = s.validate() {
                return bad(format!("select: {e}"));
            }
        }
        // Checked here too (the steps check them when they run): a bad value is then named
        // with its section, before any work.
        if let Some(s) = &self.smooth {
            if let Err(e) = s.validate() {
                return bad(format!("smooth: {e}"));
            }
        }
        if let Some(d) = &self.decimate {
            if let Err(e) = d.validate() {
                return bad(format!("decimate: {e}"));
            }
        }
        if let Some(o) = &self.offset {
            if let Err(e) = o.sdf.validate() {
                return bad(format!("offset.sdf: {e}"));
            }
            if !o.distance_mm.is_finite() {
                return bad(format!(
                    "offset.distance_mm = {} is not finite",
                    o.distance_mm
                ));
            }
            if matches!(o.operation, SolidOperation::Shell | SolidOperation::Thicken)
                && o.distance_mm <= 0.0
            {
                return bad(format!(
                    "offset.distance_mm = {} must be > 0 for {}",
                    o.distance_mm,
                    o.operation.name()
                ));
            }
        }
        if let Some(f) = &self.fit {
            match (&f.implant, &f.plate_on_bone) {
                // Neither: the caller passes the implant in memory (`Inputs::with_implant`).
                (Some(_), Some(_)) => {
                    return bad("fit: give only one of `implant` and `plate_on_bone`".into())
                }
                (None, Some(p)) => {
                    let ok = |v: f64| v.is_finite() && v > 0.0;
                    let valid = ok(p.radius_mm)
                        && ok(p.thickness_mm)
                        && p.gap_mm.is_finite()
                        && p.gap_mm >= 0.0
                        && p.centre_mm.iter().all(|c| c.is_finite());
                    if !valid {
                        return bad("fit.plate_on_bone: radius and thickness must be > 0, the gap >= 0, all finite".into());
                    }
                }
                _ => {}
            }
        }
        if let Some(c) = &self.compare {
            if c.reference.is_none() {
                return bad("compare: give `reference = \"mesh file\"`".into());
            }
        }
        if let Some(sl) = &self.slice {
            let h = sl.options.layer_height_mm;
            if !(h.is_finite() && h > 0.0) {
                return bad(format!(
                    "slice.options.layer_height_mm = {h} must be a positive number"
                ));
            }
            if sl.formats.is_empty() {
                return bad("slice.formats is empty: give svg, png, cli and/or gcode".into());
            }
            let mut f = sl.formats.clone();
            f.sort();
            f.dedup();
            if f.len() != sl.formats.len() {
                return bad("slice.formats lists a format twice".into());
            }
        }
        if !matches!(
            self.output.mesh_format.to_ascii_lowercase().as_str(),
            "stl" | "ply" | "obj" | "3mf"
        ) {
            return bad(format!(
                "output.mesh_format = {:?}: use stl, ply, obj or 3mf",
                self.output.mesh_format
            ));
        }
        let name = &self.output.mesh_name;
        if name.is_empty()
            || name.starts_with('.')
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return bad(format!(
                "output.mesh_name = {name:?}: use letters, digits, '_', '-' and '.'"
            ));
        }
        if !(16..=4096).contains(&self.output.image_px) {
            return bad(format!(
                "output.image_px = {} must be in 16..=4096",
                self.output.image_px
            ));
        }
        Ok(())
    }

    /// This recipe with its relative paths (input, fit implant, compare reference) made
    /// relative to the recipe file's folder instead of the working directory.
    pub fn resolve_paths(mut self, recipe_dir: &Path) -> Recipe {
        self.input = self.input_relative_to(recipe_dir);
        if let Some(f) = self.fit.as_mut() {
            if let Some(p) = f.implant.as_mut() {
                if p.is_relative() {
                    *p = normalize(&recipe_dir.join(&*p));
                }
            }
        }
        if let Some(c) = self.compare.as_mut() {
            if let Some(p) = c.reference.as_mut() {
                if p.is_relative() {
                    *p = normalize(&recipe_dir.join(&*p));
                }
            }
        }
        self
    }

    /// The recipe's input resolved against the folder of the recipe file.
    pub fn input_relative_to(&self, recipe_dir: &Path) -> Option<PathBuf> {
        self.input.as_ref().map(|p| {
            if p.is_absolute() {
                p.clone()
            } else {
                normalize(&recipe_dir.join(p))
            }
        })
    }
}

/// Removes `.` and `x/..` lexically (no file-system access).
pub fn normalize(p: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                _ => out.push(c),
            },
            c => out.push(c),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

/// Splits `key=value` and reads the value as TOML (a bare string when it is not TOML).
pub fn parse_override(s: &str) -> Result<(String, toml::Value), Error> {
    let (key, value) = s.split_once('=').ok_or_else(|| Error::Recipe {
        reason: format!("--set {s:?}: expected key=value"),
    })?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(|p| p.trim().is_empty()) {
        return Err(Error::Recipe {
            reason: format!("--set {s:?}: the key is empty or has an empty part"),
        });
    }
    let value = value.trim();
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    Ok((key.to_string(), parsed))
}

/// Sets `a.b.c = value` in a table, creating intermediate tables.
pub fn set_dotted(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), Error> {
    let parts: Vec<&str> = key.split('.').map(str::trim).collect();
    set_path(table, &parts, value).map_err(|i| Error::Recipe {
        reason: format!(
            "--set {key}: `{}` is a value, not a section",
            parts[..=i].join(".")
        ),
    })
}

/// Sets the key at `path` (non-empty) in a table, creating intermediate tables; `Err(i)` when
/// `path[..=i]` holds a value instead of a table.
fn set_path<S: AsRef<str>>(
    table: &mut toml::Table,
    path: &[S],
    value: toml::Value,
) -> Result<(), usize> {
    let (last, parents) = path.split_last().expect("a key");
    let mut t = table;
    for (i, part) in parents.iter().enumerate() {
        let entry = t
            .entry(part.as_ref().to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = match entry {
            toml::Value::Table(inner) => inner,
            _ => return Err(i),
        };
    }
    t.insert(last.as_ref().to_string(), value);
    Ok(())
}

/// The deepest key of `given` whose value alone, put into the default recipe, fails to read
/// with the same `message` (`None` when none does: the fault is in how they combine). The
/// same message, not any failure: `{ min = "x", max = 2.0 }` alone as `max` fails too, for
/// a missing `min`.
fn blame(given: &toml::Table, message: &str) -> Option<String> {
    fn walk(
        base: &toml::Table,
        given: &toml::Table,
        prefix: &[String],
        message: &str,
    ) -> Option<String> {
        for (k, v) in given {
            let path: Vec<String> = prefix.iter().cloned().chain([k.clone()]).collect();
            let mut t = base.clone();
            let fails = set_path(&mut t, &path, v.clone()).is_ok()
                && toml::Value::Table(t)
                    .try_into::<Recipe>()
                    .is_err_and(|e| e.message() == message);
            if fails {
                if let toml::Value::Table(inner) = v {
                    if let Some(deeper) = walk(base, inner, &path, message) {
                        return Some(deeper);
                    }
                }
                return Some(path.join("."));
            }
        }
        None
    }
    let base = Recipe::default().to_table().ok()?;
    walk(&base, given, &[], message)
}

fn unknown_keys(given: &toml::Table, known: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in given {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (v, known.get(k)) {
            (_, None) => out.push(path),
            (toml::Value::Table(g), Some(toml::Value::Table(kn))) => {
                unknown_keys(g, kn, &path, out)
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_the_library_options() {
        let r = Recipe::parse(
            "name = \"t\"\n[select]\ncriterion = { preset = \"cortical\" }\nkeep = \"largest\"\n\
             [decimate]\nmax_error_mm = 0.2\n[offset]\noperation = \"shell\"\ndistance_mm = 2.0\n",
        )
        .unwrap();
        let s = r.select.as_ref().unwrap();
        assert_eq!(
            s.criterion,
            osteon_volume::Criterion::Preset(osteon_volume::Preset::Cortical)
        );
        assert_eq!(s.keep, osteon_volume::Keep::Largest);
        assert_eq!(r.decimate.as_ref().unwrap().max_error_mm, Some(0.2));
        assert_eq!(r.offset.as_ref().unwrap().operation, SolidOperation::Shell);
        assert!(r.smooth.is_none());
        // The round trip keeps everything.
        assert_eq!(Recipe::from_table(r.to_table().unwrap()).unwrap(), r);
    }

    #[test]
    fn bad_smooth_and_decimate_values_are_recipe_errors_naming_the_section() {
        let e = Recipe::parse("[decimate]\nmax_error_mm = -1.0\n").unwrap_err();
        assert!(
            matches!(e, Error::Recipe { .. }) && e.to_string().contains("decimate: "),
            "{e}"
        );
        let e = Recipe::parse("[smooth]\npassband = 3.0\n").unwrap_err();
        assert!(
            matches!(e, Error::Recipe { .. }) && e.to_string().contains("smooth: "),
            "{e}"
        );
        assert!(Recipe::parse("[decimate]\nmax_error_mm = 0.1\n[smooth]\n").is_ok());
    }

    #[test]
    fn a_check_limit_that_is_not_a_number_is_a_recipe_error() {
        // TOML has `nan`: it failed every check (exit 1) instead of naming the key.
        for (key, v) in [
            ("max_volume_vs_voxels_pct", "nan"),
            ("max_hausdorff_mm", "inf"),
        ] {
            let e = Recipe::parse(&format!("[checks]\n{key} = {v}\n")).unwrap_err();
            assert!(
                matches!(e, Error::Recipe { .. }) && e.to_string().contains(key),
                "{e}"
            );
        }
        assert!(Recipe::parse("[checks]\nmax_hausdorff_mm = 0.5\n").is_ok());
    }

    #[test]
    fn unknown_keys_are_refused_with_their_path() {
        let e = Recipe::parse("[smooth]\niteratons = 5\n").unwrap_err();
        assert!(e.to_string().contains("smooth.iteratons"), "{e}");
        let e = Recipe::parse("colour = 1\n").unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
    }

    #[test]
    fn overrides_use_dotted_paths() {
        let r = Recipe::parse_with(
            "[decimate]\nmax_error_mm = 0.1\n",
            &[
                "decimate.max_error_mm=0.25".into(),
                "smooth.iterations=7".into(),
                "select.criterion={range={min=300.0,max=2000.0}}".into(),
                "name=hello world".into(),
            ],
        )
        .unwrap();
        assert_eq!(r.decimate.unwrap().max_error_mm, Some(0.25));
        assert_eq!(r.smooth.unwrap().iterations, 7);
        assert_eq!(
            r.select.unwrap().criterion,
            osteon_volume::Criterion::Range {
                min: 300.0,
                max: 2000.0
            }
        );
        assert_eq!(r.name, "hello world");
        assert!(Recipe::parse_with("", &["novalue".into()]).is_err());
        assert!(Recipe::parse_with("name = \"x\"", &["name.sub=1".into()]).is_err());
        let e = Recipe::parse_with("", &["offset.distance_mm=nan".into()]).unwrap_err();
        assert!(e.to_string().contains("distance_mm"), "{e}");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key() {
        // The deserialiser alone says "invalid type: string "abc", expected f64".
        for (set, key) in [
            ("decimate.max_error_mm=abc", "`decimate.max_error_mm`"),
            ("smooth.iterations=1.5", "`smooth.iterations`"),
            ("select.keep=3", "`select.keep`"),
            (
                "select.criterion={range={min=1.0,max=\"x\"}}",
                "`select.criterion.range.max`",
            ),
            (
                "select.criterion={range={min=\"x\",max=2.0}}",
                "`select.criterion.range.min`",
            ),
            ("name=[1]", "`name`"),
        ] {
            let e = Recipe::parse_with("[decimate]\nratio = 0.5\n", &[set.into()]).unwrap_err();
            assert!(e.to_string().contains(key), "{set}: {e}");
        }
        // In the recipe text too, beside good keys.
        let e = Recipe::parse("[smooth]\niterations = 10\npassband = \"low\"\n").unwrap_err();
        assert!(e.to_string().contains("`smooth.passband`"), "{e}");
    }

    #[test]
    fn scan_overrides_apply_by_path() {
        let r = Recipe::parse(
            "[[batch.overrides]]\nmatches = \"frog\"\nset = { \"select.criterion\" = { labels = [13] } }\n",
        )
        .unwrap();
        let frog = r.for_scan("vtk_frogtissue/frogtissue.mhd").unwrap();
        assert_eq!(
            frog.select.unwrap().criterion,
            osteon_volume::Criterion::Labels(vec![13])
        );
        assert!(r.for_scan("head/ct.nii.gz").unwrap().select.is_none());
    }

    #[test]
    fn slice_and_compare_sections_are_the_library_options() {
        let r = Recipe::parse(
            "[slice]\nformats = [\"png\", \"gcode\"]\noptions = { layer_height_mm = 0.25 }\n\
             png = { pixel_size_mm = 0.05 }\ngcode = { bed_center_mm = [100.0, 100.0] }\n\
             [compare]\nreference = \"ref.stl\"\noptions = { percentile = 90.0 }\n\
             [checks]\nmax_hausdorff_mm = 0.3\n",
        )
        .unwrap();
        let s = r.slice.as_ref().unwrap();
        assert_eq!(s.formats, [SliceFormat::Png, SliceFormat::Gcode]);
        assert_eq!(s.options.layer_height_mm, 0.25);
        assert_eq!(s.png.pixel_size_mm, 0.05);
        assert_eq!(s.gcode.bed_center_mm, [100.0, 100.0]);
        assert_eq!(r.compare.as_ref().unwrap().options.percentile, 90.0);
        assert_eq!(r.checks.max_hausdorff_mm, Some(0.3));
        assert_eq!(Recipe::from_table(r.to_table().unwrap()).unwrap(), r);
        // The reference is relative to the recipe file; absolute paths stay.
        let resolved = r.clone().resolve_paths(Path::new("/data/recipes"));
        assert_eq!(
            resolved.compare.unwrap().reference.unwrap(),
            PathBuf::from("/data/recipes/ref.stl")
        );
        // Bad values are refused, naming the key.
        for (bad, key) in [
            (
                "[slice]\noptions = { layer_height_mm = 0.0 }\n",
                "layer_height_mm",
            ),
            ("[slice]\nformats = []\n", "slice.formats"),
            ("[slice]\nformats = [\"svg\", \"svg\"]\n", "twice"),
            ("[slice]\nformats = [\"stl\"]\n", "stl"),
            (
                "[slice]\noptions = { layer_hieght_mm = 0.2 }\n",
                "layer_hieght_mm",
            ),
            ("[compare]\n", "reference"),
        ] {
            let e = Recipe::parse(bad).unwrap_err().to_string();
            assert!(e.contains(key), "{bad}: {e}");
        }
    }

    #[test]
    fn paths_normalise() {
        assert_eq!(
            normalize(Path::new("recipes/../sample-scans/./x")),
            PathBuf::from("sample-scans/x")
        );
        assert_eq!(normalize(Path::new("../a")), PathBuf::from("../a"));
    }
}
