//! `samurai-bench io-stages --frames DIR [--image-size S]`: frame 0's decode, squash and
//! matte-writing times (median of `--repeat`).
use crate::support::time;
use anyhow::Result;
use samurai_engine::image;
use samurai_engine::tracker::FolderSource;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    frames: PathBuf,
    #[arg(long, default_value_t = 1024)]
    image_size: u32,
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

pub fn run(a: Args) -> Result<String> {
    io_stages(&a.frames, a.image_size, a.repeat)
}

fn io_stages(frames: &Path, image_size: u32, repeat: usize) -> Result<String> {
    use samurai_engine::output::{write_frame, MatteFormat, WriterOptions};
    use samurai_engine::tracker::{FrameSource, LowResFrame};
    let source = FolderSource::open(frames)?;
    let (w, h) = source.frame_size();
    let t_decode = time(repeat, || source.load(0).expect("frame 0"));
    let img = source.load(0)?;
    let t_squash = time(repeat, || image::resize_bicubic_pil(&img, image_size, image_size));
    let side = i64::from(image_size / 4);
    // A disc of positive logits: a matte with an edge, like a real one.
    let values: Vec<f32> = (0..side * side)
        .map(|i| {
            let (x, y) = ((i % side) as f32 - side as f32 / 2.0, (i / side) as f32 - side as f32 / 2.0);
            side as f32 / 4.0 - (x * x + y * y).sqrt()
        })
        .collect();
    let low = LowResFrame { side, objects: vec![("obj".into(), values)] };
    let dir = tempfile::tempdir()?;
    let write = |format| {
        let options = WriterOptions {
            out: dir.path().to_owned(),
            logits: None,
            format,
            frame_size: (w, h),
            non_overlap: false,
            threads: 0,
            queue: 1,
            refine: None,
            layers: false,
        };
        time(repeat, || write_frame(&options, 0, &low).expect("write"))
    };
    let (t_png, t_exr) = (write(MatteFormat::Png), write(MatteFormat::Exr));
    Ok(format!(
        "{{\"frame\": \"{w}x{h}\", \"decode\": {t_decode:.4}, \"squash_to_{image_size}\": {t_squash:.4}, \"write_png_matte\": {t_png:.4}, \"write_exr_matte\": {t_exr:.4}}}"
    ))
}
