//! Surface deviation between two meshes, both ways: "printed (scanned) part vs plan" and
//! "mesh vs reference".
//!
//! In: meshes `a` and `b` (millimetres) and [`CompareOptions`]. Out: a [`CompareReport`].
//!
//! Definitions (each direction X → Y, then combined):
//! * **Samples** (adaptive, so their number scales with the meshes and with how the
//!   distance varies, not a fixed count): the exact distance at every vertex of X and at
//!   every triangle's centroid; a triangle whose centroid deviates from the linear
//!   interpolant of its corners by `δ` is split into `k²` congruent sub-triangles with
//!   `k = ⌈√(δ / τ)⌉` (at most 64; `τ` = [`CompareOptions::quadrature_tolerance_mm`]), since
//!   the interpolation error of a smooth function shrinks as `1/k²`. Each (sub-)triangle is
//!   integrated with the degree-2 rule "3/4 of its area at its centroid, 1/12 at each
//!   corner" (exact for quadratic functions); corners shared by sub-triangles (the mesh's
//!   vertices, the grid points of split triangles) are one sample with the summed weight.
//!   [`CompareOptions::target_samples`] caps the total (every split is then scaled down,
//!   with a warning). The statistics below are area-weighted integrals over the surface of
//!   X, not vertex averages, and do not depend on how unevenly X is meshed.
//!   With [`Sampling::Vertices`] the samples are the vertices alone, each weighted by a
//!   third of the area of its triangles (the degree-1 rule, exact for a distance linear on
//!   every triangle), and the percentile takes `|d|` linear over each whole triangle: the
//!   samples of the vertex-based Hausdorff of VTK, MeshLib or 3D Slicer, at a third or less
//!   of the adaptive rule's queries, for screening many parts; no quadrature error is
//!   estimated (`null`), and on coarse or rough pairs the integrals differ from the
//!   adaptive ones (head CT bone against its smoothed copy: mean 0.457 against 0.420 mm;
//!   femur against its +0.3 mm offset: 0.3005 against 0.3004 mm). The maximum below is
//!   certified over the whole surface in both modes.
//! * **Quadrature error** ([`DirectedStats::quadrature_error_mm`]): an a-posteriori
//!   *estimate*, not a certificate: `Σ ¾ A δ / k²` over the triangles, divided by the area —
//!   the difference the centroids make over the corners' interpolant on the final
//!   sub-triangles, which bounds the error of the degree-2 rule where the distance is smooth
//!   at the triangle's scale. A deviation narrower than a triangle that touches neither its
//!   corners nor its centroid can escape the indicator (the maximum cannot: it is certified
//!   below).
//! * `d(x)`: the exact distance from a sample to the surface of Y; the signed version is
//!   negative inside Y (only when Y is a closed solid).
//! * **mean** `∫|d| dA / A`, **rms** `sqrt(∫d² dA / A)`, **signed mean** `∫d dA / A`, **HD95**
//!   the smallest `h` with `∫_{|d| ≤ h} dA ≥ 0.95 A`, with `|d|` taken piecewise linear
//!   between the samples of every sub-triangle the quadrature resolves (each cut into three
//!   at its centroid; the area below `h` of a linear piece is exact), so a large triangle's
//!   area is spread over its range instead of sitting on a few values; a sub-triangle left
//!   coarser than the tolerance (budget or split limit reached) counts as its samples'
//!   point masses (see `linear_percentile`).
//! * **max** (directed Hausdorff) `max_{x ∈ X} d(x, Y)` over the whole surface, not only
//!   samples: the largest sample first, then branch and bound over the triangles (see
//!   `maximize`), certified within [`CompareOptions::hausdorff_tolerance_mm`]. A triangle
//!   whose corner distances plus its longest edges stay within the tolerance of the largest
//!   sample (1-Lipschitz) cannot raise it and is not handed to the search.
//!
//! Closest points come from a 4-ary bounding-volume hierarchy over Y (`bvh::PointIndex`),
//! queried in mesh order with each query warm-started from a nearby answer (vertices in
//! first-use order and grid points in chains, each from the previous one; each centroid from
//! the closest triangle of its corner nearest to Y), the sign from Y's pseudo-normals
//! ([`SignedIndex`]). Every sample's distance is exact (a full search, no estimate). The four
//! indexes (two trees, two sign tables) are built at once, and both directions run at once.
//!
//! Cost, on the idle 2-core machine, min of 7, beside MeshLib's vertex-only Hausdorff
//! (`findMaxDistanceSq` both ways, trees rebuilt) in the same run:
//!
//! | pair | adaptive | vertices | MeshLib |
//! |---|---|---|---|
//! | two 157 k-triangle head CT bone meshes (one smoothed) | 0.362 s | 0.154 s | 0.204 s |
//! | femur (3 548 tri.) / its +0.3 mm offset (131 424 tri.) | 0.234 s | 0.094 s | 0.100 s |
//! | two VTK foot bones (~600 tri. each) | 0.0137 s | 0.0009 s | 0.0010 s |
//!
//! The adaptive rule spends about 570 k exact queries on the heads (MeshLib: 158 k), at ~4
//! exact triangle tests, ~15 node visits and ~10 sphere tests each; in vertex mode a third
//! of the process's CPU time is the kernel zeroing fresh (huge) memory pages. Tried and
//! dropped (same results, more or equal time): grouped queries (one candidate list from the
//! tree for each run of 4–14 consecutive samples: 40–145 candidates a group, still ~4
//! exact tests a sample, 1.03 s of CPU against 0.85 s), a plane-plus-disk lower bound
//! before the exact test (7.4 → 6.3 exact tests a query, no gain), leaves of 2 or 8
//! triangles, f32 corners (again with vertex sampling: 4 % slower), chained centroid hints,
//! and handing the search's closest feature to the sign instead of finding it again (3 %
//! less CPU here, where the sign is a small share; fit does hand it over); the sign of a
//! sample taken from its neighbour when the segment between them cannot meet the surface
//! (no measurable gain: the sign is
//! ~6 % of the time; and a wrong pseudo-normal sign at a chain's start would spread along
//! it); predicting each centroid from its corners' values and closest-point gradients
//! (Hermite, exact for quadratics) instead of querying it: on the heads only 8 % of the
//! triangles passed a safe consistency test (the distance to a surface meshed at 0.7 mm
//! bends at that scale), on the femur/offset pair 40–80 %.
//!
//! Combined: `hausdorff = max(max_ab, max_ba)`, `hd95 = max(hd95_ab, hd95_ba)` (as in
//! medical segmentation practice), `mean` and `rms` over both surfaces together (the average
//! symmetric surface distance and its RMS), `signed_mean` of `a` relative to `b` (positive:
//! `a` lies outside `b`, e.g. excess material on a printed part `a` against its plan `b`).

use osteon_geom::{Cancel, DVec3, NeverCancel, NoProgress, Progress};
use osteon_mesh::Mesh;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bvh::PointIndex;
use crate::geometry::{normal, Tri};
use crate::maximize::{candidates, lipschitz_bound, maximize, Field};
use crate::signed::SignedIndex;

/// Largest split of one triangle (k² sub-triangles).
const MAX_SPLIT: usize = 64;
use crate::{check_mesh, FitError};

/// Options of [`compare`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct CompareOptions {
    /// Most sub-triangles (centroid samples) per mesh: a cap on the adaptive refinement
    /// (when reached, every split is scaled down and the report says so). Every triangle
    /// gets at least its centroid, plus the vertices and grid corners (see the module docs).
    pub target_samples: usize,
    /// Refinement target, mm: a triangle is split `k`-fold until its centroid's deviation
    /// from the linear interpolant of its corners, divided by `k²`, is at most this.
    pub quadrature_tolerance_mm: f64,
    /// Percentile of the "HD" statistic, 0..100.
    pub percentile: f64,
    /// Tolerance of the certified Hausdorff distance, mm.
    pub hausdorff_tolerance_mm: f64,
    /// Most point evaluations the Hausdorff search may spend per direction.
    pub max_hausdorff_evaluations: usize,
    /// Where the surfaces are sampled for the area statistics (the Hausdorff distance is
    /// certified over the whole surface either way).
    pub sampling: Sampling,
}

/// Where [`compare`] samples each surface for its area statistics (mean, RMS, signed mean,
/// HD95). The directed Hausdorff distances are certified over the whole surface in both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Sampling {
    /// Every vertex, every triangle's centroid, and a finer grid on the triangles where the
    /// distance is far from linear (see the [module documentation](self)): area integrals
    /// to [`CompareOptions::quadrature_tolerance_mm`], with an error estimate.
    #[default]
    Adaptive,
    /// Every vertex only, each with a third of the area of its triangles (the degree-1
    /// rule, exact for a distance linear on every triangle), and the percentile of the
    /// distance taken linear over each triangle. The samples of the vertex-based Hausdorff
    /// of VTK, MeshLib or 3D Slicer, at about a third of the adaptive rule's queries; no
    /// quadrature error estimate (a deviation between the vertices goes unseen in the
    /// integrals, though not in the certified maximum).
    Vertices,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            target_samples: 200_000,
            quadrature_tolerance_mm: 1e-3,
            percentile: 95.0,
            hausdorff_tolerance_mm: 1e-3,
            max_hausdorff_evaluations: 50_000,
            sampling: Sampling::Adaptive,
        }
    }
}

impl CompareOptions {
    /// Sets [`CompareOptions::target_samples`].
    pub fn with_target_samples(mut self, n: usize) -> Self {
        self.target_samples = n;
        self
    }
    /// Sets [`CompareOptions::quadrature_tolerance_mm`].
    pub fn with_quadrature_tolerance_mm(mut self, mm: f64) -> Self {
        self.quadrature_tolerance_mm = mm;
        self
    }
    /// Sets [`CompareOptions::percentile`].
    pub fn with_percentile(mut self, p: f64) -> Self {
        self.percentile = p;
        self
    }
    /// Sets [`CompareOptions::hausdorff_tolerance_mm`].
    pub fn with_hausdorff_tolerance_mm(mut self, mm: f64) -> Self {
        self.hausdorff_tolerance_mm = mm;
        self
    }
    /// Sets [`CompareOptions::max_hausdorff_evaluations`].
    pub fn with_max_hausdorff_evaluations(mut self, n: usize) -> Self {
        self.max_hausdorff_evaluations = n;
        self
    }
    /// Sets [`CompareOptions::sampling`].
    pub fn with_sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }
}

/// One direction of a comparison (see the [module documentation](self)).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DirectedStats {
    /// Area samples.
    pub samples: usize,
    /// Area of the sampled surface, mm².
    pub area_mm2: f64,
    /// Directed Hausdorff distance, mm.
    pub max_mm: f64,
    /// Where on the sampled surface.
    pub max_at: [f64; 3],
    /// The true maximum lies within this above `max_mm`.
    pub max_certified_mm: f64,
    /// Area-weighted percentile of the distance, mm.
    pub hd95_mm: f64,
    /// Area-weighted mean distance, mm.
    pub mean_mm: f64,
    /// Area-weighted RMS distance, mm.
    pub rms_mm: f64,
    /// Area-weighted mean signed distance, mm (`null` when the other mesh is not a solid).
    pub signed_mean_mm: Option<f64>,
    /// Estimated quadrature error of `mean_mm` (and, to first order, of `rms_mm`), mm: the
    /// area-weighted sum over triangles of ¾ of the centroid's deviation from the corners'
    /// interpolant, divided by `k²` for a triangle split `k`-fold. An a-posteriori
    /// estimate, not a certificate (see the module docs). `None` with
    /// [`Sampling::Vertices`], which has no estimate.
    pub quadrature_error_mm: Option<f64>,
    /// The sample budget ([`CompareOptions::target_samples`]) capped the refinement.
    pub budget_reached: bool,
}

/// What [`compare`] measured. Field names are the JSON keys.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CompareReport {
    /// `a` sampled against `b`.
    pub a_to_b: DirectedStats,
    /// `b` sampled against `a`.
    pub b_to_a: DirectedStats,
    /// Symmetric Hausdorff distance, mm.
    pub hausdorff_mm: f64,
    /// The larger directed percentile, mm.
    pub hd95_mm: f64,
    /// Mean over both surfaces, mm.
    pub mean_mm: f64,
    /// RMS over both surfaces, mm.
    pub rms_mm: f64,
    /// Signed mean of `a` relative to `b`, mm.
    pub signed_mean_mm: Option<f64>,
    /// The percentile used for `hd95_mm`.
    pub percentile: f64,
    /// Where the surfaces were sampled for the area statistics.
    pub sampling: Sampling,
    /// Estimated quadrature error of `mean_mm`, mm (area-weighted over both directions; see
    /// [`DirectedStats::quadrature_error_mm`]); `None` with [`Sampling::Vertices`].
    pub quadrature_error_mm: Option<f64>,
    /// What limits the numbers.
    pub warnings: Vec<String>,
    /// Signed distance of every vertex of `a` to `b`, mm (unsigned when `b` is no solid).
    #[serde(skip)]
    pub a_vertex_distance: Vec<f64>,
    /// Signed distance of every vertex of `b` to `a`, mm.
    #[serde(skip)]
    pub b_vertex_distance: Vec<f64>,
}

/// [`compare_with`] with default options, no progress or cancellation.
pub fn compare(a: &Mesh, b: &Mesh) -> Result<CompareReport, FitError> {
    compare_with(a, b, &CompareOptions::default(), &NoProgress, &NeverCancel)
}

/// Compares `a` and `b` both ways (see the [module documentation](self)).
///
/// Errors: [`FitError::Empty`] / [`FitError::Mesh`] for an empty or invalid mesh,
/// [`FitError::InvalidOption`], [`FitError::Cancelled`].
pub fn compare_with(
    a: &Mesh,
    b: &Mesh,
    opts: &CompareOptions,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<CompareReport, FitError> {
    if !(opts.percentile > 0.0 && opts.percentile <= 100.0) {
        return Err(FitError::InvalidOption(format!(
            "percentile {}: need 0 < p <= 100",
            opts.percentile
        )));
    }
    if !(opts.hausdorff_tolerance_mm > 0.0 && opts.hausdorff_tolerance_mm.is_finite()) {
        return Err(FitError::InvalidOption(format!(
            "Hausdorff tolerance {} mm: need a positive value",
            opts.hausdorff_tolerance_mm
        )));
    }
    if !(opts.quadrature_tolerance_mm > 0.0 && opts.quadrature_tolerance_mm.is_finite()) {
        return Err(FitError::InvalidOption(format!(
            "quadrature tolerance {} mm: need a positive value",
            opts.quadrature_tolerance_mm
        )));
    }
    progress.begin("compare", 2);
    check_mesh(a, "first mesh")?;
    check_mesh(b, "second mesh")?;
    // The four indexes at once (each builds in parallel inside too).
    let ((ia, ib), (pa, pb)) = rayon::join(
        || {
            rayon::join(
                || sign_index(a, "first mesh"),
                || sign_index(b, "second mesh"),
            )
        },
        || rayon::join(|| PointIndex::new(a), || PointIndex::new(b)),
    );
    let (ia, ib) = (ia?, ib?);
    let mut warnings = Vec::new();
    for (name, idx) in [("first", &ia), ("second", &ib)] {
        if !idx.solid() {
            warnings.push(format!(
                "the {name} mesh is not a closed solid ({}): distances to it are unsigned and the signed mean against it is not reported",
                idx.check().problem()
            ));
        }
    }
    if cancel.is_cancelled() {
        return Err(FitError::Cancelled);
    }
    // Both directions at once: the sequential steps of one (percentile, sample lists) overlap
    // the parallel queries of the other. Each is a pure function of its inputs.
    let ((ab, va), (ba, vb)) = rayon::join(
        || directed(a, &ib, &pb, opts),
        || directed(b, &ia, &pa, opts),
    );
    progress.advance(2);
    progress.finish();
    if cancel.is_cancelled() {
        return Err(FitError::Cancelled);
    }
    for (name, d) in [("a->b", &ab), ("b->a", &ba)] {
        if d.max_certified_mm > opts.hausdorff_tolerance_mm * 1.0001 {
            warnings.push(format!(
                "the {name} Hausdorff distance is certified only to {:.4} mm (evaluation budget reached)",
                d.max_certified_mm
            ));
        }
    }
    for (name, d) in [("a->b", &ab), ("b->a", &ba)] {
        // Only the adaptive rule has a budget, and it always estimates its error.
        if let (true, Some(e)) = (d.budget_reached, d.quadrature_error_mm) {
            warnings.push(format!(
                "the {name} quadrature reached its budget of {} samples: estimated error {e:.5} mm",
                opts.target_samples
            ));
        }
    }
    let w = ab.area_mm2 + ba.area_mm2;
    let (mean, rms) = if w > 0.0 {
        (
            (ab.mean_mm * ab.area_mm2 + ba.mean_mm * ba.area_mm2) / w,
            ((ab.rms_mm.powi(2) * ab.area_mm2 + ba.rms_mm.powi(2) * ba.area_mm2) / w).sqrt(),
        )
    } else {
        (0.0, 0.0)
    };
    let quad_error = match (ab.quadrature_error_mm, ba.quadrature_error_mm) {
        (Some(e_ab), Some(e_ba)) if w > 0.0 => Some((e_ab * ab.area_mm2 + e_ba * ba.area_mm2) / w),
        (Some(_), Some(_)) => Some(0.0),
        _ => None,
    };
    Ok(CompareReport {
        quadrature_error_mm: quad_error,
        hausdorff_mm: ab.max_mm.max(ba.max_mm),
        hd95_mm: ab.hd95_mm.max(ba.hd95_mm),
        mean_mm: mean,
        rms_mm: rms,
        signed_mean_mm: ab.signed_mean_mm,
        percentile: opts.percentile,
        sampling: opts.sampling,
        a_to_b: ab,
        b_to_a: ba,
        warnings,
        a_vertex_distance: va,
        b_vertex_distance: vb,
    })
}

/// The solid check and pseudo-normals of `mesh` (checked by [`check_mesh`]), for the signs
/// only: compare finds the closest triangles with its own [`PointIndex`], so this index
/// holds no tree of its own (its region is empty; nothing queries it).
fn sign_index(mesh: &Mesh, which: &'static str) -> Result<SignedIndex, FitError> {
    let nowhere = [DVec3::splat(f64::INFINITY), DVec3::splat(f64::NEG_INFINITY)];
    SignedIndex::near_valid(mesh, Some(nowhere)).map_err(|e| e.with_which(which))
}

/// The quadrature of a mesh's surface (see the module docs): its used vertices in the
/// order the triangles first use them, with weights, then the extra grid points of the
/// triangles split finer, with weights.
struct Quadrature {
    /// Used vertices, in first-use order (neighbours in the list lie near each other).
    vertices: Vec<u32>,
    /// Weight of each of `vertices`, mm².
    vertex_w: Vec<f64>,
    /// Extra points and weights.
    grid: Vec<(DVec3, f64)>,
}

fn quadrature(m: &Mesh, target: usize) -> Quadrature {
    let total = m.area();
    let target = target.max(1) as f64;
    // Edge of an equilateral triangle of area total / target.
    let spacing = (4.0 * total / (3f64.sqrt() * target)).sqrt();
    let per_sample = total / target;
    // (area, k) per triangle.
    let split: Vec<(f64, usize)> = (0..m.triangles.len())
        .into_par_iter()
        .map(|t| {
            let c: Tri = m.corners(t).map(|p| p.as_dvec3());
            let area = 0.5 * normal(&c).length();
            let longest = (0..3)
                .map(|i| (c[(i + 1) % 3] - c[i]).length())
                .fold(0.0, f64::max);
            let k = if spacing > 0.0 {
                let by_area = (area / per_sample).sqrt().round();
                let by_edge = (longest / (3.0 * spacing)).ceil();
                (by_area.max(by_edge) as usize).clamp(1, 256)
            } else {
                1
            };
            (area, k)
        })
        .collect();
    quadrature_split(m, &split)
}

/// The quadrature of `m` with triangle `t` split `split[t].1`-fold (`split[t].0` its area).
fn quadrature_split(m: &Mesh, split: &[(f64, usize)]) -> Quadrature {
    let mut slot = vec![u32::MAX; m.positions.len()];
    let mut vertices = Vec::new();
    let mut vertex_w: Vec<f64> = Vec::new();
    for (t, &(area, k)) in m.triangles.iter().zip(split) {
        // A corner touches one of the k² sub-triangles.
        let w = area / (12.0 * (k * k) as f64);
        for &v in t {
            let s = &mut slot[v as usize];
            if *s == u32::MAX {
                *s = vertices.len() as u32;
                vertices.push(v);
                vertex_w.push(0.0);
            }
            vertex_w[*s as usize] += w;
        }
    }
    let grid = grid_of(m, split, |_| true);
    Quadrature {
        vertices,
        vertex_w,
        grid,
    }
}

/// The points of triangle `c` (area `area`) split `k`-fold other than its corners, with
/// their weights, appended to `out`: the inner grid points, then the sub-triangles'
/// centroids (for `k = 1`, only the centroid). Plain loops: this runs for every triangle.
fn grid_points_into(c: Tri, area: f64, k: usize, out: &mut Vec<(DVec3, f64)>) {
    let kf = k as f64;
    let sub = area / (kf * kf);
    // Each sub-triangle gives 1/12 of its area to each corner (6 of them meet at an
    // inner grid point, 3 at an edge point) and 3/4 to its centroid.
    let (e1, e2) = (c[1] - c[0], c[2] - c[0]);
    let at = |u: f64, v: f64| c[0] + e1 * (u / kf) + e2 * (v / kf);
    out.reserve((k + 1) * (k + 2) / 2 - 3 + k * k);
    for i in 0..=k {
        for j in 0..=k - i {
            let l = k - i - j;
            if i == k || j == k || l == k {
                continue;
            }
            let on_edge = i == 0 || j == 0 || l == 0;
            let n = if on_edge { 3.0 } else { 6.0 };
            out.push((at(i as f64, j as f64), n * sub / 12.0));
        }
    }
    for i in 0..k {
        for j in 0..k - i {
            out.push((at(i as f64 + 1.0 / 3.0, j as f64 + 1.0 / 3.0), 0.75 * sub));
            if i + j + 2 <= k {
                out.push((at(i as f64 + 2.0 / 3.0, j as f64 + 2.0 / 3.0), 0.75 * sub));
            }
        }
    }
}

/// Triangles per parallel task of [`grid_of`].
const GRID_CHUNK: usize = 512;

/// The [`grid_points_into`] points of every triangle `t` of `m` whose split `split[t]`
/// (area, k) passes `keep`, in triangle order (parallel over fixed chunks, concatenated in
/// order).
fn grid_of(m: &Mesh, split: &[(f64, usize)], keep: fn(usize) -> bool) -> Vec<(DVec3, f64)> {
    let parts: Vec<Vec<(DVec3, f64)>> = split
        .par_chunks(GRID_CHUNK)
        .enumerate()
        .map(|(ci, chunk)| {
            let mut out = Vec::new();
            for (i, &(area, k)) in chunk.iter().enumerate() {
                if keep(k) {
                    let c = m.corners(ci * GRID_CHUNK + i).map(|p| p.as_dvec3());
                    grid_points_into(c, area, k, &mut out);
                }
            }
            out
        })
        .collect();
    parts.concat()
}

/// The area quadrature of `m`: (point, weight) pairs whose weights sum to the area and
/// integrate linear functions exactly (see the module docs): the used vertices first, then
/// the grid points of the triangles split finer.
pub fn area_samples(m: &Mesh, target: usize) -> Vec<(DVec3, f64)> {
    let q = quadrature(m, target);
    q.vertices
        .iter()
        .zip(&q.vertex_w)
        .map(|(&v, &w)| (m.positions[v as usize].as_dvec3(), w))
        .chain(q.grid)
        .collect()
}

/// One third of a sub-triangle of the quadrature (cut at its centroid), on which `|d|` is
/// taken linear between its values at the two corners and the centroid.
#[derive(Clone, Copy, Debug)]
struct Piece {
    /// `|d|` at its three corners, sorted.
    v: [f64; 3],
    /// Area, mm².
    area: f64,
}

impl Piece {
    /// The pieces of a sub-triangle of area `area` with `|d|` values `v` at its corners and
    /// (`v[3]`) its centroid: three linear ones through the centroid when `linear`, else
    /// four point masses with the degree-2 rule's weights (1/12 at each corner, 3/4 at the
    /// centroid).
    fn push_quadrature(v: [f64; 4], area: f64, linear: bool, out: &mut Vec<Piece>) {
        if !linear {
            for (i, &x) in v.iter().enumerate() {
                out.push(Piece {
                    v: [x; 3],
                    area: if i < 3 { area / 12.0 } else { 0.75 * area },
                });
            }
            return;
        }
        for i in 0..3 {
            let mut f = [v[i], v[(i + 1) % 3], v[3]];
            if f[0] > f[1] {
                f.swap(0, 1);
            }
            if f[1] > f[2] {
                f.swap(1, 2);
            }
            if f[0] > f[1] {
                f.swap(0, 1);
            }
            out.push(Piece {
                v: f,
                area: area / 3.0,
            });
        }
    }

    /// Area where the interpolant is at most `h`: with `v₀ ≤ v₁ ≤ v₂`,
    /// `A (h − v₀)² / ((v₁ − v₀)(v₂ − v₀))` up to `v₁` and
    /// `A (1 − (v₂ − h)² / ((v₂ − v₀)(v₂ − v₁)))` above (right-continuous where constant).
    #[inline]
    fn cdf(&self, h: f64) -> f64 {
        let [v0, v1, v2] = self.v;
        if h < v0 {
            0.0
        } else if h >= v2 {
            self.area
        } else if h < v1 {
            self.area * (h - v0) * (h - v0) / ((v1 - v0) * (v2 - v0))
        } else {
            self.area * (1.0 - (v2 - h) * (v2 - h) / ((v2 - v0) * (v2 - v1)))
        }
    }
}

/// The percentile of `|d|` over the surface: the smallest `h` whose area `{|d| ≤ h}`
/// reaches `goal`, where `|d|` is modelled by `pieces`: piecewise linear between the
/// quadrature's samples on every sub-triangle the quadrature resolves (each cut at its
/// centroid), point masses with the quadrature weights on the others (see `adaptive`); with
/// vertex sampling, one linear piece over each whole triangle (see `vertex_rule`).
/// The adaptive quadrature integrates mean and RMS well, but as a step function of its
/// samples it would put a large triangle's area on a few values, which shifts a percentile
/// (a property of the distribution, not an integral); the interpolant spreads each piece's
/// area over its range exactly. `|d − L| ≤ ε` everywhere moves no percentile by more than
/// `ε`, so where the interpolation error is within the quadrature tolerance, so is the
/// percentile.
///
/// Found by k-section on `h`: each pass evaluates the area function `G` at up to
/// [`SECTIONS`] points of the bracket `(lo, hi)` and keeps the sub-interval where `G`
/// crosses the goal. Pieces wholly below or above the bracket are settled and dropped; a
/// piece whose range covers the bracket without a break point inside it is a quadratic in
/// `h` there, summed into one polynomial per pass and dropped too, so the later passes look
/// only at the few pieces with a break point inside the bracket. Ends at adjacent floats.
/// Sequential sums in a fixed order: deterministic.
fn linear_percentile(mut pieces: Vec<Piece>, goal: f64) -> f64 {
    if pieces.is_empty() {
        return 0.0;
    }
    let goal = goal * (1.0 - 1e-12);
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for p in &pieces {
        lo = lo.min(p.v[0]);
        hi = hi.max(p.v[2]);
    }
    let at_lo: f64 = pieces.iter().map(|p| p.cdf(lo)).sum();
    if at_lo >= goal {
        return lo;
    }
    // Invariant: G(lo) < goal <= G(hi) (G(max) is the whole area).
    let mut below = 0.0;
    // Settled covering pieces: (origin o, c0, c1, c2), area c0 + c1 t + c2 t² at h = o + t.
    let mut quads: Vec<(f64, f64, f64, f64)> = Vec::new();
    loop {
        // Settle the pieces outside (lo, hi) or covering it: every h tried from now on lies
        // inside.
        let mut kept = 0;
        let mut q = (lo, 0.0, 0.0, 0.0);
        for i in 0..pieces.len() {
            let p = pieces[i];
            let [v0, v1, v2] = p.v;
            if v2 <= lo {
                below += p.area;
            } else if v0 >= hi {
                // Above: nothing at any h < hi.
            } else if v0 <= lo && hi <= v1 {
                // A (h − v₀)² / D on the whole bracket (v₁ > v₀ here).
                let (d, e) = ((v1 - v0) * (v2 - v0), lo - v0);
                q.1 += p.area * e * e / d;
                q.2 += 2.0 * p.area * e / d;
                q.3 += p.area / d;
            } else if v1 <= lo && hi <= v2 {
                // A (1 − (v₂ − h)² / D) on the whole bracket (v₂ > v₁ here).
                let (d, e) = ((v2 - v0) * (v2 - v1), v2 - lo);
                q.1 += p.area - p.area * e * e / d;
                q.2 += 2.0 * p.area * e / d;
                q.3 -= p.area / d;
            } else {
                pieces[kept] = p;
                kept += 1;
            }
        }
        pieces.truncate(kept);
        if q != (lo, 0.0, 0.0, 0.0) {
            quads.push(q);
        }
        // Interior points, strictly increasing (fewer near adjacent floats).
        let mut hs: Vec<f64> = Vec::with_capacity(SECTIONS);
        for j in 1..=SECTIONS {
            let h = lo + (hi - lo) * (j as f64 / (SECTIONS + 1) as f64);
            if h > lo && h < hi && hs.last().is_none_or(|&l| h > l) {
                hs.push(h);
            }
        }
        if hs.is_empty() {
            return hi;
        }
        let n = hs.len();
        // g[j]: area at hs[j] of the pieces straddling it and of the settled polynomials;
        // full[j]: pieces whose range ends at or below hs[j] (a difference array).
        let mut g: Vec<f64> = hs
            .iter()
            .map(|&h| {
                quads
                    .iter()
                    .map(|&(o, c0, c1, c2)| {
                        let t = h - o;
                        c0 + t * (c1 + t * c2)
                    })
                    .sum()
            })
            .collect();
        let mut full = vec![0.0; n + 1];
        let first_at_least = |v: f64| hs.partition_point(|&h| h < v);
        for p in &pieces {
            let j0 = first_at_least(p.v[0]);
            let j1 = first_at_least(p.v[2]);
            for (j, gj) in g.iter_mut().enumerate().take(j1).skip(j0) {
                *gj += p.cdf(hs[j]);
            }
            full[j1] += p.area;
        }
        let mut acc = below;
        let mut cross = n;
        for j in 0..n {
            acc += full[j];
            if acc + g[j] >= goal {
                cross = j;
                break;
            }
        }
        if cross < n {
            hi = hs[cross];
        }
        if cross > 0 {
            lo = hs[cross - 1];
        }
    }
}

/// Points per pass of [`linear_percentile`]'s k-section.
const SECTIONS: usize = 31;

/// The other mesh, as the maximiser sees it: unsigned distance through the point index.
struct Unsigned<'a>(&'a PointIndex);

impl Field for Unsigned<'_> {
    fn eval(&self, x: DVec3, hint: u32) -> (f64, u32) {
        let (t, d2) = self.0.closest(x, hint);
        (d2.sqrt(), t)
    }
    fn dist_to(&self, b: u32, x: DVec3) -> f64 {
        self.0.distance_to(b, x)
    }
    // An exact closest-triangle search: the hint only speeds it up.
    const SHARE_MIDPOINTS: bool = true;
    // `eval`'s value is the root of the same `point_triangle_distance2` of `x` and the
    // triangle it names that `dist_to` takes.
    const VALUE_IS_DISTANCE: bool = true;
}

/// The pieces of the percentile interpolant of one triangle split `k`-fold, from its
/// corners' `|d|` and the `|d|` of its grid points in [`grid_points_into`] order.
fn grid_pieces(
    corner: [f64; 3],
    grid: &[f64],
    area: f64,
    k: usize,
    resolved: bool,
    out: &mut Vec<Piece>,
) {
    let row = |i: usize| i * (k + 1) - i * i.saturating_sub(1) / 2;
    let idx = |i: usize, j: usize| row(i) + j;
    let mut val = vec![0.0; (k + 1) * (k + 2) / 2];
    let mut next = 0;
    for i in 0..=k {
        for j in 0..=k - i {
            let l = k - i - j;
            val[idx(i, j)] = if l == k {
                corner[0]
            } else if i == k {
                corner[1]
            } else if j == k {
                corner[2]
            } else {
                next += 1;
                grid[next - 1]
            };
        }
    }
    let sub = area / (k * k) as f64;
    for i in 0..k {
        for j in 0..k - i {
            let up = grid[next];
            next += 1;
            Piece::push_quadrature(
                [val[idx(i, j)], val[idx(i + 1, j)], val[idx(i, j + 1)], up],
                sub,
                resolved,
                out,
            );
            if i + j + 2 <= k {
                let down = grid[next];
                next += 1;
                Piece::push_quadrature(
                    [
                        val[idx(i + 1, j)],
                        val[idx(i + 1, j + 1)],
                        val[idx(i, j + 1)],
                        down,
                    ],
                    sub,
                    resolved,
                    out,
                );
            }
        }
    }
    debug_assert_eq!(next, grid.len());
}

/// One exact answer: the signed distance (unsigned when the other mesh is no solid) and
/// the closest triangle.
#[derive(Clone, Copy, Debug)]
struct Answer {
    distance: f64,
    triangle: u32,
}

/// Exact answers of many items' points (`at(item)`) in order (warm-started chains, see
/// [`PointIndex::closest_many_with`]).
fn answers<P: Sync>(
    y: &SignedIndex,
    py: &PointIndex,
    items: &[P],
    at: impl Fn(&P) -> DVec3 + Sync,
) -> Vec<Answer> {
    py.closest_many_with(items, at, |p, t, _| Answer {
        distance: y.signed_on(p, t).distance,
        triangle: t,
    })
}

/// A triangle's area, the `|d|`-relevant value at its centroid and its refinement
/// indicator (step 2 of [`adaptive`]).
#[derive(Clone, Copy)]
struct Coarse {
    area: f64,
    /// Exact signed distance of the centroid.
    distance: f64,
    /// Deviation of the centroid's distance from the corners' linear interpolant.
    delta: f64,
}

/// Statistics of `x` against `y`, and the per-vertex signed distances of `x`.
fn directed(
    x: &Mesh,
    y: &SignedIndex,
    py: &PointIndex,
    opts: &CompareOptions,
) -> (DirectedStats, Vec<f64>) {
    let vpos: Vec<DVec3> = x.positions.iter().map(|p| p.as_dvec3()).collect();
    // 1. Every vertex: used ones in first-use order (neighbours warm-start each other),
    //    then unused ones (weight 0, for the map).
    let mut order: Vec<u32> = Vec::with_capacity(vpos.len());
    let mut seen = vec![false; vpos.len()];
    for t in &x.triangles {
        for &v in t {
            if !seen[v as usize] {
                seen[v as usize] = true;
                order.push(v);
            }
        }
    }
    let nu = order.len();
    order.extend((0..vpos.len() as u32).filter(|&v| !seen[v as usize]));
    drop(seen);
    let ordered = answers(y, py, &order, |&v| vpos[v as usize]);
    let mut vq = vec![ordered[0]; vpos.len()];
    for (&v, &a) in order.iter().zip(&ordered) {
        vq[v as usize] = a;
    }
    drop(ordered);
    let used = &order[..nu];
    let ig = match opts.sampling {
        Sampling::Adaptive => adaptive(x, y, py, opts, &vpos, used, &vq),
        Sampling::Vertices => vertex_rule(x, &vpos, used, &vq),
    };
    let [w, sa, s2, ss] = ig.acc.sums;
    let goal = w * opts.percentile / 100.0;
    let pct = linear_percentile(ig.pieces, goal);
    // Directed Hausdorff: the samples' maximum, then certified branch and bound over the
    // triangles that could hold more: a triangle whose corners' distances plus its edges
    // stay within the tolerance of it cannot (the search's first bound; its corners are
    // samples), so it is left out.
    let enough = ig.acc.start + opts.hausdorff_tolerance_mm;
    let tris = candidates(
        &x.triangles,
        &vpos,
        |i| vq[i as usize].distance.abs(),
        |i| vq[i as usize].triangle,
        |_, c, v| lipschitz_bound(c, v) > enough,
    );
    let m = maximize(
        &Unsigned(py),
        &tris,
        ig.acc.start,
        ig.acc.start_p,
        opts.hausdorff_tolerance_mm,
        opts.max_hausdorff_evaluations,
    );
    let stats = DirectedStats {
        samples: ig.samples,
        area_mm2: w,
        max_mm: m.value,
        max_at: m.point.to_array(),
        max_certified_mm: m.gap,
        hd95_mm: pct,
        mean_mm: if w > 0.0 { sa / w } else { 0.0 },
        rms_mm: if w > 0.0 { (s2 / w).sqrt() } else { 0.0 },
        signed_mean_mm: (y.solid() && w > 0.0).then(|| ss / w),
        quadrature_error_mm: ig.quad_error.map(|e| if w > 0.0 { e / w } else { 0.0 }),
        budget_reached: ig.budget_reached,
    };
    (stats, vq.iter().map(|q| q.distance).collect())
}

/// The running integrals of one direction (see [`directed`]): the weights and the weighted
/// sums of `|d|`, `d²` and `d`, and the largest sample `|d|` and where (the Hausdorff
/// search's start).
struct Sums {
    /// Weight (area), `∫|d|`, `∫d²`, `∫d`.
    sums: [f64; 4],
    start: f64,
    start_p: DVec3,
}

impl Sums {
    /// The used vertices (`used`, with weights `weight`, answers `vq`, positions `vpos`);
    /// the start is a used vertex until a larger sample is met (an unused one could lie
    /// anywhere).
    fn of_vertices(used: &[u32], weight: &[f64], vq: &[Answer], vpos: &[DVec3]) -> Sums {
        let mut acc = Sums {
            sums: [0.0; 4],
            start: 0.0,
            start_p: used.first().map_or(DVec3::ZERO, |&v| vpos[v as usize]),
        };
        for &v in used {
            acc.add(weight[v as usize], vq[v as usize].distance, || {
                vpos[v as usize]
            });
        }
        acc
    }

    /// One sample of signed distance `d` and weight `w`, at `at()` (asked only when it is
    /// the largest so far).
    #[inline]
    fn add(&mut self, w: f64, d: f64, at: impl FnOnce() -> DVec3) {
        self.sums[0] += w;
        self.sums[1] += w * d.abs();
        self.sums[2] += w * d * d;
        self.sums[3] += w * d;
        if d.abs() > self.start {
            (self.start, self.start_p) = (d.abs(), at());
        }
    }
}

/// The integrals of one direction and the pieces of its percentile interpolant.
struct Integrals {
    acc: Sums,
    pieces: Vec<Piece>,
    samples: usize,
    /// `Σ ¾ A δ / k²` (not yet divided by the area); `None`: no estimate.
    quad_error: Option<f64>,
    budget_reached: bool,
}

/// [`Sampling::Vertices`]: each used vertex (`used`, with its answer in `vq`) weighted by
/// a third of the area of its triangles, and one linear piece per triangle through its
/// corners' `|d|` for the percentile. Sequential, in a fixed order.
fn vertex_rule(x: &Mesh, vpos: &[DVec3], used: &[u32], vq: &[Answer]) -> Integrals {
    let mut vertex_w = vec![0.0f64; vpos.len()];
    let mut pieces: Vec<Piece> = Vec::with_capacity(x.triangles.len());
    for t in &x.triangles {
        let c: Tri = t.map(|i| vpos[i as usize]);
        let area = 0.5 * normal(&c).length();
        for &v in t {
            vertex_w[v as usize] += area / 3.0;
        }
        let mut v = t.map(|i| vq[i as usize].distance.abs());
        v.sort_by(f64::total_cmp);
        pieces.push(Piece { v, area });
    }
    Integrals {
        acc: Sums::of_vertices(used, &vertex_w, vq, vpos),
        pieces,
        samples: used.len(),
        quad_error: None,
        budget_reached: false,
    }
}

/// [`Sampling::Adaptive`]: steps 2 to 5 of the module docs, from the used vertices
/// (`used`, first-use order) and their answers (`vq`).
fn adaptive(
    x: &Mesh,
    y: &SignedIndex,
    py: &PointIndex,
    opts: &CompareOptions,
    vpos: &[DVec3],
    used: &[u32],
    vq: &[Answer],
) -> Integrals {
    // 2. Every triangle's centroid (warm-started from the closest triangle of its corner
    //    nearest to Y), and how far it lies from the corners' linear interpolant: the
    //    refinement indicator.
    let tau = opts.quadrature_tolerance_mm;
    let coarse: Vec<Coarse> = x
        .triangles
        .par_iter()
        .map_init(Vec::new, |stack, t| {
            let c: Tri = t.map(|i| vpos[i as usize]);
            let area = 0.5 * normal(&c).length();
            let centroid = c[0] + (c[1] - c[0]) * (1.0 / 3.0) + (c[2] - c[0]) * (1.0 / 3.0);
            // The closest triangle of the corner nearest to the surface.
            let a = t.map(|i| vq[i as usize]);
            let mut hint = a[0];
            for c in &a[1..] {
                if c.distance.abs() < hint.distance.abs() {
                    hint = *c;
                }
            }
            let q = y
                .signed_on(centroid, py.closest_with(centroid, hint.triangle, stack).0)
                .distance;
            let d = t.map(|i| vq[i as usize].distance);
            let lin = (d[0] + d[1] + d[2]) / 3.0;
            let lin_abs = (d[0].abs() + d[1].abs() + d[2].abs()) / 3.0;
            let delta = (q - lin).abs().max((q.abs() - lin_abs).abs());
            Coarse {
                area,
                distance: q,
                delta,
            }
        })
        .collect();
    // 3. Split k-fold so that the indicator, shrinking as 1/k² (the interpolation error of
    //    a smooth function), falls below the tolerance; capped by the sample budget.
    let want = |delta: f64| -> usize {
        if delta <= tau {
            1
        } else {
            ((delta / tau).sqrt().ceil() as usize).clamp(1, MAX_SPLIT)
        }
    };
    let total: f64 = coarse.iter().map(|c| (want(c.delta) as f64).powi(2)).sum();
    let scale = if total > opts.target_samples.max(1) as f64 {
        (opts.target_samples.max(1) as f64 / total).sqrt()
    } else {
        1.0
    };
    let split: Vec<(f64, usize)> = coarse
        .iter()
        .map(|c| {
            let k = want(c.delta);
            let k = if scale < 1.0 {
                ((k as f64 * scale).floor() as usize).max(1)
            } else {
                k
            };
            (c.area, k)
        })
        .collect();
    let quad_error: f64 = coarse
        .iter()
        .zip(&split)
        .map(|(c, &(_, k))| 0.75 * c.area * c.delta / (k * k) as f64)
        .sum();
    // 4. Vertex weights (1/12 of each touching sub-triangle) and the grid points of the
    //    split triangles, queried in triangle order (warm chains); unsplit triangles reuse
    //    their centroid.
    let mut vertex_w = vec![0.0f64; vpos.len()];
    for (t, &(area, k)) in x.triangles.iter().zip(&split) {
        let w = area / (12.0 * (k * k) as f64);
        for &v in t {
            vertex_w[v as usize] += w;
        }
    }
    let fine = grid_of(x, &split, |k| k > 1);
    let fine_q = answers(y, py, &fine, |f| f.0);
    // 5. The integrals (sequential, in a fixed order: the same at any thread count), the
    //    pieces of the percentile interpolant, and the largest sample distance (where the
    //    Hausdorff search starts).
    let mut acc = Sums::of_vertices(used, &vertex_w, vq, vpos);
    let mut next = 0usize;
    let mut pieces: Vec<Piece> = Vec::with_capacity(3 * x.triangles.len() + 2 * fine.len());
    let mut block: Vec<f64> = Vec::new();
    for ((cq, &(_, k)), t) in coarse.iter().zip(&split).zip(&x.triangles) {
        let corner = t.map(|i| vq[i as usize].distance.abs());
        // Resolved (estimated interpolation error within the tolerance): linear pieces;
        // else point masses with the quadrature weights.
        let resolved = cq.delta / (k * k) as f64 <= tau;
        if k == 1 {
            acc.add(0.75 * cq.area, cq.distance, || {
                let c: Tri = t.map(|i| vpos[i as usize]);
                c[0] + (c[1] - c[0]) * (1.0 / 3.0) + (c[2] - c[0]) * (1.0 / 3.0)
            });
            Piece::push_quadrature(
                [corner[0], corner[1], corner[2], cq.distance.abs()],
                cq.area,
                resolved,
                &mut pieces,
            );
        } else {
            let n = (k + 1) * (k + 2) / 2 - 3 + k * k;
            block.clear();
            for (&(p, w), a) in fine[next..next + n].iter().zip(&fine_q[next..next + n]) {
                acc.add(w, a.distance, || p);
                block.push(a.distance.abs());
            }
            grid_pieces(corner, &block, cq.area, k, resolved, &mut pieces);
            next += n;
        }
    }
    debug_assert_eq!(next, fine.len());
    let n_samples = used.len() + fine.len() + split.iter().filter(|s| s.1 == 1).count();
    drop((fine, fine_q, split));
    Integrals {
        acc,
        pieces,
        samples: n_samples,
        quad_error: Some(quad_error),
        budget_reached: scale < 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osteon_geom::Lcg;

    /// The exact percentile of a linear function over a triangle split `k`-fold, through
    /// the grid points and the pieces: `f = u` on the triangle (0,0), (1,0), (0,1) has
    /// area `{f ≤ h} = (1 − (1 − h)²) / 2`, so its `p`-quantile is `1 − √(1 − p)`. A
    /// wrong grid-to-piece mapping makes the interpolant non-linear and misses it.
    #[test]
    fn pieces_of_a_split_triangle_give_the_exact_percentile() {
        let c: Tri = [DVec3::ZERO, DVec3::X, DVec3::Y];
        for k in [1usize, 2, 3, 5] {
            let mut grid: Vec<(DVec3, f64)> = Vec::new();
            grid_points_into(c, 0.5, k, &mut grid);
            let vals: Vec<f64> = grid.iter().map(|g| g.0.x).collect();
            let mut pieces = Vec::new();
            if k == 1 {
                Piece::push_quadrature([0.0, 1.0, 0.0, vals[0]], 0.5, true, &mut pieces);
            } else {
                grid_pieces([0.0, 1.0, 0.0], &vals, 0.5, k, true, &mut pieces);
            }
            let area: f64 = pieces.iter().map(|p| p.area).sum();
            assert!((area - 0.5).abs() < 1e-15);
            for p in [0.1, 0.5, 0.95, 0.99] {
                let h = linear_percentile(pieces.clone(), 0.5 * p);
                let want = 1.0 - (1.0 - p).sqrt();
                assert!((h - want).abs() < 1e-9, "k {k} p {p}: {h} vs {want}");
            }
            // The goal's relative slack of 1e-12 is 1e-6 in h at the quadratic top.
            let top = linear_percentile(pieces.clone(), 0.5);
            assert!((top - 1.0).abs() < 2e-6, "k {k}: {top}");
        }
    }

    /// Point masses (unresolved pieces) give the weighted step percentile; a constant piece
    /// is an atom; mixed pieces agree with a brute-force bisection of the area function.
    #[test]
    fn percentile_of_atoms_and_mixed_pieces() {
        let mut atoms = Vec::new();
        Piece::push_quadrature([1.0, 2.0, 3.0, 4.0], 12.0, false, &mut atoms);
        // Weights 1, 1, 1 (corners) and 9 (centroid) of 12.
        assert_eq!(linear_percentile(atoms.clone(), 2.0), 2.0);
        assert_eq!(linear_percentile(atoms.clone(), 2.5), 3.0);
        assert_eq!(linear_percentile(atoms.clone(), 3.5), 4.0);
        assert_eq!(linear_percentile(atoms, 12.0), 4.0);
        let flat = vec![Piece {
            v: [0.5; 3],
            area: 2.0,
        }];
        assert_eq!(linear_percentile(flat, 1.9), 0.5);
        let mut s = Lcg::new(5);
        let mut r = || s.next_f64();
        let mut pieces = Vec::new();
        for i in 0..3000 {
            let base = 3.0 * r();
            let v = [base, base + r() * r(), base + r() * 0.1, base + r()];
            Piece::push_quadrature(v, 0.1 + r(), i % 4 != 0, &mut pieces);
        }
        let total: f64 = pieces.iter().map(|p| p.area).sum();
        let g = |h: f64| pieces.iter().map(|p| p.cdf(h)).sum::<f64>();
        let min = pieces.iter().map(|p| p.v[0]).fold(f64::INFINITY, f64::min);
        assert_eq!(linear_percentile(pieces.clone(), 0.0), min);
        for q in [0.05, 0.5, 0.95, 0.999] {
            let goal = q * total;
            let h = linear_percentile(pieces.clone(), goal);
            // Up to the rounding of sums taken in another order.
            assert!(
                g(h) >= goal * (1.0 - 1e-9),
                "q {q}: G({h}) = {} < {goal}",
                g(h)
            );
            let below = h - 1e-9 * (1.0 + h);
            assert!(
                below < 0.0 || g(below) < goal * (1.0 - 1e-10),
                "q {q}: {h} is not the smallest"
            );
        }
    }
}
