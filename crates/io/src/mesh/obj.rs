//! Wavefront OBJ: `v x y z` and `f` lines. Writes one `v` per vertex and one `f a b c` per
//! triangle (1-based), after a `# osteon 0.1.0 UNITS=mm SPACE=LPS` comment. Reads `v` (extra
//! components such as `w` or colours ignored) and `f` with `v`, `v/vt`, `v//vn` and
//! `v/vt/vn` references, negative (relative) indices, and polygons fan-triangulated; every
//! other statement (`vt`, `vn`, `o`, `g`, `usemtl`, `l`, …) is ignored.

use std::io::Write;
use std::path::Path;

use osteon_geom::Vec3;
use osteon_mesh::Mesh;

use super::{finish, header_line, MeshWriteOptions};
use crate::IoError;

/// Whether a text head looks like OBJ: its first statement is an OBJ keyword.
pub(super) fn looks_like_obj(head: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "v", "vt", "vn", "vp", "f", "o", "g", "s", "l", "p", "mtllib", "usemtl",
    ];
    head.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(|l| l.split_ascii_whitespace().next())
        .is_some_and(|w| KEYWORDS.contains(&w))
}

/// Reads an OBJ file.
pub(super) fn read(bytes: &[u8], path: &Path) -> Result<Mesh, IoError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| IoError::malformed(path, format!("OBJ is not UTF-8 text: {e}")))?;
    let mut positions: Vec<Vec3> = Vec::new();
    let mut triangles: Vec<[u32; 3]> = Vec::new();
    let mut poly: Vec<u32> = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let ln = ln + 1;
        let bad = |what: String| IoError::malformed(path, format!("line {ln}: {what}"));
        let mut tok = line.split_ascii_whitespace();
        match tok.next() {
            Some("v") => {
                let mut c = [0f32; 3];
                for v in &mut c {
                    let t = tok
                        .next()
                        .ok_or_else(|| bad("'v' needs three coordinates".into()))?;
                    *v = t
                        .parse()
                        .map_err(|_| bad(format!("'{t}' is not a number")))?;
                }
                positions.push(Vec3::from(c));
            }
            Some("f") => {
                poly.clear();
                for t in tok {
                    let first = t.split('/').next().unwrap_or("");
                    let i: i64 = first
                        .parse()
                        .map_err(|_| bad(format!("'{t}' is not a vertex reference")))?;
                    let n = positions.len() as i64;
                    let abs = match i {
                        0 => return Err(bad("vertex index 0 (OBJ indices start at 1)".into())),
                        i if i > 0 => i - 1,
                        i if -i <= n => n + i,
                        i => {
                            return Err(bad(format!(
                                "relative index {i} reaches before the first vertex"
                            )))
                        }
                    };
                    // Past u32: out of range anyway, and `finish` says so.
                    poly.push(u32::try_from(abs).unwrap_or(u32::MAX));
                }
                if poly.len() < 3 {
                    return Err(bad(format!(
                        "a face needs 3 vertices, found {}",
                        poly.len()
                    )));
                }
                for k in 1..poly.len() - 1 {
                    triangles.push([poly[0], poly[k], poly[k + 1]]);
                }
            }
            _ => {}
        }
    }
    finish(path, positions, triangles)
}

/// Writes `mesh` as OBJ to `w`. Coordinates use Rust's shortest round-trip formatting, so
/// reading the file back gives the same `f32`s.
pub fn write_obj<W: Write + ?Sized>(
    mesh: &Mesh,
    w: &mut W,
    opts: &MeshWriteOptions,
) -> std::io::Result<()> {
    writeln!(w, "# {}", header_line(opts))?;
    writeln!(
        w,
        "# {} vertices, {} triangles",
        mesh.positions.len(),
        mesh.triangles.len()
    )?;
    for p in &mesh.positions {
        writeln!(w, "v {} {} {}", p.x, p.y, p.z)?;
    }
    for t in &mesh.triangles {
        writeln!(
            w,
            "f {} {} {}",
            t[0] as u64 + 1,
            t[1] as u64 + 1,
            t[2] as u64 + 1
        )?;
    }
    Ok(())
}
