//! The repair log: what every step of [`crate::repair::repair`] changed, with counts and
//! measures, serialisable so that a reviewer (or the provenance manifest) can accept it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What [`crate::repair::weld`] did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WeldReport {
    /// Distance within which vertices were merged, mm.
    pub tolerance_mm: f64,
    /// Vertices merged into another (each surviving vertex keeps its own position).
    pub vertices_welded: usize,
}

/// What [`crate::repair::remove_degenerate`] did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DegenerateReport {
    /// Triangles removed because two of their indices are equal (often edges collapsed by
    /// the weld).
    pub repeated_index_triangles: usize,
    /// Triangles removed because their corners are exactly collinear.
    pub zero_area_triangles: usize,
    /// Neighbouring triangles split at the middle corner of a collinear triangle, so the
    /// surface stays closed without moving any point.
    pub neighbours_split: usize,
    /// Triangles removed because another triangle has the same three vertices (same-winding
    /// copies leave one; a pair of opposite windings encloses nothing and both go).
    pub duplicate_triangles: usize,
    /// Vertices removed because no triangle uses them.
    pub unreferenced_vertices: usize,
}

/// What [`crate::repair::split_nonmanifold`] did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NonManifoldReport {
    /// Edges shared by more than two triangles, separated into manifold sheets.
    pub edges_split: usize,
    /// Vertices whose triangles formed more than one fan.
    pub vertices_split: usize,
    /// Vertex copies added (one per extra fan).
    pub vertices_added: usize,
    /// Largest distance a copy was moved into its own fan so that the sheets do not share
    /// a point, mm (see the module documentation of `nonmanifold`).
    pub max_displacement_mm: f64,
    /// Triangles removed because their edge stayed non-manifold or inconsistently wound
    /// after splitting and orienting (their holes are filled like the others).
    pub triangles_removed: usize,
}

/// What [`crate::repair::orient`] and the outward step did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OrientReport {
    /// Triangles flipped to agree with their shell's majority winding.
    pub triangles_flipped: usize,
    /// Whole shells flipped so that outer shells point out and cavities point in.
    pub shells_flipped: usize,
    /// Closed shells found inside an odd number of other shells (cavities, oriented inward).
    pub cavities: usize,
    /// Edges whose two triangles cannot agree (a non-orientable shell, e.g. a Möbius band).
    pub non_orientable_edges: usize,
    /// Closed shells removed because they lie inside another shell wound the same way (a
    /// solid inside a solid: the union is the same without them).
    pub enclosed_shells_removed: usize,
}

/// One boundary loop (hole) found by [`crate::repair::fill_holes`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HoleRecord {
    /// Edges of the boundary loop.
    pub boundary_edges: usize,
    /// Length of the boundary loop, mm.
    pub perimeter_mm: f64,
    /// Largest extent of the loop (diagonal of its bounding box), mm; compared with
    /// [`crate::repair::RepairOptions::max_hole_mm`].
    pub size_mm: f64,
    /// Area of the patch that closed it, mm² (0 when not filled).
    pub area_mm2: f64,
    /// Triangles added.
    pub triangles_added: usize,
    /// Vertices added inside the patch by refinement.
    pub vertices_added: usize,
    /// Whether the hole was closed.
    pub filled: bool,
    /// Why not, when it was not.
    pub reason: Option<String>,
}

/// What [`crate::repair::fill_holes`] did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HolesReport {
    /// Every boundary loop, in a deterministic order (by lowest vertex).
    pub holes: Vec<HoleRecord>,
    /// Loops closed.
    pub filled: usize,
    /// Loops left open (too large, see [`HoleRecord::reason`]).
    pub skipped: usize,
    /// Triangles added in all patches.
    pub triangles_added: usize,
    /// Vertices added in all patches.
    pub vertices_added: usize,
}

/// What [`crate::repair::resolve_self_intersections`] did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SelfIntersectionReport {
    /// Triangles intersecting another one before the step.
    pub faces_before: usize,
    /// Intersecting pairs before the step.
    pub pairs_before: usize,
    /// Triangles removed around intersections (the intersecting ones and their
    /// neighbourhood) before refilling.
    pub triangles_removed: usize,
    /// Holes refilled after removal.
    pub holes_filled: usize,
    /// Remove-and-refill rounds run.
    pub iterations: usize,
    /// Triangles still intersecting another one after the step.
    pub faces_after: usize,
    /// Intersecting pairs left.
    pub pairs_after: usize,
    /// Of the pairs left, those between two different shells (overlapping solids).
    pub pairs_between_shells: usize,
    /// True when no intersection is left.
    pub resolved: bool,
}

/// What [`crate::repair::remove_small_components`] did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ComponentsReport {
    /// Shells before.
    pub shells_before: usize,
    /// Shells removed (below the triangle count or volume limits).
    pub shells_removed: usize,
    /// Triangles they had.
    pub triangles_removed: usize,
}

/// Measured distance of the repaired surface from the input surface, outside the patches
/// that close holes (patches have no input surface to be compared with).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviationReport {
    /// Largest distance of a sample (every vertex and triangle centroid of the output that
    /// is not in a patch) from the input surface, mm.
    pub max_mm: f64,
    /// Mean of those distances, mm.
    pub mean_mm: f64,
    /// `max_mm` divided by the input's bounding-box diagonal.
    pub relative_to_bbox: f64,
    /// Bounding-box diagonal of the input, mm.
    pub bbox_diagonal_mm: f64,
    /// Samples measured.
    pub samples: usize,
    /// Output triangles excluded because they belong to a patch.
    pub patch_triangles: usize,
}

/// Vertex and triangle counts of a mesh.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Vertices.
    pub vertices: usize,
    /// Triangles.
    pub triangles: usize,
}

/// Everything [`crate::repair::repair`] changed, step by step, and the state of the result.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RepairLog {
    /// The input's size.
    pub input: Counts,
    /// The output's size.
    pub output: Counts,
    /// Step 1: weld.
    pub weld: WeldReport,
    /// Step 2: degenerate, duplicate triangles and unreferenced vertices.
    pub degenerate: DegenerateReport,
    /// Step 3: non-manifold edges and vertices.
    pub nonmanifold: NonManifoldReport,
    /// Step 4: orientation (consistent, then outward with cavities inward).
    pub orient: OrientReport,
    /// Step 5: holes.
    pub holes: HolesReport,
    /// Step 6: self-intersections.
    pub self_intersections: SelfIntersectionReport,
    /// Step 6b: union of overlapping shells.
    #[serde(default)]
    pub union: crate::repair::UnionReport,
    /// Step 7: small shells.
    pub components: ComponentsReport,
    /// Distance of the output from the input outside the patches.
    pub deviation: DeviationReport,
    /// True when the output differs from the input in any way.
    pub changed: bool,
    /// True when the output is watertight, 2-manifold, consistently and outward oriented
    /// and free of self-intersections.
    pub closed: bool,
    /// Why the output is not closed (empty when it is), one phrase per remaining problem.
    pub problems: Vec<String>,
    /// Wall-clock seconds per step (`weld`, `degenerate`, `nonmanifold`, `orient`, `holes`,
    /// `cleanup`, `self_intersections`, `outward`, `components`, `report`, `deviation`), so
    /// a caller sees where the time goes. The first self-intersection search runs
    /// concurrently with `nonmanifold` … `cleanup` (on two or more threads the steps'
    /// times add up to more than the wall-clock total). Not deterministic: clear it before
    /// comparing logs (the pipeline strips every `timings_s` from its reports).
    #[serde(default)]
    pub timings_s: BTreeMap<String, f64>,
    /// The full report of the output (with its self-intersection count), so callers need
    /// not search it again. Not serialised: callers print it beside the log.
    #[serde(skip)]
    pub report: Option<crate::MeshReport>,
}
