//! Node configuration, from the environment and from a file (`BP_CONFIG`).
//!
//! Every setting has one name. In the environment it is `BP_<NAME>`; in the file it is a line
//! `<name> = <value>` (case-insensitive, `BP_` prefix optional, `#` starts a comment). A setting in
//! the environment overrides the same setting in the file. A bad value is an error naming the
//! setting; there is no silent default for a value that was given.

use crate::log::Level;
use crate::route::{ClaAddr, Pattern, Routes};
use std::fmt;
use std::path::PathBuf;

/// Default ADU size limit: 16 MiB.
pub const DEFAULT_MAX_ADU: u64 = 16 * 1024 * 1024;
/// Default bundle lifetime: 24 hours.
pub const DEFAULT_LIFETIME_MS: u64 = 24 * 3600 * 1000;
/// Default bound on the exit flush.
pub const DEFAULT_EXIT_FLUSH_MS: u32 = 2000;

/// The settings, all optional.
pub const SETTINGS: &[&str] = &[
    "NODE",
    "CLA",
    "ROUTE",
    "STORE",
    "LOG",
    "MAX_ADU",
    "LIFETIME",
    "EXIT_FLUSH_MS",
    "REPORTS",
    "UDP_RATE",
    "AGE_BLOCK",
    "STRICT_CRC",
];

/// A node's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Local node number (the node ID is ipn:N.0).
    pub node: u64,
    /// Addresses the convergence layers listen on.
    pub listen: Vec<ClaAddr>,
    /// Static routes.
    pub routes: Routes,
    /// Where the node keeps its state (used by the durable store).
    pub store: Option<PathBuf>,
    /// Log level.
    pub log: Level,
    /// Largest ADU accepted from an application.
    pub max_adu: u64,
    /// Lifetime given to new bundles, in ms.
    pub lifetime_ms: u64,
    /// Bound on the wait at process exit for queued bundles to leave.
    pub exit_flush_ms: u32,
    /// Whether the node generates status reports when bundles ask for them.
    pub reports: bool,
    /// Pacing of the UDP convergence layer, bytes per second (0: none).
    pub udp_rate: u64,
    /// Add a bundle age block to every bundle made here.
    pub age_block: bool,
    /// Reject received bundles whose primary block has no CRC.
    pub strict_crc: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            node: 1,
            listen: Vec::new(),
            routes: Routes::default(),
            store: None,
            log: Level::Warn,
            max_adu: DEFAULT_MAX_ADU,
            lifetime_ms: DEFAULT_LIFETIME_MS,
            exit_flush_ms: DEFAULT_EXIT_FLUSH_MS,
            reports: true,
            udp_rate: 0,
            age_block: false,
            strict_crc: false,
        }
    }
}

/// A setting that could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Where it came from: `BP_NODE`, or `file.conf:3 (node)`.
    pub setting: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad setting {}: {}", self.setting, self.reason)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads `BP_CONFIG` (if set) and then the `BP_*` variables from `env`.
    pub fn from_env_with(env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut cfg = Config::default();
        if let Some(path) = env("BP_CONFIG") {
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
                setting: "BP_CONFIG".into(),
                reason: format!("cannot read '{path}': {e}"),
            })?;
            cfg.apply_file(&path, &text)?;
        }
        for name in SETTINGS {
            let var = format!("BP_{name}");
            if let Some(v) = env(&var) {
                cfg.set(name, &v).map_err(|reason| ConfigError {
                    setting: var.clone(),
                    reason,
                })?;
            }
        }
        Ok(cfg)
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_env_with(|k| std::env::var(k).ok())
    }

    /// Applies the lines of a configuration file.
    pub fn apply_file(&mut self, path: &str, text: &str) -> Result<(), ConfigError> {
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let at = |reason: String, key: &str| ConfigError {
                setting: format!("{path}:{} ({key})", i + 1),
                reason,
            };
            let Some((k, v)) = line.split_once('=') else {
                return Err(at("expected 'name = value'".into(), line));
            };
            let key = k.trim().to_ascii_uppercase();
            let key = key.strip_prefix("BP_").unwrap_or(&key).to_string();
            if !SETTINGS.contains(&key.as_str()) {
                return Err(at(
                    format!("unknown setting (known: {})", SETTINGS.join(", ")),
                    k.trim(),
                ));
            }
            self.set(&key, v.trim()).map_err(|r| at(r, k.trim()))?;
        }
        Ok(())
    }

    /// Sets one setting by name (without the `BP_` prefix).
    fn set(&mut self, name: &str, v: &str) -> Result<(), String> {
        let v = v.trim();
        match name {
            "NODE" => self.node = parse_node(v)?,
            "CLA" => {
                self.listen = list(v).map(ClaAddr::parse).collect::<Result<Vec<_>, _>>()?;
            }
            "ROUTE" => {
                let mut entries = Vec::new();
                for item in list(v) {
                    let (p, h) = item.split_once('=').ok_or_else(|| {
                        format!(
                            "'{item}' is not PATTERN=NEXTHOP (e.g. ipn:20.*=udp:127.0.0.1:4557)"
                        )
                    })?;
                    entries.push((Pattern::parse(p)?, ClaAddr::parse(h)?));
                }
                self.routes = Routes::new(entries);
            }
            "STORE" => {
                if v.is_empty() {
                    return Err("empty path".into());
                }
                self.store = Some(PathBuf::from(v));
            }
            "LOG" => {
                self.log = Level::parse(v).ok_or_else(|| {
                    format!("'{v}' is not a log level (off, error, warn, info, debug)")
                })?
            }
            "MAX_ADU" => {
                self.max_adu = parse_u64(v)?;
                if self.max_adu == 0 || self.max_adu > u32::MAX as u64 {
                    return Err(format!("{v}: must be between 1 and {}", u32::MAX));
                }
            }
            "LIFETIME" => {
                self.lifetime_ms = parse_u64(v)?
                    .checked_mul(1000)
                    .filter(|&ms| ms > 0)
                    .ok_or_else(|| format!("{v}: expected a positive number of seconds"))?;
            }
            "EXIT_FLUSH_MS" => {
                self.exit_flush_ms =
                    u32::try_from(parse_u64(v)?).map_err(|_| format!("{v}: too large"))?;
            }
            "UDP_RATE" => self.udp_rate = parse_u64(v)?,
            "REPORTS" => self.reports = on_off(v)?,
            "AGE_BLOCK" => self.age_block = on_off(v)?,
            "STRICT_CRC" => self.strict_crc = on_off(v)?,
            _ => return Err(format!("unknown setting {name}")),
        }
        Ok(())
    }
}

fn on_off(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "1" => Ok(true),
        "off" | "no" | "false" | "0" => Ok(false),
        _ => Err(format!("'{v}': expected on or off")),
    }
}

fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn parse_u64(v: &str) -> Result<u64, String> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{v}' is not a non-negative integer"));
    }
    v.parse().map_err(|_| format!("'{v}' is out of range"))
}

fn parse_node(v: &str) -> Result<u64, String> {
    let bad = || format!("'{v}' is not a node ID (expected ipn:N.0 or N, N > 0)");
    let n = match v.strip_prefix("ipn:") {
        Some(rest) => {
            let (n, s) = rest.split_once('.').ok_or_else(bad)?;
            if s != "0" {
                return Err(bad());
            }
            parse_u64(n).map_err(|_| bad())?
        }
        None => parse_u64(v).map_err(|_| bad())?,
    };
    // ipn:0 is the null EID's node; node numbers above 2^32-1 cannot be bound through
    // struct sockaddr_bp.
    if n == 0 || n > u32::MAX as u64 {
        return Err(bad());
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_env_with(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_without_settings() {
        assert_eq!(from(&[]).unwrap(), Config::default());
    }

    #[test]
    fn good_settings() {
        let c = from(&[
            ("BP_NODE", "ipn:20.0"),
            ("BP_CLA", "udp:127.0.0.1:4557, udp:[::1]:4557"),
            (
                "BP_ROUTE",
                "ipn:10.*=udp:127.0.0.1:4556,ipn:*.*=udp:127.0.0.1:9",
            ),
            ("BP_MAX_ADU", "1000"),
            ("BP_LOG", "debug"),
            ("BP_LIFETIME", "60"),
        ])
        .unwrap();
        assert_eq!(c.node, 20);
        assert_eq!(c.listen.len(), 2);
        assert_eq!(
            c.routes.lookup(10, 3),
            Some(ClaAddr::parse("udp:127.0.0.1:4556").unwrap())
        );
        assert_eq!(c.max_adu, 1000);
        assert_eq!(c.lifetime_ms, 60_000);
        assert_eq!(from(&[("BP_NODE", "7")]).unwrap().node, 7);
    }

    #[test]
    fn each_bad_setting_is_named() {
        for (k, v) in [
            ("BP_NODE", "ipn:x.0"),
            ("BP_NODE", "dtn:foo"),
            ("BP_NODE", "ipn:5.1"),
            ("BP_NODE", "0"),
            ("BP_CLA", "tcp:1.2.3.4:5"),
            ("BP_CLA", "udp:notanip:1"),
            ("BP_ROUTE", "garbage"),
            ("BP_ROUTE", "ipn:1.*=udp:127.0.0.1:notaport"),
            ("BP_MAX_ADU", "abc"),
            ("BP_MAX_ADU", "0"),
            ("BP_LOG", "loud"),
            ("BP_LIFETIME", "-1"),
            ("BP_CONFIG", "/nonexistent/bp.conf"),
        ] {
            let e = from(&[(k, v)]).unwrap_err();
            assert_eq!(e.setting, k, "{k}={v}");
            assert!(e.to_string().contains(k));
        }
    }

    #[test]
    fn file_format_and_precedence() {
        let mut c = Config::default();
        c.apply_file(
            "n.conf",
            "# node 20\nnode = ipn:20.0\nBP_CLA=udp:127.0.0.1:1 # listen\n\nroute = ipn:10.*=udp:127.0.0.1:2\n",
        )
        .unwrap();
        assert_eq!(c.node, 20);
        assert_eq!(c.listen.len(), 1);
        let e = c.apply_file("n.conf", "\nnodee = 3\n").unwrap_err();
        assert_eq!(e.setting, "n.conf:2 (nodee)");
        let e = c.apply_file("n.conf", "node 3\n").unwrap_err();
        assert!(e.setting.starts_with("n.conf:1"));
    }
}
