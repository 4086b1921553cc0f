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

// ------------------------------------------------------ second audit: readers, batch, verify

/// A slice stack whose `volume.json` declares 46 000 × 46 000 pixels for an 8 × 8 slice:
/// within the voxel budget, so the whole volume (4.2 GB of 16-bit samples) was allocated
/// before the first slice's size was compared (an abort under a memory limit). Run under
/// `ulimit -v` 3 GB: it must be refused naming the slice.
#[cfg(target_os = "linux")]
#[test]
fn stack_declaring_a_huge_slice_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let img = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_pixel(8, 8, image::Luma([3]));
    img.save(dir.path().join("s_00.png")).unwrap();
    std::fs::write(
        dir.path().join("volume.json"),
        r#"{"dims": [46000, 46000, 1], "spacing_mm": [1, 1, 1], "slice_files": "s_%02d.png"}"#,
    )
    .unwrap();
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 3000000 && exec '{}' info -q '{}'",
            env!("CARGO_BIN_EXE_osteon"),
            p(dir.path())
        ))
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{:?}: {err}", o.status);
    assert!(
        err.starts_with("error: ") && err.contains("s_00.png") && err.contains("46000×46000"),
        "{err}"
    );
}

/// A 12³ CT (int16 HU: air −1000, a 6³ cube of 1000 HU) as an attached NRRD.
fn tiny_ct(path: &Path) {
    let mut b = b"NRRD0004\ntype: short\ndimension: 3\nsizes: 12 12 12\nendian: little\n\
encoding: raw\nspace: LPS\nspace directions: (1,0,0) (0,1,0) (0,0,1)\n\n"
        .to_vec();
    for k in 0..12 {
        for j in 0..12 {
            for i in 0..12 {
                let inside = [i, j, k].iter().all(|&c| (3..9).contains(&c));
                b.extend_from_slice(&(if inside { 1000i16 } else { -1000 }).to_le_bytes());
            }
        }
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, b).unwrap();
}

fn batch_recipe(dir: &Path) -> PathBuf {
    let r = dir.join("b.toml");
    std::fs::write(
        &r,
        "name = \"qa\"\n[select]\ncriterion = { preset = \"bone\" }\n[checks]\nwatertight = true\n",
    )
    .unwrap();
    r
}

/// Runs `osteon batch IN --recipe R -o OUT --json -q`; returns the exit code and the JSON.
fn batch_json(input: &Path, recipe: &Path, out: &Path) -> (Option<i32>, serde_json::Value) {
    let o = osteon(&[
        "batch",
        p(input),
        "--recipe",
        p(recipe),
        "-o",
        p(out),
        "--json",
        "-q",
    ]);
    let v = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {} {}", stdout(&o), stderr(&o)));
    (o.status.code(), v)
}

/// A folder mixing a good scan with bad ones of every reader: the batch goes on past each,
/// names each file and its problem in the JSON and summary.json, and exits 1. The NRRD
/// whose data-file range overflowed was "internal error (panic): attempt to subtract with
/// overflow".
#[test]
fn batch_goes_on_past_each_bad_scan_and_names_it() {
    let d = tempfile::tempdir().unwrap();
    let scans = d.path().join("scans");
    tiny_ct(&scans.join("good.nrrd"));
    std::fs::write(
        scans.join("overflow.nhdr"),
        "NRRD0004\ntype: short\ndimension: 3\nsizes: 2 2 2\nendian: little\nencoding: raw\n\
         data file: s%03d.raw -9223372036854775807 9223372036854775807 1\n",
    )
    .unwrap();
    let good = std::fs::read(scans.join("good.nrrd")).unwrap();
    std::fs::write(scans.join("cut.nrrd"), &good[..good.len() - 100]).unwrap();
    std::fs::write(scans.join("empty.nii.gz"), b"").unwrap();
    let stack = scans.join("stack");
    std::fs::create_dir_all(&stack).unwrap();
    std::fs::write(
        stack.join("volume.json"),
        r#"{"dims": [4, 4, 2], "spacing_mm": [1, 1, 1], "slice_files": "s_%02d.png"}"#,
    )
    .unwrap();
    image::GrayImage::new(4, 4)
        .save(stack.join("s_00.png"))
        .unwrap();
    // A stack whose volume.json is a folder: was not found at all.
    std::fs::create_dir_all(scans.join("jsondir/volume.json")).unwrap();
    let r = batch_recipe(d.path());
    let out = d.path().join("qa");
    let (code, v) = batch_json(&scans, &r, &out);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(
        (&v["scans"], &v["passed"], &v["errors"]),
        (
            &serde_json::json!(6),
            &serde_json::json!(1),
            &serde_json::json!(5)
        ),
        "{v}"
    );
    let expect = [
        ("cut.nrrd", "error", "truncated"),
        ("empty.nii.gz", "error", "truncated"),
        ("good.nrrd", "pass", ""),
        ("jsondir", "error", "volume.json"),
        ("overflow.nhdr", "error", "bad range"),
        ("stack", "error", "s_01.png: no such file"),
    ];
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for rows in [&v["rows"], &summary["rows"]] {
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), expect.len());
        for (row, (scan, status, says)) in rows.iter().zip(expect) {
            assert_eq!(
                (row["scan"].as_str(), row["status"].as_str()),
                (Some(scan), Some(status))
            );
            if status == "error" {
                let e = row["error"].as_str().unwrap();
                assert!(e.contains(scan) && e.contains(says), "{scan}: {e}");
                assert!(!e.contains("panic"), "{e}");
            }
        }
    }
    // Only the good scan has a package; it verifies.
    let o = osteon(&["verify", p(&out.join("good.nrrd")), "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

/// An empty folder was "0 scans: 0 pass" with exit 0 (a mistyped folder passed a QA run);
/// an output folder that is a file said "File exists (os error 17)"; a scan file given as
/// the batch folder said "no such folder". All exit 2 and write nothing.
#[test]
fn batch_refuses_an_empty_folder_and_an_output_that_is_a_file() {
    let d = tempfile::tempdir().unwrap();
    let r = batch_recipe(d.path());
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "no scan here").unwrap();
    let out = d.path().join("qa");
    let err = refused_cmd(
        &["batch", p(&empty), "--recipe", p(&r), "-o", p(&out)],
        &["empty", "no scans found"],
        d.path(),
        2,
    );
    assert!(!out.exists(), "{err}");
    let scans = d.path().join("scans");
    tiny_ct(&scans.join("ct.nrrd"));
    let file = d.path().join("file");
    std::fs::write(&file, "x").unwrap();
    refused_cmd(
        &["batch", p(&scans), "--recipe", p(&r), "-o", p(&file)],
        &["file", "must be a folder"],
        d.path(),
        4,
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
    refused_cmd(
        &["batch", p(&file), "--recipe", p(&r), "-o", p(&out)],
        &["file", "not a folder"],
        d.path(),
        4,
    );
    refused_cmd(
        &[
            "batch",
            p(&d.path().join("nowhere")),
            "--recipe",
            p(&r),
            "-o",
            p(&out),
        ],
        &["nowhere"],
        d.path(),
        4,
    );
}

/// `a/b.nrrd` and `a_b.nrrd` both got the package folder `a_b.nrrd` (written at once, one
/// overwriting the other); a batch folder that is itself one scan wrote its package into
/// the output folder, where the summary's report.html replaced the scan's (its manifest no
/// longer verified); a symbolic link back up the tree made one scan appear 41 times.
#[test]
fn batch_packages_never_collide_and_each_scan_is_found_once() {
    let d = tempfile::tempdir().unwrap();
    let r = batch_recipe(d.path());
    let scans = d.path().join("scans");
    tiny_ct(&scans.join("a/b.nrrd"));
    tiny_ct(&scans.join("a_b.nrrd"));
    std::os::unix::fs::symlink("..", scans.join("a/up")).unwrap();
    let out = d.path().join("qa");
    let (code, v) = batch_json(&scans, &r, &out);
    assert_eq!(code, Some(0), "{v}");
    let rows: Vec<(&str, &str)> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["scan"].as_str().unwrap(), r["output"].as_str().unwrap()))
        .collect();
    assert_eq!(rows, [("a/b.nrrd", "a_b.nrrd"), ("a_b.nrrd", "a_b.nrrd-2")]);
    for (_, pkg) in rows {
        let o = osteon(&["verify", p(&out.join(pkg)), "-q"]);
        assert_eq!(o.status.code(), Some(0), "{pkg}: {}", stdout(&o));
    }
    // The batch folder is one slice stack.
    let stack = d.path().join("stack");
    let o = osteon(&["phantom", "-o", p(&stack), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = d.path().join("qa2");
    let (code, v) = batch_json(&stack, &r, &out);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["rows"][0]["output"], "scan");
    let o = osteon(&["verify", p(&out.join("scan")), "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

/// `osteon verify` on damaged packages: a manifest that is missing, truncated or not JSON
/// is exit 2 naming manifest.json; a changed or missing output is exit 1 naming it; a
/// manifest listing nothing was "all 0 files match" (exit 0) and is now exit 2; the path of
/// the manifest itself means its folder (was "manifest.json/manifest.json: Not a
/// directory").
#[test]
fn verify_names_damaged_manifests_and_changed_files() {
    let d = tempfile::tempdir().unwrap();
    let r = batch_recipe(d.path());
    let scans = d.path().join("scans");
    tiny_ct(&scans.join("ct.nrrd"));
    let out = d.path().join("qa");
    let (code, v) = batch_json(&scans, &r, &out);
    assert_eq!(code, Some(0), "{v}");
    let pkg = out.join("ct.nrrd");
    let manifest = pkg.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let o = osteon(&["verify", p(&manifest), "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));

    let copy = |name: &str| {
        let c = d.path().join(name);
        copy_dir(&pkg, &c);
        c
    };
    for (name, content, says) in [
        ("trunc", &text[..text.len() / 2], "EOF while parsing"),
        ("notjson", "hello", "not an osteon pipeline manifest"),
        ("array", "[]", "not an osteon pipeline manifest"),
    ] {
        let c = copy(name);
        std::fs::write(c.join("manifest.json"), content).unwrap();
        refused_cmd(&["verify", p(&c)], &["manifest.json", says], &c, 4);
    }
    let c = copy("nomanifest");
    std::fs::remove_file(c.join("manifest.json")).unwrap();
    refused_cmd(&["verify", p(&c)], &["manifest.json"], &c, 3);

    let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
    for key in ["outputs", "inputs", "input_manifests"] {
        m[key] = serde_json::json!([]);
    }
    m["recipe_file"] = serde_json::Value::Null;
    let c = copy("nothing");
    std::fs::write(c.join("manifest.json"), m.to_string()).unwrap();
    refused_cmd(
        &["verify", p(&c)],
        &["manifest.json", "lists no files"],
        &c,
        4,
    );

    // Changed and missing outputs: exit 1, each named on stdout.
    let outputs = serde_json::from_str::<serde_json::Value>(&text).unwrap()["outputs"].clone();
    let first = outputs[0]["path"].as_str().unwrap().to_string();
    let last = outputs.as_array().unwrap().last().unwrap()["path"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(first, last);
    let c = copy("changed");
    std::fs::write(c.join(&first), "tampered").unwrap();
    std::fs::remove_file(c.join(&last)).unwrap();
    let o = osteon(&["verify", p(&c), "-q"]);
    let so = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{so}");
    assert!(so.contains(&format!("{first}: content changed")), "{so}");
    assert!(so.contains(&format!("{last}: missing")), "{so}");
    // A recorded hash that is not hex (cut at a character boundary it panicked).
    let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
    m["outputs"][0]["sha256"] = serde_json::json!("aéééééééééé");
    let c2 = copy("oddhash");
    std::fs::write(c2.join("manifest.json"), m.to_string()).unwrap();
    let o = osteon(&["verify", p(&c2), "-q"]);
    let so = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{so}{}", stderr(&o));
    assert!(so.contains(&format!("{first}: content changed")), "{so}");
    // A file that is not a manifest.
    refused_cmd(
        &["verify", p(&c.join(&first))],
        &[&first, "not a folder"],
        &c,
        3,
    );
}
