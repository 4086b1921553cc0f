//! The closest-point index of compare: a 4-ary bounding-volume hierarchy over all triangles
//! of a mesh, for long runs of warm-started exact point queries (see [`PointIndex`]).
//!
//! Midpoint split of the centroids along the longest axis; the tree's shape depends only on
//! the triangles and their order, and every query walks it in a fixed order, so results do
//! not depend on the number of threads.

use osteon_geom::DVec3;
use osteon_mesh::distance::warm_chains;
use osteon_mesh::Mesh;
use rayon::prelude::*;

use crate::geometry::Tri;

/// Triangles per leaf of [`PointIndex`].
const PLEAF: usize = 4;
/// Leaf flag of a [`PointIndex`] child reference (the rest: first slot).
const LEAF_BIT: u32 = 1 << 31;

/// One node of [`PointIndex`]: the boxes of up to four children, structure of arrays (f32,
/// exact: the mesh's corners are f32), so the four box distances vectorise.
#[derive(Clone, Copy, Debug)]
struct Node4 {
    /// `lo[axis][child]`; an empty child has `lo = +inf`, `hi = -inf`.
    lo: [[f32; 4]; 3],
    hi: [[f32; 4]; 3],
    /// Internal child: node index; leaf child: `LEAF_BIT | first slot`.
    child: [u32; 4],
    /// Triangles of a leaf child (0 for an internal or empty child).
    count: [u8; 4],
}

const EMPTY4: Node4 = Node4 {
    lo: [[f32::INFINITY; 4]; 3],
    hi: [[f32::NEG_INFINITY; 4]; 3],
    child: [0; 4],
    count: [0; 4],
};

/// A 4-ary bounding-volume hierarchy over all triangles of a mesh for exact closest-point
/// queries, made for long runs of nearby query points (the samples of a surface taken in
/// mesh order): every query starts from a hint triangle (the previous point's answer), whose
/// exact distance bounds the descent, so only the few boxes that can still hold a closer
/// triangle are opened. Boxes are tested in f32 with a slack that covers the rounding of
/// the query point; triangle distances are exact f64, so answers equal a brute-force
/// search's distance (among equally close triangles the hint, then the first met, wins).
///
/// The tree's shape depends only on the triangles and their order (midpoint splits),
/// and queries are pure, so answers do not depend on the thread count.
#[derive(Clone, Debug)]
pub(crate) struct PointIndex {
    nodes: Vec<Node4>,
    /// Corners of every slot (f64).
    tris: Vec<Tri>,
    /// Triangle id of every slot.
    ids: Vec<u32>,
    /// Slot of every triangle id.
    slot_of: Vec<u32>,
    /// Per slot: bounding sphere (centre, radius) and plane (unit normal, offset; zero for
    /// a degenerate triangle), two lower bounds of the distance that skip most exact tests.
    bounds: Vec<[f64; 8]>,
    /// Covers the f32 rounding of box distances (mm).
    slack: f64,
}

type Item = ([f32; 3], u32);

/// Traversal stack of [`PointIndex::closest_with`]: (child reference, leaf count, box
/// distance²).
pub(crate) type Stack = Vec<(u32, u8, f32)>;

impl PointIndex {
    /// The index over every triangle of `mesh` (a valid mesh with at least one triangle).
    pub(crate) fn new(mesh: &Mesh) -> PointIndex {
        let n = mesh.triangles.len();
        let mut items: Vec<Item> = (0..n)
            .into_par_iter()
            .map(|t| {
                let [a, b, c] = mesh.corners(t);
                (((a + b + c) / 3.0).to_array(), t as u32)
            })
            .collect();
        // A guess of the node count (a few triangles per leaf, four children per node); the
        // vector grows if the tree needs more.
        let mut nodes = Vec::with_capacity(n / 4 + 1);
        if n == 0 {
            nodes.push(EMPTY4);
        } else {
            let root = build4(mesh, &mut items, 0, &mut nodes);
            if let Child::Leaf(first, count, lo, hi) = root {
                // A single leaf: hang it under a root node.
                let mut r = EMPTY4;
                set_child(&mut r, 0, LEAF_BIT | first, count, lo, hi);
                nodes = vec![r];
            }
        }
        let ids: Vec<u32> = items.iter().map(|i| i.1).collect();
        let tris: Vec<Tri> = ids
            .par_iter()
            .map(|&t| mesh.corners(t as usize).map(|p| p.as_dvec3()))
            .collect();
        let bounds = tris
            .par_iter()
            .map(|t| {
                let c = (t[0] + t[1] + t[2]) / 3.0;
                let r = t.iter().map(|&q| (q - c).length()).fold(0.0, f64::max);
                // Slack against the rounding of `c`, `r` and the plane.
                let r = r * (1.0 + 1e-9) + 1e-12;
                let nrm = crate::geometry::normal(t).normalize_or_zero();
                let off = nrm.dot(t[0]);
                [c.x, c.y, c.z, r, nrm.x, nrm.y, nrm.z, off]
            })
            .collect();
        let mut slot_of = vec![0u32; n];
        for (s, &t) in ids.iter().enumerate() {
            slot_of[t as usize] = s as u32;
        }
        let extent = mesh
            .positions
            .iter()
            .fold(0.0f32, |m, p| m.max(p.abs().max_element()));
        PointIndex {
            nodes,
            tris,
            ids,
            slot_of,
            bounds,
            slack: f64::from(extent) * 2f64.powi(-20) + 1e-30,
        }
    }

    /// Corners of triangle `t` (a triangle id of the mesh).
    #[inline]
    pub(crate) fn corners(&self, t: u32) -> &Tri {
        &self.tris[self.slot_of[t as usize] as usize]
    }

    /// Distance from `p` to triangle `t` (a triangle id of the mesh), exact f64.
    #[inline]
    pub(crate) fn distance_to(&self, t: u32, p: DVec3) -> f64 {
        self.distance2_to(t, p).sqrt()
    }

    /// Squared distance from `p` to triangle `t` (a triangle id of the mesh), exact f64.
    #[inline]
    pub(crate) fn distance2_to(&self, t: u32, p: DVec3) -> f64 {
        osteon_mesh::distance::point_triangle_distance2(p, self.corners(t))
    }

    /// The triangle closest to `p` and its squared distance, starting from triangle `hint`
    /// (any value; out of range: no warm start).
    pub(crate) fn closest(&self, p: DVec3, hint: u32) -> (u32, f64) {
        self.closest_with(p, hint, &mut Vec::with_capacity(64))
    }

    /// [`PointIndex::closest`] with a reusable traversal stack.
    pub(crate) fn closest_with(&self, p: DVec3, hint: u32, stack: &mut Stack) -> (u32, f64) {
        let mut best = f64::INFINITY;
        let mut found = u32::MAX;
        if let Some(&s) = self.slot_of.get(hint as usize) {
            best = osteon_mesh::distance::point_triangle_distance2(p, &self.tris[s as usize]);
            found = s;
        }
        // Met again in its leaf, the hint cannot win (ties go to the hint): skip it there.
        let hint_slot = found as usize;
        let slack = self.slack + p.abs().max_element() * 2f64.powi(-20);
        let lim = |best: f64| -> f32 {
            let r = best.sqrt() + slack;
            (r * r * (1.0 + 1e-6)) as f32
        };
        let mut limit = lim(best);
        let mut reach = best.sqrt();
        // Rounding of the plane test at the magnitudes of the point and of the mesh.
        let plane_eps = 1e-5 * slack + 1e-12;
        let (px, py, pz) = (p.x as f32, p.y as f32, p.z as f32);
        stack.clear();
        stack.push((0, 0, 0.0));
        while let Some((r, count, bd)) = stack.pop() {
            if bd > limit {
                continue;
            }
            if count > 0 {
                let first = (r & !LEAF_BIT) as usize;
                for s in first..first + count as usize {
                    if s == hint_slot {
                        continue;
                    }
                    let b = &self.bounds[s];
                    // Every point of the triangle lies within r of c and on the plane.
                    let dc = DVec3::new(b[0] - p.x, b[1] - p.y, b[2] - p.z);
                    let out = reach + b[3];
                    if dc.length_squared() > out * out * (1.0 + 1e-9) {
                        continue;
                    }
                    let plane = (b[4] * p.x + b[5] * p.y + b[6] * p.z - b[7]).abs();
                    if plane > reach * (1.0 + 1e-9) + plane_eps {
                        continue;
                    }
                    let d2 = osteon_mesh::distance::point_triangle_distance2(p, &self.tris[s]);
                    if d2 < best {
                        best = d2;
                        reach = best.sqrt();
                        found = s as u32;
                        limit = lim(best);
                    }
                }
                continue;
            }
            let node = &self.nodes[r as usize];
            let mut d = [0.0f32; 4];
            #[allow(clippy::needless_range_loop)] // lane-indexed on purpose: vectorised
            for c in 0..4 {
                let dx = (node.lo[0][c] - px).max(px - node.hi[0][c]).max(0.0);
                let dy = (node.lo[1][c] - py).max(py - node.hi[1][c]).max(0.0);
                let dz = (node.lo[2][c] - pz).max(pz - node.hi[2][c]).max(0.0);
                d[c] = dx * dx + dy * dy + dz * dz;
            }
            // Children within reach, nearest on top of the stack.
            let mut order = [0usize; 4];
            let mut k = 0;
            for c in 0..4 {
                if d[c] <= limit {
                    let mut i = k;
                    while i > 0 && d[order[i - 1]] < d[c] {
                        order[i] = order[i - 1];
                        i -= 1;
                    }
                    order[i] = c;
                    k += 1;
                }
            }
            for &c in &order[..k] {
                stack.push((node.child[c], node.count[c], d[c]));
            }
        }
        (self.ids[found as usize], best)
    }

    /// Closest triangles (and squared distances) of many points, in order, in fixed chains
    /// of consecutive points, each query warm-started from the previous answer (parallel,
    /// deterministic).
    #[cfg(test)]
    pub(crate) fn closest_many(&self, points: &[DVec3]) -> Vec<(u32, f64)> {
        self.closest_many_with(points, |&p| p, |_, t, d2| (t, d2))
    }

    /// `f(point, closest triangle, squared distance)` of many items' points (`at(item)`),
    /// in order, queried in fixed chains of consecutive items, each warm-started from the
    /// previous answer (parallel, deterministic).
    pub(crate) fn closest_many_with<P: Sync, T: Send>(
        &self,
        items: &[P],
        at: impl Fn(&P) -> DVec3 + Sync,
        f: impl Fn(DVec3, u32, f64) -> T + Sync,
    ) -> Vec<T> {
        warm_chains(
            items,
            || Vec::with_capacity(64),
            |stack, item, hint| {
                let p = at(item);
                let (t, d2) = self.closest_with(p, hint, stack);
                (f(p, t, d2), t)
            },
        )
    }
}

/// A subtree's root as its parent sees it.
enum Child {
    /// First slot, count, box.
    Leaf(u32, u8, [f32; 3], [f32; 3]),
    /// Node index, box.
    Node(u32, [f32; 3], [f32; 3]),
}

fn set_child(n: &mut Node4, c: usize, r: u32, count: u8, lo: [f32; 3], hi: [f32; 3]) {
    for a in 0..3 {
        n.lo[a][c] = lo[a];
        n.hi[a][c] = hi[a];
    }
    n.child[c] = r;
    n.count[c] = count;
}

/// Splits `items` at the middle of the box of their centroids along its longest axis (one
/// partition pass, deterministic for the given order); at the median when that leaves a
/// side empty (all centroids at one coordinate).
fn halve(items: &mut [Item]) -> usize {
    let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
    for it in items.iter() {
        for a in 0..3 {
            // Plain comparisons (one instruction each, unlike `f32::min`'s NaN handling);
            // the same bounds for the finite centroids of a valid mesh.
            let v = it.0[a];
            if v < lo[a] {
                lo[a] = v;
            }
            if v > hi[a] {
                hi[a] = v;
            }
        }
    }
    let e = [hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]];
    let axis = if e[0] >= e[1] && e[0] >= e[2] {
        0
    } else if e[1] >= e[2] {
        1
    } else {
        2
    };
    let mid = lo[axis] + 0.5 * e[axis];
    // Two-pointer partition: centroids below `mid` first.
    let (mut i, mut j) = (0usize, items.len());
    while i < j {
        if items[i].0[axis] < mid {
            i += 1;
        } else {
            j -= 1;
            items.swap(i, j);
        }
    }
    if i > 0 && i < items.len() {
        return i;
    }
    let half = items.len() / 2;
    items.select_nth_unstable_by(half, |a, b| a.0[axis].total_cmp(&b.0[axis]));
    half
}

/// Builds the subtree over `items` (slots from `offset`), appending its nodes to `nodes` in
/// pre-order (a node, then its children's subtrees in order), and returns its root (a node
/// index into `nodes`, or a leaf). Subtrees of more than 16 384 triangles build their
/// children in parallel, each into its own vector, appended (re-based) in order: the same
/// array as a sequential build, with no per-level copies below that size.
fn build4(mesh: &Mesh, items: &mut [Item], offset: usize, nodes: &mut Vec<Node4>) -> Child {
    let n = items.len();
    if n <= PLEAF {
        let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
        for it in items.iter() {
            for p in mesh.corners(it.1 as usize) {
                let p = p.to_array();
                for a in 0..3 {
                    lo[a] = lo[a].min(p[a]);
                    hi[a] = hi[a].max(p[a]);
                }
            }
        }
        return Child::Leaf(LEAF_BIT | offset as u32, n as u8, lo, hi);
    }
    // Up to four groups: halve, then halve each half that is larger than a leaf.
    let h = halve(items);
    let (l, r) = items.split_at_mut(h);
    let mut groups: [(&mut [Item], usize); 4] =
        [(&mut [], 0), (&mut [], 0), (&mut [], 0), (&mut [], 0)];
    let mut k = 0;
    for (part, off) in [(l, offset), (r, offset + h)] {
        if part.len() > PLEAF {
            let q = halve(part);
            let (a, b) = part.split_at_mut(q);
            groups[k] = (a, off);
            groups[k + 1] = (b, off + q);
            k += 2;
        } else {
            groups[k] = (part, off);
            k += 1;
        }
    }
    let me = nodes.len();
    nodes.push(EMPTY4);
    let mut roots = [None, None, None, None];
    if n > 16_384 {
        let subs: Vec<(Vec<Node4>, Child)> = groups[..k]
            .par_iter_mut()
            .map(|(g, off)| {
                let mut sub = Vec::new();
                let root = build4(mesh, g, *off, &mut sub);
                (sub, root)
            })
            .collect();
        for (c, (sub, root)) in subs.into_iter().enumerate() {
            let base = nodes.len() as u32;
            roots[c] = Some(match root {
                Child::Node(i, clo, chi) => Child::Node(base + i, clo, chi),
                leaf => leaf,
            });
            nodes.extend(sub.into_iter().map(|mut m| {
                for j in 0..4 {
                    if m.count[j] == 0 && m.lo[0][j] <= m.hi[0][j] {
                        m.child[j] += base;
                    }
                }
                m
            }));
        }
    } else {
        for (c, (g, off)) in groups[..k].iter_mut().enumerate() {
            roots[c] = Some(build4(mesh, g, *off, nodes));
        }
    }
    let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
    let mut node = EMPTY4;
    for (c, root) in roots.into_iter().flatten().enumerate() {
        let (r, count, clo, chi) = match root {
            Child::Leaf(first, count, clo, chi) => (first, count, clo, chi),
            Child::Node(i, clo, chi) => (i, 0, clo, chi),
        };
        for a in 0..3 {
            lo[a] = lo[a].min(clo[a]);
            hi[a] = hi[a].max(chi[a]);
        }
        set_child(&mut node, c, r, count, clo, chi);
    }
    nodes[me] = node;
    Child::Node(me as u32, lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use osteon_geom::{Lcg, Vec3};
    use osteon_mesh::distance::point_triangle_distance2;

    /// Uniform in `[-1, 1)`.
    fn lcg(s: &mut Lcg) -> f64 {
        s.range(-1.0, 1.0)
    }

    /// Every answer has the brute-force distance (exactly: the same f64 routine on the same
    /// triangle), whatever the hint — none, a good one, a far one — on a sphere plus a
    /// cloud of random triangles (slivers, repeated corners) away from the origin, for
    /// points on, near and far from the surface.
    #[test]
    fn closest_matches_brute_force() {
        let mut m =
            osteon_mesh::shapes::icosphere(3, 10.0).map_positions(|p| p + Vec3::splat(300.0));
        let mut s = Lcg::new(11);
        for i in 0..200 {
            let n = m.positions.len() as u32;
            let c = Vec3::new(300.0, 300.0, 300.0)
                + Vec3::new(lcg(&mut s) as f32, lcg(&mut s) as f32, lcg(&mut s) as f32) * 25.0;
            let mut v =
                || c + Vec3::new(lcg(&mut s) as f32, lcg(&mut s) as f32, lcg(&mut s) as f32) * 2.0;
            let (a, b) = (v(), v());
            let d = if i % 7 == 0 { a } else { v() };
            m.positions.extend([a, b, d]);
            m.triangles.push([n, n + 1, n + 2]);
        }
        let idx = PointIndex::new(&m);
        let tris: Vec<Tri> = (0..m.triangles.len())
            .map(|t| m.corners(t).map(|p| p.as_dvec3()))
            .collect();
        let brute = |p: DVec3| {
            tris.iter()
                .map(|t| point_triangle_distance2(p, t))
                .fold(f64::INFINITY, f64::min)
        };
        let mut pts = Vec::new();
        for k in 0..600 {
            let r = [0.0, 9.9, 10.0, 10.3, 14.0, 40.0][k % 6];
            let dir = DVec3::new(lcg(&mut s), lcg(&mut s), lcg(&mut s)).normalize_or_zero();
            pts.push(DVec3::splat(300.0) + dir * r);
        }
        let many = idx.closest_many(&pts);
        let mut prev = u32::MAX;
        for (k, &p) in pts.iter().enumerate() {
            let want = brute(p);
            for hint in [u32::MAX, prev, 0, (m.triangles.len() - 1) as u32, 1 << 30] {
                let (t, d2) = idx.closest(p, hint);
                assert_eq!(d2, want, "point {k} hint {hint}");
                assert_eq!(point_triangle_distance2(p, &tris[t as usize]), d2);
            }
            assert_eq!(many[k].1, want, "point {k} (chained)");
            prev = many[k].0;
        }
        // A one-triangle mesh: a root over a single leaf.
        let one = Mesh::new(vec![Vec3::ZERO, Vec3::X, Vec3::Y], vec![[0, 1, 2]]).unwrap();
        let (t, d2) = PointIndex::new(&one).closest(DVec3::new(0.25, 0.25, 2.0), u32::MAX);
        assert_eq!((t, d2), (0, 4.0));
    }
}
