//! Decoding frame files to 8-bit RGB the way the reference's Pillow does
//! (`Image.open(path).convert("RGB")` in `sam2/utils/misc.py`, `_load_img_as_tensor`).
//!
//! * JPEG goes through libjpeg-turbo's TurboJPEG API (the `turbojpeg` crate linked to the
//!   system library): the same decoder Pillow bundles, with the same defaults (accurate
//!   integer IDCT, fancy chroma upsampling), so the pixels agree bit for bit. Greyscale
//!   JPEGs come out with the grey value replicated, as `convert("RGB")` does. Any libjpeg
//!   warning (for example a truncated file) is an error: no half-decoded frame is used.
//! * PNG (8-bit grey, grey+alpha, RGB, RGBA, palette) goes through the `image` crate; alpha
//!   is dropped and grey is replicated, matching `convert("RGB")` for those modes.
//!   16-bit PNGs are refused: Pillow's conversion of them is not a plain scaling.
use super::Rgb8Image;
use image::{DynamicImage, ImageFormat};

/// Which decoder a file's first bytes call for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    Jpeg,
    Png,
}

/// Recognises the container from its signature (not from the file name).
pub(crate) fn sniff(bytes: &[u8]) -> Option<Container> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Container::Jpeg)
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some(Container::Png)
    } else {
        None
    }
}

/// Decodes a JPEG byte stream to RGB. The error string says what libjpeg-turbo reported.
pub(crate) fn decode_jpeg(bytes: &[u8]) -> Result<Rgb8Image, String> {
    let img = turbojpeg::decompress(bytes, turbojpeg::PixelFormat::RGB).map_err(|e| format!("JPEG decoding failed: {e}"))?;
    let (w, h) = (img.width, img.height);
    let mut data = img.pixels;
    if img.pitch != w * 3 {
        // Repack row by row when the decoder padded its rows.
        data = data.chunks(img.pitch).take(h).flat_map(|row| row[..w * 3].to_vec()).collect();
    }
    rgb_image(w, h, data)
}

/// Decodes a PNG byte stream to RGB (alpha dropped, grey replicated).
pub(crate) fn decode_png(bytes: &[u8]) -> Result<Rgb8Image, String> {
    let img = image::load_from_memory_with_format(bytes, ImageFormat::Png).map_err(|e| format!("PNG decoding failed: {e}"))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let data = match img {
        DynamicImage::ImageRgb8(b) => b.into_raw(),
        DynamicImage::ImageRgba8(b) => b.into_raw().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
        DynamicImage::ImageLuma8(b) => b.into_raw().into_iter().flat_map(|g| [g, g, g]).collect(),
        DynamicImage::ImageLumaA8(b) => b.into_raw().chunks_exact(2).flat_map(|p| [p[0], p[0], p[0]]).collect(),
        other => return Err(format!("unsupported PNG pixel layout {:?} (only 8-bit grey/RGB with optional alpha)", other.color())),
    };
    rgb_image(w, h, data)
}

/// Wraps a decoded buffer, checking its size against the header's dimensions.
fn rgb_image(w: usize, h: usize, data: Vec<u8>) -> Result<Rgb8Image, String> {
    if w == 0 || h == 0 {
        return Err(format!("empty image ({w}x{h})"));
    }
    if data.len() != w * h * 3 {
        return Err(format!("decoder returned {} bytes for {w}x{h} RGB", data.len()));
    }
    let width = u32::try_from(w).map_err(|_| format!("width {w} too large"))?;
    let height = u32::try_from(h).map_err(|_| format!("height {h} too large"))?;
    Ok(Rgb8Image { width, height, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ExtendedColorType, ImageEncoder};

    fn png_bytes(w: u32, h: u32, pixels: &[u8], color: ExtendedColorType) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out).write_image(pixels, w, h, color).unwrap();
        out
    }

    #[test]
    fn sniffs_signatures() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(Container::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(Container::Png));
        assert_eq!(sniff(b"GIF89a"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn png_layouts_become_rgb() {
        let rgba = png_bytes(2, 1, &[1, 2, 3, 4, 5, 6, 7, 8], ExtendedColorType::Rgba8);
        assert_eq!(decode_png(&rgba).unwrap().data, vec![1, 2, 3, 5, 6, 7]);
        let grey = png_bytes(2, 1, &[9, 250], ExtendedColorType::L8);
        assert_eq!(decode_png(&grey).unwrap().data, vec![9, 9, 9, 250, 250, 250]);
        let grey_a = png_bytes(1, 1, &[77, 0], ExtendedColorType::La8);
        assert_eq!(decode_png(&grey_a).unwrap().data, vec![77, 77, 77]);
        let rgb = png_bytes(1, 2, &[1, 2, 3, 4, 5, 6], ExtendedColorType::Rgb8);
        let img = decode_png(&rgb).unwrap();
        assert_eq!((img.width, img.height, img.data), (1, 2, vec![1, 2, 3, 4, 5, 6]));
    }

    #[test]
    fn sixteen_bit_png_is_refused() {
        let png = png_bytes(1, 1, &[0, 1, 0, 2, 0, 3], ExtendedColorType::Rgb16);
        assert!(decode_png(&png).unwrap_err().contains("unsupported"));
    }
}
