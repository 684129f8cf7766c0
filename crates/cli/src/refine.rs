//! `samurai-roto refine`: edge refinement of a coarse matte at the plate's resolution,
//! guided by the plate's colours (`samurai_core::refine`), with optional colour
//! decontamination. The contract:
//!
//! `refine --image PLATE --matte COARSE --out ALPHA [--mode fast|quality] [--band PX]
//! [--foreground FG.exr]`: PLATE is an 8-bit PNG/JPEG or an EXR (linear light, encoded to
//! sRGB as `track` does); COARSE a soft matte (PNG or EXR, 0–1, first channel) or a
//! `.npy` of logits, at any resolution (upsampled bilinearly to the plate first); ALPHA is
//! written as EXR (float) or 16-bit PNG; FG as an EXR of the decontaminated foreground,
//! premultiplied by the refined alpha (RGBA).
use anyhow::{bail, Context, Result};
use clap::Args;
use ndarray::{Array2, Array3};
use samurai_core::refine::{self, RefineMode, RefineSettings};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct RefineArgs {
    /// The plate: 8-bit PNG/JPEG, or EXR (linear light).
    #[arg(long)]
    pub image: PathBuf,
    /// The coarse matte: PNG/EXR (0–1) or .npy logits, any resolution.
    #[arg(long)]
    pub matte: PathBuf,
    /// Refined alpha: .exr (float) or .png (16-bit).
    #[arg(long)]
    pub out: PathBuf,
    /// fast (interactive) or quality (closed-form matting on the band), or off.
    #[arg(long, default_value = "fast")]
    pub mode: String,
    /// Width of the unknown band around the uncertain edge, in plate pixels.
    #[arg(long, default_value_t = 16.0)]
    pub band: f32,
    /// Also write the decontaminated foreground, premultiplied, as EXR (RGBA).
    #[arg(long)]
    pub foreground: Option<PathBuf>,
}

fn extension(p: &Path) -> String {
    p.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase()
}

/// The plate as `H × W × 3` sRGB floats in 0..1 (the 8-bit RGB the network sees).
pub fn read_plate(path: &Path) -> Result<Array3<f32>> {
    let img = samurai_engine::image::load_rgb8(path)?;
    let (w, h) = (img.width as usize, img.height as usize);
    Ok(Array3::from_shape_vec((h, w, 3), img.data.iter().map(|v| *v as f32 / 255.0).collect())?)
}

/// The coarse input: logits (`.npy`) or a soft matte's first channel (0–1).
enum Coarse {
    Logits(Array2<f32>),
    Matte(Array2<f32>),
}

fn read_coarse(path: &Path) -> Result<Coarse> {
    if extension(path) == "npy" {
        let a = refine::npy::read(path)?;
        let [h, w] = a.shape[..] else { bail!("{}: logits must be 2-D (H, W), got shape {:?}", path.display(), a.shape) };
        return Ok(Coarse::Logits(Array2::from_shape_vec((h, w), a.data)?));
    }
    let img = image::open(path).with_context(|| format!("matte {}", path.display()))?.to_rgb32f();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let first: Vec<f32> = img.pixels().map(|p| p.0[0].clamp(0.0, 1.0)).collect();
    Ok(Coarse::Matte(Array2::from_shape_vec((h, w), first)?))
}

/// Refinement settings from the command line's mode and band.
pub fn settings(mode: &str, band: f32, decontaminate: bool) -> Result<RefineSettings> {
    let mode = RefineMode::parse(mode)?;
    if !(band.is_finite() && band >= 0.0) {
        bail!("--band {band}: a width in plate pixels, 0 or more");
    }
    Ok(RefineSettings { mode, band_px: band, decontaminate, ..RefineSettings::default() })
}

/// Writes alpha as a float EXR (R = G = B = alpha) or a 16-bit grey PNG.
pub fn write_alpha(path: &Path, alpha: &Array2<f32>) -> Result<()> {
    Ok(samurai_engine::image::write_alpha(path, alpha)?)
}

fn write_foreground(path: &Path, fg: &Array3<f32>, alpha: &Array2<f32>) -> Result<()> {
    if extension(path) != "exr" {
        bail!("{}: the foreground is written as .exr", path.display());
    }
    let (h, w, _) = fg.dim();
    let pre = refine::premultiply(fg.view(), alpha.view());
    let px: Vec<f32> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (y, x)))
        .flat_map(|(y, x)| [pre[[y, x, 0]], pre[[y, x, 1]], pre[[y, x, 2]], alpha[[y, x]]])
        .collect();
    image::Rgba32FImage::from_raw(w as u32, h as u32, px).context("foreground buffer")?.save(path)?;
    Ok(())
}

pub fn refine(args: &RefineArgs) -> Result<()> {
    let settings = settings(&args.mode, args.band, args.foreground.is_some())?;
    let mode = settings.mode;
    let plate = read_plate(&args.image)?;
    let (h, w, _) = plate.dim();
    let refined = match read_coarse(&args.matte)? {
        Coarse::Logits(l) => refine::refine_logits(plate.view(), l.view(), &settings)?,
        Coarse::Matte(m) if m.dim() == (h, w) => refine::refine(plate.view(), m.view(), &settings)?,
        Coarse::Matte(m) => refine::refine(plate.view(), refine::resize_bilinear(m.view(), h, w).view(), &settings)?,
    };
    write_alpha(&args.out, &refined.alpha)?;
    if let (Some(path), Some(fg)) = (&args.foreground, &refined.foreground) {
        write_foreground(path, fg, &refined.alpha)?;
    }
    let s = refined.stats;
    eprintln!(
        "refine: {w}x{h}, mode {}, band {} px: {}; alpha {:.0} ms, fit {:.0} ms, foreground {:.0} ms",
        mode.name(),
        args.band,
        s.summary(),
        s.alpha_ms,
        s.fit_ms,
        s.foreground_ms
    );
    if let Some(why) = s.outcome.warning() {
        eprintln!("warning: {}: edge not refined, the coarse matte is kept: {why}", args.image.display());
    }
    Ok(())
}
