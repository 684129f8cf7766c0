//! The network's input tensors and the mask/array writers.
//!
//! Two pre-processing paths of the reference feed the SAM 2.1 image encoder:
//! * video frames (`sam2/utils/misc.py`, `_load_img_as_tensor` + the normalisation in
//!   `load_video_frames_from_jpg_images`): Pillow bicubic squash to `S×S` on 8-bit RGB,
//!   `/255` in `f64`, stored as `f32`, then `(x − mean) / std` in `f32`;
//! * single images (`sam2/sam2_image_predictor.py` `set_image` →
//!   `sam2/utils/transforms.py` `SAM2Transforms`): `ToTensor` (`f32`, `/255`), torchvision
//!   `Resize((S, S))` on the float tensor — bilinear with antialiasing, libtorch's
//!   `_upsample_bilinear2d_aa` — then `Normalize(mean, std)`.
use super::{resize_bicubic_pil, Rgb8Image};
use crate::error::{Error, Result};
use std::path::Path;
use tch::{Kind, Tensor};

/// ImageNet channel means the reference normalises with (RGB order).
pub const PIXEL_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations the reference normalises with (RGB order).
pub const PIXEL_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// `[3, H, W]` `uint8` view of an HWC RGB buffer (CPU).
fn chw_u8(img: &Rgb8Image) -> Tensor {
    assert_eq!(img.data.len(), img.width as usize * img.height as usize * 3, "RGB buffer does not match its size");
    Tensor::from_slice(&img.data).view([i64::from(img.height), i64::from(img.width), 3]).permute([2, 0, 1]).contiguous()
}

/// `(x − mean) / std` per channel, in `f32`, for a `[.., 3, H, W]` float tensor.
fn normalize(x: &Tensor) -> Tensor {
    let mean = Tensor::from_slice(&PIXEL_MEAN).view([3, 1, 1]);
    let std = Tensor::from_slice(&PIXEL_STD).view([3, 1, 1]);
    (x - mean) / std
}

fn check_size(image_size: i64) {
    assert!(image_size > 0 && image_size <= i64::from(u32::MAX), "image size must be positive, got {image_size}");
}

/// The video predictor's input for one frame: `[1, 3, S, S]` `f32` on the CPU, squashed
/// with Pillow's bicubic filter and normalised (path (a), `_load_img_as_tensor`).
///
/// # Panics
/// If `image_size` is not positive.
pub fn video_input_tensor(img: &Rgb8Image, image_size: i64) -> Tensor {
    check_size(image_size);
    let s = image_size as u32;
    let resized = resize_bicubic_pil(img, s, s);
    // numpy divides the uint8 array by 255.0 in float64; the result is stored as float32.
    let unit = (chw_u8(&resized).to_kind(Kind::Double) / 255.0).to_kind(Kind::Float);
    normalize(&unit).unsqueeze(0)
}

/// The image predictor's input: `[1, 3, S, S]` `f32` on the CPU, resized on the float
/// tensor with antialiased bilinear interpolation and normalised (path (b), `SAM2Transforms`).
///
/// # Panics
/// If `image_size` is not positive.
pub fn image_predictor_input_tensor(img: &Rgb8Image, image_size: i64) -> Tensor {
    check_size(image_size);
    let unit = chw_u8(img).to_kind(Kind::Float) / 255.0;
    let unit = unit.unsqueeze(0);
    // torchvision returns the tensor untouched when it already has the target size.
    let resized = if i64::from(img.height) == image_size && i64::from(img.width) == image_size {
        unit
    } else {
        unit.internal_upsample_bilinear2d_aa([image_size, image_size], false, None, None)
    };
    normalize(&resized)
}

/// Writes a `[H, W]` mask (bool, or any numeric kind where non-zero means inside) as an
/// 8-bit greyscale PNG with 0 outside and 255 inside.
pub fn write_mask_png(path: &Path, mask: &Tensor) -> Result<()> {
    let size = mask.size();
    let [h, w] = size[..] else {
        return Err(Error::invalid("mask", format!("expected a [H, W] tensor, got shape {size:?}")));
    };
    if h <= 0 || w <= 0 {
        return Err(Error::invalid("mask", format!("empty mask of shape {size:?}")));
    }
    let bytes = mask.to_device(tch::Device::Cpu).ne(0).to_kind(Kind::Uint8) * 255;
    let pixels = Vec::<u8>::try_from(bytes.contiguous().view([-1]))?;
    let (w, h) = (u32::try_from(w), u32::try_from(h));
    let (Ok(w), Ok(h)) = (w, h) else {
        return Err(Error::invalid("mask", format!("mask of shape {size:?} is too large for PNG")));
    };
    image::save_buffer_with_format(path, &pixels, w, h, image::ExtendedColorType::L8, image::ImageFormat::Png)
        .map_err(|e| Error::Image { path: path.to_path_buf(), reason: format!("cannot write PNG: {e}") })
}

/// Writes any tensor as a little-endian `float32` `.npy` file (converted, moved to the CPU).
pub fn write_npy_f32(path: &Path, t: &Tensor) -> Result<()> {
    let t = t.to_device(tch::Device::Cpu).to_kind(Kind::Float).contiguous();
    t.write_npy(path).map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: u32, h: u32) -> Rgb8Image {
        let data = (0..w * h * 3).map(|i| (i * 7 % 256) as u8).collect();
        Rgb8Image { width: w, height: h, data }
    }

    #[test]
    fn shapes_and_kinds() {
        let img = ramp(12, 8);
        for t in [video_input_tensor(&img, 16), image_predictor_input_tensor(&img, 16)] {
            assert_eq!(t.size(), vec![1, 3, 16, 16]);
            assert_eq!(t.kind(), Kind::Float);
        }
    }

    #[test]
    fn same_size_paths_only_normalize() {
        let img = ramp(4, 4);
        let a = video_input_tensor(&img, 4);
        let b = image_predictor_input_tensor(&img, 4);
        // Red channel of pixel (0, 0) is 0: (0 − mean) / std.
        let expected = (0.0f32 - PIXEL_MEAN[0]) / PIXEL_STD[0];
        assert_eq!(a.double_value(&[0, 0, 0, 0]) as f32, expected);
        assert!((a - b).abs().max().double_value(&[]) < 1e-6);
    }

    #[test]
    fn mask_png_round_trip() {
        let dir = std::env::temp_dir().join(format!("samurai-mask-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.png");
        let mask = Tensor::from_slice(&[true, false, false, true, true, false]).view([2, 3]);
        write_mask_png(&path, &mask).unwrap();
        let back = image::open(&path).unwrap();
        assert_eq!(back.color(), image::ColorType::L8);
        assert_eq!(back.into_luma8().into_raw(), vec![255, 0, 0, 255, 255, 0]);
        assert!(write_mask_png(&path, &Tensor::zeros([2], (Kind::Bool, tch::Device::Cpu))).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
