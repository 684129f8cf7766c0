//! The command line's tests: `doctor`, `farm`, the image and EXR pipeline, `refine`, `segment`,
//! `shapes` and `track`, each run as a user would run the built `samurai-roto`. One test
//! binary (one link against libtorch); each file is a module.
#[path = "../cli_support/mod.rs"]
mod cli_support;
#[path = "../../../engine/tests/common/mod.rs"]
mod common;
mod doctor_cli;
mod farm_cli;
mod io_pipeline;
mod refine_cli;
mod segment_cli;
mod shapes_cli;
mod track_cli;
