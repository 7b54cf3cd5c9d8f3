//! TCPCLv4 (RFC 9174). (being written)
