//! A small, independent mesh checker: closed, 2-manifold, oriented, non-degenerate.

use osteon_geom::{NeverCancel, NoProgress};
use osteon_iso::{extract_mask, ExtractOptions, ExtractReport};
use osteon_mesh::Mesh;
use osteon_volume::{Grid, Volume};
use rayon::prelude::*;

/// What the checker measured.
#[derive(Debug)]
pub struct Summary {
    /// Per closed component: (signed volume mm³, Euler characteristic V − E + F).
    pub components: Vec<(f64, i64)>,
    /// Total signed volume, mm³.
    pub volume: f64,
    /// Total area, mm².
    pub area: f64,
}

/// Checks the mesh and panics with the first violation; returns its measures.
pub fn check(mesh: &Mesh) -> Summary {
    let nv = mesh.positions.len();
    let tris = &mesh.triangles;
    assert!(!tris.is_empty(), "no triangles");
    // Non-degenerate triangles, valid indices.
    tris.par_iter().enumerate().for_each(|(t, &[a, b, c])| {
        assert!((a as usize) < nv && (b as usize) < nv && (c as usize) < nv);
        assert!(a != b && b != c && c != a, "triangle {t} repeats a vertex");
        let [p, q, r] = mesh.corners(t).map(|v| v.as_dvec3());
        let n = (q - p).cross(r - p).length();
        let scale = (q - p).length_squared().max((r - p).length_squared());
        assert!(n > 1e-7 * scale, "triangle {t} is degenerate: {p} {q} {r}");
    });
    // Every directed edge once, and its opposite once.
    let mut edges: Vec<u64> = tris
        .par_iter()
        .flat_map_iter(|&[a, b, c]| [(a, b), (b, c), (c, a)])
        .map(|(a, b)| (u64::from(a) << 32) | u64::from(b))
        .collect();
    edges.par_sort_unstable();
    edges.par_windows(2).for_each(|w| {
        assert!(
            w[0] != w[1],
            "directed edge {}→{} used twice",
            w[0] >> 32,
            w[0] & 0xFFFF_FFFF
        );
    });
    edges.par_iter().for_each(|&e| {
        let rev = e.rotate_right(32);
        assert!(
            edges.binary_search(&rev).is_ok(),
            "edge {}→{} has no opposite (boundary or inconsistent winding)",
            e >> 32,
            e & 0xFFFF_FFFF
        );
    });
    // Vertex links: for triangle (a, b, c), vertex a's link has the step b → c.
    let mut deg = vec![0u32; nv + 1];
    for t in tris {
        for &v in t {
            deg[v as usize + 1] += 1;
        }
    }
    for v in 0..nv {
        deg[v + 1] += deg[v];
    }
    let start = deg.clone();
    let mut fill = deg.clone();
    let mut link = vec![(0u32, 0u32); tris.len() * 3];
    for &[a, b, c] in tris {
        for (v, p, q) in [(a, b, c), (b, c, a), (c, a, b)] {
            link[fill[v as usize] as usize] = (p, q);
            fill[v as usize] += 1;
        }
    }
    (0..nv).into_par_iter().for_each(|v| {
        let l = &link[start[v] as usize..start[v + 1] as usize];
        assert!(l.len() >= 3, "vertex {v} is in {} triangles", l.len());
        let mut cur = l[0].0;
        for _ in 0..l.len() {
            let steps: Vec<_> = l.iter().filter(|s| s.0 == cur).collect();
            assert_eq!(steps.len(), 1, "vertex {v}: link is not a simple cycle");
            cur = steps[0].1;
        }
        assert_eq!(
            cur, l[0].0,
            "vertex {v}: link is not one cycle (fan is not a disk)"
        );
    });
    // Components by union-find over triangle edges.
    let mut parent: Vec<u32> = (0..nv as u32).collect();
    fn find(p: &mut [u32], mut x: u32) -> u32 {
        while p[x as usize] != x {
            p[x as usize] = p[p[x as usize] as usize];
            x = p[x as usize];
        }
        x
    }
    for &[a, b, c] in tris {
        for (x, y) in [(a, b), (b, c)] {
            let (rx, ry) = (find(&mut parent, x), find(&mut parent, y));
            if rx != ry {
                parent[rx.max(ry) as usize] = rx.min(ry);
            }
        }
    }
    let roots: Vec<u32> = (0..nv as u32).map(|v| find(&mut parent, v)).collect();
    let mut ids = std::collections::BTreeMap::new();
    for &r in &roots {
        let n = ids.len();
        ids.entry(r).or_insert(n);
    }
    let nc = ids.len();
    let mut vcount = vec![0i64; nc];
    let mut fcount = vec![0i64; nc];
    let mut vol = vec![0f64; nc];
    let c0 = mesh.positions[0].as_dvec3();
    for &r in &roots {
        vcount[ids[&r]] += 1;
    }
    for (t, &[a, ..]) in tris.iter().enumerate() {
        let c = ids[&roots[a as usize]];
        fcount[c] += 1;
        let [p, q, r] = mesh.corners(t).map(|v| v.as_dvec3() - c0);
        vol[c] += p.dot(q.cross(r)) / 6.0;
    }
    let components: Vec<(f64, i64)> = (0..nc)
        .map(|c| {
            // Closed: E = 3F/2.
            let euler = vcount[c] - 3 * fcount[c] / 2 + fcount[c];
            (vol[c], euler)
        })
        .collect();
    for (c, &(v, e)) in components.iter().enumerate() {
        // Negative only for cavities (checked below by winding numbers).
        assert!(v != 0.0, "component {c} encloses nothing");
        assert!(e % 2 == 0, "component {c} has odd Euler characteristic {e}");
        assert!(e <= 2, "component {c} has Euler characteristic {e} > 2");
    }
    // Outward: just in front of a triangle the winding number of the whole surface is 0
    // (outside), just behind it 1 (inside). One triangle per component; skipped for huge
    // meshes (quadratic).
    if tris.len() * nc <= 50_000_000 {
        let mut first = vec![usize::MAX; nc];
        for (t, &[a, ..]) in tris.iter().enumerate() {
            let c = ids[&roots[a as usize]];
            if first[c] == usize::MAX {
                first[c] = t;
            }
        }
        for (c, &t) in first.iter().enumerate() {
            let [p, q, r] = mesh.corners(t).map(|v| v.as_dvec3());
            let n = (q - p).cross(r - p);
            let g = (p + q + r) / 3.0;
            let eps = 1e-3 * n.length().sqrt();
            let (front, back) = (
                winding(mesh, g + n.normalize() * eps),
                winding(mesh, g - n.normalize() * eps),
            );
            assert!(
                front.abs() < 0.01 && (back - 1.0).abs() < 0.01,
                "component {c} (volume {}) is not outward: winding {front} in front, {back} behind",
                components[c].0
            );
        }
    }
    let volume = mesh.signed_volume();
    assert!(volume > 0.0);
    Summary {
        components,
        volume,
        area: mesh.area(),
    }
}

/// Generalised winding number of the surface at `x` (Van Oosterom & Strackee solid angles).
pub fn winding(mesh: &Mesh, x: osteon_geom::DVec3) -> f64 {
    mesh.triangles
        .par_iter()
        .enumerate()
        .map(|(t, _)| {
            let [a, b, c] = mesh.corners(t).map(|v| v.as_dvec3() - x);
            let (la, lb, lc) = (a.length(), b.length(), c.length());
            let num = a.dot(b.cross(c));
            let den = la * lb * lc + a.dot(b) * lc + b.dot(c) * la + c.dot(a) * lb;
            2.0 * num.atan2(den)
        })
        .sum::<f64>()
        / (4.0 * std::f64::consts::PI)
}

/// A mask volume on a unit grid from a predicate on voxel indices.
pub fn mask(dims: [usize; 3], f: impl Fn(usize, usize, usize) -> bool) -> Volume<u8> {
    grid_mask(Grid::new(dims, [1.0; 3]), f)
}

/// A mask volume on `grid` from a predicate on voxel indices.
pub fn grid_mask(grid: Grid, f: impl Fn(usize, usize, usize) -> bool) -> Volume<u8> {
    let [nx, ny, nz] = grid.dims;
    let mut data = vec![0u8; nx * ny * nz];
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                data[i + nx * (j + ny * k)] = u8::from(f(i, j, k));
            }
        }
    }
    Volume::new(grid, data).unwrap()
}

/// Extracts with default options and checks.
pub fn extract(v: &Volume<u8>) -> (Mesh, ExtractReport, Summary) {
    extract_with(v, &ExtractOptions::default())
}

/// Extracts with `opts` and checks.
pub fn extract_with(v: &Volume<u8>, opts: &ExtractOptions) -> (Mesh, ExtractReport, Summary) {
    let (mesh, report) = extract_mask(v, opts, &NoProgress, &NeverCancel).unwrap();
    assert_eq!(report.vertices, mesh.positions.len());
    assert_eq!(report.triangles, mesh.triangles.len());
    let s = check(&mesh);
    (mesh, report, s)
}
