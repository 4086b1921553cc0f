//! Bad input: exit code 2, one line naming the file and the problem, no output file.

use crate::*;
use std::io::Read;

/// Runs `osteon mesh INPUT -o OUT` and checks the refusal.
fn refused(input: &Path, extra: &[&str], must_name: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.stl");
    let mut args = vec!["mesh", p(input), "-o", p(&out)];
    args.extend_from_slice(extra);
    let o = osteon(&args);
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "expected exit 2 for {input:?}, got {:?}: {err}",
        o.status
    );
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<_> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one clear line expected: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(
        err.contains(must_name),
        "the message should name {must_name}: {err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "an output file was left behind"
    );
    err
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = vec![];
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn truncated_nifti() {
    let dir = tempfile::tempdir().unwrap();
    let raw = gunzip(&scans().join("head_ct_dicom2stl/ct_example.nii.gz"));
    let nii = dir.path().join("truncated.nii");
    std::fs::write(&nii, &raw[..raw.len() / 2]).unwrap();
    let err = refused(&nii, &[], "truncated.nii");
    assert!(err.contains("truncated"), "{err}");
    // A gzip stream cut in the middle.
    let gz = std::fs::read(scans().join("head_ct_dicom2stl/ct_example.nii.gz")).unwrap();
    let cut = dir.path().join("cut.nii.gz");
    std::fs::write(&cut, &gz[..gz.len() / 3]).unwrap();
    refused(&cut, &[], "cut.nii.gz");
}

#[test]
fn nifti_with_zero_spacing() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = gunzip(&scans().join("head_ct_dicom2stl/ct_example.nii.gz"));
    // pixdim[1] is the f32 at byte 80 (little-endian header): set it to 0.
    assert_eq!(i32::from_le_bytes(raw[0..4].try_into().unwrap()), 348);
    raw[80..84].copy_from_slice(&0f32.to_le_bytes());
    // Clear the sform/qform codes so pixdim is what defines the spacing.
    raw[252..254].copy_from_slice(&0i16.to_le_bytes());
    raw[254..256].copy_from_slice(&0i16.to_le_bytes());
    let nii = dir.path().join("zero_spacing.nii");
    std::fs::write(&nii, &raw).unwrap();
    let err = refused(&nii, &[], "zero_spacing.nii");
    assert!(err.contains("spacing"), "{err}");
}

#[test]
fn slice_stack_with_one_slice_of_another_size() {
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack");
    copy_dir(&scans().join("vtk_headsq_quarter/png_ct16"), &stack);
    std::fs::copy(
        scans().join("head_ct_dicom2stl/png_hu16/slice_0000.png"),
        stack.join("slice_0042.png"),
    )
    .unwrap();
    let err = refused(&stack, &["--hu", "1150"], "slice_0042.png");
    assert!(
        err.contains("256") && err.contains("64"),
        "the message should give both sizes: {err}"
    );
}

/// The error of meshing a copy of the quarter head slice stack whose `volume.json` gives
/// `spacing` (it must name `volume.json`).
fn stack_with_spacing_error(spacing: [f64; 3]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack");
    copy_dir(&scans().join("vtk_headsq_quarter/png_ct16"), &stack);
    let json = stack.join("volume.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    v["spacing_mm"] = serde_json::json!(spacing);
    std::fs::write(&json, serde_json::to_string(&v).unwrap()).unwrap();
    refused(&stack, &["--hu", "1150"], "volume.json")
}

#[test]
fn volume_json_with_zero_spacing() {
    let err = stack_with_spacing_error([3.2, 0.0, 1.5]);
    assert!(err.contains("spacing"), "{err}");
}

#[test]
fn empty_selection() {
    let err = refused(
        &scans().join("vtk_headsq_quarter/headsq_quarter.mhd"),
        &["--hu", "60000"],
        "headsq_quarter.mhd",
    );
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn directory_without_dicom() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("not_dicom");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("notes.txt"), "hello").unwrap();
    refused(&d, &[], "not_dicom");
}

#[test]
fn missing_path() {
    let err = refused(
        Path::new("/nonexistent/scan.nii.gz"),
        &[],
        "/nonexistent/scan.nii.gz",
    );
    assert!(err.to_lowercase().contains("no such file"), "{err}");
}

#[test]
fn headers_declaring_far_more_voxels_than_data() {
    let dir = tempfile::tempdir().unwrap();
    let nrrd = dir.path().join("huge.nrrd");
    let mut bytes =
        b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 60000 60000 60000\nencoding: raw\n\n"
            .to_vec();
    bytes.extend_from_slice(&[0u8; 1000]);
    std::fs::write(&nrrd, &bytes).unwrap();
    let t = std::time::Instant::now();
    refused(&nrrd, &[], "huge.nrrd");
    let mhd = dir.path().join("huge.mhd");
    std::fs::write(&mhd, "ObjectType = Image\nNDims = 3\nDimSize = 60000 60000 60000\nElementType = MET_UCHAR\nElementSpacing = 1 1 1\nElementDataFile = huge.raw\n").unwrap();
    std::fs::write(dir.path().join("huge.raw"), [0u8; 1000]).unwrap();
    refused(&mhd, &[], "huge");
    assert!(
        t.elapsed().as_secs() < 20,
        "refusal must not decode or allocate the declared size"
    );
}

#[test]
fn detached_data_outside_the_header_folder() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("inner");
    std::fs::create_dir(&inner).unwrap();
    let mut data = vec![0u8; 8 * 8 * 8];
    for v in &mut data[100..140] {
        *v = 1;
    }
    std::fs::write(dir.path().join("outside.raw"), &data).unwrap();
    let nhdr = inner.join("scan.nhdr");
    std::fs::write(&nhdr, "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 8 8 8\nspacings: 1 1 1\nencoding: raw\ndata file: ../outside.raw\n\n").unwrap();
    let err = refused(&nhdr, &[], "scan.nhdr");
    assert!(err.contains("outside"), "{err}");
    let mhd = inner.join("scan.mhd");
    std::fs::write(&mhd, "ObjectType = Image\nNDims = 3\nDimSize = 8 8 8\nElementType = MET_UCHAR\nElementSpacing = 1 1 1\nElementDataFile = ../outside.raw\n").unwrap();
    refused(&mhd, &[], "scan.mhd");
    // Allowed explicitly, both read.
    for h in [&nhdr, &mhd] {
        let out = dir.path().join("ok.stl");
        let o = osteon(&[
            "mesh",
            p(h),
            "-o",
            p(&out),
            "--allow-outside-folder",
            "--hu",
            "1",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

#[test]
fn unknown_output_extension_and_bad_range_are_usage_errors() {
    let scan = scans().join("vtk_headsq_quarter/headsq_quarter.mhd");
    refused(&scan, &["--hu", "2000:1000"], "--hu");
    let dir = tempfile::tempdir().unwrap();
    let o = osteon(&[
        "mesh",
        p(&scan),
        "-o",
        p(&dir.path().join("x.xyz")),
        "--hu",
        "1150",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("x.xyz"));
    let o = osteon(&["mesh"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn label_map_without_label_says_what_to_do() {
    let err = refused(
        &scans().join("vtk_frogtissue/frogtissue.mhd"),
        &[],
        "frogtissue.mhd",
    );
    assert!(err.contains("--label") || err.contains("--hu"), "{err}");
}

#[test]
fn truncated_rle_dicom_slice() {
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("rle");
    copy_dir(&scans().join("head_ct_dicom2stl/dicom_series_rle"), &series);
    let victim = series.join("IM00002.dcm");
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() - 3000]).unwrap();
    let err = refused(&series, &["--preset", "bone"], "IM00002.dcm");
    assert!(err.contains("truncated"), "{err}");
}

// ------------------------------------------------------------ found by the bad-input audit

/// Runs `args`, expects exit 2 with one `error:` line naming each of `names`, no panic, and
/// `dir` holding exactly `left` entries afterwards. Returns the error line.
fn refused_cmd(args: &[&str], names: &[&str], dir: &Path, left: usize) -> String {
    let o = osteon(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {:?}: {err}", o.status);
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<_> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {err}");
    for n in names {
        assert!(
            lines[0].contains(n),
            "{args:?}: the error should name {n}: {err}"
        );
    }
    let entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries.len(), left, "left behind in {dir:?}: {entries:?}");
    lines[0].to_string()
}

fn cube_file(dir: &Path, name: &str, scale: f32) -> PathBuf {
    let mut m = osteon::mesh::shapes::cuboid(osteon::geom::Vec3::ZERO, osteon::geom::Vec3::ONE);
    for p in &mut m.positions {
        *p *= 10.0 * scale;
    }
    let p = dir.join(name);
    osteon::io::write_mesh(&p, &m, &osteon::io::MeshWriteOptions::default()).unwrap();
    p
}

#[test]
fn output_errors_name_the_output_and_say_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let cube = cube_file(dir.path(), "cube.stl", 1.0);
    // An output in a folder that does not exist: named, with the folder (was only the folder).
    let out = dir.path().join("no_such_folder").join("repaired.stl");
    let line = refused_cmd(
        &["repair", p(&cube), "-o", p(&out)],
        &["repaired.stl", "no_such_folder"],
        dir.path(),
        1,
    );
    assert!(!line.contains("repaired.stl.tmp"), "{line}");
    // An output path that is a folder is refused, and the folder stays.
    let folder = dir.path().join("taken.stl");
    std::fs::create_dir(&folder).unwrap();
    refused_cmd(
        &["decimate", p(&cube), "-o", p(&folder), "--ratio", "0.5"],
        &["taken.stl", "folder"],
        dir.path(),
        2,
    );
    assert!(folder.is_dir());
    // A folder given as the input mesh: the OS error once, not twice.
    let line = refused_cmd(
        &["smooth", p(&folder), "-o", p(&dir.path().join("x.stl"))],
        &["taken.stl"],
        dir.path(),
        2,
    );
    let cause = line.rsplit(": ").next().unwrap();
    assert_eq!(line.matches(cause).count(), 1, "cause repeated: {line}");
}

#[test]
fn a_step_that_makes_non_finite_vertices_names_the_input_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Finite coordinates near f32::MAX: smoothing them overflows to infinity.
    let huge = cube_file(dir.path(), "huge.stl", 1e37);
    let out = dir.path().join("smooth.stl");
    let o = osteon(&["smooth", p(&huge), "-o", p(&out), "-q"]);
    if o.status.success() {
        // A smoother that copes is fine too, as long as what it wrote is finite.
        let m = osteon::io::read_mesh(&out).expect("a readable, finite output");
        assert!(m.positions.iter().all(|q| q.is_finite()));
    } else {
        // Refused by the smoother itself (the box collapses and its volume cannot be given
        // back) or by the check of the step's output: either way naming the input.
        refused_cmd(
            &["smooth", p(&huge), "-o", p(&out), "-q"],
            &["huge.stl", "smooth"],
            dir.path(),
            1,
        );
    }
}

#[test]
fn slice_refuses_absurd_options_without_aborting_or_leaving_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let cube = cube_file(dir.path(), "cube.stl", 1.0);
    let out = dir.path().join("layers");
    let base = ["slice", p(&cube), "-o", p(&out), "--layer-height", "0.5"];
    for (extra, name) in [
        // Aborted allocating 1e16 bytes of pixels.
        (
            &["--format", "png", "--resolution", "99999999x99999999"][..],
            "--resolution",
        ),
        // Aborted allocating 2e11 bytes of hatch vectors.
        (
            &["--format", "cli", "--hatch-spacing", "1e-9"][..],
            "--hatch-spacing",
        ),
        // Wrote a CLI file without a single hatch.
        (
            &["--format", "cli", "--hatch-rotation", "NaN"][..],
            "--hatch-rotation",
        ),
        // Wrote a CLI file with no vectors at all.
        (&["--format", "cli", "--beam-offset", "100"][..], "cube.stl"),
        (&["--format", "png", "--exposure", "NaN"][..], "--exposure"),
        (
            &["--format", "gcode", "--bed-center", "NaN,0"][..],
            "--bed-center",
        ),
        // Refused, but after creating the output folder.
        (&["--format", "png", "--pixel-size", "0"][..], "pixel size"),
    ] {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        refused_cmd(&args, &[name], dir.path(), 1);
        assert!(!out.exists());
    }
}

#[test]
fn slice_stack_whose_spacing_overflows_f32_is_refused() {
    // Was accepted, and failed only when writing infinite vertices, naming the output.
    let err = stack_with_spacing_error([1e308, 1e308, 1e308]);
    assert!(err.contains("beyond"), "{err}");
}

#[test]
fn distance_maps_must_be_named_ply() {
    let dir = tempfile::tempdir().unwrap();
    let cube = cube_file(dir.path(), "cube.stl", 1.0);
    // Was exit 0 with PLY bytes in a file named .stl.
    let map = dir.path().join("map.stl");
    refused_cmd(
        &["fit", p(&cube), p(&cube), "--map", p(&map)],
        &["--map", "map.stl", ".ply"],
        dir.path(),
        1,
    );
    refused_cmd(
        &["compare", p(&cube), p(&cube), "--map", p(&map)],
        &["--map", "map.stl"],
        dir.path(),
        1,
    );
}
