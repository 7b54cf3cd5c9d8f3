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

use crate::config::{Config, ConfigError};
use crate::node::Node;
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
    stop: bool,
}

impl Engine {
    /// Builds the node from `cfg` and opens its convergence layers. `control` is the engine end
    /// of the control channel (an AF_UNIX SEQPACKET socket; the engine takes ownership).
    ///
    /// # Errors
    /// A listen address that cannot be bound is reported as a bad `BP_CLA` setting.
    pub fn new(cfg: &Config, control: RawFd) -> Result<Engine, ConfigError> {
        crate::log::set_level(cfg.log);
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
        Ok(Engine {
            poll,
            node: Node::new(cfg),
            control,
            apps: HashMap::new(),
            udp,
            tcp,
            flushes: Vec::new(),
            scratch: vec![0u8; crate::api::INLINE_MAX + crate::api::TX_HEADER_LEN],
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
            self.check_flushes(now);
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
        while let Some(t) = self.node.poll_transmit() {
            match t.to {
                ClaAddr::Udp(_) => self.udp.queue.push_back(t),
                ClaAddr::Mtcp(_) | ClaAddr::Tcpcl(_) | ClaAddr::Tcpclv3(_) => self.tcp.enqueue(t),
            }
        }
        self.udp.send_all(&self.poll);
        self.tcp.send_all(&mut self.node, &self.poll);
        while let Some(id) = self.node.poll_ready_socket() {
            self.write_app(id);
        }
    }
}
