//! Marching cubes over a binary mask or a scalar field, watertight and 2-manifold by
//! construction (Lorensen & Cline, "Marching cubes", SIGGRAPH 1987, with a derived case table
//! and a consistent face rule, see the `tables` module).
//!
//! **In:** a [`Volume<u8>`] mask (non-zero = inside) or a [`Volume<f32>`] field (inside where
//! `value < iso`, NaN = outside). **Out:** a [`Mesh`] in world millimetres
//! (`grid.index_to_world()` applied in f64 to the fractional voxel index, stored as f32),
//! counter-clockwise seen from outside, and an [`ExtractReport`].
//!
//! **Cells** span voxel centres `(i..i+1, j..j+1, k..k+1)` for `i` from −1 to `dims[0] − 1`
//! (and likewise j, k): samples outside the volume read as outside, so the surface closes half
//! a voxel beyond a mask that touches the border, without a padded copy of the volume.
//!
//! **Vertices**: one per grid edge whose two samples differ (inside/outside), at the edge's
//! midpoint for masks, and by linear interpolation for fields (the parameter is clamped to
//! `[FRAC_MIN, 1 − FRAC_MIN]` so a vertex never coincides with a grid point, where vertices of
//! different edges would collapse; an edge with one end outside the volume gets its
//! midpoint).
//!
//! **Guarantees**: every edge is shared by exactly two triangles with opposite directions,
//! every vertex's triangle fan is one disk, and triangles face away from the inside (the
//! winding is reversed when `grid.direction_det() < 0`), so every component that bounds
//! solid has positive signed volume (the boundary of a cavity, facing into the cavity, has
//! negative volume). For masks no triangle has zero area. Inside samples are 26-connected
//! (outside 6-connected), the connectivity of the selection's components: voxels touching
//! only at an edge or a corner are one solid with one closed surface. Why: see the
//! construction of the case table in the `tables` module.
//!
//! **Parallelism and determinism**: cell layers (constant k) are cut into slabs of a fixed
//! number of layers (a function of the dims and options only) processed in parallel. A
//! crossing edge is created by the one cell for which it touches corner 7 (the cell's
//! largest-index corner), so vertices and triangles appear in cell scan order. A slab's first
//! plane belongs to the previous slab: the slab numbers that plane's crossing edges in the
//! previous slab's creation order and the merge maps those numbers to the previous slab's
//! vertex ids. The output is thus the same as a single-threaded scan: independent of the
//! thread count and of the slab size.
//!
//! **Memory**: besides the input, each worker holds plane buffers of edge → vertex ids
//! (`(dims[0]+2)·(dims[1]+2)` entries ×5) and per-row ranges of inside samples (a field also
//! two planes of inside flags); no per-voxel array. Slabs append to chunked buffers that never
//! reallocate; the merge copies them into the mesh, so the output exists twice only while it
//! is being assembled.
//!
//! **Speed**: rows are skipped by their range of inside columns, and within a row 8 cells are
//! classified at once from 8-byte words of the 4 rows around them; only cells with a crossing
//! are visited.

use osteon_geom::{Cancel, DAffine3, DVec3, Progress, Vec3};
use osteon_mesh::Mesh;
use osteon_volume::Volume;
use rayon::prelude::*;

use crate::tables::{table, Case};
use crate::{ExtractOptions, ExtractReport, IsoError};

/// Smallest interpolation parameter of a field vertex on its edge (and 1 − this the largest):
/// 1e-4 of a voxel keeps vertices apart from grid points, far below any scan's precision.
pub const FRAC_MIN: f64 = 1e-4;

/// Marks a slab-local id that refers to a vertex of the previous slab's top plane.
const FOREIGN: u32 = 1 << 31;

/// Largest vertex count a mesh may have (indices are `u32`).
const MAX_VERTICES: u64 = u32::MAX as u64;

/// Empty row range marker: `first > last`.
const EMPTY: (u32, u32) = (u32::MAX, 0);

/// Triangulates the boundary of the non-zero voxels of `mask`.
pub fn extract_mask(
    mask: &Volume<u8>,
    opts: &ExtractOptions,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<(Mesh, ExtractReport), IsoError> {
    check_volume(&mask.grid, mask.data.len())?;
    let plane = mask.grid.dims[0] * mask.grid.dims[1];
    let src = MaskSource {
        data: &mask.data,
        zero: vec![0u8; plane],
        plane,
    };
    run(&src, &mask.grid, opts, progress, cancel)
}

/// Triangulates the level set `field = iso` (inside where `value < iso`, the signed-distance
/// convention), vertices by linear interpolation along grid edges.
pub fn extract_field(
    field: &Volume<f32>,
    iso: f32,
    opts: &ExtractOptions,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<(Mesh, ExtractReport), IsoError> {
    if !iso.is_finite() {
        return Err(IsoError::NonFiniteIso { iso });
    }
    check_volume(&field.grid, field.data.len())?;
    let d = field.grid.dims;
    let src = FieldSource {
        data: &field.data,
        iso,
        plane: d[0] * d[1],
    };
    run(&src, &field.grid, opts, progress, cancel)
}

fn check_volume(grid: &osteon_volume::Grid, len: usize) -> Result<(), IsoError> {
    grid.validate().map_err(|e| IsoError::InvalidVolume {
        reason: e.to_string(),
    })?;
    if len != grid.len() {
        return Err(IsoError::InvalidVolume {
            reason: format!("the grid has {} voxels but {len} samples", grid.len()),
        });
    }
    Ok(())
}

/// Where inside flags and edge positions come from.
trait Source: Sync {
    /// Plane `k` as bytes (non-zero = inside) without copying, when the source has them.
    fn direct(&self, k: isize) -> Option<&[u8]>;
    /// Writes the inside flags of plane `k` (zeros when out of range) into `buf`.
    fn fill(&self, k: isize, buf: &mut Vec<u8>);
    /// Parameter in (0, 1) of the crossing on the edge from sample `a` to sample `b`.
    fn frac(&self, a: usize, b: usize) -> f64;
}

struct MaskSource<'a> {
    data: &'a [u8],
    zero: Vec<u8>,
    plane: usize,
}

impl Source for MaskSource<'_> {
    #[inline]
    fn direct(&self, k: isize) -> Option<&[u8]> {
        let nz = self.data.len() / self.plane;
        if k < 0 || k as usize >= nz {
            Some(&self.zero)
        } else {
            let k = k as usize;
            Some(&self.data[k * self.plane..(k + 1) * self.plane])
        }
    }
    fn fill(&self, _: isize, _: &mut Vec<u8>) {}
    #[inline(always)]
    fn frac(&self, _: usize, _: usize) -> f64 {
        0.5
    }
}

struct FieldSource<'a> {
    data: &'a [f32],
    iso: f32,
    plane: usize,
}

impl Source for FieldSource<'_> {
    fn direct(&self, _: isize) -> Option<&[u8]> {
        None
    }
    fn fill(&self, k: isize, buf: &mut Vec<u8>) {
        buf.clear();
        let nz = self.data.len() / self.plane;
        if k < 0 || k as usize >= nz {
            buf.resize(self.plane, 0);
        } else {
            let k = k as usize;
            let iso = self.iso;
            buf.extend(
                self.data[k * self.plane..(k + 1) * self.plane]
                    .iter()
                    .map(|&v| u8::from(v < iso)),
            );
        }
    }
    #[inline]
    fn frac(&self, a: usize, b: usize) -> f64 {
        let (va, vb) = (f64::from(self.data[a]), f64::from(self.data[b]));
        let t = (f64::from(self.iso) - va) / (vb - va);
        if t.is_finite() {
            t.clamp(FRAC_MIN, 1.0 - FRAC_MIN)
        } else {
            // One sample is NaN (outside) or infinite: no meaningful interpolation.
            0.5
        }
    }
}

/// Append-only storage in chunks that never move: no reallocation copies while a slab grows
/// (chunks double from 1 Ki to 64 Ki elements, so small slabs stay small).
struct Chunked<T> {
    full: Vec<Vec<T>>,
    cur: Vec<T>,
    before: usize,
}

impl<T: Copy> Chunked<T> {
    const FIRST: usize = 1 << 10;
    const MAX: usize = 1 << 16;

    fn new() -> Self {
        Chunked {
            full: Vec::new(),
            cur: Vec::new(),
            before: 0,
        }
    }

    #[inline(always)]
    fn push(&mut self, v: T) {
        if self.cur.len() == self.cur.capacity() {
            self.grow();
        }
        self.cur.push(v);
    }

    #[cold]
    fn grow(&mut self) {
        let cap = (self.cur.capacity() * 2).clamp(Self::FIRST, Self::MAX);
        let c = std::mem::replace(&mut self.cur, Vec::with_capacity(cap));
        if !c.is_empty() {
            self.before += c.len();
            self.full.push(c);
        }
    }

    #[inline(always)]
    fn len(&self) -> usize {
        self.before + self.cur.len()
    }

    fn chunks(&self) -> impl Iterator<Item = &[T]> {
        self.full
            .iter()
            .map(|c| &c[..])
            .chain(std::iter::once(&self.cur[..]))
    }
}

/// What one slab produced.
struct SlabOut {
    positions: Chunked<Vec3>,
    /// Slab-local ids; ids with [`FOREIGN`] set index the previous slab's `top`.
    triangles: Chunked<[u32; 3]>,
    /// Local ids of the vertices on the slab's last plane, in creation order.
    top: Vec<u32>,
    /// Inside samples of the planes this slab owns.
    inside: u64,
}

impl SlabOut {
    fn new() -> Self {
        SlabOut {
            positions: Chunked::new(),
            triangles: Chunked::new(),
            top: Vec::new(),
            inside: 0,
        }
    }
}

/// Per-worker buffers, reused across slabs (never read before written for a given slab).
struct Scratch {
    /// Vertex ids of i- and j-edges on the lower and upper plane, indexed `(i+1) + W·(j+1)`
    /// with `W = dims[0] + 2` (cells run from −1, and a cell reads entries at +1).
    xy_lo: Vec<[u32; 2]>,
    xy_hi: Vec<[u32; 2]>,
    /// Vertex ids of k-edges of the current layer.
    z: Vec<u32>,
    /// Per row of the lower/upper plane: first and last inside column.
    ranges_lo: Vec<(u32, u32)>,
    ranges_hi: Vec<(u32, u32)>,
    /// Inside flags of the lower/upper plane (fields only).
    buf_lo: Vec<u8>,
    buf_hi: Vec<u8>,
}

impl Scratch {
    fn new(dims: [usize; 3]) -> Scratch {
        let n = (dims[0] + 2) * (dims[1] + 2);
        Scratch {
            xy_lo: vec![[0; 2]; n],
            xy_hi: vec![[0; 2]; n],
            z: vec![0; n],
            ranges_lo: vec![EMPTY; dims[1]],
            ranges_hi: vec![EMPTY; dims[1]],
            buf_lo: Vec::new(),
            buf_hi: Vec::new(),
        }
    }
}

/// Shared, read-only state of one extraction.
struct Ctx<'a, S> {
    src: &'a S,
    dims: [usize; 3],
    affine: DAffine3,
    cases: &'a [Case; 256],
    zero_row: Vec<u8>,
}

#[inline(always)]
fn word(row: &[u8], x: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&row[x..x + 8]);
    u64::from_le_bytes(b)
}

/// Bit 0 of each byte of the result is set when that byte of `w` is non-zero (the other
/// bits are clear).
#[inline(always)]
fn byte_flags(w: u64) -> u64 {
    let t = w | (w >> 4);
    let t = t | (t >> 2);
    (t | (t >> 1)) & 0x0101_0101_0101_0101
}

/// Non-zero bytes of `s` (u8 lanes: vectorises).
fn count_nonzero(s: &[u8]) -> u64 {
    s.chunks(255)
        .map(|c| u64::from(c.iter().fold(0u8, |a, &v| a + u8::from(v != 0))))
        .sum()
}

/// Inside bits of column `x` of the 4 rows at the cube corners with di = 0.
#[inline(always)]
fn column(r: &[&[u8]; 4], x: usize) -> u32 {
    u32::from(r[0][x] != 0)
        | u32::from(r[1][x] != 0) << 2
        | u32::from(r[2][x] != 0) << 4
        | u32::from(r[3][x] != 0) << 6
}

fn first_nonzero(row: &[u8]) -> Option<usize> {
    let mut x = 0;
    // 32 bytes per step while empty (most rows are): the OR of 4 words vectorises.
    while x + 32 <= row.len()
        && word(row, x) | word(row, x + 8) | word(row, x + 16) | word(row, x + 24) == 0
    {
        x += 32;
    }
    while x + 8 <= row.len() {
        let w = word(row, x);
        if w != 0 {
            return Some(x + (w.trailing_zeros() / 8) as usize);
        }
        x += 8;
    }
    (x..row.len()).find(|&x| row[x] != 0)
}

fn last_nonzero(row: &[u8]) -> Option<usize> {
    let mut end = row.len();
    while end >= 8 {
        let w = word(row, end - 8);
        if w != 0 {
            return Some(end - 1 - (w.leading_zeros() / 8) as usize);
        }
        end -= 8;
    }
    (0..end).rev().find(|&x| row[x] != 0)
}

/// First and last inside column of every row of `plane`; returns the inside count.
fn plane_ranges(plane: &[u8], nx: usize, ranges: &mut [(u32, u32)]) -> u64 {
    let mut count = 0u64;
    for (j, r) in ranges.iter_mut().enumerate() {
        let row = &plane[j * nx..(j + 1) * nx];
        *r = match first_nonzero(row) {
            None => EMPTY,
            Some(first) => {
                let last = last_nonzero(row).unwrap_or(first);
                count += count_nonzero(&row[first..=last]);
                (first as u32, last as u32)
            }
        };
    }
    count
}

/// Union of row ranges; rows out of range (`None`) are empty.
#[inline]
fn union(ranges: [Option<(u32, u32)>; 4]) -> Option<(usize, usize)> {
    let mut lo = u32::MAX;
    let mut hi = 0;
    let mut any = false;
    for (a, b) in ranges.into_iter().flatten() {
        if a <= b {
            lo = lo.min(a);
            hi = hi.max(b);
            any = true;
        }
    }
    any.then_some((lo as usize, hi as usize))
}

/// Mutable state while one layer of cells is processed.
struct Layer<'s> {
    xy_lo: &'s [[u32; 2]],
    xy_hi: &'s mut [[u32; 2]],
    z: &'s mut [u32],
    out: &'s mut SlabOut,
    /// Whether this is the slab's last layer (its upper plane is handed to the next slab).
    last: bool,
    k: isize,
}

impl<S: Source> Ctx<'_, S> {
    #[inline(always)]
    fn row<'p>(&'p self, plane: &'p [u8], j: isize) -> &'p [u8] {
        let (nx, ny) = (self.dims[0], self.dims[1]);
        if j < 0 || j as usize >= ny {
            &self.zero_row
        } else {
            let j = j as usize;
            &plane[j * nx..(j + 1) * nx]
        }
    }

    #[inline(always)]
    fn index(&self, i: isize, j: isize, k: isize) -> usize {
        i as usize + self.dims[0] * (j as usize + self.dims[1] * k as usize)
    }

    /// New vertex on the edge from voxel `(i, j, k)` along `axis`.
    #[inline(always)]
    fn vertex(&self, out: &mut SlabOut, axis: usize, v: [isize; 3]) -> u32 {
        let n = self.dims[axis] as isize;
        let t = if v[axis] >= 0 && v[axis] + 1 < n {
            let a = self.index(v[0], v[1], v[2]);
            let mut w = v;
            w[axis] += 1;
            self.src.frac(a, self.index(w[0], w[1], w[2]))
        } else {
            0.5
        };
        let mut f = DVec3::new(v[0] as f64, v[1] as f64, v[2] as f64);
        f[axis] += t;
        let p = self.affine.transform_point3(f);
        let id = out.positions.len() as u32;
        out.positions.push(p.as_vec3());
        id
    }

    /// Creates the cell's corner-7 edges and emits its triangles. `ci = i + 1`, `cj = j + 1`.
    #[inline(always)]
    fn cell(&self, l: &mut Layer<'_>, case: u32, ci: usize, cj: usize) {
        let w = self.dims[0] + 2;
        let base = ci + w * cj;
        let (i, j, k) = (ci as isize - 1, cj as isize - 1, l.k);
        let b7 = case >> 7;
        if b7 != (case >> 6) & 1 {
            // Edge 3: along i from voxel (i, j+1, k+1).
            let id = self.vertex(l.out, 0, [i, j + 1, k + 1]);
            l.xy_hi[base + w][0] = id;
            if l.last {
                l.out.top.push(id);
            }
        }
        if b7 != (case >> 5) & 1 {
            // Edge 7: along j from voxel (i+1, j, k+1).
            let id = self.vertex(l.out, 1, [i + 1, j, k + 1]);
            l.xy_hi[base + 1][1] = id;
            if l.last {
                l.out.top.push(id);
            }
        }
        if b7 != (case >> 3) & 1 {
            // Edge 11: along k from voxel (i+1, j+1, k).
            let id = self.vertex(l.out, 2, [i + 1, j + 1, k]);
            l.z[base + w + 1] = id;
        }
        let ids = [
            l.xy_lo[base][0],
            l.xy_lo[base + w][0],
            l.xy_hi[base][0],
            l.xy_hi[base + w][0],
            l.xy_lo[base][1],
            l.xy_lo[base + 1][1],
            l.xy_hi[base][1],
            l.xy_hi[base + 1][1],
            l.z[base],
            l.z[base + 1],
            l.z[base + w],
            l.z[base + w + 1],
        ];
        let c = &self.cases[case as usize];
        for t in &c.tris[..c.count as usize] {
            l.out
                .triangles
                .push([ids[t[0] as usize], ids[t[1] as usize], ids[t[2] as usize]]);
        }
    }

    /// Numbers the crossing edges of plane `k` (the first plane of a slab) in the order the
    /// previous slab created them: cells by j then i, per cell the i-edge then the j-edge.
    fn foreign_plane(&self, plane: &[u8], ranges: &[(u32, u32)], xy: &mut [[u32; 2]]) {
        let (nx, ny) = (self.dims[0], self.dims[1]);
        let w = nx + 2;
        let mut n = 0u32;
        let at = |row: &[u8], x: isize| x >= 0 && (x as usize) < nx && row[x as usize] != 0;
        for j in -1..ny as isize {
            let rj = |jj: isize| (jj >= 0 && (jj as usize) < ny).then(|| ranges[jj as usize]);
            let Some((lo, hi)) = union([rj(j), rj(j + 1), None, None]) else {
                continue;
            };
            let (r0, r1) = (self.row(plane, j), self.row(plane, j + 1));
            for i in lo as isize - 1..=hi as isize {
                let base = (i + 1) as usize + w * (j + 1) as usize;
                if at(r1, i) != at(r1, i + 1) {
                    xy[base + w][0] = FOREIGN | n;
                    n += 1;
                }
                if at(r0, i + 1) != at(r1, i + 1) {
                    xy[base + 1][1] = FOREIGN | n;
                    n += 1;
                }
            }
        }
    }

    /// Cell layers `ka..kb` (k of the cells' lowest corner, from −1).
    fn slab(
        &self,
        ka: isize,
        kb: isize,
        sc: &mut Scratch,
        cancel: &dyn Cancel,
    ) -> Result<SlabOut, IsoError> {
        let [nx, ny, nz] = self.dims;
        let mut out = SlabOut::new();
        let Scratch {
            xy_lo,
            xy_hi,
            z,
            ranges_lo,
            ranges_hi,
            buf_lo,
            buf_hi,
        } = sc;
        // Upper-plane state for "layer ka − 1", swapped into the lower plane below.
        self.src.fill(ka, buf_hi);
        {
            let p = self.src.direct(ka).unwrap_or(&buf_hi[..]);
            plane_ranges(p, nx, ranges_hi);
            if ka >= 0 {
                self.foreign_plane(p, ranges_hi, xy_hi);
            }
        }
        for k in ka..kb {
            if cancel.is_cancelled() {
                return Err(IsoError::Cancelled);
            }
            std::mem::swap(xy_lo, xy_hi);
            std::mem::swap(ranges_lo, ranges_hi);
            std::mem::swap(buf_lo, buf_hi);
            self.src.fill(k + 1, buf_hi);
            let lo_plane = self.src.direct(k).unwrap_or(&buf_lo[..]);
            let hi_plane = self.src.direct(k + 1).unwrap_or(&buf_hi[..]);
            let count = plane_ranges(hi_plane, nx, ranges_hi);
            if k + 1 < nz as isize {
                out.inside += count;
            }
            let mut layer = Layer {
                xy_lo,
                xy_hi,
                z,
                out: &mut out,
                last: k + 1 == kb,
                k,
            };
            for j in -1..ny as isize {
                let rr = |r: &[(u32, u32)], jj: isize| {
                    (jj >= 0 && (jj as usize) < ny).then(|| r[jj as usize])
                };
                let Some((lo, hi)) = union([
                    rr(ranges_lo, j),
                    rr(ranges_lo, j + 1),
                    rr(ranges_hi, j),
                    rr(ranges_hi, j + 1),
                ]) else {
                    continue;
                };
                let r = [
                    self.row(lo_plane, j),
                    self.row(lo_plane, j + 1),
                    self.row(hi_plane, j),
                    self.row(hi_plane, j + 1),
                ];
                let cj = (j + 1) as usize;
                // `x` is the cell's upper column (cell i = x − 1); `left` the lower column's bits.
                let mut left = 0u32;
                let mut x = lo;
                let end = hi + 1;
                // 8 cells per step: the column bits of 8 columns in the bytes of one word, the
                // 8 cases likewise, and only non-trivial cases (not 0, not 0xFF) visited. Cells
                // past `end` read columns beyond the row range: all outside, case 0.
                while x + 8 <= nx && x <= end {
                    let w = [word(r[0], x), word(r[1], x), word(r[2], x), word(r[3], x)];
                    if left == 0 && w[0] | w[1] | w[2] | w[3] == 0 {
                        x += 8;
                        continue;
                    }
                    let c = byte_flags(w[0])
                        | byte_flags(w[1]) << 2
                        | byte_flags(w[2]) << 4
                        | byte_flags(w[3]) << 6;
                    let cases = (c << 8) | u64::from(left) | (c << 1);
                    let mut todo = byte_flags(cases) & byte_flags(!cases);
                    while todo != 0 {
                        let b = (todo.trailing_zeros() / 8) as usize;
                        self.cell(&mut layer, (cases >> (8 * b)) as u32 & 0xFF, x + b, cj);
                        todo &= todo - 1;
                    }
                    left = (c >> 56) as u32;
                    x += 8;
                }
                while x <= end {
                    let right = if x < nx { column(&r, x) } else { 0 };
                    let case = left | right << 1;
                    if case != 0 && case != 0xFF {
                        self.cell(&mut layer, case, x, cj);
                    }
                    left = right;
                    x += 1;
                }
            }
            if out.positions.len() as u64 >= u64::from(FOREIGN) {
                return Err(IsoError::TooLarge {
                    vertices: out.positions.len() as u64,
                    limit: MAX_VERTICES,
                });
            }
        }
        Ok(out)
    }
}

/// Layers per slab when the options do not say: about 64 slabs, at least 4 layers each.
fn auto_slab(layers: usize) -> usize {
    layers.div_ceil(64).max(4)
}

fn run<S: Source>(
    src: &S,
    grid: &osteon_volume::Grid,
    opts: &ExtractOptions,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<(Mesh, ExtractReport), IsoError> {
    let dims = grid.dims;
    let layers = dims[2] + 1;
    let per = match opts.slab_cells {
        Some(0) => {
            return Err(IsoError::InvalidOption(
                "slab_cells must be at least 1".into(),
            ))
        }
        Some(n) => n,
        None => auto_slab(layers),
    };
    let mirrored = grid.direction_det() < 0.0;
    let tab = table();
    let ctx = Ctx {
        src,
        dims,
        affine: grid.index_to_world(),
        cases: if mirrored {
            &tab.mirrored
        } else {
            &tab.outward
        },
        zero_row: vec![0u8; dims[0]],
    };
    let slabs: Vec<(isize, isize)> = (0..layers.div_ceil(per))
        .map(|s| {
            let a = (s * per) as isize - 1;
            (a, (a + per as isize).min(dims[2] as isize))
        })
        .collect();
    progress.begin("marching cubes", layers as u64);
    let outs: Vec<SlabOut> = slabs
        .par_iter()
        .map_init(
            || Scratch::new(dims),
            |sc, &(a, b)| {
                let r = ctx.slab(a, b, sc, cancel);
                progress.advance((b - a) as u64);
                r
            },
        )
        .collect::<Result<_, _>>()?;
    progress.finish();

    let inside: u64 = outs.iter().map(|o| o.inside).sum();
    if inside == 0 {
        return Err(IsoError::Empty);
    }
    let total: u64 = outs.iter().map(|o| o.positions.len() as u64).sum();
    if total > MAX_VERTICES {
        return Err(IsoError::TooLarge {
            vertices: total,
            limit: MAX_VERTICES,
        });
    }
    let mesh = merge(outs);
    let report = ExtractReport {
        vertices: mesh.positions.len(),
        triangles: mesh.triangles.len(),
        inside_voxels: inside,
        inside_volume_mm3: inside as f64 * grid.voxel_volume(),
        mirrored,
        slabs: slabs.len(),
    };
    Ok((mesh, report))
}

/// Concatenates slab outputs in slab order, resolving foreign ids, in parallel.
fn merge(outs: Vec<SlabOut>) -> Mesh {
    let mut voff = Vec::with_capacity(outs.len());
    let (mut nv, mut nt) = (0usize, 0usize);
    for o in &outs {
        voff.push(nv);
        nv += o.positions.len();
        nt += o.triangles.len();
    }
    // `[u32; 3]` zeros come from calloc: pages are touched by the parallel writers below.
    let mut positions = vec![Vec3::ZERO; nv];
    let mut triangles = vec![[0u32; 3]; nt];
    let mut pdst: Vec<&mut [Vec3]> = Vec::with_capacity(outs.len());
    let mut tdst: Vec<&mut [[u32; 3]]> = Vec::with_capacity(outs.len());
    let (mut pr, mut tr) = (&mut positions[..], &mut triangles[..]);
    for o in &outs {
        let (a, b) = pr.split_at_mut(o.positions.len());
        pdst.push(a);
        pr = b;
        let (a, b) = tr.split_at_mut(o.triangles.len());
        tdst.push(a);
        tr = b;
    }
    pdst.into_par_iter()
        .zip(tdst)
        .enumerate()
        .for_each(|(s, (pd, td))| {
            let o = &outs[s];
            let mut at = 0;
            for c in o.positions.chunks() {
                pd[at..at + c.len()].copy_from_slice(c);
                at += c.len();
            }
            // Offsets fit in u32: the caller checked the total vertex count.
            let off = voff[s] as u32;
            let (prev_top, prev_off) = if s > 0 {
                (&outs[s - 1].top[..], voff[s - 1] as u32)
            } else {
                (&[][..], 0)
            };
            let map = |v: u32| {
                if v & FOREIGN != 0 {
                    prev_top[(v & !FOREIGN) as usize] + prev_off
                } else {
                    v + off
                }
            };
            let mut at = 0;
            for c in o.triangles.chunks() {
                for (d, t) in td[at..at + c.len()].iter_mut().zip(c) {
                    *d = t.map(map);
                }
                at += c.len();
            }
        });
    Mesh {
        positions,
        triangles,
    }
}
