//! A Nuke `.nk` holding one `Roto` node with every outline as an animated Bezier shape (to
//! paste into the node graph or import).
//!
//! The `curves` knob follows Nuke 7+'s serialisation as public Nuke scripts write it: a
//! root `layer` with its flags, centre and attribute block; one `curvegroup NAME 512
//! bezier` per shape holding the main `cc` curve (flags 8192) and `idem` for the feather
//! curve (the same: no feather); the `px` list of key times followed by three `{x y}`
//! entries per point, the incoming tangent and the outgoing tangent relative to the point
//! around the point's position; a `tx` centre and an attribute block. Numbers are written
//! as Nuke does, `x` and the hex bits of a 32-bit float (`0` for zero); y is up (`Y = H -
//! y`). Animated values (more than one key) are written as a braced list of key times
//! after `px` and a braced list of values, one per key, for each coordinate: that form
//! follows a public grammar of Nuke's roto serialisation; no public script with animated
//! shapes was found to confirm it, and Nuke itself could not be run here (README, "Shapes").
//! The shape's life is its frame range (`ltt 4`, `ltn` first, `ltm` last frame), likewise
//! unconfirmed. Holes are not written: Nuke's code for a subtracting blending mode could
//! not be confirmed either; the file says so in a comment.
use super::{Shape, ShapeKind, ShapeSet};
use std::fmt::Write;

/// The Roto node's name.
pub const NODE_NAME: &str = "SamuraiRotoShapes";

/// A Nuke float: `0`, or `x` and the 32-bit float's bits in hex.
pub fn hex(v: f64) -> String {
    let f = v as f32;
    if f == 0.0 {
        "0".into()
    } else {
        format!("x{:08x}", f.to_bits())
    }
}

/// A coordinate over the keys: one value, or a braced list of one value per key.
fn values(v: &[f64]) -> String {
    if v.len() == 1 {
        hex(v[0])
    } else {
        format!("{{{}}}", v.iter().map(|&x| hex(x)).collect::<Vec<_>>().join(" "))
    }
}

/// Nuke names are identifiers.
fn ident(name: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s
    } else {
        format!("S{s}")
    }
}

fn curvegroup(out: &mut String, shape: &Shape, h: f64, centre: (f64, f64)) {
    let times: Vec<f64> = shape.keys.iter().map(|k| k.frame as f64).collect();
    let _ =
        write!(out, "    {{curvegroup {} 512 bezier\n     {{{{cc\n       {{f 8192}}\n       {{px {}", ident(&shape.name), values(&times));
    for i in 0..shape.point_count() {
        let series =
            |f: &dyn Fn(&super::ControlPoint) -> f64| -> String { values(&shape.keys.iter().map(|k| f(&k.points[i])).collect::<Vec<_>>()) };
        let in_x = series(&|p| p.in_handle[0] - p.pos[0]);
        let in_y = series(&|p| -(p.in_handle[1] - p.pos[1]));
        let px = series(&|p| p.pos[0]);
        let py = series(&|p| h - p.pos[1]);
        let out_x = series(&|p| p.out_handle[0] - p.pos[0]);
        let out_y = series(&|p| -(p.out_handle[1] - p.pos[1]));
        let _ = write!(out, "\n        {{{in_x} {in_y}}}\n        {{{px} {py}}}\n        {{{out_x} {out_y}}}");
    }
    let first = &shape.keys[0].points;
    let n = first.len().max(1) as f64;
    let (cx, cy) = (first.iter().map(|p| p.pos[0]).sum::<f64>() / n, first.iter().map(|p| h - p.pos[1]).sum::<f64>() / n);
    let _ = writeln!(
        out,
        "}}}}     idem}}\n     {{tx {} {} {}}}\n     {{a osw x41200000 osf 0 str 1 spx {} spy {} sb 1 ltt 4 ltn {} ltm {} tt x40800000}}}}",
        hex(times[0]),
        hex(cx),
        hex(cy),
        hex(centre.0),
        hex(centre.1),
        hex(shape.first_frame() as f64),
        hex(shape.last_frame() as f64)
    );
}

/// The `.nk` text.
pub fn script(set: &ShapeSet) -> String {
    let (w, h) = (set.size.0 as f64, set.size.1 as f64);
    let centre = (w / 2.0, h / 2.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# SamuraiRoto shapes: one Roto node, one animated Bezier per outline, made by `samurai-roto shapes`.\n\
         # Plate {}x{} (Nuke's format space, y up), frames {}-{}; tolerance {} px.",
        set.size.0, set.size.1, set.first_frame, set.last_frame, set.settings.tolerance_px
    );
    let holes: Vec<&str> =
        set.objects.iter().flat_map(|o| o.shapes.iter()).filter(|s| s.kind == ShapeKind::Hole).map(|s| s.name.as_str()).collect();
    if !holes.is_empty() {
        let _ = writeln!(s, "# Holes are not written to .nk (use the .py, .svg or .json for them): {}", holes.join(", "));
    }
    for note in &set.notes {
        let _ = writeln!(s, "# note: {}", note.to_string().replace('\n', " "));
    }
    let _ = write!(
        s,
        "Roto {{\n output alpha\n cliptype none\n curves {{{{{{v x3f99999a}}\n  {{f 0}}\n  {{n\n   {{layer Root\n    {{f 2097152}}\n    {{t {} {}}}\n    {{a pt1x 0 pt1y 0 pt2x 0 pt2y 0 pt3x 0 pt3y 0 pt4x 0 pt4y 0 ptex00 0 ptex01 0 ptex02 0 ptex03 0 ptex10 0 ptex11 0 ptex12 0 ptex13 0 ptex20 0 ptex21 0 ptex22 0 ptex23 0 ptex30 0 ptex31 0 ptex32 0 ptex33 0 ptof1x 0 ptof1y 0 ptof2x 0 ptof2y 0 ptof3x 0 ptof3y 0 ptof4x 0 ptof4y 0 pterr 0 ptrefset 0 ptmot x40800000 ptref 0}}\n",
        hex(centre.0),
        hex(centre.1)
    );
    // Only outlines, all composited *over*: their order does not change the alpha.
    let outlines = set.objects.iter().flat_map(|o| o.shapes.iter()).filter(|s| s.kind == ShapeKind::Outline);
    for shape in outlines {
        curvegroup(&mut s, shape, h, centre);
    }
    let _ = writeln!(
        s,
        "}}}}}}}}\n format \"{} {} 0 0 {} {} 1 SamuraiRotoPlate\"\n name {NODE_NAME}\n label \"frames {}-{}\"\n}}",
        set.size.0, set.size.1, set.size.0, set.size.1, set.first_frame, set.last_frame
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_as_nuke_writes_them() {
        // From public Nuke scripts: 1045 -> x4482a000, 10 -> x41200000, -2 -> xc0000000.
        assert_eq!((hex(1045.0), hex(10.0), hex(-2.0), hex(0.0)), ("x4482a000".into(), "x41200000".into(), "xc0000000".into(), "0".into()));
        assert_eq!(values(&[1.0, 2.0]), "{x3f800000 x40000000}");
        assert_eq!(ident("girl 1"), "girl_1");
        assert_eq!(ident("1boy"), "S1boy");
    }
}
