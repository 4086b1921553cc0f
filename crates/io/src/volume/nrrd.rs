//! NRRD reader (`.nrrd` with attached data, `.nhdr` with a detached data file).
//!
//! In: a `NRRD000x` header of `field: value` lines (`key:=value` pairs and `#` comments are
//! skipped) for a 3-D scalar volume. Fields read: `type` (every spelling of the NRRD spec:
//! `uchar`, `unsigned char`, `uint8`, `uint8_t`, `signed char`, `int8`, `short`, `short int`,
//! `signed short`, `int16`, `ushort`, `unsigned short`, `uint16`, `int`, `signed int`,
//! `int32`, `uint`, `unsigned int`, `uint32`, `float`, `double`, …), `dimension` (3),
//! `sizes`, `encoding` (`raw`, `gzip`/`gz`, `ascii`/`text`/`txt`), `endian`, `space`
//! (`left-posterior-superior`/`LPS`, `right-anterior-superior`/`RAS`, `scanner-xyz` taken as
//! LPS, or absent), `space directions` (one vector per axis, `none` refused for the three
//! spatial axes), `space origin`, `spacings` (when there is no space), `byte skip` (−1: the
//! data are the last bytes of the file, raw encoding only), `line skip`, and `data file` /
//! `datafile` (one file, `LIST [subdim]` with the names on the following lines, or
//! `pattern min max step [subdim]`). Attached data follow the blank line that ends the
//! header.
//!
//! Out: a [`Scan`] in LPS millimetres (RAS origin and directions have x and y negated);
//! without a `space` the frame is [`Frame::None`] (specimen coordinates). Spacing is the
//! norm of each direction vector, direction rows the unit vectors. A detached data file
//! outside the header's folder is refused unless `ReadOptions::allow_outside_folder`. Sizes
//! are checked against `ReadOptions::max_voxels` and the data length before allocation.
//! The value kind is inferred ([`super::raw::infer_kind`]).

use std::path::{Path, PathBuf};

use osteon_geom::Frame;

use super::raw::{self, Compression, ElemType, Endian, Rescale, Source};
use crate::{IoError, ReadOptions, Scan, ScanFormat};

/// Headers are small; a header not finished within this many bytes is refused.
const MAX_HEADER: u64 = 1 << 20;

/// Reads a NRRD file (`.nrrd`, or `.nhdr` with detached data).
pub fn read(path: &Path, opts: &ReadOptions) -> Result<Scan, IoError> {
    let head = raw::read_head(path, MAX_HEADER)?;
    let h = parse(path, &head)?;
    let bad = |what: String| IoError::malformed(path, what);
    let unsupported = |what: String| IoError::Unsupported {
        path: path.to_path_buf(),
        what,
    };

    let dim = h.req("dimension")?;
    if dim.trim() != "3" {
        return Err(unsupported(format!(
            "dimension {dim} (only 3-D volumes are read)"
        )));
    }
    let sizes = raw::parse_numbers(h.req("sizes")?)
        .filter(|v| v.len() == 3)
        .ok_or_else(|| bad("sizes: expected 3 integers".into()))?;
    let mut dims = [0usize; 3];
    for (o, &v) in dims.iter_mut().zip(&sizes) {
        if !(v.fract() == 0.0 && v >= 1.0 && v <= u32::MAX as f64) {
            return Err(bad(format!("sizes {sizes:?} must be positive integers")));
        }
        *o = v as usize;
    }
    let elem = elem_type(h.req("type")?)
        .ok_or_else(|| unsupported(format!("type {:?}", h.get("type").unwrap_or(""))))?;
    let encoding = h.req("encoding")?.trim().to_ascii_lowercase();
    let (compression, ascii) = match encoding.as_str() {
        "raw" => (Compression::None, false),
        "gzip" | "gz" => (Compression::Gzip, false),
        "ascii" | "text" | "txt" => (Compression::None, true),
        other => return Err(unsupported(format!("encoding {other}"))),
    };
    let endian = match h.get("endian").map(|e| e.trim().to_ascii_lowercase()) {
        Some(e) if e == "big" => Endian::Big,
        Some(e) if e == "little" => Endian::Little,
        None if elem.size() == 1 || ascii => Endian::Little,
        None => return Err(bad("missing field endian".into())),
        Some(e) => return Err(bad(format!("endian {e}"))),
    };

    // Geometry.
    let (frame, flip) = match h.get("space").map(|s| s.trim().to_ascii_lowercase()) {
        // `space dimension: 3` alone: directions without a patient frame.
        None => (Frame::None, false),
        Some(s) => match s.as_str() {
            "left-posterior-superior" | "lps" | "scanner-xyz" => (Frame::Lps, false),
            "right-anterior-superior" | "ras" => (Frame::Lps, true),
            other => return Err(unsupported(format!("space {other}"))),
        },
    };
    let (cols, origin) = if h.get("space directions").is_none() {
        let spacing = match h.get("spacings") {
            Some(s) => raw::parse_numbers(s)
                .filter(|v| v.len() == 3)
                .ok_or_else(|| bad(format!("spacings {s:?}: expected 3 numbers")))?,
            None => vec![1.0; 3],
        };
        (
            [
                [spacing[0], 0.0, 0.0],
                [0.0, spacing[1], 0.0],
                [0.0, 0.0, spacing[2]],
            ],
            [0.0; 3],
        )
    } else {
        let dirs = h.req("space directions")?;
        let vecs = parse_vectors(dirs).ok_or_else(|| {
            bad(format!(
                "space directions {dirs:?}: expected three (x,y,z) vectors"
            ))
        })?;
        let cols = match vecs.as_slice() {
            [Some(a), Some(b), Some(c)] => [*a, *b, *c],
            _ => {
                return Err(bad(format!(
                    "space directions {dirs:?}: expected three (x,y,z) vectors"
                )))
            }
        };
        let origin = match h.get("space origin") {
            Some(o) => match parse_vectors(o).as_deref() {
                Some([Some(v)]) => *v,
                _ => return Err(bad(format!("space origin {o:?}: expected (x,y,z)"))),
            },
            None => [0.0; 3],
        };
        (cols, origin)
    };
    let (_, nbytes) = raw::checked_size(path, dims, elem, opts)?;
    let grid = raw::grid_from_affine(path, dims, cols, origin, flip, frame)?;
    let line_skip: u64 = match h.get("line skip").or_else(|| h.get("lineskip")) {
        None => 0,
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| bad(format!("line skip {v}")))?,
    };
    let byte_skip: i64 = match h.get("byte skip").or_else(|| h.get("byteskip")) {
        None => 0,
        Some(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|&n: &i64| n >= -1)
            .ok_or_else(|| bad(format!("byte skip {v}")))?,
    };
    if byte_skip < 0 && compression != Compression::None {
        return Err(bad("byte skip -1 is only allowed with raw encoding".into()));
    }

    let files: Vec<(PathBuf, u64)> = match h.get("data file").or_else(|| h.get("datafile")) {
        None => {
            if h.data_offset.is_none() {
                return Err(bad(
                    "no blank line after the header and no data file: data missing".into(),
                ));
            }
            vec![(path.to_path_buf(), h.data_offset.unwrap_or(0) as u64)]
        }
        Some(v) => data_files(path, v, &h.list, opts)?
            .into_iter()
            .map(|p| (p, 0))
            .collect(),
    };
    let bytes = if ascii {
        if byte_skip != 0 {
            return Err(unsupported(
                "byte skip with ascii encoding (skip lines instead)".into(),
            ));
        }
        read_ascii(path, &files, dims, elem, endian, line_skip)?
    } else {
        let sources: Vec<Source> = files
            .iter()
            .map(|(p, off)| Source {
                path: p.clone(),
                offset: *off,
                line_skip,
                byte_skip,
            })
            .collect();
        raw::read_sources(path, &sources, compression, true, nbytes)?
    };
    let volume = raw::to_volume(path, &grid, bytes, elem, endian, Rescale::IDENTITY)?;
    let kind = raw::infer_kind(&volume);
    let mut warnings: Vec<_> = raw::nonfinite_warning(&volume).into_iter().collect();
    warnings.extend(raw::shear_warning(&grid));
    let mut all: Vec<PathBuf> = files.into_iter().map(|(p, _)| p).collect();
    all.push(path.to_path_buf());
    all.sort();
    all.dedup();
    Ok(Scan {
        volume,
        kind,
        format: ScanFormat::Nrrd,
        files: all,
        warnings,
    })
}

/// ASCII encoding: whitespace-separated numbers, re-encoded as little-endian bytes of
/// `elem` so the shared decoder applies. ASCII volumes are small by nature.
fn read_ascii(
    path: &Path,
    files: &[(PathBuf, u64)],
    dims: [usize; 3],
    elem: ElemType,
    endian: Endian,
    line_skip: u64,
) -> Result<Vec<u8>, IoError> {
    let n = dims[0] * dims[1] * dims[2];
    let _ = endian;
    let mut out = Vec::with_capacity(n.min(1 << 24) * elem.size());
    let mut count = 0usize;
    for (p, off) in files {
        let bytes = std::fs::read(p).map_err(|e| IoError::io(p, e))?;
        let text = bytes
            .get(*off as usize..)
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        // `line skip` counts lines in each data file (it was ignored for ascii).
        let mut text: &str = &text;
        for done in 0..line_skip {
            let Some((_, rest)) = text.split_once('\n') else {
                return Err(IoError::malformed(
                    p,
                    format!("line skip {line_skip}: the file ends after {done} lines"),
                ));
            };
            text = rest;
        }
        for t in text.split(|c: char| c.is_whitespace() || c == ',') {
            if t.is_empty() {
                continue;
            }
            if count == n {
                break;
            }
            let v: f64 = t.parse().map_err(|_| {
                IoError::malformed(p, format!("ASCII sample {t:?} is not a number"))
            })?;
            // `as` casts saturate: 1e300 or 1.5 for a `short` would be read as another value.
            if !fits(elem, v) {
                return Err(IoError::malformed(
                    p,
                    format!("ASCII sample {t:?} is not a value of type {elem:?}"),
                ));
            }
            match elem {
                ElemType::U8 => out.push(v as u8),
                ElemType::I8 => out.push(v as i8 as u8),
                ElemType::U16 => out.extend((v as u16).to_le_bytes()),
                ElemType::I16 => out.extend((v as i16).to_le_bytes()),
                ElemType::U32 => out.extend((v as u32).to_le_bytes()),
                ElemType::I32 => out.extend((v as i32).to_le_bytes()),
                ElemType::F32 => out.extend((v as f32).to_le_bytes()),
                ElemType::F64 => out.extend(v.to_le_bytes()),
            }
            count += 1;
        }
    }
    if count < n {
        return Err(IoError::Truncated {
            path: path.to_path_buf(),
            expected: (n * elem.size()) as u64,
            found: (count * elem.size()) as u64,
        });
    }
    // Re-encoded little-endian above; the caller decodes with `endian`, so swap if needed.
    if endian == Endian::Big && elem.size() > 1 {
        for c in out.chunks_exact_mut(elem.size()) {
            c.reverse();
        }
    }
    Ok(out)
}

/// Whether an ASCII sample is exactly representable in `elem` (any value for floats).
fn fits(elem: ElemType, v: f64) -> bool {
    let (lo, hi) = match elem {
        ElemType::U8 => (0.0, f64::from(u8::MAX)),
        ElemType::I8 => (f64::from(i8::MIN), f64::from(i8::MAX)),
        ElemType::U16 => (0.0, f64::from(u16::MAX)),
        ElemType::I16 => (f64::from(i16::MIN), f64::from(i16::MAX)),
        ElemType::U32 => (0.0, f64::from(u32::MAX)),
        ElemType::I32 => (f64::from(i32::MIN), f64::from(i32::MAX)),
        ElemType::F32 | ElemType::F64 => return true,
    };
    v.fract() == 0.0 && v >= lo && v <= hi
}

fn data_files(
    path: &Path,
    v: &str,
    list: &[String],
    opts: &ReadOptions,
) -> Result<Vec<PathBuf>, IoError> {
    let v = v.trim();
    let toks: Vec<&str> = v.split_whitespace().collect();
    if toks.first() == Some(&"LIST") {
        if list.is_empty() {
            return Err(IoError::malformed(path, "data file LIST names no files"));
        }
        return list
            .iter()
            .map(|name| raw::resolve_data_file(path, name, opts))
            .collect();
    }
    if (toks.len() == 4 || toks.len() == 5) && toks[0].contains('%') {
        return raw::expand_pattern(path, "data file", toks[0], &toks[1..4], opts);
    }
    Ok(vec![raw::resolve_data_file(path, v, opts)?])
}

fn elem_type(t: &str) -> Option<ElemType> {
    let t = t.trim().to_ascii_lowercase();
    Some(match t.as_str() {
        "signed char" | "int8" | "int8_t" => ElemType::I8,
        "uchar" | "unsigned char" | "uint8" | "uint8_t" => ElemType::U8,
        "short" | "short int" | "signed short" | "signed short int" | "int16" | "int16_t" => {
            ElemType::I16
        }
        "ushort" | "unsigned short" | "unsigned short int" | "uint16" | "uint16_t" => ElemType::U16,
        "int" | "signed int" | "int32" | "int32_t" => ElemType::I32,
        "uint" | "unsigned int" | "uint32" | "uint32_t" => ElemType::U32,
        "float" => ElemType::F32,
        "double" => ElemType::F64,
        _ => return None,
    })
}

/// `(x,y,z) (x,y,z) none …` → vectors (`None` for `none`).
fn parse_vectors(s: &str) -> Option<Vec<Option<[f64; 3]>>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("none") {
            out.push(None);
            rest = r.trim_start();
            continue;
        }
        let r = rest.strip_prefix('(')?;
        let end = r.find(')')?;
        let nums = raw::parse_numbers(&r[..end])?;
        if nums.len() != 3 || nums.iter().any(|v| !v.is_finite()) {
            return None;
        }
        out.push(Some([nums[0], nums[1], nums[2]]));
        rest = r[end + 1..].trim_start();
    }
    Some(out)
}

/// A parsed header: fields (lower-cased names), `LIST` names, and where attached data begin
/// (after the blank line), if there is one.
struct Header<'a> {
    path: &'a Path,
    fields: Vec<(String, String)>,
    list: Vec<String>,
    data_offset: Option<usize>,
}

impl Header<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn req(&self, key: &str) -> Result<&str, IoError> {
        self.get(key)
            .ok_or_else(|| IoError::malformed(self.path, format!("missing field \"{key}\"")))
    }
}

fn parse<'a>(path: &'a Path, head: &[u8]) -> Result<Header<'a>, IoError> {
    if !head.starts_with(b"NRRD") {
        return Err(IoError::UnknownFormat {
            path: path.to_path_buf(),
            reason: "no NRRD magic".into(),
        });
    }
    let mut fields = Vec::new();
    let mut list = Vec::new();
    let mut in_list = false;
    let mut pos = 0usize;
    let mut data_offset = None;
    let mut first = true;
    while pos < head.len() {
        let end = head[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(head.len(), |e| pos + e + 1);
        let line = String::from_utf8_lossy(&head[pos..end]).into_owned();
        pos = end;
        let line = line.trim_end_matches(['\n', '\r']);
        if first {
            first = false;
            continue; // the magic line
        }
        if line.is_empty() {
            data_offset = Some(pos);
            break;
        }
        if in_list {
            list.push(line.trim().to_string());
            continue;
        }
        if line.starts_with('#') || line.contains(":=") {
            continue;
        }
        let Some((k, v)) = line.split_once(": ") else {
            return Err(IoError::malformed(
                path,
                format!(
                    "header line {:?} is not `field: value`",
                    line.chars().take(60).collect::<String>()
                ),
            ));
        };
        let k = k.trim().to_ascii_lowercase();
        if (k == "data file" || k == "datafile") && v.trim().starts_with("LIST") {
            in_list = true;
        }
        fields.push((k, v.trim().to_string()));
    }
    if data_offset.is_none() && pos >= MAX_HEADER as usize {
        return Err(IoError::malformed(path, "header longer than 1 MiB"));
    }
    Ok(Header {
        path,
        fields,
        list,
        data_offset,
    })
}
