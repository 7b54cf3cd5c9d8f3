//! Contact plan: when the link to each neighbour is open (sans-IO).
//!
//! A contact says: the link to neighbour node N, through the convergence-layer address CLA, is
//! open from START until END, optionally at RATE bytes per second. Outside its contacts a
//! neighbour is unreachable, and the bundles for it wait in the store until the next contact
//! opens.
//!
//! # Syntax
//!
//! One contact is a line of whitespace-separated fields:
//!
//! ```text
//! NEIGHBOUR CLA START END [RATE]
//! 20 tcpcl:127.0.0.1:4556 +5 +10
//! ipn:20.0 udp:127.0.0.1:4557 1764000000 1764003600.5 125k
//! ```
//!
//! - NEIGHBOUR: `ipn:N.0`, `ipn:N` or `N`, with N > 0.
//! - CLA: a convergence-layer address as in [`ClaAddr::parse`] (`tcpcl:HOST:PORT`, ...).
//! - START, END: absolute Unix time in seconds (`1764000000`, or with a decimal fraction,
//!   `1764000000.5`, kept to the millisecond), or `+S` seconds after the plan is loaded (`+5`,
//!   `+2.5`), or `*`: for START, since forever; for END, forever. END must be after START.
//! - RATE (optional): bytes per second, an integer with an optional suffix `k`/`K` (×1000), `M`
//!   (×10⁶) or `G` (×10⁹): `125k`, `1M`. Without it the contact is not rate-limited; `0` is an
//!   error.
//!
//! The `BP_CONTACT` setting ([`crate::config`]) holds several contacts separated by `;`.
//!
//! # Meaning
//!
//! A contact is open at `now` when `start <= now < end` (times in DTN ms, [`crate::time`]).
//! Overlapping contacts for one neighbour are allowed: the earliest-starting open one is used
//! ([`ContactPlan::open_for`]). Static routes (`BP_ROUTE`) are contacts that are always open: the
//! node treats a next hop from the route table so, and consults the plan for the neighbours it
//! [serves](ContactPlan::serves).
//!
//! Nothing here reads the clock or does I/O: every time is passed in. The driver asks
//! [`ContactPlan::next_change_ms`] when it must wake up next, and paces a contact that has a
//! rate with a [`RateLimiter`].

use crate::route::ClaAddr;
use crate::time::DTN_EPOCH_UNIX_SECS;

/// One contact: the link to `neighbour` through `to` is open from `start_ms` until `end_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// Node number of the neighbour (ipn:N.0).
    pub neighbour: u64,
    /// Convergence-layer address the neighbour is reached through.
    pub to: ClaAddr,
    /// When the contact opens, DTN ms (0: since forever).
    pub start_ms: u64,
    /// When the contact closes, DTN ms, exclusive (`u64::MAX`: never).
    pub end_ms: u64,
    /// Bytes per second, if limited.
    pub rate: Option<u64>,
}

impl Contact {
    /// Parses `NEIGHBOUR CLA START END [RATE]` (see the [module](self) documentation).
    /// `now_ms` is the DTN time at load, the origin of relative `+S` times.
    pub fn parse(item: &str, now_ms: u64) -> Result<Contact, String> {
        let item = item.trim();
        let fields: Vec<&str> = item.split_whitespace().collect();
        if !(4..=5).contains(&fields.len()) {
            return Err(format!(
                "'{item}' is not a contact (expected NEIGHBOUR CLA START END [RATE], \
                 e.g. 20 tcpcl:127.0.0.1:4556 +5 +10 1M)"
            ));
        }
        let within = |e: String| format!("{e} in contact '{item}'");
        let neighbour = parse_neighbour(fields[0]).map_err(within)?;
        let to = ClaAddr::parse(fields[1]).map_err(within)?;
        let start_ms = parse_time(fields[2], now_ms, "start", 0).map_err(within)?;
        let end_ms = parse_time(fields[3], now_ms, "end", u64::MAX).map_err(within)?;
        if end_ms <= start_ms {
            return Err(within(format!(
                "end '{}' is not after start '{}'",
                fields[3], fields[2]
            )));
        }
        let rate = match fields.get(4) {
            Some(r) => Some(parse_rate(r).map_err(within)?),
            None => None,
        };
        Ok(Contact {
            neighbour,
            to,
            start_ms,
            end_ms,
            rate,
        })
    }

    /// Whether the contact is open at `now_ms`: `start_ms <= now_ms < end_ms`.
    pub fn is_open(&self, now_ms: u64) -> bool {
        self.start_ms <= now_ms && now_ms < self.end_ms
    }
}

fn parse_neighbour(s: &str) -> Result<u64, String> {
    let bad = || format!("'{s}' is not a neighbour node (expected ipn:N.0, ipn:N or N, N > 0)");
    let digits = match s.strip_prefix("ipn:") {
        Some(rest) => match rest.split_once('.') {
            Some((n, "0")) => n,
            Some(_) => return Err(bad()),
            None => rest,
        },
        None => s,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match digits.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(bad()),
    }
}

/// Parses `SECONDS[.FRACTION]` into milliseconds (the fraction truncated to the millisecond).
fn parse_secs_ms(s: &str) -> Option<u64> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) {
        return None;
    }
    let mut ms = int.parse::<u64>().ok()?.checked_mul(1000)?;
    if let Some(f) = frac {
        if !digits(f) {
            return None;
        }
        let mut scale = 100;
        for b in f.bytes().take(3) {
            ms = ms.checked_add(u64::from(b - b'0') * scale)?;
            scale /= 10;
        }
    }
    Some(ms)
}

/// Parses START or END into DTN ms. `star` is the value of `*`.
fn parse_time(s: &str, now_ms: u64, which: &str, star: u64) -> Result<u64, String> {
    let bad = || {
        format!(
            "'{s}' is not a {which} time (expected Unix seconds such as 1764000000 or \
             1764000000.5, +S seconds from now such as +5 or +2.5, or *)"
        )
    };
    if s == "*" {
        return Ok(star);
    }
    if let Some(rel) = s.strip_prefix('+') {
        let ms = parse_secs_ms(rel).ok_or_else(bad)?;
        return now_ms
            .checked_add(ms)
            .ok_or_else(|| format!("'{s}': {which} time out of range"));
    }
    let unix_ms = parse_secs_ms(s).ok_or_else(bad)?;
    unix_ms
        .checked_sub(DTN_EPOCH_UNIX_SECS * 1000)
        .ok_or_else(|| {
            format!(
                "'{s}': {which} time is before 2000-01-01 (absolute times are Unix seconds; \
                 for seconds from now write +{s})"
            )
        })
}

fn parse_rate(s: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "'{s}' is not a rate (expected bytes per second > 0, optionally with k, M or G: \
             125000, 125k, 1M)"
        )
    };
    let (num, mult) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1_000),
        Some(b'M') => (&s[..s.len() - 1], 1_000_000),
        Some(b'G') => (&s[..s.len() - 1], 1_000_000_000),
        _ => (s, 1),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let rate = num
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("'{s}': rate out of range"))?;
    if rate == 0 {
        return Err(format!(
            "'{s}': rate must be > 0 (leave it out for no limit)"
        ));
    }
    Ok(rate)
}

/// The contacts of a node, in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactPlan {
    contacts: Vec<Contact>,
}

impl ContactPlan {
    /// A plan of these contacts (indices into it are stable).
    pub fn new(contacts: Vec<Contact>) -> ContactPlan {
        ContactPlan { contacts }
    }

    /// All contacts, in the order given.
    pub fn entries(&self) -> &[Contact] {
        &self.contacts
    }

    /// Whether the plan has no contacts.
    pub fn is_empty(&self) -> bool {
        self.contacts.is_empty()
    }

    /// Whether any contact (open or not) serves node n.
    pub fn serves(&self, n: u64) -> bool {
        self.contacts.iter().any(|c| c.neighbour == n)
    }

    /// Index of the contact for node n open at now_ms (the earliest-starting open one; among
    /// equal starts, the first given), if any.
    pub fn open_for(&self, n: u64, now_ms: u64) -> Option<usize> {
        self.contacts
            .iter()
            .enumerate()
            .filter(|(_, c)| c.neighbour == n && c.is_open(now_ms))
            .min_by_key(|(i, c)| (c.start_ms, *i))
            .map(|(i, _)| i)
    }

    /// The contact at index i.
    pub fn get(&self, i: usize) -> Option<&Contact> {
        self.contacts.get(i)
    }

    /// The earliest start or end time strictly after now_ms (None if none): when the engine must
    /// wake up. An end of `u64::MAX` (never) is not a change.
    pub fn next_change_ms(&self, now_ms: u64) -> Option<u64> {
        self.contacts
            .iter()
            .flat_map(|c| [c.start_ms, c.end_ms])
            .filter(|&t| t > now_ms && t != u64::MAX)
            .min()
    }

    /// The next time (>= now_ms) a contact for n opens, None if none will. A contact already
    /// open gives now_ms.
    pub fn next_open_ms(&self, n: u64, now_ms: u64) -> Option<u64> {
        self.contacts
            .iter()
            .filter(|c| c.neighbour == n && c.end_ms > now_ms)
            .map(|c| c.start_ms.max(now_ms))
            .min()
    }
}

/// Token bucket for a contact's rate. Deficit model so a bundle bigger than the bucket is not starved:
/// a send is allowed whenever the bucket is not negative, and takes its full size (may go negative).
///
/// The bucket fills at the rate up to its burst, `max(rate / 10, 1500)` bytes (a tenth of a
/// second, or one packet on a slow link), and starts full.
/// Over a long run the bytes sent are at most `burst + rate × time + one bundle`. A rate of 0
/// means no limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimiter {
    /// Bytes per second (= milli-bytes per ms).
    rate: u64,
    /// Capacity, in milli-bytes.
    cap: i128,
    /// Content at `last_ms`, in milli-bytes; negative after a send larger than the content.
    tokens: i128,
    /// Time of the last update, DTN ms.
    last_ms: u64,
}

/// Smallest burst: one Ethernet-sized packet, so that a slow link is not handed a large burst.
const MIN_BURST: u64 = 1500;

impl RateLimiter {
    /// A full bucket at `rate_bytes_per_s`; burst = max(rate/10, 1500) bytes.
    pub fn new(rate_bytes_per_s: u64, now_ms: u64) -> RateLimiter {
        let burst = (rate_bytes_per_s / 10).max(MIN_BURST);
        let cap = i128::from(burst) * 1000;
        RateLimiter {
            rate: rate_bytes_per_s,
            cap,
            tokens: cap,
            last_ms: now_ms,
        }
    }

    /// The content at now_ms, in milli-bytes (a time before the last update adds nothing).
    fn tokens_at(&self, now_ms: u64) -> i128 {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        let added = u128::from(self.rate).saturating_mul(u128::from(elapsed));
        let added = i128::try_from(added).unwrap_or(i128::MAX);
        self.tokens.saturating_add(added).min(self.cap)
    }

    /// Whether `bytes` may go now; if yes, they are taken.
    pub fn try_take(&mut self, bytes: u64, now_ms: u64) -> bool {
        if self.rate == 0 {
            return true;
        }
        self.tokens = self.tokens_at(now_ms);
        self.last_ms = self.last_ms.max(now_ms);
        if self.tokens < 0 {
            return false;
        }
        self.tokens -= i128::from(bytes) * 1000;
        true
    }

    /// When (DTN ms) the next send will be allowed (now_ms if already allowed).
    pub fn ready_at_ms(&self, now_ms: u64) -> u64 {
        let tokens = self.tokens_at(now_ms);
        if self.rate == 0 || tokens >= 0 {
            return now_ms;
        }
        let base = now_ms.max(self.last_ms);
        let deficit = tokens.unsigned_abs();
        let wait = deficit.div_ceil(u128::from(self.rate));
        base.saturating_add(u64::try_from(wait).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_000_000;

    fn cla(s: &str) -> ClaAddr {
        ClaAddr::parse(s).unwrap()
    }

    fn c(n: u64, start_ms: u64, end_ms: u64) -> Contact {
        Contact {
            neighbour: n,
            to: cla("tcpcl:127.0.0.1:4556"),
            start_ms,
            end_ms,
            rate: None,
        }
    }

    #[test]
    fn parses_every_form() {
        let a = Contact::parse("20 tcpcl:127.0.0.1:4556 +5 +10", NOW).unwrap();
        assert_eq!(
            a,
            Contact {
                neighbour: 20,
                to: cla("tcpcl:127.0.0.1:4556"),
                start_ms: NOW + 5000,
                end_ms: NOW + 10_000,
                rate: None,
            }
        );
        let b = Contact::parse("  ipn:20.0\tudp:127.0.0.1:4557  +2.5 +2.75  125k ", NOW).unwrap();
        assert_eq!(b.neighbour, 20);
        assert_eq!(b.to, cla("udp:127.0.0.1:4557"));
        assert_eq!((b.start_ms, b.end_ms), (NOW + 2500, NOW + 2750));
        assert_eq!(b.rate, Some(125_000));
        let unix = 1_764_000_000u64;
        let dtn = (unix - DTN_EPOCH_UNIX_SECS) * 1000;
        let d = Contact::parse("ipn:7 tcpcl:[::1]:4556 1764000000 1764000000.5 1M", NOW).unwrap();
        assert_eq!(d.neighbour, 7);
        assert_eq!((d.start_ms, d.end_ms), (dtn, dtn + 500));
        assert_eq!(d.rate, Some(1_000_000));
        // Fractions are kept to the millisecond, extra digits truncated.
        let e = Contact::parse("7 tcpcl:127.0.0.1:1 1764000000.0129 1764000000.1", 0).unwrap();
        assert_eq!((e.start_ms, e.end_ms), (dtn + 12, dtn + 100));
        let f = Contact::parse("7 tcpcl:127.0.0.1:1 * *", NOW).unwrap();
        assert_eq!((f.start_ms, f.end_ms), (0, u64::MAX));
        let g = Contact::parse("7 tcpcl:127.0.0.1:1 +0 * 2G", NOW).unwrap();
        assert_eq!(
            (g.start_ms, g.end_ms, g.rate),
            (NOW, u64::MAX, Some(2_000_000_000))
        );
        for (r, v) in [
            ("1", 1),
            ("10K", 10_000),
            ("3k", 3000),
            ("4G", 4_000_000_000),
        ] {
            let c = Contact::parse(&format!("7 udp:127.0.0.1:1 * * {r}"), NOW).unwrap();
            assert_eq!(c.rate, Some(v), "{r}");
        }
    }

    #[test]
    fn each_error_quotes_the_item() {
        for (item, quoted) in [
            ("", "''"),
            ("20 tcpcl:127.0.0.1:4556 +5", "'20 tcpcl:127.0.0.1:4556 +5'"),
            ("20 tcpcl:127.0.0.1:4556 +5 +10 1M x", "'20 tcpcl"),
            ("0 tcpcl:127.0.0.1:4556 +5 +10", "'0'"),
            ("ipn:0.0 tcpcl:127.0.0.1:4556 +5 +10", "'ipn:0.0'"),
            ("ipn:20.1 tcpcl:127.0.0.1:4556 +5 +10", "'ipn:20.1'"),
            ("ipn:x tcpcl:127.0.0.1:4556 +5 +10", "'ipn:x'"),
            ("dtn://n tcpcl:127.0.0.1:4556 +5 +10", "'dtn://n'"),
            ("-3 tcpcl:127.0.0.1:4556 +5 +10", "'-3'"),
            ("99999999999999999999 tcpcl:127.0.0.1:1 +5 +10", "'9999"),
            ("20 tcp:127.0.0.1:4556 +5 +10", "'tcp:127.0.0.1:4556'"),
            ("20 tcpcl:nohost:4556 +5 +10", "'tcpcl:nohost:4556'"),
            ("20 tcpcl:127.0.0.1:4556 soon +10", "'soon'"),
            ("20 tcpcl:127.0.0.1:4556 + +10", "'+'"),
            ("20 tcpcl:127.0.0.1:4556 +-5 +10", "'+-5'"),
            ("20 tcpcl:127.0.0.1:4556 -5 +10", "'-5'"),
            ("20 tcpcl:127.0.0.1:4556 +5. +10", "'+5.'"),
            ("20 tcpcl:127.0.0.1:4556 +.5 +10", "'+.5'"),
            ("20 tcpcl:127.0.0.1:4556 1e9 +10", "'1e9'"),
            ("20 tcpcl:127.0.0.1:4556 +5 **", "'**'"),
            ("20 tcpcl:127.0.0.1:4556 5 +10", "'5'"),
            ("20 tcpcl:127.0.0.1:4556 +99999999999999999999 *", "'+9999"),
            ("20 tcpcl:127.0.0.1:4556 +10 +5", "'+5'"),
            ("20 tcpcl:127.0.0.1:4556 +5 +5", "'+5'"),
            ("20 tcpcl:127.0.0.1:4556 * *x", "'*x'"),
            ("20 tcpcl:127.0.0.1:4556 +5 +10 0", "'0'"),
            ("20 tcpcl:127.0.0.1:4556 +5 +10 0k", "'0k'"),
            ("20 tcpcl:127.0.0.1:4556 +5 +10 k", "'k'"),
            ("20 tcpcl:127.0.0.1:4556 +5 +10 1.5M", "'1.5M'"),
            ("20 tcpcl:127.0.0.1:4556 +5 +10 1m", "'1m'"),
            ("20 tcpcl:127.0.0.1:4556 +5 +10 -1", "'-1'"),
            (
                "20 tcpcl:127.0.0.1:4556 +5 +10 99999999999G",
                "'99999999999G'",
            ),
        ] {
            let e = Contact::parse(item, NOW).unwrap_err();
            assert!(e.contains(quoted), "{item}: {e}");
            assert!(
                e.contains("expected")
                    || e.contains("range")
                    || e.contains("must")
                    || e.contains("not after")
                    || e.contains("before"),
                "{item}: {e}"
            );
        }
        let e = Contact::parse("20 tcpcl:127.0.0.1:4556 +5 +10 0", NOW).unwrap_err();
        assert!(
            e.contains("in contact '20 tcpcl:127.0.0.1:4556 +5 +10 0'"),
            "{e}"
        );
        let e = Contact::parse("20 tcpcl:127.0.0.1:4556 +10 +5", NOW).unwrap_err();
        assert!(e.contains("not after"), "{e}");
        let e = Contact::parse("20 tcpcl:127.0.0.1:4556 5 +10", NOW).unwrap_err();
        assert!(e.contains("before 2000-01-01"), "{e}");
    }

    #[test]
    fn is_open_boundaries() {
        let k = c(20, 100, 200);
        assert!(!k.is_open(99));
        assert!(k.is_open(100));
        assert!(k.is_open(199));
        assert!(!k.is_open(200));
        let forever = c(20, 0, u64::MAX);
        assert!(forever.is_open(0));
        assert!(forever.is_open(u64::MAX - 1));
    }

    #[test]
    fn open_for_with_several_contacts() {
        let plan = ContactPlan::new(vec![
            c(20, 300, 400),    // 0
            c(30, 0, u64::MAX), // 1
            c(20, 100, 200),    // 2
            c(20, 150, 350),    // 3: overlaps 2 and 0
            c(20, 150, 500),    // 4: same start as 3
        ]);
        assert!(!plan.is_empty());
        assert!(ContactPlan::default().is_empty());
        assert!(plan.serves(20) && plan.serves(30) && !plan.serves(40));
        assert_eq!(plan.open_for(20, 50), None);
        assert_eq!(plan.open_for(20, 100), Some(2));
        assert_eq!(plan.open_for(20, 160), Some(2));
        assert_eq!(plan.open_for(20, 200), Some(3));
        assert_eq!(plan.open_for(20, 300), Some(3));
        assert_eq!(plan.open_for(20, 350), Some(4));
        assert_eq!(plan.open_for(20, 450), Some(4));
        assert_eq!(plan.open_for(20, 500), None);
        assert_eq!(plan.open_for(30, 12345), Some(1));
        assert_eq!(plan.open_for(40, 150), None);
        assert_eq!(plan.get(3), Some(&c(20, 150, 350)));
        assert_eq!(plan.get(5), None);
        assert_eq!(plan.entries().len(), 5);
    }

    #[test]
    fn next_change_and_next_open() {
        let plan = ContactPlan::new(vec![
            c(20, 100, 200),
            c(20, 300, 400),
            c(30, 0, u64::MAX),
            c(40, 250, u64::MAX),
        ]);
        assert_eq!(plan.next_change_ms(0), Some(100));
        assert_eq!(plan.next_change_ms(99), Some(100));
        assert_eq!(plan.next_change_ms(100), Some(200));
        assert_eq!(plan.next_change_ms(200), Some(250));
        assert_eq!(plan.next_change_ms(250), Some(300));
        assert_eq!(plan.next_change_ms(399), Some(400));
        assert_eq!(plan.next_change_ms(400), None);
        assert_eq!(ContactPlan::default().next_change_ms(0), None);

        assert_eq!(plan.next_open_ms(20, 0), Some(100));
        assert_eq!(plan.next_open_ms(20, 100), Some(100));
        assert_eq!(plan.next_open_ms(20, 150), Some(150));
        assert_eq!(plan.next_open_ms(20, 200), Some(300));
        assert_eq!(plan.next_open_ms(20, 399), Some(399));
        assert_eq!(plan.next_open_ms(20, 400), None);
        assert_eq!(plan.next_open_ms(30, 7), Some(7));
        assert_eq!(plan.next_open_ms(40, 7), Some(250));
        assert_eq!(plan.next_open_ms(50, 7), None);
    }

    #[test]
    fn rate_is_honoured_over_time() {
        // 1000 B/s, 100-byte bundles offered every ms for 10 simulated seconds.
        let start = 5_000_000;
        let mut r = RateLimiter::new(1000, start);
        let burst = 1500;
        let mut sent = 0u64;
        for t in start..start + 10_000 {
            while r.try_take(100, t) {
                sent += 100;
            }
            assert!(r.ready_at_ms(t) > t);
        }
        // Burst + rate × 10 s, give or take one bundle.
        let expected = burst + 10_000;
        assert!(
            sent + 100 >= expected && sent <= expected + 100,
            "sent {sent}"
        );

        // A fast rate gets a burst of rate / 10.
        let mut fast = RateLimiter::new(10_000_000, 0);
        assert!(fast.try_take(1_000_000, 0));
        assert!(fast.try_take(1, 0));
        assert!(!fast.try_take(1, 0));
        assert_eq!(fast.ready_at_ms(0), 1);
    }

    #[test]
    fn bundle_bigger_than_burst_still_goes() {
        let mut r = RateLimiter::new(1000, 0);
        // Drain the bucket exactly: 0 is not negative, so the big one goes.
        assert!(r.try_take(1500, 0));
        assert_eq!(r.ready_at_ms(0), 0);
        assert!(r.try_take(1_000_000, 0));
        // Now 1,000,000 bytes in deficit: 1000 s at 1000 B/s.
        assert!(!r.try_take(1, 0));
        assert_eq!(r.ready_at_ms(0), 1_000_000);
        assert_eq!(r.ready_at_ms(400_000), 1_000_000);
        assert!(!r.try_take(1, 999_999));
        assert!(r.try_take(200_000, 1_000_000));
        assert_eq!(r.ready_at_ms(1_000_000), 1_200_000);
        // A clock going back adds nothing and does not move the bucket back.
        assert!(!r.try_take(1, 10));
        assert_eq!(r.ready_at_ms(10), 1_200_000);
        // A long idle time refills only up to the burst.
        assert!(r.try_take(1500 + 1, 100_000_000));
        assert!(!r.try_take(1, 100_000_000));
        assert_eq!(r.ready_at_ms(100_000_000), 100_000_001);
    }

    #[test]
    fn rate_zero_is_no_limit() {
        let mut r = RateLimiter::new(0, 0);
        for _ in 0..10 {
            assert!(r.try_take(u64::MAX, 0));
        }
        assert_eq!(r.ready_at_ms(3), 3);
    }
}
