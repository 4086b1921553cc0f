//! Self-intersections: pairs of triangles of one mesh that cut, pierce or overlap each other.
//!
//! In: a [`Mesh`] (positions in millimetres, any topology: open, non-manifold, a soup). Out:
//! [`SelfIntersections`], the number of intersecting triangle pairs and the sorted list of
//! the triangles involved.
//!
//! Two closed triangles *intersect* when they have a point in common other than the corners
//! and edge they share. Sharing is decided by exact coordinates, not by vertex index, so an
//! unwelded copy of a mesh gives the same answer as the welded one:
//!
//! * no shared corner: any common point counts, touching included (a vertex resting on
//!   another triangle is a defect of a surface meant to be embedded);
//! * one shared corner `v`: they intersect when the edge opposite `v` in one triangle meets
//!   the other triangle (Möller's interval argument: in the non-coplanar case both
//!   triangles meet the line of their planes in a segment starting at `v`, and the shorter
//!   one ends on the opposite edge of its triangle inside the other one; the same holds for
//!   the wedges of the coplanar case);
//! * one shared edge: they intersect only when coplanar and on the same side of that edge
//!   (folded onto each other); two non-coplanar triangles through a common edge meet only
//!   on that edge;
//! * three shared corners (a duplicated face): they overlap, so they intersect.
//!
//! Triangles with collinear corners or a repeated corner (zero area; the report counts them
//! as degenerate), with an index out of range or a non-finite coordinate are skipped.
//!
//! Every decision is made with Shewchuk's exact `orient3d` / `orient2d` (`robust` crate) on
//! the `f32` coordinates widened to `f64`, so the answer does not depend on rounding: the
//! test follows Möller (1997) and Guigue & Devillers (2003) — reject by the signs of one
//! triangle's corners against the other's plane, then test edges against triangles — but
//! with closed-set predicates throughout, coplanar overlaps included.
//!
//! Candidate pairs come from a bounding-volume hierarchy over the triangles' boxes (a
//! linear BVH: triangles sorted by the Morton code of their box centre (a stable radix
//! sort), each stored with its box and corner indices, leaves of [`LEAF`] triangles whose
//! boxes are also kept coordinate by coordinate so that one box is tested against a whole
//! leaf in a few SIMD comparisons, a balanced binary tree over the leaves), searched
//! against itself by simultaneous descent — every pair of overlapping nodes is visited
//! once, the large subtrees as parallel tasks. Counts are summed and faces sorted, so the
//! result does not depend on the number of threads. Cost: about `O(n log n)`.
//! [`self_intersections_among`] searches only the pairs of a few triangles (after they
//! moved) against the whole mesh; smoothing's roll-back keeps the whole search's hierarchy
//! instead, refits the boxes of the triangles it moved and queries it with them.
//!
//! Most candidate pairs of a surface mesh are neighbours sharing a vertex. They are
//! settled per vertex instead of per pair, by a **fan certificate**: when the triangles
//! around a vertex form one consistently oriented closed fan and, in a parallel
//! projection, every one of them keeps its orientation and the fan winds exactly once
//! around the vertex, the projected triangles lie in wedges that meet only along common
//! spokes, so no two of them meet beyond the vertex and their common edge, in the plane or
//! in space. The projection is along an axis (exact `orient2d`: it only drops a
//! coordinate) or, for the corners and edges of voxel staircases whose triangles face two
//! or three axes, along the fan's mean normal (exact `orient3d` against a point on that
//! line). Pairs sharing a certified vertex are then not tested; the others are, exactly.
//! On the smoothed head CT mesh 99 % of the vertices are certified and 96 % of the pairs
//! of overlapping boxes need no test; on the raw one, all vertices. Pairs whose boxes only
//! touch (marching cubes puts every vertex on a grid line) are settled in the plane of
//! contact (`touching_apart`). Flat patches of marching cubes (exactly coplanar
//! neighbours) take shortcuts in the tests: an axis-aligned-plane case, integer
//! arithmetic for exact zeros, and a float crease test that settles most edge-sharing
//! pairs.
//!
//! `osteon_sdf`'s untangling runs the same search over an 8-ary hierarchy it keeps and
//! refits across its rounds; it is built from this module's pieces, public but hidden from
//! the documentation ([`Aabb`], [`Lanes`], [`morton_keys`], [`Fan`], [`touching_apart`],
//! [`o3_sure`], [`proj`], [`outside_an_edge`]): one implementation, one answer.

use osteon_geom::Vec3;
use rayon::prelude::*;
use robust::{orient2d, orient3d, Coord, Coord3D};
use serde::{Deserialize, Serialize};

use crate::Mesh;

/// Triangles per BVH leaf, and lanes of [`Lanes`]: small leaves prune well for the many
/// small, similar triangles of marching cubes; with fan certificates making most leaf pairs
/// cheap, 8 was a little faster than 4 and 16 on the smoothed head CT mesh.
#[doc(hidden)]
pub const LEAF: usize = 8;

/// Triangles ranges below this are built sequentially (rayon task overhead).
const PAR_BUILD: usize = 1 << 12;

/// Result of [`self_intersections`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfIntersections {
    /// Number of unordered pairs of triangles that intersect.
    pub pairs: usize,
    /// Indices of the triangles that intersect at least one other, sorted, without repeats.
    pub faces: Vec<u32>,
}

impl SelfIntersections {
    /// True when no two triangles intersect.
    pub fn is_empty(&self) -> bool {
        self.pairs == 0
    }
}

/// Finds every pair of triangles of `mesh` that intersect (see the module documentation for
/// what counts). Never fails: triangles that cannot be tested (degenerate, bad index,
/// non-finite) are skipped.
pub fn self_intersections(mesh: &Mesh) -> SelfIntersections {
    let inc = Incidence::new(&mesh.triangles, mesh.positions.len());
    search(mesh, &inc)
}

/// [`self_intersections`] with the vertex → corner incidence already at hand.
pub(crate) fn search(mesh: &Mesh, inc: &Incidence) -> SelfIntersections {
    let (tree, found) = full_search(mesh, inc);
    drop(tree);
    found
}

/// The whole-mesh search, keeping its hierarchy (over every triangle, untestable ones with
/// empty boxes).
fn full_search(mesh: &Mesh, inc: &Incidence) -> (Tree, SelfIntersections) {
    let boxes = testable_boxes(mesh);
    let cert = certify(mesh, inc, |t| !boxes[t].is_empty(), None);
    let mark = mark_for(mesh.positions.len());
    let items: Vec<Item> = mesh
        .triangles
        .par_iter()
        .zip(boxes.par_iter())
        .enumerate()
        .with_min_len(1024)
        .map(|(t, (tri, bbox))| Item {
            tri: t as u32,
            // `certify` certifies nothing in meshes too large for marks; untestable
            // triangles (empty boxes) are never paired, whatever their indices.
            v: tri.map(|i| match cert.get(i as usize) {
                Some(true) => i | mark,
                _ => i,
            }),
            bbox: *bbox,
        })
        .collect();
    drop(boxes);
    let tree = Tree::build(items);
    let search = Pairs {
        tree: &tree,
        pos: &mesh.positions,
        mark,
    };
    let (pairs, faces) = if tree.nodes.is_empty() {
        (0, Vec::new())
    } else {
        search.self_pairs(0)
    };
    (tree, finish(pairs, faces))
}

/// The intersecting pairs of `mesh` with at least one triangle in `faces` (indices into
/// `mesh.triangles`; out-of-range ones are ignored): after moving the vertices of a few
/// triangles, this finds what changed without a search of the whole mesh. `faces` lists
/// the triangles involved in those pairs, both sides.
pub fn self_intersections_among(mesh: &Mesh, faces: &[u32]) -> SelfIntersections {
    let inc = Incidence::new(&mesh.triangles, mesh.positions.len());
    search_among(mesh, &inc, faces)
}

/// The testable triangles of `faces` (sorted, without repeats, in range), their vertices
/// (sorted) and those vertices' certificates.
fn subset(mesh: &Mesh, inc: &Incidence, faces: &[u32]) -> (Vec<u32>, Vec<u32>, Vec<bool>) {
    let n = mesh.triangles.len();
    let mut list: Vec<u32> = faces
        .iter()
        .copied()
        .filter(|&f| (f as usize) < n)
        .collect();
    list.sort_unstable();
    list.dedup();
    list.retain(|&t| is_testable(mesh, t as usize));
    // Only vertices of subset triangles can be shared with them: certify those.
    let mut verts: Vec<u32> = list
        .iter()
        .flat_map(|&t| mesh.triangles[t as usize])
        .collect();
    verts.sort_unstable();
    verts.dedup();
    // Corner ids are u32 in the incidence: no certificates past that.
    let cert: Vec<bool> = if n > (u32::MAX / 3) as usize || mark_for(mesh.positions.len()) == 0 {
        vec![false; verts.len()]
    } else {
        verts
            .par_iter()
            .with_min_len(256)
            .map_init(Fan::default, |fan, &v| {
                fan.certify(mesh, inc, &|t| is_testable(mesh, t), v as usize)
            })
            .collect()
    };
    (list, verts, cert)
}

/// [`self_intersections_among`] with the vertex → corner incidence already at hand.
pub(crate) fn search_among(mesh: &Mesh, inc: &Incidence, faces: &[u32]) -> SelfIntersections {
    let n = mesh.triangles.len();
    let nv = mesh.positions.len();
    let (list, verts, cert) = subset(mesh, inc, faces);
    let mark = mark_for(nv);
    let mut member = vec![false; n];
    for &t in &list {
        member[t as usize] = true;
    }
    let items: Vec<Item> = list
        .iter()
        .map(|&t| {
            let tri = mesh.triangles[t as usize];
            Item {
                tri: t,
                v: marked(tri, &verts, &cert, mark),
                bbox: Aabb::of(&tri.map(|i| mesh.positions[i as usize])),
            }
        })
        .collect();
    if items.is_empty() {
        return SelfIntersections::default();
    }
    let tree = Tree::build(items);
    let search = Pairs {
        tree: &tree,
        pos: &mesh.positions,
        mark,
    };
    let root = tree.nodes[0].bbox;
    let (pairs, faces) = (0..n)
        .into_par_iter()
        .with_min_len(4096)
        .fold(
            || (0usize, Vec::new(), Vec::with_capacity(64)),
            |(mut count, mut out, mut stack), t| {
                let tri = mesh.triangles[t];
                if tri.iter().any(|&i| i as usize >= nv) {
                    return (count, out, stack);
                }
                let p = tri.map(|i| mesh.positions[i as usize]);
                let bbox = Aabb::of(&p);
                // Most triangles are far from the few that moved: one box test. Their
                // validity (finite, not degenerate) is checked only when near.
                if !bbox.overlaps(&root) {
                    return (count, out, stack);
                }
                let mut valid: Option<bool> = None;
                let ti = t as u32;
                tree.query(&bbox, &mut stack, |jt| {
                    // A pair of two subset triangles is met from both sides: once.
                    if (member[t] && ti >= jt.tri)
                        || ti == jt.tri
                        || shares_certified(&tri, &jt.v, mark)
                    {
                        return;
                    }
                    let ok = *valid.get_or_insert_with(|| {
                        p.iter().all(|q| q.is_finite()) && !is_degenerate(&p.map(wide))
                    });
                    if ok && proper_pair(p, search.corners(jt)) {
                        count += 1;
                        out.push(ti);
                        out.push(jt.tri);
                    }
                });
                (count, out, stack)
            },
        )
        .map(|(c, o, _)| (c, o))
        .reduce(
            || (0, Vec::new()),
            |(n1, mut f1), (n2, f2)| {
                f1.extend_from_slice(&f2);
                (n1 + n2, f1)
            },
        );
    finish(pairs, faces)
}

/// Corner indices of `tri` with the certified ones (per `verts`/`cert`) marked.
fn marked(tri: [u32; 3], verts: &[u32], cert: &[bool], mark: u32) -> [u32; 3] {
    tri.map(|i| match verts.binary_search(&i) {
        Ok(k) if cert[k] => i | mark,
        _ => i,
    })
}

/// A whole-mesh search kept for repeated searches after a few vertices move (smoothing's
/// roll-back): [`SearchIndex::new`] searches the whole mesh once and keeps its hierarchy;
/// after moving vertices, [`SearchIndex::refit`] updates the boxes of the triangles around
/// them (and their ancestors' boxes) and [`SearchIndex::among`] finds the pairs of those
/// triangles by querying the hierarchy with each of them, instead of scanning every
/// triangle of the mesh. Triangles, vertex count and incidence must stay those of the mesh
/// it was built on; positions may change.
pub(crate) struct SearchIndex {
    tree: Tree,
    /// Position of every triangle in `tree.items`.
    slot: Vec<u32>,
}

impl SearchIndex {
    /// Searches the whole mesh ([`search`]) and keeps the hierarchy.
    pub(crate) fn new(mesh: &Mesh, inc: &Incidence) -> (SearchIndex, SelfIntersections) {
        let (tree, found) = full_search(mesh, inc);
        let mut slot = vec![0u32; mesh.triangles.len()];
        for (p, it) in tree.items.iter().enumerate() {
            slot[it.tri as usize] = p as u32;
        }
        (SearchIndex { tree, slot }, found)
    }

    /// Updates the boxes of triangles `tris` (whose corners moved) from `mesh`, and the
    /// boxes of the nodes above them.
    pub(crate) fn refit(&mut self, mesh: &Mesh, tris: &[u32]) {
        let tree = &mut self.tree;
        if tree.nodes.is_empty() {
            return;
        }
        let mut dirty = vec![false; tree.lanes.len()];
        for &t in tris {
            let Some(&p) = self.slot.get(t as usize) else {
                continue;
            };
            let p = p as usize;
            let b = testable_box(&mesh.positions, &mesh.triangles[t as usize]);
            tree.items[p].bbox = b;
            tree.lanes[p / LEAF].set(p % LEAF, &b);
            dirty[p / LEAF] = true;
        }
        // Pre-order: children come after their parent, so a reverse sweep sees them first.
        for k in (0..tree.nodes.len()).rev() {
            let node = tree.nodes[k];
            let bbox = if node.right == 0 {
                if !dirty[node.lo as usize] {
                    continue;
                }
                tree.lanes[node.lo as usize].bounds()
            } else {
                tree.nodes[k + 1]
                    .bbox
                    .union(&tree.nodes[node.right as usize].bbox)
            };
            tree.nodes[k].bbox = bbox;
        }
    }

    /// [`search_among`] over the kept hierarchy: every triangle's box must be current
    /// (call [`SearchIndex::refit`] with the triangles whose corners moved first).
    pub(crate) fn among(&self, mesh: &Mesh, inc: &Incidence, faces: &[u32]) -> SelfIntersections {
        let (list, verts, cert) = subset(mesh, inc, faces);
        let mark = mark_for(mesh.positions.len());
        let search = Pairs {
            tree: &self.tree,
            pos: &mesh.positions,
            mark,
        };
        let found: Vec<(usize, Vec<u32>)> = list
            .par_iter()
            .with_min_len(64)
            .map_init(
                || Vec::with_capacity(64),
                |stack, &s| {
                    let tri = mesh.triangles[s as usize];
                    let v = marked(tri, &verts, &cert, mark);
                    let p = tri.map(|i| mesh.positions[i as usize]);
                    let bbox = Aabb::of(&p);
                    let mut out = (0usize, Vec::new());
                    self.tree.query(&bbox, stack, |jt| {
                        // A pair of two subset triangles is met from both sides: once.
                        if jt.tri == s
                            || (jt.tri < s && list.binary_search(&jt.tri).is_ok())
                            // The other triangle's marks may be stale: only `s`'s count,
                            // and every vertex the two share is one of `s`'s.
                            || shares_certified(&jt.v, &v, mark)
                        {
                            return;
                        }
                        if boxed_pair(&bbox, &jt.bbox, p, search.corners(jt)) {
                            out.0 += 1;
                            out.1.push(s);
                            out.1.push(jt.tri);
                        }
                    });
                    out
                },
            )
            .collect();
        let pairs = found.iter().map(|f| f.0).sum();
        finish(pairs, found.into_iter().flat_map(|f| f.1).collect())
    }
}

fn finish(pairs: usize, mut faces: Vec<u32>) -> SelfIntersections {
    faces.par_sort_unstable();
    faces.dedup();
    SelfIntersections { pairs, faces }
}

/// Per triangle: its box when it can be tested (indices in range, finite corners, not
/// degenerate), else [`Aabb::EMPTY`], which overlaps nothing.
fn testable_boxes(mesh: &Mesh) -> Vec<Aabb> {
    mesh.triangles
        .par_iter()
        .with_min_len(1024)
        .map(|tri| testable_box(&mesh.positions, tri))
        .collect()
}

/// The box of `tri` when it is testable, else [`Aabb::EMPTY`].
#[inline]
fn testable_box(pos: &[Vec3], tri: &[u32; 3]) -> Aabb {
    if tri.iter().any(|&i| i as usize >= pos.len()) {
        return Aabb::EMPTY;
    }
    let p = tri.map(|i| pos[i as usize]);
    if p.iter().all(|q| q.is_finite()) && !is_degenerate(&p.map(wide)) {
        Aabb::of(&p)
    } else {
        Aabb::EMPTY
    }
}

/// Triangle `t` has indices in range, finite corners and is not degenerate.
fn is_testable(mesh: &Mesh, t: usize) -> bool {
    let tri = mesh.triangles[t];
    if tri.iter().any(|&i| i as usize >= mesh.positions.len()) {
        return false;
    }
    let p = tri.map(|i| mesh.positions[i as usize]);
    p.iter().all(|q| q.is_finite()) && !is_degenerate(&p.map(wide))
}

/// Marks a certified vertex in [`Item::v`]. Vertex indices of meshes with fewer than
/// 2³¹ vertices never have this bit; larger meshes get no certificates.
const CERTIFIED: u32 = 1 << 31;

/// Whether triangles with corner indices `t` and `u` (marked or not) share a certified
/// vertex: then they meet only at that vertex or along their common edge, and need no test.
/// `mark` is [`CERTIFIED`], or 0 for meshes too large to carry marks (never true then).
#[inline(always)]
fn shares_certified(t: &[u32; 3], u: &[u32; 3], mark: u32) -> bool {
    let mut hit = false;
    for &x in u {
        if x & mark != 0 {
            let x = x & !mark;
            hit |= (t[0] & !mark == x) | (t[1] & !mark == x) | (t[2] & !mark == x);
        }
    }
    hit
}

/// The certificate mark for a mesh of `nv` vertices: 0 (no marks) from 2³¹ vertices on.
fn mark_for(nv: usize) -> u32 {
    if nv < CERTIFIED as usize {
        CERTIFIED
    } else {
        0
    }
}

/// The corners around each vertex (corner `c` is corner `c % 3` of triangle `c / 3`), in
/// ascending order: `corners[off[v]..off[v + 1]]`. A counting sort, so deterministic.
pub(crate) struct Incidence {
    pub(crate) off: Vec<usize>,
    pub(crate) corners: Vec<u32>,
}

impl Incidence {
    /// The triangles touching any of `verts`, ascending, each once.
    pub(crate) fn triangles_around(&self, verts: &[u32]) -> Vec<u32> {
        let mut tris: Vec<u32> = verts
            .iter()
            .flat_map(|&v| self.around(v as usize))
            .map(|&c| c / 3)
            .collect();
        tris.sort_unstable();
        tris.dedup();
        tris
    }

    /// Incidence of `triangles` over `nv` vertices (indices out of range are left out).
    pub(crate) fn new(triangles: &[[u32; 3]], nv: usize) -> Incidence {
        let mut off = vec![0usize; nv + 1];
        for t in triangles {
            for &v in t {
                if (v as usize) < nv {
                    off[v as usize + 1] += 1;
                }
            }
        }
        for v in 0..nv {
            off[v + 1] += off[v];
        }
        let mut fill = off.clone();
        let mut corners = vec![0u32; off[nv]];
        for (t, tri) in triangles.iter().enumerate() {
            for (k, &v) in tri.iter().enumerate() {
                if (v as usize) < nv {
                    corners[fill[v as usize]] = (3 * t + k) as u32;
                    fill[v as usize] += 1;
                }
            }
        }
        Incidence { off, corners }
    }

    /// The corners at vertex `v`.
    #[inline]
    pub(crate) fn around(&self, v: usize) -> &[u32] {
        &self.corners[self.off[v]..self.off[v + 1]]
    }
}

/// Fans longer than this are not certified (tested pair by pair instead).
const MAX_FAN: usize = 32;

/// Per vertex (only those flagged in `wanted`, when given): whether its triangles are
/// proven to meet one another only at the vertex and along their common edges.
///
/// The certificate: the triangles around `v` form one consistently oriented closed fan
/// (each of them testable), and in some axis-aligned projection — exact, as it only drops
/// a coordinate — every triangle of the fan keeps its orientation, strictly, and the fan
/// winds once around `v` (the first spoke lies in no other wedge, closed, than its two
/// own; exact `orient2d` throughout). Then the projected triangles lie in wedges at `v`
/// that overlap only along common spokes, so two of them meet only at `v` (apart) or on
/// their common spoke, which is the projection of their common edge and of no other point
/// of either triangle; the same holds in space, since projecting keeps common points.
fn certify(
    mesh: &Mesh,
    inc: &Incidence,
    valid: impl Fn(usize) -> bool + Sync,
    wanted: Option<&[bool]>,
) -> Vec<bool> {
    let nv = mesh.positions.len();
    if nv >= CERTIFIED as usize || mesh.triangles.len() > (u32::MAX / 3) as usize {
        return vec![false; nv];
    }
    (0..nv)
        .into_par_iter()
        .with_min_len(4096)
        .map_init(Fan::default, |fan, v| {
            wanted.is_none_or(|w| w[v]) && fan.certify(mesh, inc, &valid, v)
        })
        .collect()
}

/// The fan certificate of a vertex ([`Fan::certify_triangles`]), with its scratch space.
#[doc(hidden)]
#[derive(Default)]
pub struct Fan {
    wedges: Vec<(u32, u32)>,
    ring: Vec<[f64; 3]>,
}

impl Fan {
    /// The certificate of [`certify`] for vertex `v`.
    fn certify(
        &mut self,
        mesh: &Mesh,
        inc: &Incidence,
        valid: &(impl Fn(usize) -> bool + Sync),
        v: usize,
    ) -> bool {
        let corners = inc
            .around(v)
            .iter()
            .map(|&c| (c as usize / 3, c as usize % 3));
        self.certify_corners(mesh, corners, valid, v)
    }

    /// The fan certificate of vertex `v` (see [`self_intersections`]) given the triangles
    /// around it (`around`, every triangle of `mesh` with corner `v`), each of which must
    /// pass `valid` (at least: finite corners): `true` when those triangles are proven to
    /// meet one another only at `v` and along their common edges.
    #[doc(hidden)]
    pub fn certify_triangles(
        &mut self,
        mesh: &Mesh,
        around: &[u32],
        valid: &(impl Fn(usize) -> bool + Sync),
        v: u32,
    ) -> bool {
        let tris = &mesh.triangles;
        let corners = around.iter().map(|&t| {
            let tri = tris[t as usize];
            // 3 (not a corner of `t`): not certified.
            let k = tri.iter().position(|&x| x == v).unwrap_or(3);
            (t as usize, k)
        });
        self.certify_corners(mesh, corners, valid, v as usize)
    }

    /// The certificate of vertex `v` from its corners `(triangle, corner 0..3)`.
    #[inline]
    fn certify_corners(
        &mut self,
        mesh: &Mesh,
        corners: impl ExactSizeIterator<Item = (usize, usize)>,
        valid: &(impl Fn(usize) -> bool + Sync),
        v: usize,
    ) -> bool {
        let (tris, pos) = (&mesh.triangles, &mesh.positions);
        let m = corners.len();
        if !(3..=MAX_FAN).contains(&m) {
            return false;
        }
        let wedges = &mut self.wedges;
        let ring = &mut self.ring;
        wedges.clear();
        for (t, k) in corners {
            if k > 2 || !valid(t) {
                return false;
            }
            let tri = tris[t];
            wedges.push((tri[(k + 1) % 3], tri[(k + 2) % 3]));
        }
        // Chain the wedges into one cycle: each spoke starts exactly one wedge.
        ring.clear();
        let mut at = 0usize;
        for step in 0..m {
            let (a, b) = wedges[at];
            ring.push(wide(pos[a as usize]));
            if step + 1 == m {
                if b != wedges[0].0 {
                    return false;
                }
                break;
            }
            let mut next = None;
            for (j, w) in wedges.iter().enumerate() {
                if w.0 == b {
                    if next.is_some() {
                        return false;
                    }
                    next = Some(j);
                }
            }
            match next {
                Some(j) if j != 0 => at = j,
                _ => return false,
            }
        }
        let pv = wide(pos[v]);
        // Projection axis: the largest component of the fan's normal first.
        let mut n = [0.0f64; 3];
        for i in 0..m {
            let c = cross(&sub(&ring[i], &pv), &sub(&ring[(i + 1) % m], &pv));
            for k in 0..3 {
                n[k] += c[k];
            }
        }
        let first = if n[0].abs() >= n[1].abs() && n[0].abs() >= n[2].abs() {
            0
        } else if n[1].abs() >= n[2].abs() {
            1
        } else {
            2
        };
        if fan_winds_once(proj(&pv, first), ring, first) {
            return true;
        }
        // Along the fan's mean normal: the corners and edges of a voxel staircase have
        // triangles facing two or three axes, and every axis projection flattens some.
        let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
        if len > 0.0 && len.is_finite() {
            let reach = ring
                .iter()
                .map(|p| sub(p, &pv).iter().fold(0.0f64, |a, x| a.max(x.abs())))
                .fold(0.0f64, f64::max);
            let q: [f64; 3] = std::array::from_fn(|k| pv[k] + n[k] / len * reach);
            if q.iter().all(|x| x.is_finite()) && fan_winds_once_along(&pv, ring, &q) {
                return true;
            }
        }
        [(first + 1) % 3, (first + 2) % 3]
            .into_iter()
            .any(|k| fan_winds_once(proj(&pv, k), ring, k))
    }
}

/// [`fan_winds_once`] for the projection along the direction `q − v` (any point `q`; the
/// direction need not be representable, it is what `q` and `v` define exactly): the 2-D
/// orientation of `v`, `a`, `b` seen along it is the sign of `orient3d(v, a, b, q)`,
/// exact. The proof is the same as for an axis (any parallel projection is linear and
/// keeps common points; a triangle it keeps strictly oriented maps one-to-one).
fn fan_winds_once_along(v: &[f64; 3], ring: &[[f64; 3]], q: &[f64; 3]) -> bool {
    let m = ring.len();
    winds_once(m, |i, j| o3(v, &ring[i % m], &ring[j % m], q))
}

/// The projected fan around `v` (spokes `ring`, projected by dropping axis `k`): every
/// wedge strictly of one orientation, and the first spoke in no other closed wedge than
/// its own two.
fn fan_winds_once(v: [f64; 2], ring: &[[f64; 3]], k: usize) -> bool {
    let m = ring.len();
    winds_once(m, |i, j| {
        o2(v, proj(&ring[i % m], k), proj(&ring[j % m], k))
    })
}

/// The test of [`fan_winds_once`] over `m` spokes, given the orientation `orient(i, j)` of
/// the centre and spokes `i`, `j` (indices taken modulo `m`) in the chosen projection.
fn winds_once(m: usize, orient: impl Fn(usize, usize) -> i8) -> bool {
    let s = orient(0, 1);
    if s == 0 {
        return false;
    }
    for i in 1..m {
        if orient(i, i + 1) != s {
            return false;
        }
    }
    for i in 1..m - 1 {
        if orient(i, 0) != -s && orient(0, i + 1) != -s {
            return false;
        }
    }
    true
}

/// Whether two triangles intersect in more than the corners and edge they share (exact;
/// see the module documentation). Degenerate triangles (zero area) never intersect here.
pub fn triangles_intersect(t: [Vec3; 3], u: [Vec3; 3]) -> bool {
    let (a, b) = (t.map(wide), u.map(wide));
    !is_degenerate(&a) && !is_degenerate(&b) && proper_pair(t, u)
}

/// [`triangles_intersect`] for triangles known to be non-degenerate.
fn proper_pair(t: [Vec3; 3], u: [Vec3; 3]) -> bool {
    let a = t.map(wide);
    let b = u.map(wide);
    // Shared corners by exact coordinates. The corners of a non-degenerate triangle are
    // distinct, so each corner of `t` matches at most one of `u`.
    let mut shared = [(0usize, 0usize); 3];
    let mut ns = 0;
    for (i, p) in t.iter().enumerate() {
        if let Some(j) = u.iter().position(|q| q == p) {
            shared[ns] = (i, j);
            ns += 1;
        }
    }
    match ns {
        0 => disjoint_pair(&a, &b),
        1 => {
            let (i, j) = shared[0];
            let (a1, a2) = (a[(i + 1) % 3], a[(i + 2) % 3]);
            let (b1, b2) = (b[(j + 1) % 3], b[(j + 2) % 3]);
            // Quick rejection: the other two corners of one strictly on one side of the
            // other's plane means the triangles meet that plane only at the shared corner.
            let s1 = o3(&a[0], &a[1], &a[2], &b1);
            let s2 = o3(&a[0], &a[1], &a[2], &b2);
            if s1 * s2 > 0 {
                return false;
            }
            let s1 = o3(&b[0], &b[1], &b[2], &a1);
            let s2 = o3(&b[0], &b[1], &b[2], &a2);
            if s1 * s2 > 0 {
                return false;
            }
            if s1 == 0 && s2 == 0 {
                // `t` lies in the plane of `u` (a flat patch, common in marching cubes): the
                // triangles meet beyond the shared corner exactly when their angles at it
                // overlap, i.e. when a side of one lies in the closed angle of the other.
                let k = drop_axis(&a);
                let v = proj(&a[i], k);
                let (a1, a2) = (proj(&a1, k), proj(&a2, k));
                let (b1, b2) = (proj(&b1, k), proj(&b2, k));
                return in_angle(v, a1, a2, b1)
                    || in_angle(v, a1, a2, b2)
                    || in_angle(v, b1, b2, a1)
                    || in_angle(v, b1, b2, a2);
            }
            segment_triangle(&a1, &a2, &b) || segment_triangle(&b1, &b2, &a)
        }
        2 => {
            let (i0, j0) = shared[0];
            let (i1, j1) = shared[1];
            let p = a[i0];
            let q = a[i1];
            let c = a[3 - i0 - i1];
            let d = b[3 - j0 - j1];
            // Fast exit for the usual case, a crease: c and d clearly on opposite sides of
            // the common edge ((pq × pc)·(pq × pd) < 0 beyond its rounding error), which
            // rules out a fold whether or not the two are coplanar.
            let (u, v, w) = (sub(&q, &p), sub(&c, &p), sub(&d, &p));
            let x = cross(&u, &v);
            let y = cross(&u, &w);
            let dot = x[0] * y[0] + x[1] * y[1] + x[2] * y[2];
            let l1 = |a: &[f64; 3]| a[0].abs() + a[1].abs() + a[2].abs();
            // 64 ε covers the rounding of the differences, the cross products and the dot
            // product, each a few ulps of these magnitudes, with a wide margin.
            let bound = 64.0 * f64::EPSILON * l1(&u) * l1(&u) * l1(&v) * l1(&w);
            if dot < -bound {
                return false;
            }
            if o3(&p, &q, &c, &d) != 0 {
                return false;
            }
            let k = drop_axis(&a);
            let (p, q, c, d) = (proj(&p, k), proj(&q, k), proj(&c, k), proj(&d, k));
            o2(p, q, c) == o2(p, q, d)
        }
        _ => true,
    }
}

/// Two triangles with no corner in common: do the closed triangles meet?
fn disjoint_pair(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> bool {
    let sb = b.map(|p| o3(&a[0], &a[1], &a[2], &p));
    if strictly_one_side(sb) {
        return false;
    }
    let sa = a.map(|p| o3(&b[0], &b[1], &b[2], &p));
    if strictly_one_side(sa) {
        return false;
    }
    if sb == [0; 3] {
        // Coplanar: 2-D overlap in the projection that keeps the plane non-degenerate.
        let k = drop_axis(a);
        return triangles_2d(&a.map(|p| proj(&p, k)), &b.map(|p| proj(&p, k)));
    }
    // Not coplanar: the intersection, if any, is a segment whose ends lie on edges.
    (0..3).any(|i| segment_triangle(&a[i], &a[(i + 1) % 3], b))
        || (0..3).any(|i| segment_triangle(&b[i], &b[(i + 1) % 3], a))
}

fn strictly_one_side(s: [i8; 3]) -> bool {
    (s[0] > 0 && s[1] > 0 && s[2] > 0) || (s[0] < 0 && s[1] < 0 && s[2] < 0)
}

/// Does the closed segment `pq` meet the closed (non-degenerate) triangle `t`?
fn segment_triangle(p: &[f64; 3], q: &[f64; 3], t: &[[f64; 3]; 3]) -> bool {
    let sp = o3(&t[0], &t[1], &t[2], p);
    let sq = o3(&t[0], &t[1], &t[2], q);
    if sp * sq > 0 {
        return false;
    }
    if sp == 0 && sq == 0 {
        let k = drop_axis(t);
        return segment_triangle_2d(proj(p, k), proj(q, k), &t.map(|c| proj(&c, k)));
    }
    // The segment crosses or touches the plane at one point; it is inside the triangle
    // when the line `pq` passes on the same side of the three edges (signed volumes).
    let s = [
        o3(p, q, &t[0], &t[1]),
        o3(p, q, &t[1], &t[2]),
        o3(p, q, &t[2], &t[0]),
    ];
    !(s.contains(&1) && s.contains(&-1))
}

/// Is the direction `x − v` inside the closed angle at `v` spanned by `p − v` and `q − v`
/// (smaller than 180°, `v`, `p`, `q` not collinear)?
#[inline]
fn in_angle(v: [f64; 2], p: [f64; 2], q: [f64; 2], x: [f64; 2]) -> bool {
    let s = o2(v, p, q);
    let sp = o2(v, p, x);
    let sq = o2(v, q, x);
    // Left of v→p and right of v→q (for s > 0), boundaries included; for an angle under
    // 180° the two half-planes meet exactly in the angle.
    (sp == s || sp == 0) && (sq == -s || sq == 0) && !(sp == 0 && sq == 0)
}

/// Do the closed, non-degenerate 2-D triangles `a` and `b` meet? Separating axes: they
/// are disjoint exactly when one has all three corners strictly outside an edge line of
/// the other (disjoint compact convex sets are strictly separated by a line parallel to
/// an edge).
fn triangles_2d(a: &[[f64; 2]; 3], b: &[[f64; 2]; 3]) -> bool {
    !outside_an_edge(a, b) && !outside_an_edge(b, a)
}

/// Some edge line of `a` has every point of `pts` strictly on its outer side (`a` not
/// degenerate: the answer means nothing otherwise).
#[doc(hidden)]
#[inline]
pub fn outside_an_edge(a: &[[f64; 2]; 3], pts: &[[f64; 2]]) -> bool {
    let inner = o2(a[0], a[1], a[2]);
    if inner == 0 {
        // Degenerate `a`: no outer side (never a false "apart").
        return false;
    }
    (0..3).any(|i| {
        let (p, q) = (a[i], a[(i + 1) % 3]);
        pts.iter().all(|&x| o2(p, q, x) == -inner)
    })
}

/// Does the closed 2-D segment `pq` (`p ≠ q`) meet the closed non-degenerate triangle `t`?
/// Separating axes again: the triangle's edge lines and the segment's line.
fn segment_triangle_2d(p: [f64; 2], q: [f64; 2], t: &[[f64; 2]; 3]) -> bool {
    if outside_an_edge(t, &[p, q]) {
        return false;
    }
    let s = t.map(|x| o2(p, q, x));
    !(s.iter().all(|&x| x > 0) || s.iter().all(|&x| x < 0))
}

/// The coordinate to drop so that the triangle's projection keeps its area: the largest
/// component of the normal, checked exactly (it must be non-zero; the exact largest
/// projected area is the fallback when rounding left it in doubt).
pub(crate) fn drop_axis(t: &[[f64; 3]; 3]) -> usize {
    let (e1, e2) = (sub(&t[1], &t[0]), sub(&t[2], &t[0]));
    let n = [
        (e1[1] * e2[2] - e1[2] * e2[1]).abs(),
        (e1[2] * e2[0] - e1[0] * e2[2]).abs(),
        (e1[0] * e2[1] - e1[1] * e2[0]).abs(),
    ];
    let k = if n[0] >= n[1] && n[0] >= n[2] {
        0
    } else if n[1] >= n[2] {
        1
    } else {
        2
    };
    if o2(proj(&t[0], k), proj(&t[1], k), proj(&t[2], k)) != 0 {
        return k;
    }
    let area = |k: usize| {
        let (p0, p1, p2) = (proj(&t[0], k), proj(&t[1], k), proj(&t[2], k));
        orient2d(c2(p0), c2(p1), c2(p2)).abs()
    };
    let (a0, a1, a2) = (area(0), area(1), area(2));
    if a0 >= a1 && a0 >= a2 {
        0
    } else if a1 >= a2 {
        1
    } else {
        2
    }
}

#[inline]
fn sub(a: &[f64; 3], b: &[f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

#[inline]
fn cross(a: &[f64; 3], b: &[f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// Zero area, exactly: all three axis projections are collinear.
pub(crate) fn is_degenerate(t: &[[f64; 3]; 3]) -> bool {
    (0..3).all(|k| o2(proj(&t[0], k), proj(&t[1], k), proj(&t[2], k)) == 0)
}

/// `p` without coordinate `drop`, in cyclic order (so orientations keep their sign).
#[doc(hidden)]
#[inline]
pub fn proj(p: &[f64; 3], drop: usize) -> [f64; 2] {
    match drop {
        0 => [p[1], p[2]],
        1 => [p[2], p[0]],
        _ => [p[0], p[1]],
    }
}

#[inline]
fn wide(p: Vec3) -> [f64; 3] {
    [p.x as f64, p.y as f64, p.z as f64]
}

#[inline]
fn c2(p: [f64; 2]) -> Coord<f64> {
    Coord { x: p[0], y: p[1] }
}

#[inline]
fn c3(p: &[f64; 3]) -> Coord3D<f64> {
    Coord3D {
        x: p[0],
        y: p[1],
        z: p[2],
    }
}

/// Sign of the exact 2-D orientation of `c` against the line `ab`.
#[inline]
pub(crate) fn o2(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> i8 {
    // Shewchuk's stage-A filter, then exact integers, then `robust` (see `o3`).
    let l = (a[0] - c[0]) * (b[1] - c[1]);
    let r = (a[1] - c[1]) * (b[0] - c[0]);
    let det = l - r;
    let bound = CCW_ERR_A * (l.abs() + r.abs());
    if det > bound || -det > bound {
        return sign(det);
    }
    if let Some(s) = exact_2d(a, b, c) {
        return s;
    }
    sign(orient2d(c2(a), c2(b), c2(c)))
}

/// Sign of the exact 3-D orientation of `d` against the plane `abc` (`robust::orient3d`'s
/// convention).
///
/// Marching cubes puts many quadruples exactly in a plane (flat patches on a voxel
/// grid), where `robust` has to run its slowest, fully exact stage to confirm the zero.
/// The coordinates are `f32` values, so when the twelve of them span fewer than 39
/// binary orders the determinant is computed exactly in `i128` instead, 10–20× faster.
#[inline]
pub(crate) fn o3(a: &[f64; 3], b: &[f64; 3], c: &[f64; 3], d: &[f64; 3]) -> i8 {
    if let Some(s) = o3_sure(a, b, c, d) {
        return s;
    }
    // An axis-aligned plane (flat patches of marching cubes on a mask): the determinant is
    // (a_k − d_k) times the 2-D orientation of abc in the other two coordinates (cyclic
    // order keeps the sign), and the sign of a difference of floats is exact.
    for k in 0..3 {
        if a[k] == b[k] && b[k] == c[k] {
            return sign(a[k] - d[k]) * o2(proj(a, k), proj(b, k), proj(c, k));
        }
    }
    if let Some(s) = exact_3d(a, b, c, d) {
        return s;
    }
    sign(orient3d(c3(a), c3(b), c3(c), c3(d)))
}

/// The sign of [`o3`] when the floating-point determinant is certain (Shewchuk's
/// `orient3d` stage-A error bound), `None` when it is not: the first stage of [`o3`],
/// alone for callers that only want a quick proof.
#[doc(hidden)]
#[inline(always)]
pub fn o3_sure(a: &[f64; 3], b: &[f64; 3], c: &[f64; 3], d: &[f64; 3]) -> Option<i8> {
    let (adx, bdx, cdx) = (a[0] - d[0], b[0] - d[0], c[0] - d[0]);
    let (ady, bdy, cdy) = (a[1] - d[1], b[1] - d[1], c[1] - d[1]);
    let (adz, bdz, cdz) = (a[2] - d[2], b[2] - d[2], c[2] - d[2]);
    let (bc, cb) = (bdx * cdy, cdx * bdy);
    let (ca, ac) = (cdx * ady, adx * cdy);
    let (ab, ba) = (adx * bdy, bdx * ady);
    let det = adz * (bc - cb) + bdz * (ca - ac) + cdz * (ab - ba);
    let permanent = (bc.abs() + cb.abs()) * adz.abs()
        + (ca.abs() + ac.abs()) * bdz.abs()
        + (ab.abs() + ba.abs()) * cdz.abs();
    let bound = O3D_ERR_A * permanent;
    if det > bound || -det > bound {
        Some(sign(det))
    } else {
        None
    }
}

/// Shewchuk's error bounds for the floating-point stage (ε = 2⁻⁵³).
const EPS: f64 = f64::EPSILON * 0.5;
const CCW_ERR_A: f64 = (3.0 + 16.0 * EPS) * EPS;
const O3D_ERR_A: f64 = (7.0 + 56.0 * EPS) * EPS;

/// The values (all `f32` values) as integers in units of the smallest exponent among
/// them, when every one is below 2³⁹ in magnitude (so differences are below 2⁴⁰ and
/// triple products of differences below 2¹²⁰); `None` otherwise (or all zero).
#[inline]
fn to_fixed<const N: usize>(v: [f64; N]) -> Option<[i64; N]> {
    // `m · 2^e` with |m| < 2²⁴ for each value (m = 0 for zero).
    let mut m = [0i64; N];
    let mut e = [0i32; N];
    let mut emin = i32::MAX;
    for i in 0..N {
        let bits = (v[i] as f32).to_bits();
        let exp = ((bits >> 23) & 0xff) as i32;
        let frac = (bits & 0x7f_ffff) as i64;
        let (mi, ei) = if exp == 0 {
            (frac, -149)
        } else {
            (frac | 1 << 23, exp - 150)
        };
        m[i] = if bits >> 31 == 1 { -mi } else { mi };
        e[i] = ei;
        if mi != 0 {
            emin = emin.min(ei);
        }
    }
    if emin == i32::MAX {
        return None;
    }
    let mut out = [0i64; N];
    for i in 0..N {
        if m[i] != 0 {
            let shift = e[i] - emin;
            if shift > 39 - 24 {
                return None;
            }
            out[i] = m[i] << shift;
        }
    }
    Some(out)
}

fn exact_2d(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> Option<i8> {
    let v = to_fixed([a[0], a[1], b[0], b[1], c[0], c[1]])?;
    let det = (v[0] - v[4]) as i128 * (v[3] - v[5]) as i128
        - (v[1] - v[5]) as i128 * (v[2] - v[4]) as i128;
    Some(det.signum() as i8)
}

fn exact_3d(a: &[f64; 3], b: &[f64; 3], c: &[f64; 3], d: &[f64; 3]) -> Option<i8> {
    let v = to_fixed([
        a[0], a[1], a[2], b[0], b[1], b[2], c[0], c[1], c[2], d[0], d[1], d[2],
    ])?;
    let w = |i: usize, k: usize| (v[3 * i + k] - v[9 + k]) as i128;
    let (adx, bdx, cdx) = (w(0, 0), w(1, 0), w(2, 0));
    let (ady, bdy, cdy) = (w(0, 1), w(1, 1), w(2, 1));
    let (adz, bdz, cdz) = (w(0, 2), w(1, 2), w(2, 2));
    let det = adz * (bdx * cdy - cdx * bdy)
        + bdz * (cdx * ady - adx * cdy)
        + cdz * (adx * bdy - bdx * ady);
    Some(det.signum() as i8)
}

#[inline]
fn sign(x: f64) -> i8 {
    if x > 0.0 {
        1
    } else if x < 0.0 {
        -1
    } else {
        0
    }
}

// ------------------------------------------------------------------------------- BVH

/// `f32` box; closed, so boxes that touch overlap (touching triangles are tested).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Aabb {
    /// Lowest corner.
    pub min: [f32; 3],
    /// Highest corner.
    pub max: [f32; 3],
}

impl Aabb {
    /// Overlaps nothing; the identity of [`Aabb::union`].
    pub const EMPTY: Aabb = Aabb {
        min: [f32::INFINITY; 3],
        max: [f32::NEG_INFINITY; 3],
    };
    /// The box of three points.
    #[inline]
    pub fn of(p: &[Vec3; 3]) -> Aabb {
        let lo = p[0].min(p[1]).min(p[2]);
        let hi = p[0].max(p[1]).max(p[2]);
        Aabb {
            min: lo.to_array(),
            max: hi.to_array(),
        }
    }
    /// No point in it ([`Aabb::EMPTY`]).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.min[0] > self.max[0]
    }
    /// The closed boxes have a point in common.
    #[inline(always)]
    fn overlaps(&self, o: &Aabb) -> bool {
        // Non-short-circuit `&`: branch-free, the six comparisons vectorise.
        (self.min[0] <= o.max[0])
            & (o.min[0] <= self.max[0])
            & (self.min[1] <= o.max[1])
            & (o.min[1] <= self.max[1])
            & (self.min[2] <= o.max[2])
            & (o.min[2] <= self.max[2])
    }
    /// The box around both.
    #[inline]
    pub fn union(&self, o: &Aabb) -> Aabb {
        Aabb {
            min: std::array::from_fn(|k| self.min[k].min(o.min[k])),
            max: std::array::from_fn(|k| self.max[k].max(o.max[k])),
        }
    }
}

/// The boxes of one leaf's items, coordinate by coordinate ([`LEAF`] lanes, unused lanes
/// [`Aabb::EMPTY`]), so that one box is tested against all of them in a few SIMD
/// comparisons. (Also the nodes of the 8-ary tree of `osteon_sdf`'s untangling.)
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Lanes {
    min: [[f32; LEAF]; 3],
    max: [[f32; LEAF]; 3],
}

impl Lanes {
    /// Every lane [`Aabb::EMPTY`].
    pub const EMPTY: Lanes = Lanes {
        min: [[f32::INFINITY; LEAF]; 3],
        max: [[f32::NEG_INFINITY; LEAF]; 3],
    };

    fn of(items: &[Item]) -> Lanes {
        let mut l = Lanes::EMPTY;
        for (i, it) in items.iter().enumerate() {
            l.set(i, &it.bbox);
        }
        l
    }

    /// Sets lane `i` to `b`.
    #[inline]
    pub fn set(&mut self, i: usize, b: &Aabb) {
        for k in 0..3 {
            self.min[k][i] = b.min[k];
            self.max[k][i] = b.max[k];
        }
    }

    /// The box of lane `i`.
    #[inline(always)]
    pub fn get(&self, i: usize) -> Aabb {
        Aabb {
            min: [self.min[0][i], self.min[1][i], self.min[2][i]],
            max: [self.max[0][i], self.max[1][i], self.max[2][i]],
        }
    }

    /// Bit `i` set when lane `i` overlaps `b` (closed boxes).
    #[inline(always)]
    pub fn overlapping(&self, b: &Aabb) -> u32 {
        let mut hit = [false; LEAF];
        for (i, h) in hit.iter_mut().enumerate() {
            *h = (self.min[0][i] <= b.max[0])
                & (b.min[0] <= self.max[0][i])
                & (self.min[1][i] <= b.max[1])
                & (b.min[1] <= self.max[1][i])
                & (self.min[2][i] <= b.max[2])
                & (b.min[2] <= self.max[2][i]);
        }
        let mut m = 0u32;
        for (i, &h) in hit.iter().enumerate() {
            m |= (h as u32) << i;
        }
        m
    }

    /// The box around every lane.
    #[inline]
    pub fn bounds(&self) -> Aabb {
        let mut b = Aabb::EMPTY;
        for k in 0..3 {
            for i in 0..LEAF {
                b.min[k] = b.min[k].min(self.min[k][i]);
                b.max[k] = b.max[k].max(self.max[k][i]);
            }
        }
        b
    }
}

/// A node over leaves `lo..hi`; `right == 0` marks a leaf (the root is node 0 and never a
/// right child), otherwise the left child is the next node (pre-order layout).
#[derive(Clone, Copy, Debug, Default)]
struct Node {
    bbox: Aabb,
    lo: u32,
    hi: u32,
    right: u32,
}

/// A triangle in the hierarchy: its index, corner indices (certified ones marked with
/// [`CERTIFIED`]) and box (40 bytes).
#[derive(Clone, Copy, Debug)]
struct Item {
    tri: u32,
    v: [u32; 3],
    bbox: Aabb,
}

/// A linear bounding-volume hierarchy over triangle boxes.
struct Tree {
    /// Items in Morton order; leaf `k` is `items[k·LEAF ..]`.
    items: Vec<Item>,
    /// The boxes of leaf `k`'s items.
    lanes: Vec<Lanes>,
    nodes: Vec<Node>,
}

/// Subtrees with more leaves than this are searched as parallel tasks.
const PAR_SEARCH: usize = 256;

/// Node pairs on the stack of [`Pairs::cross_pairs`]: a depth-first walk over pairs of
/// subtrees of depth at most 32 each (2³² leaves) holds at most 65.
const STACK: usize = 72;

impl Tree {
    fn build(mut items: Vec<Item>) -> Tree {
        let n = items.len();
        let (mut keys, index_bits, axis_bits) = morton_keys(n, |i| items[i].bbox);
        // The low bits are the positions, already in order: a stable sort on the code.
        radix_sort(&mut keys, index_bits, 3 * axis_bits);
        let mask = (1u64 << index_bits) - 1;
        items = keys
            .par_iter()
            .with_min_len(4096)
            .map(|&k| items[(k & mask) as usize])
            .collect();
        drop(keys);
        let nleaves = n.div_ceil(LEAF);
        if nleaves == 0 {
            return Tree {
                items,
                lanes: Vec::new(),
                nodes: Vec::new(),
            };
        }
        let lanes: Vec<Lanes> = items
            .par_chunks(LEAF)
            .with_min_len(256)
            .map(Lanes::of)
            .collect();
        let leaf_boxes: Vec<Aabb> = lanes.iter().map(Lanes::bounds).collect();
        let mut nodes = vec![Node::default(); 2 * nleaves - 1];
        fill(&mut nodes, 0, 0, nleaves, &leaf_boxes);
        Tree {
            items,
            lanes,
            nodes,
        }
    }

    fn leaf(&self, k: usize) -> &[Item] {
        &self.items[k * LEAF..((k + 1) * LEAF).min(self.items.len())]
    }

    /// Calls `f` with every item whose box overlaps `bbox`.
    #[inline]
    fn query(&self, bbox: &Aabb, stack: &mut Vec<u32>, mut f: impl FnMut(&Item)) {
        if self.nodes.is_empty() {
            return;
        }
        stack.clear();
        stack.push(0u32);
        while let Some(k) = stack.pop() {
            let node = &self.nodes[k as usize];
            if !node.bbox.overlaps(bbox) {
                continue;
            }
            if node.right != 0 {
                stack.push(node.right);
                stack.push(k + 1);
                continue;
            }
            let leaf = node.lo as usize;
            let mut m = self.lanes[leaf].overlapping(bbox);
            while m != 0 {
                let j = m.trailing_zeros() as usize;
                m &= m - 1;
                f(&self.items[leaf * LEAF + j]);
            }
        }
    }
}

/// [`proper_pair`] for triangles `a` and `b` with overlapping boxes `ba` and `bb`.
#[inline(always)]
fn boxed_pair(ba: &Aabb, bb: &Aabb, a: [Vec3; 3], b: [Vec3; 3]) -> bool {
    !touching_apart(ba, bb, &a, &b) && proper_pair(a, b)
}

/// Whether two triangles whose boxes overlap only in a plane `x_k = c` (the boxes touch)
/// are proven apart: they can meet only in that plane, where each is reduced to its
/// corners on it (a point or a segment, the side of its box), so they are apart when those
/// are disjoint, decided exactly (coordinates compared as they are, exact `orient2d` in
/// the plane); `false` when in doubt. Marching cubes puts every vertex on a grid line, so
/// the boxes of nearby triangles of a raw mesh often touch this way: on the 157 k-triangle
/// head CT mesh, 330 k of the pairs of overlapping boxes share no vertex, and all but a few
/// of them only touch.
#[doc(hidden)]
#[inline(always)]
pub fn touching_apart(ba: &Aabb, bb: &Aabb, a: &[Vec3; 3], b: &[Vec3; 3]) -> bool {
    for k in 0..3 {
        let c = if ba.max[k] == bb.min[k] {
            ba.max[k]
        } else if bb.max[k] == ba.min[k] {
            bb.max[k]
        } else {
            continue;
        };
        // The box's side at `c` holds one corner at least (boxes are exact).
        let on = |t: &[Vec3; 3]| {
            let mut s = [[0.0f64; 2]; 3];
            let mut n = 0;
            for p in t {
                if p[k] == c {
                    s[n] = proj(&wide(*p), k);
                    n += 1;
                }
            }
            (s, n)
        };
        let ((p, np), (q, nq)) = (on(a), on(b));
        return match (np, nq) {
            // Two corners: apart, or the same point, a shared corner where they may
            // meet without intersecting.
            (1, 1) => true,
            (1, 2) => o2(q[0], q[1], p[0]) != 0,
            (2, 1) => o2(p[0], p[1], q[0]) != 0,
            (2, 2) => {
                o2(p[0], p[1], q[0]) * o2(p[0], p[1], q[1]) > 0
                    || o2(q[0], q[1], p[0]) * o2(q[0], q[1], p[1]) > 0
            }
            // A triangle lying in the plane: the full test.
            _ => false,
        };
    }
    false
}

/// A search of a [`Tree`] against itself over the positions `pos`.
struct Pairs<'a> {
    tree: &'a Tree,
    pos: &'a [Vec3],
    /// [`mark_for`] the mesh.
    mark: u32,
}

impl Pairs<'_> {
    /// The corners of an item's triangle.
    #[inline]
    fn corners(&self, it: &Item) -> [Vec3; 3] {
        it.v.map(|i| self.pos[(i & !self.mark) as usize])
    }

    /// Tests two items whose boxes overlap.
    #[inline(always)]
    fn test(&self, a: &Item, b: &Item, out: &mut (usize, Vec<u32>)) {
        if !shares_certified(&a.v, &b.v, self.mark)
            && boxed_pair(&a.bbox, &b.bbox, self.corners(a), self.corners(b))
        {
            out.0 += 1;
            out.1.push(a.tri);
            out.1.push(b.tri);
        }
    }

    /// Intersecting pairs within the subtree of node `k` (simultaneous descent of the tree
    /// against itself: every overlapping pair of nodes is visited once).
    fn self_pairs(&self, k: u32) -> (usize, Vec<u32>) {
        let tree = self.tree;
        let node = &tree.nodes[k as usize];
        if node.right == 0 {
            let mut out = (0, Vec::new());
            let leaf = node.lo as usize;
            let (items, lanes) = (tree.leaf(leaf), &tree.lanes[leaf]);
            for (i, a) in items.iter().enumerate() {
                // Lanes after `i` only: each pair once.
                let mut m = lanes.overlapping(&a.bbox) & !((2u32 << i) - 1);
                while m != 0 {
                    let j = m.trailing_zeros() as usize;
                    m &= m - 1;
                    self.test(a, &items[j], &mut out);
                }
            }
            return out;
        }
        let (l, r) = (k + 1, node.right);
        let ((a, b), c) = if (node.hi - node.lo) as usize > PAR_SEARCH {
            rayon::join(
                || rayon::join(|| self.self_pairs(l), || self.self_pairs(r)),
                || self.cross_pairs(l, r),
            )
        } else {
            (
                (self.self_pairs(l), self.self_pairs(r)),
                self.cross_pairs(l, r),
            )
        };
        let mut faces = a.1;
        faces.extend_from_slice(&b.1);
        faces.extend_from_slice(&c.1);
        (a.0 + b.0 + c.0, faces)
    }

    /// Intersecting pairs between the subtrees of nodes `x` and `y` (disjoint).
    fn cross_pairs(&self, x: u32, y: u32) -> (usize, Vec<u32>) {
        let tree = self.tree;
        let mut out = (0, Vec::new());
        let size = |k: u32| {
            let n = &tree.nodes[k as usize];
            n.hi - n.lo
        };
        if (size(x) + size(y)) as usize > PAR_SEARCH {
            let (nx, ny) = (&tree.nodes[x as usize], &tree.nodes[y as usize]);
            if !nx.bbox.overlaps(&ny.bbox) {
                return out;
            }
            // Split the larger side into two parallel tasks.
            let (big, other) = if nx.right != 0 && (ny.right == 0 || size(x) >= size(y)) {
                (x, y)
            } else {
                (y, x)
            };
            let bn = &tree.nodes[big as usize];
            let (a, b) = rayon::join(
                || self.cross_pairs(big + 1, other),
                || self.cross_pairs(bn.right, other),
            );
            out = a;
            out.0 += b.0;
            out.1.extend_from_slice(&b.1);
            return out;
        }
        let mut stack = [(0u32, 0u32); STACK];
        stack[0] = (x, y);
        let mut len = 1;
        while len > 0 {
            len -= 1;
            let (x, y) = stack[len];
            let (nx, ny) = (&tree.nodes[x as usize], &tree.nodes[y as usize]);
            if !nx.bbox.overlaps(&ny.bbox) {
                continue;
            }
            match (nx.right == 0, ny.right == 0) {
                (true, true) => {
                    let (lx, ly) = (nx.lo as usize, ny.lo as usize);
                    let (ix, iy) = (tree.leaf(lx), tree.leaf(ly));
                    let ly_lanes = &tree.lanes[ly];
                    let mut mx = tree.lanes[lx].overlapping(&ny.bbox);
                    while mx != 0 {
                        let i = mx.trailing_zeros() as usize;
                        mx &= mx - 1;
                        let a = &ix[i];
                        let mut m = ly_lanes.overlapping(&a.bbox);
                        while m != 0 {
                            let j = m.trailing_zeros() as usize;
                            m &= m - 1;
                            self.test(a, &iy[j], &mut out);
                        }
                    }
                }
                (false, true) => {
                    stack[len] = (x + 1, y);
                    stack[len + 1] = (nx.right, y);
                    len += 2;
                }
                (true, false) => {
                    stack[len] = (x, y + 1);
                    stack[len + 1] = (x, ny.right);
                    len += 2;
                }
                (false, false) => {
                    if nx.hi - nx.lo >= ny.hi - ny.lo {
                        stack[len] = (x + 1, y);
                        stack[len + 1] = (nx.right, y);
                    } else {
                        stack[len] = (x, y + 1);
                        stack[len + 1] = (x, ny.right);
                    }
                    len += 2;
                }
            }
        }
        out
    }
}

/// Fills `nodes` (the pre-order subtree over leaves `lo..hi`, whose root has absolute index
/// `base`) and returns its box.
fn fill(nodes: &mut [Node], base: usize, lo: usize, hi: usize, leaf_boxes: &[Aabb]) -> Aabb {
    if hi - lo == 1 {
        nodes[0] = Node {
            bbox: leaf_boxes[lo],
            lo: lo as u32,
            hi: hi as u32,
            right: 0,
        };
        return leaf_boxes[lo];
    }
    let mid = lo + (hi - lo) / 2;
    let nl = 2 * (mid - lo) - 1;
    let (root, rest) = nodes.split_at_mut(1);
    let (left, right) = rest.split_at_mut(nl);
    let (bl, br) = if (hi - lo) * LEAF > PAR_BUILD {
        rayon::join(
            || fill(left, base + 1, lo, mid, leaf_boxes),
            || fill(right, base + 1 + nl, mid, hi, leaf_boxes),
        )
    } else {
        (
            fill(left, base + 1, lo, mid, leaf_boxes),
            fill(right, base + 1 + nl, mid, hi, leaf_boxes),
        )
    };
    let bbox = bl.union(&br);
    root[0] = Node {
        bbox,
        lo: lo as u32,
        hi: hi as u32,
        right: (base + 1 + nl) as u32,
    };
    bbox
}

/// The sort keys of `n` boxes (`bbox(i)` for `i < n`) in Morton order: the Morton code of
/// the box centre (`axis_bits` bits per axis over the box around them all) above the
/// position `i` (the low `index_bits` bits), so every key is distinct and the sorted order
/// is the same whatever the sort and the number of threads. Empty boxes get code 0.
/// Returns the keys (by position, unsorted), `index_bits` and `axis_bits`.
#[doc(hidden)]
pub fn morton_keys(n: usize, bbox: impl Fn(usize) -> Aabb + Sync) -> (Vec<u64>, u32, u32) {
    let bounds = (0..n)
        .into_par_iter()
        .with_min_len(4096)
        .map(&bbox)
        .reduce(|| Aabb::EMPTY, |a, b| a.union(&b));
    let index_bits = (usize::BITS - n.max(1).leading_zeros()).max(1);
    let axis_bits = ((64 - index_bits) / 3).min(21);
    let cells = ((1u64 << axis_bits) - 1) as f32;
    let lo: [f32; 3] = bounds.min;
    let scale: [f32; 3] = std::array::from_fn(|k| {
        let e = bounds.max[k] - bounds.min[k];
        if e > 0.0 {
            cells / e
        } else {
            0.0
        }
    });
    let keys = (0..n)
        .into_par_iter()
        .with_min_len(4096)
        .map(|i| {
            let b = bbox(i);
            let q: [u32; 3] = std::array::from_fn(|k| {
                let c = 0.5 * (b.min[k] + b.max[k]);
                // NaN (empty box) → 0.
                ((c - lo[k]) * scale[k]).clamp(0.0, cells) as u32
            });
            morton(q) << index_bits | i as u64
        })
        .collect();
    (keys, index_bits, axis_bits)
}

/// Sorts `keys` by bits `from..from + bits` only, stably (least significant digit first,
/// 11 bits per pass; passes where every key has the same digit are skipped).
fn radix_sort(keys: &mut Vec<u64>, from: u32, bits: u32) {
    const DIGIT: u32 = 11;
    let mut tmp = vec![0u64; keys.len()];
    let mut shift = from;
    while shift < from + bits {
        let mask = (1u64 << DIGIT) - 1;
        let mut count = vec![0usize; 1 << DIGIT];
        for &k in keys.iter() {
            count[((k >> shift) & mask) as usize] += 1;
        }
        if !count.contains(&keys.len()) {
            let mut sum = 0;
            for c in count.iter_mut() {
                let n = *c;
                *c = sum;
                sum += n;
            }
            for &k in keys.iter() {
                let d = ((k >> shift) & mask) as usize;
                tmp[count[d]] = k;
                count[d] += 1;
            }
            std::mem::swap(keys, &mut tmp);
        }
        shift += DIGIT;
    }
}

/// Interleaves the low 21 bits of three coordinates.
#[inline]
fn morton(q: [u32; 3]) -> u64 {
    fn spread(v: u32) -> u64 {
        let mut x = v as u64 & 0x1f_ffff;
        x = (x | x << 32) & 0x1f00000000ffff;
        x = (x | x << 16) & 0x1f0000ff0000ff;
        x = (x | x << 8) & 0x100f00f00f00f00f;
        x = (x | x << 4) & 0x10c30c30c30c30c3;
        x = (x | x << 2) & 0x1249249249249249;
        x
    }
    spread(q[0]) | spread(q[1]) << 1 | spread(q[2]) << 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use osteon_geom::Lcg;

    #[test]
    fn fast_predicates_agree_with_robust() {
        let mut g = Lcg::new(7);
        let pt = |g: &mut Lcg, grid: bool| -> [f64; 3] {
            std::array::from_fn(|_| {
                let x = (g.next_f64() * 8.0 - 4.0) as f32;
                // Grid values make exact zeros common; others take every exponent path.
                if grid {
                    ((x * 4.0).round() * 0.25 + 100.0) as f64
                } else {
                    (x * 10f32.powi((g.next_f64() * 8.0) as i32 - 4)) as f64
                }
            })
        };
        let (mut zeros, mut n) = (0, 0);
        for i in 0..200_000 {
            let grid = i % 2 == 0;
            let [mut a, mut b, c, mut d] = [0; 4].map(|_| pt(&mut g, grid));
            if i % 5 == 0 {
                // An axis-aligned plane (the shortcut in `o3`).
                let k = i / 5 % 3;
                a[k] = c[k];
                b[k] = c[k];
            }
            if i % 3 == 0 {
                // On the plane abc, rounded to f32: exactly on it or just off.
                let (s, t) = (g.next_f64(), g.next_f64());
                d = std::array::from_fn(|k| {
                    (a[k] + s * (b[k] - a[k]) + t * (c[k] - a[k])) as f32 as f64
                });
            }
            let want = sign(orient3d(c3(&a), c3(&b), c3(&c), c3(&d)));
            assert_eq!(o3(&a, &b, &c, &d), want, "{a:?} {b:?} {c:?} {d:?}");
            let (p, q, r) = (proj(&a, 2), proj(&b, 2), proj(&d, 2));
            assert_eq!(o2(p, q, r), sign(orient2d(c2(p), c2(q), c2(r))));
            zeros += usize::from(want == 0);
            n += 1;
        }
        assert!(zeros > n / 500, "{zeros} of {n}");
    }

    #[test]
    fn fan_certificates() {
        // A smooth closed torus: every vertex certified.
        let m = crate::shapes::torus(3.0, 1.0, 32, 16);
        let inc = Incidence::new(&m.triangles, m.positions.len());
        let boxes = testable_boxes(&m);
        let cert = certify(&m, &inc, |t| !boxes[t].is_empty(), None);
        assert!(cert.iter().all(|&c| c));
        // Only the wanted ones.
        let wanted: Vec<bool> = (0..m.positions.len()).map(|v| v % 3 == 0).collect();
        let some = certify(&m, &inc, |t| !boxes[t].is_empty(), Some(&wanted));
        assert_eq!(some, wanted);
        // A fan winding twice around its centre (positive wedges of 4π/7), and one of a
        // vertex moved past its ring: refused.
        let k = 7u32;
        let mut positions = vec![Vec3::ZERO];
        for i in 0..k {
            let a = 2.0 * std::f32::consts::TAU / k as f32 * i as f32;
            positions.push(Vec3::new(a.cos(), a.sin(), 0.01 * i as f32));
        }
        let fan = Mesh::new(
            positions,
            (0..k).map(|i| [0, 1 + i, 1 + (i + 1) % k]).collect(),
        )
        .unwrap();
        let inc = Incidence::new(&fan.triangles, fan.positions.len());
        assert!(!certify(&fan, &inc, |_| true, None)[0]);
        let mut m = crate::shapes::torus(3.0, 1.0, 32, 16);
        // Vertex 40 moved past its neighbour 41 along the tube: its fan folds over.
        let step = 3.0 * (m.positions[41] - m.positions[40]);
        m.positions[40] += step;
        let inc = Incidence::new(&m.triangles, m.positions.len());
        let boxes = testable_boxes(&m);
        let cert = certify(&m, &inc, |t| !boxes[t].is_empty(), None);
        assert!(!cert[40]);
        // Open fans (boundary vertices) are not certified either.
        let open = Mesh::new(m.positions.clone(), m.triangles[2..].to_vec()).unwrap();
        let inc = Incidence::new(&open.triangles, open.positions.len());
        let cert = certify(&open, &inc, |_| true, None);
        assert!(m.triangles[..2]
            .iter()
            .flatten()
            .all(|&v| !cert[v as usize]));
    }

    #[test]
    fn staircase_corners_are_certified() {
        // A cube: every corner's fan faces three axes, so each axis projection flattens
        // some of its triangles; along the fan's normal they wind once.
        let m = crate::shapes::cuboid(Vec3::ZERO, Vec3::ONE);
        let inc = Incidence::new(&m.triangles, m.positions.len());
        let cert = certify(&m, &inc, |_| true, None);
        assert_eq!(cert, vec![true; 8]);
        // Along an axis alone, none of them is.
        let inc_ok = |v: usize| {
            let mut fan = Fan::default();
            fan.certify(&m, &inc, &|_| true, v);
            let ring: Vec<[f64; 3]> = fan.ring.clone();
            (0..3).any(|k| fan_winds_once(proj(&wide(m.positions[v]), k), &ring, k))
        };
        assert!((0..8).all(|v| !inc_ok(v)));
    }

    #[test]
    fn search_index_follows_moved_vertices() {
        let mut g = Lcg::new(5);
        for (amp, step) in [(0.0f32, 0.4f32), (0.2, 0.8), (0.5, 1.5)] {
            let mut m = crate::shapes::torus(3.0, 1.0, 24, 12);
            for p in &mut m.positions {
                *p += amp
                    * Vec3::new(
                        g.next_f64() as f32,
                        g.next_f64() as f32,
                        g.next_f64() as f32,
                    );
            }
            // One degenerate triangle (a corner on its neighbour) when the index is built:
            // it gets an empty box, and a real one once the corner moves away again.
            m.positions[40] = m.positions[41];
            let inc = Incidence::new(&m.triangles, m.positions.len());
            let (mut index, found) = SearchIndex::new(&m, &inc);
            assert_eq!(found, search(&m, &inc));
            for round in 0..4u32 {
                let mut verts: Vec<u32> = (0..m.positions.len() as u32)
                    .filter(|v| (v + round) % 9 == 0)
                    .collect();
                if round == 0 {
                    verts.push(40);
                }
                for &v in &verts {
                    let d = Vec3::new(
                        g.next_f64() as f32,
                        g.next_f64() as f32,
                        g.next_f64() as f32,
                    );
                    m.positions[v as usize] += step * (d - Vec3::splat(0.5));
                }
                let tris = inc.triangles_around(&verts);
                index.refit(&m, &tris);
                let got = index.among(&m, &inc, &tris);
                assert_eq!(
                    got,
                    search_among(&m, &inc, &tris),
                    "amp {amp} round {round}"
                );
                if step > 1.0 {
                    assert!(got.pairs > 0);
                }
            }
        }
    }

    #[test]
    fn radix_sort_sorts_stably() {
        let mut g = Lcg::new(9);
        let mut keys: Vec<u64> = (0..5000u64)
            .map(|i| ((g.next_f64() * 64.0) as u64) << 13 | i)
            .collect();
        let mut want = keys.clone();
        want.sort_unstable();
        radix_sort(&mut keys, 13, 51);
        assert_eq!(keys, want);
    }

    #[test]
    fn morton_interleaves() {
        assert_eq!(morton([1, 0, 0]), 1);
        assert_eq!(morton([0, 1, 0]), 2);
        assert_eq!(morton([0, 0, 1]), 4);
        assert_eq!(morton([3, 0, 0]), 0b1001);
        assert_eq!(morton([(1 << 21) - 1; 3]), (1u64 << 63) - 1);
    }
}
