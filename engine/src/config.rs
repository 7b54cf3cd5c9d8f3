//! Node configuration, from the environment and from a file (`BP_CONFIG`).
//!
//! Every setting has one name. In the environment it is `BP_<NAME>`; in the file it is a line
//! `<name> = <value>` (case-insensitive, `BP_` prefix optional, `#` starts a comment). A setting in
//! the environment overrides the same setting in the file. A bad value is an error naming the
//! setting; there is no silent default for a value that was given.
//!
//! One exception to "the environment overrides the file" being a plain replacement: `contact`
//! lines in a file accumulate (each line adds its contacts), and `BP_CONTACT` in the environment
//! replaces all of them.

use crate::contact::{Contact, ContactPlan};
use crate::log::Level;
use crate::route::{ClaAddr, Pattern, Routes};
use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Default ADU size limit: 16 MiB.
pub const DEFAULT_MAX_ADU: u64 = 16 * 1024 * 1024;
/// Default bundle lifetime: 24 hours.
pub const DEFAULT_LIFETIME_MS: u64 = 24 * 3600 * 1000;
/// Default bound on the exit flush.
pub const DEFAULT_EXIT_FLUSH_MS: u32 = 2000;
/// Default storage limit: 1 GiB.
pub const DEFAULT_STORE_MAX: u64 = 1 << 30;

/// The settings, all optional.
pub const SETTINGS: &[&str] = &[
    "NODE",
    "CLA",
    "ROUTE",
    "CONTACT",
    "STORE",
    "DURABILITY",
    "STORE_MAX",
    "LOG",
    "MAX_ADU",
    "LIFETIME",
    "EXIT_FLUSH_MS",
    "REPORTS",
    "UDP_RATE",
    "AGE_BLOCK",
    "STRICT_CRC",
];

/// How far the store goes to keep a bundle whose acceptance was reported (`BP_DURABILITY`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `full`: every group commit is fsynced (SQLite WAL, `synchronous=FULL`). A bundle whose
    /// acceptance was reported survives a power loss.
    #[default]
    Full,
    /// `process`: committed to the WAL in the OS page cache without fsync
    /// (`synchronous=NORMAL`). Survives the process being killed, not a machine crash.
    Process,
    /// `memory`: no store file, bundles only in memory. Fastest; lost with the process.
    Memory,
}

impl Durability {
    /// The setting's value for this level: `full`, `process` or `memory`.
    pub fn name(self) -> &'static str {
        match self {
            Durability::Full => "full",
            Durability::Process => "process",
            Durability::Memory => "memory",
        }
    }

    fn parse(v: &str) -> Option<Durability> {
        Some(match v.to_ascii_lowercase().as_str() {
            "full" => Durability::Full,
            "process" => Durability::Process,
            "memory" => Durability::Memory,
            _ => return None,
        })
    }
}

/// A node's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Local node number (the node ID is ipn:N.0).
    pub node: u64,
    /// Addresses the convergence layers listen on.
    pub listen: Vec<ClaAddr>,
    /// Static routes.
    pub routes: Routes,
    /// Contact plan (`BP_CONTACT`): when the links to neighbours are open. Relative `+S` times
    /// were resolved against the time the configuration was read.
    pub contacts: ContactPlan,
    /// Where the node keeps its state, as given (`BP_STORE`): a file, or a directory (existing,
    /// or written with a trailing `/`). [`Config::store_path`] gives the file to use.
    pub store: Option<PathBuf>,
    /// How durable an accepted bundle is (`BP_DURABILITY`).
    pub durability: Durability,
    /// Storage limit in bytes (`BP_STORE_MAX`).
    pub store_max: u64,
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
            contacts: ContactPlan::default(),
            store: None,
            durability: Durability::Full,
            store_max: DEFAULT_STORE_MAX,
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
    /// Reads `BP_CONFIG` (if set) and then the `BP_*` variables from `env`, at the current time
    /// (the origin of relative contact times).
    pub fn from_env_with(env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        Config::from_env_with_time(env, crate::time::now_ms())
    }

    /// Reads `BP_CONFIG` (if set) and then the `BP_*` variables from `env`. `now_ms` (DTN ms) is
    /// the origin of relative `+S` contact times.
    pub fn from_env_with_time(
        env: impl Fn(&str) -> Option<String>,
        now_ms: u64,
    ) -> Result<Config, ConfigError> {
        let mut cfg = Config::default();
        if let Some(path) = env("BP_CONFIG") {
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
                setting: "BP_CONFIG".into(),
                reason: format!("cannot read '{path}': {e}"),
            })?;
            cfg.apply_file_at(&path, &text, now_ms)?;
        }
        for name in SETTINGS {
            let var = format!("BP_{name}");
            if let Some(v) = env(&var) {
                cfg.set(name, &v, now_ms).map_err(|reason| ConfigError {
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

    /// Applies the lines of a configuration file, at the current time (the origin of relative
    /// contact times).
    pub fn apply_file(&mut self, path: &str, text: &str) -> Result<(), ConfigError> {
        self.apply_file_at(path, text, crate::time::now_ms())
    }

    /// Applies the lines of a configuration file; `now_ms` (DTN ms) is the origin of relative
    /// `+S` contact times. Each `contact` line adds to the plan; any other setting replaces.
    pub fn apply_file_at(
        &mut self,
        path: &str,
        text: &str,
        now_ms: u64,
    ) -> Result<(), ConfigError> {
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
            if key == "CONTACT" {
                let mut all = self.contacts.entries().to_vec();
                all.extend(parse_contacts(v, now_ms).map_err(|r| at(r, k.trim()))?);
                self.contacts = ContactPlan::new(all);
            } else {
                self.set(&key, v.trim(), now_ms)
                    .map_err(|r| at(r, k.trim()))?;
            }
        }
        Ok(())
    }

    /// The store file: with `store` an existing directory or ending with `/`,
    /// `DIR/ipn-<node>.db`; with `store` anything else, that path; without `store`,
    /// `$XDG_STATE_HOME/bpshim/ipn-<node>.db`, else `$HOME/.local/state/bpshim/ipn-<node>.db`,
    /// else `/tmp/bpshim-<uid>/ipn-<node>.db` (`/tmp/bpshim/` if the user ID cannot be read).
    ///
    /// `XDG_STATE_HOME` and `HOME` are read from the process environment (`std::env`), not from
    /// the `BP_*` source the configuration was read from: they are the user's, not settings.
    /// Empty or relative values are ignored, as the XDG base-directory specification asks. The
    /// directory is not created here.
    pub fn store_path(&self) -> PathBuf {
        self.store_path_with(|k| std::env::var_os(k), current_uid)
    }

    fn store_path_with(
        &self,
        env: impl Fn(&str) -> Option<OsString>,
        uid: impl FnOnce() -> Option<u32>,
    ) -> PathBuf {
        let file = format!("ipn-{}.db", self.node);
        if let Some(s) = &self.store {
            if s.as_os_str().as_bytes().ends_with(b"/") || s.is_dir() {
                return s.join(file);
            }
            return s.clone();
        }
        let abs = |k: &str| env(k).map(PathBuf::from).filter(|p| p.is_absolute());
        if let Some(state) = abs("XDG_STATE_HOME") {
            return state.join("bpshim").join(file);
        }
        if let Some(home) = abs("HOME") {
            return home.join(".local/state/bpshim").join(file);
        }
        let dir = match uid() {
            Some(u) => format!("bpshim-{u}"),
            None => "bpshim".to_string(),
        };
        Path::new("/tmp").join(dir).join(file)
    }

    /// Sets one setting by name (without the `BP_` prefix).
    fn set(&mut self, name: &str, v: &str, now_ms: u64) -> Result<(), String> {
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
            "CONTACT" => self.contacts = ContactPlan::new(parse_contacts(v, now_ms)?),
            "STORE" => {
                if v.is_empty() {
                    return Err("empty path".into());
                }
                self.store = Some(PathBuf::from(v));
            }
            "DURABILITY" => {
                self.durability = Durability::parse(v)
                    .ok_or_else(|| format!("'{v}' is not a durability (full, process, memory)"))?
            }
            "STORE_MAX" => self.store_max = parse_size(v)?,
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

/// Contacts separated by `;` (a contact's fields are separated by spaces, so not `,`).
fn parse_contacts(v: &str, now_ms: u64) -> Result<Vec<Contact>, String> {
    v.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|c| Contact::parse(c, now_ms))
        .collect()
}

/// A size in bytes > 0, with an optional binary suffix: `K`/`KiB` (1024), `M`/`MiB`, `G`/`GiB`,
/// in any case.
fn parse_size(v: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "'{v}' is not a size (expected bytes > 0, optionally with K, M or G: 1048576, 512M, 2GiB)"
        )
    };
    let lower = v.to_ascii_lowercase();
    let num = lower.strip_suffix("ib").unwrap_or(&lower);
    let (num, mult) = match num.as_bytes().last() {
        Some(b'k') => (&num[..num.len() - 1], 1u64 << 10),
        Some(b'm') => (&num[..num.len() - 1], 1 << 20),
        Some(b'g') => (&num[..num.len() - 1], 1 << 30),
        _ if num.len() == lower.len() => (num, 1),
        // "ib" without K, M or G.
        _ => return Err(bad()),
    };
    let num = num.trim_end();
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n = num
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("'{v}' is out of range"))?;
    if n == 0 {
        return Err(format!("'{v}': must be > 0"));
    }
    Ok(n)
}

/// The real user ID of the process (what getuid(2) returns), for the fallback store directory
/// under `/tmp`: the first field of the `Uid:` line of `/proc/self/status`. None if that cannot
/// be read.
///
/// `nix::unistd::getuid` would be the direct call, but it needs nix's `user` feature, which the
/// workspace does not enable.
fn current_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
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

    const NOW: u64 = 800_000_000_000;

    fn from_at(pairs: &[(&str, &str)], now_ms: u64) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_env_with_time(|k| m.get(k).cloned(), now_ms)
    }

    fn contact(n: u64, to: &str, start_ms: u64, end_ms: u64, rate: Option<u64>) -> Contact {
        Contact {
            neighbour: n,
            to: ClaAddr::parse(to).unwrap(),
            start_ms,
            end_ms,
            rate,
        }
    }

    /// A file under the temporary directory, unique to this process and `name`.
    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("bpshim-config-test-{}-{name}", std::process::id()))
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
        // Untouched settings keep their defaults.
        assert!(c.contacts.is_empty());
        assert_eq!(c.durability, Durability::Full);
        assert_eq!(c.store_max, DEFAULT_STORE_MAX);

        let c = from_at(
            &[
                (
                    "BP_CONTACT",
                    "20 tcpcl:127.0.0.1:4556 +5 +10; 20 tcpcl:127.0.0.1:4556 +20 +25 1M ;",
                ),
                ("BP_DURABILITY", "process"),
                ("BP_STORE_MAX", "512M"),
            ],
            NOW,
        )
        .unwrap();
        assert_eq!(
            c.contacts.entries(),
            [
                contact(20, "tcpcl:127.0.0.1:4556", NOW + 5000, NOW + 10_000, None),
                contact(
                    20,
                    "tcpcl:127.0.0.1:4556",
                    NOW + 20_000,
                    NOW + 25_000,
                    Some(1_000_000)
                ),
            ]
        );
        assert_eq!(c.durability, Durability::Process);
        assert_eq!(c.store_max, 512 << 20);
        // An empty plan is allowed (it clears a file's contacts).
        assert!(from(&[("BP_CONTACT", " ; ")]).unwrap().contacts.is_empty());
        for (v, d) in [
            ("full", Durability::Full),
            ("Process", Durability::Process),
            ("MEMORY", Durability::Memory),
        ] {
            assert_eq!(from(&[("BP_DURABILITY", v)]).unwrap().durability, d);
            assert_eq!(Durability::parse(d.name()), Some(d));
        }
        for (v, n) in [
            ("1", 1),
            ("1048576", 1 << 20),
            ("64K", 64 << 10),
            ("64k", 64 << 10),
            ("64KiB", 64 << 10),
            ("64kib", 64 << 10),
            ("3m", 3 << 20),
            ("3MiB", 3 << 20),
            ("2G", 2 << 30),
            ("2 GiB", 2 << 30),
            ("16384G", 1 << 44),
        ] {
            assert_eq!(from(&[("BP_STORE_MAX", v)]).unwrap().store_max, n, "{v}");
        }
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
            ("BP_CONTACT", "20 tcpcl:127.0.0.1:4556 +5"),
            (
                "BP_CONTACT",
                "20 tcpcl:127.0.0.1:4556 +5 +10, 20 udp:127.0.0.1:1 +5 +10",
            ),
            (
                "BP_CONTACT",
                "20 tcpcl:127.0.0.1:4556 +5 +10; 0 udp:127.0.0.1:1 +5 +10",
            ),
            ("BP_CONTACT", "20 tcpcl:127.0.0.1:4556 +10 +5"),
            ("BP_CONTACT", "20 tcpcl:127.0.0.1:4556 +5 +10 0"),
            ("BP_DURABILITY", "fsync"),
            ("BP_DURABILITY", ""),
            ("BP_STORE_MAX", "0"),
            ("BP_STORE_MAX", "0G"),
            ("BP_STORE_MAX", "-1"),
            ("BP_STORE_MAX", "1.5G"),
            ("BP_STORE_MAX", "1T"),
            ("BP_STORE_MAX", "iB"),
            ("BP_STORE_MAX", "5ib"),
            ("BP_STORE_MAX", "G"),
            ("BP_STORE_MAX", "99999999999999G"),
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

    #[test]
    fn file_contact_lines_accumulate() {
        let mut c = Config::default();
        c.apply_file_at(
            "n.conf",
            "contact = 20 tcpcl:127.0.0.1:4556 +5 +10\n\
             durability = memory\n\
             BP_CONTACT = 30 udp:127.0.0.1:4557 * * 125k; 20 tcpcl:127.0.0.1:4556 +20 +25\n\
             store_max = 10MiB\n",
            NOW,
        )
        .unwrap();
        assert_eq!(
            c.contacts.entries(),
            [
                contact(20, "tcpcl:127.0.0.1:4556", NOW + 5000, NOW + 10_000, None),
                contact(30, "udp:127.0.0.1:4557", 0, u64::MAX, Some(125_000)),
                contact(20, "tcpcl:127.0.0.1:4556", NOW + 20_000, NOW + 25_000, None),
            ]
        );
        assert_eq!(c.durability, Durability::Memory);
        assert_eq!(c.store_max, 10 << 20);
        let e = c
            .apply_file_at(
                "n.conf",
                "\ncontact = 20 tcpcl:127.0.0.1:4556 +5 soon\n",
                NOW,
            )
            .unwrap_err();
        assert_eq!(e.setting, "n.conf:2 (contact)");
        assert!(e.reason.contains("'soon'"), "{e}");
        // A bad line leaves the plan as it was.
        assert_eq!(c.contacts.entries().len(), 3);
    }

    #[test]
    fn env_contacts_replace_the_file_ones() {
        let path = temp_path("contacts.conf");
        std::fs::write(
            &path,
            "contact = 20 tcpcl:127.0.0.1:4556 +5 +10\ncontact = 30 udp:127.0.0.1:1 +1 +2\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let c = from_at(&[("BP_CONFIG", p)], NOW).unwrap();
        assert_eq!(c.contacts.entries().len(), 2);
        let c = from_at(
            &[("BP_CONFIG", p), ("BP_CONTACT", "40 udp:127.0.0.1:2 +0 +1")],
            NOW,
        )
        .unwrap();
        assert_eq!(
            c.contacts.entries(),
            [contact(40, "udp:127.0.0.1:2", NOW, NOW + 1000, None)]
        );
        let c = from_at(&[("BP_CONFIG", p), ("BP_CONTACT", "")], NOW).unwrap();
        assert!(c.contacts.is_empty());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn store_path_cases() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let uid = || Some(1234);
        let cfg = |store: Option<&str>| Config {
            node: 20,
            store: store.map(PathBuf::from),
            ..Config::default()
        };
        let p = |s: &str| PathBuf::from(s);

        // Unset: XDG_STATE_HOME, then HOME, then /tmp/bpshim-<uid>.
        let c = cfg(None);
        let both: &[(&str, &str)] = &[("XDG_STATE_HOME", "/x/state"), ("HOME", "/home/u")];
        assert_eq!(
            c.store_path_with(env(both), uid),
            p("/x/state/bpshim/ipn-20.db")
        );
        let home: &[(&str, &str)] = &[("HOME", "/home/u")];
        assert_eq!(
            c.store_path_with(env(home), uid),
            p("/home/u/.local/state/bpshim/ipn-20.db")
        );
        // Empty or relative values are ignored.
        let ignored: &[(&str, &str)] = &[("XDG_STATE_HOME", ""), ("HOME", "/home/u")];
        assert_eq!(
            c.store_path_with(env(ignored), uid),
            p("/home/u/.local/state/bpshim/ipn-20.db")
        );
        let rel: &[(&str, &str)] = &[("XDG_STATE_HOME", "state"), ("HOME", "")];
        assert_eq!(
            c.store_path_with(env(rel), uid),
            p("/tmp/bpshim-1234/ipn-20.db")
        );
        assert_eq!(
            c.store_path_with(env(&[]), uid),
            p("/tmp/bpshim-1234/ipn-20.db")
        );
        assert_eq!(
            c.store_path_with(env(&[]), || None),
            p("/tmp/bpshim/ipn-20.db")
        );

        // Set: a directory (trailing / or existing) gets the file name; anything else is the file.
        assert_eq!(
            cfg(Some("/var/lib/bp/")).store_path_with(env(both), uid),
            p("/var/lib/bp/ipn-20.db")
        );
        let dir = temp_path("store-dir");
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.to_str().unwrap();
        assert_eq!(
            cfg(Some(d)).store_path_with(env(both), uid),
            dir.join("ipn-20.db")
        );
        std::fs::remove_dir(&dir).unwrap();
        // The same path, no longer a directory: a file name.
        assert_eq!(cfg(Some(d)).store_path_with(env(both), uid), dir);
        assert_eq!(
            cfg(Some("/var/lib/bp/node.db")).store_path_with(env(both), uid),
            p("/var/lib/bp/node.db")
        );
        assert_eq!(
            cfg(Some("rel/node.db")).store_path_with(env(&[]), uid),
            p("rel/node.db")
        );

        // The real environment and user ID give one of the forms above.
        let real = cfg(None).store_path();
        assert!(real.ends_with("bpshim/ipn-20.db") || real.ends_with("ipn-20.db"));
        let uid = current_uid().expect("/proc/self/status");
        assert_eq!(
            uid,
            std::fs::metadata("/proc/self")
                .map(|m| {
                    use std::os::unix::fs::MetadataExt;
                    m.uid()
                })
                .unwrap()
        );
    }
}
