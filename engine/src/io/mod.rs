//! The I/O edge: one thread, one `mio` event loop.
//!
//! It owns the control channel, the engine ends of the application sockets' SEQPACKET pairs and
//! the UDP convergence-layer sockets, reads the clock, feeds the [`Node`] and drains its outputs.
//! Nothing here blocks: every descriptor is non-blocking, and a peer (application or network)
//! that cannot take more makes the loop wait for it to become writable, not stall.
//!
//! Files: [`app`] (data pairs), [`control`] (requests from the shim), [`udp`] (the UDP
//! convergence layer).

pub mod app;
pub mod control;
pub mod tcp;
pub mod udp;

use crate::config::{Config, ConfigError, Durability};
use crate::node::Node;
use crate::store::{self, StoreOp};
use crate::time;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::os::fd::RawFd;
use std::time::Duration;

pub(crate) const CONTROL: Token = Token(0);
/// Tokens of UDP sockets start here.
pub(crate) const UDP_BASE: usize = 1;
/// Tokens of application sockets are this plus the socket id.
pub(crate) const APP_BASE: usize = 1 << 20;
/// Tokens of the side pairs of application sockets are this plus the socket id.
pub(crate) const SIDE_BASE: usize = 1 << 40;
/// The store's writer thread wakes the loop with this token.
pub(crate) const WAKER: Token = Token(usize::MAX);

/// Why a node could not start: the message for the one stderr line, the errno for `socket()`.
#[derive(Debug)]
pub struct StartError {
    /// What went wrong, naming the setting or the file.
    pub message: String,
    /// `EINVAL` for a bad setting; the store's errno (`EIO`, `EACCES`, `EBUSY`, ...) for a store
    /// that cannot be used.
    pub errno: i32,
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<ConfigError> for StartError {
    fn from(e: ConfigError) -> StartError {
        StartError {
            message: e.to_string(),
            errno: 22,
        }
    }
}

impl From<store::StoreError> for StartError {
    fn from(e: store::StoreError) -> StartError {
        StartError {
            message: format!("bad setting BP_STORE: {e}"),
            errno: e.errno,
        }
    }
}

/// A batch handed to the store's writer: what to report once it has committed.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// Per socket: (id, data records, acknowledgement records) read up to the batch.
    marks: Vec<(u32, u64, u64)>,
    /// TCPCL transfers to acknowledge.
    accepts: Vec<(usize, u64)>,
}

/// The durable store as the loop drives it.
pub(crate) struct Durable {
    writer: store::Writer,
    /// The batch being committed, if any.
    in_flight: Option<Pending>,
    /// Operations of a batch that failed, tried again first.
    retry: Vec<StoreOp>,
    /// Marks and accepts of a failed batch.
    retry_pending: Pending,
    /// Not before this time (DTN ms) after a failure.
    retry_at: u64,
    next_number: u64,
    /// Commits and failures, for logs and tests.
    pub(crate) commits: u64,
    pub(crate) failures: u64,
    /// The last commit failed (disk full, I/O error): the node takes nothing more, as when full.
    pub(crate) failing: bool,
}

/// Descriptors the engine receives are moved at or above this number, out of the range that
/// programs expecting "lowest free descriptor" and `select()` users care about.
pub const HIGH_FD: RawFd = 512;

/// Moves `fd` to the lowest free number at or above [`HIGH_FD`] (close-on-exec), closing the
/// original; keeps it where it is if that fails.
pub fn move_high(fd: RawFd) -> RawFd {
    use nix::fcntl::{FcntlArg, fcntl};
    match fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(HIGH_FD)) {
        Ok(hi) => {
            let _ = nix::unistd::close(fd);
            hi
        }
        Err(_) => fd,
    }
}

/// How often lifetimes are checked.
const TICK_MS: u64 = 1000;

/// A running node: the event loop and everything it owns.
pub struct Engine {
    pub(crate) poll: Poll,
    pub(crate) node: Node,
    pub(crate) control: RawFd,
    pub(crate) apps: HashMap<u32, app::AppEnd>,
    pub(crate) udp: udp::Udp,
    pub(crate) tcp: tcp::Tcp,
    pub(crate) flushes: Vec<control::PendingFlush>,
    pub(crate) scratch: Vec<u8>,
    /// The store, unless the node runs in memory.
    pub(crate) durable: Option<Durable>,
    /// The store reached its limit: application pairs are filled and not read.
    pub(crate) full: bool,
    stop: bool,
}

impl Engine {
    /// Builds the node from `cfg` and opens its convergence layers. `control` is the engine end
    /// of the control channel (an AF_UNIX SEQPACKET socket; the engine takes ownership).
    ///
    /// # Errors
    /// A listen address that cannot be bound is reported as a bad `BP_CLA` setting.
    pub fn new(cfg: &Config, control: RawFd) -> Result<Engine, StartError> {
        crate::log::set_level(cfg.log);
        let mut node = Node::new(cfg);
        // The store first: a store that cannot be used stops the start before any socket.
        let store = match cfg.durability {
            Durability::Memory => None,
            d => {
                let path = cfg.store_path();
                let s = store::Store::open(&path, cfg.node, d)?;
                let loaded = s.load()?;
                node.restore(time::now_ms(), loaded);
                Some(s)
            }
        };
        let poll = Poll::new().map_err(|e| ConfigError {
            setting: "BP_NODE".into(),
            reason: format!("cannot create the event loop: {e}"),
        })?;
        let udp = udp::Udp::bind(&cfg.listen, cfg.udp_rate, &poll)?;
        let tcp = tcp::Tcp::bind(&cfg.listen, cfg.node, cfg.max_adu.max(64 << 20), &poll)?;
        poll.registry()
            .register(&mut SourceFd(&control), CONTROL, Interest::READABLE)
            .map_err(|e| ConfigError {
                setting: "BP_NODE".into(),
                reason: format!("cannot watch the control channel: {e}"),
            })?;
        crate::info!(
            "node ipn:{}.0 up; listening on {:?}; {} routes",
            cfg.node,
            cfg.listen.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            cfg.routes.entries().len()
        );
        let durable = match store {
            None => None,
            Some(s) => {
                let waker =
                    std::sync::Arc::new(mio::Waker::new(poll.registry(), WAKER).map_err(|e| {
                        StartError {
                            message: format!("cannot create the store's waker: {e}"),
                            errno: 12,
                        }
                    })?);
                let writer = store::Writer::start(s, move || {
                    let _ = waker.wake();
                })
                .map_err(|e| StartError {
                    message: format!("cannot start the store's thread: {e}"),
                    errno: 12,
                })?;
                Some(Durable {
                    writer,
                    in_flight: None,
                    retry: Vec::new(),
                    retry_pending: Pending::default(),
                    retry_at: 0,
                    next_number: 1,
                    commits: 0,
                    failures: 0,
                    failing: false,
                })
            }
        };
        let mut tcp = tcp;
        tcp.defer_accepts = durable.is_some();
        Ok(Engine {
            poll,
            node,
            control,
            apps: HashMap::new(),
            udp,
            tcp,
            flushes: Vec::new(),
            scratch: vec![0u8; crate::api::INLINE_MAX + crate::api::TX_HEADER_LEN],
            durable,
            full: false,
            stop: false,
        })
    }

    /// Runs the loop until the control channel is closed by every holder.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(256);
        let mut next_tick = time::now_ms() + TICK_MS;
        while !self.stop {
            let now = time::now_ms();
            let mut wait = next_tick.saturating_sub(now);
            if let Some(d) = self.flushes.iter().map(|f| f.deadline_ms).min() {
                wait = wait.min(d.saturating_sub(now));
            }
            if let Some(at) = self.tcp.next_retry_ms() {
                wait = wait.min(at.saturating_sub(now));
            }
            if let Some(at) = self.tcp.next_timeout_ms() {
                wait = wait.min(at.saturating_sub(now));
            }
            if let Some(at) = self.node.next_wakeup_ms() {
                wait = wait.min(at.saturating_sub(now));
            }
            if let Some(d) = &self.durable
                && !d.retry.is_empty()
            {
                wait = wait.min(d.retry_at.saturating_sub(now));
            }
            if let Some(t) = self.udp.paced_until() {
                let ms = t
                    .saturating_duration_since(std::time::Instant::now())
                    .as_millis() as u64;
                wait = wait.min(ms);
            }
            if let Err(e) = self.poll.poll(
                &mut events,
                // Bytes left to read from a turn's budget: look at new events, don't wait.
                Some(Duration::from_millis(if self.tcp.has_more_to_read() {
                    0
                } else {
                    wait.max(1)
                })),
            ) && e.kind() != std::io::ErrorKind::Interrupted
            {
                crate::error!("event loop failed: {e}; engine stops");
                return;
            }
            for ev in events.iter() {
                let t = ev.token().0;
                if ev.token() == CONTROL {
                    self.on_control();
                } else if ev.token() == WAKER {
                    self.on_commits();
                } else if t >= SIDE_BASE {
                    let id = (t - SIDE_BASE) as u32;
                    if ev.is_writable() {
                        self.write_done(id);
                    }
                    if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                        self.read_side(id);
                    }
                } else if (tcp::LISTEN_BASE..APP_BASE).contains(&t) {
                    self.tcp.event(t, ev, &mut self.node, &self.poll);
                } else if t >= APP_BASE {
                    let id = (t - APP_BASE) as u32;
                    if ev.is_writable() {
                        self.write_app(id);
                    }
                    if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                        self.read_app(id);
                    }
                } else {
                    let i = t - UDP_BASE;
                    if ev.is_readable() {
                        self.udp.receive(i, &mut self.node);
                    }
                    if ev.is_writable() {
                        self.udp.writable(i);
                    }
                }
            }
            self.tcp.resume_reads(&mut self.node, &self.poll);
            self.tcp.tick(&mut self.node, &self.poll);
            self.pump();
            let now = time::now_ms();
            if now >= next_tick {
                self.node.expire(now);
                next_tick = now + TICK_MS;
            }
            self.check_full();
            self.store_turn();
            self.check_flushes(now);
        }
        self.final_commit();
    }

    /// The store's writer finished batches: report what they made durable.
    fn on_commits(&mut self) {
        loop {
            let Some(d) = &mut self.durable else {
                return;
            };
            let Some(c) = d.writer.try_done() else {
                return;
            };
            let pending = d.in_flight.take().unwrap_or_default();
            match c.result {
                Ok(()) => {
                    d.commits += 1;
                    if d.failing {
                        d.failing = false;
                        self.node.set_store_failing(false);
                        crate::info!("store: commits succeed again");
                    }
                    crate::debug!(
                        "store: batch {} of {} changes committed in {} µs",
                        c.number,
                        c.ops.len(),
                        c.micros
                    );
                    for (k, (id, data, acks)) in pending.marks.into_iter().enumerate() {
                        if let Some(a) = self.apps.get_mut(&id) {
                            a.data_done = a.data_done.max(data);
                            a.ack_done = a.ack_done.max(acks);
                            // The writer told the application already.
                            if c.notified.get(k) == Some(&true) {
                                a.told = crate::api::DoneRecord { data, acks };
                            }
                        }
                        self.write_done(id);
                    }
                    for (token, tid) in pending.accepts {
                        self.tcp
                            .accept_stored(token, tid, &mut self.node, &self.poll);
                    }
                }
                Err(e) => {
                    d.failures += 1;
                    d.failing = true;
                    self.node.set_store_failing(true);
                    if d.failures.is_power_of_two() {
                        crate::error!(
                            "store: commit failed ({e}); {} changes kept in memory and tried again (failure {})",
                            c.ops.len(),
                            d.failures
                        );
                    }
                    let mut ops = c.ops;
                    ops.append(&mut d.retry);
                    d.retry = ops;
                    d.retry_pending.marks.extend(pending.marks);
                    d.retry_pending.accepts.extend(pending.accepts);
                    d.retry_at = time::now_ms() + 1000;
                }
            }
        }
    }

    /// Hands the node's store operations, with what waits for them, to the writer when it is
    /// idle (group commit: everything since the last batch goes in one transaction).
    fn store_turn(&mut self) {
        self.on_commits();
        let now = time::now_ms();
        let Some(d) = &mut self.durable else {
            // In memory: received transfers are acknowledged at once.
            return;
        };
        if d.in_flight.is_some() || (!d.retry.is_empty() && now < d.retry_at) {
            return;
        }
        let mut pending = std::mem::take(&mut d.retry_pending);
        for (&id, a) in &self.apps {
            if a.data_in > a.data_done || a.ack_in > a.ack_done {
                pending.marks.push((id, a.data_in, a.ack_in));
            }
        }
        pending.accepts.append(&mut self.tcp.pending_accepts);
        let mut ops = std::mem::take(&mut d.retry);
        ops.append(&mut self.node.take_store_ops());
        if ops.is_empty() && pending.marks.is_empty() && pending.accepts.is_empty() {
            return;
        }
        // One message per waiting socket, written by the writer right after the commit (on a
        // duplicate of the side pair's descriptor, which the writer closes).
        // Reads are told as soon as the commit is in the log (safe from a process crash), before
        // the sync that sends wait for.
        let notify = pending
            .marks
            .iter()
            .map(|&(id, data, acks)| {
                let (fd, early) = match self.apps.get(&id) {
                    Some(a) => (
                        nix::unistd::dup(a.side).unwrap_or(-1),
                        (acks > a.told.acks).then(|| {
                            crate::api::DoneRecord {
                                data: a.told.data,
                                acks,
                            }
                            .encode()
                            .to_vec()
                        }),
                    ),
                    None => (-1, None),
                };
                let rec = crate::api::DoneRecord { data, acks };
                (fd, early, rec.encode().to_vec())
            })
            .filter(|(fd, _, _)| *fd >= 0)
            .collect::<Vec<_>>();
        let all_notify = notify.len() == pending.marks.len();
        let number = d.next_number;
        d.next_number += 1;
        let ok = d.writer.submit(store::Batch {
            number,
            ops,
            last_ts: self.node.last_timestamp(),
            // Positions must match the marks: all or none.
            notify: if all_notify {
                notify
            } else {
                for (fd, _, _) in notify {
                    let _ = nix::unistd::close(fd);
                }
                Vec::new()
            },
        });
        if ok {
            d.in_flight = Some(pending);
        } else {
            crate::error!("store: the writer thread is gone; nothing more is stored");
        }
    }

    /// At the end of the loop: what is left goes to the store, waited for (bounded).
    pub(crate) fn final_commit(&mut self) {
        for _ in 0..3 {
            let Some(d) = &mut self.durable else {
                return;
            };
            if d.in_flight.is_some() {
                match d.writer.wait_done(Duration::from_secs(2)) {
                    Some(c) => {
                        d.in_flight = None;
                        if let Err(e) = c.result {
                            crate::error!("store: last commit failed: {e}");
                        }
                    }
                    None => return,
                }
            }
            if !self.node.has_store_ops() {
                return;
            }
            self.store_turn();
        }
    }

    /// Enters or leaves the full state: at the limit, every application pair is filled (sends
    /// block or fail with `EAGAIN`, `poll` is not writable); below 90% of it, pairs are read again.
    pub(crate) fn check_full(&mut self) {
        let full = self.node.store_full();
        if full && !self.full {
            self.full = true;
            if self.durable.as_ref().is_some_and(|d| d.failing) {
                crate::warn!("store cannot commit: applications' sends wait");
            } else {
                crate::warn!(
                    "store full ({} of {} bytes): applications' sends wait",
                    self.node.held_bytes(),
                    self.node.store_max()
                );
            }
            let ids: Vec<u32> = self.apps.keys().copied().collect();
            for id in ids {
                self.fill(id);
            }
        } else if self.full && self.node.store_has_room() {
            self.full = false;
            crate::info!(
                "store below its limit ({} of {} bytes): sends resume",
                self.node.held_bytes(),
                self.node.store_max()
            );
            let ids: Vec<u32> = self.apps.keys().copied().collect();
            for id in ids {
                self.read_app(id);
            }
        }
    }

    /// Ends the loop after the current iteration.
    pub(crate) fn stop(&mut self) {
        self.stop = true;
    }

    /// Bundles accepted but not yet handed to a convergence layer (or, on a stream, not yet
    /// completely written).
    pub(crate) fn pending_out(&self) -> usize {
        self.node.pending_transmits() + self.udp.queue.len() + self.tcp.pending()
    }

    /// Drains the node's outputs: bundles to the convergence layers, ADUs to applications.
    pub(crate) fn pump(&mut self) {
        use crate::route::ClaAddr;
        self.node.set_time(time::now_ms());
        loop {
            let tcp = &self.tcp;
            let Some(t) = self.node.poll_transmit_where(&|a| match a {
                ClaAddr::Udp(_) => true,
                _ => tcp.has_room(a),
            }) else {
                break;
            };
            match t.to {
                ClaAddr::Udp(_) => self.udp.queue.push_back(t),
                ClaAddr::Mtcp(_) | ClaAddr::Tcpcl(_) | ClaAddr::Tcpclv3(_) => self.tcp.enqueue(t),
            }
        }
        self.udp.send_all(&self.poll);
        self.tcp.send_all(&mut self.node, &self.poll);
        for id in self.udp.done.drain(..) {
            self.node.transmitted(id);
        }
        for id in self.tcp.take_done() {
            self.node.transmitted(id);
        }
        while let Some(id) = self.node.poll_ready_socket() {
            self.write_app(id);
        }
    }
}
