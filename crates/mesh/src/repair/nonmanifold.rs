//! Split non-manifold edges and vertices into manifold sheets.
//!
//! In: a [`Mesh`] without repeated-index triangles (run [`super::remove_degenerate`]
//! first). Out: a mesh in which every edge has at most two triangles and the triangles
//! around every vertex form one fan, with a [`NonManifoldReport`].
//!
//! Edges: the triangles around an edge shared by more than two are sorted by the angle of
//! their third corner around the edge. With outward normals, a triangle running `a → b`
//! has its solid on the side of decreasing angle and one running `b → a` on the side of
//! increasing angle, so a triangle running `b → a` followed (counter-clockwise) by one
//! running `a → b` bounds one solid wedge: those pairs are glued into a sheet, as when two
//! solids touch along an edge, and the rest are cut apart.
//!
//! Vertices: corners at a vertex are joined across the glued edges (union-find); each group
//! is a fan. The fan holding the vertex's lowest corner keeps the vertex; every other fan
//! gets a copy, moved a tiny distance into its own fan (towards the mean of the fan's other
//! corners) so that the sheets no longer share a point: two vertices at one position would
//! be welded again by any reader of STL (which stores positions, not indices). The move is
//! the smaller of 1 % of the fan's shortest edge and the displacement limit given (the
//! pipeline uses 10⁻⁵ × the bounding-box diagonal, well below the 10⁻⁴ it promises), and at
//! least twice the weld tolerance so that a second repair does not merge the copies back.

use osteon_geom::{DVec3, Vec3};
use rayon::prelude::*;

use super::log::NonManifoldReport;
use super::Work;
use crate::topology::UnionFind;
use crate::{Mesh, MeshError};

/// Splits non-manifold edges and vertices (see the module documentation); copies move at
/// most `max_move_mm` and at least `min_move_mm`.
///
/// Errors: invalid meshes as [`Mesh::validate`]; [`MeshError::InvalidOption`] for
/// negative or non-finite distances.
pub fn split_nonmanifold(
    mesh: &Mesh,
    min_move_mm: f64,
    max_move_mm: f64,
) -> Result<(Mesh, NonManifoldReport), MeshError> {
    mesh.validate()?;
    if !(min_move_mm.is_finite() && max_move_mm.is_finite() && min_move_mm >= 0.0) {
        return Err(MeshError::InvalidOption(format!(
            "displacement limits must be finite and ≥ 0, got {min_move_mm} and {max_move_mm}"
        )));
    }
    let mut w = Work::from_mesh(mesh);
    let r = nonmanifold_work(&mut w, min_move_mm, max_move_mm);
    Ok((w.into_mesh(), r))
}

pub(crate) fn nonmanifold_work(w: &mut Work, min_move: f64, max_move: f64) -> NonManifoldReport {
    let mut r = NonManifoldReport::default();
    let nt = w.t.len();
    let nc = 3 * nt;
    let tris = &w.t;
    let from = |c: usize| tris[c / 3][c % 3];
    let to = |c: usize| tris[c / 3][(c + 1) % 3];
    let third = |c: usize| tris[c / 3][(c + 2) % 3];
    let mut keys: Vec<u128> = (0..nc)
        .into_par_iter()
        .map(|c| {
            let (a, b) = (from(c), to(c));
            let e = ((a.min(b) as u64) << 32) | a.max(b) as u64;
            ((e as u128) << 32) | c as u128
        })
        .collect();
    keys.par_sort_unstable();
    let mut uf = UnionFind::new(nc);
    // Corner of the triangle of corner `c` at vertex `v`.
    let corner_at = |c: usize, v: u32| -> u32 {
        let t = c / 3;
        let k = tris[t].iter().position(|&x| x == v).unwrap_or(0);
        (3 * t + k) as u32
    };
    let glue = |uf: &mut UnionFind, c0: usize, c1: usize| {
        let (a, b) = (from(c0), to(c0));
        uf.union(corner_at(c0, a), corner_at(c1, a));
        uf.union(corner_at(c0, b), corner_at(c1, b));
    };
    let mut i = 0;
    while i < keys.len() {
        let e = (keys[i] >> 32) as u64;
        let mut j = i + 1;
        while j < keys.len() && (keys[j] >> 32) as u64 == e {
            j += 1;
        }
        let corner = |k: usize| (keys[k] & 0xffff_ffff) as usize;
        match j - i {
            1 => {}
            2 => glue(&mut uf, corner(i), corner(i + 1)),
            _ => {
                r.edges_split += 1;
                let (a, b) = ((e >> 32) as u32, e as u32);
                let pa = w.p[a as usize].as_dvec3();
                let u = (w.p[b as usize].as_dvec3() - pa).normalize_or_zero();
                let e1 = u.any_orthonormal_vector();
                let e2 = u.cross(e1);
                let mut around: Vec<(f64, usize, bool)> = (i..j)
                    .map(|k| {
                        let c = corner(k);
                        let d = w.p[third(c) as usize].as_dvec3() - pa;
                        let q = d - u * d.dot(u);
                        (q.dot(e2).atan2(q.dot(e1)), c, from(c) == a)
                    })
                    .collect();
                around.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
                let k = around.len();
                let mut paired = vec![false; k];
                for s in 0..k {
                    let n = (s + 1) % k;
                    if !paired[s] && !paired[n] && !around[s].2 && around[n].2 {
                        paired[s] = true;
                        paired[n] = true;
                        glue(&mut uf, around[s].1, around[n].1);
                    }
                }
            }
        }
        i = j;
    }
    drop(keys);
    // Fans: per vertex, corners grouped by root, in corner order.
    let mut by_vertex: Vec<(u32, u32, u32)> = (0..nc)
        .map(|c| (from(c), uf.find(c as u32), c as u32))
        .collect();
    by_vertex.par_sort_unstable();
    // For each (vertex, root) group: its lowest corner decides the order of the fans.
    let mut groups: Vec<(u32, u32, Vec<u32>)> = Vec::new(); // (vertex, lowest corner, corners)
    let mut s = 0;
    while s < by_vertex.len() {
        let (v, root, _) = by_vertex[s];
        let mut e = s;
        let mut cs = Vec::new();
        while e < by_vertex.len() && by_vertex[e].0 == v && by_vertex[e].1 == root {
            cs.push(by_vertex[e].2);
            e += 1;
        }
        let low = cs[0];
        groups.push((v, low, cs));
        s = e;
    }
    groups.sort_by_key(|g| (g.0, g.1));
    let mut new_t = w.t.clone();
    let mut g = 0;
    while g < groups.len() {
        let v = groups[g].0;
        let mut h = g + 1;
        while h < groups.len() && groups[h].0 == v {
            h += 1;
        }
        if h - g > 1 {
            r.vertices_split += 1;
            let pv = w.p[v as usize];
            for fan in &groups[g + 1..h] {
                let cs = &fan.2;
                let mut mean = DVec3::ZERO;
                let mut shortest = f64::INFINITY;
                for &c in cs {
                    let c = c as usize;
                    for q in [to(c), third(c)] {
                        let pq = w.p[q as usize].as_dvec3();
                        mean += pq;
                        shortest = shortest.min(pq.distance(pv.as_dvec3()));
                    }
                }
                mean /= (2 * cs.len()) as f64;
                let dir = (mean - pv.as_dvec3()).normalize_or_zero();
                let mut delta = (0.01 * shortest).min(max_move).max(2.0 * min_move);
                let mut q = pv;
                for _ in 0..40 {
                    q = (pv.as_dvec3() + dir * delta).as_vec3();
                    if q != pv || dir == DVec3::ZERO {
                        break;
                    }
                    delta *= 2.0;
                }
                if q == pv {
                    // No direction (a fan of flat triangles): any tiny step off the point.
                    q = Vec3::new(next_up(pv.x), pv.y, pv.z);
                }
                r.max_displacement_mm = r
                    .max_displacement_mm
                    .max(q.as_dvec3().distance(pv.as_dvec3()));
                let id = w.p.len() as u32;
                w.p.push(q);
                r.vertices_added += 1;
                for &c in cs {
                    let c = c as usize;
                    new_t[c / 3][c % 3] = id;
                }
            }
        }
        g = h;
    }
    w.t = new_t;
    r
}

fn next_up(x: f32) -> f32 {
    if x == 0.0 {
        f32::from_bits(1)
    } else if x > 0.0 {
        f32::from_bits(x.to_bits() + 1)
    } else {
        f32::from_bits(x.to_bits() - 1)
    }
}
