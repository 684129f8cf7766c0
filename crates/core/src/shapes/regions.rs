//! Islands and holes of a matte: connected-component labelling (two passes with
//! union-find). Inside pixels (`logit > 0`) connect through their 4 neighbours, background
//! pixels through their 8 neighbours: with that pairing every island has one outer
//! boundary, and a background component that does not touch the frame border (a hole)
//! lies inside exactly one island.

/// Connected components of the pixels where `mask` is set: a label per pixel (0 where the
/// mask is unset, components numbered from 1 in raster order of their first pixel) and
/// the component count.
pub fn label(mask: &[bool], width: usize, height: usize, eight: bool) -> (Vec<u32>, usize) {
    assert_eq!(mask.len(), width * height, "mask is not {width}x{height}");
    let mut parent: Vec<u32> = vec![0];
    let mut labels = vec![0u32; mask.len()];
    fn find(parent: &mut [u32], mut a: u32) -> u32 {
        while parent[a as usize] != a {
            let up = parent[parent[a as usize] as usize];
            parent[a as usize] = up;
            a = up;
        }
        a
    }
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            if !mask[i] {
                continue;
            }
            let mut neighbours = [0u32; 4];
            let mut n = 0;
            let mut see = |j: usize| {
                if labels[j] != 0 {
                    neighbours[n] = labels[j];
                    n += 1;
                }
            };
            if x > 0 {
                see(i - 1);
            }
            if y > 0 {
                see(i - width);
                if eight && x > 0 {
                    see(i - width - 1);
                }
                if eight && x + 1 < width {
                    see(i - width + 1);
                }
            }
            if n == 0 {
                let l = parent.len() as u32;
                parent.push(l);
                labels[i] = l;
                continue;
            }
            let mut root = find(&mut parent, neighbours[0]);
            for &other in &neighbours[1..n] {
                let r = find(&mut parent, other);
                if r != root {
                    let (lo, hi) = (root.min(r), root.max(r));
                    parent[hi as usize] = lo;
                    root = lo;
                }
            }
            labels[i] = root;
        }
    }
    // Final labels: consecutive, in order of the roots' first appearance.
    let mut remap = vec![0u32; parent.len()];
    let mut count = 0u32;
    for l in labels.iter_mut() {
        if *l == 0 {
            continue;
        }
        let r = find(&mut parent, *l) as usize;
        if remap[r] == 0 {
            count += 1;
            remap[r] = count;
        }
        *l = remap[r];
    }
    (labels, count as usize)
}

/// A connected component: its label, pixel count and bounding box `[x0, y0, x1, y1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    pub label: u32,
    pub area: usize,
    pub bbox: [usize; 4],
}

/// Pixel count and bounding box of every component of `labels` (index = label - 1).
pub fn components(labels: &[u32], count: usize, width: usize) -> Vec<Component> {
    let mut out: Vec<Component> =
        (1..=count as u32).map(|label| Component { label, area: 0, bbox: [usize::MAX, usize::MAX, 0, 0] }).collect();
    for (i, &l) in labels.iter().enumerate() {
        if l == 0 {
            continue;
        }
        let c = &mut out[l as usize - 1];
        let (x, y) = (i % width, i / width);
        c.area += 1;
        c.bbox = [c.bbox[0].min(x), c.bbox[1].min(y), c.bbox[2].max(x + 1), c.bbox[3].max(y + 1)];
    }
    out
}

/// A frame's islands and holes.
#[derive(Debug, Clone)]
pub struct Regions {
    pub width: usize,
    pub height: usize,
    /// Island label per pixel (0: background).
    pub islands: Vec<u32>,
    pub island_info: Vec<Component>,
    /// Background component label per pixel (0: inside an island).
    pub background: Vec<u32>,
    pub background_info: Vec<Component>,
    /// For each background component: the island enclosing it (a hole), or `None` when it
    /// touches the frame border.
    pub hole_parent: Vec<Option<u32>>,
}

impl Regions {
    /// Labels the matte `logit > 0` of a `width × height` plane.
    pub fn new(logits: &[f32], width: usize, height: usize) -> Self {
        let inside: Vec<bool> = logits.iter().map(|&v| v > 0.0).collect();
        let (islands, n) = label(&inside, width, height, false);
        let outside: Vec<bool> = inside.iter().map(|&v| !v).collect();
        let (background, m) = label(&outside, width, height, true);
        let island_info = components(&islands, n, width);
        let background_info = components(&background, m, width);
        let mut hole_parent = vec![None; m];
        for (k, c) in background_info.iter().enumerate() {
            let [x0, y0, x1, y1] = c.bbox;
            if x0 == 0 || y0 == 0 || x1 == width || y1 == height {
                continue;
            }
            // Its first pixel in raster order has an island pixel above it.
            let first = (y0..y1).flat_map(|y| (x0..x1).map(move |x| (x, y))).find(|&(x, y)| background[y * width + x] == c.label);
            if let Some((x, y)) = first {
                hole_parent[k] = Some(islands[(y - 1) * width + x]).filter(|&l| l != 0);
            }
        }
        Regions { width, height, islands, island_info, background, background_info, hole_parent }
    }

    /// Holes of island `label`: background components it encloses.
    pub fn holes_of(&self, label: u32) -> impl Iterator<Item = &Component> {
        self.background_info.iter().zip(&self.hole_parent).filter(move |(_, p)| **p == Some(label)).map(|(c, _)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(rows: &[&str]) -> (Vec<f32>, usize, usize) {
        let w = rows[0].len();
        let v = rows.iter().flat_map(|r| r.chars().map(|c| if c == '#' { 1.0 } else { -1.0 })).collect();
        (v, w, rows.len())
    }

    #[test]
    fn islands_connect_by_edges_and_holes_by_corners() {
        let (v, w, h) = plane(&[
            "........", //
            ".####.#.", //
            ".#..#..#", //
            ".####...", //
            "........",
        ]);
        let r = Regions::new(&v, w, h);
        // The ring, the lone pixel at (6,1) and the diagonal one at (7,2) are three islands.
        assert_eq!(r.island_info.len(), 3);
        assert_eq!(r.island_info[0].area, 10);
        assert_eq!(r.island_info[0].bbox, [1, 1, 5, 4]);
        // One hole (2 pixels) inside the ring.
        let ring = r.island_info[0].label;
        let holes: Vec<_> = r.holes_of(ring).collect();
        assert_eq!(holes.len(), 1);
        assert_eq!(holes[0].area, 2);
    }

    #[test]
    fn a_diagonal_gap_leaks_a_hole() {
        // The ring is open at a corner: the background passes diagonally, so no hole.
        let (v, w, h) = plane(&[
            ".....", //
            ".###.", //
            ".#.#.", //
            ".##..", //
            ".....",
        ]);
        let r = Regions::new(&v, w, h);
        assert_eq!(r.island_info.len(), 1);
        assert_eq!(r.holes_of(1).count(), 0);
    }
}
