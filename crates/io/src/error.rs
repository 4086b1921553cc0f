//! The error type of every reader and writer. Every variant names the file.

use std::path::PathBuf;

/// An error reading or writing a file. Each variant carries the path it concerns, so the
/// CLI can print one line that names the file and the problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IoError {
    /// The path does not exist.
    #[error("{path}: no such file or directory")]
    NotFound {
        /// The missing path.
        path: PathBuf,
    },
    /// The operating system refused or failed an operation.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The content is not a format osteon reads.
    #[error("{path}: unrecognised format ({reason})")]
    UnknownFormat {
        /// The file or directory.
        path: PathBuf,
        /// What was looked for.
        reason: String,
    },
    /// The header or content is malformed.
    #[error("{path}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, in words.
        reason: String,
    },
    /// The file ends before the data its header declares.
    #[error("{path}: truncated: expected {expected} bytes of data, found {found}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header promises.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// The header declares more data than can be, or than the limits allow; refused before
    /// allocation.
    #[error("{path}: {reason}")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The declared size and the limit.
        reason: String,
    },
    /// The header's grid is unusable (zero spacing, zero dims, singular direction…).
    #[error("{path}: {source}")]
    InvalidGrid {
        /// The file.
        path: PathBuf,
        /// What is wrong with the grid.
        source: osteon_volume::VolumeError,
    },
    /// A header points at a data file outside its own folder.
    #[error("{path}: data file {target} lies outside the header's folder (refused; allow it explicitly to read it)")]
    OutsideFolder {
        /// The header.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// A feature of the format that osteon does not read.
    #[error("{path}: unsupported: {what}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is not supported.
        what: String,
    },
    /// Several files that should agree do not (slice sizes, spacing, series).
    #[error("{path}: {reason}")]
    Inconsistent {
        /// The file or directory.
        path: PathBuf,
        /// What disagrees.
        reason: String,
    },
    /// A mesh read from the file is invalid (NaN, bad indices…).
    #[error("{path}: {source}")]
    InvalidMesh {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: osteon_mesh::MeshError,
    },
}

impl IoError {
    /// An [`IoError::Io`], or [`IoError::NotFound`] when the OS says the path is missing.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> IoError {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            IoError::NotFound { path }
        } else {
            IoError::Io { path, source }
        }
    }

    /// An [`IoError::Malformed`].
    pub fn malformed(path: impl Into<PathBuf>, reason: impl Into<String>) -> IoError {
        IoError::Malformed {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
