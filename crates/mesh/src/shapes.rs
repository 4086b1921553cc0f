//! Analytic test shapes: closed, outward meshes with known measures (for tests, benchmarks
//! and examples).

use osteon_geom::Vec3;

use crate::Mesh;

/// A subdivided icosahedron of radius `r` centred at the origin, outward: `20 · 4^levels`
/// triangles, every vertex exactly on the sphere (up to f32 rounding).
pub fn icosphere(levels: u32, r: f32) -> Mesh {
    let t = (1.0 + 5f32.sqrt()) / 2.0;
    let mut p: Vec<Vec3> = [
        [-1., t, 0.],
        [1., t, 0.],
        [-1., -t, 0.],
        [1., -t, 0.],
        [0., -1., t],
        [0., 1., t],
        [0., -1., -t],
        [0., 1., -t],
        [t, 0., -1.],
        [t, 0., 1.],
        [-t, 0., -1.],
        [-t, 0., 1.],
    ]
    .iter()
    .map(|&a| Vec3::from(a).normalize())
    .collect();
    let mut f: Vec<[u32; 3]> = vec![
        [0, 11, 5],
        [0, 5, 1],
        [0, 1, 7],
        [0, 7, 10],
        [0, 10, 11],
        [1, 5, 9],
        [5, 11, 4],
        [11, 10, 2],
        [10, 7, 6],
        [7, 1, 8],
        [3, 9, 4],
        [3, 4, 2],
        [3, 2, 6],
        [3, 6, 8],
        [3, 8, 9],
        [4, 9, 5],
        [2, 4, 11],
        [6, 2, 10],
        [8, 6, 7],
        [9, 8, 1],
    ];
    for _ in 0..levels {
        let mut mid = std::collections::BTreeMap::new();
        let mut nf = Vec::new();
        for t in &f {
            let mut m = [0u32; 3];
            for k in 0..3 {
                let (a, b) = (t[k], t[(k + 1) % 3]);
                m[k] = *mid.entry((a.min(b), a.max(b))).or_insert_with(|| {
                    p.push(((p[a as usize] + p[b as usize]) * 0.5).normalize());
                    p.len() as u32 - 1
                });
            }
            nf.extend([
                [t[0], m[0], m[2]],
                [t[1], m[1], m[0]],
                [t[2], m[2], m[1]],
                [m[0], m[1], m[2]],
            ]);
        }
        f = nf;
    }
    Mesh {
        positions: p.into_iter().map(|v| v * r).collect(),
        triangles: f,
    }
}
