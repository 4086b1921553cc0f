//! A deterministic CT phantom of a fractured long bone, with analytic volumes.
//!
//! Out: a [`Volume<i16>`] in Hounsfield units on an anisotropic LPS grid (default
//! 96 × 96 × 120 voxels of 0.5 × 0.5 × 1.0 mm), and a [`PhantomTruth`] holding the exact
//! volumes of the bone regions, so that tests can check extraction against analytic answers.
//!
//! The model, in millimetres, with the bone axis along z through the volume centre:
//! * air (−1000 HU) outside a soft-tissue cylinder of radius 20 mm (40 HU);
//! * a cortical tube (1500 HU), outer radius 11 mm, inner radius 8.5 mm, from z = 10 to 110 mm
//!   above the first slice, closed by 2 mm cortical end plates;
//! * cancellous bone (300 HU) inside the tube over the 20 mm at each end (metaphyses), marrow
//!   (−60 HU) in between;
//! * an oblique fracture: a 2 mm slab tilted 35° from the axial plane through the mid-shaft,
//!   filled with haematoma (50 HU), splitting the bone into two fragments;
//! * a loose cortical bone chip, a sphere of radius 1.5 mm, 3 mm outside the shaft;
//! * partial volume: each voxel is the mean of 4 × 4 × 2 sub-samples of the analytic model;
//! * noise: Gaussian, σ = 15 HU, from a counter-based generator keyed by the voxel index
//!   (so the result is identical whatever the thread count).
//!
//! The analytic volumes are exact for the continuous model: the slab removes
//! `area(tube section) · w / cos θ` from the tube because it lies wholly within the marrow
//! part of the shaft.

use osteon_geom::Frame;
use osteon_volume::{Grid, Volume};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// Parameters of the phantom.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct PhantomOptions {
    /// Voxel counts.
    pub dims: [usize; 3],
    /// Voxel spacing, mm.
    pub spacing: [f64; 3],
    /// Noise standard deviation, HU (0 for none).
    pub noise_hu: f64,
    /// Seed of the noise.
    pub seed: u64,
}

impl Default for PhantomOptions {
    fn default() -> Self {
        PhantomOptions {
            dims: [96, 96, 120],
            spacing: [0.5, 0.5, 1.0],
            noise_hu: 15.0,
            seed: 20261126,
        }
    }
}

/// HU values of the tissues.
pub mod hu {
    /// Air.
    pub const AIR: f64 = -1000.0;
    /// Soft tissue (muscle).
    pub const SOFT_TISSUE: f64 = 40.0;
    /// Yellow marrow.
    pub const MARROW: f64 = -60.0;
    /// Cortical bone.
    pub const CORTICAL: f64 = 1500.0;
    /// Cancellous bone.
    pub const CANCELLOUS: f64 = 300.0;
    /// Fracture haematoma.
    pub const HAEMATOMA: f64 = 50.0;
}

/// Geometry of the model (millimetres, relative to the grid origin's voxel-centre frame).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhantomTruth {
    /// Outer radius of the cortical tube.
    pub outer_radius_mm: f64,
    /// Inner radius of the cortical tube.
    pub inner_radius_mm: f64,
    /// Bone length.
    pub bone_length_mm: f64,
    /// Length of each cancellous end zone (including the end plate).
    pub end_zone_mm: f64,
    /// Thickness of the cortical end plates.
    pub end_plate_mm: f64,
    /// Width of the fracture slab.
    pub fracture_width_mm: f64,
    /// Tilt of the fracture plane from the axial plane, degrees.
    pub fracture_angle_deg: f64,
    /// Radius of the loose chip.
    pub chip_radius_mm: f64,
    /// Exact volume of cortical bone (tube + end plates + chip − fracture), mm³.
    pub cortical_volume_mm3: f64,
    /// Exact volume of cancellous bone, mm³.
    pub cancellous_volume_mm3: f64,
    /// Cortical + cancellous, mm³.
    pub bone_volume_mm3: f64,
    /// Volume of the loose chip alone, mm³.
    pub chip_volume_mm3: f64,
}

const RO: f64 = 11.0;
const RI: f64 = 8.5;
const Z0: f64 = 10.0;
const LEN: f64 = 100.0;
const END: f64 = 20.0;
const PLATE: f64 = 2.0;
const W: f64 = 2.0;
const ANGLE_DEG: f64 = 35.0;
const CHIP_R: f64 = 1.5;
const SOFT_R: f64 = 20.0;

/// The tissue value of the continuous model at a point given relative to the bone axis
/// (x, y across, z along from the first slice).
fn model_hu(x: f64, y: f64, z: f64) -> f64 {
    let r2 = x * x + y * y;
    let (s, c) = ANGLE_DEG.to_radians().sin_cos();
    let zm = Z0 + LEN / 2.0;
    // Chip centre: 3 mm outside the shaft surface, at mid-shaft height.
    let (cx, cz) = (RO + 3.0 + CHIP_R, zm + 12.0);
    if (x - cx).powi(2) + y * y + (z - cz).powi(2) <= CHIP_R * CHIP_R {
        return hu::CORTICAL;
    }
    if r2 > SOFT_R * SOFT_R {
        return hu::AIR;
    }
    if r2 > RO * RO || !(Z0..=Z0 + LEN).contains(&z) {
        return hu::SOFT_TISSUE;
    }
    // Fracture slab: |n·(p − centre)| ≤ w/2 with n = (sin θ, 0, cos θ).
    if (s * x + c * (z - zm)).abs() <= W / 2.0 {
        return hu::HAEMATOMA;
    }
    if r2 >= RI * RI {
        return hu::CORTICAL;
    }
    let from_end = (z - Z0).min(Z0 + LEN - z);
    if from_end <= PLATE {
        hu::CORTICAL
    } else if from_end <= END {
        hu::CANCELLOUS
    } else {
        hu::MARROW
    }
}

/// The exact volumes of the model.
pub fn truth() -> PhantomTruth {
    let theta = ANGLE_DEG.to_radians();
    let tube = PI * (RO * RO - RI * RI);
    let chip = 4.0 / 3.0 * PI * CHIP_R.powi(3);
    let cortical = tube * LEN + PI * RI * RI * PLATE * 2.0 + chip - tube * W / theta.cos();
    let cancellous = PI * RI * RI * (END - PLATE) * 2.0;
    PhantomTruth {
        outer_radius_mm: RO,
        inner_radius_mm: RI,
        bone_length_mm: LEN,
        end_zone_mm: END,
        end_plate_mm: PLATE,
        fracture_width_mm: W,
        fracture_angle_deg: ANGLE_DEG,
        chip_radius_mm: CHIP_R,
        cortical_volume_mm3: cortical,
        cancellous_volume_mm3: cancellous,
        bone_volume_mm3: cortical + cancellous,
        chip_volume_mm3: chip,
    }
}

/// SplitMix64: a counter-based generator, so each voxel's noise depends only on its index.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn gaussian(seed: u64, index: u64) -> f64 {
    let a = splitmix(seed ^ index.wrapping_mul(2));
    let b = splitmix(a ^ 0xD1B5_4A32_D192_ED03);
    let u1 = ((a >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let u2 = (b >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// Generates the phantom: HU volume (LPS, origin chosen so the bone axis is the grid's
/// centre line) and its analytic truth.
pub fn generate(opts: &PhantomOptions) -> (Volume<i16>, PhantomTruth) {
    let [nx, ny, nz] = opts.dims;
    let [sx, sy, sz] = opts.spacing;
    // Voxel centres relative to the axis: x = (i − (nx−1)/2)·sx; z from the first slice.
    let cx = (nx as f64 - 1.0) / 2.0;
    let cy = (ny as f64 - 1.0) / 2.0;
    let (ssx, ssy, ssz) = (4usize, 4usize, 2usize);
    let data: Vec<i16> = (0..nx * ny * nz)
        .into_par_iter()
        .map(|idx| {
            let i = idx % nx;
            let j = (idx / nx) % ny;
            let k = idx / (nx * ny);
            let mut acc = 0.0;
            for a in 0..ssx {
                for b in 0..ssy {
                    for c in 0..ssz {
                        let x = (i as f64 - cx + (a as f64 + 0.5) / ssx as f64 - 0.5) * sx;
                        let y = (j as f64 - cy + (b as f64 + 0.5) / ssy as f64 - 0.5) * sy;
                        let z = (k as f64 + (c as f64 + 0.5) / ssz as f64 - 0.5) * sz;
                        acc += model_hu(x, y, z);
                    }
                }
            }
            let mean = acc / (ssx * ssy * ssz) as f64;
            let v = mean + opts.noise_hu * gaussian(opts.seed, idx as u64);
            v.round().clamp(-1024.0, 3071.0) as i16
        })
        .collect();
    // Patient position: the bone axis at x = 0, y = 0 (LPS), first slice at z = −60 mm.
    let origin = [-cx * sx, -cy * sy, -60.0];
    let grid = Grid::new(opts.dims, opts.spacing)
        .with_origin(origin)
        .with_frame(Frame::Lps);
    let volume = Volume { grid, data };
    (volume, truth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let opts = PhantomOptions {
            dims: [24, 24, 30],
            spacing: [2.0, 2.0, 4.0],
            ..Default::default()
        };
        let (a, _) = generate(&opts);
        let (b, _) = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| generate(&opts));
        assert_eq!(a, b);
        assert!(a.data.iter().any(|&v| v > 1000));
        assert!(a.data.iter().any(|&v| v < -900));
    }

    #[test]
    fn truth_matches_a_fine_numerical_integration() {
        // Midpoint-rule integration of the continuous model at 0.1 mm over the bone's box.
        let t = truth();
        let h = 0.1;
        let n_xy = (2.0 * (RO + 3.0 + 2.0 * CHIP_R + 0.5) / h) as i64;
        let (mut cort, mut canc) = (0u64, 0u64);
        for kz in 0..((LEN + 2.0 * Z0) / h) as i64 {
            let z = (kz as f64 + 0.5) * h;
            for ix in -n_xy / 2..n_xy / 2 {
                let x = (ix as f64 + 0.5) * h;
                for iy in -n_xy / 2..n_xy / 2 {
                    let y = (iy as f64 + 0.5) * h;
                    let v = model_hu(x, y, z);
                    if v == hu::CORTICAL {
                        cort += 1;
                    } else if v == hu::CANCELLOUS {
                        canc += 1;
                    }
                }
            }
        }
        let dv = h * h * h;
        let rel = |num: f64, exact: f64| (num - exact).abs() / exact;
        assert!(
            rel(cort as f64 * dv, t.cortical_volume_mm3) < 2e-3,
            "{}",
            cort as f64 * dv
        );
        assert!(rel(canc as f64 * dv, t.cancellous_volume_mm3) < 2e-3);
    }
}
