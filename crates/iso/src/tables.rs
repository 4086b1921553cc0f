//! The marching-cubes case table, derived programmatically (at first use) instead of copied
//! from Lorensen & Cline's hand-made table.
//!
//! Input: the 256 inside/outside configurations of a cube's 8 corners. Output, per
//! configuration: triangles as triples of cube-edge numbers, counter-clockwise seen from the
//! outside (the side of the outside corners), plus the 12-bit mask of crossing edges.
//!
//! Construction, per configuration:
//! 1. on each of the 6 faces, segments join the crossing points of the face's edges. Every
//!    maximal cyclic run of *outside* corners on the face gets one segment, cutting it off.
//!    On an ambiguous face (two diagonal corners inside) this *joins the inside corners*:
//!    inside is 26-connected, outside 6-connected — the same connectivity as the bone
//!    selection's connected components, so a component kept by `--keep largest` is one
//!    closed surface. (This is the (26, 6) pair of Lachaud & Montanvert, "Continuous analogs
//!    of digital boundaries", Graphical Models 62, 2000, under which the surface is a closed
//!    2-manifold separating the digital components.) The rule depends only on the face's 4
//!    values, so the two cubes sharing a face build the same segments, traversed in opposite
//!    directions.
//! 2. The segments are oriented with the inside corners on the right when the face is seen
//!    from outside the cube, and chained into closed loops (each crossing edge lies on exactly
//!    two faces, so it starts exactly one segment and ends exactly one).
//! 3. Each loop is triangulated as one disk: the minimum-area triangulation of the loop at the
//!    edge midpoints (an O(n³) dynamic programme), where a diagonal may not join two edges of
//!    a common cube face (such a chord would lie in the face and could be built by the
//!    neighbouring cube too). The one exception is a cube whose only inside corners are the
//!    two ends of a body diagonal: 26-connectivity joins them through the cube, so their two
//!    3-loops are joined by a tube (a 6-triangle antiprism) instead of two disks. Diagonals are
//!    therefore interior to one cube, every boundary edge of a disk or tube is a face segment
//!    shared with exactly one neighbour, and each crossing grid edge has one fan in each of
//!    the 4 cubes around it: the surface is a closed, oriented combinatorial 2-manifold.
//!
//! The 12 edge midpoints of a cube lie on one sphere (radius √½ about the centre), so no three
//! of them are collinear: no triangle of a mask surface has zero area.
//!
//! Corner `c` has offsets `(c & 1, (c >> 1) & 1, (c >> 2) & 1)` along (i, j, k). Edges:
//! `0..4` run along i at (dj, dk) = `(e & 1, e >> 1)`, `4..8` along j at (di, dk), `8..12`
//! along k at (di, dj).

use std::sync::OnceLock;

/// Most triangles one cube can hold: a closed loop set over ≤ 12 crossing edges.
pub(crate) const MAX_TRIS: usize = 10;

/// One configuration's triangles.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Case {
    /// Number of triangles used in `tris`.
    pub count: u8,
    /// Triangles as cube-edge numbers, counter-clockwise seen from outside.
    pub tris: [[u8; 3]; MAX_TRIS],
}

/// The full table, in both windings.
#[derive(Debug)]
pub(crate) struct Table {
    /// Winding for a right-handed index → world map.
    pub outward: [Case; 256],
    /// Reversed winding, for a mirrored grid (direction determinant < 0).
    pub mirrored: [Case; 256],
}

/// The table, built on first use.
pub(crate) fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(build)
}

/// The two corners of edge `e` (lower corner first).
pub(crate) fn edge_corners(e: usize) -> (usize, usize) {
    let axis = e / 4;
    let a = e & 1;
    let b = (e >> 1) & 1;
    let lo = match axis {
        0 => (a << 1) | (b << 2),
        1 => a | (b << 2),
        _ => a | (b << 1),
    };
    (lo, lo | (1 << axis))
}

/// The edge joining corners `a` and `b`, which must differ in exactly one bit.
fn edge_of(a: usize, b: usize) -> usize {
    let d = a ^ b;
    debug_assert!(d.count_ones() == 1);
    let axis = d.trailing_zeros() as usize;
    let lo = a & b;
    let (p, q) = match axis {
        0 => ((lo >> 1) & 1, (lo >> 2) & 1),
        1 => (lo & 1, (lo >> 2) & 1),
        _ => (lo & 1, (lo >> 1) & 1),
    };
    axis * 4 + p + 2 * q
}

fn corner_pos(c: usize) -> [f64; 3] {
    [(c & 1) as f64, ((c >> 1) & 1) as f64, ((c >> 2) & 1) as f64]
}

fn midpoint(e: usize) -> [f64; 3] {
    let (a, b) = edge_corners(e);
    let (p, q) = (corner_pos(a), corner_pos(b));
    [
        0.5 * (p[0] + q[0]),
        0.5 * (p[1] + q[1]),
        0.5 * (p[2] + q[2]),
    ]
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// The 6 faces as 4 corners in counter-clockwise order seen from outside the cube.
fn faces() -> [[usize; 4]; 6] {
    let mut out = [[0; 4]; 6];
    let mut n = 0;
    for axis in 0..3 {
        let (u, v) = ((axis + 1) % 3, (axis + 2) % 3);
        for side in 0..2 {
            let c = |du: usize, dv: usize| (side << axis) | (du << u) | (dv << v);
            let mut quad = [c(0, 0), c(1, 0), c(1, 1), c(0, 1)];
            // Outward normal is ±axis; reverse the quad when it turns the other way.
            let p: Vec<[f64; 3]> = quad.iter().map(|&q| corner_pos(q)).collect();
            let nrm = cross(sub(p[1], p[0]), sub(p[2], p[0]));
            let sign = if side == 1 { 1.0 } else { -1.0 };
            if nrm[axis] * sign < 0.0 {
                quad.reverse();
            }
            out[n] = quad;
            n += 1;
        }
    }
    out
}

/// Bit mask of the faces (numbered as in [`faces`]) that contain edge `e`.
fn faces_of_edge(e: usize, faces: &[[usize; 4]; 6]) -> u8 {
    let (a, b) = edge_corners(e);
    let mut m = 0;
    for (f, quad) in faces.iter().enumerate() {
        if quad.contains(&a) && quad.contains(&b) {
            m |= 1 << f;
        }
    }
    m
}

fn tri_area(a: [f64; 3], b: [f64; 3], c: [f64; 3]) -> f64 {
    let n = cross(sub(b, a), sub(c, a));
    0.5 * dot(n, n).sqrt()
}

/// Minimum-area triangulation of the closed polygon `lp` (cube-edge numbers), keeping its
/// orientation, with no diagonal between two edges of a common face.
fn triangulate(lp: &[usize], edge_faces: &[u8; 12]) -> Vec<[u8; 3]> {
    let n = lp.len();
    assert!(n >= 3, "a loop has at least three crossings");
    let allowed = |a: usize, b: usize| -> bool {
        // Polygon sides (consecutive, or first/last) are always allowed.
        b == a + 1 || (a == 0 && b == n - 1) || edge_faces[lp[a]] & edge_faces[lp[b]] == 0
    };
    let pos: Vec<[f64; 3]> = lp.iter().map(|&e| midpoint(e)).collect();
    let mut cost = vec![vec![f64::INFINITY; n]; n];
    let mut split = vec![vec![usize::MAX; n]; n];
    for i in 0..n - 1 {
        cost[i][i + 1] = 0.0;
    }
    for len in 2..n {
        for i in 0..n - len {
            let j = i + len;
            if !allowed(i, j) {
                continue;
            }
            for k in i + 1..j {
                let c = cost[i][k] + cost[k][j] + tri_area(pos[i], pos[k], pos[j]);
                // Strict `<` keeps the first best split: the table is reproducible.
                if c < cost[i][j] {
                    cost[i][j] = c;
                    split[i][j] = k;
                }
            }
        }
    }
    assert!(
        cost[0][n - 1].is_finite(),
        "loop {lp:?} has no triangulation without face chords"
    );
    let mut out = Vec::new();
    let mut stack = vec![(0, n - 1)];
    while let Some((i, j)) = stack.pop() {
        if j - i < 2 {
            continue;
        }
        let k = split[i][j];
        out.push([lp[i] as u8, lp[k] as u8, lp[j] as u8]);
        stack.push((i, k));
        stack.push((k, j));
    }
    out
}

/// Closed, oriented loops of crossing edges for configuration `case`.
pub(crate) fn loops(case: usize) -> Vec<Vec<usize>> {
    let faces = faces();
    let inside = |c: usize| (case >> c) & 1 == 1;
    let mut next = [usize::MAX; 12];
    for quad in &faces {
        let ins: Vec<bool> = quad.iter().map(|&c| inside(c)).collect();
        let count = ins.iter().filter(|&&b| b).count();
        if count == 0 || count == 4 {
            continue;
        }
        // A run of outside corners starts at position s when s is outside and s-1 is not; the
        // segment runs from the edge where the run ends back to the edge where it starts, so
        // the inside corners stay on the segment's right (seen from outside the cube).
        for s in 0..4 {
            if ins[s] || !ins[(s + 3) % 4] {
                continue;
            }
            let mut t = s;
            while !ins[(t + 1) % 4] {
                t = (t + 1) % 4;
            }
            let entry = edge_of(quad[t], quad[(t + 1) % 4]);
            let exit = edge_of(quad[(s + 3) % 4], quad[s]);
            debug_assert_eq!(next[entry], usize::MAX);
            next[entry] = exit;
        }
    }
    let mut seen = [false; 12];
    let mut out = Vec::new();
    for start in 0..12 {
        if next[start] == usize::MAX || seen[start] {
            continue;
        }
        let mut lp = Vec::new();
        let mut e = start;
        while !seen[e] {
            seen[e] = true;
            lp.push(e);
            e = next[e];
        }
        debug_assert_eq!(e, start, "segments chain into closed loops");
        out.push(lp);
    }
    out
}

/// True when the only inside corners are the two ends of a body diagonal (c and 7 − c).
pub(crate) fn is_body_diagonal(case: usize) -> bool {
    (case as u8).count_ones() == 2 && (0..4).any(|c| case == (1 << c) | (1 << (7 - c)))
}

/// The tube joining two oriented 3-loops: triangles (a_i, a_{i+1}, c_i) and
/// (c_i, a_{i+1}, c_{i+1}) with c_i = b_{k−i}, which traverse each loop's edges in the loop's
/// own direction (as its disk would, so neighbours still match) and every inner edge once in
/// each direction. The rotation k giving the shortest rungs is used.
fn tube(a: &[usize], b: &[usize]) -> Vec<[u8; 3]> {
    debug_assert_eq!((a.len(), b.len()), (3, 3));
    let rung = |k: usize| -> f64 {
        (0..3)
            .map(|i| {
                let d = sub(midpoint(a[i]), midpoint(b[(k + 3 - i) % 3]));
                dot(d, d).sqrt()
            })
            .sum()
    };
    let k = (0..3)
        .min_by(|&x, &y| rung(x).total_cmp(&rung(y)))
        .unwrap_or(0);
    let c = |i: usize| b[(k + 3 - (i % 3)) % 3] as u8;
    let mut out = Vec::with_capacity(6);
    for i in 0..3 {
        let (ai, an) = (a[i] as u8, a[(i + 1) % 3] as u8);
        out.push([ai, an, c(i)]);
        out.push([c(i), an, c(i + 1)]);
    }
    out
}

fn build() -> Table {
    let faces = faces();
    let mut edge_faces = [0u8; 12];
    for (e, f) in edge_faces.iter_mut().enumerate() {
        *f = faces_of_edge(e, &faces);
    }
    let empty = Case {
        count: 0,
        tris: [[0; 3]; MAX_TRIS],
    };
    let mut outward = [empty; 256];
    let mut mirrored = [empty; 256];
    for case in 0..256 {
        let lps = loops(case);
        let mut tris = Vec::new();
        if is_body_diagonal(case) {
            tris.extend(tube(&lps[0], &lps[1]));
        } else {
            for lp in &lps {
                tris.extend(triangulate(lp, &edge_faces));
            }
        }
        assert!(tris.len() <= MAX_TRIS);
        outward[case].count = tris.len() as u8;
        mirrored[case].count = tris.len() as u8;
        for (t, tri) in tris.iter().enumerate() {
            outward[case].tris[t] = *tri;
            mirrored[case].tris[t] = [tri[0], tri[2], tri[1]];
        }
    }
    Table { outward, mirrored }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_round_trip() {
        for e in 0..12 {
            let (a, b) = edge_corners(e);
            assert_eq!(edge_of(a, b), e);
            assert_eq!(edge_of(b, a), e);
        }
    }

    #[test]
    fn every_case_builds() {
        let t = table();
        for case in 0..256usize {
            // Crossing edges are exactly the edges whose corners differ.
            let mut want = 0u16;
            for e in 0..12 {
                let (a, b) = edge_corners(e);
                if ((case >> a) ^ (case >> b)) & 1 == 1 {
                    want |= 1 << e;
                }
            }
            let lps = loops(case);
            let mut got = 0u16;
            for lp in &lps {
                for &e in lp {
                    assert_eq!(got & (1 << e), 0, "case {case}: edge {e} on two loops");
                    got |= 1 << e;
                }
            }
            assert_eq!(got, want, "case {case}");
            // Euler: V − E + F = 1 per disk, so triangles = crossings − 2·loops.
            // A tube (annulus, χ = 0: as many triangles as vertices) has four more triangles
            // than two disks.
            let n_loops = lps.len();
            let tubes = if is_body_diagonal(case) { 1 } else { 0 };
            assert_eq!(
                t.outward[case].count as usize,
                want.count_ones() as usize - 2 * n_loops + 4 * tubes
            );
        }
    }

    #[test]
    fn single_corner_faces_away_from_it() {
        // Corner 0 inside: the triangle's normal must point away from the origin.
        let c = table().outward[1];
        assert_eq!(c.count, 1);
        let [a, b, d] = c.tris[0].map(|e| midpoint(e as usize));
        let n = cross(sub(b, a), sub(d, a));
        assert!(dot(n, [1.0, 1.0, 1.0]) > 0.0);
    }
}
