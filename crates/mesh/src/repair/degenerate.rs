//! Degenerate, duplicate and zero-area triangles; unreferenced vertices.
//!
//! In: a [`Mesh`]. Out: the mesh without
//! * triangles with a repeated vertex index (edges collapsed by the weld);
//! * duplicate triangles (same three vertices): by the winding-number rule, copies with
//!   the same winding count once and a pair with opposite windings cancels (a two-sided
//!   sheet encloses nothing), so `k` forward and `l` backward copies leave one forward
//!   copy when `k > l`, one backward copy when `l > k`, and none when `k = l`;
//! * zero-area triangles (three distinct but exactly collinear corners, the test
//!   [`crate::MeshReport`] uses): the middle corner `c` lies on the long edge `ab`, so every
//!   other triangle on `ab` is split at `c` into two, and the flat triangle is dropped —
//!   the surface stays closed and no point moves (up to three rounds; a flat triangle still
//!   left after that is dropped and its hole filled later);
//! * vertices used by no triangle (the rest keep their order).
//!
//! Everything is sort-based and sequential where order matters: deterministic.

use rayon::prelude::*;

use super::log::DegenerateReport;
use super::Work;
use crate::{Mesh, MeshError};

/// Removes degenerate and duplicate triangles and unreferenced vertices (see the module
/// documentation).
///
/// Errors: invalid meshes as [`Mesh::validate`].
pub fn remove_degenerate(mesh: &Mesh) -> Result<(Mesh, DegenerateReport), MeshError> {
    mesh.validate()?;
    let mut w = Work::from_mesh(mesh);
    let r = degenerate_work(&mut w);
    Ok((w.into_mesh(), r))
}

pub(crate) fn degenerate_work(w: &mut Work) -> DegenerateReport {
    let mut r = DegenerateReport::default();
    // 1. Repeated indices.
    let keep: Vec<bool> =
        w.t.par_iter()
            .map(|t| t[0] != t[1] && t[1] != t[2] && t[0] != t[2])
            .collect();
    r.repeated_index_triangles = keep.iter().filter(|&&k| !k).count();
    w.retain(&keep);
    // 2. Zero-area triangles (before duplicates: splitting may create copies).
    for _round in 0..3 {
        let flat: Vec<usize> = (0..w.t.len())
            .into_par_iter()
            .filter(|&t| is_flat(w, t))
            .collect();
        if flat.is_empty() {
            break;
        }
        let split = split_at_flat(w, &flat);
        r.neighbours_split += split;
        r.zero_area_triangles += flat.len();
        if split == 0 {
            break;
        }
    }
    let keep: Vec<bool> = (0..w.t.len())
        .into_par_iter()
        .map(|t| !is_flat(w, t))
        .collect();
    r.zero_area_triangles += keep.iter().filter(|&&k| !k).count();
    w.retain(&keep);
    // 3. Duplicates.
    r.duplicate_triangles = remove_duplicates(w);
    // 4. Unreferenced vertices.
    r.unreferenced_vertices = w.compact_vertices();
    r
}

/// Exactly collinear corners (f32 differences and products are exact in f64).
pub(crate) fn is_flat(w: &Work, t: usize) -> bool {
    let [a, b, c] = w.t[t].map(|i| w.p[i as usize].as_dvec3());
    (b - a).cross(c - a) == osteon_geom::DVec3::ZERO
}

/// Splits every other triangle on the long edge of each flat triangle at its middle
/// corner, and drops the flat ones. Returns the number of triangles split.
fn split_at_flat(w: &mut Work, flat: &[usize]) -> usize {
    // Edge → triangles, by a sort of (edge key, triangle).
    let ekey = |a: u32, b: u32| ((a.min(b) as u64) << 32) | a.max(b) as u64;
    let mut edges: Vec<(u64, u32)> = (0..w.t.len())
        .into_par_iter()
        .flat_map_iter(|t| {
            let tri = w.t[t];
            (0..3).map(move |k| (ekey(tri[k], tri[(k + 1) % 3]), t as u32))
        })
        .collect();
    edges.par_sort_unstable();
    let mut is_flat_tri = vec![false; w.t.len()];
    for &t in flat {
        is_flat_tri[t] = true;
    }
    // Each non-flat triangle is split at most once per round (the first flat triangle that
    // claims it, in index order); the others wait for the next round.
    let mut claimed = vec![false; w.t.len()];
    let mut drop = vec![false; w.t.len()];
    let mut added: Vec<([u32; 3], bool)> = Vec::new();
    let mut split = 0;
    for &f in flat {
        let tri = w.t[f];
        let pos = tri.map(|i| w.p[i as usize].as_dvec3());
        // The long edge is opposite the middle corner.
        let len = |k: usize| pos[k].distance_squared(pos[(k + 1) % 3]);
        let k = (0..3)
            .max_by(|&x, &y| len(x).total_cmp(&len(y)))
            .unwrap_or(0);
        let (a, b, c) = (tri[k], tri[(k + 1) % 3], tri[(k + 2) % 3]);
        let key = ekey(a, b);
        let start = edges.partition_point(|e| e.0 < key);
        let others: Vec<u32> = edges[start..]
            .iter()
            .take_while(|e| e.0 == key)
            .map(|e| e.1)
            .filter(|&t| t as usize != f)
            .collect();
        if others
            .iter()
            .any(|&t| claimed[t as usize] || is_flat_tri[t as usize] || drop[t as usize])
        {
            continue;
        }
        for &t in &others {
            let n = w.t[t as usize];
            // Rotate so that the edge {a, b} is n[0] → n[1].
            let Some(s) = (0..3).find(|&s| {
                let (x, y) = (n[s], n[(s + 1) % 3]);
                (x == a && y == b) || (x == b && y == a)
            }) else {
                continue;
            };
            let (x, y, z) = (n[s], n[(s + 1) % 3], n[(s + 2) % 3]);
            if z == c {
                // A second flat triangle on the same corner: let it go.
                continue;
            }
            claimed[t as usize] = true;
            drop[t as usize] = true;
            let patch = w.patch[t as usize];
            added.push(([x, c, z], patch));
            added.push(([c, y, z], patch));
            split += 1;
        }
        drop[f] = true;
    }
    let keep: Vec<bool> = drop.iter().map(|&d| !d).collect();
    w.retain(&keep);
    for (t, patch) in added {
        w.push_new(t, patch);
    }
    split
}

/// Applies the winding-number rule to triangles with the same vertex set; returns the
/// number removed.
fn remove_duplicates(w: &mut Work) -> usize {
    // (sorted corners, forward, index) per triangle, grouped by lowest corner (a counting
    // sort; duplicates share it) and each small group sorted: the order of a full sort.
    let keys_of: Vec<([u32; 3], bool, u32)> =
        w.t.par_iter()
            .enumerate()
            .map(|(i, t)| {
                let mut s = *t;
                s.sort_unstable();
                let forward = (t[0] == s[0] && t[1] == s[1])
                    || (t[1] == s[0] && t[2] == s[1])
                    || (t[2] == s[0] && t[0] == s[1]);
                (s, forward, i as u32)
            })
            .collect();
    let nv = w.p.len();
    let mut start = vec![0u32; nv + 1];
    for k in &keys_of {
        start[k.0[0] as usize + 1] += 1;
    }
    for v in 0..nv {
        start[v + 1] += start[v];
    }
    let mut fill = start.clone();
    let mut keys = vec![([0u32; 3], false, 0u32); keys_of.len()];
    for k in keys_of {
        let f = &mut fill[k.0[0] as usize];
        keys[*f as usize] = k;
        *f += 1;
    }
    drop(fill);
    for v in 0..nv {
        let (s, e) = (start[v] as usize, start[v + 1] as usize);
        if e - s > 1 {
            keys[s..e].sort_unstable();
        }
    }
    let mut keep = vec![true; w.t.len()];
    let mut removed = 0;
    let mut i = 0;
    while i < keys.len() {
        let mut j = i + 1;
        while j < keys.len() && keys[j].0 == keys[i].0 {
            j += 1;
        }
        if j - i > 1 {
            let fwd = keys[i..j].iter().filter(|k| k.1).count();
            let bwd = (j - i) - fwd;
            // The survivor: the lowest-numbered triangle of the winning direction.
            let survivor = if fwd > bwd {
                keys[i..j].iter().filter(|k| k.1).map(|k| k.2).min()
            } else if bwd > fwd {
                keys[i..j].iter().filter(|k| !k.1).map(|k| k.2).min()
            } else {
                None
            };
            for k in &keys[i..j] {
                if Some(k.2) != survivor {
                    keep[k.2 as usize] = false;
                    removed += 1;
                }
            }
        }
        i = j;
    }
    if removed > 0 {
        w.retain(&keep);
    }
    removed
}
