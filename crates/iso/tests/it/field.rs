//! Scalar fields: a sampled sphere SDF.

use crate::check::check;
use osteon_geom::{NeverCancel, NoProgress};
use osteon_iso::{extract_field, ExtractOptions, IsoError};
use osteon_volume::{Grid, Volume};
use std::f64::consts::PI;

fn sphere_sdf(n: usize, h: f64, c: [f64; 3], r: f64) -> Volume<f32> {
    let grid = Grid::new([n, n, n], [h; 3]);
    let mut data = Vec::with_capacity(n * n * n);
    for k in 0..n {
        for j in 0..n {
            for i in 0..n {
                let p = [i, j, k].map(|a| a as f64 * h);
                let d =
                    ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2) + (p[2] - c[2]).powi(2)).sqrt();
                data.push((d - r) as f32);
            }
        }
    }
    Volume::new(grid, data).unwrap()
}

#[test]
fn sphere_sdf_vertices_lie_on_the_sphere() {
    let (h, r, c) = (0.7, 9.3, [14.1, 13.6, 14.4]);
    let f = sphere_sdf(42, h, c, r);
    let (mesh, report) = extract_field(
        &f,
        0.0,
        &ExtractOptions::default(),
        &NoProgress,
        &NeverCancel,
    )
    .unwrap();
    let s = check(&mesh);
    assert_eq!(s.components.len(), 1);
    let mut worst: f64 = 0.0;
    for p in &mesh.positions {
        let d = p.as_dvec3() - osteon_geom::DVec3::from_array(c);
        worst = worst.max((d.length() - r).abs());
    }
    let exact = 4.0 / 3.0 * PI * r * r * r;
    let ev = (s.volume - exact) / exact;
    eprintln!("field sphere: {} triangles, max vertex distance {worst:.4} mm (h = {h}), volume error {:+.3}%",
        report.triangles, 100.0 * ev);
    // Linear interpolation of |p − c| along a chord: error ≤ h²/(8r).
    assert!(worst < h * h / (8.0 * r) + 1e-4, "{worst}");
    assert!(ev.abs() < 0.01);
    // A shifted isovalue offsets the surface.
    let (m2, _) = extract_field(
        &f,
        1.0,
        &ExtractOptions::default(),
        &NoProgress,
        &NeverCancel,
    )
    .unwrap();
    check(&m2);
    assert!(m2.signed_volume() > s.volume);
}

#[test]
fn field_touching_the_border_and_nan_stay_closed() {
    // Everything inside (and a NaN hole): the surface closes half a voxel outside.
    let mut f = Volume::filled(Grid::new([5, 6, 7], [1.0; 3]), -1.0f32).unwrap();
    f.data[3 + 5 * (3 + 6 * 3)] = f32::NAN;
    let (mesh, r) = extract_field(
        &f,
        0.0,
        &ExtractOptions::default(),
        &NoProgress,
        &NeverCancel,
    )
    .unwrap();
    let s = check(&mesh);
    assert_eq!(r.inside_voxels, 5 * 6 * 7 - 1);
    // The outer box and the cavity around the NaN sample (negative volume, facing into it).
    assert_eq!(s.components.len(), 2);
    assert!(s.components.iter().any(|&(v, _)| v < 0.0));
    let r = extract_field(
        &f,
        f32::NAN,
        &ExtractOptions::default(),
        &NoProgress,
        &NeverCancel,
    );
    assert!(matches!(r, Err(IsoError::NonFiniteIso { .. })));
    let r = extract_field(
        &f,
        -5.0,
        &ExtractOptions::default(),
        &NoProgress,
        &NeverCancel,
    );
    assert!(matches!(r, Err(IsoError::Empty)));
}
