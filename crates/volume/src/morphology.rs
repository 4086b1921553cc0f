//! Morphology of 0/1 masks: closing with a ball in millimetres, and cavity filling.
//!
//! * [`close`] — dilation then erosion by the ball of radius `r` mm (voxel centres within
//!   `r` of the centre, measured with the grid's anisotropic spacing). It bridges gaps narrower
//!   than about `2r` and fills dents, and never removes a voxel of the input (closing is
//!   extensive). The volume is treated as embedded in unbounded background (implicit
//!   padding): the input's border voxels are never eroded, and the result is the exact
//!   closing of the unbounded problem, cropped to the grid (as if the scan went on with
//!   air: a gap reaching the border is bridged only where the ball fits inside the dilation).
//!   Both steps threshold a squared Euclidean distance (exact, with anisotropic spacing):
//!   the dilation is `{p : d²(p, mask) ≤ r²}`, the erosion of that set `D` keeps
//!   `{p : d²(p, not D) > r²}`. Only distances up to `r` matter, so the separable transform
//!   of [Felzenszwalb & Huttenlocher 2012](crate::distance_transform) is bounded: each 1-D
//!   pass looks `⌊r/s⌋` voxels either way (a direct, vectorised min-plus window; the lower
//!   envelope when the window is wide) and drops values above `r²`.
//!   The work is confined to the mask's bounding box grown by `⌊r/s⌋ + 2` voxels per axis,
//!   in one `f32` buffer (4 bytes a voxel of that box).
//! * [`fill_cavities`] — background voxels that cannot reach the border of the grid become
//!   inside. Background connectivity is 6 (faces), the complement of the 26-connected
//!   foreground used by selection, so that a closed 26-connected shell (even one voxel thick
//!   along a diagonal) encloses its cavity and a 6-connected leak is a real opening.
//!   Uses union–find over runs of background voxels, like
//!   [`label_components`](crate::label_components).

use osteon_geom::{Cancel, NeverCancel, NoProgress, Progress};
use rayon::prelude::*;

use crate::components::Connectivity;
use crate::distance::bounded_sq_dist;
use crate::runs::{check_volume, Runs};
use crate::{Volume, VolumeError};

/// Relative slack on r² when deciding "within the ball": a voxel exactly at distance r (e.g.
/// r = 1 mm at 1 mm spacing) belongs to it despite f32 rounding of the squared distances.
const BALL_SLACK: f64 = 1e-5;

/// Background voxels not 6-connected to the border of the grid become 1; the mask's own
/// voxels stay 1. Output is 0/1 on the same grid.
///
/// Fails only on masks with more than `u32::MAX` runs of background voxels.
///
/// ```
/// use osteon_volume::{fill_cavities, Grid, Volume};
/// // A 3×3×3 cube with its centre missing.
/// let mut m = Volume::filled(Grid::new([3, 3, 3], [1.0; 3]), 1u8).unwrap();
/// m.data[13] = 0;
/// assert!(fill_cavities(&m).unwrap().data.iter().all(|&v| v == 1));
/// ```
pub fn fill_cavities(mask: &Volume<u8>) -> Result<Volume<u8>, VolumeError> {
    fill_cavities_with(mask, &NoProgress, &NeverCancel).map(|(v, _)| v)
}

/// [`fill_cavities`] with progress and cancellation; also returns the voxels added.
pub(crate) fn fill_cavities_with(
    mask: &Volume<u8>,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<(Volume<u8>, u64), VolumeError> {
    check_volume(mask)?;
    let nz = mask.grid.dims[2] as u64;
    progress.begin("fill cavities", 2 * nz);
    let runs = Runs::extract(&mask.data, mask.grid.dims, false, cancel, progress)?;
    let (comp, count) = runs.label(Connectivity::C6, cancel, progress)?;
    let border = runs.touches_border(&comp, count);
    let sizes = runs.sizes(&comp, count);
    let added: u64 = (0..count as usize)
        .filter(|&c| !border[c])
        .map(|c| sizes[c])
        .sum();
    let mut data: Vec<u8> = mask.data.par_iter().map(|&v| u8::from(v != 0)).collect();
    if added > 0 {
        runs.paint(&comp, &mut data, |c| (!border[c as usize]).then_some(1u8));
    }
    progress.finish();
    Ok((
        Volume {
            grid: mask.grid.clone(),
            data,
        },
        added,
    ))
}

/// Morphological closing of `mask` by the ball of radius `radius_mm` millimetres: dilation,
/// then erosion, by the voxel offsets within `radius_mm` of the centre measured with the
/// grid's (anisotropic) spacing. Output is 0/1 on the same grid.
///
/// Bridges gaps narrower than about `2·radius_mm` and fills dents; never removes an input
/// voxel. The grid is treated as embedded in unbounded background (implicit padding, as
/// ITK's "safe border"): border voxels are never eroded, and the result is the exact closing
/// of the unbounded problem cropped to the grid. Both steps threshold an exact squared
/// Euclidean distance bounded at the radius; memory is one `f32` per voxel of the mask's
/// bounding box grown by about the radius.
///
/// `radius_mm = 0` returns the mask as 0/1; a negative or non-finite radius is
/// [`VolumeError::InvalidOption`].
///
/// ```
/// use osteon_volume::{close, Grid, Volume};
/// // Two 3×3 walls at i = 1 and i = 3, one voxel apart, 1 mm spacing.
/// let grid = Grid::new([5, 3, 3], [1.0; 3]);
/// let walls: Vec<u8> = (0..45).map(|p| u8::from(p % 5 == 1 || p % 5 == 3)).collect();
/// let walls = Volume::new(grid, walls).unwrap();
/// let closed = close(&walls, 1.0).unwrap();
/// assert_eq!(closed.get(2, 1, 1), 1); // bridged in the middle…
/// assert_eq!(closed.get(2, 0, 1), 0); // …not at the rim: outside the grid is background
/// assert_eq!(close(&walls, 0.5).unwrap(), walls); // ball too small to bridge
/// ```
pub fn close(mask: &Volume<u8>, radius_mm: f64) -> Result<Volume<u8>, VolumeError> {
    close_with(mask, radius_mm, &NoProgress, &NeverCancel)
}

/// Inclusive bounding box `[lo, hi]` of the non-zero voxels, per axis; `None` when empty.
fn bounding_box(mask: &Volume<u8>) -> Option<([usize; 3], [usize; 3])> {
    let [nx, ny, _] = mask.grid.dims;
    mask.data
        .par_chunks(nx * ny)
        .enumerate()
        .filter_map(|(k, slice)| {
            let mut b: Option<([usize; 3], [usize; 3])> = None;
            for (j, row) in slice.chunks_exact(nx).enumerate() {
                // A vectorised OR skips the (many) empty rows before the scalar searches.
                if row.iter().fold(0u8, |a, &v| a | v) == 0 {
                    continue;
                }
                let Some(first) = row.iter().position(|&v| v != 0) else {
                    continue;
                };
                let last = row.iter().rposition(|&v| v != 0).unwrap_or(first);
                b = Some(match b {
                    None => ([first, j, k], [last, j, k]),
                    Some((lo, hi)) => ([lo[0].min(first), lo[1], k], [hi[0].max(last), j, k]),
                });
            }
            b
        })
        .reduce_with(|(alo, ahi), (blo, bhi)| {
            (
                [0, 1, 2].map(|a| alo[a].min(blo[a])),
                [0, 1, 2].map(|a| ahi[a].max(bhi[a])),
            )
        })
}

/// [`close`] with progress and cancellation.
pub(crate) fn close_with(
    mask: &Volume<u8>,
    radius_mm: f64,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<Volume<u8>, VolumeError> {
    if !(radius_mm.is_finite() && radius_mm >= 0.0) {
        return Err(VolumeError::InvalidOption(format!(
            "closing radius {radius_mm} mm must be finite and >= 0"
        )));
    }
    check_volume(mask)?;
    let binary = || Volume {
        grid: mask.grid.clone(),
        data: mask.data.par_iter().map(|&v| u8::from(v != 0)).collect(),
    };
    let Some((blo, bhi)) = bounding_box(mask) else {
        return Ok(binary());
    };
    if radius_mm == 0.0 {
        return Ok(binary());
    }
    progress.begin("closing", 4);
    let dims = mask.grid.dims;
    let spacing = mask.grid.spacing;
    let r2 = radius_mm * radius_mm * (1.0 + BALL_SLACK);
    // Ball reach along each axis in voxels, plus layers that are certainly outside the
    // dilation (two, not one, against rounding when r/s is nearly an integer), so the nearest
    // non-dilated voxel of any dilated voxel lies in the box.
    let pad: [usize; 3] = [0, 1, 2].map(|a| (r2.sqrt() / spacing[a]).floor() as usize + 2);
    let lo: [i64; 3] = [0, 1, 2].map(|a| blo[a] as i64 - pad[a] as i64);
    let m: [usize; 3] = [0, 1, 2].map(|a| bhi[a] - blo[a] + 1 + 2 * pad[a]);
    let len = m[0]
        .checked_mul(m[1])
        .and_then(|v| v.checked_mul(m[2]))
        .filter(|&v| (v as u64) <= crate::MAX_VOXELS)
        .ok_or_else(|| {
            VolumeError::InvalidOption(format!(
                "closing radius {radius_mm} mm needs a work box of {m:?} voxels, too large"
            ))
        })?;
    // Maps a box index along axis a to the volume index, if inside the volume.
    let to_vol = |a: usize, t: usize| -> Option<usize> {
        let v = t as i64 + lo[a];
        (v >= 0 && (v as usize) < dims[a]).then_some(v as usize)
    };
    // The x-range shared by box rows and volume rows: volume i in vi0..vi0 + w is box
    // bi0..bi0 + w (non-empty: the box contains the mask's bounding box).
    let vi0 = lo[0].max(0) as usize;
    let w = (lo[0] + m[0] as i64).min(dims[0] as i64) as usize - vi0;
    let bi0 = (vi0 as i64 - lo[0]) as usize;
    let (nx, nxy) = (dims[0], dims[0] * dims[1]);

    // Sites of the first transform: the mask.
    let mut buf = vec![f32::INFINITY; len];
    buf.par_chunks_mut(m[0] * m[1])
        .enumerate()
        .for_each(|(bk, slice)| {
            let Some(k) = to_vol(2, bk) else { return };
            for (bj, row) in slice.chunks_exact_mut(m[0]).enumerate() {
                let Some(j) = to_vol(1, bj) else { continue };
                let src = &mask.data[vi0 + nx * j + nxy * k..][..w];
                for (out, &v) in row[bi0..bi0 + w].iter_mut().zip(src) {
                    *out = if v != 0 { 0.0 } else { f32::INFINITY };
                }
            }
        });
    progress.advance(1);
    bounded_sq_dist(&mut buf, m, spacing, r2, cancel)?;
    progress.advance(1);
    // Dilated set D → +inf (not a site); outside D → 0 (site of the second transform).
    let r2f = r2 as f32;
    buf.par_iter_mut()
        .for_each(|v| *v = if *v <= r2f { f32::INFINITY } else { 0.0 });
    bounded_sq_dist(&mut buf, m, spacing, r2, cancel)?;
    progress.advance(1);
    // Output: the mask as 0/1, plus the voxels farther than r from everything outside D.
    let mut data = vec![0u8; mask.data.len()];
    data.par_chunks_mut(nxy)
        .zip(mask.data.par_chunks(nxy))
        .enumerate()
        .for_each(|(k, (slice, src))| {
            for (o, &v) in slice.iter_mut().zip(src) {
                *o = u8::from(v != 0);
            }
            let bk = k as i64 - lo[2];
            if bk < 0 || bk as usize >= m[2] {
                return;
            }
            for (j, row) in slice.chunks_exact_mut(nx).enumerate() {
                let bj = j as i64 - lo[1];
                if bj < 0 || bj as usize >= m[1] {
                    continue;
                }
                let brow = &buf[(bj as usize + m[1] * bk as usize) * m[0] + bi0..][..w];
                for (o, &d) in row[vi0..vi0 + w].iter_mut().zip(brow) {
                    *o |= u8::from(d > r2f);
                }
            }
        });
    progress.advance(1);
    progress.finish();
    Ok(Volume {
        grid: mask.grid.clone(),
        data,
    })
}
