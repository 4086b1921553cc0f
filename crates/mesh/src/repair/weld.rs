//! Weld: merge vertices that lie within a distance of each other.
//!
//! In: a [`Mesh`] and a tolerance in mm (0 merges bit-identical positions only, −0 = +0).
//! Out: the mesh with every merged vertex replaced by its representative, vertices
//! renumbered in their original order with the merged ones left out, and a
//! [`WeldReport`]. Triangles are kept as they are (a triangle whose corners merged becomes
//! degenerate; [`super::remove_degenerate`] removes it).
//!
//! Representatives keep their own positions: nothing moves, so a clean input comes out
//! bit-identical. The clustering is greedy in index order: vertex `j` joins the lowest
//! numbered representative within the tolerance, else it becomes one; every merged vertex
//! is therefore within the tolerance of the vertex it merged into (no chains).
//!
//! Candidates come from a parallel sort of `(cell, vertex)` keys over a grid of cells at
//! least the tolerance wide, so that any two vertices within the tolerance lie in
//! neighbouring cells; per occupied cell, the nine rows of three cells around it are found
//! by cursors that move forward with the sorted keys (linear time, chunks of whole cells in
//! parallel), and its vertices are compared with theirs on positions stored in key order.
//! The candidates are grouped by vertex with a counting sort. Keys are unique and the
//! greedy pass is sequential in index order, so the result does not depend on the number
//! of threads.

use osteon_geom::Vec3;
use rayon::prelude::*;

use super::log::WeldReport;
use super::Work;
use crate::{Mesh, MeshError};

/// Cells per axis at most (21 bits each pack into a `u64` key).
const MAX_CELLS: f64 = ((1u32 << 20) - 1) as f64;

/// Merges the vertices of `mesh` that lie within `tolerance_mm` of each other (see the
/// module documentation).
///
/// Errors: [`MeshError::InvalidOption`] for a negative or non-finite tolerance; invalid
/// meshes as [`Mesh::validate`].
pub fn weld(mesh: &Mesh, tolerance_mm: f64) -> Result<(Mesh, WeldReport), MeshError> {
    mesh.validate()?;
    check_tolerance(tolerance_mm)?;
    let mut w = Work::from_mesh(mesh);
    let r = weld_work(&mut w, tolerance_mm);
    Ok((w.into_mesh(), r))
}

pub(crate) fn check_tolerance(tolerance_mm: f64) -> Result<(), MeshError> {
    if !(tolerance_mm.is_finite() && tolerance_mm >= 0.0) {
        return Err(MeshError::InvalidOption(format!(
            "weld tolerance must be a finite distance ≥ 0 mm, got {tolerance_mm}"
        )));
    }
    Ok(())
}

pub(crate) fn weld_work(w: &mut Work, tol: f64) -> WeldReport {
    let rep = representatives(&w.p, tol);
    let n = w.p.len();
    let mut new_id = vec![u32::MAX; n];
    let mut positions = Vec::with_capacity(n);
    let mut welded = 0;
    for v in 0..n {
        let r = rep[v] as usize;
        if r == v {
            new_id[v] = positions.len() as u32;
            positions.push(w.p[v]);
        } else {
            welded += 1;
        }
    }
    if welded > 0 {
        for v in 0..n {
            let r = rep[v] as usize;
            new_id[v] = new_id[r];
        }
        w.t.par_iter_mut()
            .for_each(|t| *t = t.map(|i| new_id[i as usize]));
        w.p = positions;
    }
    WeldReport {
        tolerance_mm: tol,
        vertices_welded: welded,
    }
}

/// For every vertex, the vertex it merges into (itself for a representative).
fn representatives(p: &[Vec3], tol: f64) -> Vec<u32> {
    let n = p.len();
    let Some(min) = p.iter().copied().reduce(|a, b| a.min(b)) else {
        return Vec::new();
    };
    let max = p.iter().copied().fold(min, |a, b| a.max(b));
    let extent = (max - min).max_element() as f64;
    // Cells at least `tol` wide (and not so many that the key overflows).
    let cell = if tol > 0.0 {
        tol.max(extent / MAX_CELLS)
    } else {
        (extent / MAX_CELLS).max(f64::MIN_POSITIVE)
    };
    let coord = |q: Vec3| -> [u64; 3] {
        let d = (q - min).as_dvec3() / cell;
        [d.x, d.y, d.z].map(|x| (x.max(0.0) as u64).min(MAX_CELLS as u64) + 1)
    };
    let key = |c: [u64; 3]| (c[2] << 42) | (c[1] << 21) | c[0];
    let mut keys: Vec<u128> = p
        .par_iter()
        .enumerate()
        .map(|(i, &q)| ((key(coord(q)) as u128) << 32) | i as u128)
        .collect();
    keys.par_sort_unstable();
    // Keys and positions in sorted order, so the candidates of a cell are contiguous.
    let sk: Vec<u64> = keys.par_iter().map(|&k| (k >> 32) as u64).collect();
    let sv: Vec<u32> = keys.par_iter().map(|&k| k as u32).collect();
    drop(keys);
    let sp: Vec<Vec3> = sv.par_iter().map(|&v| p[v as usize]).collect();
    let same = |a: Vec3, b: Vec3| -> bool {
        if tol > 0.0 {
            a.as_dvec3().distance_squared(b.as_dvec3()) <= tol * tol
        } else {
            a == b
        }
    };
    // Offsets (from a cell's key) of the first and last cell of the nine rows of three
    // cells around it; the key order is z, y, x, so each row is one key range.
    let row = |dy: u64, dz: u64| -> (u64, u64) {
        let base = key([1, 1, 1]);
        (
            key([0, dy, dz]).wrapping_sub(base),
            key([2, dy, dz]).wrapping_sub(base),
        )
    };
    let rows: Vec<(u64, u64)> = (0..3u64)
        .flat_map(|dz| (0..3u64).map(move |dy| row(dy, dz)))
        .collect();
    // Chunks of whole cells (a chunk starts at the first cell starting in its range), in
    // parallel; within a chunk, per cell, one cursor per row moves forward with the keys.
    const CHUNK: usize = 1 << 13;
    let cell_start = |mut s: usize| {
        while s > 0 && s < n && sk[s - 1] == sk[s] {
            s += 1;
        }
        s.min(n)
    };
    let pairs: Vec<(u32, u32)> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .flat_map_iter(|c| {
            let (lo_k, hi_k) = (cell_start(c * CHUNK), cell_start((c + 1) * CHUNK));
            let mut out = Vec::new();
            if lo_k >= hi_k {
                return out;
            }
            let first = sk[lo_k];
            let mut cursor: Vec<usize> = rows
                .iter()
                .map(|&(lo, _)| {
                    let lo = first.wrapping_add(lo);
                    sk.partition_point(|&k| k < lo)
                })
                .collect();
            let mut ranges = [(0usize, 0usize); 9];
            let mut s = lo_k;
            while s < hi_k {
                let cell = sk[s];
                let mut e = s + 1;
                while e < n && sk[e] == cell {
                    e += 1;
                }
                for (r, &(lo, hi)) in rows.iter().enumerate() {
                    let (lo, hi) = (cell.wrapping_add(lo), cell.wrapping_add(hi));
                    let mut c = cursor[r];
                    while c < n && sk[c] < lo {
                        c += 1;
                    }
                    cursor[r] = c;
                    let mut d = c;
                    while d < n && sk[d] <= hi {
                        d += 1;
                    }
                    ranges[r] = (c, d);
                }
                for a in s..e {
                    let (j, pj) = (sv[a], sp[a]);
                    for &(c, d) in &ranges {
                        for b in c..d {
                            let i = sv[b];
                            if i < j && same(sp[b], pj) {
                                out.push((j, i));
                            }
                        }
                    }
                }
                s = e;
            }
            out
        })
        .collect();
    // Candidates grouped by vertex (a counting sort), then greedy in index order: vertex
    // `j` joins the lowest numbered representative within the tolerance.
    let mut start = vec![0u32; n + 1];
    for &(j, _) in &pairs {
        start[j as usize + 1] += 1;
    }
    for v in 0..n {
        start[v + 1] += start[v];
    }
    let mut fill = start.clone();
    let mut cand = vec![0u32; pairs.len()];
    for &(j, i) in &pairs {
        let f = &mut fill[j as usize];
        cand[*f as usize] = i;
        *f += 1;
    }
    drop(pairs);
    let mut rep: Vec<u32> = (0..n as u32).collect();
    for j in 0..n {
        let (s, e) = (start[j] as usize, start[j + 1] as usize);
        if let Some(i) = cand[s..e]
            .iter()
            .copied()
            .filter(|&i| rep[i as usize] == i)
            .min()
        {
            rep[j] = i;
        }
    }
    rep
}
