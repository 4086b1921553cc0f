//! Progress bars on stderr (only when stderr is a terminal and --quiet is not given).

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use osteon::geom::Progress;

/// indicatif bars behind the library's [`Progress`] trait.
pub struct Bars {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars {
    /// Bars that draw only when stderr is a terminal and `quiet` is false.
    pub fn new(quiet: bool) -> Bars {
        Bars {
            enabled: !quiet && std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
        }
    }

    /// Removes the current bar.
    pub fn clear(&self) {
        if let Ok(mut b) = self.bar.lock() {
            if let Some(b) = b.take() {
                b.finish_and_clear();
            }
        }
    }
}

impl Progress for Bars {
    fn begin(&self, stage: &str, total: u64) {
        if !self.enabled {
            return;
        }
        let bar = ProgressBar::new(total.max(1));
        bar.set_style(
            ProgressStyle::with_template("{msg:>8} [{bar:40}] {percent:>3}% {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(stage.to_string());
        if let Ok(mut b) = self.bar.lock() {
            if let Some(old) = b.replace(bar) {
                old.finish_and_clear();
            }
        }
    }
    fn advance(&self, units: u64) {
        if let Ok(b) = self.bar.lock() {
            if let Some(b) = b.as_ref() {
                b.inc(units);
            }
        }
    }
    fn finish(&self) {
        self.clear();
    }
}
