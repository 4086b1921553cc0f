//! Narrow-band distance fields on a voxel grid.
//!
//! **In:** a [`SignedDistance`] (or a [`Mesh`]), an axis-aligned grid of cubic voxels and a
//! band half-width `w` (mm). **Out:** a dense [`Volume<f32>`] (x fastest, 4 bytes a voxel)
//! holding `F(x)` — a 1-Lipschitz function of the signed (or unsigned) distance, e.g. `s − d`
//! for an offset — exact wherever `|F| ≤ w` and clamped to `±w` elsewhere with the correct
//! sign, so marching cubes at 0 sees exact values at both ends of every crossing edge
//! (`w ≥ 1` voxel).
//!
//! **Method** (adaptive, exact): blocks of 8³ voxels are tested at their centre `c`: since
//! `F` is 1-Lipschitz, `|F(c)| > r + w` (r = the block's half-diagonal) proves the whole block
//! is beyond the band on one side, so it is filled without further queries; otherwise it is
//! split into octants (4³, 2³, then single voxels). Exact distance queries therefore happen
//! only in and near the band, while the sign far away comes from one query per block — a
//! hierarchical form of sign propagation that needs no flood fill and works for the winding
//! number too. When both signs give the same clamped answer (far from the surface relative to
//! an offset), the sign is not computed at all. Each query starts from the closest triangle of
//! its parent block (a tight initial bound for the BVH). Undecided 2³ blocks are evaluated
//! against the few triangles within `u(c) + 2r` of their centre (which must hold every
//! voxel's closest triangle), without a tree query per voxel, when there are few of them.
//!
//! **Parallelism**: z-slabs of 8 voxel layers (contiguous memory) in parallel with rayon;
//! each value is a pure function of its position, so the field is identical for every
//! thread count. **Storage**: dense f32 over the padded bounding box; the budget is checked
//! before allocation (see [`crate::SdfOptions::max_memory_bytes`]).

use osteon_geom::{Cancel, Progress, Vec3};
use osteon_mesh::Mesh;
use osteon_volume::{Grid, Volume};
use rayon::prelude::*;

use crate::bvh::Hit;
use crate::{SdfError, SdfOptions, SignedDistance};

/// Top block edge in voxels (and slab thickness).
const BLOCK: usize = 8;
/// Most triangles a 2³ block is evaluated against directly (more: a tree query per voxel).
const MAX_CANDIDATES: usize = 48;

thread_local! {
    /// Candidate buffer of `Ctx::block2`, reused across blocks.
    static CANDS: std::cell::RefCell<Vec<(f32, u32)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The function of the distance a field holds. Every variant is 1-Lipschitz in the distance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Shape {
    /// `s − d`: the offset by `d` (signed distance `s`).
    Offset(f32),
    /// `max(s, −s − t)`: input minus its inward offset by `t`.
    ShellIn(f32),
    /// `max(s − t, −s)`: outward offset by `t` minus the input.
    ShellOut(f32),
    /// `u − r`: points within `r` of the surface (unsigned distance `u`).
    Unsigned(f32),
}

impl Shape {
    #[inline]
    pub(crate) fn eval(self, s: f32) -> f32 {
        match self {
            Shape::Offset(d) => s - d,
            Shape::ShellIn(t) => s.max(-s - t),
            Shape::ShellOut(t) => (s - t).max(-s),
            Shape::Unsigned(r) => s - r,
        }
    }

    /// Whether the field depends on the sign of the distance.
    #[inline]
    pub(crate) fn signed(self) -> bool {
        !matches!(self, Shape::Unsigned(_))
    }

    /// The signed-distance level the surface point with distance `s` belongs to.
    #[inline]
    pub(crate) fn target(self, s: f32) -> f32 {
        match self {
            Shape::Offset(d) => d,
            Shape::ShellIn(t) => {
                if s >= -0.5 * t {
                    0.0
                } else {
                    -t
                }
            }
            Shape::ShellOut(t) => {
                if s >= 0.5 * t {
                    t
                } else {
                    0.0
                }
            }
            Shape::Unsigned(r) => r,
        }
    }

    /// Unsigned error of a point at unsigned distance `u`: distance to the nearest level.
    #[inline]
    pub(crate) fn unsigned_error(self, u: f32) -> f32 {
        match self {
            Shape::Offset(d) => (u - d.abs()).abs(),
            Shape::ShellIn(t) | Shape::ShellOut(t) => u.min((u - t).abs()),
            Shape::Unsigned(r) => (u - r).abs(),
        }
    }

    /// How far outside the input the zero set can reach, mm.
    pub(crate) fn reach(self) -> f32 {
        match self {
            Shape::Offset(d) => d.max(0.0),
            Shape::ShellIn(_) => 0.0,
            Shape::ShellOut(t) => t,
            Shape::Unsigned(r) => r,
        }
    }
}

/// The grid of cubic `voxel` edges over `mesh`'s box padded by `pad` mm on every side.
pub(crate) fn grid_for(mesh: &Mesh, voxel: f64, pad: f64) -> Result<Grid, SdfError> {
    let b = mesh.bounds().ok_or(SdfError::Empty)?;
    let (lo, hi) = (b.min.as_dvec3() - pad, b.max.as_dvec3() + pad);
    let n = ((hi - lo) / voxel).ceil() + 1.0;
    let dims = [n.x, n.y, n.z].map(|v| v.max(2.0));
    if dims.iter().any(|&d| !(d.is_finite() && d < 1e9)) {
        return Err(SdfError::InvalidOption(format!(
            "voxel {voxel} mm gives a grid of {dims:?} voxels"
        )));
    }
    let dims = dims.map(|d| d as usize);
    // Centre the grid on the box so padding is symmetric.
    let span = osteon_geom::DVec3::new(
        (dims[0] - 1) as f64,
        (dims[1] - 1) as f64,
        (dims[2] - 1) as f64,
    ) * voxel;
    let origin = (lo + hi) * 0.5 - span * 0.5;
    Ok(Grid::new(dims, [voxel; 3]).with_origin(origin.to_array()))
}

/// Bytes of `count` voxels of `bytes_per_voxel`, refused above the budget.
pub(crate) fn check_budget(
    dims: [usize; 3],
    bytes_per_voxel: u64,
    voxel: f64,
    budget: u64,
) -> Result<u64, SdfError> {
    let needed = (dims[0] as u64)
        .saturating_mul(dims[1] as u64)
        .saturating_mul(dims[2] as u64)
        .saturating_mul(bytes_per_voxel);
    if needed > budget {
        return Err(SdfError::MemoryBudget {
            needed_bytes: needed,
            budget_bytes: budget,
            voxel_mm: voxel,
        });
    }
    Ok(needed)
}

struct Ctx<'a> {
    sd: &'a SignedDistance,
    shape: Shape,
    w: f32,
    h: f32,
    origin: Vec3,
    dims: [usize; 3],
    /// Smallest magnitude a stored value may have (1e-3 voxel).
    tiny: f32,
}

impl Ctx<'_> {
    #[inline]
    fn pos(&self, i: f32, j: f32, k: f32) -> Vec3 {
        self.origin + Vec3::new(i, j, k) * self.h
    }

    /// The stored value at voxel position `p` whose exact closest point is `hit`.
    #[inline]
    fn voxel_value(&self, p: Vec3, hit: &Hit) -> f32 {
        let u = hit.dist2.sqrt();
        let f = if self.shape.signed() {
            let (fp, fm) = (self.shape.eval(u), self.shape.eval(-u));
            if fp == fm || ((fp > 0.0) == (fm > 0.0) && fp.abs().min(fm.abs()) > self.w) {
                fp
            } else {
                self.shape.eval(if self.sd.inside(p, hit) { -u } else { u })
            }
        } else {
            self.shape.eval(u)
        };
        let v = f.clamp(-self.w, self.w);
        if v.abs() < self.tiny {
            self.tiny
        } else {
            v
        }
    }

    /// Fills the 2³ block at `(i0, j0, k0)` (centre `c`, unsigned distance `uc`) from the
    /// triangles near it, without a tree query per voxel. Returns false (nothing written)
    /// when too many triangles are near for that to pay.
    #[allow(clippy::too_many_arguments)]
    fn block2(
        &self,
        out: &mut [f32],
        kbase: usize,
        kcount: usize,
        i0: usize,
        j0: usize,
        k0: usize,
        c: Vec3,
        uc: f32,
    ) -> bool {
        let rb = 0.5 * 3f32.sqrt() * self.h * 1.0001;
        let r = uc + 2.0 * rb;
        CANDS.with(|cell| {
            let mut cands = cell.borrow_mut();
            self.sd.candidates(c, r * r, &mut cands);
            if cands.is_empty() || cands.len() > MAX_CANDIDATES {
                return false;
            }
            let [nx, ny, _] = self.dims;
            for k in k0..(k0 + 2).min(kbase + kcount) {
                for j in j0..(j0 + 2).min(ny) {
                    for i in i0..(i0 + 2).min(nx) {
                        let p = self.pos(i as f32, j as f32, k as f32);
                        let v = match self.sd.hit_among(p, &cands, rb) {
                            Some(hit) => self.voxel_value(p, &hit),
                            None => return false,
                        };
                        out[((k - kbase) * ny + j) * nx + i] = v;
                    }
                }
            }
            true
        })
    }

    /// Fills block `(i0, j0, k0)` (k0 global) of edge `n` into `out` (the slab starting at
    /// layer `kbase`).
    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        out: &mut [f32],
        kbase: usize,
        kcount: usize,
        i0: usize,
        j0: usize,
        k0: usize,
        n: usize,
        hint: Option<u32>,
    ) -> Option<u32> {
        let [nx, ny, _] = self.dims;
        if i0 >= nx || j0 >= ny || k0 >= kbase + kcount {
            return hint;
        }
        let half = (n as f32 - 1.0) * 0.5;
        let c = self.pos(i0 as f32 + half, j0 as f32 + half, k0 as f32 + half);
        let Some(hit) = self.sd.hit(c, hint) else {
            return hint;
        };
        let u = hit.dist2.sqrt();
        let margin = half * 3f32.sqrt() * self.h + self.w;
        let (fp, fm) = if self.shape.signed() {
            (self.shape.eval(u), self.shape.eval(-u))
        } else {
            let f = self.shape.eval(u);
            (f, f)
        };
        let f = if (fp > 0.0) == (fm > 0.0) && fp.abs().min(fm.abs()) > margin {
            Some(fp)
        } else if fp == fm {
            if fp.abs() > margin || n == 1 {
                Some(fp)
            } else {
                None
            }
        } else {
            let s = if self.sd.inside(c, &hit) { -u } else { u };
            let f = self.shape.eval(s);
            if f.abs() > margin || n == 1 {
                Some(f)
            } else {
                None
            }
        };
        if let Some(f) = f {
            let v = f.clamp(-self.w, self.w);
            let v = if f.abs() > margin {
                self.w.copysign(f)
            } else if v.abs() < self.tiny {
                // Keep corners off the level set: a zero corner would give several marching
                // cubes vertices at one position (non-manifold once welded, e.g. in STL).
                self.tiny
            } else {
                v
            };
            for k in k0..(k0 + n).min(kbase + kcount) {
                for j in j0..(j0 + n).min(ny) {
                    let row = ((k - kbase) * ny + j) * nx;
                    let end = (i0 + n).min(nx);
                    out[row + i0..row + end].fill(v);
                }
            }
            return Some(hit.tri);
        }
        if n == 2 && self.block2(out, kbase, kcount, i0, j0, k0, c, u) {
            return Some(hit.tri);
        }
        let m = n / 2;
        let mut last = Some(hit.tri);
        for dk in [0, m] {
            for dj in [0, m] {
                for di in [0, m] {
                    last = self.block(
                        out,
                        kbase,
                        kcount,
                        i0 + di,
                        j0 + dj,
                        k0 + dk,
                        m,
                        Some(hit.tri),
                    );
                }
            }
        }
        last
    }
}

/// Samples `shape(distance)` over `grid` (cubic voxels, axis-aligned), exact within `w` mm of
/// the zero set and `±w` beyond.
pub(crate) fn band_field(
    sd: &SignedDistance,
    grid: Grid,
    shape: Shape,
    w: f32,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<Volume<f32>, SdfError> {
    let dims = grid.dims;
    let plane = dims[0] * dims[1];
    let ctx = Ctx {
        sd,
        shape,
        w,
        h: grid.spacing[0] as f32,
        origin: Vec3::from_array(grid.origin.map(|v| v as f32)),
        dims,
        tiny: 1e-3 * grid.spacing[0] as f32,
    };
    let mut data = vec![0f32; grid.len()];
    let slabs = dims[2].div_ceil(BLOCK);
    progress.begin("distance field", slabs as u64);
    data.par_chunks_mut(plane * BLOCK)
        .enumerate()
        .try_for_each(|(s, out)| {
            if cancel.is_cancelled() {
                return Err(SdfError::Cancelled);
            }
            let kbase = s * BLOCK;
            let kcount = out.len() / plane;
            let mut hint = None;
            for j0 in (0..dims[1]).step_by(BLOCK) {
                for i0 in (0..dims[0]).step_by(BLOCK) {
                    hint = ctx.block(out, kbase, kcount, i0, j0, kbase, BLOCK, hint);
                }
            }
            progress.advance(1);
            Ok(())
        })?;
    progress.finish();
    Volume::new(grid, data).map_err(|e| SdfError::InvalidOption(e.to_string()))
}

/// The signed distance to `mesh` (mm, negative inside) on a grid of `opts.voxel_mm` voxels
/// (default from the mesh size) over its bounding box padded by `band_mm` plus two voxels:
/// exact where `|s| ≤ band_mm`, `±band_mm` beyond. Fails with [`SdfError::MemoryBudget`] when
/// the grid needs more than `opts.max_memory_bytes` (4 bytes a voxel).
pub fn signed_distance_field(
    mesh: &Mesh,
    opts: &SdfOptions,
    band_mm: f64,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<Volume<f32>, SdfError> {
    opts.validate()?;
    if !(band_mm.is_finite() && band_mm > 0.0) {
        return Err(SdfError::InvalidOption(format!(
            "band_mm = {band_mm} (must be finite and > 0)"
        )));
    }
    let sd = SignedDistance::with_sign(mesh, opts.sign)?;
    let (voxel, _) = crate::ops::choose_voxel(mesh, opts, band_mm, 4)?;
    let grid = grid_for(mesh, voxel, band_mm + 2.0 * voxel)?;
    check_budget(grid.dims, 4, voxel, opts.max_memory_bytes)?;
    band_field(
        &sd,
        grid,
        Shape::Offset(0.0),
        band_mm as f32,
        progress,
        cancel,
    )
}
