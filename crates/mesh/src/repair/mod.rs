//! Mesh repair that always ends closed, or says exactly why not, and logs what it changed.
//!
//! In: any [`Mesh`] (millimetres): a triangle soup with duplicated vertices, holes,
//! non-manifold edges, flipped or inconsistent winding, degenerate and duplicate
//! triangles, self-intersections. Out: a watertight, 2-manifold, consistently and outward
//! oriented mesh (cavities inward) free of self-intersections, and a [`RepairLog`] with
//! the count of every change, the holes filled with their perimeters and areas, and the
//! measured distance of the result from the input outside the filled holes. When a defect
//! cannot be repaired the log's `closed` is false and `problems` says why.
//!
//! The steps, each a public free function over a mesh (one module each):
//! 1. [`weld()`] vertices within a tolerance (default 10⁻⁶ × the bounding-box diagonal);
//! 2. [`remove_degenerate`]: repeated-index, zero-area and duplicate triangles,
//!    unreferenced vertices;
//! 3. [`split_nonmanifold`]: non-manifold edges and vertices into manifold sheets;
//! 4. [`orient()`]: consistent winding per shell;
//! 5. [`fill_holes`]: Liepa's minimum-dihedral triangulation, refinement and fairing;
//! 6. [`resolve_self_intersections`]: remove-and-refill rounds (MeshFix-style);
//! 7. [`orient_outward`]: outer shells outward, cavities inward (nesting by winding number);
//! 8. [`remove_small_components`] (by default only flat shells that enclose nothing).
//!
//! A clean input (closed, manifold, outward, no intersection, nothing within the weld
//! tolerance) comes out identical: no step moves a vertex that is not part of a repair.
//! Repair is idempotent: its output is clean. Overlapping closed shells (bones that touch,
//! a handle pushed into a body) need a union, which local remeshing cannot do: after
//! step 7, [`union_shells`] cuts them exactly along their intersection curves and keeps
//! the outer boundary ([`RepairLog::union`]); when it cannot, the log reports the pairs
//! left between shells, and the CLI's `--rebuild` remeshes the solid through a distance
//! field.
//!
//! ```
//! use osteon_mesh::{repair::{repair, RepairOptions}, shapes::icosphere};
//! let sphere = icosphere(2, 10.0);
//! // Punch a hole and flip a triangle.
//! let mut broken = sphere.clone();
//! broken.triangles.remove(0);
//! broken.triangles[5].swap(1, 2);
//! let (fixed, log) = repair(&broken, &RepairOptions::default()).unwrap();
//! assert!(log.closed && log.holes.filled == 1 && log.orient.triangles_flipped == 1);
//! assert_eq!(fixed.triangles.len(), sphere.triangles.len());
//! ```

mod components;
mod degenerate;
mod holes;
mod log;
mod nonmanifold;
mod orient;
mod self_intersections;
mod union;
mod weld;

use std::collections::BTreeMap;
use std::time::Instant;

use osteon_geom::{Cancel, DVec3, NeverCancel, NoProgress, Progress, Vec3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use components::remove_small_components;
pub use degenerate::remove_degenerate;
pub use holes::{fill_holes, DP_MAX};
pub use log::{
    ComponentsReport, Counts, DegenerateReport, DeviationReport, HoleRecord, HolesReport,
    NonManifoldReport, OrientReport, RepairLog, SelfIntersectionReport, WeldReport,
};
pub use nonmanifold::split_nonmanifold;
pub use orient::{orient, orient_outward};
pub use self_intersections::resolve_self_intersections;
pub use union::{union_shells, UnionReport};
pub use weld::weld;

use crate::distance::{points_deviation, DistanceIndex};
use crate::report::{MeshReport, ReportOptions};
use crate::self_intersect::self_intersections;
use crate::topology::Topology;
use crate::{Mesh, MeshError};

/// Options of [`repair`]. The defaults repair everything and keep every real shell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct RepairOptions {
    /// Weld distance, mm; `None`: 10⁻⁶ × the bounding-box diagonal (merges exact and
    /// nearly exact duplicates only).
    pub weld_tolerance_mm: Option<f64>,
    /// Holes larger than this (diagonal of the loop's bounding box, mm) stay open; `None`
    /// fills every hole.
    pub max_hole_mm: Option<f64>,
    /// Fair hole patches to continue the surrounding curvature (off: refined minimum
    /// dihedral triangulation only).
    pub fair_holes: bool,
    /// Try to resolve self-intersections by remove-and-refill rounds.
    pub resolve_self_intersections: bool,
    /// Rounds of that at most.
    pub max_intersection_rounds: usize,
    /// Also remesh where two different shells intersect (overlapping solids). Off by
    /// default: local remeshing cannot make a union, it eats both shells around the
    /// contact (measured: 12 % of the volume of the overlapping foot bones); the log
    /// reports such pairs and the CLI offers `--rebuild` instead.
    pub remesh_overlapping_shells: bool,
    /// Replace overlapping closed shells by the boundary of their union (exact
    /// co-refinement and winding-number classification, see [`union_shells`]); when the
    /// union cannot be made exactly the mesh is kept and the log says why.
    pub union_overlapping_shells: bool,
    /// Remove shells with fewer triangles than this.
    pub min_shell_triangles: usize,
    /// Remove closed shells enclosing less than this volume, mm³.
    pub min_shell_volume_mm3: f64,
    /// Measure the output's deviation from the input (costs a distance query per sample).
    pub measure_deviation: bool,
}

impl Default for RepairOptions {
    fn default() -> Self {
        RepairOptions {
            weld_tolerance_mm: None,
            max_hole_mm: None,
            fair_holes: true,
            resolve_self_intersections: true,
            max_intersection_rounds: 4,
            remesh_overlapping_shells: false,
            union_overlapping_shells: true,
            min_shell_triangles: 0,
            min_shell_volume_mm3: 0.0,
            measure_deviation: true,
        }
    }
}

impl RepairOptions {
    /// Sets [`RepairOptions::weld_tolerance_mm`].
    pub fn with_weld_tolerance_mm(mut self, mm: Option<f64>) -> Self {
        self.weld_tolerance_mm = mm;
        self
    }
    /// Sets [`RepairOptions::max_hole_mm`].
    pub fn with_max_hole_mm(mut self, mm: Option<f64>) -> Self {
        self.max_hole_mm = mm;
        self
    }
    /// Sets [`RepairOptions::fair_holes`].
    pub fn with_fair_holes(mut self, on: bool) -> Self {
        self.fair_holes = on;
        self
    }
    /// Sets [`RepairOptions::resolve_self_intersections`].
    pub fn with_resolve_self_intersections(mut self, on: bool) -> Self {
        self.resolve_self_intersections = on;
        self
    }
    /// Sets [`RepairOptions::max_intersection_rounds`].
    pub fn with_max_intersection_rounds(mut self, n: usize) -> Self {
        self.max_intersection_rounds = n;
        self
    }
    /// Sets [`RepairOptions::remesh_overlapping_shells`].
    pub fn with_remesh_overlapping_shells(mut self, on: bool) -> Self {
        self.remesh_overlapping_shells = on;
        self
    }
    /// Sets [`RepairOptions::union_overlapping_shells`].
    pub fn with_union_overlapping_shells(mut self, on: bool) -> Self {
        self.union_overlapping_shells = on;
        self
    }
    /// Sets [`RepairOptions::min_shell_triangles`].
    pub fn with_min_shell_triangles(mut self, n: usize) -> Self {
        self.min_shell_triangles = n;
        self
    }
    /// Sets [`RepairOptions::min_shell_volume_mm3`].
    pub fn with_min_shell_volume_mm3(mut self, v: f64) -> Self {
        self.min_shell_volume_mm3 = v;
        self
    }
    /// Sets [`RepairOptions::measure_deviation`].
    pub fn with_measure_deviation(mut self, on: bool) -> Self {
        self.measure_deviation = on;
        self
    }

    fn validate(&self) -> Result<(), MeshError> {
        if let Some(t) = self.weld_tolerance_mm {
            weld::check_tolerance(t)?;
        }
        holes::check_max_hole(self.max_hole_mm)?;
        components::check_volume(self.min_shell_volume_mm3)
    }
}

/// The mesh being repaired, with a flag per triangle: part of a hole patch.
#[derive(Clone, Debug, Default)]
pub(crate) struct Work {
    pub p: Vec<Vec3>,
    pub t: Vec<[u32; 3]>,
    pub patch: Vec<bool>,
}

impl Work {
    pub fn from_mesh(m: &Mesh) -> Work {
        Work {
            p: m.positions.clone(),
            t: m.triangles.clone(),
            patch: vec![false; m.triangles.len()],
        }
    }

    pub fn into_mesh(self) -> Mesh {
        Mesh {
            positions: self.p,
            triangles: self.t,
        }
    }

    /// Runs `f` on the mesh view of the work without copying it.
    pub fn with_mesh<R>(&mut self, f: impl FnOnce(&Mesh) -> R) -> R {
        let m = Mesh {
            positions: std::mem::take(&mut self.p),
            triangles: std::mem::take(&mut self.t),
        };
        let r = f(&m);
        self.p = m.positions;
        self.t = m.triangles;
        r
    }

    /// Keeps the triangles whose flag in `keep` is set (order kept).
    pub fn retain(&mut self, keep: &[bool]) {
        let mut i = 0;
        self.t.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        let mut i = 0;
        self.patch.retain(|_| {
            i += 1;
            keep[i - 1]
        });
    }

    /// Drops unreferenced vertices (the others keep their order); returns how many.
    pub fn compact_vertices(&mut self) -> usize {
        let mut used = vec![false; self.p.len()];
        for t in &self.t {
            for &i in t {
                used[i as usize] = true;
            }
        }
        let unused = used.iter().filter(|&&u| !u).count();
        if unused == 0 {
            return 0;
        }
        let mut id = vec![u32::MAX; self.p.len()];
        let mut p = Vec::with_capacity(self.p.len() - unused);
        for (i, &u) in used.iter().enumerate() {
            if u {
                id[i] = p.len() as u32;
                p.push(self.p[i]);
            }
        }
        self.p = p;
        self.t
            .par_iter_mut()
            .for_each(|t| *t = t.map(|i| id[i as usize]));
        unused
    }
}

/// Repairs `mesh` with `opts`: see the module documentation.
///
/// Errors: [`MeshError::Empty`] for a mesh without triangles, [`MeshError::NonFinite`] and
/// [`MeshError::IndexOutOfRange`] for invalid meshes, [`MeshError::InvalidOption`] for bad
/// options. A mesh that cannot be made closed is not an error: see [`RepairLog::closed`].
pub fn repair(mesh: &Mesh, opts: &RepairOptions) -> Result<(Mesh, RepairLog), MeshError> {
    repair_with(mesh, opts, &NoProgress, &NeverCancel)
}

/// [`repair`] with progress reports (one unit per step) and cancellation between steps
/// ([`MeshError::Cancelled`]).
pub fn repair_with(
    mesh: &Mesh,
    opts: &RepairOptions,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<(Mesh, RepairLog), MeshError> {
    mesh.validate()?;
    opts.validate()?;
    if mesh.triangles.is_empty() {
        return Err(MeshError::Empty);
    }
    let diag = mesh
        .bounds()
        .map_or(0.0, |b| (b.max - b.min).as_dvec3().length());
    let tol = opts.weld_tolerance_mm.unwrap_or(1e-6 * diag);
    let max_move = 1e-5 * diag;
    let mut log = RepairLog {
        input: Counts {
            vertices: mesh.positions.len(),
            triangles: mesh.triangles.len(),
        },
        ..RepairLog::default()
    };
    // The argument names the step at its call site.
    let step = |_step: &str| -> Result<(), MeshError> {
        if cancel.is_cancelled() {
            return Err(MeshError::Cancelled);
        }
        progress.advance(1);
        Ok(())
    };
    progress.begin("repair", 8);
    let mut laps = Laps::start();
    let mut w = Work::from_mesh(mesh);
    log.weld = weld::weld_work(&mut w, tol);
    laps.lap("weld");
    step("weld")?;
    log.degenerate = degenerate::degenerate_work(&mut w);
    laps.lap("degenerate");
    step("degenerate")?;
    // The topology is derived once here and reused while the mesh does not change (the
    // common case: no non-manifold edge or vertex to split).
    let topo = w.with_mesh(Topology::new)?;
    let topo = if topo.nonmanifold_edges() > 0 || topo.nonmanifold_vertices() > 0 {
        log.nonmanifold = nonmanifold::nonmanifold_work(&mut w, tol, max_move);
        None
    } else {
        Some(topo)
    };
    laps.lap("nonmanifold");
    step("nonmanifold")?;
    log.orient = orient::consistent_work_with(&mut w, topo)?;
    laps.lap("orient");
    step("orient")?;
    log.holes = holes::fill_holes_work(&mut w, opts.max_hole_mm, opts.fair_holes)?;
    laps.lap("holes");
    step("holes")?;
    let (_, mut topo) = close_up(&mut w, &mut log, opts, tol, max_move)?;
    laps.lap("cleanup");
    let mut faces: Option<Vec<u32>> = None;
    if opts.resolve_self_intersections {
        // A step that changed nothing keeps the clean topology (the usual case: no
        // intersection), so the clean-up need not derive it again.
        let before = topo.is_some().then(|| (w.t.clone(), w.p.clone()));
        let (r, left) = self_intersections::resolve_work(
            &mut w,
            opts.max_intersection_rounds,
            opts.remesh_overlapping_shells,
            tol,
            max_move,
        )?;
        log.self_intersections = r;
        laps.lap("self_intersections");
        let unchanged = before.is_some_and(|(t, p)| t == w.t && p == w.p);
        if unchanged {
            faces = Some(left);
        } else {
            let (touched, t) = close_up(&mut w, &mut log, opts, tol, max_move)?;
            if !touched {
                faces = Some(left);
            }
            topo = t;
        }
        laps.lap("cleanup");
    }
    step("self-intersections")?;
    // Intersecting triangles now (the last search, when nothing changed since).
    let mut faces = match faces {
        Some(f) => f,
        None => w.with_mesh(self_intersections).faces,
    };
    laps.lap("self_intersections");
    let mut intersecting = vec![false; w.t.len()];
    for &f in &faces {
        intersecting[f as usize] = true;
    }
    let (out, mut topo) = orient::outward_work_with(&mut w, &intersecting, topo)?;
    log.orient.shells_flipped = out.shells_flipped;
    log.orient.cavities = out.cavities;
    log.orient.enclosed_shells_removed = out.enclosed_shells_removed;
    laps.lap("outward");
    if opts.union_overlapping_shells && !faces.is_empty() {
        topo = None;
        log.union = union::union_work(&mut w, tol)?;
        if log.union.applied {
            faces.clear();
        }
        laps.lap("union");
    }
    step("outward")?;
    let (components, mut topo) = components::components_work_with(
        &mut w,
        opts.min_shell_triangles,
        opts.min_shell_volume_mm3,
        topo,
    )?;
    log.components = components;
    if w.compact_vertices() > 0 {
        topo = None;
    }
    laps.lap("components");
    step("components")?;
    progress.finish();

    // State of the result. Enclosed shells removed never intersect anything, so only a
    // removal of small shells calls for a new search.
    let topo = match topo {
        Some(t) => t,
        None => w.with_mesh(Topology::new)?,
    };
    let mut rep = w.with_mesh(|m| {
        MeshReport::with_topology_and(
            m,
            &topo,
            &ReportOptions::default().self_intersections(false),
        )
    });
    let si_faces = if log.components.shells_removed == 0 {
        faces.len()
    } else {
        w.with_mesh(|m| self_intersections(m).faces.len())
    };
    rep.self_intersecting_faces = Some(si_faces);
    let mut problems = rep.problems();
    for h in &log.holes.holes {
        if let Some(r) = &h.reason {
            problems.push(format!(
                "hole of {} edges ({:.4} mm perimeter) left open: {r}",
                h.boundary_edges, h.perimeter_mm
            ));
        }
    }
    if si_faces > 0 && log.self_intersections.pairs_between_shells > 0 {
        problems.push(format!(
            "{} intersecting pairs lie between different shells (overlapping solids need a union{}: rebuild through a distance field)",
            log.self_intersections.pairs_between_shells,
            log.union
                .fallback
                .as_ref()
                .map_or(String::new(), |f| format!(", which failed: {f}"))
        ));
    }
    log.closed = rep.watertight
        && rep.manifold
        && rep.oriented
        && rep.outward
        && rep.degenerate_triangles == 0
        && rep.duplicate_triangles == 0
        && si_faces == 0;
    log.problems = problems;
    log.report = Some(rep);
    log.output = Counts {
        vertices: w.p.len(),
        triangles: w.t.len(),
    };
    log.changed = w.p != mesh.positions || w.t != mesh.triangles;
    laps.lap("report");
    step("verify")?;
    if opts.measure_deviation {
        log.deviation = deviation(mesh, &w, diag)?;
    }
    laps.lap("deviation");
    log.timings_s = laps.times;
    step("deviation")?;
    Ok((w.into_mesh(), log))
}

/// Wall-clock time per step, summed over the step's calls.
struct Laps {
    last: Instant,
    times: BTreeMap<String, f64>,
}

impl Laps {
    fn start() -> Laps {
        Laps {
            last: Instant::now(),
            times: BTreeMap::new(),
        }
    }

    /// Adds the time since the previous lap to `step`.
    fn lap(&mut self, step: &str) {
        let now = Instant::now();
        *self.times.entry(step.to_string()).or_insert(0.0) +=
            now.duration_since(self.last).as_secs_f64();
        self.last = now;
    }
}

/// Rounds of clean-up until the topology is clean (at most three): triangles on edges that
/// are still non-manifold or inconsistently wound after splitting and orienting (a
/// non-orientable strip, sheets the split could not separate) are removed, and the holes
/// this leaves are filled like the others. Every change is added to `log`.
fn close_up(
    w: &mut Work,
    log: &mut RepairLog,
    opts: &RepairOptions,
    tol: f64,
    max_move: f64,
) -> Result<(bool, Option<Topology>), MeshError> {
    let mut touched = false;
    for _ in 0..3 {
        let topo = w.with_mesh(Topology::new)?;
        // Boundary edges of holes left open on purpose (too large).
        let open_edges: usize = log
            .holes
            .holes
            .iter()
            .filter(|h| !h.filled)
            .map(|h| h.boundary_edges)
            .sum();
        if topo.nonmanifold_edges() == 0
            && topo.nonmanifold_vertices() == 0
            && topo.inconsistent_edges() == 0
            && topo.boundary_edges() <= open_edges
        {
            return Ok((touched, Some(topo)));
        }
        touched = true;
        if topo.nonmanifold_edges() > 0 || topo.inconsistent_edges() > 0 {
            let opp = topo.opposites();
            let keep: Vec<bool> = (0..w.t.len())
                .map(|t| {
                    (0..3).all(|k| {
                        let c = 3 * t + k;
                        match opp[c] {
                            crate::topology::NONMANIFOLD => false,
                            o if o < crate::topology::DEGENERATE => {
                                let o = o as usize;
                                w.t[t][k] != w.t[o / 3][o % 3]
                            }
                            _ => true,
                        }
                    })
                })
                .collect();
            let removed = keep.iter().filter(|&&k| !k).count();
            log.nonmanifold.triangles_removed += removed;
            w.retain(&keep);
        }
        let d = degenerate::degenerate_work(w);
        log.degenerate.repeated_index_triangles += d.repeated_index_triangles;
        log.degenerate.zero_area_triangles += d.zero_area_triangles;
        log.degenerate.neighbours_split += d.neighbours_split;
        log.degenerate.duplicate_triangles += d.duplicate_triangles;
        log.degenerate.unreferenced_vertices += d.unreferenced_vertices;
        let n = nonmanifold::nonmanifold_work(w, tol, max_move);
        log.nonmanifold.edges_split += n.edges_split;
        log.nonmanifold.vertices_split += n.vertices_split;
        log.nonmanifold.vertices_added += n.vertices_added;
        log.nonmanifold.max_displacement_mm = log
            .nonmanifold
            .max_displacement_mm
            .max(n.max_displacement_mm);
        let o = orient::consistent_work(w)?;
        log.orient.triangles_flipped += o.triangles_flipped;
        log.orient.non_orientable_edges += o.non_orientable_edges;
        // Holes already reported open stay open; new ones are filled.
        let h = holes::fill_holes_work(w, opts.max_hole_mm, opts.fair_holes)?;
        log.holes.filled += h.filled;
        log.holes.triangles_added += h.triangles_added;
        log.holes.vertices_added += h.vertices_added;
        log.holes.skipped = h.skipped;
        // Loops left open are listed again by every round: keep the latest list of them.
        log.holes.holes.retain(|x| x.filled);
        log.holes.holes.extend(h.holes);
    }
    Ok((touched, None))
}

/// Distances of the output's vertices and centroids outside patches from the input.
///
/// Samples that lie on the input surface by construction are not searched: an output
/// vertex at the exact position (same bits) of a vertex of an input triangle, and the
/// centroid of an output triangle whose three corners are the corners of one input
/// triangle. Their distance is exactly 0 (a search would return rounding noise, ~10⁻¹⁶ of
/// the size); every other sample (moved copies, new corners, re-triangulated parts) is
/// measured against the input surface.
fn deviation(input: &Mesh, w: &Work, diag: f64) -> Result<DeviationReport, MeshError> {
    // Input vertices used by a triangle, by position bits; the canonical id of a position
    // is its lowest such vertex.
    let bits = |p: Vec3| [p.x.to_bits(), p.y.to_bits(), p.z.to_bits()];
    let mut used_in = vec![false; input.positions.len()];
    for t in &input.triangles {
        for &i in t {
            used_in[i as usize] = true;
        }
    }
    let mut by_pos: Vec<([u32; 3], u32)> = input
        .positions
        .iter()
        .enumerate()
        .filter(|&(i, _)| used_in[i])
        .map(|(i, &p)| (bits(p), i as u32))
        .collect();
    by_pos.par_sort_unstable();
    // Canonical id of every used input vertex: the first of its run of equal positions.
    let mut canon_in = vec![u32::MAX; input.positions.len()];
    let mut first = 0;
    for k in 0..by_pos.len() {
        if by_pos[k].0 != by_pos[first].0 {
            first = k;
        }
        canon_in[by_pos[k].1 as usize] = by_pos[first].1;
    }
    by_pos.dedup_by_key(|e| e.0);
    let canon = |p: Vec3| -> Option<u32> {
        let b = bits(p);
        by_pos
            .binary_search_by(|e| e.0.cmp(&b))
            .ok()
            .map(|k| by_pos[k].1)
    };
    let mut in_tris: Vec<[u32; 3]> = input
        .triangles
        .par_iter()
        .map(|t| {
            let mut k = t.map(|i| canon_in[i as usize]);
            k.sort_unstable();
            k
        })
        .collect();
    in_tris.par_sort_unstable();
    in_tris.dedup();
    let canon_out: Vec<u32> =
        w.p.par_iter()
            .map(|&p| canon(p).unwrap_or(u32::MAX))
            .collect();

    let mut used = vec![false; w.p.len()];
    let mut samples: Vec<DVec3> = Vec::with_capacity(w.t.len() * 2);
    let (mut patch_triangles, mut on_input) = (0, 0usize);
    for (t, &patch) in w.t.iter().zip(&w.patch) {
        if patch {
            patch_triangles += 1;
            continue;
        }
        for &i in t {
            used[i as usize] = true;
        }
        let mut k = t.map(|i| canon_out[i as usize]);
        k.sort_unstable();
        if k[2] != u32::MAX && in_tris.binary_search(&k).is_ok() {
            on_input += 1;
            continue;
        }
        let [a, b, c] = t.map(|i| w.p[i as usize].as_dvec3());
        samples.push((a + b + c) / 3.0);
    }
    for (i, p) in w.p.iter().enumerate() {
        if used[i] {
            if canon_out[i] != u32::MAX {
                on_input += 1;
            } else {
                samples.push(p.as_dvec3());
            }
        }
    }
    let total = samples.len() + on_input;
    if samples.is_empty() {
        return Ok(DeviationReport {
            max_mm: 0.0,
            mean_mm: 0.0,
            relative_to_bbox: 0.0,
            bbox_diagonal_mm: diag,
            samples: total,
            patch_triangles,
        });
    }
    let index = DistanceIndex::new(input)?;
    // Almost every sample lies on the input surface: a query bounded by the promise
    // (10⁻⁴ × diagonal) prunes the tree early; only samples beyond it need the full search.
    let bound = 1e-4 * diag;
    let parts: Vec<(f64, f64)> = samples
        .par_chunks(4096)
        .map(|chunk| {
            let (mut max, mut sum) = (0.0f64, 0.0f64);
            for &p in chunk {
                let d = match index.closest_point_f64(p, bound) {
                    Some(c) => c.distance,
                    None => points_deviation(&[p], &index).max_mm,
                };
                max = max.max(d);
                sum += d;
            }
            (max, sum)
        })
        .collect();
    let max = parts.iter().fold(0.0f64, |m, p| m.max(p.0));
    let sum: f64 = parts.iter().map(|p| p.1).sum();
    let d = crate::distance::DirectedDeviation {
        max_mm: max,
        mean_mm: sum / total as f64,
        samples: total,
    };
    Ok(DeviationReport {
        max_mm: d.max_mm,
        mean_mm: d.mean_mm,
        relative_to_bbox: if diag > 0.0 { d.max_mm / diag } else { 0.0 },
        bbox_diagonal_mm: diag,
        samples: d.samples,
        patch_triangles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::icosphere;

    #[test]
    fn deviation_measures_moved_vertices_and_skips_only_input_samples() {
        let m = icosphere(3, 10.0);
        let diag = 20.0 * 3f64.sqrt();
        // Unchanged: every sample is on an input triangle, exactly 0.
        let w = Work::from_mesh(&m);
        let d = deviation(&m, &w, diag).unwrap();
        assert_eq!(d.max_mm, 0.0);
        assert_eq!(d.samples, m.triangles.len() + m.positions.len());
        // One vertex pushed outward by 0.01 mm: it and its triangles' centroids are measured.
        let mut w = Work::from_mesh(&m);
        let p = w.p[7];
        w.p[7] = p + p.normalize() * 0.01;
        let d = deviation(&m, &w, diag).unwrap();
        assert!((d.max_mm - 0.01).abs() < 2e-3, "{d:?}");
        // The same triangles with flipped winding lie on the input surface too.
        let mut w = Work::from_mesh(&m);
        w.t.iter_mut().for_each(|t| t.swap(1, 2));
        assert_eq!(deviation(&m, &w, diag).unwrap().max_mm, 0.0);
    }

    #[test]
    fn log_times_every_step() {
        let mut m = icosphere(2, 10.0);
        m.triangles.remove(0);
        let (_, log) = repair(&m, &RepairOptions::default()).unwrap();
        for step in [
            "weld",
            "degenerate",
            "nonmanifold",
            "orient",
            "holes",
            "cleanup",
            "self_intersections",
            "outward",
            "components",
            "report",
            "deviation",
        ] {
            let t = log.timings_s.get(step).copied();
            assert!(t.is_some_and(|t| (0.0..60.0).contains(&t)), "{step}: {t:?}");
        }
        let json = serde_json::to_value(&log).unwrap();
        assert!(json["timings_s"]["holes"].is_number());
    }
}
