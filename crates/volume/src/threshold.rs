//! Threshold and label selection: a [`ScalarVolume`] in, a 0/1 `u8` mask on the same grid out.
//!
//! * [`threshold`] keeps voxels whose value `v` satisfies `min <= v <= max` (both bounds
//!   inclusive), in the volume's own units: Hounsfield units for calibrated CT, stored values
//!   otherwise. NaN samples are never selected.
//! * [`select_labels`] keeps voxels whose value equals one of the given integer labels.
//! * [`Preset`] names the usual bone ranges in HU.
//!
//! For `u8`, `i16` and `u16` volumes the test is a lookup table built once (256 or 65 536
//! entries), so a 512³ volume costs one parallel pass over memory; `i32` and `f32` compare
//! directly. The output is always 1 where selected and 0 elsewhere.

use std::fmt;
use std::str::FromStr;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{ScalarVolume, Volume, VolumeError};

/// Bone ranges of calibrated CT in Hounsfield units (inclusive).
///
/// The ranges are the usual segmentation presets of 3D Slicer and similar tools:
/// bone 226..=3071 HU, compact (cortical) bone 662..=1988 HU, spongy (cancellous) bone
/// 148..=661 HU. They only mean something on a volume in HU ([`crate::ValueKind::CtHu`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// All bone: 226..=3071 HU.
    Bone,
    /// Compact bone: 662..=1988 HU.
    Cortical,
    /// Spongy bone: 148..=661 HU.
    Cancellous,
}

impl Preset {
    /// Every preset, in declaration order.
    pub const ALL: [Preset; 3] = [Preset::Bone, Preset::Cortical, Preset::Cancellous];

    /// The inclusive `(min, max)` range in HU.
    pub fn range(self) -> (f64, f64) {
        match self {
            Preset::Bone => (226.0, 3071.0),
            Preset::Cortical => (662.0, 1988.0),
            Preset::Cancellous => (148.0, 661.0),
        }
    }

    /// The lowercase name (`bone`, `cortical`, `cancellous`), as in serde and [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            Preset::Bone => "bone",
            Preset::Cortical => "cortical",
            Preset::Cancellous => "cancellous",
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = VolumeError;
    /// Accepts `bone`, `cortical` and `cancellous`, in any letter case.
    fn from_str(s: &str) -> Result<Preset, VolumeError> {
        let t = s.trim().to_ascii_lowercase();
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == t)
            .ok_or_else(|| {
                VolumeError::InvalidOption(format!(
                    "unknown preset {s:?} (expected bone, cortical or cancellous)"
                ))
            })
    }
}

/// Voxels per parallel work item of the per-voxel maps.
const CHUNK: usize = 1 << 16;

/// Maps `data` to 0/1 through `pred`, in parallel.
fn map_mask<T: Copy + Sync>(data: &[T], pred: impl Fn(T) -> bool + Sync) -> Vec<u8> {
    let mut out = vec![0u8; data.len()];
    out.par_chunks_mut(CHUNK)
        .zip(data.par_chunks(CHUNK))
        .for_each(|(o, d)| {
            for (o, &v) in o.iter_mut().zip(d) {
                *o = u8::from(pred(v));
            }
        });
    out
}

/// Maps through a lookup table of `N` entries indexed by `index(v)` (always `< N` for the
/// sample types used, so the compiler drops the bounds checks).
fn map_lut<T: Copy + Sync, const N: usize>(
    data: &[T],
    lut: &[u8; N],
    index: impl Fn(T) -> usize + Sync,
) -> Vec<u8> {
    let mut out = vec![0u8; data.len()];
    out.par_chunks_mut(CHUNK)
        .zip(data.par_chunks(CHUNK))
        .for_each(|(o, d)| {
            for (o, &v) in o.iter_mut().zip(d) {
                *o = lut[index(v) % N];
            }
        });
    out
}

/// The table `lut[t] = pred(value(t))` for `t < N`.
fn table<const N: usize>(value: impl Fn(usize) -> f64, pred: impl Fn(f64) -> bool) -> Box<[u8; N]> {
    let mut lut = Box::new([0u8; N]);
    for (t, e) in lut.iter_mut().enumerate() {
        *e = u8::from(pred(value(t)));
    }
    lut
}

/// A 0/1 mask of the voxels for which `pred(value as f64)` holds.
fn mask_by(volume: &ScalarVolume, pred: impl Fn(f64) -> bool + Sync) -> Volume<u8> {
    let grid = volume.grid().clone();
    let data = match volume {
        ScalarVolume::U8(v) => {
            let lut = table::<256>(|t| t as f64, &pred);
            map_lut(&v.data, &lut, usize::from)
        }
        ScalarVolume::U16(v) => {
            let lut = table::<65536>(|t| t as f64, &pred);
            map_lut(&v.data, &lut, usize::from)
        }
        ScalarVolume::I16(v) => {
            // Index = value + 32768, so the table runs from i16::MIN to i16::MAX.
            let lut = table::<65536>(|t| t as f64 - 32768.0, &pred);
            map_lut(&v.data, &lut, |x| (i32::from(x) + 32768) as usize)
        }
        ScalarVolume::I32(v) => map_mask(&v.data, |x| pred(f64::from(x))),
        ScalarVolume::F32(v) => map_mask(&v.data, |x| pred(f64::from(x))),
    };
    Volume { grid, data }
}

/// Voxels with `min <= value <= max` (inclusive, in the volume's units) become 1, the others 0.
///
/// A range with `min > max` or a NaN bound selects nothing (use [`crate::select`] to have such
/// options refused); NaN samples are never selected. `±inf` bounds are open ends.
///
/// ```
/// use osteon_volume::{threshold, Grid, ScalarVolume, Volume};
/// let ct = Volume::new(Grid::new([4, 1, 1], [1.0; 3]), vec![-1000i16, 225, 226, 3000]).unwrap();
/// let mask = threshold(&ScalarVolume::I16(ct), 226.0, 3071.0);
/// assert_eq!(mask.data, vec![0, 0, 1, 1]);
/// ```
pub fn threshold(volume: &ScalarVolume, min: f64, max: f64) -> Volume<u8> {
    mask_by(volume, |v| v >= min && v <= max)
}

/// Voxels whose value equals one of `labels` become 1, the others 0.
///
/// Labels are integers; on an `f32` volume a sample matches only when it is exactly that
/// integer. Labels outside the sample type's range match nothing. An empty list selects
/// nothing.
///
/// ```
/// use osteon_volume::{select_labels, Grid, ScalarVolume, Volume};
/// let lab = Volume::new(Grid::new([5, 1, 1], [1.0; 3]), vec![0u8, 13, 2, 13, 7]).unwrap();
/// assert_eq!(select_labels(&ScalarVolume::U8(lab), &[13, 7]).data, vec![0, 1, 0, 1, 1]);
/// ```
pub fn select_labels(volume: &ScalarVolume, labels: &[i64]) -> Volume<u8> {
    let mut sorted: Vec<i64> = labels.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    match volume {
        ScalarVolume::I32(v) => Volume {
            grid: v.grid.clone(),
            data: map_mask(&v.data, |x| sorted.binary_search(&i64::from(x)).is_ok()),
        },
        _ => mask_by(volume, |v| {
            // Every i64 within ±2^53 is exact in f64; larger labels cannot occur in these types.
            v.fract() == 0.0 && v.abs() < 9.0e15 && sorted.binary_search(&(v as i64)).is_ok()
        }),
    }
}

/// Values that are neither zero nor NaN become 1.
pub(crate) fn select_nonzero(volume: &ScalarVolume) -> Volume<u8> {
    mask_by(volume, |v| v != 0.0 && !v.is_nan())
}

/// Number of non-zero voxels of a mask, counted in parallel.
pub fn count_nonzero(mask: &Volume<u8>) -> u64 {
    mask.data
        .par_chunks(CHUNK)
        .map(|c| c.iter().filter(|&&v| v != 0).count() as u64)
        .sum()
}
