//! A planning program embedding osteon: a CT volume already in memory (here the phantom
//! generator's; in a real program, the one on screen), a custom progress callback, a cancel
//! button pressed from another thread, and the step reports read as structs.
//!
//! ```sh
//! cargo run --release -p osteon --example embed
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use osteon::geom::Progress;
use osteon::io::{Scan, ScanFormat};
use osteon::pipeline::{run_observed, Inputs, Recipe, StepEvent};
use osteon::volume::{ScalarVolume, ValueKind};

/// The planning program's progress widget: remembers the stage and prints every 25 %.
struct Widget {
    stage: Mutex<String>,
    total: AtomicU64,
    done: AtomicU64,
    shown: AtomicU64,
}

impl Progress for Widget {
    fn begin(&self, stage: &str, total: u64) {
        *self.stage.lock().unwrap() = stage.to_string();
        self.total.store(total.max(1), Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        self.shown.store(0, Ordering::Relaxed);
    }
    fn advance(&self, units: u64) {
        let done = self.done.fetch_add(units, Ordering::Relaxed) + units;
        let quarter = 4 * done / self.total.load(Ordering::Relaxed).max(1);
        if quarter > self.shown.fetch_max(quarter, Ordering::Relaxed) {
            println!(
                "    {:<10} {:>3} %",
                self.stage.lock().unwrap(),
                (25 * quarter).min(100)
            );
        }
    }
}

/// The scan the program already holds: no file involved.
fn scan_in_memory() -> Scan {
    let (volume, _truth) = osteon::phantom::generate(&Default::default());
    Scan {
        volume: ScalarVolume::I16(volume),
        kind: ValueKind::CtHu,
        format: ScanFormat::SliceStack,
        files: Vec::new(),
        warnings: Vec::new(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let recipe = Recipe::parse(
        r#"
        name = "plate planning"
        [select]
        criterion = { preset = "bone" }
        keep = { min-volume = 1.0 }
        [smooth]
        [offset]
        distance_mm = 0.5
        sdf = { voxel_mm = 0.5, project = false }
        [checks]
        watertight = true
        max_self_intersecting_faces = 0
        "#,
    )?;
    let widget = Widget {
        stage: Mutex::new(String::new()),
        total: AtomicU64::new(1),
        done: AtomicU64::new(0),
        shown: AtomicU64::new(0),
    };
    let steps = |e: &StepEvent| match e {
        StepEvent::Started { step, index, total } => println!("  [{index}/{total}] {step}"),
        StepEvent::Finished { step, seconds } => println!("  {step} done in {seconds:.2} s"),
        _ => {}
    };

    // 1. The surgeon presses "cancel" 50 ms into the job: the run stops with `Cancelled`.
    let cancel = AtomicBool::new(false);
    println!("run 1 (cancelled from another thread after 50 ms):");
    let result = std::thread::scope(|s| -> Result<_, Box<osteon::Error>> {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            cancel.store(true, Ordering::Relaxed);
        });
        run_observed(
            &recipe,
            Inputs::memory(scan_in_memory(), "planning volume"),
            &widget,
            &cancel,
            &steps,
        )
        .map_err(Box::new)
    });
    match result.map_err(|e| *e) {
        Err(osteon::Error::Cancelled) => println!("  -> cancelled, nothing produced"),
        Err(e) => return Err(e.into()),
        Ok(_) => println!("  -> finished before the cancel arrived"),
    }

    // 2. The full run; the reports are plain structs.
    println!("run 2:");
    let out = run_observed(
        &recipe,
        Inputs::memory(scan_in_memory(), "planning volume"),
        &widget,
        &AtomicBool::new(false),
        &steps,
    )?;
    let bone = &out.bone().report;
    println!(
        "bone: {} triangles, {:.0} mm3, watertight {}",
        bone.triangles, bone.volume_mm3, bone.watertight
    );
    if let Some(s) = &out.reports.smooth {
        println!(
            "smoothing: largest vertex move {:.3} mm, volume change {:+.3} %",
            s.max_displacement_mm, s.volume_change_pct
        );
    }
    if let Some(o) = &out.reports.offset {
        println!(
            "clearance surface: {:.2} mm offset, voxel {:.2} mm, max error {:.3} mm",
            o.distance_mm, o.voxel_mm, o.error.max_mm
        );
    }
    for c in &out.checks {
        println!(
            "check {}: {} ({})",
            c.check,
            if c.pass { "pass" } else { "FAIL" },
            c.value
        );
    }
    // The program keeps the meshes in memory (out.meshes) and writes files only if it wants:
    // osteon::pipeline::write_dir(&out, dir, &Default::default()) makes a package.
    Ok(())
}
