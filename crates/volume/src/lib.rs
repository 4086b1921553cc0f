//! Voxel volumes and bone selection.
//!
//! * [`Grid`] — dims, spacing, origin, direction and frame: where voxels are in the patient.
//! * [`Volume<T>`] — a grid and a flat `Vec<T>` of samples, x (i) fastest.
//! * [`ScalarVolume`] — a volume in the sample type its file stored (u8 masks, i16 HU, …),
//!   so a 512³ mask costs 128 MiB, not 512.
//!
//! ```
//! use osteon_volume::{Grid, Volume};
//! let grid = Grid::new([4, 3, 2], [0.5, 0.5, 1.0]);
//! let vol = Volume::new(grid, vec![0u8; 24]).unwrap();
//! assert_eq!(vol.get(3, 2, 1), 0);
//! assert_eq!(vol.grid.world([2.0, 0.0, 1.0]), [1.0, 0.0, 1.0]);
//! assert!((vol.grid.voxel_volume() - 0.25).abs() < 1e-12);
//! ```
#![deny(missing_docs)]

mod components;
mod distance;
mod grid;
mod morphology;
mod runs;
mod select;
mod threshold;

pub use components::{
    keep_components, label_components, Components, Connectivity, Keep, KeepStats,
};
pub use distance::distance_transform;
pub use grid::{Grid, MAX_COORDINATE_MM, MAX_VOXELS, MIN_SPACING_MM};
pub use morphology::{close, fill_cavities};
pub use select::{select, Criterion, SelectOptions, SelectReport, REPORT_MAX_COMPONENTS};
pub use threshold::{count_nonzero, select_labels, threshold, Preset};

use serde::{Deserialize, Serialize};

/// Errors of volume construction and processing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VolumeError {
    /// A dimension is zero.
    #[error("dimension {axis} is zero")]
    ZeroDimension {
        /// 0 = i, 1 = j, 2 = k.
        axis: usize,
    },
    /// The grid declares more voxels than any scan can hold.
    #[error("dimensions {dims:?} exceed the limit of {limit} voxels")]
    TooManyVoxels {
        /// Declared dims.
        dims: [usize; 3],
        /// The limit.
        limit: u64,
    },
    /// Spacing must be finite and positive.
    #[error(
        "spacing along axis {axis} is {value} mm (must be finite and at least {} mm)",
        crate::grid::MIN_SPACING_MM
    )]
    InvalidSpacing {
        /// 0 = i, 1 = j, 2 = k.
        axis: usize,
        /// The offending value.
        value: f64,
    },
    /// Origin must be finite.
    #[error("origin {origin:?} is not finite")]
    InvalidOrigin {
        /// The offending origin.
        origin: [f64; 3],
    },
    /// The grid reaches coordinates too large for the `f32` meshes made from it.
    #[error("the grid reaches the point {corner:?} mm, beyond ±{limit:e} mm (spacing or origin far too large)")]
    OutOfRange {
        /// The first corner of the grid's voxels found out of range, mm.
        corner: [f64; 3],
        /// The largest coordinate magnitude accepted, mm.
        limit: f64,
    },
    /// Direction matrix unusable.
    #[error("direction matrix {direction:?} is invalid: {reason}")]
    InvalidDirection {
        /// The offending matrix.
        direction: [[f64; 3]; 3],
        /// What is wrong with it.
        reason: String,
    },
    /// Sample count does not match the grid.
    #[error("the grid has {expected} voxels but {found} samples were given")]
    LengthMismatch {
        /// Voxels of the grid.
        expected: usize,
        /// Samples given.
        found: usize,
    },
    /// A selection left no voxel.
    #[error("the selection is empty: {what}")]
    EmptySelection {
        /// Which selection, with its parameters.
        what: String,
    },
    /// An option value is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
    /// A mask too fragmented for 32-bit run or component indices (only possible beyond
    /// several billion voxels).
    #[error("{what}: {found} exceeds the limit of {limit}")]
    TooComplex {
        /// What was counted.
        what: String,
        /// How many there are.
        found: u64,
        /// The most supported.
        limit: u64,
    },
}

/// A grid and its samples, x (i) fastest, then j, then k.
#[derive(Clone, Debug, PartialEq)]
pub struct Volume<T> {
    /// Where the samples are.
    pub grid: Grid,
    /// `grid.len()` samples.
    pub data: Vec<T>,
}

impl<T: Copy> Volume<T> {
    /// A volume after checking the grid and the sample count.
    pub fn new(grid: Grid, data: Vec<T>) -> Result<Volume<T>, VolumeError> {
        grid.validate()?;
        if data.len() != grid.len() {
            return Err(VolumeError::LengthMismatch {
                expected: grid.len(),
                found: data.len(),
            });
        }
        Ok(Volume { grid, data })
    }

    /// A volume of `value` everywhere.
    pub fn filled(grid: Grid, value: T) -> Result<Volume<T>, VolumeError> {
        grid.validate()?;
        let n = grid.len();
        Ok(Volume {
            grid,
            data: vec![value; n],
        })
    }

    /// Sample at `(i, j, k)`; panics when out of range (an invariant of the caller).
    #[inline]
    pub fn get(&self, i: usize, j: usize, k: usize) -> T {
        self.data[self.grid.index(i, j, k)]
    }

    /// Same grid, samples mapped by `f`.
    pub fn map<U, F: Fn(T) -> U>(&self, f: F) -> Volume<U> {
        Volume {
            grid: self.grid.clone(),
            data: self.data.iter().map(|&v| f(v)).collect(),
        }
    }
}

/// What the values of a scan mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValueKind {
    /// Calibrated CT, Hounsfield units.
    CtHu,
    /// CT in uncalibrated scanner units (or windowed intensities).
    CtRaw,
    /// Binary mask, non-zero inside.
    Mask,
    /// Label map, one integer per structure.
    Labels,
}

/// A volume in the sample type its source stored.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ScalarVolume {
    /// Unsigned 8-bit (masks, labels, windowed CT).
    U8(Volume<u8>),
    /// Signed 16-bit (HU).
    I16(Volume<i16>),
    /// Unsigned 16-bit (raw scanner values, labels).
    U16(Volume<u16>),
    /// Signed 32-bit.
    I32(Volume<i32>),
    /// 32-bit float (rescaled values that are not integers).
    F32(Volume<f32>),
}

macro_rules! each_variant {
    ($self:expr, $v:ident => $body:expr) => {
        match $self {
            ScalarVolume::U8($v) => $body,
            ScalarVolume::I16($v) => $body,
            ScalarVolume::U16($v) => $body,
            ScalarVolume::I32($v) => $body,
            ScalarVolume::F32($v) => $body,
        }
    };
}

impl ScalarVolume {
    /// The grid.
    pub fn grid(&self) -> &Grid {
        each_variant!(self, v => &v.grid)
    }
    /// Mutable grid (for frame changes).
    pub fn grid_mut(&mut self) -> &mut Grid {
        each_variant!(self, v => &mut v.grid)
    }
    /// Name of the sample type: `u8`, `i16`, `u16`, `i32` or `f32`.
    pub fn type_name(&self) -> &'static str {
        match self {
            ScalarVolume::U8(_) => "u8",
            ScalarVolume::I16(_) => "i16",
            ScalarVolume::U16(_) => "u16",
            ScalarVolume::I32(_) => "i32",
            ScalarVolume::F32(_) => "f32",
        }
    }
    /// Bytes per sample.
    pub fn bytes_per_sample(&self) -> usize {
        match self {
            ScalarVolume::U8(_) => 1,
            ScalarVolume::I16(_) | ScalarVolume::U16(_) => 2,
            ScalarVolume::I32(_) | ScalarVolume::F32(_) => 4,
        }
    }
    /// Sample as f64 at a linear index.
    pub fn value_f64(&self, index: usize) -> f64 {
        each_variant!(self, v => f64::from(v.data[index]))
    }
    /// Smallest and largest finite sample (NaN samples are skipped); `None` when none is finite.
    pub fn value_range(&self) -> Option<(f64, f64)> {
        use rayon::prelude::*;
        let fold = |data: &[f64]| -> Option<(f64, f64)> {
            data.iter()
                .filter(|v| v.is_finite())
                .fold(None, |acc, &v| match acc {
                    None => Some((v, v)),
                    Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
                })
        };
        each_variant!(self, v => {
            v.data
                .par_chunks(1 << 16)
                .map(|c| fold(&c.iter().map(|&x| f64::from(x)).collect::<Vec<_>>()))
                .reduce(|| None, |a, b| match (a, b) {
                    (None, x) | (x, None) => x,
                    (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
                })
        })
    }
    /// Converts every sample to f32 (costs 4 bytes a voxel; prefer the typed variants).
    #[allow(clippy::unnecessary_cast)] // the macro casts every variant, f32 included
    pub fn to_f32(&self) -> Volume<f32> {
        each_variant!(self, v => v.map(|x| x as f32))
    }
}
