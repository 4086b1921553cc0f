//! Shared raw-data decoding for the NIfTI, NRRD and MetaImage readers.
//!
//! In: bytes as a header describes them (element type, byte order, optional gzip/zlib
//! compression, optional rescale `value = slope·stored + intercept`). Out: a
//! [`ScalarVolume`] in the narrowest sample type that holds the values exactly, and a guess of
//! their [`ValueKind`]. Also the guards every reader shares: voxel-count limits checked before
//! allocation, decompression capped at the declared size, detached data files confined to the
//! header's folder.

use std::io::Read;
use std::path::{Path, PathBuf};

use osteon_volume::{Grid, ScalarVolume, ValueKind, Volume};
use rayon::prelude::*;

use crate::{IoError, ReadOptions};

/// Sample type of a raw data block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemType {
    /// Unsigned 8-bit.
    U8,
    /// Signed 8-bit.
    I8,
    /// Unsigned 16-bit.
    U16,
    /// Signed 16-bit.
    I16,
    /// Unsigned 32-bit.
    U32,
    /// Signed 32-bit.
    I32,
    /// IEEE 32-bit float.
    F32,
    /// IEEE 64-bit float.
    F64,
}

impl ElemType {
    /// Bytes per sample.
    pub fn size(self) -> usize {
        match self {
            ElemType::U8 | ElemType::I8 => 1,
            ElemType::U16 | ElemType::I16 => 2,
            ElemType::U32 | ElemType::I32 | ElemType::F32 => 4,
            ElemType::F64 => 8,
        }
    }
}

/// Byte order of multi-byte samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    /// Least significant byte first.
    Little,
    /// Most significant byte first.
    Big,
}

/// Compression of a data block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Stored as is.
    None,
    /// A gzip stream (NRRD `gzip`, `.nii.gz`).
    Gzip,
    /// A zlib stream (MetaImage `CompressedData = True`).
    Zlib,
}

/// Voxel count of `dims`, refused (before anything is allocated) when it is zero or exceeds
/// `opts.max_voxels`. Returns the count and the byte size for `elem`.
pub fn checked_size(
    path: &Path,
    dims: [usize; 3],
    elem: ElemType,
    opts: &ReadOptions,
) -> Result<(usize, usize), IoError> {
    let mut n: u64 = 1;
    for (axis, &d) in dims.iter().enumerate() {
        if d == 0 {
            return Err(IoError::InvalidGrid {
                path: path.to_path_buf(),
                source: osteon_volume::VolumeError::ZeroDimension { axis },
            });
        }
        n = n.saturating_mul(d as u64);
    }
    if n > opts.max_voxels {
        return Err(IoError::TooLarge {
            path: path.to_path_buf(),
            reason: format!(
                "dimensions {}×{}×{} = {n} voxels exceed the limit of {} voxels",
                dims[0], dims[1], dims[2], opts.max_voxels
            ),
        });
    }
    let bytes = n.saturating_mul(elem.size() as u64);
    let (Ok(n), Ok(bytes)) = (usize::try_from(n), usize::try_from(bytes)) else {
        return Err(IoError::TooLarge {
            path: path.to_path_buf(),
            reason: format!("{n} voxels do not fit this machine's address space"),
        });
    };
    Ok((n, bytes))
}

/// Resolves a detached data file named in a header, relative to the header's folder, and
/// refuses it (unless `opts.allow_outside_folder`) when its canonical path lies outside that
/// folder. A missing file is [`IoError::NotFound`] naming the data file.
pub fn resolve_data_file(
    header: &Path,
    name: &str,
    opts: &ReadOptions,
) -> Result<PathBuf, IoError> {
    let dir = header_dir(header);
    let target = dir.join(name);
    let canon = std::fs::canonicalize(&target).map_err(|e| IoError::io(&target, e))?;
    if canon.is_dir() {
        return Err(IoError::malformed(
            header,
            format!("data file {} is a folder, not a file", target.display()),
        ));
    }
    if !opts.allow_outside_folder {
        let canon_dir = std::fs::canonicalize(&dir).map_err(|e| IoError::io(&dir, e))?;
        if !canon.starts_with(&canon_dir) {
            return Err(IoError::OutsideFolder {
                path: header.to_path_buf(),
                target,
            });
        }
    }
    Ok(target)
}

/// The folder a header's relative paths start from.
pub fn header_dir(header: &Path) -> PathBuf {
    match header.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Expands a printf-style pattern (`%d`, `%0Nd`, `%Nd`, `%%`) with one integer.
/// Returns `None` when the pattern holds no conversion or an unsupported one.
pub fn printf_int(pattern: &str, value: i64) -> Option<String> {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    let mut used = false;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let mut zero = false;
        let mut width = 0usize;
        if chars.peek() == Some(&'0') {
            zero = true;
            chars.next();
        }
        while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
            width = width.checked_mul(10)?.checked_add(d as usize)?;
            chars.next();
            if width > 64 {
                return None;
            }
        }
        match chars.next() {
            Some('d') | Some('i') | Some('u') => {}
            _ => return None,
        }
        if used {
            return None;
        }
        used = true;
        let s = if zero {
            format!("{value:0width$}")
        } else {
            format!("{value:width$}")
        };
        out.push_str(&s);
    }
    used.then_some(out)
}

/// Reads exactly `expected` bytes of (possibly compressed) data from `reader`.
///
/// Compressed streams are read through a reader capped at `expected` bytes, so a header that
/// declares far more than the data holds costs no more memory than the data itself: the
/// buffer grows with what arrives (first reservation bounded by `compressed_len` times the
/// deflate maximum ratio). A stream that ends early, or is cut inside, is
/// [`IoError::Truncated`].
pub fn read_block(
    path: &Path,
    reader: impl Read,
    compression: Compression,
    expected: usize,
    compressed_len: u64,
) -> Result<Vec<u8>, IoError> {
    match compression {
        Compression::None => read_capped(path, reader, expected, expected),
        Compression::Gzip => {
            let dec = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(reader));
            read_stream(path, dec, expected, inflate_bound(compressed_len, expected))
        }
        Compression::Zlib => {
            let dec = flate2::read::ZlibDecoder::new(std::io::BufReader::new(reader));
            read_stream(path, dec, expected, inflate_bound(compressed_len, expected))
        }
    }
}

/// Expands a detached-data printf pattern with its `min max step` range (NRRD `data file`,
/// MetaImage `ElementDataFile`) into the data files, each resolved (and checked against the
/// header's folder) by [`resolve_data_file`]. `what` names the header field in errors.
pub fn expand_pattern(
    path: &Path,
    what: &str,
    pattern: &str,
    range: &[&str],
    opts: &ReadOptions,
) -> Result<Vec<PathBuf>, IoError> {
    let nums: Option<Vec<i64>> = range.iter().take(3).map(|t| t.parse().ok()).collect();
    let Some(&[min, max, step]) = nums.as_deref() else {
        return Err(IoError::malformed(
            path,
            format!("{what} pattern {pattern:?}: expected `pattern min max step`"),
        ));
    };
    // Checked: a range such as `-9223372036854775807 9223372036854775807 1` overflowed the
    // subtraction (a panic, or a wrapped count in release builds).
    let count = max
        .checked_sub(min)
        .and_then(|d| d.checked_div(step))
        .filter(|&c| (0..=1 << 20).contains(&c));
    let Some(count) = count else {
        return Err(IoError::malformed(
            path,
            format!("{what} pattern {pattern:?}: bad range {min} {max} {step}"),
        ));
    };
    (0..=count)
        .map(|n| {
            let name = printf_int(pattern, min + n * step)
                .ok_or_else(|| IoError::malformed(path, format!("{what} pattern {pattern:?}")))?;
            resolve_data_file(path, &name, opts)
        })
        .collect()
}

/// Reads exactly `expected` bytes from an already-decompressing reader (gzip stream whose
/// header was consumed by the caller) of `compressed_len` compressed bytes, with the same
/// guards as [`read_block`].
pub fn read_inflated(
    path: &Path,
    reader: impl Read,
    expected: usize,
    compressed_len: u64,
) -> Result<Vec<u8>, IoError> {
    read_stream(
        path,
        reader,
        expected,
        inflate_bound(compressed_len, expected),
    )
}

/// Deflate cannot expand by more than about 1032:1, so this many bytes is all a compressed
/// input of `compressed_len` bytes can yield.
fn inflate_bound(compressed_len: u64, expected: usize) -> usize {
    let bound = compressed_len.saturating_mul(1032).saturating_add(1 << 16);
    usize::try_from(bound).map_or(expected, |b| b.min(expected))
}

/// [`read_capped`] for a decompressing reader, then decompresses to the end of the stream
/// so that its checksum (gzip CRC-32, zlib Adler-32) is verified: stopping at the declared
/// size left a damaged stream that still inflated to the right length read as good data.
/// Bytes after a complete gzip member that are not another member ("trailing garbage",
/// which `gzip -d` ignores too) are accepted.
fn read_stream(
    path: &Path,
    mut reader: impl Read,
    expected: usize,
    reserve: usize,
) -> Result<Vec<u8>, IoError> {
    let out = read_capped(path, &mut reader, expected, reserve)?;
    match std::io::copy(&mut reader, &mut std::io::sink()) {
        Ok(_) => Ok(out),
        Err(e)
            if e.kind() == std::io::ErrorKind::InvalidInput
                && e.to_string() == "invalid gzip header" =>
        {
            Ok(out)
        }
        Err(e) => Err(IoError::malformed(
            path,
            format!(
                "corrupt compressed data: {e} (after the {expected} bytes of data were \
                 decoded: the stream's end or checksum is damaged)"
            ),
        )),
    }
}

fn read_capped(
    path: &Path,
    reader: impl Read,
    expected: usize,
    reserve: usize,
) -> Result<Vec<u8>, IoError> {
    let mut out: Vec<u8> = Vec::new();
    out.try_reserve_exact(reserve)
        .map_err(|_| IoError::TooLarge {
            path: path.to_path_buf(),
            reason: format!("cannot allocate {reserve} bytes"),
        })?;
    let mut capped = reader.take(expected as u64);
    match capped.read_to_end(&mut out) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            // A cut compressed stream: report what arrived.
            return Err(IoError::Truncated {
                path: path.to_path_buf(),
                expected: expected as u64,
                found: out.len() as u64,
            });
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData
            ) =>
        {
            // A damaged stream (bad deflate block, checksum): not a short file.
            return Err(IoError::malformed(
                path,
                format!(
                    "corrupt compressed data after {} of {expected} bytes: {e}",
                    out.len()
                ),
            ));
        }
        Err(e) => return Err(IoError::io(path, e)),
    }
    if out.len() < expected {
        return Err(IoError::Truncated {
            path: path.to_path_buf(),
            expected: expected as u64,
            found: out.len() as u64,
        });
    }
    Ok(out)
}

/// Linear rescale `value = slope·stored + intercept`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rescale {
    /// Multiplier.
    pub slope: f64,
    /// Offset.
    pub intercept: f64,
}

impl Rescale {
    /// The identity.
    pub const IDENTITY: Rescale = Rescale {
        slope: 1.0,
        intercept: 0.0,
    };

    /// Whether this rescale changes nothing.
    pub fn is_identity(&self) -> bool {
        self.slope == 1.0 && self.intercept == 0.0
    }
}

const CHUNK: usize = 1 << 16;

fn decode<T, const N: usize>(bytes: &[u8], conv: fn([u8; N]) -> T) -> Vec<T>
where
    T: Send + Copy,
{
    bytes
        .par_chunks(CHUNK * N)
        .flat_map_iter(|c| {
            c.chunks_exact(N).map(move |b| {
                let mut a = [0u8; N];
                a.copy_from_slice(b);
                conv(a)
            })
        })
        .collect()
}

/// Samples as decoded from the bytes, before any rescale.
enum Typed {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

fn typed(bytes: Vec<u8>, elem: ElemType, endian: Endian) -> Typed {
    let le = endian == Endian::Little;
    match elem {
        ElemType::U8 => Typed::U8(bytes),
        ElemType::I8 => Typed::I8(bytes.par_iter().map(|&b| b as i8).collect()),
        ElemType::U16 => Typed::U16(decode(
            &bytes,
            if le {
                u16::from_le_bytes
            } else {
                u16::from_be_bytes
            },
        )),
        ElemType::I16 => Typed::I16(decode(
            &bytes,
            if le {
                i16::from_le_bytes
            } else {
                i16::from_be_bytes
            },
        )),
        ElemType::U32 => Typed::U32(decode(
            &bytes,
            if le {
                u32::from_le_bytes
            } else {
                u32::from_be_bytes
            },
        )),
        ElemType::I32 => Typed::I32(decode(
            &bytes,
            if le {
                i32::from_le_bytes
            } else {
                i32::from_be_bytes
            },
        )),
        ElemType::F32 => Typed::F32(decode(
            &bytes,
            if le {
                f32::from_le_bytes
            } else {
                f32::from_be_bytes
            },
        )),
        ElemType::F64 => Typed::F64(decode(
            &bytes,
            if le {
                f64::from_le_bytes
            } else {
                f64::from_be_bytes
            },
        )),
    }
}

/// Finite min and max of samples seen as f64, and whether every finite sample is integral.
fn stats<T: Copy + Send + Sync + Into<f64>>(data: &[T]) -> (f64, f64, bool) {
    data.par_chunks(CHUNK)
        .map(|c| {
            let mut lo = f64::INFINITY;
            let mut hi = f64::NEG_INFINITY;
            let mut integral = true;
            for &v in c {
                let v: f64 = v.into();
                if v.is_finite() {
                    lo = lo.min(v);
                    hi = hi.max(v);
                    integral &= v.fract() == 0.0;
                } else {
                    integral = false;
                }
            }
            (lo, hi, integral)
        })
        .reduce(
            || (f64::INFINITY, f64::NEG_INFINITY, true),
            |a, b| (a.0.min(b.0), a.1.max(b.1), a.2 && b.2),
        )
}

fn map_vec<T: Copy + Sync, U: Send>(data: &[T], f: impl Fn(T) -> U + Sync + Send) -> Vec<U> {
    data.par_iter().map(|&v| f(v)).collect()
}

/// Integer sample types that a rescaled (or converted) volume may land in, narrowest first.
fn narrowest(lo: f64, hi: f64, prefer_u8: bool) -> Option<&'static str> {
    if prefer_u8 && lo >= 0.0 && hi <= 255.0 {
        Some("u8")
    } else if lo >= f64::from(i16::MIN) && hi <= f64::from(i16::MAX) {
        Some("i16")
    } else if lo >= 0.0 && hi <= f64::from(u16::MAX) {
        Some("u16")
    } else if lo >= f64::from(i32::MIN) && hi <= f64::from(i32::MAX) {
        Some("i32")
    } else {
        None
    }
}

fn build<T: Copy>(
    path: &Path,
    grid: &Grid,
    data: Vec<T>,
    wrap: fn(Volume<T>) -> ScalarVolume,
) -> Result<ScalarVolume, IoError> {
    Volume::new(grid.clone(), data)
        .map(wrap)
        .map_err(|source| IoError::InvalidGrid {
            path: path.to_path_buf(),
            source,
        })
}

/// Turns decoded bytes into a volume.
///
/// Without a rescale, u8 → `U8`, i16 → `I16`, u16 → `U16`, i32 → `I32`, f32 → `F32`; i8
/// becomes `I16`, u32 becomes `I32` when it fits, f64 becomes `F32`. With a rescale (or for
/// those widened types), the values `slope·stored + intercept` are stored in the narrowest
/// integer type that holds them exactly (u8 only for u8 sources, then i16, u16, i32), or
/// `F32` when they are not integral.
pub fn to_volume(
    path: &Path,
    grid: &Grid,
    bytes: Vec<u8>,
    elem: ElemType,
    endian: Endian,
    rescale: Rescale,
) -> Result<ScalarVolume, IoError> {
    let t = typed(bytes, elem, endian);
    if rescale.is_identity() {
        match t {
            Typed::U8(v) => return build(path, grid, v, ScalarVolume::U8),
            Typed::I16(v) => return build(path, grid, v, ScalarVolume::I16),
            Typed::U16(v) => return build(path, grid, v, ScalarVolume::U16),
            Typed::I32(v) => return build(path, grid, v, ScalarVolume::I32),
            Typed::F32(v) => return build(path, grid, v, ScalarVolume::F32),
            other => return rescaled(path, grid, other, rescale),
        }
    }
    rescaled(path, grid, t, rescale)
}

fn rescaled(path: &Path, grid: &Grid, t: Typed, r: Rescale) -> Result<ScalarVolume, IoError> {
    let (s, b) = (r.slope, r.intercept);
    let (lo, hi, integral, from_u8) = match &t {
        Typed::U8(v) => with(stats(v), true),
        Typed::I8(v) => with(stats(v), false),
        Typed::U16(v) => with(stats(v), false),
        Typed::I16(v) => with(stats(v), false),
        Typed::U32(v) => with(stats(v), false),
        Typed::I32(v) => with(stats(v), false),
        Typed::F32(v) => with(stats(v), false),
        Typed::F64(v) => with(stats(v), false),
    };
    // Integral stored values stay integral under an integral slope and intercept; the
    // extremes map to the extremes of the result.
    let (a, c) = (s * lo + b, s * hi + b);
    let (rlo, rhi) = (a.min(c), a.max(c));
    // Values stored as f32 must stay finite: a huge slope (or f64 samples past f32) would
    // turn finite samples into infinities that read as "0 .. 0" and mesh as solid bone.
    let f32_max = f64::from(f32::MAX);
    if lo <= hi && !(rlo >= -f32_max && rhi <= f32_max) {
        return Err(IoError::malformed(
            path,
            format!(
                "values {lo} .. {hi} (slope {s}, intercept {b}) give {rlo:e} .. {rhi:e}, \
                 beyond the range of 32-bit floats"
            ),
        ));
    }
    let target = if integral && s.fract() == 0.0 && b.fract() == 0.0 && lo <= hi {
        narrowest(rlo, rhi, from_u8)
    } else {
        None
    };
    macro_rules! conv {
        ($v:expr) => {
            match target {
                Some("u8") => build(
                    path,
                    grid,
                    map_vec($v, |x| (s * f64::from(x) + b) as u8),
                    ScalarVolume::U8,
                ),
                Some("i16") => build(
                    path,
                    grid,
                    map_vec($v, |x| (s * f64::from(x) + b) as i16),
                    ScalarVolume::I16,
                ),
                Some("u16") => build(
                    path,
                    grid,
                    map_vec($v, |x| (s * f64::from(x) + b) as u16),
                    ScalarVolume::U16,
                ),
                Some("i32") => build(
                    path,
                    grid,
                    map_vec($v, |x| (s * f64::from(x) + b) as i32),
                    ScalarVolume::I32,
                ),
                _ => build(
                    path,
                    grid,
                    map_vec($v, |x| (s * f64::from(x) + b) as f32),
                    ScalarVolume::F32,
                ),
            }
        };
    }
    match &t {
        Typed::U8(v) => conv!(v),
        Typed::I8(v) => conv!(v),
        Typed::U16(v) => conv!(v),
        Typed::I16(v) => conv!(v),
        Typed::U32(v) => conv!(v),
        Typed::I32(v) => conv!(v),
        Typed::F32(v) => conv!(v),
        Typed::F64(v) => conv!(v),
    }
}

fn with((lo, hi, integral): (f64, f64, bool), from_u8: bool) -> (f64, f64, bool, bool) {
    (lo, hi, integral, from_u8)
}

/// A `sheared-grid` QC warning when the axis vectors of `grid` are not perpendicular (more
/// than 0.01°), as the DICOM reader's `gantry-tilt`: such a header is read as written
/// (voxels where the affine puts them), but it is unusual enough to say so.
pub fn shear_warning(grid: &Grid) -> Option<crate::QcWarning> {
    let d = &grid.direction;
    let dot = |a: usize, b: usize| (0..3).map(|c| d[a][c] * d[b][c]).sum::<f64>();
    let worst = [(0, 1), (0, 2), (1, 2)]
        .iter()
        .map(|&(a, b)| (90.0 - dot(a, b).clamp(-1.0, 1.0).acos().to_degrees()).abs())
        .fold(0.0, f64::max);
    (worst > 0.01).then(|| {
        crate::QcWarning::new(
            "sheared-grid",
            format!(
                "the axis vectors are up to {worst:.2}° from perpendicular (a sheared grid, \
                 e.g. gantry tilt); voxels are placed as the header says"
            ),
        )
    })
}

/// A `non-finite-values` QC warning when a float volume holds NaN or infinite samples
/// (counted), `None` otherwise. NaN never meets a threshold, but +inf meets every lower
/// bound: either way the user should know the data are damaged or padded.
pub fn nonfinite_warning(vol: &ScalarVolume) -> Option<crate::QcWarning> {
    let ScalarVolume::F32(v) = vol else {
        return None;
    };
    let (nan, inf) = v
        .data
        .par_chunks(CHUNK)
        .map(|c| {
            c.iter().fold((0u64, 0u64), |(n, i), x| {
                (n + u64::from(x.is_nan()), i + u64::from(x.is_infinite()))
            })
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    (nan + inf > 0).then(|| {
        crate::QcWarning::new(
            "non-finite-values",
            format!(
                "{nan} NaN and {inf} infinite samples of {}: NaN voxels are never \
                 selected, +inf voxels always are",
                v.data.len()
            ),
        )
    })
}

/// Guesses what the values of a volume read from a format without a value-kind field mean:
///
/// * only the values {0, 1} or {0, 255} (both present or 0 alone does not count) → `Mask`;
/// * an integer volume whose minimum is ≤ −500 → `CtHu` (air is −1000 HU);
/// * a u8 volume with at most 64 distinct values, all below 64 → `Labels` (a windowed 8-bit
///   CT spreads over the 0…255 range; label maps number structures from 0 upwards);
/// * anything else → `CtRaw`.
pub fn infer_kind(vol: &ScalarVolume) -> ValueKind {
    match vol {
        ScalarVolume::U8(v) => {
            let hist = histogram_u8(&v.data);
            let present: Vec<usize> = (0..256).filter(|&i| hist[i] > 0).collect();
            if present == [0, 1] || present == [0, 255] || present == [1] || present == [255] {
                ValueKind::Mask
            } else if present.len() > 2
                && present.len() <= 64
                && present.last().is_some_and(|&m| m < 64)
            {
                ValueKind::Labels
            } else {
                ValueKind::CtRaw
            }
        }
        ScalarVolume::F32(_) => {
            let (lo, _) = vol.value_range().unwrap_or((0.0, 0.0));
            if lo <= -500.0 {
                ValueKind::CtHu
            } else {
                ValueKind::CtRaw
            }
        }
        _ => {
            let Some((lo, hi)) = vol.value_range() else {
                return ValueKind::CtRaw;
            };
            if lo <= -500.0 {
                ValueKind::CtHu
            } else if lo >= 0.0 && (hi == 1.0 || hi == 255.0) && is_binary(vol, hi) {
                ValueKind::Mask
            } else {
                ValueKind::CtRaw
            }
        }
    }
}

fn is_binary(vol: &ScalarVolume, hi: f64) -> bool {
    let n = vol.grid().len();
    (0..n).into_par_iter().with_min_len(CHUNK).all(|i| {
        let v = vol.value_f64(i);
        v == 0.0 || v == hi
    })
}

fn histogram_u8(data: &[u8]) -> [u64; 256] {
    data.par_chunks(CHUNK)
        .map(|c| {
            let mut h = [0u64; 256];
            for &v in c {
                h[usize::from(v)] += 1;
            }
            h
        })
        .reduce(
            || [0u64; 256],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b.iter()) {
                    *x += y;
                }
                a
            },
        )
}

/// Index-to-world 3×3 (columns = axis vectors scaled by spacing) and origin → a grid.
/// Spacing is the column norm, direction rows the unit columns. `flip_xy` converts a RAS
/// matrix to LPS.
pub fn grid_from_affine(
    path: &Path,
    dims: [usize; 3],
    cols: [[f64; 3]; 3],
    origin: [f64; 3],
    flip_xy: bool,
    frame: osteon_geom::Frame,
) -> Result<Grid, IoError> {
    let f = |v: [f64; 3]| {
        if flip_xy {
            [-v[0], -v[1], v[2]]
        } else {
            v
        }
    };
    let mut spacing = [0.0; 3];
    let mut direction = [[0.0; 3]; 3];
    for a in 0..3 {
        let c = f(cols[a]);
        let n = (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt();
        spacing[a] = n;
        direction[a] = if n > 0.0 && n.is_finite() {
            [c[0] / n + 0.0, c[1] / n + 0.0, c[2] / n + 0.0]
        } else {
            // Reported as an invalid spacing by `validate` below.
            let mut e = [0.0; 3];
            e[a] = 1.0;
            e
        };
    }
    let grid = Grid {
        dims,
        spacing,
        // `+ 0.0` turns the −0.0 of a negated zero into 0.0 (cleaner JSON and reports).
        origin: f(origin).map(|v| v + 0.0),
        direction,
        frame,
    };
    grid.validate().map_err(|source| IoError::InvalidGrid {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(grid)
}

/// Length of a file in bytes.
pub fn file_len(path: &Path) -> Result<u64, IoError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| IoError::io(path, e))
}

/// Opens a file, mapping errors to [`IoError`] naming it.
pub fn open(path: &Path) -> Result<std::fs::File, IoError> {
    std::fs::File::open(path).map_err(|e| IoError::io(path, e))
}

/// Where one data file's bytes start.
#[derive(Clone, Debug)]
pub struct Source {
    /// The data file (the header itself for attached data).
    pub path: PathBuf,
    /// Bytes before the data (the attached header), skipped first.
    pub offset: u64,
    /// Lines skipped after `offset` (NRRD `line skip`).
    pub line_skip: u64,
    /// Bytes skipped after the lines; −1 = the data are the last bytes of the file
    /// (uncompressed data only).
    pub byte_skip: i64,
}

/// Reads `nbytes` of data spread evenly over `sources` (one file, or one per slice/slab, in
/// order) and concatenates them. With compression, each file holds its own stream; when
/// `skip_inside_stream` (NRRD) the byte skip counts decompressed bytes, otherwise (MetaImage
/// `HeaderSize`) raw file bytes. Every size is checked before allocation; short data is
/// [`IoError::Truncated`] naming the data file.
pub fn read_sources(
    header: &Path,
    sources: &[Source],
    compression: Compression,
    skip_inside_stream: bool,
    nbytes: usize,
) -> Result<Vec<u8>, IoError> {
    if nbytes.checked_rem(sources.len()) != Some(0) {
        return Err(IoError::malformed(
            header,
            format!(
                "{nbytes} bytes of data cannot be split evenly over {} data files",
                sources.len()
            ),
        ));
    }
    let part = nbytes / sources.len();
    let mut out: Vec<u8> = Vec::new();
    for src in sources {
        let p = &src.path;
        let len = file_len(p)?;
        let mut start = src.offset;
        if src.line_skip > 0 {
            start = skip_lines(p, start, src.line_skip)?;
        }
        let mut file = open(p)?;
        let seek = |file: &mut std::fs::File, at: u64| {
            use std::io::Seek;
            file.seek(std::io::SeekFrom::Start(at))
                .map_err(|e| IoError::io(p, e))
        };
        let chunk = match compression {
            Compression::None => {
                let s = if src.byte_skip < 0 {
                    len.saturating_sub(part as u64).max(start)
                } else {
                    start.saturating_add(src.byte_skip as u64)
                };
                let avail = len.saturating_sub(s);
                if avail < part as u64 {
                    return Err(IoError::Truncated {
                        path: p.clone(),
                        expected: part as u64,
                        found: avail,
                    });
                }
                seek(&mut file, s)?;
                read_capped(p, std::io::BufReader::new(file), part, part)?
            }
            Compression::Gzip | Compression::Zlib => {
                if src.byte_skip < 0 {
                    return Err(IoError::malformed(
                        p,
                        "a byte skip of -1 (data at the end) is only defined for uncompressed data",
                    ));
                }
                let skip = src.byte_skip as u64;
                let (s, inner) = if skip_inside_stream {
                    (start, skip)
                } else {
                    (start.saturating_add(skip), 0)
                };
                if s > len {
                    return Err(IoError::Truncated {
                        path: p.clone(),
                        expected: part as u64,
                        found: 0,
                    });
                }
                seek(&mut file, s)?;
                let reader = std::io::BufReader::new(file);
                let clen = len - s;
                let want = part.saturating_add(inner as usize);
                let mut v = match compression {
                    Compression::Gzip => read_stream(
                        p,
                        flate2::read::MultiGzDecoder::new(reader),
                        want,
                        inflate_bound(clen, want),
                    )?,
                    _ => read_stream(
                        p,
                        flate2::read::ZlibDecoder::new(reader),
                        want,
                        inflate_bound(clen, want),
                    )?,
                };
                if inner > 0 {
                    v.drain(..inner as usize);
                }
                v
            }
        };
        if sources.len() == 1 {
            return Ok(chunk);
        }
        if out.is_empty() {
            out.try_reserve_exact(nbytes)
                .map_err(|_| IoError::TooLarge {
                    path: header.to_path_buf(),
                    reason: format!("cannot allocate {nbytes} bytes"),
                })?;
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Offset just after `lines` newlines counted from `start`.
fn skip_lines(path: &Path, start: u64, lines: u64) -> Result<u64, IoError> {
    use std::io::{BufRead, Seek};
    let mut file = open(path)?;
    file.seek(std::io::SeekFrom::Start(start))
        .map_err(|e| IoError::io(path, e))?;
    let mut r = std::io::BufReader::new(file);
    let mut pos = start;
    let mut buf = Vec::new();
    for done in 0..lines {
        buf.clear();
        let n = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| IoError::io(path, e))?;
        if n == 0 {
            // Counted in lines, not bytes: `Truncated` would print "expected N bytes".
            return Err(IoError::malformed(
                path,
                format!("line skip {lines}: the file ends after {done} lines"),
            ));
        }
        pos += n as u64;
    }
    Ok(pos)
}

/// Parses whitespace-separated numbers.
pub fn parse_numbers(s: &str) -> Option<Vec<f64>> {
    s.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .map(|t| t.parse::<f64>().ok())
        .collect()
}

/// Reads the beginning of a header file (at most `limit` bytes).
pub fn read_head(path: &Path, limit: u64) -> Result<Vec<u8>, IoError> {
    let f = open(path)?;
    let mut v = Vec::new();
    f.take(limit)
        .read_to_end(&mut v)
        .map_err(|e| IoError::io(path, e))?;
    Ok(v)
}
