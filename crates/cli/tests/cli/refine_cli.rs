//! `samurai-roto refine` (the CLI contract of edge refinement): on a composite with known
//! alpha (a soft disc over a textured background) and a coarse matte made the network's
//! way (alpha reduced to 32×32, upsampled back), the command's EXR alpha equals the
//! library's `samurai_core::refine::refine` on the same inputs bit for bit, its 16-bit PNG
//! is that alpha quantised, the refined alpha is closer to the truth than the coarse one,
//! `.npy` logits at another resolution are accepted, the foreground is written
//! premultiplied, and bad input gets a clear error naming it.
use ndarray::{Array2, Array3};
use samurai_core::refine::{self, RefineMode, RefineSettings};
use std::path::Path;
use std::process::Command;

const W: usize = 160;
const H: usize = 120;

fn truth(x: usize, y: usize) -> f32 {
    let d = (((x as f32 - 80.0).powi(2) + (y as f32 - 60.0).powi(2)).sqrt() - 35.0) / 2.5;
    (0.5 - d * 0.5).clamp(0.0, 1.0)
}

/// Plate (8-bit sRGB), truth alpha.
fn composite() -> (image::RgbImage, Array2<f32>) {
    let alpha = Array2::from_shape_fn((H, W), |(y, x)| truth(x, y));
    let img = image::RgbImage::from_fn(W as u32, H as u32, |x, y| {
        let a = alpha[[y as usize, x as usize]];
        let bg = [((x * 7 + y * 3) % 64) as f32 / 255.0 + 0.1, 0.2, ((x / 8 + y / 8) % 2) as f32 * 0.3 + 0.2];
        let fg = [0.9, 0.6, 0.2];
        image::Rgb(std::array::from_fn(|c| ((a * fg[c] + (1.0 - a) * bg[c]) * 255.0).round() as u8))
    });
    (img, alpha)
}

/// The truth reduced to `side`² and brought back (a network-like coarse matte).
fn coarse(alpha: &Array2<f32>, side: usize) -> Array2<f32> {
    let small = refine::resize_bilinear(alpha.view(), side, side);
    refine::resize_bilinear(small.view(), H, W)
}

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_samurai-roto")).arg("refine").args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn sad(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs()).sum()
}

#[test]
fn refine_command_equals_the_library_and_improves_the_matte() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_owned();
    let (plate, truth) = composite();
    plate.save(p("plate.png")).unwrap();
    let c = coarse(&truth, 32);
    let c16: Vec<u16> = c.iter().map(|v| (v * 65535.0).round() as u16).collect();
    image::ImageBuffer::<image::Luma<u16>, _>::from_raw(W as u32, H as u32, c16.clone()).unwrap().save(p("coarse.png")).unwrap();
    // The library on the same inputs (the matte as the command reads it back).
    let plate_f = Array3::from_shape_vec((H, W, 3), plate.as_raw().iter().map(|v| *v as f32 / 255.0).collect()).unwrap();
    // The matte as a reader of 16-bit PNGs gives it (the command's first channel, 0–1).
    let back = image::open(p("coarse.png")).unwrap().to_rgb32f();
    let coarse_read = Array2::from_shape_vec((H, W), back.pixels().map(|px| px.0[0]).collect()).unwrap();
    for mode in ["fast", "quality"] {
        let (ok, log) = run(&[
            "--image",
            &p("plate.png"),
            "--matte",
            &p("coarse.png"),
            "--out",
            &p(&format!("{mode}.exr")),
            "--mode",
            mode,
            "--band",
            "8",
        ]);
        assert!(ok, "{mode}: {log}");
        let settings = RefineSettings { mode: RefineMode::parse(mode).unwrap(), band_px: 8.0, ..RefineSettings::default() };
        let want = refine::refine(plate_f.view(), coarse_read.view(), &settings).unwrap().alpha;
        let got = image::open(p(&format!("{mode}.exr"))).unwrap().to_rgb32f();
        let got = Array2::from_shape_vec((H, W), got.pixels().map(|px| px.0[0]).collect()).unwrap();
        assert!(got.iter().zip(want.iter()).all(|(a, b)| a.to_bits() == b.to_bits()), "{mode}: the command and the library differ");
        let (before, after) = (sad(&coarse_read, &truth), sad(&got, &truth));
        eprintln!("refine_cli: {mode}: SAD against the truth {before:.1} (coarse) -> {after:.1} (refined)");
        assert!(after < before, "{mode}: refinement did not improve the matte ({before} -> {after})");
    }
    // 16-bit PNG output is the EXR's alpha quantised; .npy logits at another size and the
    // premultiplied foreground.
    let logits: Vec<f32> = refine::resize_bilinear(truth.view(), 32, 32)
        .iter()
        .map(|a| ((a.clamp(1e-4, 1.0 - 1e-4)) / (1.0 - a.clamp(1e-4, 1.0 - 1e-4))).ln())
        .collect();
    refine::npy::write_f32(Path::new(&p("logits.npy")), &[32, 32], &logits).unwrap();
    let (ok, log) = run(&["--image", &p("plate.png"), "--matte", &p("logits.npy"), "--out", &p("a.png"), "--foreground", &p("fg.exr")]);
    assert!(ok, "{log}");
    let a16 = image::open(p("a.png")).unwrap().to_luma16();
    assert_eq!((a16.width(), a16.height()), (W as u32, H as u32));
    let fg = image::open(p("fg.exr")).unwrap().to_rgba32f();
    let inside = fg.get_pixel(80, 60).0;
    assert!(inside[3] > 0.99 && (inside[0] - 0.9).abs() < 0.05, "foreground at the centre: {inside:?}");
    assert_eq!(fg.get_pixel(2, 2).0, [0.0; 4], "outside the matte the premultiplied foreground is empty");

    // Bad input.
    let (ok, log) = run(&["--image", &p("plate.png"), "--matte", &p("coarse.png"), "--out", &p("x.exr"), "--mode", "best"]);
    assert!(!ok && log.contains("'best'") && log.contains("fast"), "{log}");
    let (ok, log) = run(&["--image", &p("plate.png"), "--matte", &p("coarse.png"), "--out", &p("x.tif")]);
    assert!(!ok && log.contains("x.tif"), "{log}");
    let (ok, log) = run(&["--image", &p("missing.png"), "--matte", &p("coarse.png"), "--out", &p("x.exr")]);
    assert!(!ok && log.contains("missing.png"), "{log}");
    let (ok, log) = run(&["--image", &p("plate.png"), "--matte", &p("coarse.png"), "--out", &p("x.exr"), "--band=-3"]);
    assert!(!ok && log.contains("--band"), "{log}");
}
