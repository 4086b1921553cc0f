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
//!   the smallest `h` with `∫_{|d| ≤ h} dA ≥ 0.95 A`: first the area-weighted percentile
//!   of the samples, then refined — every triangle whose distance (1-Lipschitz, bounded
//!   from its corners) can come near that value is sampled at the uniform density of
//!   [`CompareOptions::target_samples`], the others count with their whole area on their
//!   side (see `refine_percentile`).
//! * **max** (directed Hausdorff) `max_{x ∈ X} d(x, Y)` over the whole surface, not only
//!   samples: vertices first, then branch and bound over the triangles (see `maximize`),
//!   certified within [`CompareOptions::hausdorff_tolerance_mm`].
//!
//! Combined: `hausdorff = max(max_ab, max_ba)`, `hd95 = max(hd95_ab, hd95_ba)` (as in
//! medical segmentation practice), `mean` and `rms` over both surfaces together (the average
//! symmetric surface distance and its RMS), `signed_mean` of `a` relative to `b` (positive:
//! `a` lies outside `b`, e.g. excess material on a printed part `a` against its plan `b`).

use osteon_geom::{Cancel, DVec3, NeverCancel, NoProgress, Progress};
use osteon_mesh::Mesh;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::fit::{solid_index, used_vertices};
use crate::geometry::{normal, Tri};
use crate::maximize::{maximize, Field};
use crate::signed::{SignedIndex, SignedPoint};

/// Largest split of one triangle (k² sub-triangles).
const MAX_SPLIT: usize = 64;
use crate::FitError;

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
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            target_samples: 200_000,
            quadrature_tolerance_mm: 1e-3,
            percentile: 95.0,
            hausdorff_tolerance_mm: 1e-3,
            max_hausdorff_evaluations: 50_000,
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
    /// estimate, not a certificate (see the module docs).
    pub quadrature_error_mm: f64,
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
    /// Estimated quadrature error of `mean_mm`, mm (area-weighted over both directions; see
    /// [`DirectedStats::quadrature_error_mm`]).
    pub quadrature_error_mm: f64,
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
    let (ia, ib) = rayon::join(
        || solid_index(a, "first mesh"),
        || solid_index(b, "second mesh"),
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
    let (ab, va) = directed(a, &ib, opts);
    progress.advance(1);
    if cancel.is_cancelled() {
        return Err(FitError::Cancelled);
    }
    let (ba, vb) = directed(b, &ia, opts);
    progress.advance(1);
    progress.finish();
    for (name, d) in [("a->b", &ab), ("b->a", &ba)] {
        if d.max_certified_mm > opts.hausdorff_tolerance_mm * 1.0001 {
            warnings.push(format!(
                "the {name} Hausdorff distance is certified only to {:.4} mm (evaluation budget reached)",
                d.max_certified_mm
            ));
        }
    }
    for (name, d) in [("a->b", &ab), ("b->a", &ba)] {
        if d.budget_reached {
            warnings.push(format!(
                "the {name} quadrature reached its budget of {} samples: estimated error {:.5} mm",
                opts.target_samples, d.quadrature_error_mm
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
    let quad_error = if w > 0.0 {
        (ab.quadrature_error_mm * ab.area_mm2 + ba.quadrature_error_mm * ba.area_mm2) / w
    } else {
        0.0
    };
    Ok(CompareReport {
        quadrature_error_mm: quad_error,
        hausdorff_mm: ab.max_mm.max(ba.max_mm),
        hd95_mm: ab.hd95_mm.max(ba.hd95_mm),
        mean_mm: mean,
        rms_mm: rms,
        signed_mean_mm: ab.signed_mean_mm,
        percentile: opts.percentile,
        a_to_b: ab,
        b_to_a: ba,
        warnings,
        a_vertex_distance: va,
        b_vertex_distance: vb,
    })
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
    let grid = split
        .par_iter()
        .enumerate()
        .flat_map_iter(|(t, &(area, k))| grid_points(m.corners(t).map(|p| p.as_dvec3()), area, k))
        .collect();
    Quadrature {
        vertices,
        vertex_w,
        grid,
    }
}

/// The points of triangle `c` (area `area`) split `k`-fold other than its corners, with
/// their weights: the inner grid points, then the sub-triangles' centroids (for `k = 1`,
/// only the centroid).
fn grid_points(c: Tri, area: f64, k: usize) -> impl Iterator<Item = (DVec3, f64)> {
    let kf = k as f64;
    let sub = area / (kf * kf);
    // Each sub-triangle gives 1/12 of its area to each corner (6 of them meet at an
    // inner grid point, 3 at an edge point) and 3/4 to its centroid.
    let (e1, e2) = (c[1] - c[0], c[2] - c[0]);
    let at = move |u: f64, v: f64| c[0] + e1 * (u / kf) + e2 * (v / kf);
    let corners = (0..=k).flat_map(move |i| {
        (0..=k - i).filter_map(move |j| {
            let l = k - i - j;
            if i == k || j == k || l == k {
                return None;
            }
            let on_edge = i == 0 || j == 0 || l == 0;
            let n = if on_edge { 3.0 } else { 6.0 };
            Some((at(i as f64, j as f64), n * sub / 12.0))
        })
    });
    let centroids = (0..k).flat_map(move |i| {
        (0..k - i).flat_map(move |j| {
            let up = Some((at(i as f64 + 1.0 / 3.0, j as f64 + 1.0 / 3.0), 0.75 * sub));
            let down = (i + j + 2 <= k)
                .then(|| (at(i as f64 + 2.0 / 3.0, j as f64 + 2.0 / 3.0), 0.75 * sub));
            up.into_iter().chain(down)
        })
    });
    corners.chain(centroids)
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

/// The smallest sample value whose cumulative weight (samples sorted by value) reaches
/// `goal`: the percentile of a weighted sample.
fn step_percentile(sorted: &[(f64, f64)], goal: f64) -> f64 {
    let mut acc = 0.0;
    for &(d, wt) in sorted {
        acc += wt;
        if acc >= goal * (1.0 - 1e-12) {
            return d;
        }
    }
    sorted.last().map_or(0.0, |o| o.0)
}

/// The percentile refined where it matters. The adaptive quadrature integrates mean and RMS
/// well but places a large triangle's area on a few values, which shifts a percentile (a
/// property of the distribution, not an integral). Only triangles that can hold values near
/// the percentile `h` matter for it: the distance is 1-Lipschitz, so over a triangle with
/// corner distances `dᵢ` and longest edge `e` it lies within `[max dᵢ − e, min dᵢ + e]` and
/// within `[min dᵢ − e/√3, max dᵢ + e/√3]` (every point is within `e/√3` of a corner). A
/// triangle whose interval misses the window `h ± m` counts with its whole area on its side
/// of the window, exactly; the others are sampled at the uniform density of
/// [`CompareOptions::target_samples`] per mesh area (the degree-2 rule on `k²`
/// sub-triangles). If the refined percentile leaves the window, the window doubles (up to
/// every triangle).
#[allow(clippy::too_many_arguments)]
fn refine_percentile(
    x: &Mesh,
    vpos: &[DVec3],
    vq: &[SignedPoint],
    coarse: &[(f64, DVec3, SignedPoint, f64)],
    y: &SignedIndex,
    h0: f64,
    total_area: f64,
    opts: &CompareOptions,
) -> f64 {
    if x.triangles.is_empty() || total_area <= 0.0 {
        return h0;
    }
    let target = opts.target_samples.max(1) as f64;
    let per_sample = total_area / target;
    let spacing = (4.0 * total_area / (3f64.sqrt() * target)).sqrt();
    // (lower, upper) bound of |d| over each triangle, its longest edge, its split.
    let bounds: Vec<(f64, f64, usize)> = x
        .triangles
        .par_iter()
        .zip(coarse)
        .map(|(t, &(area, _, _, _))| {
            let c: Tri = t.map(|i| vpos[i as usize]);
            let d = t.map(|i| vq[i as usize].distance.abs());
            let longest = (0..3)
                .map(|i| (c[(i + 1) % 3] - c[i]).length())
                .fold(0.0, f64::max);
            // Every point of a triangle lies within its covering radius (the circumradius
            // if acute, else at most half the longest edge; both ≤ longest / √3) of a
            // corner, and within `longest` of every corner: two valid intervals.
            let (dmin, dmax) = (d[0].min(d[1]).min(d[2]), d[0].max(d[1]).max(d[2]));
            let cover = longest / 3f64.sqrt();
            let lo = (dmax - longest).max(dmin - cover);
            let hi = (dmin + longest).min(dmax + cover);
            let by_area = (area / per_sample).sqrt().round();
            let by_edge = (longest / (3.0 * spacing)).ceil();
            let k = (by_area.max(by_edge) as usize).clamp(1, 256);
            (lo, hi, k)
        })
        .collect();
    let goal = total_area * opts.percentile / 100.0;
    let mut margin = (1e-3f64).max(0.01 * h0.abs());
    loop {
        let all = margin.is_infinite();
        let near = |b: &(f64, f64, usize)| all || (b.0 <= h0 + margin && b.1 >= h0 - margin);
        // Triangles away from the window: their whole area on their side of it.
        let mut below = 0.0;
        for (b, c) in bounds.iter().zip(coarse) {
            if !near(b) && b.1 < h0 - margin {
                below += c.0;
            }
        }
        let refined: Vec<(f64, f64)> = (0..x.triangles.len())
            .into_par_iter()
            .filter(|&t| near(&bounds[t]))
            .flat_map_iter(|t| {
                let tri = x.triangles[t];
                let c: Tri = tri.map(|i| vpos[i as usize]);
                let (area, k) = (coarse[t].0, bounds[t].2);
                let corner_w = area / (12.0 * (k * k) as f64);
                let hint = vq[tri[0] as usize].triangle;
                let corners: Vec<(f64, f64)> = tri
                    .iter()
                    .map(|&v| (vq[v as usize].distance.abs(), corner_w))
                    .collect();
                let mut hint = hint;
                let inner: Vec<(f64, f64)> = grid_points(c, area, k)
                    .map(|(p, wt)| {
                        let q = y.query_near(p, hint);
                        hint = q.triangle;
                        (q.distance.abs(), wt)
                    })
                    .collect();
                corners.into_iter().chain(inner)
            })
            .collect();
        let mut refined = refined;
        refined.par_sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let h = step_percentile(&refined, goal - below);
        if all || (h >= h0 - margin && h <= h0 + margin) {
            return h;
        }
        margin *= 2.0;
        if margin > 64.0 * (1e-3f64).max(0.01 * h0.abs()) {
            margin = f64::INFINITY;
        }
    }
}

struct Unsigned<'a>(&'a SignedIndex);

impl Field for Unsigned<'_> {
    fn eval(&self, x: DVec3, hint: u32) -> (f64, u32) {
        let q = self.0.query_near(x, hint);
        (q.distance.abs(), q.triangle)
    }
    fn dist_to(&self, b: u32, x: DVec3) -> f64 {
        self.0.triangle_distance(b, x)
    }
}

/// Statistics of `x` against `y`, and the per-vertex signed distances of `x`.
fn directed(x: &Mesh, y: &SignedIndex, opts: &CompareOptions) -> (DirectedStats, Vec<f64>) {
    let vpos: Vec<DVec3> = x.positions.iter().map(|p| p.as_dvec3()).collect();
    let used = used_vertices(x);
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
    order.extend((0..vpos.len() as u32).filter(|&v| !used[v as usize]));
    let nv = order.len();
    let vpts: Vec<DVec3> = order.iter().map(|&v| vpos[v as usize]).collect();
    let answers = y.query_many(&vpts);
    let mut vq = vec![answers[0]; vpos.len()];
    for (i, &v) in order.iter().enumerate() {
        vq[v as usize] = answers[i];
    }
    // 2. Every triangle's centroid (warm-started from its first corner's answer), and how
    //    far it lies from the corners' linear interpolant: the refinement indicator.
    let tau = opts.quadrature_tolerance_mm;
    let coarse: Vec<(f64, DVec3, SignedPoint, f64)> = x
        .triangles
        .par_iter()
        .map(|t| {
            let c: Tri = t.map(|i| vpos[i as usize]);
            let area = 0.5 * normal(&c).length();
            let centroid = c[0] + (c[1] - c[0]) * (1.0 / 3.0) + (c[2] - c[0]) * (1.0 / 3.0);
            let q = y.query_near(centroid, vq[t[0] as usize].triangle);
            let d = t.map(|i| vq[i as usize].distance);
            let lin = (d[0] + d[1] + d[2]) / 3.0;
            let lin_abs = (d[0].abs() + d[1].abs() + d[2].abs()) / 3.0;
            let delta = (q.distance - lin)
                .abs()
                .max((q.distance.abs() - lin_abs).abs());
            (area, centroid, q, delta)
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
    let total: f64 = coarse.iter().map(|c| (want(c.3) as f64).powi(2)).sum();
    let scale = if total > opts.target_samples.max(1) as f64 {
        (opts.target_samples.max(1) as f64 / total).sqrt()
    } else {
        1.0
    };
    let split: Vec<(f64, usize)> = coarse
        .iter()
        .map(|&(area, _, _, delta)| {
            let k = want(delta);
            let k = if scale < 1.0 {
                ((k as f64 * scale).floor() as usize).max(1)
            } else {
                k
            };
            (area, k)
        })
        .collect();
    let quad_error: f64 = coarse
        .iter()
        .zip(&split)
        .map(|(&(area, _, _, delta), &(_, k))| 0.75 * area * delta / (k * k) as f64)
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
    let fine: Vec<(DVec3, f64)> = split
        .par_iter()
        .enumerate()
        .flat_map_iter(|(t, &(area, k))| {
            let c: Tri = x.triangles[t].map(|i| vpos[i as usize]);
            (k > 1)
                .then(|| grid_points(c, area, k))
                .into_iter()
                .flatten()
        })
        .collect();
    let fine_pts: Vec<DVec3> = fine.iter().map(|f| f.0).collect();
    let fine_q = y.query_many(&fine_pts);
    let mut samples: Vec<(DVec3, f64)> = Vec::with_capacity(nv + fine.len() + split.len());
    let mut sd: Vec<f64> = Vec::with_capacity(samples.capacity());
    let mut pts: Vec<DVec3> = Vec::with_capacity(samples.capacity());
    for (i, &v) in order.iter().enumerate() {
        let w = if i < nu { vertex_w[v as usize] } else { 0.0 };
        samples.push((vpos[v as usize], w));
        sd.push(answers[i].distance);
        pts.push(vpos[v as usize]);
    }
    let mut next = 0usize;
    for (&(area, centroid, q, _), &(_, k)) in coarse.iter().zip(&split) {
        if k == 1 {
            samples.push((centroid, 0.75 * area));
            sd.push(q.distance);
            pts.push(centroid);
        } else {
            let n = (k + 1) * (k + 2) / 2 - 3 + k * k;
            for i in next..next + n {
                samples.push(fine[i]);
                sd.push(fine_q[i].distance);
                pts.push(fine[i].0);
            }
            next += n;
        }
    }
    debug_assert_eq!(next, fine.len());
    // Ordered sums over fixed chunks: the same at any thread count.
    let sums: Vec<(f64, f64, f64, f64)> = samples
        .par_chunks(4096)
        .zip(sd.par_chunks(4096))
        .map(|(s, d)| {
            s.iter().zip(d).fold((0.0, 0.0, 0.0, 0.0), |acc, (s, &d)| {
                (
                    acc.0 + s.1,
                    acc.1 + s.1 * d.abs(),
                    acc.2 + s.1 * d * d,
                    acc.3 + s.1 * d,
                )
            })
        })
        .collect();
    let (w, sa, s2, ss) = sums.iter().fold((0.0, 0.0, 0.0, 0.0), |a, b| {
        (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3)
    });
    let mut order: Vec<(f64, f64)> = sd
        .iter()
        .zip(&samples)
        .map(|(d, s)| (d.abs(), s.1))
        .collect();
    order.par_sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let goal = w * opts.percentile / 100.0;
    let coarse_pct = step_percentile(&order, goal);
    let pct = refine_percentile(x, &vpos, &vq, &coarse, y, coarse_pct, w, opts);
    // Directed Hausdorff: vertices and grid points, then certified branch and bound.
    let (mut start, mut start_p) = (0.0f64, vpos.first().copied().unwrap_or(DVec3::ZERO));
    for (i, (s, d)) in pts.iter().zip(&sd).enumerate() {
        if (nu..nv).contains(&i) {
            continue;
        }
        if d.abs() > start {
            start = d.abs();
            start_p = *s;
        }
    }
    let tris: Vec<(Tri, [f64; 3], [u32; 3])> = x
        .triangles
        .iter()
        .map(|t| {
            (
                t.map(|i| vpos[i as usize]),
                t.map(|i| vq[i as usize].distance.abs()),
                t.map(|i| vq[i as usize].triangle),
            )
        })
        .collect();
    let m = maximize(
        &Unsigned(y),
        &tris,
        start,
        start_p,
        opts.hausdorff_tolerance_mm,
        opts.max_hausdorff_evaluations,
    );
    let stats = DirectedStats {
        samples: samples.len() - (nv - nu),
        area_mm2: w,
        max_mm: m.value,
        max_at: m.point.to_array(),
        max_certified_mm: m.gap,
        hd95_mm: pct,
        mean_mm: if w > 0.0 { sa / w } else { 0.0 },
        rms_mm: if w > 0.0 { (s2 / w).sqrt() } else { 0.0 },
        signed_mean_mm: (y.solid() && w > 0.0).then(|| ss / w),
        quadrature_error_mm: if w > 0.0 { quad_error / w } else { 0.0 },
        budget_reached: scale < 1.0,
    };
    (stats, vq.iter().map(|q| q.distance).collect())
}
