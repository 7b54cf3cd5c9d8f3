//! MTCP (draft-ietf-dtn-mtcpcl): each bundle travels on a TCP stream as one CBOR byte string
//! (major type 2, definite length) holding the bundle. No handshake, no acknowledgement: a
//! bundle counts as sent once its frame is written to the socket. This is what µD3TN, pyd3tn
//! and dtn7-rs's `mtcp` layer speak.
//!
//! Sans-IO: [`encode_head`] writes the frame head, [`Decoder`] turns any split of the byte stream
//! into whole bundles. Never panics; a frame longer than the configured maximum or a head that
//! is not a definite byte string is an error that ends the stream (the caller closes it).

use crate::wire::cbor;

/// Why an MTCP stream cannot go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MtcpError {
    /// The next item is not a definite-length CBOR byte string.
    NotAByteString,
    /// The frame announces more bytes than the node accepts in one bundle.
    TooLong {
        /// Announced length.
        len: u64,
        /// Largest accepted.
        max: u64,
    },
}

impl std::fmt::Display for MtcpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MtcpError::NotAByteString => {
                f.write_str("MTCP frame is not a definite-length CBOR byte string")
            }
            MtcpError::TooLong { len, max } => {
                write!(f, "MTCP frame of {len} bytes is over the {max}-byte limit")
            }
        }
    }
}

impl std::error::Error for MtcpError {}

/// Appends the head of a frame carrying `len` bundle bytes (the bundle follows it).
pub fn encode_head(len: usize, out: &mut Vec<u8>) {
    cbor::write_head(out, cbor::MAJOR_BYTES, len as u64);
}

/// Reassembles bundles from the bytes of one MTCP stream.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    max: u64,
    failed: Option<MtcpError>,
}

impl Decoder {
    /// A decoder accepting frames of up to `max` bytes.
    pub fn new(max: u64) -> Decoder {
        Decoder {
            buf: Vec::new(),
            max,
            failed: None,
        }
    }

    /// Adds bytes read from the stream; returns the bundles completed by them. A broken frame
    /// after complete ones: the complete ones are returned and [`Decoder::error`] is set; every
    /// later call returns that error.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, MtcpError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            let rest = &self.buf[at..];
            let head = match cbor::read_head(rest) {
                Ok(h) => h,
                Err(cbor::Error::Truncated) => break,
                Err(_) => return self.fail(MtcpError::NotAByteString, out),
            };
            if head.major != cbor::MAJOR_BYTES || head.indefinite {
                return self.fail(MtcpError::NotAByteString, out);
            }
            if head.arg > self.max {
                return self.fail(
                    MtcpError::TooLong {
                        len: head.arg,
                        max: self.max,
                    },
                    out,
                );
            }
            // `arg <= max`, and `max` fits the address space the caller chose it from.
            let Ok(len) = usize::try_from(head.arg) else {
                return self.fail(
                    MtcpError::TooLong {
                        len: head.arg,
                        max: self.max,
                    },
                    out,
                );
            };
            if rest.len() - head.len < len {
                break;
            }
            let start = head.len;
            out.push(rest[start..start + len].to_vec());
            at += start + len;
        }
        self.buf.drain(..at);
        Ok(out)
    }

    /// Bytes held for an incomplete frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The error that ended the stream, if any.
    pub fn error(&self) -> Option<MtcpError> {
        self.failed
    }

    fn fail(&mut self, e: MtcpError, done: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, MtcpError> {
        self.failed = Some(e);
        self.buf = Vec::new();
        if done.is_empty() { Err(e) } else { Ok(done) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(b: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_head(b.len(), &mut v);
        v.extend_from_slice(b);
        v
    }

    #[test]
    fn every_split_gives_the_same_bundles() {
        let bundles: Vec<Vec<u8>> = vec![vec![0x9f, 1, 0xff], vec![7; 300], vec![9; 70_000]];
        let stream: Vec<u8> = bundles.iter().flat_map(|b| frame(b)).collect();
        for step in [1, 2, 3, 7, 23, 24, 25, 256, 1000, stream.len()] {
            let mut d = Decoder::new(1 << 20);
            let mut got = Vec::new();
            for chunk in stream.chunks(step) {
                got.extend(d.feed(chunk).unwrap());
            }
            assert_eq!(got, bundles, "step {step}");
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn complete_frames_before_a_broken_one_are_kept() {
        let mut d = Decoder::new(100);
        let mut stream = frame(b"ok");
        stream.push(0x00);
        assert_eq!(d.feed(&stream), Ok(vec![b"ok".to_vec()]));
        assert_eq!(d.error(), Some(MtcpError::NotAByteString));
        assert_eq!(d.feed(&frame(b"x")), Err(MtcpError::NotAByteString));
    }

    #[test]
    fn refuses_other_items_and_oversize_frames() {
        let mut d = Decoder::new(100);
        assert_eq!(d.feed(&[0x9f]), Err(MtcpError::NotAByteString));
        assert_eq!(d.feed(&frame(b"x")), Err(MtcpError::NotAByteString));
        let mut d = Decoder::new(100);
        assert_eq!(d.feed(&[0x5f]), Err(MtcpError::NotAByteString));
        let mut d = Decoder::new(100);
        assert_eq!(
            d.feed(&[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(MtcpError::TooLong {
                len: u64::MAX,
                max: 100
            })
        );
        let mut d = Decoder::new(100);
        assert_eq!(d.feed(&[0x1c]), Err(MtcpError::NotAByteString));
    }
}
