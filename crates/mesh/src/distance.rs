//! Point-to-surface distances and measured surface deviation between two meshes.
//!
//! In: a [`Mesh`] (millimetres; any triangle soup: open, non-manifold and degenerate
//! triangles are fine, a triangle with a repeated index counts as a segment or a point).
//! Out: a [`DistanceIndex`], a bounding-volume hierarchy over its triangles that answers
//! *exact* (f64 arithmetic on the f32 corners) closest-point and "is anything within r"
//! queries, and [`surface_deviation`] / [`directed_deviation`], which measure how far the
//! samples of one surface lie from another (maximum and mean, mm).
//!
//! The distance from a point to the surface is exact; the deviation between two surfaces is
//! measured at samples (every vertex, plus the points of a regular barycentric grid on every
//! triangle), so it is a lower bound of the true one-sided Hausdorff distance. Between two
//! samples `s` apart the true distance exceeds the sampled one by at most `s / 2` (the
//! distance to a surface is 1-Lipschitz); in practice, on meshes whose features are larger
//! than the grid, the two agree to well under that.
//!
//! The hierarchy is a binary tree of boxes split at the median centroid of the longest axis;
//! its shape depends only on the triangle count and the positions, and queries are pure, so
//! every answer is the same whatever the number of threads. Queries are parallel-safe
//! (`&self`); [`surface_deviation`] runs them on rayon's pool with ordered reductions.

use osteon_geom::{DVec3, Vec3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Mesh, MeshError};

/// Triangles per leaf of the hierarchy.
const LEAF: usize = 4;

#[derive(Clone, Copy, Debug)]
struct Node {
    min: Vec3,
    max: Vec3,
    /// Internal node: index of the right child (the left one follows the node). Leaf: first
    /// slot.
    a: u32,
    /// Leaf: number of triangles (> 0). Internal node: 0.
    count: u32,
}

/// A bounding-volume hierarchy over the triangles of a mesh, for exact point-to-surface
/// distance queries. See the [module documentation](self).
///
/// ```
/// use osteon_mesh::{distance::DistanceIndex, Mesh};
/// use osteon_geom::Vec3;
/// let tri = Mesh::new(vec![Vec3::ZERO, Vec3::X, Vec3::Y], vec![[0, 1, 2]]).unwrap();
/// let index = DistanceIndex::new(&tri).unwrap();
/// let c = index.closest_point(Vec3::new(0.25, 0.25, 2.0)).unwrap();
/// assert_eq!((c.triangle, c.distance), (0, 2.0));
/// assert!(index.is_within(Vec3::new(2.0, 0.0, 0.0), 1.0));
/// ```
#[derive(Clone, Debug)]
pub struct DistanceIndex {
    nodes: Vec<Node>,
    /// Triangle corners in leaf order (f64, so queries do no conversion).
    corners: Vec<[DVec3; 3]>,
    /// Original triangle number of every slot.
    ids: Vec<u32>,
    /// Slot of every triangle (the inverse of `ids`), for warm-started queries.
    slot_of: Vec<u32>,
    /// Bounding sphere (centroid, radius) of every slot's triangle: a one-dot-product test
    /// that skips most exact point–triangle distances.
    spheres: Vec<[f64; 4]>,
}

/// Queries per warm-start chain of [`warm_chains`]: fixed, so the answers do not depend on
/// the number of threads.
const CHAIN: usize = 256;

/// Many closest-point queries, in order, in parallel: the points are taken in fixed chains
/// of consecutive points, each query warm-started with the triangle the previous one in its
/// chain found (`u32::MAX` for the first), so lists whose neighbours lie near each other
/// cost little more than a box descent per point, and the answers do not depend on the
/// thread count. `query(scratch, point, hint)` returns the answer and the next hint;
/// `scratch` (from `init`, once per chain) is for a reusable traversal stack.
pub fn warm_chains<P: Sync, T: Send, S>(
    points: &[P],
    init: impl Fn() -> S + Sync,
    query: impl Fn(&mut S, &P, u32) -> (T, u32) + Sync,
) -> Vec<T> {
    points
        .par_chunks(CHAIN)
        .flat_map_iter(|chain| {
            let mut hint = u32::MAX;
            let mut scratch = init();
            chain
                .iter()
                .map(|p| {
                    let (answer, next) = query(&mut scratch, p, hint);
                    hint = next;
                    answer
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The answer of [`DistanceIndex::closest_point`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClosestPoint {
    /// The closest point of the surface, mm.
    pub point: DVec3,
    /// Its distance from the query point, mm.
    pub distance: f64,
    /// The triangle (index into the mesh's `triangles`) it lies on; among equally close
    /// triangles, the first one met.
    pub triangle: u32,
}

/// Number of nodes of the tree over `n` triangles (the shape depends on `n` only).
fn node_count(n: usize) -> usize {
    if n <= LEAF {
        1
    } else {
        1 + node_count(n / 2) + node_count(n - n / 2)
    }
}

impl DistanceIndex {
    /// Builds the hierarchy over the triangles of `mesh` (in parallel; deterministic).
    ///
    /// Errors: [`MeshError::Empty`] when the mesh has no triangle,
    /// [`MeshError::IndexOutOfRange`] / [`MeshError::NonFinite`] for an invalid mesh.
    pub fn new(mesh: &Mesh) -> Result<DistanceIndex, MeshError> {
        mesh.validate()?;
        if mesh.triangles.is_empty() {
            return Err(MeshError::Empty);
        }
        if mesh.triangles.len() > u32::MAX as usize / 2 {
            return Err(MeshError::TooManyVertices(mesh.triangles.len()));
        }
        let n = mesh.triangles.len();
        // (centroid, id) per triangle, permuted in place by the build.
        let mut items: Vec<(Vec3, u32)> = mesh
            .triangles
            .par_iter()
            .enumerate()
            .map(|(i, _)| {
                let [a, b, c] = mesh.corners(i);
                ((a + b + c) / 3.0, i as u32)
            })
            .collect();
        let mut nodes = vec![
            Node {
                min: Vec3::ZERO,
                max: Vec3::ZERO,
                a: 0,
                count: 0
            };
            node_count(n)
        ];
        build(mesh, &mut items, &mut nodes, 0, 0);
        let ids: Vec<u32> = items.iter().map(|&(_, i)| i).collect();
        let corners: Vec<[DVec3; 3]> = ids
            .par_iter()
            .map(|&i| mesh.corners(i as usize).map(|p| p.as_dvec3()))
            .collect();
        let spheres = corners
            .par_iter()
            .map(|t| {
                let c = (t[0] + t[1] + t[2]) / 3.0;
                let r = t.iter().map(|&q| (q - c).length()).fold(0.0, f64::max);
                // Slack against the rounding of `c` and `r`.
                let r = r * (1.0 + 1e-9) + 1e-12;
                [c.x, c.y, c.z, r]
            })
            .collect();
        let mut slot_of = vec![0u32; n];
        for (s, &i) in ids.iter().enumerate() {
            slot_of[i as usize] = s as u32;
        }
        Ok(DistanceIndex {
            nodes,
            corners,
            ids,
            slot_of,
            spheres,
        })
    }

    /// The closest point of the surface to `p` (f64), warm-started from triangle `hint`
    /// (an index into the mesh's `triangles`; out of range: no warm start). The distance is
    /// the same as [`DistanceIndex::closest_point_f64`]'s; among equally close triangles the
    /// hint wins. A hint near the answer (the previous answer of a nearby query) makes the
    /// walk visit only the few boxes that can still hold a closer triangle.
    pub fn closest_point_near(&self, p: DVec3, hint: u32) -> ClosestPoint {
        let slot = self.slot_of.get(hint as usize).map(|&s| s as usize);
        let (s, q) = self
            .closest_slot_from(p, f64::INFINITY, slot)
            .expect("an index has at least one triangle");
        ClosestPoint {
            point: q,
            distance: (q - p).length(),
            triangle: self.ids[s],
        }
    }

    /// Closest points of many points, in order (parallel, deterministic). Points are taken
    /// in fixed chains of consecutive points, each query warm-started from the previous
    /// answer, so lists whose neighbours lie near each other (samples of one triangle after
    /// another, vertices of a mesh) cost little more than a box descent per point.
    pub fn closest_points(&self, points: &[DVec3]) -> Vec<ClosestPoint> {
        warm_chains(
            points,
            || (),
            |_, &p, hint| {
                let c = self.closest_point_near(p, hint);
                (c, c.triangle)
            },
        )
    }

    /// Corners (f64) of triangle `triangle` of the mesh (an index into its `triangles`).
    pub fn triangle_corners(&self, triangle: u32) -> &[DVec3; 3] {
        &self.corners[self.slot_of[triangle as usize] as usize]
    }

    /// Number of triangles indexed.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Always false: an index has at least one triangle.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The closest point of the surface to `p`.
    pub fn closest_point(&self, p: Vec3) -> Option<ClosestPoint> {
        self.closest_point_f64(p.as_dvec3(), f64::INFINITY)
    }

    /// Distance from `p` to the surface, mm.
    pub fn distance(&self, p: Vec3) -> f64 {
        self.closest_point(p).map_or(f64::INFINITY, |c| c.distance)
    }

    /// The closest point of the surface to `p` (f64) among those closer than `max_distance`,
    /// `None` when there is none.
    pub fn closest_point_f64(&self, p: DVec3, max_distance: f64) -> Option<ClosestPoint> {
        self.closest_slot(p, max_distance)
            .map(|(s, q)| ClosestPoint {
                point: q,
                distance: (q - p).length(),
                triangle: self.ids[s],
            })
    }

    /// Slot and closest point of the triangle nearest to `p` within `max_distance`.
    pub(crate) fn closest_slot(&self, p: DVec3, max_distance: f64) -> Option<(usize, DVec3)> {
        self.closest_slot_from(p, max_distance, None)
    }

    /// [`DistanceIndex::closest_slot`], starting from the triangle in slot `hint`.
    fn closest_slot_from(
        &self,
        p: DVec3,
        max_distance: f64,
        hint: Option<usize>,
    ) -> Option<(usize, DVec3)> {
        let mut best = max_distance * max_distance;
        let mut found: Option<(usize, DVec3)> = None;
        if let Some(h) = hint {
            let q = closest_on_triangle(p, &self.corners[h]);
            let d2 = (q - p).length_squared();
            if d2 <= best {
                best = d2;
                found = Some((h, q));
            }
        }
        // sqrt(best), for the sphere test.
        let mut reach = best.sqrt();
        // (node, squared distance of its box): each box is measured once.
        let mut stack: [(u32, f64); 64] = [(0, 0.0); 64];
        stack[0] = (0, box_dist2(&self.nodes[0], p));
        let mut top = 1usize;
        while top > 0 {
            top -= 1;
            let (ni, bd) = stack[top];
            let ni = ni as usize;
            if bd > best || (bd == best && found.is_some()) {
                continue;
            }
            let node = &self.nodes[ni];
            if node.count > 0 {
                let first = node.a as usize;
                for s in first..first + node.count as usize {
                    // Every point of the triangle lies within r of c: farther than the best
                    // by a margin, it cannot win (nor tie).
                    let [cx, cy, cz, r] = self.spheres[s];
                    let dc2 = (DVec3::new(cx, cy, cz) - p).length_squared();
                    let lim = reach + r;
                    if dc2 > lim * lim * (1.0 + 1e-9) {
                        continue;
                    }
                    let q = closest_on_triangle(p, &self.corners[s]);
                    let d2 = (q - p).length_squared();
                    if d2 < best || (found.is_none() && d2 <= best) {
                        best = d2;
                        reach = best.sqrt();
                        found = Some((s, q));
                    }
                }
            } else if top + 2 <= stack.len() {
                // The tree depth is log2(n / LEAF) < 32, so the stack never overflows.
                let (l, r) = (ni + 1, node.a as usize);
                let (dl, dr) = (box_dist2(&self.nodes[l], p), box_dist2(&self.nodes[r], p));
                // Push the farther child first so the nearer one is visited first; a child
                // already farther than the best is not pushed.
                let ((near, dn), (far, df)) = if dl <= dr {
                    ((l, dl), (r, dr))
                } else {
                    ((r, dr), (l, dl))
                };
                if df < best || (df == best && found.is_none()) {
                    stack[top] = (far as u32, df);
                    top += 1;
                }
                if dn < best || (dn == best && found.is_none()) {
                    stack[top] = (near as u32, dn);
                    top += 1;
                }
            }
        }
        found
    }

    /// True when some point of the surface lies within `r` of `p` (exact, f64).
    pub fn is_within(&self, p: Vec3, r: f64) -> bool {
        self.is_within_f64(p.as_dvec3(), r)
    }

    /// [`DistanceIndex::is_within`] for an f64 point.
    pub fn is_within_f64(&self, p: DVec3, r: f64) -> bool {
        self.within_slot(p, r).is_some()
    }

    /// Some slot whose triangle lies within `r` of `p` (the first met), for warm starts.
    pub(crate) fn within_slot(&self, p: DVec3, r: f64) -> Option<usize> {
        let r2 = r * r;
        let mut stack: [u32; 64] = [0; 64];
        let mut top = 1usize;
        while top > 0 {
            top -= 1;
            let ni = stack[top] as usize;
            let node = &self.nodes[ni];
            if box_dist2(node, p) > r2 {
                continue;
            }
            if node.count > 0 {
                let first = node.a as usize;
                for s in first..first + node.count as usize {
                    let q = closest_on_triangle(p, &self.corners[s]);
                    if (q - p).length_squared() <= r2 {
                        return Some(s);
                    }
                }
            } else if top + 2 <= stack.len() {
                // Nearer child on top.
                let (l, rr) = (ni + 1, node.a as usize);
                let (near, far) = if box_dist2(&self.nodes[l], p) <= box_dist2(&self.nodes[rr], p) {
                    (l, rr)
                } else {
                    (rr, l)
                };
                stack[top] = far as u32;
                stack[top + 1] = near as u32;
                top += 2;
            }
        }
        None
    }

    /// Corners of the triangle in `slot`.
    pub(crate) fn slot_corners(&self, slot: usize) -> &[DVec3; 3] {
        &self.corners[slot]
    }
}

/// Builds the subtree over `items` into `nodes` (whose first slot is the subtree root);
/// `offset` is the slot of `items[0]` in the whole array.
/// Returns the subtree's box (the union of its children's: every corner is looked at once).
fn build(
    mesh: &Mesh,
    items: &mut [(Vec3, u32)],
    nodes: &mut [Node],
    node: usize,
    offset: usize,
) -> (Vec3, Vec3) {
    let n = items.len();
    if n <= LEAF {
        let (mut min, mut max) = (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY));
        for &(_, i) in items.iter() {
            for p in mesh.corners(i as usize) {
                min = min.min(p);
                max = max.max(p);
            }
        }
        nodes[0] = Node {
            min,
            max,
            a: offset as u32,
            count: n as u32,
        };
        return (min, max);
    }
    let (mut cmin, mut cmax) = (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY));
    for &(c, _) in items.iter() {
        cmin = cmin.min(c);
        cmax = cmax.max(c);
    }
    let ext = cmax - cmin;
    let axis = if ext.x >= ext.y && ext.x >= ext.z {
        0
    } else if ext.y >= ext.z {
        1
    } else {
        2
    };
    let half = n / 2;
    // A total order (coordinate, then triangle id) makes the split independent of the
    // selection algorithm's internals.
    items.select_nth_unstable_by(half, |a, b| {
        a.0[axis].total_cmp(&b.0[axis]).then(a.1.cmp(&b.1))
    });
    let left_nodes = node_count(half);
    let (li, ri) = items.split_at_mut(half);
    let (head, rest) = nodes.split_at_mut(1);
    let (ln, rn) = rest.split_at_mut(left_nodes);
    let (lb, rb) = if n > 4096 {
        rayon::join(
            || build(mesh, li, ln, node + 1, offset),
            || build(mesh, ri, rn, node + 1 + left_nodes, offset + half),
        )
    } else {
        (
            build(mesh, li, ln, node + 1, offset),
            build(mesh, ri, rn, node + 1 + left_nodes, offset + half),
        )
    };
    let (min, max) = (lb.0.min(rb.0), lb.1.max(rb.1));
    head[0] = Node {
        min,
        max,
        a: (node + 1 + left_nodes) as u32,
        count: 0,
    };
    (min, max)
}

#[inline]
fn box_dist2(node: &Node, p: DVec3) -> f64 {
    let lo = node.min.as_dvec3();
    let hi = node.max.as_dvec3();
    let d = (lo - p).max(DVec3::ZERO).max(p - hi);
    d.length_squared()
}

/// The part of a triangle a closest point lies on (for pseudo-normal signs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriangleFeature {
    /// Corner `k`.
    Vertex(u8),
    /// Edge from corner `k` to corner `(k + 1) % 3`.
    Edge(u8),
    /// The interior.
    Face,
}

/// The point of triangle `t` closest to `p` (Ericson, *Real-Time Collision Detection*,
/// 5.1.5), in f64. Degenerate triangles give a point of their hull.
#[inline]
pub fn closest_on_triangle(p: DVec3, t: &[DVec3; 3]) -> DVec3 {
    closest_feature_on_triangle(p, t).0
}

/// [`closest_on_triangle`] with the feature (corner, edge or interior) the point lies on.
#[inline]
pub fn closest_feature_on_triangle(p: DVec3, t: &[DVec3; 3]) -> (DVec3, TriangleFeature) {
    use TriangleFeature::{Edge, Face, Vertex};
    let [a, b, c] = *t;
    let ab = b - a;
    let ac = c - a;
    let ap = p - a;
    let d1 = ab.dot(ap);
    let d2 = ac.dot(ap);
    if d1 <= 0.0 && d2 <= 0.0 {
        return (a, Vertex(0));
    }
    let bp = p - b;
    let d3 = ab.dot(bp);
    let d4 = ac.dot(bp);
    if d3 >= 0.0 && d4 <= d3 {
        return (b, Vertex(1));
    }
    let vc = d1 * d4 - d3 * d2;
    if vc <= 0.0 && d1 >= 0.0 && d3 <= 0.0 {
        let v = d1 / (d1 - d3);
        return (a + ab * v, Edge(0));
    }
    let cp = p - c;
    let d5 = ab.dot(cp);
    let d6 = ac.dot(cp);
    if d6 >= 0.0 && d5 <= d6 {
        return (c, Vertex(2));
    }
    let vb = d5 * d2 - d1 * d6;
    if vb <= 0.0 && d2 >= 0.0 && d6 <= 0.0 {
        let w = d2 / (d2 - d6);
        return (a + ac * w, Edge(2));
    }
    let va = d3 * d6 - d5 * d4;
    if va <= 0.0 && (d4 - d3) >= 0.0 && (d5 - d6) >= 0.0 {
        let w = (d4 - d3) / ((d4 - d3) + (d5 - d6));
        return (b + (c - b) * w, Edge(1));
    }
    let denom = va + vb + vc;
    if denom.abs() < f64::MIN_POSITIVE || !denom.is_finite() {
        // Collinear corners that fell through: the closest of the three edges.
        let mut best = (a, Vertex(0));
        let mut bd = f64::INFINITY;
        for k in 0..3u8 {
            let (s, e) = (t[k as usize], t[(k as usize + 1) % 3]);
            let d = e - s;
            let l2 = d.length_squared();
            let q = if l2 > 0.0 {
                s + d * ((p - s).dot(d) / l2).clamp(0.0, 1.0)
            } else {
                s
            };
            let dq = (q - p).length_squared();
            if dq < bd {
                bd = dq;
                best = (q, Edge(k));
            }
        }
        return best;
    }
    let v = vb / denom;
    let w = vc / denom;
    (a + ab * v + ac * w, Face)
}

/// Squared distance from `p` to triangle `t` (exact up to f64 rounding).
#[inline]
pub fn point_triangle_distance2(p: DVec3, t: &[DVec3; 3]) -> f64 {
    (closest_on_triangle(p, t) - p).length_squared()
}

/// One direction of a deviation: how far the samples of one surface lie from another.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DirectedDeviation {
    /// Largest sample distance, mm.
    pub max_mm: f64,
    /// Mean sample distance, mm.
    pub mean_mm: f64,
    /// Number of samples.
    pub samples: usize,
}

/// Deviation between two surfaces, measured in both directions (see
/// [`surface_deviation`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Deviation {
    /// Samples of the first mesh against the second.
    pub a_to_b: DirectedDeviation,
    /// Samples of the second mesh against the first.
    pub b_to_a: DirectedDeviation,
    /// The larger of the two maxima (the sampled symmetric Hausdorff distance), mm.
    pub max_mm: f64,
    /// Mean over the samples of both directions, mm.
    pub mean_mm: f64,
}

/// Samples of `mesh`: every referenced vertex once, then for every triangle the points of
/// its `subdivisions`-fold barycentric grid other than the corners (`subdivisions ≤ 1`: the
/// vertices only). The order is deterministic.
pub fn surface_samples(mesh: &Mesh, subdivisions: u32) -> Vec<DVec3> {
    let mut used = vec![false; mesh.positions.len()];
    for t in &mesh.triangles {
        for &i in t {
            if let Some(u) = used.get_mut(i as usize) {
                *u = true;
            }
        }
    }
    let mut out: Vec<DVec3> = mesh
        .positions
        .iter()
        .zip(&used)
        .filter(|(_, &u)| u)
        .map(|(p, _)| p.as_dvec3())
        .collect();
    let k = subdivisions as usize;
    if k >= 2 {
        let inner: Vec<DVec3> = mesh
            .triangles
            .par_iter()
            .enumerate()
            .flat_map_iter(|(t, _)| {
                let [a, b, c] = mesh.corners(t).map(|p| p.as_dvec3());
                let kf = k as f64;
                (0..=k).flat_map(move |i| {
                    (0..=k - i).filter_map(move |j| {
                        let l = k - i - j;
                        let corner = i == k || j == k || l == k;
                        (!corner).then(|| (a * i as f64 + b * j as f64 + c * l as f64) / kf)
                    })
                })
            })
            .collect();
        out.extend(inner);
    }
    out
}

/// Distances from `points` to the surface indexed by `to`: maximum and mean (parallel,
/// deterministic). Infinite when `to` is empty.
pub fn points_deviation(points: &[DVec3], to: &DistanceIndex) -> DirectedDeviation {
    if points.is_empty() {
        return DirectedDeviation::default();
    }
    let parts: Vec<(f64, f64)> = points
        .par_chunks(4096)
        .map(|chunk| {
            let mut max = 0.0f64;
            let mut sum = 0.0f64;
            for &p in chunk {
                let d = to
                    .closest_point_f64(p, f64::INFINITY)
                    .map_or(f64::INFINITY, |c| c.distance);
                max = max.max(d);
                sum += d;
            }
            (max, sum)
        })
        .collect();
    let max = parts.iter().fold(0.0f64, |m, p| m.max(p.0));
    let sum: f64 = parts.iter().map(|p| p.1).sum();
    DirectedDeviation {
        max_mm: max,
        mean_mm: sum / points.len() as f64,
        samples: points.len(),
    }
}

/// How far the surface of `from`, sampled as in [`surface_samples`], lies from the surface
/// of `to` (exact point-to-surface distance per sample).
pub fn directed_deviation(from: &Mesh, to: &DistanceIndex, subdivisions: u32) -> DirectedDeviation {
    points_deviation(&surface_samples(from, subdivisions), to)
}

/// Deviation between surfaces `a` and `b`, both ways: the samples of each (vertices plus a
/// `subdivisions`-fold barycentric grid per triangle, see [`surface_samples`]) against the
/// exact surface of the other.
///
/// Errors: [`MeshError::Empty`] when either mesh has no triangle; invalid meshes as in
/// [`Mesh::validate`].
///
/// ```
/// use osteon_mesh::{distance::surface_deviation, Mesh};
/// use osteon_geom::Vec3;
/// let a = Mesh::new(vec![Vec3::ZERO, Vec3::X, Vec3::Y], vec![[0, 1, 2]]).unwrap();
/// let b = a.map_positions(|p| p + Vec3::Z * 0.5);
/// let d = surface_deviation(&a, &b, 4).unwrap();
/// assert!((d.max_mm - 0.5).abs() < 1e-6 && (d.mean_mm - 0.5).abs() < 1e-6);
/// ```
pub fn surface_deviation(a: &Mesh, b: &Mesh, subdivisions: u32) -> Result<Deviation, MeshError> {
    let (ia, ib) = rayon::join(|| DistanceIndex::new(a), || DistanceIndex::new(b));
    let (ia, ib) = (ia?, ib?);
    let a_to_b = directed_deviation(a, &ib, subdivisions);
    let b_to_a = directed_deviation(b, &ia, subdivisions);
    Ok(combine(a_to_b, b_to_a))
}

/// The two directions combined into a [`Deviation`].
pub fn combine(a_to_b: DirectedDeviation, b_to_a: DirectedDeviation) -> Deviation {
    let n = a_to_b.samples + b_to_a.samples;
    let mean = if n == 0 {
        0.0
    } else {
        (a_to_b.mean_mm * a_to_b.samples as f64 + b_to_a.mean_mm * b_to_a.samples as f64) / n as f64
    };
    Deviation {
        a_to_b,
        b_to_a,
        max_mm: a_to_b.max_mm.max(b_to_a.max_mm),
        mean_mm: mean,
    }
}
