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
use std::sync::OnceLock;

use osteon_mesh::distance::{warm_chains, DistanceIndex};
use osteon_mesh::{Mesh, MeshError, Topology};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::geometry::{closest_feature, normal, Feature, Tri};
use crate::near::Tree;
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

/// Exact signed distance to a mesh: exact closest points over a BVH, the sign from
/// angle-weighted pseudo-normals (Bærentzen & Aanæs 2005), negative inside.
///
/// Pseudo-normals are computed on demand from a table of directed edges grouped by their
/// start vertex (a counting sort, linear time), so the index costs little more than its
/// bounding-volume hierarchy. An inside-out solid is kept as it is and its normals negated.
#[derive(Clone, Debug)]
pub struct SignedIndex {
    backend: Backend,
    triangles: Vec<[u32; 3]>,
    positions: Vec<DVec3>,
    /// Start of every vertex's outgoing directed edges in `out` (`len = vertices + 1`).
    first: Vec<u32>,
    /// Directed edges `v → to` as `[to, third vertex of the triangle]`, grouped by `v` and
    /// sorted within each group.
    out: Vec<[u32; 2]>,
    /// −1 for an inside-out solid taken reversed, else 1.
    sign: f64,
    check: SolidCheck,
}

/// Where the closest points come from.
#[derive(Clone, Debug)]
enum Backend {
    /// All triangles, in the mesh crate's distance index.
    Global(DistanceIndex),
    /// Fit's index: a [`Tree`] over the triangles whose boxes meet `region` (all triangles
    /// for `None`). A query point inside the region whose answer lies closer than the
    /// region's border is exact (every triangle left out lies beyond the border); any other
    /// query goes to a tree over all triangles, built on first need.
    Local(Box<Local>),
}

/// See [`Backend::Local`].
#[derive(Clone, Debug)]
struct Local {
    tree: Tree,
    region: Option<[DVec3; 2]>,
    full: OnceLock<Tree>,
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
        let (index, table) = rayon::join(|| DistanceIndex::new(mesh), || edge_table(mesh));
        SignedIndex::assemble(mesh, Backend::Global(index?), table)
    }

    /// Fit's index over the triangles whose bounding boxes meet `region` (all of them for
    /// `None`); answers are the same as [`SignedIndex::new`]'s (exact distances; among
    /// equally close triangles another one may be named).
    ///
    /// Errors: [`FitError::Mesh`] for an empty or invalid mesh.
    pub(crate) fn near(mesh: &Mesh, region: Option<[DVec3; 2]>) -> Result<SignedIndex, FitError> {
        mesh.validate()?;
        SignedIndex::near_valid(mesh, region)
    }

    /// [`SignedIndex::near`] for a mesh the caller has validated ([`Mesh::validate`]).
    pub(crate) fn near_valid(
        mesh: &Mesh,
        region: Option<[DVec3; 2]>,
    ) -> Result<SignedIndex, FitError> {
        if mesh.triangles.is_empty() {
            return Err(MeshError::Empty.into());
        }
        if mesh.triangles.len() > u32::MAX as usize / 2 {
            return Err(MeshError::TooManyVertices(mesh.triangles.len()).into());
        }
        let ((tree, region), table) = rayon::join(
            || match region {
                None => (Tree::new(mesh, None), None),
                Some([lo, hi]) => {
                    let subset: Vec<u32> = (0..mesh.triangles.len() as u32)
                        .into_par_iter()
                        .filter(|&t| {
                            let c = mesh.corners(t as usize).map(|p| p.as_dvec3());
                            let (tlo, thi) = (c[0].min(c[1]).min(c[2]), c[0].max(c[1]).max(c[2]));
                            tlo.cmple(hi).all() && thi.cmpge(lo).all()
                        })
                        .collect();
                    if subset.len() == mesh.triangles.len() {
                        // Every triangle meets the region: the same tree as the whole
                        // mesh's, which then serves every query (no second tree).
                        (Tree::new(mesh, None), None)
                    } else {
                        (Tree::new(mesh, Some(&subset)), region)
                    }
                }
            },
            || edge_table(mesh),
        );
        let backend = Backend::Local(Box::new(Local {
            tree,
            region,
            full: OnceLock::new(),
        }));
        SignedIndex::assemble(mesh, backend, table)
    }

    #[allow(clippy::type_complexity)]
    fn assemble(
        mesh: &Mesh,
        backend: Backend,
        (first, out, lean): (Vec<u32>, Vec<[u32; 2]>, Option<usize>),
    ) -> Result<SignedIndex, FitError> {
        let volume = mesh.signed_volume();
        let (boundary, nm_edges, nm_vertices, inconsistent) = match lean {
            Some(pinched) => (0, 0, pinched, 0),
            // Some edge is open, shared thrice or wound twice the same way: full topology
            // for the exact counts (defective meshes only).
            None => {
                let topo = Topology::new(mesh)?;
                (
                    topo.boundary_edges(),
                    topo.nonmanifold_edges(),
                    topo.nonmanifold_vertices(),
                    topo.inconsistent_edges(),
                )
            }
        };
        let consistent = boundary == 0 && nm_edges == 0 && nm_vertices == 0 && inconsistent == 0;
        let flipped = consistent && volume < 0.0;
        let check = SolidCheck {
            solid: consistent && volume != 0.0,
            boundary_edges: boundary,
            nonmanifold_edges: nm_edges,
            nonmanifold_vertices: nm_vertices,
            inconsistent_edges: inconsistent,
            flipped,
            volume_mm3: volume.abs(),
        };
        Ok(SignedIndex {
            backend,
            triangles: mesh.triangles.clone(),
            positions: mesh.positions.iter().map(|p| p.as_dvec3()).collect(),
            first,
            out,
            sign: if flipped { -1.0 } else { 1.0 },
            check,
        })
    }

    /// The tree over all triangles (fit's index only; built on first need).
    pub(crate) fn full_tree(&self) -> &Tree {
        match &self.backend {
            Backend::Local(l) if l.region.is_none() => &l.tree,
            // Sequential: the callers query in parallel, and a rayon wait inside this
            // initialiser could run one of their tasks that needs this same tree.
            Backend::Local(l) => l.full.get_or_init(|| {
                Tree::from_corners(self.triangles.len(), None, |t| self.corners(t), false)
            }),
            Backend::Global(_) => unreachable!("fit's trees come from SignedIndex::near"),
        }
    }

    /// The tree over the triangles near the region and the region (fit's index only).
    pub(crate) fn near_tree(&self) -> (&Tree, Option<[DVec3; 2]>) {
        match &self.backend {
            Backend::Local(l) => (&l.tree, l.region),
            Backend::Global(_) => unreachable!("fit's trees come from SignedIndex::near"),
        }
    }

    /// Triangle closest to `p` within `bound` (inclusive), warm-started from triangle
    /// `hint` (any value is valid), with the closest point and its feature on it (as
    /// [`closest_feature`] finds them on that triangle).
    fn closest(&self, p: DVec3, bound: f64, hint: u32) -> Option<(u32, DVec3, Feature)> {
        match &self.backend {
            Backend::Global(index) => {
                let t = if bound.is_finite() {
                    index.closest_point_f64(p, bound)?.triangle
                } else {
                    index.closest_point_near(p, hint).triangle
                };
                let (q, f) = closest_feature(p, &self.corners(t));
                Some((t, q, f))
            }
            Backend::Local(l) => {
                let tree = &l.tree;
                // How far p lies inside the region: every triangle left out is farther.
                let border = match l.region {
                    None => f64::INFINITY,
                    Some([lo, hi]) => {
                        let m = (p - lo).min(hi - p);
                        m.x.min(m.y).min(m.z) * (1.0 - 1e-12) - 1e-12
                    }
                };
                if border >= 0.0 {
                    let lim = bound.min(border);
                    // The tree holds the mesh's corners: its point and feature are the ones
                    // `closest_feature` gives on the mesh triangle.
                    if let Some((s, q, f)) = tree.closest(p, lim, tree.slot(hint)) {
                        return Some((tree.ids[s], q, f));
                    }
                    if bound <= lim {
                        return None;
                    }
                }
                let full = self.full_tree();
                full.closest(p, bound, full.slot(hint))
                    .map(|(s, q, f)| (full.ids[s], q, f))
            }
        }
    }

    /// Whether the mesh is a solid (the sign is meaningful), and its defects.
    pub fn check(&self) -> &SolidCheck {
        &self.check
    }

    /// True when the sign is meaningful.
    pub fn solid(&self) -> bool {
        self.check.solid
    }

    fn face_normal(&self, c: &[DVec3; 3]) -> DVec3 {
        normal(c).normalize_or_zero() * self.sign
    }

    /// The directed edges `v → to` as `[to, third vertex]` (a group of the table `out`).
    fn group(&self, v: u32) -> &[[u32; 2]] {
        &self.out[self.first[v as usize] as usize..self.first[v as usize + 1] as usize]
    }

    /// Corners of the triangle across edge `a → b` (the one with edge `b → a`), if any.
    fn across(&self, a: u32, b: u32) -> Option<Tri> {
        self.group(b)
            .iter()
            .find(|o| o[0] == a)
            .map(|o| [b, a, o[1]].map(|i| self.positions[i as usize]))
    }

    /// Sum of the unit normals of the two triangles of edge `a → b` of triangle `t`.
    fn edge_normal(&self, t: usize, a: u32, b: u32) -> DVec3 {
        let n = self.face_normal(&self.near_corners(t as u32));
        match self.across(a, b) {
            Some(c) => n + self.face_normal(&c),
            None => n,
        }
    }

    /// Angle-weighted sum of the unit normals of the triangles around vertex `v`.
    fn vertex_normal(&self, v: u32) -> DVec3 {
        let p = self.positions[v as usize];
        let mut n = DVec3::ZERO;
        for o in self.group(v) {
            let c = [
                p,
                self.positions[o[0] as usize],
                self.positions[o[1] as usize],
            ];
            let angle = (c[1] - p).angle_between(c[2] - p);
            if angle.is_finite() {
                n += self.face_normal(&c) * angle;
            }
        }
        n
    }

    /// The signed answer for `p` whose closest triangle is `t`.
    fn signed(&self, p: DVec3, t: u32) -> SignedPoint {
        // The feature of the closest point, found again on the same triangle (same f64
        // arithmetic as the index).
        let (q, feature) = closest_feature(p, &self.corners(t));
        self.signed_at(p, t, q, feature)
    }

    /// The signed answer for `p` whose closest point `q` lies on `feature` of triangle `t`.
    fn signed_at(&self, p: DVec3, t: u32, q: DVec3, feature: Feature) -> SignedPoint {
        let tri = self.triangles[t as usize];
        let n = match feature {
            Feature::Face => self.face_normal(&self.near_corners(t)),
            Feature::Edge(k) => {
                let k = k as usize;
                self.edge_normal(t as usize, tri[k], tri[(k + 1) % 3])
            }
            Feature::Vertex(k) => self.vertex_normal(tri[k as usize]),
        };
        let d = (p - q).length();
        let signed = if self.check.solid && (p - q).dot(n) < 0.0 {
            -d
        } else {
            d
        };
        SignedPoint {
            distance: signed,
            closest: q,
            normal: n,
            triangle: t,
        }
    }

    /// Signed distance from `p`, looking only closer than `bound` (pass infinity for no
    /// bound); `None` when nothing is that close.
    pub fn query_within(&self, p: DVec3, bound: f64) -> Option<SignedPoint> {
        let (t, q, f) = self.closest(p, bound, u32::MAX)?;
        Some(self.signed_at(p, t, q, f))
    }

    /// Signed distance from `p` (see [`SignedIndex::query_within`]).
    pub fn query(&self, p: DVec3) -> SignedPoint {
        self.query_within(p, f64::INFINITY)
            .expect("an index has at least one triangle")
    }

    /// Signed distance from `p`, warm-started from triangle `hint` (a triangle near `p`,
    /// e.g. the answer of a nearby point; any value is valid). Same distance as
    /// [`SignedIndex::query`].
    pub fn query_near(&self, p: DVec3, hint: u32) -> SignedPoint {
        let (t, q, f) = self
            .closest(p, f64::INFINITY, hint)
            .expect("an index has at least one triangle");
        self.signed_at(p, t, q, f)
    }

    /// The signed answer for `p` whose closest triangle is known to be `triangle` (found by
    /// another index over the same mesh).
    pub(crate) fn signed_on(&self, p: DVec3, triangle: u32) -> SignedPoint {
        self.signed(p, triangle)
    }

    /// True when `p` lies inside the solid (false for no solid).
    pub fn inside(&self, p: DVec3) -> bool {
        self.check.solid && self.query(p).distance < 0.0
    }

    /// [`SignedIndex::inside`], warm-started from triangle `hint`.
    pub(crate) fn inside_near(&self, p: DVec3, hint: u32) -> bool {
        self.check.solid && self.query_near(p, hint).distance < 0.0
    }

    /// Corners of the triangles across those edges of triangle `t` that have `x` on their
    /// outer side in the plane of `t` (none across an open edge; one of several across a
    /// non-manifold one).
    pub(crate) fn edge_neighbours_toward(&self, t: u32, x: DVec3) -> [Option<Tri>; 3] {
        let tri = self.triangles[t as usize];
        let c = self.near_corners(t);
        let n = normal(&c);
        std::array::from_fn(|k| {
            let outside = (c[(k + 1) % 3] - c[k]).cross(x - c[k]).dot(n) < 0.0;
            outside
                .then(|| self.across(tri[k], tri[(k + 1) % 3]))
                .flatten()
        })
    }

    /// Distance from `x` to triangle `t` of the mesh.
    pub(crate) fn triangle_distance(&self, t: u32, x: DVec3) -> f64 {
        osteon_mesh::distance::point_triangle_distance2(x, &self.near_corners(t)).sqrt()
    }

    /// [`SignedIndex::corners`], read from the near tree when it holds the triangle (the
    /// same values, side by side in one record instead of three vertex lookups).
    #[inline]
    fn near_corners(&self, t: u32) -> Tri {
        if let Backend::Local(l) = &self.backend {
            if let Some(s) = l.tree.slot(t) {
                return l.tree.corners[s];
            }
        }
        self.corners(t)
    }

    /// Corners of triangle `t` (f64).
    pub(crate) fn corners(&self, t: u32) -> Tri {
        self.triangles[t as usize].map(|i| self.positions[i as usize])
    }

    /// Signed distances of many points, in parallel and in order. Neighbouring points in
    /// the list warm-start each other (in fixed chains, so the answers do not depend on the
    /// thread count).
    pub fn query_many(&self, points: &[DVec3]) -> Vec<SignedPoint> {
        if let Backend::Global(index) = &self.backend {
            let c = index.closest_points(points);
            return points
                .par_iter()
                .zip(c.par_iter())
                .map(|(&p, c)| self.signed(p, c.triangle))
                .collect();
        }
        warm_chains(
            points,
            || (),
            |_, &p, hint| {
                let q = self.query_near(p, hint);
                let t = q.triangle;
                (q, t)
            },
        )
    }
}

/// Directed edges grouped by start vertex (`first`, `out`, see [`SignedIndex`]), and, when
/// every directed edge is used once and its reverse once (closed, edge-manifold,
/// consistently wound, no triangle with a repeated index), the number of vertices whose
/// triangles form more than one fan; `None` otherwise.
#[allow(clippy::type_complexity)]
fn edge_table(mesh: &Mesh) -> (Vec<u32>, Vec<[u32; 2]>, Option<usize>) {
    let nv = mesh.positions.len();
    let mut first = vec![0u32; nv + 1];
    let mut degenerate = false;
    for t in &mesh.triangles {
        if t[0] == t[1] || t[1] == t[2] || t[2] == t[0] {
            degenerate = true;
        }
        for k in 0..3 {
            if t[k] != t[(k + 1) % 3] {
                first[t[k] as usize + 1] += 1;
            }
        }
    }
    for v in 0..nv {
        first[v + 1] += first[v];
    }
    let mut fill = first.clone();
    let mut out = vec![[0u32; 2]; first[nv] as usize];
    for t in &mesh.triangles {
        for k in 0..3 {
            let (a, b, c) = (t[k], t[(k + 1) % 3], t[(k + 2) % 3]);
            if a != b {
                out[fill[a as usize] as usize] = [b, c];
                fill[a as usize] += 1;
            }
        }
    }
    drop(fill);
    // Sort every group (small) so the table does not depend on the triangle order, and check
    // it, in parallel over runs of vertices (disjoint parts of `out`).
    const RUN: usize = 1024;
    let mut runs: Vec<(usize, &mut [[u32; 2]])> = Vec::with_capacity(nv / RUN + 1);
    {
        let mut rest: &mut [[u32; 2]] = &mut out;
        let mut v = 0;
        while v < nv {
            let e = (v + RUN).min(nv);
            let (run, r) = rest.split_at_mut((first[e] - first[v]) as usize);
            runs.push((v, run));
            rest = r;
            v = e;
        }
    }
    let (ok, pinched) = runs
        .into_par_iter()
        .map(|(v0, run)| {
            let base = first[v0] as usize;
            let (mut ok, mut pinched) = (true, 0usize);
            for v in v0..(v0 + RUN).min(nv) {
                let g = &mut run[first[v] as usize - base..first[v + 1] as usize - base];
                sort_small(g);
                if ok && !degenerate {
                    match fan_check(g) {
                        Some(p) => pinched += p,
                        None => ok = false,
                    }
                }
            }
            (ok, pinched)
        })
        .reduce(|| (true, 0), |a, b| (a.0 && b.0, a.1 + b.1));
    if degenerate {
        return (first, out, None);
    }
    (first, out, ok.then_some(pinched))
}

/// Sorts a vertex's group (a handful of entries) by insertion, comparing each entry as one
/// integer (`to` high, `third` low: the order of `[to, third]`); equal entries are equal
/// values, so the result is the one of any sort.
fn sort_small(g: &mut [[u32; 2]]) {
    if g.len() > 32 {
        // A large fan (a CAD disc's centre): not quadratic.
        g.sort_unstable();
        return;
    }
    let key = |e: &[u32; 2]| (u64::from(e[0]) << 32) | u64::from(e[1]);
    for i in 1..g.len() {
        let x = g[i];
        let kx = key(&x);
        let mut j = i;
        while j > 0 && key(&g[j - 1]) > kx {
            g[j] = g[j - 1];
            j -= 1;
        }
        g[j] = x;
    }
}

/// For the sorted group `g` of a vertex `v` (its directed edges `v → to` as `[to, third]`,
/// from non-degenerate triangles): `None` unless every edge `v → to` is used once and its
/// reverse `to → v` once, else whether the triangles around `v` form more than one fan (1)
/// or not (0). The reverse `to → v` belongs to the triangle `(v, x, to)`, whose entry in
/// `g` has `to` as its third vertex, so the test needs `g` alone.
fn fan_check(g: &[[u32; 2]]) -> Option<usize> {
    for (i, o) in g.iter().enumerate() {
        if i > 0 && g[i - 1][0] == o[0] {
            return None;
        }
        if g.iter().filter(|r| r[1] == o[0]).count() != 1 {
            return None;
        }
    }
    if g.is_empty() {
        return Some(0);
    }
    // Walk the fan from the first triangle: (v, b, c) is followed by (v, c, d).
    let mut steps = 1;
    let mut cur = g[0][1];
    while cur != g[0][0] && steps <= g.len() {
        match g.iter().find(|o| o[0] == cur) {
            Some(o) => cur = o[1],
            None => break,
        }
        steps += 1;
    }
    Some(usize::from(steps < g.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use osteon_geom::Vec3;
    use osteon_mesh::shapes::icosphere;

    /// The lean solid check of [`edge_table`] (groups checked on their own) against the full
    /// topology, and its groups sorted.
    fn check(m: &Mesh) {
        let (first, out, lean) = edge_table(m);
        for v in 0..m.positions.len() {
            let g = &out[first[v] as usize..first[v + 1] as usize];
            assert!(g.windows(2).all(|w| w[0] <= w[1]), "group {v} unsorted");
        }
        let topo = Topology::new(m).unwrap();
        let edges_ok = topo.boundary_edges() == 0
            && topo.nonmanifold_edges() == 0
            && topo.inconsistent_edges() == 0;
        match lean {
            Some(pinched) => {
                assert!(edges_ok);
                assert_eq!(pinched, topo.nonmanifold_vertices());
            }
            None => assert!(!edges_ok),
        }
    }

    #[test]
    fn neighbours_toward_a_point_are_the_triangles_across_the_edges_it_lies_beyond() {
        let sphere = icosphere(2, 5.0);
        let idx = SignedIndex::new(&sphere).unwrap();
        let key = |c: &Tri| {
            let mut k = c.map(|p| [p.x, p.y, p.z].map(f64::to_bits));
            k.sort();
            k
        };
        for t in [0u32, 17, 200] {
            let c = idx.corners(t);
            let centre = (c[0] + c[1] + c[2]) / 3.0;
            assert_eq!(idx.edge_neighbours_toward(t, centre), [None; 3]);
            for k in 0..3 {
                // Beyond edge k in the plane of t: only that edge's neighbour, the other
                // triangle with both its ends.
                let mid = (c[k] + c[(k + 1) % 3]) * 0.5;
                let got = idx.edge_neighbours_toward(t, mid + (mid - centre));
                for (j, g) in got.iter().enumerate() {
                    assert_eq!(g.is_some(), j == k, "triangle {t} edge {k}: {got:?}");
                }
                let n = got[k].unwrap();
                let (a, b) = (
                    sphere.triangles[t as usize][k],
                    sphere.triangles[t as usize][(k + 1) % 3],
                );
                let other = sphere
                    .triangles
                    .iter()
                    .enumerate()
                    .find(|&(u, tr)| u != t as usize && tr.contains(&a) && tr.contains(&b))
                    .map(|(u, _)| idx.corners(u as u32))
                    .unwrap();
                assert_eq!(key(&n), key(&other));
            }
        }
    }

    #[test]
    fn lean_edge_check_agrees_with_the_topology() {
        let sphere = icosphere(2, 5.0);
        check(&sphere);
        // Open: one triangle less.
        let mut open = sphere.clone();
        open.triangles.pop();
        check(&open);
        // One triangle wound the other way.
        let mut wound = sphere.clone();
        wound.triangles[7].swap(0, 1);
        check(&wound);
        // A third triangle on an edge.
        let mut fin = sphere.clone();
        let t = fin.triangles[0];
        fin.positions.push(Vec3::new(0.0, 0.0, 9.0));
        fin.triangles
            .push([t[1], t[0], fin.positions.len() as u32 - 1]);
        check(&fin);
        // Two spheres sharing one vertex: closed, edge-manifold, one pinched vertex.
        let mut two = sphere.clone();
        let n = sphere.positions.len() as u32;
        // The vertex of largest z, and (`below`) of smallest.
        let extreme = |below: bool| {
            let z = |i: usize| sphere.positions[i].z * if below { -1.0 } else { 1.0 };
            (0..sphere.positions.len())
                .max_by(|&a, &b| z(a).total_cmp(&z(b)))
                .unwrap() as u32
        };
        let (top, bottom) = (extreme(false), extreme(true));
        let lift = sphere.positions[top as usize].z - sphere.positions[bottom as usize].z;
        two.positions.extend(
            sphere
                .positions
                .iter()
                .map(|p| *p + Vec3::new(0.0, 0.0, lift)),
        );
        two.triangles.extend(
            sphere
                .triangles
                .iter()
                .map(|t| t.map(|i| if i == bottom { top } else { i + n })),
        );
        let (_, _, lean) = edge_table(&two);
        assert_eq!(lean, Some(1));
        check(&two);
    }
}
