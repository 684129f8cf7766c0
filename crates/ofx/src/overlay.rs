//! Viewer overlay interact: each enabled object's box at the current frame in its colour
//! (solid on a keyframe, dashed where the box comes from the tracker, dotted where it is
//! only the interpolated parameter value), and pen editing: drag a corner, an edge or the
//! whole box, or draw a new box on empty space for the selected object. Every edit keys
//! both corner parameters at the current time, so the host's keyframes are the boxes.
//!
//! Drawing uses the OFX 1.5 Draw suite when the host offers it and OpenGL otherwise
//! (`gl.rs`; no text labels there, as GL has no text).
use super::action::InteractArgs;
use super::gl::Gl;
use super::instance::{box_at, DragState, Instance};
use super::params::{self as p, obj_id};
use super::suites::{has_draw_suite, DrawContext, OfxResult};
use super::sys::{self, OfxPointD};

fn norm(bl: [f64; 2], tr: [f64; 2]) -> [f64; 4] {
    [bl[0].min(tr[0]), bl[1].min(tr[1]), bl[0].max(tr[0]), bl[1].max(tr[1])]
}

/// Which edges of box `b` the pen at `pos` grabs (tolerance `tol` canonical units):
/// a corner grabs two, an edge one, the inside all four (move), outside `None`.
pub fn hit(b: [f64; 4], pos: [f64; 2], tol: [f64; 2]) -> Option<[bool; 4]> {
    let near = |v: f64, e: f64, t: f64| (v - e).abs() <= t;
    let in_x = pos[0] >= b[0] - tol[0] && pos[0] <= b[2] + tol[0];
    let in_y = pos[1] >= b[1] - tol[1] && pos[1] <= b[3] + tol[1];
    if !(in_x && in_y) {
        return None;
    }
    let edges = [near(pos[0], b[0], tol[0]), near(pos[1], b[1], tol[1]), near(pos[0], b[2], tol[0]), near(pos[1], b[3], tol[1])];
    Some(if edges.iter().any(|e| *e) { edges } else { [true; 4] })
}

/// Applies a drag of `delta` to the edges in `edges` of the box (bl, tr).
pub fn drag(bl: [f64; 2], tr: [f64; 2], edges: [bool; 4], delta: [f64; 2]) -> ([f64; 2], [f64; 2]) {
    let b = norm(bl, tr);
    let m = |i: usize, d: f64| if edges[i] { b[i] + d } else { b[i] };
    let nb = [m(0, delta[0]), m(1, delta[1]), m(2, delta[0]), m(3, delta[1])];
    ([nb[0].min(nb[2]), nb[1].min(nb[3])], [nb[0].max(nb[2]), nb[1].max(nb[3])])
}

/// Where the overlay draws.
trait Painter {
    fn colour(&self, rgba: [f32; 4]) -> OfxResult<()>;
    fn line(&self, width: f32, stipple: i32) -> OfxResult<()>;
    fn line_loop(&self, points: &[OfxPointD]) -> OfxResult<()>;
    fn text(&self, text: &str, at: OfxPointD) -> OfxResult<()>;
}

impl Painter for DrawContext {
    fn colour(&self, rgba: [f32; 4]) -> OfxResult<()> {
        self.set_colour(rgba)
    }
    fn line(&self, width: f32, stipple: i32) -> OfxResult<()> {
        self.set_line(width, stipple)
    }
    fn line_loop(&self, points: &[OfxPointD]) -> OfxResult<()> {
        self.draw(sys::kOfxDrawPrimitiveLineLoop, points)
    }
    fn text(&self, text: &str, at: OfxPointD) -> OfxResult<()> {
        DrawContext::text(self, text, at)
    }
}

impl Painter for Gl {
    fn colour(&self, rgba: [f32; 4]) -> OfxResult<()> {
        Gl::colour(self, rgba);
        Ok(())
    }
    fn line(&self, width: f32, stipple: i32) -> OfxResult<()> {
        Gl::line(self, width, stipple);
        Ok(())
    }
    fn line_loop(&self, points: &[OfxPointD]) -> OfxResult<()> {
        Gl::line_loop(self, points);
        Ok(())
    }
    fn text(&self, _text: &str, _at: OfxPointD) -> OfxResult<()> {
        Ok(())
    }
}

/// Draw action: through the Draw suite when the host gave a draw context and has the
/// suite, else OpenGL; `false` (host default) when neither is available.
pub fn draw(inst: &Instance, args: &InteractArgs, ctx: Option<DrawContext>) -> OfxResult<bool> {
    if let Some(ctx) = ctx.filter(|_| has_draw_suite()) {
        return paint(inst, args, &ctx).map(|_| true);
    }
    match Gl::begin() {
        Some(gl) => paint(inst, args, &gl).map(|_| true),
        None => {
            tracing::warn!("SamuraiRoto overlay: the host has neither the OFX Draw suite nor OpenGL; boxes are not drawn");
            Ok(false)
        }
    }
}

/// Each enabled object's box at `args.time` in its colour.
fn paint(inst: &Instance, args: &InteractArgs, painter: &dyn Painter) -> OfxResult<()> {
    let ps = inst.params()?;
    for i in 0..p::MAX_OBJECTS {
        if ps.param(&obj_id(i, p::OBJ_ENABLE))?.get_int(args.time)? == 0 {
            continue;
        }
        let (bl, tr) = box_at(ps, i, args.time)?;
        let keyed = ps.param(&obj_id(i, p::OBJ_BOX_BL))?.has_key_at(args.time)?;
        let c = ps.param(&obj_id(i, p::OBJ_COLOUR))?.get_rgb(args.time)?;
        painter.colour([c[0] as f32, c[1] as f32, c[2] as f32, 1.0])?;
        let b = match (keyed, tracked_box(inst, i, args.time)) {
            (true, _) | (false, None) => {
                let stipple = if keyed { sys::kOfxDrawLineStipplePatternSolid } else { sys::kOfxDrawLineStipplePatternDot };
                painter.line(if keyed { 2.0 } else { 1.0 }, stipple)?;
                norm(bl, tr)
            }
            (false, Some(t)) => {
                painter.line(1.0, sys::kOfxDrawLineStipplePatternDash)?;
                t
            }
        };
        let pts = [[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]]].map(|[x, y]| OfxPointD { x, y });
        painter.line_loop(&pts)?;
        let name = ps.param(&obj_id(i, p::OBJ_NAME))?.get_string()?;
        painter.text(&name, OfxPointD { x: b[0], y: b[3] + 4.0 * args.pixel_scale[1] })?;
    }
    Ok(())
}

/// The tracker's box for object `i` at `time` (bounding box of its matte), canonical.
fn tracked_box(inst: &Instance, i: usize, time: f64) -> Option<[f64; 4]> {
    let geo = (*inst.last_geometry.lock().ok()?)?;
    let mattes = inst.engine.as_ref().ok()?.cached_mattes(time.round() as i64, None)?.planes();
    let suffix = format!("#{}", i + 1);
    let (_, m) = mattes.iter().find(|(k, _)| k.ends_with(&suffix))?;
    let (w, _) = geo.size();
    let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
    for (idx, _) in m.iter().enumerate().filter(|(_, v)| **v > 0.0) {
        let (x, y) = ((idx % w as usize) as f64, (idx / w as usize) as f64);
        lo = [lo[0].min(x), lo[1].min(y)];
        hi = [hi[0].max(x + 1.0), hi[1].max(y + 1.0)];
    }
    (lo[0] <= hi[0]).then(|| {
        let (a, b) = (geo.to_canonical(lo), geo.to_canonical(hi));
        norm(a, b)
    })
}

/// Pen down: grab the first enabled box under the pen (selected object first), or start a
/// new box for the selected object.
pub fn pen_down(inst: &Instance, args: &InteractArgs) -> OfxResult<bool> {
    let ps = inst.params()?;
    let selected = ps.param(p::SELECTED.id)?.get_int(args.time)?.clamp(0, p::MAX_OBJECTS as i32 - 1) as usize;
    let tol = [6.0 * args.pixel_scale[0], 6.0 * args.pixel_scale[1]];
    let order = std::iter::once(selected).chain((0..p::MAX_OBJECTS).filter(|i| *i != selected));
    let mut state = DragState::Idle;
    for i in order {
        if ps.param(&obj_id(i, p::OBJ_ENABLE))?.get_int(args.time)? == 0 {
            continue;
        }
        let (bl, tr) = box_at(ps, i, args.time)?;
        let b = norm(bl, tr);
        if b[0] == b[2] || b[1] == b[3] {
            continue;
        }
        if let Some(edges) = hit(b, args.pen, tol) {
            state = DragState::Editing { obj: i, edges, start: args.pen, bl: [b[0], b[1]], tr: [b[2], b[3]] };
            break;
        }
    }
    if state == DragState::Idle {
        // New box: a zero-size box at the pen whose top-right corner follows the pen.
        state = DragState::Editing { obj: selected, edges: [false, false, true, true], start: args.pen, bl: args.pen, tr: args.pen };
        ps.param(&obj_id(selected, p::OBJ_ENABLE))?.set_int(1)?;
    }
    *inst.drag.lock().map_err(|_| super::suites::OfxError::failed("overlay state poisoned"))? = state;
    Ok(true)
}

/// Pen motion / pen up: move the grabbed edges and key both corners at the current time.
pub fn pen_move(inst: &Instance, args: &InteractArgs, release: bool) -> OfxResult<bool> {
    let mut guard = inst.drag.lock().map_err(|_| super::suites::OfxError::failed("overlay state poisoned"))?;
    let DragState::Editing { obj, edges, start, bl, tr } = *guard else { return Ok(false) };
    let delta = [args.pen[0] - start[0], args.pen[1] - start[1]];
    let (nbl, ntr) = drag(bl, tr, edges, delta);
    if release {
        *guard = DragState::Idle;
    }
    drop(guard);
    let ps = inst.params()?;
    ps.edit_begin("SamuraiRoto box")?;
    let result = ps
        .param(&obj_id(obj, p::OBJ_BOX_BL))
        .and_then(|b| b.set_f64x2_at(args.time, nbl))
        .and_then(|_| ps.param(&obj_id(obj, p::OBJ_BOX_TR))?.set_f64x2_at(args.time, ntr));
    ps.edit_end()?;
    result.map(|_| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_and_drag_pick_corners_edges_and_moves() {
        let b = [10.0, 10.0, 20.0, 20.0];
        assert_eq!(hit(b, [10.0, 10.0], [1.0, 1.0]), Some([true, true, false, false]));
        assert_eq!(hit(b, [15.0, 20.5], [1.0, 1.0]), Some([false, false, false, true]));
        assert_eq!(hit(b, [15.0, 15.0], [1.0, 1.0]), Some([true; 4]));
        assert_eq!(hit(b, [30.0, 15.0], [1.0, 1.0]), None);
        assert_eq!(drag([10.0, 10.0], [20.0, 20.0], [true; 4], [5.0, -5.0]), ([15.0, 5.0], [25.0, 15.0]));
        assert_eq!(drag([10.0, 10.0], [20.0, 20.0], [false, false, true, true], [-15.0, 0.0]), ([5.0, 10.0], [10.0, 20.0]));
    }
}
