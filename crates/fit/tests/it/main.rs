//! Fit and compare against shapes with exact answers, real meshes, and bad input.

mod compare;
mod compare_dense;
mod fit;
mod index;
mod threads;

use osteon_geom::Vec3;
use osteon_mesh::Mesh;

/// The public scans (CI has `shared/` beside the checkout).
pub fn scans() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/scans"
    ))
}

/// `m` moved by `t`.
pub fn moved(m: &Mesh, t: Vec3) -> Mesh {
    m.map_positions(|p| p + t)
}

/// Largest distance between the true sphere of radius `r` and an inscribed icosphere's
/// faces (its sagitta): `r − inradius` over the faces.
pub fn sagitta(m: &Mesh, r: f64) -> f64 {
    (0..m.triangles.len())
        .map(|t| {
            let c = m.corners(t).map(|p| p.as_dvec3());
            let n = (c[1] - c[0]).cross(c[2] - c[0]).normalize();
            r - n.dot(c[0])
        })
        .fold(0.0, f64::max)
}
