//! PNG/TIFF slice stacks with a `volume.json`: reader and writer.
//!
//! In: a folder (or its `volume.json`) holding one greyscale image per slice, named by the
//! printf pattern `slice_files` (`slice_%04d.png`; file number = slice index k from 0), or
//! one multi-page TIFF named without a `%`. Image row r = voxel index j, column c = index i.
//! PNG 8/16-bit greyscale and TIFF 8/16-bit greyscale are read; colour is refused.
//!
//! `volume.json` (the convention of `shared/scans/README.md`): `dims` [i, j, k],
//! `spacing_mm` [x, y, z] (mm), `origin_mm` (centre of voxel 0,0,0), `frame` (`"LPS"` or
//! `"none"`), `direction` (rows = unit vectors of the i, j, k axes; world = origin +
//! Σ index·spacing·direction row — exactly [`osteon_volume::Grid`]), `kind`
//! (`ct-hu` | `ct-raw` | `mask` | `labels`), `rescale` {`slope`, `intercept`} mapping a
//! stored value to the volume's value. `dims`, `spacing_mm` and `slice_files` are required;
//! `origin_mm` defaults to 0, `direction` to the identity, `frame` to `"none"`, `kind` to
//! `ct-raw`, `rescale` to the identity.
//!
//! Out: identity rescale keeps the stored type (8-bit → `U8`, 16-bit → `U16`), except that
//! `ct-hu` becomes `I16` when the values fit; any other integral rescale gives the narrowest
//! integer type that holds the values (`I16` for HU = stored − 1024); a fractional one `F32`.
//!
//! [`write`] produces the same convention: 16-bit PNGs of HU + 1024 for `I16`, 8-bit for
//! `U8`, 16-bit for `U16`, deterministic bytes, each file written atomically.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::ImageDecoder;
use osteon_geom::Frame;
use osteon_volume::{Grid, ScalarVolume, ValueKind};
use rayon::prelude::*;
use serde_json::{Map, Value};

use super::raw::{self, ElemType, Endian, Rescale};
use crate::{IoError, ReadOptions, Scan, ScanFormat};

/// Reads a slice stack: `path` is the folder or its `volume.json`.
pub fn read(path: &Path, opts: &ReadOptions) -> Result<Scan, IoError> {
    let meta = std::fs::metadata(path).map_err(|e| IoError::io(path, e))?;
    let (dir, json_path) = if meta.is_dir() {
        (path.to_path_buf(), path.join("volume.json"))
    } else {
        (raw::header_dir(path), path.to_path_buf())
    };
    let text = std::fs::read_to_string(&json_path).map_err(|e| IoError::io(&json_path, e))?;
    let root: Value = serde_json::from_str(&text)
        .map_err(|e| IoError::malformed(&json_path, format!("invalid JSON: {e}")))?;
    let h = Header::parse(&json_path, &root)?;

    let grid = Grid {
        dims: h.dims,
        spacing: h.spacing,
        origin: h.origin,
        direction: h.direction,
        frame: h.frame,
    };
    // Refuse before allocating anything.
    let (n, _) = raw::checked_size(&json_path, h.dims, ElemType::U16, opts)?;
    grid.validate().map_err(|source| IoError::InvalidGrid {
        path: json_path.clone(),
        source,
    })?;

    let [w, ht, depth] = h.dims;
    let files: Vec<PathBuf> = if h.slice_files.contains('%') {
        (0..depth)
            .map(|k| {
                let name = raw::printf_int(&h.slice_files, k as i64).ok_or_else(|| {
                    IoError::malformed(
                        &json_path,
                        format!(
                            "slice_files pattern {:?} is not a printf integer pattern",
                            h.slice_files
                        ),
                    )
                })?;
                let file = dir.join(name);
                // Stop at the first missing slice: `dims` [1, 1, 1e9] passes the voxel budget
                // but a billion file names would exhaust memory before any slice is read.
                if !file.exists() {
                    return Err(IoError::NotFound { path: file });
                }
                Ok(file)
            })
            .collect::<Result<_, _>>()?
    } else {
        vec![dir.join(&h.slice_files)]
    };

    let (stored, _bits) = if files.len() == 1 && depth > 1 {
        read_multipage_tiff(&files[0], [w, ht, depth])?
    } else {
        read_slices(&files, [w, ht], n)?
    };

    let volume = stored_to_volume(&json_path, &grid, stored, h.kind, h.rescale)?;
    let mut all = files;
    all.push(json_path);
    all.sort();
    Ok(Scan {
        volume,
        kind: h.kind,
        format: ScanFormat::SliceStack,
        files: all,
        warnings: raw::shear_warning(&grid).into_iter().collect(),
    })
}

/// Stored samples of a whole stack.
enum Stored {
    U8(Vec<u8>),
    U16(Vec<u16>),
}

fn stored_to_volume(
    path: &Path,
    grid: &Grid,
    stored: Stored,
    kind: ValueKind,
    rescale: Rescale,
) -> Result<ScalarVolume, IoError> {
    let bad_grid = |source| IoError::InvalidGrid {
        path: path.to_path_buf(),
        source,
    };
    if rescale.is_identity() {
        match stored {
            Stored::U8(v) => {
                return osteon_volume::Volume::new(grid.clone(), v)
                    .map(ScalarVolume::U8)
                    .map_err(bad_grid)
            }
            Stored::U16(v) => {
                let fits = v.par_iter().all(|&x| x <= i16::MAX as u16);
                if kind == ValueKind::CtHu && fits {
                    let d = v.par_iter().map(|&x| x as i16).collect();
                    return osteon_volume::Volume::new(grid.clone(), d)
                        .map(ScalarVolume::I16)
                        .map_err(bad_grid);
                }
                return osteon_volume::Volume::new(grid.clone(), v)
                    .map(ScalarVolume::U16)
                    .map_err(bad_grid);
            }
        }
    }
    // The shared decoder picks the narrowest exact type for the rescaled values.
    let (bytes, elem) = match stored {
        Stored::U8(v) => (v, ElemType::U8),
        Stored::U16(v) => (
            v.par_iter().flat_map_iter(|x| x.to_le_bytes()).collect(),
            ElemType::U16,
        ),
    };
    raw::to_volume(path, grid, bytes, elem, Endian::Little, rescale)
}

/// Decodes one image per slice, in parallel, into one flat buffer (i fastest).
fn read_slices(files: &[PathBuf], size: [usize; 2], n: usize) -> Result<(Stored, u8), IoError> {
    let first = files
        .first()
        .ok_or_else(|| IoError::malformed(PathBuf::from("."), "no slices"))?;
    let first_image = SliceImage::open(first)?;
    let bits = first_image.bits;
    // Before the whole volume is allocated: `dims` may declare a slice far larger than the
    // images hold.
    first_image.check(first, size, bits)?;
    drop(first_image);
    let per = size[0] * size[1];
    // Results are collected in slice order so the error reported is always that of the
    // first bad slice, whatever the thread count.
    macro_rules! run {
        ($t:ty, $wrap:path) => {{
            let mut data: Vec<$t> = vec![0; n];
            let results: Vec<Result<(), IoError>> = data
                .par_chunks_mut(per)
                .zip(files.par_iter())
                .map(|(chunk, file)| {
                    let img = SliceImage::open(file)?;
                    img.check(file, size, bits)?;
                    img.decode_into(file, chunk)
                })
                .collect();
            if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
                return Err(e);
            }
            Ok(($wrap(data), bits))
        }};
    }
    if bits == 8 {
        run!(u8, Stored::U8)
    } else {
        run!(u16, Stored::U16)
    }
}

/// One decoded-on-demand slice image (PNG or TIFF), its size and bit depth known.
struct SliceImage {
    bytes: Vec<u8>,
    tiff: bool,
    width: usize,
    height: usize,
    bits: u8,
}

trait Sample: Copy {
    fn from_u8(v: u8) -> Self;
    fn from_u16(v: u16) -> Option<Self>;
}
impl Sample for u8 {
    fn from_u8(v: u8) -> Self {
        v
    }
    fn from_u16(_: u16) -> Option<Self> {
        None
    }
}
impl Sample for u16 {
    fn from_u8(v: u8) -> Self {
        u16::from(v)
    }
    fn from_u16(v: u16) -> Option<Self> {
        Some(v)
    }
}

fn image_err(path: &Path, e: impl std::fmt::Display) -> IoError {
    IoError::malformed(path, format!("cannot decode image: {e}"))
}

impl SliceImage {
    fn open(path: &Path) -> Result<SliceImage, IoError> {
        let bytes = std::fs::read(path).map_err(|e| IoError::io(path, e))?;
        if bytes.starts_with(b"\x89PNG") {
            let dec = image::codecs::png::PngDecoder::new(Cursor::new(&bytes[..]))
                .map_err(|e| image_err(path, e))?;
            let (w, h) = dec.dimensions();
            let bits = match dec.color_type() {
                image::ColorType::L8 => 8,
                image::ColorType::L16 => 16,
                other => {
                    return Err(IoError::Unsupported {
                        path: path.to_path_buf(),
                        what: format!("colour image ({other:?}); slices must be greyscale"),
                    })
                }
            };
            Ok(SliceImage {
                bytes,
                tiff: false,
                width: w as usize,
                height: h as usize,
                bits,
            })
        } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
            let mut dec = tiff::decoder::Decoder::new(Cursor::new(&bytes[..]))
                .map_err(|e| image_err(path, e))?;
            let (w, h) = dec.dimensions().map_err(|e| image_err(path, e))?;
            let bits = tiff_bits(path, &mut dec)?;
            Ok(SliceImage {
                bytes,
                tiff: true,
                width: w as usize,
                height: h as usize,
                bits,
            })
        } else {
            Err(IoError::UnknownFormat {
                path: path.to_path_buf(),
                reason: "slice is neither PNG nor TIFF".into(),
            })
        }
    }

    fn check(&self, path: &Path, size: [usize; 2], bits: u8) -> Result<(), IoError> {
        if [self.width, self.height] != size {
            return Err(IoError::Inconsistent {
                path: path.to_path_buf(),
                reason: format!(
                    "slice is {}×{} pixels but volume.json dims say {}×{}",
                    self.width, self.height, size[0], size[1]
                ),
            });
        }
        if self.bits != bits {
            return Err(IoError::Inconsistent {
                path: path.to_path_buf(),
                reason: format!(
                    "slice is {}-bit but the first slice is {}-bit (mixed bit depths)",
                    self.bits, bits
                ),
            });
        }
        Ok(())
    }

    fn decode_into<T: Sample>(&self, path: &Path, out: &mut [T]) -> Result<(), IoError> {
        if self.tiff {
            let mut dec = tiff::decoder::Decoder::new(Cursor::new(&self.bytes[..]))
                .map_err(|e| image_err(path, e))?;
            let img = dec.read_image().map_err(|e| image_err(path, e))?;
            if dec.more_images() {
                return Err(IoError::Inconsistent {
                    path: path.to_path_buf(),
                    reason: "TIFF holds several pages but names one slice of the stack".into(),
                });
            }
            return copy_tiff(path, img, out);
        }
        let dec = image::codecs::png::PngDecoder::new(Cursor::new(&self.bytes[..]))
            .map_err(|e| image_err(path, e))?;
        let len = usize::try_from(dec.total_bytes()).unwrap_or(usize::MAX);
        if len != out.len() * usize::from(self.bits / 8) {
            return Err(image_err(path, "unexpected decoded size"));
        }
        let mut buf = vec![0u8; len];
        dec.read_image(&mut buf).map_err(|e| image_err(path, e))?;
        if self.bits == 8 {
            for (o, &b) in out.iter_mut().zip(buf.iter()) {
                *o = T::from_u8(b);
            }
        } else {
            for (o, b) in out.iter_mut().zip(buf.chunks_exact(2)) {
                // The image crate hands 16-bit samples over in native byte order.
                let v = u16::from_ne_bytes([b[0], b[1]]);
                *o = T::from_u16(v)
                    .ok_or_else(|| image_err(path, "16-bit sample in 8-bit stack"))?;
            }
        }
        Ok(())
    }
}

fn tiff_bits<R: std::io::Read + std::io::Seek>(
    path: &Path,
    dec: &mut tiff::decoder::Decoder<R>,
) -> Result<u8, IoError> {
    match dec.colortype().map_err(|e| image_err(path, e))? {
        tiff::ColorType::Gray(8) => Ok(8),
        tiff::ColorType::Gray(16) => Ok(16),
        other => Err(IoError::Unsupported {
            path: path.to_path_buf(),
            what: format!("TIFF colour type {other:?}; slices must be 8- or 16-bit greyscale"),
        }),
    }
}

fn copy_tiff<T: Sample>(
    path: &Path,
    img: tiff::decoder::DecodingResult,
    out: &mut [T],
) -> Result<(), IoError> {
    use tiff::decoder::DecodingResult as D;
    let n = match &img {
        D::U8(v) => v.len(),
        D::U16(v) => v.len(),
        _ => 0,
    };
    if n != out.len() {
        return Err(image_err(
            path,
            format!("decoded {n} samples, expected {}", out.len()),
        ));
    }
    match img {
        D::U8(v) => {
            for (o, b) in out.iter_mut().zip(v) {
                *o = T::from_u8(b);
            }
        }
        D::U16(v) => {
            for (o, b) in out.iter_mut().zip(v) {
                *o = T::from_u16(b)
                    .ok_or_else(|| image_err(path, "16-bit sample in 8-bit stack"))?;
            }
        }
        _ => return Err(image_err(path, "unsupported TIFF sample type")),
    }
    Ok(())
}

/// One multi-page TIFF holding all slices, page = slice index k.
fn read_multipage_tiff(path: &Path, dims: [usize; 3]) -> Result<(Stored, u8), IoError> {
    let bytes = std::fs::read(path).map_err(|e| IoError::io(path, e))?;
    let mut dec =
        tiff::decoder::Decoder::new(Cursor::new(&bytes[..])).map_err(|e| image_err(path, e))?;
    let bits = tiff_bits(path, &mut dec)?;
    // Page count and first page size before the volume is allocated (walking the page
    // directories decodes no pixels). Extra pages were silently ignored before.
    let (w, h) = dec.dimensions().map_err(|e| image_err(path, e))?;
    if [w as usize, h as usize] != [dims[0], dims[1]] {
        return Err(IoError::Inconsistent {
            path: path.to_path_buf(),
            reason: format!(
                "page 0 is {w}×{h} pixels but volume.json dims say {}×{}",
                dims[0], dims[1]
            ),
        });
    }
    let mut pages = 1usize;
    {
        let mut count =
            tiff::decoder::Decoder::new(Cursor::new(&bytes[..])).map_err(|e| image_err(path, e))?;
        while pages <= dims[2] && count.more_images() {
            count.next_image().map_err(|e| image_err(path, e))?;
            pages += 1;
        }
    }
    if pages != dims[2] {
        return Err(IoError::Inconsistent {
            path: path.to_path_buf(),
            reason: format!(
                "TIFF has {}{pages} pages but volume.json dims say {}",
                if pages > dims[2] { "at least " } else { "" },
                dims[2]
            ),
        });
    }
    let per = dims[0] * dims[1];
    let n = per * dims[2];
    macro_rules! run {
        ($t:ty, $wrap:path) => {{
            let mut data: Vec<$t> = vec![0; n];
            for (k, chunk) in data.chunks_mut(per).enumerate() {
                if k > 0 {
                    if !dec.more_images() {
                        return Err(IoError::Inconsistent {
                            path: path.to_path_buf(),
                            reason: format!(
                                "TIFF has {k} pages but volume.json dims say {}",
                                dims[2]
                            ),
                        });
                    }
                    dec.next_image().map_err(|e| image_err(path, e))?;
                }
                let (w, h) = dec.dimensions().map_err(|e| image_err(path, e))?;
                if [w as usize, h as usize] != [dims[0], dims[1]] {
                    return Err(IoError::Inconsistent {
                        path: path.to_path_buf(),
                        reason: format!(
                            "page {k} is {w}×{h} pixels but volume.json dims say {}×{}",
                            dims[0], dims[1]
                        ),
                    });
                }
                if tiff_bits(path, &mut dec)? != bits {
                    return Err(IoError::Inconsistent {
                        path: path.to_path_buf(),
                        reason: format!("page {k} has another bit depth than page 0"),
                    });
                }
                let img = dec.read_image().map_err(|e| image_err(path, e))?;
                copy_tiff(path, img, chunk)?;
            }
            Ok(($wrap(data), bits))
        }};
    }
    if bits == 8 {
        run!(u8, Stored::U8)
    } else {
        run!(u16, Stored::U16)
    }
}

/// The parsed machine-readable fields of a `volume.json`.
struct Header {
    dims: [usize; 3],
    spacing: [f64; 3],
    origin: [f64; 3],
    direction: [[f64; 3]; 3],
    frame: Frame,
    kind: ValueKind,
    rescale: Rescale,
    slice_files: String,
}

impl Header {
    fn parse(path: &Path, root: &Value) -> Result<Header, IoError> {
        let obj = root
            .as_object()
            .ok_or_else(|| IoError::malformed(path, "volume.json is not a JSON object"))?;
        let field = |name: &str| {
            obj.get(name)
                .ok_or_else(|| IoError::malformed(path, format!("missing field \"{name}\"")))
        };
        let bad =
            |name: &str, what: &str| IoError::malformed(path, format!("field \"{name}\": {what}"));
        let num3 = |name: &str, v: &Value| -> Result<[f64; 3], IoError> {
            let a = v
                .as_array()
                .filter(|a| a.len() == 3)
                .ok_or_else(|| bad(name, "expected 3 numbers"))?;
            let mut out = [0.0; 3];
            for (o, x) in out.iter_mut().zip(a) {
                *o = x.as_f64().ok_or_else(|| bad(name, "expected 3 numbers"))?;
            }
            Ok(out)
        };
        let dims_v = field("dims")?
            .as_array()
            .filter(|a| a.len() == 3)
            .ok_or_else(|| bad("dims", "expected 3 non-negative integers"))?;
        let mut dims = [0usize; 3];
        for (d, x) in dims.iter_mut().zip(dims_v) {
            *d = x
                .as_u64()
                .and_then(|v| usize::try_from(v).ok())
                .ok_or_else(|| bad("dims", "expected 3 non-negative integers"))?;
        }
        let spacing = num3("spacing_mm", field("spacing_mm")?)?;
        let origin = match obj.get("origin_mm") {
            Some(v) => num3("origin_mm", v)?,
            None => [0.0; 3],
        };
        let direction = match obj.get("direction") {
            Some(v) => {
                let rows = v
                    .as_array()
                    .filter(|a| a.len() == 3)
                    .ok_or_else(|| bad("direction", "expected 3 rows of 3 numbers"))?;
                let mut d = [[0.0; 3]; 3];
                for (o, r) in d.iter_mut().zip(rows) {
                    *o = num3("direction", r)?;
                }
                d
            }
            None => [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        };
        let frame = match obj.get("frame") {
            None => Frame::None,
            Some(v) => match v.as_str().map(|s| s.to_ascii_lowercase()) {
                Some(s) if s == "lps" => Frame::Lps,
                Some(s) if s == "none" => Frame::None,
                _ => return Err(bad("frame", "expected \"LPS\" or \"none\"")),
            },
        };
        let kind = match obj.get("kind") {
            None => ValueKind::CtRaw,
            Some(v) => serde_json::from_value::<ValueKind>(v.clone()).map_err(|_| {
                bad(
                    "kind",
                    "expected \"ct-hu\", \"ct-raw\", \"mask\" or \"labels\"",
                )
            })?,
        };
        let rescale = match obj.get("rescale") {
            None => Rescale::IDENTITY,
            Some(v) => {
                if !v.is_object() {
                    return Err(bad(
                        "rescale",
                        "expected an object {\"slope\": …, \"intercept\": …}",
                    ));
                }
                let get = |k: &str, default: f64| -> Result<f64, IoError> {
                    match v.get(k) {
                        None => Ok(default),
                        Some(x) => x
                            .as_f64()
                            .filter(|x| x.is_finite())
                            .ok_or_else(|| bad("rescale", "slope and intercept must be numbers")),
                    }
                };
                let r = Rescale {
                    slope: get("slope", 1.0)?,
                    intercept: get("intercept", 0.0)?,
                };
                if r.slope == 0.0 {
                    return Err(bad("rescale", "slope is zero"));
                }
                r
            }
        };
        let slice_files = field("slice_files")?
            .as_str()
            .ok_or_else(|| bad("slice_files", "expected a string"))?
            .to_string();
        if slice_files.contains('/') || slice_files.contains('\\') || slice_files.contains("..") {
            return Err(bad(
                "slice_files",
                "must name files in the folder of volume.json",
            ));
        }
        Ok(Header {
            dims,
            spacing,
            origin,
            direction,
            frame,
            kind,
            rescale,
            slice_files,
        })
    }
}

/// Writes `volume` as a slice stack in `dir`: `slice_0000.png`, … and `volume.json`, in the
/// convention [`read`] reads (and `shared/scans/README.md` describes).
///
/// `I16` is stored as 16-bit PNGs of value + 1024 with rescale intercept −1024 (value + 32768
/// and intercept −32768 if a value is below −1024); `U8` as 8-bit PNGs, `U16` as 16-bit
/// PNGs, both with the identity rescale. `I32` and `F32` volumes are refused
/// ([`IoError::Unsupported`]). `extra` keys are merged into `volume.json` (they cannot replace
/// the normative fields). Every file is written atomically; bytes depend only on the input.
/// Returns the written paths (slices in order, then `volume.json`).
pub fn write(
    dir: &Path,
    volume: &ScalarVolume,
    kind: ValueKind,
    extra: &Map<String, Value>,
) -> Result<Vec<PathBuf>, IoError> {
    let grid = volume.grid();
    grid.validate().map_err(|source| IoError::InvalidGrid {
        path: dir.to_path_buf(),
        source,
    })?;
    if !dir.is_dir() {
        return Err(IoError::NotFound {
            path: dir.to_path_buf(),
        });
    }
    let [w, h, depth] = grid.dims;
    let (Ok(w32), Ok(h32)) = (u32::try_from(w), u32::try_from(h)) else {
        return Err(IoError::TooLarge {
            path: dir.to_path_buf(),
            reason: format!("slice of {w}×{h} pixels is too large for PNG"),
        });
    };
    let per = w * h;
    let (intercept, encoding) = match volume {
        ScalarVolume::U8(_) => (0i64, "8-bit greyscale PNG, stored value unchanged"),
        ScalarVolume::U16(_) => (0, "16-bit greyscale PNG, stored value unchanged"),
        ScalarVolume::I16(v) => {
            let min = v.data.par_iter().copied().min().unwrap_or(0);
            if min >= -1024 {
                (-1024, "16-bit greyscale PNG, value = stored - 1024")
            } else {
                (-32768, "16-bit greyscale PNG, value = stored - 32768")
            }
        }
        other => {
            return Err(IoError::Unsupported {
                path: dir.to_path_buf(),
                what: format!(
                    "slice stacks hold 8- or 16-bit integers; this volume is {}",
                    other.type_name()
                ),
            })
        }
    };
    let pattern = "slice_%04d.png";
    let paths: Vec<PathBuf> = (0..depth)
        .map(|k| dir.join(format!("slice_{k:04}.png")))
        .collect();

    let encode = |k: usize| -> Result<(), IoError> {
        let range = k * per..(k + 1) * per;
        let (bytes, color): (Vec<u8>, image::ExtendedColorType) = match volume {
            ScalarVolume::U8(v) => (v.data[range].to_vec(), image::ExtendedColorType::L8),
            ScalarVolume::U16(v) => (
                v.data[range].iter().flat_map(|x| x.to_ne_bytes()).collect(),
                image::ExtendedColorType::L16,
            ),
            ScalarVolume::I16(v) => (
                v.data[range]
                    .iter()
                    .flat_map(|&x| ((i64::from(x) - intercept) as u16).to_ne_bytes())
                    .collect(),
                image::ExtendedColorType::L16,
            ),
            _ => unreachable!("refused above"),
        };
        let path = &paths[k];
        crate::write_atomic(path, |out| {
            use image::ImageEncoder;
            // Fixed compression and filter: the bytes depend on the pixels only.
            image::codecs::png::PngEncoder::new_with_quality(
                out,
                image::codecs::png::CompressionType::Default,
                image::codecs::png::FilterType::Adaptive,
            )
            .write_image(&bytes, w32, h32, color)
            .map_err(|e| IoError::malformed(path, format!("cannot encode PNG: {e}")))
        })
    };
    let results: Vec<Result<(), IoError>> = (0..depth).into_par_iter().map(encode).collect();
    if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
        return Err(e);
    }

    let mut json = Map::new();
    let frame = match grid.frame {
        Frame::None => "none",
        _ => "LPS",
    };
    let grid = grid.to_frame(if grid.frame == Frame::None {
        Frame::None
    } else {
        Frame::Lps
    });
    json.insert("dims".into(), serde_json::json!(grid.dims));
    json.insert("spacing_mm".into(), serde_json::json!(grid.spacing));
    json.insert("origin_mm".into(), serde_json::json!(grid.origin));
    json.insert("frame".into(), Value::from(frame));
    json.insert("direction".into(), serde_json::json!(grid.direction));
    json.insert("kind".into(), Value::from(kind_name(kind)));
    json.insert(
        "rescale".into(),
        serde_json::json!({"slope": 1, "intercept": intercept}),
    );
    json.insert("slice_files".into(), Value::from(pattern));
    json.insert("slice_count".into(), Value::from(depth));
    json.insert(
        "pixel_layout".into(),
        Value::from("PNG row r = voxel index j, PNG column c = voxel index i"),
    );
    json.insert("pixel_encoding".into(), Value::from(encoding));
    for (k, v) in extra {
        json.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let json_path = dir.join("volume.json");
    let mut text = serde_json::to_string_pretty(&Value::Object(json))
        .map_err(|e| IoError::malformed(&json_path, e.to_string()))?;
    text.push('\n');
    crate::write_atomic(&json_path, |out| {
        std::io::Write::write_all(out, text.as_bytes()).map_err(|e| IoError::io(&json_path, e))
    })?;
    let mut out = paths;
    out.push(json_path);
    Ok(out)
}

/// A value kind's `volume.json` spelling.
fn kind_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::CtHu => "ct-hu",
        ValueKind::CtRaw => "ct-raw",
        ValueKind::Mask => "mask",
        ValueKind::Labels => "labels",
    }
}
