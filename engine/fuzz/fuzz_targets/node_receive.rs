//! The whole receive path of a node: arbitrary bytes through `Node::cla_receive`, then every
//! output drained. Nothing may panic.
//!
//! The node is ipn:20 with a socket bound to ipn:20.1, a route for everything else, and
//! status reports as the default configuration sets them; an input of odd length runs it with
//! `strict_crc` (primary block CRC required), one whose length has bit 1 set with `age_block`.
//! The input goes in twice: whole, as one bundle, then split into bundles by 2-byte big-endian
//! length prefixes (`[len][bytes][len][bytes]...`), received one after the other with the
//! clock moving on, so that state carried between bundles (queues, reports, reassembly) is
//! exercised. After each bundle every output is drained: transmissions (reported taken every
//! other time), ADUs for the socket (acknowledged every other time) and status reports for it.
//! Store operations are applied to a store kept in memory; at the end a second node restarts
//! from that store (as after a crash) and is drained too, so restore is fuzzed with every state
//! the first node can leave behind.
#![no_main]

use engine::config::Config;
use engine::store::{Loaded, StoreOp, StoredBundle};
use std::collections::BTreeMap;
use engine::log::{self, Level};
use engine::node::Node;
use engine::route::{ClaAddr, Pattern, Routes};
use libfuzzer_sys::fuzz_target;

/// DTN time (ms) of the first reception: 2025-05-09, when the seed bundles are alive.
const START_MS: u64 = 800_000_000_000;

fn drain(node: &mut Node, socket: u32, ack: bool) {
    while let Some(t) = node.poll_transmit() {
        if ack {
            node.transmitted(t.id);
        }
    }
    while node.take_report(socket, false).is_some() {}
    while let Some(id) = node.poll_ready_socket() {
        let mut last = None;
        while let Some((seq, adu)) = node.peek_ready(id) {
            std::hint::black_box(adu.payload.bytes());
            last = Some(seq);
            node.mark_written(id);
        }
        if let (true, Some(seq)) = (ack, last) {
            node.app_ack(id, seq);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    log::set_level(Level::Off);
    let cfg = Config {
        node: 20,
        routes: Routes::new(vec![(
            Pattern::parse("ipn:*.*").expect("pattern"),
            ClaAddr::parse("udp:127.0.0.1:4556").expect("address"),
        )]),
        strict_crc: data.len() & 1 == 1,
        age_block: data.len() & 2 == 2,
        ..Default::default()
    };
    let mut node = Node::new(&cfg);
    let id = node.open();
    node.bind(id, 20, 1).expect("bind ipn:20.1");

    let mut store = BTreeMap::new();
    node.cla_receive(START_MS, "fuzz", data.to_vec());
    drain(&mut node, id, false);
    apply(&mut store, &mut node);

    let mut now = START_MS;
    let mut rest = data;
    let mut n = 0u32;
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (bundle, tail) = tail.split_at(len);
        node.cla_receive(now, "fuzz", bundle.to_vec());
        drain(&mut node, id, n % 2 == 0);
        apply(&mut store, &mut node);
        now += 997;
        n += 1;
        rest = tail;
    }
    apply(&mut store, &mut node);
    // A restart from what the store holds, as after a crash.
    let last = node.last_timestamp();
    let mut again = Node::new(&cfg);
    again.restore(
        now,
        Loaded {
            bundles: store.values().cloned().collect(),
            seen: Vec::new(),
            last_ts: last,
        },
    );
    let id2 = again.open();
    let _ = again.bind(id2, 20, 1);
    drain(&mut again, id2, true);
    // Time passes past every lifetime the seeds carry; the bound socket goes away.
    node.expire(now + 2 * 3_600_000);
    node.app_closed(id);
    drain(&mut node, id, true);
    again.expire(now + 2 * 3_600_000);
    drain(&mut again, id2, true);
});

/// Applies the node's store operations to a store kept in memory.
fn apply(store: &mut BTreeMap<u64, StoredBundle>, node: &mut Node) {
    for op in node.take_store_ops() {
        match op {
            StoreOp::Put(b) => {
                store.insert(b.id, b);
            }
            StoreOp::Delete(id) => {
                store.remove(&id);
            }
            StoreOp::Seen(..) | StoreOp::ForgetSeen(_) => {}
        }
    }
}
