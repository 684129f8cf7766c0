//! Matte to shape end to end on synthetic mattes (`samurai_core::shapes`): fidelity at the
//! tolerance, constant point counts, shapes starting and ending with islands, holes, notes,
//! and the writers' structure. Small plates: a few seconds in all.
use samurai_core::shapes::{self, metrics, raster, Note, ShapeKind, ShapeSet, ShapeSettings};

const W: usize = 240;
const H: usize = 160;

/// Signed distance-like logits of a union of ellipses (rx, ry, angle) minus holes (circles).
fn matte(blobs: &[(f64, f64, f64, f64, f64)], holes: &[(f64, f64, f64)]) -> Vec<f32> {
    (0..W * H)
        .map(|i| {
            let (x, y) = ((i % W) as f64 + 0.5, (i / W) as f64 + 0.5);
            let inside = blobs
                .iter()
                .map(|&(cx, cy, rx, ry, a)| {
                    let (dx, dy) = (x - cx, y - cy);
                    let (u, v) = (dx * a.cos() + dy * a.sin(), -dx * a.sin() + dy * a.cos());
                    (1.0 - ((u / rx).powi(2) + (v / ry).powi(2)).sqrt()) * rx.min(ry)
                })
                .fold(-1e9, f64::max);
            let hole = holes.iter().map(|&(cx, cy, r)| r - ((x - cx).powi(2) + (y - cy).powi(2)).sqrt()).fold(-1e9, f64::max);
            inside.min(-hole) as f32
        })
        .collect()
}

/// Six frames: a turning, moving ellipse with a hole; a second island from frame 3.
fn clip() -> Vec<Vec<f32>> {
    (0..6)
        .map(|f| {
            let t = f as f64;
            let mut blobs = vec![(80.0 + 4.0 * t, 80.0 + t, 55.0, 35.0, 0.1 * t)];
            if f >= 3 {
                blobs.push((195.0, 40.0 + 2.0 * t, 18.0, 12.0, 0.0));
            }
            matte(&blobs, &[(80.0 + 4.0 * t, 80.0 + t, 12.0)])
        })
        .collect()
}

fn shapes_of(frames: &[Vec<f32>], settings: &ShapeSettings) -> (ShapeSet, Vec<Note>) {
    let mut notes = Vec::new();
    let object = shapes::object_shapes(
        "blob",
        (W as u32, H as u32),
        frames.iter().enumerate().map(|(f, v)| (f as i64, &v[..])),
        settings,
        &mut notes,
    )
    .unwrap();
    let set = ShapeSet {
        size: (W as u32, H as u32),
        first_frame: 0,
        last_frame: frames.len() as i64 - 1,
        settings: *settings,
        objects: vec![object],
        notes: notes.clone(),
    };
    (set, notes)
}

#[test]
fn mattes_become_animated_shapes_within_the_tolerance() {
    let frames = clip();
    let settings = ShapeSettings::default();
    let (set, notes) = shapes_of(&frames, &settings);
    assert!(notes.is_empty(), "{notes:?}");
    let shapes = &set.objects[0].shapes;
    let kinds: Vec<(ShapeKind, i64, i64)> = shapes.iter().map(|s| (s.kind, s.first_frame(), s.last_frame())).collect();
    // The big outline (frames 0-5) with its hole drawn right after it, then the island of frame 3.
    assert_eq!(
        kinds,
        vec![(ShapeKind::Outline, 0, 5), (ShapeKind::Hole, 0, 5), (ShapeKind::Outline, 3, 5)],
        "{:?}",
        shapes.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    assert_eq!(shapes[1].parent.as_deref(), Some(shapes[0].name.as_str()));
    for s in shapes {
        assert!(s.max_error_px <= settings.tolerance_px, "{}: {}", s.name, s.max_error_px);
        assert!(s.keys.iter().all(|k| k.points.len() == s.point_count()), "{}: point count changes", s.name);
        assert!(s.point_count() >= 4 && s.point_count() <= 64, "{}: {} points", s.name, s.point_count());
    }
    for (f, logits) in frames.iter().enumerate() {
        let cover = raster::rasterise(shapes, f as i64, W as u32, H as u32);
        let iou = raster::iou(&cover, logits);
        assert!(iou >= 0.99, "frame {f}: IoU {iou}");
    }
    // The points travel with the blob (4 px a frame and a turn) smoothly: their frame-to-frame
    // acceleration is a small part of their motion.
    let m = metrics::motion(&shapes[0]);
    assert!(m.moved_px > 3.0 && m.jitter_px < 0.25 * m.moved_px, "{m:?}");
}

#[test]
fn a_tighter_tolerance_gives_more_points_and_a_closer_fit() {
    let frames = clip();
    let loose = ShapeSettings { tolerance_px: 2.0, ..ShapeSettings::default() };
    let tight = ShapeSettings { tolerance_px: 0.2, ..ShapeSettings::default() };
    let (a, _) = shapes_of(&frames, &loose);
    let (b, _) = shapes_of(&frames, &tight);
    let (sa, sb) = (&a.objects[0].shapes[0], &b.objects[0].shapes[0]);
    assert!(sb.point_count() > sa.point_count(), "{} vs {}", sb.point_count(), sa.point_count());
    assert!(sa.max_error_px <= 2.0 && sb.max_error_px <= 0.2, "{} {}", sa.max_error_px, sb.max_error_px);
}

#[test]
fn empty_mattes_give_notes_and_no_shape_and_islands_over_the_limit_keep_the_largest() {
    let empty = vec![vec![-3.0f32; W * H]; 2];
    let (set, notes) = shapes_of(&empty, &ShapeSettings::default());
    assert!(set.objects[0].shapes.is_empty());
    assert_eq!(notes.len(), 2);
    assert!(notes.iter().all(|n| n.text.contains("empty matte")), "{notes:?}");
    // Five islands of growing size with a limit of two: the two largest are kept.
    let blobs: Vec<_> = (0..5).map(|k| (25.0 + 45.0 * k as f64, 80.0, 8.0 + 2.0 * k as f64, 8.0 + 2.0 * k as f64, 0.0)).collect();
    let frames = vec![matte(&blobs, &[])];
    let (set, notes) = shapes_of(&frames, &ShapeSettings { max_islands: 2, ..ShapeSettings::default() });
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].to_string().contains("5 islands, more than the limit of 2: kept the 2 largest"), "{}", notes[0]);
    let xs: Vec<f64> =
        set.objects[0].shapes.iter().map(|s| s.keys[0].points.iter().map(|p| p.pos[0]).sum::<f64>() / s.point_count() as f64).collect();
    assert_eq!(xs.len(), 2);
    assert!(xs.iter().all(|&x| x > 150.0), "{xs:?}");
}

#[test]
fn the_writers_hold_every_shape_and_key() {
    let (set, _) = shapes_of(&clip(), &ShapeSettings::default());
    // JSON reads back the same.
    let json = shapes::json::to_string(&set);
    assert_eq!(shapes::json::from_str(&json).unwrap(), set);
    assert!(shapes::json::from_str("{\"format\": \"other\"}").is_err());
    // Natron: one node, every shape, a key per frame and point, the hole as a stencil.
    let py = shapes::natron::script(&set);
    assert!(py.contains("NODES = [(\"SamuraiRoto_blob\", \"blob\")]"), "{}", &py[..400]);
    assert_eq!(py.matches("(\"SamuraiRoto_blob\", ").count(), 1 + set.objects[0].shapes.len());
    assert!(
        py.contains("eMergeStencil")
            && py.contains("getFeatherDistanceParam().setValue(0.0)")
            && py.contains("bezier.setOpacity(0.0, first - 1)")
    );
    let keys: usize = set.objects[0].shapes.iter().map(|s| s.keys.len() * s.point_count()).sum();
    assert_eq!(py.lines().filter(|l| l.starts_with("        [(")).map(|l| l.matches("), (").count() + 1).sum::<usize>(), keys);
    // Nuke: braces balance, one curvegroup per outline, six key times on the long shape.
    let nk = shapes::nuke::script(&set);
    assert_eq!(nk.matches('{').count(), nk.matches('}').count());
    assert_eq!(nk.matches("{curvegroup ").count(), 2);
    assert!(nk.contains("{px {0 x3f800000 x40000000 x40400000 x40800000 x40a00000}"), "key times of frames 0-5");
    assert!(nk.contains("# Holes are not written to .nk"));
    // SVG: an outline and its hole in one even-odd path.
    let svg = shapes::svg::frame_svg(&set, 4, None);
    assert_eq!(svg.matches("<path ").count(), 2);
    assert_eq!(svg.matches(" Z").count(), 3);
}
