//! Independent checks: parry3d's exact point projection (not this crate's BVH) at
//! area-uniform random points of the output, and topology via osteon-mesh.

use osteon_geom::Vec3;
use osteon_mesh::Mesh;
use parry3d::query::PointQuery;
use parry3d::shape::TriMesh;

/// Error statistics in mm.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub mean: f64,
    pub p99: f64,
    pub max: f64,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` area-uniform random points on `mesh` (fixed seed) plus every vertex.
pub fn sample(mesh: &Mesh, n: usize) -> Vec<Vec3> {
    let mut cum = Vec::with_capacity(mesh.triangles.len());
    let mut acc = 0.0f64;
    for t in 0..mesh.triangles.len() {
        let [a, b, c] = mesh.corners(t);
        acc += 0.5 * f64::from((b - a).cross(c - a).length());
        cum.push(acc);
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut pts: Vec<Vec3> = (0..n)
        .map(|_| {
            let r = rng.next() * acc;
            let t = cum.partition_point(|&v| v < r).min(cum.len() - 1);
            let [a, b, c] = mesh.corners(t);
            let (r1, r2) = (rng.next().sqrt() as f32, rng.next() as f32);
            a * (1.0 - r1) + b * (r1 * (1.0 - r2)) + c * (r1 * r2)
        })
        .collect();
    pts.extend_from_slice(&mesh.positions);
    pts
}

/// Unsigned distances from `pts` to `input`, by parry3d.
pub fn parry_distances(input: &Mesh, pts: &[Vec3]) -> Vec<f32> {
    use rayon::prelude::*;
    let tm = TriMesh::new(input.positions.clone(), input.triangles.clone()).expect("parry trimesh");
    pts.par_iter()
        .map(|&p| tm.distance_to_local_point(p, false))
        .collect()
}

/// Independent error statistics of `output` against `input`: `err(u)` per sample, area
/// uniform samples for mean and p99, vertices too for the max.
pub fn independent(input: &Mesh, output: &Mesh, n: usize, err: impl Fn(f32) -> f32) -> Stats {
    let pts = sample(output, n);
    let d = parry_distances(input, &pts);
    let mut e: Vec<f64> = d.iter().map(|&u| f64::from(err(u))).collect();
    let max = e.iter().cloned().fold(0.0, f64::max);
    let mut area = e[..n].to_vec();
    area.sort_by(f64::total_cmp);
    e.clear();
    Stats {
        mean: area.iter().sum::<f64>() / n as f64,
        p99: area[((n as f64) * 0.99) as usize],
        max,
    }
}

/// Closed, manifold, outward: the mesh report agrees.
pub fn assert_closed_manifold(mesh: &Mesh) -> osteon_mesh::MeshReport {
    let r = osteon_mesh::report(mesh).expect("report");
    assert!(r.watertight, "not watertight: {:?}", r.problems());
    assert!(r.manifold, "not manifold: {:?}", r.problems());
    assert!(r.oriented, "not oriented: {:?}", r.problems());
    r
}

/// A UV sphere-free icosphere of radius `r` centred at `c`, `sub` subdivisions.
pub fn icosphere(r: f32, sub: u32, c: Vec3) -> Mesh {
    osteon_mesh::shapes::icosphere(sub, r).map_positions(|p| p + c)
}

/// An axis-aligned cube of edge `a` from the origin, outward.
pub fn cube(a: f32) -> Mesh {
    let p: Vec<Vec3> = (0..8)
        .map(|i| Vec3::new((i & 1) as f32, ((i >> 1) & 1) as f32, (i >> 2) as f32) * a)
        .collect();
    let t = vec![
        [0, 2, 1],
        [1, 2, 3],
        [4, 5, 6],
        [5, 7, 6],
        [0, 1, 4],
        [1, 5, 4],
        [2, 6, 3],
        [3, 6, 7],
        [0, 4, 2],
        [2, 4, 6],
        [1, 3, 5],
        [3, 7, 5],
    ];
    Mesh::new(p, t).unwrap()
}
