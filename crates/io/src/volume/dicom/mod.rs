//! DICOM CT series → [`Scan`].
//!
//! **In:** a directory of DICOM part-10 files (or one file: then the series of that file is
//! read from its folder). The folder is scanned non-recursively; files without the "DICM"
//! marker and DICOM files that are not images (DICOMDIR, reports) are skipped.
//!
//! **Out:** a [`Scan`] with format [`ScanFormat::DicomSeries`]: the voxels after each
//! slice's RescaleSlope/RescaleIntercept (HU for CT), as `i16` when every value is an integer
//! that fits, else `f32`; [`ValueKind::CtHu`] for Modality CT with RescaleType HU or absent,
//! else [`ValueKind::CtRaw`]. Grid: dims `[Columns, Rows, slices]`; spacing
//! `[PixelSpacing[1], PixelSpacing[0], slice step]` in mm (DICOM PixelSpacing is "row
//! spacing \ column spacing": column index i steps along the IOP row direction by
//! PixelSpacing[1], row index j along the IOP column direction by PixelSpacing[0]); origin
//! = ImagePositionPatient of the first slice; direction rows = IOP row cosines, IOP column
//! cosines, unit stacking direction; frame LPS (DICOM patient coordinates).
//!
//! **Checks:**
//! * Series: grouped by SeriesInstanceUID; the one with most slices is read (ties: smallest
//!   UID), the others become `other-series` warnings.
//! * Slices: one frame, one sample (MONOCHROME2; MONOCHROME1, colour and multi-frame are
//!   [`IoError::Unsupported`]), BitsAllocated 8 or 16, equal Rows/Columns, PixelSpacing and
//!   ImageOrientationPatient (within 1e-4) — else [`IoError::Inconsistent`].
//! * Order: by ImagePositionPatient projected on the slice normal row × column, never by
//!   file name; two slices at one position are refused.
//! * Stacking: a stacking direction off the normal is reported as `gantry-tilt` (degrees)
//!   and becomes the k axis, so voxels stay where the scanner put them. Slice spacing that
//!   differs from the median by more than [`ReadOptions::spacing_tolerance`] is refused
//!   unless [`ReadOptions::allow_uneven`] (then: the mean spacing, and `uneven-spacing`);
//!   gaps of ≥ 1.5 median spacings are `missing-slices`.
//! * Size: Rows × Columns × slices above [`ReadOptions::max_voxels`] is
//!   [`IoError::TooLarge`], before any pixel is decoded.
//! * Transfer syntaxes: implicit/explicit VR little endian, deflated, RLE Lossless, JPEG
//!   baseline/extended/lossless (what dicom-pixeldata decodes in pure Rust); any other is
//!   [`IoError::Unsupported`] naming it and the file.
//!
//! Slices are decoded in parallel (rayon); the result does not depend on the thread count.
//! Every error names the file (or, for series-level problems, the directory).

mod geometry;
mod header;
mod pixels;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use osteon_geom::Frame;
use osteon_volume::{Grid, ScalarVolume, ValueKind, Volume};
use rayon::prelude::*;

use crate::{IoError, QcWarning, ReadOptions, Scan, ScanFormat};
use geometry::{build_stack, StackError};
use header::{read_header, Field, SliceHeader};
use pixels::{check_transfer_syntax, decode_slice, SampleFormat};

/// Tolerance on ImageOrientationPatient cosines and PixelSpacing (mm) between slices of one
/// series: DS values are written with about 6 decimals.
const SAME_GEOMETRY: f64 = 1e-4;

/// Reads the DICOM series in directory `path` (or the series of file `path` in its folder).
///
/// See the [module documentation](self) for what is read and checked.
pub fn read_series(path: &Path, opts: &ReadOptions) -> Result<Scan, IoError> {
    let meta = std::fs::metadata(path).map_err(|e| IoError::io(path, e))?;
    let (dir, wanted) = if meta.is_dir() {
        (path.to_path_buf(), None)
    } else {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        (parent, Some(path.to_path_buf()))
    };

    let (headers, skipped) = scan_directory(&dir)?;
    if let Some(file) = &wanted {
        if !headers.iter().any(|h| same_file(&h.path, file)) {
            return Err(IoError::UnknownFormat {
                path: file.clone(),
                reason: "not a DICOM image file".into(),
            });
        }
    }
    let (series, mut warnings) = choose_series(headers, wanted.as_deref());
    let slices = check_slices(series, &dir)?;

    let rows = usize::from(slices.rows);
    let cols = usize::from(slices.cols);
    let n = slices.headers.len();
    let voxels = (rows as u64) * (cols as u64) * (n as u64);
    if voxels > opts.max_voxels {
        return Err(IoError::TooLarge {
            path: dir,
            reason: format!(
                "the series has {cols}×{rows}×{n} = {voxels} voxels, more than the limit of {}",
                opts.max_voxels
            ),
        });
    }

    let positions: Vec<[f64; 3]> = slices.ipps.clone();
    let stack = build_stack(
        &positions,
        &slices.iop,
        slices.pixel_spacing,
        slices.headers[0].thickness,
        opts.spacing_tolerance,
        opts.allow_uneven,
    )
    .map_err(|e| stack_error(e, &slices.headers, &dir, &skipped))?;
    warnings.extend(stack.warnings.iter().cloned());

    let ordered: Vec<&SliceHeader> = stack.order.iter().map(|&i| &slices.headers[i]).collect();
    let grid = Grid {
        dims: [cols, rows, n],
        spacing: [
            slices.pixel_spacing[1],
            slices.pixel_spacing[0],
            stack.slice_spacing,
        ],
        origin: stack.origin,
        direction: stack.direction,
        frame: Frame::Lps,
    };
    grid.validate().map_err(|source| IoError::InvalidGrid {
        path: dir.clone(),
        source,
    })?;

    let volume = decode_volume(&ordered, &slices.formats_in(&stack.order), grid)?;

    let first = ordered[0];
    let hu = first
        .rescale_type
        .as_deref()
        .is_none_or(|t| t.eq_ignore_ascii_case("HU"));
    let kind = if first.modality.eq_ignore_ascii_case("CT") && hu {
        ValueKind::CtHu
    } else {
        ValueKind::CtRaw
    };
    let mut files: Vec<PathBuf> = slices.headers.iter().map(|h| h.path.clone()).collect();
    files.sort();
    Ok(Scan {
        volume,
        kind,
        format: ScanFormat::DicomSeries,
        files,
        warnings,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Headers of every DICOM image file directly in `dir`, sorted by path, and the files named
/// like DICOM (`.dcm`, `.dicom`, `.ima`) that were skipped for lacking the "DICM" marker
/// (emptied or cut short: named when the series then has a hole).
fn scan_directory(dir: &Path) -> Result<(Vec<SliceHeader>, Vec<PathBuf>), IoError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| IoError::io(dir, e))? {
        let entry = entry.map_err(|e| IoError::io(dir, e))?;
        let p = entry.path();
        // Follows symlinks; sub-directories are not searched.
        if p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    let scanned: Vec<Result<Option<SliceHeader>, IoError>> =
        files.par_iter().map(|p| read_header(p)).collect();
    let mut headers = Vec::new();
    let mut dicom_files = 0usize;
    let mut skipped = Vec::new();
    // Sequential pass: the first error in path order is reported, whatever the threads did.
    for (p, r) in files.iter().zip(scanned) {
        match r? {
            Some(h) => headers.push(h),
            None => {
                if header::has_dicm_marker(p).unwrap_or(false) {
                    dicom_files += 1;
                } else if p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    ["dcm", "dicom", "ima"].contains(&e.to_ascii_lowercase().as_str())
                }) {
                    skipped.push(p.clone());
                }
            }
        }
    }
    if headers.is_empty() {
        return Err(IoError::UnknownFormat {
            path: dir.to_path_buf(),
            reason: if dicom_files == 0 {
                format!(
                    "no DICOM files found ({} files looked at, none with the \"DICM\" marker)",
                    files.len()
                )
            } else {
                format!("no DICOM image files found ({dicom_files} DICOM files, none an image)")
            },
        });
    }
    Ok((headers, skipped))
}

/// Groups by SeriesInstanceUID and returns the series to read (that of `wanted`, else the
/// largest; ties to the smallest UID) and `other-series` warnings for the rest.
fn choose_series(
    headers: Vec<SliceHeader>,
    wanted: Option<&Path>,
) -> (Vec<SliceHeader>, Vec<QcWarning>) {
    let mut groups: BTreeMap<String, Vec<SliceHeader>> = BTreeMap::new();
    for h in headers {
        groups.entry(h.series_uid.clone()).or_default().push(h);
    }
    let chosen = wanted
        .and_then(|w| {
            groups
                .iter()
                .find(|(_, g)| g.iter().any(|h| same_file(&h.path, w)))
                .map(|(uid, _)| uid.clone())
        })
        .unwrap_or_else(|| {
            let mut best: Option<(&String, usize)> = None;
            for (uid, g) in &groups {
                if best.is_none_or(|(_, n)| g.len() > n) {
                    best = Some((uid, g.len()));
                }
            }
            best.map(|(u, _)| u.clone()).unwrap_or_default()
        });
    let series = groups.remove(&chosen).unwrap_or_default();
    let warnings = groups
        .iter()
        .map(|(uid, g)| {
            QcWarning::new(
                "other-series",
                format!(
                    "series {} ({} slice{}) in the same folder was not read; read series {} \
                     ({} slices)",
                    uid_name(uid),
                    g.len(),
                    if g.len() == 1 { "" } else { "s" },
                    uid_name(&chosen),
                    series.len()
                ),
            )
        })
        .collect();
    (series, warnings)
}

fn uid_name(uid: &str) -> String {
    if uid.is_empty() {
        "(no SeriesInstanceUID)".into()
    } else {
        uid.to_string()
    }
}

/// The checked, shared geometry of a series and each slice's sample format.
struct Slices {
    headers: Vec<SliceHeader>,
    rows: u16,
    cols: u16,
    iop: [f64; 6],
    pixel_spacing: [f64; 2],
    ipps: Vec<[f64; 3]>,
    formats: Vec<(SampleFormat, f64, f64)>,
}

impl Slices {
    fn formats_in(&self, order: &[usize]) -> Vec<(SampleFormat, f64, f64)> {
        order.iter().map(|&i| self.formats[i]).collect()
    }
}

fn field<T: Copy>(f: &Field<T>, path: &Path) -> Result<T, IoError> {
    f.as_ref()
        .copied()
        .map_err(|reason| IoError::malformed(path, reason.clone()))
}

/// Per-file checks (pixel format, transfer syntax, required geometry) and agreement between
/// files (size, orientation, pixel spacing).
fn check_slices(headers: Vec<SliceHeader>, dir: &Path) -> Result<Slices, IoError> {
    let mut formats = Vec::with_capacity(headers.len());
    let mut ipps = Vec::with_capacity(headers.len());
    // Rows, columns, IOP, PixelSpacing and the file they were first seen in.
    type Shared<'a> = (u16, u16, [f64; 6], [f64; 2], &'a Path);
    let mut shared: Option<Shared> = None;
    for h in &headers {
        let p = h.path.as_path();
        if h.frames > 1 {
            return Err(IoError::Unsupported {
                path: p.to_path_buf(),
                what: format!(
                    "multi-frame image ({} frames); only one slice per file is read",
                    h.frames
                ),
            });
        }
        let pi = h.photometric.to_ascii_uppercase();
        if h.samples_per_pixel != 1 || !pi.starts_with("MONOCHROME") {
            return Err(IoError::Unsupported {
                path: p.to_path_buf(),
                what: format!(
                    "colour image (PhotometricInterpretation {}, SamplesPerPixel {}); only \
                     greyscale CT is read",
                    h.photometric, h.samples_per_pixel
                ),
            });
        }
        if pi == "MONOCHROME1" {
            // Inverting would break the meaning of the rescaled values (HU): refuse.
            return Err(IoError::Unsupported {
                path: p.to_path_buf(),
                what: "PhotometricInterpretation MONOCHROME1 (inverted grey scale); only \
                       MONOCHROME2 is read"
                    .into(),
            });
        }
        let rows = field(&h.rows, p)?;
        let cols = field(&h.cols, p)?;
        if rows == 0 || cols == 0 {
            return Err(IoError::malformed(
                p,
                format!("image size is {cols}×{rows}"),
            ));
        }
        let allocated = field(&h.bits_allocated, p)?;
        let stored = field(&h.bits_stored, p)?;
        if allocated != 8 && allocated != 16 {
            return Err(IoError::Unsupported {
                path: p.to_path_buf(),
                what: format!("BitsAllocated {allocated} (only 8 and 16 are read)"),
            });
        }
        let high = h.high_bit.unwrap_or(stored.saturating_sub(1));
        if stored == 0 || stored > allocated || high >= allocated || high + 1 < stored {
            return Err(IoError::malformed(
                p,
                format!(
                    "BitsAllocated {allocated}, BitsStored {stored}, HighBit {high} do not fit"
                ),
            ));
        }
        if h.pixel_representation > 1 {
            return Err(IoError::malformed(
                p,
                format!(
                    "PixelRepresentation is {} (must be 0 or 1)",
                    h.pixel_representation
                ),
            ));
        }
        let slope = field(&h.slope, p)?;
        let intercept = field(&h.intercept, p)?;
        if slope == 0.0 {
            return Err(IoError::malformed(p, "RescaleSlope is 0"));
        }
        check_transfer_syntax(&h.transfer_syntax, p)?;
        let iop = field(&h.iop, p)?;
        let ipp = field(&h.ipp, p)?;
        let ps = field(&h.pixel_spacing, p)?;
        if ps.iter().any(|&v| v <= 0.0) {
            return Err(IoError::malformed(
                p,
                format!("PixelSpacing {} \\ {} is not positive", ps[0], ps[1]),
            ));
        }
        geometry::orientation(&iop).map_err(|e| match e {
            StackError::BadOrientation(r) => IoError::malformed(p, r),
            other => IoError::malformed(p, format!("{other:?}")),
        })?;
        match shared {
            None => shared = Some((rows, cols, iop, ps, p)),
            Some((r0, c0, iop0, ps0, p0)) => {
                let differs = |what: String| IoError::Inconsistent {
                    path: dir.to_path_buf(),
                    reason: format!(
                        "{what}: {} and {} belong to one series but differ",
                        p0.display(),
                        p.display()
                    ),
                };
                if (rows, cols) != (r0, c0) {
                    return Err(differs(format!(
                        "image size {c0}×{r0} vs {cols}×{rows} (columns × rows)"
                    )));
                }
                if iop
                    .iter()
                    .zip(&iop0)
                    .any(|(a, b)| (a - b).abs() > SAME_GEOMETRY)
                {
                    return Err(differs(format!(
                        "ImageOrientationPatient {iop0:?} vs {iop:?}"
                    )));
                }
                if ps
                    .iter()
                    .zip(&ps0)
                    .any(|(a, b)| (a - b).abs() > SAME_GEOMETRY)
                {
                    return Err(differs(format!("PixelSpacing {ps0:?} vs {ps:?}")));
                }
            }
        }
        ipps.push(ipp);
        formats.push((
            SampleFormat {
                bytes: usize::from(allocated / 8),
                shift: u32::from(high + 1 - stored),
                bits: u32::from(stored),
                signed: h.pixel_representation == 1,
            },
            slope,
            intercept,
        ));
    }
    let (rows, cols, iop, pixel_spacing, _) =
        shared.expect("choose_series returns at least one slice");
    Ok(Slices {
        headers,
        rows,
        cols,
        iop,
        pixel_spacing,
        ipps,
        formats,
    })
}

fn stack_error(e: StackError, headers: &[SliceHeader], dir: &Path, skipped: &[PathBuf]) -> IoError {
    match e {
        StackError::BadOrientation(reason) => IoError::malformed(dir, reason),
        StackError::Duplicate { a, b, position } => IoError::Inconsistent {
            path: dir.to_path_buf(),
            reason: format!(
                "{} and {} are at the same position ({position:.4} mm along the slice normal): \
                 duplicate slices",
                headers[a].path.display(),
                headers[b].path.display()
            ),
        },
        StackError::NotCollinear { index, offset } => IoError::Inconsistent {
            path: dir.to_path_buf(),
            reason: format!(
                "slice positions do not lie on one line: {} is {offset:.3} mm off the line \
                 through the first and last slice (varying gantry tilt, or several stacks in \
                 one series)",
                headers[index].path.display()
            ),
        },
        StackError::Uneven { mut reason } => {
            if !skipped.is_empty() {
                let names: Vec<String> = skipped.iter().map(|p| p.display().to_string()).collect();
                reason.push_str(&format!(
                    "; skipped as not DICOM (no \"DICM\" marker: empty or damaged?): {}",
                    names.join(", ")
                ));
            }
            IoError::Inconsistent {
                path: dir.to_path_buf(),
                reason,
            }
        }
    }
}

/// Decodes every slice (in parallel), applies its rescale, and stores the result as `i16`
/// when every value is an integer in range, else `f32`.
fn decode_volume(
    ordered: &[&SliceHeader],
    formats: &[(SampleFormat, f64, f64)],
    grid: Grid,
) -> Result<ScalarVolume, IoError> {
    let slice_len = grid.dims[0] * grid.dims[1];
    // Per slice: decoded bytes and (all values integral, min, max) of the rescaled values.
    type Decoded = (Vec<u8>, bool, f64, f64);
    let decoded: Vec<Result<Decoded, IoError>> = ordered
        .par_iter()
        .zip(formats.par_iter())
        .map(|(h, &(fmt, slope, intercept))| {
            let data = decode_slice(&h.path, slice_len * fmt.bytes)?;
            let (mut integral, mut lo, mut hi) = (true, f64::INFINITY, f64::NEG_INFINITY);
            for i in 0..slice_len {
                let v = f64::from(fmt.stored(&data, i)) * slope + intercept;
                integral &= v.fract() == 0.0;
                lo = lo.min(v);
                hi = hi.max(v);
            }
            Ok((data, integral, lo, hi))
        })
        .collect();
    let decoded: Vec<Decoded> = decoded.into_iter().collect::<Result<_, _>>()?;
    let as_i16 = decoded.iter().all(|&(_, integral, lo, hi)| {
        integral && lo >= f64::from(i16::MIN) && hi <= f64::from(i16::MAX)
    });

    fn fill<T: Copy + Send + Sync>(
        decoded: &[Decoded],
        formats: &[(SampleFormat, f64, f64)],
        slice_len: usize,
        convert: impl Fn(f64) -> T + Sync,
        zero: T,
    ) -> Vec<T> {
        let mut out = vec![zero; slice_len * decoded.len()];
        out.par_chunks_mut(slice_len)
            .zip(decoded.par_iter().zip(formats.par_iter()))
            .for_each(|(dst, ((data, ..), &(fmt, slope, intercept)))| {
                for (i, d) in dst.iter_mut().enumerate() {
                    *d = convert(f64::from(fmt.stored(data, i)) * slope + intercept);
                }
            });
        out
    }

    let invalid = |source| IoError::InvalidGrid {
        path: ordered[0]
            .path
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf(),
        source,
    };
    if as_i16 {
        let data = fill(&decoded, formats, slice_len, |v| v as i16, 0i16);
        Ok(ScalarVolume::I16(Volume::new(grid, data).map_err(invalid)?))
    } else {
        let data = fill(&decoded, formats, slice_len, |v| v as f32, 0f32);
        Ok(ScalarVolume::F32(Volume::new(grid, data).map_err(invalid)?))
    }
}
