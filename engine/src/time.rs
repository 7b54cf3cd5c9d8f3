//! DTN time (RFC 9171 §4.2.6): milliseconds since 2000-01-01T00:00:00Z.
//!
//! Only the I/O driver reads the clock; everything else receives the time as a value.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds between the Unix epoch and the DTN epoch.
pub const DTN_EPOCH_UNIX_SECS: u64 = 946_684_800;

/// Converts a system time to DTN time in milliseconds (0 before the DTN epoch).
pub fn dtn_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| (d.as_millis() as u64).saturating_sub(DTN_EPOCH_UNIX_SECS * 1000))
        .unwrap_or(0)
}

/// The current DTN time in milliseconds. Called only at the I/O edge.
pub fn now_ms() -> u64 {
    dtn_ms(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn epoch_is_2000() {
        let t = UNIX_EPOCH + Duration::from_secs(DTN_EPOCH_UNIX_SECS + 1);
        assert_eq!(dtn_ms(t), 1000);
        assert_eq!(dtn_ms(UNIX_EPOCH), 0);
    }
}
