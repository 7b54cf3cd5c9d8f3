//! Administrative records (RFC 9171 §6): bundle status reports. (being written)
