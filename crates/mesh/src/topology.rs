//! Derived topology of a triangle mesh: opposite corners, edge classes, fans, components.
//!
//! In: a [`Mesh`] (indices are checked; positions are not looked at). Out: a [`Topology`]
//! holding, for every corner, its opposite corner across the edge it starts (or a marker),
//! the counts of boundary, non-manifold and inconsistently wound edges and of non-manifold
//! vertices, and the edge-connected components of the triangles.
//!
//! Corners follow Manifold's half-edge convention: corner `c = 3·t + k` of triangle `t`
//! stands for the directed edge from vertex `k` to vertex `k + 1 (mod 3)` of that triangle.
//! Edges are found by ordering the corners by `(undirected edge, corner)`: a counting sort
//! on the edge's lower vertex, then a sort of each (small) bucket; every key is unique, so
//! the result is the same whatever the number of threads. The build is linear in the size
//! of the mesh and allocation-light, since repair derives it several times per run. Edges from a vertex to
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
/// Union-find over `0..n` with path halving; a union keeps the smaller root, so every
/// class is named by its smallest member.
pub(crate) struct UnionFind(Vec<u32>);

impl UnionFind {
    pub(crate) fn new(n: usize) -> UnionFind {
        UnionFind((0..n as u32).collect())
    }
    pub(crate) fn find(&mut self, mut a: u32) -> u32 {
        while self.0[a as usize] != a {
            let p = self.0[a as usize];
            self.0[a as usize] = self.0[p as usize];
            a = p;
        }
        a
    }
    pub(crate) fn union(&mut self, a: u32, b: u32) {
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

        // Edges: corners bucketed by their edge's lower vertex (a counting sort, corners in
        // increasing order), each bucket sorted by (upper vertex, corner). This is the order
        // of a sort by (undirected edge, corner), in linear time; keys are unique, so the
        // result does not depend on anything but the mesh.
        let mut start = vec![0u32; nv + 1];
        for t in tris {
            for k in 0..3 {
                let (a, b) = (t[k], t[(k + 1) % 3]);
                if a != b {
                    start[a.min(b) as usize + 1] += 1;
                }
            }
        }
        for v in 0..nv {
            start[v + 1] += start[v];
        }
        let mut fill = start.clone();
        // (upper vertex << 32 | corner) per entry.
        let mut keys = vec![0u64; start[nv] as usize];
        for (t, tri) in tris.iter().enumerate() {
            for k in 0..3 {
                let (a, b) = (tri[k], tri[(k + 1) % 3]);
                if a != b {
                    let f = &mut fill[a.min(b) as usize];
                    keys[*f as usize] = ((a.max(b) as u64) << 32) | (3 * t + k) as u64;
                    *f += 1;
                }
            }
        }
        drop(fill);
        keys.par_chunks_mut(1 << 14)
            .enumerate()
            .for_each(|(i, chunk)| {
                // Buckets overlapping this chunk, each sorted within its part of the chunk;
                // the chunk border is a bucket border whenever it splits one (fixed below).
                let lo = i << 14;
                let hi = lo + chunk.len();
                let mut v = start.partition_point(|&s| (s as usize) <= lo) - 1;
                while v < nv && (start[v] as usize) < hi {
                    let (s, e) = (
                        (start[v] as usize).max(lo) - lo,
                        (start[v + 1] as usize).min(hi) - lo,
                    );
                    if e - s > 1 {
                        chunk[s..e].sort_unstable();
                    }
                    v += 1;
                }
            });
        // A bucket split by a chunk border: sort it whole (rare, at most one per border).
        for b in (1 << 14..keys.len()).step_by(1 << 14) {
            let v = start.partition_point(|&s| (s as usize) <= b) - 1;
            let (s, e) = (start[v] as usize, start[v + 1] as usize);
            if s < b && b < e {
                keys[s..e].sort_unstable();
            }
        }

        let mut opposite = vec![DEGENERATE; nc];
        let mut tri_uf = UnionFind::new(nt);
        let mut corner_uf = UnionFind::new(nc);
        // Per edge: (first corner of the edge, class) so per-component counts can follow.
        // class: 0 manifold consistent, 1 boundary, 2 non-manifold, 3 inconsistent manifold;
        // bits 2.. of a non-manifold edge hold its repeated directions (0, 1 or 2).
        let mut edge_list: Vec<(u32, u8)> = Vec::with_capacity(keys.len() / 2 + 1);
        let (mut boundary, mut nonmanifold, mut inconsistent) = (0usize, 0usize, 0usize);
        // Corner of triangle t at vertex v (first such corner).
        let corner_at = |t: usize, v: u32| -> u32 {
            let k = tris[t].iter().position(|&x| x == v).unwrap_or(0);
            (3 * t + k) as u32
        };
        // Runs of equal upper vertex inside one lower vertex's bucket are the edges.
        let mut bucket = 0usize;
        let mut i = 0;
        while i < keys.len() {
            while start[bucket + 1] as usize <= i {
                bucket += 1;
            }
            let end = start[bucket + 1] as usize;
            let e = keys[i] >> 32;
            let mut j = i + 1;
            while j < end && keys[j] >> 32 == e {
                j += 1;
            }
            let corner = |k: usize| keys[k] as u32;
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
        drop(start);

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
        drop(bad_vertex);

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
        if ncomp == 1 {
            components[0].vertices = nv - unreferenced_vertices;
        } else {
            // Triangles grouped by component (counting sort), then a stamp per vertex: the
            // last component that counted it.
            let mut first = vec![0u32; ncomp as usize + 1];
            for &l in &component {
                first[l as usize + 1] += 1;
            }
            for l in 0..ncomp as usize {
                first[l + 1] += first[l];
            }
            let mut order = vec![0u32; nt];
            for (t, &l) in component.iter().enumerate() {
                let f = &mut first[l as usize];
                order[*f as usize] = t as u32;
                *f += 1;
            }
            let mut stamp = vec![u32::MAX; nv];
            for &t in &order {
                let l = component[t as usize];
                let comp = &mut components[l as usize];
                for &v in &tris[t as usize] {
                    if stamp[v as usize] != l {
                        stamp[v as usize] = l;
                        comp.vertices += 1;
                    }
                }
            }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use osteon_geom::Vec3;

    use super::*;
    use crate::shapes::icosphere;

    /// Edge classes by brute force over a map of undirected edges.
    fn brute(m: &Mesh) -> (usize, usize, usize, usize) {
        let mut e: BTreeMap<(u32, u32), Vec<(u32, u32)>> = BTreeMap::new();
        for t in &m.triangles {
            for k in 0..3 {
                let (a, b) = (t[k], t[(k + 1) % 3]);
                if a != b {
                    e.entry((a.min(b), a.max(b))).or_default().push((a, b));
                }
            }
        }
        let boundary = e.values().filter(|v| v.len() == 1).count();
        let nonmanifold = e.values().filter(|v| v.len() > 2).count();
        let inconsistent = e
            .values()
            .map(|v| {
                let fwd = v.iter().filter(|d| d.0 < d.1).count();
                let bwd = v.len() - fwd;
                usize::from(fwd > 1) + usize::from(bwd > 1)
            })
            .sum();
        (e.len(), boundary, nonmanifold, inconsistent)
    }

    fn check(m: &Mesh) {
        let t = Topology::new(m).unwrap();
        let got = (
            t.edges(),
            t.boundary_edges(),
            t.nonmanifold_edges(),
            t.inconsistent_edges(),
        );
        assert_eq!(got, brute(m));
        for (c, &o) in t.opposites().iter().enumerate() {
            if o < DEGENERATE {
                assert_eq!(t.opposites()[o as usize] as usize, c);
            }
        }
    }

    #[test]
    fn edges_of_neighbouring_buckets_stay_apart() {
        // Edges {0, 4} and {1, 4} sit at the end and start of neighbouring buckets of the
        // counting sort: two triangles sharing only vertex 4.
        let m = Mesh {
            positions: vec![Vec3::ZERO; 6],
            triangles: vec![[0, 3, 4], [1, 4, 5]],
        };
        let t = Topology::new(&m).unwrap();
        assert_eq!((t.edges(), t.boundary_edges()), (6, 6));
        assert_eq!(t.component_count(), 2);
        assert_eq!(t.nonmanifold_vertices(), 1);
        check(&m);
    }

    #[test]
    fn counts_match_brute_force_on_a_broken_sphere() {
        // Level 5: more corners than one parallel chunk of the bucket sort.
        let mut m = icosphere(5, 1.0);
        // Holes, flips, a duplicated face and a fin on one edge.
        m.triangles.retain(|t| t[0] % 17 != 0);
        for (i, t) in m.triangles.iter_mut().enumerate() {
            if i % 13 == 0 {
                t.swap(1, 2);
            }
        }
        let t0 = m.triangles[5];
        m.triangles.push(t0);
        let n = m.positions.len() as u32;
        m.positions.push(Vec3::ONE);
        m.triangles.push([t0[0], t0[1], n]);
        check(&m);
        let t = Topology::new(&m).unwrap();
        assert!(t.nonmanifold_edges() > 0 && t.boundary_edges() > 0);
        let total: usize = t.components().iter().map(|c| c.edges).sum();
        assert_eq!(total, t.edges());
    }
}
