//! NIfTI-1 reader (`.nii`, `.nii.gz`; gzip detected by its magic bytes, not the name).
//!
//! In: a single-file NIfTI-1 (`n+1`) of either byte order with a 3-D volume (`dim[0]` = 3,
//! or 4 with `dim[4]` = 1) of u8, i8, i16, u16, i32, u32, f32 or f64 samples.
//! Out: a [`Scan`] in LPS millimetres. Geometry follows the NIfTI-1 standard: the sform
//! (`srow_*`) when `sform_code > 0`, else the qform (quaternion, `qfac` = sign of
//! `pixdim[0]`) when `qform_code > 0`, else `pixdim` scaling in nibabel's ANALYZE fallback
//! (x axis flipped, volume centred on the origin; a `no-orientation` warning says so — the
//! orientation of such a file is a guess). The NIfTI world is
//! RAS: x and y of the origin and of the axis vectors are negated to give LPS. Spacing is the
//! norm of each axis column, direction rows the unit columns. `scl_slope`/`scl_inter` are
//! applied when the slope is non-zero and the pair is not the identity; integer types are
//! kept when the result stays integral and fits (see [`super::raw::to_volume`]).
//!
//! Guards: the declared size is checked against `ReadOptions::max_voxels` and, for `.nii`,
//! against the file length before anything is allocated; `.nii.gz` is decompressed through
//! a reader capped at the declared size. Short data is [`IoError::Truncated`].
//!
//! The value kind is `Labels` for `intent_code` 1002 (NIFTI_INTENT_LABEL), otherwise
//! inferred by [`super::raw::infer_kind`].

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use osteon_geom::Frame;
use osteon_volume::ValueKind;

use super::raw::{self, Compression, ElemType, Endian, Rescale};
use crate::{IoError, QcWarning, ReadOptions, Scan, ScanFormat};

const HEADER_LEN: usize = 348;
/// NIFTI_INTENT_LABEL.
const INTENT_LABEL: i16 = 1002;

/// The fields of a NIfTI-1 header that osteon uses.
struct Header {
    endian: Endian,
    dims: [usize; 3],
    elem: ElemType,
    pixdim: [f64; 8],
    vox_offset: u64,
    rescale: Rescale,
    intent: i16,
    qform_code: i16,
    sform_code: i16,
    quatern: [f64; 3],
    qoffset: [f64; 3],
    srow: [[f64; 4]; 3],
}

struct Bytes<'a> {
    b: &'a [u8; HEADER_LEN],
    le: bool,
}

impl Bytes<'_> {
    fn arr<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut a = [0u8; N];
        // `at + N <= HEADER_LEN` for every offset used below (constants of the format).
        a.copy_from_slice(&self.b[at..at + N]);
        a
    }
    fn i16(&self, at: usize) -> i16 {
        let a = self.arr::<2>(at);
        if self.le {
            i16::from_le_bytes(a)
        } else {
            i16::from_be_bytes(a)
        }
    }
    fn f32(&self, at: usize) -> f64 {
        let a = self.arr::<4>(at);
        f64::from(if self.le {
            f32::from_le_bytes(a)
        } else {
            f32::from_be_bytes(a)
        })
    }
}

impl Header {
    fn parse(path: &Path, b: &[u8; HEADER_LEN]) -> Result<Header, IoError> {
        let le = i32::from_le_bytes([b[0], b[1], b[2], b[3]]) == 348;
        let be = i32::from_be_bytes([b[0], b[1], b[2], b[3]]) == 348;
        if !le && !be {
            return Err(IoError::UnknownFormat {
                path: path.to_path_buf(),
                reason: "sizeof_hdr is not 348: not a NIfTI-1 file".into(),
            });
        }
        let r = Bytes { b, le };
        match &b[344..348] {
            b"n+1\0" => {}
            b"ni1\0" => {
                return Err(IoError::Unsupported {
                    path: path.to_path_buf(),
                    what: "two-file NIfTI (.hdr/.img); convert it to a single .nii".into(),
                })
            }
            _ => {
                return Err(IoError::malformed(path, "NIfTI-1 magic \"n+1\" missing"));
            }
        }
        let dim: Vec<i16> = (0..8).map(|i| r.i16(40 + 2 * i)).collect();
        let ndim = dim[0];
        let ok = ndim == 3 || (ndim == 4 && dim[4] == 1);
        if !ok {
            return Err(IoError::Unsupported {
                path: path.to_path_buf(),
                what: format!(
                    "dim[0] = {ndim} (dims {:?}); only 3-D volumes are read",
                    &dim[1..=(ndim.clamp(1, 7) as usize)]
                ),
            });
        }
        let mut dims = [0usize; 3];
        for (a, d) in dims.iter_mut().enumerate() {
            let v = dim[a + 1];
            if v <= 0 {
                return Err(IoError::malformed(
                    path,
                    format!("dim[{}] = {v} (must be positive)", a + 1),
                ));
            }
            *d = v as usize;
        }
        let datatype = r.i16(70);
        let elem = match datatype {
            2 => ElemType::U8,
            4 => ElemType::I16,
            8 => ElemType::I32,
            16 => ElemType::F32,
            64 => ElemType::F64,
            256 => ElemType::I8,
            512 => ElemType::U16,
            768 => ElemType::U32,
            other => {
                return Err(IoError::Unsupported {
                    path: path.to_path_buf(),
                    what: format!(
                        "NIfTI datatype {other} (read: uint8, int8, int16, uint16, int32, uint32, float32, float64)"
                    ),
                })
            }
        };
        let mut pixdim = [0.0; 8];
        for (i, p) in pixdim.iter_mut().enumerate() {
            *p = r.f32(76 + 4 * i);
        }
        let vox = r.f32(108);
        if !(vox.is_finite() && vox >= 0.0) {
            return Err(IoError::malformed(path, format!("vox_offset = {vox}")));
        }
        // The standard requires at least 352 for n+1 files; older writers put 0 for "right after
        // the header and extension flag".
        let vox_offset = (vox as u64).max(352);
        let slope = r.f32(112);
        let inter = r.f32(116);
        // As nibabel: a zero or non-finite slope means "no scaling", but a valid slope with a
        // non-finite intercept cannot be applied nor safely ignored (values would be off by
        // the slope).
        if slope != 0.0 && slope.is_finite() && !inter.is_finite() {
            return Err(IoError::malformed(
                path,
                format!(
                    "scl_slope = {slope} with scl_inter = {inter}: the intercept is not finite"
                ),
            ));
        }
        let rescale = if slope != 0.0 && slope.is_finite() && inter.is_finite() {
            Rescale {
                slope,
                intercept: inter,
            }
        } else {
            Rescale::IDENTITY
        };
        let mut srow = [[0.0; 4]; 3];
        for (row, s) in srow.iter_mut().enumerate() {
            for (c, v) in s.iter_mut().enumerate() {
                *v = r.f32(280 + 16 * row + 4 * c);
            }
        }
        Ok(Header {
            endian: if le { Endian::Little } else { Endian::Big },
            dims,
            elem,
            pixdim,
            vox_offset,
            rescale,
            intent: r.i16(68),
            qform_code: r.i16(252),
            sform_code: r.i16(254),
            quatern: [r.f32(256), r.f32(260), r.f32(264)],
            qoffset: [r.f32(268), r.f32(272), r.f32(276)],
            srow,
        })
    }

    /// Index → RAS: the three axis columns (spacing included) and the origin.
    fn affine(&self, path: &Path) -> Result<([[f64; 3]; 3], [f64; 3]), IoError> {
        if self.sform_code > 0 {
            let s = &self.srow;
            // Named here: a NaN in srow_x read as "spacing along axis 0 is NaN mm".
            if s.iter().flatten().any(|v| !v.is_finite()) {
                return Err(IoError::malformed(
                    path,
                    format!("sform (srow_x, srow_y, srow_z) {s:?} holds a non-finite value"),
                ));
            }
            let cols = [
                [s[0][0], s[1][0], s[2][0]],
                [s[0][1], s[1][1], s[2][1]],
                [s[0][2], s[1][2], s[2][2]],
            ];
            return Ok((cols, [s[0][3], s[1][3], s[2][3]]));
        }
        // qform and the fallback both scale by pixdim[1..=3]: refuse unusable values here
        // rather than produce a degenerate grid.
        for axis in 0..3 {
            let p = self.pixdim[axis + 1];
            if !(p.is_finite() && p > 0.0) {
                return Err(IoError::InvalidGrid {
                    path: path.to_path_buf(),
                    source: osteon_volume::VolumeError::InvalidSpacing { axis, value: p },
                });
            }
        }
        let [dx, dy, dz] = [self.pixdim[1], self.pixdim[2], self.pixdim[3]];
        if self.qform_code > 0 {
            let [b, c, d] = self.quatern;
            if !self
                .quatern
                .iter()
                .chain(&self.qoffset)
                .all(|v| v.is_finite())
            {
                return Err(IoError::malformed(
                    path,
                    format!(
                        "qform quaternion {:?} / offset {:?} holds a non-finite value",
                        self.quatern, self.qoffset
                    ),
                ));
            }
            let a2 = 1.0 - (b * b + c * c + d * d);
            let (a, b, c, d) = if a2 < 1e-7 {
                // Rotation by 180°: a = 0, (b, c, d) renormalised (as in nifti1_io.c).
                let n = (b * b + c * c + d * d).sqrt();
                (0.0, b / n, c / n, d / n)
            } else {
                (a2.sqrt(), b, c, d)
            };
            let qfac = if self.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
            let r = [
                [
                    a * a + b * b - c * c - d * d,
                    2.0 * (b * c - a * d),
                    2.0 * (b * d + a * c),
                ],
                [
                    2.0 * (b * c + a * d),
                    a * a + c * c - b * b - d * d,
                    2.0 * (c * d - a * b),
                ],
                [
                    2.0 * (b * d - a * c),
                    2.0 * (c * d + a * b),
                    a * a + d * d - c * c - b * b,
                ],
            ];
            let sc = [dx, dy, dz * qfac];
            let cols = [0, 1, 2].map(|j| [r[0][j] * sc[j], r[1][j] * sc[j], r[2][j] * sc[j]]);
            return Ok((cols, self.qoffset));
        }
        // Neither form: the ANALYZE 7.5 fallback as nibabel builds it (x flipped —
        // radiological storage — and the volume centred on the origin). The NIfTI-1 text's
        // "method 1" (x = pixdim·i, no flip, origin 0) is what ITK does instead; the
        // project's reference stacks (shared/scans, made with nibabel) follow nibabel.
        let c = |a: usize, d: f64| (self.dims[a] as f64 - 1.0) / 2.0 * d;
        Ok((
            [[-dx, 0.0, 0.0], [0.0, dy, 0.0], [0.0, 0.0, dz]],
            [c(0, dx), -c(1, dy), -c(2, dz)],
        ))
    }
}

/// Reads a NIfTI-1 file (`.nii` or gzip-compressed `.nii.gz`).
pub fn read(path: &Path, opts: &ReadOptions) -> Result<Scan, IoError> {
    let mut file = raw::open(path)?;
    let file_len = raw::file_len(path)?;
    let mut magic = [0u8; 2];
    let gz = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    file.seek(SeekFrom::Start(0))
        .map_err(|e| IoError::io(path, e))?;

    let (header, bytes) = if gz {
        let mut dec = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file));
        let hb = read_header(path, &mut dec)?;
        let h = Header::parse(path, &hb)?;
        let (_, nbytes) = raw::checked_size(path, h.dims, h.elem, opts)?;
        let _grid_check = h.affine(path)?;
        skip(path, &mut dec, h.vox_offset - HEADER_LEN as u64).map_err(|e| match e {
            IoError::Truncated { found, .. } => {
                vox_offset_beyond(path, h.vox_offset, HEADER_LEN as u64 + found)
            }
            other => other,
        })?;
        let bytes = raw::read_inflated(path, dec, nbytes, file_len)?;
        (h, bytes)
    } else {
        let hb = read_header(path, &mut file)?;
        let h = Header::parse(path, &hb)?;
        let (_, nbytes) = raw::checked_size(path, h.dims, h.elem, opts)?;
        let _grid_check = h.affine(path)?;
        if h.vox_offset > file_len {
            return Err(vox_offset_beyond(path, h.vox_offset, file_len));
        }
        let needed = h.vox_offset.saturating_add(nbytes as u64);
        if file_len < needed {
            return Err(IoError::Truncated {
                path: path.to_path_buf(),
                expected: nbytes as u64,
                found: file_len.saturating_sub(h.vox_offset),
            });
        }
        file.seek(SeekFrom::Start(h.vox_offset))
            .map_err(|e| IoError::io(path, e))?;
        let bytes = raw::read_block(path, file, Compression::None, nbytes, 0)?;
        (h, bytes)
    };

    let (cols, origin) = header.affine(path)?;
    let grid = raw::grid_from_affine(path, header.dims, cols, origin, true, Frame::Lps)?;
    let volume = raw::to_volume(
        path,
        &grid,
        bytes,
        header.elem,
        header.endian,
        header.rescale,
    )?;
    let kind = if header.intent == INTENT_LABEL {
        ValueKind::Labels
    } else {
        raw::infer_kind(&volume)
    };
    let mut warnings: Vec<QcWarning> = raw::nonfinite_warning(&volume).into_iter().collect();
    warnings.extend(raw::shear_warning(&grid));
    if header.sform_code <= 0 && header.qform_code <= 0 {
        warnings.push(QcWarning::new(
            "no-orientation",
            "the NIfTI header has neither sform nor qform: orientation and origin are the \
             ANALYZE fallback (x flipped, volume centred), not known patient coordinates",
        ));
    }
    Ok(Scan {
        volume,
        kind,
        format: ScanFormat::Nifti,
        files: vec![path.to_path_buf()],
        warnings,
    })
}

/// `vox_offset` past the end of the (decompressed) file: said "truncated: expected N bytes
/// of data" before, N being the offset, not the data.
fn vox_offset_beyond(path: &Path, vox_offset: u64, len: u64) -> IoError {
    IoError::malformed(
        path,
        format!("vox_offset {vox_offset} lies beyond the end of the data ({len} bytes)"),
    )
}

fn read_header(path: &Path, r: &mut impl Read) -> Result<[u8; HEADER_LEN], IoError> {
    let mut hb = [0u8; HEADER_LEN];
    let mut n = 0;
    while n < HEADER_LEN {
        match r.read(&mut hb[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
                ) =>
            {
                break
            }
            Err(e) => return Err(IoError::io(path, e)),
        }
    }
    if n < HEADER_LEN {
        return Err(IoError::Truncated {
            path: path.to_path_buf(),
            expected: HEADER_LEN as u64,
            found: n as u64,
        });
    }
    Ok(hb)
}

fn skip(path: &Path, r: &mut impl Read, n: u64) -> Result<(), IoError> {
    let got = std::io::copy(&mut r.take(n), &mut std::io::sink()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            IoError::Truncated {
                path: path.to_path_buf(),
                expected: n,
                found: 0,
            }
        } else {
            IoError::io(path, e)
        }
    })?;
    if got < n {
        return Err(IoError::Truncated {
            path: path.to_path_buf(),
            expected: n,
            found: got,
        });
    }
    Ok(())
}
