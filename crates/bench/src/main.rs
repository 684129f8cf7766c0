//! `samurai-bench`: timings of our implementation for `scripts/bench.sh`, which runs the
//! reference side by side on the same frames and weights and prints the ratios.
//! Prints one JSON object on stdout.
//!
//! One module per command, holding its options, its usage and its measurement:
//! [`blocks`] (each network block), [`track`] (per-frame tracking time and memory),
//! [`precision`] (fp32 against bf16), [`io_stages`] (frame I/O stages), [`make_frames`]
//! (test sequences), [`edit`] (live-editing latency), [`objects`] (objects batched against
//! one by one); [`support`] holds what several share. This file parses the command line
//! and dispatches.
mod blocks;
mod edit;
mod io_stages;
mod make_frames;
mod objects;
mod precision;
mod support;
mod track;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    /// libtorch intra-op threads.
    #[arg(long, default_value_t = 2)]
    threads: i32,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Blocks(blocks::Args),
    Track(track::Args),
    Precision(precision::Args),
    /// Per-stage frame I/O costs on one frame: decode (+ sRGB conversion), squash to the
    /// input size, and writing one matte at the frame's size (PNG and EXR).
    IoStages(io_stages::Args),
    MakeFrames(make_frames::Args),
    Objects(objects::Args),
    Edit(edit::Args),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    tch::set_num_threads(cli.threads);
    let json = match cli.command {
        Command::Blocks(a) => blocks::run(a)?,
        Command::Track(a) => track::run(a)?,
        Command::Precision(a) => precision::run(a)?,
        Command::IoStages(a) => io_stages::run(a)?,
        Command::MakeFrames(a) => make_frames::run(a)?,
        Command::Edit(a) => edit::run(a)?,
        Command::Objects(a) => objects::run(a)?,
    };
    println!("{json}");
    Ok(())
}
