//! Frame I/O and the SAM 2.1 input pre-processing (paper §3 / Appendix: the image encoder
//! sees each frame squashed to `S×S` and ImageNet-normalised).
//!
//! Ports the reference's pre-processing, which is part of the parity contract:
//! `sam2/utils/misc.py` (`_load_img_as_tensor`, video frames through Pillow) and
//! `sam2/utils/transforms.py` (`SAM2Transforms`, used by `SAM2ImagePredictor.set_image`).
//!
//! * [`load_rgb8`] decodes JPEG/PNG to 8-bit RGB exactly as Pillow does (see [`decode`]).
//! * [`resize_bicubic_pil`] is Pillow's bicubic `Image.resize`, bit-exact.
//! * [`video_input_tensor`] / [`image_predictor_input_tensor`] build the encoder's input.
//! * [`write_mask_png`] / [`write_npy_f32`] write results.
mod decode;
mod exr_io;
mod exr_layers;
mod resample;
mod tensor;

use crate::error::{Error, Result};
use std::path::Path;

pub use exr_io::{load_exr_srgb8, write_matte_exr};
pub use exr_layers::write_layers_exr;
pub use resample::resize_bicubic_pil;
pub use tensor::{image_predictor_input_tensor, video_input_tensor, write_mask_png, write_npy_f32, PIXEL_MEAN, PIXEL_STD};

/// An 8-bit RGB image, rows top to bottom, pixels interleaved (`HWC`, `R G B`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb8Image {
    pub width: u32,
    pub height: u32,
    /// `height * width * 3` bytes.
    pub data: Vec<u8>,
}

impl Rgb8Image {
    /// `(height, width)`, the order the reference keeps the original video size in.
    pub fn hw(&self) -> (u32, u32) {
        (self.height, self.width)
    }
}

/// Reads and decodes a JPEG or PNG file (recognised by content, not by name) to 8-bit RGB,
/// pixel-identical to the reference's `Image.open(path).convert("RGB")`.
///
/// Fails with [`Error::Image`] naming the file when it is missing or unreadable, is not a
/// JPEG/PNG, is truncated or corrupt, or has a pixel layout we do not convert (CMYK JPEG,
/// 16-bit PNG).
pub fn load_rgb8(path: &Path) -> Result<Rgb8Image> {
    let fail = |reason: String| Error::Image { path: path.to_path_buf(), reason };
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let decoded = match decode::sniff(&bytes) {
        Some(decode::Container::Jpeg) => decode::decode_jpeg(&bytes),
        Some(decode::Container::Png) => decode::decode_png(&bytes),
        None => Err("not a JPEG or PNG file".to_string()),
    };
    let img = decoded.map_err(fail)?;
    tracing::trace!(path = %path.display(), width = img.width, height = img.height, "decoded frame");
    Ok(img)
}

/// Writes a soft matte (`H × W`, 0..1): `.exr` as float (alpha in R, G and B) or `.png` as
/// 16-bit grey (`refine` and `track --refine`).
pub fn write_alpha(path: &Path, alpha: &ndarray::Array2<f32>) -> Result<()> {
    let (h, w) = alpha.dim();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    let failed = |e: image::ImageError| Error::Image { path: path.to_owned(), reason: format!("cannot write the alpha: {e}") };
    let short = || Error::Image { path: path.to_owned(), reason: "alpha buffer size".into() };
    match ext.as_str() {
        "exr" => {
            let px: Vec<f32> = alpha.iter().flat_map(|a| [*a, *a, *a]).collect();
            image::Rgb32FImage::from_raw(w as u32, h as u32, px).ok_or_else(short)?.save(path).map_err(failed)
        }
        "png" => {
            let px: Vec<u16> = alpha.iter().map(|a| (a.clamp(0.0, 1.0) * 65535.0).round() as u16).collect();
            image::ImageBuffer::<image::Luma<u16>, _>::from_raw(w as u32, h as u32, px).ok_or_else(short)?.save(path).map_err(failed)
        }
        other => Err(Error::Image { path: path.to_owned(), reason: format!("write the alpha as .exr or .png, not .{other}") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_names_the_path() {
        let p = Path::new("/nonexistent/dir/frame_00000.jpg");
        let err = load_rgb8(p).unwrap_err();
        assert!(matches!(err, Error::Image { .. }));
        assert!(err.to_string().contains("frame_00000.jpg"), "{err}");
    }

    #[test]
    fn hw_order() {
        let img = Rgb8Image { width: 3, height: 2, data: vec![0; 18] };
        assert_eq!(img.hw(), (2, 3));
    }
}
