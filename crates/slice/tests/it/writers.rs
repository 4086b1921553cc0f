//! Writers read back by independent in-test readers: PNG (decoded with `image`), CLI ASCII
//! and binary, G-code.

use osteon_mesh::Mesh;
use osteon_slice::clf::{self, ClfOptions};
use osteon_slice::gcode::{self, GcodeOptions};
use osteon_slice::png::{self, PngFrame, PngOptions};
use osteon_slice::{slice_to_vec, svg, Layer, MaterialProfile, SliceError, SliceOptions};

use crate::common::{join, prism};

/// A tube with an internal cavity and a side boss: holes, islands, overhangs.
fn part() -> Mesh {
    let outer = prism(64, 15.0, 0.0, 0.0, &[0.0, 12.0]);
    let cavity = prism(40, 8.0, 1.0, 0.5, &[3.0, 9.0]).flipped();
    let boss = prism(24, 4.0, 25.0, 0.0, &[0.0, 6.0]);
    join(&[outer, cavity, boss])
}

fn sliced(h: f64) -> Vec<Layer> {
    slice_to_vec(&part(), &SliceOptions::default().with_layer_height_mm(h))
        .unwrap()
        .1
}

/// Even–odd inside test against a layer's loops.
fn inside(layer: &Layer, q: [f64; 2]) -> bool {
    let mut c = 0;
    for l in &layer.loops {
        let p = &l.points;
        let mut j = p.len() - 1;
        for i in 0..p.len() {
            let (a, b) = (p[i], p[j]);
            if (a[1] > q[1]) != (b[1] > q[1])
                && q[0] < a[0] + (q[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0])
            {
                c += 1;
            }
            j = i;
        }
    }
    c % 2 == 1
}

#[test]
fn png_lit_area_is_within_a_pixel_row_of_the_contour_area() {
    let ls = sliced(0.5);
    let b = svg::bounds(&ls).unwrap();
    for aa in [1, 4] {
        let o = PngOptions::default()
            .with_pixel_size_mm(0.05)
            .with_anti_alias(aa);
        let f = PngFrame::new(b, &o).unwrap();
        for l in ls.iter().step_by(3) {
            let mut bytes = Vec::new();
            png::write_layer(l, &f, &o, &mut bytes).unwrap();
            let img = image::load_from_memory(&bytes).unwrap().to_luma8();
            assert_eq!((img.width(), img.height()), (f.width, f.height));
            let lit = png::lit_area_mm2(img.as_raw(), &f);
            let tol = l.perimeter_mm() * f.pixel_mm;
            assert!(
                (lit - l.area_mm2()).abs() <= tol,
                "aa {aa} layer {}: lit {lit} vs {} (tol {tol})",
                l.index,
                l.area_mm2()
            );
            // The cavity shows dark in the middle layers, material lit at the tube wall.
            let px = |x: f64, y: f64| {
                let c = ((x - f.x0_mm) / f.pixel_mm) as u32;
                let r = ((f.y_top_mm - y) / f.pixel_mm) as u32;
                img.get_pixel(c, r).0[0]
            };
            assert_eq!(px(12.0, 0.0), 255);
            assert_eq!(
                px(1.0, 0.5),
                if (3.0..9.0).contains(&l.z_mm) { 0 } else { 255 }
            );
        }
    }
}

#[test]
fn png_zip_bundle_has_header_and_every_layer_and_is_deterministic() {
    let ls = sliced(1.0);
    let o = PngOptions::default().with_pixel_size_mm(0.1);
    let f = PngFrame::new(svg::bounds(&ls).unwrap(), &o).unwrap();
    let build = || {
        let pngs: Vec<Vec<u8>> = ls
            .iter()
            .map(|l| {
                let mut v = Vec::new();
                png::write_layer(l, &f, &o, &mut v).unwrap();
                v
            })
            .collect();
        let za: Vec<(f64, f64)> = ls.iter().map(|l| (l.z_mm, l.area_mm2())).collect();
        let header = png::StackHeader::new(f, &o, 1.0, &za);
        let mut cur = std::io::Cursor::new(Vec::new());
        png::write_zip(&header, &pngs, &mut cur).unwrap();
        cur.into_inner()
    };
    let a = build();
    assert_eq!(a, build());
    // Read back with a plain zip reader.
    let names = zip_names(&a);
    assert_eq!(names[0], "header.json");
    assert_eq!(names.len(), ls.len() + 1);
    assert_eq!(names[1], "layer_00000.png");
    assert!(PngFrame::new(
        [0.0, 0.0, 1.0, 1.0],
        &PngOptions::default().with_pixel_size_mm(0.0)
    )
    .is_err());
    // An explicit resolution past the pixel limit is refused before anything is allocated
    // (it aborted the process through a recipe); the largest allowed one is accepted.
    let huge = PngOptions::default().with_resolution(Some([99_999_999, 99_999_999]));
    assert!(matches!(
        PngFrame::new([0.0, 0.0, 1.0, 1.0], &huge),
        Err(SliceError::InvalidOption(m)) if m.contains("pixels per layer")
    ));
    let most = PngOptions::default().with_resolution(Some([20_000, 20_000]));
    assert!(PngFrame::new([0.0, 0.0, 1.0, 1.0], &most).is_ok());
}

#[test]
fn clf_hatch_spacing_beyond_the_line_limit_is_refused() {
    // 1e-9 mm spacing across a ~30 mm layer: 3e10 lines (the planner aborted allocating
    // them); 0.01 mm is fine.
    let ls = sliced(0.25);
    let tiny = ClfOptions::default().with_hatch_spacing_mm(1e-9);
    assert!(matches!(
        clf::plan_layer(&ls[0], &tiny),
        Err(SliceError::InvalidOption(m)) if m.contains("hatch lines")
    ));
    let fine = ClfOptions::default().with_hatch_spacing_mm(0.01);
    assert!(!clf::plan_layer(&ls[0], &fine).unwrap().hatches.is_empty());
}

/// File names of a zip archive from its central directory (independent of the zip crate).
fn zip_names(z: &[u8]) -> Vec<String> {
    let eocd = (0..z.len() - 21)
        .rev()
        .find(|&i| z[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .unwrap();
    let n = u16::from_le_bytes([z[eocd + 10], z[eocd + 11]]) as usize;
    let mut off = u32::from_le_bytes(z[eocd + 16..eocd + 20].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    for _ in 0..n {
        assert_eq!(z[off..off + 4], [0x50, 0x4b, 0x01, 0x02]);
        let le16 = |i: usize| u16::from_le_bytes([z[off + i], z[off + i + 1]]) as usize;
        let (nl, el, cl) = (le16(28), le16(30), le16(32));
        out.push(String::from_utf8(z[off + 46..off + 46 + nl].to_vec()).unwrap());
        off += 46 + nl + el + cl;
    }
    out
}

type ClfLayerRead = (f64, Vec<(i32, Vec<[f64; 2]>)>, Vec<[[f64; 2]; 2]>);
type GcodeLayerRead = (f64, Vec<([f64; 2], [f64; 2], f64)>);

/// What a CLI file holds: per layer z, polylines (dir, points), hatch vectors (mm).
#[derive(Debug, Default)]
struct ClfRead {
    units: f64,
    layers: Vec<ClfLayerRead>,
    declared_layers: usize,
}

fn read_clf(bytes: &[u8]) -> ClfRead {
    let end = b"$$HEADEREND";
    let he = bytes
        .windows(end.len())
        .position(|w| w == end)
        .expect("header end")
        + end.len();
    let header = std::str::from_utf8(&bytes[..he]).unwrap();
    let mut r = ClfRead::default();
    let mut binary = false;
    for line in header.lines() {
        if let Some(u) = line.strip_prefix("$$UNITS/") {
            r.units = u.trim().parse().unwrap();
        } else if let Some(n) = line.strip_prefix("$$LAYERS/") {
            r.declared_layers = n.trim().parse().unwrap();
        } else if line.trim() == "$$BINARY" {
            binary = true;
        }
    }
    assert!(r.units > 0.0);
    let u = r.units;
    if binary {
        let mut i = he;
        let f32at = |i: usize| f32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as f64;
        let i32at = |i: usize| i32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
        while i < bytes.len() {
            let cmd = u16::from_le_bytes([bytes[i], bytes[i + 1]]);
            i += 2;
            match cmd {
                127 => {
                    r.layers.push((f32at(i) * u, vec![], vec![]));
                    i += 4;
                }
                130 => {
                    let (dir, n) = (i32at(i + 4), i32at(i + 8) as usize);
                    i += 12;
                    let pts = (0..n)
                        .map(|k| [f32at(i + 8 * k) * u, f32at(i + 8 * k + 4) * u])
                        .collect();
                    i += 8 * n;
                    r.layers.last_mut().unwrap().1.push((dir, pts));
                }
                132 => {
                    let n = i32at(i + 4) as usize;
                    i += 8;
                    for k in 0..n {
                        let b = i + 16 * k;
                        r.layers.last_mut().unwrap().2.push([
                            [f32at(b) * u, f32at(b + 4) * u],
                            [f32at(b + 8) * u, f32at(b + 12) * u],
                        ]);
                    }
                    i += 16 * n;
                }
                c => panic!("unknown binary CLI command {c}"),
            }
        }
    } else {
        let body = std::str::from_utf8(&bytes[he..]).unwrap();
        assert!(body.contains("$$GEOMETRYSTART") && body.trim_end().ends_with("$$GEOMETRYEND"));
        for line in body.lines() {
            let nums =
                |s: &str| -> Vec<f64> { s.split(',').map(|v| v.trim().parse().unwrap()).collect() };
            if let Some(z) = line.strip_prefix("$$LAYER/") {
                r.layers
                    .push((z.trim().parse::<f64>().unwrap() * u, vec![], vec![]));
            } else if let Some(p) = line.strip_prefix("$$POLYLINE/") {
                let v = nums(p);
                let n = v[2] as usize;
                assert_eq!(v.len(), 3 + 2 * n);
                let pts = (0..n)
                    .map(|k| [v[3 + 2 * k] * u, v[4 + 2 * k] * u])
                    .collect();
                r.layers.last_mut().unwrap().1.push((v[1] as i32, pts));
            } else if let Some(p) = line.strip_prefix("$$HATCHES/") {
                let v = nums(p);
                let n = v[1] as usize;
                assert_eq!(v.len(), 2 + 4 * n);
                for k in 0..n {
                    let b = 2 + 4 * k;
                    r.layers
                        .last_mut()
                        .unwrap()
                        .2
                        .push([[v[b] * u, v[b + 1] * u], [v[b + 2] * u, v[b + 3] * u]]);
                }
            }
        }
    }
    r
}

#[test]
fn clf_ascii_and_binary_read_back_with_vectors_inside_their_layers() {
    let h = 0.25;
    let ls = sliced(h);
    let areas: Vec<f64> = ls.iter().map(|l| l.area_mm2()).collect();
    let dim = [-15.0, -15.0, 0.0, 29.0, 15.0, 12.0];
    for binary in [false, true] {
        let o = ClfOptions::default()
            .with_binary(binary)
            .with_hatch_spacing_mm(0.2);
        let planned = clf::plan_layers(&ls, &o).unwrap();
        let mut bytes = Vec::new();
        let rep = clf::write(&planned, h, &areas, dim, &o, &mut bytes).unwrap();
        let r = read_clf(&bytes);
        assert_eq!(r.declared_layers, ls.len());
        assert_eq!(r.layers.len(), ls.len());
        let mut hatch_len = 0.0;
        for (k, (z, polys, hatches)) in r.layers.iter().enumerate() {
            let l = &ls[k];
            assert!((z - l.z_mm).abs() < 1e-5, "{z} vs {}", l.z_mm);
            assert!(!polys.is_empty() && !hatches.is_empty(), "layer {k}");
            // Hatch angle rotates by 67° per layer.
            let d = hatches[0][1];
            let s = hatches[0][0];
            let ang = (d[1] - s[1])
                .atan2(d[0] - s[0])
                .to_degrees()
                .rem_euclid(180.0);
            let want = (67.0 * k as f64).rem_euclid(180.0);
            let diff = (ang - want).rem_euclid(180.0);
            assert!(
                diff.min(180.0 - diff) < 0.01,
                "layer {k}: hatch at {ang}°, want {want}°"
            );
            for (dir, p) in polys {
                assert_eq!(p.first(), p.last(), "contour closed");
                let a = osteon_slice::signed_area(&p[..p.len() - 1]);
                assert_eq!(*dir, if a > 0.0 { 1 } else { 0 });
                for q in p {
                    assert!(inside(l, *q), "contour point {q:?} outside layer {k}");
                }
            }
            for hv in hatches {
                hatch_len += ((hv[1][0] - hv[0][0]).powi(2) + (hv[1][1] - hv[0][1]).powi(2)).sqrt();
                for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
                    let q = [
                        hv[0][0] + t * (hv[1][0] - hv[0][0]),
                        hv[0][1] + t * (hv[1][1] - hv[0][1]),
                    ];
                    assert!(inside(l, q), "hatch point {q:?} outside layer {k}");
                }
            }
        }
        assert!((hatch_len - rep.hatch_length_mm).abs() < 1e-3 * rep.hatch_length_mm);
        // Hatches at spacing s cover the hatch area: length × s ≈ area inside the offsets.
        let inset: f64 = ls
            .iter()
            .map(|l| {
                l.region()
                    .offset(-(o.beam_offset_mm + o.hatch_contour_gap_mm))
                    .area()
            })
            .sum();
        assert!(
            (hatch_len * 0.2 / inset - 1.0).abs() < 0.03,
            "{} vs {inset}",
            hatch_len * 0.2
        );
    }
}

struct GcodeRead {
    /// Per layer: print z and extrusion segments (bed frame), with E per segment.
    layers: Vec<GcodeLayerRead>,
    total_e: f64,
    header_e: f64,
    header_time: f64,
    temps: Vec<(String, f64)>,
}

fn read_gcode(text: &str) -> GcodeRead {
    let mut g = GcodeRead {
        layers: vec![],
        total_e: 0.0,
        header_e: f64::NAN,
        header_time: f64::NAN,
        temps: vec![],
    };
    let (mut x, mut y, mut z) = (f64::NAN, f64::NAN, 0.0);
    let mut relative_e = false;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("; filament used [mm] = ") {
            g.header_e = v.parse().unwrap();
        }
        if let Some(v) = line.strip_prefix("; estimated_time_s = ") {
            g.header_time = v.parse().unwrap();
        }
        let code = line.split(';').next().unwrap().trim();
        if code.is_empty() {
            continue;
        }
        let mut words = code.split_whitespace();
        let cmd = words.next().unwrap();
        let val = |c: char| -> Option<f64> {
            code.split_whitespace()
                .skip(1)
                .find(|w| w.starts_with(c))
                .map(|w| w[1..].parse().unwrap())
        };
        match cmd {
            "M83" => relative_e = true,
            "G91" => break, // the end sequence (relative moves) follows the last layer
            "M104" | "M109" | "M140" | "M190" | "M141" | "M191" => {
                g.temps.push((cmd.into(), val('S').unwrap()))
            }
            "G0" | "G1" => {
                let (nx, ny) = (val('X').unwrap_or(x), val('Y').unwrap_or(y));
                if let Some(nz) = val('Z') {
                    if nz != z {
                        z = nz;
                        g.layers.push((z, vec![]));
                    }
                }
                if let Some(e) = val('E') {
                    assert!(relative_e, "E before M83");
                    g.total_e += e;
                    if e > 0.0 && (nx != x || ny != y) {
                        g.layers.last_mut().unwrap().1.push(([x, y], [nx, ny], e));
                    }
                }
                x = nx;
                y = ny;
            }
            _ => {}
        }
        let _ = words;
    }
    g
}

#[test]
fn gcode_reads_back_inside_each_layer_with_volume_matching_the_plan() {
    let h = 0.2;
    let ls = sliced(h);
    for name in ["pla", "peek"] {
        let profile = MaterialProfile::builtin(name).unwrap();
        let o = GcodeOptions::default()
            .with_profile(profile.clone())
            .with_bed_center_mm([100.0, 100.0]);
        let plans = gcode::plan(&ls, &o).unwrap();
        let b = svg::bounds(&ls).unwrap();
        let mut out = Vec::new();
        let rep = gcode::write(&plans, h, b, ls[0].z_mm, &o, &mut out).unwrap();
        let g = read_gcode(std::str::from_utf8(&out).unwrap());
        assert_eq!(g.layers.len(), ls.len());
        let (dx, dy) = (100.0 - 0.5 * (b[0] + b[2]), 100.0 - 0.5 * (b[1] + b[3]));
        let fil = std::f64::consts::PI * 0.25 * profile.filament_diameter_mm.powi(2);
        let mut extruded = 0.0;
        for (k, (z, segs)) in g.layers.iter().enumerate() {
            assert!((z - (k as f64 + 1.0) * h).abs() < 1e-6);
            let l = &ls[k];
            assert!(!segs.is_empty());
            for (a, c, e) in segs {
                extruded += e * fil;
                let len = ((c[0] - a[0]).powi(2) + (c[1] - a[1]).powi(2)).sqrt();
                // E matches the bead cross-section w·h.
                assert!(
                    (e * fil / (len * profile.extrusion_width_mm * h) - 1.0).abs() < 0.02
                        || len < 0.01
                );
                for t in [0.0, 0.5, 1.0] {
                    let q = [a[0] + t * (c[0] - a[0]) - dx, a[1] + t * (c[1] - a[1]) - dy];
                    assert!(
                        inside(l, q),
                        "{name}: extrusion point {q:?} outside layer {k}"
                    );
                }
            }
        }
        // Header totals agree with the file, and the extruded volume with the planned fill.
        assert!(
            (g.header_e - g.total_e).abs() < 1e-3 * g.header_e.max(1.0),
            "{} vs {}",
            g.header_e,
            g.total_e
        );
        assert!((g.header_time - rep.estimated_time_s).abs() < 0.1 && rep.estimated_time_s > 0.0);
        let ratio = extruded / rep.planned_fill_mm3;
        assert!(
            (ratio - 1.0).abs() < 0.05,
            "{name}: extruded {extruded} vs planned {}",
            rep.planned_fill_mm3
        );
        // Temperatures from the profile.
        assert!(g.temps.contains(&("M104".into(), profile.nozzle_temp_c)));
        assert!(g.temps.contains(&("M140".into(), profile.bed_temp_c)));
        assert_eq!(
            g.temps.iter().any(|(c, _)| c == "M141"),
            profile.chamber_temp_c.is_some()
        );
        // Solid skins: the first and last layers are solid; a middle layer of the tube wall
        // right above the cavity's roof (z 9..9+top) holds solid infill too.
        let kinds = |k: usize| plans[k].paths.iter().map(|p| p.0).collect::<Vec<_>>();
        assert!(!kinds(0).contains(&gcode::PathKind::Sparse));
        assert!(!kinds(ls.len() - 1).contains(&gcode::PathKind::Sparse));
        let mid = (6.0 / h) as usize;
        assert!(kinds(mid).contains(&gcode::PathKind::Sparse));
        let roof = (9.1 / h) as usize;
        assert!(kinds(roof).contains(&gcode::PathKind::Solid));
    }
}

#[test]
fn profiles_parse_and_bad_ones_are_refused() {
    for n in MaterialProfile::builtin_names() {
        MaterialProfile::builtin(n).unwrap();
    }
    let peek = MaterialProfile::builtin("PEEK").unwrap();
    assert!(peek.nozzle_temp_c >= 360.0 && peek.chamber_temp_c.is_some());
    assert!(matches!(
        MaterialProfile::builtin("abs"),
        Err(SliceError::Profile(_))
    ));
    assert!(matches!(
        MaterialProfile::from_json("{\"name\": 1}"),
        Err(SliceError::Profile(_))
    ));
    let mut v = serde_json::to_value(&peek).unwrap();
    v["filament_diameter_mm"] = serde_json::json!(0.0);
    assert!(MaterialProfile::from_json(&v.to_string()).is_err());
}

#[test]
fn svg_has_one_group_per_layer_with_every_loop() {
    let ls = sliced(2.0);
    let mut out = Vec::new();
    svg::write_layers(&ls, svg::bounds(&ls).unwrap(), &mut out).unwrap();
    let s = String::from_utf8(out).unwrap();
    assert_eq!(s.matches("<g id=\"layer-").count(), ls.len());
    let loops: usize = ls.iter().map(|l| l.loops.len()).sum();
    assert_eq!(s.matches('Z').count(), loops);
    assert!(s.trim_end().ends_with("</svg>"));
}
