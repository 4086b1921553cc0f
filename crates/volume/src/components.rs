//! Connected components of a 0/1 mask, and keeping some of them.
//!
//! In: a `u8` mask (non-zero = inside). Out: per-voxel labels ([`label_components`]) or a
//! mask of the kept components ([`keep_components`]).
//!
//! * Connectivity: [`Connectivity::C26`] joins voxels sharing a face, an edge or a corner;
//!   [`Connectivity::C6`] only across faces. Bone selection uses 26 for the foreground, the
//!   usual choice for thin bone: a cortical wall one voxel thick, sampled obliquely, is
//!   connected only through edges and corners.
//! * Labels: 0 is background, components are numbered 1, 2, … in raster order (x fastest,
//!   then y, then z) of their first voxel, so labels are the same whatever the thread count.
//! * Method: union–find over run-length-encoded rows (runs of consecutive inside voxels),
//!   per z-slab in parallel, then the slab boundaries are merged (the classic two-pass
//!   scheme of Rosenfeld & Pfaltz 1966 on runs, as in He, Chao & Suzuki 2008). The per-voxel
//!   label array is only made by [`label_components`]; [`keep_components`] works on runs.

use std::fmt;
use std::str::FromStr;

use osteon_geom::{Cancel, NeverCancel, NoProgress, Progress};
use serde::{Deserialize, Serialize};

use crate::runs::{check_volume, Runs};
use crate::{Volume, VolumeError};

/// Which neighbours of a voxel are connected to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Connectivity {
    /// Face neighbours only (6 per voxel).
    C6,
    /// Face, edge and corner neighbours (26 per voxel).
    #[default]
    C26,
}

impl Connectivity {
    /// How far apart (in x) two runs of neighbouring rows may be and still touch.
    pub(crate) fn tolerance(self) -> u32 {
        match self {
            Connectivity::C6 => 0,
            Connectivity::C26 => 1,
        }
    }
}

impl fmt::Display for Connectivity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Connectivity::C6 => "6",
            Connectivity::C26 => "26",
        })
    }
}

/// Per-voxel component labels of a mask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Components {
    /// One label per voxel of the grid: 0 outside the mask, `1..=sizes.len()` inside,
    /// numbered in raster order of each component's first voxel.
    pub labels: Vec<u32>,
    /// `sizes[l - 1]` is the voxel count of component `l`.
    pub sizes: Vec<u64>,
}

impl Components {
    /// Number of components.
    pub fn count(&self) -> usize {
        self.sizes.len()
    }
}

/// Labels the connected components of the non-zero voxels of `mask`.
///
/// Costs 4 bytes a voxel for the labels; to keep or drop components, [`keep_components`]
/// does the same work without them. Fails on a volume whose sample count does not match its
/// grid, and on masks with more than `u32::MAX` runs of voxels ([`VolumeError::TooComplex`]).
///
/// ```
/// use osteon_volume::{label_components, Connectivity, Grid, Volume};
/// // Two voxels touching at a corner.
/// let mut m = Volume::filled(Grid::new([2, 2, 2], [1.0; 3]), 0u8).unwrap();
/// m.data[0] = 1;
/// m.data[7] = 1;
/// assert_eq!(label_components(&m, Connectivity::C26).unwrap().sizes, vec![2]);
/// let c6 = label_components(&m, Connectivity::C6).unwrap();
/// assert_eq!(c6.sizes, vec![1, 1]);
/// assert_eq!((c6.labels[0], c6.labels[7]), (1, 2));
/// ```
pub fn label_components(
    mask: &Volume<u8>,
    connectivity: Connectivity,
) -> Result<Components, VolumeError> {
    check_volume(mask)?;
    let runs = Runs::extract(&mask.data, mask.grid.dims, true, &NeverCancel, &NoProgress)?;
    let (comp, count) = runs.label(connectivity, &NeverCancel, &NoProgress)?;
    let sizes = runs.sizes(&comp, count);
    let mut labels = vec![0u32; mask.data.len()];
    runs.paint(&comp, &mut labels, |c| Some(c + 1));
    Ok(Components { labels, sizes })
}

/// Which connected components a selection keeps.
///
/// Text form ([`FromStr`], case-insensitive): `all`; `largest`; `N-largest` or just `N`
/// (N ≥ 1, e.g. `3-largest`, `3`); `min-volume:V` or `min-volume=V` (V in mm³, ≥ 0, e.g.
/// `min-volume:50`). Serde: `"all"`, `"largest"`, `{"n-largest": 3}`, `{"min-volume": 50.0}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Keep {
    /// Every component.
    #[default]
    All,
    /// The largest component (the first in raster order among equals).
    Largest,
    /// The N largest components (ties broken by raster order).
    NLargest(usize),
    /// Every component of at least this volume, in mm³ (voxel count × voxel volume).
    MinVolume(f64),
}

impl Keep {
    /// Refuses `NLargest(0)` and a negative or non-finite minimum volume.
    pub fn validate(&self) -> Result<(), VolumeError> {
        match *self {
            Keep::NLargest(0) => Err(VolumeError::InvalidOption(
                "keep: the number of largest components must be at least 1".into(),
            )),
            Keep::MinVolume(v) if !(v.is_finite() && v >= 0.0) => Err(VolumeError::InvalidOption(
                format!("keep: minimum volume {v} mm³ must be finite and >= 0"),
            )),
            _ => Ok(()),
        }
    }

    /// Indices (0-based) of the kept components, largest first (ties: lower index first),
    /// given each component's voxel count and the volume of one voxel in mm³.
    pub fn kept(&self, sizes: &[u64], voxel_mm3: f64) -> Result<Vec<usize>, VolumeError> {
        self.validate()?;
        let mut order: Vec<usize> = (0..sizes.len()).collect();
        // Stable sort: equal sizes stay in raster order.
        order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]));
        match *self {
            Keep::All => {}
            Keep::Largest => order.truncate(1),
            Keep::NLargest(n) => order.truncate(n),
            Keep::MinVolume(v) => order.retain(|&c| sizes[c] as f64 * voxel_mm3 >= v),
        }
        Ok(order)
    }
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keep::All => f.write_str("all"),
            Keep::Largest => f.write_str("largest"),
            Keep::NLargest(n) => write!(f, "{n}-largest"),
            Keep::MinVolume(v) => write!(f, "min-volume:{v}"),
        }
    }
}

impl FromStr for Keep {
    type Err = VolumeError;
    fn from_str(s: &str) -> Result<Keep, VolumeError> {
        let t = s.trim().to_ascii_lowercase();
        let bad = || {
            VolumeError::InvalidOption(format!(
                "keep {s:?}: expected all, largest, N-largest, N or min-volume:MM3"
            ))
        };
        let keep = match t.as_str() {
            "all" => Keep::All,
            "largest" => Keep::Largest,
            _ => {
                if let Some(v) = t
                    .strip_prefix("min-volume:")
                    .or_else(|| t.strip_prefix("min-volume="))
                {
                    Keep::MinVolume(v.trim().parse::<f64>().map_err(|_| bad())?)
                } else {
                    let n = t.strip_suffix("-largest").unwrap_or(&t);
                    Keep::NLargest(n.trim().parse::<usize>().map_err(|_| bad())?)
                }
            }
        };
        keep.validate()?;
        Ok(keep)
    }
}

/// What [`keep_components`] found and kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeepStats {
    /// Components of the input mask.
    pub components_found: u64,
    /// Voxel counts of the kept components, largest first.
    pub kept_voxels: Vec<u64>,
    /// Voxel count of the largest dropped component, if any was dropped.
    pub largest_dropped_voxels: Option<u64>,
}

/// The mask of the components of `mask` chosen by `keep` (0/1, same grid).
///
/// Works on runs: no per-voxel label array is made. The result may be empty (e.g. every
/// component is under the minimum volume); [`crate::select`] turns that into an error.
///
/// ```
/// use osteon_volume::{keep_components, Connectivity, Grid, Keep, Volume};
/// let m = Volume::new(Grid::new([6, 1, 1], [1.0; 3]), vec![1u8, 0, 1, 1, 1, 0]).unwrap();
/// let (kept, stats) = keep_components(&m, Connectivity::C26, &Keep::Largest).unwrap();
/// assert_eq!(kept.data, vec![0, 0, 1, 1, 1, 0]);
/// assert_eq!((stats.components_found, stats.largest_dropped_voxels), (2, Some(1)));
/// ```
pub fn keep_components(
    mask: &Volume<u8>,
    connectivity: Connectivity,
    keep: &Keep,
) -> Result<(Volume<u8>, KeepStats), VolumeError> {
    keep_components_with(mask, connectivity, keep, &NoProgress, &NeverCancel)
}

/// [`keep_components`] with progress (z-slices) and cancellation.
pub(crate) fn keep_components_with(
    mask: &Volume<u8>,
    connectivity: Connectivity,
    keep: &Keep,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<(Volume<u8>, KeepStats), VolumeError> {
    keep.validate()?;
    check_volume(mask)?;
    let nz = mask.grid.dims[2] as u64;
    progress.begin("components", 2 * nz);
    let runs = Runs::extract(&mask.data, mask.grid.dims, true, cancel, progress)?;
    let (comp, count) = runs.label(connectivity, cancel, progress)?;
    let sizes = runs.sizes(&comp, count);
    let kept = keep.kept(&sizes, mask.grid.voxel_volume())?;
    let mut flag = vec![false; sizes.len()];
    for &c in &kept {
        flag[c] = true;
    }
    let largest_dropped_voxels = (0..sizes.len())
        .filter(|&c| !flag[c])
        .map(|c| sizes[c])
        .max();
    let mut data = vec![0u8; mask.data.len()];
    runs.paint(&comp, &mut data, |c| flag[c as usize].then_some(1u8));
    progress.finish();
    Ok((
        Volume {
            grid: mask.grid.clone(),
            data,
        },
        KeepStats {
            components_found: u64::from(count),
            kept_voxels: kept.iter().map(|&c| sizes[c]).collect(),
            largest_dropped_voxels,
        },
    ))
}
