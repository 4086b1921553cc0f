//! Fast header scan of one file: the attributes needed to group, check, order and decode
//! slices, read up to (not including) the Pixel Data element.

use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, OpenFileOptions, Tag};

use crate::IoError;

/// A value that may be missing or malformed; the error is a reason in words, turned into an
/// [`IoError`] naming the file only if the slice belongs to the series being read (a broken
/// file of another series must not stop the read).
pub(super) type Field<T> = Result<T, String>;

/// The header of one DICOM image file.
#[derive(Clone, Debug)]
pub(super) struct SliceHeader {
    pub path: PathBuf,
    /// Series Instance UID (empty when absent).
    pub series_uid: String,
    pub modality: String,
    pub transfer_syntax: String,
    pub rows: Field<u16>,
    pub cols: Field<u16>,
    pub samples_per_pixel: u16,
    pub frames: u32,
    pub photometric: String,
    pub bits_allocated: Field<u16>,
    pub bits_stored: Field<u16>,
    pub high_bit: Option<u16>,
    pub pixel_representation: u16,
    pub slope: Field<f64>,
    pub intercept: Field<f64>,
    pub rescale_type: Option<String>,
    pub iop: Field<[f64; 6]>,
    pub ipp: Field<[f64; 3]>,
    pub pixel_spacing: Field<[f64; 2]>,
    /// Spacing Between Slices, else Slice Thickness (only used for single-slice series).
    pub thickness: Option<f64>,
}

/// Media Storage Directory Storage (a DICOMDIR): DICOM, but not an image.
const DICOMDIR_SOP_CLASS: &str = "1.2.840.10008.1.3.10";

/// True when the file has the DICOM part-10 marker "DICM" at byte 128.
pub(super) fn has_dicm_marker(path: &Path) -> Result<bool, IoError> {
    let mut f = std::fs::File::open(path).map_err(|e| IoError::io(path, e))?;
    let mut head = [0u8; 132];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(r) => n += r,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(IoError::io(path, e)),
        }
    }
    Ok(n == head.len() && &head[128..132] == b"DICM")
}

/// Reads the header of `path`. `Ok(None)`: not a DICOM file, or DICOM but not an image
/// (DICOMDIR, structured report…): skipped silently.
pub(super) fn read_header(path: &Path) -> Result<Option<SliceHeader>, IoError> {
    if !has_dicm_marker(path)? {
        return Ok(None);
    }
    let opened = catch_unwind(AssertUnwindSafe(|| {
        OpenFileOptions::new()
            .read_until(tags::PIXEL_DATA)
            .open_file(path)
    }));
    let obj = match opened {
        Ok(Ok(obj)) => obj,
        Ok(Err(e)) => {
            return Err(IoError::malformed(
                path,
                format!("not a readable DICOM file: {}", error_chain(&e)),
            ))
        }
        Err(_) => {
            return Err(IoError::malformed(
                path,
                "not a readable DICOM file (the DICOM parser failed)",
            ))
        }
    };
    let sop_class = text(&obj, tags::SOP_CLASS_UID).unwrap_or_default();
    if sop_class == DICOMDIR_SOP_CLASS || obj.get(tags::ROWS).is_none() {
        return Ok(None);
    }
    let ts = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches(['\0', ' '])
        .to_string();
    Ok(Some(SliceHeader {
        path: path.to_path_buf(),
        series_uid: text(&obj, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
        modality: text(&obj, tags::MODALITY).unwrap_or_default(),
        transfer_syntax: ts,
        rows: required_u16(&obj, tags::ROWS, "Rows"),
        cols: required_u16(&obj, tags::COLUMNS, "Columns"),
        samples_per_pixel: optional_u16(&obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1),
        frames: text(&obj, tags::NUMBER_OF_FRAMES)
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(1),
        photometric: text(&obj, tags::PHOTOMETRIC_INTERPRETATION)
            .unwrap_or_else(|| "MONOCHROME2".into()),
        bits_allocated: required_u16(&obj, tags::BITS_ALLOCATED, "BitsAllocated"),
        bits_stored: required_u16(&obj, tags::BITS_STORED, "BitsStored"),
        high_bit: optional_u16(&obj, tags::HIGH_BIT),
        pixel_representation: optional_u16(&obj, tags::PIXEL_REPRESENTATION).unwrap_or(0),
        slope: optional_f64(&obj, tags::RESCALE_SLOPE, "RescaleSlope", 1.0),
        intercept: optional_f64(&obj, tags::RESCALE_INTERCEPT, "RescaleIntercept", 0.0),
        rescale_type: text(&obj, tags::RESCALE_TYPE).filter(|s| !s.is_empty()),
        iop: floats::<6>(
            &obj,
            tags::IMAGE_ORIENTATION_PATIENT,
            "ImageOrientationPatient (0020,0037)",
        ),
        ipp: floats::<3>(
            &obj,
            tags::IMAGE_POSITION_PATIENT,
            "ImagePositionPatient (0020,0032)",
        ),
        pixel_spacing: floats::<2>(&obj, tags::PIXEL_SPACING, "PixelSpacing (0028,0030)"),
        thickness: [tags::SPACING_BETWEEN_SLICES, tags::SLICE_THICKNESS]
            .iter()
            .filter_map(|&t| floats::<1>(&obj, t, "").ok())
            .map(|[v]| v.abs())
            .find(|v| v.is_finite() && *v > 0.0),
    }))
}

/// An error and its sources on one line.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    s
}

fn text(obj: &DefaultDicomObject, tag: Tag) -> Option<String> {
    let e = obj.get(tag)?;
    let s = e.to_str().ok()?;
    Some(
        s.trim_matches(|c: char| c == '\0' || c.is_whitespace())
            .to_string(),
    )
}

fn optional_u16(obj: &DefaultDicomObject, tag: Tag) -> Option<u16> {
    obj.get(tag).and_then(|e| e.to_int::<u16>().ok())
}

fn required_u16(obj: &DefaultDicomObject, tag: Tag, name: &str) -> Field<u16> {
    let e = obj
        .get(tag)
        .ok_or_else(|| format!("missing {name} ({:04X},{:04X})", tag.0, tag.1))?;
    e.to_int::<u16>().map_err(|_| {
        format!(
            "{name} ({:04X},{:04X}) is not a 16-bit unsigned integer",
            tag.0, tag.1
        )
    })
}

fn optional_f64(obj: &DefaultDicomObject, tag: Tag, name: &str, default: f64) -> Field<f64> {
    match obj.get(tag) {
        None => Ok(default),
        Some(e) if e.to_str().map(|s| s.trim().is_empty()).unwrap_or(false) => Ok(default),
        Some(_) => floats::<1>(obj, tag, name).map(|[v]| v),
    }
}

/// Exactly `N` finite numbers (DS/FD/FL) from `tag`.
fn floats<const N: usize>(obj: &DefaultDicomObject, tag: Tag, name: &str) -> Field<[f64; N]> {
    let e = obj.get(tag).ok_or_else(|| format!("missing {name}"))?;
    let values = e
        .to_multi_float64()
        .map_err(|_| format!("{name} is not a list of numbers"))?;
    if values.len() != N {
        return Err(format!("{name} has {} values, expected {N}", values.len()));
    }
    let mut out = [0.0; N];
    for (o, v) in out.iter_mut().zip(&values) {
        if !v.is_finite() {
            return Err(format!("{name} holds a non-finite value ({v})"));
        }
        *o = *v;
    }
    Ok(out)
}
