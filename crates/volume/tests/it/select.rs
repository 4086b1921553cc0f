//! The one-call selection: order of steps, report, errors, cancellation.

use std::sync::atomic::AtomicBool;

use osteon_geom::{NeverCancel, NoProgress};
use osteon_volume::{
    select, Criterion, Grid, Keep, Preset, ScalarVolume, SelectOptions, Volume, VolumeError,
};

use crate::support::{ball, count};

fn ct(
    dims: [usize; 3],
    spacing: [f64; 3],
    hu: impl Fn(usize, usize, usize) -> i16,
) -> ScalarVolume {
    let grid = Grid::new(dims, spacing);
    let mut data = vec![0i16; grid.len()];
    for k in 0..dims[2] {
        for j in 0..dims[1] {
            for i in 0..dims[0] {
                data[grid.index(i, j, k)] = hu(i, j, k);
            }
        }
    }
    ScalarVolume::I16(Volume::new(grid, data).unwrap())
}

/// A phantom: a hollow bone ball (shell 700 HU, marrow 40 HU) of radius 8 at the centre,
/// a small 3×3×3 fragment (1200 HU) apart, soft tissue (40 HU) and air (−1000 HU).
fn phantom() -> ScalarVolume {
    let b = ball([30, 30, 30], [12.0, 12.0, 12.0], 8.0);
    let inner = ball([30, 30, 30], [12.0, 12.0, 12.0], 6.0);
    ct([30, 30, 30], [0.5; 3], |i, j, k| {
        let p = b.grid.index(i, j, k);
        if b.data[p] != 0 && inner.data[p] == 0 {
            700
        } else if b.data[p] != 0 {
            40
        } else if (24..27).contains(&i) && (24..27).contains(&j) && (24..27).contains(&k) {
            1200
        } else if i < 25 {
            40
        } else {
            -1000
        }
    })
}

fn run(
    v: &ScalarVolume,
    opts: &SelectOptions,
) -> Result<(Volume<u8>, osteon_volume::SelectReport), VolumeError> {
    select(v, opts, &NoProgress, &NeverCancel)
}

#[test]
fn bone_preset_largest_and_fill() {
    let v = phantom();
    let solid = count(&ball([30, 30, 30], [12.0, 12.0, 12.0], 8.0)) as u64;
    let shell = solid - count(&ball([30, 30, 30], [12.0, 12.0, 12.0], 6.0)) as u64;
    let opts = SelectOptions::default()
        .criterion(Criterion::Preset(Preset::Bone))
        .keep(Keep::Largest)
        .fill_cavities(true);
    let (mask, r) = run(&v, &opts).unwrap();
    assert_eq!(r.criterion, "preset bone (226..=3071 HU)");
    assert_eq!(r.voxels_selected, shell + 27);
    assert_eq!(r.components_found, Some(2));
    assert_eq!(r.components_kept, Some(1));
    assert_eq!(r.voxels_kept, shell);
    assert_eq!(r.voxels_added_by_cavity_fill, solid - shell);
    assert_eq!(r.final_voxels, solid);
    assert_eq!(count(&mask) as u64, solid);
    assert_eq!(r.voxel_volume_mm3, 0.125);
    assert_eq!(r.final_volume_mm3, solid as f64 * 0.125);
    assert_eq!(r.kept_component_volumes_mm3, vec![shell as f64 * 0.125]);
    assert_eq!(r.largest_dropped_mm3, Some(27.0 * 0.125));
    assert_eq!(&mask.grid, v.grid());
    assert!(mask.data.iter().all(|&x| x <= 1));
    // The report is plain JSON.
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(
        serde_json::from_str::<osteon_volume::SelectReport>(&json).unwrap(),
        r
    );

    // Keep all skips the components step and keeps the fragment.
    let (_, all) = run(&v, &opts.clone().keep(Keep::All).fill_cavities(false)).unwrap();
    assert_eq!((all.components_found, all.components_kept), (None, None));
    assert_eq!(all.final_voxels, shell + 27);
    // Cortical (662..=1988) holds the shell and the fragment; cancellous nothing.
    let cortical = SelectOptions::default().criterion(Criterion::Preset(Preset::Cortical));
    assert_eq!(run(&v, &cortical).unwrap().1.voxels_selected, shell + 27);
    let cancellous = SelectOptions::default().criterion(Criterion::Preset(Preset::Cancellous));
    assert!(matches!(
        run(&v, &cancellous),
        Err(VolumeError::EmptySelection { .. })
    ));
}

#[test]
fn closing_before_keep_joins_fragments() {
    // Two 4×4×4 blocks one voxel apart (1 mm): keep largest alone drops one of them; a 1 mm
    // closing first joins them through the inner 2×2 of the gap (a 1 mm ball is the six face
    // neighbours, which do not fit at the rim of the gap), so both are kept.
    let v = ct([12, 6, 6], [1.0; 3], |i, j, k| {
        let inb = (1..5).contains(&j) && (1..5).contains(&k);
        if inb && ((1..5).contains(&i) || (6..10).contains(&i)) {
            1000
        } else {
            0
        }
    });
    let base = SelectOptions::default()
        .criterion(Criterion::Range {
            min: 500.0,
            max: 2000.0,
        })
        .keep(Keep::Largest);
    let (_, apart) = run(&v, &base).unwrap();
    assert_eq!((apart.components_found, apart.voxels_kept), (Some(2), 64));
    let (mask, joined) = run(&v, &base.clone().close_mm(Some(1.0))).unwrap();
    assert_eq!(joined.components_found, Some(1));
    assert_eq!(joined.voxels_added_by_closing, 4);
    assert_eq!(joined.final_voxels, 128 + 4);
    assert_eq!(count(&mask), 132);
}

#[test]
fn empty_selection_names_the_criterion() {
    let v = phantom();
    let cases = [
        (
            Criterion::Range {
                min: 5000.0,
                max: 6000.0,
            },
            "range 5000..=6000",
        ),
        (
            Criterion::Preset(Preset::Cancellous),
            "preset cancellous (148..=661 HU)",
        ),
        (Criterion::Labels(vec![13, 14]), "labels 13,14"),
    ];
    for (criterion, name) in cases {
        let err = run(&v, &SelectOptions::default().criterion(criterion)).unwrap_err();
        match err {
            VolumeError::EmptySelection { what } => {
                assert!(what.starts_with(name), "{what}");
                assert!(what.contains("-1000..=1200"), "{what}");
            }
            e => panic!("{e}"),
        }
    }
    let zeros = ScalarVolume::U8(Volume::filled(Grid::new([3, 3, 3], [1.0; 3]), 0u8).unwrap());
    let err = run(&zeros, &SelectOptions::default()).unwrap_err();
    assert!(err.to_string().contains("non-zero"), "{err}");
    // Nothing left after keep.
    let err = run(
        &v,
        &SelectOptions::default()
            .criterion(Criterion::Preset(Preset::Bone))
            .keep(Keep::MinVolume(1e6)),
    )
    .unwrap_err();
    match err {
        VolumeError::EmptySelection { what } => {
            assert!(
                what.contains("preset bone") && what.contains("min-volume:1000000"),
                "{what}"
            )
        }
        e => panic!("{e}"),
    }
}

#[test]
fn invalid_options_are_refused() {
    let v = phantom();
    let bad = [
        SelectOptions::default().criterion(Criterion::Range {
            min: 10.0,
            max: 5.0,
        }),
        SelectOptions::default().criterion(Criterion::Range {
            min: f64::NAN,
            max: 5.0,
        }),
        SelectOptions::default().criterion(Criterion::Range {
            min: 0.0,
            max: f64::NAN,
        }),
        SelectOptions::default().criterion(Criterion::Labels(vec![])),
        SelectOptions::default().keep(Keep::NLargest(0)),
        SelectOptions::default().keep(Keep::MinVolume(-2.0)),
        SelectOptions::default().keep(Keep::MinVolume(f64::INFINITY)),
        SelectOptions::default().close_mm(Some(-1.0)),
        SelectOptions::default().close_mm(Some(f64::NAN)),
    ];
    for opts in bad {
        assert!(
            matches!(run(&v, &opts), Err(VolumeError::InvalidOption(_))),
            "{opts:?}"
        );
    }
    // Infinite range bounds and a zero radius are fine.
    let ok = SelectOptions::default()
        .criterion(Criterion::Range {
            min: 200.0,
            max: f64::INFINITY,
        })
        .close_mm(Some(0.0));
    assert!(run(&v, &ok).is_ok());
}

#[test]
fn options_defaults_and_serde() {
    let d = SelectOptions::default();
    assert_eq!(
        (
            d.criterion.clone(),
            d.keep.clone(),
            d.fill_cavities,
            d.close_mm
        ),
        (Criterion::NonZero, Keep::All, false, None)
    );
    let opts = SelectOptions::default()
        .criterion(Criterion::Labels(vec![13]))
        .keep(Keep::NLargest(2))
        .fill_cavities(true)
        .close_mm(Some(0.8));
    let json = serde_json::to_string(&opts).unwrap();
    assert_eq!(
        json,
        r#"{"criterion":{"labels":[13]},"keep":{"n-largest":2},"fill_cavities":true,"close_mm":0.8}"#
    );
    assert_eq!(serde_json::from_str::<SelectOptions>(&json).unwrap(), opts);
    // Missing fields take their defaults.
    let partial: SelectOptions =
        serde_json::from_str(r#"{"criterion":{"preset":"bone"}}"#).unwrap();
    assert_eq!(
        partial,
        SelectOptions::default().criterion(Criterion::Preset(Preset::Bone))
    );
    let range: SelectOptions =
        serde_json::from_str(r#"{"criterion":{"range":{"min":1,"max":2}},"keep":"largest"}"#)
            .unwrap();
    assert_eq!(range.criterion, Criterion::Range { min: 1.0, max: 2.0 });
    assert_eq!(range.keep, Keep::Largest);
}

#[test]
fn cancelled_selection_stops() {
    let v = phantom();
    let stop = AtomicBool::new(true);
    let opts = SelectOptions::default()
        .criterion(Criterion::Preset(Preset::Bone))
        .keep(Keep::Largest);
    assert!(matches!(
        select(&v, &opts, &NoProgress, &stop),
        Err(VolumeError::Cancelled)
    ));
}

#[test]
fn labels_and_nonzero_on_other_types() {
    let lab = ScalarVolume::U16(
        Volume::new(
            Grid::new([6, 1, 1], [1.0, 2.0, 3.0]),
            vec![0u16, 13, 13, 0, 13, 5],
        )
        .unwrap(),
    );
    let (m, r) = run(
        &lab,
        &SelectOptions::default()
            .criterion(Criterion::Labels(vec![13]))
            .keep(Keep::Largest),
    )
    .unwrap();
    assert_eq!(m.data, vec![0, 1, 1, 0, 0, 0]);
    assert_eq!(r.final_volume_mm3, 12.0);
    let f = ScalarVolume::F32(
        Volume::new(
            Grid::new([4, 1, 1], [1.0; 3]),
            vec![0.0f32, f32::NAN, -0.5, 2.0],
        )
        .unwrap(),
    );
    assert_eq!(
        run(&f, &SelectOptions::default()).unwrap().0.data,
        vec![0, 0, 1, 1]
    );
}

/// Cancels on its `n`-th question.
struct CancelAfter(std::sync::atomic::AtomicUsize, usize);
impl osteon_geom::Cancel for CancelAfter {
    fn is_cancelled(&self) -> bool {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= self.1
    }
}

/// Records the stages begun and the units advanced.
#[derive(Default)]
struct Record(std::sync::Mutex<Vec<String>>, std::sync::atomic::AtomicU64);
impl osteon_geom::Progress for Record {
    fn begin(&self, stage: &str, total: u64) {
        self.0.lock().unwrap().push(format!("{stage}/{total}"));
    }
    fn advance(&self, units: u64) {
        self.1
            .fetch_add(units, std::sync::atomic::Ordering::Relaxed);
    }
}

fn full_options() -> SelectOptions {
    SelectOptions::default()
        .criterion(Criterion::Preset(Preset::Bone))
        .keep(Keep::Largest)
        .close_mm(Some(1.0))
        .fill_cavities(true)
}

#[test]
fn cancelling_anywhere_gives_cancelled_or_the_full_answer() {
    let v = phantom();
    let full = run(&v, &full_options()).unwrap();
    for n in 0..60 {
        let c = CancelAfter(Default::default(), n);
        match select(&v, &full_options(), &NoProgress, &c) {
            Ok(r) => assert_eq!(r, full, "n = {n}"),
            Err(VolumeError::Cancelled) => {}
            Err(e) => panic!("n = {n}: {e}"),
        }
    }
}

#[test]
fn progress_names_every_step() {
    let rec = Record::default();
    select(&phantom(), &full_options(), &rec, &NeverCancel).unwrap();
    let stages = rec.0.lock().unwrap().clone();
    assert_eq!(
        stages,
        [
            "criterion/1",
            "closing/4",
            "components/60",
            "fill cavities/60"
        ]
    );
    // Every stage's units are advanced in full: 1 + 4 + 60 + 60.
    assert_eq!(rec.1.load(std::sync::atomic::Ordering::Relaxed), 125);
}

#[test]
fn same_answer_on_one_and_two_threads() {
    let v = phantom();
    let a = crate::support::with_threads(1, || run(&v, &full_options()).unwrap());
    let b = crate::support::with_threads(2, || run(&v, &full_options()).unwrap());
    assert_eq!(a, b);
}

#[test]
fn inconsistent_volumes_are_errors_not_panics() {
    let short = Volume {
        grid: Grid::new([4, 4, 4], [1.0; 3]),
        data: vec![1u8; 10],
    };
    assert!(matches!(
        run(&ScalarVolume::U8(short.clone()), &SelectOptions::default()),
        Err(VolumeError::LengthMismatch { .. })
    ));
    assert!(osteon_volume::label_components(&short, osteon_volume::Connectivity::C26).is_err());
    assert!(
        osteon_volume::keep_components(&short, osteon_volume::Connectivity::C6, &Keep::All)
            .is_err()
    );
    assert!(osteon_volume::fill_cavities(&short).is_err());
    assert!(osteon_volume::close(&short, 1.0).is_err());
    assert!(osteon_volume::distance_transform(&short).is_err());
    let bad_spacing = Volume {
        grid: Grid::new([2, 2, 2], [1.0, 0.0, 1.0]),
        data: vec![1u8; 8],
    };
    assert!(matches!(
        osteon_volume::close(&bad_spacing, 1.0),
        Err(VolumeError::InvalidSpacing { .. })
    ));
}

#[test]
fn criterion_parses() {
    let ok = [
        ("bone", Criterion::Preset(Preset::Bone)),
        ("Cortical", Criterion::Preset(Preset::Cortical)),
        (
            "range:250:3000",
            Criterion::Range {
                min: 250.0,
                max: 3000.0,
            },
        ),
        (
            "range:-100.5:inf",
            Criterion::Range {
                min: -100.5,
                max: f64::INFINITY,
            },
        ),
        ("labels:13,14", Criterion::Labels(vec![13, 14])),
        ("label:13", Criterion::Labels(vec![13])),
        ("nonzero", Criterion::NonZero),
        ("non-zero", Criterion::NonZero),
    ];
    for (text, c) in ok {
        assert_eq!(text.parse::<Criterion>().unwrap(), c, "{text}");
    }
    for bad in [
        "",
        "range:5",
        "range:9:1",
        "range:nan:1",
        "labels:",
        "labels:a",
        "marrow",
    ] {
        assert!(
            matches!(bad.parse::<Criterion>(), Err(VolumeError::InvalidOption(_))),
            "{bad:?}"
        );
    }
}
