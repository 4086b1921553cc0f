//! Error-bounded quadric edge-collapse decimation.
//!
//! In: a [`Mesh`] in millimetres (closed or open; non-manifold parts are tolerated and left
//! as they are) and [`DecimateOptions`]. Out: a new mesh with fewer triangles and a
//! [`DecimateReport`] whose deviations are *measured* on the result, not estimated.
//!
//! # Method
//!
//! Garland & Heckbert, *Surface Simplification Using Quadric Error Metrics* (SIGGRAPH 1997):
//! every vertex carries the area-weighted sum of the f64 plane quadrics of its triangles
//! (plus, on open meshes, planes through each boundary edge perpendicular to its triangle,
//! so borders keep their shape); every edge is collapsed to the point minimising the summed
//! quadric (a 3×3 solve; when it is ill-conditioned or the optimum lies far from the edge, the
//! best of the two endpoints and the midpoint), cheapest edge first.
//!
//! The order comes from sorted passes, as in meshoptimizer, rather than a priority queue:
//! all candidate edges sorted by (cost, vertices) — a total order, by a radix sort on the
//! cost — are swept once per pass;
//! an edge is skipped when one of its vertices already took part in a collapse of this pass
//! (its cost is stale), and a pass ends at 1.5 × the cost of the goal-th candidate once it
//! has done a sixth of the collapses still needed, which keeps the order close to greedy.
//! Between passes only the edges of the surviving vertices are planned again and merged in.
//! With a triangle target (`ratio`, `target_triangles`) each pass takes the list in blocks
//! of as many candidates as collapses are still needed, cheapest block first, and sweeps
//! each block in vertex order, so the vertices' data are visited in memory order rather
//! than at random (the input's vertex order is spatially coherent: marching cubes writes
//! it slab by slab); the order across blocks stays greedy. With an error bound alone the
//! sweep keeps the strict cost order.
//! An edge that failed a check is not tried again until a vertex of its neighbourhood
//! changes. One sweep is sequential (the initial quadrics, the initial plan and the final
//! measurement run in parallel with ordered results).
//!
//! **Two halves at once** (ratio and target modes, meshes of at least 20 000 triangles;
//! `Decimator::run_split`): the vertices are split at
//! the median of their coordinate along the longest axis of their box; the corners of the
//! triangles that cross the split, grown by two rings, form a band kept
//! in place while each half is decimated toward its triangles' share of the collapses,
//! the two sweeps side by side (the first on the decimator of the whole mesh, the second on
//! one built, on the other thread, over the triangles of its half and the band, with the
//! quadrics taken about the same centre); then the second is merged back and the sweep
//! goes on over the whole mesh, band included, to the target. The merge is exact: a
//! collapse changes only the triangles around its edge, whose corners are its vertices'
//! neighbours, and no collapsible vertex of one half ever neighbours the other half (its
//! neighbours start in its half or the band, and a collapse only hands the removed
//! vertex's neighbours to the survivor), so no triangle is changed by both sweeps. The
//! quadrics carry over into the run over the whole (the order of the collapses, hence the
//! result, differs from one sweep's).
//! Split or not depends on the mesh and the options alone, so the output is byte-identical
//! whatever the thread count. The error-bounded mode keeps one sweep: its proofs follow
//! every input vertex through the collapses of the whole mesh.
//!
//! Checking the next candidates of the sweep in parallel and
//! committing them in order (re-checking those whose neighbourhood an earlier commit
//! changed) would keep that output but does not pay: on the head CT bone mesh 98 % of
//! the candidates tried collapse, and 59 % of them have a vertex of their edge or link
//! changed by an earlier collapse within the same window of 64 candidates (71 % at 256,
//! 78 % at 1024), since the sweep visits neighbours one after the other.
//!
//! # Guarantees, checked on every collapse
//!
//! * **Topology.** The link condition (Dey, Edelsbrunner, Guha, Nekhayev 1999, with a virtual
//!   vertex joined to the boundary) on the vertex fans: no non-manifold edge or vertex is
//!   created, no hole is opened or closed, a closed mesh stays closed and every component
//!   keeps its genus; a component is never collapsed below a tetrahedron (or a single
//!   triangle). Vertices whose fan is not one consistently oriented disk or half-disk
//!   (non-manifold edges and vertices, winding conflicts, triangles with a repeated index)
//!   are frozen: no edge touching them collapses, so such input is processed, not rejected.
//! * **Geometry.** No triangle of the changed fan turns its normal by more than
//!   [`DecimateOptions::max_normal_turn_deg`] (default 80°, so never a flip), has zero area,
//!   or gets a shape quality `4√3·area / Σ edge²` (1 for equilateral) below both
//!   [`DecimateOptions::min_quality`] and its own quality before the collapse.
//! * **Boundary.** With `lock_boundary`, boundary vertices neither move nor disappear.
//! * **Error bound** (`max_error_mm = e`). Every input vertex is assigned to one current
//!   triangle within `e` of it (initially a triangle of its own fan). A collapse is accepted
//!   only if (a) every input vertex assigned to the fan it changes is within `e` of one of
//!   the new triangles (exact point–triangle distance, f64) — it is then reassigned to the
//!   nearest — and (b) every point of every new triangle is within `e` of the input
//!   surface. (b) is proven, not sampled. Every current triangle carries a proven bound
//!   `u ≤ e` on its distance to the input (0 for the input's own triangles), and the
//!   cheapest argument that applies is used:
//!   1. *Flat fan*: when the old and the new fan of the edge lie in one plane with every
//!      triangle keeping its orientation (exact predicates), both triangulate the same
//!      polygon, so the new triangles cover exactly the old ones' points and inherit
//!      their largest `u`.
//!   2. *Height field*: for an interior edge, when every old and new triangle faces the
//!      same way along the fans' mean normal `m` (with a margin far above rounding), both
//!      fans are disks over the same boundary cycle, so each new point lies above or
//!      below an old one, at most the spread of the corners' heights `p·m` away: the
//!      bound is that spread plus the old fan's largest `u`.
//!   3. *Old fan*: each new triangle is split into four until every piece is settled
//!      against one old triangle `q` (triangle inequality: `d(x, input) ≤ d(x, q) +
//!      u(q)`), by convexity (the distance to one triangle is a convex function, so a
//!      piece whose corners are within `e − u(q)` of `q` is) or by the Lipschitz bound
//!      (centroid within `e − u(q) − radius`), within 24 pieces.
//!   4. *Input*: a 6-fold grid of samples of the remaining triangles is checked first
//!      (any sample farther than `e` rejects the collapse cheaply); then the same
//!      subdivision against the input triangles themselves, breadth first, with the input
//!      triangles that settled the last pieces tried before a search of the
//!      [`DistanceIndex`]; a centroid farther than `e`, or more than 512 pieces, rejects
//!      the collapse (and an edge that ran out of pieces is not tried again).
//!
//!   Before 3 and 4 the new vertex, the centroids and the edge midpoints of the new
//!   triangles must be within `e` of the input (a necessary condition, cheap to refute).
//!   The report measures the result again after the fact.
//!
//! Cost: without an error bound, 10 % of the head CT bone mesh (157 k triangles) takes
//! 1.20–1.28 × the time of `fast-simplification` on the 2-core machine with the two halves
//! at once (0.177–0.194 s against 0.147–0.152 s; one sweep: 0.269–0.283 s; min of 3 per
//! round, 4 rounds, same run, load 1.6–2; at higher load the ratio was 1.06–1.16), and 10 %
//! of the 2.56 M-triangle SkullBreak skull 0.99–1.02 × (2.83–2.95 s against 2.86–2.88 s,
//! best of 3 each; one sweep 4.08–4.23 s). The halves are uneven work (on the head one
//! takes 15–35 % longer than the other), and the band's collapses (2 % of them on the head)
//! take 0.016–0.019 s, in the sweep over the whole; building the second half's decimator
//! takes 5 ms on its thread (its vertices off the band take the whole decimator's flags and
//! quadrics; analysing them again took 12 ms). The result is not one sweep's: the order of
//! the collapses differs. At 10 % the mean deviations match one
//! sweep's, the maximum deviations may not (head and bone phantom equal, VTK headsq
//! 5.09 mm against 3.92 mm; volume change on the head −0.73 % against −0.62 %).
//! Without the self-intersection guard a sweep takes about half the time (sampled on the
//! head: the guard is a third of the CPU time, half of it in the exact triangle tests of
//! the 18 % of checks whose fans are not all settled, half in reading the fans of the
//! link). Copying the whole decimator for the second half (a first version) cost 12 ms on
//! the head, mostly page faults; an earlier try at halves was judged under load, with the
//! second core busy. Where the time of one sweep goes (head, 10 %, one thread ≈ 0.39 s of
//! CPU with the file read): the passes do 32 k, 20 k, 10 k, 5.5 k and 3 k collapses at
//! 2.4 → 6.4 µs per attempt, the share of crossing checks with an unsettled fan growing
//! from 8 % to 47 % (770 k new/near triangle pairs in all, 250 k of them with overlapping
//! boxes, 80 k past the plane test to the full triangle test); re-planning between passes is ≈ 15 % of the
//! time, setup and first plan ≈ 20 %. Also tried and dropped, each with byte-identical
//! output: a per-vertex cache of each fan's summed normal with a lower bound on every
//! normal's component along it (moved at each collapse through the cone the normals lie
//! in), which settled 92 % of the 510 k link fans without reading them, yet cost 7–10 %
//! more (its square roots and updates outweigh the fan reads it saves); reading the near
//! triangles' corners and boxes once per check and a plane test with the plane computed
//! once per new triangle (an f64 filter before the exact `o3`): 0–2 % less CPU time, within
//! the noise of the shared machine; the input's genus computed beside the sweep (no
//! measurable gain); a looser pass bound (the pass count stays 5: the one-collapse-per-
//! vertex rule, not the cost bound, ends the passes). With
//! `max_error_mm`, the proofs of argument 4 dominate (each takes up to
//! 512 distance queries); the bound is conservative where the surface is far from flat at
//! the scale of `e` (open flat borders, sharp creases), where fewer collapses are accepted
//! than a sampled check would.
//!
//! Self-intersections (`prevent_self_intersections`, on by default): the checks above are
//! local, so a collapse can push the surface through itself. Every crossing seen on the
//! head CT bone mesh without a guard (67 triangles at 10 %) was between triangles sharing
//! a vertex or one edge apart, so every collapse is first checked against its
//! neighbourhood (`Decimator::crossing_ok`: fans that are height fields over their
//! summed normal are settled at once, the rest tested exactly, each pair first by the
//! side of one triangle's plane its other's corners lie on) and refused when a new
//! triangle would cross one there ([`DecimateReport::crossings_prevented`]). That check
//! is not a proof (distant sheets, e.g. both walls of a thin shell, are not looked at), so
//! the output is then searched as a whole (exactly, like [`crate::self_intersections`]);
//! when triangles still cross, decimation runs again from the input with every input
//! vertex that was merged into a corner of a crossing triangle kept in place (and the
//! triangle target raised by the input triangles among them, which stay), up to
//! [`MAX_RERUNS`] times. The 10 % head CT bone mesh needs no rerun (81 collapses refused,
//! 0 crossing triangles). What is left is reported in
//! [`DecimateReport::self_intersecting_faces`].
//! Positions are rounded to f32 before every check, so what is checked is what is written.

use std::cmp::Ordering;
use std::collections::HashMap;

use osteon_geom::{Aabb, Cancel, DVec3, FastHash, Progress, Vec3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::distance::{
    combine, directed_deviation, point_triangle_distance2, points_deviation, surface_samples,
    DistanceIndex,
};
use crate::{Mesh, MeshError};

/// Options of [`decimate`]. At least one stop criterion (`max_error_mm`,
/// `target_triangles`, `ratio`) is required; with several, decimation stops at whichever
/// is reached first and never exceeds `max_error_mm`.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecimateOptions {
    /// Largest allowed distance, mm, between the output and the input surfaces (both
    /// ways; see the module documentation for what is exact and what is sampled).
    pub max_error_mm: Option<f64>,
    /// Stop when the triangle count reaches this (or one below it).
    pub target_triangles: Option<usize>,
    /// Stop when the triangle count reaches this fraction of the input's, in `(0, 1]`.
    pub ratio: Option<f64>,
    /// Boundary vertices of open meshes never move nor disappear.
    pub lock_boundary: bool,
    /// Smallest shape quality `4√3·area / Σ edge²` a collapse may create, unless the
    /// triangle was already worse (default 0.05).
    pub min_quality: f64,
    /// Largest turn of a triangle's normal in one collapse, degrees (default 80).
    pub max_normal_turn_deg: f64,
    /// Measure the deviations of the result (default true). When false, the deviation
    /// fields of the report are NaN; for benchmarks and callers that measure themselves.
    pub measure: bool,
    /// Search the output for triangles that cross each other and, when there are some,
    /// decimate again keeping the regions that crossed (default true; see
    /// [`DecimateReport::self_intersecting_faces`]). When false the output is not searched.
    pub prevent_self_intersections: bool,
}

impl Default for DecimateOptions {
    fn default() -> Self {
        DecimateOptions {
            max_error_mm: None,
            target_triangles: None,
            ratio: None,
            lock_boundary: false,
            min_quality: 0.05,
            max_normal_turn_deg: 80.0,
            measure: true,
            prevent_self_intersections: true,
        }
    }
}

impl DecimateOptions {
    /// Sets [`DecimateOptions::max_error_mm`].
    pub fn max_error_mm(mut self, v: Option<f64>) -> Self {
        self.max_error_mm = v;
        self
    }
    /// Sets [`DecimateOptions::target_triangles`].
    pub fn target_triangles(mut self, v: Option<usize>) -> Self {
        self.target_triangles = v;
        self
    }
    /// Sets [`DecimateOptions::ratio`].
    pub fn ratio(mut self, v: Option<f64>) -> Self {
        self.ratio = v;
        self
    }
    /// Sets [`DecimateOptions::lock_boundary`].
    pub fn lock_boundary(mut self, v: bool) -> Self {
        self.lock_boundary = v;
        self
    }
    /// Sets [`DecimateOptions::min_quality`].
    pub fn min_quality(mut self, v: f64) -> Self {
        self.min_quality = v;
        self
    }
    /// Sets [`DecimateOptions::max_normal_turn_deg`].
    pub fn max_normal_turn_deg(mut self, v: f64) -> Self {
        self.max_normal_turn_deg = v;
        self
    }
    /// Sets [`DecimateOptions::measure`].
    pub fn measure(mut self, v: bool) -> Self {
        self.measure = v;
        self
    }
    /// Sets [`DecimateOptions::prevent_self_intersections`].
    pub fn prevent_self_intersections(mut self, v: bool) -> Self {
        self.prevent_self_intersections = v;
        self
    }

    /// Checks every value; [`MeshError::InvalidOption`] names the first bad one.
    pub fn validate(&self) -> Result<(), MeshError> {
        if self.max_error_mm.is_none() && self.target_triangles.is_none() && self.ratio.is_none() {
            return Err(MeshError::InvalidOption(
                "decimation needs a stop criterion: max_error_mm, target_triangles or ratio".into(),
            ));
        }
        if let Some(e) = self.max_error_mm {
            if !(e.is_finite() && e > 0.0) {
                return Err(MeshError::InvalidOption(format!(
                    "max_error_mm must be a positive number of millimetres, not {e}"
                )));
            }
        }
        if let Some(r) = self.ratio {
            if !(r > 0.0 && r <= 1.0) {
                return Err(MeshError::InvalidOption(format!(
                    "ratio must be in (0, 1], not {r}"
                )));
            }
        }
        if !(self.min_quality >= 0.0 && self.min_quality <= 1.0) {
            return Err(MeshError::InvalidOption(format!(
                "min_quality must be in [0, 1], not {}",
                self.min_quality
            )));
        }
        if !(self.max_normal_turn_deg > 0.0 && self.max_normal_turn_deg < 180.0) {
            return Err(MeshError::InvalidOption(format!(
                "max_normal_turn_deg must be in (0, 180), not {}",
                self.max_normal_turn_deg
            )));
        }
        Ok(())
    }
}

/// What [`decimate`] did and the error it introduced (measured on the result).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecimateReport {
    /// Triangles of the input.
    pub triangles_before: usize,
    /// Triangles of the output.
    pub triangles_after: usize,
    /// Vertices of the input.
    pub vertices_before: usize,
    /// Vertices of the output (unreferenced input vertices are dropped).
    pub vertices_after: usize,
    /// Edge collapses performed.
    pub collapses: usize,
    /// Sorted passes over the candidate edges (see the module documentation); with two
    /// halves at once, the passes of the half that needed more, plus those of the run over
    /// the whole.
    pub passes: usize,
    /// The error bound asked for, mm.
    pub max_error_mm: Option<f64>,
    /// Measured symmetric deviation: the larger of the two directions below, mm.
    pub max_deviation_mm: f64,
    /// Mean over the samples of both directions, mm.
    pub mean_deviation_mm: f64,
    /// Largest distance from a sample of the output (every vertex and a 4-fold barycentric
    /// grid per triangle) to the input surface, mm.
    pub max_deviation_output_to_input_mm: f64,
    /// Mean of those distances, mm.
    pub mean_deviation_output_to_input_mm: f64,
    /// Largest distance from an input vertex to the output surface, mm.
    pub max_deviation_input_to_output_mm: f64,
    /// Mean of those distances, mm.
    pub mean_deviation_input_to_output_mm: f64,
    /// Signed volume of the input, mm³.
    pub volume_before_mm3: f64,
    /// Signed volume of the output, mm³.
    pub volume_after_mm3: f64,
    /// `100 · (after − before) / |before|` (0 when the input has no volume).
    pub volume_change_pct: f64,
    /// Genus of the input (when closed, manifold and oriented).
    pub genus_before: Option<i64>,
    /// Genus of the output.
    pub genus_after: Option<i64>,
    /// Vertices left untouched because their fan is not a clean disk (non-manifold,
    /// inconsistently wound or degenerate input).
    pub frozen_vertices: usize,
    /// Boundary vertices kept in place by `lock_boundary`.
    pub locked_boundary_vertices: usize,
    /// Triangles of the output that cross another one. Each collapse is checked against
    /// its neighbourhood (`crossings_prevented`), but distant sheets can still be pushed
    /// through each other; when that happens the
    /// decimation runs again with the input vertices merged into the crossing triangles'
    /// corners kept (`intersection_reruns`), so this is 0 unless the input itself crosses
    /// or the reruns ran out; `None` when not searched
    /// ([`DecimateOptions::prevent_self_intersections`] off).
    #[serde(default)]
    pub self_intersecting_faces: Option<usize>,
    /// Runs repeated because the output crossed itself (at most [`MAX_RERUNS`]).
    #[serde(default)]
    pub intersection_reruns: usize,
    /// Input vertices kept in place by those reruns.
    #[serde(default)]
    pub kept_for_intersections: usize,
    /// Collapse attempts refused because a new triangle would have crossed one near it
    /// (the local check run on every collapse when `prevent_self_intersections` is on;
    /// summed over the runs).
    #[serde(default)]
    pub crossings_prevented: usize,
    /// Why decimation stopped: `"target"` (the triangle count was reached), `"max-error"`
    /// (every remaining collapse would break the error bound or a constraint) or
    /// `"no-valid-collapse"` (no collapse left that keeps the constraints).
    pub stopped_by: String,
}

/// Decimates `mesh` by quadric edge collapses under the constraints and the error bound
/// described in the [module documentation](self).
///
/// Errors: [`MeshError::InvalidOption`] without a stop criterion or with an out-of-range
/// value, [`MeshError::Empty`] for a mesh without triangles, [`MeshError::Cancelled`], and
/// the errors of [`Mesh::validate`].
///
/// ```
/// use osteon_mesh::decimate::{decimate, DecimateOptions};
/// use osteon_geom::{NeverCancel, NoProgress, Vec3};
/// // A 10 × 10 grid of a flat square: decimates to a handful of triangles.
/// let n = 10u32;
/// let p = (0..=n).flat_map(|j| (0..=n).map(move |i| Vec3::new(i as f32, j as f32, 0.0)));
/// let idx = |i: u32, j: u32| j * (n + 1) + i;
/// let t = (0..n).flat_map(|j| (0..n).flat_map(move |i| {
///     [[idx(i, j), idx(i + 1, j), idx(i + 1, j + 1)], [idx(i, j), idx(i + 1, j + 1), idx(i, j + 1)]]
/// }));
/// let square = osteon_mesh::Mesh::new(p.collect(), t.collect()).unwrap();
/// let opts = DecimateOptions::default().max_error_mm(Some(0.01));
/// let (out, rep) = decimate(&square, &opts, &NoProgress, &NeverCancel).unwrap();
/// assert!(out.triangles.len() <= 8 && rep.max_deviation_mm < 1e-5);
/// ```
pub fn decimate(
    mesh: &Mesh,
    opts: &DecimateOptions,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<(Mesh, DecimateReport), MeshError> {
    opts.validate()?;
    mesh.validate()?;
    if mesh.triangles.is_empty() {
        return Err(MeshError::Empty);
    }
    if mesh.triangles.len() > (u32::MAX as usize - 3) / 3 {
        return Err(MeshError::TooManyVertices(3 * mesh.triangles.len()));
    }
    let n_before = mesh.triangles.len();
    let mut target = 0usize;
    if let Some(t) = opts.target_triangles {
        target = target.max(t);
    }
    if let Some(r) = opts.ratio {
        target = target.max((r * n_before as f64).round() as usize);
    }

    let index = match opts.max_error_mm {
        Some(_) => Some(DistanceIndex::new(mesh)?),
        None => None,
    };
    let mut keep = vec![false; mesh.positions.len()];
    let mut reruns = 0usize;
    let mut crossings_prevented = 0usize;
    let (d, out, stopped_by, crossing, frozen_vertices, genus_before) = loop {
        let mut d = Decimator::new(mesh, opts, index.as_ref());
        // Vertices frozen by their own fan, before any kept for crossings.
        let frozen_vertices = d.flags.iter().filter(|&&f| f & FROZEN != 0).count();
        let genus_before = genus_with_flags(mesh, &d.flags);
        for (f, &k) in d.flags.iter_mut().zip(&keep) {
            if k {
                *f |= KEPT;
            }
        }
        // The triangles of the regions kept for crossings stay as they are: the target
        // counts them on top, instead of taking them out of the rest of the mesh (at 2 %
        // the rest was crushed: a 32 k-triangle part of the bone phantom to a tetrahedron).
        let kept_triangles = if reruns == 0 {
            0
        } else {
            mesh.triangles
                .iter()
                .filter(|t| t.iter().all(|&v| keep[v as usize]))
                .count()
        };
        let target = target + kept_triangles;
        let stopped_by = if opts.max_error_mm.is_none() && n_before >= SPLIT_MIN_TRIANGLES {
            d.run_split(opts, target, progress, cancel)?
        } else {
            d.run(target, progress, cancel)?
        };
        crossings_prevented += d.crossings_prevented;
        let (out, sources) = d.output_with_sources();
        if !opts.prevent_self_intersections {
            break (d, out, stopped_by, None, frozen_vertices, genus_before);
        }
        let crossing = crate::self_intersect::self_intersections(&out).faces;
        if crossing.is_empty() || reruns == MAX_RERUNS {
            break (
                d,
                out,
                stopped_by,
                Some(crossing),
                frozen_vertices,
                genus_before,
            );
        }
        // Keep, next time, every input vertex merged into a corner of a crossing triangle:
        // those regions stay as they were in the input.
        let mut hit = vec![false; mesh.positions.len()];
        for &f in &crossing {
            for o in out.triangles[f as usize] {
                hit[sources[o as usize] as usize] = true;
            }
        }
        let before = keep.iter().filter(|&&k| k).count();
        for (v, k) in keep.iter_mut().enumerate() {
            if hit[d.survivor(v as u32) as usize] {
                *k = true;
            }
        }
        if keep.iter().filter(|&&k| k).count() == before {
            // Nothing new to keep: the crossing is in the input itself.
            break (
                d,
                out,
                stopped_by,
                Some(crossing),
                frozen_vertices,
                genus_before,
            );
        }
        reruns += 1;
    };
    let locked_boundary_vertices = d.flags.iter().filter(|&&f| f & PINNED != 0).count();
    let genus_after = genus_with_flags(&out, &vertex_flags(&out));
    let volume_before_mm3 = mesh.signed_volume();
    let volume_after_mm3 = out.signed_volume();
    let volume_change_pct = if volume_before_mm3 != 0.0 {
        100.0 * (volume_after_mm3 - volume_before_mm3) / volume_before_mm3.abs()
    } else {
        0.0
    };

    let mut rep = DecimateReport {
        triangles_before: n_before,
        triangles_after: out.triangles.len(),
        vertices_before: mesh.positions.len(),
        vertices_after: out.positions.len(),
        collapses: d.collapses,
        passes: d.passes,
        max_error_mm: opts.max_error_mm,
        max_deviation_mm: f64::NAN,
        mean_deviation_mm: f64::NAN,
        max_deviation_output_to_input_mm: f64::NAN,
        mean_deviation_output_to_input_mm: f64::NAN,
        max_deviation_input_to_output_mm: f64::NAN,
        mean_deviation_input_to_output_mm: f64::NAN,
        volume_before_mm3,
        volume_after_mm3,
        volume_change_pct,
        genus_before,
        genus_after,
        frozen_vertices,
        locked_boundary_vertices,
        self_intersecting_faces: crossing.map(|c| c.len()),
        intersection_reruns: reruns,
        kept_for_intersections: keep.iter().filter(|&&k| k).count(),
        crossings_prevented,
        stopped_by: stopped_by.to_string(),
    };
    if opts.measure && !out.triangles.is_empty() {
        progress.begin("measure deviation", 2);
        let input_index = match index {
            Some(i) => i,
            None => DistanceIndex::new(mesh)?,
        };
        let out_index = DistanceIndex::new(&out)?;
        let o2i = directed_deviation(&out, &input_index, 4);
        progress.advance(1);
        let i2o = points_deviation(&surface_samples(mesh, 1), &out_index);
        progress.advance(1);
        progress.finish();
        let dev = combine(o2i, i2o);
        rep.max_deviation_mm = dev.max_mm;
        rep.mean_deviation_mm = dev.mean_mm;
        rep.max_deviation_output_to_input_mm = o2i.max_mm;
        rep.mean_deviation_output_to_input_mm = o2i.mean_mm;
        rep.max_deviation_input_to_output_mm = i2o.max_mm;
        rep.mean_deviation_input_to_output_mm = i2o.mean_mm;
    }
    Ok((out, rep))
}

/// The [`analyse_vertex`] flags of every vertex of `m` (no boundary lock).
fn vertex_flags(m: &Mesh) -> Vec<u8> {
    let nv = m.positions.len();
    let mut fans: Vec<Vec<u32>> = vec![Vec::new(); nv];
    for (ti, t) in m.triangles.iter().enumerate() {
        for (k, &i) in t.iter().enumerate() {
            if !t[..k].contains(&i) {
                fans[i as usize].push(ti as u32);
            }
        }
    }
    let center = m
        .bounds()
        .map(|b| (b.min + b.max).as_dvec3() * 0.5)
        .unwrap_or(DVec3::ZERO);
    fans.par_iter()
        .enumerate()
        .with_min_len(1024)
        .map_init(Vec::new, |link, (v, fan)| {
            analyse_vertex(
                v as u32,
                fan,
                &m.triangles,
                &m.positions,
                center,
                false,
                link,
            )
            .0
        })
        .collect()
}

/// Genus of `m` given its vertex flags: when every referenced vertex's fan is one
/// consistently oriented closed disk, the mesh is a closed oriented 2-manifold and the
/// genus summed over components is `(2C − χ)/2` with `χ = V − E + F`, `E = 3F/2` and `C`
/// the components (union-find over the edges); a boundary vertex means no genus; anything
/// else (non-manifold, inconsistent) is left to [`genus`].
fn genus_with_flags(m: &Mesh, flags: &[u8]) -> Option<i64> {
    if flags.iter().any(|&f| f & FROZEN != 0) {
        return genus(m);
    }
    if flags.iter().any(|&f| f & BOUNDARY != 0) {
        return None;
    }
    let nv = m.positions.len();
    let mut uf = crate::topology::UnionFind::new(nv);
    for t in &m.triangles {
        uf.union(t[0], t[1]);
        uf.union(t[1], t[2]);
    }
    let mut v = 0i64;
    let mut c = 0i64;
    for (i, &f) in flags.iter().enumerate().take(nv) {
        if f & DEAD == 0 {
            v += 1;
            c += i64::from(uf.find(i as u32) == i as u32);
        }
    }
    let f = m.triangles.len() as i64;
    if f % 2 != 0 {
        return None;
    }
    let chi = v - 3 * f / 2 + f;
    let twice = 2 * c - chi;
    (twice >= 0 && twice % 2 == 0).then_some(twice / 2)
}

/// Genus of a closed, manifold, oriented mesh (sum over components), else `None`.
fn genus(m: &Mesh) -> Option<i64> {
    let t = crate::Topology::new(m).ok()?;
    if t.boundary_edges() > 0
        || t.nonmanifold_edges() > 0
        || t.nonmanifold_vertices() > 0
        || t.inconsistent_edges() > 0
    {
        return None;
    }
    t.components().iter().try_fold(0i64, |g, c| {
        let twice = 2 - c.euler_characteristic();
        (twice >= 0 && twice % 2 == 0).then_some(g + twice / 2)
    })
}

// Vertex flags.
const FROZEN: u8 = 1;
const PINNED: u8 = 2;
const BOUNDARY: u8 = 4;
const DEAD: u8 = 8;
/// Kept in place (like FROZEN) because the previous run pushed its region through another
/// sheet of the surface.
const KEPT: u8 = 16;

/// Below this many collapses to go, a pass is not cut short by the cost bound.
const TAIL_COLLAPSES: usize = 256;

/// How many times [`decimate`] runs again when its output crosses itself.
pub const MAX_RERUNS: usize = 3;

/// Meshes with at least this many triangles are decimated in two halves at once before the
/// run over the whole (ratio and target modes; see [`Decimator::run_split`]).
const SPLIT_MIN_TRIANGLES: usize = 20_000;

/// Rings of vertices around the split that stay in place while the halves run.
const SPLIT_BAND_RINGS: usize = 2;

/// Forwards only the advances of a run to the caller's progress (the halves run at once).
struct Forward<'p>(&'p dyn Progress);

impl Progress for Forward<'_> {
    fn advance(&self, units: u64) {
        self.0.advance(units);
    }
}

const NONE: u32 = u32::MAX;
/// The doubled-area normal of a triangle.
#[inline]
fn tri_normal(c: [Vec3; 3]) -> Vec3 {
    (c[1] - c[0]).cross(c[2] - c[0])
}

/// True when every one of the (doubled-area) `normals` points to the same side as their
/// sum (strictly).
#[inline]
fn fan_one_way(normals: &[DVec3]) -> bool {
    let m: DVec3 = normals.iter().copied().sum();
    normals.iter().all(|n| n.dot(m) > 0.0)
}

/// True when every corner of `u` that is no corner of `t` (by coordinates) lies strictly
/// on one side of `t`'s plane (exact), and there is one: the triangles then meet at most
/// in the corners they share, so
/// [`triangles_intersect`](crate::self_intersect::triangles_intersect) would say false.
/// Three filtered orientation tests: a cheap first look before that full test, which
/// also checks both triangles for zero area (9 more exact tests).
#[inline]
fn off_plane(t: &[Vec3; 3], u: &[Vec3; 3]) -> bool {
    let w = |p: Vec3| [p.x as f64, p.y as f64, p.z as f64];
    let a = [w(t[0]), w(t[1]), w(t[2])];
    let mut side = 0i8;
    for p in u {
        if t.contains(p) {
            continue;
        }
        let o = crate::self_intersect::o3(&a[0], &a[1], &a[2], &w(*p));
        if o == 0 || (side != 0 && o != side) {
            return false;
        }
        side = o;
    }
    side != 0
}

/// `a.map(f)` for three elements, written out: in the sweep's hot loops the generic
/// array `map` was left as an out-of-line call.
#[inline(always)]
fn map3<T: Copy, U>(a: [T; 3], mut f: impl FnMut(T) -> U) -> [U; 3] {
    [f(a[0]), f(a[1]), f(a[2])]
}

/// Weight of the boundary-edge planes relative to face planes (meshoptimizer and Garland's
/// thesis use a large constant so borders are kept first).
const BOUNDARY_WEIGHT: f64 = 10.0;

/// Symmetric 4×4 quadric, upper triangle: a², ab, ac, ad, b², bc, bd, c², cd, d².
#[derive(Clone, Copy, Debug, Default)]
struct Quadric([f64; 10]);

impl Quadric {
    fn plane(n: DVec3, d: f64, w: f64) -> Quadric {
        let (a, b, c) = (n.x, n.y, n.z);
        Quadric([
            w * a * a,
            w * a * b,
            w * a * c,
            w * a * d,
            w * b * b,
            w * b * c,
            w * b * d,
            w * c * c,
            w * c * d,
            w * d * d,
        ])
    }
    fn add(&mut self, o: &Quadric) {
        for (a, b) in self.0.iter_mut().zip(o.0.iter()) {
            *a += b;
        }
    }
    fn sum(&self, o: &Quadric) -> Quadric {
        let mut q = *self;
        q.add(o);
        q
    }
    fn eval(&self, p: DVec3) -> f64 {
        let q = &self.0;
        let (x, y, z) = (p.x, p.y, p.z);
        let v = q[0] * x * x
            + 2.0 * q[1] * x * y
            + 2.0 * q[2] * x * z
            + 2.0 * q[3] * x
            + q[4] * y * y
            + 2.0 * q[5] * y * z
            + 2.0 * q[6] * y
            + q[7] * z * z
            + 2.0 * q[8] * z
            + q[9];
        v.max(0.0)
    }
    /// The minimiser, when the 3×3 part is well-conditioned.
    fn optimum(&self) -> Option<DVec3> {
        let q = &self.0;
        let (a, b, c, d, e, f) = (q[0], q[1], q[2], q[4], q[5], q[7]);
        // Cofactors of [[a b c] [b d e] [c e f]].
        let c00 = d * f - e * e;
        let c01 = c * e - b * f;
        let c02 = b * e - c * d;
        let det = a * c00 + b * c01 + c * c02;
        let tr = a + d + f;
        // Relative determinant: 1 for an isotropic quadric, ~0 when a direction is free
        // (flat or cylindrical patches), where the minimiser is not unique.
        if tr.partial_cmp(&0.0) != Some(Ordering::Greater) || det.abs() < 1e-5 * (tr / 3.0).powi(3)
        {
            return None;
        }
        let c11 = a * f - c * c;
        let c12 = b * c - a * e;
        let c22 = a * d - b * b;
        let r = DVec3::new(-q[3], -q[6], -q[8]);
        let x = (c00 * r.x + c01 * r.y + c02 * r.z) / det;
        let y = (c01 * r.x + c11 * r.y + c12 * r.z) / det;
        let z = (c02 * r.x + c12 * r.y + c22 * r.z) / det;
        let p = DVec3::new(x, y, z);
        p.is_finite().then_some(p)
    }
}

enum Outcome {
    Collapsed,
    Topology,
    Geometry,
    Error,
}

/// The error-bound bookkeeping: input vertices assigned to current triangles through
/// intrusive singly linked lists (`head` per triangle, `next` per input vertex).
struct Bound<'a> {
    e: f64,
    input: &'a Mesh,
    index: &'a DistanceIndex,
    head: Vec<u32>,
    next: Vec<u32>,
    /// Scratch: input vertices of the region and their new triangle.
    region: Vec<(u32, u32)>,
    /// Slots of the input triangles that last covered a piece of a new triangle, most
    /// recent first (tried before a search of the hierarchy).
    recent: [u32; RECENT],
    /// Scratch queue of the subdivision in [`tri_within`].
    stack: std::collections::VecDeque<[DVec3; 3]>,
    /// Proven bound, mm, on the distance from every point of each current triangle to the
    /// input surface (0 for the input's own triangles).
    u: Vec<f64>,
    /// Scratch: the bounds of the new triangles of the collapse being checked.
    new_u: Vec<f64>,
    /// Scratch: corners and bounds of the triangles a collapse replaces.
    old: Vec<([DVec3; 3], f64)>,
    /// Scratch: new triangles left to prove against the input.
    pending: Vec<u32>,
    /// Set when [`tri_within`] runs out of pieces: the edge is then not tried again.
    gave_up: bool,
}

/// Spare slots given to every vertex fan beyond its initial valence, so that most
/// collapses grow the surviving fan in place.
const FAN_SLACK: u32 = 4;

/// Where one vertex fan lives in [`Fans::data`].
#[derive(Clone, Copy, Default)]
struct FanSpan {
    start: usize,
    len: u32,
    cap: u32,
}

/// The triangle fans of all vertices in one flat array: each fan is a contiguous run of
/// slots (its initial valence plus [`FAN_SLACK`]), so reading the fans of a neighbourhood
/// touches one array, in the input's vertex order, with no allocation per vertex. A fan
/// that outgrows its slots moves to the end of the array with twice the room. Order
/// within a fan is kept by every operation (as a `Vec` per vertex would).
struct Fans {
    span: Vec<FanSpan>,
    data: Vec<u32>,
}

impl Fans {
    /// The fans of `triangles` over `nv` vertices, each in triangle order (a repeated
    /// index appears once).
    fn new(nv: usize, triangles: &[[u32; 3]]) -> Self {
        Fans::of_live(nv, triangles, |_| true)
    }

    /// [`Fans::new`] over the live triangles of `triangles` only (ids kept).
    fn new_alive(nv: usize, triangles: &[[u32; 3]], alive: &[bool]) -> Self {
        Fans::of_live(nv, triangles, |t| alive[t])
    }

    fn of_live(nv: usize, triangles: &[[u32; 3]], live: impl Fn(usize) -> bool) -> Self {
        let mut span = vec![FanSpan::default(); nv];
        let each = || triangles.iter().enumerate().filter(|&(t, _)| live(t));
        for (_, t) in each() {
            for (k, &i) in t.iter().enumerate() {
                if !t[..k].contains(&i) {
                    span[i as usize].cap += 1;
                }
            }
        }
        let mut start = 0usize;
        for s in &mut span {
            s.start = start;
            s.cap += FAN_SLACK;
            start += s.cap as usize;
        }
        let mut data = vec![NONE; start];
        for (ti, t) in each() {
            for (k, &i) in t.iter().enumerate() {
                if !t[..k].contains(&i) {
                    let s = &mut span[i as usize];
                    data[s.start + s.len as usize] = ti as u32;
                    s.len += 1;
                }
            }
        }
        Fans { span, data }
    }

    fn len(&self) -> usize {
        self.span.len()
    }

    /// Keeps the triangles of fan `v` that `keep` accepts, in order.
    fn retain(&mut self, v: u32, mut keep: impl FnMut(u32) -> bool) {
        let s = &mut self.span[v as usize];
        let fan = &mut self.data[s.start..s.start + s.len as usize];
        let mut n = 0;
        for i in 0..fan.len() {
            let t = fan[i];
            if keep(t) {
                fan[n] = t;
                n += 1;
            }
        }
        s.len = n as u32;
    }

    /// Empties fan `v` into `out` (cleared first).
    fn take_into(&mut self, v: u32, out: &mut Vec<u32>) {
        out.clear();
        out.extend_from_slice(&self[v as usize]);
        self.span[v as usize].len = 0;
    }

    /// Appends `t` to fan `v`, moving the fan to the end of the array when it is full.
    fn push(&mut self, v: u32, t: u32) {
        let s = self.span[v as usize];
        if s.len == s.cap {
            let cap = (2 * s.cap).max(FAN_SLACK);
            let start = self.data.len();
            self.data
                .extend_from_within(s.start..s.start + s.len as usize);
            self.data.resize(start + cap as usize, NONE);
            self.span[v as usize] = FanSpan {
                start,
                len: s.len,
                cap,
            };
        }
        let s = &mut self.span[v as usize];
        self.data[s.start + s.len as usize] = t;
        s.len += 1;
    }
}

impl std::ops::Index<usize> for Fans {
    type Output = [u32];

    #[inline]
    fn index(&self, v: usize) -> &[u32] {
        let s = self.span[v];
        &self.data[s.start..s.start + s.len as usize]
    }
}

struct Decimator<'a> {
    pos: Vec<Vec3>,
    tris: Vec<[u32; 3]>,
    tri_alive: Vec<bool>,
    fans: Fans,
    /// Scratch: the fan of the removed vertex during a collapse.
    fan_r: Vec<u32>,
    quad: Vec<Quadric>,
    flags: Vec<u8>,
    center: DVec3,
    alive_tris: usize,
    collapses: usize,
    min_quality: f64,
    cos_turn: f64,
    bound: Option<Bound<'a>>,
    /// Collapse count when the neighbourhood of each vertex last changed.
    changed: Vec<u32>,
    /// Edges (a << 32 | b) that failed a check, with the collapse count at that time: they
    /// are not tried again until a vertex of theirs changes (lookups only: never iterated).
    rejected: HashMap<u64, u32, FastHash>,
    // Scratch: neighbour marks of the link condition.
    mark: Vec<u32>,
    stamp: u32,
    new_tris: Vec<(u32, [DVec3; 3])>,
    rejected_error: usize,
    passes: usize,
    /// The vertex each collapsed vertex was merged into (itself while alive).
    merged_into: Vec<u32>,
    /// Check every collapse for new triangles crossing their neighbourhood.
    guard: bool,
    /// Collapses refused by that check.
    crossings_prevented: usize,
    /// Scratch of the crossing check: a mark per triangle, the link vertices, the
    /// triangles to test against.
    tmark: Vec<u32>,
    tstamp: u32,
    link: Vec<u32>,
    near: Vec<u32>,
    normals: Vec<DVec3>,
    /// Doubled-area normal of every triangle (kept only with `guard`), so the fans of the
    /// link vertices are settled without reading their corners.
    tnormal: Vec<Vec3>,
}

/// Shape quality `4√3·area / Σ edge²` from corners, and the doubled-area normal.
#[inline]
fn quality(p: &[DVec3; 3]) -> (f64, DVec3) {
    let n = (p[1] - p[0]).cross(p[2] - p[0]);
    let s = (p[1] - p[0]).length_squared()
        + (p[2] - p[1]).length_squared()
        + (p[0] - p[2]).length_squared();
    let q = if s > 0.0 {
        2.0 * 3f64.sqrt() * n.length() / s
    } else {
        0.0
    };
    (q, n)
}

impl<'a> Decimator<'a> {
    fn new(mesh: &'a Mesh, opts: &DecimateOptions, index: Option<&'a DistanceIndex>) -> Self {
        let center = mesh
            .bounds()
            .map(|b| (b.min + b.max).as_dvec3() * 0.5)
            .unwrap_or(DVec3::ZERO);
        Decimator::centred(mesh, opts, index, center, None)
    }

    /// [`Decimator::new`] with the quadrics taken about `center` (a part of a mesh uses its
    /// whole's, so its quadrics can be handed back), and the flags and quadric of every
    /// vertex that `known` gives (a part's vertices whose whole fan it holds: analysed
    /// already), analysing the others.
    fn centred(
        mesh: &'a Mesh,
        opts: &DecimateOptions,
        index: Option<&'a DistanceIndex>,
        center: DVec3,
        known: Option<&[Option<(u8, Quadric)>]>,
    ) -> Self {
        let nv = mesh.positions.len();
        let nt = mesh.triangles.len();
        let fans = Fans::new(nv, &mesh.triangles);
        let lock = opts.lock_boundary;
        let tris = &mesh.triangles;
        let pos = &mesh.positions;
        let (flags, quad): (Vec<u8>, Vec<Quadric>) = (0..nv)
            .into_par_iter()
            .with_min_len(1024)
            .map_init(Vec::new, |link, v| match known.and_then(|k| k[v]) {
                Some(fq) => fq,
                None => analyse_vertex(v as u32, &fans[v], tris, pos, center, lock, link),
            })
            .unzip();
        let bound = index.map(|index| {
            let e = opts.max_error_mm.unwrap_or(0.0);
            let mut head = vec![NONE; nt];
            let mut next = vec![NONE; nv];
            for v in 0..fans.len() {
                if let Some(&t) = fans[v].first() {
                    next[v] = head[t as usize];
                    head[t as usize] = v as u32;
                }
            }
            Bound {
                e,
                input: mesh,
                index,
                head,
                next,
                region: Vec::new(),
                recent: [NONE; RECENT],
                stack: std::collections::VecDeque::new(),
                u: vec![0.0; nt],
                new_u: Vec::new(),
                old: Vec::new(),
                pending: Vec::new(),
                gave_up: false,
            }
        });
        Decimator {
            pos: mesh.positions.clone(),
            tris: mesh.triangles.clone(),
            tri_alive: vec![true; nt],
            fans,
            fan_r: Vec::new(),
            quad,
            flags,
            center,
            alive_tris: nt,
            collapses: 0,
            min_quality: opts.min_quality,
            cos_turn: opts.max_normal_turn_deg.to_radians().cos(),
            bound,
            changed: vec![0; nv],
            rejected: HashMap::default(),
            mark: vec![0; nv],
            stamp: 0,
            new_tris: Vec::new(),
            rejected_error: 0,
            passes: 0,
            merged_into: (0..nv as u32).collect(),
            guard: opts.prevent_self_intersections,
            crossings_prevented: 0,
            tmark: vec![0; nt],
            tstamp: 0,
            link: Vec::new(),
            near: Vec::new(),
            normals: Vec::new(),
            tnormal: if opts.prevent_self_intersections {
                mesh.triangles
                    .par_iter()
                    .map(|t| tri_normal(t.map(|v| mesh.positions[v as usize])))
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// The surviving vertex input vertex `v` was merged into.
    fn survivor(&self, mut v: u32) -> u32 {
        while self.merged_into[v as usize] != v {
            v = self.merged_into[v as usize];
        }
        v
    }

    /// A fresh mark value (two apart, so `stamp + 1` is free too).
    fn next_stamp(&mut self) -> u32 {
        if self.stamp >= u32::MAX - 4 {
            self.mark.iter_mut().for_each(|m| *m = 0);
            self.stamp = 0;
        }
        self.stamp += 2;
        self.stamp
    }

    #[inline]
    fn p(&self, v: u32) -> DVec3 {
        self.pos[v as usize].as_dvec3()
    }

    /// The neighbours of `v`, each once (sorted for boundary and frozen vertices, in fan
    /// order for interior ones, whose fan is a disk: every neighbour follows `v` in exactly
    /// one triangle).
    fn neighbours(fans: &Fans, tris: &[[u32; 3]], flags: &[u8], v: u32, out: &mut Vec<u32>) {
        out.clear();
        if flags[v as usize] & (BOUNDARY | FROZEN) == 0 {
            for &t in &fans[v as usize] {
                let tri = &tris[t as usize];
                let k = if tri[0] == v {
                    1
                } else if tri[1] == v {
                    2
                } else {
                    0
                };
                out.push(tri[k]);
            }
            return;
        }
        for &t in &fans[v as usize] {
            for &w in &tris[t as usize] {
                if w != v {
                    out.push(w);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// The collapse target of edge (a, b): survivor, removed vertex, candidate positions
    /// (f32-rounded) cheapest first, with their costs.
    fn plan(&self, a: u32, b: u32, cands: &mut Vec<(f64, Vec3)>) -> Option<(u32, u32)> {
        cands.clear();
        let (fa, fb) = (self.flags[a as usize], self.flags[b as usize]);
        if (fa | fb) & (FROZEN | KEPT | DEAD) != 0 {
            return None;
        }
        let q = self.quad[a as usize].sum(&self.quad[b as usize]);
        let c = self.center;
        let cost = |p: Vec3| q.eval(p.as_dvec3() - c);
        match (fa & PINNED != 0, fb & PINNED != 0) {
            (true, true) => return None,
            (true, false) => {
                let p = self.pos[a as usize];
                cands.push((cost(p), p));
                return Some((a, b));
            }
            (false, true) => {
                let p = self.pos[b as usize];
                cands.push((cost(p), p));
                return Some((b, a));
            }
            _ => {}
        }
        let (pa, pb) = (self.pos[a as usize], self.pos[b as usize]);
        let mid = ((pa.as_dvec3() + pb.as_dvec3()) * 0.5).as_vec3();
        let len = (pa - pb).length() as f64;
        if let Some(o) = q.optimum() {
            let p = (o + c).as_vec3();
            // An optimum far from the edge is a numerically valid but useless answer.
            if p.is_finite() && (p.as_dvec3() - mid.as_dvec3()).length() <= 2.0 * len {
                cands.push((cost(p), p));
            }
        }
        let primary = cands.len();
        for p in [pa, pb, mid] {
            cands.push((cost(p), p));
        }
        cands[primary..].sort_by(|x, y| x.0.total_cmp(&y.0));
        let s = a.min(b);
        Some((s, if s == a { b } else { a }))
    }

    /// The cost of collapsing edge (a, b) (the first candidate of [`Decimator::plan`], or
    /// the optimum's cost, which is never above the others), `None` when it may not
    /// collapse.
    fn plan_cost(&self, a: u32, b: u32, cands: &mut Vec<(f64, Vec3)>) -> Option<f64> {
        let (fa, fb) = (self.flags[a as usize], self.flags[b as usize]);
        if (fa | fb) & (FROZEN | KEPT | DEAD | PINNED) == 0 {
            let q = self.quad[a as usize].sum(&self.quad[b as usize]);
            if let Some(o) = q.optimum() {
                let (pa, pb) = (self.pos[a as usize], self.pos[b as usize]);
                let mid = ((pa.as_dvec3() + pb.as_dvec3()) * 0.5).as_vec3();
                let len = (pa - pb).length() as f64;
                let p = (o + self.center).as_vec3();
                if p.is_finite() && (p.as_dvec3() - mid.as_dvec3()).length() <= 2.0 * len {
                    return Some(q.eval(p.as_dvec3() - self.center));
                }
            }
        }
        self.plan(a, b, cands).map(|_| cands[0].0)
    }

    /// True when edge (a, b) failed a check and neither vertex changed since.
    #[inline]
    fn known_bad(&self, a: u32, b: u32) -> bool {
        self.rejected
            .get(&edge_key(a, b))
            .is_some_and(|&t| t >= self.changed[a as usize] && t >= self.changed[b as usize])
    }

    /// The initial candidate collapses: every edge that may collapse, as (cost as f32 bits,
    /// a, b) with `a < b`, sorted by cost then vertices (a total order: the same on any
    /// thread count).
    fn candidates(&self) -> Vec<(u32, u32, u32)> {
        let mut list = self.plan_edges((0..self.pos.len() as u32).into_par_iter(), |v, w| w > v);
        sort_by_cost(&mut list);
        list
    }

    /// Plans the edges from each of `vertices` (alive, not frozen) to the neighbours `take`
    /// accepts, in parallel: `(cost bits, smaller end, larger end)`, unsorted.
    fn plan_edges<I>(
        &self,
        vertices: I,
        take: impl Fn(u32, u32) -> bool + Sync,
    ) -> Vec<(u32, u32, u32)>
    where
        I: IndexedParallelIterator<Item = u32>,
    {
        vertices
            .with_min_len(256)
            .fold(
                || (Vec::new(), Vec::new(), Vec::new()),
                |(mut out, mut nb, mut cands), v| {
                    if self.flags[v as usize] & (FROZEN | KEPT | DEAD) != 0 {
                        return (out, nb, cands);
                    }
                    Self::neighbours(&self.fans, &self.tris, &self.flags, v, &mut nb);
                    for &w in nb.iter().filter(|&&w| take(v, w)) {
                        let (a, b) = (v.min(w), v.max(w));
                        if let Some(c) = self.plan_cost(a, b, &mut cands) {
                            out.push((cost_bits(c), a, b));
                        }
                    }
                    (out, nb, cands)
                },
            )
            .map(|(out, _, _)| out)
            .reduce(Vec::new, |mut a, b| {
                a.extend_from_slice(&b);
                a
            })
    }

    /// Collapses edges in passes until the triangle count reaches `target` or no collapse
    /// is left (see the module documentation).
    fn run(
        &mut self,
        target: usize,
        progress: &dyn Progress,
        cancel: &dyn Cancel,
    ) -> Result<&'static str, MeshError> {
        let todo = self.alive_tris.saturating_sub(target) as u64;
        progress.begin("decimate", todo);
        let start = self.alive_tris;
        let mut reported = 0usize;
        let mut cands = Vec::new();
        let mut locked = vec![false; self.pos.len()];
        let mut touched: Vec<u32> = Vec::new();
        let mut iter = 0u64;
        let mut order = Vec::new();
        let mut list = self.candidates();
        loop {
            if self.alive_tris <= target {
                progress.finish();
                return Ok("target");
            }
            if cancel.is_cancelled() {
                progress.finish();
                return Err(MeshError::Cancelled);
            }
            // Collapses still needed (two triangles each on a closed mesh). Since the
            // costs around every collapse change, a pass stops at 1.5 × the cost of the
            // goal-th candidate once it has done a sixth of its goal (meshoptimizer's pass
            // bound), so the order stays close to greedy.
            let goal = if target > 0 {
                (self.alive_tris - target).div_ceil(2)
            } else {
                usize::MAX
            };
            // The last few collapses are done in one sweep down the list: bounding those
            // passes too gave a tail of passes of one or two collapses each, every one
            // re-planning and merging the whole list.
            let cost_goal = match list.get(goal) {
                Some(c) if goal >= TAIL_COLLAPSES => 1.5 * f32::from_bits(c.0),
                _ => f32::INFINITY,
            };
            let pass_start = self.collapses;
            self.passes += 1;
            // With a triangle target, the list is swept in blocks of `goal` candidates (as
            // many as collapses still needed), cheapest block first, each block in vertex
            // order: the vertices' data are then visited in memory order, not at random
            // (8 % less CPU time on the head CT bone mesh at 10 %; volume change,
            // deviations and smoothness stay within a few per cent). Without a target
            // (error bound only) the sweep stays in cost order.
            let chunk = if target > 0 { goal.max(1) } else { 1 };
            'pass: for block in list.chunks(chunk) {
                if f32::from_bits(block[0].0) > cost_goal && self.collapses - pass_start > goal / 6
                {
                    break;
                }
                order.clear();
                order.extend_from_slice(block);
                if block.len() > 1 {
                    order.sort_unstable_by_key(|&(_, a, b)| (a, b));
                }
                for &(_bits, a, b) in &order {
                    if self.alive_tris <= target {
                        break 'pass;
                    }
                    iter += 1;
                    if iter.is_multiple_of(1024) {
                        if cancel.is_cancelled() {
                            progress.finish();
                            return Err(MeshError::Cancelled);
                        }
                        let done = start - self.alive_tris;
                        progress.advance((done - reported) as u64);
                        reported = done;
                    }
                    let (au, bu) = (a as usize, b as usize);
                    if locked[au]
                        || locked[bu]
                        || (self.flags[au] | self.flags[bu]) & DEAD != 0
                        || self.known_bad(a, b)
                    {
                        continue;
                    }
                    if let Some(bd) = self.bound.as_mut() {
                        bd.gave_up = false;
                    }
                    match self.try_collapse(a, b, &mut cands) {
                        Outcome::Collapsed => {
                            locked[au] = true;
                            locked[bu] = true;
                            touched.extend([a, b]);
                        }
                        outcome => {
                            let mut at = self.collapses as u32;
                            if matches!(outcome, Outcome::Error) {
                                self.rejected_error += 1;
                                // A proof that ran out of pieces is not worth repeating
                                // when the neighbourhood changes (it rarely gets easier):
                                // never again.
                                if self.bound.as_ref().is_some_and(|bd| bd.gave_up) {
                                    at = u32::MAX;
                                }
                            }
                            self.rejected.insert(edge_key(a, b), at);
                        }
                    }
                }
            }
            if self.collapses == pass_start {
                progress.finish();
                return Ok(if self.bound.is_some() && self.rejected_error > 0 {
                    "max-error"
                } else {
                    "no-valid-collapse"
                });
            }
            // The costs that changed are those of the edges of the vertices collapsed in
            // this pass (`locked`): drop them, plan the survivors' edges again, merge.
            list.retain(|&(_, a, b)| !locked[a as usize] && !locked[b as usize]);
            // In parallel over the survivors; the order of the pieces does not matter, the
            // list is sorted next (a total order).
            // An edge between two survivors of this pass is planned once, from its smaller
            // end.
            let dead = |w: u32| self.flags[w as usize] & DEAD != 0;
            let mut fresh = self.plan_edges(touched.par_iter().copied(), |v, w| {
                !(locked[w as usize] && !dead(w) && w < v)
            });
            sort_by_cost(&mut fresh);
            fresh.dedup();
            list = merge_sorted(&list, &fresh);
            for v in touched.drain(..) {
                locked[v as usize] = false;
            }
        }
    }

    /// [`Decimator::run`] on two halves of the mesh at once, then on the whole (ratio and
    /// target modes of a fresh decimator; see the module documentation). This decimator
    /// runs the first half; the second runs on a decimator over the second half and the
    /// band, built and run on the other thread, and is merged back.
    fn run_split(
        &mut self,
        opts: &DecimateOptions,
        target: usize,
        progress: &dyn Progress,
        cancel: &dyn Cancel,
    ) -> Result<&'static str, MeshError> {
        let nv = self.pos.len();
        let n = self.alive_tris;
        // The halves: the used vertices (a fresh decimator's vertices with a fan: not dead)
        // split at the median of their coordinate along the longest axis of their box (ties
        // by index: a total order).
        let mut order: Vec<u32> = (0..nv as u32)
            .filter(|&v| self.flags[v as usize] & DEAD == 0)
            .collect();
        let Some(bounds) = Aabb::from_points(order.iter().map(|&v| self.pos[v as usize])) else {
            return self.run(target, progress, cancel);
        };
        if order.len() < 2 || n <= target {
            return self.run(target, progress, cancel);
        }
        let e = bounds.size();
        let axis = if e.x >= e.y && e.x >= e.z {
            0
        } else if e.y >= e.z {
            1
        } else {
            2
        };
        let half = order.len() / 2;
        let pos = &self.pos;
        order.select_nth_unstable_by(half, |&a, &b| {
            pos[a as usize][axis]
                .total_cmp(&pos[b as usize][axis])
                .then(a.cmp(&b))
        });
        let mut side = vec![0u8; nv];
        for &v in &order[half..] {
            side[v as usize] = 1;
        }
        // The band kept in place while the halves run: the corners of the triangles across
        // the split, grown by rings.
        let mut band = vec![false; nv];
        for t in &self.tris {
            if t.iter().any(|&v| side[v as usize] != side[t[0] as usize]) {
                for &v in t {
                    band[v as usize] = true;
                }
            }
        }
        for _ in 0..SPLIT_BAND_RINGS {
            let mut grown = band.clone();
            for t in &self.tris {
                if t.iter().any(|&v| band[v as usize]) {
                    for &v in t {
                        grown[v as usize] = true;
                    }
                }
            }
            band = grown;
        }
        // The second half's decimator works on the triangles of the second half and the
        // band: every triangle around a collapsible vertex of the second half is among them
        // (its neighbours lie in its half or in the band).
        let in_second = |v: u32| side[v as usize] == 1 || band[v as usize];
        let mut local = vec![NONE; nv];
        let mut vmap: Vec<u32> = Vec::new();
        let mut tmap: Vec<u32> = Vec::new();
        let mut sub_tris: Vec<[u32; 3]> = Vec::new();
        for (t, tri) in self.tris.iter().enumerate() {
            if tri.iter().all(|&v| in_second(v)) {
                tmap.push(t as u32);
                sub_tris.push(tri.map(|v| {
                    if local[v as usize] == NONE {
                        local[v as usize] = vmap.len() as u32;
                        vmap.push(v);
                    }
                    local[v as usize]
                }));
            }
        }
        let sub = Mesh {
            positions: vmap.iter().map(|&v| self.pos[v as usize]).collect(),
            triangles: sub_tris,
        };
        // Each half removes its share of the triangles to remove (its own triangles' share
        // of all); the band's share is left to the run over the whole.
        let mut owned = [0usize; 2];
        for t in &self.tris {
            if !t.iter().any(|&v| band[v as usize]) {
                owned[side[t[0] as usize] as usize] += 1;
            }
        }
        let remove = n - target;
        let share = |k: usize| (remove as u128 * owned[k] as u128 / n as u128) as usize;
        let kept: Vec<bool> = self.flags.iter().map(|&f| f & KEPT != 0).collect();
        // The second half's vertices outside the band have their whole fan in `sub`: their
        // flags and quadrics are this decimator's, not analysed again.
        let known: Vec<Option<(u8, Quadric)>> = vmap
            .iter()
            .map(|&g| {
                let g = g as usize;
                (!band[g]).then(|| (self.flags[g], self.quad[g]))
            })
            .collect();
        for v in 0..nv {
            if band[v] || side[v] == 1 {
                self.flags[v] |= KEPT;
            }
        }
        progress.begin("decimate", remove as u64);
        let fwd = Forward(progress);
        let center = self.center;
        let (first_done, (second_done, second)) = rayon::join(
            || self.run(n - share(0), &fwd, cancel),
            || {
                let mut d = Decimator::centred(&sub, opts, None, center, Some(&known));
                for (l, &g) in vmap.iter().enumerate() {
                    if band[g as usize] || kept[g as usize] {
                        d.flags[l] |= KEPT;
                    }
                }
                let goal = d.alive_tris - share(1).min(d.alive_tris);
                (d.run(goal, &fwd, cancel), d)
            },
        );
        first_done?;
        second_done?;
        // Merge: the second half's collapses changed only triangles around its own
        // collapsible vertices, which no collapse of the first half touched.
        for (l, &g) in tmap.iter().enumerate() {
            // Every normal: a triangle whose corner moved keeps its indices. (The first
            // half wrote none of these: their corners are in the second half or the band.)
            if self.guard {
                self.tnormal[g as usize] = second.tnormal[l];
            }
            let tri = second.tris[l].map(|v| vmap[v as usize]);
            if !second.tri_alive[l] || tri != self.tris[g as usize] {
                self.tris[g as usize] = tri;
                self.tri_alive[g as usize] = second.tri_alive[l];
            }
        }
        for (l, &g) in vmap.iter().enumerate() {
            let g = g as usize;
            if side[g] == 1 && !band[g] {
                self.pos[g] = second.pos[l];
                self.quad[g] = second.quad[l];
                self.flags[g] = second.flags[l];
                self.merged_into[g] = vmap[second.merged_into[l] as usize];
            }
        }
        for (f, &k) in self.flags.iter_mut().zip(&kept) {
            *f &= !KEPT;
            if k {
                *f |= KEPT;
            }
        }
        self.alive_tris = self.tri_alive.iter().filter(|&&a| a).count();
        self.collapses += second.collapses;
        self.crossings_prevented += second.crossings_prevented;
        self.rejected_error += second.rejected_error;
        self.passes = self.passes.max(second.passes);
        self.fans = Fans::new_alive(nv, &self.tris, &self.tri_alive);
        // Rejection times of the two decimators are not comparable: every edge may be
        // tried again.
        self.rejected.clear();
        drop(second);
        let done = self.run(target, &fwd, cancel);
        progress.finish();
        done
    }

    fn try_collapse(&mut self, a: u32, b: u32, cands: &mut Vec<(f64, Vec3)>) -> Outcome {
        let Some((s, r)) = self.plan(a, b, cands) else {
            return Outcome::Topology;
        };
        // Triangles of the edge and their third vertices.
        let mut edge_tris = [NONE; 2];
        let mut opp = [NONE; 2];
        let mut k = 0;
        for &t in &self.fans[s as usize] {
            let tri = self.tris[t as usize];
            if tri.contains(&r) {
                if k == 2 {
                    return Outcome::Topology;
                }
                edge_tris[k] = t;
                opp[k] = tri
                    .iter()
                    .copied()
                    .find(|&x| x != s && x != r)
                    .unwrap_or(NONE);
                k += 1;
            }
        }
        if k == 0 || opp[..k].contains(&NONE) {
            return Outcome::Topology;
        }
        let (bs, br) = (
            self.flags[s as usize] & BOUNDARY != 0,
            self.flags[r as usize] & BOUNDARY != 0,
        );
        if (k == 2 && bs && br) || (k == 1 && !(bs && br)) || (k == 2 && opp[0] == opp[1]) {
            return Outcome::Topology;
        }
        let (ns, nr) = (self.fans[s as usize].len(), self.fans[r as usize].len());
        if ns + nr <= 2 * k {
            return Outcome::Topology;
        }
        // Link condition: the common neighbours are exactly the opposite vertices. The
        // neighbours of s are marked with a fresh stamp; each common one is counted once
        // (its mark moves on to stamp + 1).
        let st = self.next_stamp();
        for &t in &self.fans[s as usize] {
            for w in self.tris[t as usize] {
                if w != s {
                    self.mark[w as usize] = st;
                }
            }
        }
        let mut common = 0;
        for &t in &self.fans[r as usize] {
            for w in self.tris[t as usize] {
                if w != r && self.mark[w as usize] == st {
                    self.mark[w as usize] = st + 1;
                    common += 1;
                }
            }
        }
        if common != k {
            return Outcome::Topology;
        }
        if k == 2 {
            // Tetrahedron: triangles (s, c, d) and (r, c, d) both exist.
            let (c, d) = (opp[0], opp[1]);
            let has = |v: u32| {
                self.fans[v as usize].iter().any(|&t| {
                    let x = self.tris[t as usize];
                    x.contains(&c) && x.contains(&d)
                })
            };
            if has(s) && has(r) {
                return Outcome::Topology;
            }
        }

        let mut outcome = Outcome::Geometry;
        for &(_, target) in cands.iter() {
            if !self.geometry_ok(s, r, target) {
                continue;
            }
            if self.guard && !self.crossing_ok(s, r, target) {
                self.crossings_prevented += 1;
                continue;
            }
            if self.bound.is_some() && !self.error_ok(s, r, target, k == 1) {
                outcome = Outcome::Error;
                continue;
            }
            self.apply(s, r, target, &edge_tris[..k]);
            return Outcome::Collapsed;
        }
        outcome
    }

    /// Fills `new_tris` with the changed fan after moving `s` and `r` to `target` and
    /// checks normals, areas and shapes.
    fn geometry_ok(&mut self, s: u32, r: u32, target: Vec3) -> bool {
        let tp = target.as_dvec3();
        self.new_tris.clear();
        for (x, other) in [(s, r), (r, s)] {
            for &t in &self.fans[x as usize] {
                let tri = self.tris[t as usize];
                if tri.contains(&other) {
                    continue;
                }
                let old = map3(tri, |v| self.p(v));
                let new = map3(tri, |v| if v == x { tp } else { self.p(v) });
                let (q_new, n_new) = quality(&new);
                let n_old = (old[1] - old[0]).cross(old[2] - old[0]);
                let (ln, lo) = (n_new.length(), n_old.length());
                if ln.partial_cmp(&0.0) != Some(Ordering::Greater)
                    || (q_new < self.min_quality && q_new < quality(&old).0)
                {
                    return false;
                }
                if lo > 0.0 && n_new.dot(n_old) < self.cos_turn * ln * lo {
                    return false;
                }
                // Corners in rotated order with the moved vertex first.
                let k = tri.iter().position(|&v| v == x).unwrap_or(0);
                let rot = [new[k], new[(k + 1) % 3], new[(k + 2) % 3]];
                self.new_tris.push((t, rot));
            }
        }
        true
    }

    /// False when a new triangle of the collapse (in `new_tris`, the moved corner first)
    /// would cross a triangle near it. Every crossing the whole-output search found on the
    /// head CT bone mesh was between triangles sharing a vertex or one edge apart, so the
    /// check covers the new fan and the fans of the link vertices. Each fan (of the moved
    /// vertex and of every link vertex, as they will be) whose triangles all face the same
    /// side as their summed normal counts as settled: such a fan lies over a plane like a
    /// height field, and its triangles meet only along their shared edges.
    /// When every fan is settled the collapse passes; otherwise each new triangle is tested
    /// exactly ([`triangles_intersect`](crate::self_intersect::triangles_intersect)) against
    /// the triangles of those fans that share no settled vertex with it and whose boxes
    /// overlap its own, and the new triangles against each other when the new fan is not
    /// settled. This check is local and not a proof (a settled fan could still wind twice
    /// around its vertex); the output is still searched as a whole afterwards (see
    /// [`decimate`]).
    fn crossing_ok(&mut self, s: u32, r: u32, target: Vec3) -> bool {
        let at = |d: &Self, v: u32| {
            if v == s || v == r {
                target
            } else {
                d.pos[v as usize]
            }
        };
        // Link vertices (marked with the stamp).
        let st = self.next_stamp();
        self.mark[s as usize] = st;
        self.mark[r as usize] = st;
        self.link.clear();
        self.normals.clear();
        for &(t, c) in &self.new_tris {
            self.normals.push((c[1] - c[0]).cross(c[2] - c[0]));
            for v in self.tris[t as usize] {
                if self.mark[v as usize] != st {
                    self.mark[v as usize] = st;
                    self.link.push(v);
                }
            }
        }
        let fan_ok = fan_one_way(&self.normals);
        // Unsettled link vertices are marked `st + 1`.
        let mut all_ok = fan_ok;
        for i in 0..self.link.len() {
            let x = self.link[i];
            self.normals.clear();
            for &t in &self.fans[x as usize] {
                let tri = self.tris[t as usize];
                let (hs, hr) = (tri.contains(&s), tri.contains(&r));
                if hs && hr {
                    continue; // an edge triangle: it disappears
                }
                self.normals.push(if hs || hr {
                    let c = map3(tri, |v| at(self, v).as_dvec3());
                    (c[1] - c[0]).cross(c[2] - c[0])
                } else {
                    self.tnormal[t as usize].as_dvec3()
                });
            }
            if !fan_one_way(&self.normals) {
                self.mark[x as usize] = st + 1;
                all_ok = false;
            }
        }
        if all_ok {
            return true;
        }
        // The triangles of the link vertices' fans, other than the old fan.
        self.tstamp = self.tstamp.wrapping_add(1);
        if self.tstamp == 0 {
            self.tmark.iter_mut().for_each(|x| *x = 0);
            self.tstamp = 1;
        }
        let ts = self.tstamp;
        for &t in self.fans[s as usize].iter().chain(&self.fans[r as usize]) {
            self.tmark[t as usize] = ts;
        }
        self.near.clear();
        for &x in &self.link {
            if self.mark[x as usize] == st {
                continue;
            }
            for &u in &self.fans[x as usize] {
                if self.tmark[u as usize] != ts {
                    self.tmark[u as usize] = ts;
                    self.near.push(u);
                }
            }
        }
        let bbox = |c: &[Vec3; 3]| (c[0].min(c[1]).min(c[2]), c[0].max(c[1]).max(c[2]));
        for k in 0..self.new_tris.len() {
            let t = self.new_tris[k].0;
            let tv = self.tris[t as usize];
            let tc = map3(tv, |v| at(self, v));
            let (lo, hi) = bbox(&tc);
            for &u in &self.near {
                let uv = self.tris[u as usize];
                // A shared settled vertex settles the pair.
                if uv
                    .iter()
                    .any(|&w| tv.contains(&w) && self.mark[w as usize] == st)
                {
                    continue;
                }
                let uc = map3(uv, |v| self.pos[v as usize]);
                let (ulo, uhi) = bbox(&uc);
                if ulo.cmple(hi).all()
                    && lo.cmple(uhi).all()
                    && !off_plane(&tc, &uc)
                    && crate::self_intersect::triangles_intersect(tc, uc)
                {
                    return false;
                }
            }
            if !fan_ok {
                for j in 0..k {
                    let uc = map3(self.tris[self.new_tris[j].0 as usize], |v| at(self, v));
                    if crate::self_intersect::triangles_intersect(tc, uc) {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// The error bound: (a) the input vertices of the changed region stay within e of the
    /// new fan (exact), (b) every new triangle lies within e of the input surface: when the
    /// whole fan is flat (see [`Decimator::flat_fan_bound`]) the new fan covers exactly the
    /// old one and inherits its bound, otherwise [`tri_within`] proves it.
    fn error_ok(&mut self, s: u32, r: u32, target: Vec3, border: bool) -> bool {
        let flat = self.flat_fan_bound(s, r, target, border);
        let height = match flat {
            None => self.height_field_bound(s, r),
            Some(_) => None,
        };
        let Some(bd) = self.bound.as_mut() else {
            return true;
        };
        let e2 = bd.e * bd.e;
        // (a) Each input vertex is tested first against the new version of the triangle it
        // was assigned to, then against the others; the first within e takes it.
        bd.region.clear();
        for (x, other) in [(s, Some(r)), (r, None)] {
            for &t in &self.fans[x as usize] {
                if other.is_none() && self.tris[t as usize].contains(&s) {
                    continue; // edge triangle, already visited through s
                }
                let own = self.new_tris.iter().position(|(nt, _)| *nt == t);
                let mut iv = bd.head[t as usize];
                while iv != NONE {
                    let p = bd.input.positions[iv as usize].as_dvec3();
                    let mut found = NONE;
                    if let Some(k) = own {
                        if point_triangle_distance2(p, &self.new_tris[k].1) <= e2 {
                            found = t;
                        }
                    }
                    if found == NONE {
                        for (nt, c) in &self.new_tris {
                            if point_triangle_distance2(p, c) <= e2 {
                                found = *nt;
                                break;
                            }
                        }
                    }
                    if found == NONE {
                        return false;
                    }
                    bd.region.push((iv, found));
                    iv = bd.next[iv as usize];
                }
            }
        }
        // (b)
        bd.new_u.clear();
        if let Some(u) = flat {
            bd.new_u.resize(self.new_tris.len(), u);
            return true;
        }
        if let Some(u) = height.filter(|&u| u <= bd.e) {
            bd.new_u.resize(self.new_tris.len(), u);
            return true;
        }
        let tp = target.as_dvec3();
        if bd.index.within_slot(tp, bd.e).is_none() {
            return false;
        }
        // A few necessary points (centroids, edge midpoints) before any proof.
        for (_, c) in &self.new_tris {
            for p in [
                (c[0] + c[1] + c[2]) / 3.0,
                (c[0] + c[1]) * 0.5,
                (c[1] + c[2]) * 0.5,
                (c[2] + c[0]) * 0.5,
            ] {
                if bd.index.within_slot(p, bd.e).is_none() {
                    return false;
                }
            }
        }
        // First against the old fan (local, no search): the triangles the collapse
        // replaces, each with its proven bound.
        bd.old.clear();
        for (x, other) in [(s, None), (r, Some(s))] {
            for &t in &self.fans[x as usize] {
                let tri = self.tris[t as usize];
                if other.is_some_and(|o| tri.contains(&o)) {
                    continue;
                }
                let corners = tri.map(|v| self.pos[v as usize].as_dvec3());
                bd.old.push((corners, bd.u[t as usize]));
            }
        }
        bd.pending.clear();
        for k in 0..self.new_tris.len() {
            let u = local_within(&bd.old, self.new_tris[k].1, bd.e, &mut bd.stack);
            bd.new_u.push(u.unwrap_or(f64::NAN));
            if u.is_none() {
                bd.pending.push(k as u32);
            }
        }
        // The rest against the input: a grid of samples first (any one farther than e
        // disproves the collapse cheaply), then the proof.
        for i in 0..bd.pending.len() {
            let k = bd.pending[i] as usize;
            if !samples_within(bd.index, &self.new_tris[k].1, bd.e) {
                return false;
            }
        }
        for i in 0..bd.pending.len() {
            let k = bd.pending[i] as usize;
            match tri_within(bd, self.new_tris[k].1) {
                Some(u) => bd.new_u[k] = u,
                None => return false,
            }
        }
        true
    }

    /// A bound on the distance from the new fan (in `new_tris`) to the input when both fans
    /// are height fields over one plane: for an interior edge, the old fan (the triangles
    /// of `s` and `r`) and the new fan are triangulated disks with the same boundary, the
    /// link cycle. When every triangle of both keeps a positive orientation seen along one
    /// direction `m` (their mean normal), every point `x` of the new fan projects (along
    /// `m`) into some old triangle, at a point `y` with `|x − y|` at most the spread of the
    /// heights `p·m` of all their corners (the winding number of the shared boundary counts
    /// the covering triangles of both). So `d(x, input) ≤ spread + max u(old)`. The
    /// orientation test requires `det[b − a, c − a, m]` to exceed 1e-12 · |b − a| · |c − a|,
    /// far above its f64 rounding error, so its sign is certain. `None` when it does not
    /// apply (a border vertex, or a triangle near or past the vertical).
    fn height_field_bound(&self, s: u32, r: u32) -> Option<f64> {
        let bd = self.bound.as_ref()?;
        if (self.flags[s as usize] | self.flags[r as usize]) & BOUNDARY != 0 {
            return None;
        }
        let old = self.fans[s as usize].iter().chain(
            self.fans[r as usize]
                .iter()
                .filter(|&&t| !self.tris[t as usize].contains(&s)),
        );
        let corners = |t: u32| self.tris[t as usize].map(|v| self.pos[v as usize].as_dvec3());
        let mut normal = DVec3::ZERO;
        let mut umax = 0.0f64;
        for &t in old.clone() {
            let p = corners(t);
            normal += (p[1] - p[0]).cross(p[2] - p[0]);
            umax = umax.max(bd.u[t as usize]);
        }
        let len = normal.length();
        if !(len > 0.0 && len.is_finite()) {
            return None;
        }
        let m = normal / len;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        let mut visit = |p: &[DVec3; 3]| -> bool {
            let (e1, e2) = (p[1] - p[0], p[2] - p[0]);
            if e1.cross(e2).dot(m) <= 1e-12 * e1.length() * e2.length() {
                return false;
            }
            for x in p {
                let h = x.dot(m);
                lo = lo.min(h);
                hi = hi.max(h);
            }
            true
        };
        for &t in old {
            if !visit(&corners(t)) {
                return None;
            }
        }
        for (_, p) in &self.new_tris {
            if !visit(p) {
                return None;
            }
        }
        // The heights carry f64 rounding of order 1e-16 of the coordinates: 1e-9 mm
        // covers it with room to spare.
        Some(hi - lo + umax + 1e-9)
    }

    /// When the old fan of edge (s, r) and the new fan around `target` lie in one plane and
    /// every triangle of both keeps one orientation in it (exact predicates), both
    /// triangulate the same region bounded by the link polygon, so the new fan covers
    /// exactly the points of the old one: returns the largest bound of the old fan's
    /// triangles, which then holds for the new ones. `None` otherwise. For a `border`
    /// edge the open side of the region runs p → s → r → q before and p → target → q
    /// after; all five points on one line (exact) keep the region the same (the two paths
    /// differ by a closed curve on a line, which winds around no point off it).
    fn flat_fan_bound(&self, s: u32, r: u32, target: Vec3, border: bool) -> Option<f64> {
        use crate::self_intersect::{drop_axis, is_degenerate, o2, o3, proj};
        let bd = self.bound.as_ref()?;
        let w = |p: Vec3| [p.x as f64, p.y as f64, p.z as f64];
        let old = self.fans[s as usize].iter().chain(
            self.fans[r as usize]
                .iter()
                .filter(|&&t| !self.tris[t as usize].contains(&s)),
        );
        let first = *self.fans[s as usize].first()?;
        let reference = self.tris[first as usize].map(|v| w(self.pos[v as usize]));
        if is_degenerate(&reference) {
            return None;
        }
        let [a, b, c] = reference;
        if o3(&a, &b, &c, &w(target)) != 0 {
            return None;
        }
        let axis = drop_axis(&reference);
        let sign = o2(proj(&a, axis), proj(&b, axis), proj(&c, axis));
        let mut bound = 0.0f64;
        for &t in old {
            let tri = self.tris[t as usize].map(|v| w(self.pos[v as usize]));
            if tri.iter().any(|p| o3(&a, &b, &c, p) != 0) {
                return None;
            }
            if o2(
                proj(&tri[0], axis),
                proj(&tri[1], axis),
                proj(&tri[2], axis),
            ) != sign
            {
                return None;
            }
            bound = bound.max(bd.u[t as usize]);
        }
        for (_, corners) in &self.new_tris {
            let tri = corners.map(|p| [p.x, p.y, p.z]);
            if o2(
                proj(&tri[0], axis),
                proj(&tri[1], axis),
                proj(&tri[2], axis),
            ) != sign
            {
                return None;
            }
        }
        // The open side of the region, if any, must stay on one line: its old path
        // through s (and r) and its new path through the target.
        let (bs, br) = (
            self.flags[s as usize] & BOUNDARY != 0,
            self.flags[r as usize] & BOUNDARY != 0,
        );
        if bs || br {
            // Neighbours met in one triangle only: the ends of the border edges.
            let ends = |v: u32| -> Vec<u32> {
                let fan = &self.fans[v as usize];
                let mut out: Vec<u32> = Vec::new();
                for &t in fan {
                    for x in self.tris[t as usize] {
                        if x != v
                            && !out.contains(&x)
                            && fan
                                .iter()
                                .filter(|&&t2| self.tris[t2 as usize].contains(&x))
                                .count()
                                == 1
                        {
                            out.push(x);
                        }
                    }
                }
                out
            };
            let mut line: Vec<u32> = Vec::new();
            if bs {
                line.extend(ends(s).into_iter().filter(|&x| x != r));
            }
            if br {
                line.extend(ends(r).into_iter().filter(|&x| x != s));
            }
            // Two ends for a border edge (k = 1) or a border vertex (k = 2).
            if line.len() != 2 || (border && !(bs && br)) {
                return None;
            }
            let (pp, qq) = (
                proj(&w(self.pos[line[0] as usize]), axis),
                proj(&w(self.pos[line[1] as usize]), axis),
            );
            if pp == qq {
                return None;
            }
            let mut on_line = vec![w(target)];
            if bs {
                on_line.push(w(self.pos[s as usize]));
            }
            if br {
                on_line.push(w(self.pos[r as usize]));
            }
            if on_line.iter().any(|x| o2(pp, qq, proj(x, axis)) != 0) {
                return None;
            }
        }
        Some(bound)
    }

    fn apply(&mut self, s: u32, r: u32, target: Vec3, edge_tris: &[u32]) {
        for &t in edge_tris {
            self.tri_alive[t as usize] = false;
            for v in self.tris[t as usize] {
                if v != s && v != r {
                    self.fans.retain(v, |x| x != t);
                }
            }
        }
        let mut fan_r = std::mem::take(&mut self.fan_r);
        self.fans.take_into(r, &mut fan_r);
        for &t in &fan_r {
            if self.tri_alive[t as usize] {
                for v in self.tris[t as usize].iter_mut() {
                    if *v == r {
                        *v = s;
                    }
                }
            }
        }
        let alive = &self.tri_alive;
        self.fans.retain(s, |t| alive[t as usize]);
        for &t in &fan_r {
            if alive[t as usize] {
                self.fans.push(s, t);
            }
        }
        self.fan_r = fan_r;
        self.alive_tris -= edge_tris.len();
        self.collapses += 1;
        self.pos[s as usize] = target;
        let qr = self.quad[r as usize];
        self.quad[s as usize].add(&qr);
        let fr = self.flags[r as usize];
        self.flags[r as usize] |= DEAD;
        self.merged_into[r as usize] = s;
        self.flags[s as usize] |= fr & BOUNDARY;
        // Everything whose fan or neighbour positions changed: s and its new ring (and, for
        // the crossing guard, the normals of s's fan).
        let now = self.collapses as u32;
        for &t in &self.fans[s as usize] {
            let tri = self.tris[t as usize];
            if self.guard {
                self.tnormal[t as usize] = tri_normal(map3(tri, |v| self.pos[v as usize]));
            }
            for v in tri {
                self.changed[v as usize] = now;
            }
        }
        if let Some(bd) = self.bound.as_mut() {
            for &t in edge_tris.iter().chain(&self.fans[s as usize]) {
                bd.head[t as usize] = NONE;
            }
            for &(iv, t) in &bd.region {
                bd.next[iv as usize] = bd.head[t as usize];
                bd.head[t as usize] = iv;
            }
            for (k, (t, _)) in self.new_tris.iter().enumerate() {
                if let Some(&u) = bd.new_u.get(k) {
                    bd.u[*t as usize] = u;
                }
            }
        }
    }

    /// The decimated mesh: surviving vertices and triangles in their original order, and
    /// the input vertex of every output vertex.
    fn output_with_sources(&self) -> (Mesh, Vec<u32>) {
        let mut map = vec![NONE; self.pos.len()];
        for (t, tri) in self.tris.iter().enumerate() {
            if self.tri_alive[t] {
                for &v in tri {
                    map[v as usize] = 0;
                }
            }
        }
        let mut positions = Vec::new();
        let mut sources = Vec::new();
        for (v, m) in map.iter_mut().enumerate() {
            if *m == 0 {
                *m = positions.len() as u32;
                positions.push(self.pos[v]);
                sources.push(v as u32);
            }
        }
        let triangles = self
            .tris
            .iter()
            .zip(&self.tri_alive)
            .filter(|(_, &alive)| alive)
            .map(|(t, _)| t.map(|v| map[v as usize]))
            .collect();
        (
            Mesh {
                positions,
                triangles,
            },
            sources,
        )
    }
}

/// A non-negative cost as f32 bits (which order like the values), `f32::MAX` for a
/// non-finite one.
#[inline]
fn cost_bits(c: f64) -> u32 {
    let c = c as f32;
    if c.is_finite() && c >= 0.0 {
        c.to_bits()
    } else {
        f32::MAX.to_bits()
    }
}

/// Sorts candidates by (cost bits, a, b), a total order: an LSD radix sort on the cost
/// (three 11-bit digits), then each run of equal costs by its vertices.
fn sort_by_cost(v: &mut Vec<(u32, u32, u32)>) {
    let n = v.len();
    if n < 512 {
        v.sort_unstable();
        return;
    }
    let mut hist = vec![[0usize; 2048]; 3];
    for e in v.iter() {
        for (d, h) in hist.iter_mut().enumerate() {
            h[((e.0 >> (11 * d)) & 2047) as usize] += 1;
        }
    }
    let mut tmp = vec![(0u32, 0u32, 0u32); n];
    for (d, h) in hist.iter_mut().enumerate() {
        let mut sum = 0;
        for c in h.iter_mut() {
            let k = *c;
            *c = sum;
            sum += k;
        }
        for e in v.iter() {
            let slot = &mut h[((e.0 >> (11 * d)) & 2047) as usize];
            tmp[*slot] = *e;
            *slot += 1;
        }
        std::mem::swap(v, &mut tmp);
    }
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && v[j].0 == v[i].0 {
            j += 1;
        }
        if j - i > 1 {
            v[i..j].sort_unstable();
        }
        i = j;
    }
}

/// The union of two sorted lists, sorted.
fn merge_sorted(a: &[(u32, u32, u32)], b: &[(u32, u32, u32)]) -> Vec<(u32, u32, u32)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if b[j] < a[i] {
            out.push(b[j]);
            j += 1;
        } else {
            out.push(a[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

#[inline]
fn edge_key(a: u32, b: u32) -> u64 {
    (a as u64) << 32 | b as u64
}

/// Pieces of a new triangle examined by [`tri_within`] before it gives up (and the
/// collapse is rejected, which is always safe).
const MAX_PIECES: usize = 512;
/// Input triangles remembered by [`tri_within`].
const RECENT: usize = 6;

/// A proven bound (at most `e`) on the distance from every point of triangle `t` to the
/// input surface; `None` when a point is farther than `e`, or when the proof would take
/// more than [`MAX_PIECES`] pieces.
///
/// The triangle is split into four at its edge midpoints until each piece is proven
/// within `e` by one of two exact arguments:
/// * **convexity**: the distance to one input triangle `Q` is a convex function, so a
///   piece whose three corners are within `e` of the same `Q` lies within the largest of
///   those corner distances of `Q`;
/// * **Lipschitz**: the distance to the surface is 1-Lipschitz, so a piece whose centroid
///   `c` is at distance `d` with every corner within `r` of `c` lies within `d + r`.
///
/// A centroid farther than `e` from the input proves the triangle fails. The input
/// triangles that settled the last pieces are tried before a search of the hierarchy.
fn tri_within(bd: &mut Bound, t: [DVec3; 3]) -> Option<f64> {
    let e = bd.e;
    let e2 = e * e;
    // The largest squared corner distance to `q` when all are within e.
    let covers = |q: &[DVec3; 3], p: &[DVec3; 3]| {
        let mut m = 0.0f64;
        for &x in p {
            let d2 = point_triangle_distance2(x, q);
            if d2 > e2 {
                return None;
            }
            m = m.max(d2);
        }
        Some(m.sqrt())
    };
    // Breadth first: a part farther than e shows at the coarsest level that has a
    // centroid in it, before any time goes into refining the parts that pass.
    let mut stack = std::mem::take(&mut bd.stack);
    stack.clear();
    stack.push_back(t);
    let mut pieces = 0usize;
    let mut bound = Some(0.0f64);
    'pieces: while let Some(p) = stack.pop_front() {
        pieces += 1;
        if pieces > MAX_PIECES {
            bound = None;
            bd.gave_up = true;
            break;
        }
        let c = (p[0] + p[1] + p[2]) / 3.0;
        let r = p.iter().map(|&x| (x - c).length()).fold(0.0f64, f64::max);
        // The recent input triangles first: one covering the piece, or one close enough
        // to the centroid for the Lipschitz argument, settles it without a search.
        for k in 0..RECENT {
            let h = bd.recent[k];
            if h == NONE {
                break;
            }
            let q = bd.index.slot_corners(h as usize);
            let dc = point_triangle_distance2(c, q).sqrt();
            let got = if dc + r <= e {
                Some(dc + r)
            } else {
                covers(q, &p)
            };
            if let Some(u) = got {
                bd.recent[..=k].rotate_right(1);
                bound = bound.map(|b| b.max(u));
                continue 'pieces;
            }
        }
        let Some((slot, q)) = bd.index.closest_slot(c, e) else {
            bound = None;
            break;
        };
        bd.recent.rotate_right(1);
        bd.recent[0] = slot as u32;
        let d = (q - c).length();
        let got = if d + r <= e {
            Some(d + r)
        } else {
            covers(bd.index.slot_corners(slot), &p)
        };
        if let Some(u) = got {
            bound = bound.map(|b| b.max(u));
            continue;
        }
        let [a, b, cc] = p;
        let (ab, bc, ca) = ((a + b) * 0.5, (b + cc) * 0.5, (cc + a) * 0.5);
        for piece in [[a, ab, ca], [ab, b, bc], [ca, bc, cc], [ab, bc, ca]] {
            stack.push_back(piece);
        }
    }
    bd.stack = stack;
    bound
}

/// Pieces of a new triangle examined by [`local_within`] before it hands the triangle to
/// [`tri_within`].
const LOCAL_PIECES: usize = 24;
/// Samples per edge of the barycentric grid of [`samples_within`].
const SAMPLE_GRID: u32 = 6;

/// A proven bound (at most `e`) on the distance from every point of triangle `t` to the
/// input surface, from the triangles `old` that the collapse replaces, each given with
/// its own proven bound `u`: for any point `x` and old triangle `q`,
/// `d(x, input) ≤ d(x, q) + u(q)` (the triangle inequality). Pieces are settled as in
/// [`tri_within`], by convexity (corners within `e − u` of one `q`) or the Lipschitz bound
/// (centroid within `e − u − r` of `q`, `r` the piece's radius). `None` when more than
/// [`LOCAL_PIECES`] pieces would be needed; the caller then proves the triangle against the
/// input itself, so looseness here costs time, never correctness.
fn local_within(
    old: &[([DVec3; 3], f64)],
    t: [DVec3; 3],
    e: f64,
    stack: &mut std::collections::VecDeque<[DVec3; 3]>,
) -> Option<f64> {
    stack.clear();
    stack.push_back(t);
    let mut pieces = 0usize;
    let mut bound = 0.0f64;
    'pieces: while let Some(p) = stack.pop_back() {
        pieces += 1;
        if pieces > LOCAL_PIECES {
            return None;
        }
        let c = (p[0] + p[1] + p[2]) / 3.0;
        let r = p.iter().map(|&x| (x - c).length()).fold(0.0f64, f64::max);
        // Lipschitz on the nearest old triangle (distance plus its bound).
        let mut best = f64::INFINITY;
        for (q, u) in old {
            if *u < e {
                best = best.min(point_triangle_distance2(c, q).sqrt() + u);
            }
        }
        if best + r <= e {
            bound = bound.max(best + r);
            continue;
        }
        // Convexity: only triangles with the centroid within e − u can have all corners
        // within it (the distance to one triangle is convex, so it is at most the largest
        // corner value and at least its value at the centroid).
        if best <= e {
            for (q, u) in old {
                let lim = e - u;
                if lim <= 0.0 || point_triangle_distance2(c, q) > lim * lim {
                    continue;
                }
                let mut m = 0.0f64;
                let mut ok = true;
                for &x in &p {
                    let d2 = point_triangle_distance2(x, q);
                    if d2 > lim * lim {
                        ok = false;
                        break;
                    }
                    m = m.max(d2);
                }
                if ok {
                    bound = bound.max(m.sqrt() + u);
                    continue 'pieces;
                }
            }
        }
        let [a, b, cc] = p;
        let (ab, bc, ca) = ((a + b) * 0.5, (b + cc) * 0.5, (cc + a) * 0.5);
        for piece in [[a, ab, ca], [ab, b, bc], [ca, bc, cc], [ab, bc, ca]] {
            stack.push_back(piece);
        }
    }
    Some(bound.min(e))
}

/// False when a point of a [`SAMPLE_GRID`]-fold barycentric grid over `t` (corners left
/// out) is farther than `e` from the input: a cheap disproof before [`tri_within`]'s
/// proof. True proves nothing.
fn samples_within(index: &DistanceIndex, t: &[DVec3; 3], e: f64) -> bool {
    let k = SAMPLE_GRID;
    for i in 0..=k {
        for j in 0..=k - i {
            let l = k - i - j;
            if i == k || j == k || l == k {
                continue;
            }
            let p = (t[0] * i as f64 + t[1] * j as f64 + t[2] * l as f64) / k as f64;
            if index.within_slot(p, e).is_none() {
                return false;
            }
        }
    }
    true
}

/// Flags and initial quadric of vertex `v` from its fan: frozen unless the fan is one
/// consistently oriented disk (interior) or half-disk (boundary, then also the boundary
/// planes).
fn analyse_vertex(
    v: u32,
    fan: &[u32],
    tris: &[[u32; 3]],
    pos: &[Vec3],
    center: DVec3,
    lock_boundary: bool,
    link: &mut Vec<(u32, u32)>,
) -> (u8, Quadric) {
    let mut q = Quadric::default();
    if fan.is_empty() {
        return (DEAD, q);
    }
    let p = |i: u32| pos[i as usize].as_dvec3() - center;
    // Link edges x → y of the fan triangles (v, x, y), counter-clockwise.
    link.clear();
    let mut frozen = false;
    for &t in fan {
        let tri = tris[t as usize];
        let k = tri.iter().position(|&w| w == v).unwrap_or(0);
        let (x, y) = (tri[(k + 1) % 3], tri[(k + 2) % 3]);
        if x == v || y == v || x == y {
            frozen = true;
        }
        link.push((x, y));
        let (a, b, c) = (p(tri[0]), p(tri[1]), p(tri[2]));
        let n = (b - a).cross(c - a);
        let len = n.length();
        if len > 0.0 {
            let nu = n / len;
            q.add(&Quadric::plane(nu, -nu.dot(a), 0.5 * len));
        }
    }
    // Each link vertex at most once as a start and once as an end.
    for (i, &(x, y)) in link.iter().enumerate() {
        for &(x2, y2) in &link[i + 1..] {
            if x == x2 || y == y2 {
                frozen = true;
            }
        }
    }
    if frozen {
        return (FROZEN, q);
    }
    // Starts of the link path: an x that is no y.
    let mut starts = (0..link.len()).filter(|&i| !link.iter().any(|&(_, y)| y == link[i].0));
    let (first, boundary) = match (starts.next(), starts.next()) {
        (None, _) => (0, false),
        (Some(i), None) => (i, true),
        _ => return (FROZEN, q),
    };
    // Walk the path or cycle; it must visit every triangle of the fan.
    let mut cur = first;
    let mut steps = 1;
    loop {
        let y = link[cur].1;
        match link.iter().position(|&(x, _)| x == y) {
            Some(nx) if nx != first => {
                cur = nx;
                steps += 1;
                if steps > link.len() {
                    break;
                }
            }
            _ => break,
        }
    }
    if steps != link.len() {
        return (FROZEN, q);
    }
    let mut flags = 0;
    if boundary {
        flags |= BOUNDARY;
        if lock_boundary {
            flags |= PINNED;
        }
        // Boundary edges v–x (start of the path) and v–y (end of the path), with planes
        // through them perpendicular to their triangle.
        let end = (0..link.len())
            .find(|&i| !link.iter().any(|&(x, _)| x == link[i].1))
            .unwrap_or(first);
        for (w, t) in [(link[first].0, fan[first]), (link[end].1, fan[end])] {
            let tri = tris[t as usize];
            let (a, b, c) = (p(tri[0]), p(tri[1]), p(tri[2]));
            let n = (b - a).cross(c - a);
            let e = p(w) - p(v);
            let m = e.cross(n);
            let ml = m.length();
            if ml > 0.0 {
                let mu = m / ml;
                let pv = p(v);
                q.add(&Quadric::plane(
                    mu,
                    -mu.dot(pv),
                    BOUNDARY_WEIGHT * e.length_squared(),
                ));
            }
        }
    }
    (flags, q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::self_intersect::triangles_intersect;
    use osteon_geom::{NeverCancel, NoProgress};

    /// After two halves at once and the run over the whole, the decimator's state is the
    /// one a single sweep keeps up to date: live triangles with live corners, the stored
    /// normals of the current corners, each fan exactly the live triangles around its
    /// vertex, survivors through `merged_into`.
    #[test]
    fn split_run_leaves_a_consistent_state() {
        let m = crate::shapes::torus(10.0, 3.0, 160, 64);
        let opts = DecimateOptions::default().ratio(Some(0.1));
        let mut d = Decimator::new(&m, &opts, None);
        let target = m.triangles.len() / 10;
        d.run_split(&opts, target, &NoProgress, &NeverCancel)
            .unwrap();
        assert!(d.alive_tris <= target + 1 && d.alive_tris + 2 >= target);
        assert_eq!(d.tri_alive.iter().filter(|&&a| a).count(), d.alive_tris);
        let mut around = vec![Vec::new(); d.pos.len()];
        for (t, tri) in d.tris.iter().enumerate() {
            if !d.tri_alive[t] {
                continue;
            }
            for &v in tri {
                assert_eq!(
                    d.flags[v as usize] & DEAD,
                    0,
                    "triangle {t} on a dead vertex"
                );
                around[v as usize].push(t as u32);
            }
            let now = tri_normal(map3(*tri, |v| d.pos[v as usize]));
            assert_eq!(d.tnormal[t], now, "stale normal of triangle {t}");
        }
        for (v, want) in around.iter().enumerate() {
            let mut fan = d.fans[v].to_vec();
            fan.sort_unstable();
            assert_eq!(&fan, want, "fan of vertex {v}");
            let s = d.survivor(v as u32);
            assert_eq!(
                d.flags[s as usize] & DEAD,
                0,
                "vertex {v} merged into a dead one"
            );
        }
    }

    /// The flat fan store behaves like a `Vec` per vertex: triangle order within a fan,
    /// a repeated index once, in-place removal, emptying, and growth past the spare slots
    /// (the fan moves to the end of the array without disturbing its neighbours).
    #[test]
    fn flat_fans_keep_order_through_growth() {
        let tris = [[0, 1, 2], [0, 2, 3], [1, 1, 3], [0, 3, 1]];
        let mut fans = Fans::new(5, &tris);
        assert_eq!(fans.len(), 5);
        assert_eq!(&fans[0], &[0, 1, 3]);
        assert_eq!(&fans[1], &[0, 2, 3]);
        assert_eq!(&fans[3], &[1, 2, 3]);
        assert!(fans[4].is_empty());
        // Model: one Vec per vertex, put through the same operations.
        let mut model: Vec<Vec<u32>> = (0..5).map(|v| fans[v].to_vec()).collect();
        let built = fans.data.len();
        for t in 10..40u32 {
            let v = t % 3;
            fans.push(v, t);
            model[v as usize].push(t);
        }
        fans.retain(1, |t| t % 2 == 0);
        model[1].retain(|&t| t % 2 == 0);
        let mut taken = vec![99];
        fans.take_into(2, &mut taken);
        assert_eq!(taken, model[2]);
        model[2].clear();
        fans.push(2, 7);
        model[2].push(7);
        for (v, want) in model.iter().enumerate() {
            assert_eq!(&fans[v], want.as_slice(), "fan {v}");
        }
        // Vertex 0 grew from 3 to 13 triangles, past its spare slots: its fan moved to the
        // end of the array.
        assert!(fans.span[0].start >= built, "fan 0 did not move");
    }

    /// [`off_plane`] only ever rules a pair out where the full exact test agrees: random
    /// pairs of triangles on a small lattice, so that shared corners, shared edges,
    /// coplanar and zero-area triangles are all common.
    #[test]
    fn off_plane_never_hides_a_crossing() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut pt = move || {
            Vec3::new(
                (next() % 4) as f32,
                (next() % 4) as f32 * 0.75,
                (next() % 3) as f32 * 0.5,
            )
        };
        let (mut ruled_out, mut crossing) = (0usize, 0usize);
        for _ in 0..100_000 {
            let t = [pt(), pt(), pt()];
            let u = [pt(), pt(), pt()];
            let x = triangles_intersect(t, u);
            if off_plane(&t, &u) {
                assert!(!x, "{t:?} {u:?}");
                ruled_out += 1;
            }
            crossing += usize::from(x);
        }
        assert!(
            ruled_out > 5_000 && crossing > 5_000,
            "{ruled_out} {crossing}"
        );
    }
}
