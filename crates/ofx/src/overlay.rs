//! Viewer overlay interact: each enabled object's box at the current frame in its colour
//! (solid on a keyframe, dashed where the box comes from the tracker, dotted where it is
//! only the interpolated parameter value) and its clicks on that frame (a green diamond
//! with a plus for positive, a red square with a minus for negative), and pen editing: drag a corner,
//! an edge or the whole box, or draw a new box on empty space for the selected object; a
//! click (press and release without moving) adds a positive click of the selected object at
//! the current frame, Ctrl-click (Cmd on macOS) a negative one; a click can be dragged, and
//! Shift-click deletes it. Box edits key both corner parameters at the current time, so the
//! host's keyframes are the boxes; clicks are lines of the object's Points parameter
//! (`points.rs`). A click on a frame where the object has no keyframe first keys the
//! object's tracked box there (the box the artist sees), so the new keyframe is a box plus
//! the click, fully defined by saved parameters.
//!
//! On a finished frame each object's matte outline is drawn too, in its colour, whatever
//! the output mode (`contour.rs`).
//!
//! Drawing uses the OFX 1.5 Draw suite when the host offers it and OpenGL otherwise
//! (`gl.rs`; the object names there in a stroke font, `stroke_font.rs`, as GL has no text).
use super::action::InteractArgs;
use super::engine::Mattes;
use super::gl::Gl;
use super::instance::{box_at, saved_points, DragState, Geometry, Instance};
use super::params::{self as p, obj_id};
use super::points::{self as pts, SavedPoint};
use super::suites::{has_draw_suite, DrawContext, OfxResult};
use super::sys::{self, OfxPointD};

/// A point as the viewer writes it into a parameter: canonical coordinates (image pixels
/// at full resolution) to one decimal, readable in the Points text and the box fields.
fn tidy(p: [f64; 2]) -> [f64; 2] {
    p.map(|v| (v * 10.0).round() / 10.0)
}

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
    /// Separate segments: points 0–1, 2–3, ...
    fn lines(&self, points: &[OfxPointD]) -> OfxResult<()>;
    /// `text` with its baseline's left end at `at` (`pixel_scale`: canonical units per
    /// screen pixel).
    fn text(&self, text: &str, at: OfxPointD, pixel_scale: [f64; 2]) -> OfxResult<()>;
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
    fn lines(&self, points: &[OfxPointD]) -> OfxResult<()> {
        self.draw(sys::kOfxDrawPrimitiveLines, points)
    }
    fn text(&self, text: &str, at: OfxPointD, _pixel_scale: [f64; 2]) -> OfxResult<()> {
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
    fn lines(&self, points: &[OfxPointD]) -> OfxResult<()> {
        Gl::lines(self, points);
        Ok(())
    }
    /// GL has no text: the stroke font, 12 screen pixels tall.
    fn text(&self, text: &str, at: OfxPointD, pixel_scale: [f64; 2]) -> OfxResult<()> {
        let unit = [2.0 * pixel_scale[0], 2.0 * pixel_scale[1]];
        let points: Vec<OfxPointD> =
            super::stroke_font::segments(text, [at.x, at.y], unit).into_iter().map(|[x, y]| OfxPointD { x, y }).collect();
        Gl::line(self, 2.0, sys::kOfxDrawLineStipplePatternSolid);
        Gl::lines(self, &points);
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
    let (dragged_box, dragged_click) = dragged(inst);
    // The frame's mattes when it is finished (never tracked here), for the outlines.
    let finished = inst.engine.as_ref().ok().and_then(|e| e.cached_mattes(args.time.round() as i64, None));
    let geometry = *inst.last_geometry.lock();
    let level =
        p::threshold_logit(ps.param(p::MATTE_THRESHOLD.id)?.get_f64(args.time)?, ps.param(p::THRESHOLD.id)?.get_f64(args.time)?) as f32;
    for i in 0..p::MAX_OBJECTS {
        let being_drawn = dragged_box.filter(|(o, _)| *o == i).map(|(_, b)| b);
        if ps.param(&obj_id(i, p::OBJ_ENABLE))?.get_int(args.time)? == 0 && being_drawn.is_none() {
            continue;
        }
        let (bl, tr) = box_at(ps, i, args.time)?;
        // The box being dragged is drawn as it will be keyed at pen up.
        let keyed = being_drawn.is_some() || ps.param(&obj_id(i, p::OBJ_BOX_BL))?.has_key_at(args.time)?;
        let (bl, tr) = being_drawn.map_or((bl, tr), |b| ([b[0], b[1]], [b[2], b[3]]));
        let c = ps.param(&obj_id(i, p::OBJ_COLOUR))?.get_rgb(args.time)?;
        painter.colour([c[0] as f32, c[1] as f32, c[2] as f32, 1.0])?;
        let b = match (keyed, tracked_box(inst, i, args.time)) {
            // Keyframes 3 pixels wide, other frames 2 (visible over any plate).
            (true, _) | (false, None) => {
                let stipple = if keyed { sys::kOfxDrawLineStipplePatternSolid } else { sys::kOfxDrawLineStipplePatternDot };
                painter.line(if keyed { 3.0 } else { 2.0 }, stipple)?;
                norm(bl, tr)
            }
            (false, Some(t)) => {
                painter.line(2.0, sys::kOfxDrawLineStipplePatternDash)?;
                t
            }
        };
        let pts = [[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]]].map(|[x, y]| OfxPointD { x, y });
        painter.line_loop(&pts)?;
        // The matte's outline (at the Threshold), whatever the output mode shows.
        if let (Some(mattes), Some(geo)) = (&finished, &geometry) {
            if let Some(outline) = outline(mattes, geo, i, level) {
                painter.line(2.0, sys::kOfxDrawLineStipplePatternSolid)?;
                painter.lines(&outline)?;
            }
        }
        let name = ps.param(&obj_id(i, p::OBJ_NAME))?.get_string()?;
        painter.text(&name, OfxPointD { x: b[0], y: b[3] + 4.0 * args.pixel_scale[1] }, args.pixel_scale)?;
        // A Points parameter that does not parse is reported by the render, not here.
        let mut clicks = saved_points(ps, i).unwrap_or_default();
        if let Some((_, index, at)) = dragged_click.filter(|(o, _, _)| *o == i) {
            if let Some(c) = clicks.get_mut(index) {
                c.pos = at;
            }
        }
        paint_clicks(painter, &clicks, args.time.round() as i64, args.pixel_scale)?;
    }
    Ok(())
}

/// Colours of positive and negative clicks (green and red, as in SAM's own tools): told
/// apart at a glance from each other and from the boxes, whatever the object's colour.
pub const POSITIVE_CLICK: [f32; 4] = [0.3, 1.0, 0.35, 1.0];
pub const NEGATIVE_CLICK: [f32; 4] = [1.0, 0.3, 0.3, 1.0];

/// The clicks of `frame`: a green diamond with a plus (positive) or a red square with a
/// minus (negative), 8 screen pixels from the centre, 3-pixel lines.
fn paint_clicks(painter: &dyn Painter, clicks: &[SavedPoint], frame: i64, pixel_scale: [f64; 2]) -> OfxResult<()> {
    let (sx, sy) = (8.0 * pixel_scale[0], 8.0 * pixel_scale[1]);
    let pt = |x: f64, y: f64| OfxPointD { x, y };
    painter.line(3.0, sys::kOfxDrawLineStipplePatternSolid)?;
    for c in clicks.iter().filter(|c| c.frame == frame) {
        let [x, y] = c.pos;
        painter.colour(if c.positive { POSITIVE_CLICK } else { NEGATIVE_CLICK })?;
        if c.positive {
            painter.line_loop(&[pt(x - sx, y), pt(x, y - sy), pt(x + sx, y), pt(x, y + sy)])?;
            painter.line_loop(&[pt(x, y - 0.6 * sy), pt(x, y + 0.6 * sy)])?;
        } else {
            painter.line_loop(&[pt(x - sx, y - sy), pt(x + sx, y - sy), pt(x + sx, y + sy), pt(x - sx, y + sy)])?;
        }
        painter.line_loop(&[pt(x - 0.6 * sx, y), pt(x + 0.6 * sx, y)])?;
    }
    Ok(())
}

/// Object `i`'s matte outline in `mattes` (the `level` contour of its logits), as
/// segments in canonical coordinates; `None` when the frame has no matte of the object.
/// A tracker result is outlined on its low-resolution grid, which the finished matte
/// upsamples bilinearly: the same contour, for a fraction of the work.
fn outline(mattes: &Mattes, geo: &Geometry, i: usize, level: f32) -> Option<Vec<OfxPointD>> {
    let suffix = format!("#{}", i + 1);
    let k = mattes.names().iter().position(|n| n.ends_with(&suffix))?;
    let (w, h) = geo.size();
    let (values, gw, gh): (&[f32], usize, usize) = match mattes {
        Mattes::Low { low, .. } => (&low.objects.get(k)?.1, low.side as usize, low.side as usize),
        Mattes::Planes(planes) => (&planes.get(k)?.1, w as usize, h as usize),
    };
    if values.len() != gw * gh || gw == 0 || gh == 0 {
        return None;
    }
    let (sx, sy) = (w as f64 / gw as f64, h as f64 / gh as f64);
    let segments = super::contour::segments(values, gw, gh, level);
    let pts = segments.iter().flatten().map(|p| {
        let [x, y] = geo.to_canonical([p[0] * sx, p[1] * sy]);
        OfxPointD { x, y }
    });
    Some(pts.collect())
}

/// The tracker's box for object `i` at `time` (bounding box of its matte), canonical.
fn tracked_box(inst: &Instance, i: usize, time: f64) -> Option<[f64; 4]> {
    let geo = (*inst.last_geometry.lock())?;
    let mattes = inst.engine.as_ref().ok()?.cached_mattes(time.round() as i64, None)?.planes();
    let suffix = format!("#{}", i + 1);
    let (_, m) = mattes.iter().find(|(k, _)| k.ends_with(&suffix))?;
    let (w, h) = geo.size();
    let b = samurai_core::prompt::matte_box(m, w as usize, h as usize)?;
    Some(norm(geo.to_canonical([b[0], b[1]]), geo.to_canonical([b[2], b[3]])))
}

/// Pen down: a click of an enabled object under the pen on this frame (selected object
/// first) is grabbed, or with Shift deleted; then a box corner or edge is grabbed; inside a
/// box or on empty space the press waits to see whether it is a click or a drag.
pub fn pen_down(inst: &Instance, args: &InteractArgs) -> OfxResult<bool> {
    let ps = inst.params()?;
    let selected = ps.param(p::SELECTED.id)?.get_int(args.time)?.clamp(0, p::MAX_OBJECTS as i32 - 1) as usize;
    let tol = [6.0 * args.pixel_scale[0], 6.0 * args.pixel_scale[1]];
    let frame = args.time.round() as i64;
    let shift = inst.modifiers.lock().shift;
    let order: Vec<usize> = std::iter::once(selected).chain((0..p::MAX_OBJECTS).filter(|i| *i != selected)).collect();
    let enabled = |i: usize| -> OfxResult<bool> { Ok(ps.param(&obj_id(i, p::OBJ_ENABLE))?.get_int(args.time)? != 0) };
    for &i in &order {
        if !enabled(i)? {
            continue;
        }
        let mut clicks = saved_points(ps, i)?;
        if let Some(index) = pts::nearest(&clicks, frame, args.pen, tol) {
            if shift {
                clicks.remove(index);
                write_clicks(inst, i, &clicks, "SamuraiRoto delete click")?;
                *inst.drag.lock() = DragState::Idle;
            } else {
                *inst.drag.lock() = DragState::Point { obj: i, index, now: None };
            }
            return Ok(true);
        }
    }
    // A new box: a zero-size box at the pen whose top-right corner follows the pen.
    let mut state = DragState::Pending { obj: selected, start: args.pen, then: ([false, false, true, true], args.pen, args.pen, selected) };
    for &i in &order {
        if !enabled(i)? {
            continue;
        }
        let (bl, tr) = box_at(ps, i, args.time)?;
        let b = norm(bl, tr);
        if b[0] == b[2] || b[1] == b[3] {
            continue;
        }
        match hit(b, args.pen, tol) {
            Some(edges) if edges == [true; 4] => {
                state = DragState::Pending { obj: selected, start: args.pen, then: (edges, [b[0], b[1]], [b[2], b[3]], i) };
                break;
            }
            Some(edges) => {
                state = DragState::Editing { obj: i, edges, start: args.pen, bl: [b[0], b[1]], tr: [b[2], b[3]], now: args.pen };
                break;
            }
            None => {}
        }
    }
    *inst.drag.lock() = state;
    Ok(true)
}

/// Writes object `obj`'s clicks as one undoable edit.
fn write_clicks(inst: &Instance, obj: usize, clicks: &[SavedPoint], label: &str) -> OfxResult<()> {
    let ps = inst.params()?;
    ps.edit_begin(label)?;
    let result = ps.param(&obj_id(obj, p::OBJ_POINTS)).and_then(|p| p.set_string(&pts::format(clicks)));
    ps.edit_end()?;
    result
}

/// A click of the selected object at `at` (where the pen went down): positive, or negative with Ctrl. On a frame
/// where the object has no keyframe yet, its tracked box there is keyed first.
fn add_click(inst: &Instance, args: &InteractArgs, obj: usize, at: [f64; 2]) -> OfxResult<()> {
    let ps = inst.params()?;
    let frame = args.time.round() as i64;
    let mut clicks = saved_points(ps, obj)?;
    let positive = !inst.modifiers.lock().ctrl;
    ps.edit_begin("SamuraiRoto click")?;
    let result = (|| {
        ps.param(&obj_id(obj, p::OBJ_ENABLE))?.set_int(1)?;
        let keyed = ps.param(&obj_id(obj, p::OBJ_BOX_BL))?.has_key_at(args.time)?;
        if !keyed && !clicks.iter().any(|c| c.frame == frame) {
            if let Some(b) = tracked_box(inst, obj, args.time) {
                ps.param(&obj_id(obj, p::OBJ_BOX_BL))?.set_f64x2_at(args.time, tidy([b[0], b[1]]))?;
                ps.param(&obj_id(obj, p::OBJ_BOX_TR))?.set_f64x2_at(args.time, tidy([b[2], b[3]]))?;
            }
        }
        clicks.push(SavedPoint { frame, pos: tidy(at), positive });
        ps.param(&obj_id(obj, p::OBJ_POINTS))?.set_string(&pts::format(&clicks))
    })();
    ps.edit_end()?;
    result
}

/// Pen motion / pen up: moves the grabbed edges or click (drawn by the overlay while the
/// pen moves); at pen up writes them, as one undoable edit (a box keys both corners at
/// the current time, and enables its object). A press that did not move adds a click on
/// release.
pub fn pen_move(inst: &Instance, args: &InteractArgs, release: bool) -> OfxResult<bool> {
    let mut guard = inst.drag.lock();
    let (obj, edges, start, bl, tr) = match *guard {
        DragState::Idle => return Ok(false),
        DragState::Editing { obj, edges, start, bl, tr, .. } => (obj, edges, start, bl, tr),
        DragState::Pending { obj, start, then: (edges, bl, tr, box_obj) } => {
            let moved =
                (args.pen[0] - start[0]).abs() > 3.0 * args.pixel_scale[0] || (args.pen[1] - start[1]).abs() > 3.0 * args.pixel_scale[1];
            if !moved {
                if release {
                    *guard = DragState::Idle;
                    drop(guard);
                    add_click(inst, args, obj, start)?;
                }
                return Ok(true);
            }
            (box_obj, edges, start, bl, tr)
        }
        DragState::Point { obj, index, .. } => {
            if !release {
                *guard = DragState::Point { obj, index, now: Some(args.pen) };
                return Ok(true);
            }
            *guard = DragState::Idle;
            drop(guard);
            let mut clicks = saved_points(inst.params()?, obj)?;
            if let Some(c) = clicks.get_mut(index) {
                c.pos = tidy(args.pen);
                write_clicks(inst, obj, &clicks, "SamuraiRoto move click")?;
            }
            return Ok(true);
        }
    };
    if !release {
        *guard = DragState::Editing { obj, edges, start, bl, tr, now: args.pen };
        return Ok(true);
    }
    *guard = DragState::Idle;
    drop(guard);
    let (nbl, ntr) = drag(bl, tr, edges, [args.pen[0] - start[0], args.pen[1] - start[1]]);
    let (nbl, ntr) = (tidy(nbl), tidy(ntr));
    let ps = inst.params()?;
    ps.edit_begin("SamuraiRoto box")?;
    let result = (|| {
        let enable = ps.param(&obj_id(obj, p::OBJ_ENABLE))?;
        if enable.get_int(args.time)? == 0 {
            enable.set_int(1)?;
        }
        ps.param(&obj_id(obj, p::OBJ_BOX_BL))?.set_f64x2_at(args.time, nbl)?;
        ps.param(&obj_id(obj, p::OBJ_BOX_TR))?.set_f64x2_at(args.time, ntr)
    })();
    ps.edit_end()?;
    result.map(|_| true)
}

/// The box or click being dragged, as the overlay draws it until pen up: (object, box)
/// or (object, click index, position).
fn dragged(inst: &Instance) -> (Option<(usize, [f64; 4])>, Option<(usize, usize, [f64; 2])>) {
    let state = *inst.drag.lock();
    match state {
        DragState::Editing { obj, edges, start, bl, tr, now } => {
            let (nbl, ntr) = drag(bl, tr, edges, [now[0] - start[0], now[1] - start[1]]);
            (Some((obj, norm(nbl, ntr))), None)
        }
        DragState::Point { obj, index, now: Some(at) } => (None, Some((obj, index, at))),
        _ => (None, None),
    }
}

/// Key down/up over the viewer: tracks Ctrl (or Cmd/Meta) and Shift for the next click.
/// Never consumed, so the host's own shortcuts keep working.
pub fn key(inst: &Instance, sym: i32, down: bool) -> OfxResult<bool> {
    // X11 key symbols (ofxKeySyms.h): Shift_L/R, Control_L/R, Meta_L/R.
    let mut m = inst.modifiers.lock();
    match sym {
        0xffe1 | 0xffe2 => m.shift = down,
        0xffe3 | 0xffe4 | 0xffe7 | 0xffe8 => m.ctrl = down,
        _ => {}
    }
    Ok(false)
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
