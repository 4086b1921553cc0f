//! One-call bone selection: a [`ScalarVolume`] in, a 0/1 `u8` mask on the same grid and a
//! [`SelectReport`] out.
//!
//! Steps, in this order:
//!
//! 1. **criterion** — [`threshold`](crate::threshold) (a range or a [`Preset`], inclusive, in
//!    the volume's units: HU for calibrated CT), [`select_labels`](crate::select_labels), or
//!    non-zero;
//! 2. **closing** (if `close_mm` is set) — [`close`](crate::close) with a ball of that radius
//!    in mm. It runs *before* keep so that fragments of one bone separated by a thin gap
//!    (partial-volume loss in thin cortex, a fracture line) are joined first and kept
//!    together, instead of being dropped as small components;
//! 3. **connected components + keep** (26-connectivity; skipped entirely when keep is
//!    [`Keep::All`]) — [`keep_components`](crate::keep_components);
//! 4. **cavity fill** (if asked) — [`fill_cavities`](crate::fill_cavities), last, so that the
//!    cavities of the kept parts are filled and nothing of a dropped part comes back.
//!
//! A selection that leaves no voxel, after the criterion or after keep, is
//! [`VolumeError::EmptySelection`] naming the criterion; invalid options are
//! [`VolumeError::InvalidOption`]. `cancel` is checked between and inside the steps.

use std::fmt;

use osteon_geom::{Cancel, Progress};
use serde::{Deserialize, Serialize};

use crate::components::{keep_components_with, Connectivity, Keep};
use crate::morphology::{close_with, fill_cavities_with};
use crate::runs::check_volume;
use crate::threshold::{count_nonzero, select_nonzero, Preset};
use crate::{select_labels, threshold, ScalarVolume, Volume, VolumeError};

/// Which voxels a selection starts from.
///
/// Serde: `{"range": {"min": 226.0, "max": 3071.0}}`, `{"preset": "bone"}`,
/// `{"labels": [13]}`, `"non-zero"`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Criterion {
    /// `min <= value <= max`, inclusive, in the volume's units (HU for calibrated CT).
    Range {
        /// Lowest value selected.
        min: f64,
        /// Highest value selected.
        max: f64,
    },
    /// A named HU range.
    Preset(Preset),
    /// Voxels equal to one of these labels.
    Labels(Vec<i64>),
    /// Voxels that are neither zero nor NaN (masks).
    #[default]
    NonZero,
}

impl Criterion {
    /// Refuses NaN bounds, `min > max` and an empty label list.
    pub fn validate(&self) -> Result<(), VolumeError> {
        match self {
            Criterion::Range { min, max } => {
                if min.is_nan() || max.is_nan() {
                    Err(VolumeError::InvalidOption(format!(
                        "range {min}..={max}: a bound is NaN"
                    )))
                } else if min > max {
                    Err(VolumeError::InvalidOption(format!(
                        "range {min}..={max}: min is greater than max"
                    )))
                } else {
                    Ok(())
                }
            }
            Criterion::Labels(l) if l.is_empty() => Err(VolumeError::InvalidOption(
                "labels: the list is empty".into(),
            )),
            _ => Ok(()),
        }
    }

    /// The 0/1 mask of the voxels meeting the criterion (no validation).
    fn apply(&self, volume: &ScalarVolume) -> Volume<u8> {
        match self {
            Criterion::Range { min, max } => threshold(volume, *min, *max),
            Criterion::Preset(p) => {
                let (lo, hi) = p.range();
                threshold(volume, lo, hi)
            }
            Criterion::Labels(l) => select_labels(volume, l),
            Criterion::NonZero => select_nonzero(volume),
        }
    }
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Criterion::Range { min, max } => write!(f, "range {min}..={max}"),
            Criterion::Preset(p) => {
                let (lo, hi) = p.range();
                write!(f, "preset {p} ({lo}..={hi} HU)")
            }
            Criterion::Labels(l) => {
                let t: Vec<String> = l.iter().map(|v| v.to_string()).collect();
                write!(f, "labels {}", t.join(","))
            }
            Criterion::NonZero => f.write_str("non-zero"),
        }
    }
}

impl std::str::FromStr for Criterion {
    type Err = VolumeError;
    /// Text form, case-insensitive: a preset name (`bone`, `cortical`, `cancellous`);
    /// `range:MIN:MAX` (inclusive; `inf`/`-inf` for open ends, e.g. `range:250:inf`);
    /// `labels:13,14` or `label:13`; `nonzero` or `non-zero`. Parsed values are validated.
    fn from_str(s: &str) -> Result<Criterion, VolumeError> {
        let t = s.trim().to_ascii_lowercase();
        let bad = || {
            VolumeError::InvalidOption(format!(
                "criterion {s:?}: expected bone, cortical, cancellous, range:MIN:MAX, \
                 labels:A,B,… or nonzero"
            ))
        };
        let c = if t == "nonzero" || t == "non-zero" {
            Criterion::NonZero
        } else if let Some(r) = t.strip_prefix("range:") {
            let (lo, hi) = r.split_once(':').ok_or_else(bad)?;
            let num = |v: &str| v.trim().parse::<f64>().map_err(|_| bad());
            Criterion::Range {
                min: num(lo)?,
                max: num(hi)?,
            }
        } else if let Some(l) = t
            .strip_prefix("labels:")
            .or_else(|| t.strip_prefix("label:"))
        {
            let labels = l
                .split(',')
                .map(|v| v.trim().parse::<i64>().map_err(|_| bad()))
                .collect::<Result<Vec<i64>, VolumeError>>()?;
            Criterion::Labels(labels)
        } else {
            Criterion::Preset(t.parse::<Preset>().map_err(|_| bad())?)
        };
        c.validate()?;
        Ok(c)
    }
}

/// Options of [`select`]. Default: criterion non-zero, keep all, no closing, no cavity fill.
///
/// ```
/// use osteon_volume::{Criterion, Keep, Preset, SelectOptions};
/// let opts = SelectOptions::default()
///     .criterion(Criterion::Preset(Preset::Bone))
///     .keep(Keep::Largest)
///     .close_mm(Some(1.0))
///     .fill_cavities(true);
/// assert_eq!(opts.keep, Keep::Largest);
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SelectOptions {
    /// Which voxels to start from.
    pub criterion: Criterion,
    /// Which 26-connected components to keep.
    pub keep: Keep,
    /// Fill background cavities enclosed by the kept parts.
    pub fill_cavities: bool,
    /// Closing radius in mm, before keep (`None` or 0: no closing).
    pub close_mm: Option<f64>,
}

impl SelectOptions {
    /// Sets the criterion.
    pub fn criterion(mut self, criterion: Criterion) -> Self {
        self.criterion = criterion;
        self
    }
    /// Sets which components to keep.
    pub fn keep(mut self, keep: Keep) -> Self {
        self.keep = keep;
        self
    }
    /// Sets whether enclosed cavities are filled.
    pub fn fill_cavities(mut self, fill: bool) -> Self {
        self.fill_cavities = fill;
        self
    }
    /// Sets the closing radius in mm.
    pub fn close_mm(mut self, radius: Option<f64>) -> Self {
        self.close_mm = radius;
        self
    }
    /// Checks every option (see [`Criterion::validate`], [`Keep::validate`]; the closing
    /// radius must be finite and ≥ 0).
    pub fn validate(&self) -> Result<(), VolumeError> {
        self.criterion.validate()?;
        self.keep.validate()?;
        if let Some(r) = self.close_mm {
            if !(r.is_finite() && r >= 0.0) {
                return Err(VolumeError::InvalidOption(format!(
                    "closing radius {r} mm must be finite and >= 0"
                )));
            }
        }
        Ok(())
    }
}

/// At most this many kept component volumes are listed in a [`SelectReport`].
pub const REPORT_MAX_COMPONENTS: usize = 20;

/// What [`select`] did and measured. Voxel counts are after the named step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SelectReport {
    /// The criterion, as text (e.g. `preset bone (226..=3071 HU)`, `labels 13`).
    pub criterion: String,
    /// Voxels meeting the criterion.
    pub voxels_selected: u64,
    /// Voxels the closing added (0 without closing).
    pub voxels_added_by_closing: u64,
    /// Connectivity of the components step.
    pub connectivity: Connectivity,
    /// Components after closing; `None` when keep was `all` (the step was skipped).
    pub components_found: Option<u64>,
    /// Components kept; `None` when keep was `all`.
    pub components_kept: Option<u64>,
    /// Voxels after keep.
    pub voxels_kept: u64,
    /// Volume of the largest dropped component in mm³, if one was dropped.
    pub largest_dropped_mm3: Option<f64>,
    /// Volumes of the kept components in mm³, largest first, at most
    /// [`REPORT_MAX_COMPONENTS`] (empty when keep was `all`).
    pub kept_component_volumes_mm3: Vec<f64>,
    /// Voxels the cavity fill added (0 without it).
    pub voxels_added_by_cavity_fill: u64,
    /// Voxels of the output mask.
    pub final_voxels: u64,
    /// Volume of one voxel, mm³.
    pub voxel_volume_mm3: f64,
    /// `final_voxels × voxel_volume_mm3`.
    pub final_volume_mm3: f64,
}

/// A valid grid and one sample per voxel.
fn check_samples(volume: &ScalarVolume) -> Result<(), VolumeError> {
    match volume {
        ScalarVolume::U8(v) => check_volume(v),
        ScalarVolume::I16(v) => check_volume(v),
        ScalarVolume::U16(v) => check_volume(v),
        ScalarVolume::I32(v) => check_volume(v),
        ScalarVolume::F32(v) => check_volume(v),
    }
}

/// Selects bone (or any structure) from a volume; returns a 0/1 mask on the volume's grid
/// and a report.
///
/// Steps, in this order:
///
/// 1. **criterion** — [`threshold`](crate::threshold) (a range or a [`Preset`], inclusive,
///    in the volume's units: HU for calibrated CT), [`select_labels`](crate::select_labels),
///    or non-zero;
/// 2. **closing** (if `close_mm` is set and > 0) — [`close`](crate::close) with a ball of that
///    radius in mm. Before keep, so that fragments of one bone separated by a thin gap
///    (partial-volume loss in thin cortex, a fracture line) are joined first and kept
///    together instead of being dropped as small components;
/// 3. **connected components + keep** — 26-connected, [`keep_components`](crate::keep_components);
///    skipped entirely (no labelling) when keep is [`Keep::All`];
/// 4. **cavity fill** (if asked) — [`fill_cavities`](crate::fill_cavities), last, so that the
///    cavities of the kept parts are filled and nothing of a dropped part comes back.
///
/// Errors: [`VolumeError::InvalidOption`] for invalid options (checked before any work),
/// [`VolumeError::EmptySelection`] naming the criterion when no voxel meets it or none is
/// left after keep, [`VolumeError::Cancelled`] when `cancel` says so (asked between and
/// inside the steps), [`VolumeError::LengthMismatch`] and grid errors for an inconsistent
/// volume. Progress stages: `criterion`, `closing`, `components`, `fill cavities`.
///
/// ```
/// use osteon_geom::{NeverCancel, NoProgress};
/// use osteon_volume::{select, Criterion, Grid, Keep, ScalarVolume, SelectOptions, Volume};
/// let v = Volume::new(Grid::new([6, 1, 1], [1.0; 3]), vec![300i16, 0, 500, 400, 900, 0]).unwrap();
/// let opts = SelectOptions::default()
///     .criterion(Criterion::Range { min: 226.0, max: 3071.0 })
///     .keep(Keep::Largest);
/// let (mask, report) = select(&ScalarVolume::I16(v), &opts, &NoProgress, &NeverCancel).unwrap();
/// assert_eq!(mask.data, vec![0, 0, 1, 1, 1, 0]);
/// assert_eq!((report.voxels_selected, report.components_found), (4, Some(2)));
/// ```
pub fn select(
    volume: &ScalarVolume,
    opts: &SelectOptions,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<(Volume<u8>, SelectReport), VolumeError> {
    opts.validate()?;
    check_samples(volume)?;
    let check = || {
        if cancel.is_cancelled() {
            Err(VolumeError::Cancelled)
        } else {
            Ok(())
        }
    };
    let what = opts.criterion.to_string();
    let voxel_mm3 = volume.grid().voxel_volume();

    progress.begin("criterion", 1);
    let mut mask = opts.criterion.apply(volume);
    let voxels_selected = count_nonzero(&mask);
    progress.advance(1);
    progress.finish();
    if voxels_selected == 0 {
        let span = match volume.value_range() {
            Some((lo, hi)) => format!("values span {lo}..={hi}"),
            None => "no finite value".to_string(),
        };
        return Err(VolumeError::EmptySelection {
            what: format!("{what}: no voxel meets it ({span})"),
        });
    }
    check()?;

    let mut voxels = voxels_selected;
    let mut voxels_added_by_closing = 0;
    if let Some(r) = opts.close_mm.filter(|&r| r > 0.0) {
        mask = close_with(&mask, r, progress, cancel)?;
        let n = count_nonzero(&mask);
        voxels_added_by_closing = n - voxels;
        voxels = n;
        check()?;
    }

    let connectivity = Connectivity::C26;
    let mut components_found = None;
    let mut components_kept = None;
    let mut largest_dropped_mm3 = None;
    let mut kept_component_volumes_mm3 = Vec::new();
    if opts.keep != Keep::All {
        let (kept, stats) =
            keep_components_with(&mask, connectivity, &opts.keep, progress, cancel)?;
        mask = kept;
        components_found = Some(stats.components_found);
        components_kept = Some(stats.kept_voxels.len() as u64);
        largest_dropped_mm3 = stats.largest_dropped_voxels.map(|n| n as f64 * voxel_mm3);
        kept_component_volumes_mm3 = stats
            .kept_voxels
            .iter()
            .take(REPORT_MAX_COMPONENTS)
            .map(|&n| n as f64 * voxel_mm3)
            .collect();
        voxels = stats.kept_voxels.iter().sum();
        if voxels == 0 {
            let largest = largest_dropped_mm3.unwrap_or(0.0);
            return Err(VolumeError::EmptySelection {
                what: format!(
                    "{what}, keep {}: no component is kept ({} found, the largest is {largest} mm³)",
                    opts.keep, stats.components_found
                ),
            });
        }
        check()?;
    }
    let voxels_kept = voxels;

    let mut voxels_added_by_cavity_fill = 0;
    if opts.fill_cavities {
        let (filled, added) = fill_cavities_with(&mask, progress, cancel)?;
        mask = filled;
        voxels_added_by_cavity_fill = added;
        voxels += added;
        check()?;
    }

    Ok((
        mask,
        SelectReport {
            criterion: what,
            voxels_selected,
            voxels_added_by_closing,
            connectivity,
            components_found,
            components_kept,
            voxels_kept,
            largest_dropped_mm3,
            kept_component_volumes_mm3,
            voxels_added_by_cavity_fill,
            final_voxels: voxels,
            voxel_volume_mm3: voxel_mm3,
            final_volume_mm3: voxels as f64 * voxel_mm3,
        },
    ))
}
