//! Starting `samurai-roto-helper` and opening connections to it, the way the plugin does
//! (see [`crate::protocol`]). Shared by the plugin's client (`samurai_roto_ofx::client`,
//! which adds the one-helper-per-host pool and the artist-facing failure messages) and by
//! `samurai-roto doctor`, which must start the helper exactly as the plugin would.
//!
//! - The helper binary is [`HELPER_PROGRAM`] in the folder of whoever starts it (beside
//!   the plugin library in the bundle; beside the `samurai-roto` binary for `doctor`), or
//!   what [`HELPER_ENV`] names.
//! - It starts with a clean environment: hosts put their own library folders on
//!   `LD_LIBRARY_PATH` (Nuke does) and may preload libraries, and either would make the
//!   helper bind the host's libtorch instead of the bundle's (RUNPATH loses to
//!   `LD_LIBRARY_PATH`). Only the variables in [`KEPT_ENV`] (and `SAMURAI_ROTO_*` but
//!   [`HELPER_ENV`]) pass.
//! - Its standard input is the lifeline socket: when the starting process dies, the kernel
//!   closes that end and the helper exits. Its output goes to a log file ([`log_path`]).
use crate::error::{Error, Result};
use crate::protocol::{self as proto, Reply, Request, LIFELINE_CONNECT};
use crate::shm::{Shm, SHM_BYTES};
use std::io::IoSlice;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The helper program's file name, beside the plugin in its bundle.
pub const HELPER_PROGRAM: &str = "samurai-roto-helper";
/// Names the helper binary instead of the one beside the plugin.
pub const HELPER_ENV: &str = "SAMURAI_ROTO_HELPER";
/// Names the helper's log file.
pub const HELPER_LOG_ENV: &str = "SAMURAI_ROTO_HELPER_LOG";
/// Environment variables the helper inherits (everything else, `LD_LIBRARY_PATH` and
/// `LD_PRELOAD` above all, is dropped), plus every `SAMURAI_ROTO_*` but [`HELPER_ENV`].
pub const KEPT_ENV: &[&str] = &[
    "HOME",
    "USER",
    "LOGNAME",
    "PATH",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "XDG_CACHE_HOME",
    "RUST_LOG",
    "RUST_BACKTRACE",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "NVIDIA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
];

fn launch(what: String) -> Error {
    Error::Helper(what)
}

/// The helper binary [`HELPER_ENV`] names, if it is set.
pub fn helper_override() -> Option<PathBuf> {
    std::env::var_os(HELPER_ENV).map(PathBuf::from)
}

/// The helper binary: what [`HELPER_ENV`] names, else [`HELPER_PROGRAM`] in `folder`.
pub fn helper_path(folder: &Path) -> PathBuf {
    helper_override().unwrap_or_else(|| folder.join(HELPER_PROGRAM))
}

/// The helper's log file: [`HELPER_LOG_ENV`], else `$TMPDIR/samurai-roto-helper-<our pid>.log`.
pub fn log_path() -> PathBuf {
    std::env::var_os(HELPER_LOG_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("samurai-roto-helper-{}.log", std::process::id())))
}

/// The environment the helper gets: ours, filtered to [`KEPT_ENV`] and `SAMURAI_ROTO_*`.
pub fn helper_env() -> Vec<(String, String)> {
    std::env::vars().filter(|(k, _)| KEPT_ENV.contains(&k.as_str()) || (k.starts_with("SAMURAI_ROTO_") && k != HELPER_ENV)).collect()
}

/// A helper process just started.
pub struct Started {
    pub child: Child,
    /// Our end of the lifeline (the helper's standard input); dropping it ends the helper.
    pub lifeline: UnixStream,
    pub log: PathBuf,
}

/// Starts the helper at `bin` with a clean environment, the lifeline on its standard
/// input, output appended to `log`, and the log level `level` (a `tracing` filter).
/// A missing or non-executable `bin` is an error naming it.
pub fn start(bin: &Path, log: &Path, level: &str) -> Result<Started> {
    let meta = std::fs::metadata(bin)
        .map_err(|e| launch(format!("SamuraiRoto's helper program {} is missing ({e}); reinstall the plugin bundle", bin.display())))?;
    if !meta.is_file() || std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 == 0 {
        return Err(launch(format!(
            "SamuraiRoto's helper program {} is not an executable file; reinstall the plugin bundle",
            bin.display()
        )));
    }
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| launch(format!("cannot open the helper's log {}: {e}", log.display())))?;
    let err = out.try_clone().map_err(|e| launch(format!("cannot open the helper's log {}: {e}", log.display())))?;
    let (ours, theirs) = UnixStream::pair().map_err(|e| launch(format!("cannot create the helper's socket: {e}")))?;
    let child = Command::new(bin)
        .args(["--log", level])
        .env_clear()
        .envs(helper_env())
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| launch(format!("cannot start SamuraiRoto's helper program {}: {e}", bin.display())))?;
    Ok(Started { child, lifeline: ours, log: log.to_path_buf() })
}

/// A new shared region for a connection.
pub fn new_region() -> Result<Shm> {
    Shm::create(SHM_BYTES)
}

/// A new connection to the helper behind `lifeline`: a fresh socket pair, whose other end
/// is passed over the lifeline with the connection's shared region `shm`. No message is
/// exchanged yet (see [`hello`]). An error here means the helper is gone (or we ran out of
/// descriptors).
pub fn open_connection(lifeline: &UnixStream, shm: &Shm) -> Result<UnixStream> {
    let (ours, theirs) = UnixStream::pair().map_err(|e| launch(format!("cannot create a helper connection: {e}")))?;
    let fds = [theirs.as_fd(), shm.fd()];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = rustix::net::SendAncillaryBuffer::new(&mut space);
    control.push(rustix::net::SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(lifeline, &[IoSlice::new(&[LIFELINE_CONNECT])], &mut control, rustix::net::SendFlags::NOSIGNAL)
        .map_err(|e| launch(format!("cannot pass a connection to the helper: {e}")))?;
    Ok(ours)
}

/// The first exchange of a connection: [`Request::Hello`] with our protocol version; the
/// helper's pid on a matching [`Reply::Welcome`]. A read timeout set on `stream` bounds the
/// wait (an elapsed one is an error of kind `WouldBlock`/`TimedOut` inside the message).
pub fn hello(stream: &mut UnixStream) -> Result<u32> {
    proto::write_message(&mut proto::NoSigPipe(stream), &Request::Hello { version: proto::VERSION })?;
    match proto::read_reply(stream)? {
        Reply::Welcome { version, pid } if version == proto::VERSION => Ok(pid),
        other => Err(launch(format!(
            "SamuraiRoto's helper answered {other:?} to Hello (protocol {}); is the bundle's helper from another version of the plugin?",
            proto::VERSION
        ))),
    }
}

/// How a process ended, in words.
pub fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (_, Some(9)) => "was killed (SIGKILL: out of memory, or ended by hand)".into(),
        (_, Some(sig)) => format!("crashed (signal {sig})"),
        (Some(code), _) => format!("exited with status {code}"),
        _ => "ended".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_non_executable_helper_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("log");
        let missing = tmp.path().join("nope");
        let e = start(&missing, &log, "info").err().expect("a missing helper fails").to_string();
        assert!(e.contains("nope") && e.contains("is missing"), "{e}");
        let plain = tmp.path().join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        let e = start(&plain, &log, "info").err().expect("a non-executable helper fails").to_string();
        assert!(e.contains("plain") && e.contains("not an executable"), "{e}");
    }

    #[test]
    fn the_helper_gets_only_the_kept_environment() {
        std::env::set_var("SAMURAI_ROTO_LAUNCH_TEST", "1");
        std::env::set_var("LD_PRELOAD", "");
        let env = helper_env();
        assert!(env.iter().any(|(k, _)| k == "SAMURAI_ROTO_LAUNCH_TEST"));
        assert!(env.iter().all(|(k, _)| k != "LD_LIBRARY_PATH" && k != "LD_PRELOAD" && k != HELPER_ENV));
    }
}
