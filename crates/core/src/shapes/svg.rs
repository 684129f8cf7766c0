//! One SVG per frame, for looking: each object's shapes filled in its colour (an outline
//! and its holes as one path, even-odd), outlined, with the control points as dots, over
//! the plate when its file is given.
use super::{ShapeKey, ShapeKind, ShapeSet};
use std::fmt::Write;

/// Object colours, in object order (repeating).
const PALETTE: [&str; 8] = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45"];

fn subpath(d: &mut String, key: &ShapeKey) {
    let p = &key.points;
    let Some(first) = p.first() else { return };
    let _ = write!(d, "M{:.3} {:.3}", first.pos[0], first.pos[1]);
    for i in 0..p.len() {
        let (a, z) = (&p[i], &p[(i + 1) % p.len()]);
        let _ = write!(
            d,
            " C{:.3} {:.3} {:.3} {:.3} {:.3} {:.3}",
            a.out_handle[0], a.out_handle[1], z.in_handle[0], z.in_handle[1], z.pos[0], z.pos[1]
        );
    }
    d.push_str(" Z ");
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The SVG of `frame`; `plate` is the plate's file (an `href`), drawn underneath.
pub fn frame_svg(set: &ShapeSet, frame: i64, plate: Option<&str>) -> String {
    let (w, h) = set.size;
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\n<title>SamuraiRoto shapes, frame {frame}</title>\n"
    );
    if let Some(href) = plate {
        let _ = writeln!(s, "<image href=\"{}\" x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\"/>", escape(href));
    }
    for (k, object) in set.objects.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let _ = writeln!(
            s,
            "<g id=\"{}\" fill=\"{colour}\" fill-opacity=\"0.35\" fill-rule=\"evenodd\" stroke=\"{colour}\" stroke-width=\"1\">",
            escape(&object.name)
        );
        let mut dots = String::new();
        for outline in object.shapes.iter().filter(|s| s.kind == ShapeKind::Outline) {
            let Some(key) = outline.key(frame) else { continue };
            let mut d = String::new();
            subpath(&mut d, key);
            let holes = object.shapes.iter().filter(|h| h.parent.as_deref() == Some(outline.name.as_str()));
            for hole in holes {
                if let Some(k) = hole.key(frame) {
                    subpath(&mut d, k);
                    for p in &k.points {
                        let _ = write!(dots, "<circle cx=\"{:.2}\" cy=\"{:.2}\" r=\"1.5\"/>", p.pos[0], p.pos[1]);
                    }
                }
            }
            for p in &key.points {
                let _ = write!(dots, "<circle cx=\"{:.2}\" cy=\"{:.2}\" r=\"1.5\"/>", p.pos[0], p.pos[1]);
            }
            let _ = writeln!(s, "<path id=\"{}\" d=\"{}\"/>", escape(&outline.name), d.trim_end());
        }
        let _ = writeln!(s, "<g stroke=\"none\" fill-opacity=\"1\">{dots}</g>\n</g>");
    }
    s.push_str("</svg>\n");
    s
}
