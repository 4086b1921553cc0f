//! Shapes with known sections, and a brute-force section-area oracle.

use osteon_geom::Vec3;
use osteon_mesh::Mesh;

/// A closed prism over a regular `n`-gon of circumradius `r` centred at (cx, cy), with
/// vertex rings at every height in `zs` (ascending), outward-oriented.
pub fn prism(n: usize, r: f32, cx: f32, cy: f32, zs: &[f32]) -> Mesh {
    let mut pos = Vec::new();
    for &z in zs {
        for i in 0..n {
            let a = std::f32::consts::TAU * i as f32 / n as f32;
            pos.push(Vec3::new(cx + r * a.cos(), cy + r * a.sin(), z));
        }
    }
    let bottom = pos.len() as u32;
    pos.push(Vec3::new(cx, cy, zs[0]));
    let top = pos.len() as u32;
    pos.push(Vec3::new(cx, cy, zs[zs.len() - 1]));
    let mut tris = Vec::new();
    let n32 = n as u32;
    for ring in 0..zs.len() as u32 - 1 {
        for i in 0..n32 {
            let j = (i + 1) % n32;
            let (a, b) = (ring * n32 + i, ring * n32 + j);
            let (c, d) = (a + n32, b + n32);
            tris.push([a, b, d]);
            tris.push([a, d, c]);
        }
    }
    let last = (zs.len() as u32 - 1) * n32;
    for i in 0..n32 {
        let j = (i + 1) % n32;
        tris.push([bottom, j, i]);
        tris.push([top, last + i, last + j]);
    }
    Mesh::new(pos, tris).unwrap()
}

/// Area of the regular n-gon of circumradius r.
pub fn ngon_area(n: usize, r: f64) -> f64 {
    0.5 * n as f64 * r * r * (std::f64::consts::TAU / n as f64).sin()
}

/// Concatenates meshes.
pub fn join(parts: &[Mesh]) -> Mesh {
    let mut pos = Vec::new();
    let mut tris = Vec::new();
    for m in parts {
        let o = pos.len() as u32;
        pos.extend_from_slice(&m.positions);
        tris.extend(m.triangles.iter().map(|t| t.map(|v| v + o)));
    }
    Mesh::new(pos, tris).unwrap()
}

/// Section area at height z by Green's theorem over per-triangle segments, each computed
/// from coordinates alone and oriented by the face normal (no chaining, no edge ids).
/// Same tie rule as the slicer: a vertex at z counts as above.
pub fn brute_area(mesh: &Mesh, z: f64) -> f64 {
    let mut area = 0.0;
    for t in 0..mesh.triangles.len() {
        let c = mesh
            .corners(t)
            .map(|p| [p.x as f64, p.y as f64, p.z as f64]);
        let mut pts = Vec::new();
        for i in 0..3 {
            let (a, b) = (c[i], c[(i + 1) % 3]);
            if (a[2] >= z) != (b[2] >= z) {
                let (lo, hi) = if a[2] < b[2] { (a, b) } else { (b, a) };
                let s = (z - lo[2]) / (hi[2] - lo[2]);
                pts.push([lo[0] + s * (hi[0] - lo[0]), lo[1] + s * (hi[1] - lo[1])]);
            }
        }
        if pts.len() != 2 {
            continue;
        }
        let u = [c[1][0] - c[0][0], c[1][1] - c[0][1], c[1][2] - c[0][2]];
        let v = [c[2][0] - c[0][0], c[2][1] - c[0][1], c[2][2] - c[0][2]];
        let n = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2]];
        let (mut p, mut q) = (pts[0], pts[1]);
        // Travel direction z × n keeps the material on the left.
        if (q[0] - p[0]) * -n[1] + (q[1] - p[1]) * n[0] < 0.0 {
            std::mem::swap(&mut p, &mut q);
        }
        area += 0.5 * (p[0] * q[1] - q[0] * p[1]);
    }
    area
}

/// Path of the shared public scans.
pub fn scans() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/scans")
}
