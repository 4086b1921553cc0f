//! Derived topology of a triangle mesh: opposite corners, edge classes, fans, components.
//!
//! In: a [`Mesh`] (indices are checked; positions are not looked at). Out: a [`Topology`]
//! holding, for every corner, its opposite corner across the edge it starts (or a marker),
//! the counts of boundary, non-manifold and inconsistently wound edges and of non-manifold
//! vertices, and the edge-connected components of the triangles.
//!
//! Corners follow Manifold's half-edge convention: corner `c = 3·t + k` of triangle `t`
//! stands for the directed edge from vertex `k` to vertex `k + 1 (mod 3)` of that triangle.
//! Edges are found by a parallel sort of `(undirected edge key, corner)` keys; every key is
//! unique, so the result is the same whatever the number of threads. Edges from a vertex to
//! itself (triangles with a repeated index) belong to no edge and are left out of every
//! count; the report counts such triangles as degenerate.

use rayon::prelude::*;

use crate::{Mesh, MeshError};

/// Marker in [`Topology::opposites`]: the corner's edge has no other triangle (a hole).
pub const BOUNDARY: u32 = u32::MAX;
/// Marker in [`Topology::opposites`]: the corner's edge is shared by more than two triangles.
pub const NONMANIFOLD: u32 = u32::MAX - 1;
/// Marker in [`Topology::opposites`]: the corner's edge runs from a vertex to itself.
pub const DEGENERATE: u32 = u32::MAX - 2;

/// Counts for one edge-connected component.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Component {
    /// Triangles in the component.
    pub triangles: usize,
    /// Distinct vertices used by its triangles (a vertex shared with another component is
    /// counted in both).
    pub vertices: usize,
    /// Distinct undirected edges.
    pub edges: usize,
    /// Edges with one triangle.
    pub boundary_edges: usize,
    /// Edges with more than two triangles.
    pub nonmanifold_edges: usize,
    /// Directed edges traversed by more than one triangle (see
    /// [`Topology::inconsistent_edges`]).
    pub inconsistent_edges: usize,
}

impl Component {
    /// Euler characteristic `V − E + F` of the component.
    pub fn euler_characteristic(&self) -> i64 {
        self.vertices as i64 - self.edges as i64 + self.triangles as i64
    }

    /// True when the component has no boundary and no non-manifold edge.
    pub fn is_closed(&self) -> bool {
        self.boundary_edges == 0 && self.nonmanifold_edges == 0
    }
}

/// Topology derived from a mesh (see the module documentation). Built on demand by
/// [`Topology::new`]; never stored inside a [`Mesh`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    opposite: Vec<u32>,
    component: Vec<u32>,
    components: Vec<Component>,
    edges: usize,
    boundary_edges: usize,
    nonmanifold_edges: usize,
    inconsistent_edges: usize,
    nonmanifold_vertices: usize,
    unreferenced_vertices: usize,
}

/// Union-find over `u32` ids with path halving; union by smaller id keeps roots minimal.
struct UnionFind(Vec<u32>);

impl UnionFind {
    fn new(n: usize) -> UnionFind {
        UnionFind((0..n as u32).collect())
    }
    fn find(&mut self, mut a: u32) -> u32 {
        while self.0[a as usize] != a {
            let p = self.0[a as usize];
            self.0[a as usize] = self.0[p as usize];
            a = p;
        }
        a
    }
    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra < rb {
            self.0[rb as usize] = ra;
        } else if rb < ra {
            self.0[ra as usize] = rb;
        }
    }
}

impl Topology {
    /// Derives the topology of `mesh`.
    ///
    /// Errors: [`MeshError::IndexOutOfRange`] when a triangle refers to a missing vertex,
    /// [`MeshError::TooManyVertices`] when there are more than `u32::MAX / 3` triangles
    /// (corner ids are `u32`).
    pub fn new(mesh: &Mesh) -> Result<Topology, MeshError> {
        let nv = mesh.positions.len();
        let nt = mesh.triangles.len();
        if nv > u32::MAX as usize || nt > (u32::MAX as usize - 3) / 3 {
            return Err(MeshError::TooManyVertices(nv.max(3 * nt)));
        }
        if let Some((triangle, t)) = mesh
            .triangles
            .par_iter()
            .enumerate()
            .find_first(|(_, t)| t.iter().any(|&i| i as usize >= nv))
        {
            let index = t.iter().copied().find(|&i| i as usize >= nv).unwrap_or(0);
            return Err(MeshError::IndexOutOfRange {
                triangle,
                index,
                vertices: nv,
            });
        }
        let tris = &mesh.triangles;
        let nc = 3 * nt;
        let from = |c: usize| tris[c / 3][c % 3];
        let to = |c: usize| tris[c / 3][(c % 3 + 1) % 3];

        // Keys: undirected edge (min << 32 | max) in the high 64 bits, corner in the low 32.
        // Unique, so an unstable sort is deterministic.
        let mut keys: Vec<u128> = (0..nc)
            .into_par_iter()
            .filter_map(|c| {
                let (a, b) = (from(c), to(c));
                (a != b).then(|| {
                    let e = ((a.min(b) as u64) << 32) | a.max(b) as u64;
                    ((e as u128) << 32) | c as u128
                })
            })
            .collect();
        keys.par_sort_unstable();

        let mut opposite = vec![DEGENERATE; nc];
        let mut tri_uf = UnionFind::new(nt);
        let mut corner_uf = UnionFind::new(nc);
        // Per edge: (first corner of the edge, class) so per-component counts can follow.
        // class: 0 manifold consistent, 1 boundary, 2 non-manifold, 3 inconsistent manifold;
        // bits 2.. of a non-manifold edge hold its repeated directions (0, 1 or 2).
        let mut edge_list: Vec<(u32, u8)> = Vec::new();
        let (mut boundary, mut nonmanifold, mut inconsistent) = (0usize, 0usize, 0usize);
        // Corner of triangle t at vertex v (first such corner).
        let corner_at = |t: usize, v: u32| -> u32 {
            let k = tris[t].iter().position(|&x| x == v).unwrap_or(0);
            (3 * t + k) as u32
        };
        let mut i = 0;
        while i < keys.len() {
            let e = (keys[i] >> 32) as u64;
            let mut j = i + 1;
            while j < keys.len() && (keys[j] >> 32) as u64 == e {
                j += 1;
            }
            let corner = |k: usize| (keys[k] & 0xffff_ffff) as u32;
            let c0 = corner(i);
            match j - i {
                1 => {
                    opposite[c0 as usize] = BOUNDARY;
                    boundary += 1;
                    edge_list.push((c0, 1));
                }
                2 => {
                    let c1 = corner(i + 1);
                    opposite[c0 as usize] = c1;
                    opposite[c1 as usize] = c0;
                    let (t0, t1) = (c0 as usize / 3, c1 as usize / 3);
                    tri_uf.union(t0 as u32, t1 as u32);
                    // The two endpoints' corners in both triangles belong to the same fans.
                    let (a, b) = (from(c0 as usize), to(c0 as usize));
                    corner_uf.union(corner_at(t0, a), corner_at(t1, a));
                    corner_uf.union(corner_at(t0, b), corner_at(t1, b));
                    let bad = from(c0 as usize) == from(c1 as usize);
                    if bad {
                        inconsistent += 1;
                    }
                    edge_list.push((c0, if bad { 3 } else { 0 }));
                }
                _ => {
                    let mut forward = 0;
                    for k in i..j {
                        let c = corner(k);
                        opposite[c as usize] = NONMANIFOLD;
                        tri_uf.union(c0 / 3, c / 3);
                        forward += usize::from(from(c as usize) < to(c as usize));
                    }
                    let backward = j - i - forward;
                    let repeated = usize::from(forward > 1) + usize::from(backward > 1);
                    inconsistent += repeated;
                    nonmanifold += 1;
                    edge_list.push((c0, 2 | (repeated as u8) << 2));
                }
            }
            i = j;
        }
        drop(keys);

        // Corners of one triangle at the same vertex (repeated index) share a fan.
        for (t, tri) in tris.iter().enumerate() {
            for k in 0..3 {
                for l in k + 1..3 {
                    if tri[k] == tri[l] {
                        corner_uf.union((3 * t + k) as u32, (3 * t + l) as u32);
                    }
                }
            }
        }
        // Fans per vertex: a vertex is non-manifold when its corners have two roots.
        let mut first_root = vec![u32::MAX; nv];
        let mut bad_vertex = vec![false; nv];
        for c in 0..nc {
            let v = from(c) as usize;
            let r = corner_uf.find(c as u32);
            if first_root[v] == u32::MAX {
                first_root[v] = r;
            } else if first_root[v] != r {
                bad_vertex[v] = true;
            }
        }
        let nonmanifold_vertices = bad_vertex.iter().filter(|&&b| b).count();
        let unreferenced_vertices = first_root.iter().filter(|&&r| r == u32::MAX).count();
        drop(corner_uf);

        // Components numbered by their lowest triangle index.
        let mut component = vec![0u32; nt];
        let mut label_of_root = vec![u32::MAX; nt];
        let mut ncomp = 0u32;
        for (t, label) in component.iter_mut().enumerate() {
            let r = tri_uf.find(t as u32) as usize;
            if label_of_root[r] == u32::MAX {
                label_of_root[r] = ncomp;
                ncomp += 1;
            }
            *label = label_of_root[r];
        }
        let mut components = vec![Component::default(); ncomp as usize];
        for &l in &component {
            components[l as usize].triangles += 1;
        }
        for &(c, class) in &edge_list {
            let comp = &mut components[component[c as usize / 3] as usize];
            comp.edges += 1;
            match class & 3 {
                1 => comp.boundary_edges += 1,
                2 => comp.nonmanifold_edges += 1,
                3 => comp.inconsistent_edges += 1,
                _ => {}
            }
            comp.inconsistent_edges += (class >> 2) as usize;
        }
        // Distinct (component, vertex) pairs.
        let mut pairs: Vec<u64> = (0..nc)
            .into_par_iter()
            .map(|c| ((component[c / 3] as u64) << 32) | from(c) as u64)
            .collect();
        pairs.par_sort_unstable();
        pairs.dedup();
        for p in pairs {
            components[(p >> 32) as usize].vertices += 1;
        }

        Ok(Topology {
            opposite,
            component,
            components,
            edges: edge_list.len(),
            boundary_edges: boundary,
            nonmanifold_edges: nonmanifold,
            inconsistent_edges: inconsistent,
            nonmanifold_vertices,
            unreferenced_vertices,
        })
    }

    /// For every corner `3·t + k`, the corner across its edge in the neighbouring triangle,
    /// or [`BOUNDARY`], [`NONMANIFOLD`] or [`DEGENERATE`].
    pub fn opposites(&self) -> &[u32] {
        &self.opposite
    }

    /// The corner across corner `c`'s edge, `None` on a boundary, non-manifold or
    /// degenerate edge. Panics if `c` is not a corner of the mesh.
    pub fn opposite(&self, c: usize) -> Option<u32> {
        let o = self.opposite[c];
        (o < DEGENERATE).then_some(o)
    }

    /// Number of distinct undirected edges (self-loops excluded).
    pub fn edges(&self) -> usize {
        self.edges
    }
    /// Edges with exactly one triangle.
    pub fn boundary_edges(&self) -> usize {
        self.boundary_edges
    }
    /// Edges with more than two triangles.
    pub fn nonmanifold_edges(&self) -> usize {
        self.nonmanifold_edges
    }
    /// Winding conflicts: directed edges `a → b` traversed by more than one triangle. A
    /// manifold edge whose two triangles run the same way counts once; a non-manifold edge
    /// counts once for each direction used more than once (0, 1 or 2), so duplicated faces
    /// with the same winding are caught too. (This is how the counts in
    /// `shared/scans/README.md` were made.)
    pub fn inconsistent_edges(&self) -> usize {
        self.inconsistent_edges
    }
    /// Vertices whose triangles do not form one fan joined by manifold edges.
    pub fn nonmanifold_vertices(&self) -> usize {
        self.nonmanifold_vertices
    }
    /// Vertices used by no triangle.
    pub fn unreferenced_vertices(&self) -> usize {
        self.unreferenced_vertices
    }
    /// Component label of every triangle; components are numbered `0..` in the order of
    /// their lowest triangle index.
    pub fn triangle_components(&self) -> &[u32] {
        &self.component
    }
    /// Counts per edge-connected component, indexed by label.
    pub fn components(&self) -> &[Component] {
        &self.components
    }
    /// Number of edge-connected components.
    pub fn component_count(&self) -> usize {
        self.components.len()
    }
}
