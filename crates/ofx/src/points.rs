//! The clicks of an object, as saved in its Points parameter (`objNPoints`).
//!
//! OpenFX has no list parameter, so an object's clicks live in one string parameter, one
//! click per line: `FRAME X Y +` (positive) or `FRAME X Y -` (negative), X and Y in
//! canonical coordinates. A string parameter is saved with the script, undone, copied and
//! pasted by the host like any other, and an artist can read or clear it in the parameter
//! panel; the viewer writes it (see `overlay`). Clicks on one frame are given to the
//! network in the order of their lines, after the box's corners when the frame also has a
//! box key.

/// One saved click.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SavedPoint {
    pub frame: i64,
    /// Canonical coordinates.
    pub pos: [f64; 2],
    pub positive: bool,
}

/// Parses a Points parameter. `what` names the parameter in errors (e.g. "Object 1 Points").
pub fn parse(text: &str, what: &str) -> Result<Vec<SavedPoint>, String> {
    let mut out = Vec::new();
    for (n, line) in text.split(['\n', ';']).enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| format!("{what}, entry {} '{line}': {why} (expected FRAME X Y + or FRAME X Y -)", n + 1);
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [frame, x, y, sign] = fields[..] else { return Err(bad("four fields")) };
        let frame: i64 = frame.parse().map_err(|_| bad("the frame is not a whole number"))?;
        let num = |s: &str| s.parse::<f64>().ok().filter(|v| v.is_finite());
        let (Some(x), Some(y)) = (num(x), num(y)) else { return Err(bad("X and Y must be numbers")) };
        let positive = match sign {
            "+" | "1" => true,
            "-" | "0" => false,
            _ => return Err(bad("the label is + or -")),
        };
        out.push(SavedPoint { frame, pos: [x, y], positive });
    }
    Ok(out)
}

/// Writes clicks back in the parameter's format (rounded to 1/1000 canonical unit).
pub fn format(points: &[SavedPoint]) -> String {
    let num = |v: f64| {
        let s = format!("{:.3}", v);
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".to_owned()
        } else {
            s.to_owned()
        }
    };
    points
        .iter()
        .map(|p| format!("{} {} {} {}", p.frame, num(p.pos[0]), num(p.pos[1]), if p.positive { "+" } else { "-" }))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The index of the click of `frame` nearest to `pos` within `tol` (canonical units per
/// axis), if any.
pub fn nearest(points: &[SavedPoint], frame: i64, pos: [f64; 2], tol: [f64; 2]) -> Option<usize> {
    points
        .iter()
        .enumerate()
        .filter(|(_, p)| p.frame == frame && (p.pos[0] - pos[0]).abs() <= tol[0] && (p.pos[1] - pos[1]).abs() <= tol[1])
        .min_by(|(_, a), (_, b)| {
            let d = |p: &SavedPoint| ((p.pos[0] - pos[0]) / tol[0]).powi(2) + ((p.pos[1] - pos[1]) / tol[1]).powi(2);
            d(a).total_cmp(&d(b))
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_bad_entries() {
        let pts = vec![
            SavedPoint { frame: 3, pos: [10.5, 20.0], positive: true },
            SavedPoint { frame: 3, pos: [-1.25, 0.0004], positive: false },
            SavedPoint { frame: 12, pos: [100.0, 7.125], positive: true },
        ];
        let text = format(&pts);
        assert_eq!(text, "3 10.5 20 +\n3 -1.25 0 -\n12 100 7.125 +");
        let back = parse(&text, "Object 1 Points").unwrap();
        assert_eq!(back[0], pts[0]);
        assert_eq!(back[1].pos, [-1.25, 0.0]);
        assert_eq!(parse(" 4 1 2 1 ; 5 3 4 0 ", "p").unwrap().iter().map(|p| p.positive).collect::<Vec<_>>(), [true, false]);
        assert!(parse("", "p").unwrap().is_empty());
        for (bad, needle) in [("3 1 2", "four fields"), ("x 1 2 +", "whole number"), ("3 1 nan +", "numbers"), ("3 1 2 *", "label")] {
            let e = parse(bad, "Object 2 Points").unwrap_err();
            assert!(e.contains("Object 2 Points") && e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn nearest_picks_the_closest_click_of_the_frame() {
        let pts = parse("1 10 10 +\n2 10 10 +\n2 14 10 -", "p").unwrap();
        assert_eq!(nearest(&pts, 2, [13.0, 10.0], [5.0, 5.0]), Some(2));
        assert_eq!(nearest(&pts, 2, [9.0, 11.0], [5.0, 5.0]), Some(1));
        assert_eq!(nearest(&pts, 1, [30.0, 10.0], [5.0, 5.0]), None);
    }
}
