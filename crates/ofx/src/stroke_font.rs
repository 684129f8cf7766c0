//! A small stroke font for the overlay's object names where the host has no text drawing
//! (OpenGL hosts without the OFX Draw suite): block capitals, digits and a few signs as
//! line segments on a 4 × 6 grid (y up, baseline 0). Lower case is drawn as capitals;
//! any other character as a box.

/// Each glyph: segments "x1y1x2y2", space-separated, on the 4 × 6 grid.
fn glyph(c: char) -> &'static str {
    match c.to_ascii_uppercase() {
        'A' => "0004 0426 2644 4440 0343",
        'B' => "0006 0636 3633 0343 4340 4000",
        'C' => "4606 0600 0040",
        'D' => "0006 0636 3644 4442 4230 3000",
        'E' => "4606 0600 0040 0333",
        'F' => "4606 0600 0333",
        'G' => "4606 0600 0040 4043 4323",
        'H' => "0006 4046 0343",
        'I' => "2026 1636 1030",
        'J' => "4640 4000 0002",
        'K' => "0006 0346 0340",
        'L' => "0600 0040",
        'M' => "0006 0623 2346 4640",
        'N' => "0006 0640 4046",
        'O' => "0006 0646 4640 4000",
        'P' => "0006 0646 4643 4303",
        'Q' => "0006 0646 4640 4000 2240",
        'R' => "0006 0646 4643 4303 0340",
        'S' => "4606 0603 0343 4340 4000",
        'T' => "0646 2620",
        'U' => "0600 0040 4046",
        'V' => "0620 2046",
        'W' => "0610 1023 2330 3046",
        'X' => "0046 0640",
        'Y' => "0623 4623 2320",
        'Z' => "0646 4600 0040",
        '0' => "0006 0646 4640 4000 0046",
        '1' => "2026 2615 1030",
        '2' => "0646 4643 4303 0300 0040",
        '3' => "0646 4640 4000 1343",
        '4' => "0603 0343 4640",
        '5' => "4606 0603 0343 4340 4000",
        '6' => "4606 0600 0040 4043 4303",
        '7' => "0646 4610",
        '8' => "0006 0646 4640 4000 0343",
        '9' => "4303 0306 0646 4640 4000",
        '_' => "0040",
        '-' => "1333",
        '.' => "2021",
        '#' => "1016 3036 0242 0444",
        ' ' => "",
        _ => "0006 0646 4640 4000",
    }
}

/// Advance from one glyph to the next, grid units (the glyph is 4 wide).
const ADVANCE: f64 = 6.0;

/// `text` as segments (point pairs) with its baseline's left end at `at`; `unit`: the size
/// of one grid unit in the caller's coordinates, per axis.
pub fn segments(text: &str, at: [f64; 2], unit: [f64; 2]) -> Vec<[f64; 2]> {
    let mut out = Vec::new();
    for (k, c) in text.chars().enumerate() {
        let x0 = at[0] + k as f64 * ADVANCE * unit[0];
        for seg in glyph(c).split_whitespace() {
            let d: Vec<f64> = seg.bytes().map(|b| (b - b'0') as f64).collect();
            out.push([x0 + d[0] * unit[0], at[1] + d[1] * unit[1]]);
            out.push([x0 + d[2] * unit[0], at[1] + d[3] * unit[1]]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyphs_are_segments_on_the_grid_and_advance() {
        // 'H': three strokes; lower case is the same glyph.
        assert_eq!(segments("H", [0.0, 0.0], [1.0, 1.0]).len(), 6);
        assert_eq!(segments("h", [10.0, 5.0], [2.0, 2.0]), segments("H", [10.0, 5.0], [2.0, 2.0]));
        // The second glyph starts one advance to the right, scaled by the unit.
        let two = segments("II", [0.0, 0.0], [2.0, 1.0]);
        assert_eq!(two[6], [2.0 * 2.0 + ADVANCE * 2.0, 0.0]);
        // Every glyph stays on its 4 × 6 grid; an unknown character is a box; a space is nothing.
        for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.#".chars() {
            assert!(
                segments(&c.to_string(), [0.0, 0.0], [1.0, 1.0]).iter().all(|p| (0.0..=4.0).contains(&p[0]) && (0.0..=6.0).contains(&p[1])),
                "{c}"
            );
            assert!(!glyph(c).is_empty(), "{c}");
        }
        assert_eq!(segments("€", [0.0, 0.0], [1.0, 1.0]).len(), 8);
        assert!(segments(" ", [0.0, 0.0], [1.0, 1.0]).is_empty());
    }
}
