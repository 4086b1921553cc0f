//! Geometry primitives shared by every osteon crate.
//!
//! * [`Vec3`] — glam's `f32` 3-vector (the type parry3d uses), for mesh positions in millimetres.
//! * [`DVec3`], [`DMat3`], [`DAffine3`] — `f64` vectors and affines for grids and transforms.
//! * [`Aabb`] — an axis-aligned box; [`Frame`] — the patient frame coordinates are given in.
//! * [`Lcg`] — a deterministic pseudo-random generator for phantoms, tests and benchmarks.
//! * [`FastHash`] — a cheap hash for lookup-only tables with integer keys.
//! * [`Progress`] and [`Cancel`] — how a long computation reports progress and is stopped,
//!   without knowing about terminals.
//!
//! ```
//! use osteon_geom::{Aabb, Vec3, Frame};
//! let b = Aabb::from_points([Vec3::new(0.0, 1.0, 2.0), Vec3::new(-1.0, 3.0, 0.5)]).unwrap();
//! assert_eq!(b.min, Vec3::new(-1.0, 1.0, 0.5));
//! assert_eq!(Frame::Lps.to_frame(Frame::Ras, [1.0, 2.0, 3.0]), [-1.0, -2.0, 3.0]);
//! ```
#![deny(missing_docs)]

mod hash;
mod lcg;
mod progress;

pub use glam::{DAffine3, DMat3, DVec3, Vec3};
pub use hash::{FastHash, FastHasher};
pub use lcg::Lcg;
pub use progress::{Cancel, NeverCancel, NoProgress, Progress};

use serde::{Deserialize, Serialize};

/// An axis-aligned bounding box.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Aabb {
    /// Smallest corner.
    pub min: Vec3,
    /// Largest corner.
    pub max: Vec3,
}

impl Aabb {
    /// The box around `points`, or `None` when there are none.
    pub fn from_points<I: IntoIterator<Item = Vec3>>(points: I) -> Option<Aabb> {
        let mut it = points.into_iter();
        let first = it.next()?;
        let (min, max) = it.fold((first, first), |(lo, hi), p| (lo.min(p), hi.max(p)));
        Some(Aabb { min, max })
    }
    /// Extent along each axis.
    pub fn size(&self) -> Vec3 {
        self.max - self.min
    }
    /// Length of the diagonal.
    pub fn diagonal(&self) -> f32 {
        self.size().length()
    }
    /// The smallest box containing both.
    pub fn union(&self, other: &Aabb) -> Aabb {
        Aabb {
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }
}

/// The patient coordinate frame world coordinates are expressed in.
///
/// DICOM and osteon work in LPS (x → patient left, y → posterior, z → superior);
/// NIfTI and 3D Slicer's RAS differs by the sign of x and y. `None` means the source had
/// no patient frame (specimen or voxel coordinates): such coordinates are never converted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Frame {
    /// x → left, y → posterior, z → superior (DICOM).
    #[default]
    Lps,
    /// x → right, y → anterior, z → superior (NIfTI, Slicer).
    Ras,
    /// No patient frame known.
    None,
}

impl Frame {
    /// Short upper-case name: `LPS`, `RAS` or `NONE`.
    pub fn name(self) -> &'static str {
        match self {
            Frame::Lps => "LPS",
            Frame::Ras => "RAS",
            Frame::None => "NONE",
        }
    }

    /// Whether converting from `self` to `to` negates x and y (LPS ↔ RAS).
    /// Conversions from or to [`Frame::None`] are identities.
    pub fn flips_xy(self, to: Frame) -> bool {
        matches!(
            (self, to),
            (Frame::Lps, Frame::Ras) | (Frame::Ras, Frame::Lps)
        )
    }

    /// A point given in `self` expressed in `to`. LPS ↔ RAS is a rotation by 180° about z
    /// (it keeps handedness, so triangle winding stays outward).
    pub fn to_frame(self, to: Frame, p: [f64; 3]) -> [f64; 3] {
        if self.flips_xy(to) {
            [-p[0], -p[1], p[2]]
        } else {
            p
        }
    }
}

impl std::str::FromStr for Frame {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "lps" => Ok(Frame::Lps),
            "ras" => Ok(Frame::Ras),
            "none" => Ok(Frame::None),
            other => Err(format!(
                "unknown frame '{other}' (expected lps, ras or none)"
            )),
        }
    }
}
