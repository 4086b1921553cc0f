//! Progress reporting and cancellation for long computations.
//!
//! Libraries take `&dyn Progress` and `&dyn Cancel`; only the CLI turns progress into bars.

use std::sync::atomic::{AtomicBool, Ordering};

/// Receives progress of a long step. Implementations must be cheap and thread-safe:
/// workers call [`Progress::advance`] from several threads.
pub trait Progress: Sync {
    /// A stage named `stage` starts with `total` units of work.
    fn begin(&self, stage: &str, total: u64) {
        let _ = (stage, total);
    }
    /// `units` more units of the current stage are done.
    fn advance(&self, units: u64) {
        let _ = units;
    }
    /// The current stage is finished.
    fn finish(&self) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// Asked by long computations, between chunks of work, whether to stop early.
pub trait Cancel: Sync {
    /// True once the caller wants the computation to stop.
    fn is_cancelled(&self) -> bool;
}

/// A [`Cancel`] that never cancels.
#[derive(Clone, Copy, Debug, Default)]
pub struct NeverCancel;
impl Cancel for NeverCancel {
    fn is_cancelled(&self) -> bool {
        false
    }
}

impl Cancel for AtomicBool {
    fn is_cancelled(&self) -> bool {
        self.load(Ordering::Relaxed)
    }
}
