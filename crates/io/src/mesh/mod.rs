//! Mesh file formats: binary and ASCII STL, PLY, OBJ and 3MF.
//!
//! * In: a file (or bytes) in any of these formats, detected by content. Out: a validated
//!   [`Mesh`] with `f32` positions in the file's units and `u32` triangles. STL stores three
//!   vertices per triangle: they are merged when their coordinates are bit-identical
//!   (−0.0 = 0.0), numbered in order of first occurrence. PLY, OBJ and 3MF keep their own
//!   vertex lists; polygons are fan-triangulated.
//! * Out: [`write_mesh`] writes millimetres, and records the units and the patient frame
//!   ([`MeshWriteOptions::frame`]) where the format has room for it: the 80-byte STL header
//!   (`osteon 0.1.0 UNITS=mm SPACE=LPS`, as 3D Slicer does), a PLY or OBJ comment, the 3MF
//!   `unit="millimeter"` attribute and a description. Every file is written through
//!   [`crate::write_atomic`]; the bytes depend only on the mesh and the options.
//!
//! The `write_*` functions write to any [`std::io::Write`], so callers can write to memory.

use std::path::Path;

use osteon_geom::{Frame, Vec3};
use osteon_mesh::{Mesh, MeshError};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{write_atomic, IoError};

mod obj;
mod ply;
mod stl;
mod threemf;

pub use obj::write_obj;
pub use ply::{write_ply, write_ply_scalar, write_ply_scalar_colours};
pub use stl::{write_stl, write_stl_ascii};
pub use threemf::write_3mf;

/// A mesh file format.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeshFormat {
    /// Binary STL (`.stl`).
    Stl,
    /// ASCII STL (written only when asked for; `.stl` means binary).
    StlAscii,
    /// Stanford PLY, binary little-endian when written (`.ply`).
    Ply,
    /// Wavefront OBJ (`.obj`).
    Obj,
    /// 3D Manufacturing Format (`.3mf`).
    ThreeMf,
}

impl MeshFormat {
    /// The format named by `path`'s extension (case-insensitive): `.stl` (binary), `.ply`,
    /// `.obj`, `.3mf`; `None` for anything else.
    pub fn from_path(path: &Path) -> Option<MeshFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "stl" => Some(MeshFormat::Stl),
            "ply" => Some(MeshFormat::Ply),
            "obj" => Some(MeshFormat::Obj),
            "3mf" => Some(MeshFormat::ThreeMf),
            _ => None,
        }
    }
}

/// How meshes are written.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MeshWriteOptions {
    /// The patient frame the coordinates are in, recorded in the file's header
    /// (`SPACE=LPS`, `SPACE=RAS`, or `SPACE=NONE` for [`Frame::None`]). Coordinates are
    /// written as they are: no conversion happens here.
    pub frame: Frame,
    /// The format; `None` picks it from the output path's extension.
    pub format: Option<MeshFormat>,
}

impl MeshWriteOptions {
    /// Sets [`MeshWriteOptions::frame`].
    pub fn with_frame(mut self, frame: Frame) -> Self {
        self.frame = frame;
        self
    }
    /// Sets [`MeshWriteOptions::format`].
    pub fn with_format(mut self, format: MeshFormat) -> Self {
        self.format = Some(format);
        self
    }
}

/// The provenance line written into headers: `osteon <version> UNITS=mm SPACE=<frame>`.
pub(crate) fn header_line(opts: &MeshWriteOptions) -> String {
    format!(
        "osteon {} UNITS=mm SPACE={}",
        env!("CARGO_PKG_VERSION"),
        opts.frame.name()
    )
}

fn invalid_input(reason: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, reason.into())
}

/// Writes `mesh` to `path` in the format of `opts` (or of the extension), atomically.
///
/// Errors: [`IoError::InvalidMesh`] for a mesh with bad indices or non-finite coordinates,
/// [`IoError::UnknownFormat`] when no format is given and the extension names none,
/// [`IoError::Io`]/[`IoError::NotFound`] from the file system. On error no file is left.
pub fn write_mesh(path: &Path, mesh: &Mesh, opts: &MeshWriteOptions) -> Result<(), IoError> {
    let format = opts
        .format
        .or_else(|| MeshFormat::from_path(path))
        .ok_or_else(|| IoError::UnknownFormat {
            path: path.to_path_buf(),
            reason: "cannot tell the mesh format from the extension (.stl, .ply, .obj, .3mf)"
                .into(),
        })?;
    check_mesh(path, mesh)?;
    write_atomic(path, |w| {
        let r = match format {
            MeshFormat::Stl => write_stl(mesh, w, opts),
            MeshFormat::StlAscii => write_stl_ascii(mesh, w, opts),
            MeshFormat::Ply => write_ply(mesh, w, opts),
            MeshFormat::Obj => write_obj(mesh, w, opts),
            MeshFormat::ThreeMf => write_3mf(mesh, w, opts),
        };
        r.map_err(|e| write_error(path, e))
    })
}

/// Writes `mesh` as binary PLY with one `float` vertex property `name` holding `values`
/// (one per vertex, e.g. a distance map in mm), atomically.
///
/// Errors: as [`write_mesh`]; [`IoError::InvalidMesh`] with [`MeshError::InvalidOption`]
/// when `values` does not have one value per vertex or `name` is not a plain PLY name.
pub fn write_ply_with_scalar(
    path: &Path,
    mesh: &Mesh,
    name: &str,
    values: &[f32],
    opts: &MeshWriteOptions,
) -> Result<(), IoError> {
    check_mesh(path, mesh)?;
    ply::check_scalar(mesh, name, values).map_err(|e| IoError::InvalidMesh {
        path: path.to_path_buf(),
        source: e,
    })?;
    write_atomic(path, |w| {
        write_ply_scalar(mesh, name, values, w, opts).map_err(|e| write_error(path, e))
    })
}

/// [`write_ply_with_scalar`] with a colour per vertex and a header comment (see
/// [`write_ply_scalar_colours`]), atomically: a colour-mapped distance map.
pub fn write_ply_colour_map(
    path: &Path,
    mesh: &Mesh,
    name: &str,
    values: &[f32],
    colours: &[[u8; 3]],
    comment: &str,
    opts: &MeshWriteOptions,
) -> Result<(), IoError> {
    check_mesh(path, mesh)?;
    ply::check_scalar(mesh, name, values).map_err(|e| IoError::InvalidMesh {
        path: path.to_path_buf(),
        source: e,
    })?;
    write_atomic(path, |w| {
        write_ply_scalar_colours(mesh, name, values, colours, comment, w, opts)
            .map_err(|e| write_error(path, e))
    })
}

fn check_mesh(path: &Path, mesh: &Mesh) -> Result<(), IoError> {
    mesh.validate().map_err(|e| IoError::InvalidMesh {
        path: path.to_path_buf(),
        source: e,
    })
}

fn write_error(path: &Path, e: std::io::Error) -> IoError {
    if e.kind() == std::io::ErrorKind::InvalidInput {
        IoError::InvalidMesh {
            path: path.to_path_buf(),
            source: MeshError::InvalidOption(e.to_string()),
        }
    } else {
        IoError::io(path, e)
    }
}

/// Reads a mesh from `path`, detecting the format by content (see [`parse_mesh`]).
///
/// Errors: [`IoError::NotFound`], [`IoError::Io`], and those of [`parse_mesh`].
pub fn read_mesh(path: &Path) -> Result<Mesh, IoError> {
    let bytes = std::fs::read(path).map_err(|e| IoError::io(path, e))?;
    parse_mesh(&bytes, path)
}

/// Parses the bytes of a mesh file; `path` names it in errors and its extension is a last
/// hint when the content matches no format.
///
/// Detection: a zip signature is 3MF; `ply` on the first line is PLY; a file of exactly
/// `84 + 50·n` bytes, `n` being the count at byte 80, is binary STL (binary files may also
/// start with `solid`); text starting with `solid` is ASCII STL; text with OBJ statements is
/// OBJ; otherwise a `.stl` path is taken for a damaged binary STL.
///
/// Errors: [`IoError::UnknownFormat`] (also for an empty file), [`IoError::Truncated`],
/// [`IoError::Malformed`], [`IoError::TooLarge`], [`IoError::Unsupported`], and
/// [`IoError::InvalidMesh`] for non-finite coordinates or indices out of range.
pub fn parse_mesh(bytes: &[u8], path: &Path) -> Result<Mesh, IoError> {
    if bytes.is_empty() {
        return Err(IoError::UnknownFormat {
            path: path.to_path_buf(),
            reason: "the file is empty".into(),
        });
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return threemf::read(bytes, path);
    }
    if bytes.starts_with(b"ply\n") || bytes.starts_with(b"ply\r\n") {
        return ply::read(bytes, path);
    }
    if stl::is_binary(bytes) {
        return stl::read_binary(bytes, path);
    }
    let head = text_head(bytes);
    if let Some(head) = head {
        let t = head.trim_start();
        if t.len() >= 5 && t[..5].eq_ignore_ascii_case("solid") && stl::looks_ascii(head) {
            return stl::read_ascii(bytes, path);
        }
        if obj::looks_like_obj(head) {
            return obj::read(bytes, path);
        }
    }
    match MeshFormat::from_path(path) {
        Some(MeshFormat::Stl) => stl::read_binary(bytes, path),
        _ => Err(IoError::UnknownFormat {
            path: path.to_path_buf(),
            reason: "not STL, PLY, OBJ or 3MF".into(),
        }),
    }
}

/// The first few kB as text, when they are text (UTF-8 without NUL).
fn text_head(bytes: &[u8]) -> Option<&str> {
    let n = bytes.len().min(4096);
    let head = &bytes[..n];
    if head.contains(&0) {
        return None;
    }
    match std::str::from_utf8(head) {
        Ok(s) => Some(s),
        // A multi-byte character cut at the end of the window is still text.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok(),
        Err(_) => None,
    }
}

/// A mesh from positions and triangles read from `path`, validated.
fn finish(path: &Path, positions: Vec<Vec3>, triangles: Vec<[u32; 3]>) -> Result<Mesh, IoError> {
    Mesh::new(positions, triangles).map_err(|source| IoError::InvalidMesh {
        path: path.to_path_buf(),
        source,
    })
}

/// Merges the corners of a triangle soup (three positions per triangle) whose coordinates
/// are bit-identical, −0.0 counting as 0.0. Vertices are numbered in order of first
/// occurrence. A parallel sort of unique `(x, y, z, corner)` keys: deterministic and
/// O(n log n) with no hashing. The caller has checked that the corner count fits in `u32`
/// and that every coordinate is finite.
pub(crate) fn weld_soup(soup: &[Vec3]) -> Mesh {
    let bits = |v: f32| if v == 0.0 { 0u32 } else { v.to_bits() };
    let mut keys: Vec<u128> = soup
        .par_iter()
        .enumerate()
        .map(|(c, p)| {
            ((bits(p.x) as u128) << 96)
                | ((bits(p.y) as u128) << 64)
                | ((bits(p.z) as u128) << 32)
                | c as u128
        })
        .collect();
    keys.par_sort_unstable();
    // rep[c] = the first corner with c's coordinates (the lowest corner of its group).
    let mut rep = vec![0u32; soup.len()];
    let mut group_key = u128::MAX;
    let mut first = 0u32;
    for &k in &keys {
        let c = k as u32;
        if k >> 32 != group_key {
            group_key = k >> 32;
            first = c;
        }
        rep[c as usize] = first;
    }
    drop(keys);
    let mut id = vec![0u32; soup.len()];
    let mut positions = Vec::new();
    for c in 0..soup.len() {
        let r = rep[c] as usize;
        if r == c {
            id[c] = positions.len() as u32;
            positions.push(soup[c]);
        } else {
            id[c] = id[r];
        }
    }
    let triangles = id.chunks_exact(3).map(|t| [t[0], t[1], t[2]]).collect();
    Mesh {
        positions,
        triangles,
    }
}

/// The first non-finite position of a soup, as a [`MeshError::NonFinite`].
fn non_finite(soup: &[Vec3]) -> Option<MeshError> {
    // Sequential: a memory-bound scan, measured faster than rayon's `find_first` here.
    soup.iter()
        .position(|p| !p.is_finite())
        .map(|vertex| MeshError::NonFinite {
            vertex,
            position: soup[vertex].to_array(),
        })
}

/// Shared error constructors for the readers.
pub(crate) fn truncated(path: &Path, expected: u64, found: u64) -> IoError {
    IoError::Truncated {
        path: path.to_path_buf(),
        expected,
        found,
    }
}

/// The frame a mesh file says its coordinates are in: the `SPACE=LPS|RAS|NONE` token that
/// osteon (and 3D Slicer, in STL headers) writes into the first bytes of STL, PLY and OBJ
/// files. `None` when the file names no frame (or cannot be read).
pub fn frame_hint(path: &Path) -> Option<Frame> {
    use std::io::Read;
    let mut head = vec![0u8; 4096];
    let mut f = std::fs::File::open(path).ok()?;
    let n = f.read(&mut head).ok()?;
    let text = String::from_utf8_lossy(&head[..n]);
    let at = text.find("SPACE=")?;
    let token: String = text[at + 6..]
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    token.parse().ok()
}
