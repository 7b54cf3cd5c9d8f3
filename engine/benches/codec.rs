//! Bundles per second through the wire codec, side by side with bp7 (dtn7-rs's BPv7 crate) on
//! the same bundles in the same run: encode and decode, 100-byte and 64 KiB payloads, CRC-32C
//! on every block and no CRC.
//!
//!   cargo bench -p bpshim-engine --bench codec            # about a minute
//!   cargo bench -p bpshim-engine --bench codec -- --quick  # shorter, rougher
//!
//! What each line measures (one bundle per iteration, reported as elem/s = bundles/s):
//! - `encode/ours`: [`wire::encode`] of a primary block and payload into a new buffer;
//! - `encode/bp7`: `Bundle::to_cbor` of the same bundle held as a bp7 `Bundle` (it computes
//!   the CRCs while encoding, as ours does); the bytes are identical (tests/wire_bp7.rs);
//! - `decode/ours`: [`wire::parse`], which checks every rule and every CRC and copies nothing;
//! - `decode/bp7`: `Bundle::try_from`, which copies the blocks out and checks no CRC;
//! - `decode/bp7+validate`: the same and `Bundle::validate`, bp7's checks with its CRCs.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use engine::wire::{self, CrcType, CreationTimestamp, Eid, PrimaryBlock, flags};

fn primary(crc: CrcType) -> PrimaryBlock {
    PrimaryBlock {
        flags: flags::MUST_NOT_FRAGMENT,
        crc_type: crc,
        destination: Eid::ipn(20, 1),
        source: Eid::ipn(10, 1),
        report_to: Eid::ipn(10, 0),
        creation: CreationTimestamp {
            time: 800_000_000_000,
            seq: 42,
        },
        lifetime_ms: 3_600_000,
        fragment: None,
    }
}

fn codec(c: &mut Criterion) {
    for size in [100usize, 64 * 1024] {
        for (crc_name, crc) in [("crc32c", CrcType::Crc32c), ("nocrc", CrcType::None)] {
            let p = primary(crc);
            let payload: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let mut bytes = Vec::new();
            wire::encode(&p, None, &payload, crc, &mut bytes);
            let mut b7 = bp7::Bundle::try_from(bytes.as_slice()).expect("bp7 decodes ours");
            assert_eq!(b7.to_cbor(), bytes, "bp7 encodes the same bytes");
            assert!(wire::parse(&bytes).is_ok());
            let case = format!("{size}B/{crc_name}");

            let mut g = c.benchmark_group("encode");
            g.throughput(Throughput::Elements(1));
            g.bench_with_input(BenchmarkId::new("ours", &case), &payload, |b, payload| {
                b.iter(|| {
                    let mut out = Vec::new();
                    wire::encode(&p, None, payload, crc, &mut out);
                    out
                })
            });
            g.bench_function(BenchmarkId::new("bp7", &case), |b| b.iter(|| b7.to_cbor()));
            g.finish();

            let mut g = c.benchmark_group("decode");
            g.throughput(Throughput::Elements(1));
            g.bench_with_input(BenchmarkId::new("ours", &case), &bytes, |b, bytes| {
                b.iter(|| wire::parse(bytes).expect("valid"))
            });
            g.bench_with_input(BenchmarkId::new("bp7", &case), &bytes, |b, bytes| {
                b.iter(|| bp7::Bundle::try_from(bytes.as_slice()).expect("valid"))
            });
            g.bench_with_input(
                BenchmarkId::new("bp7+validate", &case),
                &bytes,
                |b, bytes| {
                    b.iter(|| {
                        let b7 = bp7::Bundle::try_from(bytes.as_slice()).expect("valid");
                        b7.validate().expect("valid");
                        b7
                    })
                },
            );
            g.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = codec
}
criterion_main!(benches);
