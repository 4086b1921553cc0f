//! DICOM series reader on the real head CT series (`shared/scans/head_ct_dicom2stl`) and on
//! copies of it rewritten with dicom-object to make each failure case.

use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_object::{open_file, Tag};
use osteon_io::volume::dicom::read_series;
use osteon_io::{IoError, ReadOptions, Scan, ScanFormat};
use osteon_volume::{ScalarVolume, ValueKind, Volume};

const SCANS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/scans");

fn head(folder: &str) -> PathBuf {
    Path::new(SCANS).join("head_ct_dicom2stl").join(folder)
}

fn read(dir: &Path) -> Scan {
    read_series(dir, &ReadOptions::default())
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
}

fn i16s(scan: &Scan) -> &Volume<i16> {
    match &scan.volume {
        ScalarVolume::I16(v) => v,
        other => panic!("expected i16 voxels, got {}", other.type_name()),
    }
}

/// The series' files sorted by name (which is NOT slice order: names are shuffled).
fn series_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Copies the explicit-VR series into a fresh temp dir with the original names.
fn copy_series(from: &str) -> (tempfile::TempDir, Vec<PathBuf>) {
    let tmp = tempfile::tempdir().unwrap();
    let files = series_files(&head(from))
        .iter()
        .map(|f| {
            let to = tmp.path().join(f.file_name().unwrap());
            std::fs::copy(f, &to).unwrap();
            to
        })
        .collect();
    (tmp, files)
}

/// z of ImagePositionPatient of a file.
fn z_of(path: &Path) -> f64 {
    let obj = open_file(path).unwrap();
    obj.element(tags::IMAGE_POSITION_PATIENT)
        .unwrap()
        .to_multi_float64()
        .unwrap()[2]
}

/// Rewrites attribute `tag` of the file in place, keeping its VR (strings, or US numbers).
fn rewrite(path: &Path, tag: Tag, value: &str) {
    let mut obj = open_file(path).unwrap();
    let vr = obj.element(tag).unwrap().vr();
    if vr.to_string() == "US" {
        let n: u16 = value.parse().unwrap();
        obj.update_value(tag, |v| *v.primitive_mut().unwrap() = n.into());
    } else {
        obj.put_str(tag, vr, value);
    }
    obj.write_to_file(path).unwrap();
}

fn assert_names(err: &IoError, path: &Path) {
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "error does not name {}: {msg}",
        path.display()
    );
}

fn codes(scan: &Scan) -> Vec<&str> {
    scan.warnings.iter().map(|w| w.code.as_str()).collect()
}

#[test]
fn explicit_and_rle_series_read_identically() {
    let plain = read(&head("dicom_series"));
    let rle = read(&head("dicom_series_rle"));
    for scan in [&plain, &rle] {
        let v = i16s(scan);
        let g = &v.grid;
        assert_eq!(g.dims, [256, 256, 26]);
        assert_eq!(g.spacing, [1.25, 1.25, 4.0]);
        assert_eq!(g.origin, [0.0, 0.0, 0.0]);
        assert_eq!(
            g.direction,
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
        );
        assert_eq!(g.frame, osteon_geom::Frame::Lps);
        assert_eq!(scan.volume.value_range(), Some((-1024.0, 1945.0)));
        assert_eq!(scan.kind, ValueKind::CtHu);
        assert_eq!(scan.format, ScanFormat::DicomSeries);
        assert_eq!(scan.files.len(), 26);
        assert!(scan.files.windows(2).all(|w| w[0] < w[1]));
        assert!(scan.warnings.is_empty(), "{:?}", scan.warnings);
        // Oracle computed with pydicom + numpy (slices sorted by IPP z, value·slope+intercept).
        let sum: i64 = v.data.iter().map(|&x| i64::from(x)).sum();
        assert_eq!(sum, -1_178_825_296);
        assert_eq!(v.data.iter().filter(|&&x| x >= 250).count(), 81_648);
        assert_eq!(v.get(50, 100, 10), -998);
        assert_eq!(v.get(200, 128, 25), -1004);
    }
    assert_eq!(
        i16s(&plain).data,
        i16s(&rle).data,
        "RLE and uncompressed differ"
    );
}

#[test]
fn voxels_equal_the_png_stack() {
    let scan = read(&head("dicom_series_rle"));
    let v = i16s(&scan);
    for k in 0..26 {
        let png = head("png_hu16").join(format!("slice_{k:04}.png"));
        let img = image::open(&png).unwrap().into_luma16();
        assert_eq!(img.dimensions(), (256, 256));
        for (i, j, p) in img.enumerate_pixels() {
            let hu = i32::from(p.0[0]) - 1024;
            assert_eq!(
                i32::from(v.get(i as usize, j as usize, k)),
                hu,
                "voxel ({i}, {j}, {k})"
            );
        }
    }
}

#[test]
fn slice_order_does_not_depend_on_file_names() {
    let reference = read(&head("dicom_series"));
    let files = series_files(&head("dicom_series"));
    let n = files.len();
    // Reversed names, and a fixed pseudo-random permutation (LCG), plus a non-DICOM file.
    let mut perm: Vec<usize> = (0..n).collect();
    let mut s: u64 = 12345;
    for i in (1..n).rev() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        perm.swap(i, (s >> 33) as usize % (i + 1));
    }
    for name in [
        |i: usize, _: &[usize]| format!("r{:03}", 100 - i),
        |i, p: &[usize]| format!("slice-{}.dcm", p[i]),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        for (i, f) in files.iter().enumerate() {
            std::fs::copy(f, tmp.path().join(name(i, &perm))).unwrap();
        }
        std::fs::write(tmp.path().join("notes.txt"), "not a DICOM file").unwrap();
        std::fs::create_dir(tmp.path().join("subdir")).unwrap();
        let scan = read(tmp.path());
        assert_eq!(scan.volume, reference.volume);
        assert_eq!(scan.files.len(), 26, "the text file is not a slice");
    }
}

#[test]
fn a_single_file_reads_its_series() {
    let file = series_files(&head("dicom_series"))[7].clone();
    let scan = read(&file);
    assert_eq!(scan.volume, read(&head("dicom_series")).volume);
}

#[test]
fn empty_and_non_dicom_directories_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let err = read_series(tmp.path(), &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, IoError::UnknownFormat { .. }), "{err}");
    assert!(err.to_string().contains("no DICOM files found"), "{err}");
    assert_names(&err, tmp.path());

    std::fs::write(tmp.path().join("readme.txt"), "hello").unwrap();
    let err = read_series(tmp.path(), &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, IoError::UnknownFormat { .. }), "{err}");
    assert!(err.to_string().contains("no DICOM files found"), "{err}");
    assert_names(&err, tmp.path());

    let missing = tmp.path().join("nope");
    let err = read_series(&missing, &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, IoError::NotFound { .. }), "{err}");
}

#[test]
fn a_truncated_file_is_named() {
    for (folder, keep) in [
        ("dicom_series", 0.5),
        ("dicom_series_rle", 0.5),
        ("dicom_series", 0.1),
    ] {
        let (_tmp, files) = copy_series(folder);
        let victim = &files[3];
        let bytes = std::fs::read(victim).unwrap();
        std::fs::write(victim, &bytes[..(bytes.len() as f64 * keep) as usize]).unwrap();
        let err = read_series(_tmp.path(), &ReadOptions::default()).unwrap_err();
        assert!(
            matches!(err, IoError::Malformed { .. } | IoError::Truncated { .. }),
            "{err}"
        );
        assert_names(&err, victim);
    }
}

/// A slice file emptied or cut before its "DICM" marker is skipped as not DICOM; the series
/// then has a hole, and the error now names the skipped file (it said only "slices missing").
#[test]
fn a_file_cut_before_its_dicm_marker_is_named_in_the_hole_error() {
    for keep in [0usize, 100] {
        let (tmp, files) = copy_series("dicom_series");
        let victim = &files[3];
        let bytes = std::fs::read(victim).unwrap();
        std::fs::write(victim, &bytes[..keep]).unwrap();
        let err = read_series(tmp.path(), &ReadOptions::default()).unwrap_err();
        assert!(matches!(err, IoError::Inconsistent { .. }), "{err}");
        assert!(err.to_string().contains("missing"), "{err}");
        assert_names(&err, victim);
    }
}

#[test]
fn garbage_after_the_dicm_marker_never_panics() {
    let good = std::fs::read(&series_files(&head("dicom_series"))[0]).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("x.dcm");
    let mut s: u64 = 7;
    for cut in [132, 140, 200, 330, 400, 700, 1000, good.len() - 1] {
        std::fs::write(&f, &good[..cut]).unwrap();
        let _ = read_series(tmp.path(), &ReadOptions::default());
    }
    for round in 0..40 {
        let mut bytes = good.clone();
        // Flip a few bytes of the header region (elements before the pixel data).
        for _ in 0..(1 + round % 4) {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let at = 132 + (s >> 33) as usize % 900;
            bytes[at] = (s >> 13) as u8;
        }
        std::fs::write(&f, &bytes).unwrap();
        if let Err(e) = read_series(tmp.path(), &ReadOptions::default()) {
            assert!(!e.to_string().is_empty());
        }
    }
}

#[test]
fn the_largest_series_is_read_and_the_other_reported() {
    let (tmp, files) = copy_series("dicom_series");
    let other_uid = "1.2.826.0.1.3680043.8.498.999";
    // Three consecutive slices (z = 0, 4, 8 mm) make a small, even second series.
    let firsts: Vec<&PathBuf> = files.iter().filter(|f| z_of(f) <= 8.0).collect();
    for (n, f) in firsts.into_iter().enumerate() {
        let copy = tmp.path().join(format!("other{n}.dcm"));
        std::fs::copy(f, &copy).unwrap();
        rewrite(&copy, tags::SERIES_INSTANCE_UID, other_uid);
    }
    let scan = read(tmp.path());
    assert_eq!(scan.volume.grid().dims, [256, 256, 26]);
    assert_eq!(scan.files.len(), 26);
    assert!(scan
        .files
        .iter()
        .all(|f| !f.to_string_lossy().contains("other")));
    assert_eq!(codes(&scan), ["other-series"]);
    let msg = &scan.warnings[0].message;
    assert!(msg.contains(other_uid) && msg.contains("3 slices"), "{msg}");
    assert_eq!(scan.volume, read(&head("dicom_series")).volume);

    // Naming a file of the small series reads that one.
    let small = read(&tmp.path().join("other0.dcm"));
    assert_eq!(small.volume.grid().dims, [256, 256, 3]);
    assert_eq!(codes(&small), ["other-series"]);
}

#[test]
fn uneven_spacing_is_refused_unless_allowed() {
    let (tmp, files) = copy_series("dicom_series");
    let f = files.iter().find(|f| z_of(f) == 40.0).unwrap();
    rewrite(f, tags::IMAGE_POSITION_PATIENT, "0\\0\\41");
    let err = read_series(tmp.path(), &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, IoError::Inconsistent { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("from 3.0000 to 5.0000 mm") && msg.contains("--allow-uneven"),
        "{msg}"
    );
    assert_names(&err, tmp.path());

    let scan = read_series(tmp.path(), &ReadOptions::default().allow_uneven(true)).unwrap();
    assert_eq!(codes(&scan), ["uneven-spacing"]);
    assert_eq!(scan.volume.grid().spacing[2], 4.0, "mean spacing");

    // Within a looser tolerance it is simply read.
    let loose = ReadOptions::default().spacing_tolerance(0.3);
    assert!(read_series(tmp.path(), &loose).unwrap().warnings.is_empty());
}

#[test]
fn a_missing_slice_is_reported() {
    let (tmp, files) = copy_series("dicom_series");
    let f = files.iter().find(|f| z_of(f) == 48.0).unwrap();
    std::fs::remove_file(f).unwrap();
    let err = read_series(tmp.path(), &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, IoError::Inconsistent { .. }), "{err}");
    assert!(err.to_string().contains("slices missing"), "{err}");

    let scan = read_series(tmp.path(), &ReadOptions::default().allow_uneven(true)).unwrap();
    assert_eq!(scan.volume.grid().dims, [256, 256, 25]);
    assert_eq!(codes(&scan), ["uneven-spacing", "missing-slices"]);
    let msg = &scan.warnings[1].message;
    assert!(msg.contains("1 between 44.000 mm and 52.000 mm"), "{msg}");
    assert!((scan.volume.grid().spacing[2] - 100.0 / 24.0).abs() < 1e-12);
}

#[test]
fn gantry_tilt_is_measured_and_voxels_stay_put() {
    let (tmp, files) = copy_series("dicom_series");
    let tilt = 15f64.to_radians();
    for f in &files {
        let z = z_of(f);
        rewrite(
            f,
            tags::IMAGE_POSITION_PATIENT,
            &format!("{:.6}\\0\\{z}", z * tilt.tan()),
        );
    }
    let scan = read(tmp.path());
    assert_eq!(codes(&scan), ["gantry-tilt"]);
    assert!(
        scan.warnings[0].message.contains("15.00°"),
        "{:?}",
        scan.warnings
    );
    let g = scan.volume.grid();
    let k = g.direction[2];
    assert!((k[0] - tilt.sin()).abs() < 1e-6 && k[1] == 0.0 && (k[2] - tilt.cos()).abs() < 1e-6);
    assert!((g.spacing[2] - 4.0 / tilt.cos()).abs() < 1e-5);
    // Voxel (0, 0, k) sits at slice k's ImagePositionPatient.
    let w = g.world([0.0, 0.0, 25.0]);
    assert!(
        (w[0] - 100.0 * tilt.tan()).abs() < 1e-4 && (w[2] - 100.0).abs() < 1e-4,
        "{w:?}"
    );
    assert_eq!(i16s(&scan).data, i16s(&read(&head("dicom_series"))).data);
}

#[test]
fn duplicates_and_mismatched_slices_are_refused() {
    let (tmp, files) = copy_series("dicom_series");
    std::fs::copy(&files[5], tmp.path().join("copy.dcm")).unwrap();
    let err = read_series(tmp.path(), &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, IoError::Inconsistent { .. }), "{err}");
    assert!(err.to_string().contains("duplicate"), "{err}");
    assert_names(&err, &tmp.path().join("copy.dcm"));
    std::fs::remove_file(tmp.path().join("copy.dcm")).unwrap();

    rewrite(&files[9], tags::PIXEL_SPACING, "1.25\\1.5");
    let err = read_series(tmp.path(), &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, IoError::Inconsistent { .. }), "{err}");
    assert!(err.to_string().contains("PixelSpacing"), "{err}");
    assert_names(&err, &files[9]);
}

#[test]
fn missing_or_unsupported_attributes_name_the_file() {
    let (tmp, files) = copy_series("dicom_series");
    let f = &files[2];
    let original = std::fs::read(f).unwrap();

    let mut obj = open_file(f).unwrap();
    obj.remove_element(tags::PIXEL_SPACING);
    obj.write_to_file(f).unwrap();
    let err = read_series(tmp.path(), &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, IoError::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("PixelSpacing"), "{err}");
    assert_names(&err, f);

    std::fs::write(f, &original).unwrap();
    rewrite(f, tags::IMAGE_POSITION_PATIENT, "0\\nonsense\\4");
    let err = read_series(tmp.path(), &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, IoError::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("ImagePositionPatient"), "{err}");
    assert_names(&err, f);

    std::fs::write(f, &original).unwrap();
    rewrite(f, tags::PHOTOMETRIC_INTERPRETATION, "MONOCHROME1");
    let err = read_series(tmp.path(), &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, IoError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("MONOCHROME1"), "{err}");
    assert_names(&err, f);

    std::fs::write(f, &original).unwrap();
    let mut obj = open_file(f).unwrap();
    // Number of Frames is IS, like Instance Number.
    let is = obj.element(tags::INSTANCE_NUMBER).unwrap().vr();
    obj.put_str(tags::NUMBER_OF_FRAMES, is, "2");
    obj.write_to_file(f).unwrap();
    let err = read_series(tmp.path(), &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, IoError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("multi-frame"), "{err}");
}

#[test]
fn an_unsupported_transfer_syntax_is_named() {
    let (tmp, files) = copy_series("dicom_series_rle");
    let f = &files[4];
    let mut obj = open_file(f).unwrap();
    // Claim JPEG-LS for the RLE fragments: the dataset itself stays explicit VR LE.
    obj.update_meta(|m| m.transfer_syntax = "1.2.840.10008.1.2.4.80".into());
    obj.write_to_file(f).unwrap();
    let err = read_series(tmp.path(), &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, IoError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("JPEG-LS"), "{err}");
    assert_names(&err, f);
}

#[test]
fn too_many_voxels_are_refused_before_decoding() {
    let opts = ReadOptions::default().max_voxels(256 * 256 * 25);
    let err = read_series(&head("dicom_series"), &opts).unwrap_err();
    assert!(matches!(err, IoError::TooLarge { .. }), "{err}");
    assert_names(&err, &head("dicom_series"));
    assert!(read_series(&head("dicom_series"), &opts.max_voxels(256 * 256 * 26)).is_ok());
}

#[test]
fn reading_time() {
    // Not an assertion: the figure quoted in the issue note (run with --nocapture).
    for folder in ["dicom_series", "dicom_series_rle"] {
        let t = std::time::Instant::now();
        let n = 5;
        for _ in 0..n {
            read(&head(folder));
        }
        println!(
            "{folder}: {:.1} ms per read",
            t.elapsed().as_secs_f64() * 1e3 / n as f64
        );
    }
}

#[test]
fn implicit_and_deflated_little_endian_read_the_same() {
    let reference = read(&head("dicom_series"));
    // Implicit VR Little Endian, Deflated Explicit VR Little Endian.
    for ts in ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1.99"] {
        let (tmp, files) = copy_series("dicom_series");
        for f in &files {
            let mut obj = open_file(f).unwrap();
            obj.update_meta(|m| m.transfer_syntax = ts.into());
            let before = std::fs::metadata(f).unwrap().len();
            obj.write_to_file(f).unwrap();
            if ts.ends_with(".99") {
                // The dataset really is deflated.
                assert!(std::fs::metadata(f).unwrap().len() < before * 3 / 4);
            }
        }
        assert_eq!(read(tmp.path()).volume, reference.volume, "{ts}");
    }
}

/// Reads the series after rewriting attributes of every file (or of the files `only`
/// accepts), and checks each voxel against `expected(reference HU, z of the slice)`.
fn check_pixel_format(
    edits: &[(Tag, &str)],
    only: impl Fn(f64) -> bool,
    expected: impl Fn(i32, f64) -> f64,
    want_type: &str,
) {
    let (tmp, files) = copy_series("dicom_series");
    for f in &files {
        if only(z_of(f)) {
            for &(tag, value) in edits {
                rewrite(f, tag, value);
            }
        }
    }
    let reference = read(&head("dicom_series"));
    let reference = i16s(&reference);
    let scan = read(tmp.path());
    assert_eq!(scan.volume.type_name(), want_type, "{edits:?}");
    let g = &reference.grid;
    for k in 0..g.dims[2] {
        let z = g.origin[2] + k as f64 * g.spacing[2];
        for j in 0..g.dims[1] {
            for i in 0..g.dims[0] {
                let idx = g.index(i, j, k);
                let want = expected(i32::from(reference.data[idx]), z);
                let got = scan.volume.value_f64(idx);
                assert!(
                    (got - want).abs() <= want.abs() * 1e-7,
                    "{edits:?} voxel ({i}, {j}, {k}): {got} != {want}"
                );
            }
        }
    }
}

#[test]
fn stored_bits_sign_and_rescale_are_applied() {
    let all = |_: f64| true;
    let stored = |hu: i32| hu + 1024; // what the files hold
                                      // BitsStored masking: only the low 8 bits count.
    check_pixel_format(
        &[(tags::BITS_STORED, "8"), (tags::HIGH_BIT, "7")],
        all,
        |hu, _| f64::from((stored(hu) & 0xFF) - 1024),
        "i16",
    );
    // Signed 12-bit two's complement.
    check_pixel_format(
        &[
            (tags::BITS_STORED, "12"),
            (tags::HIGH_BIT, "11"),
            (tags::PIXEL_REPRESENTATION, "1"),
        ],
        all,
        |hu, _| {
            let v = stored(hu) & 0xFFF;
            f64::from(if v >= 2048 { v - 4096 } else { v } - 1024)
        },
        "i16",
    );
    // High bit not at BitsStored - 1: samples are shifted down.
    check_pixel_format(
        &[(tags::BITS_STORED, "12"), (tags::HIGH_BIT, "15")],
        all,
        |hu, _| f64::from(((stored(hu) >> 4) & 0xFFF) - 1024),
        "i16",
    );
    // Integral slope keeps i16; a fractional one gives f32.
    check_pixel_format(
        &[(tags::RESCALE_SLOPE, "2")],
        all,
        |hu, _| f64::from(2 * stored(hu) - 1024),
        "i16",
    );
    check_pixel_format(
        &[
            (tags::RESCALE_SLOPE, "0.5"),
            (tags::RESCALE_INTERCEPT, "-1024.25"),
        ],
        all,
        |hu, _| 0.5 * f64::from(stored(hu)) - 1024.25,
        "f32",
    );
    // Rescale differing per slice.
    check_pixel_format(
        &[(tags::RESCALE_INTERCEPT, "-1000")],
        |z| z == 40.0,
        |hu, z| f64::from(hu + if z == 40.0 { 24 } else { 0 }),
        "i16",
    );
    // Values beyond i16 go to f32.
    check_pixel_format(
        &[(tags::RESCALE_SLOPE, "20")],
        all,
        |hu, _| f64::from(20 * stored(hu) - 1024),
        "f32",
    );
}
