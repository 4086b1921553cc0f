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

use std::cmp::Ordering;

use osteon_geom::{Cancel, Progress, Vec3};
use osteon_mesh::Mesh;
use osteon_volume::{Grid, Volume};
use rayon::prelude::*;

use crate::batch::{dist2, Lanes, PreparedTri, LANES};
use crate::{SdfError, SdfOptions, SignMethod, SignedDistance};

/// Top block edge in voxels (and slab thickness).
const BLOCK: usize = 8;
/// Most triangles a 2³ block is evaluated against directly (more: a tree query per voxel).
const MAX_CANDIDATES: usize = 48;

/// Most triangles an 8³ tile or 4³ block is evaluated against in batches (more: split).
const MAX_TILE_CANDIDATES: usize = 4096;

thread_local! {
    /// Candidate buffer of `Ctx::block2`, reused across blocks.
    static CANDS: std::cell::RefCell<Vec<(f32, u32)>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Scratch of the batched evaluation, reused across tiles.
    static SCRATCH: std::cell::RefCell<Scratch> = const {
        std::cell::RefCell::new(Scratch {
            cands: Vec::new(),
            prep: Vec::new(),
            d8: Vec::new(),
            d4: Vec::new(),
            list4: Vec::new(),
        })
    };
}

/// Buffers of the batched evaluation (`Ctx::tile8`, `Ctx::block4`).
struct Scratch {
    /// Candidates of the tile: (squared distance to its centre, BVH-order triangle).
    cands: Vec<(f32, u32)>,
    /// The candidates prepared relative to the tile centre.
    prep: Vec<PreparedTri>,
    /// Squared distance of each candidate to the eight octant centres.
    d8: Vec<[f32; LANES]>,
    /// Squared distance of each candidate of a 4³ block to its eight 2³ sub-block centres.
    d4: Vec<[f32; LANES]>,
    /// Candidates (indices into `prep`) of one 4³ block.
    list4: Vec<u32>,
}

/// The eight corners `centre + (±e, ±e, ±e)`, corner `l` at `+e` on x when bit 0 of `l` is
/// set, on y for bit 1 and on z for bit 2.
#[inline]
fn corners(e: f32, centre: Vec3) -> Lanes {
    let mut p = Lanes::default();
    for l in 0..LANES {
        p.x[l] = centre.x + if l & 1 == 0 { -e } else { e };
        p.y[l] = centre.y + if l & 2 == 0 { -e } else { e };
        p.z[l] = centre.z + if l & 4 == 0 { -e } else { e };
    }
    p
}

/// The voxel `e` voxels further than `at` on each axis whose bit is set in `l` (the bit
/// layout of [`corners`]): the corner voxel of sub-block `l` of edge `e` of the block at `at`.
#[inline(always)]
fn child([i, j, k]: [usize; 3], l: usize, e: usize) -> [usize; 3] {
    [
        i + e * (l & 1),
        j + e * ((l >> 1) & 1),
        k + e * ((l >> 2) & 1),
    ]
}

/// Squared distances of `pts` to the candidates `list` yields (index into `prep`, and the id
/// reported for it), each candidate's row handed to `row` in list order, and the minimum per
/// point with the id attaining it (first on ties).
#[inline(always)]
fn nearest(
    prep: &[PreparedTri],
    list: impl Iterator<Item = (usize, u32)>,
    pts: &Lanes,
    mut row: impl FnMut([f32; LANES]),
) -> ([f32; LANES], [u32; LANES]) {
    let mut best = [f32::INFINITY; LANES];
    let mut arg = [0u32; LANES];
    for (k, id) in list {
        let mut d = [0f32; LANES];
        dist2(&prep[k], pts, &mut d);
        for l in 0..LANES {
            let better = d[l] < best[l];
            best[l] = if better { d[l] } else { best[l] };
            arg[l] = if better { id } else { arg[l] };
        }
        row(d);
    }
    (best, arg)
}

/// Squared distances of `pts` to each candidate of `list` (indices into `prep`), stored in
/// `rows` (one row per candidate, in list order), and the minimum per point with the row
/// attaining it (first on ties).
#[inline]
fn batch_matrix(
    prep: &[PreparedTri],
    list: impl Iterator<Item = usize>,
    pts: &Lanes,
    rows: &mut Vec<[f32; LANES]>,
) -> ([f32; LANES], [u32; LANES]) {
    rows.clear();
    let list = list.enumerate().map(|(row, k)| (k, row as u32));
    nearest(prep, list, pts, |d| rows.push(d))
}

/// The layers `kbase..kbase + kcount` of the field (x fastest, `nx × ny` a layer): what one
/// task writes. Voxel positions `[i, j, k]` are global.
struct Slab<'a> {
    out: &'a mut [f32],
    kbase: usize,
    kcount: usize,
    nx: usize,
    ny: usize,
}

impl Slab<'_> {
    /// Whether voxel `[i, j, k]` lies in the grid and in this slab.
    #[inline(always)]
    fn holds(&self, [i, j, k]: [usize; 3]) -> bool {
        i < self.nx && j < self.ny && k < self.kbase + self.kcount
    }

    /// Stores `v` at voxel `[i, j, k]` (which the slab must hold).
    #[inline(always)]
    fn set(&mut self, [i, j, k]: [usize; 3], v: f32) {
        self.out[((k - self.kbase) * self.ny + j) * self.nx + i] = v;
    }

    /// Fills the `n³` block at `[i0, j0, k0]` (clipped to the slab and grid) with `v`.
    #[inline]
    fn fill(&mut self, [i0, j0, k0]: [usize; 3], n: usize, v: f32) {
        let (nx, ny) = (self.nx, self.ny);
        for k in k0..(k0 + n).min(self.kbase + self.kcount) {
            for j in j0..(j0 + n).min(ny) {
                let row = ((k - self.kbase) * ny + j) * nx;
                self.out[row + i0..row + (i0 + n).min(nx)].fill(v);
            }
        }
    }
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
/// Errors: [`SdfError::InvalidOption`] for a grid too large to index,
/// [`SdfError::Precision`] where the mesh's `f32` coordinates are coarser than a quarter of
/// the voxel.
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
    // Meshes are f32: far from the origin their coordinates step by more than the voxel
    // (a 10 mm box 1e7 mm out steps by 1 mm and the offset ran for a quarter of an hour).
    let far = lo.abs().max(hi.abs()).max_element();
    let step = far * f64::from(f32::EPSILON);
    if step > 0.25 * voxel {
        return Err(SdfError::Precision {
            coordinate_mm: far,
            step_mm: step,
            voxel_mm: voxel,
        });
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
    /// Smallest magnitude a stored value may have (1e-3 voxel).
    tiny: f32,
}

impl Ctx<'_> {
    #[inline]
    fn pos(&self, i: f32, j: f32, k: f32) -> Vec3 {
        self.origin + Vec3::new(i, j, k) * self.h
    }

    /// The position of voxel `[i, j, k]`.
    #[inline]
    fn voxel_pos(&self, [i, j, k]: [usize; 3]) -> Vec3 {
        self.pos(i as f32, j as f32, k as f32)
    }

    /// `F` of a point at unsigned distance `u` as far as it matters at clamp level `margin`:
    /// exact when `|F| ≤ margin` is possible, else of the right sign and beyond `margin`.
    /// `inside` (whether the point is inside) is called only when the sign matters.
    #[inline]
    fn shape_value(&self, u: f32, margin: f32, inside: impl FnOnce() -> bool) -> f32 {
        if !self.shape.signed() {
            return self.shape.eval(u);
        }
        let (fp, fm) = (self.shape.eval(u), self.shape.eval(-u));
        if fp == fm || ((fp > 0.0) == (fm > 0.0) && fp.abs().min(fm.abs()) > margin) {
            fp
        } else {
            self.shape.eval(if inside() { -u } else { u })
        }
    }

    /// The stored value for `F`: clamped to `±w`, and never closer to 0 than `tiny`.
    #[inline]
    fn stored(&self, f: f32) -> f32 {
        let v = f.clamp(-self.w, self.w);
        if v.abs() < self.tiny {
            // Keep corners off the level set: a zero corner would give several marching
            // cubes vertices at one position (non-manifold once welded, e.g. in STL).
            self.tiny
        } else {
            v
        }
    }

    /// The `n³` block at `at` whose centre is at unsigned distance `u` (`inside`: whether
    /// the centre is inside) and `r` from its farthest voxel: when `|F| > r + w` at the
    /// centre, every voxel is beyond the band on that side (`F` is 1-Lipschitz), so the
    /// block is filled with `±w` and `None` returned; otherwise `Some(F)`, exact.
    #[inline(always)]
    fn settle(
        &self,
        slab: &mut Slab,
        at: [usize; 3],
        n: usize,
        u: f32,
        r: f32,
        inside: impl FnOnce() -> bool,
    ) -> Option<f32> {
        let margin = r + self.w;
        let f = self.shape_value(u, margin, inside);
        if f.abs() > margin {
            slab.fill(at, n, self.w.copysign(f));
            None
        } else {
            Some(f)
        }
    }

    /// Puts into `sc` the triangles within `r` of `c` (unordered), prepared relative to `c`.
    /// Returns false when there are none, or too many for the batched evaluation to pay.
    #[inline]
    fn gather(&self, sc: &mut Scratch, c: Vec3, r: f32) -> bool {
        self.sd.candidates_unsorted(c, r * r, &mut sc.cands);
        if sc.cands.is_empty() || sc.cands.len() > MAX_TILE_CANDIDATES {
            return false;
        }
        sc.prep.clear();
        sc.prep
            .extend(sc.cands.iter().map(|&(_, t)| self.sd.prepared(t, c)));
        true
    }

    /// Fills the 8³ tile at `at` (centre `c`, unsigned distance `uc`) from the triangles
    /// within `uc + 2 r₈` of `c` (`r₈` its half-diagonal), which hold the closest triangle of
    /// every point of the tile (the closest triangle `t` of a point `p` within `r` of `c` has
    /// `|c − t| ≤ u(p) + r ≤ u(c) + 2r`). The octant centres are evaluated against all of
    /// them in one batch; octants provably beyond the band are filled, the others go on with
    /// the candidates within `u(c₄) + 2 r₄` of their centre ([`Self::octant4`]) — no further
    /// tree query. Returns false (nothing written) when there are too many candidates for
    /// that to pay.
    fn tile8(&self, slab: &mut Slab, at: [usize; 3], c: Vec3, uc: f32) -> bool {
        let h = self.h;
        let sqrt3 = 3f32.sqrt();
        let (r8, r4) = (3.5 * sqrt3 * h, 1.5 * sqrt3 * h);
        let slack = 1e-3 * h + 1e-5 * uc;
        let r = uc + 2.0 * r8 + slack;
        SCRATCH.with(|cell| {
            let sc = &mut *cell.borrow_mut();
            if !self.gather(sc, c, r) {
                return false;
            }
            let centres = corners(2.0 * h, Vec3::ZERO);
            let (best, arg) = batch_matrix(&sc.prep, 0..sc.prep.len(), &centres, &mut sc.d8);
            for o in 0..LANES {
                let at4 = child(at, o, 4);
                if !slab.holds(at4) {
                    continue;
                }
                let co = centres.get(o);
                let u4 = best[o].sqrt();
                let tri = sc.cands[arg[o] as usize].1;
                let po = c + co;
                let inside = || self.sd.inside(po, &self.sd.hit_on(po, tri));
                if self.settle(slab, at4, 4, u4, r4, inside).is_none() {
                    continue;
                }
                let lim = u4 + 2.0 * r4 + slack;
                let lim2 = lim * lim;
                sc.list4.clear();
                sc.list4.extend(
                    sc.d8
                        .iter()
                        .enumerate()
                        .filter(|(_, d)| d[o] <= lim2)
                        .map(|(k, _)| k as u32),
                );
                self.octant4(slab, at4, c, co, u4, sc);
            }
            true
        })
    }

    /// Fills the 4³ block at `at` (centre `c`, unsigned distance `uc`) from the triangles
    /// within `uc + 2 r₄` of `c` (one tree query; see [`Self::tile8`] for why they suffice).
    /// Returns false (nothing written) when there are too many candidates.
    fn block4(&self, slab: &mut Slab, at: [usize; 3], c: Vec3, uc: f32) -> bool {
        let h = self.h;
        let r4 = 1.5 * 3f32.sqrt() * h;
        let r = uc + 2.0 * r4 + 1e-3 * h + 1e-5 * uc;
        SCRATCH.with(|cell| {
            let sc = &mut *cell.borrow_mut();
            if !self.gather(sc, c, r) {
                return false;
            }
            sc.list4.clear();
            sc.list4.extend(0..sc.prep.len() as u32);
            self.octant4(slab, at, c, Vec3::ZERO, uc, sc);
            true
        })
    }

    /// The 4³ block at `at`, centre `origin + co`, against the candidates `sc.list4`
    /// (indices into `sc.prep`, prepared relative to `origin`), which must hold every triangle
    /// within `u(centre) + 2 r₄` of its centre: the eight 2³ sub-block centres are evaluated
    /// in one batch; sub-blocks provably beyond the band are filled, the others evaluate their
    /// eight voxels in one batch against the candidates within `u(c₂) + 2 r₂` of their centre.
    fn octant4(
        &self,
        slab: &mut Slab,
        at: [usize; 3],
        origin: Vec3,
        co: Vec3,
        uc: f32,
        sc: &mut Scratch,
    ) {
        let Scratch {
            cands,
            prep,
            d4,
            list4,
            ..
        } = sc;
        let h = self.h;
        let r2 = 0.5 * 3f32.sqrt() * h;
        let slack = 1e-3 * h + 1e-5 * uc;
        let centres = corners(h, co);
        let (best, arg) = batch_matrix(prep, list4.iter().map(|&k| k as usize), &centres, d4);
        for s in 0..LANES {
            let at2 = child(at, s, 2);
            if !slab.holds(at2) {
                continue;
            }
            let u2 = best[s].sqrt();
            let tri2 = cands[list4[arg[s] as usize] as usize].1;
            let c2 = origin + centres.get(s);
            // The inside test at the sub-block centre, computed once when first needed.
            let mut inside_c: Option<bool> = None;
            let mut centre_inside =
                || *inside_c.get_or_insert_with(|| self.sd.inside(c2, &self.sd.hit_on(c2, tri2)));
            if self
                .settle(slab, at2, 2, u2, r2, &mut centre_inside)
                .is_none()
            {
                continue;
            }
            // No surface point within u2 > r2 of the centre: every voxel of the sub-block is
            // on the centre's side (pseudo-normals give the true side of a closed mesh; the
            // winding number keeps its per-voxel test).
            let propagate = u2 > r2 + slack && self.sd.sign_method() != SignMethod::WindingNumber;
            // Candidates of this sub-block: within u2 + 2 r2 of its centre.
            let lim = u2 + 2.0 * r2 + slack;
            let lim2 = lim * lim;
            let pts = corners(0.5 * h, centres.get(s));
            let near = d4
                .iter()
                .zip(list4.iter())
                .filter(|(dm, _)| dm[s].partial_cmp(&lim2) != Some(Ordering::Greater))
                .map(|(_, &k)| (k as usize, k));
            let (vb, va) = nearest(prep, near, &pts, |_| {});
            for l in 0..LANES {
                let v = child(at2, l, 1);
                if !slab.holds(v) {
                    continue;
                }
                let u = vb[l].sqrt();
                let f = if propagate {
                    self.shape_value(u, self.w, &mut centre_inside)
                } else {
                    let p = self.voxel_pos(v);
                    let tri = cands[va[l] as usize].1;
                    self.shape_value(u, self.w, || self.sd.inside(p, &self.sd.hit_on(p, tri)))
                };
                slab.set(v, self.stored(f));
            }
        }
    }

    /// Fills the 2³ block at `at` (centre `c`, unsigned distance `uc`) from the triangles
    /// near it, without a tree query per voxel. Returns false (the block is then written
    /// again by the caller) when too many triangles are near for that to pay.
    fn block2(&self, slab: &mut Slab, at: [usize; 3], c: Vec3, uc: f32) -> bool {
        let rb = 0.5 * 3f32.sqrt() * self.h * 1.0001;
        let r = uc + 2.0 * rb;
        CANDS.with(|cell| {
            let mut cands = cell.borrow_mut();
            self.sd.candidates(c, r * r, &mut cands);
            if cands.is_empty() || cands.len() > MAX_CANDIDATES {
                return false;
            }
            for l in 0..LANES {
                let v = child(at, l, 1);
                if !slab.holds(v) {
                    continue;
                }
                let p = self.voxel_pos(v);
                let Some(hit) = self.sd.hit_among(p, &cands, rb) else {
                    return false;
                };
                let f = self.shape_value(hit.dist2.sqrt(), self.w, || self.sd.inside(p, &hit));
                slab.set(v, self.stored(f));
            }
            true
        })
    }

    /// Fills block `at` of edge `n` into `slab`; returns the closest triangle of its centre
    /// (the hint for the next block), or `hint` when nothing was computed.
    fn block(&self, slab: &mut Slab, at: [usize; 3], n: usize, hint: Option<u32>) -> Option<u32> {
        if !slab.holds(at) {
            return hint;
        }
        let [i0, j0, k0] = at;
        let half = (n as f32 - 1.0) * 0.5;
        let c = self.pos(i0 as f32 + half, j0 as f32 + half, k0 as f32 + half);
        let Some(hit) = self.sd.hit(c, hint) else {
            return hint;
        };
        let u = hit.dist2.sqrt();
        let r = half * 3f32.sqrt() * self.h;
        let Some(f) = self.settle(slab, at, n, u, r, || self.sd.inside(c, &hit)) else {
            return Some(hit.tri);
        };
        let done = match n {
            1 => {
                slab.set(at, self.stored(f));
                true
            }
            2 => self.block2(slab, at, c, u),
            4 => self.block4(slab, at, c, u),
            8 => self.tile8(slab, at, c, u),
            _ => false,
        };
        if done {
            return Some(hit.tri);
        }
        let m = n / 2;
        let mut last = Some(hit.tri);
        for l in 0..LANES {
            last = self.block(slab, child(at, l, m), m, Some(hit.tri));
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
            let mut slab = Slab {
                kbase,
                kcount: out.len() / plane,
                nx: dims[0],
                ny: dims[1],
                out,
            };
            let mut hint = None;
            for j0 in (0..dims[1]).step_by(BLOCK) {
                for i0 in (0..dims[0]).step_by(BLOCK) {
                    hint = ctx.block(&mut slab, [i0, j0, kbase], BLOCK, hint);
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

#[cfg(test)]
mod tests {
    use super::*;
    use osteon_geom::{NeverCancel, NoProgress};
    use osteon_mesh::shapes::{icosphere, torus};

    /// A torus (pseudo-normal sign), and the torus and an overlapping sphere as one mesh of
    /// two intersecting closed shells (winding number). (An open mesh's winding number
    /// crosses ½ away from the surface, where the signed distance jumps: the field is then
    /// exact only up to that jump, so it is not compared here.)
    fn meshes() -> Vec<(Mesh, SignMethod)> {
        let t = torus(6.0, 2.0, 48, 24);
        let s = icosphere(3, 3.5).map_positions(|p| p + Vec3::new(9.0, 1.0, 0.5));
        let mut both = t.clone();
        let n = both.positions.len() as u32;
        both.positions.extend(s.positions);
        both.triangles
            .extend(s.triangles.iter().map(|tr| tr.map(|i| i + n)));
        vec![
            (t, SignMethod::PseudoNormal),
            (both, SignMethod::WindingNumber),
        ]
    }

    /// Every stored value equals the brute-force `F` (one exact closest-point query and sign
    /// test per voxel) where `|F| ≤ w`, and is `±w` with the right sign beyond: the blocked,
    /// batched evaluation (8³ tiles, 4³ blocks, 2³ sub-blocks with the side propagated from
    /// their centre) changes nothing. Grids whose sizes are not multiples of 8 check the
    /// clipping at the grid's and slabs' ends.
    #[test]
    fn band_field_matches_brute_force() {
        for (mesh, sign) in meshes() {
            let sd = SignedDistance::with_sign(&mesh, sign).unwrap();
            for (shape, h) in [
                (Shape::Offset(1.0), 0.23),
                (Shape::Offset(-0.5), 0.17),
                (Shape::ShellIn(0.8), 0.2),
                (Shape::ShellOut(0.6), 0.31),
                (Shape::Unsigned(0.7), 0.19),
            ] {
                let w = 1.5 * h;
                let grid =
                    grid_for(&mesh, f64::from(h), f64::from(shape.reach() + 3.0 * h)).unwrap();
                let field =
                    band_field(&sd, grid.clone(), shape, w, &NoProgress, &NeverCancel).unwrap();
                let [nx, ny, nz] = grid.dims;
                let o = Vec3::from_array(grid.origin.map(|v| v as f32));
                let (mut exact, mut clamped) = (0, 0);
                for k in 0..nz {
                    for j in 0..ny {
                        for i in 0..nx {
                            let p = o + Vec3::new(i as f32, j as f32, k as f32) * h;
                            let hit = sd.hit(p, None).unwrap();
                            let u = hit.dist2.sqrt();
                            let s = if shape.signed() && sd.inside(p, &hit) {
                                -u
                            } else {
                                u
                            };
                            let f = shape.eval(s);
                            let v = field.data[(k * ny + j) * nx + i];
                            if f.abs() <= w {
                                exact += 1;
                                let want = if f.abs() < 1e-3 * h { 1e-3 * h } else { f };
                                assert!(
                                    (v - want).abs() <= 1e-4 * (1.0 + u),
                                    "{shape:?} {sign:?} voxel ({i},{j},{k}): {v} vs {f}",
                                );
                            } else {
                                clamped += 1;
                                assert!(
                                    v == w.copysign(f) || (f.abs() - w).abs() < 1e-4,
                                    "{shape:?} {sign:?} voxel ({i},{j},{k}): {v} vs {f} beyond ±{w}"
                                );
                            }
                        }
                    }
                }
                assert!(
                    exact > 1000 && clamped > 1000,
                    "{exact} exact, {clamped} clamped"
                );
            }
        }
    }
}
