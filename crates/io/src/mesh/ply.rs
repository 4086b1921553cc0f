//! Stanford PLY. Reads `ascii`, `binary_little_endian` and `binary_big_endian`; writes
//! binary little-endian with `float x, y, z` (+ one optional `float` scalar per vertex) and
//! `list uchar int vertex_indices`, and a `comment osteon 0.1.0 UNITS=mm SPACE=LPS` line.
//!
//! Reading takes `x`, `y`, `z` of the `vertex` element (any numeric type, converted to
//! `f32`) and the `vertex_indices` (or `vertex_index`) list of the `face` element, with any
//! integer count and index types; polygons are fan-triangulated. Every other element and
//! property, lists included, is skipped. Binary counts are checked against the bytes left
//! before anything is allocated, so absurd headers fail fast with [`IoError::Truncated`].

use std::io::Write;
use std::path::Path;

use osteon_geom::Vec3;
use osteon_mesh::{Mesh, MeshError};
use rayon::prelude::*;

use super::{finish, header_line, invalid_input, truncated, MeshWriteOptions};
use crate::IoError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    F32,
    F64,
}

impl Ty {
    fn parse(s: &str) -> Option<Ty> {
        Some(match s {
            "char" | "int8" => Ty::I8,
            "uchar" | "uint8" => Ty::U8,
            "short" | "int16" => Ty::I16,
            "ushort" | "uint16" => Ty::U16,
            "int" | "int32" => Ty::I32,
            "uint" | "uint32" => Ty::U32,
            "float" | "float32" => Ty::F32,
            "double" | "float64" => Ty::F64,
            _ => return None,
        })
    }
    fn size(self) -> usize {
        match self {
            Ty::I8 | Ty::U8 => 1,
            Ty::I16 | Ty::U16 => 2,
            Ty::I32 | Ty::U32 | Ty::F32 => 4,
            Ty::F64 => 8,
        }
    }
}

#[derive(Debug)]
enum Prop {
    Scalar(String, Ty),
    List(String, Ty, Ty),
}

impl Prop {
    fn name(&self) -> &str {
        match self {
            Prop::Scalar(n, _) | Prop::List(n, _, _) => n,
        }
    }
    /// Fewest bytes the property takes in a binary item.
    fn min_size(&self) -> usize {
        match self {
            Prop::Scalar(_, t) | Prop::List(_, t, _) => t.size(),
        }
    }
}

#[derive(Debug)]
struct Element {
    name: String,
    count: u64,
    props: Vec<Prop>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Ascii,
    Le,
    Be,
}

/// Parses the header; returns the encoding, the elements and the offset of the data.
fn header(bytes: &[u8], path: &Path) -> Result<(Encoding, Vec<Element>, usize), IoError> {
    let mut pos = 0;
    let mut encoding = None;
    let mut elements: Vec<Element> = Vec::new();
    let mut first = true;
    loop {
        let Some(nl) = bytes[pos..].iter().position(|&b| b == b'\n') else {
            return Err(IoError::malformed(
                path,
                "PLY header has no end_header line",
            ));
        };
        let raw = &bytes[pos..pos + nl];
        pos += nl + 1;
        let line = std::str::from_utf8(raw)
            .map_err(|_| IoError::malformed(path, "PLY header is not text"))?
            .trim();
        if first {
            first = false;
            continue; // "ply", checked by the caller
        }
        let mut tok = line.split_ascii_whitespace();
        let bad = |what: &str| {
            let shown: String = line.chars().take(80).collect();
            IoError::malformed(path, format!("PLY header: {what}: '{shown}'"))
        };
        match tok.next() {
            None | Some("comment") | Some("obj_info") => {}
            Some("format") => {
                encoding = Some(match tok.next() {
                    Some("ascii") => Encoding::Ascii,
                    Some("binary_little_endian") => Encoding::Le,
                    Some("binary_big_endian") => Encoding::Be,
                    _ => return Err(bad("unknown format")),
                });
            }
            Some("element") => {
                let (Some(name), Some(count)) = (tok.next(), tok.next()) else {
                    return Err(bad("element needs a name and a count"));
                };
                let count = count.parse().map_err(|_| bad("bad element count"))?;
                elements.push(Element {
                    name: name.to_string(),
                    count,
                    props: Vec::new(),
                });
            }
            Some("property") => {
                let el = elements
                    .last_mut()
                    .ok_or_else(|| bad("property before any element"))?;
                let t = tok.next().ok_or_else(|| bad("property needs a type"))?;
                let prop = if t == "list" {
                    let (Some(ct), Some(it), Some(name)) = (tok.next(), tok.next(), tok.next())
                    else {
                        return Err(bad("list property needs two types and a name"));
                    };
                    let ct = Ty::parse(ct).ok_or_else(|| bad("unknown type"))?;
                    let it = Ty::parse(it).ok_or_else(|| bad("unknown type"))?;
                    if matches!(ct, Ty::F32 | Ty::F64) {
                        return Err(bad("list count must be an integer type"));
                    }
                    Prop::List(name.to_string(), ct, it)
                } else {
                    let ty = Ty::parse(t).ok_or_else(|| bad("unknown type"))?;
                    let name = tok.next().ok_or_else(|| bad("property needs a name"))?;
                    Prop::Scalar(name.to_string(), ty)
                };
                el.props.push(prop);
            }
            Some("end_header") => break,
            Some(_) => return Err(bad("unknown header line")),
        }
    }
    let encoding = encoding.ok_or_else(|| IoError::malformed(path, "PLY header has no format"))?;
    Ok((encoding, elements, pos))
}

/// What the reader extracts from the vertex and face elements.
struct Wanted {
    /// Index of x, y, z among the vertex element's properties.
    xyz: [usize; 3],
    vertex_el: Option<usize>,
    face_el: Option<usize>,
    /// Index of the index list among the face element's properties.
    face_prop: usize,
}

fn wanted(elements: &[Element], path: &Path) -> Result<Wanted, IoError> {
    let mut w = Wanted {
        xyz: [0; 3],
        vertex_el: None,
        face_el: None,
        face_prop: 0,
    };
    for (i, el) in elements.iter().enumerate() {
        if el.name == "vertex" && w.vertex_el.is_none() {
            for (k, axis) in ["x", "y", "z"].iter().enumerate() {
                w.xyz[k] = el
                    .props
                    .iter()
                    .position(|p| matches!(p, Prop::Scalar(n, _) if n == axis))
                    .ok_or_else(|| {
                        IoError::malformed(path, format!("PLY vertex element has no '{axis}'"))
                    })?;
            }
            w.vertex_el = Some(i);
        } else if el.name == "face" && w.face_el.is_none() {
            w.face_prop = el
                .props
                .iter()
                .position(|p| {
                    matches!(p, Prop::List(..))
                        && (p.name() == "vertex_indices" || p.name() == "vertex_index")
                })
                .ok_or_else(|| {
                    IoError::malformed(path, "PLY face element has no vertex_indices list")
                })?;
            w.face_el = Some(i);
        }
    }
    Ok(w)
}

/// Reads a PLY file (the caller saw `ply` on the first line).
pub(super) fn read(bytes: &[u8], path: &Path) -> Result<Mesh, IoError> {
    let (encoding, elements, start) = header(bytes, path)?;
    let want = wanted(&elements, path)?;
    let (positions, triangles) = if encoding == Encoding::Ascii {
        read_ascii(bytes, start, &elements, &want, path)?
    } else {
        read_binary(
            bytes,
            start,
            encoding == Encoding::Be,
            &elements,
            &want,
            path,
        )?
    };
    finish(path, positions, triangles)
}

/// Fan-triangulates `poly`, the vertex list of face number `face`, into `out`, checking
/// index signs. A face of fewer than 3 vertices is an error, as in OBJ and ASCII STL: dropping
/// it would silently open the surface.
fn push_fan(out: &mut Vec<[u32; 3]>, poly: &[i64], face: u64, path: &Path) -> Result<(), IoError> {
    if poly.len() < 3 {
        return Err(IoError::malformed(
            path,
            format!(
                "face {face} has {} vertex indices; a face needs at least 3",
                poly.len()
            ),
        ));
    }
    let conv = |i: i64| {
        if i < 0 {
            Err(IoError::malformed(
                path,
                format!("negative vertex index {i}"),
            ))
        } else {
            // Anything past u32 is out of range anyway; `finish` reports it.
            Ok(u32::try_from(i).unwrap_or(u32::MAX))
        }
    };
    for k in 1..poly.len().saturating_sub(1) {
        out.push([conv(poly[0])?, conv(poly[k])?, conv(poly[k + 1])?]);
    }
    Ok(())
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    be: bool,
}

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let s = self.data.get(self.pos..self.pos + N)?;
        self.pos += N;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        if self.be {
            a.reverse();
        }
        Some(a)
    }
    fn value(&mut self, ty: Ty) -> Option<f64> {
        Some(match ty {
            Ty::I8 => i8::from_le_bytes(self.take()?) as f64,
            Ty::U8 => u8::from_le_bytes(self.take()?) as f64,
            Ty::I16 => i16::from_le_bytes(self.take()?) as f64,
            Ty::U16 => u16::from_le_bytes(self.take()?) as f64,
            Ty::I32 => i32::from_le_bytes(self.take()?) as f64,
            Ty::U32 => u32::from_le_bytes(self.take()?) as f64,
            Ty::F32 => f32::from_le_bytes(self.take()?) as f64,
            Ty::F64 => f64::from_le_bytes(self.take()?),
        })
    }
}

fn value_at(rec: &[u8], ty: Ty, be: bool) -> f32 {
    let mut c = Cursor {
        data: rec,
        pos: 0,
        be,
    };
    match ty {
        Ty::F32 => c.take().map(f32::from_le_bytes).unwrap_or(f32::NAN),
        other => c.value(other).map(|v| v as f32).unwrap_or(f32::NAN),
    }
}

fn as_index(v: f64, path: &Path) -> Result<i64, IoError> {
    if v.fract() != 0.0 || !v.is_finite() {
        return Err(IoError::malformed(
            path,
            format!("vertex index {v} is not an integer"),
        ));
    }
    Ok(v as i64)
}

type Parsed = (Vec<Vec3>, Vec<[u32; 3]>);

fn read_binary(
    bytes: &[u8],
    start: usize,
    be: bool,
    elements: &[Element],
    want: &Wanted,
    path: &Path,
) -> Result<Parsed, IoError> {
    let len = bytes.len() as u64;
    let mut cur = Cursor {
        data: bytes,
        pos: start,
        be,
    };
    let mut positions = Vec::new();
    let mut triangles = Vec::new();
    let early = |pos: usize, need: u64| truncated(path, pos as u64 + need, len);
    for (ei, el) in elements.iter().enumerate() {
        if el.props.is_empty() {
            continue; // items of no bytes
        }
        let left = (bytes.len() - cur.pos) as u64;
        let min_item: u64 = el.props.iter().map(|p| p.min_size() as u64).sum();
        let need = el.count.saturating_mul(min_item);
        if need > left {
            return Err(early(cur.pos, need));
        }
        let fixed = el.props.iter().all(|p| matches!(p, Prop::Scalar(..)));
        if Some(ei) == want.vertex_el && fixed {
            // Fixed stride: parse in parallel. `need <= left` bounds the allocation.
            let stride = min_item as usize;
            let offs: Vec<(usize, Ty)> = want
                .xyz
                .iter()
                .map(|&k| {
                    let off = el.props[..k].iter().map(Prop::min_size).sum();
                    match &el.props[k] {
                        Prop::Scalar(_, t) => (off, *t),
                        Prop::List(..) => (off, Ty::F32), // excluded by `wanted`
                    }
                })
                .collect();
            let block = &bytes[cur.pos..cur.pos + need as usize];
            positions = block
                .par_chunks_exact(stride.max(1))
                .map(|rec| {
                    let f = |a: usize| value_at(&rec[offs[a].0..], offs[a].1, be);
                    Vec3::new(f(0), f(1), f(2))
                })
                .collect();
            cur.pos += need as usize;
        } else if fixed && Some(ei) != want.face_el {
            cur.pos += need as usize;
        } else {
            let is_v = Some(ei) == want.vertex_el;
            let is_f = Some(ei) == want.face_el;
            if is_v {
                positions.reserve(el.count as usize);
            }
            if is_f {
                triangles.reserve(el.count as usize);
            }
            let mut poly: Vec<i64> = Vec::new();
            for item in 0..el.count {
                let mut xyz = [0f32; 3];
                for (pi, p) in el.props.iter().enumerate() {
                    match p {
                        Prop::Scalar(_, t) => {
                            let v = cur
                                .value(*t)
                                .ok_or_else(|| early(cur.pos, t.size() as u64))?;
                            if is_v {
                                if let Some(a) = want.xyz.iter().position(|&k| k == pi) {
                                    xyz[a] = v as f32;
                                }
                            }
                        }
                        Prop::List(_, ct, it) => {
                            let n = cur
                                .value(*ct)
                                .ok_or_else(|| early(cur.pos, ct.size() as u64))?;
                            if n < 0.0 {
                                return Err(IoError::malformed(
                                    path,
                                    format!("negative list length {n} in element '{}'", el.name),
                                ));
                            }
                            let n = n as u64;
                            let bytes_needed = n * it.size() as u64;
                            if bytes_needed > (bytes.len() - cur.pos) as u64 {
                                return Err(early(cur.pos, bytes_needed));
                            }
                            if is_f && pi == want.face_prop {
                                poly.clear();
                                for _ in 0..n {
                                    let v = cur.value(*it).ok_or_else(|| early(cur.pos, 1))?;
                                    poly.push(as_index(v, path)?);
                                }
                                push_fan(&mut triangles, &poly, item, path)?;
                            } else {
                                cur.pos += bytes_needed as usize;
                            }
                        }
                    }
                }
                if is_v {
                    positions.push(Vec3::from(xyz));
                }
            }
        }
    }
    Ok((positions, triangles))
}

fn read_ascii(
    bytes: &[u8],
    start: usize,
    elements: &[Element],
    want: &Wanted,
    path: &Path,
) -> Result<Parsed, IoError> {
    let text = std::str::from_utf8(&bytes[start..])
        .map_err(|_| IoError::malformed(path, "ASCII PLY data is not text"))?;
    // One item per line (the PLY convention, as plyfile reads it): a line with too few or
    // too many values is an error, so a damaged line cannot shift every value after it.
    let first_line = bytes[..start].iter().filter(|&&b| b == b'\n').count() + 1;
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (first_line + i, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let mut positions = Vec::new();
    let mut triangles = Vec::new();
    let mut poly: Vec<i64> = Vec::new();
    let left = text.len() as u64;
    for (ei, el) in elements.iter().enumerate() {
        // Each value takes at least two bytes (a digit and a separator).
        let min_item = 2 * el.props.len().max(1) as u64;
        if el.count.saturating_mul(min_item) > left + 1 {
            return Err(IoError::malformed(
                path,
                format!(
                    "PLY declares {} '{}' items, more than the {} bytes of data can hold",
                    el.count, el.name, left
                ),
            ));
        }
        let is_v = Some(ei) == want.vertex_el;
        let is_f = Some(ei) == want.face_el;
        if is_v {
            positions.reserve(el.count as usize);
        }
        if is_f {
            triangles.reserve(el.count as usize);
        }
        for item in 0..el.count {
            if el.props.is_empty() {
                continue;
            }
            let (ln, line) = lines.next().ok_or_else(|| {
                IoError::malformed(
                    path,
                    format!(
                        "ASCII PLY ends early, in '{}' item {item} of {}",
                        el.name, el.count
                    ),
                )
            })?;
            let mut tok = line.split_ascii_whitespace();
            let mut next = || {
                tok.next().ok_or_else(|| {
                    IoError::malformed(
                        path,
                        format!("line {ln}: too few values for '{}' item {item}", el.name),
                    )
                })
            };
            let mut xyz = [0f32; 3];
            for (pi, p) in el.props.iter().enumerate() {
                match p {
                    Prop::Scalar(..) => {
                        let t = next()?;
                        if is_v {
                            if let Some(a) = want.xyz.iter().position(|&k| k == pi) {
                                xyz[a] = t.parse().map_err(|_| {
                                    IoError::malformed(
                                        path,
                                        format!("line {ln}: '{t}' is not a number"),
                                    )
                                })?;
                            }
                        }
                    }
                    Prop::List(..) => {
                        let t = next()?;
                        let n: u64 = t.parse().map_err(|_| {
                            IoError::malformed(path, format!("line {ln}: bad list length '{t}'"))
                        })?;
                        let keep = is_f && pi == want.face_prop;
                        poly.clear();
                        for _ in 0..n {
                            let t = next()?;
                            if keep {
                                let v: i64 = t.parse().map_err(|_| {
                                    IoError::malformed(
                                        path,
                                        format!("line {ln}: bad vertex index '{t}'"),
                                    )
                                })?;
                                poly.push(v);
                            }
                        }
                        if keep {
                            push_fan(&mut triangles, &poly, item, path)?;
                        }
                    }
                }
            }
            if let Some(extra) = tok.next() {
                let shown: String = extra.chars().take(20).collect();
                return Err(IoError::malformed(
                    path,
                    format!(
                        "line {ln}: unexpected '{shown}' after the values of '{}' item {item}",
                        el.name
                    ),
                ));
            }
            if is_v {
                positions.push(Vec3::from(xyz));
            }
        }
    }
    Ok((positions, triangles))
}

/// Checks a per-vertex scalar for [`write_ply_scalar`].
pub(super) fn check_scalar(mesh: &Mesh, name: &str, values: &[f32]) -> Result<(), MeshError> {
    if values.len() != mesh.positions.len() {
        return Err(MeshError::InvalidOption(format!(
            "scalar '{name}' has {} values for {} vertices",
            values.len(),
            mesh.positions.len()
        )));
    }
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if !plain || ["x", "y", "z"].contains(&name) {
        return Err(MeshError::InvalidOption(format!(
            "'{name}' is not usable as a PLY property name (letters, digits, _ - . ; not x, y, z)"
        )));
    }
    Ok(())
}

/// Writes `mesh` as binary little-endian PLY to `w`. Errors with
/// [`std::io::ErrorKind::InvalidInput`] past `i32::MAX` vertices (PLY `int` indices).
pub fn write_ply<W: Write + ?Sized>(
    mesh: &Mesh,
    w: &mut W,
    opts: &MeshWriteOptions,
) -> std::io::Result<()> {
    write_ply_impl(mesh, None, None, w, opts)
}

/// Writes `mesh` as binary little-endian PLY with one extra `float` vertex property `name`
/// holding `values` (one per vertex). Errors with [`std::io::ErrorKind::InvalidInput`] when
/// the values do not match the vertices or the name is not plain.
pub fn write_ply_scalar<W: Write + ?Sized>(
    mesh: &Mesh,
    name: &str,
    values: &[f32],
    w: &mut W,
    opts: &MeshWriteOptions,
) -> std::io::Result<()> {
    check_scalar(mesh, name, values).map_err(|e| invalid_input(e.to_string()))?;
    write_ply_impl(mesh, Some((name, values)), None, w, opts)
}

/// [`write_ply_scalar`] with a colour per vertex (`uchar red, green, blue`, before the
/// scalar) and one more header comment (e.g. the colour legend): a distance map that
/// viewers show in colour and tools read as numbers.
pub fn write_ply_scalar_colours<W: Write + ?Sized>(
    mesh: &Mesh,
    name: &str,
    values: &[f32],
    colours: &[[u8; 3]],
    comment: &str,
    w: &mut W,
    opts: &MeshWriteOptions,
) -> std::io::Result<()> {
    check_scalar(mesh, name, values).map_err(|e| invalid_input(e.to_string()))?;
    if colours.len() != mesh.positions.len() || comment.contains('\n') {
        return Err(invalid_input(
            "one colour per vertex and a one-line comment are needed",
        ));
    }
    write_ply_impl(
        mesh,
        Some((name, values)),
        Some((colours, comment)),
        w,
        opts,
    )
}

fn write_ply_impl<W: Write + ?Sized>(
    mesh: &Mesh,
    scalar: Option<(&str, &[f32])>,
    colours: Option<(&[[u8; 3]], &str)>,
    w: &mut W,
    opts: &MeshWriteOptions,
) -> std::io::Result<()> {
    if mesh.positions.len() > i32::MAX as usize {
        return Err(invalid_input(
            "more than i32::MAX vertices do not fit PLY int indices",
        ));
    }
    let mut h = String::new();
    h.push_str("ply\nformat binary_little_endian 1.0\n");
    h.push_str(&format!("comment {}\n", header_line(opts)));
    if let Some((_, comment)) = colours {
        h.push_str(&format!("comment {comment}\n"));
    }
    h.push_str(&format!("element vertex {}\n", mesh.positions.len()));
    h.push_str("property float x\nproperty float y\nproperty float z\n");
    if colours.is_some() {
        h.push_str("property uchar red\nproperty uchar green\nproperty uchar blue\n");
    }
    if let Some((name, _)) = scalar {
        h.push_str(&format!("property float {name}\n"));
    }
    h.push_str(&format!("element face {}\n", mesh.triangles.len()));
    h.push_str("property list uchar int vertex_indices\nend_header\n");
    w.write_all(h.as_bytes())?;
    const CHUNK: usize = 1 << 16;
    let positions = &mesh.positions;
    for base in (0..positions.len()).step_by(CHUNK * 8) {
        let end = (base + CHUNK * 8).min(positions.len());
        let parts: Vec<Vec<u8>> = (base..end)
            .step_by(CHUNK)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|s| {
                let e = (s + CHUNK).min(end);
                let mut buf = Vec::with_capacity(19 * (e - s));
                for i in s..e {
                    for v in positions[i].to_array() {
                        buf.extend_from_slice(&v.to_le_bytes());
                    }
                    if let Some((c, _)) = colours {
                        buf.extend_from_slice(&c[i]);
                    }
                    if let Some((_, values)) = scalar {
                        buf.extend_from_slice(&values[i].to_le_bytes());
                    }
                }
                buf
            })
            .collect();
        for p in parts {
            w.write_all(&p)?;
        }
    }
    for chunk in mesh.triangles.chunks(CHUNK * 8) {
        let parts: Vec<Vec<u8>> = chunk
            .par_chunks(CHUNK)
            .map(|tris| {
                let mut buf = Vec::with_capacity(13 * tris.len());
                for t in tris {
                    buf.push(3);
                    for &i in t {
                        buf.extend_from_slice(&(i as i32).to_le_bytes());
                    }
                }
                buf
            })
            .collect();
        for p in parts {
            w.write_all(&p)?;
        }
    }
    Ok(())
}
