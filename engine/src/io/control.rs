//! Requests from the shim on the control channel, each answered on the reply socket it carries.

use super::Engine;
use crate::api::{Reply, Request};
use crate::time;
use nix::errno::Errno;
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::RawFd;

/// A flush request waiting for the outbound queue to empty.
#[derive(Debug)]
pub struct PendingFlush {
    /// Where to answer.
    pub reply: RawFd,
    /// When to give up (DTN ms).
    pub deadline_ms: u64,
}

impl Engine {
    /// Serves every queued control request.
    pub(crate) fn on_control(&mut self) {
        let mut buf = [0u8; 256];
        let mut cmsg = nix::cmsg_space!([RawFd; 4]);
        loop {
            cmsg.clear();
            let (n, fds) = {
                let mut iov = [IoSliceMut::new(&mut buf)];
                match recvmsg::<()>(
                    self.control,
                    &mut iov,
                    Some(&mut cmsg),
                    MsgFlags::MSG_DONTWAIT,
                ) {
                    Ok(m) => {
                        let mut fds = Vec::new();
                        if let Ok(cm) = m.cmsgs() {
                            for c in cm {
                                if let ControlMessageOwned::ScmRights(v) = c {
                                    fds.extend(v);
                                }
                            }
                        }
                        (m.bytes, fds)
                    }
                    Err(Errno::EAGAIN) => return,
                    Err(Errno::EINTR) => continue,
                    Err(e) => {
                        crate::error!("control channel failed: {e}; engine stops");
                        self.stop();
                        return;
                    }
                }
            };
            if n == 0 && fds.is_empty() {
                crate::info!("control channel closed; engine stops");
                self.stop();
                return;
            }
            self.on_request(&buf[..n], fds);
        }
    }

    fn on_request(&mut self, msg: &[u8], mut fds: Vec<RawFd>) {
        // The reply socket is always the last descriptor attached.
        let Some(reply) = fds.pop() else {
            crate::warn!("control request without a reply socket dropped");
            return;
        };
        let req = match Request::decode(msg) {
            Ok(r) => r,
            Err(e) => {
                crate::warn!("control request dropped: {e}");
                close_all(&fds);
                answer(reply, &Reply::simple(22, 0));
                return;
            }
        };
        let r = match req {
            Request::Open { .. } if fds.len() == 3 => {
                let side = super::move_high(fds[2]);
                let app = super::move_high(fds[1]);
                let data = super::move_high(fds[0]);
                fds.clear();
                {
                    let id = self.node.open();
                    match self.add_app(id, data, app, side) {
                        Ok(()) => Reply {
                            errno: 0,
                            value: id as u64,
                            local_node: self.node.node_number(),
                            max_adu: self.node.max_adu(),
                            limits: self.node.route_limits(),
                            data: (self.node.default_lifetime_ms() / 1000)
                                .to_le_bytes()
                                .to_vec(),
                        },
                        Err(e) => {
                            crate::error!("cannot watch a new socket: {e}");
                            close_all(&[data, app, side]);
                            self.node.app_closed(id);
                            Reply::simple(e.raw_os_error().unwrap_or(12), 0)
                        }
                    }
                }
            }
            Request::Open { .. } => Reply::simple(22, 0),
            Request::Bind { id, node, service } => match self.node.bind(id, node, service) {
                Ok(s) => {
                    self.pump();
                    Reply::simple(0, s)
                }
                Err(e) => Reply::simple(e.errno(), 0),
            },
            Request::Connect { id, node, service } => {
                let peer = (node != 0 || service != 0).then_some((node, service));
                match self.node.connect(id, peer) {
                    Ok(()) => Reply::simple(0, 0),
                    Err(e) => Reply::simple(e.errno(), 0),
                }
            }
            Request::SetOpt { id, opt, a, b } => match self.node.set_opt(id, opt, a, b) {
                Ok(()) => Reply::simple(0, 0),
                Err(e) => Reply::simple(e.errno(), 0),
            },
            Request::ErrQueue { id, peek } => {
                // Reports already in the pair's records are read first.
                self.read_app(id);
                match self.node.take_report(id, peek) {
                    Some(r) => {
                        let mut rep = Reply::simple(0, 1);
                        rep.data = r.encode();
                        rep
                    }
                    None => Reply::simple(11, 0),
                }
            }
            Request::Flush { timeout_ms } => {
                // Everything the application wrote before asking is already in the pairs.
                let ids: Vec<u32> = self.apps.keys().copied().collect();
                for id in ids {
                    self.read_app(id);
                }
                self.pump();
                self.flushes.push(PendingFlush {
                    reply,
                    deadline_ms: time::now_ms() + timeout_ms as u64,
                });
                close_all(&fds);
                self.check_flushes(time::now_ms());
                return;
            }
        };
        close_all(&fds);
        answer(reply, &r);
    }

    /// Answers the flushes that are done or out of time.
    pub(crate) fn check_flushes(&mut self, now_ms: u64) {
        if self.flushes.is_empty() {
            return;
        }
        let pending = self.pending_out();
        // Bundles no open next hop can take now: without a store they are lost at exit; with
        // one they wait in it for the next run.
        let unrouted = self.node.unrouted() + self.node.awaiting_contact();
        let before = self.flushes.len();
        let mut done = Vec::new();
        self.flushes.retain(|f| {
            if pending == 0 || now_ms >= f.deadline_ms {
                done.push(f.reply);
                false
            } else {
                true
            }
        });
        if done.len() == before {
            // A flush precedes the end of the process (exit, bpnode's shutdown): sessions end
            // with SESS_TERM rather than a bare close, and the store gets what changed.
            self.tcp.close_sessions(&mut self.node, &self.poll);
            self.pump();
            self.final_commit();
        }
        for reply in done {
            answer(reply, &Reply::simple(0, (pending + unrouted) as u64));
        }
    }
}

fn close_all(fds: &[RawFd]) {
    for &f in fds {
        let _ = nix::unistd::close(f);
    }
}

fn answer(reply: RawFd, r: &Reply) {
    let b = r.encode();
    let _ = sendmsg::<()>(
        reply,
        &[IoSlice::new(&b)],
        &[],
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
        None,
    );
    let _ = nix::unistd::close(reply);
}
