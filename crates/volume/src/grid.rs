//! The sampling grid of a volume: dimensions, spacing, origin, direction and frame.

use osteon_geom::{DAffine3, DMat3, DVec3, Frame};
use serde::{Deserialize, Serialize};

use crate::VolumeError;

/// Largest voxel count a grid may declare (2^34, ~17 G voxels): a header asking for more is
/// corrupt or hostile, and is refused before anything is allocated.
pub const MAX_VOXELS: u64 = 1 << 34;

/// Smallest voxel spacing accepted, mm (1 nm): a thousand times finer than micro-CT; below it
/// the f32 mesh coordinates lose the voxel (a header saying 1e-38 is corrupt).
pub const MIN_SPACING_MM: f64 = 1e-6;

/// Largest coordinate magnitude a grid may reach, mm (1000 km): meshes are `f32`, whose step
/// is already 64 mm there; a header reaching further is corrupt.
pub const MAX_COORDINATE_MM: f64 = 1e9;

/// Where voxels sit in the patient frame.
///
/// The world position of voxel `(i, j, k)` is
/// `origin + i·spacing[0]·direction[0] + j·spacing[1]·direction[1] + k·spacing[2]·direction[2]`:
/// `direction` holds, as rows, the unit vectors of the i, j and k axes in `frame`
/// (the convention of the scans' `volume.json` and of ITK's direction matrix, transposed).
/// `origin` is the centre of voxel (0, 0, 0). Units are millimetres.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// Voxel counts along i, j, k (i fastest in memory).
    pub dims: [usize; 3],
    /// Voxel step along i, j, k, in millimetres (positive).
    pub spacing: [f64; 3],
    /// Centre of voxel (0, 0, 0) in `frame`, millimetres.
    pub origin: [f64; 3],
    /// Rows: unit vectors of the i, j, k axes in `frame`.
    pub direction: [[f64; 3]; 3],
    /// Frame of `origin` and `direction`.
    pub frame: Frame,
}

impl Grid {
    /// An axis-aligned grid in LPS with the given dims and spacing, origin at zero.
    pub fn new(dims: [usize; 3], spacing: [f64; 3]) -> Grid {
        Grid {
            dims,
            spacing,
            origin: [0.0; 3],
            direction: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            frame: Frame::Lps,
        }
    }

    /// Same grid with another origin.
    pub fn with_origin(mut self, origin: [f64; 3]) -> Grid {
        self.origin = origin;
        self
    }

    /// Same grid with another direction matrix (rows = axis unit vectors).
    pub fn with_direction(mut self, direction: [[f64; 3]; 3]) -> Grid {
        self.direction = direction;
        self
    }

    /// Same grid with another frame label (coordinates unchanged).
    pub fn with_frame(mut self, frame: Frame) -> Grid {
        self.frame = frame;
        self
    }

    /// Number of voxels (checked: see [`Grid::validate`]).
    pub fn len(&self) -> usize {
        self.dims[0] * self.dims[1] * self.dims[2]
    }

    /// True when a dimension is zero.
    pub fn is_empty(&self) -> bool {
        self.dims.contains(&0)
    }

    /// Linear index of voxel `(i, j, k)`, i fastest.
    #[inline]
    pub fn index(&self, i: usize, j: usize, k: usize) -> usize {
        i + self.dims[0] * (j + self.dims[1] * k)
    }

    /// Volume of one voxel in mm³.
    pub fn voxel_volume(&self) -> f64 {
        self.spacing[0] * self.spacing[1] * self.spacing[2] * self.direction_det().abs()
    }

    fn direction_mat(&self) -> DMat3 {
        // Columns of the linear part are the axis vectors.
        DMat3::from_cols(
            DVec3::from_array(self.direction[0]),
            DVec3::from_array(self.direction[1]),
            DVec3::from_array(self.direction[2]),
        )
    }

    /// Determinant of the direction matrix: +1 for a right-handed index frame, −1 for a
    /// mirrored one (then triangle winding must be reversed to stay outward).
    pub fn direction_det(&self) -> f64 {
        self.direction_mat().determinant()
    }

    /// The index → world affine: `world = A · (i, j, k) + origin`.
    pub fn index_to_world(&self) -> DAffine3 {
        let m = self.direction_mat()
            * DMat3::from_diagonal(DVec3::new(
                self.spacing[0],
                self.spacing[1],
                self.spacing[2],
            ));
        DAffine3::from_mat3_translation(m, DVec3::from_array(self.origin))
    }

    /// World position of a (possibly fractional) voxel index.
    pub fn world(&self, ijk: [f64; 3]) -> [f64; 3] {
        self.index_to_world()
            .transform_point3(DVec3::from_array(ijk))
            .to_array()
    }

    /// The same grid expressed in another frame (LPS ↔ RAS negates x and y of the origin and
    /// of the axis vectors; the voxels are untouched).
    pub fn to_frame(&self, frame: Frame) -> Grid {
        if !self.frame.flips_xy(frame) {
            let mut g = self.clone();
            if self.frame != Frame::None {
                g.frame = frame;
            }
            return g;
        }
        let f = |p: [f64; 3]| self.frame.to_frame(frame, p);
        Grid {
            dims: self.dims,
            spacing: self.spacing,
            origin: f(self.origin),
            direction: [
                f(self.direction[0]),
                f(self.direction[1]),
                f(self.direction[2]),
            ],
            frame,
        }
    }

    /// Checks that the grid is usable: non-zero dims whose product fits [`MAX_VOXELS`],
    /// finite spacing of at least [`MIN_SPACING_MM`], finite origin, a direction matrix of
    /// unit, mutually independent rows (determinant magnitude ≥ 0.5; oblique frames are
    /// allowed), and every voxel corner within ±[`MAX_COORDINATE_MM`].
    pub fn validate(&self) -> Result<(), VolumeError> {
        let mut total: u64 = 1;
        for (axis, &d) in self.dims.iter().enumerate() {
            if d == 0 {
                return Err(VolumeError::ZeroDimension { axis });
            }
            total = total.saturating_mul(d as u64);
        }
        if total > MAX_VOXELS {
            return Err(VolumeError::TooManyVoxels {
                dims: self.dims,
                limit: MAX_VOXELS,
            });
        }
        for (axis, &s) in self.spacing.iter().enumerate() {
            if !(s.is_finite() && s >= MIN_SPACING_MM) {
                return Err(VolumeError::InvalidSpacing { axis, value: s });
            }
        }
        if self.origin.iter().any(|v| !v.is_finite()) {
            return Err(VolumeError::InvalidOrigin {
                origin: self.origin,
            });
        }
        for row in &self.direction {
            let n = DVec3::from_array(*row).length();
            if !n.is_finite() || (n - 1.0).abs() > 1e-3 {
                return Err(VolumeError::InvalidDirection {
                    direction: self.direction,
                    reason: "an axis vector is not of unit length".into(),
                });
            }
        }
        if self.direction_det().abs() < 0.5 {
            return Err(VolumeError::InvalidDirection {
                direction: self.direction,
                reason: "axis vectors are (nearly) parallel".into(),
            });
        }
        // Meshes store f32 millimetres: past 1e9 mm (1000 km) an f32 step is 64 mm, and a
        // spacing of 1e308 overflows to infinity. No scan is that large; refuse it here
        // rather than write infinite vertices later.
        for corner in 0..8usize {
            let ijk = [0, 1, 2].map(|a| {
                if corner >> a & 1 == 1 {
                    self.dims[a] as f64 - 0.5
                } else {
                    -0.5
                }
            });
            let p = self.world(ijk);
            if p.iter()
                .any(|v| !v.is_finite() || v.abs() > MAX_COORDINATE_MM)
            {
                return Err(VolumeError::OutOfRange {
                    corner: p,
                    limit: MAX_COORDINATE_MM,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_reaching_beyond_f32_meshes_are_refused() {
        assert!(Grid::new([4, 4, 4], [0.5, 0.5, 1.0]).validate().is_ok());
        // A spacing of 1e308 is finite but its far corner is not.
        let huge = Grid::new([4, 4, 4], [1e308, 1e308, 1e308]);
        assert!(
            matches!(huge.validate(), Err(VolumeError::OutOfRange { .. })),
            "{:?}",
            huge.validate()
        );
        let mut far = Grid::new([4, 4, 4], [1.0, 1.0, 1.0]);
        far.origin = [1e300, 0.0, 0.0];
        let e = far.validate().unwrap_err();
        assert!(matches!(e, VolumeError::OutOfRange { .. }), "{e}");
        assert!(e.to_string().contains("beyond"), "{e}");
        let tiny = Grid::new([4, 4, 4], [1e-38, 1.0, 1.0]);
        assert!(matches!(
            tiny.validate(),
            Err(VolumeError::InvalidSpacing { axis: 0, .. })
        ));
        assert!(Grid::new([4, 4, 4], [1e-3, 1e-3, 1e-3]).validate().is_ok());
        // A large but real scanner coordinate is fine.
        far.origin = [-250.0, 300.0, 1800.0];
        assert!(far.validate().is_ok());
    }
}
