//! One object's outlines from frame to frame: which islands (and holes) continue as the
//! same shape, and which start a new one.
//!
//! Island `a` on a frame continues as island `b` on the next frame when at least half of
//! `a`'s pixels lie in `b` and at least half of `b`'s pixels lie in `a`, and neither a
//! split nor a merge of note happens: no other island of the next frame takes 20 % of
//! `a`, and no other island of the frame before gives 20 % of `b`. Anything else (an
//! island that splits, merges, moves off its own footprint within a frame, or
//! disappears) ends its shape; what follows starts a new one. Holes continue by the same
//! rule on their pixels, and only inside an outline that continues.
use super::contour::{signed_area, trace};
use super::regions::{Component, Regions};
use super::{Note, ShapeKind, ShapeSettings, Vec2};

/// Share of each region that must lie in the other for a shape to continue.
const CONTINUE_SHARE: f64 = 0.5;
/// Share of a region that another region must take (or give) to count as a split (merge).
const SPLIT_SHARE: f64 = 0.2;

/// The outlines of one shape on consecutive frames.
#[derive(Debug, Clone, PartialEq)]
pub struct LoopTrack {
    pub kind: ShapeKind,
    /// For a hole: the index of its outline's track.
    pub parent: Option<usize>,
    pub first_frame: i64,
    /// One closed polyline per frame (outlines clockwise on screen, holes counter-clockwise).
    pub loops: Vec<Vec<Vec2>>,
    /// Area enclosed on the first frame (pixels²), for the drawing order.
    pub first_area: f64,
}

/// A kept region of the frame before: its label, pixel count and track.
#[derive(Debug, Clone, Copy)]
struct Kept {
    label: u32,
    area: usize,
    track: usize,
    /// For a hole: the index (in the frame's kept islands) of its island.
    island: usize,
}

struct Previous {
    frame: i64,
    regions: Regions,
    islands: Vec<Kept>,
    holes: Vec<Kept>,
}

/// Builds [`LoopTrack`]s frame by frame.
pub struct Tracker {
    name: String,
    size: (usize, usize),
    settings: ShapeSettings,
    previous: Option<Previous>,
    tracks: Vec<LoopTrack>,
}

impl Tracker {
    pub fn new(name: &str, size: (u32, u32), settings: ShapeSettings) -> Self {
        Tracker { name: name.to_owned(), size: (size.0 as usize, size.1 as usize), settings, previous: None, tracks: Vec::new() }
    }

    fn note(&self, notes: &mut Vec<Note>, frame: i64, text: String) {
        notes.push(Note { frame, object: self.name.clone(), text });
    }

    /// Adds one frame's logit plane (`height × width`).
    pub fn push(&mut self, frame: i64, logits: &[f32], notes: &mut Vec<Note>) -> crate::Result<()> {
        let (w, h) = self.size;
        if logits.len() != w * h {
            return Err(crate::Error::invalid(
                format!("matte of object {} on frame {frame}", self.name),
                format!("{} values for a {w}x{h} plate", logits.len()),
            ));
        }
        let regions = Regions::new(logits, w, h);
        let chosen = self.choose_islands(frame, &regions, notes);
        let prev = self.previous.take().filter(|p| p.frame + 1 == frame);
        let island_links = match &prev {
            Some(p) => {
                let cur: Vec<Kept> =
                    chosen.iter().enumerate().map(|(k, c)| Kept { label: c.label, area: c.area, track: 0, island: k }).collect();
                links(&p.regions.islands, &regions.islands, &p.islands, &cur)
            }
            None => vec![None; chosen.len()],
        };
        let mut islands = Vec::with_capacity(chosen.len());
        let mut holes = Vec::new();
        let mut hole_candidates = Vec::new();
        for (k, c) in chosen.iter().enumerate() {
            let loops = trace(logits, &regions.islands, &regions.background, w, h, c.label, c.bbox);
            let Some(outer) = loops.iter().filter(|l| l.signed_area() > 0.0).max_by(|a, b| a.signed_area().total_cmp(&b.signed_area()))
            else {
                continue;
            };
            let track = match island_links[k].map(|p| prev.as_ref().expect("linked to a frame before").islands[p].track) {
                Some(t) => {
                    self.tracks[t].loops.push(outer.points.clone());
                    t
                }
                None => self.start(ShapeKind::Outline, None, frame, outer.points.clone()),
            };
            islands.push(Kept { label: c.label, area: c.area, track, island: k });
            // Holes: the island's counter-clockwise loops around the holes kept.
            let cut = select_holes(&regions, c.label, &self.settings);
            for hole in cut {
                if let Some(l) = loops.iter().find(|l| l.signed_area() < 0.0 && l.outside == hole.label) {
                    hole_candidates.push((islands.len() - 1, hole.label, hole.area, l.points.clone()));
                }
            }
        }
        let hole_kept: Vec<Kept> = hole_candidates.iter().map(|&(island, label, area, _)| Kept { label, area, track: 0, island }).collect();
        let hole_links = match &prev {
            Some(p) => links(&p.regions.background, &regions.background, &p.holes, &hole_kept),
            None => vec![None; hole_kept.len()],
        };
        for ((island, label, area, points), link) in hole_candidates.into_iter().zip(hole_links) {
            let parent_track = islands[island].track;
            // A hole continues only inside an outline that continues (its parent track is the
            // same one as on the frame before).
            let continued = link.map(|p| prev.as_ref().expect("linked").holes[p]).filter(|ph| {
                let prev_islands = &prev.as_ref().expect("linked").islands;
                prev_islands[ph.island].track == parent_track
            });
            let track = match continued {
                Some(ph) => {
                    self.tracks[ph.track].loops.push(points);
                    ph.track
                }
                None => self.start(ShapeKind::Hole, Some(parent_track), frame, points),
            };
            holes.push(Kept { label, area, track, island });
        }
        self.previous = Some(Previous { frame, regions, islands, holes });
        Ok(())
    }

    fn start(&mut self, kind: ShapeKind, parent: Option<usize>, frame: i64, points: Vec<Vec2>) -> usize {
        let first_area = signed_area(&points).abs();
        self.tracks.push(LoopTrack { kind, parent, first_frame: frame, loops: vec![points], first_area });
        self.tracks.len() - 1
    }

    /// The islands kept on a frame (largest first), with notes for an empty matte and for
    /// islands dropped.
    fn choose_islands(&self, frame: i64, regions: &Regions, notes: &mut Vec<Note>) -> Vec<Component> {
        let s = &self.settings;
        let total: usize = regions.island_info.iter().map(|c| c.area).sum();
        if total == 0 {
            self.note(notes, frame, "empty matte: no shape on this frame".into());
            return Vec::new();
        }
        let (kept, small, over) = select_islands(regions, s);
        if !small.is_empty() {
            let px: usize = small.iter().map(|c| c.area).sum();
            let text = format!("{} island(s) under {} pixels dropped ({px} pixels)", small.len(), s.min_island_area);
            self.note(notes, frame, if kept.is_empty() { format!("{text}: no shape on this frame") } else { text });
        }
        if !over.is_empty() {
            let px: usize = over.iter().map(|c| c.area).sum();
            self.note(
                notes,
                frame,
                format!(
                    "{} islands, more than the limit of {}: kept the {} largest; the {} dropped hold {px} pixels ({:.2} % of the matte)",
                    kept.len() + over.len(),
                    s.max_islands,
                    s.max_islands,
                    over.len(),
                    100.0 * px as f64 / total as f64
                ),
            );
        }
        kept
    }

    /// Every shape's outlines, in the order they started.
    pub fn finish(self) -> Vec<LoopTrack> {
        self.tracks
    }
}

/// The islands of a frame: those kept (the largest, at most `max_islands`, of at least
/// `min_island_area` pixels), those too small, and those over the limit.
fn select_islands(regions: &Regions, s: &ShapeSettings) -> (Vec<Component>, Vec<Component>, Vec<Component>) {
    let mut islands: Vec<Component> = regions.island_info.clone();
    islands.sort_by(|a, b| b.area.cmp(&a.area).then(a.label.cmp(&b.label)));
    let (mut big, small): (Vec<_>, Vec<_>) = islands.into_iter().partition(|c| c.area >= s.min_island_area);
    let over = big.split_off(big.len().min(s.max_islands));
    (big, small, over)
}

/// The holes of island `label` that become hole shapes: at least `min_hole_area` pixels,
/// the `max_holes` largest.
fn select_holes<'a>(regions: &'a Regions, label: u32, s: &ShapeSettings) -> Vec<&'a Component> {
    let mut holes: Vec<&Component> = regions.holes_of(label).filter(|h| h.area >= s.min_hole_area).collect();
    holes.sort_by(|a, b| b.area.cmp(&a.area).then(a.label.cmp(&b.label)));
    holes.truncate(s.max_holes);
    holes
}

/// The matte a frame's shapes stand for (`width × height`, row-major): the kept islands
/// with their small (or too many) holes filled and their kept holes cut. Comparing the
/// rasterised shapes with it measures the curve fitting alone; comparing with the matte
/// adds what the island and hole limits leave out.
pub fn kept_matte(logits: &[f32], width: usize, height: usize, s: &ShapeSettings) -> Vec<bool> {
    let regions = Regions::new(logits, width, height);
    let (kept, _, _) = select_islands(&regions, s);
    let mut island = vec![false; regions.island_info.len() + 1];
    let mut filled = vec![false; regions.background_info.len() + 1];
    for c in &kept {
        island[c.label as usize] = true;
        let cut: Vec<u32> = select_holes(&regions, c.label, s).iter().map(|h| h.label).collect();
        for h in regions.holes_of(c.label) {
            filled[h.label as usize] = !cut.contains(&h.label);
        }
    }
    regions.islands.iter().zip(&regions.background).map(|(&i, &b)| island[i as usize] || filled[b as usize]).collect()
}

/// For each region of `cur` (kept, by index), the index of the region of `prev` it
/// continues, by the rule in the module header.
fn links(prev_labels: &[u32], cur_labels: &[u32], prev: &[Kept], cur: &[Kept]) -> Vec<Option<usize>> {
    if prev.is_empty() || cur.is_empty() {
        return vec![None; cur.len()];
    }
    let index = |kept: &[Kept]| {
        let max = kept.iter().map(|k| k.label).max().unwrap_or(0) as usize;
        let mut v = vec![usize::MAX; max + 1];
        for (i, k) in kept.iter().enumerate() {
            v[k.label as usize] = i;
        }
        v
    };
    let (pi, ci) = (index(prev), index(cur));
    let mut overlap = vec![0usize; prev.len() * cur.len()];
    for (&a, &b) in prev_labels.iter().zip(cur_labels) {
        let (a, b) = (a as usize, b as usize);
        if a == 0 || b == 0 || a >= pi.len() || b >= ci.len() || pi[a] == usize::MAX || ci[b] == usize::MAX {
            continue;
        }
        overlap[pi[a] * cur.len() + ci[b]] += 1;
    }
    let o = |p: usize, c: usize| overlap[p * cur.len() + c] as f64;
    (0..cur.len())
        .map(|c| {
            let ac = cur[c].area as f64;
            let p = (0..prev.len()).find(|&p| o(p, c) >= CONTINUE_SHARE * prev[p].area as f64 && o(p, c) >= CONTINUE_SHARE * ac)?;
            let ap = prev[p].area as f64;
            let merge = (0..prev.len()).any(|q| q != p && o(q, c) >= SPLIT_SHARE * ac);
            let split = (0..cur.len()).any(|d| d != c && o(p, d) >= SPLIT_SHARE * ap);
            (!merge && !split).then_some(p)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disc(w: usize, h: usize, discs: &[(f64, f64, f64)]) -> Vec<f32> {
        (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64 + 0.5, (i / w) as f64 + 0.5);
                discs.iter().map(|&(cx, cy, r)| r - ((x - cx).powi(2) + (y - cy).powi(2)).sqrt()).fold(-1e9, f64::max) as f32
            })
            .collect()
    }

    fn run(frames: &[Vec<f32>], w: usize, h: usize, s: ShapeSettings) -> (Vec<LoopTrack>, Vec<Note>) {
        let mut t = Tracker::new("o", (w as u32, h as u32), s);
        let mut notes = Vec::new();
        for (f, v) in frames.iter().enumerate() {
            t.push(f as i64, v, &mut notes).unwrap();
        }
        (t.finish(), notes)
    }

    #[test]
    fn a_moving_disc_is_one_shape_and_a_split_starts_two() {
        let (w, h) = (80, 40);
        let frames = vec![
            disc(w, h, &[(20.0, 20.0, 10.0)]),
            disc(w, h, &[(23.0, 20.0, 10.0)]),
            // Split into two discs far apart: neither keeps half of the frame before.
            disc(w, h, &[(12.0, 20.0, 7.0), (40.0, 20.0, 7.0)]),
        ];
        let (tracks, notes) = run(&frames, w, h, ShapeSettings::default());
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(tracks.len(), 3);
        assert_eq!(tracks[0].loops.len(), 2);
        assert_eq!((tracks[1].first_frame, tracks[2].first_frame), (2, 2));
    }

    #[test]
    fn empty_frames_and_too_many_islands_are_notes() {
        let (w, h) = (60, 20);
        let many: Vec<(f64, f64, f64)> = (0..5).map(|k| (6.0 + 12.0 * k as f64, 10.0, 3.0 + k as f64 * 0.4)).collect();
        let frames = vec![vec![-1.0; w * h], disc(w, h, &many)];
        let s = ShapeSettings { max_islands: 3, ..ShapeSettings::default() };
        let (tracks, notes) = run(&frames, w, h, s);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].text.contains("empty matte") && notes[0].frame == 0);
        assert!(notes[1].text.contains("5 islands") && notes[1].text.contains("kept the 3 largest"), "{}", notes[1]);
        // The three largest are the last three discs.
        assert_eq!(tracks.len(), 3);
        let xs: Vec<f64> = tracks.iter().map(|t| t.loops[0].iter().map(|p| p[0]).sum::<f64>() / t.loops[0].len() as f64).collect();
        assert!(xs.iter().all(|&x| x > 25.0), "{xs:?}");
    }

    #[test]
    fn a_ring_keeps_its_hole_as_a_hole_track() {
        let (w, h) = (50, 50);
        let ring: Vec<f32> = (0..w * h)
            .map(|i| {
                let d = (((i % w) as f64 + 0.5 - 25.0).powi(2) + ((i / w) as f64 + 0.5 - 25.0).powi(2)).sqrt();
                (8.0 - (d - 15.0).abs()) as f32
            })
            .collect();
        let (tracks, _) = run(&[ring.clone(), ring], w, h, ShapeSettings::default());
        assert_eq!(tracks.len(), 2);
        assert_eq!((tracks[1].kind, tracks[1].parent, tracks[1].loops.len()), (ShapeKind::Hole, Some(0), 2));
        assert!(signed_area(&tracks[1].loops[0]) < 0.0);
    }
}
