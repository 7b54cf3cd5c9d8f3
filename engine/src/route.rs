//! Static routes: an EID pattern maps to a next hop (a convergence-layer address).
//!
//! Patterns are `ipn:N.S`, `ipn:N.*` and `ipn:*.*`; the most specific matching pattern wins.

use std::fmt;
use std::net::SocketAddr;

/// Address of a next hop or of a listening convergence layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClaAddr {
    /// UDP convergence layer: one bundle per datagram.
    Udp(SocketAddr),
    /// MTCP: one CBOR byte string per bundle on a TCP stream.
    Mtcp(SocketAddr),
    /// TCPCLv4 (RFC 9174), without TLS.
    Tcpcl(SocketAddr),
    /// TCPCLv3 (RFC 7242), the layer ION and µD3TN speak.
    Tcpclv3(SocketAddr),
}

impl ClaAddr {
    /// Parses `udp:HOST:PORT`, `tcpcl:HOST:PORT`, `tcpclv3:HOST:PORT` or `mtcp:HOST:PORT` (HOST an IPv4 literal, `[IPv6]`, or
    /// `localhost`).
    pub fn parse(s: &str) -> Result<ClaAddr, String> {
        let s = s.trim();
        let (kind, rest) = s.split_once(':').unwrap_or(("", s));
        let make: fn(SocketAddr) -> ClaAddr = match kind {
            "udp" => ClaAddr::Udp,
            "mtcp" => ClaAddr::Mtcp,
            "tcpcl" => ClaAddr::Tcpcl,
            "tcpclv3" => ClaAddr::Tcpclv3,
            _ => {
                return Err(format!(
                    "'{s}' is not a convergence-layer address (expected udp:, tcpcl:, tcpclv3: or mtcp:HOST:PORT)"
                ));
            }
        };
        let rest = rest.replacen("localhost:", "127.0.0.1:", 1);
        rest.parse::<SocketAddr>()
            .map(make)
            .map_err(|_| format!("'{s}': expected {kind}:HOST:PORT with an IP address and a port"))
    }

    /// Largest bundle (bytes) one transmission can carry, if the layer has such a limit.
    pub fn max_bundle(&self) -> Option<usize> {
        match self {
            // IPv4: 65535 - 20 (IP) - 8 (UDP); IPv6 jumbograms aside, 65535 - 8.
            ClaAddr::Udp(a) if a.is_ipv4() => Some(65_507),
            ClaAddr::Udp(_) => Some(65_527),
            // A stream carries bundles of any size.
            ClaAddr::Mtcp(_) | ClaAddr::Tcpcl(_) | ClaAddr::Tcpclv3(_) => None,
        }
    }
}

impl fmt::Display for ClaAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaAddr::Udp(a) => write!(f, "udp:{a}"),
            ClaAddr::Mtcp(a) => write!(f, "mtcp:{a}"),
            ClaAddr::Tcpcl(a) => write!(f, "tcpcl:{a}"),
            ClaAddr::Tcpclv3(a) => write!(f, "tcpclv3:{a}"),
        }
    }
}

/// One side of a pattern: a number or `*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Matches exactly this number.
    Num(u64),
    /// Matches any number.
    Any,
}

impl Part {
    fn matches(self, v: u64) -> bool {
        match self {
            Part::Num(n) => n == v,
            Part::Any => true,
        }
    }
    /// `u64::MAX` for `*` (the form used in [`crate::api::Reply::limits`]).
    pub fn as_u64(self) -> u64 {
        match self {
            Part::Num(n) => n,
            Part::Any => u64::MAX,
        }
    }
}

/// An EID pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// `ipn:N.S`, `ipn:N.*` or `ipn:*.*`.
    Ipn {
        /// Node part.
        node: Part,
        /// Service part.
        service: Part,
    },
    /// Any other EID text (`dtn://node/svc`, `ipn:A.N.S`): exact, or a prefix when the
    /// pattern ends with `*` (`dtn://node/*`).
    Text {
        /// The text, without the trailing `*`.
        text: String,
        /// Whether it is a prefix.
        prefix: bool,
    },
}

impl Pattern {
    /// Parses `ipn:N.S`, `ipn:N.*`, `ipn:*.*`, or a `dtn:` (or three-element `ipn:`) EID
    /// optionally ending with `*`.
    pub fn parse(s: &str) -> Result<Pattern, String> {
        let s = s.trim();
        let bad = || {
            format!(
                "'{s}' is not an EID pattern (expected ipn:N.S, ipn:N.*, ipn:*.* or dtn://node/...)"
            )
        };
        if let Some(rest) = s.strip_prefix("dtn:") {
            if !rest.starts_with("//") || rest.len() <= 2 {
                return Err(bad());
            }
            let (text, prefix) = match s.strip_suffix('*') {
                Some(t) => (t.to_string(), true),
                None => (s.to_string(), false),
            };
            return Ok(Pattern::Text { text, prefix });
        }
        let rest = s.strip_prefix("ipn:").ok_or_else(bad)?;
        let parts: Vec<&str> = rest.split('.').collect();
        if parts.len() == 3
            && parts
                .iter()
                .all(|p| p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty())
        {
            return Ok(Pattern::Text {
                text: s.to_string(),
                prefix: false,
            });
        }
        let (n, sv) = rest.split_once('.').ok_or_else(bad)?;
        let part = |p: &str| -> Result<Part, String> {
            if p == "*" {
                Ok(Part::Any)
            } else if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
                p.parse().map(Part::Num).map_err(|_| bad())
            } else {
                Err(bad())
            }
        };
        let node = part(n)?;
        let service = part(sv)?;
        if node == Part::Any && service != Part::Any {
            return Err(bad());
        }
        Ok(Pattern::Ipn { node, service })
    }

    /// Whether the pattern matches ipn:`node`.`service`.
    pub fn matches(&self, node: u64, service: u64) -> bool {
        match self {
            Pattern::Ipn {
                node: n,
                service: s,
            } => n.matches(node) && s.matches(service),
            Pattern::Text { .. } => false,
        }
    }

    /// Whether the pattern matches an EID given as text (not a two-element ipn EID).
    pub fn matches_text(&self, eid: &str) -> bool {
        match self {
            Pattern::Text { text, prefix: true } => eid.starts_with(text.as_str()),
            Pattern::Text {
                text,
                prefix: false,
            } => eid == text,
            Pattern::Ipn { .. } => false,
        }
    }

    fn specificity(&self) -> u8 {
        match self {
            Pattern::Ipn { node, service } => {
                matches!(node, Part::Num(_)) as u8 + matches!(service, Part::Num(_)) as u8
            }
            Pattern::Text { prefix, .. } => 2 - *prefix as u8,
        }
    }
}

/// The route table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routes {
    entries: Vec<(Pattern, ClaAddr)>,
}

impl Routes {
    /// Builds a table; lookups prefer the most specific pattern, then the first given.
    pub fn new(mut entries: Vec<(Pattern, ClaAddr)>) -> Routes {
        entries.sort_by_key(|(p, _)| std::cmp::Reverse(p.specificity()));
        Routes { entries }
    }

    /// Next hop for ipn:`node`.`service`.
    pub fn lookup(&self, node: u64, service: u64) -> Option<ClaAddr> {
        self.entries
            .iter()
            .find(|(p, _)| p.matches(node, service))
            .map(|(_, a)| *a)
    }

    /// Next hop for any EID.
    pub fn lookup_eid(&self, eid: &crate::wire::Eid) -> Option<ClaAddr> {
        match eid {
            crate::wire::Eid::Ipn { node, service } => self.lookup(*node, *service),
            crate::wire::Eid::Null => None,
            other => {
                let t = other.to_string();
                self.entries
                    .iter()
                    .find(|(p, _)| p.matches_text(&t))
                    .map(|(_, a)| *a)
            }
        }
    }

    /// All entries, most specific first.
    pub fn entries(&self) -> &[(Pattern, ClaAddr)] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(Pattern::parse("ipn:20.*").unwrap().matches(20, 5));
        assert!(!Pattern::parse("ipn:20.1").unwrap().matches(20, 5));
        assert!(Pattern::parse("ipn:*.*").unwrap().matches(7, 7));
        for bad in [
            "ipn:*.1", "dtn:x", "ipn:20", "ipn:a.1", "ipn:1.-1", "ipn:.1",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn most_specific_wins() {
        let a = ClaAddr::parse("udp:127.0.0.1:1").unwrap();
        let b = ClaAddr::parse("udp:127.0.0.1:2").unwrap();
        let c = ClaAddr::parse("udp:[::1]:3").unwrap();
        let r = Routes::new(vec![
            (Pattern::parse("ipn:*.*").unwrap(), a),
            (Pattern::parse("ipn:20.*").unwrap(), b),
            (Pattern::parse("ipn:20.9").unwrap(), c),
        ]);
        assert_eq!(r.lookup(20, 9), Some(c));
        assert_eq!(r.lookup(20, 1), Some(b));
        assert_eq!(r.lookup(5, 1), Some(a));
    }

    #[test]
    fn cla_addresses() {
        assert!(ClaAddr::parse("udp:localhost:4556").is_ok());
        assert_eq!(
            ClaAddr::parse("mtcp:127.0.0.1:4557").unwrap().to_string(),
            "mtcp:127.0.0.1:4557"
        );
        for bad in [
            "tcp:1.2.3.4:5",
            "udp:notanip:1",
            "udp:127.0.0.1:x",
            "udp:127.0.0.1",
        ] {
            assert!(ClaAddr::parse(bad).is_err(), "{bad}");
        }
    }
}
