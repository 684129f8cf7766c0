//! A Natron Python script that creates, for each object, a Roto node holding its shapes
//! as animated Beziers (Natron 2.x's `NatronEngine` API: `Roto.createBezier`,
//! `BezierCurve.setPointAtIndex` with a time, which sets a key since the Roto context keys
//! automatically). One node per object keeps each object's matte its own: a hole of one
//! object never cuts another.
//!
//! Coordinates are Natron's canonical ones (origin bottom-left, y up): `Y = H - y`. Each
//! control point is keyed on every frame of its shape with its left (incoming) and right
//! (outgoing) handles, absolute; the feather points are set to the same values (no
//! feather: the feather distance is set to 0, Natron's default being 1.5 px). A shape that
//! does not exist on every frame of the export is switched off outside its frames by
//! opacity keys (0 on the frame before its first and after its last, 1 on those): with
//! life time *Custom*, keys of *Activated* that start off did not take effect in
//! NatronRenderer 2.5 (tried), opacity keys did. A hole is composited with the
//! *stencil* operator (`B·(1 − a)`). Natron inserts each new Bezier at the top of its
//! layer, above those made before, so creating the shapes in drawing order draws them in
//! that order.
use super::{Shape, ShapeKind, ShapeSet};
use std::fmt::Write;

/// The script name of object `name`'s Roto node: `SamuraiRoto_NAME`, with every
/// character that is not a letter, a digit or `_` replaced by `_`.
pub fn node_name(name: &str) -> String {
    let clean: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    format!("SamuraiRoto_{clean}")
}

fn shape_data(out: &mut String, object: &str, shape: &Shape, height: f64) {
    let flip = |p: [f64; 2]| [p[0], height - p[1]];
    let _ = writeln!(
        out,
        "    ({object:?}, {:?}, {}, {}, [",
        shape.name,
        if shape.kind == ShapeKind::Hole { "True" } else { "False" },
        shape.first_frame()
    );
    for key in &shape.keys {
        out.push_str("        [");
        for p in &key.points {
            let (q, l, r) = (flip(p.pos), flip(p.in_handle), flip(p.out_handle));
            let _ = write!(out, "({:.4}, {:.4}, {:.4}, {:.4}, {:.4}, {:.4}), ", q[0], q[1], l[0], l[1], r[0], r[1]);
        }
        out.push_str("],\n");
    }
    out.push_str("    ]),\n");
}

/// The script's text.
pub fn script(set: &ShapeSet) -> String {
    let (w, h) = set.size;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# SamuraiRoto shapes: a Roto node with one animated Bezier per shape, made by `samurai-roto shapes`.\n\
         # Plate {w}x{h} (canonical coordinates, y up), frames {}-{}; tolerance {} px.\n\
         # Run it in Natron's Script Editor (or pass it to NatronRenderer): it creates one Roto node per object:\n\
         # {}.",
        set.first_frame,
        set.last_frame,
        set.settings.tolerance_px,
        set.objects.iter().map(|o| node_name(&o.name)).collect::<Vec<_>>().join(", ")
    );
    for note in &set.notes {
        let _ = writeln!(s, "# note: {}", note.to_string().replace('\n', " "));
    }
    s.push_str("import NatronEngine\n\n");
    let _ = writeln!(s, "FIRST_FRAME, LAST_FRAME = {}, {}", set.first_frame, set.last_frame);
    s.push_str("# (node, shape, is a hole, first frame, keys: per frame, per point (x, y, left x, left y, right x, right y))\n");
    s.push_str("# in drawing order; NODES: the object name of each node\n");
    let _ = writeln!(
        s,
        "NODES = [{}]\nSHAPES = [",
        set.objects.iter().map(|o| format!("({:?}, {:?})", node_name(&o.name), o.name)).collect::<Vec<_>>().join(", ")
    );
    for object in &set.objects {
        for shape in &object.shapes {
            shape_data(&mut s, &node_name(&object.name), shape, h as f64);
        }
    }
    s.push_str("]\n\n");
    let _ = write!(
        s,
        r#"def make_shapes(app):
    nodes = {{}}
    for node_name, obj in NODES:
        node = app.createNode('fr.inria.built-in.Roto')
        node.setScriptName(node_name)
        node.setLabel(obj)
        nodes[node_name] = node
    for node_name, name, hole, first, keys in SHAPES:
        ctx = nodes[node_name].getRotoContext()
        x, y = keys[0][0][0], keys[0][0][1]
        bezier = ctx.createBezier(x, y, first)
        for p in keys[0][1:]:
            bezier.addControlPoint(p[0], p[1])
        bezier.setCurveFinished(True)
        bezier.setScriptName(name)
        bezier.setLabel(name)
        for k, points in enumerate(keys):
            for i, p in enumerate(points):
                bezier.setPointAtIndex(i, first + k, *p)
                bezier.setFeatherPointAtIndex(i, first + k, *p)
        last = first + len(keys) - 1
        # No feather (Natron's default is 1.5 px): the shape's edge is the outline.
        bezier.getFeatherDistanceParam().setValue(0.0)
        # Drawn only on its own frames: opacity keys 0 outside, 1 inside (integer frames).
        if first > FIRST_FRAME:
            bezier.setOpacity(0.0, first - 1)
            bezier.setOpacity(1.0, first)
        if last < LAST_FRAME:
            bezier.setOpacity(1.0, last)
            bezier.setOpacity(0.0, last + 1)
        if hole:
            bezier.setCompositingOperator(NatronEngine.Natron.MergingFunctionEnum.eMergeStencil)
    return nodes


shape_nodes = make_shapes(app)
"#
    );
    s
}
