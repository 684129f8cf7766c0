//! `samurai-roto`: the headless command line of SamuraiRoto.
//!
//! - `segment`: one image, a box and/or clicks, one mask (the reference image predictor's
//!   `predict(..., multimask_output=False, return_logits=True)`).
//! - `inspect`: what a checkpoint holds (model size, parameter count, load time).
//! - `track`: mattes for every frame from keyframes of any kind (boxes, clicks, masks) on any
//!   frame (the main job).
//! - `farm`: the same track as farm tasks (`plan`, `pass`, `merge`, `slurm`), merged bit
//!   for bit (issue 19, `docs/farm.md`).
//! - `refine`: edge refinement of a coarse matte at the plate's resolution.
//! - `shapes`: mattes as animated Bezier shapes for a Roto node (Nuke, Natron, SVG, JSON).
//! - `doctor`: versions, CPU, CUDA, model folders, glibc, and whether the plugin's helper
//!   starts: what a support request needs.
//! - `serve`: what `samurai-roto-helper` runs, the OpenFX plugin's helper process (started
//!   by the plugin, not by hand).
mod commands;
mod doctor;
mod download;
mod farm;
mod prompts;
mod refine;
mod shapes;
mod track;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "samurai-roto", version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("SAMURAI_ROTO_GIT"), ")"), about = "SAM 2.1 + SAMURAI rotoscoping, headless")]
struct Cli {
    /// Log level filter (error, warn, info, debug, trace), or RUST_LOG syntax.
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    /// libtorch intra-op threads (0 = libtorch's default).
    #[arg(long, global = true, default_value_t = 0)]
    threads: i32,
    #[command(subcommand)]
    command: Command,
}

// The arguments are parsed once per run: boxing the large variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Segment one object in one image from a box prompt.
    Segment(commands::SegmentArgs),
    /// Print what a checkpoint holds: model size, parameter count, load time.
    Inspect(commands::InspectArgs),
    /// Track objects from keyframe boxes through a folder of frames (the main job).
    Track(track::TrackArgs),
    /// Analysis on a render farm: plan a track as tasks (OpenJD template, Slurm array), run
    /// one task, merge the results bit for bit into a track cache and/or mattes.
    Farm(farm::FarmArgs),
    /// Refine a coarse matte's edges at the plate's resolution (and decontaminate colours).
    Refine(refine::RefineArgs),
    /// Mattes as animated Bezier shapes: a Nuke .nk, a Natron .py, SVGs or JSON.
    Shapes(shapes::ShapesArgs),
    /// What a support request needs: versions, CPU, CUDA, model folders, glibc, and
    /// whether the plugin's helper starts (exit 0 when it does).
    Doctor(doctor::DoctorArgs),
    /// The OpenFX plugin's helper process: serves the plugin over the socket on standard
    /// input and exits when it closes. Started by the plugin; not meant to be run by hand.
    #[command(hide = true)]
    Serve,
}

fn main() {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
    if cli.threads > 0 {
        tch::set_num_threads(cli.threads);
    }
    // libtorch failures surface as panics inside tch; report them like any other error.
    let result = std::panic::catch_unwind(move || -> Result<()> {
        match cli.command {
            Command::Segment(args) => commands::segment(&args),
            Command::Inspect(args) => commands::inspect(&args),
            Command::Track(args) => track::track(&args),
            Command::Farm(args) => farm::farm(&args),
            Command::Refine(args) => refine::refine(&args),
            Command::Shapes(args) => shapes::shapes(&args),
            Command::Doctor(args) => doctor::doctor(&args),
            Command::Serve => serve(),
        }
    });
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("error: internal failure (see the message above); no further output was written");
            std::process::exit(2);
        }
    }
}

/// `serve`: the same server as `samurai-roto-helper` (the lifeline is standard input).
fn serve() -> Result<()> {
    Ok(samurai_engine::serve::serve_stdin()?)
}
