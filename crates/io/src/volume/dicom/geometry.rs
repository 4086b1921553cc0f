//! Slice geometry: order along the slice normal, stacking direction (gantry tilt), slice
//! spacing and its QC. Pure computation over positions, no files.

use osteon_geom::DVec3;

use crate::QcWarning;

/// Two slices closer than this along the normal (mm) are the same position: DS values carry
/// about 6 decimals, and no scanner stacks slices 0.1 µm apart.
const DUPLICATE_MM: f64 = 1e-4;

/// Tilt below this (degrees) is rounding in the written positions, not a tilted gantry: the
/// normal is then kept as the k axis so that an axial scan gets an orthogonal grid.
const TILT_DEGREES: f64 = 0.01;

/// A gap this many median spacings wide or more counts as missing slices (1.5 rounds to one
/// missing slice; anything smaller is uneven spacing, not a hole).
const MISSING_RATIO: f64 = 1.5;

/// The ordered stack.
#[derive(Clone, Debug)]
pub(super) struct Stack {
    /// Input indices in stacking order (ascending along the slice normal).
    pub order: Vec<usize>,
    /// Position of the first slice in `order` (mm, LPS).
    pub origin: [f64; 3],
    /// Rows: unit i (IOP row), j (IOP column) and k (stacking) directions.
    pub direction: [[f64; 3]; 3],
    /// Step along k (mm): the mean distance between successive slice positions.
    pub slice_spacing: f64,
    /// QC remarks.
    pub warnings: Vec<QcWarning>,
}

/// Why a stack cannot be built. Indices refer to the input.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum StackError {
    /// ImageOrientationPatient is not two unit, orthogonal vectors.
    BadOrientation(String),
    /// Two slices at the same position along the normal.
    Duplicate { a: usize, b: usize, position: f64 },
    /// Slice positions do not lie on one line (varying tilt, or a mix of stacks).
    NotCollinear { index: usize, offset: f64 },
    /// Spacing varies more than the tolerance and uneven series are not allowed.
    Uneven { reason: String },
}

/// Checks the orientation cosines and returns the unit row, column and normal vectors.
pub(super) fn orientation(iop: &[f64; 6]) -> Result<[DVec3; 3], StackError> {
    let row = DVec3::new(iop[0], iop[1], iop[2]);
    let col = DVec3::new(iop[3], iop[4], iop[5]);
    // 1e-2: scanners write 6-digit cosines; anything further off is not a direction.
    let unit = |v: DVec3| (v.length() - 1.0).abs() < 1e-2;
    if !unit(row) || !unit(col) || row.normalize().dot(col.normalize()).abs() > 1e-2 {
        return Err(StackError::BadOrientation(format!(
            "ImageOrientationPatient {iop:?} is not two orthogonal unit vectors"
        )));
    }
    let (row, col) = (row.normalize(), col.normalize());
    Ok([row, col, row.cross(col).normalize()])
}

/// Orders slices at `positions` (IPP, mm) along the normal of `iop`, measures the spacing
/// and the tilt, and builds the k axis. `pixel_spacing` is `[row step, column step]`;
/// `thickness` is the slice step used for a single slice.
pub(super) fn build_stack(
    positions: &[[f64; 3]],
    iop: &[f64; 6],
    pixel_spacing: [f64; 2],
    thickness: Option<f64>,
    tolerance: f64,
    allow_uneven: bool,
) -> Result<Stack, StackError> {
    let [row, col, normal] = orientation(iop)?;
    let along: Vec<f64> = positions
        .iter()
        .map(|p| DVec3::from_array(*p).dot(normal))
        .collect();
    let mut order: Vec<usize> = (0..positions.len()).collect();
    order.sort_by(|&a, &b| along[a].total_cmp(&along[b]).then(a.cmp(&b)));
    for w in order.windows(2) {
        if along[w[1]] - along[w[0]] < DUPLICATE_MM {
            let (a, b) = (w[0].min(w[1]), w[0].max(w[1]));
            return Err(StackError::Duplicate {
                a,
                b,
                position: along[w[0]],
            });
        }
    }
    let mut warnings = Vec::new();
    let first = DVec3::from_array(positions[order[0]]);
    if positions.len() == 1 {
        let step = thickness.unwrap_or(1.0);
        warnings.push(QcWarning::new(
            "single-slice",
            format!(
                "the series has one slice; its thickness is taken as {step} mm{}",
                if thickness.is_some() {
                    " (SpacingBetweenSlices or SliceThickness)"
                } else {
                    " (no SpacingBetweenSlices or SliceThickness given)"
                }
            ),
        ));
        return Ok(Stack {
            order,
            origin: first.to_array(),
            direction: [row.to_array(), col.to_array(), normal.to_array()],
            slice_spacing: step,
            warnings,
        });
    }

    let last = DVec3::from_array(positions[order[order.len() - 1]]);
    let stacking = (last - first).normalize();
    let cos = stacking.dot(normal).clamp(-1.0, 1.0);
    let tilt = cos.acos().to_degrees();
    // Every position must lie on the line first + t·stacking: a tenth of a pixel off is
    // beyond rounding and would misplace voxels.
    let lateral_limit = 0.1 * pixel_spacing[0].min(pixel_spacing[1]);
    for &i in &order {
        let d = DVec3::from_array(positions[i]) - first;
        let off = (d - d.dot(stacking) * stacking).length();
        if off > lateral_limit {
            return Err(StackError::NotCollinear {
                index: i,
                offset: off,
            });
        }
    }
    let k_axis = if tilt > TILT_DEGREES {
        warnings.push(QcWarning::new(
            "gantry-tilt",
            format!(
                "slices are stacked at {tilt:.2}° from the slice normal (gantry tilt); the grid's \
                 k axis follows the slice positions, so voxels stay where the scanner put them \
                 (the grid is sheared, not orthogonal)"
            ),
        ));
        stacking
    } else {
        normal
    };

    // Distances between successive slices along the stacking direction.
    let gaps: Vec<f64> = order
        .windows(2)
        .map(|w| (along[w[1]] - along[w[0]]) / cos)
        .collect();
    let mut sorted = gaps.clone();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        0.5 * (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2])
    };
    let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
    let mean = (along[order[order.len() - 1]] - along[order[0]]) / cos / gaps.len() as f64;

    let mut holes = Vec::new();
    for (g, w) in gaps.iter().zip(order.windows(2)) {
        let ratio = g / median;
        if ratio >= MISSING_RATIO {
            let missing = (ratio.round() as u64).saturating_sub(1).max(1);
            holes.push(format!(
                "{missing} between {:.3} mm and {:.3} mm along the slice normal (a gap of {g:.3} mm)",
                along[w[0]], along[w[1]]
            ));
        }
    }
    let uneven = gaps
        .iter()
        .any(|g| ((g - median) / median).abs() > tolerance);
    if uneven {
        let holes_note = if holes.is_empty() {
            String::new()
        } else {
            format!("; slices missing: {}", holes.join("; "))
        };
        if !allow_uneven {
            return Err(StackError::Uneven {
                reason: format!(
                    "slice spacing varies from {min:.4} to {max:.4} mm (median {median:.4} mm, \
                     tolerance {:.2} %){holes_note}; pass --allow-uneven to read it anyway",
                    tolerance * 100.0
                ),
            });
        }
        warnings.push(QcWarning::new(
            "uneven-spacing",
            format!(
                "slice spacing varies from {min:.4} to {max:.4} mm (median {median:.4} mm); \
                 read with the mean spacing {mean:.4} mm, so slice positions are approximate"
            ),
        ));
    }
    if !holes.is_empty() {
        warnings.push(QcWarning::new(
            "missing-slices",
            format!(
                "slices missing (median spacing {median:.4} mm): {}",
                holes.join("; ")
            ),
        ));
    }
    Ok(Stack {
        order,
        origin: first.to_array(),
        direction: [row.to_array(), col.to_array(), k_axis.to_array()],
        slice_spacing: mean,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AXIAL: [f64; 6] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];

    fn stack(z: &[f64], allow: bool) -> Result<Stack, StackError> {
        let p: Vec<[f64; 3]> = z.iter().map(|&z| [0.0, 0.0, z]).collect();
        build_stack(&p, &AXIAL, [1.0, 1.0], None, 0.01, allow)
    }

    #[test]
    fn orders_by_position_not_input() {
        let s = stack(&[8.0, 0.0, 4.0, 12.0], false).unwrap();
        assert_eq!(s.order, vec![1, 2, 0, 3]);
        assert_eq!(s.origin, [0.0, 0.0, 0.0]);
        assert!((s.slice_spacing - 4.0).abs() < 1e-12);
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn normal_follows_orientation() {
        // Sagittal: rows along y, columns along -z: normal = y × (-z) = -x.
        let iop = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0];
        let p = [[3.0, 0.0, 0.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]];
        let s = build_stack(&p, &iop, [1.0, 1.0], None, 0.01, false).unwrap();
        assert_eq!(s.order, vec![0, 2, 1]);
        assert_eq!(s.direction[2], [-1.0, 0.0, 0.0]);
    }

    #[test]
    fn duplicates_and_uneven_are_refused() {
        assert!(matches!(
            stack(&[0.0, 4.0, 4.0], false),
            Err(StackError::Duplicate { a: 1, b: 2, .. })
        ));
        assert!(matches!(
            stack(&[0.0, 4.0, 8.5, 12.0], false),
            Err(StackError::Uneven { .. })
        ));
        let s = stack(&[0.0, 4.0, 8.5, 12.0], true).unwrap();
        assert_eq!(s.warnings[0].code, "uneven-spacing");
        assert!((s.slice_spacing - 4.0).abs() < 1e-12);
    }

    #[test]
    fn missing_slices_counted() {
        let s = stack(&[0.0, 4.0, 16.0, 20.0, 24.0], true).unwrap();
        let w: Vec<_> = s.warnings.iter().map(|w| w.code.as_str()).collect();
        assert_eq!(w, ["uneven-spacing", "missing-slices"]);
        assert!(s.warnings[1]
            .message
            .contains("2 between 4.000 mm and 16.000 mm"));
    }

    #[test]
    fn tilt_measured() {
        let t = 10f64.to_radians().tan();
        let p: Vec<[f64; 3]> = (0..5)
            .map(|k| [0.0, 2.0 * k as f64 * t, 2.0 * k as f64])
            .collect();
        let s = build_stack(&p, &AXIAL, [1.0, 1.0], None, 0.01, false).unwrap();
        assert_eq!(s.warnings[0].code, "gantry-tilt");
        assert!(s.warnings[0].message.contains("10.00°"));
        let d = DVec3::from_array(s.direction[2]);
        assert!((d.length() - 1.0).abs() < 1e-12);
        // k spacing is the distance between slice positions.
        assert!((s.slice_spacing - 2.0 / 10f64.to_radians().cos()).abs() < 1e-9);
    }

    #[test]
    fn off_line_positions_refused() {
        let p = [[0.0, 0.0, 0.0], [5.0, 0.0, 1.0], [0.0, 0.0, 2.0]];
        assert!(matches!(
            build_stack(&p, &AXIAL, [1.0, 1.0], None, 0.01, false),
            Err(StackError::NotCollinear { index: 1, .. })
        ));
    }
}
