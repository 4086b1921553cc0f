//! Resolving self-intersections by local remeshing (after MeshFix, Attene 2010).
//!
//! In: a [`Mesh`] with manifold, consistently wound shells (the repair pipeline runs this
//! after hole filling). Out: the mesh with its intersections resolved, or — when local
//! remeshing cannot resolve them — the mesh unchanged, and a
//! [`SelfIntersectionReport`] that says how many intersecting triangles and pairs are left
//! and how many pairs lie between different shells.
//!
//! Detection is [`crate::self_intersections`] (BVH and exact predicates), run on the whole
//! mesh and on each shell alone, which separates a shell cutting *itself* (a fold, a
//! pinch, a patch through its own surface) from two shells overlapping (bones that touch,
//! a handle pushed into a body). Each round removes the targeted triangles and
//! `round + 1` rings of neighbours around them, cleans up (degenerate triangles,
//! non-manifold vertices the removal created), refills the holes with
//! [`super::fill_holes`]' fair patches and searches again; at most `max_rounds` rounds.
//!
//! By default only intersections inside one shell are targeted: overlapping shells need a
//! union, and remove-and-refill instead eats both shells around the contact (measured on
//! the overlapping foot bones: 12 % of the volume and three small bones lost; on the
//! teapot the spout and handle shrank to a fifth). Those pairs are reported
//! ([`SelfIntersectionReport::pairs_between_shells`]); `between_shells` targets them too,
//! for callers who accept that loss; the repair pipeline instead makes the exact union
//! ([`super::union_shells`]) afterwards, and `osteon repair --rebuild` one through a
//! distance field. When the targeted intersections are not all gone after the last
//! round, the step restores its input rather than leave a mesh eaten away.

use rayon::prelude::*;

use super::log::SelfIntersectionReport;
use super::Work;
use crate::self_intersect::{self_intersections, SelfIntersections};
use crate::topology::Topology;
use crate::{Mesh, MeshError};

/// Resolves the self-intersections of `mesh` by at most `max_rounds` remove-and-refill
/// rounds (see the module documentation): only those inside one shell unless
/// `between_shells`. The mesh comes back unchanged when they cannot all be resolved.
///
/// Errors: invalid meshes as [`Mesh::validate`].
pub fn resolve_self_intersections(
    mesh: &Mesh,
    max_rounds: usize,
    between_shells: bool,
) -> Result<(Mesh, SelfIntersectionReport), MeshError> {
    mesh.validate()?;
    let diag = mesh
        .bounds()
        .map_or(0.0, |b| (b.max - b.min).as_dvec3().length());
    let mut w = Work::from_mesh(mesh);
    let (r, _) = resolve_work(
        &mut w,
        None,
        max_rounds,
        between_shells,
        1e-6 * diag,
        1e-5 * diag,
    )?;
    Ok((w.into_mesh(), r))
}

/// [`resolve_self_intersections`] on the work; `first`: the self-intersections of `w` when
/// already known (else searched here). Returns the report and the triangles still
/// intersecting. The work is unchanged exactly when the report's `triangles_removed` is 0.
pub(crate) fn resolve_work(
    w: &mut Work,
    first: Option<SelfIntersections>,
    max_rounds: usize,
    between_shells: bool,
    weld_tol: f64,
    max_move: f64,
) -> Result<(SelfIntersectionReport, Vec<u32>), MeshError> {
    let si = match first {
        Some(si) => si,
        None => w.with_mesh(self_intersections),
    };
    let mut r = SelfIntersectionReport {
        faces_before: si.faces.len(),
        pairs_before: si.pairs,
        ..SelfIntersectionReport::default()
    };
    if si.is_empty() {
        r.resolved = true;
        return Ok((r, Vec::new()));
    }
    // The triangles to remesh: every intersecting one, or those intersecting their own
    // shell.
    let target = |w: &mut Work| -> Result<Vec<u32>, MeshError> {
        if between_shells {
            Ok(w.with_mesh(self_intersections).faces)
        } else {
            Ok(within_shells(w)?.1)
        }
    };
    // The first target comes from the search above when every intersection counts.
    let mut faces = if between_shells {
        si.faces.clone()
    } else {
        target(w)?
    };
    let backup = w.clone();
    let mut round = 0;
    while !faces.is_empty() && round < max_rounds {
        r.iterations += 1;
        let mut selected = vec![false; w.t.len()];
        for &f in &faces {
            selected[f as usize] = true;
        }
        for _ in 0..=round {
            // Grow by one ring: every triangle touching a vertex of a selected triangle.
            let mut hot = vec![false; w.p.len()];
            for (t, s) in w.t.iter().zip(&selected) {
                if *s {
                    for &v in t {
                        hot[v as usize] = true;
                    }
                }
            }
            selected =
                w.t.par_iter()
                    .map(|t| t.iter().any(|&v| hot[v as usize]))
                    .collect();
        }
        round += 1;
        let keep: Vec<bool> = selected.iter().map(|&s| !s).collect();
        r.triangles_removed += selected.iter().filter(|&&s| s).count();
        w.retain(&keep);
        if w.t.is_empty() {
            break;
        }
        super::degenerate::degenerate_work(w);
        super::nonmanifold::nonmanifold_work(w, weld_tol, max_move);
        let (_, boundary) = super::orient::consistent_work_boundary(w, None)?;
        let h = super::holes::fill_holes_work_at(w, &boundary, None, true);
        r.holes_filled += h.filled;
        // Lone sheets closed into flat shells are not solids.
        super::components::components_work(w, 0, 0.0)?;
        faces = target(w)?;
    }
    if !faces.is_empty() || w.t.is_empty() {
        *w = backup;
        r.triangles_removed = 0;
        r.holes_filled = 0;
    }
    // Unchanged (no round, or restored): the first search still holds.
    let si = if r.triangles_removed == 0 {
        si
    } else {
        w.with_mesh(self_intersections)
    };
    r.faces_after = si.faces.len();
    r.pairs_after = si.pairs;
    r.resolved = si.is_empty();
    if !r.resolved {
        r.pairs_between_shells = si.pairs.saturating_sub(within_shells(w)?.0);
    }
    Ok((r, si.faces))
}

/// Intersecting pairs inside single shells (each shell searched on its own) and the
/// triangles involved (sorted).
fn within_shells(w: &mut Work) -> Result<(usize, Vec<u32>), MeshError> {
    let topo = w.with_mesh(Topology::new)?;
    if topo.component_count() <= 1 {
        let si = w.with_mesh(self_intersections);
        return Ok((si.pairs, si.faces));
    }
    let comp = topo.triangle_components();
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); topo.component_count()];
    for (t, &c) in comp.iter().enumerate() {
        members[c as usize].push(t as u32);
    }
    let (p, t) = (&w.p, &w.t);
    let parts: Vec<(usize, Vec<u32>)> = members
        .par_iter()
        .map(|ids| {
            // A compact copy of the shell.
            let mut verts: Vec<u32> = ids.iter().flat_map(|&i| t[i as usize]).collect();
            verts.sort_unstable();
            verts.dedup();
            let local = |v: u32| verts.binary_search(&v).unwrap_or(0) as u32;
            let m = Mesh {
                positions: verts.iter().map(|&v| p[v as usize]).collect(),
                triangles: ids.iter().map(|&i| t[i as usize].map(local)).collect(),
            };
            let si = self_intersections(&m);
            (
                si.pairs,
                si.faces.iter().map(|&f| ids[f as usize]).collect(),
            )
        })
        .collect();
    let pairs = parts.iter().map(|x| x.0).sum();
    let mut faces: Vec<u32> = parts.into_iter().flat_map(|x| x.1).collect();
    faces.sort_unstable();
    Ok((pairs, faces))
}
