//! Exact Euclidean distance transform of a mask, with anisotropic spacing.
//!
//! In: a `u8` mask and its grid spacing. Out: for every voxel, the **squared** Euclidean
//! distance in mm² from its centre to the centre of the nearest non-zero voxel (0 on the mask,
//! `+inf` everywhere when the mask is empty).
//!
//! Method: Felzenszwalb & Huttenlocher, "Distance Transforms of Sampled Functions", Theory of
//! Computing 8 (2012): the squared distance is separable, so three 1-D passes (x, then y, then
//! z) each take the lower envelope of parabolas `(p − q)²·s² + f(q)` in linear time. The
//! result is exact up to floating-point rounding (no propagation approximation). Each pass is
//! parallel over lines; y and z lines are processed in tiles of neighbouring lines so that
//! memory is read in contiguous pieces. Work per voxel is the same for every thread count, and
//! lines are independent, so results do not depend on it.

use std::ops::{Add, Div, Mul, Sub};
use std::sync::atomic::{AtomicBool, Ordering};

use osteon_geom::{Cancel, NeverCancel};
use rayon::prelude::*;

use crate::{Volume, VolumeError};

/// The float types the transform runs in: `f64` for the public transform, `f32` for the
/// closing buffers (half the memory; see [`crate::close`]).
pub(crate) trait Real:
    Copy
    + PartialOrd
    + Send
    + Sync
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
{
    const INF: Self;
    const ZERO: Self;
    fn from_f64(v: f64) -> Self;
    fn finite(self) -> bool;
}

impl Real for f32 {
    const INF: f32 = f32::INFINITY;
    const ZERO: f32 = 0.0;
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn finite(self) -> bool {
        self.is_finite()
    }
}

impl Real for f64 {
    const INF: f64 = f64::INFINITY;
    const ZERO: f64 = 0.0;
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn finite(self) -> bool {
        self.is_finite()
    }
}

/// Lines handled together in the y and z passes (32 f32 = two cache lines per read).
const TILE: usize = 32;

/// Per-thread scratch of the 1-D transform.
struct Scratch<F> {
    f: Vec<F>,
    d: Vec<F>,
    v: Vec<u32>,
    z: Vec<F>,
}

impl<F: Real> Scratch<F> {
    fn new(n: usize) -> Scratch<F> {
        Scratch {
            f: vec![F::ZERO; n],
            d: vec![F::ZERO; n],
            v: vec![0; n],
            z: vec![F::ZERO; n + 1],
        }
    }

    /// `d[p] = min_q (p − q)²·s2 + f[q]` over the finite `f[q]` (F&H 2012, algorithm 1,
    /// in index units; infinite samples are not sites).
    fn transform(&mut self, n: usize, s2: F) {
        let Scratch { f, d, v, z } = self;
        let mut k: usize = 0;
        let mut any = false;
        let inv = F::from_f64(1.0) / s2;
        for q in 0..n {
            let fq = f[q];
            if !fq.finite() {
                continue;
            }
            let qf = F::from_f64(q as f64);
            if !any {
                any = true;
                v[0] = q as u32;
                z[0] = F::ZERO - F::INF;
                continue;
            }
            loop {
                let p = v[k] as usize;
                let pf = F::from_f64(p as f64);
                // Abscissa where the parabolas of p and q meet.
                let s = ((fq - f[p]) * inv + (qf * qf - pf * pf)) / (F::from_f64(2.0) * (qf - pf));
                if s <= z[k] {
                    // p is hidden; z[0] = −inf, so k never underflows.
                    k -= 1;
                } else {
                    k += 1;
                    v[k] = q as u32;
                    z[k] = s;
                    break;
                }
            }
        }
        if !any {
            d[..n].fill(F::INF);
            return;
        }
        z[k + 1] = F::INF;
        let mut k = 0;
        for (p, out) in d[..n].iter_mut().enumerate() {
            let pf = F::from_f64(p as f64);
            while z[k + 1] < pf {
                k += 1;
            }
            let q = v[k] as usize;
            let dq = pf - F::from_f64(q as f64);
            *out = dq * dq * s2 + f[q];
        }
    }
}

/// A raw pointer handed to parallel tasks that touch disjoint elements.
#[derive(Clone, Copy)]
struct Shared<F>(*mut F);
// SAFETY: every task writes only the elements of its own lines (see `pass_strided`).
unsafe impl<F: Send> Send for Shared<F> {}
unsafe impl<F: Send> Sync for Shared<F> {}

impl<F> Shared<F> {
    /// The pointer (a method, so closures capture the whole `Shared`, not the raw field).
    fn get(self) -> *mut F {
        self.0
    }
}

/// Squared EDT of `buf` in place: on entry 0 at sites and `+inf` elsewhere (or any
/// non-negative initial costs), on exit the squared distance in mm².
pub(crate) fn edt_in_place<F: Real>(
    buf: &mut [F],
    dims: [usize; 3],
    spacing: [f64; 3],
    cancel: &dyn Cancel,
) -> Result<(), VolumeError> {
    let [nx, ny, nz] = dims;
    debug_assert_eq!(buf.len(), nx * ny * nz);
    let stop = AtomicBool::new(false);
    let stopped = || {
        if stop.load(Ordering::Relaxed) || cancel.is_cancelled() {
            stop.store(true, Ordering::Relaxed);
            true
        } else {
            false
        }
    };
    // x: rows are contiguous; a chunk of rows per task.
    let s2 = F::from_f64(spacing[0] * spacing[0]);
    let rows_per_task = (1 << 14) / nx.max(1) + 1;
    buf.par_chunks_mut(nx * rows_per_task).for_each_init(
        || Scratch::new(nx),
        |sc, chunk| {
            if stopped() {
                return;
            }
            for row in chunk.chunks_exact_mut(nx) {
                sc.f[..nx].copy_from_slice(row);
                sc.transform(nx, s2);
                row.copy_from_slice(&sc.d[..nx]);
            }
        },
    );
    if stop.load(Ordering::Relaxed) {
        return Err(VolumeError::Cancelled);
    }
    // y: lines of stride nx inside each z-slice.
    pass_strided(buf, nx, ny, nz, nx, nx * ny, spacing[1], &stopped);
    if stop.load(Ordering::Relaxed) {
        return Err(VolumeError::Cancelled);
    }
    // z: lines of stride nx·ny; tasks are (j, tile of i).
    pass_strided(buf, nx, nz, ny, nx * ny, nx, spacing[2], &stopped);
    if stop.load(Ordering::Relaxed) {
        return Err(VolumeError::Cancelled);
    }
    Ok(())
}

/// One pass along lines of `len` samples `stride` apart. Line (i, o) starts at
/// `i + o·outer_stride` for i < nx and o < outer; lines are handled in tiles of [`TILE`]
/// neighbouring i, one tile per task.
#[allow(clippy::too_many_arguments)]
fn pass_strided<F: Real>(
    buf: &mut [F],
    nx: usize,
    len: usize,
    outer: usize,
    stride: usize,
    outer_stride: usize,
    spacing: f64,
    stopped: &(dyn Fn() -> bool + Sync),
) {
    if len <= 1 {
        // A single sample per line: the transform is the identity.
        return;
    }
    let s2 = F::from_f64(spacing * spacing);
    let tiles = nx.div_ceil(TILE);
    let total = buf.len();
    let ptr = Shared(buf.as_mut_ptr());
    (0..outer * tiles).into_par_iter().for_each_init(
        || (Scratch::<F>::new(len), vec![F::ZERO; len * TILE]),
        |(sc, tile), task| {
            if stopped() {
                return;
            }
            let (o, t) = (task / tiles, task % tiles);
            let i0 = t * TILE;
            let w = TILE.min(nx - i0);
            let base = i0 + o * outer_stride;
            // SAFETY: this task reads and writes only indices base + l·stride + b for
            // l < len, b < w: line (i0 + b, o). Distinct tasks have distinct (o, tile), hence
            // disjoint index sets, all below `total` (checked by the debug assertion).
            debug_assert!(base + (len - 1) * stride + w - 1 < total);
            let _ = total;
            unsafe {
                for l in 0..len {
                    let src = ptr.get().add(base + l * stride);
                    for b in 0..w {
                        tile[b * len + l] = *src.add(b);
                    }
                }
            }
            for b in 0..w {
                sc.f[..len].copy_from_slice(&tile[b * len..(b + 1) * len]);
                sc.transform(len, s2);
                tile[b * len..(b + 1) * len].copy_from_slice(&sc.d[..len]);
            }
            unsafe {
                for l in 0..len {
                    let dst = ptr.get().add(base + l * stride);
                    for b in 0..w {
                        *dst.add(b) = tile[b * len + l];
                    }
                }
            }
        },
    );
}

/// Largest window (voxels each side) for which [`bounded_sq_dist`] uses the direct
/// min-plus window; wider windows use the lower envelope, whose cost does not grow with it.
const MAX_WINDOW: usize = 12;

/// Squared distance to the sites of `buf` (0 at sites, `+inf` elsewhere), **exact where it is
/// `<= r2` and `+inf` elsewhere**: what thresholding at `r2` needs (closing).
///
/// Each 1-D pass of the separable transform only needs sites within
/// `R = ⌊√r2 / s⌋` voxels (a farther one adds more than `r2`), and values above `r2` can be
/// dropped after every pass (later passes only add). For small `R` the pass is a direct
/// min-plus over the `2R + 1` window, done on whole rows at a time so it vectorises, instead
/// of a lower envelope with a division per site.
pub(crate) fn bounded_sq_dist(
    buf: &mut [f32],
    dims: [usize; 3],
    spacing: [f64; 3],
    r2: f64,
    cancel: &dyn Cancel,
) -> Result<(), VolumeError> {
    let reach = [0, 1, 2].map(|a| (r2.sqrt() / spacing[a]).floor() as usize);
    if reach.iter().any(|&r| r > MAX_WINDOW) {
        edt_in_place(buf, dims, spacing, cancel)?;
        let r2f = r2 as f32;
        buf.par_iter_mut().for_each(|v| {
            if *v > r2f {
                *v = f32::INFINITY;
            }
        });
        return Ok(());
    }
    let [nx, ny, nz] = dims;
    let r2f = r2 as f32;
    // (offset, cost) of the window of each axis, beyond offset 0.
    let costs = |a: usize| -> Vec<(usize, f32)> {
        (1..=reach[a])
            .map(|o| (o, ((o as f64 * spacing[a]).powi(2)) as f32))
            .collect()
    };
    let stop = AtomicBool::new(false);
    let stopped = || {
        if stop.load(Ordering::Relaxed) || cancel.is_cancelled() {
            stop.store(true, Ordering::Relaxed);
            true
        } else {
            false
        }
    };
    // x: within each row.
    let cx = costs(0);
    if !cx.is_empty() {
        let rows_per_task = (1 << 14) / nx + 1;
        buf.par_chunks_mut(nx * rows_per_task).for_each_init(
            || vec![0f32; nx],
            |inp, chunk| {
                if stopped() {
                    return;
                }
                for row in chunk.chunks_exact_mut(nx) {
                    inp.copy_from_slice(row);
                    window_min(row, inp, 1, &cx, r2f);
                }
            },
        );
    }
    // y: within each z-slice, whole rows at a time.
    let cy = costs(1);
    if !cy.is_empty() && !stop.load(Ordering::Relaxed) {
        buf.par_chunks_mut(nx * ny).for_each_init(
            || vec![0f32; nx * ny],
            |inp, slice| {
                if stopped() {
                    return;
                }
                inp.copy_from_slice(slice);
                window_min(slice, inp, nx, &cy, r2f);
            },
        );
    }
    // z: one (x, z) plane per task, gathered row by row.
    let cz = costs(2);
    if !cz.is_empty() && !stop.load(Ordering::Relaxed) {
        let total = buf.len();
        let ptr = Shared(buf.as_mut_ptr());
        (0..ny).into_par_iter().for_each_init(
            || (vec![0f32; nx * nz], vec![0f32; nx * nz]),
            |(inp, out), j| {
                if stopped() {
                    return;
                }
                // SAFETY: this task touches only row j of every slice, indices
                // nx·(j + ny·k) .. + nx; rows of distinct j are disjoint and in bounds.
                debug_assert!(nx * (j + ny * (nz - 1)) + nx <= total);
                let _ = total;
                unsafe {
                    for k in 0..nz {
                        let src = ptr.get().add(nx * (j + ny * k));
                        std::ptr::copy_nonoverlapping(src, inp[k * nx..].as_mut_ptr(), nx);
                    }
                }
                out.copy_from_slice(inp);
                window_min(out, inp, nx, &cz, r2f);
                unsafe {
                    for k in 0..nz {
                        let dst = ptr.get().add(nx * (j + ny * k));
                        std::ptr::copy_nonoverlapping(out[k * nx..].as_ptr(), dst, nx);
                    }
                }
            },
        );
    }
    if stop.load(Ordering::Relaxed) {
        return Err(VolumeError::Cancelled);
    }
    // Without any window pass nothing was clamped yet.
    if cx.is_empty() && cy.is_empty() && cz.is_empty() {
        buf.par_iter_mut().for_each(|v| {
            if *v > r2f {
                *v = f32::INFINITY;
            }
        });
    }
    Ok(())
}

/// `out` (equal to `inp` on entry) holds lines of `width` samples, one after another;
/// sets `out[l] = min(out[l], inp[l ± o] + c)` for every `(o, c)` (a shift of `o` lines),
/// element-wise, then drops values above `r2` to `+inf`. With `width = 1` the "lines" are
/// the samples of one row.
fn window_min(out: &mut [f32], inp: &[f32], width: usize, costs: &[(usize, f32)], r2: f32) {
    let n = out.len();
    for &(o, c) in costs {
        let sh = o * width;
        if sh >= n {
            break;
        }
        min_add(&mut out[sh..], &inp[..n - sh], c);
        min_add(&mut out[..n - sh], &inp[sh..], c);
    }
    for v in out.iter_mut() {
        if *v > r2 {
            *v = f32::INFINITY;
        }
    }
}

#[inline]
fn min_add(out: &mut [f32], inp: &[f32], c: f32) {
    for (o, &i) in out.iter_mut().zip(inp) {
        let v = i + c;
        // A select, not f32::min, so that it vectorises (no NaN can occur here).
        *o = if v < *o { v } else { *o };
    }
}

/// Squared Euclidean distance, in mm², from each voxel centre to the nearest non-zero voxel
/// of `mask` (0 on the mask; `+inf` everywhere if the mask is empty), respecting the grid's
/// anisotropic spacing (the direction matrix does not change distances: it is a rotation).
///
/// ```
/// use osteon_volume::{distance_transform, Grid, Volume};
/// let mut m = Volume::filled(Grid::new([4, 1, 2], [0.5, 1.0, 2.0]), 0u8).unwrap();
/// m.data[0] = 1;
/// let d = distance_transform(&m);
/// let d = d.unwrap();
/// assert_eq!(d.data[3], (3.0f64 * 0.5).powi(2));           // (3, 0, 0)
/// assert_eq!(d.data[4 + 3], 2.25 + 4.0);                   // (3, 0, 1)
/// ```
///
/// Fails only on a volume whose grid is invalid or whose sample count does not match it.
pub fn distance_transform(mask: &Volume<u8>) -> Result<Volume<f64>, VolumeError> {
    crate::runs::check_volume(mask)?;
    let mut data: Vec<f64> = mask
        .data
        .par_iter()
        .map(|&v| if v != 0 { 0.0 } else { f64::INFINITY })
        .collect();
    edt_in_place(&mut data, mask.grid.dims, mask.grid.spacing, &NeverCancel)?;
    Ok(Volume {
        grid: mask.grid.clone(),
        data,
    })
}
