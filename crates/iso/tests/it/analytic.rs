//! Shapes with known answers.

use crate::check::{extract, extract_with, grid_mask, mask};
use osteon_geom::{NeverCancel, NoProgress};
use osteon_iso::{extract_mask, ExtractOptions, IsoError};
use osteon_volume::{Grid, Volume};
use std::f64::consts::PI;
use std::sync::atomic::AtomicBool;

#[test]
fn single_voxel_is_an_octahedron() {
    let (mesh, report, s) = extract(&mask([1, 1, 1], |_, _, _| true));
    assert_eq!((mesh.positions.len(), mesh.triangles.len()), (6, 8));
    assert_eq!(s.components, vec![(1.0 / 6.0, 2)]);
    assert!((s.volume - 1.0 / 6.0).abs() < 1e-9);
    assert_eq!(report.inside_voxels, 1);
    // Also inside a larger volume, away from the border, with anisotropic spacing.
    let grid = Grid::new([3, 4, 5], [0.5, 1.0, 2.0]);
    let (_, r, s) = extract(&grid_mask(grid, |i, j, k| (i, j, k) == (1, 2, 3)));
    assert_eq!((r.vertices, r.triangles), (6, 8));
    assert!((s.volume - 1.0 / 6.0).abs() < 1e-9);
}

#[test]
fn full_block_touching_every_border_is_a_closed_box() {
    let dims = [4, 5, 6];
    let (mesh, report, s) = extract(&mask(dims, |_, _, _| true));
    assert_eq!(s.components.len(), 1);
    assert_eq!(s.components[0].1, 2);
    assert_eq!(report.inside_voxels, 120);
    let b = mesh.bounds().unwrap();
    for (a, &n) in dims.iter().enumerate() {
        assert_eq!(b.min[a], -0.5);
        assert_eq!(b.max[a], n as f32 - 0.5);
    }
    // Chamfered box: less than the voxels, more than the box through the outer centres.
    assert!(s.volume < 120.0 && s.volume > 3.0 * 4.0 * 5.0);
}

#[test]
fn cubes_touching_at_an_edge_are_one_closed_surface() {
    // Inside is 26-connected (as the selection's components): two blocks sharing only an
    // edge are one solid, bounded by one closed genus-0 surface — never a non-manifold edge.
    let v = mask([6, 6, 3], |i, j, _| (i < 3 && j < 3) || (i >= 3 && j >= 3));
    let (_, _, s) = extract(&v);
    assert_eq!(s.components.len(), 1, "{:?}", s.components);
    assert_eq!(s.components[0].1, 2);
    // Along every axis.
    let v = mask([3, 6, 6], |_, j, k| (j < 3 && k < 3) || (j >= 3 && k >= 3));
    assert_eq!(extract(&v).2.components.len(), 1);
    let v = mask([6, 3, 6], |i, _, k| (i < 3 && k < 3) || (i >= 3 && k >= 3));
    assert_eq!(extract(&v).2.components.len(), 1);
}

#[test]
fn cubes_touching_at_a_corner_are_one_closed_surface() {
    for flip in 0..4 {
        let v = mask([6, 6, 6], |i, j, k| {
            let (a, b) = (i < 3, j < 3);
            let (a, b) = match flip {
                0 => (a, b),
                1 => (!a, b),
                2 => (a, !b),
                _ => (!a, !b),
            };
            (a && b && k < 3) || (!a && !b && k >= 3)
        });
        let (_, _, s) = extract(&v);
        assert_eq!(s.components.len(), 1, "flip {flip}: {:?}", s.components);
        assert_eq!(s.components[0].1, 2, "joined by a tube, still a sphere");
    }
}

#[test]
fn two_voxels_on_a_body_diagonal_make_a_tube() {
    // Two octahedra (1/6 each) joined by the body-diagonal tube of the middle cube.
    let v = mask([2, 2, 2], |i, j, k| {
        (i, j, k) == (0, 0, 0) || (i, j, k) == (1, 1, 1)
    });
    let (_, r, s) = extract(&v);
    assert_eq!(s.components.len(), 1);
    assert_eq!(s.components[0].1, 2);
    assert_eq!(
        r.triangles,
        7 + 7 + 6,
        "two open octahedra and a 6-triangle tube"
    );
    assert!(s.volume > 2.0 / 6.0);
}

#[test]
fn checkerboard_is_one_solid() {
    // Every voxel touches its inside neighbours at edges: 26-connected, one component; the
    // outside voxels are 6-isolated, so each interior one is a closed cavity.
    let v = mask([5, 6, 7], |i, j, k| (i + j + k) % 2 == 0);
    let (_, r, s) = extract(&v);
    let outer = s.components.iter().filter(|&&(v, _)| v > 0.0).count();
    assert_eq!(outer, 1);
    // Interior outside voxels (not touching the border): (3·4·5) / 2 of them, rounded.
    let cavities = s.components.iter().filter(|&&(v, _)| v < 0.0).count();
    let interior_outside = (1..4)
        .flat_map(|i| (1..5).flat_map(move |j| (1..6).map(move |k| (i, j, k))))
        .filter(|&(i, j, k)| (i + j + k) % 2 == 1)
        .count();
    assert_eq!(cavities, interior_outside);
    assert!(s.volume > r.inside_voxels as f64 / 6.0);
}

#[test]
fn torus_has_genus_one() {
    let (big, small) = (12.0, 5.0);
    let c = 18.5;
    let v = mask([38, 38, 14], |i, j, k| {
        let (x, y, z) = (i as f64 - c, j as f64 - c, k as f64 - 6.5);
        let q = (x * x + y * y).sqrt() - big;
        q * q + z * z <= small * small
    });
    let (_, _, s) = extract(&v);
    assert_eq!(s.components.len(), 1);
    assert_eq!(s.components[0].1, 0, "Euler characteristic of a torus");
    let exact = 2.0 * PI * PI * big * small * small;
    assert!(
        (s.volume - exact).abs() / exact < 0.03,
        "{} vs {exact}",
        s.volume
    );
}

#[test]
fn sphere_volume_and_area() {
    // r = 20 voxels at 0.5 mm: R = 10 mm.
    let (r, h) = (20.0, 0.5);
    let n = 45;
    let c = 22.0;
    let grid = Grid::new([n, n, n], [h; 3]).with_origin([-c * h; 3]);
    let v = grid_mask(grid, |i, j, k| {
        let d = [i, j, k].map(|a| a as f64 - c);
        d[0] * d[0] + d[1] * d[1] + d[2] * d[2] <= r * r
    });
    let (mesh, report, s) = extract(&v);
    assert_eq!(s.components.len(), 1);
    assert_eq!(s.components[0].1, 2);
    let rr = r * h;
    let (vol, area) = (4.0 / 3.0 * PI * rr.powi(3), 4.0 * PI * rr * rr);
    let ev = (s.volume - vol) / vol;
    let ea = (s.area - area) / area;
    let ex = (report.inside_volume_mm3 - vol) / vol;
    let em = (s.volume - report.inside_volume_mm3) / report.inside_volume_mm3;
    eprintln!(
        "sphere r=20 vox h=0.5: {} triangles, volume error {:+.3}%, area error {:+.3}%, \
         voxel-count volume error {:+.3}%, mesh vs voxels {:+.3}%",
        mesh.triangles.len(),
        100.0 * ev,
        100.0 * ea,
        100.0 * ex,
        100.0 * em
    );
    assert!(ev.abs() < 0.01, "volume error {ev}");
    assert!(ea.abs() < 0.10, "area error {ea}");
    // Every vertex is within half a voxel diagonal of the sphere.
    for p in &mesh.positions {
        assert!((p.as_dvec3().length() - rr).abs() < 0.5 * h * 3f64.sqrt());
    }
}

#[test]
fn empty_and_invalid_inputs_are_errors() {
    let v = mask([4, 4, 4], |_, _, _| false);
    let r = extract_mask(&v, &ExtractOptions::default(), &NoProgress, &NeverCancel);
    assert!(matches!(r, Err(IsoError::Empty)));
    let bad = Volume {
        grid: Grid::new([2, 2, 2], [1.0; 3]),
        data: vec![1u8; 7],
    };
    let r = extract_mask(&bad, &ExtractOptions::default(), &NoProgress, &NeverCancel);
    assert!(matches!(r, Err(IsoError::InvalidVolume { .. })));
    let bad = Volume {
        grid: Grid::new([2, 2, 2], [0.0, 1.0, 1.0]),
        data: vec![1u8; 8],
    };
    let r = extract_mask(&bad, &ExtractOptions::default(), &NoProgress, &NeverCancel);
    assert!(matches!(r, Err(IsoError::InvalidVolume { .. })));
    let v = mask([2, 2, 2], |_, _, _| true);
    let r = extract_mask(
        &v,
        &ExtractOptions::default().with_slab_cells(0),
        &NoProgress,
        &NeverCancel,
    );
    assert!(matches!(r, Err(IsoError::InvalidOption(_))));
}

#[test]
fn cancel_stops() {
    let v = mask([8, 8, 8], |_, _, _| true);
    let stop = AtomicBool::new(true);
    let r = extract_mask(&v, &ExtractOptions::default(), &NoProgress, &stop);
    assert!(matches!(r, Err(IsoError::Cancelled)));
}

#[test]
fn progress_counts_every_layer() {
    use std::sync::atomic::{AtomicU64, Ordering};
    #[derive(Default)]
    struct Count(AtomicU64, AtomicU64);
    impl osteon_geom::Progress for Count {
        fn begin(&self, _: &str, total: u64) {
            self.0.store(total, Ordering::Relaxed);
        }
        fn advance(&self, n: u64) {
            self.1.fetch_add(n, Ordering::Relaxed);
        }
    }
    let p = Count::default();
    let v = mask([5, 5, 9], |i, _, _| i == 2);
    extract_mask(
        &v,
        &ExtractOptions::default().with_slab_cells(3),
        &p,
        &NeverCancel,
    )
    .unwrap();
    assert_eq!(p.0.load(Ordering::Relaxed), 10);
    assert_eq!(p.1.load(Ordering::Relaxed), 10);
    let _ = extract_with;
}
