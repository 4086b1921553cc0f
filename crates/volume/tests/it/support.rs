//! Shared helpers: mask builders and brute-force oracles.

use std::collections::VecDeque;

use osteon_volume::{Connectivity, Grid, Volume};

/// A mask of `dims` and `spacing` with 1 where `inside(i, j, k)`.
pub fn mask(
    dims: [usize; 3],
    spacing: [f64; 3],
    inside: impl Fn(usize, usize, usize) -> bool,
) -> Volume<u8> {
    let grid = Grid::new(dims, spacing);
    let mut data = vec![0u8; grid.len()];
    for k in 0..dims[2] {
        for j in 0..dims[1] {
            for i in 0..dims[0] {
                data[grid.index(i, j, k)] = u8::from(inside(i, j, k));
            }
        }
    }
    Volume::new(grid, data).unwrap()
}

/// Voxels of a ball of `radius` voxels around `c` (voxel units).
pub fn ball(dims: [usize; 3], c: [f64; 3], radius: f64) -> Volume<u8> {
    mask(dims, [1.0; 3], |i, j, k| {
        let d = [i as f64 - c[0], j as f64 - c[1], k as f64 - c[2]];
        d[0] * d[0] + d[1] * d[1] + d[2] * d[2] <= radius * radius
    })
}

pub fn count(m: &Volume<u8>) -> usize {
    m.data.iter().filter(|&&v| v != 0).count()
}

/// Neighbour offsets of a connectivity.
pub fn offsets(conn: Connectivity) -> Vec<[i64; 3]> {
    let mut out = Vec::new();
    for dz in -1..=1i64 {
        for dy in -1..=1i64 {
            for dx in -1..=1i64 {
                let n = dx.abs() + dy.abs() + dz.abs();
                let ok = match conn {
                    Connectivity::C6 => n == 1,
                    _ => n > 0,
                };
                if ok {
                    out.push([dx, dy, dz]);
                }
            }
        }
    }
    out
}

/// Components by breadth-first search: labels in raster order of the first voxel and sizes.
pub fn bfs_components(m: &Volume<u8>, conn: Connectivity) -> (Vec<u32>, Vec<u64>) {
    let d = m.grid.dims;
    let offs = offsets(conn);
    let mut labels = vec![0u32; m.data.len()];
    let mut sizes = Vec::new();
    let mut queue = VecDeque::new();
    for start in 0..m.data.len() {
        if m.data[start] == 0 || labels[start] != 0 {
            continue;
        }
        sizes.push(0u64);
        let l = sizes.len() as u32;
        labels[start] = l;
        queue.push_back(start);
        while let Some(p) = queue.pop_front() {
            sizes[l as usize - 1] += 1;
            let (i, j, k) = (p % d[0], (p / d[0]) % d[1], p / (d[0] * d[1]));
            for o in &offs {
                let q = [i as i64 + o[0], j as i64 + o[1], k as i64 + o[2]];
                if (0..3).any(|a| q[a] < 0 || q[a] >= d[a] as i64) {
                    continue;
                }
                let qi = m.grid.index(q[0] as usize, q[1] as usize, q[2] as usize);
                if m.data[qi] != 0 && labels[qi] == 0 {
                    labels[qi] = l;
                    queue.push_back(qi);
                }
            }
        }
    }
    (labels, sizes)
}

/// Squared distance (mm²) from every voxel to the nearest non-zero voxel, by brute force.
pub fn brute_edt(m: &Volume<u8>) -> Vec<f64> {
    let d = m.grid.dims;
    let s = m.grid.spacing;
    let sites: Vec<[usize; 3]> = (0..m.data.len())
        .filter(|&p| m.data[p] != 0)
        .map(|p| [p % d[0], (p / d[0]) % d[1], p / (d[0] * d[1])])
        .collect();
    (0..m.data.len())
        .map(|p| {
            let v = [p % d[0], (p / d[0]) % d[1], p / (d[0] * d[1])];
            sites
                .iter()
                .map(|q| {
                    (0..3)
                        .map(|a| ((v[a] as f64 - q[a] as f64) * s[a]).powi(2))
                        .sum::<f64>()
                })
                .fold(f64::INFINITY, f64::min)
        })
        .collect()
}

/// Closing by brute force on a grid padded by the ball's reach plus one on every side
/// (the unbounded-background definition), cropped back.
pub fn brute_close(m: &Volume<u8>, r: f64) -> Vec<u8> {
    let d = m.grid.dims;
    let s = m.grid.spacing;
    let r2 = r * r * (1.0 + 1e-5);
    let reach: Vec<i64> = (0..3).map(|a| (r / s[a]).floor() as i64 + 1).collect();
    let mut ball = Vec::new();
    for dz in -reach[2]..=reach[2] {
        for dy in -reach[1]..=reach[1] {
            for dx in -reach[0]..=reach[0] {
                let dd = (dx as f64 * s[0]).powi(2)
                    + (dy as f64 * s[1]).powi(2)
                    + (dz as f64 * s[2]).powi(2);
                if dd <= r2 {
                    ball.push([dx, dy, dz]);
                }
            }
        }
    }
    let pad: Vec<i64> = reach.iter().map(|r| 2 * r + 1).collect();
    let pd: [i64; 3] = [0, 1, 2].map(|a| d[a] as i64 + 2 * pad[a]);
    let at = |v: &[u8], p: [i64; 3]| -> u8 {
        if (0..3).any(|a| p[a] < 0 || p[a] >= pd[a]) {
            0
        } else {
            v[(p[0] + pd[0] * (p[1] + pd[1] * p[2])) as usize]
        }
    };
    let n = (pd[0] * pd[1] * pd[2]) as usize;
    let mut src = vec![0u8; n];
    for k in 0..d[2] {
        for j in 0..d[1] {
            for i in 0..d[0] {
                let p = [i as i64 + pad[0], j as i64 + pad[1], k as i64 + pad[2]];
                src[(p[0] + pd[0] * (p[1] + pd[1] * p[2])) as usize] =
                    m.data[m.grid.index(i, j, k)];
            }
        }
    }
    let cells = || {
        (0..pd[2])
            .flat_map(move |z| (0..pd[1]).flat_map(move |y| (0..pd[0]).map(move |x| [x, y, z])))
    };
    let dil: Vec<u8> = cells()
        .map(|p| {
            u8::from(
                ball.iter()
                    .any(|o| at(&src, [p[0] + o[0], p[1] + o[1], p[2] + o[2]]) != 0),
            )
        })
        .collect();
    let ero: Vec<u8> = cells()
        .map(|p| {
            u8::from(
                ball.iter()
                    .all(|o| at(&dil, [p[0] + o[0], p[1] + o[1], p[2] + o[2]]) != 0),
            )
        })
        .collect();
    let mut out = vec![0u8; m.data.len()];
    for k in 0..d[2] {
        for j in 0..d[1] {
            for i in 0..d[0] {
                let p = [i as i64 + pad[0], j as i64 + pad[1], k as i64 + pad[2]];
                out[m.grid.index(i, j, k)] = at(&ero, p);
            }
        }
    }
    out
}

/// Runs `f` in a rayon pool of `n` threads.
pub fn with_threads<R: Send>(n: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap()
        .install(f)
}
