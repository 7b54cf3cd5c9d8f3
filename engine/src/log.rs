//! Log lines to stderr, filtered by the level set from `BP_LOG`.
//!
//! One line per event, prefixed with `bpshim[pid]` and the level, so that lines from several
//! nodes in one terminal stay readable.

use std::sync::atomic::{AtomicU8, Ordering};

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Nothing is logged.
    Off = 0,
    /// Failures that lose data or stop a component.
    Error = 1,
    /// Rejected input, dropped bundles.
    Warn = 2,
    /// Start-up, configuration, contacts.
    Info = 3,
    /// Per-bundle events.
    Debug = 4,
}

impl Level {
    /// Parses a `BP_LOG` value.
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "off" | "none" | "0" => Level::Off,
            "error" | "1" => Level::Error,
            "warn" | "warning" | "2" => Level::Warn,
            "info" | "3" => Level::Info,
            "debug" | "trace" | "4" => Level::Debug,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Level::Off => "off",
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Warn as u8);

/// Sets the maximum level that is written.
pub fn set_level(l: Level) {
    LEVEL.store(l as u8, Ordering::Relaxed);
}

/// Whether a line of this level would be written.
pub fn enabled(l: Level) -> bool {
    l != Level::Off && l as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Writes one line (use the macros).
pub fn write(l: Level, args: std::fmt::Arguments<'_>) {
    if enabled(l) {
        // One write per line: formatted first, so that lines of several threads or processes
        // never interleave and a line is never cut by the process ending mid-line.
        use std::io::Write;
        let line = format!("bpshim[{}] {}: {}\n", std::process::id(), l.name(), args);
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// Logs at error level.
#[macro_export]
macro_rules! error { ($($a:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($a)*)) } }
/// Logs at warn level.
#[macro_export]
macro_rules! warn { ($($a:tt)*) => { $crate::log::write($crate::log::Level::Warn, format_args!($($a)*)) } }
/// Logs at info level.
#[macro_export]
macro_rules! info { ($($a:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($a)*)) } }
/// Logs at debug level.
#[macro_export]
macro_rules! debug { ($($a:tt)*) => { if $crate::log::enabled($crate::log::Level::Debug) { $crate::log::write($crate::log::Level::Debug, format_args!($($a)*)) } } }
