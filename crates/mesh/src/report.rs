//! The mesh report: counts, defects and measures of a mesh, serialisable to JSON.
//!
//! In: a [`Mesh`] (millimetres). Out: a [`MeshReport`] with its topology counts (from
//! [`Topology`]), degenerate and duplicate triangles, signed volume (mm³), area (mm²),
//! Euler characteristic and genus, bounding box, and the number of self-intersecting
//! triangles ([`crate::self_intersections`]). Every number is deterministic: the counts come
//! from sorts of unique keys and the f64 sums are reduced in a fixed order.
//!
//! Cost: the self-intersection search dominates (a BVH and exact triangle tests: several
//! times the rest of the report; 0.1–0.4 s for a 160 k-triangle head mesh, seconds for a
//! 2.5 M-triangle one); [`report_with`] and [`ReportOptions`] turn it off.

use std::fmt;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::self_intersect::self_intersections;
use crate::topology::Topology;
use crate::{Mesh, MeshError};

/// What [`report_with`] computes beyond the always-cheap counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct ReportOptions {
    /// Search for self-intersecting triangles (the most expensive part; on by default).
    pub self_intersections: bool,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            self_intersections: true,
        }
    }
}

impl ReportOptions {
    /// Sets [`ReportOptions::self_intersections`].
    pub fn self_intersections(mut self, on: bool) -> Self {
        self.self_intersections = on;
        self
    }
}

/// Axis-aligned bounding box of a report, millimetres.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox {
    /// Smallest corner `[x, y, z]`.
    pub min: [f32; 3],
    /// Largest corner `[x, y, z]`.
    pub max: [f32; 3],
}

/// What a mesh is made of and what is wrong with it. Field names are the JSON keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MeshReport {
    /// Number of vertices (including unreferenced ones).
    pub vertices: usize,
    /// Number of triangles.
    pub triangles: usize,
    /// Edge-connected components (shells) of the triangles.
    pub components: usize,
    /// Edges with one triangle: each hole is bounded by a loop of them.
    pub boundary_edges: usize,
    /// Edges with more than two triangles.
    pub nonmanifold_edges: usize,
    /// Vertices whose triangles do not form one fan joined by manifold edges.
    pub nonmanifold_vertices: usize,
    /// Winding conflicts: directed edges traversed by more than one triangle (a manifold
    /// edge whose two triangles run the same way counts once; see
    /// [`Topology::inconsistent_edges`]).
    pub inconsistent_edges: usize,
    /// Triangles with zero area (collinear corners) or a repeated vertex index.
    pub degenerate_triangles: usize,
    /// Triangles with the same vertex set as an earlier triangle (whatever the winding).
    pub duplicate_triangles: usize,
    /// No boundary and no non-manifold edge, and at least one triangle.
    pub watertight: bool,
    /// No non-manifold edge and no non-manifold vertex.
    pub manifold: bool,
    /// No winding conflict: no directed edge is traversed twice.
    pub oriented: bool,
    /// Watertight, oriented and with a positive total signed volume (normals point out).
    /// A whole-mesh test: a shell inside another with reversed winding (a cavity) is fine.
    pub outward: bool,
    /// Signed enclosed volume, mm³ (meaningful when watertight).
    pub volume_mm3: f64,
    /// Surface area, mm².
    pub area_mm2: f64,
    /// Σ over components of `(2 − χ_c) / 2`, when the mesh is watertight, manifold and
    /// oriented; `None` otherwise.
    pub genus: Option<u64>,
    /// `V − E + F` with V the referenced vertices and E the distinct edges.
    pub euler_characteristic: i64,
    /// Bounding box of the vertices, `null` when there are none.
    pub bbox_mm: Option<BoundingBox>,
    /// Vertices used by no triangle.
    pub unreferenced_vertices: usize,
    /// Triangles that intersect another triangle of the mesh (see
    /// [`crate::self_intersect`]); `null` when not computed ([`ReportOptions`]).
    pub self_intersecting_faces: Option<usize>,
}

/// Report on `mesh`.
///
/// Errors: [`MeshError::IndexOutOfRange`] when a triangle refers to a missing vertex (a mesh
/// from [`Mesh::new`] or a reader never does), [`MeshError::TooManyVertices`] past the `u32`
/// corner limit. Non-finite positions give NaN measures, not an error. Self-intersections
/// are searched (see the module documentation for the cost).
pub fn report(mesh: &Mesh) -> Result<MeshReport, MeshError> {
    MeshReport::of(mesh)
}

/// Report on `mesh` computing what `opts` asks for; errors as [`report()`].
pub fn report_with(mesh: &Mesh, opts: &ReportOptions) -> Result<MeshReport, MeshError> {
    let topo = Topology::new(mesh)?;
    Ok(MeshReport::with_topology_and(mesh, &topo, opts))
}

impl MeshReport {
    /// Report on `mesh`; see [`report()`].
    pub fn of(mesh: &Mesh) -> Result<MeshReport, MeshError> {
        report_with(mesh, &ReportOptions::default())
    }

    /// Report on `mesh` with its already derived topology `topo` (which must come from the
    /// same mesh), with the default [`ReportOptions`].
    pub fn with_topology(mesh: &Mesh, topo: &Topology) -> MeshReport {
        Self::with_topology_and(mesh, topo, &ReportOptions::default())
    }

    /// Report on `mesh` with its topology `topo` and options `opts`.
    pub fn with_topology_and(mesh: &Mesh, topo: &Topology, opts: &ReportOptions) -> MeshReport {
        let degenerate_triangles = mesh
            .triangles
            .par_iter()
            .filter(|t| {
                if t[0] == t[1] || t[1] == t[2] || t[0] == t[2] {
                    return true;
                }
                let p = |i: u32| mesh.positions[i as usize].as_dvec3();
                let (a, b, c) = (p(t[0]), p(t[1]), p(t[2]));
                // f32 differences and their products are exact in f64, so this is an
                // exact collinearity test up to the last addition.
                (b - a).cross(c - a) == osteon_geom::DVec3::ZERO
            })
            .count();
        let mut sorted: Vec<[u32; 3]> = mesh
            .triangles
            .par_iter()
            .map(|t| {
                let mut s = *t;
                s.sort_unstable();
                s
            })
            .collect();
        sorted.par_sort_unstable();
        let duplicate_triangles = sorted.windows(2).filter(|w| w[0] == w[1]).count();
        drop(sorted);

        let triangles = mesh.triangles.len();
        let watertight =
            triangles > 0 && topo.boundary_edges() == 0 && topo.nonmanifold_edges() == 0;
        let manifold = topo.nonmanifold_edges() == 0 && topo.nonmanifold_vertices() == 0;
        let oriented = topo.inconsistent_edges() == 0;
        let volume_mm3 = mesh.signed_volume();
        let outward = watertight && oriented && volume_mm3 > 0.0;
        let referenced = mesh.positions.len() - topo.unreferenced_vertices();
        let euler_characteristic = referenced as i64 - topo.edges() as i64 + triangles as i64;
        let genus = if watertight && manifold && oriented {
            topo.components().iter().try_fold(0u64, |g, c| {
                let twice = 2 - c.euler_characteristic();
                (twice >= 0 && twice % 2 == 0).then(|| g + twice as u64 / 2)
            })
        } else {
            None
        };
        MeshReport {
            vertices: mesh.positions.len(),
            triangles,
            components: topo.component_count(),
            boundary_edges: topo.boundary_edges(),
            nonmanifold_edges: topo.nonmanifold_edges(),
            nonmanifold_vertices: topo.nonmanifold_vertices(),
            inconsistent_edges: topo.inconsistent_edges(),
            degenerate_triangles,
            duplicate_triangles,
            watertight,
            manifold,
            oriented,
            outward,
            volume_mm3,
            area_mm2: mesh.area(),
            genus,
            euler_characteristic,
            bbox_mm: mesh.bounds().map(|b| BoundingBox {
                min: b.min.to_array(),
                max: b.max.to_array(),
            }),
            unreferenced_vertices: topo.unreferenced_vertices(),
            self_intersecting_faces: opts
                .self_intersections
                .then(|| self_intersections(mesh).faces.len()),
        }
    }

    /// What is wrong with the mesh, one phrase per problem; empty for a clean, closed,
    /// outward-oriented mesh.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.triangles == 0 {
            p.push("no triangles".to_string());
        }
        let mut count = |n: usize, one: &str, many: &str| {
            if n > 0 {
                p.push(format!("{n} {}", if n == 1 { one } else { many }));
            }
        };
        count(
            self.boundary_edges,
            "boundary edge (hole)",
            "boundary edges (holes)",
        );
        count(
            self.nonmanifold_edges,
            "non-manifold edge (more than two triangles)",
            "non-manifold edges (more than two triangles)",
        );
        count(
            self.nonmanifold_vertices,
            "non-manifold vertex (triangles meet only at a point)",
            "non-manifold vertices (triangles meet only at a point)",
        );
        count(
            self.inconsistent_edges,
            "edge with inconsistent winding",
            "edges with inconsistent winding",
        );
        count(
            self.degenerate_triangles,
            "degenerate triangle (zero area)",
            "degenerate triangles (zero area)",
        );
        count(
            self.duplicate_triangles,
            "duplicate triangle",
            "duplicate triangles",
        );
        count(
            self.self_intersecting_faces.unwrap_or(0),
            "self-intersecting triangle",
            "self-intersecting triangles",
        );
        count(
            self.unreferenced_vertices,
            "unreferenced vertex",
            "unreferenced vertices",
        );
        if self.watertight && self.oriented && !self.outward {
            p.push(format!(
                "inside out (signed volume {} mm³)",
                fmt_g(self.volume_mm3)
            ));
        }
        p
    }
}

fn fmt_g(x: f64) -> String {
    if x != 0.0 && (x.abs() >= 1e7 || x.abs() < 1e-3) {
        format!("{x:.4e}")
    } else {
        format!("{x:.3}")
    }
}

impl fmt::Display for MeshReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} vertices, {} triangles, {} component{}",
            self.vertices,
            self.triangles,
            self.components,
            if self.components == 1 { "" } else { "s" }
        )?;
        let yes = |b: bool| if b { "yes" } else { "no" };
        write!(
            f,
            "watertight: {}, manifold: {}, oriented: {}, outward: {}, ",
            yes(self.watertight),
            yes(self.manifold),
            yes(self.oriented),
            yes(self.outward)
        )?;
        match self.self_intersecting_faces {
            Some(n) => writeln!(f, "self-intersecting triangles: {n}")?,
            None => writeln!(f, "self-intersections: not checked")?,
        }
        write!(
            f,
            "volume: {} mm³, area: {} mm², genus: ",
            fmt_g(self.volume_mm3),
            fmt_g(self.area_mm2)
        )?;
        match self.genus {
            Some(g) => writeln!(f, "{g}")?,
            None => writeln!(f, "n/a (χ = {})", self.euler_characteristic)?,
        }
        if let Some(b) = &self.bbox_mm {
            writeln!(
                f,
                "bounds: [{}, {}, {}] – [{}, {}, {}] mm",
                b.min[0], b.min[1], b.min[2], b.max[0], b.max[1], b.max[2]
            )?;
        }
        let problems = self.problems();
        if problems.is_empty() {
            write!(f, "problems: none")
        } else {
            write!(f, "problems: {}", problems.join(", "))
        }
    }
}
