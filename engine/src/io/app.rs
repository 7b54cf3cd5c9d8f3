//! The engine ends of the applications' SEQPACKET pairs: records in, ADUs out.
//!
//! Reads drain a pair until `EAGAIN` (mio is edge-triggered). Writes stop at `EAGAIN` and resume
//! when the pair is writable again: an application that does not read only fills its own socket,
//! it never blocks the loop. End of file on a pair means the last application reference is gone.

use super::{APP_BASE, Engine};
use crate::api::{self, Kind, RxHeader, TxHeader};
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
    /// Engine end of the pair.
    pub fd: RawFd,
    /// Waiting for the pair to become writable.
    pub blocked: bool,
}

impl Engine {
    /// Registers the engine end of a new socket's pair.
    pub(crate) fn add_app(&mut self, id: u32, fd: RawFd) -> std::io::Result<()> {
        self.poll.registry().register(
            &mut SourceFd(&fd),
            mio::Token(APP_BASE + id as usize),
            Interest::READABLE,
        )?;
        self.apps.insert(id, AppEnd { fd, blocked: false });
        Ok(())
    }

    /// Reads every record queued on socket `id`'s pair.
    pub(crate) fn read_app(&mut self, id: u32) {
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
                closed = true;
                break;
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
            let _ = nix::unistd::close(a.fd);
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
