//! Real scans from `../shared/scans`, read with the `image` crate (the io crate's readers
//! are separate). Skipped, with a note, when the scans are not there.
//!
//! Reference numbers were computed independently with scipy 1.x (`ndimage.label` with a
//! 3×3×3 structure for 26-connectivity and the cross for 6, and a 6-connected border flood
//! for cavities) on the same PNG stacks.

use std::path::Path;

use osteon_geom::{NeverCancel, NoProgress};
use osteon_volume::{
    label_components, select, Connectivity, Criterion, Grid, Keep, ScalarVolume, SelectOptions,
    Volume,
};

use crate::support::bfs_components;

const SCANS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/scans");

/// An 8-bit PNG slice stack as a `u8` volume (`slice_%04d.png`, row = j, column = i).
fn load_png_stack(dir: &Path, spacing: [f64; 3]) -> Option<Volume<u8>> {
    let mut data = Vec::new();
    let mut dims = [0, 0, 0];
    for k in 0.. {
        let path = dir.join(format!("slice_{k:04}.png"));
        if !path.exists() {
            break;
        }
        let img = image::open(&path).unwrap().into_luma8();
        dims = [img.width() as usize, img.height() as usize, k + 1];
        data.extend_from_slice(img.as_raw());
    }
    if dims[2] == 0 {
        return None;
    }
    Some(Volume::new(Grid::new(dims, spacing), data).unwrap())
}

#[test]
fn frog_skeleton_label_13() {
    let dir = Path::new(SCANS).join("vtk_frogtissue/png_labels8");
    let Some(frog) = load_png_stack(&dir, [1.0, 1.0, 1.5]) else {
        eprintln!("skipped: {} not found", dir.display());
        return;
    };
    assert_eq!(frog.grid.dims, [500, 470, 136]);
    let labels = ScalarVolume::U8(frog);
    let opts = SelectOptions::default()
        .criterion(Criterion::Labels(vec![13]))
        .keep(Keep::Largest);
    let (mask, report) = select(&labels, &opts, &NoProgress, &NeverCancel).unwrap();
    assert_eq!(report.voxels_selected, 438_052);
    assert_eq!(report.components_found, Some(121));
    assert_eq!(report.voxels_kept, 331_919);
    assert_eq!(report.largest_dropped_mm3, Some(91_106.0 * 1.5));
    assert_eq!(report.final_volume_mm3, 331_919.0 * 1.5);

    // All of label 13, against the BFS oracle in both connectivities.
    let all = osteon_volume::select_labels(&labels, &[13]);
    for (conn, count, largest) in [
        (Connectivity::C26, 121, 331_919),
        (Connectivity::C6, 284, 216_856),
    ] {
        let c = label_components(&all, conn).unwrap();
        assert_eq!(c.count(), count, "{conn:?}");
        assert_eq!(c.sizes.iter().max(), Some(&largest));
        let (bfs_labels, bfs_sizes) = bfs_components(&all, conn);
        assert_eq!(c.sizes, bfs_sizes);
        assert!(c.labels == bfs_labels, "{conn:?}: labels differ from BFS");
    }

    // Cavity fill of the kept skeleton adds 142 voxels.
    let (filled, r) = select(
        &labels,
        &opts.clone().fill_cavities(true),
        &NoProgress,
        &NeverCancel,
    )
    .unwrap();
    assert_eq!(r.voxels_added_by_cavity_fill, 142);
    assert_eq!(r.final_voxels, 331_919 + 142);
    assert!(filled.data.iter().zip(&mask.data).all(|(&f, &m)| f >= m));
}
