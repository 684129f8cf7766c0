//! Pixel I/O between host images and the engine: one pixel read or written at any depth
//! and layout the node supports, a host image as the engine's frame (sRGB 8-bit RGB, top
//! row first), the source plate as an ndarray for edge work.
use super::engine::{EngineError, ErrorKind, FrameImage};
use super::suites::{Components, Image, OfxError, PixelDepth};
use rayon::prelude::*;

pub(crate) fn read_px(row: &[u8], x: usize, depth: PixelDepth, comps: Components) -> [f32; 4] {
    let nc = comps.count();
    let ch = |c: usize| -> f32 {
        let i = (x * nc + c) * depth.bytes();
        match depth {
            PixelDepth::Byte => row[i] as f32 / 255.0,
            PixelDepth::Short => u16::from_ne_bytes([row[i], row[i + 1]]) as f32 / 65535.0,
            PixelDepth::Float => f32::from_ne_bytes([row[i], row[i + 1], row[i + 2], row[i + 3]]),
        }
    };
    match comps {
        Components::Rgba => [ch(0), ch(1), ch(2), ch(3)],
        Components::Rgb => [ch(0), ch(1), ch(2), 1.0],
        Components::Alpha => {
            let a = ch(0);
            [a, a, a, a]
        }
    }
}

pub(crate) fn write_px(row: &mut [u8], x: usize, depth: PixelDepth, comps: Components, px: [f32; 4]) {
    let nc = comps.count();
    let vals: &[f32] = match comps {
        Components::Alpha => &px[3..],
        _ => &px[..nc],
    };
    for (c, v) in vals.iter().enumerate() {
        let i = (x * nc + c) * depth.bytes();
        match depth {
            PixelDepth::Byte => row[i] = (v.clamp(0.0, 1.0) * 255.0).round() as u8,
            PixelDepth::Short => row[i..i + 2].copy_from_slice(&((v.clamp(0.0, 1.0) * 65535.0).round() as u16).to_ne_bytes()),
            PixelDepth::Float => row[i..i + 4].copy_from_slice(&v.to_ne_bytes()),
        }
    }
}

/// Converts a host image into what the engine eats: sRGB 8-bit RGB, top row first.
/// Host quirk: Natron hands scene-linear float by default, while SAM was trained on
/// display-referred sRGB — with "Input colour = Linear" we encode to sRGB here.
pub fn to_frame(img: &Image, linear: bool) -> FrameImage {
    let (w, h) = (img.width(), img.height());
    let mut rgb8 = Vec::with_capacity(w * h * 3);
    for y in (img.bounds.y1..img.bounds.y2).rev() {
        let row = img.row(y).unwrap_or(&[]);
        for x in 0..w {
            let px = read_px(row, x, img.depth, img.components);
            for &v in &px[..3] {
                // The shared conversion (the CLI's for EXR frames): same pixels, same input.
                rgb8.push(if linear { samurai_core::colour::srgb8(v) } else { (v.clamp(0.0, 1.0) * 255.0).round() as u8 });
            }
        }
    }
    FrameImage { width: w as u32, height: h as u32, rgb8 }
}

/// The source's RGB as `H × W × 3`, top row first, in the host's values.
pub(crate) fn source_plate(src: &Image) -> ndarray::Array3<f32> {
    let (w, h) = (src.width(), src.height());
    // Image is not Sync (it owns the host's handle): borrow its rows first.
    let rows: Vec<Option<&[u8]>> = (0..h).map(|i| src.row(src.bounds.y2 - 1 - i as i32)).collect();
    let (depth, comps) = (src.depth, src.components);
    let data: Vec<f32> = rows
        .par_iter()
        .flat_map_iter(|row| {
            (0..w).flat_map(move |x| match row {
                Some(r) => {
                    let p = read_px(r, x, depth, comps);
                    [p[0], p[1], p[2]]
                }
                None => [0.0; 3],
            })
        })
        .collect();
    ndarray::Array3::from_shape_vec((h, w, 3), data).expect("width × height RGB")
}

/// A frame the host did not give (it aborted the render, or has no image at that time).
pub(crate) fn host_frame_error(frame: i64, e: OfxError) -> EngineError {
    EngineError::new(ErrorKind::Footage, format!("the host could not provide frame {frame}: {}", e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_round_trip_through_every_depth() {
        for depth in [PixelDepth::Byte, PixelDepth::Short, PixelDepth::Float] {
            let mut row = vec![0u8; 2 * 4 * depth.bytes()];
            write_px(&mut row, 1, depth, Components::Rgba, [0.0, 0.2, 0.6, 1.0]);
            let back = read_px(&row, 1, depth, Components::Rgba);
            assert!(back.iter().zip([0.0, 0.2, 0.6, 1.0]).all(|(a, b)| (a - b).abs() < 1.0 / 255.0), "{depth:?}: {back:?}");
        }
        assert_eq!(samurai_core::colour::srgb8(0.18), 118);
    }
}
