//! `bpnode`: a standalone node (the engine without the shim), for relays and ground stations.
//!
//! Usage: `bpnode [CONFIG_FILE]`. Configuration as for the shim: the `BP_*` variables, and the
//! file (given here or in `BP_CONFIG`); see README.md. Logs at `info` unless `BP_LOG` says
//! otherwise: one line per session event. SIGTERM or SIGINT: what is queued is flushed (bounded
//! by `BP_EXIT_FLUSH_MS`) and the node stops with status 0.

use engine::api::{Reply, Request};
use engine::config::Config;
use engine::io::Engine;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::socket::{
    AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, recv, sendmsg, socketpair,
};
use std::io::IoSlice;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::process::ExitCode;

fn pair() -> nix::Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
}

/// Asks the engine to flush, waiting for its answer (at most the engine's own bound).
fn flush(control: &OwnedFd, timeout_ms: u32) -> Result<Reply, String> {
    let (mine, theirs) = pair().map_err(|e| e.to_string())?;
    let body = Request::Flush { timeout_ms }.encode();
    let fds = [theirs.as_raw_fd()];
    sendmsg::<()>(
        control.as_raw_fd(),
        &[IoSlice::new(&body)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(|e| e.to_string())?;
    drop(theirs);
    let mut buf = [0u8; 4096];
    let n = recv(mine.as_raw_fd(), &mut buf, MsgFlags::empty()).map_err(|e| e.to_string())?;
    Reply::decode(&buf[..n]).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() > 2 || args.get(1).is_some_and(|a| a.starts_with('-')) {
        eprintln!("usage: bpnode [CONFIG_FILE]   (settings: BP_* variables, see README.md)");
        return ExitCode::from(2);
    }
    let file = args.get(1).cloned();
    let env = |k: &str| {
        if k == "BP_CONFIG" && file.is_some() {
            return file.clone();
        }
        std::env::var(k).ok()
    };
    let mut cfg = match Config::from_env_with(env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bpnode: {e}");
            return ExitCode::from(2);
        }
    };
    if std::env::var("BP_LOG").is_err() {
        cfg.log = engine::log::Level::Info;
    }
    // Signals are taken from a signalfd: blocked in every thread, the engine's included.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGINT);
    if let Err(e) = mask.thread_block() {
        eprintln!("bpnode: cannot block signals: {e}");
        return ExitCode::FAILURE;
    }
    let (control, engine_end) = match pair() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bpnode: cannot create the control channel: {e}");
            return ExitCode::FAILURE;
        }
    };
    let eng = match Engine::new(&cfg, engine_end.into_raw_fd()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("bpnode: {e}");
            return ExitCode::from(2);
        }
    };
    let thread = std::thread::spawn(move || eng.run());
    let sfd = match SignalFd::new(&mask) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bpnode: cannot wait for signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sig = loop {
        match sfd.read_signal() {
            Ok(Some(s)) => break s.ssi_signo,
            Ok(None) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                eprintln!("bpnode: waiting for signals failed: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    engine::info!("signal {sig}: flushing and stopping");
    match flush(&control, cfg.exit_flush_ms) {
        Ok(r) if r.value > 0 => engine::warn!(
            "{} bundle(s) had not left when the node stopped; they are lost",
            r.value
        ),
        Ok(_) => {}
        Err(e) => engine::warn!("flush failed: {e}"),
    }
    drop(control);
    let _ = thread.join();
    engine::info!("stopped");
    ExitCode::SUCCESS
}
