//! `samurai-bench make-frames --src DIR --count N --size WxH --format exr|jpg|png --out DIR`:
//! a test sequence from a clip, upscaled (EXR: linear half-float, ZIP-compressed).
use crate::support::source_len;
use anyhow::{Context, Result};
use samurai_engine::tracker::FolderSource;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    src: PathBuf,
    #[arg(long)]
    count: usize,
    /// WxH
    #[arg(long)]
    size: String,
    /// exr (linear half-float), jpg or png
    #[arg(long)]
    format: String,
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<String> {
    make_frames(&a.src, a.count, &a.size, &a.format, &a.out)
}

/// Writes `count` frames of `src` upscaled to `size` as EXR (linear half-float, ZIP), JPEG or PNG.
fn make_frames(src: &Path, count: usize, size: &str, format: &str, out: &Path) -> Result<String> {
    use exr::prelude::{f16, Encoding, Image as ExrImage, Layer, LayerAttributes, SpecificChannels, WritableImage};
    let (w, h) = size.split_once('x').context("--size WxH")?;
    let (w, h): (u32, u32) = (w.parse().context("--size width")?, h.parse().context("--size height")?);
    std::fs::create_dir_all(out)?;
    let source = FolderSource::open(src)?;
    for i in 0..count.min(source_len(&source)) {
        let path = source.path(i).context("frame")?;
        let img = ::image::open(path).with_context(|| format!("reading {}", path.display()))?.into_rgb8();
        let big = ::image::imageops::resize(&img, w, h, ::image::imageops::FilterType::Triangle);
        match format {
            "exr" => {
                let to_linear = |c: u8| {
                    let v = f32::from(c) / 255.0;
                    let l = if v <= 0.04045 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) };
                    f16::from_f32(l)
                };
                let lut: Vec<f16> = (0..=255u8).map(to_linear).collect();
                let px = |p: exr::math::Vec2<usize>| {
                    let q = big.get_pixel(p.x() as u32, p.y() as u32).0;
                    (lut[q[0] as usize], lut[q[1] as usize], lut[q[2] as usize])
                };
                let layer =
                    Layer::new((w as usize, h as usize), LayerAttributes::default(), Encoding::SMALL_LOSSLESS, SpecificChannels::rgb(px));
                ExrImage::from_layer(layer).write().to_file(out.join(format!("{i:05}.exr")))?;
            }
            "jpg" => big.save_with_format(out.join(format!("{i:05}.jpg")), ::image::ImageFormat::Jpeg)?,
            "png" => big.save_with_format(out.join(format!("{i:05}.png")), ::image::ImageFormat::Png)?,
            other => anyhow::bail!("--format '{other}': expected exr, jpg or png"),
        }
    }
    Ok(format!("{{\"frames\": {count}, \"size\": \"{w}x{h}\", \"format\": \"{format}\"}}"))
}
