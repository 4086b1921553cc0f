//! Mesh formats: round trips, determinism, the public meshes in `shared/scans/meshes`, and
//! bad input.

use std::path::{Path, PathBuf};
use std::time::Instant;

use osteon_geom::{Frame, Vec3};
use osteon_io::{
    parse_mesh, read_mesh, write_3mf, write_mesh, write_obj, write_ply, write_ply_with_scalar,
    write_stl, write_stl_ascii, IoError, MeshFormat, MeshWriteOptions,
};
use osteon_mesh::{report, Mesh, MeshError, MeshReport};

const MESHES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/scans/meshes");

fn public(name: &str) -> PathBuf {
    Path::new(MESHES).join(name)
}

/// A closed, outward tetrahedron plus a fin, with awkward coordinates (negative zero, tiny
/// and large values, non-representable decimals) so that float formatting is exercised.
/// Vertices are numbered in order of first use, as STL welding numbers them.
fn sample() -> Mesh {
    let p = [
        [0.0, -0.0, 0.0],
        [0.0, 1.0e-7, 0.0],
        [1.1, 0.0, 0.0],
        [0.0, 0.0, 123456.79],
        [-0.3, 0.1, 0.2],
    ];
    let t = [[0, 1, 2], [0, 2, 3], [0, 3, 1], [2, 1, 3], [2, 3, 4]];
    Mesh::new(p.iter().map(|&a| Vec3::from(a)).collect(), t.to_vec()).unwrap()
}

/// Bit-exact positions, except that −0.0 may come back as 0.0 (text, STL welding).
fn same_point(p: Vec3, q: Vec3) {
    let norm = |v: Vec3| {
        v.to_array()
            .map(|c| if c == 0.0 { 0u32 } else { c.to_bits() })
    };
    assert_eq!(norm(p), norm(q), "{p} vs {q}");
}

/// Same vertices and triangles.
fn same_mesh(a: &Mesh, b: &Mesh) {
    assert_eq!(a.triangles, b.triangles);
    assert_eq!(a.positions.len(), b.positions.len());
    for (p, q) in a.positions.iter().zip(&b.positions) {
        same_point(*p, *q);
    }
}

/// Same triangles corner by corner and the same vertex count (STL renumbers vertices).
fn same_soup(a: &Mesh, b: &Mesh) {
    assert_eq!(a.triangles.len(), b.triangles.len());
    assert_eq!(a.positions.len(), b.positions.len());
    for (s, t) in a.triangles.iter().zip(&b.triangles) {
        for k in 0..3 {
            same_point(a.positions[s[k] as usize], b.positions[t[k] as usize]);
        }
    }
}

fn write_mem(f: MeshFormat, m: &Mesh, opts: &MeshWriteOptions) -> Vec<u8> {
    let mut buf = Vec::new();
    match f {
        MeshFormat::Stl => write_stl(m, &mut buf, opts),
        MeshFormat::StlAscii => write_stl_ascii(m, &mut buf, opts),
        MeshFormat::Ply => write_ply(m, &mut buf, opts),
        MeshFormat::Obj => write_obj(m, &mut buf, opts),
        MeshFormat::ThreeMf => write_3mf(m, &mut buf, opts),
        _ => unreachable!(),
    }
    .unwrap();
    buf
}

const ALL: [(MeshFormat, &str); 5] = [
    (MeshFormat::Stl, "stl"),
    (MeshFormat::StlAscii, "stl"),
    (MeshFormat::Ply, "ply"),
    (MeshFormat::Obj, "obj"),
    (MeshFormat::ThreeMf, "3mf"),
];

#[test]
fn round_trip_every_format() {
    let m = sample();
    let dir = tempfile::tempdir().unwrap();
    for (f, ext) in ALL {
        let opts = MeshWriteOptions::default().with_format(f);
        let p = dir.path().join(format!("out_{f:?}.{ext}"));
        write_mesh(&p, &m, &opts).unwrap();
        let back = read_mesh(&p).unwrap_or_else(|e| panic!("{f:?}: {e}"));
        same_mesh(&m, &back);
        // In memory as well, and the file holds exactly what the writer produces.
        let bytes = write_mem(f, &m, &opts);
        assert_eq!(std::fs::read(&p).unwrap(), bytes, "{f:?}");
        same_mesh(&m, &parse_mesh(&bytes, &p).unwrap());
    }
}

#[test]
fn round_trip_is_exact_for_binary_formats_at_scale() {
    // Random-looking but deterministic coordinates on a torus-like grid.
    let (n, k) = (120u32, 80u32);
    let mut positions = Vec::new();
    for i in 0..n {
        for j in 0..k {
            let (u, v) = (i as f32 * 0.0523, j as f32 * 0.0785);
            positions.push(Vec3::new(
                (3.0 + v.cos()) * u.cos() + 1e-3 * (i * j) as f32,
                (3.0 + v.cos()) * u.sin(),
                v.sin() * 1.37,
            ));
        }
    }
    let mut triangles = Vec::new();
    for i in 0..n {
        for j in 0..k {
            let id = |a: u32, b: u32| (a % n) * k + (b % k);
            triangles.push([id(i, j), id(i + 1, j), id(i + 1, j + 1)]);
            triangles.push([id(i, j), id(i + 1, j + 1), id(i, j + 1)]);
        }
    }
    let m = Mesh::new(positions, triangles).unwrap();
    for (f, ext) in ALL {
        let bytes = write_mem(f, &m, &MeshWriteOptions::default());
        let back = parse_mesh(&bytes, Path::new(&format!("mem.{ext}"))).unwrap();
        if matches!(f, MeshFormat::Stl | MeshFormat::StlAscii) {
            same_soup(&m, &back);
        } else {
            same_mesh(&m, &back);
        }
        assert_eq!(report(&back).unwrap().genus, Some(1), "{f:?}");
    }
}

#[test]
fn writes_are_deterministic_and_headers_name_the_frame() {
    let m = sample();
    for (f, _) in ALL {
        for frame in [Frame::Lps, Frame::Ras, Frame::None] {
            let opts = MeshWriteOptions::default().with_frame(frame);
            let a = write_mem(f, &m, &opts);
            let b = write_mem(f, &m, &opts);
            assert_eq!(a, b, "{f:?} is not deterministic");
            let tag = format!("UNITS=mm SPACE={}", frame.name());
            if f != MeshFormat::ThreeMf {
                let head = String::from_utf8_lossy(&a[..a.len().min(400)]).into_owned();
                assert!(head.contains(&tag), "{f:?}: {head}");
            }
        }
    }
    let stl = write_mem(MeshFormat::Stl, &m, &MeshWriteOptions::default());
    let v = env!("CARGO_PKG_VERSION");
    assert!(stl.starts_with(format!("osteon {v} UNITS=mm SPACE=LPS").as_bytes()));
    assert_eq!(stl.len(), 84 + 50 * m.triangles.len());
    // Facet normal of triangle 0 (in the z = 0 plane, clockwise seen from above): −z.
    let nz = f32::from_le_bytes(stl[92..96].try_into().unwrap());
    assert_eq!(nz, -1.0);
    let threemf = write_mem(MeshFormat::ThreeMf, &m, &MeshWriteOptions::default());
    assert!(threemf.starts_with(b"PK\x03\x04"));
}

#[test]
fn ply_with_scalar() {
    let m = sample();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("dist.ply");
    let values: Vec<f32> = (0..m.positions.len())
        .map(|i| i as f32 * 0.5 - 1.0)
        .collect();
    write_ply_with_scalar(&p, &m, "distance_mm", &values, &MeshWriteOptions::default()).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("property float distance_mm\n"));
    same_mesh(&m, &read_mesh(&p).unwrap());
    // The values follow x, y, z of each vertex.
    let start = text.find("end_header\n").unwrap() + "end_header\n".len();
    let v1 = f32::from_le_bytes(bytes[start + 16 + 12..start + 32].try_into().unwrap());
    assert_eq!(v1, values[1]);
    // Wrong length: typed error, no file.
    let q = dir.path().join("bad.ply");
    let e = write_ply_with_scalar(&q, &m, "d", &values[1..], &MeshWriteOptions::default());
    assert!(matches!(
        e,
        Err(IoError::InvalidMesh {
            source: MeshError::InvalidOption(_),
            ..
        })
    ));
    assert!(!q.exists());
}

#[test]
fn write_refuses_bad_meshes_and_unknown_extensions_leaving_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = sample();
    m.positions[1].x = f32::NAN;
    let p = dir.path().join("nan.stl");
    let e = write_mesh(&p, &m, &MeshWriteOptions::default()).unwrap_err();
    assert!(matches!(e, IoError::InvalidMesh { .. }), "{e}");
    let p = dir.path().join("mesh.xyz");
    let e = write_mesh(&p, &sample(), &MeshWriteOptions::default()).unwrap_err();
    assert!(matches!(e, IoError::UnknownFormat { .. }), "{e}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn format_from_path() {
    assert_eq!(
        MeshFormat::from_path(Path::new("a/b.STL")),
        Some(MeshFormat::Stl)
    );
    assert_eq!(
        MeshFormat::from_path(Path::new("b.ply")),
        Some(MeshFormat::Ply)
    );
    assert_eq!(
        MeshFormat::from_path(Path::new("b.obj")),
        Some(MeshFormat::Obj)
    );
    assert_eq!(
        MeshFormat::from_path(Path::new("b.3mf")),
        Some(MeshFormat::ThreeMf)
    );
    assert_eq!(MeshFormat::from_path(Path::new("b.nii")), None);
    assert_eq!(MeshFormat::from_path(Path::new("stl")), None);
}

// ---------------------------------------------------------------- other writers' files

#[test]
fn reads_ascii_stl_with_odd_case_and_spacing() {
    let text =
        "solid  thing\r\n facet NORMAL 0 0 1\n\touter loop\n  VERTEX 0 0 0\n vertex 1 0 0\n \
                vertex 0 1 0\n endloop\nendfacet\n  facet normal 0 0 1 outer loop vertex 1 0 0 \
                vertex 1 1 0\nvertex 0 1 0 endloop endfacet\nendsolid thing\n";
    // The second facet crams its keywords onto two lines: the parser reads tokens.
    let m = parse_mesh(text.as_bytes(), Path::new("odd.stl")).unwrap();
    assert_eq!(m.triangles, vec![[0, 1, 2], [1, 3, 2]]);
    assert_eq!(m.positions.len(), 4);
}

#[test]
fn reads_ply_variants() {
    // ASCII with extra properties, an extra element with a list, a quad and a big-endian
    // twin, all giving the same mesh.
    let ascii = "ply\nformat ascii 1.0\ncomment hi\nelement vertex 4\nproperty double x\n\
                 property float y\nproperty float z\nproperty list uchar int junk\n\
                 element edge 1\nproperty int a\nproperty int b\n\
                 element face 1\nproperty uchar flags\nproperty list ushort uint vertex_index\n\
                 end_header\n0 0 0 2 7 7\n1 0 0 0\n1 1 0 1 5\n0 1 0 0\n0 1\n9 4 0 1 2 3\n";
    let a = parse_mesh(ascii.as_bytes(), Path::new("a.ply")).unwrap();
    assert_eq!(a.triangles, vec![[0, 1, 2], [0, 2, 3]]);
    assert_eq!(a.positions[2], Vec3::new(1.0, 1.0, 0.0));

    let mut be = b"ply\r\nformat binary_big_endian 1.0\r\nelement vertex 4\r\n\
                   property float x\r\nproperty float y\r\nproperty float z\r\n\
                   element face 1\r\nproperty list uchar int vertex_indices\r\nend_header\r\n"
        .to_vec();
    for p in &a.positions {
        for v in p.to_array() {
            be.extend_from_slice(&v.to_be_bytes());
        }
    }
    be.push(4);
    for i in [0i32, 1, 2, 3] {
        be.extend_from_slice(&i.to_be_bytes());
    }
    let b = parse_mesh(&be, Path::new("b.ply")).unwrap();
    assert_eq!(a, b);

    // Little-endian doubles with an extra byte per vertex (the fixed-stride fast path) and
    // an int count with uchar indices.
    let mut le = b"ply\nformat binary_little_endian 1.0\nelement vertex 4\n\
                   property uchar flag\nproperty double x\nproperty double y\nproperty double z\n\
                   element face 1\nproperty list int uchar vertex_indices\nend_header\n"
        .to_vec();
    for p in &a.positions {
        le.push(0xff);
        for v in p.to_array() {
            le.extend_from_slice(&(v as f64).to_le_bytes());
        }
    }
    le.extend_from_slice(&4i32.to_le_bytes());
    le.extend_from_slice(&[0, 1, 2, 3]);
    let c = parse_mesh(&le, Path::new("c.ply")).unwrap();
    assert_eq!(a, c);
}

#[test]
fn reads_obj_forms() {
    let text = "# comment\nmtllib x.mtl\no thing\nv 0 0 0\nv 1 0 0 1.0\nv 1 1 0 0.5 0.5 0.5\nv 0 1 0\n\
                vt 0 0\nvn 0 0 1\ng group\nusemtl m\ns off\nf 1/1/1 2/1/1 3/1/1\nf -4//1 -2//1 -1//1\n\
                f 1/1 2/1 3/1 4/1\nl 1 2\n";
    let m = parse_mesh(text.as_bytes(), Path::new("forms.obj")).unwrap();
    assert_eq!(
        m.triangles,
        vec![[0, 1, 2], [0, 2, 3], [0, 1, 2], [0, 2, 3]]
    );
}

// ---------------------------------------------------------------- public meshes

struct Expect {
    file: &'static str,
    triangles: usize,
}

fn read_public(name: &str) -> (Mesh, MeshReport) {
    let m = read_mesh(&public(name)).unwrap_or_else(|e| panic!("{e}"));
    let r = report(&m).unwrap();
    println!("{name}: {}", serde_json::to_string(&r).unwrap());
    (m, r)
}

#[test]
fn public_meshes_match_the_readme() {
    let table = [
        Expect {
            file: "trimesh_bunny.ply",
            triangles: 16_301,
        },
        Expect {
            file: "openforge_skull_b.stl",
            triangles: 5_547,
        },
        Expect {
            file: "trimesh_teapot.stl",
            triangles: 894,
        },
        Expect {
            file: "vtk_footbones.ply",
            triangles: 4_204,
        },
        Expect {
            file: "openforge_leg-right_femur.stl",
            triangles: 3_548,
        },
        Expect {
            file: "openforge_leg-right_tibia.stl",
            triangles: 2_090,
        },
    ];
    for e in table {
        let (_, r) = read_public(e.file);
        assert_eq!(r.triangles, e.triangles, "{}", e.file);
    }
    for bone in [
        "openforge_leg-right_femur.stl",
        "openforge_leg-right_tibia.stl",
    ] {
        let (_, r) = read_public(bone);
        assert!(r.watertight && r.manifold && r.oriented, "{bone}: {r}");
        assert_eq!(r.components, 1, "{bone}");
        assert_eq!(r.genus, Some(0), "{bone}");
        assert!(r.outward, "{bone}: {r}");
    }
    let (m, r) = read_public("vtk_footbones.ply");
    assert_eq!(r.components, 26);
    let topo = osteon_mesh::Topology::new(&m).unwrap();
    assert!(topo.components().iter().all(|c| c.is_closed()));
    // Defects as listed in the README. Components are edge-connected here; the README's
    // "shells" are vertex-connected (teapot: 3, skull: 11), and the shells that touch at a
    // single vertex show up as non-manifold vertices.
    let defects = |r: &MeshReport| {
        (
            r.boundary_edges,
            r.nonmanifold_edges,
            r.inconsistent_edges,
            r.duplicate_triangles,
            r.components,
            r.nonmanifold_vertices,
        )
    };
    let (_, r) = read_public("trimesh_bunny.ply");
    assert_eq!(defects(&r), (123, 150, 298, 87, 1, 224));
    assert_eq!(r.unreferenced_vertices, 25);
    let (_, r) = read_public("openforge_skull_b.stl");
    assert_eq!(defects(&r), (5, 2, 3, 0, 19, 14));
    let (_, r) = read_public("trimesh_teapot.stl");
    assert_eq!(defects(&r), (64, 0, 0, 0, 4, 1));
}

#[test]
fn public_stl_round_trips_bit_exactly() {
    let name = "openforge_skull_b.stl";
    let m = read_mesh(&public(name)).unwrap();
    let bytes = write_mem(MeshFormat::Stl, &m, &MeshWriteOptions::default());
    // Same coordinates as the original file, triangle by triangle.
    let orig = std::fs::read(public(name)).unwrap();
    assert_eq!(orig.len(), bytes.len());
    for t in 0..m.triangles.len() {
        let (a, b) = (84 + 50 * t + 12, 84 + 50 * t + 48);
        assert_eq!(orig[a..b], bytes[a..b], "triangle {t}");
    }
    assert_eq!(parse_mesh(&bytes, Path::new("x.stl")).unwrap(), m);
}

// ---------------------------------------------------------------- bad input

fn names_file(e: &IoError, p: &Path) {
    let msg = e.to_string();
    assert!(
        msg.contains(&p.display().to_string()),
        "message does not name the file: {msg}"
    );
}

#[test]
fn truncated_stl_claiming_two_giga_triangles_fails_fast() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.stl");
    let mut b = vec![0u8; 84 + 50 * 10];
    b[80..84].copy_from_slice(&2_000_000_000u32.to_le_bytes());
    std::fs::write(&p, &b).unwrap();
    let t = Instant::now();
    let e = read_mesh(&p).unwrap_err();
    assert!(t.elapsed().as_millis() < 500);
    assert!(
        matches!(e, IoError::Truncated { expected, found, .. }
            if expected == 84 + 50 * 2_000_000_000 && found == b.len() as u64),
        "{e}"
    );
    names_file(&e, &p);
}

/// PLY faces of fewer than 3 vertices, and ASCII lines with too many or too few values, are
/// errors naming the file and the face or line: silently dropping a face opens the surface,
/// and a line with extra values used to shift every value after it (a garbage mesh).
#[test]
fn ply_short_faces_and_misaligned_ascii_lines_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let head = |fmt: &str| {
        format!(
            "ply\nformat {fmt} 1.0\nelement vertex 4\nproperty float x\nproperty float y\n\
             property float z\nelement face 2\nproperty list uchar int vertex_indices\nend_header\n"
        )
    };
    let verts = "0 0 0\n1 0 0\n0 1 0\n0 0 1\n";
    let check = |name: &str, bytes: Vec<u8>, needle: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, &bytes).unwrap();
        let e = read_mesh(&p).unwrap_err();
        assert!(matches!(e, IoError::Malformed { .. }), "{name}: {e:?}");
        assert!(e.to_string().contains(needle), "{name}: {e}");
        names_file(&e, &p);
    };
    // A two-vertex face, ASCII and binary.
    check(
        "two.ply",
        format!("{}{verts}3 0 1 2\n2 0 1\n", head("ascii")).into_bytes(),
        "face 1 has 2 vertex indices",
    );
    let mut bin = head("binary_little_endian").into_bytes();
    for p in [[0f32, 0., 0.], [1., 0., 0.], [0., 1., 0.], [0., 0., 1.]] {
        for c in p {
            bin.extend_from_slice(&c.to_le_bytes());
        }
    }
    bin.push(3);
    for i in [0i32, 1, 2] {
        bin.extend_from_slice(&i.to_le_bytes());
    }
    bin.push(0); // an empty face
    check("empty_face.ply", bin, "face 1 has 0 vertex indices");
    // Extra values on a face line: the old whitespace stream read "7 7" as the next face.
    check(
        "extra.ply",
        format!("{}{verts}3 0 1 2 7 7\n3 0 2 3\n", head("ascii")).into_bytes(),
        "line 14: unexpected '7'",
    );
    // A vertex line short of a coordinate.
    check(
        "short.ply",
        format!(
            "{}0 0 0\n1 0\n0 1 0\n0 0 1\n3 0 1 2\n3 0 2 3\n",
            head("ascii")
        )
        .into_bytes(),
        "line 11: too few values",
    );
    // The same file, well formed, reads (blank lines and CRLF are fine).
    let ok = format!("{}{verts}\n3 0 1 2\r\n3 0 2 3\n", head("ascii"));
    let m = parse_mesh(ok.as_bytes(), Path::new("ok.ply")).unwrap();
    assert_eq!(m.triangles, vec![[0, 1, 2], [0, 2, 3]]);
}

/// A 3MF whose model part is not a 3MF model at all (here plain text) was read as an empty
/// mesh; it is now refused, naming the file and the part.
#[test]
fn threemf_without_a_model_element_is_refused() {
    use std::io::Write as _;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("3D/3dmodel.model", zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(b"this is not XML").unwrap();
    let bytes = z.finish().unwrap().into_inner();
    let e = parse_mesh(&bytes, Path::new("text.3mf")).unwrap_err();
    assert!(matches!(e, IoError::Malformed { .. }), "{e:?}");
    assert!(
        e.to_string().contains("text.3mf") && e.to_string().contains("<model>"),
        "{e}"
    );
}

#[test]
fn bad_inputs_give_typed_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let check = |name: &str, content: &[u8], ok: fn(&IoError) -> bool| {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        let e = read_mesh(&p).unwrap_err();
        assert!(ok(&e), "{name}: unexpected {e:?}");
        names_file(&e, &p);
    };
    check(
        "nan.stl",
        b"solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex NaN 0 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid\n",
        |e| matches!(e, IoError::InvalidMesh { source: MeshError::NonFinite { .. }, .. }),
    );
    check(
        "range.ply",
        b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n",
        |e| matches!(e, IoError::InvalidMesh { source: MeshError::IndexOutOfRange { index: 3, .. }, .. }),
    );
    let mut trunc = b"ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n".to_vec();
    trunc.extend_from_slice(&[0u8; 30]); // 36 bytes of vertices needed
    check("trunc.ply", &trunc, |e| {
        matches!(e, IoError::Truncated { .. })
    });
    let mut absurd = b"ply\nformat binary_little_endian 1.0\nelement vertex 4000000000\nproperty float x\nproperty float y\nproperty float z\nend_header\n".to_vec();
    absurd.extend_from_slice(&[0u8; 12]);
    check("absurd.ply", &absurd, |e| {
        matches!(e, IoError::Truncated { .. })
    });
    let mut list = b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uint int vertex_indices\nend_header\n".to_vec();
    list.extend_from_slice(&[0u8; 12]);
    list.extend_from_slice(&u32::MAX.to_le_bytes()); // 4 G indices promised, none present
    check("list.ply", &list, |e| {
        matches!(e, IoError::Truncated { .. })
    });
    check(
        "zero.obj",
        b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n",
        |e| matches!(e, IoError::Malformed { reason, .. } if reason.contains("index 0")),
    );
    check(
        "garbage.bin",
        &[0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 255, 254],
        |e| matches!(e, IoError::UnknownFormat { .. }),
    );
    check("words.txt", b"hello, this is not a mesh\n", |e| {
        matches!(e, IoError::UnknownFormat { .. })
    });
    check("empty.stl", b"", |e| {
        matches!(e, IoError::UnknownFormat { .. })
    });
    check("short.stl", &[1u8; 50], |e| {
        matches!(e, IoError::Truncated { .. })
    });
    check("bad.3mf", b"PK\x03\x04 not really a zip", |e| {
        matches!(e, IoError::Malformed { .. })
    });
    let missing = dir.path().join("missing.stl");
    let e = read_mesh(&missing).unwrap_err();
    assert!(matches!(e, IoError::NotFound { .. }), "{e:?}");
    names_file(&e, &missing);
}

#[test]
fn empty_binary_stl_reads_as_an_empty_mesh() {
    let mut b = vec![0u8; 84];
    b[..5].copy_from_slice(b"solid");
    let m = parse_mesh(&b, Path::new("empty.stl")).unwrap();
    assert!(m.is_empty());
    assert_eq!(
        report(&m).unwrap().problems(),
        vec!["no triangles".to_string()]
    );
}

#[test]
fn binary_stl_starting_with_solid_is_binary() {
    let m = sample();
    let mut b = write_mem(MeshFormat::Stl, &m, &MeshWriteOptions::default());
    b[..10].copy_from_slice(b"solid fake");
    same_mesh(&m, &parse_mesh(&b, Path::new("x.stl")).unwrap());
}

// ---------------------------------------------------------------- speed

#[test]
fn reads_and_welds_a_million_triangles_quickly() {
    // A 708 × 708 grid surface: 1 002 528 triangles, 6 soup corners per vertex.
    let n = 709u32;
    let positions: Vec<Vec3> = (0..n * n)
        .map(|i| {
            let (x, y) = ((i % n) as f32 * 0.37, (i / n) as f32 * 0.41);
            Vec3::new(x, y, (x * 0.1).sin() * (y * 0.07).cos())
        })
        .collect();
    let mut triangles = Vec::new();
    for j in 0..n - 1 {
        for i in 0..n - 1 {
            let v = j * n + i;
            triangles.push([v, v + 1, v + n + 1]);
            triangles.push([v, v + n + 1, v + n]);
        }
    }
    let m = Mesh::new(positions, triangles).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.stl");
    let t = Instant::now();
    write_mesh(&p, &m, &MeshWriteOptions::default()).unwrap();
    let write = t.elapsed();
    let t = Instant::now();
    let back = read_mesh(&p).unwrap();
    let read = t.elapsed();
    let t = Instant::now();
    let bytes = std::fs::read(&p).unwrap();
    let load = t.elapsed();
    let t = Instant::now();
    let again = parse_mesh(&bytes, &p).unwrap();
    let parse = t.elapsed();
    let t = Instant::now();
    let r = report(&again).unwrap();
    let rep = t.elapsed();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!(
        "{} triangles, {} threads: write {:.0} ms; read_mesh {:.0} ms = file {:.0} ms + \
         parse/weld/validate {:.0} ms; report {:.0} ms",
        m.triangles.len(),
        rayon::current_num_threads(),
        ms(write),
        ms(read),
        ms(load),
        ms(parse),
        ms(rep)
    );
    assert_eq!(again, back);
    assert!(r.manifold && r.oriented && r.boundary_edges > 0);
    same_soup(&m, &back);
    assert!(read.as_secs_f64() < 10.0);
}
