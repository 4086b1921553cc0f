//! A bounding-volume hierarchy over (a subset of) the triangles of a mesh, for the pair
//! queries of fit: which triangles of two meshes may touch, and the closest pair.
//!
//! Median split of the centroids along the longest axis; the tree's shape depends only on
//! the triangle count and positions, and every query returns its answer in a fixed order,
//! so results do not depend on the number of threads.

use osteon_geom::DVec3;
use osteon_mesh::Mesh;
use rayon::prelude::*;

use crate::geometry::{triangle_distance, Tri};

/// Triangles per leaf.
const LEAF: usize = 4;

#[derive(Clone, Copy, Debug)]
struct Node {
    min: DVec3,
    max: DVec3,
    /// Internal: index of the right child (the left follows the node). Leaf: first slot.
    a: u32,
    /// Leaf: number of triangles (> 0); internal: 0.
    count: u32,
}

/// The hierarchy (crate-private).
#[derive(Clone, Debug)]
pub(crate) struct TriBvh {
    nodes: Vec<Node>,
    /// Triangle id (into the mesh) of every slot.
    pub(crate) ids: Vec<u32>,
    /// Corners of every slot (f64, relative to nothing: world millimetres).
    pub(crate) corners: Vec<Tri>,
}

fn node_count(n: usize) -> usize {
    if n <= LEAF {
        1
    } else {
        1 + node_count(n / 2) + node_count(n - n / 2)
    }
}

impl TriBvh {
    /// A hierarchy over the triangles `subset` of `mesh` (ids must be valid; may be empty).
    pub(crate) fn new(mesh: &Mesh, subset: &[u32]) -> TriBvh {
        let n = subset.len();
        if n == 0 {
            return TriBvh {
                nodes: Vec::new(),
                ids: Vec::new(),
                corners: Vec::new(),
            };
        }
        let mut items: Vec<(DVec3, u32, Tri)> = subset
            .iter()
            .map(|&t| {
                let c = mesh.corners(t as usize).map(|p| p.as_dvec3());
                ((c[0] + c[1] + c[2]) / 3.0, t, c)
            })
            .collect();
        let mut nodes = vec![
            Node {
                min: DVec3::ZERO,
                max: DVec3::ZERO,
                a: 0,
                count: 0,
            };
            node_count(n)
        ];
        build(&mut items, &mut nodes, 0, 0);
        TriBvh {
            nodes,
            ids: items.iter().map(|i| i.1).collect(),
            corners: items.iter().map(|i| i.2).collect(),
        }
    }

    /// Number of triangles.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Every (slot of `self`, slot of `other`) whose boxes, grown by `margin`, overlap,
    /// sorted.
    pub(crate) fn overlapping_slots(&self, other: &TriBvh, margin: f64) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        if self.nodes.is_empty() || other.nodes.is_empty() {
            return out;
        }
        let mut stack: Vec<(u32, u32)> = vec![(0, 0)];
        while let Some((i, j)) = stack.pop() {
            let (a, b) = (&self.nodes[i as usize], &other.nodes[j as usize]);
            if !boxes_overlap(a, b, margin) {
                continue;
            }
            match (a.count > 0, b.count > 0) {
                (true, true) => {
                    for s in a.a..a.a + a.count {
                        for t in b.a..b.a + b.count {
                            out.push((s, t));
                        }
                    }
                }
                (false, true) => {
                    stack.push((i + 1, j));
                    stack.push((a.a, j));
                }
                (true, false) => {
                    stack.push((i, j + 1));
                    stack.push((i, b.a));
                }
                (false, false) => {
                    // Split the larger box.
                    if extent(a) >= extent(b) {
                        stack.push((i + 1, j));
                        stack.push((a.a, j));
                    } else {
                        stack.push((i, j + 1));
                        stack.push((i, b.a));
                    }
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// The closest pair of triangles (slots) between `self` and `other` at a distance below
    /// `bound`: (distance, point on self, point on other). Triangles must not intersect
    /// (the distance of crossing triangles is not zero here). Parallel over a frontier of
    /// node pairs; ties go to the first pair of the frontier order, so the answer does not
    /// depend on the thread count.
    pub(crate) fn closest_pair(&self, other: &TriBvh, bound: f64) -> Option<(f64, DVec3, DVec3)> {
        if self.nodes.is_empty() || other.nodes.is_empty() {
            return None;
        }
        // Expand breadth-first to a frontier of node pairs still within the bound.
        let mut frontier: Vec<(u32, u32)> = vec![(0, 0)];
        while frontier.len() < 256 {
            let mut next = Vec::with_capacity(frontier.len() * 2);
            let mut split_any = false;
            for &(i, j) in &frontier {
                let (a, b) = (&self.nodes[i as usize], &other.nodes[j as usize]);
                if box_box_dist(a, b) >= bound {
                    continue;
                }
                match self.children(i, j, other) {
                    Some(k) => {
                        next.extend(k);
                        split_any = true;
                    }
                    None => next.push((i, j)),
                }
            }
            frontier = next;
            if !split_any {
                break;
            }
        }
        let results: Vec<Option<(f64, DVec3, DVec3)>> = frontier
            .par_iter()
            .map(|&root| self.closest_from(other, root, bound))
            .collect();
        results
            .into_iter()
            .flatten()
            .fold(None, |acc: Option<(f64, DVec3, DVec3)>, r| match acc {
                Some(a) if a.0 <= r.0 => Some(a),
                _ => Some(r),
            })
    }

    /// The two child pairs of node pair `(i, j)` (splitting the larger internal box), or
    /// `None` for two leaves.
    fn children(&self, i: u32, j: u32, other: &TriBvh) -> Option<[(u32, u32); 2]> {
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

    fn closest_from(
        &self,
        other: &TriBvh,
        root: (u32, u32),
        bound: f64,
    ) -> Option<(f64, DVec3, DVec3)> {
        let mut best = bound;
        let mut found = None;
        let mut stack: Vec<(u32, u32)> = vec![root];
        while let Some((i, j)) = stack.pop() {
            let (a, b) = (&self.nodes[i as usize], &other.nodes[j as usize]);
            if box_box_dist(a, b) >= best {
                continue;
            }
            match self.children(i, j, other) {
                None => {
                    for s in a.a..a.a + a.count {
                        let ts = &self.corners[s as usize];
                        let (slo, shi) = tri_box(ts);
                        for t in b.a..b.a + b.count {
                            let tt = &other.corners[t as usize];
                            let (tlo, thi) = tri_box(tt);
                            // Cheap box test before the exact 15-feature distance.
                            let gap = (slo - thi).max(tlo - shi).max(DVec3::ZERO).length();
                            if gap >= best {
                                continue;
                            }
                            let (d, p, q) = triangle_distance(ts, tt);
                            if d < best {
                                best = d;
                                found = Some((d, p, q));
                            }
                        }
                    }
                }
                Some(kids) => {
                    let d0 = box_box_dist(
                        &self.nodes[kids[0].0 as usize],
                        &other.nodes[kids[0].1 as usize],
                    );
                    let d1 = box_box_dist(
                        &self.nodes[kids[1].0 as usize],
                        &other.nodes[kids[1].1 as usize],
                    );
                    // Nearer pair on top of the stack.
                    if d0 <= d1 {
                        stack.push(kids[1]);
                        stack.push(kids[0]);
                    } else {
                        stack.push(kids[0]);
                        stack.push(kids[1]);
                    }
                }
            }
        }
        found
    }
}

fn tri_box(t: &Tri) -> (DVec3, DVec3) {
    (t[0].min(t[1]).min(t[2]), t[0].max(t[1]).max(t[2]))
}

fn build(items: &mut [(DVec3, u32, Tri)], nodes: &mut [Node], node: usize, offset: usize) {
    let n = items.len();
    let (mut min, mut max) = (DVec3::splat(f64::INFINITY), DVec3::splat(f64::NEG_INFINITY));
    for it in items.iter() {
        for p in it.2 {
            min = min.min(p);
            max = max.max(p);
        }
    }
    if n <= LEAF {
        nodes[0] = Node {
            min,
            max,
            a: offset as u32,
            count: n as u32,
        };
        return;
    }
    let (mut cmin, mut cmax) = (DVec3::splat(f64::INFINITY), DVec3::splat(f64::NEG_INFINITY));
    for it in items.iter() {
        cmin = cmin.min(it.0);
        cmax = cmax.max(it.0);
    }
    let e = cmax - cmin;
    let axis = if e.x >= e.y && e.x >= e.z {
        0
    } else if e.y >= e.z {
        1
    } else {
        2
    };
    let half = n / 2;
    items.select_nth_unstable_by(half, |a, b| {
        a.0[axis].total_cmp(&b.0[axis]).then(a.1.cmp(&b.1))
    });
    let left_nodes = node_count(half);
    nodes[0] = Node {
        min,
        max,
        a: (node + 1 + left_nodes) as u32,
        count: 0,
    };
    let (li, ri) = items.split_at_mut(half);
    let (ln, rn) = nodes[1..].split_at_mut(left_nodes);
    if n > 8192 {
        rayon::join(
            || build(li, ln, node + 1, offset),
            || build(ri, rn, node + 1 + left_nodes, offset + half),
        );
    } else {
        build(li, ln, node + 1, offset);
        build(ri, rn, node + 1 + left_nodes, offset + half);
    }
}

fn boxes_overlap(a: &Node, b: &Node, margin: f64) -> bool {
    a.min.x <= b.max.x + margin
        && b.min.x <= a.max.x + margin
        && a.min.y <= b.max.y + margin
        && b.min.y <= a.max.y + margin
        && a.min.z <= b.max.z + margin
        && b.min.z <= a.max.z + margin
}

fn extent(a: &Node) -> f64 {
    (a.max - a.min).length_squared()
}

fn box_box_dist(a: &Node, b: &Node) -> f64 {
    let d = (a.min - b.max).max(b.min - a.max).max(DVec3::ZERO);
    d.length()
}
