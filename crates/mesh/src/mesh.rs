//! The mesh type and its basic measures.

use osteon_geom::{Aabb, DVec3, Vec3};
use rayon::prelude::*;

use crate::topology::UnionFind;
use crate::MeshError;

/// A triangle mesh: positions in millimetres and triangles as vertex indices,
/// counter-clockwise seen from outside.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mesh {
    /// Vertex positions, millimetres.
    pub positions: Vec<Vec3>,
    /// Vertex indices of each triangle.
    pub triangles: Vec<[u32; 3]>,
}

impl Mesh {
    /// Component of each triangle, triangles being connected through shared vertices
    /// (numbered in order of first triangle), and the number of components. Linear time;
    /// on a vertex-manifold mesh this is edge connectivity.
    pub fn vertex_connected_components(&self) -> (Vec<u32>, usize) {
        let nv = self.positions.len();
        let mut uf = UnionFind::new(nv);
        for t in &self.triangles {
            uf.union(t[0], t[1]);
            uf.union(t[1], t[2]);
        }
        let mut id = vec![u32::MAX; nv];
        let mut n = 0u32;
        let comp = self
            .triangles
            .iter()
            .map(|t| {
                let r = uf.find(t[0]) as usize;
                if id[r] == u32::MAX {
                    id[r] = n;
                    n += 1;
                }
                id[r]
            })
            .collect();
        (comp, n as usize)
    }

    /// A mesh after checking that every index is in range and every coordinate finite.
    pub fn new(positions: Vec<Vec3>, triangles: Vec<[u32; 3]>) -> Result<Mesh, MeshError> {
        let m = Mesh {
            positions,
            triangles,
        };
        m.validate()?;
        Ok(m)
    }

    /// Checks indices and coordinates (an empty mesh is valid here; steps that need
    /// triangles say so themselves).
    pub fn validate(&self) -> Result<(), MeshError> {
        if self.positions.len() > u32::MAX as usize {
            return Err(MeshError::TooManyVertices(self.positions.len()));
        }
        if let Some(vertex) = first_where(&self.positions, |p| !p.is_finite()) {
            return Err(MeshError::NonFinite {
                vertex,
                position: self.positions[vertex].to_array(),
            });
        }
        let n = self.positions.len();
        if let Some(triangle) = first_where(&self.triangles, |t| t.iter().any(|&i| i as usize >= n))
        {
            let t = self.triangles[triangle];
            let index = *t.iter().find(|&&i| i as usize >= n).expect("found above");
            return Err(MeshError::IndexOutOfRange {
                triangle,
                index,
                vertices: n,
            });
        }
        Ok(())
    }

    /// True when there is no triangle.
    pub fn is_empty(&self) -> bool {
        self.triangles.is_empty()
    }

    /// The three corners of triangle `t`.
    #[inline]
    pub fn corners(&self, t: usize) -> [Vec3; 3] {
        let [a, b, c] = self.triangles[t];
        [
            self.positions[a as usize],
            self.positions[b as usize],
            self.positions[c as usize],
        ]
    }

    /// Signed enclosed volume in mm³ (divergence theorem, accumulated in f64 relative to the
    /// bounding-box centre so that far-from-origin meshes keep their precision). Positive for
    /// a closed, outward-oriented mesh.
    pub fn signed_volume(&self) -> f64 {
        let c = self
            .bounds()
            .map(|b| (b.min + b.max).as_dvec3() * 0.5)
            .unwrap_or(DVec3::ZERO);
        self.triangles
            .par_chunks(1 << 14)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|t| {
                        let a = self.positions[t[0] as usize].as_dvec3() - c;
                        let b = self.positions[t[1] as usize].as_dvec3() - c;
                        let d = self.positions[t[2] as usize].as_dvec3() - c;
                        a.dot(b.cross(d))
                    })
                    .sum::<f64>()
            })
            .collect::<Vec<f64>>()
            .iter()
            .sum::<f64>()
            / 6.0
    }

    /// Total surface area in mm² (f64).
    pub fn area(&self) -> f64 {
        self.triangles
            .par_chunks(1 << 14)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|t| {
                        let a = self.positions[t[0] as usize].as_dvec3();
                        let b = self.positions[t[1] as usize].as_dvec3();
                        let d = self.positions[t[2] as usize].as_dvec3();
                        0.5 * (b - a).cross(d - a).length()
                    })
                    .sum::<f64>()
            })
            .collect::<Vec<f64>>()
            .iter()
            .sum()
    }

    /// Bounding box of the vertices, `None` when there are none.
    pub fn bounds(&self) -> Option<Aabb> {
        Aabb::from_points(self.positions.iter().copied())
    }

    /// The mesh with every triangle's winding reversed.
    pub fn flipped(&self) -> Mesh {
        Mesh {
            positions: self.positions.clone(),
            triangles: self.triangles.iter().map(|&[a, b, c]| [a, c, b]).collect(),
        }
    }

    /// Adds `other`'s vertices and triangles after this mesh's (its indices shifted): two
    /// parts as one mesh.
    pub fn append(&mut self, other: &Mesh) {
        let n = self.positions.len() as u32;
        self.positions.extend_from_slice(&other.positions);
        self.triangles
            .extend(other.triangles.iter().map(|t| t.map(|i| i + n)));
    }

    /// The mesh with every position mapped by `f`.
    pub fn map_positions<F: Fn(Vec3) -> Vec3 + Sync>(&self, f: F) -> Mesh {
        Mesh {
            positions: self.positions.par_iter().map(|&p| f(p)).collect(),
            triangles: self.triangles.clone(),
        }
    }
}

/// Index of the first item of `items` that `bad` accepts: runs of 64 k items in parallel, a
/// plain loop within each (a per-item parallel search costs more than these checks).
fn first_where<T: Sync>(items: &[T], bad: impl Fn(&T) -> bool + Sync) -> Option<usize> {
    const RUN: usize = 1 << 16;
    items
        .par_chunks(RUN)
        .enumerate()
        .find_map_first(|(k, run)| run.iter().position(&bad).map(|i| k * RUN + i))
}
