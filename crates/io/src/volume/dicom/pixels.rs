//! Pixel decoding of one slice and conversion of stored values to rescaled values.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use dicom_object::open_file;
use dicom_pixeldata::PixelDecoder;

use super::header::error_chain;
use crate::IoError;

/// Transfer syntaxes whose pixel data dicom-pixeldata decodes with its default (pure Rust)
/// features, with their names.
pub(super) const DECODABLE: &[(&str, &str)] = &[
    ("1.2.840.10008.1.2", "Implicit VR Little Endian"),
    ("1.2.840.10008.1.2.1", "Explicit VR Little Endian"),
    (
        "1.2.840.10008.1.2.1.99",
        "Deflated Explicit VR Little Endian",
    ),
    ("1.2.840.10008.1.2.5", "RLE Lossless"),
    ("1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)"),
    ("1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)"),
    ("1.2.840.10008.1.2.4.57", "JPEG Lossless (Process 14)"),
    (
        "1.2.840.10008.1.2.4.70",
        "JPEG Lossless SV1 (Process 14, selection value 1)",
    ),
];

/// Names of common transfer syntaxes that are not read, for error messages.
const NOT_DECODABLE: &[(&str, &str)] = &[
    ("1.2.840.10008.1.2.2", "Explicit VR Big Endian (retired)"),
    ("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless"),
    ("1.2.840.10008.1.2.4.81", "JPEG-LS Near-Lossless"),
    ("1.2.840.10008.1.2.4.90", "JPEG 2000 Lossless"),
    ("1.2.840.10008.1.2.4.91", "JPEG 2000"),
    ("1.2.840.10008.1.2.4.201", "HTJ2K Lossless"),
    ("1.2.840.10008.1.2.4.202", "HTJ2K Lossless RPCL"),
    ("1.2.840.10008.1.2.4.203", "HTJ2K"),
    ("1.2.840.10008.1.2.4.110", "JPEG XL Lossless"),
    ("1.2.840.10008.1.2.4.112", "JPEG XL"),
];

/// `Ok(())` when the transfer syntax is decodable, else the [`IoError::Unsupported`] naming it.
pub(super) fn check_transfer_syntax(ts: &str, path: &Path) -> Result<(), IoError> {
    if DECODABLE.iter().any(|(uid, _)| *uid == ts) {
        return Ok(());
    }
    let name = NOT_DECODABLE
        .iter()
        .find(|(uid, _)| *uid == ts)
        .map(|(_, n)| format!("{n} ({ts})"))
        .unwrap_or_else(|| ts.to_string());
    let hint = if ts.starts_with("1.2.840.10008.1.2.4.8") {
        " (JPEG-LS needs dicom-pixeldata's `charls` feature)"
    } else if ts.starts_with("1.2.840.10008.1.2.4.9") || ts.starts_with("1.2.840.10008.1.2.4.20") {
        " (JPEG 2000 needs dicom-pixeldata's `openjp2` feature)"
    } else {
        ""
    };
    Err(IoError::Unsupported {
        path: path.to_path_buf(),
        what: format!(
            "transfer syntax {name}{hint}; readable: {}",
            DECODABLE
                .iter()
                .map(|(_, n)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// How stored sample bits become a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct SampleFormat {
    /// 1 or 2 bytes a sample, little endian.
    pub bytes: usize,
    /// Right shift before masking (HighBit + 1 − BitsStored).
    pub shift: u32,
    /// BitsStored.
    pub bits: u32,
    /// PixelRepresentation 1: two's complement in `bits` bits.
    pub signed: bool,
}

impl SampleFormat {
    /// Stored value of sample `index` of `data`.
    #[inline]
    pub fn stored(&self, data: &[u8], index: usize) -> i32 {
        let raw = if self.bytes == 1 {
            u32::from(data[index])
        } else {
            u32::from(u16::from_le_bytes([data[2 * index], data[2 * index + 1]]))
        };
        let v = (raw >> self.shift) & ((1u32 << self.bits) - 1);
        if self.signed && v >> (self.bits - 1) != 0 {
            v as i32 - (1i32 << self.bits)
        } else {
            v as i32
        }
    }
}

/// Decodes the pixel data of one single-frame slice to `expected_len` bytes of little-endian
/// samples. Decoder panics on hostile input are caught and reported as malformed data.
pub(super) fn decode_slice(path: &Path, expected_len: usize) -> Result<Vec<u8>, IoError> {
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<Vec<u8>, IoError> {
        let obj = open_file(path).map_err(|e| {
            IoError::malformed(
                path,
                format!("cannot read the DICOM file: {}", error_chain(&e)),
            )
        })?;
        let px = obj.decode_pixel_data().map_err(|e| {
            IoError::malformed(
                path,
                format!("cannot decode the pixel data: {}", error_chain(&e)),
            )
        })?;
        Ok(px.into_data())
    }));
    let mut data = match result {
        Ok(r) => r?,
        Err(_) => {
            return Err(IoError::malformed(
                path,
                "cannot decode the pixel data (the decoder failed on this file's content)",
            ))
        }
    };
    if data.len() < expected_len {
        return Err(IoError::Truncated {
            path: path.to_path_buf(),
            expected: expected_len as u64,
            found: data.len() as u64,
        });
    }
    // Native 8-bit pixel data carries a pad byte when its length is odd.
    data.truncate(expected_len);
    Ok(data)
}
