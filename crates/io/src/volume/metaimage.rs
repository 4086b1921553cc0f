//! MetaImage reader (`.mhd` with detached data, `.mha` with `ElementDataFile = LOCAL`).
//!
//! In: a text header of `Key = Value` lines ending with `ElementDataFile`, for a 3-D
//! single-channel image of `MET_UCHAR`, `MET_CHAR`, `MET_USHORT`, `MET_SHORT`, `MET_UINT`,
//! `MET_INT`, `MET_FLOAT` or `MET_DOUBLE` samples, raw or zlib-compressed
//! (`CompressedData = True`). `CompressedDataSize` is not trusted: the whole zlib stream
//! (which carries its own end and checksum) is read, and a `compressed-size-mismatch` warning
//! is given when the declared size differs from the bytes present. ITK instead stops at the
//! declared size and zero-fills: `shared/scans/vtk_frogtissue/frogtissue.mhd` declares 260020
//! of its 262087 bytes, so ITK loses 2670 label voxels in slices 131–135. Data come from one file, `LOCAL` (after the header), `LIST` (one file per slice named
//! on the lines that follow) or a printf pattern `name.%d min max step`. `HeaderSize` bytes
//! are skipped in each data file (−1: the data are the file's last bytes).
//!
//! Out: a [`Scan`] in millimetres, frame LPS — the world of ITK, which writes MetaImage.
//! `Offset` (or `Origin`/`Position`) is the centre of voxel 0; `ElementSpacing` (or
//! `ElementSize`) the spacing; `TransformMatrix` (or `Rotation`/`Orientation`) holds the
//! direction cosines row by row, **the first three numbers being the unit vector of axis i**:
//! ITK's `MetaImageIO::ReadImageInformation` does
//! `directionAxis[jj] = transformMatrix[ii * N + jj]; SetDirection(ii, directionAxis)`, so
//! row `ii` is axis `ii` — exactly a [`osteon_volume::Grid`] direction row.
//! `AnatomicalOrientation` is ignored, as ITK ignores it when reading (it only writes it,
//! derived from the direction: `RAI` is the identity in LPS).
//!
//! Detached data outside the header's folder are refused unless
//! `ReadOptions::allow_outside_folder`. The value kind is inferred
//! ([`super::raw::infer_kind`]).

use std::path::{Path, PathBuf};

use osteon_geom::Frame;
use osteon_volume::Grid;

use super::raw::{self, Compression, ElemType, Endian, Rescale, Source};
use crate::{IoError, QcWarning, ReadOptions, Scan, ScanFormat};

/// Headers are small; a header not finished within this many bytes is refused.
const MAX_HEADER: u64 = 1 << 20;

/// Reads a MetaImage (`.mhd` or `.mha`).
pub fn read(path: &Path, opts: &ReadOptions) -> Result<Scan, IoError> {
    let head = raw::read_head(path, MAX_HEADER)?;
    let h = parse(path, &head)?;
    let bad = |what: String| IoError::malformed(path, what);

    if let Some(t) = h.get("ObjectType") {
        if !t.eq_ignore_ascii_case("image") {
            return Err(IoError::Unsupported {
                path: path.to_path_buf(),
                what: format!("ObjectType = {t} (only Image is read)"),
            });
        }
    }
    let ndims = h.req("NDims")?;
    if ndims.trim() != "3" {
        return Err(IoError::Unsupported {
            path: path.to_path_buf(),
            what: format!("NDims = {ndims} (only 3-D images are read)"),
        });
    }
    if let Some(c) = h.get("ElementNumberOfChannels") {
        if c.trim() != "1" {
            return Err(IoError::Unsupported {
                path: path.to_path_buf(),
                what: format!("ElementNumberOfChannels = {c} (only scalar images are read)"),
            });
        }
    }
    if h.get("BinaryData").is_some_and(is_false) {
        return Err(IoError::Unsupported {
            path: path.to_path_buf(),
            what: "BinaryData = False (ASCII MetaImage)".into(),
        });
    }
    let dims = h
        .numbers3("DimSize")?
        .ok_or_else(|| bad("missing DimSize".into()))?;
    let mut d = [0usize; 3];
    for (o, &v) in d.iter_mut().zip(dims.iter()) {
        if !(v.fract() == 0.0 && v >= 1.0 && v <= u32::MAX as f64) {
            return Err(bad(format!("DimSize {dims:?} must be positive integers")));
        }
        *o = v as usize;
    }
    let spacing = match h.numbers3("ElementSpacing")? {
        Some(s) => s,
        None => h.numbers3("ElementSize")?.unwrap_or([1.0; 3]),
    };
    let origin = ["Offset", "Origin", "Position"]
        .iter()
        .find_map(|k| h.numbers3(k).transpose())
        .transpose()?
        .unwrap_or([0.0; 3]);
    let matrix = ["TransformMatrix", "Rotation", "Orientation"]
        .iter()
        .find_map(|k| h.numbers_n(k, 9).transpose())
        .transpose()?;
    let direction = match matrix {
        Some(m) => [[m[0], m[1], m[2]], [m[3], m[4], m[5]], [m[6], m[7], m[8]]],
        None => [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
    };
    let et = h.req("ElementType")?;
    let elem = element_type(path, et)?;
    let (_, nbytes) = raw::checked_size(path, d, elem, opts)?;
    let grid = Grid {
        dims: d,
        spacing,
        origin,
        direction,
        frame: Frame::Lps,
    };
    grid.validate().map_err(|source| IoError::InvalidGrid {
        path: path.to_path_buf(),
        source,
    })?;

    let msb = h
        .get("ElementByteOrderMSB")
        .or_else(|| h.get("BinaryDataByteOrderMSB"))
        .is_some_and(is_true);
    let endian = if msb { Endian::Big } else { Endian::Little };
    let compression = if h.get("CompressedData").is_some_and(is_true) {
        Compression::Zlib
    } else {
        Compression::None
    };
    let header_size: i64 = match h.get("HeaderSize") {
        None => 0,
        Some(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|&n: &i64| n >= -1)
            .ok_or_else(|| bad(format!("HeaderSize = {v}")))?,
    };

    let files = data_files(path, &h, opts)?;
    let sources: Vec<Source> = files
        .iter()
        .map(|(p, local)| Source {
            path: p.clone(),
            offset: if *local { h.data_offset as u64 } else { 0 },
            line_skip: 0,
            byte_skip: if *local { 0 } else { header_size },
        })
        .collect();
    let bytes = raw::read_sources(path, &sources, compression, false, nbytes)?;
    let mut warnings = Vec::new();
    if let (Compression::Zlib, [(data, local)], Some(declared)) =
        (compression, files.as_slice(), h.get("CompressedDataSize"))
    {
        let start = if *local {
            h.data_offset as u64
        } else {
            header_size.max(0) as u64
        };
        let present = raw::file_len(data)?.saturating_sub(start);
        if declared.trim().parse::<u64>().ok() != Some(present) {
            // ITK reads only CompressedDataSize bytes and silently zero-fills the rest;
            // osteon reads the whole (checksummed) zlib stream.
            warnings.push(QcWarning::new(
                "compressed-size-mismatch",
                format!(
                    "CompressedDataSize = {} but {} holds {present} compressed bytes; the whole \
                     stream was read (ITK stops at the declared size and zero-fills the rest)",
                    declared.trim(),
                    data.display()
                ),
            ));
        }
    }
    let volume = raw::to_volume(path, &grid, bytes, elem, endian, Rescale::IDENTITY)?;
    let kind = raw::infer_kind(&volume);
    warnings.extend(raw::nonfinite_warning(&volume));
    warnings.extend(raw::shear_warning(&grid));
    let mut all: Vec<PathBuf> = files.into_iter().map(|(p, _)| p).collect();
    all.push(path.to_path_buf());
    all.sort();
    all.dedup();
    Ok(Scan {
        volume,
        kind,
        format: ScanFormat::MetaImage,
        files: all,
        warnings,
    })
}

fn element_type(path: &Path, et: &str) -> Result<ElemType, IoError> {
    Ok(match et.trim() {
        "MET_UCHAR" => ElemType::U8,
        "MET_CHAR" => ElemType::I8,
        "MET_USHORT" => ElemType::U16,
        "MET_SHORT" => ElemType::I16,
        "MET_UINT" => ElemType::U32,
        "MET_INT" => ElemType::I32,
        "MET_FLOAT" => ElemType::F32,
        "MET_DOUBLE" => ElemType::F64,
        other => {
            return Err(IoError::Unsupported {
                path: path.to_path_buf(),
                what: format!("ElementType {other}"),
            })
        }
    })
}

fn is_true(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes")
}

fn is_false(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "false" | "0" | "no")
}

/// The data files, each flagged `true` when it is the header itself (`LOCAL`).
fn data_files(
    path: &Path,
    h: &Header,
    opts: &ReadOptions,
) -> Result<Vec<(PathBuf, bool)>, IoError> {
    let v = h.req("ElementDataFile")?.trim();
    if v.eq_ignore_ascii_case("LOCAL") {
        return Ok(vec![(path.to_path_buf(), true)]);
    }
    let toks: Vec<&str> = v.split_whitespace().collect();
    if toks.first().is_some_and(|t| t.eq_ignore_ascii_case("LIST")) {
        if h.list.is_empty() {
            return Err(IoError::malformed(
                path,
                "ElementDataFile = LIST names no files",
            ));
        }
        return h
            .list
            .iter()
            .map(|name| Ok((raw::resolve_data_file(path, name, opts)?, false)))
            .collect();
    }
    if toks.len() >= 4 && toks[0].contains('%') {
        let files = raw::expand_pattern(path, "ElementDataFile", toks[0], &toks[1..4], opts)?;
        return Ok(files.into_iter().map(|f| (f, false)).collect());
    }
    Ok(vec![(raw::resolve_data_file(path, v, opts)?, false)])
}

/// A parsed header: key/value pairs in order, the `LIST` file names, and where `LOCAL` data
/// begin.
struct Header<'a> {
    path: &'a Path,
    fields: Vec<(String, String)>,
    list: Vec<String>,
    data_offset: usize,
}

impl Header<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    fn req(&self, key: &str) -> Result<&str, IoError> {
        self.get(key)
            .ok_or_else(|| IoError::malformed(self.path, format!("missing field {key}")))
    }

    fn numbers_n(&self, key: &str, n: usize) -> Result<Option<Vec<f64>>, IoError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match raw::parse_numbers(v) {
            Some(x) if x.len() == n => Ok(Some(x)),
            _ => Err(IoError::malformed(
                self.path,
                format!("{key} = {v:?}: expected {n} numbers"),
            )),
        }
    }

    fn numbers3(&self, key: &str) -> Result<Option<[f64; 3]>, IoError> {
        Ok(self.numbers_n(key, 3)?.map(|v| [v[0], v[1], v[2]]))
    }
}

fn parse<'a>(path: &'a Path, head: &[u8]) -> Result<Header<'a>, IoError> {
    let mut fields = Vec::new();
    let mut pos = 0usize;
    while pos < head.len() {
        let end = head[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|e| pos + e + 1);
        let Some(end) = end else {
            // The last line has no newline: acceptable only if it is the final line of a
            // detached header (checked below through `ElementDataFile`).
            let line = String::from_utf8_lossy(&head[pos..]).into_owned();
            pos = head.len();
            if let Some((k, v)) = split_kv(&line) {
                let done = k.eq_ignore_ascii_case("ElementDataFile");
                fields.push((k, v));
                if done {
                    break;
                }
            }
            break;
        };
        let line = String::from_utf8_lossy(&head[pos..end]).into_owned();
        pos = end;
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        let Some((k, v)) = split_kv(line) else {
            return Err(IoError::malformed(
                path,
                format!("header line {:?} is not `Key = Value`", truncate(line)),
            ));
        };
        let done = k.eq_ignore_ascii_case("ElementDataFile");
        fields.push((k, v));
        if done {
            break;
        }
    }
    let Some((_, edf)) = fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("ElementDataFile"))
    else {
        return Err(IoError::malformed(
            path,
            "no ElementDataFile line in the header (or header longer than 1 MiB)",
        ));
    };
    let mut list = Vec::new();
    if edf
        .split_whitespace()
        .next()
        .is_some_and(|t| t.eq_ignore_ascii_case("LIST"))
    {
        let rest = String::from_utf8_lossy(&head[pos..]);
        list = rest
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
    }
    Ok(Header {
        path,
        fields,
        list,
        data_offset: pos,
    })
}

fn split_kv(line: &str) -> Option<(String, String)> {
    let (k, v) = line.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || k.contains(char::is_whitespace) {
        return None;
    }
    Some((k.to_string(), v.trim().to_string()))
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}
