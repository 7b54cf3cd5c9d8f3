//! The engine ends of the applications' SEQPACKET pairs: records in, ADUs out.
//!
//! Reads drain a pair until `EAGAIN` (mio is edge-triggered). Writes stop at `EAGAIN` and resume
//! when the pair is writable again: an application that does not read only fills its own socket,
//! it never blocks the loop. End of file on the side pair means the last application reference
//! is gone (the engine holds a reference to the application's end of the data pair, for the
//! fillers of a full store, so the data pair itself never ends).

use super::{APP_BASE, Engine, SIDE_BASE};
use crate::api::{self, DoneRecord, Kind, RxHeader, TxHeader};
use crate::node::Payload;
use crate::time;
use crate::wire::Eid;
use mio::Interest;
use mio::unix::SourceFd;
use nix::errno::Errno;
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use std::io::{IoSlice, IoSliceMut, Write};
use std::os::fd::{AsRawFd, RawFd};

/// The engine's view of one application socket.
#[derive(Debug)]
pub struct AppEnd {
    /// Engine end of the data pair.
    pub fd: RawFd,
    /// The application's end of the data pair (for fillers).
    pub app: RawFd,
    /// Engine end of the side pair.
    pub side: RawFd,
    /// Waiting for the pair to become writable.
    pub blocked: bool,
    /// Data records read so far.
    pub data_in: u64,
    /// Acknowledgement records read so far (side pair).
    pub ack_in: u64,
    /// Data records committed (last reported in a [`DoneRecord`]).
    pub data_done: u64,
    /// Acknowledgements committed.
    pub ack_done: u64,
    /// What the application was last told, and whether telling it waits for room.
    pub told: DoneRecord,
    pub side_blocked: bool,
    /// Empty records written to the application's end while the store is full.
    pub fillers: u64,
}

impl Engine {
    /// Registers a new socket: the engine end of its data pair, the application's end, the
    /// engine end of its side pair.
    pub(crate) fn add_app(
        &mut self,
        id: u32,
        fd: RawFd,
        app: RawFd,
        side: RawFd,
    ) -> std::io::Result<()> {
        self.poll.registry().register(
            &mut SourceFd(&fd),
            mio::Token(APP_BASE + id as usize),
            Interest::READABLE,
        )?;
        if let Err(e) = self.poll.registry().register(
            &mut SourceFd(&side),
            mio::Token(SIDE_BASE + id as usize),
            Interest::READABLE,
        ) {
            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            return Err(e);
        }
        self.apps.insert(
            id,
            AppEnd {
                fd,
                app,
                side,
                blocked: false,
                data_in: 0,
                ack_in: 0,
                data_done: 0,
                ack_done: 0,
                told: DoneRecord::default(),
                side_blocked: false,
                fillers: 0,
            },
        );
        if self.full {
            self.fill(id);
        }
        Ok(())
    }

    /// Fills the application's end of socket `id`'s data pair with empty records, until its
    /// send buffer is full: the application's sends then block (or fail with `EAGAIN`) and
    /// `poll` does not report it writable, as for any full kernel socket.
    pub(crate) fn fill(&mut self, id: u32) {
        let Some(a) = self.apps.get_mut(&id) else {
            return;
        };
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        for _ in 0..100_000 {
            match sendmsg::<()>(a.app, &[IoSlice::new(&[])], &[], flags, None) {
                Ok(_) => a.fillers += 1,
                Err(Errno::EINTR) => {}
                Err(_) => break,
            }
        }
    }

    /// Reads the side pair of socket `id`: read acknowledgements; end of file closes the socket.
    pub(crate) fn read_side(&mut self, id: u32) {
        let Some(side) = self.apps.get(&id).map(|a| a.side) else {
            return;
        };
        let mut buf = [0u8; api::TX_HEADER_LEN];
        let mut closed = false;
        loop {
            match nix::sys::socket::recv(side, &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => match TxHeader::decode(&buf[..n], n) {
                    Ok(h) if h.kind == Kind::Ack => {
                        self.node.app_ack(id, h.ack);
                        if let Some(a) = self.apps.get_mut(&id) {
                            a.ack_in += 1;
                        }
                    }
                    _ => crate::warn!("socket {id}: unexpected record on the side pair dropped"),
                },
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => {}
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        if closed {
            // What the application wrote before closing is still in the data pair.
            let full = std::mem::replace(&mut self.full, false);
            self.read_app(id);
            self.full = full;
            self.close_app(id);
        }
    }

    /// Tells the application of socket `id` what the store has committed.
    pub(crate) fn write_done(&mut self, id: u32) {
        let Some(a) = self.apps.get_mut(&id) else {
            return;
        };
        let rec = DoneRecord {
            data: a.data_done,
            acks: a.ack_done,
        };
        if rec == a.told {
            return;
        }
        let r = nix::sys::socket::send(
            a.side,
            &rec.encode(),
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
        );
        let blocked = matches!(r, Err(Errno::EAGAIN));
        if r.is_ok() {
            a.told = rec;
        }
        if blocked != a.side_blocked {
            a.side_blocked = blocked;
            let interest = if blocked {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let side = a.side;
            let _ = self.poll.registry().reregister(
                &mut SourceFd(&side),
                mio::Token(SIDE_BASE + id as usize),
                interest,
            );
        }
    }

    /// Reads every record queued on socket `id`'s pair (not while the store is full: the
    /// records then wait in the pair, behind the fillers).
    pub(crate) fn read_app(&mut self, id: u32) {
        if self.full {
            return;
        }
        let Some(fd) = self.apps.get(&id).map(|a| a.fd) else {
            return;
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut cmsg = nix::cmsg_space!([RawFd; 4]);
        let mut closed = false;
        let mut resets = 0;
        loop {
            cmsg.clear();
            let (n, truncated, fds) = {
                let mut iov = [IoSliceMut::new(&mut scratch)];
                match recvmsg::<()>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_DONTWAIT) {
                    Ok(m) => {
                        let mut fds = Vec::new();
                        if let Ok(cm) = m.cmsgs() {
                            for c in cm {
                                if let ControlMessageOwned::ScmRights(v) = c {
                                    fds.extend(v);
                                }
                            }
                        }
                        (m.bytes, m.flags.contains(MsgFlags::MSG_TRUNC), fds)
                    }
                    Err(Errno::EAGAIN) => break,
                    Err(Errno::EINTR) => continue,
                    // The application closed its end with ADUs unread: the kernel reports the
                    // reset once, then still returns what the application wrote before closing
                    // (its final read acknowledgement among it), then end of file.
                    Err(Errno::ECONNRESET) if resets == 0 => {
                        resets += 1;
                        continue;
                    }
                    Err(e) => {
                        crate::debug!("socket {id}: read failed: {e}");
                        closed = true;
                        break;
                    }
                }
            };
            if n == 0 && fds.is_empty() {
                // A filler written while the store was full.
                if let Some(a) = self.apps.get_mut(&id) {
                    a.fillers = a.fillers.saturating_sub(1);
                }
                continue;
            }
            self.on_record(id, &scratch[..n], truncated, &fds);
            for f in fds {
                let _ = nix::unistd::close(f);
            }
        }
        self.scratch = scratch;
        if closed {
            self.close_app(id);
        }
    }

    fn on_record(&mut self, id: u32, msg: &[u8], truncated: bool, fds: &[RawFd]) {
        let h = match TxHeader::decode(msg, msg.len()) {
            Ok(h) if !truncated => h,
            Ok(_) => {
                crate::warn!("socket {id}: record larger than the inline limit dropped");
                return;
            }
            Err(e) => {
                // Bytes written past the shim (an unhooked write, io_uring): never parsed further.
                crate::warn!("socket {id}: {e}; {} bytes dropped", msg.len());
                return;
            }
        };
        if h.ack != 0 {
            self.node.app_ack(id, h.ack);
        }
        if matches!(h.kind, Kind::Inline | Kind::Memfd)
            && let Some(a) = self.apps.get_mut(&id)
        {
            // Counted whatever becomes of it: the application waits for this count.
            a.data_in += 1;
        }
        let body = api::TX_HEADER_LEN + h.eid_len as usize;
        let dest = if h.eid_len == 0 {
            Eid::ipn(h.dest_node, h.dest_service)
        } else {
            match std::str::from_utf8(&msg[api::TX_HEADER_LEN..body])
                .ok()
                .and_then(|t| t.parse::<Eid>().ok())
            {
                Some(e) => e,
                None => {
                    crate::warn!("socket {id}: record with an unreadable destination EID dropped");
                    return;
                }
            }
        };
        let payload = match h.kind {
            Kind::Ack => return,
            Kind::Inline => Payload::whole(msg[body..].to_vec()),
            Kind::Memfd => match fds.first().map(|&f| read_memfd(f, h.len)) {
                Some(Ok(v)) => Payload::whole(v),
                Some(Err(e)) => {
                    crate::warn!("socket {id}: cannot read a large ADU: {e}");
                    return;
                }
                None => {
                    crate::warn!("socket {id}: large-ADU record without its memfd dropped");
                    return;
                }
            },
        };
        let now = time::now_ms();
        if let Err(e) = self.node.app_send_to(now, id, h.flags, dest, payload) {
            crate::warn!("socket {id}: send refused by the node: errno {}", e.errno());
        }
    }

    /// Writes the ADUs ready for socket `id` until its pair is full.
    pub(crate) fn write_app(&mut self, id: u32) {
        let Some(app) = self.apps.get(&id) else {
            return;
        };
        let fd = app.fd;
        let was_blocked = app.blocked;
        let mut blocked = false;
        while let Some((seq, adu)) = self.node.peek_ready(id) {
            let (src_node, src_service) = adu.source;
            let len = adu.payload.len();
            let mut hdr = RxHeader {
                kind: Kind::Inline,
                seq,
                src_node,
                src_service,
                len: len as u64,
                src_eid: adu.source_eid.as_deref().map(str::to_string),
            };
            let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
            let r = if len <= api::INLINE_MAX {
                let h = hdr.encode();
                let iov = [IoSlice::new(&h), IoSlice::new(adu.payload.bytes())];
                sendmsg::<()>(fd, &iov, &[], flags, None)
            } else {
                hdr.kind = Kind::Memfd;
                match make_memfd(adu.payload.bytes()) {
                    Ok(mfd) => {
                        let h = hdr.encode();
                        let iov = [IoSlice::new(&h)];
                        let fds = [mfd.as_raw_fd()];
                        sendmsg::<()>(fd, &iov, &[ControlMessage::ScmRights(&fds)], flags, None)
                    }
                    Err(e) => {
                        crate::error!("socket {id}: cannot hand over a large ADU: {e}");
                        Err(Errno::ENOMEM)
                    }
                }
            };
            match r {
                Ok(_) => self.node.mark_written(id),
                Err(Errno::EAGAIN) => {
                    blocked = true;
                    break;
                }
                Err(Errno::EINTR) => continue,
                // The application is gone; end of file on the read side will close it.
                Err(_) => break,
            }
        }
        if blocked != was_blocked {
            let interest = if blocked {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let _ = self.poll.registry().reregister(
                &mut SourceFd(&fd),
                mio::Token(APP_BASE + id as usize),
                interest,
            );
            if let Some(a) = self.apps.get_mut(&id) {
                a.blocked = blocked;
            }
        }
    }

    /// Drops socket `id`: its unread ADUs go back to its endpoint's queue.
    pub(crate) fn close_app(&mut self, id: u32) {
        if let Some(a) = self.apps.remove(&id) {
            let _ = self.poll.registry().deregister(&mut SourceFd(&a.fd));
            let _ = self.poll.registry().deregister(&mut SourceFd(&a.side));
            let _ = nix::unistd::close(a.fd);
            let _ = nix::unistd::close(a.app);
            let _ = nix::unistd::close(a.side);
        }
        self.node.app_closed(id);
    }
}

fn read_memfd(fd: RawFd, len: u64) -> std::io::Result<Vec<u8>> {
    let len = usize::try_from(len).map_err(|_| std::io::Error::other("length overflow"))?;
    nix::unistd::lseek(fd, 0, nix::unistd::Whence::SeekSet)?;
    let mut v = vec![0u8; len];
    let mut off = 0;
    while off < len {
        match nix::unistd::read(fd, &mut v[off..]) {
            Ok(0) => return Err(std::io::Error::other("memfd shorter than announced")),
            Ok(n) => off += n,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(v)
}

fn make_memfd(data: &[u8]) -> std::io::Result<std::fs::File> {
    let fd = nix::sys::memfd::memfd_create(
        c"bpshim-adu",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )?;
    let mut f = std::fs::File::from(fd);
    f.write_all(data)?;
    Ok(f)
}
