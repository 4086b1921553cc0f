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
use crate::self_intersect::{self_intersections, self_intersections_among, SelfIntersections};
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

/// [`Work::src`] of a triangle that is no copy of an input triangle.
pub(crate) const NO_SOURCE: u32 = u32::MAX;

/// The mesh being repaired, with a flag per triangle: part of a hole patch, and per
/// triangle the input triangle it was copied from.
#[derive(Clone, Debug, Default)]
pub(crate) struct Work {
    pub p: Vec<Vec3>,
    pub t: Vec<[u32; 3]>,
    pub patch: Vec<bool>,
    /// Per triangle: the index of the input triangle it is a copy of (its vertices
    /// renumbered, maybe welded, moved or its winding flipped), or [`NO_SOURCE`] (new
    /// triangles: patches, splits, cut pieces). Only a hint for the deviation measure,
    /// which checks it on the exact positions before trusting it.
    pub src: Vec<u32>,
}

impl Work {
    pub fn from_mesh(m: &Mesh) -> Work {
        Work {
            p: m.positions.clone(),
            t: m.triangles.clone(),
            patch: vec![false; m.triangles.len()],
            src: (0..m.triangles.len() as u32).collect(),
        }
    }

    /// Appends triangle `t` (flagged as a patch or not; no input source).
    pub fn push_new(&mut self, t: [u32; 3], patch: bool) {
        self.t.push(t);
        self.patch.push(patch);
        self.src.push(NO_SOURCE);
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
        let mut i = 0;
        self.src.retain(|_| {
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
    // The self-intersection search of this mesh runs concurrently with the topology steps
    // (splitting, orienting, hole filling, clean-up): those only flip triangles and append
    // patches in the usual case, so the intersections of the result are the ones found
    // here plus those of the new triangles (checked on the mesh before being relied on,
    // see `extend_search`); when anything else changed, the result is searched whole.
    let early = opts.resolve_self_intersections.then(|| Mesh {
        positions: w.p.clone(),
        triangles: w.t.clone(),
    });
    let (found, mid) = rayon::join(
        || {
            early.as_ref().map(|m| {
                let t0 = Instant::now();
                let si = self_intersections(m);
                (si, t0.elapsed().as_secs_f64())
            })
        },
        || -> Result<Option<Topology>, MeshError> {
            // The topology is derived once here and reused while the mesh does not change
            // (the common case: no non-manifold edge or vertex to split).
            let topo = w.with_mesh(Topology::new)?;
            let topo = if topo.nonmanifold_edges() > 0 || topo.nonmanifold_vertices() > 0 {
                log.nonmanifold = nonmanifold::nonmanifold_work(&mut w, tol, max_move);
                None
            } else {
                Some(topo)
            };
            laps.lap("nonmanifold");
            step("nonmanifold")?;
            let (o, boundary) = orient::consistent_work_boundary(&mut w, topo)?;
            log.orient = o;
            laps.lap("orient");
            step("orient")?;
            log.holes =
                holes::fill_holes_work_at(&mut w, &boundary, opts.max_hole_mm, opts.fair_holes);
            laps.lap("holes");
            step("holes")?;
            let (_, topo) = close_up(&mut w, &mut log, opts, tol, max_move)?;
            laps.lap("cleanup");
            Ok(topo)
        },
    );
    let mut topo = mid?;
    // The concurrent search counts as its own step; waiting for it counts as none.
    laps.skip();
    let mut faces: Option<Vec<u32>> = None;
    if opts.resolve_self_intersections {
        let first = match (found, &early) {
            (Some((si, secs)), Some(m)) => {
                laps.add("self_intersections", secs);
                let groups: Vec<usize> =
                    log.holes.holes.iter().map(|h| h.triangles_added).collect();
                extend_search(m, si, &mut w, &groups)
            }
            _ => None,
        };
        // A step that changed nothing keeps the clean topology (the usual case: no
        // intersection), so the clean-up need not derive it again.
        let (r, left) = self_intersections::resolve_work(
            &mut w,
            first,
            opts.max_intersection_rounds,
            opts.remesh_overlapping_shells,
            tol,
            max_move,
        )?;
        let unchanged = r.triangles_removed == 0;
        log.self_intersections = r;
        laps.lap("self_intersections");
        if unchanged && topo.is_some() {
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

    /// Starts the next lap now, the time since the previous one counted nowhere.
    fn skip(&mut self) {
        self.last = Instant::now();
    }

    /// Adds `secs` (measured elsewhere) to `step`.
    fn add(&mut self, step: &str, secs: f64) {
        *self.times.entry(step.to_string()).or_insert(0.0) += secs;
    }

    /// Adds the time since the previous lap to `step`.
    fn lap(&mut self, step: &str) {
        let now = Instant::now();
        *self.times.entry(step.to_string()).or_insert(0.0) +=
            now.duration_since(self.last).as_secs_f64();
        self.last = now;
    }
}

/// The self-intersections of `w` from those of `early`, an earlier state of it: when `w`
/// is `early` with its first vertices at the same positions, its first triangles on the
/// same corners (their winding may differ: intersections do not depend on it) and only
/// triangles and vertices appended (hole patches), its intersecting pairs are those of
/// `early` (`si`) and those with at least one new triangle (searched now). `None` when
/// `w` is not such an extension (then it must be searched whole).
fn extend_search(
    early: &Mesh,
    si: SelfIntersections,
    w: &mut Work,
    groups: &[usize],
) -> Option<SelfIntersections> {
    let (nv, nt) = (early.positions.len(), early.triangles.len());
    if w.p.len() < nv || w.t.len() < nt || w.p[..nv] != early.positions[..] {
        return None;
    }
    let sorted = |t: &[u32; 3]| {
        let mut s = *t;
        s.sort_unstable();
        s
    };
    let same = w.t[..nt]
        .par_iter()
        .with_min_len(4096)
        .zip(&early.triangles)
        .all(|(a, b)| sorted(a) == sorted(b));
    if !same {
        return None;
    }
    if w.t.len() == nt {
        return Some(si);
    }
    let more = search_new(w, nt, groups);
    let mut faces = si.faces;
    faces.extend_from_slice(&more.faces);
    faces.sort_unstable();
    faces.dedup();
    Some(SelfIntersections {
        pairs: si.pairs + more.pairs,
        faces,
    })
}

/// The intersecting pairs of `w` with at least one triangle numbered `nt` or more (the
/// new ones, appended in consecutive groups of `groups[i]` triangles: one per hole patch).
/// A triangle can only meet a new one if their boxes overlap, so the search runs on the
/// part of the mesh whose triangles' boxes overlap the box of a group (intersection is
/// decided on exact coordinates, not on indices or neighbours, so the part gives the same
/// answer as the whole); triangle ids are mapped back.
fn search_new(w: &Work, nt: usize, groups: &[usize]) -> SelfIntersections {
    let n = w.t.len();
    let bbox = |ts: &[[u32; 3]]| {
        ts.iter().flatten().fold(
            (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)),
            |(lo, hi), &i| {
                let p = w.p[i as usize];
                (lo.min(p), hi.max(p))
            },
        )
    };
    // Groups of new triangles: the holes' patches when they account for all of them, else
    // runs of 64.
    let sizes: Vec<usize> = if groups.iter().sum::<usize>() == n - nt {
        groups.iter().copied().filter(|&g| g > 0).collect()
    } else {
        let mut v = vec![64; (n - nt) / 64];
        if !(n - nt).is_multiple_of(64) {
            v.push((n - nt) % 64);
        }
        v
    };
    let mut boxes = Vec::with_capacity(sizes.len());
    let mut at = nt;
    for g in sizes {
        boxes.push(bbox(&w.t[at..at + g]));
        at += g;
    }
    let all = bbox(&w.t[nt..]);
    let overlaps =
        |a: &(Vec3, Vec3), b: &(Vec3, Vec3)| a.0.cmple(b.1).all() && b.0.cmple(a.1).all();
    let old: Vec<u32> = (0..nt as u32)
        .into_par_iter()
        .with_min_len(4096)
        .filter(|&t| {
            let b = bbox(std::slice::from_ref(&w.t[t as usize]));
            overlaps(&b, &all) && boxes.iter().any(|g| overlaps(&b, g))
        })
        .collect();
    // The part: those triangles, then the new ones; vertices renumbered compactly.
    let ids: Vec<u32> = old.iter().copied().chain(nt as u32..n as u32).collect();
    let mut local = vec![u32::MAX; w.p.len()];
    let mut positions = Vec::new();
    let triangles: Vec<[u32; 3]> = ids
        .iter()
        .map(|&t| {
            w.t[t as usize].map(|v| {
                let l = &mut local[v as usize];
                if *l == u32::MAX {
                    *l = positions.len() as u32;
                    positions.push(w.p[v as usize]);
                }
                *l
            })
        })
        .collect();
    let part = Mesh {
        positions,
        triangles,
    };
    let subset: Vec<u32> = (old.len() as u32..ids.len() as u32).collect();
    let found = self_intersections_among(&part, &subset);
    let mut faces: Vec<u32> = found.faces.iter().map(|&f| ids[f as usize]).collect();
    faces.sort_unstable();
    SelfIntersections {
        pairs: found.pairs,
        faces,
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
        let (o, boundary) = orient::consistent_work_boundary(w, None)?;
        log.orient.triangles_flipped += o.triangles_flipped;
        log.orient.non_orientable_edges += o.non_orientable_edges;
        // Holes already reported open stay open; new ones are filled.
        let h = holes::fill_holes_work_at(w, &boundary, opts.max_hole_mm, opts.fair_holes);
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
/// Samples that lie on the input surface by construction are not searched: the centroid
/// of an output triangle whose three corners are, bit for bit, the corners of the input
/// triangle it was copied from ([`Work::src`], checked on the exact positions, winding and
/// order aside), and the corners of such triangles. Their distance is exactly 0 (a search
/// would return rounding noise, ~10⁻¹⁶ of the size); every other sample (moved copies,
/// new corners, re-triangulated parts, triangles with no or a stale source) is measured
/// against the input surface. A wrong source can only make a sample measured, never
/// skipped.
fn deviation(input: &Mesh, w: &Work, diag: f64) -> Result<DeviationReport, MeshError> {
    let bits = |p: Vec3| [p.x.to_bits(), p.y.to_bits(), p.z.to_bits()];
    let corners = |p: &[Vec3], t: &[u32; 3]| {
        let mut k = t.map(|i| bits(p[i as usize]));
        k.sort_unstable();
        k
    };
    // Per output triangle: 0 patch, 1 on its input triangle, 2 to measure.
    let src_ok = w.src.len() == w.t.len();
    let class: Vec<u8> = (0..w.t.len())
        .into_par_iter()
        .with_min_len(4096)
        .map(|t| {
            if w.patch[t] {
                return 0;
            }
            let s = if src_ok { w.src[t] } else { NO_SOURCE };
            match input.triangles.get(s as usize) {
                Some(it) if corners(&w.p, &w.t[t]) == corners(&input.positions, it) => 1,
                _ => 2,
            }
        })
        .collect();
    // Per vertex: 0 unused outside patches, 1 corner of a triangle on the input, 2 other.
    let mut vclass = vec![0u8; w.p.len()];
    let mut samples: Vec<DVec3> = Vec::new();
    let (mut patch_triangles, mut on_input) = (0, 0usize);
    for (t, &c) in w.t.iter().zip(&class) {
        match c {
            0 => patch_triangles += 1,
            1 => {
                on_input += 1;
                for &i in t {
                    vclass[i as usize] = 1;
                }
            }
            _ => {
                for &i in t {
                    let v = &mut vclass[i as usize];
                    if *v != 1 {
                        *v = 2;
                    }
                }
                let [a, b, c] = t.map(|i| w.p[i as usize].as_dvec3());
                samples.push((a + b + c) / 3.0);
            }
        }
    }
    for (i, &c) in vclass.iter().enumerate() {
        match c {
            1 => on_input += 1,
            2 => samples.push(w.p[i].as_dvec3()),
            _ => {}
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
    fn extended_search_equals_a_search_of_the_whole() {
        // Two overlapping spheres: the first is the earlier state, the second is appended
        // (as hole patches are), in two groups.
        let a = icosphere(3, 10.0);
        let mut b = icosphere(3, 10.0);
        b.positions.iter_mut().for_each(|p| p.x += 7.0);
        let mut w = Work::from_mesh(&a);
        let base = w.p.len() as u32;
        w.p.extend_from_slice(&b.positions);
        for t in &b.triangles {
            w.push_new(t.map(|i| i + base), true);
        }
        let whole = w.with_mesh(self_intersections);
        assert!(whole.pairs > 0);
        let early = self_intersections(&a);
        let half = b.triangles.len() / 2;
        for groups in [vec![half, b.triangles.len() - half], vec![]] {
            let got = extend_search(&a, early.clone(), &mut w, &groups);
            assert_eq!(got.as_ref(), Some(&whole), "{groups:?}");
        }
        // Flipped triangles of the earlier state are still an extension of it.
        w.t[3].swap(1, 2);
        assert_eq!(extend_search(&a, early.clone(), &mut w, &[]), Some(whole));
        // A moved vertex or a changed triangle is not: the whole must be searched.
        let mut moved = w.clone();
        moved.p[0].x += 0.5;
        assert_eq!(extend_search(&a, early.clone(), &mut moved, &[]), None);
        let mut changed = w.clone();
        changed.t[0] = changed.t[1];
        assert_eq!(extend_search(&a, early, &mut changed, &[]), None);
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
