//! Orientation: consistent winding per shell, then outer shells outward and cavities inward.
//!
//! In: a [`Mesh`] with manifold edges (run [`super::split_nonmanifold`] first; a
//! non-manifold edge is simply not crossed). Out: the mesh with triangles flipped, and an
//! [`OrientReport`].
//!
//! 1. *Consistent* ([`orient`]): a breadth-first walk over each edge-connected shell from
//!    its lowest triangle flips every triangle whose shared edge runs the same way as its
//!    neighbour's. If more than half of a shell was flipped, the shell is flipped back as a
//!    whole (the fewest changes; a clean input is left alone). An edge whose two triangles
//!    cannot agree (a non-orientable shell) is counted, not cut.
//! 2. *Outward* ([`orient_outward`]): every closed shell gets a nesting depth, the number
//!    of other closed shells that contain it, found from the generalised winding number
//!    (sum of the solid angles of a shell's triangles, Van Oosterom & Strackee 1983, seen
//!    from three points on the shell; majority). Shells at even depth are turned so that
//!    their signed volume is positive, shells at odd depth (cavities) so that it is
//!    negative — CGAL's `orient_to_bound_a_volume` rule — with one refinement that keeps
//!    the solid the input describes (non-zero winding rule): a shell inside another that
//!    was wound the *same* way as its immediate container is a solid inside a solid (a
//!    tooth modelled inside a jaw), redundant for the union, and is removed rather than
//!    turned into a cavity; one wound the opposite way is a cavity and points inward.
//!    Open shells are turned so that their signed volume about their own centroid is
//!    positive.

use osteon_geom::DVec3;
use rayon::prelude::*;

use super::log::OrientReport;
use super::Work;
use crate::topology::{Topology, DEGENERATE};
use crate::{Mesh, MeshError};

/// Makes the winding of every edge-connected shell consistent (step 1 of the module
/// documentation); `shells_flipped` and `cavities` of the report stay 0.
///
/// Errors: invalid meshes as [`Mesh::validate`].
pub fn orient(mesh: &Mesh) -> Result<(Mesh, OrientReport), MeshError> {
    mesh.validate()?;
    let mut w = Work::from_mesh(mesh);
    let r = consistent_work(&mut w)?;
    Ok((w.into_mesh(), r))
}

/// Turns closed outer shells outward and cavities inward (step 2 of the module
/// documentation); expects consistently wound shells.
///
/// Errors: invalid meshes as [`Mesh::validate`].
pub fn orient_outward(mesh: &Mesh) -> Result<(Mesh, OrientReport), MeshError> {
    mesh.validate()?;
    let mut w = Work::from_mesh(mesh);
    let intersecting = vec![false; w.t.len()];
    let r = outward_work(&mut w, &intersecting)?;
    Ok((w.into_mesh(), r))
}

pub(crate) fn consistent_work(w: &mut Work) -> Result<OrientReport, MeshError> {
    Ok(consistent_work_boundary(w, None)?.0)
}

/// [`consistent_work`] with the topology of `w` when the caller has it, also returning the boundary corners of the result (corners
/// `3·t + k` whose edge has no other triangle, in increasing order), for
/// [`super::holes`] without deriving the topology again: flipping triangle `t` (swapping
/// its corners 1 and 2) reverses its edges, so its boundary corner `k` becomes `2 − k`.
pub(crate) fn consistent_work_boundary(
    w: &mut Work,
    topo: Option<Topology>,
) -> Result<(OrientReport, Vec<u32>), MeshError> {
    let topo = match topo {
        Some(t) => t,
        None => w.with_mesh(Topology::new)?,
    };
    let opp = topo.opposites();
    let nt = w.t.len();
    let tris = &w.t;
    let mut flip = vec![false; nt];
    let mut seen = vec![false; nt];
    let mut conflicts = 0usize;
    let mut queue: Vec<u32> = Vec::new();
    let mut members: Vec<u32> = Vec::new();
    let mut flipped_total = 0;
    for seed in 0..nt {
        if seen[seed] {
            continue;
        }
        seen[seed] = true;
        queue.clear();
        members.clear();
        queue.push(seed as u32);
        let mut head = 0;
        while head < queue.len() {
            let t = queue[head] as usize;
            head += 1;
            members.push(t as u32);
            for k in 0..3 {
                let c = 3 * t + k;
                let o = opp[c];
                if o >= DEGENERATE {
                    continue;
                }
                let o = o as usize;
                let n = o / 3;
                let same_dir = tris[t][k] == tris[n][o % 3];
                let want = flip[t] ^ same_dir;
                if !seen[n] {
                    seen[n] = true;
                    flip[n] = want;
                    queue.push(n as u32);
                } else if flip[n] != want && c < o {
                    conflicts += 1;
                }
            }
        }
        let flipped = members.iter().filter(|&&t| flip[t as usize]).count();
        if 2 * flipped > members.len() {
            for &t in &members {
                flip[t as usize] = !flip[t as usize];
            }
        }
        flipped_total += members.iter().filter(|&&t| flip[t as usize]).count();
    }
    for (t, f) in w.t.iter_mut().zip(&flip) {
        if *f {
            t.swap(1, 2);
        }
    }
    let mut boundary: Vec<u32> = (0..opp.len() as u32)
        .filter(|&c| opp[c as usize] == crate::topology::BOUNDARY)
        .map(|c| {
            let (t, k) = (c / 3, c % 3);
            if flip[t as usize] {
                3 * t + 2 - k
            } else {
                c
            }
        })
        .collect();
    boundary.sort_unstable();
    Ok((
        OrientReport {
            triangles_flipped: flipped_total,
            non_orientable_edges: conflicts,
            ..OrientReport::default()
        },
        boundary,
    ))
}

/// Solid angle of triangle `abc` seen from the origin (Van Oosterom & Strackee), in
/// steradians, signed: positive when the origin lies behind the triangle (on the side its
/// normal points away from).
fn solid_angle(a: DVec3, b: DVec3, c: DVec3) -> f64 {
    let (la, lb, lc) = (a.length(), b.length(), c.length());
    let num = a.dot(b.cross(c));
    let den = la * lb * lc + a.dot(b) * lc + b.dot(c) * la + c.dot(a) * lb;
    2.0 * num.atan2(den)
}

/// `intersecting` flags the triangles that intersect another: a shell with one is not
/// enclosed but overlapping, and is never removed as redundant.
pub(crate) fn outward_work(w: &mut Work, intersecting: &[bool]) -> Result<OrientReport, MeshError> {
    Ok(outward_work_with(w, intersecting, None)?.0)
}

/// [`outward_work`] with the topology of `w` when the caller has it; returns the topology
/// back when `w` did not change (nothing flipped or removed).
pub(crate) fn outward_work_with(
    w: &mut Work,
    intersecting: &[bool],
    topo: Option<Topology>,
) -> Result<(OrientReport, Option<Topology>), MeshError> {
    let topo = match topo {
        Some(t) => t,
        None => w.with_mesh(Topology::new)?,
    };
    let comp = topo.triangle_components();
    let comps = topo.components();
    let nc = comps.len();
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); nc];
    for (t, &c) in comp.iter().enumerate() {
        members[c as usize].push(t as u32);
    }
    let centre = w.p.iter().fold(DVec3::ZERO, |s, p| s + p.as_dvec3()) / w.p.len().max(1) as f64;
    let pos = |i: u32| w.p[i as usize].as_dvec3();
    // Signed volume of each shell (about the mesh centre; about its own centroid for open
    // shells, where the result depends on it).
    let volume = |ts: &[u32], o: DVec3| -> f64 {
        ts.iter()
            .map(|&t| {
                let [a, b, c] = w.t[t as usize].map(|i| pos(i) - o);
                a.dot(b.cross(c))
            })
            .sum::<f64>()
            / 6.0
    };
    let closed: Vec<bool> = comps.iter().map(|c| c.is_closed()).collect();
    let mut overlapping = vec![false; nc];
    for (&c, &x) in comp.iter().zip(intersecting) {
        overlapping[c as usize] |= x;
    }
    let vols: Vec<f64> = (0..nc)
        .into_par_iter()
        .map(|c| {
            if closed[c] {
                volume(&members[c], centre)
            } else {
                let ts = &members[c];
                let o = ts
                    .iter()
                    .flat_map(|&t| w.t[t as usize])
                    .fold(DVec3::ZERO, |s, i| s + pos(i))
                    / (3 * ts.len()).max(1) as f64;
                volume(ts, o)
            }
        })
        .collect();
    // Boxes of the closed shells.
    let boxes: Vec<(DVec3, DVec3)> = members
        .iter()
        .map(|ts| {
            ts.iter().flat_map(|&t| w.t[t as usize]).fold(
                (DVec3::splat(f64::INFINITY), DVec3::splat(f64::NEG_INFINITY)),
                |(lo, hi), i| (lo.min(pos(i)), hi.max(pos(i))),
            )
        })
        .collect();
    let closed_ids: Vec<usize> = (0..nc).filter(|&c| closed[c]).collect();
    // The closed shells containing each closed shell.
    let containers: Vec<Vec<usize>> = (0..nc)
        .into_par_iter()
        .map(|c| {
            if !closed[c] || closed_ids.len() < 2 {
                return Vec::new();
            }
            let ts = &members[c];
            let area = |t: u32| {
                let [a, b, d] = w.t[t as usize].map(pos);
                (b - a).cross(d - a).length()
            };
            let biggest = ts
                .iter()
                .copied()
                .max_by(|&x, &y| area(x).total_cmp(&area(y)).then(y.cmp(&x)))
                .unwrap_or(ts[0]);
            let samples = [biggest, ts[ts.len() / 3], ts[2 * ts.len() / 3]].map(|t| {
                let [a, b, d] = w.t[t as usize].map(pos);
                (a + b + d) / 3.0
            });
            closed_ids
                .iter()
                .copied()
                .filter(|&o| o != c)
                .filter(|&o| {
                    let (lo, hi) = boxes[o];
                    let sign = if vols[o] < 0.0 { -1.0 } else { 1.0 };
                    let inside = samples
                        .iter()
                        .filter(|p| {
                            if p.cmplt(lo).any() || p.cmpgt(hi).any() {
                                return false;
                            }
                            let wn: f64 = members[o]
                                .iter()
                                .map(|&t| {
                                    let [a, b, d] = w.t[t as usize].map(|i| pos(i) - **p);
                                    solid_angle(a, b, d)
                                })
                                .sum::<f64>()
                                / (4.0 * std::f64::consts::PI);
                            sign * wn > 0.5
                        })
                        .count();
                    inside >= 2
                })
                .collect()
        })
        .collect();
    let depth: Vec<usize> = containers.iter().map(|c| c.len()).collect();
    let mut r = OrientReport::default();
    // Final sign of each shell, decided outermost first: the outermost shells point out; a
    // shell inside another points the other way from its immediate container (a cavity,
    // or an island inside a cavity) when it was wound opposite to it, and is redundant
    // (a solid inside a solid: the union does not change without it) when it was wound
    // the same way.
    let mut order: Vec<usize> = (0..nc).collect();
    order.sort_by_key(|&c| (depth[c], c));
    let mut positive = vec![true; nc];
    let mut flip_comp = vec![false; nc];
    let mut remove = vec![false; nc];
    for &c in &order {
        let parent = containers[c]
            .iter()
            .copied()
            .max_by_key(|&o| (depth[o], std::cmp::Reverse(o)));
        let want = match parent {
            None => true,
            Some(p) => {
                if (vols[c] > 0.0) == (vols[p] > 0.0) {
                    if overlapping[c] {
                        // Partly outside its container: a solid to keep as it is.
                        positive[c] = vols[c] > 0.0;
                        continue;
                    }
                    remove[c] = true;
                    r.enclosed_shells_removed += 1;
                    continue;
                }
                r.cavities += usize::from(positive[p]);
                !positive[p]
            }
        };
        positive[c] = want;
        if vols[c] != 0.0 && (vols[c] > 0.0) != want {
            flip_comp[c] = true;
            r.shells_flipped += 1;
        }
    }
    if r.shells_flipped > 0 {
        for (t, &c) in w.t.iter_mut().zip(comp) {
            if flip_comp[c as usize] {
                t.swap(1, 2);
            }
        }
    }
    if r.enclosed_shells_removed > 0 {
        let keep: Vec<bool> = comp.iter().map(|&c| !remove[c as usize]).collect();
        w.retain(&keep);
        w.compact_vertices();
    }
    let unchanged = r.shells_flipped == 0 && r.enclosed_shells_removed == 0;
    Ok((r, unchanged.then_some(topo)))
}
