//! Scan readers, one module per format. Each exposes `read(path, &ReadOptions) -> Scan`.

pub mod dicom;
pub mod metaimage;
pub mod nifti;
pub mod nrrd;
pub(crate) mod raw;
pub mod stack;
