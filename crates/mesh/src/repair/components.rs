//! Small shells: remove edge-connected components below a triangle count or a volume.
//!
//! In: a [`Mesh`]. Out: the mesh without the shells that have fewer than
//! `min_triangles` triangles, or (closed shells) less than `min_volume_mm3` enclosed
//! volume in absolute value, and without closed shells that enclose nothing at all (a
//! two-sided sheet: |volume| ≤ 10⁻⁶ × area^1.5, far below any real solid; such shells appear
//! when a lone sheet is closed and are not solids), with a [`ComponentsReport`]. The
//! defaults (`0`, `0.0`) keep every real shell. Unreferenced vertices are dropped; the
//! others keep their order.

use osteon_geom::DVec3;

use super::log::ComponentsReport;
use super::Work;
use crate::topology::Topology;
use crate::{Mesh, MeshError};

/// Removes shells with fewer than `min_triangles` triangles or, when closed, less than
/// `min_volume_mm3` of enclosed volume (see the module documentation).
///
/// Errors: invalid meshes as [`Mesh::validate`]; [`MeshError::InvalidOption`] for a
/// negative or NaN volume.
pub fn remove_small_components(
    mesh: &Mesh,
    min_triangles: usize,
    min_volume_mm3: f64,
) -> Result<(Mesh, ComponentsReport), MeshError> {
    mesh.validate()?;
    check_volume(min_volume_mm3)?;
    let mut w = Work::from_mesh(mesh);
    let r = components_work(&mut w, min_triangles, min_volume_mm3)?;
    Ok((w.into_mesh(), r))
}

pub(crate) fn check_volume(v: f64) -> Result<(), MeshError> {
    if !(v >= 0.0 && v.is_finite()) {
        return Err(MeshError::InvalidOption(format!(
            "minimum shell volume must be a finite value ≥ 0 mm³, got {v}"
        )));
    }
    Ok(())
}

pub(crate) fn components_work(
    w: &mut Work,
    min_triangles: usize,
    min_volume: f64,
) -> Result<ComponentsReport, MeshError> {
    Ok(components_work_with(w, min_triangles, min_volume, None)?.0)
}

/// [`components_work`] with the topology of `w` when the caller has it; returns the
/// topology of the result when no shell was removed.
pub(crate) fn components_work_with(
    w: &mut Work,
    min_triangles: usize,
    min_volume: f64,
    topo: Option<Topology>,
) -> Result<(ComponentsReport, Option<Topology>), MeshError> {
    let topo = match topo {
        Some(t) => t,
        None => w.with_mesh(Topology::new)?,
    };
    let comp = topo.triangle_components();
    let comps = topo.components();
    let nc = comps.len();
    let centre = w.p.iter().fold(DVec3::ZERO, |s, p| s + p.as_dvec3()) / w.p.len().max(1) as f64;
    let mut vol = vec![0.0f64; nc];
    let mut area = vec![0.0f64; nc];
    for (t, &c) in w.t.iter().zip(comp) {
        let [a, b, d] = t.map(|i| w.p[i as usize].as_dvec3() - centre);
        vol[c as usize] += a.dot(b.cross(d)) / 6.0;
        area[c as usize] += 0.5 * (b - a).cross(d - a).length();
    }
    let remove: Vec<bool> = (0..nc)
        .map(|c| {
            let closed = comps[c].is_closed();
            comps[c].triangles < min_triangles
                || (closed && vol[c].abs() < min_volume)
                || (closed && vol[c].abs() <= 1e-6 * area[c].powf(1.5))
        })
        .collect();
    let mut r = ComponentsReport {
        shells_before: nc,
        ..ComponentsReport::default()
    };
    for c in 0..nc {
        if remove[c] {
            r.shells_removed += 1;
            r.triangles_removed += comps[c].triangles;
        }
    }
    if r.shells_removed > 0 {
        let keep: Vec<bool> = comp.iter().map(|&c| !remove[c as usize]).collect();
        w.retain(&keep);
        w.compact_vertices();
        return Ok((r, None));
    }
    Ok((r, Some(topo)))
}
