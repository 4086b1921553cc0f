//! Analytic test shapes: closed, outward meshes with known measures (for tests, benchmarks
//! and examples).

use osteon_geom::Vec3;

use crate::Mesh;

/// A torus about the z axis, major radius `r0`, minor radius `r1`, `n` × `m` quads each split
/// in two: closed, outward, genus 1, `2·n·m` triangles.
pub fn torus(r0: f32, r1: f32, n: u32, m: u32) -> Mesh {
    let mut positions = Vec::with_capacity((n * m) as usize);
    for i in 0..n {
        let u = i as f32 / n as f32 * std::f32::consts::TAU;
        for j in 0..m {
            let v = j as f32 / m as f32 * std::f32::consts::TAU;
            let r = r0 + r1 * v.cos();
            positions.push(Vec3::new(r * u.cos(), r * u.sin(), r1 * v.sin()));
        }
    }
    let id = |i: u32, j: u32| (i % n) * m + (j % m);
    let mut triangles = Vec::with_capacity((2 * n * m) as usize);
    for i in 0..n {
        for j in 0..m {
            let (a, b, c, d) = (id(i, j), id(i + 1, j), id(i + 1, j + 1), id(i, j + 1));
            triangles.push([a, b, c]);
            triangles.push([a, c, d]);
        }
    }
    Mesh {
        positions,
        triangles,
    }
}

/// A closed, outward, axis-aligned box from `min` to `max`: 8 vertices (vertex `i` takes
/// `max` on x, y, z where bit 0, 1, 2 of `i` is set) and 12 triangles, two per face in the
/// order z = min, z = max, y = min, y = max, x = min, x = max.
pub fn cuboid(min: Vec3, max: Vec3) -> Mesh {
    let positions = (0..8)
        .map(|i| {
            Vec3::new(
                if i & 1 == 0 { min.x } else { max.x },
                if i & 2 == 0 { min.y } else { max.y },
                if i & 4 == 0 { min.z } else { max.z },
            )
        })
        .collect();
    let triangles = vec![
        [0, 2, 1],
        [1, 2, 3], // z = min
        [4, 5, 6],
        [5, 7, 6], // z = max
        [0, 1, 4],
        [1, 5, 4], // y = min
        [2, 6, 3],
        [3, 6, 7], // y = max
        [0, 4, 2],
        [2, 4, 6], // x = min
        [1, 3, 5],
        [3, 7, 5], // x = max
    ];
    Mesh {
        positions,
        triangles,
    }
}

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
