//! One multi-layer EXR per frame (`track --format exr --layers`): a half-float channel
//! per object named `NAME.A` (the object's layer, as Nuke's Read shows it) and `ID`, the
//! node's ID matte (object number from 1, 0 outside every object). ZIP-compressed scan
//! lines.
use crate::error::{Error, Result};
use exr::prelude::{f16, AnyChannel, AnyChannels, Encoding, FlatSamples, Image as ExrImage, Layer, LayerAttributes, WritableImage};
use std::path::Path;

/// Writes `channels` (name, `width × height` row-major values) as half floats.
pub fn write_layers_exr(path: &Path, width: usize, height: usize, channels: &[(String, Vec<f32>)]) -> Result<()> {
    let fail = |reason: String| Error::Image { path: path.to_path_buf(), reason };
    if width == 0 || height == 0 || channels.is_empty() {
        return Err(fail(format!("{} channels for a {width}x{height} image", channels.len())));
    }
    let mut list = smallvec_of(channels.len());
    for (name, values) in channels {
        if values.len() != width * height {
            return Err(fail(format!("channel {name}: {} values for {width}x{height}", values.len())));
        }
        let text =
            exr::prelude::Text::new_or_none(name.as_str()).ok_or_else(|| fail(format!("channel name '{name}' is not valid in EXR")))?;
        list.push(AnyChannel::new(text, FlatSamples::F16(values.iter().map(|&v| f16::from_f32(v)).collect())));
    }
    let encoding = Encoding {
        compression: exr::compression::Compression::ZIP16,
        blocks: exr::image::Blocks::ScanLines,
        line_order: exr::meta::attribute::LineOrder::Increasing,
    };
    let layer = Layer::new((width, height), LayerAttributes::default(), encoding, AnyChannels::sort(list));
    ExrImage::from_layer(layer).write().to_file(path).map_err(|e| fail(format!("cannot write EXR: {e}")))
}

fn smallvec_of(n: usize) -> exr::prelude::SmallVec<[AnyChannel<FlatSamples>; 4]> {
    exr::prelude::SmallVec::with_capacity(n)
}
