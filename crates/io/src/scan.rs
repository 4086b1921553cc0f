//! Reading a scan from any supported format: detection by content and dispatch.

use std::path::{Path, PathBuf};

use osteon_volume::{ScalarVolume, ValueKind};
use serde::{Deserialize, Serialize};

use crate::IoError;

/// The file format a scan came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScanFormat {
    /// PNG or TIFF slice stack with a `volume.json`.
    SliceStack,
    /// NIfTI-1 (`.nii`, `.nii.gz`).
    Nifti,
    /// NRRD (`.nrrd`, `.nhdr`).
    Nrrd,
    /// MetaImage (`.mhd`, `.mha`).
    MetaImage,
    /// A directory of DICOM files.
    DicomSeries,
}

/// A quality-control remark about a scan: it was read, but a user should know.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QcWarning {
    /// Stable machine-readable code, e.g. `gantry-tilt`, `uneven-spacing`, `missing-slices`,
    /// `other-series`.
    pub code: String,
    /// One human-readable sentence.
    pub message: String,
}

impl QcWarning {
    /// A warning with a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> QcWarning {
        QcWarning {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Options for reading scans.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct ReadOptions {
    /// Read a DICOM series whose slice spacing varies more than `spacing_tolerance`
    /// (it is then resampled onto nothing: the mean spacing is used and a warning given).
    pub allow_uneven: bool,
    /// Relative tolerance on slice spacing before a series counts as uneven (default 0.01).
    pub spacing_tolerance: f64,
    /// Let NRRD/MetaImage headers name data files outside their own folder.
    pub allow_outside_folder: bool,
    /// Refuse volumes with more voxels than this (default 2^31).
    pub max_voxels: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            allow_uneven: false,
            spacing_tolerance: 0.01,
            allow_outside_folder: false,
            max_voxels: 1 << 31,
        }
    }
}

impl ReadOptions {
    /// Sets [`ReadOptions::allow_uneven`].
    pub fn allow_uneven(mut self, yes: bool) -> Self {
        self.allow_uneven = yes;
        self
    }
    /// Sets [`ReadOptions::allow_outside_folder`].
    pub fn allow_outside_folder(mut self, yes: bool) -> Self {
        self.allow_outside_folder = yes;
        self
    }
    /// Sets [`ReadOptions::max_voxels`].
    pub fn max_voxels(mut self, n: u64) -> Self {
        self.max_voxels = n;
        self
    }
    /// Sets [`ReadOptions::spacing_tolerance`].
    pub fn spacing_tolerance(mut self, t: f64) -> Self {
        self.spacing_tolerance = t;
        self
    }
}

/// A scan read from disk: the volume in its stored sample type (already rescaled to its
/// meaning, e.g. HU), what the values mean, where it came from, and QC warnings.
#[derive(Clone, Debug)]
pub struct Scan {
    /// The voxels and their grid. The grid's frame is LPS for every format that has a patient
    /// frame (NIfTI's RAS is converted), `None` for specimen coordinates.
    pub volume: ScalarVolume,
    /// What the values are.
    pub kind: ValueKind,
    /// The format it was read from.
    pub format: ScanFormat,
    /// Every file whose bytes made the volume (for provenance hashes), sorted.
    pub files: Vec<PathBuf>,
    /// QC remarks.
    pub warnings: Vec<QcWarning>,
}

/// Reads a scan from a file or directory, detecting the format from the content
/// (magic bytes, header keys, a `volume.json`), not only from the extension.
pub fn read_scan(path: &Path, opts: &ReadOptions) -> Result<Scan, IoError> {
    let meta = std::fs::metadata(path).map_err(|e| IoError::io(path, e))?;
    if meta.is_dir() {
        // `exists`, not `is_file`: a `volume.json` that is a folder is named as such by the
        // stack reader instead of sending the folder to the DICOM reader.
        if path.join("volume.json").exists() {
            return crate::volume::stack::read(path, opts);
        }
        return crate::volume::dicom::read_series(path, opts);
    }
    match detect_file(path)? {
        ScanFormat::Nifti => crate::volume::nifti::read(path, opts),
        ScanFormat::Nrrd => crate::volume::nrrd::read(path, opts),
        ScanFormat::MetaImage => crate::volume::metaimage::read(path, opts),
        ScanFormat::SliceStack => crate::volume::stack::read(path, opts),
        ScanFormat::DicomSeries => crate::volume::dicom::read_series(path, opts),
    }
}

/// Detects the format of one file from its first bytes.
pub fn detect_file(path: &Path) -> Result<ScanFormat, IoError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| IoError::io(path, e))?;
    let mut head = vec![0u8; 352];
    let mut n = 0;
    while n < head.len() {
        let r = f.read(&mut head[n..]).map_err(|e| IoError::io(path, e))?;
        if r == 0 {
            break;
        }
        n += r;
    }
    head.truncate(n);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if head.starts_with(b"NRRD") {
        return Ok(ScanFormat::Nrrd);
    }
    if name == "volume.json" {
        return Ok(ScanFormat::SliceStack);
    }
    // gzip: a .nii.gz (the only gzip-wrapped scan format osteon reads as one file).
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(ScanFormat::Nifti);
    }
    // NIfTI-1 single file: sizeof_hdr = 348 (either byte order) and magic "n+1\0" at 344.
    if head.len() >= 348 {
        let le = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let be = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        if (le == 348 || be == 348) && (&head[344..348] == b"n+1\0" || &head[344..348] == b"ni1\0")
        {
            return Ok(ScanFormat::Nifti);
        }
    }
    // DICOM part 10: "DICM" at 128.
    if head.len() >= 132 && &head[128..132] == b"DICM" {
        return Ok(ScanFormat::DicomSeries);
    }
    let text = String::from_utf8_lossy(&head);
    if text.lines().any(|l| {
        let k = l.split('=').next().unwrap_or("").trim();
        matches!(k, "ObjectType" | "NDims" | "DimSize" | "ElementDataFile")
    }) {
        return Ok(ScanFormat::MetaImage);
    }
    if name.ends_with(".nii") || name.ends_with(".nii.gz") {
        return Ok(ScanFormat::Nifti);
    }
    Err(IoError::UnknownFormat {
        path: path.to_path_buf(),
        reason: "not NIfTI-1, NRRD, MetaImage, DICOM, nor a slice-stack folder with volume.json"
            .into(),
    })
}
