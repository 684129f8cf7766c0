//! `samurai-roto-helper`: the process the OpenFX plugin starts to run the network, so that
//! libtorch never loads into the host (Nuke carries its own) and a crash or an
//! out-of-memory here cannot take the artist's session down. It serves the plugin over the
//! socket on standard input until that closes (see `samurai_engine::serve`).
//!
//! Usage (by the plugin, not by hand): `samurai-roto-helper [--log LEVEL]`; the level is a
//! `tracing` filter (`info` by default), written to standard error, which the plugin points
//! at the helper's log file.
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut level = String::from("info");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--log", Some(v)) => level = v,
            _ => {
                eprintln!("samurai-roto-helper: unexpected argument '{arg}' (usage: samurai-roto-helper [--log LEVEL]); it is started by the SamuraiRoto plugin");
                return ExitCode::from(2);
            }
        }
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).init();
    // libtorch failures surface as panics inside tch: the connection that caused one fails
    // (caught per request in the server); one that escapes ends the helper with a message.
    match std::panic::catch_unwind(samurai_engine::serve::serve_stdin) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("samurai-roto-helper: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("samurai-roto-helper: internal failure (see the message above)");
            ExitCode::from(2)
        }
    }
}
