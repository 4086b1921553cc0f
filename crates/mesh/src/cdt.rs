//! Constrained Delaunay triangulation (CDT) of points and segments in the plane.
//!
//! In: points `[x, y]` (`f64`, any units) and constraint segments (pairs of point indices).
//! Out: counter-clockwise triangles over the input indices such that every constraint is
//! a union of triangle edges and every other edge is locally Delaunay (the circumcircle of
//! each triangle contains no point visible from it across an unconstrained edge).
//!
//! Method: Bowyer–Watson incremental insertion inside an auxiliary triangle, then each
//! constraint is inserted by removing the triangles its segment crosses and
//! re-triangulating the two pseudo-polygons on either side by Anglada's recursion
//! (M. V. Anglada, *An improved incremental algorithm for constructing restricted Delaunay
//! triangulations*, Computers & Graphics 1997). Every combinatorial decision is one of
//! Shewchuk's exact predicates (`robust` crate: `orient2d`, `incircle`), so the result does
//! not depend on rounding. Exact duplicate points are merged (the first index is kept); a
//! point lying exactly on a constraint splits it there.
//!
//! [`Domain`] chooses what is returned: everything but the auxiliary triangle's fan
//! ([`Domain::Hull`]), or the region enclosed by the constraints, by parity
//! ([`Domain::Enclosed`]: a polygon, with holes when nested loops are given), or everything
//! inside the outermost loops ([`Domain::Inside`]: a polygon subdivided by curves).
//!
//! Costs are `O(n²)` in the worst case (a walk locates each point, the constraint
//! recovery rebuilds an edge map): meant for the small problems of mesh repair, a cut
//! triangle with a few dozen points or a planar hole of a few thousand.

use std::collections::{HashMap, HashSet};

use robust::{incircle, orient2d, Coord};

/// Which triangles [`triangulate`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// All triangles of the triangulation of the points (their convex hull).
    Hull,
    /// The triangles inside the constraints by the even–odd rule: reachable from outside
    /// by crossing an odd number of constraint edges.
    Enclosed,
    /// The triangles that cannot be reached from outside without crossing a constraint
    /// (inside the outermost loops; curves and loops inside them only subdivide).
    Inside,
}

/// Why [`triangulate`] failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CdtError {
    /// A coordinate is NaN or infinite.
    #[error("point {0} has a non-finite coordinate")]
    NonFinite(usize),
    /// A constraint refers to a point that does not exist or joins a point to itself.
    #[error("constraint {0} is invalid (index out of range or zero length)")]
    BadConstraint(usize),
    /// Two constraints cross at a point that is not an input point.
    #[error("constraints ({0}, {1}) and ({2}, {3}) cross")]
    Crossing(u32, u32, u32, u32),
    /// Fewer than three distinct, non-collinear points.
    #[error("fewer than three non-collinear points")]
    Degenerate,
}

/// Triangulates `points` with `constraints` (see the module documentation). The returned
/// triangles are counter-clockwise and index `points`; duplicates of a point are
/// represented by its first occurrence.
///
/// Errors: [`CdtError`].
pub fn triangulate(
    points: &[[f64; 2]],
    constraints: &[[u32; 2]],
    domain: Domain,
) -> Result<Vec<[u32; 3]>, CdtError> {
    if let Some(i) = points
        .iter()
        .position(|p| !p[0].is_finite() || !p[1].is_finite())
    {
        return Err(CdtError::NonFinite(i));
    }
    let n = points.len();
    for (k, c) in constraints.iter().enumerate() {
        if c[0] as usize >= n || c[1] as usize >= n {
            return Err(CdtError::BadConstraint(k));
        }
    }
    // Exact duplicates map to their first occurrence.
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by(|&a, &b| {
        let (p, q) = (points[a as usize], points[b as usize]);
        p[0].total_cmp(&q[0])
            .then(p[1].total_cmp(&q[1]))
            .then(a.cmp(&b))
    });
    let mut rep: Vec<u32> = (0..n as u32).collect();
    for w in 1..order.len() {
        let (a, b) = (order[w - 1] as usize, order[w] as usize);
        if points[a] == points[b] {
            rep[b] = rep[a];
        }
    }
    let mut t = Tri::new(points);
    for i in 0..n as u32 {
        if rep[i as usize] == i {
            t.insert(i);
        }
    }
    if !t.nondegenerate() {
        return Err(CdtError::Degenerate);
    }
    let mut fixed: HashSet<(u32, u32)> = HashSet::with_capacity(constraints.len());
    // The hull is the domain enclosed by its own edges: the auxiliary triangle's
    // corners are finite, so the fan around them may have cut into the hull.
    let hull = if domain == Domain::Hull {
        let unique: Vec<u32> = order
            .iter()
            .copied()
            .filter(|&i| rep[i as usize] == i)
            .collect();
        convex_hull(points, &unique)
    } else {
        Vec::new()
    };
    for k in 0..hull.len() {
        t.constrain(hull[k], hull[(k + 1) % hull.len()], &mut fixed)?;
    }
    for (k, c) in constraints.iter().enumerate() {
        let (a, b) = (rep[c[0] as usize], rep[c[1] as usize]);
        if a == b {
            return Err(CdtError::BadConstraint(k));
        }
        t.constrain(a, b, &mut fixed)?;
    }
    let mut fixed: Vec<(u32, u32)> = fixed.into_iter().collect();
    fixed.sort_unstable();
    Ok(t.output(&fixed, domain))
}

/// Andrew's monotone chain over `sorted` (indices sorted by x then y), counter-clockwise,
/// without collinear points (exact `orient2d`).
fn convex_hull(p: &[[f64; 2]], sorted: &[u32]) -> Vec<u32> {
    if sorted.len() < 3 {
        return Vec::new();
    }
    let o =
        |a: u32, b: u32, c: u32| orient2d(c2(p[a as usize]), c2(p[b as usize]), c2(p[c as usize]));
    let mut h: Vec<u32> = Vec::with_capacity(2 * sorted.len());
    for pass in 0..2 {
        let start = h.len();
        let it: Box<dyn Iterator<Item = &u32>> = if pass == 0 {
            Box::new(sorted.iter())
        } else {
            Box::new(sorted.iter().rev())
        };
        for &i in it {
            while h.len() >= start + 2 && o(h[h.len() - 2], h[h.len() - 1], i) <= 0.0 {
                h.pop();
            }
            h.push(i);
        }
        h.pop();
    }
    h
}

/// The triangulation under construction: points (input ones then the three auxiliary
/// corners), counter-clockwise triangles (dead ones marked) and a directed edge map.
struct Tri {
    p: Vec<[f64; 2]>,
    tris: Vec<[u32; 3]>,
    alive: Vec<bool>,
    edges: HashMap<(u32, u32), u32>,
    last: u32,
    n: u32,
}

fn c2(p: [f64; 2]) -> Coord<f64> {
    Coord { x: p[0], y: p[1] }
}

impl Tri {
    fn new(points: &[[f64; 2]]) -> Tri {
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in points {
            for k in 0..2 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        if points.is_empty() {
            (lo, hi) = ([0.0; 2], [1.0; 2]);
        }
        let c = [0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1])];
        let d = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1e-300);
        // Far enough that no circumcircle of input points reaches past the corners in
        // practice; the predicates are exact either way.
        let s = 1e4 * d;
        let mut p = points.to_vec();
        let n = p.len() as u32;
        p.push([c[0] - 2.0 * s, c[1] - s]);
        p.push([c[0] + 2.0 * s, c[1] - s]);
        p.push([c[0], c[1] + 2.0 * s]);
        let mut t = Tri {
            p,
            tris: Vec::new(),
            alive: Vec::new(),
            edges: HashMap::new(),
            last: 0,
            n,
        };
        t.add([n, n + 1, n + 2]);
        t
    }

    fn o(&self, a: u32, b: u32, c: u32) -> f64 {
        orient2d(
            c2(self.p[a as usize]),
            c2(self.p[b as usize]),
            c2(self.p[c as usize]),
        )
    }

    fn add(&mut self, t: [u32; 3]) -> u32 {
        let id = self.tris.len() as u32;
        for k in 0..3 {
            self.edges.insert((t[k], t[(k + 1) % 3]), id);
        }
        self.tris.push(t);
        self.alive.push(true);
        self.last = id;
        id
    }

    fn kill(&mut self, id: u32) {
        let t = self.tris[id as usize];
        for k in 0..3 {
            if self.edges.get(&(t[k], t[(k + 1) % 3])) == Some(&id) {
                self.edges.remove(&(t[k], t[(k + 1) % 3]));
            }
        }
        self.alive[id as usize] = false;
    }

    /// A live triangle containing point `q` (closed), by a walk from the last triangle made,
    /// with a scan of all triangles as the fallback.
    fn locate(&self, q: u32) -> u32 {
        let mut cur = self.last;
        let limit = 4 * self.tris.len() + 16;
        'walk: for _ in 0..limit {
            if !self.alive[cur as usize] {
                break;
            }
            let t = self.tris[cur as usize];
            for k in 0..3 {
                let (a, b) = (t[k], t[(k + 1) % 3]);
                if self.o(a, b, q) < 0.0 {
                    match self.edges.get(&(b, a)) {
                        Some(&nb) => {
                            cur = nb;
                            continue 'walk;
                        }
                        None => break 'walk,
                    }
                }
            }
            return cur;
        }
        (0..self.tris.len() as u32)
            .find(|&id| {
                self.alive[id as usize] && {
                    let t = self.tris[id as usize];
                    (0..3).all(|k| self.o(t[k], t[(k + 1) % 3], q) >= 0.0)
                }
            })
            .unwrap_or(0)
    }

    fn in_circle(&self, t: [u32; 3], q: u32) -> bool {
        let [a, b, c] = t.map(|i| c2(self.p[i as usize]));
        incircle(a, b, c, c2(self.p[q as usize])) > 0.0
    }

    /// Bowyer–Watson: removes the triangles whose circumcircle contains `q` (a connected
    /// cavity around the containing triangle) and fans the cavity from `q`.
    fn insert(&mut self, q: u32) {
        let start = self.locate(q);
        let mut cavity = vec![start];
        let mut inside = HashMap::new();
        inside.insert(start, true);
        let mut k = 0;
        while k < cavity.len() {
            let t = self.tris[cavity[k] as usize];
            k += 1;
            for e in 0..3 {
                let (a, b) = (t[e], t[(e + 1) % 3]);
                if let Some(&nb) = self.edges.get(&(b, a)) {
                    if inside.contains_key(&nb) {
                        continue;
                    }
                    let yes = self.in_circle(self.tris[nb as usize], q);
                    inside.insert(nb, yes);
                    if yes {
                        cavity.push(nb);
                    }
                }
            }
        }
        // Boundary edges of the cavity, in a deterministic order (cavity order).
        let mut boundary = Vec::new();
        for &id in &cavity {
            let t = self.tris[id as usize];
            for e in 0..3 {
                let (a, b) = (t[e], t[(e + 1) % 3]);
                let across = self.edges.get(&(b, a)).copied();
                if across.is_none_or(|nb| !inside.get(&nb).copied().unwrap_or(false)) {
                    boundary.push((a, b));
                }
            }
        }
        for &id in &cavity {
            self.kill(id);
        }
        for (a, b) in boundary {
            // A boundary edge collinear with q would make a flat triangle: only possible
            // when q lies on it, and then the triangle beyond is in the cavity too.
            if self.o(a, b, q) > 0.0 {
                self.add([a, b, q]);
            }
        }
    }

    fn nondegenerate(&self) -> bool {
        (0..self.tris.len()).any(|i| self.alive[i] && self.tris[i].iter().all(|&v| v < self.n))
    }

    /// Makes the segment `a–b` a union of edges, splitting it at input points lying on it.
    fn constrain(
        &mut self,
        a: u32,
        b: u32,
        fixed: &mut HashSet<(u32, u32)>,
    ) -> Result<(), CdtError> {
        let mut stack = vec![(a, b)];
        while let Some((a, b)) = stack.pop() {
            if self.edges.contains_key(&(a, b)) || self.edges.contains_key(&(b, a)) {
                fixed.insert((a.min(b), a.max(b)));
                continue;
            }
            // Walk from a: the triangle around a whose opposite edge the segment crosses,
            // or a vertex exactly on the segment.
            let fan: Vec<u32> = (0..self.tris.len() as u32)
                .filter(|&id| self.alive[id as usize] && self.tris[id as usize].contains(&a))
                .collect();
            let mut first: Option<(u32, u32, u32)> = None; // (triangle, left, right)
            let mut on: Option<u32> = None;
            for &id in &fan {
                let t = self.tris[id as usize];
                let k = t.iter().position(|&v| v == a).unwrap_or(0);
                let (u, v) = (t[(k + 1) % 3], t[(k + 2) % 3]);
                let (su, sv) = (self.o(a, b, u), self.o(a, b, v));
                let forward = |x: u32| {
                    let (pa, pb, px) = (self.p[a as usize], self.p[b as usize], self.p[x as usize]);
                    (px[0] - pa[0]) * (pb[0] - pa[0]) + (px[1] - pa[1]) * (pb[1] - pa[1]) > 0.0
                };
                if su == 0.0 && forward(u) {
                    on = Some(u);
                    break;
                }
                if sv == 0.0 && forward(v) {
                    on = Some(v);
                    break;
                }
                // a→u→v counter-clockwise: the segment leaves through uv when u is right of
                // it and v left.
                if su < 0.0 && sv > 0.0 {
                    first = Some((id, v, u));
                    break;
                }
            }
            if let Some(c) = on {
                if c >= self.n {
                    return Err(CdtError::Crossing(a, b, a, c));
                }
                stack.push((c, b));
                stack.push((a, c));
                continue;
            }
            let Some((t0, mut l, mut r)) = first else {
                return Err(CdtError::Degenerate);
            };
            let mut removed = vec![t0];
            let mut left = Vec::new();
            let mut right = Vec::new();
            left.push(l);
            right.push(r);
            let mut split: Option<u32> = None;
            loop {
                let key = (l.min(r), l.max(r));
                if fixed.contains(&key) {
                    return Err(CdtError::Crossing(a, b, l, r));
                }
                // Across the edge r→l (seen from the current triangle it is l→r reversed).
                let Some(&nb) = self.edges.get(&(l, r)) else {
                    return Err(CdtError::Degenerate);
                };
                removed.push(nb);
                let t = self.tris[nb as usize];
                let k = t.iter().position(|&v| v != l && v != r).unwrap_or(0);
                let x = t[k];
                if x == b {
                    break;
                }
                let s = self.o(a, b, x);
                if s == 0.0 {
                    // The segment passes through x: finish a–x here, x–b later.
                    split = Some(x);
                    break;
                }
                if s > 0.0 {
                    l = x;
                    left.push(x);
                } else {
                    r = x;
                    right.push(x);
                }
            }
            let end = split.unwrap_or(b);
            if end >= self.n {
                return Err(CdtError::Crossing(a, b, a, end));
            }
            for &id in &removed {
                self.kill(id);
            }
            // Left chain runs a → end on the left: triangles (a, end, c) must be CCW with c
            // left; the right chain mirrored.
            let mut out = Vec::new();
            self.pseudo_polygon(a, end, &left, &mut out);
            // The right chain, seen from end→a, runs the other way.
            right.reverse();
            let mut rev = Vec::new();
            self.pseudo_polygon(end, a, &right, &mut rev);
            for t in out.into_iter().chain(rev) {
                self.add(t);
            }
            fixed.insert((a.min(end), a.max(end)));
            if end != b {
                stack.push((end, b));
            }
        }
        Ok(())
    }

    /// Triangulates the pseudo-polygon of edge `a→b` and the chain `chain` lying to its left
    /// (Anglada): the chain vertex whose circle with `a`, `b` holds no other, recursively.
    fn pseudo_polygon(&self, a: u32, b: u32, chain: &[u32], out: &mut Vec<[u32; 3]>) {
        if chain.is_empty() {
            return;
        }
        let mut ci = 0;
        for (i, &d) in chain.iter().enumerate().skip(1) {
            if self.in_circle([a, b, chain[ci]], d) {
                ci = i;
            }
        }
        let c = chain[ci];
        self.pseudo_polygon(a, c, &chain[..ci], out);
        self.pseudo_polygon(c, b, &chain[ci + 1..], out);
        out.push([a, b, c]);
    }

    fn output(&self, fixed: &[(u32, u32)], domain: Domain) -> Vec<[u32; 3]> {
        let live: Vec<u32> = (0..self.tris.len() as u32)
            .filter(|&i| self.alive[i as usize])
            .collect();
        {
            {
                // Fewest constraint edges crossed from the auxiliary corners' fan (0-1
                // breadth-first search); odd counts are inside. Chords inside a polygon
                // do not flip its inside: both sides are one crossing from outside.
                let mut dist = vec![u32::MAX; self.tris.len()];
                let mut queue = std::collections::VecDeque::new();
                for &i in &live {
                    if self.tris[i as usize].iter().any(|&v| v >= self.n) {
                        dist[i as usize] = 0;
                        queue.push_back(i);
                    }
                }
                while let Some(id) = queue.pop_front() {
                    let d = dist[id as usize];
                    let t = self.tris[id as usize];
                    for k in 0..3 {
                        let (u, v) = (t[k], t[(k + 1) % 3]);
                        if let Some(&nb) = self.edges.get(&(v, u)) {
                            let w = u32::from(fixed.binary_search(&(u.min(v), u.max(v))).is_ok());
                            if d + w < dist[nb as usize] {
                                dist[nb as usize] = d + w;
                                if w == 0 {
                                    queue.push_front(nb);
                                } else {
                                    queue.push_back(nb);
                                }
                            }
                        }
                    }
                }
                live.into_iter()
                    .filter(|&i| {
                        let d = dist[i as usize];
                        d != u32::MAX
                            && if domain == Domain::Inside {
                                d >= 1
                            } else {
                                d % 2 == 1
                            }
                    })
                    .map(|i| self.tris[i as usize])
                    .filter(|t| t.iter().all(|&v| v < self.n))
                    .collect()
            }
        }
    }
}
