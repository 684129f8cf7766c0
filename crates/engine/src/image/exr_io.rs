//! EXR frames in and EXR mattes out, through the `exr` crate directly.
//!
//! Reading fuses decoding with the linear → 8-bit sRGB conversion
//! ([`samurai_core::colour::srgb8`], the plugin's conversion for host float frames, so the
//! CLI and the plugin turn identical pixels into identical network input): each decoded
//! sample goes straight into the 8-bit frame, with no full-resolution float image in
//! between; blocks are decompressed in parallel by the crate's thread pool.
//! Writing uses half floats and RLE compression on scan lines: a 0/1 matte compresses to a few percent of
//! its size, and RLE is the cheapest codec to encode.
use super::Rgb8Image;
use crate::error::{Error, Result};
use exr::prelude::{f16, Sample};
use exr::prelude::{
    read, Encoding, Image as ExrImage, Layer, LayerAttributes, ReadChannels, ReadLayers, ReadSpecificChannel, SpecificChannels,
    WritableImage,
};
use samurai_core::colour::srgb8;
use std::path::Path;
use std::sync::OnceLock;

/// Decodes the first layer's R, G and B channels (any sample type) of a linear-light EXR
/// file and encodes them to 8-bit sRGB. Errors name the file.
pub fn load_exr_srgb8(path: &Path) -> Result<Rgb8Image> {
    let fail = |reason: String| Error::Image { path: path.to_path_buf(), reason };
    let image = read()
        .no_deep_data()
        .largest_resolution_level()
        .specific_channels()
        .required("R")
        .required("G")
        .required("B")
        .collect_pixels(
            |resolution, _| {
                let (w, h) = (resolution.width(), resolution.height());
                (w, h, vec![0u8; w * h * 3])
            },
            |(w, _, data): &mut (usize, usize, Vec<u8>), pos, (r, g, b): (Sample, Sample, Sample)| {
                let i = (pos.y() * *w + pos.x()) * 3;
                data[i] = srgb8_sample(r);
                data[i + 1] = srgb8_sample(g);
                data[i + 2] = srgb8_sample(b);
            },
        )
        .first_valid_layer()
        .all_attributes()
        .from_file(path)
        .map_err(|e| fail(format!("EXR decoding failed: {e}")))?;
    let (w, h, data) = image.layer_data.channel_data.pixels;
    if w == 0 || h == 0 {
        return Err(fail(format!("empty image ({w}x{h})")));
    }
    let width = u32::try_from(w).map_err(|_| fail(format!("width {w} too large")))?;
    let height = u32::try_from(h).map_err(|_| fail(format!("height {h} too large")))?;
    Ok(Rgb8Image { width, height, data })
}

/// One sample in its file's own type to 8-bit sRGB: half floats (the common case) through a
/// table of all 65,536 values, the same bytes as converting them to `f32` first.
fn srgb8_sample(s: Sample) -> u8 {
    static HALF: OnceLock<Vec<u8>> = OnceLock::new();
    match s {
        Sample::F16(h) => HALF.get_or_init(|| (0..=u16::MAX).map(|b| srgb8(f16::from_bits(b).to_f32())).collect())[h.to_bits() as usize],
        Sample::F32(v) => srgb8(v),
        Sample::U32(v) => srgb8(v as f32),
    }
}

/// Writes a `width × height` matte (row-major, one value per pixel) as a half-float EXR
/// with the value in R, G and B (RLE-compressed scan lines).
pub fn write_matte_exr(path: &Path, width: usize, height: usize, values: &[f32]) -> Result<()> {
    if values.len() != width * height || width == 0 || height == 0 {
        return Err(Error::invalid("matte", format!("{} values for a {width}x{height} matte", values.len())));
    }
    // Half floats: 0 and 1 (and any matte value to 3 decimals) are exact, half the bytes.
    let channels = SpecificChannels::rgb(|pos: exr::math::Vec2<usize>| {
        let v = f16::from_f32(values[pos.y() * width + pos.x()]);
        (v, v, v)
    });
    let encoding = Encoding {
        compression: exr::compression::Compression::RLE,
        blocks: exr::image::Blocks::ScanLines,
        line_order: exr::meta::attribute::LineOrder::Increasing,
    };
    let layer = Layer::new((width, height), LayerAttributes::default(), encoding, channels);
    ExrImage::from_layer(layer)
        .write()
        .to_file(path)
        .map_err(|e| Error::Image { path: path.to_path_buf(), reason: format!("cannot write EXR: {e}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matte_round_trip_and_srgb_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.exr");
        let values = [0.0f32, 1.0, 1.0, 0.0, 0.25, 0.0];
        write_matte_exr(&path, 3, 2, &values).unwrap();
        let back = ::image::open(&path).unwrap().into_rgb32f();
        assert_eq!(back.dimensions(), (3, 2));
        let red: Vec<f32> = back.pixels().map(|p| p.0[0]).collect();
        assert_eq!(red, values);
        // Read back as a frame: linear values encoded to sRGB with the shared conversion.
        let frame = load_exr_srgb8(&path).unwrap();
        let expected: Vec<u8> = values.iter().flat_map(|&v| [samurai_core::colour::srgb8(v); 3]).collect();
        assert_eq!((frame.width, frame.height, frame.data), (3, 2, expected));
        assert!(write_matte_exr(&path, 2, 2, &values).is_err());
        std::fs::write(&path, b"v/1\x01 not an exr").unwrap();
        let err = load_exr_srgb8(&path).unwrap_err().to_string();
        assert!(err.contains("m.exr"), "{err}");
    }
}
