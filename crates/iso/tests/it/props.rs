//! Property tests: every binary mask gives a closed, 2-manifold, outward surface.

use crate::check::{extract_with, grid_mask};
use osteon_geom::{DMat3, DVec3, NeverCancel, NoProgress};
use osteon_iso::{extract_mask, ExtractOptions, IsoError};
use osteon_volume::{Grid, Volume};
use proptest::prelude::*;

/// Random dims 1..12, a density, and per-voxel random values (0 = outside, any other = inside).
fn masks() -> impl Strategy<Value = ([usize; 3], Vec<u8>)> {
    ([1usize..12, 1usize..12, 1usize..12], 0.0f64..=1.0).prop_flat_map(|(dims, density)| {
        let n = dims[0] * dims[1] * dims[2];
        let voxel =
            (0.0f64..1.0, 1u8..=255).prop_map(move |(r, v)| if r < density { v } else { 0 });
        (Just(dims), proptest::collection::vec(voxel, n))
    })
}

fn slab() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![Just(None), (1usize..6).prop_map(Some)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_mask_is_closed_manifold_outward((dims, data) in masks(), slab in slab()) {
        let vol = Volume::new(Grid::new(dims, [1.0; 3]), data.clone()).unwrap();
        let mut opts = ExtractOptions::default();
        opts.slab_cells = slab;
        let inside = data.iter().filter(|&&v| v != 0).count() as u64;
        if inside == 0 {
            let r = extract_mask(&vol, &opts, &NoProgress, &NeverCancel);
            prop_assert!(matches!(r, Err(IsoError::Empty)));
            return Ok(());
        }
        let (mesh, report, s) = extract_with(&vol, &opts);
        prop_assert_eq!(report.inside_voxels, inside);
        prop_assert!(s.volume > 0.0);
        // Every component is at least an octahedron (1/6 voxel). (The mesh volume is not
        // bounded by the voxels': corners are cut at convex and added at concave places.)
        for &(v, _) in &s.components {
            prop_assert!(v.abs() >= 1.0 / 6.0 - 1e-6);
        }
        // Inside is 26-connected, like the selection's components: each 26-component has
        // exactly one outer shell (positive volume); other shells bound its cavities.
        let comps = osteon_volume::label_components(&vol, osteon_volume::Connectivity::C26).unwrap();
        let outer = s.components.iter().filter(|&&(v, _)| v > 0.0).count();
        prop_assert_eq!(outer, comps.sizes.len());
        // Slab size never changes the output.
        let (one, _) = extract_mask(&vol, &ExtractOptions::default().with_slab_cells(1), &NoProgress, &NeverCancel).unwrap();
        prop_assert_eq!(one, mesh);
    }

    #[test]
    fn any_frame_stays_outward(
        (dims, data) in masks(),
        axis in (-1.0f64..1.0, -1.0f64..1.0, -1.0f64..1.0),
        angle in 0.0f64..6.3,
        mirror in 0usize..4,
        spacing in (0.1f64..3.0, 0.1f64..3.0, 0.1f64..3.0),
        origin in (-500.0f64..500.0, -500.0f64..500.0, -500.0f64..500.0),
    ) {
        prop_assume!(data.iter().any(|&v| v != 0));
        frame_stays_outward(dims, &data, axis, angle, mirror, spacing, origin)?;
    }
}

type Triple = (f64, f64, f64);

/// The body of `any_frame_stays_outward`, callable with a pinned case.
fn frame_stays_outward(
    dims: [usize; 3],
    data: &[u8],
    axis: Triple,
    angle: f64,
    mirror: usize,
    spacing: Triple,
    origin: Triple,
) -> Result<(), TestCaseError> {
    let ax = DVec3::new(axis.0, axis.1, axis.2);
    let m = if ax.length() > 1e-3 {
        DMat3::from_axis_angle(ax.normalize(), angle)
    } else {
        DMat3::IDENTITY
    };
    let mut rows = [
        m.x_axis.to_array(),
        m.y_axis.to_array(),
        m.z_axis.to_array(),
    ];
    if mirror < 3 {
        // Flip one axis: a mirrored (left-handed) index frame.
        rows[mirror] = rows[mirror].map(|x| -x);
    }
    let grid = Grid::new(dims, [spacing.0, spacing.1, spacing.2])
        .with_direction(rows)
        .with_origin([origin.0, origin.1, origin.2]);
    prop_assert_eq!(grid.direction_det() < 0.0, mirror < 3);
    let [nx, ny, _] = dims;
    let vol = grid_mask(grid.clone(), |i, j, k| data[i + nx * (j + ny * k)] != 0);
    let (_, report, s) = extract_with(&vol, &ExtractOptions::default());
    prop_assert_eq!(report.mirrored, mirror < 3);
    prop_assert!(s.volume > 0.0);
    // A rigid motion keeps the volume, spacing scales it: compare with the unit grid.
    let unit = grid_mask(Grid::new(dims, [1.0; 3]), |i, j, k| {
        data[i + nx * (j + ny * k)] != 0
    });
    let (_, _, su) = extract_with(&unit, &ExtractOptions::default());
    let scale = spacing.0 * spacing.1 * spacing.2;
    // Positions are f32: far from the origin each coordinate is off by up to half an
    // ulp of its magnitude, which moves the volume by at most area × that much.
    let reach = origin.0.abs().max(origin.1.abs()).max(origin.2.abs())
        + dims.iter().copied().max().unwrap_or(0) as f64 * 3.0 * 1.8;
    let f32_slack = s.area * reach * f64::from(f32::EPSILON);
    prop_assert!(
        (s.volume - su.volume * scale).abs() <= 1e-4 * su.volume.abs() * scale + f32_slack + 1e-6,
        "{} vs {}",
        s.volume,
        su.volume * scale
    );
    prop_assert!(
        (report.inside_volume_mm3 - report.inside_voxels as f64 * scale).abs()
            < 1e-6 * report.inside_volume_mm3
    );
    Ok(())
}

/// A case the property once failed on: a 0.26 mm³ object 400 mm from the origin, where the
/// f32 rounding of the positions moved the volume by 1.05e-4 of itself.
#[test]
fn small_object_far_from_origin_keeps_its_volume() {
    let mut data = vec![0u8; 6 * 8 * 5];
    let on = [
        0usize, 2, 3, 11, 13, 17, 19, 21, 28, 29, 30, 36, 37, 40, 41, 44, 45, 48, 52, 63, 65, 66,
        71, 79, 82, 86, 98, 101, 102, 104, 117, 119, 121, 128, 129, 136, 140, 144, 148, 151, 152,
        159, 163, 167, 171, 173, 179, 180, 225, 236, 237,
    ];
    for i in on {
        data[i] = 1;
    }
    frame_stays_outward(
        [6, 8, 5],
        &data,
        (
            -0.44876893590928635,
            -0.9701569403148987,
            0.8033893624721247,
        ),
        0.9619039689257293,
        3,
        (0.1209169528081469, 0.43469958865427355, 0.16469141038026255),
        (-404.34760804164245, -404.4547018196333, -4.716162134422545),
    )
    .unwrap();
}
