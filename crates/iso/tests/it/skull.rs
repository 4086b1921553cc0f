//! The real skull mask (SkullBreak case 001), when the shared scans are present.

use crate::check::check;
use osteon_geom::{NeverCancel, NoProgress};
use osteon_iso::{extract_mask, ExtractOptions};
use osteon_volume::{Grid, Volume};
use std::path::Path;

/// Reads `png_mask8/` of the skull into a volume with the grid of its `volume.json`.
pub fn load_skull() -> Option<Volume<u8>> {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/scans"
    ))
    .join("skullbreak_parietotemporal_001/png_mask8");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("volume.json")).ok()?).unwrap();
    let arr = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let dims = arr(&meta["dims"])
        .iter()
        .map(|&d| d as usize)
        .collect::<Vec<_>>();
    let sp = arr(&meta["spacing_mm"]);
    let or = arr(&meta["origin_mm"]);
    let dir_rows: Vec<Vec<f64>> = meta["direction"]
        .as_array()
        .unwrap()
        .iter()
        .map(arr)
        .collect();
    let grid = Grid::new([dims[0], dims[1], dims[2]], [sp[0], sp[1], sp[2]])
        .with_origin([or[0], or[1], or[2]])
        .with_direction([0, 1, 2].map(|r| [dir_rows[r][0], dir_rows[r][1], dir_rows[r][2]]));
    let mut data = Vec::with_capacity(grid.len());
    for k in 0..dims[2] {
        let img = image::open(dir.join(format!("slice_{k:04}.png")))
            .unwrap()
            .into_luma8();
        assert_eq!(
            (img.width() as usize, img.height() as usize),
            (dims[0], dims[1])
        );
        data.extend_from_slice(img.as_raw());
    }
    Some(Volume::new(grid, data).unwrap())
}

#[test]
fn skull_is_closed_and_matches_the_voxel_volume() {
    let Some(v) = load_skull() else {
        eprintln!("shared scans not present: skipped");
        return;
    };
    let t = std::time::Instant::now();
    let (mesh, report) =
        extract_mask(&v, &ExtractOptions::default(), &NoProgress, &NeverCancel).unwrap();
    let dt = t.elapsed();
    assert_eq!(report.inside_voxels, 6_915_729);
    assert!(report.mirrored, "j points anterior in LPS: a mirrored grid");
    let s = check(&mesh);
    let err = (s.volume - report.inside_volume_mm3) / report.inside_volume_mm3;
    let cavities = s.components.iter().filter(|c| c.0 < 0.0).count();
    eprintln!(
        "skull: {} vertices, {} triangles, {} components ({cavities} cavities), mesh volume {:.1} mm³, \
         voxel volume {:.1} mm³, error {:+.3}%, area {:.1} mm², extraction {:.3} s (test profile)",
        report.vertices, report.triangles, s.components.len(), s.volume, report.inside_volume_mm3,
        100.0 * err, s.area, dt.as_secs_f64()
    );
    assert!(err.abs() < 0.02, "volume error {err}");
}
