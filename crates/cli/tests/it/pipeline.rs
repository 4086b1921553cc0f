//! `osteon run`, `batch` and `verify`: recipes end to end, byte-identical packages,
//! provenance that catches a changed byte, failed rows, and report.html in a real browser.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::OnceLock;

use crate::*;

fn recipe() -> PathBuf {
    repo().join("recipes/sample.toml")
}

/// `osteon run recipes/sample.toml -o <dir>` with `RAYON_NUM_THREADS=threads`.
fn run_sample(dir: &Path, threads: &str, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_osteon"))
        .args(["run", p(&recipe()), "-o", p(dir), "--json"])
        .args(extra)
        .env("RAYON_NUM_THREADS", threads)
        .output()
        .expect("the osteon binary runs")
}

/// The sample package, made once (1 thread) and shared by the tests that only read it.
fn package() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let pkg = d.path().join("pkg");
        let o = run_sample(&pkg, "1", &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        (d, pkg)
    })
    .1
}

/// Every file under `dir` (recursively), by `/`-separated relative path.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy();
                out.insert(rel.replace('\\', "/"), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn run_makes_a_checked_package_byte_identical_at_1_and_2_threads() {
    let a = package();
    let names: Vec<String> = files(a).into_keys().collect();
    assert_eq!(
        names,
        [
            "bone.stl",
            "implant.stl",
            "manifest.json",
            "offset.stl",
            "report.html",
            "report.json",
            "slices/bone.cli",
            "slices/bone.svg"
        ]
    );
    // Same recipe at 2 threads, into another folder: every byte the same.
    let d = tempfile::tempdir().unwrap();
    let b = d.path().join("again");
    let o = run_sample(&b, "2", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    for stage in [
        "read", "select", "extract", "repair", "smooth", "offset", "fit", "report", "slice",
        "write",
    ] {
        assert!(
            v["timings_s"][stage].as_f64().is_some_and(|t| t >= 0.0),
            "timings_s.{stage}: {}",
            v["timings_s"]
        );
    }
    assert_eq!(v["passed"], true, "{}", v["checks"]);
    let (fa, fb) = (files(a), files(&b));
    assert_eq!(fa.len(), fb.len());
    for (name, bytes) in &fa {
        assert!(fb[name] == *bytes, "{name} differs between 1 and 2 threads");
    }

    // The manifest: inputs (120 slices + volume.json), outputs, options, reports, checks.
    let m: serde_json::Value = serde_json::from_slice(&fa["manifest.json"]).unwrap();
    assert_eq!(m["inputs"].as_array().unwrap().len(), 121);
    // Each input's hash is the file's own (the first is a slice of the sample scan).
    let first = m["inputs"][0]["path"].as_str().unwrap();
    assert_eq!(
        m["inputs"][0]["sha256"].as_str().unwrap(),
        osteon::io::hash_file(std::path::Path::new(first))
            .unwrap()
            .sha256
    );
    let outs: Vec<&str> = m["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        outs,
        [
            "bone.stl",
            "offset.stl",
            "implant.stl",
            "slices/bone.svg",
            "slices/bone.cli",
            "report.json",
            "report.html"
        ]
    );
    assert_eq!(m["options"]["offset"]["distance_mm"], 0.5);
    assert_eq!(m["options"]["smooth"]["iterations"], 40);
    assert_eq!(m["options"]["select"]["criterion"]["preset"], "bone");
    // The revision this build came from, when git can tell (CI builds from a clone).
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(head) = head {
        assert_eq!(m["git_revision"].as_str().unwrap(), head);
    }
    assert_eq!(m["recipe_file"]["path"], p(&recipe()));
    assert!(
        m["reports"]["smooth"]["max_displacement_mm"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(m["reports"]["offset"]["error"]["p99_mm"].as_f64().unwrap() <= 0.05);
    assert_eq!(
        m["reports"]["meshes"]["offset"]["self_intersecting_faces"],
        0
    );
    assert_eq!(m["passed"], true);
    assert!(
        !String::from_utf8_lossy(&fa["manifest.json"]).contains("timings_s"),
        "timings must stay out of hashed files"
    );
    // The slices: a real CLI file and SVG of every layer of the bone mesh at 0.3 mm, with
    // the volume from the layers within 1 % of the mesh volume, reported in report.json.
    let rep: serde_json::Value = serde_json::from_slice(&fa["report.json"]).unwrap();
    let sl = &rep["reports"]["slice"];
    assert_eq!(sl["mesh"], "bone", "{sl}");
    assert_eq!(sl["report"]["layer_height_mm"], 0.3);
    let layers = sl["report"]["layers"].as_u64().unwrap() as usize;
    assert!(layers > 50, "{layers} layers");
    assert_eq!(sl["report"]["per_layer"].as_array().unwrap().len(), layers);
    assert!(sl["report"]["volume_rel_error"].as_f64().unwrap().abs() < 0.01);
    let mesh_v = sl["report"]["mesh_volume_mm3"].as_f64().unwrap();
    assert!((mesh_v / bone_volume(&a.join("bone.stl")) - 1.0).abs() < 1e-6);
    assert_eq!(
        sl["cli"]["layers"].as_u64().unwrap() as usize,
        layers,
        "{sl}"
    );
    let cli = String::from_utf8_lossy(&fa["slices/bone.cli"]);
    assert!(cli.starts_with("$$HEADERSTART"), "{}", &cli[..40]);
    assert_eq!(cli.matches("$$LAYER/").count(), layers);
    let svg = String::from_utf8_lossy(&fa["slices/bone.svg"]);
    assert_eq!(svg.matches("<g id=\"layer-").count(), layers);
    assert!(m["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["check"] == "max_slice_volume_error_pct" && c["pass"] == true));
    let html = String::from_utf8_lossy(&fa["report.html"]);
    assert!(html.contains("<h3>slice</h3>") && html.contains("volume_rel_error"));
    // The meshes are closed; the offset surface lies outside the bone (larger volume).
    let bone = osteon::io::read_mesh(&a.join("bone.stl")).unwrap();
    let off = osteon::io::read_mesh(&a.join("offset.stl")).unwrap();
    assert_closed_manifold(&bone);
    assert_closed_manifold(&off);
    assert!(off.signed_volume() > bone.signed_volume() * 1.02);
}

#[test]
fn verify_passes_then_names_the_file_with_a_changed_byte() {
    let d = tempfile::tempdir().unwrap();
    let copy = d.path().join("pkg");
    std::fs::create_dir(&copy).unwrap();
    for (name, bytes) in files(package()) {
        let f = copy.join(name);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, bytes).unwrap();
    }
    let o = osteon(&["verify", p(&copy)]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    // One byte of the offset mesh changes.
    let problems = flip_a_byte_and_verify(&copy, "offset.stl");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("offset.stl"));
    // So does one byte of a slice file, in its sub-folder.
    let problems = flip_a_byte_and_verify(&copy, "slices/bone.cli");
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[1].contains("slices/bone.cli"));
    // A deleted output is named as missing.
    std::fs::remove_file(copy.join("report.html")).unwrap();
    let o = osteon(&["verify", p(&copy)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("report.html: missing"),
        "{}",
        stdout(&o)
    );
    // Not a package: exit 2.
    let o = osteon(&["verify", p(d.path())]);
    assert_eq!(o.status.code(), Some(2));
}

fn bone_volume(path: &Path) -> f64 {
    osteon::io::read_mesh(path).unwrap().signed_volume()
}

/// `[compare]` against the bone mesh of the sample package: distance 0 passes; against the
/// offset surface (0.5 mm out) a 0.1 mm Hausdorff limit fails with exit 1; the reference is
/// hashed into the manifest's inputs and its deviation fills the batch summary columns.
#[test]
fn compare_against_a_reference_mesh_measures_and_checks_the_deviation() {
    let pkg = package();
    let d = tempfile::tempdir().unwrap();
    std::fs::copy(pkg.join("bone.stl"), d.path().join("ref_bone.stl")).unwrap();
    std::fs::copy(pkg.join("offset.stl"), d.path().join("ref_offset.stl")).unwrap();
    let r = d.path().join("cmp.toml");
    // Same bone steps as the sample (so the mesh is the same), no offset/fit/slice.
    std::fs::write(
        &r,
        format!(
            "name = \"cmp\"\ninput = {:?}\n[select]\ncriterion = {{ preset = \"bone\" }}\nkeep = {{ min-volume = 1.0 }}\n[repair]\n[smooth]\n\
             [compare]\nreference = \"ref_bone.stl\"\noptions = {{ target_samples = 20000 }}\n[checks]\nmax_hausdorff_mm = 0.05\n",
            p(&repo().join("sample-scans/long_bone_fracture"))
        ),
    )
    .unwrap();
    let out = d.path().join("o");
    let v = json_ok(&["run", p(&r), "-o", p(&out), "--json"]);
    let c = &v["reports"]["compare"];
    assert!(c["hausdorff_mm"].as_f64().unwrap() < 1e-3, "{c}");
    assert!(c["mean_mm"].as_f64().unwrap() < 1e-4, "{c}");
    assert!(v["timings_s"]["compare"].as_f64().is_some());
    assert_eq!(v["passed"], true, "{}", v["checks"]);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let reference = p(&d.path().join("ref_bone.stl")).to_string();
    let hashed = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == reference.as_str())
        .unwrap_or_else(|| panic!("{reference} not in the inputs"));
    assert_eq!(hashed["sha256"].as_str().unwrap().len(), 64);

    // Against the 0.5 mm offset surface: ~0.5 mm, the 0.05 mm limit fails → exit 1.
    let o = osteon(&[
        "run",
        p(&r),
        "-o",
        p(&out),
        "--set",
        "compare.reference=ref_offset.stl",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let h = v["reports"]["compare"]["hausdorff_mm"].as_f64().unwrap();
    assert!(h > 0.4 && h < 1.0, "hausdorff {h}");
    let hd95 = v["reports"]["compare"]["hd95_mm"].as_f64().unwrap();
    assert!(hd95 > 0.4 && hd95 <= h, "hd95 {hd95}");
    let failed: Vec<&serde_json::Value> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["pass"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{}", v["checks"]);
    assert_eq!(failed[0]["check"], "max_hausdorff_mm");

    // A missing reference: exit 2 naming the file.
    let o = osteon(&[
        "run",
        p(&r),
        "-o",
        p(&out),
        "--set",
        "compare.reference=nowhere.stl",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("nowhere.stl"), "{}", stderr(&o));

    // In a batch, the deviation fills the summary's columns and the failed check the row.
    let scans = d.path().join("scans/long_bone_fracture");
    std::fs::create_dir_all(&scans).unwrap();
    for e in std::fs::read_dir(repo().join("sample-scans/long_bone_fracture")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), scans.join(e.file_name())).unwrap();
    }
    let qa = d.path().join("qa");
    let o = osteon(&[
        "batch",
        p(&d.path().join("scans")),
        "--recipe",
        p(&r),
        "-o",
        p(&qa),
        "--set",
        "compare.reference=ref_offset.stl",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let csv = std::fs::read_to_string(qa.join("summary.csv")).unwrap();
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| row[head.iter().position(|h| *h == n).unwrap()];
    assert_eq!(col("status"), "fail");
    let hcsv: f64 = col("hausdorff_mm").parse().unwrap();
    assert!((hcsv - h).abs() < 1e-4, "{hcsv} vs {h}");
    let hd95csv: f64 = col("hd95_mm").parse().unwrap();
    assert!((hd95csv - hd95).abs() < 1e-4);
    assert!(col("mean_deviation_mm").parse::<f64>().unwrap() > 0.3);
    assert!(col("compare_s").parse::<f64>().is_ok());
}

#[test]
fn overrides_reach_the_manifest_typos_are_refused_and_checks_set_the_exit_code() {
    let d = tempfile::tempdir().unwrap();
    // A quick recipe: no smoothing or offset.
    let r = d.path().join("quick.toml");
    std::fs::write(
        &r,
        format!(
            "name = \"quick\"\ninput = {:?}\n[select]\ncriterion = {{ preset = \"bone\" }}\n[decimate]\nmax_error_mm = 0.1\nratio = 0.8\n[checks]\nwatertight = true\n",
            p(&repo().join("sample-scans/long_bone_fracture"))
        ),
    )
    .unwrap();
    let out = d.path().join("o");
    let v = json_ok(&[
        "run",
        p(&r),
        "-o",
        p(&out),
        "--set",
        "decimate.max_error_mm=0.2",
        "--json",
    ]);
    assert!(
        v["reports"]["decimate"]["max_deviation_mm"]
            .as_f64()
            .unwrap()
            <= 0.2
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["options"]["decimate"]["max_error_mm"], 0.2);
    assert_eq!(m["overrides"][0], "decimate.max_error_mm=0.2");
    assert!(m["options"]["smooth"].is_null());

    // A typo in a key: exit 2 naming it, nothing written.
    let bad = d.path().join("bad");
    let o = osteon(&[
        "run",
        p(&r),
        "-o",
        p(&bad),
        "--set",
        "decimate.max_eror_mm=1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("decimate.max_eror_mm"),
        "{}",
        stderr(&o)
    );
    assert!(!bad.exists());

    // A threshold the mesh misses: exit 1, the package still written and marked failed.
    let o = osteon(&[
        "run",
        p(&r),
        "-o",
        p(&out),
        "--set",
        "checks.max_triangles=100",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(rep["passed"], false);
    assert_eq!(rep["checks"][1]["check"], "max_triangles");
    assert_eq!(rep["checks"][1]["pass"], false);

    // A folder osteon did not write is never clobbered.
    let foreign = d.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("thesis.docx"), b"precious").unwrap();
    let o = osteon(&["run", p(&r), "-o", p(&foreign)]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        std::fs::read(foreign.join("thesis.docx")).unwrap(),
        b"precious"
    );
}

#[test]
fn batch_turns_a_corrupt_scan_into_one_failed_row() {
    let d = tempfile::tempdir().unwrap();
    let scans = d.path().join("scans");
    let phantom = scans.join("phantom");
    std::fs::create_dir_all(&phantom).unwrap();
    for e in std::fs::read_dir(repo().join("sample-scans/long_bone_fracture")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), phantom.join(e.file_name())).unwrap();
    }
    // A NIfTI whose gzip stream is cut short.
    let nii = std::fs::read(crate::scans().join("head_ct_dicom2stl/ct_example.nii.gz")).unwrap();
    std::fs::write(scans.join("corrupt.nii.gz"), &nii[..nii.len() / 3]).unwrap();
    std::fs::write(scans.join("notes.txt"), b"not a scan").unwrap();
    let r = d.path().join("b.toml");
    std::fs::write(
        &r,
        "name = \"qa\"\n[select]\ncriterion = { preset = \"bone\" }\n[checks]\nwatertight = true\n",
    )
    .unwrap();
    let out = d.path().join("qa");
    let o = osteon(&[
        "batch",
        p(&scans),
        "--recipe",
        p(&r),
        "-o",
        p(&out),
        "--jobs",
        "2",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["scans"], 2);
    assert_eq!(
        (s["passed"].as_u64(), s["errors"].as_u64()),
        (Some(1), Some(1))
    );
    let rows = s["rows"].as_array().unwrap();
    assert_eq!(rows[0]["scan"], "corrupt.nii.gz");
    assert_eq!(rows[0]["status"], "error");
    let err = rows[0]["error"].as_str().unwrap();
    assert!(err.contains("corrupt.nii.gz"), "{err}");
    assert_eq!(rows[1]["scan"], "phantom");
    assert_eq!(rows[1]["status"], "pass");
    assert_eq!(rows[1]["watertight"], true);
    assert!(rows[1]["triangles"].as_u64().unwrap() > 1000);
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("scan,status,triangles,volume_mm3,watertight"));
    assert!(lines[1].starts_with("corrupt.nii.gz,error,"));
    assert!(lines[2].starts_with("phantom,pass,"));
    // Each scan's package verifies on its own; the batch report links it.
    let o = osteon(&["verify", p(&out.join("phantom"))]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("phantom/report.html") && html.contains("class=\"sortable\""));
}

#[test]
fn batch_over_real_scans_gives_the_same_head_from_every_format() {
    // The head CT as NIfTI, two DICOM series and a PNG stack, and the VTK head as MetaImage
    // and PNG stack (raw scanner units: the threshold comes from a per-scan override).
    let d = tempfile::tempdir().unwrap();
    let scans = d.path().join("scans");
    std::fs::create_dir(&scans).unwrap();
    for name in ["head_ct_dicom2stl", "vtk_headsq_quarter"] {
        std::os::unix::fs::symlink(crate::scans().join(name), scans.join(name)).unwrap();
    }
    let r = d.path().join("b.toml");
    std::fs::write(
        &r,
        "name = \"heads\"\n[select]\ncriterion = { range = { min = 250.0, max = inf } }\nkeep = \"largest\"\n\
         [checks]\nwatertight = true\n\
         [[batch.overrides]]\nmatches = \"vtk_headsq\"\nset = { \"select.criterion\" = { range = { min = 1150.0, max = inf } } }\n",
    )
    .unwrap();
    let out = d.path().join("qa");
    let o = osteon(&["batch", p(&scans), "--recipe", p(&r), "-o", p(&out), "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let rows = s["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["scan"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "head_ct_dicom2stl/ct_example.nii.gz",
            "head_ct_dicom2stl/dicom_series",
            "head_ct_dicom2stl/dicom_series_rle",
            "head_ct_dicom2stl/png_hu16",
            "vtk_headsq_quarter/headsq_quarter.mhd",
            "vtk_headsq_quarter/png_ct16",
        ]
    );
    // Same voxels in four formats: the same mesh measures.
    for r in &rows[1..4] {
        assert_eq!(r["triangles"], rows[0]["triangles"], "{}", r["scan"]);
        let (a, b) = (
            r["volume_mm3"].as_f64().unwrap(),
            rows[0]["volume_mm3"].as_f64().unwrap(),
        );
        assert!((a - b).abs() <= 1e-6 * b, "{}: {a} vs {b}", r["scan"]);
    }
    assert_eq!(rows[4]["triangles"], rows[5]["triangles"]);
    // The DICOM package hashes every slice.
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("head_ct_dicom2stl_dicom_series/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["inputs"].as_array().unwrap().len(), 26);
}

/// Headless Chromium (CI installs it: `.ci/run`).
fn chromium() -> PathBuf {
    for c in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ] {
        if Path::new(c).is_file() {
            return PathBuf::from(c);
        }
    }
    panic!("this test needs headless Chromium: apt-get install chromium (CI installs it)");
}

/// Counts pixels that are bone-coloured (warm) and implant-coloured (blue) in an RGB image.
fn colour_counts(img: &image::RgbImage) -> (usize, usize) {
    let mut warm = 0;
    let mut blue = 0;
    for px in img.pixels() {
        let [r, g, b] = px.0.map(i32::from);
        if r > 90 && r - b > 25 && g - b > 10 {
            warm += 1;
        }
        if b > 90 && b - r > 40 {
            blue += 1;
        }
    }
    (warm, blue)
}

#[test]
fn report_html_is_self_contained_and_renders_in_headless_chromium() {
    let html_path = package().join("report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    // Self-contained: no external URL of any kind.
    for bad in ["http://", "https://", "src=\"/", "href=\"http"] {
        assert!(
            !html.contains(bad),
            "report.html refers outside itself: {bad}"
        );
    }
    // Sixteen embedded pictures (bone, offset, implant map, bone with implant: four views
    // each), each a real image with the mesh in it, and a colour legend for the map.
    assert!(html.contains("class=\"legend\"") && html.contains("linear-gradient"));
    let uris: Vec<&str> = html
        .split("src=\"data:image/png;base64,")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    assert_eq!(uris.len(), 16);
    for (i, u) in uris.iter().enumerate() {
        let png = decode_base64(u);
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        let (warm, blue) = colour_counts(&img);
        let n = (img.width() * img.height()) as usize;
        let drawn = img
            .enumerate_pixels()
            .filter(|(_, y, px)| px.0 != osteon::report::render::background(*y, img.height()))
            .count();
        assert!(
            drawn > n / 50,
            "picture {i}: only {drawn} of {n} pixels show a mesh"
        );
        match i / 4 {
            0 | 3 => assert!(warm > n / 50, "picture {i}: no bone colour"),
            1 => assert!(blue > n / 50, "picture {i}: no offset colour"),
            _ => {}
        }
    }
    // Chromium renders the page; the screenshot shows the bone and the offset surface.
    let tmp = tempfile::tempdir().unwrap();
    let shot = tmp.path().join("shot.png");
    let o = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            p(&tmp.path().join("profile"))
        ))
        .arg(format!("--screenshot={}", p(&shot)))
        .arg("--window-size=1600,2400")
        .arg(format!("file://{}", p(&html_path)))
        .output()
        .expect("chromium runs");
    assert!(shot.is_file(), "no screenshot: {}", stderr(&o));
    let img = image::open(&shot).unwrap().to_rgb8();
    let (warm, blue) = colour_counts(&img);
    let n = (img.width() * img.height()) as usize;
    assert!(
        warm > n / 200,
        "bone pictures missing from the screenshot: {warm} px"
    );
    assert!(
        blue > n / 200,
        "offset pictures missing from the screenshot: {blue} px"
    );
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64 {c}"),
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for c in bytes.chunks(4) {
        let v = c
            .iter()
            .enumerate()
            .fold(0u32, |a, (i, &x)| a | (u32::from(val(x)) << (18 - 6 * i)));
        out.push((v >> 16) as u8);
        if c.len() > 2 {
            out.push((v >> 8) as u8);
        }
        if c.len() > 3 {
            out.push(v as u8);
        }
    }
    out
}

/// Flips the middle byte of `dir/name`, runs `osteon verify dir --json`, expects exit 1 and
/// returns the problems it lists.
fn flip_a_byte_and_verify(dir: &Path, name: &str) -> Vec<String> {
    let f = dir.join(name);
    let mut bytes = std::fs::read(&f).unwrap();
    let k = bytes.len() / 2;
    bytes[k] ^= 0x01;
    std::fs::write(&f, bytes).unwrap();
    let o = osteon(&["verify", p(dir), "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}
