//! A bounding-volume hierarchy over a subset of a mesh's triangles, shared by every query of
//! [`crate::fit()`]: warm-started closest points (the signed distances), overlapping triangle
//! pairs (the surface crossing) and the closest triangle pair (the clearance).
//!
//! Fit builds one tree per mesh — over the bone, only the triangles near the implant — and
//! runs every stage on it, instead of a separate tree per stage. Boxes are f64 (no
//! conversion per test). The tree's shape depends only on the triangles and their
//! positions (median split of the centroids along the longest axis, ties by triangle id),
//! and every query walks it in a fixed order, so answers do not depend on the thread count.

use std::sync::atomic::{AtomicU64, Ordering};

use osteon_geom::DVec3;
use osteon_mesh::Mesh;
use rayon::prelude::*;

use crate::geometry::{closest_feature, normal, triangle_distance_below, Feature, Tri};

/// Triangles per leaf.
const LEAF: usize = 4;

#[derive(Clone, Copy, Debug)]
struct Node {
    min: DVec3,
    max: DVec3,
    /// Internal: index of the right child (the left one follows the node). Leaf: first slot.
    a: u32,
    /// Leaf: number of triangles (> 0); internal: 0.
    count: u32,
}

/// The hierarchy (crate-private).
#[derive(Clone, Debug, Default)]
pub(crate) struct Tree {
    nodes: Vec<Node>,
    /// Corners of every slot (f64 copies of the mesh's f32 corners).
    pub(crate) corners: Vec<Tri>,
    /// Mesh triangle of every slot.
    pub(crate) ids: Vec<u32>,
    /// Slot of every mesh triangle (`u32::MAX` when not in the subset).
    slot_of: Vec<u32>,
    /// Bounding sphere and plane of every slot's triangle, side by side (one cache line:
    /// the two filters of a closest-point query).
    filters: Vec<Filter>,
    /// Every internal node of `nodes` as a record of its two children (for
    /// [`Tree::closest`]), and the root as a child.
    pairs: Vec<Pair>,
    root: Child,
}

/// A node seen from its parent: a leaf (`count > 0` slots from `index`) or an internal node
/// (`count == 0`, record `index` of [`Tree::pairs`]).
#[derive(Clone, Copy, Debug, Default)]
struct Child {
    index: u32,
    count: u32,
}

/// An internal node's two children: their boxes (`min`, `max` per child) and references.
#[derive(Clone, Copy, Debug)]
#[repr(align(64))]
struct Pair {
    boxes: [[DVec3; 2]; 2],
    kids: [Child; 2],
}

/// Squared distance from `p` to the box of child `k` of `pr` (as [`box_dist2`]).
#[inline]
fn pair_dist2(pr: &Pair, k: usize, p: DVec3) -> f64 {
    let [min, max] = pr.boxes[k];
    (min - p).max(DVec3::ZERO).max(p - max).length_squared()
}

/// The filters of one slot: bounding sphere (centre, radius) and plane (unit normal,
/// offset; zero for a degenerate triangle).
#[derive(Clone, Copy, Debug, Default)]
#[repr(align(64))]
struct Filter {
    sphere: [f64; 4],
    plane: [f64; 4],
}

impl Filter {
    fn of(t: &Tri) -> Filter {
        let n = normal(t).normalize_or_zero();
        let c = (t[0] + t[1] + t[2]) / 3.0;
        let r = t.iter().map(|&q| (q - c).length()).fold(0.0, f64::max);
        // Slack against the rounding of `c` and `r`.
        let r = r * (1.0 + 1e-9) + 1e-12;
        Filter {
            sphere: [c.x, c.y, c.z, r],
            plane: [n.x, n.y, n.z, n.dot(t[0])],
        }
    }
}

/// The [`Pair`] records of the internal nodes of `nodes` (in node order) and the root.
fn pair_records(nodes: &[Node]) -> (Vec<Pair>, Child) {
    let mut record = vec![u32::MAX; nodes.len()];
    let mut k = 0u32;
    for (i, n) in nodes.iter().enumerate() {
        if n.count == 0 {
            record[i] = k;
            k += 1;
        }
    }
    let child = |i: usize| {
        let n = &nodes[i];
        if n.count > 0 {
            Child {
                index: n.a,
                count: n.count,
            }
        } else {
            Child {
                index: record[i],
                count: 0,
            }
        }
    };
    // Sized up front (one record per internal node): no regrowth into fresh memory.
    let mut pairs = Vec::with_capacity(k as usize);
    pairs.extend(
        nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.count == 0)
            .map(|(i, n)| {
                let (l, r) = (i + 1, n.a as usize);
                Pair {
                    boxes: [[nodes[l].min, nodes[l].max], [nodes[r].min, nodes[r].max]],
                    kids: [child(l), child(r)],
                }
            }),
    );
    (pairs, child(0))
}

/// Nodes of a tree over `n` items (median splits, leaves of at most [`LEAF`]): twice its
/// leaves less one.
fn node_count(n: usize) -> usize {
    2 * leaf_pair(n).0 - 1
}

/// Leaves of trees over `m` and `m + 1` items, in O(log m): the halves of `m` and `m + 1`
/// are `k` or `k + 1` for `k = m / 2`.
fn leaf_pair(m: usize) -> (usize, usize) {
    if m < LEAF {
        return (1, 1);
    }
    let (x, y) = leaf_pair(m / 2);
    let of = |n: usize, split: usize| if n <= LEAF { 1 } else { split };
    if m.is_multiple_of(2) {
        (of(m, 2 * x), of(m + 1, x + y))
    } else {
        (of(m, x + y), of(m + 1, 2 * y))
    }
}

impl Tree {
    /// A tree over the triangles `subset` of `mesh` (all of them for `None`). Ids must be
    /// valid and distinct; the subset may be empty.
    pub(crate) fn new(mesh: &Mesh, subset: Option<&[u32]>) -> Tree {
        Tree::from_corners(
            mesh.triangles.len(),
            subset,
            |t| mesh.corners(t as usize).map(|p| p.as_dvec3()),
            true,
        )
    }

    /// [`Tree::new`] for a mesh of `total` triangles given by their corners, in parallel
    /// when `par`. Without (`par` false) it runs on the calling thread alone: for a build
    /// inside a `OnceLock` initialiser, where a rayon wait could steal a task that needs the
    /// same lock on the same thread (a reentrant initialisation: a deadlock).
    pub(crate) fn from_corners(
        total: usize,
        subset: Option<&[u32]>,
        corners_of: impl Fn(u32) -> Tri + Sync,
        par: bool,
    ) -> Tree {
        let all: Vec<u32>;
        let subset = match subset {
            Some(s) => s,
            None => {
                all = (0..total as u32).collect();
                &all
            }
        };
        let mut slot_of = vec![u32::MAX; total];
        let n = subset.len();
        if n == 0 {
            return Tree {
                slot_of,
                ..Tree::default()
            };
        }
        // (centroid as total-order keys, triangle): small items with integer comparisons
        // for the selections. The corners are fetched again in slot order after the build
        // (cheaper than carrying them through it, and no second copy).
        let item = |&t: &u32| {
            let c = corners_of(t);
            let m = (c[0] + c[1] + c[2]) / 3.0;
            ([m.x, m.y, m.z].map(order_key), t)
        };
        let mut items: Vec<Item> = if par {
            subset.par_iter().map(item).collect()
        } else {
            subset.iter().map(item).collect()
        };
        let mut nodes = vec![
            Node {
                min: DVec3::ZERO,
                max: DVec3::ZERO,
                a: 0,
                count: 0,
            };
            node_count(n)
        ];
        build(&mut items, &mut nodes, 0, 0, par);
        let ids: Vec<u32> = items.iter().map(|i| i.1).collect();
        drop(items);
        let slot = |&t: &u32| {
            let c = corners_of(t);
            (c, Filter::of(&c))
        };
        let (corners, filters): (Vec<Tri>, Vec<Filter>) = if par {
            ids.par_iter().map(slot).unzip()
        } else {
            ids.iter().map(slot).unzip()
        };
        // Boxes, children before parents (both children follow their parent in `nodes`).
        for i in (0..nodes.len()).rev() {
            let nd = nodes[i];
            let (min, max) = if nd.count > 0 {
                let (mut min, mut max) =
                    (DVec3::splat(f64::INFINITY), DVec3::splat(f64::NEG_INFINITY));
                for c in &corners[nd.a as usize..(nd.a + nd.count) as usize] {
                    for &p in c {
                        min = min.min(p);
                        max = max.max(p);
                    }
                }
                (min, max)
            } else {
                let (l, r) = (&nodes[i + 1], &nodes[nd.a as usize]);
                (l.min.min(r.min), l.max.max(r.max))
            };
            nodes[i].min = min;
            nodes[i].max = max;
        }
        for (s, &i) in ids.iter().enumerate() {
            slot_of[i as usize] = s as u32;
        }
        let (pairs, root) = pair_records(&nodes);
        Tree {
            nodes,
            corners,
            ids,
            slot_of,
            filters,
            pairs,
            root,
        }
    }

    /// Unit normal of the triangle in `slot` (zero for a degenerate one).
    fn unit_normal(&self, slot: usize) -> DVec3 {
        let [x, y, z, _] = self.filters[slot].plane;
        DVec3::new(x, y, z)
    }

    /// Number of triangles.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// The slot of mesh triangle `t`, if it is in the tree.
    pub(crate) fn slot(&self, t: u32) -> Option<usize> {
        match self.slot_of.get(t as usize) {
            Some(&s) if s != u32::MAX => Some(s as usize),
            _ => None,
        }
    }

    /// The slot, point and feature of the triangle closest to `p` at a distance of at most
    /// `max_distance`, starting from slot `hint`; `None` when nothing is that close. Among
    /// equally close triangles the hint wins, then the first met.
    pub(crate) fn closest(
        &self,
        p: DVec3,
        max_distance: f64,
        hint: Option<usize>,
    ) -> Option<(usize, DVec3, Feature)> {
        if self.nodes.is_empty() {
            return None;
        }
        let mut best = max_distance * max_distance;
        let mut found: Option<(usize, DVec3, Feature)> = None;
        if let Some(h) = hint {
            let (q, f) = closest_feature(p, &self.corners[h]);
            let d2 = (q - p).length_squared();
            if d2 <= best {
                best = d2;
                found = Some((h, q, f));
            }
        }
        let mut reach = best.sqrt();
        // The walk of `nodes` (near child first), on the records of `pairs`: one record
        // holds both children's boxes.
        let mut stack: [(Child, f64); 40] = [(Child::default(), 0.0); 40];
        let mut top = 0usize;
        // The node to visit next: the near child goes here instead of onto the stack (where
        // it would be popped next anyway).
        let mut next = Some((self.root, box_dist2(&self.nodes[0], p)));
        loop {
            let (c, bd) = match next.take() {
                Some(n) => n,
                None if top > 0 => {
                    top -= 1;
                    stack[top]
                }
                None => break,
            };
            if bd > best || (bd == best && found.is_some()) {
                continue;
            }
            if c.count > 0 {
                let first = c.index as usize;
                for s in first..first + c.count as usize {
                    if hint == Some(s) {
                        continue; // measured first; a tie never replaces it
                    }
                    let f = &self.filters[s];
                    let [cx, cy, cz, r] = f.sphere;
                    let dc2 = (DVec3::new(cx, cy, cz) - p).length_squared();
                    let lim = reach + r;
                    if dc2 > lim * lim * (1.0 + 1e-9) {
                        continue;
                    }
                    // The triangle is no nearer than its plane.
                    let [nx, ny, nz, off] = f.plane;
                    let pd = nx * p.x + ny * p.y + nz * p.z - off;
                    if pd * pd > best * (1.0 + 1e-9) + 1e-24 {
                        continue;
                    }
                    let (q, f) = closest_feature(p, &self.corners[s]);
                    let d2 = (q - p).length_squared();
                    if d2 < best || (found.is_none() && d2 <= best) {
                        best = d2;
                        reach = best.sqrt();
                        found = Some((s, q, f));
                    }
                }
            } else {
                // The stack holds at most one node per level, and the depth is
                // log2(n / LEAF) < 32 (median splits): it never overflows.
                debug_assert!(top < stack.len(), "closest: stack of {top}");
                let pr = &self.pairs[c.index as usize];
                let dl = pair_dist2(pr, 0, p);
                let dr = pair_dist2(pr, 1, p);
                let ((near, dn), (far, df)) = if dl <= dr {
                    ((pr.kids[0], dl), (pr.kids[1], dr))
                } else {
                    ((pr.kids[1], dr), (pr.kids[0], dl))
                };
                if df < best || (df == best && found.is_none()) {
                    stack[top] = (far, df);
                    top += 1;
                }
                if dn < best || (dn == best && found.is_none()) {
                    next = Some((near, dn));
                }
            }
        }
        found
    }

    /// Every (slot of `self`, slot of `other`) whose triangles' bounding boxes overlap
    /// (closed boxes: touching counts), sorted. The node pairs are expanded breadth first
    /// into a fixed frontier whose parts are walked in parallel; the sorted union does not
    /// depend on the thread count.
    pub(crate) fn overlapping(&self, other: &Tree) -> Vec<(u32, u32)> {
        if self.nodes.is_empty() || other.nodes.is_empty() {
            return Vec::new();
        }
        let meets = |(i, j): (u32, u32)| {
            let (a, b) = (&self.nodes[i as usize], &other.nodes[j as usize]);
            overlap(a.min, a.max, b.min, b.max)
        };
        let frontier = self.frontier(other, meets);
        let parts: Vec<Vec<(u32, u32)>> = frontier
            .par_iter()
            .map(|&root| self.overlapping_from(other, root))
            .collect();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(parts.iter().map(Vec::len).sum());
        for p in parts {
            out.extend(p);
        }
        out.sort_unstable();
        out
    }

    /// [`Tree::overlapping`] below node pair `root` (unsorted).
    fn overlapping_from(&self, other: &Tree, root: (u32, u32)) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        let meets = |(i, j): (u32, u32)| {
            let (a, b) = (&self.nodes[i as usize], &other.nodes[j as usize]);
            overlap(a.min, a.max, b.min, b.max)
        };
        let mut stack: Vec<(u32, u32)> = Vec::with_capacity(64);
        if meets(root) {
            stack.push(root);
        }
        while let Some((i, j)) = stack.pop() {
            let (a, b) = (&self.nodes[i as usize], &other.nodes[j as usize]);
            match self.children(i, j, other) {
                None => {
                    let tb = other.leaf_boxes(b);
                    for s in a.a..a.a + a.count {
                        let (slo, shi) = tri_box(&self.corners[s as usize]);
                        if !overlap(slo, shi, b.min, b.max) {
                            continue;
                        }
                        for (t, &(tlo, thi)) in (b.a..).zip(&tb[..b.count as usize]) {
                            if overlap(slo, shi, tlo, thi) {
                                out.push((s, t));
                            }
                        }
                    }
                }
                // Only overlapping pairs go on the stack (the output is sorted afterwards:
                // the walk order does not matter).
                Some(k) => stack.extend(k.into_iter().filter(|&k| meets(k))),
            }
        }
        out
    }

    /// The node pairs below the roots' pair that `keep` accepts, expanded breadth first
    /// (in a fixed order) until there are at least 64 or only leaf pairs are left: the
    /// starting points of a parallel pair search.
    fn frontier(&self, other: &Tree, keep: impl Fn((u32, u32)) -> bool) -> Vec<(u32, u32)> {
        let mut frontier: Vec<(u32, u32)> = vec![(0, 0)];
        while frontier.len() < 64 {
            let mut next = Vec::with_capacity(2 * frontier.len());
            let mut split = false;
            for &pair in &frontier {
                if !keep(pair) {
                    continue;
                }
                match self.children(pair.0, pair.1, other) {
                    Some(k) => {
                        next.extend(k);
                        split = true;
                    }
                    None => next.push(pair),
                }
            }
            frontier = next;
            if !split {
                break;
            }
        }
        frontier
    }

    /// The two child pairs of node pair `(i, j)` (splitting the larger internal box), or
    /// `None` for two leaves.
    fn children(&self, i: u32, j: u32, other: &Tree) -> Option<[(u32, u32); 2]> {
        let (a, b) = (&self.nodes[i as usize], &other.nodes[j as usize]);
        let (leaf_a, leaf_b) = (a.count > 0, b.count > 0);
        if leaf_a && leaf_b {
            return None;
        }
        let split_a = !leaf_a && (leaf_b || extent(a) >= extent(b));
        Some(if split_a {
            [(i + 1, j), (a.a, j)]
        } else {
            [(i, j + 1), (i, b.a)]
        })
    }

    /// The closest pair of triangles between `self` and `other` at a distance below `bound`:
    /// (distance, point on self, point on other); triangles must not cross. The node pairs
    /// are expanded breadth first into a fixed frontier, searched in parallel (nearest
    /// boxes first), depth first and nearer pair first; a leaf pair is measured exactly (up
    /// to 15 features, fewer once one is below the bound) only when neither its boxes nor the
    /// planes of its two triangles already keep it at the best distance so far or more. Ties go to the first root of the
    /// frontier, then the first pair met, so the answer does not depend on the thread count.
    ///
    /// The searches share the best distance found by any of them and skip what lies
    /// clearly beyond it: such a pair can be neither the answer nor tied with it, and every
    /// pair at the smallest distance is still met, in the same order, so the answer is the
    /// one a search of each root on its own gives.
    pub(crate) fn closest_pair(&self, other: &Tree, bound: f64) -> Option<PairHit> {
        if self.nodes.is_empty() || other.nodes.is_empty() {
            return None;
        }
        let gap = |(i, j): (u32, u32)| {
            let (a, b) = (&self.nodes[i as usize], &other.nodes[j as usize]);
            box_gap(a.min, a.max, b.min, b.max)
        };
        let frontier = self.frontier(other, |pair| gap(pair) < bound);
        // Nearest roots first (the order only speeds up the shared bound).
        let mut order: Vec<(f64, usize)> = frontier
            .iter()
            .enumerate()
            .map(|(k, &r)| (gap(r), k))
            .collect();
        order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        // Distances are >= 0, whose bits order as the values do.
        let shared = AtomicU64::new(bound.max(0.0).to_bits());
        let mut found: Vec<(usize, Option<PairHit>)> = order
            .par_iter()
            .map(|&(_, k)| (k, self.closest_from(other, frontier[k], bound, &shared)))
            .collect();
        found.sort_unstable_by_key(|f| f.0);
        found
            .into_iter()
            .filter_map(|f| f.1)
            .fold(None, |acc: Option<PairHit>, r| match acc {
                Some(a) if a.0 <= r.0 => Some(a),
                _ => Some(r),
            })
    }

    /// [`Tree::closest_pair`] below node pair `root`; `shared` holds the bits of the best
    /// distance found by any root so far.
    fn closest_from(
        &self,
        other: &Tree,
        root: (u32, u32),
        bound: f64,
        shared: &AtomicU64,
    ) -> Option<PairHit> {
        let mut best = bound;
        let mut found = None;
        // Keeps what may hold the answer: below this root's best (as without sharing) and
        // not beyond any root's, with slack for the rounding of the gaps (a gap a hair above
        // the true one must not drop a pair at the shared distance).
        let keep = |g: f64, best: f64| {
            g < best && g <= f64::from_bits(shared.load(Ordering::Relaxed)) * (1.0 + 1e-9) + 1e-12
        };
        let gap = |(i, j): (u32, u32)| {
            let (a, b) = (&self.nodes[i as usize], &other.nodes[j as usize]);
            box_gap(a.min, a.max, b.min, b.max)
        };
        // Node pairs with their box gaps (each computed once); a pair that fails `keep` when
        // pushed would fail it when popped too (the bounds only shrink), so it is not pushed.
        let mut stack: Vec<((u32, u32), f64)> = Vec::with_capacity(64);
        stack.push((root, gap(root)));
        while let Some(((i, j), g)) = stack.pop() {
            if !keep(g, best) {
                continue;
            }
            let (a, b) = (&self.nodes[i as usize], &other.nodes[j as usize]);
            match self.children(i, j, other) {
                None => {
                    let tb = other.leaf_boxes(b);
                    for s in a.a..a.a + a.count {
                        let ts = &self.corners[s as usize];
                        let (slo, shi) = tri_box(ts);
                        if !keep(box_gap(slo, shi, b.min, b.max), best) {
                            continue;
                        }
                        let ns = self.unit_normal(s as usize);
                        for (t, &(tlo, thi)) in (b.a..).zip(&tb[..b.count as usize]) {
                            let tt = &other.corners[t as usize];
                            let nt = other.unit_normal(t as usize);
                            if !keep(box_gap(slo, shi, tlo, thi), best)
                                || !keep(axis_gap(ns, ts, tt), best)
                                || !keep(axis_gap(nt, ts, tt), best)
                            {
                                continue;
                            }
                            // Same as `triangle_distance` when it is below `best` (the
                            // only case that counts), skipping what cannot be.
                            if let Some((d, p, q)) = triangle_distance_below(ts, tt, ns, nt, best) {
                                best = d;
                                found = Some((d, p, q));
                                shared.fetch_min(d.to_bits(), Ordering::Relaxed);
                            }
                        }
                    }
                }
                Some(kids) => {
                    let (g0, g1) = (gap(kids[0]), gap(kids[1]));
                    // Nearer pair on top of the stack.
                    let order = if g0 <= g1 {
                        [(kids[1], g1), (kids[0], g0)]
                    } else {
                        [(kids[0], g0), (kids[1], g1)]
                    };
                    for (k, g) in order {
                        if keep(g, best) {
                            stack.push((k, g));
                        }
                    }
                }
            }
        }
        found
    }

    /// Boxes of the triangles of leaf `b` (the first `b.count`).
    #[inline]
    fn leaf_boxes(&self, b: &Node) -> [(DVec3, DVec3); LEAF] {
        let mut tb = [(DVec3::ZERO, DVec3::ZERO); LEAF];
        for (k, t) in (b.a..b.a + b.count).enumerate() {
            tb[k] = tri_box(&self.corners[t as usize]);
        }
        tb
    }
}

/// A closest pair of triangles: distance, point on the first, point on the second.
type PairHit = (f64, DVec3, DVec3);

/// A lower bound of the distance between triangles `t` and `u`: the gap between their
/// projections on the unit vector `n` (zero vector: 0), shrunk to cover rounding.
fn axis_gap(n: DVec3, t: &Tri, u: &Tri) -> f64 {
    let pt = t.map(|p| n.dot(p));
    let pu = u.map(|p| n.dot(p));
    let (tlo, thi) = (pt[0].min(pt[1]).min(pt[2]), pt[0].max(pt[1]).max(pt[2]));
    let (ulo, uhi) = (pu[0].min(pu[1]).min(pu[2]), pu[0].max(pu[1]).max(pu[2]));
    let g = (ulo - thi).max(tlo - uhi);
    if g > 0.0 {
        g * (1.0 - 1e-9) - 1e-9
    } else {
        0.0
    }
}

fn tri_box(t: &Tri) -> (DVec3, DVec3) {
    (t[0].min(t[1]).min(t[2]), t[0].max(t[1]).max(t[2]))
}

#[inline]
fn overlap(alo: DVec3, ahi: DVec3, blo: DVec3, bhi: DVec3) -> bool {
    alo.x <= bhi.x
        && blo.x <= ahi.x
        && alo.y <= bhi.y
        && blo.y <= ahi.y
        && alo.z <= bhi.z
        && blo.z <= ahi.z
}

#[inline]
fn box_gap(alo: DVec3, ahi: DVec3, blo: DVec3, bhi: DVec3) -> f64 {
    (alo - bhi).max(blo - ahi).max(DVec3::ZERO).length()
}

#[inline]
fn box_dist2(node: &Node, p: DVec3) -> f64 {
    (node.min - p)
        .max(DVec3::ZERO)
        .max(p - node.max)
        .length_squared()
}

fn extent(a: &Node) -> f64 {
    (a.max - a.min).length_squared()
}

/// A build item: centroid coordinates as [`order_key`]s and mesh triangle.
type Item = ([i64; 3], u32);

/// An integer whose order is `f64::total_cmp`'s (the same transform); it maps back with
/// [`key_value`].
#[inline]
fn order_key(x: f64) -> i64 {
    let k = x.to_bits() as i64;
    k ^ (((k >> 63) as u64) >> 1) as i64
}

/// The `f64` of an [`order_key`] (the transform is an involution).
#[inline]
fn key_value(k: i64) -> f64 {
    f64::from_bits((k ^ (((k >> 63) as u64) >> 1) as i64) as u64)
}

/// Builds the subtree over `items` into `nodes` (its root first; boxes are filled in
/// afterwards); `offset` is the slot of `items[0]`. Large subtrees build in parallel when
/// `par`.
fn build(items: &mut [Item], nodes: &mut [Node], node: usize, offset: usize, par: bool) {
    let n = items.len();
    if n <= LEAF {
        nodes[0].a = offset as u32;
        nodes[0].count = n as u32;
        return;
    }
    let (mut cmin, mut cmax) = ([i64::MAX; 3], [i64::MIN; 3]);
    for it in items.iter() {
        for k in 0..3 {
            cmin[k] = cmin[k].min(it.0[k]);
            cmax[k] = cmax[k].max(it.0[k]);
        }
    }
    let e = [0, 1, 2].map(|k| key_value(cmax[k]) - key_value(cmin[k]));
    let axis = if e[0] >= e[1] && e[0] >= e[2] {
        0
    } else if e[1] >= e[2] {
        1
    } else {
        2
    };
    let half = n / 2;
    // A total order (coordinate, then triangle id): the split does not depend on the
    // selection algorithm.
    // One comparator per axis (a constant index): the same comparisons, so the same
    // permutation, as with the axis as a variable.
    match axis {
        0 => items.select_nth_unstable_by(half, |a, b| (a.0[0], a.1).cmp(&(b.0[0], b.1))),
        1 => items.select_nth_unstable_by(half, |a, b| (a.0[1], a.1).cmp(&(b.0[1], b.1))),
        _ => items.select_nth_unstable_by(half, |a, b| (a.0[2], a.1).cmp(&(b.0[2], b.1))),
    };
    let left_nodes = node_count(half);
    let (li, ri) = items.split_at_mut(half);
    let (head, rest) = nodes.split_at_mut(1);
    let (ln, rn) = rest.split_at_mut(left_nodes);
    if par && n > 1024 {
        rayon::join(
            || build(li, ln, node + 1, offset, par),
            || build(ri, rn, node + 1 + left_nodes, offset + half, par),
        );
    } else {
        build(li, ln, node + 1, offset, par);
        build(ri, rn, node + 1 + left_nodes, offset + half, par);
    }
    head[0].a = (node + 1 + left_nodes) as u32;
    head[0].count = 0;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::triangle_distance;
    use osteon_geom::Vec3;
    use osteon_mesh::distance::closest_on_triangle;
    use osteon_mesh::shapes::icosphere;

    /// Brute force over all triangles.
    fn brute(m: &Mesh, p: DVec3) -> f64 {
        (0..m.triangles.len())
            .map(|t| {
                let c = m.corners(t).map(|q| q.as_dvec3());
                (closest_on_triangle(p, &c) - p).length()
            })
            .fold(f64::INFINITY, f64::min)
    }

    #[test]
    fn node_count_matches_the_recursion() {
        fn slow(n: usize) -> usize {
            if n <= LEAF {
                1
            } else {
                1 + slow(n / 2) + slow(n - n / 2)
            }
        }
        for n in 1..3000 {
            assert_eq!(node_count(n), slow(n), "{n}");
        }
        assert_eq!(node_count(1_000_003), slow(1_000_003));
    }

    #[test]
    fn order_keys_sort_like_total_cmp_and_map_back() {
        let xs = [
            f64::NEG_INFINITY,
            -1e300,
            -3.5,
            -f64::MIN_POSITIVE,
            -0.0,
            0.0,
            5e-324,
            1.0,
            1.0 + f64::EPSILON,
            2.5e7,
            f64::INFINITY,
        ];
        for &a in &xs {
            assert_eq!(key_value(order_key(a)).to_bits(), a.to_bits());
            for &b in &xs {
                assert_eq!(order_key(a).cmp(&order_key(b)), a.total_cmp(&b), "{a} {b}");
            }
        }
    }

    #[test]
    fn closest_matches_brute_force_and_respects_the_bound() {
        let m = icosphere(3, 5.0);
        let tree = Tree::new(&m, None);
        for k in 0..200 {
            let f = k as f64;
            let p = DVec3::new(
                (f * 0.37).sin() * 7.0,
                (f * 0.91).cos() * 6.0,
                f * 0.05 - 5.0,
            );
            let hint = tree.slot((k * 37 % m.triangles.len()) as u32);
            let (s, q, _) = tree.closest(p, f64::INFINITY, hint).unwrap();
            let d = (q - p).length();
            assert!((d - brute(&m, p)).abs() < 1e-12, "{p}");
            assert!(s < tree.len());
            // Nothing within a bound below the distance.
            assert!(tree.closest(p, d * 0.999, hint).is_none());
        }
    }

    #[test]
    fn subset_pairs_and_closest_pair_match_brute_force() {
        let a = icosphere(2, 3.0);
        let b = icosphere(2, 2.0).map_positions(|p| p + Vec3::new(5.7, 0.3, -0.2));
        let sub: Vec<u32> = (0..a.triangles.len() as u32)
            .filter(|t| t % 3 != 0)
            .collect();
        let ta = Tree::new(&a, Some(&sub));
        let tb = Tree::new(&b, None);
        assert_eq!(ta.len(), sub.len());
        assert_eq!(ta.slot(0), None);
        // Closest pair against all pairs.
        let mut best = f64::INFINITY;
        for s in 0..ta.len() {
            for t in 0..tb.len() {
                best = best.min(triangle_distance(&ta.corners[s], &tb.corners[t]).0);
            }
        }
        let (d, p, q) = ta.closest_pair(&tb, f64::INFINITY).unwrap();
        assert!((d - best).abs() < 1e-12 && ((p - q).length() - d).abs() < 1e-12);
        assert!(ta.closest_pair(&tb, best).is_none());
        // Crossing spheres: overlapping boxes against all pairs.
        let c = icosphere(2, 2.0).map_positions(|p| p + Vec3::new(3.5, 0.0, 0.0));
        let tc = Tree::new(&c, None);
        let pairs = ta.overlapping(&tc);
        let mut all = Vec::new();
        for s in 0..ta.len() {
            let (slo, shi) = tri_box(&ta.corners[s]);
            for t in 0..tc.len() {
                let (tlo, thi) = tri_box(&tc.corners[t]);
                if overlap(slo, shi, tlo, thi) {
                    all.push((s as u32, t as u32));
                }
            }
        }
        assert!(!all.is_empty());
        assert_eq!(pairs, all);
    }
}
