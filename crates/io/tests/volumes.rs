//! Scan readers (slice stacks, NIfTI-1, NRRD, MetaImage) on the public test scans in
//! `../shared/scans` and on small synthetic files, and the slice-stack writer.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use osteon_geom::Frame;
use osteon_io::volume::stack;
use osteon_io::{IoError, ReadOptions, Scan, ScanFormat};
use osteon_volume::{Grid, ScalarVolume, ValueKind, Volume};

const SCANS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/scans");

const ID: [[f64; 3]; 3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

fn scan_path(rel: &str) -> PathBuf {
    Path::new(SCANS).join(rel)
}

fn read(rel: &str) -> Scan {
    let t = Instant::now();
    let s = osteon_io::read_scan(&scan_path(rel), &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
    eprintln!("read {rel} in {:.3} s", t.elapsed().as_secs_f64());
    s
}

fn read_path(p: &Path) -> Result<Scan, IoError> {
    osteon_io::read_scan(p, &ReadOptions::default())
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

/// Asserts dims exactly and spacing, origin and direction within `tol`.
fn check_grid(
    g: &Grid,
    dims: [usize; 3],
    spacing: [f64; 3],
    origin: [f64; 3],
    dir: [[f64; 3]; 3],
    tol: f64,
) {
    assert_eq!(g.dims, dims, "dims of {g:?}");
    for a in 0..3 {
        assert!(
            close(g.spacing[a], spacing[a], tol),
            "spacing {:?} vs {spacing:?}",
            g.spacing
        );
        assert!(
            close(g.origin[a], origin[a], tol),
            "origin {:?} vs {origin:?}",
            g.origin
        );
        for b in 0..3 {
            assert!(
                close(g.direction[a][b], dir[a][b], 1e-6),
                "direction {:?} vs {dir:?}",
                g.direction
            );
        }
    }
}

fn same_geometry(a: &Grid, b: &Grid, tol: f64) {
    check_grid(a, b.dims, b.spacing, b.origin, b.direction, tol);
}

fn range(s: &Scan) -> (f64, f64) {
    s.volume.value_range().expect("non-empty volume")
}

fn nonzero(v: &ScalarVolume) -> usize {
    (0..v.grid().len())
        .filter(|&i| v.value_f64(i) != 0.0)
        .count()
}

/// Asserts the error's variant with `is` and that its message names `file`.
#[track_caller]
fn assert_err(r: Result<Scan, IoError>, is: fn(&IoError) -> bool, file: &str) -> IoError {
    let e = match r {
        Ok(_) => panic!("expected an error naming {file}"),
        Err(e) => e,
    };
    assert!(is(&e), "unexpected variant: {e:?}");
    assert!(
        e.to_string().contains(file),
        "message {:?} does not name {file}",
        e.to_string()
    );
    e
}

// ---------------------------------------------------------------- real scans: slice stacks

#[test]
fn stack_head_ct_reads_as_readme_states() {
    let s = read("head_ct_dicom2stl/png_hu16");
    check_grid(
        s.volume.grid(),
        [256, 256, 26],
        [1.25, 1.25, 4.0],
        [0.0; 3],
        ID,
        0.0,
    );
    assert_eq!(s.volume.grid().frame, Frame::Lps);
    assert!(matches!(s.volume, ScalarVolume::I16(_)));
    assert_eq!(s.kind, ValueKind::CtHu);
    assert_eq!(s.format, ScanFormat::SliceStack);
    assert_eq!(range(&s), (-1024.0, 1945.0));
    assert_eq!(s.files.len(), 27);
    assert!(s.files.windows(2).all(|w| w[0] < w[1]));
    assert!(s.files.iter().any(|f| f.ends_with("volume.json")));
    // The volume.json path reads the same.
    let t = read("head_ct_dicom2stl/png_hu16/volume.json");
    assert_eq!(s.volume, t.volume);
}

#[test]
fn stack_skullbreak_reads_fast_with_readme_counts() {
    let t = Instant::now();
    let s = read("skullbreak_parietotemporal_001/png_mask8");
    let took = t.elapsed();
    check_grid(
        s.volume.grid(),
        [512, 512, 512],
        [0.4; 3],
        [-102.2, 102.2, -102.2],
        [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]],
        1e-4,
    );
    assert!(matches!(s.volume, ScalarVolume::U8(_)));
    assert_eq!(s.kind, ValueKind::Mask);
    assert_eq!(nonzero(&s.volume), 6_915_729);
    assert_eq!(s.files.len(), 513);
    // Generous bound for a loaded debug-profile CI machine; release reads take ~0.3 s.
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn stack_other_volumes_read_as_readme_states() {
    let s = read("lidc2_vtkjs/png_u8");
    check_grid(
        s.volume.grid(),
        [256, 256, 133],
        [1.40625, 1.40625, 2.5],
        [0.0; 3],
        ID,
        0.0,
    );
    assert_eq!(s.volume.grid().frame, Frame::None);
    assert!(matches!(s.volume, ScalarVolume::U8(_)));
    assert_eq!(s.kind, ValueKind::CtRaw);

    let s = read("vtk_frogtissue/png_labels8");
    check_grid(
        s.volume.grid(),
        [500, 470, 136],
        [1.0, 1.0, 1.5],
        [0.0; 3],
        ID,
        0.0,
    );
    assert_eq!(s.kind, ValueKind::Labels);
    assert_eq!(range(&s), (0.0, 29.0));

    let s = read("vtk_headsq_quarter/png_ct16");
    check_grid(
        s.volume.grid(),
        [64, 64, 93],
        [3.2, 3.2, 1.5],
        [0.0; 3],
        ID,
        0.0,
    );
    assert!(matches!(s.volume, ScalarVolume::U16(_)));
    assert_eq!(s.kind, ValueKind::CtRaw);
    assert_eq!(range(&s), (0.0, 3926.0));
}

// ---------------------------------------------------------------- real scans: cross-format

#[test]
fn nifti_head_ct_equals_png_stack() {
    let n = read("head_ct_dicom2stl/ct_example.nii.gz");
    let p = read("head_ct_dicom2stl/png_hu16");
    assert_eq!(n.format, ScanFormat::Nifti);
    assert_eq!(n.kind, ValueKind::CtHu);
    assert_eq!(n.volume, p.volume, "voxels and grid");
    assert_eq!(range(&n), (-1024.0, 1945.0));
    assert_eq!(
        n.files,
        vec![scan_path("head_ct_dicom2stl/ct_example.nii.gz")]
    );
}

#[test]
fn nifti_skullbreak_equals_png_mask() {
    let t = Instant::now();
    let n = read("skullbreak_parietotemporal_001/skullbreak_parietotemporal_001.nii.gz");
    let took = t.elapsed();
    let p = read("skullbreak_parietotemporal_001/png_mask8");
    same_geometry(n.volume.grid(), p.volume.grid(), 1e-4);
    assert_eq!(n.volume.grid().frame, Frame::Lps);
    assert_eq!(n.kind, ValueKind::Mask);
    // The NIfTI stores 0/1, the PNGs 0/255.
    let (ScalarVolume::U8(a), ScalarVolume::U8(b)) = (&n.volume, &p.volume) else {
        panic!("expected u8 volumes");
    };
    assert!(a
        .data
        .iter()
        .zip(&b.data)
        .all(|(&x, &y)| (x != 0) == (y != 0)));
    assert_eq!(a.data.iter().filter(|&&v| v != 0).count(), 6_915_729);
    assert!(n.warnings.iter().any(|w| w.code == "no-orientation"));
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn metaimage_frog_equals_png_labels() {
    let m = read("vtk_frogtissue/frogtissue.mhd");
    let p = read("vtk_frogtissue/png_labels8");
    assert_eq!(m.format, ScanFormat::MetaImage);
    same_geometry(m.volume.grid(), p.volume.grid(), 0.0);
    let (ScalarVolume::U8(a), ScalarVolume::U8(b)) = (&m.volume, &p.volume) else {
        panic!("expected u8 volumes");
    };
    // The PNG stack was made through ITK, which reads only the header's stale
    // CompressedDataSize (260020 of the file's 262087 bytes) and zero-fills the rest: the
    // last 2670 label voxels (slices 131-135) are 0 in the PNGs. Everything ITK did read
    // agrees; osteon reads the whole checksummed stream and warns.
    let itk_len = 30_963_285; // bytes the first 260020 compressed bytes inflate to
    assert!(a.data[..itk_len] == b.data[..itk_len], "voxels differ");
    assert!(b.data[itk_len..].iter().all(|&v| v == 0));
    assert_eq!(a.data[itk_len..].iter().filter(|&&v| v != 0).count(), 2670);
    assert!(itk_len / (500 * 470) == 131);
    assert!(m
        .warnings
        .iter()
        .any(|w| w.code == "compressed-size-mismatch"));
    assert_eq!(m.kind, ValueKind::Labels);
    assert_eq!(
        m.files,
        vec![
            scan_path("vtk_frogtissue/frogtissue.mhd"),
            scan_path("vtk_frogtissue/frogtissue.zraw")
        ]
    );
}

#[test]
fn metaimage_headsq_pattern_equals_png_ct16() {
    let m = read("vtk_headsq_quarter/headsq_quarter.mhd");
    let p = read("vtk_headsq_quarter/png_ct16");
    same_geometry(m.volume.grid(), p.volume.grid(), 0.0);
    let (ScalarVolume::U16(a), ScalarVolume::U16(b)) = (&m.volume, &p.volume) else {
        panic!("expected u16 volumes");
    };
    assert!(a.data == b.data, "voxels differ");
    assert_eq!(range(&m), (0.0, 3926.0));
    assert_eq!(m.kind, ValueKind::CtRaw);
    assert_eq!(m.files.len(), 94);
}

// ---------------------------------------------------------------- stack writer

fn write_stack(dir: &Path, v: &ScalarVolume, kind: ValueKind) -> Vec<PathBuf> {
    let mut extra = serde_json::Map::new();
    extra.insert("note".into(), "synthetic".into());
    extra.insert("dims".into(), serde_json::json!([1, 1, 1])); // cannot override
    stack::write(dir, v, kind, &extra).unwrap()
}

#[test]
fn stack_writer_round_trips_head_ct() {
    let src = read("head_ct_dicom2stl/ct_example.nii.gz");
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let w1 = write_stack(d1.path(), &src.volume, ValueKind::CtHu);
    assert_eq!(w1.len(), 27);
    let back = read_path(d1.path()).unwrap();
    assert_eq!(back.volume, src.volume);
    assert_eq!(back.kind, ValueKind::CtHu);
    // Same bytes whatever the run (and rayon's scheduling).
    write_stack(d2.path(), &src.volume, ValueKind::CtHu);
    for f in &w1 {
        let name = f.file_name().unwrap();
        assert_eq!(
            std::fs::read(f).unwrap(),
            std::fs::read(d2.path().join(name)).unwrap()
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d1.path().join("volume.json")).unwrap())
            .unwrap();
    assert_eq!(json["note"], "synthetic");
    assert_eq!(json["rescale"]["intercept"], -1024);
    assert_eq!(json["slice_files"], "slice_%04d.png");
    assert_eq!(json["dims"], serde_json::json!([256, 256, 26]));
    // The written stack equals the project's PNG stack byte for byte in pixels.
    let p = read("head_ct_dicom2stl/png_hu16");
    assert_eq!(back.volume, p.volume);
}

#[test]
fn stack_writer_round_trips_u8_u16_i16_oblique() {
    let dir = [[0.6, 0.8, 0.0], [-0.8, 0.6, 0.0], [0.0, 0.0, 1.0]];
    let grid = Grid::new([5, 4, 3], [0.5, 0.75, 2.0])
        .with_origin([-10.0, 20.5, 3.25])
        .with_direction(dir);
    let n = grid.len();
    let cases = vec![
        (
            ScalarVolume::U8(
                Volume::new(grid.clone(), (0..n).map(|i| (i % 2 * 255) as u8).collect()).unwrap(),
            ),
            ValueKind::Mask,
        ),
        (
            ScalarVolume::U16(
                Volume::new(grid.clone(), (0..n).map(|i| (i * 1000) as u16).collect()).unwrap(),
            ),
            ValueKind::CtRaw,
        ),
        (
            ScalarVolume::I16(
                Volume::new(
                    grid.clone(),
                    (0..n).map(|i| (i as i16) * 500 - 20000).collect(),
                )
                .unwrap(),
            ),
            ValueKind::CtHu,
        ),
        (
            ScalarVolume::I16(
                Volume::new(
                    grid.clone().with_frame(Frame::None),
                    (0..n).map(|i| i as i16 - 30).collect(),
                )
                .unwrap(),
            ),
            ValueKind::CtRaw,
        ),
    ];
    for (v, kind) in cases {
        let d = tempfile::tempdir().unwrap();
        write_stack(d.path(), &v, kind);
        let back = read_path(d.path()).unwrap();
        assert_eq!(back.volume, v, "{}", v.type_name());
        assert_eq!(back.kind, kind);
    }
    // F32 cannot be a PNG stack.
    let f = ScalarVolume::F32(Volume::new(grid, vec![0.5; n]).unwrap());
    let d = tempfile::tempdir().unwrap();
    assert!(matches!(
        stack::write(d.path(), &f, ValueKind::CtRaw, &Default::default()),
        Err(IoError::Unsupported { .. })
    ));
}

// ---------------------------------------------------------------- stack: bad input

/// Copies the head CT PNG stack into a temporary folder.
fn copy_head_stack() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(scan_path("head_ct_dicom2stl/png_hu16")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, d.path().join(p.file_name().unwrap())).unwrap();
    }
    d
}

fn edit_json(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("volume.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
}

#[test]
fn stack_slice_of_another_size_is_named() {
    let d = copy_head_stack();
    std::fs::copy(
        scan_path("vtk_headsq_quarter/png_ct16/slice_0000.png"),
        d.path().join("slice_0005.png"),
    )
    .unwrap();
    let e = assert_err(
        read_path(d.path()),
        |e| matches!(e, IoError::Inconsistent { .. }),
        "slice_0005.png",
    );
    let msg = e.to_string();
    assert!(msg.contains("64×64") && msg.contains("256×256"), "{msg}");
}

#[test]
fn stack_missing_slice_mixed_depth_and_colour_are_named() {
    let d = copy_head_stack();
    std::fs::remove_file(d.path().join("slice_0007.png")).unwrap();
    assert_err(
        read_path(d.path()),
        |e| matches!(e, IoError::NotFound { .. }),
        "slice_0007.png",
    );

    let d = copy_head_stack();
    let img = image::GrayImage::from_pixel(256, 256, image::Luma([3u8]));
    img.save(d.path().join("slice_0003.png")).unwrap();
    assert_err(
        read_path(d.path()),
        |e| matches!(e, IoError::Inconsistent { .. }),
        "slice_0003.png",
    );

    let d = copy_head_stack();
    let img = image::RgbImage::from_pixel(256, 256, image::Rgb([3u8, 4, 5]));
    img.save(d.path().join("slice_0000.png")).unwrap();
    assert_err(
        read_path(d.path()),
        |e| matches!(e, IoError::Unsupported { .. }),
        "slice_0000.png",
    );
}

#[test]
fn stack_bad_json_is_refused_naming_volume_json() {
    let d = copy_head_stack();
    edit_json(d.path(), |v| {
        v["spacing_mm"] = serde_json::json!([1.25, 0.0, 4.0])
    });
    assert_err(
        read_path(d.path()),
        |e| matches!(e, IoError::InvalidGrid { .. }),
        "volume.json",
    );

    let d = copy_head_stack();
    edit_json(d.path(), |v| {
        v["spacing_mm"] = serde_json::json!([1.25, -1.0, 4.0])
    });
    assert_err(
        read_path(d.path()),
        |e| matches!(e, IoError::InvalidGrid { .. }),
        "volume.json",
    );

    let d = copy_head_stack();
    edit_json(d.path(), |v| {
        v.as_object_mut().unwrap().remove("dims");
    });
    let e = assert_err(
        read_path(d.path()),
        |e| matches!(e, IoError::Malformed { .. }),
        "volume.json",
    );
    assert!(e.to_string().contains("dims"));

    let d = copy_head_stack();
    std::fs::write(d.path().join("volume.json"), "{\"dims\": [256, 256,").unwrap();
    assert_err(
        read_path(d.path()),
        |e| matches!(e, IoError::Malformed { .. }),
        "volume.json",
    );

    let d = copy_head_stack();
    edit_json(d.path(), |v| {
        v["dims"] = serde_json::json!([100000, 100000, 100000])
    });
    let t = Instant::now();
    assert_err(
        read_path(d.path()),
        |e| matches!(e, IoError::TooLarge { .. }),
        "volume.json",
    );
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn missing_path_is_not_found() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("nowhere.nii.gz");
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::NotFound { .. }),
        "nowhere.nii.gz",
    );
    assert_err(
        stack::read(&d.path().join("nostack"), &ReadOptions::default()),
        |e| matches!(e, IoError::NotFound { .. }),
        "nostack",
    );
}

// ---------------------------------------------------------------- NIfTI synthetic

/// A synthetic NIfTI-1 header.
struct Nii {
    dims: [i16; 3],
    datatype: i16,
    bitpix: i16,
    pixdim: [f32; 4],
    slope: f32,
    inter: f32,
    qform: i16,
    sform: i16,
    quat: [f32; 6],
    srow: [[f32; 4]; 3],
    big: bool,
}

impl Default for Nii {
    fn default() -> Self {
        Nii {
            dims: [4, 3, 2],
            datatype: 4,
            bitpix: 16,
            pixdim: [1.0, 1.0, 1.0, 1.0],
            slope: 0.0,
            inter: 0.0,
            qform: 0,
            sform: 0,
            quat: [0.0; 6],
            srow: [[0.0; 4]; 3],
            big: false,
        }
    }
}

impl Nii {
    fn bytes(&self, data: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 352];
        let big = self.big;
        let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
        let i16b = |v: i16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let f32b = |v: f32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        put(
            0,
            &(if big {
                348i32.to_be_bytes()
            } else {
                348i32.to_le_bytes()
            }),
        );
        let dim = [3, self.dims[0], self.dims[1], self.dims[2], 1, 1, 1, 1];
        for (i, d) in dim.iter().enumerate() {
            put(40 + 2 * i, &i16b(*d));
        }
        put(70, &i16b(self.datatype));
        put(72, &i16b(self.bitpix));
        for (i, p) in self.pixdim.iter().enumerate() {
            put(76 + 4 * i, &f32b(*p));
        }
        put(108, &f32b(352.0));
        put(112, &f32b(self.slope));
        put(116, &f32b(self.inter));
        put(252, &i16b(self.qform));
        put(254, &i16b(self.sform));
        for (i, q) in self.quat.iter().enumerate() {
            put(256 + 4 * i, &f32b(*q));
        }
        for (r, row) in self.srow.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                put(280 + 16 * r + 4 * c, &f32b(*v));
            }
        }
        put(344, b"n+1\0");
        b.extend_from_slice(data);
        b
    }
}

fn i16_data(n: usize, big: bool) -> (Vec<i16>, Vec<u8>) {
    let v: Vec<i16> = (0..n as i16).map(|i| i * 37 - 600).collect();
    let b = v
        .iter()
        .flat_map(|x| {
            if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            }
        })
        .collect();
    (v, b)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn put_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, bytes).unwrap();
    p
}

fn as_i16(s: &Scan) -> &[i16] {
    match &s.volume {
        ScalarVolume::I16(v) => &v.data,
        other => panic!("expected i16, got {}", other.type_name()),
    }
}

#[test]
fn nifti_sform_oblique_ras_to_lps_both_byte_orders_and_gzip() {
    let d = tempfile::tempdir().unwrap();
    // Axis i along RAS (0.6, 0.8, 0)·2, j along (-0.8, 0.6, 0)·3, k along z·4.
    let srow = [
        [1.2, -2.4, 0.0, 10.0],
        [1.6, 1.8, 0.0, -20.0],
        [0.0, 0.0, 4.0, 30.0],
    ];
    for big in [false, true] {
        let (v, data) = i16_data(24, big);
        let h = Nii {
            sform: 1,
            srow,
            big,
            ..Default::default()
        };
        for gz in [false, true] {
            let raw = h.bytes(&data);
            let (name, bytes) = if gz {
                ("a.nii.gz", gzip(&raw))
            } else {
                ("a.nii", raw)
            };
            let p = put_file(d.path(), name, &bytes);
            let s = read_path(&p).unwrap();
            check_grid(
                s.volume.grid(),
                [4, 3, 2],
                [2.0, 3.0, 4.0],
                [-10.0, 20.0, 30.0],
                [[-0.6, -0.8, 0.0], [0.8, -0.6, 0.0], [0.0, 0.0, 1.0]],
                1e-5,
            );
            assert_eq!(as_i16(&s), &v[..]);
            assert_eq!(s.kind, ValueKind::CtHu);
        }
    }
}

#[test]
fn nifti_qform_quaternion_and_rescale() {
    let d = tempfile::tempdir().unwrap();
    // 90° about z: b = c = 0, d = sin 45°. Axis i → RAS +y, j → RAS −x; qfac −1 flips k.
    let s45 = std::f32::consts::FRAC_1_SQRT_2;
    let (v, data) = i16_data(24, false);
    let h = Nii {
        qform: 1,
        pixdim: [-1.0, 0.5, 0.25, 2.0],
        quat: [0.0, 0.0, s45, 1.0, 2.0, 3.0],
        slope: 2.0,
        inter: -5.0,
        ..Default::default()
    };
    let p = put_file(d.path(), "q.nii", &h.bytes(&data));
    let s = read_path(&p).unwrap();
    check_grid(
        s.volume.grid(),
        [4, 3, 2],
        [0.5, 0.25, 2.0],
        [-1.0, -2.0, 3.0],
        [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]],
        1e-5,
    );
    let want: Vec<i16> = v.iter().map(|x| x * 2 - 5).collect();
    assert_eq!(as_i16(&s), &want[..]);

    // A fractional slope gives f32.
    let h = Nii {
        slope: 0.5,
        inter: 0.25,
        ..Default::default()
    };
    let p = put_file(d.path(), "f.nii", &h.bytes(&data));
    let s = read_path(&p).unwrap();
    let ScalarVolume::F32(f) = &s.volume else {
        panic!("expected f32")
    };
    assert_eq!(f.data[3], (v[3] as f32) * 0.5 + 0.25);
}

/// Bytes of sample `i` of a synthetic volume.
type SampleBytes = Box<dyn Fn(usize) -> Vec<u8>>;

#[test]
fn nifti_element_types() {
    let d = tempfile::tempdir().unwrap();
    let n = 24usize;
    // (datatype, bitpix, bytes of value i, expected type name)
    let cases: Vec<(i16, i16, SampleBytes, &str)> = vec![
        (2, 8, Box::new(|i| vec![(i * 10) as u8]), "u8"),
        (256, 8, Box::new(|i| vec![(i as i8 - 12) as u8]), "i16"),
        (
            512,
            16,
            Box::new(|i| ((i * 2000) as u16).to_le_bytes().to_vec()),
            "u16",
        ),
        (
            8,
            32,
            Box::new(|i| (i as i32 * 100_000).to_le_bytes().to_vec()),
            "i32",
        ),
        (
            768,
            32,
            Box::new(|i| (i as u32 * 3).to_le_bytes().to_vec()),
            "i16",
        ),
        (
            16,
            32,
            Box::new(|i| (i as f32 * 0.5).to_le_bytes().to_vec()),
            "f32",
        ),
        (
            64,
            64,
            Box::new(|i| (i as f64 * 0.5).to_le_bytes().to_vec()),
            "f32",
        ),
    ];
    for (dt, bp, f, ty) in cases {
        let data: Vec<u8> = (0..n).flat_map(&f).collect();
        let h = Nii {
            datatype: dt,
            bitpix: bp,
            ..Default::default()
        };
        let p = put_file(d.path(), "t.nii", &h.bytes(&data));
        let s = read_path(&p).unwrap();
        assert_eq!(s.volume.type_name(), ty, "datatype {dt}");
        assert_eq!(
            s.volume.value_f64(5),
            f64::from_le_bytes(match dt {
                2 => (50.0f64).to_le_bytes(),
                256 => (-7.0f64).to_le_bytes(),
                512 => (10000.0f64).to_le_bytes(),
                8 => (500000.0f64).to_le_bytes(),
                768 => (15.0f64).to_le_bytes(),
                _ => (2.5f64).to_le_bytes(),
            }),
            "datatype {dt}"
        );
    }
}

#[test]
fn nifti_truncated_files_are_truncated() {
    let d = tempfile::tempdir().unwrap();
    let gz = std::fs::read(scan_path("head_ct_dicom2stl/ct_example.nii.gz")).unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut raw).unwrap();
    // Uncompressed copy cut in the middle of the data.
    let p = put_file(d.path(), "cut.nii", &raw[..raw.len() / 2]);
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::Truncated { .. }),
        "cut.nii",
    );
    // Complete uncompressed copy reads the same as the original.
    let p = put_file(d.path(), "whole.nii", &raw);
    assert_eq!(
        read_path(&p).unwrap().volume,
        read("head_ct_dicom2stl/ct_example.nii.gz").volume
    );
    // The compressed file cut in the middle.
    let p = put_file(d.path(), "cut.nii.gz", &gz[..gz.len() / 2]);
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::Truncated { .. }),
        "cut.nii.gz",
    );
    // A complete gzip stream of too little data.
    let p = put_file(d.path(), "short.nii.gz", &gzip(&raw[..raw.len() - 100]));
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::Truncated { .. }),
        "short.nii.gz",
    );
    // Header only.
    let p = put_file(d.path(), "hdr.nii", &raw[..200]);
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::Truncated { .. }),
        "hdr.nii",
    );
}

#[test]
fn nifti_pixdim_zero_is_invalid_grid() {
    let d = tempfile::tempdir().unwrap();
    let (_, data) = i16_data(24, false);
    for (q, name) in [(0, "p0.nii"), (1, "p1.nii")] {
        let h = Nii {
            pixdim: [1.0, 1.0, 0.0, 1.0],
            qform: q,
            quat: [0.0; 6],
            ..Default::default()
        };
        let p = put_file(d.path(), name, &h.bytes(&data));
        assert_err(
            read_path(&p),
            |e| matches!(e, IoError::InvalidGrid { .. }),
            name,
        );
    }
    let h = Nii {
        pixdim: [1.0, 1.0, 1.0, f32::NAN],
        ..Default::default()
    };
    let p = put_file(d.path(), "nan.nii", &h.bytes(&data));
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::InvalidGrid { .. }),
        "nan.nii",
    );
}

#[test]
fn nifti_huge_declared_dims_are_refused_quickly() {
    let d = tempfile::tempdir().unwrap();
    let data = vec![0u8; 1000];
    let t = Instant::now();
    // 30000³ (dim is an i16: 60000 cannot be declared) exceeds max_voxels.
    let h = Nii {
        dims: [30000, 30000, 30000],
        datatype: 2,
        bitpix: 8,
        ..Default::default()
    };
    let p = put_file(d.path(), "huge.nii", &h.bytes(&data));
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::TooLarge { .. }),
        "huge.nii",
    );
    let p = put_file(d.path(), "huge.nii.gz", &gzip(&h.bytes(&data)));
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::TooLarge { .. }),
        "huge.nii.gz",
    );
    // 1200³ f64 (13.8 GB) fits the voxel limit but not the data: refused without allocating it.
    let h = Nii {
        dims: [1200, 1200, 1200],
        datatype: 64,
        bitpix: 64,
        ..Default::default()
    };
    let p = put_file(d.path(), "big.nii", &h.bytes(&data));
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::Truncated { .. }),
        "big.nii",
    );
    let p = put_file(d.path(), "big.nii.gz", &gzip(&h.bytes(&data)));
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::Truncated { .. }),
        "big.nii.gz",
    );
    // A tighter caller limit applies too.
    let h = Nii::default();
    let p = put_file(d.path(), "small.nii", &h.bytes(&i16_data(24, false).1));
    assert_err(
        osteon_io::read_scan(&p, &ReadOptions::default().max_voxels(10)),
        |e| matches!(e, IoError::TooLarge { .. }),
        "small.nii",
    );
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
}

// ---------------------------------------------------------------- NRRD synthetic

fn nrrd_header(fields: &[&str]) -> String {
    let mut s = String::from("NRRD0004\n# synthetic\n");
    for f in fields {
        s.push_str(f);
        s.push('\n');
    }
    s
}

#[test]
fn nrrd_ras_oblique_to_lps_attached_raw() {
    let d = tempfile::tempdir().unwrap();
    let (v, data) = i16_data(24, false);
    let mut bytes = nrrd_header(&[
        "type: short",
        "dimension: 3",
        "space: right-anterior-superior",
        "sizes: 4 3 2",
        "space directions: (1.2,1.6,0) (-2.4,1.8,0) (0,0,4)",
        "kinds: domain domain domain",
        "endian: little",
        "encoding: raw",
        "space origin: (10,-20,30)",
        "my key:=my value",
    ])
    .into_bytes();
    bytes.push(b'\n');
    bytes.extend_from_slice(&data);
    let p = put_file(d.path(), "a.nrrd", &bytes);
    let s = read_path(&p).unwrap();
    assert_eq!(s.format, ScanFormat::Nrrd);
    assert_eq!(s.volume.grid().frame, Frame::Lps);
    check_grid(
        s.volume.grid(),
        [4, 3, 2],
        [2.0, 3.0, 4.0],
        [-10.0, 20.0, 30.0],
        [[-0.6, -0.8, 0.0], [0.8, -0.6, 0.0], [0.0, 0.0, 1.0]],
        1e-12,
    );
    assert_eq!(as_i16(&s), &v[..]);
    assert_eq!(s.files, vec![p]);
}

#[test]
fn nrrd_gzip_big_endian_type_spellings_and_spacings() {
    let d = tempfile::tempdir().unwrap();
    let (v, data) = i16_data(24, true);
    for ty in ["short", "int16", "signed short int", "int16_t", "short int"] {
        let mut bytes = nrrd_header(&[
            &format!("type: {ty}"),
            "dimension: 3",
            "sizes: 4 3 2",
            "spacings: 0.5 0.5 2",
            "endian: big",
            "encoding: gzip",
        ])
        .into_bytes();
        bytes.push(b'\n');
        bytes.extend_from_slice(&gzip(&data));
        let p = put_file(d.path(), "b.nrrd", &bytes);
        let s = read_path(&p).unwrap();
        assert_eq!(s.volume.grid().frame, Frame::None);
        check_grid(
            s.volume.grid(),
            [4, 3, 2],
            [0.5, 0.5, 2.0],
            [0.0; 3],
            ID,
            0.0,
        );
        assert_eq!(as_i16(&s), &v[..], "{ty}");
    }
    // uchar and float spellings, LPS space, ascii encoding.
    let mut text = nrrd_header(&[
        "type: unsigned char",
        "dimension: 3",
        "space: LPS",
        "sizes: 2 2 2",
        "space directions: (1,0,0) (0,1,0) (0,0,1)",
        "encoding: ascii",
    ]);
    text.push_str("\n0 1 2 3\n4 5 6 7\n");
    let p = put_file(d.path(), "c.nrrd", text.as_bytes());
    let s = read_path(&p).unwrap();
    assert_eq!(s.volume.value_f64(7), 7.0);
}

#[test]
fn nrrd_detached_single_list_pattern_and_byte_skip() {
    let d = tempfile::tempdir().unwrap();
    let (v, data) = i16_data(24, false);
    let common = [
        "type: int16",
        "dimension: 3",
        "sizes: 4 3 2",
        "endian: little",
        "encoding: raw",
    ];
    // Single detached file with a 10-byte preamble read via byte skip -1.
    let mut padded = vec![7u8; 10];
    padded.extend_from_slice(&data);
    put_file(d.path(), "data/a.raw", &padded);
    let mut f: Vec<&str> = common.to_vec();
    f.push("data file: data/a.raw");
    f.push("byte skip: -1");
    let p = put_file(d.path(), "a.nhdr", nrrd_header(&f).as_bytes());
    let s = read_path(&p).unwrap();
    assert_eq!(as_i16(&s), &v[..]);
    assert_eq!(
        s.files,
        vec![p.clone(), d.path().join("data/a.raw")]
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    // One file per slice: LIST and pattern forms, with a line skip.
    put_file(
        d.path(),
        "s1.raw",
        &[b"junk line\n".as_slice(), &data[..24]].concat(),
    );
    put_file(
        d.path(),
        "s2.raw",
        &[b"junk line\n".as_slice(), &data[24..]].concat(),
    );
    let mut f: Vec<&str> = common.to_vec();
    f.push("line skip: 1");
    f.push("data file: LIST");
    f.push("s1.raw");
    f.push("s2.raw");
    let p = put_file(d.path(), "list.nhdr", nrrd_header(&f).as_bytes());
    assert_eq!(as_i16(&read_path(&p).unwrap()), &v[..]);
    let mut f: Vec<&str> = common.to_vec();
    f.push("line skip: 1");
    f.push("datafile: s%d.raw 1 2 1 2");
    let p = put_file(d.path(), "pat.nhdr", nrrd_header(&f).as_bytes());
    let s = read_path(&p).unwrap();
    assert_eq!(as_i16(&s), &v[..]);
    assert_eq!(s.files.len(), 3);
}

#[test]
fn nrrd_outside_folder_and_truncated() {
    let d = tempfile::tempdir().unwrap();
    let (v, data) = i16_data(24, false);
    put_file(d.path(), "outside.raw", &data);
    let f = [
        "type: short",
        "dimension: 3",
        "sizes: 4 3 2",
        "endian: little",
        "encoding: raw",
        "data file: ../outside.raw",
    ];
    let p = put_file(d.path(), "sub/a.nhdr", nrrd_header(&f).as_bytes());
    let e = assert_err(
        read_path(&p),
        |e| matches!(e, IoError::OutsideFolder { .. }),
        "a.nhdr",
    );
    assert!(e.to_string().contains("outside.raw"));
    let s = osteon_io::read_scan(&p, &ReadOptions::default().allow_outside_folder(true)).unwrap();
    assert_eq!(as_i16(&s), &v[..]);

    put_file(d.path(), "short.raw", &data[..40]);
    let f = [
        "type: short",
        "dimension: 3",
        "sizes: 4 3 2",
        "endian: little",
        "encoding: raw",
        "data file: short.raw",
    ];
    let p = put_file(d.path(), "t.nhdr", nrrd_header(&f).as_bytes());
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::Truncated { .. }),
        "short.raw",
    );
    // Attached, cut.
    let mut bytes = nrrd_header(&[
        "type: short",
        "dimension: 3",
        "sizes: 4 3 2",
        "endian: little",
        "encoding: gzip",
    ])
    .into_bytes();
    bytes.push(b'\n');
    let z = gzip(&data);
    bytes.extend_from_slice(&z[..z.len() / 2]);
    let p = put_file(d.path(), "cut.nrrd", &bytes);
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::Truncated { .. }),
        "cut.nrrd",
    );
    // Huge declared size with no data: refused before allocation.
    let mut bytes = nrrd_header(&[
        "type: double",
        "dimension: 3",
        "sizes: 60000 60000 60000",
        "endian: little",
        "encoding: raw",
    ])
    .into_bytes();
    bytes.extend_from_slice(b"\nabc");
    let p = put_file(d.path(), "huge.nrrd", &bytes);
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::TooLarge { .. }),
        "huge.nrrd",
    );
}

// ---------------------------------------------------------------- MetaImage synthetic

fn mhd(fields: &[&str]) -> String {
    let mut s = String::from("ObjectType = Image\nNDims = 3\n");
    for f in fields {
        s.push_str(f);
        s.push('\n');
    }
    s
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn metaimage_oblique_local_big_endian_zlib() {
    let d = tempfile::tempdir().unwrap();
    // ITK's TransformMatrix: the first three numbers are axis i's direction.
    let tm = "TransformMatrix = 0.6 0.8 0 -0.8 0.6 0 0 0 1";
    let want_dir = [[0.6, 0.8, 0.0], [-0.8, 0.6, 0.0], [0.0, 0.0, 1.0]];
    for (big, compressed) in [(false, false), (true, false), (false, true), (true, true)] {
        let (v, data) = i16_data(24, big);
        let payload = if compressed {
            zlib(&data)
        } else {
            data.clone()
        };
        let mut bytes = mhd(&[
            &format!(
                "BinaryDataByteOrderMSB = {}",
                if big { "True" } else { "False" }
            ),
            &format!(
                "CompressedData = {}",
                if compressed { "True" } else { "False" }
            ),
            tm,
            "Offset = 1 -2 3.5",
            "AnatomicalOrientation = RAI",
            "ElementSpacing = 0.5 0.75 2",
            "DimSize = 4 3 2",
            "ElementType = MET_SHORT",
            "ElementDataFile = LOCAL",
        ])
        .into_bytes();
        bytes.extend_from_slice(&payload);
        let p = put_file(d.path(), "a.mha", &bytes);
        let s = read_path(&p).unwrap();
        assert_eq!(s.format, ScanFormat::MetaImage);
        check_grid(
            s.volume.grid(),
            [4, 3, 2],
            [0.5, 0.75, 2.0],
            [1.0, -2.0, 3.5],
            want_dir,
            0.0,
        );
        assert_eq!(as_i16(&s), &v[..], "big {big} compressed {compressed}");
        assert_eq!(s.files, vec![p]);
    }
}

#[test]
fn metaimage_detached_list_and_header_size() {
    let d = tempfile::tempdir().unwrap();
    let (v, data) = i16_data(24, false);
    let mut padded = vec![1u8; 16];
    padded.extend_from_slice(&data);
    put_file(d.path(), "a.raw", &padded);
    for hs in ["HeaderSize = 16", "HeaderSize = -1"] {
        let h = mhd(&[
            hs,
            "ElementSpacing = 1 1 1",
            "DimSize = 4 3 2",
            "ElementType = MET_SHORT",
            "ElementDataFile = a.raw",
        ]);
        let p = put_file(d.path(), "a.mhd", h.as_bytes());
        assert_eq!(as_i16(&read_path(&p).unwrap()), &v[..], "{hs}");
    }
    put_file(d.path(), "z0.raw", &data[..24]);
    put_file(d.path(), "z1.raw", &data[24..]);
    let h = mhd(&[
        "DimSize = 4 3 2",
        "ElementType = MET_SHORT",
        "ElementDataFile = LIST 2D",
        "z0.raw",
        "z1.raw",
    ]);
    let p = put_file(d.path(), "l.mhd", h.as_bytes());
    let s = read_path(&p).unwrap();
    assert_eq!(as_i16(&s), &v[..]);
    assert_eq!(s.files.len(), 3);
    // ElementNumberOfChannels > 1 is refused.
    let h = mhd(&[
        "DimSize = 4 3 2",
        "ElementNumberOfChannels = 3",
        "ElementType = MET_SHORT",
        "ElementDataFile = a.raw",
    ]);
    let p = put_file(d.path(), "rgb.mhd", h.as_bytes());
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::Unsupported { .. }),
        "rgb.mhd",
    );
}

#[test]
fn metaimage_outside_folder_and_truncated() {
    let d = tempfile::tempdir().unwrap();
    let (v, data) = i16_data(24, false);
    put_file(d.path(), "outside.raw", &data);
    let h = mhd(&[
        "DimSize = 4 3 2",
        "ElementType = MET_SHORT",
        "ElementDataFile = ../outside.raw",
    ]);
    let p = put_file(d.path(), "sub/a.mhd", h.as_bytes());
    let e = assert_err(
        read_path(&p),
        |e| matches!(e, IoError::OutsideFolder { .. }),
        "a.mhd",
    );
    assert!(e.to_string().contains("outside.raw"));
    let s = osteon_io::read_scan(&p, &ReadOptions::default().allow_outside_folder(true)).unwrap();
    assert_eq!(as_i16(&s), &v[..]);
    // A pattern that walks out of the folder is refused too.
    let h = mhd(&[
        "DimSize = 4 3 2",
        "ElementType = MET_SHORT",
        "ElementDataFile = ../outside.%d 1 2 1",
    ]);
    let p = put_file(d.path(), "sub/b.mhd", h.as_bytes());
    assert!(read_path(&p).is_err());

    put_file(d.path(), "short.raw", &data[..30]);
    let h = mhd(&[
        "DimSize = 4 3 2",
        "ElementType = MET_SHORT",
        "ElementDataFile = short.raw",
    ]);
    let p = put_file(d.path(), "t.mhd", h.as_bytes());
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::Truncated { .. }),
        "short.raw",
    );
    let z = zlib(&data);
    put_file(d.path(), "cut.zraw", &z[..z.len() / 2]);
    let h = mhd(&[
        "DimSize = 4 3 2",
        "CompressedData = True",
        "ElementType = MET_SHORT",
        "ElementDataFile = cut.zraw",
    ]);
    let p = put_file(d.path(), "c.mhd", h.as_bytes());
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::Truncated { .. }),
        "cut.zraw",
    );
    // Huge declared size with a tiny file.
    let h = mhd(&[
        "DimSize = 60000 60000 60000",
        "ElementType = MET_SHORT",
        "ElementDataFile = short.raw",
    ]);
    let p = put_file(d.path(), "huge.mhd", h.as_bytes());
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::TooLarge { .. }),
        "huge.mhd",
    );
}

#[test]
fn value_kinds_are_inferred() {
    let d = tempfile::tempdir().unwrap();
    let kind = |name: &str, et: &str, data: Vec<u8>| {
        put_file(d.path(), &format!("{name}.raw"), &data);
        let h = mhd(&[
            "DimSize = 4 3 2",
            &format!("ElementType = {et}"),
            &format!("ElementDataFile = {name}.raw"),
        ]);
        let p = put_file(d.path(), &format!("{name}.mhd"), h.as_bytes());
        read_path(&p).unwrap().kind
    };
    assert_eq!(
        kind("m1", "MET_UCHAR", (0..24).map(|i| (i % 2) as u8).collect()),
        ValueKind::Mask
    );
    assert_eq!(
        kind(
            "m255",
            "MET_UCHAR",
            (0..24).map(|i| (i % 2 * 255) as u8).collect()
        ),
        ValueKind::Mask
    );
    assert_eq!(
        kind("lab", "MET_UCHAR", (0..24).map(|i| (i % 5) as u8).collect()),
        ValueKind::Labels
    );
    assert_eq!(
        kind(
            "win",
            "MET_UCHAR",
            (0..24).map(|i| (i * 10) as u8).collect()
        ),
        ValueKind::CtRaw
    );
    assert_eq!(
        kind("hu", "MET_SHORT", i16_data(24, false).1),
        ValueKind::CtHu
    );
}

/// Headers the fuzz audit found read silently or with a misleading message: a valid slope
/// with a NaN intercept (applying neither would be off by the slope), a detached data file
/// that is a folder (was "truncated: found 4096 bytes"), and a grid reaching beyond what f32
/// meshes can hold (was infinite vertices at write time, naming the output).
#[test]
fn nifti_nan_intercept_data_folder_and_overflowing_grids_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let (_, data) = i16_data(24, false);
    let h = Nii {
        slope: 2.0,
        inter: f32::NAN,
        ..Default::default()
    };
    let p = put_file(d.path(), "inter.nii", &h.bytes(&data));
    let e = assert_err(
        read_path(&p),
        |e| matches!(e, IoError::Malformed { .. }),
        "inter.nii",
    );
    assert!(e.to_string().contains("scl_inter"), "{e}");
    // A zero or non-finite slope still means "not scaled" (as nibabel reads it).
    for slope in [0.0, f32::INFINITY, f32::NAN] {
        let h = Nii {
            slope,
            inter: f32::NAN,
            ..Default::default()
        };
        let p = put_file(d.path(), "noscale.nii", &h.bytes(&data));
        assert!(read_path(&p).is_ok(), "slope {slope}");
    }

    std::fs::create_dir(d.path().join("folder.raw")).unwrap();
    let nhdr = put_file(
        d.path(),
        "dir.nhdr",
        nrrd_header(&[
            "type: int16",
            "dimension: 3",
            "sizes: 4 3 2",
            "endian: little",
            "encoding: raw",
            "data file: folder.raw",
        ])
        .as_bytes(),
    );
    let e = assert_err(
        read_path(&nhdr),
        |e| matches!(e, IoError::Malformed { .. }),
        "dir.nhdr",
    );
    assert!(e.to_string().contains("is a folder"), "{e}");
    let mhd_path = put_file(
        d.path(),
        "dir.mhd",
        mhd(&[
            "DimSize = 4 3 2",
            "ElementType = MET_SHORT",
            "ElementDataFile = folder.raw",
        ])
        .as_bytes(),
    );
    assert_err(
        read_path(&mhd_path),
        |e| matches!(e, IoError::Malformed { .. }),
        "dir.mhd",
    );

    put_file(d.path(), "a.raw", &data);
    for (name, field) in [
        ("spacing.mhd", "ElementSpacing = 1e308 1 1"),
        ("offset.mhd", "Offset = 1e300 0 0"),
    ] {
        let h = mhd(&[
            field,
            "DimSize = 4 3 2",
            "ElementType = MET_SHORT",
            "ElementDataFile = a.raw",
        ]);
        let p = put_file(d.path(), name, h.as_bytes());
        let e = assert_err(
            read_path(&p),
            |e| matches!(e, IoError::InvalidGrid { .. }),
            name,
        );
        assert!(e.to_string().contains("beyond"), "{e}");
    }
}

// ---------------------------------------------------------------- second bad-input audit

/// A detached-data range whose span overflows i64 panicked ("attempt to subtract with
/// overflow"); it is a malformed header naming the header, in NRRD and MetaImage alike.
#[test]
fn data_file_pattern_range_that_overflows_is_malformed_not_a_panic() {
    let d = tempfile::tempdir().unwrap();
    let range = "-9223372036854775807 9223372036854775807 1";
    let nhdr = put_file(
        d.path(),
        "p.nhdr",
        nrrd_header(&[
            "type: short",
            "dimension: 3",
            "sizes: 4 3 2",
            "endian: little",
            "encoding: raw",
            &format!("data file: s%03d.raw {range}"),
        ])
        .as_bytes(),
    );
    let e = assert_err(
        read_path(&nhdr),
        |e| matches!(e, IoError::Malformed { .. }),
        "p.nhdr",
    );
    assert!(e.to_string().contains("bad range"), "{e}");
    let h = mhd(&[
        "DimSize = 4 3 2",
        "ElementType = MET_SHORT",
        &format!("ElementDataFile = s%d.raw {range}"),
    ]);
    let p = put_file(d.path(), "p.mhd", h.as_bytes());
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::Malformed { .. }),
        "p.mhd",
    );
}

/// Flips one bit inside a stored (uncompressed) deflate block: the stream still inflates to
/// the declared length, only its checksum tells.
fn flip_middle(mut b: Vec<u8>) -> Vec<u8> {
    let at = b.len() / 2;
    b[at] ^= 1;
    b
}

/// A damaged gzip or zlib stream that still inflates to the declared size was read as good
/// data (the reader stopped before the checksum); a damaged deflate block was reported as
/// "truncated ... found 0". Both are now "corrupt compressed data", naming the file.
#[test]
fn damaged_compressed_data_is_refused_even_at_full_length() {
    let d = tempfile::tempdir().unwrap();
    let (_, data) = i16_data(24, false);
    let stored_gzip = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
        e.write_all(&data).unwrap();
        e.finish().unwrap()
    };
    let header = nrrd_header(&[
        "type: short",
        "dimension: 3",
        "sizes: 4 3 2",
        "endian: little",
        "encoding: gzip",
    ]) + "\n";
    // Intact, it reads.
    let mut ok = header.clone().into_bytes();
    ok.extend_from_slice(&stored_gzip);
    let p = put_file(d.path(), "ok.nrrd", &ok);
    assert_eq!(as_i16(&read_path(&p).unwrap()), &i16_data(24, false).0[..]);
    let mut bad = header.into_bytes();
    bad.extend_from_slice(&flip_middle(stored_gzip.clone()));
    let p = put_file(d.path(), "flip.nrrd", &bad);
    let e = assert_err(
        read_path(&p),
        |e| matches!(e, IoError::Malformed { .. }),
        "flip.nrrd",
    );
    assert!(e.to_string().contains("corrupt"), "{e}");
    // The same in a .nii.gz.
    let nii = Nii::default().bytes(&data);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    e.write_all(&nii).unwrap();
    let p = put_file(d.path(), "flip.nii.gz", &flip_middle(e.finish().unwrap()));
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::Malformed { .. }),
        "flip.nii.gz",
    );
    // MetaImage zlib: a stored block with a flipped bit, and a damaged compressed block.
    let stored_zlib = {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::none());
        e.write_all(&data).unwrap();
        e.finish().unwrap()
    };
    let big: Vec<u8> = (0..4000u32)
        .flat_map(|i| ((i * 7919 % 3001) as i16 - 1000).to_le_bytes())
        .collect();
    let mut damaged = zlib(&big);
    for b in &mut damaged[40..80] {
        *b ^= 0x5a;
    }
    for (name, dims, stream) in [
        ("stored.mha", "DimSize = 4 3 2", flip_middle(stored_zlib)),
        ("damaged.mha", "DimSize = 20 20 10", damaged),
    ] {
        let mut b = mhd(&[
            dims,
            "ElementType = MET_SHORT",
            "CompressedData = True",
            "ElementDataFile = LOCAL",
        ])
        .into_bytes();
        b.extend_from_slice(&stream);
        let p = put_file(d.path(), name, &b);
        let e = assert_err(
            read_path(&p),
            |e| matches!(e, IoError::Malformed { .. }),
            name,
        );
        assert!(e.to_string().contains("corrupt compressed data"), "{e}");
    }
}

/// A NIfTI slope of 1e38 turned every non-zero voxel into +inf (read, reported as values
/// "0 .. 0", meshed as solid); values beyond f32 after the rescale are refused.
#[test]
fn rescale_beyond_f32_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let (_, data) = i16_data(24, false);
    let h = Nii {
        slope: 1e38,
        ..Default::default()
    };
    let p = put_file(d.path(), "slope.nii", &h.bytes(&data));
    let e = assert_err(
        read_path(&p),
        |e| matches!(e, IoError::Malformed { .. }),
        "slope.nii",
    );
    assert!(e.to_string().contains("32-bit floats"), "{e}");
    // f64 samples beyond f32 (NRRD `double`).
    let mut b = nrrd_header(&[
        "type: double",
        "dimension: 3",
        "sizes: 2 1 1",
        "endian: little",
        "encoding: raw",
    ])
    .into_bytes();
    b.push(b'\n');
    b.extend_from_slice(&1.0f64.to_le_bytes());
    b.extend_from_slice(&1e300f64.to_le_bytes());
    let p = put_file(d.path(), "big.nrrd", &b);
    assert_err(
        read_path(&p),
        |e| matches!(e, IoError::Malformed { .. }),
        "big.nrrd",
    );
}

/// ASCII NRRD samples were cast with `as`: 1e300 for a `short` read as 32767, 1.5 as 1.
/// A `line skip` past the end said "expected N bytes" for N lines.
#[test]
fn nrrd_ascii_sample_outside_its_type_and_line_skip_past_the_end() {
    let d = tempfile::tempdir().unwrap();
    let fields = [
        "type: short",
        "dimension: 3",
        "sizes: 2 1 1",
        "encoding: ascii",
    ];
    for (name, samples) in [("huge.nrrd", "5 1e300\n"), ("frac.nrrd", "5 1.5\n")] {
        let p = put_file(
            d.path(),
            name,
            (nrrd_header(&fields) + "\n" + samples).as_bytes(),
        );
        let e = assert_err(
            read_path(&p),
            |e| matches!(e, IoError::Malformed { .. }),
            name,
        );
        assert!(e.to_string().contains("ASCII sample"), "{e}");
    }
    let p = put_file(
        d.path(),
        "ok.nrrd",
        (nrrd_header(&fields) + "\n-32768 32767\n").as_bytes(),
    );
    assert_eq!(as_i16(&read_path(&p).unwrap()), &[-32768, 32767]);
    // `line skip` was ignored for ascii data: the skipped line was read as samples.
    let mut f = fields.to_vec();
    f.push("line skip: 1");
    let p = put_file(
        d.path(),
        "skip1.nrrd",
        (nrrd_header(&f) + "\n7 8 9\n1 2\n").as_bytes(),
    );
    assert_eq!(as_i16(&read_path(&p).unwrap()), &[1, 2]);
    // Past the end of the file, in ascii and raw data alike.
    f.push("line skip: 1000");
    f.remove(f.len() - 2);
    let p = put_file(
        d.path(),
        "skip.nrrd",
        (nrrd_header(&f) + "\n1 2\n").as_bytes(),
    );
    let mut raw = f.clone();
    raw[3] = "encoding: raw";
    raw.push("endian: little");
    let p_raw = put_file(
        d.path(),
        "skipraw.nrrd",
        (nrrd_header(&raw) + "\n1234\n").as_bytes(),
    );
    for (p, name) in [(p, "skip.nrrd"), (p_raw, "skipraw.nrrd")] {
        let e = assert_err(
            read_path(&p),
            |e| matches!(e, IoError::Malformed { .. }),
            name,
        );
        assert!(e.to_string().contains("line skip 1000"), "{e}");
    }
}

/// Float volumes with NaN or infinite samples, and sheared (non-orthogonal) grids, are read
/// as written but carry a QC warning each; clean files carry none.
#[test]
fn non_finite_samples_and_sheared_grids_are_warned() {
    let d = tempfile::tempdir().unwrap();
    let floats: Vec<u8> = [1.0f32, f32::NAN, f32::INFINITY, -5.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let header = |dirs: &str| {
        nrrd_header(&[
            "type: float",
            "dimension: 3",
            "sizes: 2 2 1",
            "endian: little",
            "encoding: raw",
            "space: LPS",
            dirs,
        ]) + "\n"
    };
    let mut b = header("space directions: (1,0,0) (0,1,0) (0,0,1)").into_bytes();
    b.extend_from_slice(&floats);
    let p = put_file(d.path(), "nan.nrrd", &b);
    let s = read_path(&p).unwrap();
    let codes: Vec<&str> = s.warnings.iter().map(|w| w.code.as_str()).collect();
    assert_eq!(codes, ["non-finite-values"], "{:?}", s.warnings);
    assert!(s.warnings[0].message.starts_with("1 NaN and 1 infinite"));

    let clean: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let mut b = header("space directions: (1,0,0) (0.5,0.866,0) (0,0,1)").into_bytes();
    b.extend_from_slice(&clean);
    let p = put_file(d.path(), "shear.nrrd", &b);
    let s = read_path(&p).unwrap();
    let codes: Vec<&str> = s.warnings.iter().map(|w| w.code.as_str()).collect();
    assert_eq!(codes, ["sheared-grid"], "{:?}", s.warnings);
    assert!(s.warnings[0].message.contains("30.00°"), "{:?}", s.warnings);
    let mut b = header("space directions: (0,1,0) (-1,0,0) (0,0,2)").into_bytes();
    b.extend_from_slice(&clean);
    let p = put_file(d.path(), "clean.nrrd", &b);
    assert!(read_path(&p).unwrap().warnings.is_empty());
}

/// A small 8-bit slice stack in a temporary folder: `depth` slices `s_%02d.png` of 4×3.
fn tiny_stack(depth: usize) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for k in 0..depth {
        let img =
            image::GrayImage::from_fn(4, 3, |i, j| image::Luma([(i + 4 * j) as u8 + k as u8]));
        img.save(d.path().join(format!("s_{k:02}.png"))).unwrap();
    }
    std::fs::write(
        d.path().join("volume.json"),
        format!(
            r#"{{"dims": [4, 3, {depth}], "spacing_mm": [1, 1, 1], "slice_files": "s_%02d.png"}}"#
        ),
    )
    .unwrap();
    d
}

/// `"rescale": 5` or `"rescale": "x"` was read as the identity; a `volume.json` that is a
/// folder sent the stack folder to the DICOM reader ("no DICOM files found").
#[test]
fn stack_rescale_of_wrong_type_and_volume_json_folder_are_refused() {
    let d = tiny_stack(2);
    assert!(read_path(d.path()).is_ok());
    for bad in [
        serde_json::json!(5),
        serde_json::json!("x"),
        serde_json::json!([1, 0]),
    ] {
        edit_json(d.path(), |v| v["rescale"] = bad.clone());
        let e = assert_err(
            read_path(d.path()),
            |e| matches!(e, IoError::Malformed { .. }),
            "volume.json",
        );
        assert!(e.to_string().contains("rescale"), "{e}");
    }
    let d = tiny_stack(2);
    std::fs::remove_file(d.path().join("volume.json")).unwrap();
    std::fs::create_dir(d.path().join("volume.json")).unwrap();
    let e = read_path(d.path()).unwrap_err();
    assert!(
        e.to_string().contains("volume.json") && !e.to_string().contains("DICOM"),
        "{e}"
    );
}

/// `dims` [4, 3, 30 000 000] passes the voxel budget (360 M voxels) but made 30 million
/// file names (gigabytes, many seconds; with 1e9 slices it took 17 GB and did not finish in a
/// minute) before the first missing slice was noticed. It now stops at that slice.
#[test]
fn stack_declaring_millions_of_slices_stops_at_the_first_missing_one() {
    let d = tiny_stack(3);
    edit_json(d.path(), |v| {
        v["dims"] = serde_json::json!([4, 3, 30_000_000])
    });
    let t = Instant::now();
    let e = assert_err(
        read_path(d.path()),
        |e| matches!(e, IoError::NotFound { .. }),
        "s_03.png",
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "{e} took {:?}",
        t.elapsed()
    );
}

fn multipage_tiff(path: &Path, pages: &[(u32, u32)]) {
    let f = std::fs::File::create(path).unwrap();
    let mut enc = tiff::encoder::TiffEncoder::new(f).unwrap();
    for (k, &(w, h)) in pages.iter().enumerate() {
        let px: Vec<u8> = (0..w * h).map(|i| (i as usize + k) as u8).collect();
        enc.write_image::<tiff::encoder::colortype::Gray8>(w, h, &px)
            .unwrap();
    }
}

/// One multi-page TIFF for the whole stack: it reads page k as slice k; pages beyond `dims`
/// were silently ignored (also a multi-page TIFF named as one slice); too few pages or a
/// page of another size are named.
#[test]
fn stack_multipage_tiff_page_count_must_match_dims() {
    let d = tempfile::tempdir().unwrap();
    let json = |depth: usize, files: &str| {
        format!(r#"{{"dims": [4, 3, {depth}], "spacing_mm": [1, 1, 1], "slice_files": "{files}"}}"#)
    };
    std::fs::write(d.path().join("volume.json"), json(3, "all.tif")).unwrap();
    multipage_tiff(&d.path().join("all.tif"), &[(4, 3); 3]);
    let s = read_path(d.path()).unwrap();
    match &s.volume {
        ScalarVolume::U8(v) => {
            assert_eq!(v.data.len(), 36);
            assert_eq!((v.data[0], v.data[12], v.data[35]), (0, 1, 13));
        }
        other => panic!("expected u8, got {}", other.type_name()),
    }
    for (pages, what) in [
        (vec![(4, 3); 5], "at least 4 pages"),
        (vec![(4, 3); 2], "2 pages"),
        (vec![(4, 3), (4, 3), (5, 3)], "page 2 is 5×3"),
    ] {
        multipage_tiff(&d.path().join("all.tif"), &pages);
        let e = assert_err(
            read_path(d.path()),
            |e| matches!(e, IoError::Inconsistent { .. }),
            "all.tif",
        );
        assert!(e.to_string().contains(what), "{e}");
    }
    std::fs::write(d.path().join("volume.json"), json(1, "all.tif")).unwrap();
    multipage_tiff(&d.path().join("all.tif"), &[(4, 3); 2]);
    assert_err(
        read_path(d.path()),
        |e| matches!(e, IoError::Inconsistent { .. }),
        "all.tif",
    );
}

/// A NaN in the sform or the qform quaternion read as "spacing along axis 0 is NaN mm",
/// blaming a spacing the header does not hold; the form is named now. So is a vox_offset
/// past the end of the file.
#[test]
fn nifti_non_finite_forms_and_far_vox_offset_are_named() {
    let d = tempfile::tempdir().unwrap();
    let (_, data) = i16_data(24, false);
    let sform = Nii {
        sform: 1,
        srow: [
            [f32::NAN, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ],
        ..Default::default()
    };
    let qform = Nii {
        qform: 1,
        quat: [f32::NAN, 0.0, 0.0, 0.0, 0.0, 0.0],
        ..Default::default()
    };
    for (name, h, says) in [("s.nii", sform, "sform"), ("q.nii", qform, "qform")] {
        let p = put_file(d.path(), name, &h.bytes(&data));
        let e = assert_err(
            read_path(&p),
            |e| matches!(e, IoError::Malformed { .. }),
            name,
        );
        assert!(e.to_string().contains(says), "{e}");
    }
    // vox_offset (byte 108) beyond the end, plain and gzip: was "truncated: expected
    // 999999652 bytes of data" (the offset, not the data).
    let mut b = Nii::default().bytes(&data);
    b[108..112].copy_from_slice(&1e9f32.to_le_bytes());
    for (name, bytes) in [("far.nii", b.clone()), ("far.nii.gz", gzip(&b))] {
        let p = put_file(d.path(), name, &bytes);
        let e = assert_err(
            read_path(&p),
            |e| matches!(e, IoError::Malformed { .. }),
            name,
        );
        assert!(e.to_string().contains("vox_offset 1000000000"), "{e}");
    }
}
