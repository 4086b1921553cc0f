//! Signed distance to a closed triangle mesh: exact distance over a BVH, sign from
//! angle-weighted pseudo-normals.
//!
//! In: a [`Mesh`] (millimetres). Out: a [`SignedIndex`] answering, for any point, the
//! closest point of the surface, its distance (exact up to f64 rounding), and the sign:
//! negative inside the solid. The sign follows Bærentzen & Aanæs, "Signed distance
//! computation using the angle weighted pseudonormal" (IEEE TVCG 2005): the closest point
//! lies on a face, an edge or a vertex, and the sign of `(p − c)·n` with that feature's
//! pseudo-normal (face normal; sum of the two face normals; angle-weighted sum around the
//! vertex) is exact for closed, 2-manifold, consistently oriented meshes, wherever `p` is.
//! [`SignedIndex::solid`] says whether the mesh is such a solid; when it is not, the sign is
//! unreliable and callers use the unsigned distance only.

use osteon_geom::DVec3;
use osteon_mesh::distance::DistanceIndex;
use osteon_mesh::{Mesh, Topology};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::geometry::{closest_feature, normal, Feature};
use crate::FitError;

/// Whether a mesh encloses a solid, and if not, why not.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SolidCheck {
    /// Closed (no boundary edge), 2-manifold (no edge with more than two triangles, no
    /// pinched vertex), consistently oriented, and enclosing a positive volume.
    pub solid: bool,
    /// Edges with one triangle.
    pub boundary_edges: usize,
    /// Edges with more than two triangles.
    pub nonmanifold_edges: usize,
    /// Vertices whose triangles form more than one fan.
    pub nonmanifold_vertices: usize,
    /// Directed edges used twice (winding conflicts).
    pub inconsistent_edges: usize,
    /// The mesh was closed and consistent but inside-out (negative volume) and was taken
    /// with its winding reversed.
    pub flipped: bool,
    /// Enclosed volume, mm³ (meaningful when `solid`).
    pub volume_mm3: f64,
}

impl SolidCheck {
    /// One sentence on what is wrong (empty when solid).
    pub fn problem(&self) -> String {
        let mut p = Vec::new();
        if self.boundary_edges > 0 {
            p.push(format!("{} boundary edges (open)", self.boundary_edges));
        }
        if self.nonmanifold_edges > 0 {
            p.push(format!("{} non-manifold edges", self.nonmanifold_edges));
        }
        if self.nonmanifold_vertices > 0 {
            p.push(format!(
                "{} non-manifold vertices",
                self.nonmanifold_vertices
            ));
        }
        if self.inconsistent_edges > 0 {
            p.push(format!(
                "{} inconsistently wound edges",
                self.inconsistent_edges
            ));
        }
        if p.is_empty() && !self.solid {
            p.push("encloses no positive volume".into());
        }
        p.join(", ")
    }
}

/// Exact signed distance to a mesh. See the [module documentation](self).
#[derive(Clone, Debug)]
pub struct SignedIndex {
    index: DistanceIndex,
    /// Unit normal per triangle (zero for degenerate ones), sign-corrected when flipped.
    face_n: Vec<DVec3>,
    /// Pseudo-normal per corner's edge (`3·t + k`: edge from corner k to k + 1).
    edge_n: Vec<DVec3>,
    /// Angle-weighted pseudo-normal per vertex.
    vertex_n: Vec<DVec3>,
    triangles: Vec<[u32; 3]>,
    positions: Vec<DVec3>,
    check: SolidCheck,
}

/// One answer of [`SignedIndex::query`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignedPoint {
    /// Signed distance, mm: negative inside the solid (unsigned when the mesh is no solid).
    pub distance: f64,
    /// The closest surface point, mm.
    pub closest: DVec3,
    /// Outward pseudo-normal of the closest feature (not normalised; zero if unknown).
    pub normal: DVec3,
    /// The triangle the closest point lies on.
    pub triangle: u32,
}

impl SignedIndex {
    /// Builds the index (parallel; deterministic).
    ///
    /// Errors: [`FitError::Mesh`] for an empty or invalid mesh.
    pub fn new(mesh: &Mesh) -> Result<SignedIndex, FitError> {
        let (index, topo) = rayon::join(|| DistanceIndex::new(mesh), || Topology::new(mesh));
        let (index, topo) = (index?, topo?);
        let volume = mesh.signed_volume();
        let consistent = topo.boundary_edges() == 0
            && topo.nonmanifold_edges() == 0
            && topo.nonmanifold_vertices() == 0
            && topo.inconsistent_edges() == 0;
        let flipped = consistent && volume < 0.0;
        let check = SolidCheck {
            solid: consistent && volume != 0.0,
            boundary_edges: topo.boundary_edges(),
            nonmanifold_edges: topo.nonmanifold_edges(),
            nonmanifold_vertices: topo.nonmanifold_vertices(),
            inconsistent_edges: topo.inconsistent_edges(),
            flipped,
            volume_mm3: volume.abs(),
        };
        let sign = if flipped { -1.0 } else { 1.0 };
        let face_n: Vec<DVec3> = (0..mesh.triangles.len())
            .into_par_iter()
            .map(|t| {
                let c = mesh.corners(t).map(|p| p.as_dvec3());
                normal(&c).normalize_or_zero() * sign
            })
            .collect();
        let edge_n: Vec<DVec3> = (0..mesh.triangles.len() * 3)
            .into_par_iter()
            .map(|c| {
                let t = c / 3;
                match topo.opposite(c) {
                    Some(o) => face_n[t] + face_n[o as usize / 3],
                    None => face_n[t],
                }
            })
            .collect();
        // Angle-weighted vertex normals, accumulated per triangle in a fixed order.
        let mut vertex_n = vec![DVec3::ZERO; mesh.positions.len()];
        for (t, tri) in mesh.triangles.iter().enumerate() {
            let c = mesh.corners(t).map(|p| p.as_dvec3());
            for k in 0..3 {
                let e1 = c[(k + 1) % 3] - c[k];
                let e2 = c[(k + 2) % 3] - c[k];
                let angle = e1.angle_between(e2);
                if angle.is_finite() {
                    vertex_n[tri[k] as usize] += face_n[t] * angle;
                }
            }
        }
        Ok(SignedIndex {
            index,
            face_n,
            edge_n,
            vertex_n,
            triangles: mesh.triangles.clone(),
            positions: mesh.positions.iter().map(|p| p.as_dvec3()).collect(),
            check,
        })
    }

    /// Whether the mesh is a solid (the sign is meaningful), and its defects.
    pub fn check(&self) -> &SolidCheck {
        &self.check
    }

    /// True when the sign is meaningful.
    pub fn solid(&self) -> bool {
        self.check.solid
    }

    /// Signed distance from `p`, looking only closer than `bound` (pass infinity for no
    /// bound); `None` when nothing is that close.
    pub fn query_within(&self, p: DVec3, bound: f64) -> Option<SignedPoint> {
        let c = self.index.closest_point_f64(p, bound)?;
        let t = c.triangle as usize;
        let tri = self.triangles[t];
        // The feature of the closest point, found again on the same triangle (same f64
        // arithmetic as the index).
        let corners = tri.map(|i| self.positions[i as usize]);
        let (q, feature) = closest_feature(p, &corners);
        let n = match feature {
            Feature::Face => self.face_n[t],
            Feature::Edge(k) => self.edge_n[3 * t + k as usize],
            Feature::Vertex(k) => self.vertex_n[tri[k as usize] as usize],
        };
        let d = (p - q).length();
        let signed = if self.check.solid && (p - q).dot(n) < 0.0 {
            -d
        } else {
            d
        };
        Some(SignedPoint {
            distance: signed,
            closest: q,
            normal: n,
            triangle: c.triangle,
        })
    }

    /// Signed distance from `p` (see [`SignedIndex::query_within`]).
    pub fn query(&self, p: DVec3) -> SignedPoint {
        self.query_within(p, f64::INFINITY)
            .expect("an index has at least one triangle")
    }

    /// True when `p` lies inside the solid (false for no solid).
    pub fn inside(&self, p: DVec3) -> bool {
        self.check.solid && self.query(p).distance < 0.0
    }

    /// Records that the mesh was an inside-out solid, taken reversed.
    pub(crate) fn mark_flipped(&mut self) {
        self.check.flipped = true;
    }

    /// Distance from `x` to triangle `t` of the mesh.
    pub(crate) fn triangle_distance(&self, t: u32, x: DVec3) -> f64 {
        osteon_mesh::distance::point_triangle_distance2(x, &self.corners(t)).sqrt()
    }

    /// Corners of triangle `t` (f64).
    pub(crate) fn corners(&self, t: u32) -> [DVec3; 3] {
        self.triangles[t as usize].map(|i| self.positions[i as usize])
    }

    /// Signed distances of many points, in parallel and in order. Neighbouring points in
    /// the list warm-start each other (a closer bound prunes the tree walk).
    pub fn query_many(&self, points: &[DVec3]) -> Vec<SignedPoint> {
        points
            .par_chunks(512)
            .flat_map_iter(|chunk| {
                let mut prev: Option<(DVec3, f64)> = None;
                chunk
                    .iter()
                    .map(|&p| {
                        let hit = prev.and_then(|(q, d)| {
                            // Relative slack against rounding of the bound itself.
                            let bound = (d.abs() + (p - q).length()) * (1.0 + 1e-12) + 1e-12;
                            self.query_within(p, bound)
                        });
                        let r = hit.unwrap_or_else(|| self.query(p));
                        prev = Some((p, r.distance));
                        r
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}
