//! Times the selection steps on a real PNG mask or label stack, in release:
//!
//! ```text
//! cargo run --release -p osteon-volume --example select_timing -- \
//!     ../shared/scans/skullbreak_parietotemporal_001/png_mask8 0.4 0.4 0.4
//! ```
//!
//! Arguments: the stack folder (`slice_%04d.png`, 8-bit), the spacing in mm, and optionally a
//! label to select (default: non-zero).

use std::path::Path;
use std::time::Instant;

use osteon_geom::{NeverCancel, NoProgress};
use osteon_volume::{
    close, count_nonzero, distance_transform, fill_cavities, keep_components, label_components,
    select, Connectivity, Criterion, Grid, Keep, ScalarVolume, SelectOptions, Volume,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: select_timing DIR SX SY SZ [LABEL]");
        std::process::exit(2);
    }
    let dir = Path::new(&args[1]);
    let spacing = [2, 3, 4].map(|i| args[i].parse::<f64>().expect("spacing"));
    let label: Option<i64> = args.get(5).map(|s| s.parse().expect("label"));

    let t = Instant::now();
    let mut data = Vec::new();
    let mut dims = [0, 0, 0];
    for k in 0.. {
        let path = dir.join(format!("slice_{k:04}.png"));
        if !path.exists() {
            break;
        }
        let img = image::open(&path).expect("png").into_luma8();
        dims = [img.width() as usize, img.height() as usize, k + 1];
        data.extend_from_slice(img.as_raw());
    }
    let vol = ScalarVolume::U8(Volume::new(Grid::new(dims, spacing), data).expect("volume"));
    println!(
        "loaded {dims:?} in {:.2} s; {} rayon threads",
        t.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );

    let time = |name: &str, f: &mut dyn FnMut() -> String| {
        let t = Instant::now();
        let what = f();
        println!("{name:<28} {:>8.3} s  {what}", t.elapsed().as_secs_f64());
    };
    let criterion = match label {
        Some(l) => Criterion::Labels(vec![l]),
        None => Criterion::NonZero,
    };
    let mut mask = None;
    time("criterion (threshold)", &mut || {
        let m = match label {
            Some(l) => osteon_volume::select_labels(&vol, &[l]),
            None => osteon_volume::threshold(&vol, 1.0, f64::INFINITY),
        };
        let n = count_nonzero(&m);
        mask = Some(m);
        format!("{n} voxels")
    });
    let mask = mask.expect("mask");
    time("keep_components largest", &mut || {
        let (_, s) = keep_components(&mask, Connectivity::C26, &Keep::Largest).expect("keep");
        format!(
            "{} components, largest {:?}",
            s.components_found, s.kept_voxels
        )
    });
    time("keep_components largest C6", &mut || {
        let (_, s) = keep_components(&mask, Connectivity::C6, &Keep::Largest).expect("keep");
        format!(
            "{} components, largest {:?}",
            s.components_found, s.kept_voxels
        )
    });
    time("label_components C26 (u32)", &mut || {
        let c = label_components(&mask, Connectivity::C26).expect("label");
        format!("{} components", c.count())
    });
    time("fill_cavities", &mut || {
        let f = fill_cavities(&mask).expect("fill");
        format!("+{} voxels", count_nonzero(&f) - count_nonzero(&mask))
    });
    for r in [1.0, 2.0] {
        time(&format!("close {r} mm"), &mut || {
            let c = close(&mask, r).expect("close");
            format!("+{} voxels", count_nonzero(&c) - count_nonzero(&mask))
        });
    }
    if mask.data.len() <= 40_000_000 {
        time("distance_transform (f64)", &mut || {
            let d = distance_transform(&mask).expect("edt");
            let max = d.data.iter().cloned().fold(0.0f64, f64::max);
            format!("max {:.1} mm", max.sqrt())
        });
    }
    let opts = SelectOptions::default()
        .criterion(criterion)
        .keep(Keep::Largest)
        .close_mm(Some(1.0))
        .fill_cavities(true);
    time("select (close 1, largest, fill)", &mut || {
        let (_, r) = select(&vol, &opts, &NoProgress, &NeverCancel).expect("select");
        format!(
            "{} selected, +{} closing, {:?} comps, +{} fill, {} final",
            r.voxels_selected,
            r.voxels_added_by_closing,
            r.components_found,
            r.voxels_added_by_cavity_fill,
            r.final_voxels
        )
    });
}
