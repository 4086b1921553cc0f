//! STL, binary and ASCII. STL has no units and no vertex sharing: osteon writes millimetres
//! and says so in the 80-byte header (`osteon 0.1.0 UNITS=mm SPACE=LPS`); reading merges
//! bit-identical corners (see [`super::weld_soup`]).
//!
//! Binary layout: 80-byte header, `u32` triangle count, then per triangle 12 `f32` (normal,
//! three corners) and a `u16` attribute, little-endian: `84 + 50·n` bytes exactly.

use std::io::Write;
use std::path::Path;

use osteon_geom::{DVec3, Vec3};
use osteon_mesh::Mesh;
use rayon::prelude::*;

use super::{header_line, invalid_input, non_finite, truncated, weld_soup, MeshWriteOptions};
use crate::IoError;

/// Whether `bytes` has exactly the length its binary STL triangle count implies.
pub(super) fn is_binary(bytes: &[u8]) -> bool {
    if bytes.len() < 84 {
        return false;
    }
    let n = u32::from_le_bytes([bytes[80], bytes[81], bytes[82], bytes[83]]) as u64;
    84 + 50 * n == bytes.len() as u64
}

/// Whether a text head that starts with `solid` looks like ASCII STL (a facet, or the end of
/// an empty solid), rather than a binary header that happens to start with `solid`.
pub(super) fn looks_ascii(head: &str) -> bool {
    let lower = head.to_ascii_lowercase();
    lower.contains("facet") || lower.contains("endsolid")
}

/// Reads a binary STL. The declared count is checked against the length before anything is
/// allocated.
pub(super) fn read_binary(bytes: &[u8], path: &Path) -> Result<Mesh, IoError> {
    if bytes.len() < 84 {
        return Err(truncated(path, 84, bytes.len() as u64));
    }
    let n = u32::from_le_bytes([bytes[80], bytes[81], bytes[82], bytes[83]]) as u64;
    let expected = 84 + 50 * n;
    let found = bytes.len() as u64;
    if found < expected {
        return Err(truncated(path, expected, found));
    }
    if found > expected {
        return Err(IoError::malformed(
            path,
            format!(
                "binary STL declares {n} triangles ({expected} bytes) but the file has {found} bytes"
            ),
        ));
    }
    if 3 * n > u32::MAX as u64 {
        return Err(IoError::TooLarge {
            path: path.to_path_buf(),
            reason: format!("{n} triangles exceed the u32 vertex index limit"),
        });
    }
    let data = &bytes[84..];
    let mut soup = vec![Vec3::ZERO; 3 * n as usize];
    soup.par_chunks_mut(3)
        .zip(data.par_chunks_exact(50))
        .for_each(|(corners, rec)| {
            for (k, p) in corners.iter_mut().enumerate() {
                let f = |i: usize| {
                    let o = 12 + 12 * k + 4 * i;
                    f32::from_le_bytes([rec[o], rec[o + 1], rec[o + 2], rec[o + 3]])
                };
                *p = Vec3::new(f(0), f(1), f(2));
            }
        });
    from_soup(path, &soup)
}

fn from_soup(path: &Path, soup: &[Vec3]) -> Result<Mesh, IoError> {
    if let Some(source) = non_finite(soup) {
        return Err(IoError::InvalidMesh {
            path: path.to_path_buf(),
            source,
        });
    }
    Ok(weld_soup(soup))
}

/// Reads an ASCII STL: `solid … facet normal … outer loop vertex x y z … endloop endfacet …
/// endsolid`, keywords in any case, separated by any whitespace (line breaks anywhere except
/// inside a `solid`/`endsolid` name line), several solids in a row. A loop of more than
/// three vertices is fan-triangulated; normals are ignored (the winding decides).
pub(super) fn read_ascii(bytes: &[u8], path: &Path) -> Result<Mesh, IoError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| IoError::malformed(path, format!("ASCII STL is not UTF-8 text: {e}")))?;
    let mut tokens = text
        .lines()
        .enumerate()
        .flat_map(|(i, l)| l.split_ascii_whitespace().map(move |t| (i + 1, t)))
        .peekable();
    let bad = |line: usize, what: String| IoError::malformed(path, format!("line {line}: {what}"));
    let mut soup: Vec<Vec3> = Vec::new();
    let mut lp: Vec<Vec3> = Vec::new();
    let mut in_loop = false;
    while let Some((ln, word)) = tokens.next() {
        let number = |tokens: &mut dyn Iterator<Item = (usize, &str)>, what: &str| {
            let (l, t) = tokens
                .next()
                .ok_or_else(|| bad(ln, format!("file ends before {what}")))?;
            t.parse::<f32>()
                .map_err(|_| bad(l, format!("'{t}' is not a number ({what})")))
        };
        match word.to_ascii_lowercase().as_str() {
            "vertex" => {
                if !in_loop {
                    return Err(bad(ln, "vertex outside 'outer loop'".into()));
                }
                let c = [
                    number(&mut tokens, "x")?,
                    number(&mut tokens, "y")?,
                    number(&mut tokens, "z")?,
                ];
                lp.push(Vec3::from(c));
            }
            "facet" => {
                if tokens
                    .peek()
                    .is_some_and(|(_, t)| t.eq_ignore_ascii_case("normal"))
                {
                    tokens.next();
                    for _ in 0..3 {
                        number(&mut tokens, "a normal component")?;
                    }
                }
            }
            "outer" => {
                match tokens.next() {
                    Some((_, t)) if t.eq_ignore_ascii_case("loop") => {}
                    _ => return Err(bad(ln, "'outer' without 'loop'".into())),
                }
                in_loop = true;
                lp.clear();
            }
            "endloop" => {
                if !in_loop || lp.len() < 3 {
                    return Err(bad(
                        ln,
                        format!("a facet loop needs 3 vertices, found {}", lp.len()),
                    ));
                }
                for i in 1..lp.len() - 1 {
                    soup.extend_from_slice(&[lp[0], lp[i], lp[i + 1]]);
                }
                in_loop = false;
            }
            "solid" | "endsolid" => {
                // The rest of the line is a name.
                while tokens.peek().is_some_and(|&(l, _)| l == ln) {
                    tokens.next();
                }
            }
            "endfacet" => {}
            other => {
                let shown: String = other.chars().take(20).collect();
                return Err(bad(ln, format!("unexpected '{shown}' in ASCII STL")));
            }
        }
    }
    if in_loop {
        return Err(IoError::malformed(
            path,
            "ASCII STL ends inside a facet loop",
        ));
    }
    if soup.len() > u32::MAX as usize {
        return Err(IoError::TooLarge {
            path: path.to_path_buf(),
            reason: "more corners than u32 indices address".into(),
        });
    }
    from_soup(path, &soup)
}

/// Unit normal of a triangle computed in f64, zero when the triangle is degenerate.
fn facet_normal(p: [Vec3; 3]) -> [f32; 3] {
    let a = p[0].as_dvec3();
    let n = (p[1].as_dvec3() - a).cross(p[2].as_dvec3() - a);
    let l = n.length();
    if l > 0.0 && l.is_finite() {
        (n / l).as_vec3().to_array()
    } else {
        DVec3::ZERO.as_vec3().to_array()
    }
}

/// Writes `mesh` as binary STL to `w`. Errors with [`std::io::ErrorKind::InvalidInput`]
/// when the mesh has more than `u32::MAX` triangles; panics on indices out of range
/// (validate first: [`super::write_mesh`] does).
pub fn write_stl<W: Write + ?Sized>(
    mesh: &Mesh,
    w: &mut W,
    opts: &MeshWriteOptions,
) -> std::io::Result<()> {
    let n = u32::try_from(mesh.triangles.len())
        .map_err(|_| invalid_input("more than u32::MAX triangles do not fit in binary STL"))?;
    let mut header = [b' '; 80];
    let line = header_line(opts);
    let len = line.len().min(80);
    header[..len].copy_from_slice(&line.as_bytes()[..len]);
    w.write_all(&header)?;
    w.write_all(&n.to_le_bytes())?;
    // Encode in parallel chunks, write in order.
    const CHUNK: usize = 1 << 15;
    for chunk in mesh.triangles.chunks(CHUNK * 8) {
        let parts: Vec<Vec<u8>> = chunk
            .par_chunks(CHUNK)
            .map(|tris| {
                let mut buf = Vec::with_capacity(50 * tris.len());
                for t in tris {
                    let p = t.map(|i| mesh.positions[i as usize]);
                    for v in facet_normal(p) {
                        buf.extend_from_slice(&v.to_le_bytes());
                    }
                    for c in p {
                        for v in c.to_array() {
                            buf.extend_from_slice(&v.to_le_bytes());
                        }
                    }
                    buf.extend_from_slice(&[0, 0]);
                }
                buf
            })
            .collect();
        for part in parts {
            w.write_all(&part)?;
        }
    }
    Ok(())
}

/// Writes `mesh` as ASCII STL to `w` (`solid osteon_…`, coordinates with Rust's shortest
/// round-trip formatting, so reading gives back the same `f32`s). The header line goes on
/// the `solid` line.
pub fn write_stl_ascii<W: Write + ?Sized>(
    mesh: &Mesh,
    w: &mut W,
    opts: &MeshWriteOptions,
) -> std::io::Result<()> {
    let name = header_line(opts);
    writeln!(w, "solid {name}")?;
    for t in &mesh.triangles {
        let p = t.map(|i| mesh.positions[i as usize]);
        let n = facet_normal(p);
        writeln!(w, "  facet normal {} {} {}", n[0], n[1], n[2])?;
        writeln!(w, "    outer loop")?;
        for c in p {
            writeln!(w, "      vertex {} {} {}", c.x, c.y, c.z)?;
        }
        writeln!(w, "    endloop")?;
        writeln!(w, "  endfacet")?;
    }
    writeln!(w, "endsolid {name}")
}
