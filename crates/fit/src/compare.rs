//! Surface deviation between two meshes, both ways: "printed (scanned) part vs plan" and
//! "mesh vs reference".
//!
//! In: meshes `a` and `b` (millimetres) and [`CompareOptions`]. Out: a [`CompareReport`].
//!
//! Definitions (each direction X → Y, then combined):
//! * **Samples**: every triangle of X is split into `k²` congruent sub-triangles, `k` the
//!   rounded square root of its area over `A / n` (`A` the area of X, `n` =
//!   [`CompareOptions::target_samples`]; at least 1, and at least its longest edge over
//!   three sample spacings, so slivers are cut along their length). Each sub-triangle is
//!   integrated with the degree-2 rule "3/4 of its area at its centroid, 1/12 at each
//!   corner" (exact for quadratic functions); corners shared by sub-triangles (the mesh's
//!   vertices, the grid points of split triangles) are one sample with the summed weight.
//!   X gets about `max(n, triangles)` centroids plus its vertices and grid points. The
//!   statistics below are therefore area-weighted integrals over the surface of X, not
//!   vertex averages, and do not depend on how unevenly X is meshed.
//! * `d(x)`: the exact distance from a sample to the surface of Y; the signed version is
//!   negative inside Y (only when Y is a closed solid).
//! * **mean** `∫|d| dA / A`, **rms** `sqrt(∫d² dA / A)`, **signed mean** `∫d dA / A`, **HD95**
//!   the smallest `h` with `∫_{|d| ≤ h} dA ≥ 0.95 A` (area-weighted percentile of the
//!   samples).
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
use crate::signed::SignedIndex;
use crate::FitError;

/// Options of [`compare`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct CompareOptions {
    /// About how many sub-triangles (centroid samples) per mesh; at least one per
    /// triangle, plus the vertices and grid corners (see the module docs).
    pub target_samples: usize,
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
    let w = ab.area_mm2 + ba.area_mm2;
    let (mean, rms) = if w > 0.0 {
        (
            (ab.mean_mm * ab.area_mm2 + ba.mean_mm * ba.area_mm2) / w,
            ((ab.rms_mm.powi(2) * ab.area_mm2 + ba.rms_mm.powi(2) * ba.area_mm2) / w).sqrt(),
        )
    } else {
        (0.0, 0.0)
    };
    Ok(CompareReport {
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
    let mut slot = vec![u32::MAX; m.positions.len()];
    let mut vertices = Vec::new();
    let mut vertex_w: Vec<f64> = Vec::new();
    for (t, &(area, k)) in m.triangles.iter().zip(&split) {
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
        .flat_map_iter(|(t, &(area, k))| {
            let c: Tri = m.corners(t).map(|p| p.as_dvec3());
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
        })
        .collect();
    Quadrature {
        vertices,
        vertex_w,
        grid,
    }
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
    let quad = quadrature(x, opts.target_samples);
    let vpos: Vec<DVec3> = x.positions.iter().map(|p| p.as_dvec3()).collect();
    let used = used_vertices(x);
    // One list: used vertices in first-use order, then unused ones (weight 0, for the
    // map), then the grid points; neighbours warm-start each other.
    let mut pts: Vec<DVec3> = quad.vertices.iter().map(|&v| vpos[v as usize]).collect();
    let mut order: Vec<u32> = quad.vertices.clone();
    for (v, &u) in used.iter().enumerate() {
        if !u {
            pts.push(vpos[v]);
            order.push(v as u32);
        }
    }
    let nv = order.len();
    pts.extend(quad.grid.iter().map(|g| g.0));
    let answers = y.query_many(&pts);
    let mut vq = vec![answers[0]; vpos.len()];
    for (i, &v) in order.iter().enumerate() {
        vq[v as usize] = answers[i];
    }
    let samples: Vec<(DVec3, f64)> = quad
        .vertices
        .iter()
        .zip(&quad.vertex_w)
        .map(|(&v, &w)| (vpos[v as usize], w))
        .chain(
            order[quad.vertices.len()..]
                .iter()
                .map(|&v| (vpos[v as usize], 0.0)),
        )
        .chain(quad.grid.iter().copied())
        .collect();
    let sd: Vec<f64> = answers.iter().map(|q| q.distance).collect();
    debug_assert_eq!(samples.len(), sd.len());
    let nu = quad.vertices.len();
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
    let mut acc = 0.0;
    let mut pct = order.last().map_or(0.0, |o| o.0);
    for &(d, wt) in &order {
        acc += wt;
        if acc >= goal * (1.0 - 1e-12) {
            pct = d;
            break;
        }
    }
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
    };
    (stats, vq.iter().map(|q| q.distance).collect())
}
