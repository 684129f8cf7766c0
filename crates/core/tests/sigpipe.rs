//! A write to a helper that died must be an error, not the host's death: C++ hosts need
//! not ignore SIGPIPE (Rust programs, this test binary included, do). In a child process
//! with SIGPIPE back at its default action, a message sent to a closed peer through
//! `NoSigPipe` returns an error and the process goes on; the control child, writing with
//! a plain write(2) as C++ code would, is killed by SIGPIPE.
use samurai_core::protocol::{write_message, NoSigPipe, Reply};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

const ROLE_ENV: &str = "SAMURAI_ROTO_TEST_SIGPIPE_ROLE";

#[test]
fn writes_to_a_closed_peer_fail_without_sigpipe() {
    let run = |role: &str| {
        Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "sigpipe_child", "--nocapture", "--test-threads=1"])
            .env(ROLE_ENV, role)
            .output()
            .unwrap()
    };
    let guarded = run("guarded");
    let log = String::from_utf8_lossy(&guarded.stdout).into_owned() + &String::from_utf8_lossy(&guarded.stderr);
    assert!(guarded.status.success() && log.contains("write failed:"), "the guarded write must fail cleanly: {:?}\n{log}", guarded.status);
    let control = run("plain");
    assert_eq!(control.status.signal(), Some(13), "control: the plain write must die of SIGPIPE, got {:?}", control.status);
}

#[test]
#[ignore = "child process of writes_to_a_closed_peer_fail_without_sigpipe"]
fn sigpipe_child() {
    let role = std::env::var(ROLE_ENV).expect("run by writes_to_a_closed_peer_fail_without_sigpipe");
    // Like a C++ host: SIGPIPE at its default action (terminate).
    // SAFETY: a single-threaded test child sets a signal disposition before doing
    // anything else; no handler is installed.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let (ours, theirs) = UnixStream::pair().unwrap();
    drop(theirs);
    let result = if role == "guarded" {
        write_message(&mut NoSigPipe(&ours), &Reply::Done).map_err(|e| e.to_string())
    } else {
        // A plain write(2), as C++ code writes to a socket.
        use std::os::fd::AsRawFd;
        // SAFETY: writes 8 bytes from a live buffer to an open descriptor.
        let n = unsafe { libc::write(ours.as_raw_fd(), [0u8; 8].as_ptr().cast(), 8) };
        if n < 0 {
            Err(std::io::Error::last_os_error().to_string())
        } else {
            Ok(())
        }
    };
    println!("write failed: {}", result.expect_err("a write to a closed peer cannot succeed"));
}
