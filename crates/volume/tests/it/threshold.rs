//! Threshold, presets and label selection.

use osteon_volume::{select_labels, threshold, Grid, Preset, ScalarVolume, Volume};

fn grid(n: usize) -> Grid {
    Grid::new([n, 1, 1], [1.0; 3])
}

/// Every sample type: values → expected mask for `threshold(min, max)`.
fn check(volume: ScalarVolume, min: f64, max: f64, expected: &[u8]) {
    let m = threshold(&volume, min, max);
    assert_eq!(m.data, expected, "{} {min}..={max}", volume.type_name());
    assert_eq!(&m.grid, volume.grid());
}

#[test]
fn threshold_bounds_are_inclusive_for_every_type() {
    let u8v = |d: Vec<u8>| ScalarVolume::U8(Volume::new(grid(d.len()), d).unwrap());
    let i16v = |d: Vec<i16>| ScalarVolume::I16(Volume::new(grid(d.len()), d).unwrap());
    let u16v = |d: Vec<u16>| ScalarVolume::U16(Volume::new(grid(d.len()), d).unwrap());
    let i32v = |d: Vec<i32>| ScalarVolume::I32(Volume::new(grid(d.len()), d).unwrap());
    let f32v = |d: Vec<f32>| ScalarVolume::F32(Volume::new(grid(d.len()), d).unwrap());

    check(
        u8v(vec![0, 9, 10, 11, 20, 21, 255]),
        10.0,
        20.0,
        &[0, 0, 1, 1, 1, 0, 0],
    );
    check(u8v(vec![0, 254, 255]), 255.0, 255.0, &[0, 0, 1]);
    check(
        u8v(vec![0, 1, 255]),
        f64::NEG_INFINITY,
        f64::INFINITY,
        &[1, 1, 1],
    );
    check(u8v(vec![0, 1, 2]), 0.5, 1.5, &[0, 1, 0]);
    check(
        i16v(vec![i16::MIN, -1024, 225, 226, 3071, 3072, i16::MAX]),
        226.0,
        3071.0,
        &[0, 0, 0, 1, 1, 0, 0],
    );
    check(
        i16v(vec![i16::MIN, 0, i16::MAX]),
        -32768.0,
        -32768.0,
        &[1, 0, 0],
    );
    check(
        u16v(vec![0, 1149, 1150, 65535]),
        1150.0,
        65535.0,
        &[0, 0, 1, 1],
    );
    check(
        i32v(vec![-5, -4, 4, 5, i32::MAX]),
        -4.0,
        4.0,
        &[0, 1, 1, 0, 0],
    );
    check(
        f32v(vec![
            f32::NAN,
            225.99,
            226.0,
            3071.0,
            3071.01,
            f32::INFINITY,
        ]),
        226.0,
        3071.0,
        &[0, 0, 1, 1, 0, 0],
    );
    // An inverted or NaN range selects nothing (select() refuses it instead).
    check(u8v(vec![5, 6]), 6.0, 5.0, &[0, 0]);
    check(i16v(vec![5, 6]), f64::NAN, 10.0, &[0, 0]);
}

#[test]
fn presets_have_the_documented_ranges() {
    let cases = [
        (Preset::Bone, (226.0, 3071.0), "bone"),
        (Preset::Cortical, (662.0, 1988.0), "cortical"),
        (Preset::Cancellous, (148.0, 661.0), "cancellous"),
    ];
    for (p, range, name) in cases {
        assert_eq!(p.range(), range);
        assert_eq!(name.parse::<Preset>().unwrap(), p);
        assert_eq!(name.to_uppercase().parse::<Preset>().unwrap(), p);
        assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{name}\""));
        assert_eq!(p.to_string(), name);
        // Applied to HU: the bounds are in, one HU outside is out.
        let hu = vec![
            range.0 as i16 - 1,
            range.0 as i16,
            range.1 as i16,
            range.1 as i16 + 1,
        ];
        let v = ScalarVolume::I16(Volume::new(grid(4), hu).unwrap());
        assert_eq!(threshold(&v, range.0, range.1).data, vec![0, 1, 1, 0]);
    }
    assert!("marrow".parse::<Preset>().is_err());
}

#[test]
fn labels_select_each_listed_value() {
    let frog: Vec<u8> = vec![0, 13, 2, 13, 29, 7, 255];
    let v = ScalarVolume::U8(Volume::new(grid(7), frog).unwrap());
    let cases: [(&[i64], [u8; 7]); 5] = [
        (&[13], [0, 1, 0, 1, 0, 0, 0]),
        (&[13, 2, 29], [0, 1, 1, 1, 1, 0, 0]),
        (&[0], [1, 0, 0, 0, 0, 0, 0]),
        (&[255, 256, -1], [0, 0, 0, 0, 0, 0, 1]),
        (&[], [0; 7]),
    ];
    for (labels, expected) in cases {
        assert_eq!(select_labels(&v, labels).data, expected, "{labels:?}");
    }
    let i16v = ScalarVolume::I16(Volume::new(grid(4), vec![-3i16, 3, 1000, -1000]).unwrap());
    assert_eq!(select_labels(&i16v, &[-3, 1000]).data, vec![1, 0, 1, 0]);
    let u16v = ScalarVolume::U16(Volume::new(grid(3), vec![1u16, 60000, 2]).unwrap());
    assert_eq!(select_labels(&u16v, &[60000, 2]).data, vec![0, 1, 1]);
    let i32v = ScalarVolume::I32(Volume::new(grid(3), vec![-70000, 70000, 5]).unwrap());
    assert_eq!(select_labels(&i32v, &[70000, 5]).data, vec![0, 1, 1]);
    let f32v = ScalarVolume::F32(Volume::new(grid(4), vec![13.0f32, 13.5, f32::NAN, 2.0]).unwrap());
    assert_eq!(select_labels(&f32v, &[13, 2]).data, vec![1, 0, 0, 1]);
}
