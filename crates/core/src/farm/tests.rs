use super::*;
use crate::config::{ModelSize, Preset};
use crate::prompt::{MaskPrompt, PointPrompt};
use Direction::{Backward as B, Forward as F};

fn keys(frames: &[usize]) -> BTreeMap<usize, ()> {
    frames.iter().map(|f| (*f, ())).collect()
}

#[test]
fn contributions_follow_the_trackers_table() {
    let k = keys(&[10, 20]);
    let c = |f, m| contributions(&k, f, m);
    assert_eq!(c(5, BlendMode::Blend), [(10, B, 1.0)]);
    assert_eq!(c(10, BlendMode::Blend), [(10, F, 1.0)]);
    assert_eq!(c(20, BlendMode::Blend), [(20, F, 1.0)]);
    assert_eq!(c(27, BlendMode::Blend), [(20, F, 1.0)]);
    // Between keyframes: the session's weights, forward first.
    let w = (20 - 13) as f32 / (20 - 10) as f32;
    assert_eq!(c(13, BlendMode::Blend), [(10, F, w), (20, B, 1.0 - w)]);
    // Nearest: ties go to the earlier keyframe.
    assert_eq!(c(15, BlendMode::Nearest), [(10, F, 1.0)]);
    assert_eq!(c(16, BlendMode::Nearest), [(20, B, 1.0)]);
    assert_eq!(c(19, BlendMode::Forward), [(10, F, 1.0)]);
    assert_eq!(c(3, BlendMode::Forward), [(10, B, 1.0)]);
    assert!(contributions(&keys(&[]), 3, BlendMode::Blend).is_empty());
}

#[test]
fn planned_passes_cover_exactly_the_frames_they_contribute_to() {
    let k = keys(&[10, 20]);
    assert_eq!(plan_passes(&k, (0, 29), BlendMode::Blend), [(10, F, (10, 19)), (20, F, (20, 29)), (10, B, (0, 9)), (20, B, (11, 19))]);
    assert_eq!(plan_passes(&k, (0, 29), BlendMode::Forward), [(10, F, (10, 19)), (20, F, (20, 29)), (10, B, (0, 9))]);
    assert_eq!(plan_passes(&k, (0, 29), BlendMode::Nearest), [(10, F, (10, 15)), (20, F, (20, 29)), (10, B, (0, 9)), (20, B, (16, 19))]);
    // Adjacent keyframes: the later one's backward pass contributes nothing.
    assert_eq!(plan_passes(&keys(&[5, 6]), (0, 9), BlendMode::Blend), [(5, F, (5, 5)), (6, F, (6, 9)), (5, B, (0, 4))]);
    // A range inside a span, and a keyframe beyond the range: passes walk in from outside.
    assert_eq!(plan_passes(&k, (12, 14), BlendMode::Blend), [(10, F, (12, 14)), (20, B, (12, 14))]);
    let far = plan_passes(&keys(&[40]), (0, 9), BlendMode::Blend);
    assert_eq!(far, [(40, B, (0, 9))]);
    let pass = PlannedPass { object: "a".into(), keyframe: 40, direction: B, frames: (0, 9) };
    assert_eq!((pass.walk(), pass.steps()), ((40, 0), 41));

    // Every layout and mode: each frame's contributions are exactly the passes whose span
    // holds it, and every span is one interval.
    let mut seed = 7u64;
    for _ in 0..200 {
        let mut next = |m: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) % m) as usize
        };
        let n = 1 + next(24);
        let frames: Vec<usize> = (0..next(4)).map(|_| next(n as u64)).collect();
        let (a, b) = (next(n as u64), next(n as u64));
        let range = (a.min(b), a.max(b));
        let k = keys(&frames);
        for mode in BlendMode::ALL {
            let planned = plan_passes(&k, range, mode);
            for f in 0..n {
                let mut from_plan: Vec<(usize, Direction)> = planned
                    .iter()
                    .filter(|(_, _, s)| (range.0..=range.1).contains(&f) && s.0 <= f && f <= s.1)
                    .map(|(k, d, _)| (*k, *d))
                    .collect();
                let mut direct: Vec<(usize, Direction)> = if (range.0..=range.1).contains(&f) {
                    contributions(&k, f, mode).iter().map(|(k, d, _)| (*k, *d)).collect()
                } else {
                    vec![]
                };
                from_plan.sort();
                direct.sort();
                assert_eq!(from_plan, direct, "keyframes {frames:?} range {range:?} mode {mode:?} frame {f}");
            }
        }
    }
}

#[test]
fn blend_is_the_sessions_fold() {
    let f = [1.5f32, -3.25, 0.1, 1e-30, -1024.0];
    let b = [0.7f32, 2.0, -0.3, 7.0, 3.3];
    // A single term of weight 1 is the pass's values, bit for bit.
    let one = blend(&[(&f, 1.0)], 5).unwrap();
    assert_eq!(one.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), f.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
    let w = (20 - 13) as f32 / 10.0;
    let two = blend(&[(&f, w), (&b, 1.0 - w)], 5).unwrap();
    for i in 0..5 {
        let fwd = f[i] * w;
        let bwd = b[i] * (1.0 - w);
        assert_eq!(two[i].to_bits(), (fwd + bwd).to_bits());
    }
    assert_eq!(blend(&[], 3).unwrap(), [NO_OBJ_SCORE; 3]);
    assert!(blend(&[(&f, 1.0)], 4).is_err());
}

pub(super) fn object(name: &str, frames: &[usize]) -> PlanObject {
    PlanObject {
        name: name.into(),
        keyframes: frames.iter().map(|&f| PlanKeyframe::new(f, KeyframePrompt::from_box([10.0, 10.0, 40.0, 30.0 + f as f64]))).collect(),
    }
}

pub(super) fn shot(name: &str, n: usize, objects: Vec<PlanObject>) -> Shot {
    Shot {
        name: name.into(),
        frames_dir: PathBuf::from(format!("/shots/{name}/frames")),
        frame_size: (64, 48),
        clip: (0..n).map(|i| ClipFrame { file: format!("{i:05}.jpg"), hash: format!("{i:064x}") }).collect(),
        range: (0, n - 1),
        first_frame: 1001,
        cache_key: Some("k".into()),
        objects,
    }
}

pub(super) fn plan(split: Split, shots: Vec<Shot>) -> Result<Plan> {
    let model =
        ModelRef { checkpoint: "/models/sam2.1_hiera_tiny.pt".into(), size: Some(ModelSize::Tiny.name().into()), hash: "ab".repeat(32) };
    let settings = PlanSettings {
        image_size: 512,
        precision: Precision::F32,
        mode: BlendMode::Blend,
        tuning: Preset::builtin(ModelSize::Tiny).samurai,
        split,
    };
    Plan::new(model, settings, shots)
}

/// Three objects: two keyed on the same frames, one keyed elsewhere.
pub(super) fn three_objects() -> Vec<Shot> {
    vec![shot("bedroom", 30, vec![object("a", &[0, 20]), object("b", &[0, 20]), object("c", &[10])])]
}

#[test]
fn passes_starting_together_share_a_task_unless_split() {
    let p = plan(Split::Keyframes, three_objects()).unwrap();
    let summary: Vec<(Direction, usize, Vec<&str>)> =
        p.groups.iter().map(|g| (g.direction, g.keyframe, g.passes.iter().map(|p| p.object.as_str()).collect())).collect();
    assert_eq!(
        summary,
        [(F, 0, vec!["a", "b"]), (F, 10, vec!["c"]), (F, 20, vec!["a", "b"]), (B, 10, vec!["c"]), (B, 20, vec!["a", "b"]),]
    );
    assert_eq!(p.groups[0].passes[0].frames, (0, 19));
    assert_eq!(p.groups[4].passes[0].frames, (1, 19));
    assert_eq!(p.groups[4].steps(), 20);
    let split = plan(Split::Passes, three_objects()).unwrap();
    assert_eq!(split.groups.len(), 8);
    assert!(split.groups.iter().all(|g| g.passes.len() == 1));
    // Both groupings hold the same passes.
    let all = |p: &Plan| {
        let mut v: Vec<PlannedPass> = p.groups.iter().flat_map(|g| g.passes.clone()).collect();
        v.sort_by(|a, b| (a.direction, a.keyframe, &a.object).cmp(&(b.direction, b.keyframe, &b.object)));
        v
    };
    assert_eq!(all(&p), all(&split));
    // By direction: two tasks, walking frames 0-29 forward and 20-0 backward.
    let by_direction = plan(Split::Directions, three_objects()).unwrap();
    let summary: Vec<(Direction, usize, usize)> = by_direction.groups.iter().map(|g| (g.direction, g.passes.len(), g.steps())).collect();
    assert_eq!(summary, [(F, 5, 30), (B, 3, 21)]);
    assert_eq!(all(&by_direction), all(&p));
    assert_eq!(p.groups.iter().map(Group::steps).sum::<usize>(), 20 + 20 + 10 + 11 + 20, "keyframes: each walk whole");
}

#[test]
fn plans_round_trip_bit_for_bit_through_yaml() {
    let mut shots = three_objects();
    // Awkward floats and every prompt kind: the digests must read back unchanged.
    let tricky = KeyframePrompt {
        bbox: Some([0.1 + 0.2, 1.0 / 3.0, 64.0 - 8.0 * f64::EPSILON, 40.0 + 1e-13]),
        points: vec![PointPrompt { x: 1e-300, y: 47.9, positive: true }, PointPrompt { x: 2.0f64.sqrt(), y: 0.0, positive: false }],
        mask: Some(MaskPrompt::from_bits(64, 48, (0..64 * 48).map(|i| i % 7 == 0 || (1000..1500).contains(&i))).unwrap()),
    };
    shots[0].objects.push(PlanObject { name: "tricky".into(), keyframes: vec![PlanKeyframe::new(25, tricky)] });
    shots.push(shot("hall", 12, vec![object("door", &[11])]));
    let p = plan(Split::Keyframes, shots).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let digest = p.write(dir.path()).unwrap();
    let (read, read_digest) = Plan::read(dir.path()).unwrap();
    assert_eq!(read, p);
    assert_eq!(read_digest, digest);
    assert_eq!(digest, Plan::digest_of(&std::fs::read(dir.path().join(PLAN_FILE)).unwrap()));
    assert_eq!(read.shots[0].objects[3].keyframes[0].prompt.digest(), p.shots[0].objects[3].keyframes[0].prompt.digest());
    // Only the plan is left in the folder (no temporary file).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // The second shot's groups follow the first's.
    assert_eq!(p.groups.last().unwrap().shot, 1);
    let text = p.to_yaml().unwrap();
    assert!(text.contains("direction: forward") && text.contains("split: keyframes"), "{text}");
}

#[test]
fn damaged_or_inconsistent_plans_are_refused_naming_the_fault() {
    let p = plan(Split::Keyframes, three_objects()).unwrap();
    let text = p.to_yaml().unwrap();
    let refused = |t: &str| Plan::from_yaml(t, "plan.yaml").unwrap_err().to_string();

    let edited = text.replacen("- 10.0\n", "- 11.0\n", 1);
    assert_ne!(edited, text);
    let e = refused(&edited);
    assert!(e.contains("plan.yaml") && e.contains("object 'a' keyframe on frame 0") && e.contains("digest"), "{e}");

    let e = refused(&text.replacen("version: 1", "version: 2", 1));
    assert!(e.contains("version 2"), "{e}");
    let e = refused(&text.replacen("split: keyframes", "split: keyframes\n  extra: 1", 1));
    assert!(e.contains("extra"), "{e}");
    let e = refused(&text.replacen("split: keyframes", "split: passes", 1));
    assert!(e.contains("5 pass groups") && e.contains("give 8"), "{e}");

    let mut q = p.clone();
    q.groups[1].passes[0].frames = (10, 28);
    assert!(q.validate().unwrap_err().to_string().contains("pass group 1"));
    let mut q = p.clone();
    q.shots[0].range = (0, 30);
    assert!(q.validate().unwrap_err().to_string().contains("range 0-30"));
    let mut q = p.clone();
    q.shots[0].objects[1].name = "a".into();
    assert!(q.validate().unwrap_err().to_string().contains("repeated"));
    let mut q = p.clone();
    q.settings.image_size = 500;
    assert!(q.validate().unwrap_err().to_string().contains("image size 500"));
    assert!(plan(Split::Keyframes, vec![shot("x", 5, vec![object("a", &[7])])]).unwrap_err().to_string().contains("outside the clip"));
    assert_eq!(Split::parse("passes").unwrap(), Split::Passes);
    assert!(Split::parse("objects").is_err());
}
