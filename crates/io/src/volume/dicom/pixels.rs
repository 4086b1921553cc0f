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
        // RLE Lossless is decoded here: the registry's RLE decoder indexes out of bounds on
        // truncated segments (dicom-transfer-syntax-registry 0.10.1), and a panic message on
        // stderr is not an error report.
        if obj.meta().transfer_syntax().trim_end_matches(['\0', ' ']) == RLE_LOSSLESS {
            let frags = obj
                .element(dicom_dictionary_std::tags::PIXEL_DATA)
                .ok()
                .and_then(|e| e.value().fragments())
                .ok_or_else(|| IoError::malformed(path, "RLE pixel data has no fragments"))?;
            let bytes: Vec<u8> = frags.iter().flatten().copied().collect();
            return decode_rle(path, &bytes, expected_len);
        }
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

const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// Decodes one RLE Lossless frame (DICOM PS3.5 Annex G) into `expected_len` little-endian
/// bytes. The 64-byte header gives the segment count (one per byte of a sample, most
/// significant first) and their offsets; each segment is PackBits-coded and must yield
/// exactly one byte per pixel. Every read is bounds-checked: a damaged frame is an error.
pub(super) fn decode_rle(
    path: &Path,
    frame: &[u8],
    expected_len: usize,
) -> Result<Vec<u8>, IoError> {
    let bad = |why: String| IoError::malformed(path, format!("RLE pixel data: {why}"));
    let word = |i: usize| -> Option<usize> {
        frame
            .get(4 * i..4 * i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let nseg = word(0).ok_or_else(|| bad("the 64-byte header is missing".into()))?;
    if frame.len() < 64 {
        return Err(bad("the 64-byte header is missing".into()));
    }
    if nseg == 0 || nseg > 15 || !expected_len.is_multiple_of(nseg) {
        return Err(bad(format!(
            "{nseg} segments do not fit {expected_len} bytes of pixels"
        )));
    }
    let pixels = expected_len / nseg;
    let mut out = vec![0u8; expected_len];
    for seg in 0..nseg {
        let start = word(1 + seg).unwrap_or(0);
        let end = if seg + 1 < nseg {
            word(2 + seg).unwrap_or(0)
        } else {
            frame.len()
        };
        if start < 64 || start > end || end > frame.len() {
            return Err(bad(format!(
                "segment {seg} spans bytes {start}..{end} of a {}-byte frame",
                frame.len()
            )));
        }
        let src = &frame[start..end];
        // Byte `seg` of a sample is its (nseg − 1 − seg)-th least significant byte.
        let lane = nseg - 1 - seg;
        let (mut i, mut n) = (0usize, 0usize);
        while n < pixels {
            let Some(&h) = src.get(i) else {
                return Err(bad(format!(
                    "segment {seg} ends after {n} of {pixels} pixels (truncated)"
                )));
            };
            i += 1;
            let h = h as i8;
            if h >= 0 {
                let count = h as usize + 1;
                let lit = src.get(i..i + count).ok_or_else(|| {
                    bad(format!(
                        "segment {seg} ends inside a literal run (truncated)"
                    ))
                })?;
                for &b in lit.iter().take(pixels - n) {
                    out[n * nseg + lane] = b;
                    n += 1;
                }
                i += count;
            } else if h != -128 {
                let count = (1 - h as isize) as usize;
                let &b = src.get(i).ok_or_else(|| {
                    bad(format!(
                        "segment {seg} ends inside a repeat run (truncated)"
                    ))
                })?;
                i += 1;
                for _ in 0..count.min(pixels - n) {
                    out[n * nseg + lane] = b;
                    n += 1;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod rle_tests {
    use super::*;

    fn frame(segments: &[Vec<u8>]) -> Vec<u8> {
        let mut header = vec![0u8; 64];
        header[0..4].copy_from_slice(&(segments.len() as u32).to_le_bytes());
        let mut off = 64u32;
        let mut body = vec![];
        for (k, s) in segments.iter().enumerate() {
            header[4 + 4 * k..8 + 4 * k].copy_from_slice(&off.to_le_bytes());
            off += s.len() as u32;
            body.extend_from_slice(s);
        }
        header.extend(body);
        header
    }

    #[test]
    fn packbits_16_bit() {
        // 4 pixels: 0x0102, 0x0102, 0x0304, 0x0506.
        let msb = vec![(-1i8) as u8, 0x01, 1, 0x03, 0x05];
        let lsb = vec![(-1i8) as u8, 0x02, 1, 0x04, 0x06];
        let out = decode_rle(Path::new("x.dcm"), &frame(&[msb, lsb]), 8).unwrap();
        assert_eq!(out, vec![0x02, 0x01, 0x02, 0x01, 0x04, 0x03, 0x06, 0x05]);
    }

    #[test]
    fn truncated_segment_is_an_error_naming_the_file() {
        let msb = vec![3, 1, 2];
        let err = decode_rle(Path::new("cut.dcm"), &frame(&[msb]), 4).unwrap_err();
        assert!(err.to_string().contains("cut.dcm"), "{err}");
        assert!(err.to_string().contains("truncated"), "{err}");
        let err = decode_rle(Path::new("h.dcm"), &[1, 0, 0], 4).unwrap_err();
        assert!(err.to_string().contains("header"), "{err}");
    }
}
