//! `samurai-roto farm`: a track split into farm tasks and merged gives `track`'s bits,
//! whatever the grouping and the order tasks ran in, through OpenJD's own runtime too;
//! killed, repeated and concurrent tasks; pass files that are missing, foreign, truncated
//! or damaged; frames changed after the plan.
use crate::cli_support;
use crate::common;

use samurai_core::track_cache::TrackCache;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SIZE: &str = "256";

fn exe() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_samurai-roto"));
    c.args(["--threads", "2"]);
    c
}

fn run(args: &[&str]) -> Output {
    exe().args(args).output().expect("run samurai-roto")
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn failure(o: Output) -> String {
    assert!(!o.status.success(), "expected a failure, got: {}", String::from_utf8_lossy(&o.stdout));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `<tmp>/bedroom` with the first `n` bedroom frames (links).
fn clip(tmp: &Path, n: usize) -> PathBuf {
    cli_support::linked_clip(tmp, "bedroom", n)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Three objects keyed on different frames and by different prompts: the girl on 0 and 4
/// (forward, blended and forward spans), the boy on 0 (forward), the lamp by a click on 5
/// (backward span).
fn prompts<'a>(ckpt: &'a Path, frames: &'a Path) -> Vec<&'a str> {
    vec![
        "--checkpoint",
        s(ckpt),
        "--frames",
        s(frames),
        "--object",
        "girl:0:310,0,515,400",
        "--object",
        "girl:4:300,10,520,420",
        "--object",
        "boy:0:145,135,295,405",
        "--point",
        "lamp:5:700,150,1",
        "--image-size",
        SIZE,
        "--device",
        "cpu",
        "--fill-hole-area",
        "0",
    ]
}

fn groups(job: &Path) -> usize {
    let plan = std::fs::read_to_string(job.join("plan.yaml")).unwrap();
    let plan: samurai_core::farm::Plan = serde_norway::from_str(&plan).unwrap();
    plan.groups.len()
}

/// Every file under `dir`, relative path → bytes.
fn files(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn openjd() -> PathBuf {
    common::root().join(".venv/bin/openjd")
}

#[test]
fn merged_passes_are_tracks_bits_for_every_grouping_in_any_order_and_under_openjd() {
    let tmp = tempfile::tempdir().unwrap();
    let frames = clip(tmp.path(), 6);
    let ckpt = common::tiny_checkpoint(256);
    let base = prompts(&ckpt, &frames);
    let track_out = tmp.path().join("track");
    let track_logits = tmp.path().join("track-logits");
    let mut args = vec!["track"];
    args.extend(&base);
    args.extend(["--out", s(&track_out), "--logits", s(&track_logits)]);
    ok(run(&args));
    let expected_mattes = files(&track_out);
    let expected_logits = files(&track_logits);
    assert_eq!(expected_mattes.len(), 18, "three objects, six frames");

    // Split by keyframe, run by OpenJD's runtime (each task in its own process, then the merge).
    let job_k = tmp.path().join("job-keyframes");
    let (out_k, logits_k, cache_k) = (tmp.path().join("out-k"), tmp.path().join("logits-k"), tmp.path().join("k.srtc"));
    let mut args = vec!["farm", "plan"];
    args.extend(&base);
    args.extend(["--job", s(&job_k), "--cache", s(&cache_k), "--out", s(&out_k), "--logits", s(&logits_k), "--first-frame", "1001"]);
    ok(run(&args));
    assert_eq!(groups(&job_k), 5, "forward from 0 (girl, boy), forward from 4 and 5, backward from 4 and 5");
    let template = job_k.join("template.json");
    let check = Command::new(openjd()).args(["check", s(&template)]).output().expect("openjd (scripts/setup.sh installs openjd-cli)");
    assert!(check.status.success(), "openjd check: {}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    let jd = Command::new(openjd()).args(["run", s(&template)]).output().expect("openjd run");
    assert!(jd.status.success(), "openjd run: {}{}", String::from_utf8_lossy(&jd.stdout), String::from_utf8_lossy(&jd.stderr));
    assert!(files(&out_k) == expected_mattes, "OpenJD job's mattes are track's, bit for bit");
    assert!(files(&logits_k) == expected_logits, "OpenJD job's logits are track's, bit for bit");

    // One task per pass, run last to first by hand.
    let job_p = tmp.path().join("job-passes");
    let (out_p, logits_p, cache_p) = (tmp.path().join("out-p"), tmp.path().join("logits-p"), tmp.path().join("p.srtc"));
    let mut args = vec!["farm", "plan"];
    args.extend(&base);
    args.extend(["--job", s(&job_p), "--split", "passes", "--cache", s(&cache_p), "--first-frame", "1001"]);
    ok(run(&args));
    let n = groups(&job_p);
    assert_eq!(n, 6, "one task per pass: girl forward from 0 and 4 and backward from 4, the boy forward from 0, the lamp both ways from 5");
    for g in (0..n).rev() {
        ok(run(&["farm", "pass", "--job", s(&job_p), "--pass", &g.to_string()]));
    }
    ok(run(&["farm", "merge", "--job", s(&job_p), "--cache", s(&cache_p), "--out", s(&out_p), "--logits", s(&logits_p)]));
    assert!(files(&out_p) == expected_mattes, "per-pass tasks' mattes are track's, bit for bit");
    assert!(files(&logits_p) == expected_logits, "per-pass tasks' logits are track's, bit for bit");

    // One task per direction: every pass of a direction in one session, in lockstep.
    let job_d = tmp.path().join("job-directions");
    let out_d = tmp.path().join("out-d");
    let mut args = vec!["farm", "plan"];
    args.extend(&base);
    args.extend(["--job", s(&job_d), "--split", "directions", "--out", s(&out_d)]);
    ok(run(&args));
    assert_eq!(groups(&job_d), 2, "forward and backward");
    for g in [1, 0] {
        ok(run(&["farm", "pass", "--job", s(&job_d), "--pass", &g.to_string()]));
    }
    ok(run(&["farm", "merge", "--job", s(&job_d), "--out", s(&out_d)]));
    assert!(files(&out_d) == expected_mattes, "per-direction tasks' mattes are track's, bit for bit");

    // The two caches hold the same frames, and finish to track's logits.
    let (ck, cp) = (
        TrackCache::from_bytes(&std::fs::read(&cache_k).unwrap()).unwrap(),
        TrackCache::from_bytes(&std::fs::read(&cache_p).unwrap()).unwrap(),
    );
    assert!(ck == cp, "same cache from both groupings");
    assert_eq!((ck.header.first_frame, ck.header.frames, ck.header.objects.len()), (1001, 6, 3));
    // --precision auto, resolved when planning, is the precision every pass ran at.
    assert_eq!(ck.header.precision, Some(samurai_core::settings::Precision::resolve(None, false).precision));
    for f in 0..6 {
        let low = ck.frame(1001 + f).unwrap();
        for (name, logits) in samurai_core::finish::finish_frame(low, (960, 540), false) {
            let t = common::read_npy(&track_logits.join(format!("{name}/{f:05}.npy")));
            let want = Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
            assert!(logits.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "cache frame {f} {name} finishes to track's logits");
        }
    }
}

#[test]
fn faults_killed_repeated_and_concurrent_tasks_bad_pass_files_and_changed_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let frames = clip(tmp.path(), 8);
    let ckpt = common::tiny_checkpoint(256);
    let plan = |job: &Path, object: &str| {
        ok(run(&[
            "farm",
            "plan",
            "--checkpoint",
            s(&ckpt),
            "--frames",
            s(&frames),
            "--object",
            object,
            "--image-size",
            SIZE,
            "--device",
            "cpu",
            "--job",
            s(job),
        ]))
    };
    let job = tmp.path().join("job");
    plan(&job, "girl:0:310,0,515,400");
    assert_eq!(groups(&job), 1);
    let pass_file = job.join("passes/0000.srfp");
    let pass = || run(&["farm", "pass", "--job", s(&job), "--pass", "0"]);
    let merge = |out: &Path| run(&["farm", "merge", "--job", s(&job), "--out", s(out)]);

    // Missing: the merge names the file.
    let err = failure(merge(&tmp.path().join("o0")));
    assert!(err.contains("0000.srfp"), "{err}");

    // Killed mid-task (SIGKILL, 0.6 s into a task of about 1.5 s: the model is loaded, the
    // passes are running): no pass file, at most a temporary, which the merge ignores and
    // clears; a re-run gives the result.
    let mut child = exe().args(["farm", "pass", "--job", s(&job), "--pass", "0"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(600));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!pass_file.exists(), "a killed task left a pass file");
    std::fs::create_dir_all(job.join("passes")).unwrap();
    std::fs::write(job.join("passes/.samuraiRoto-killed.tmp"), b"half a pass file").unwrap();
    let err = failure(merge(&tmp.path().join("o0k")));
    assert!(err.contains("0000.srfp") && err.contains("has not run"), "{err}");
    assert!(!job.join("passes/.samuraiRoto-killed.tmp").exists(), "the merge clears a killed task's temporary");
    ok(pass());
    let first = std::fs::read(&pass_file).unwrap();
    ok(merge(&tmp.path().join("o1")));
    let reference = files(&tmp.path().join("o1"));
    assert_eq!(reference.len(), 8);

    // A re-run overwrites its own file with the same bits; two copies at once leave one
    // valid file.
    ok(pass());
    assert!(std::fs::read(&pass_file).unwrap() == first, "a re-run task writes the same bits");
    let both = std::thread::scope(|sc| {
        let h: Vec<_> =
            (0..2).map(|_| sc.spawn(|| exe().args(["farm", "pass", "--job", s(&job), "--pass", "0"]).output().unwrap())).collect();
        h.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
    });
    both.into_iter().for_each(|o| {
        ok(o);
    });
    assert!(std::fs::read(&pass_file).unwrap() == first, "concurrent copies leave one valid file");
    let leftovers: Vec<_> = std::fs::read_dir(job.join("passes")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary left: {leftovers:?}");
    ok(merge(&tmp.path().join("o2")));
    assert!(files(&tmp.path().join("o2")) == reference, "the same mattes after the repeated and concurrent tasks");

    // Truncated, damaged and foreign pass files are refused, naming the file.
    std::fs::write(&pass_file, &first[..first.len() / 2]).unwrap();
    let err = failure(merge(&tmp.path().join("o3")));
    assert!(err.contains("0000.srfp") && err.contains("truncated or damaged"), "{err}");
    let mut damaged = first.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0x40;
    std::fs::write(&pass_file, &damaged).unwrap();
    let err = failure(merge(&tmp.path().join("o4")));
    assert!(err.contains("0000.srfp") && err.contains("truncated or damaged"), "{err}");
    let other = tmp.path().join("other");
    plan(&other, "girl:0:300,0,515,400");
    ok(run(&["farm", "pass", "--job", s(&other), "--pass", "0"]));
    std::fs::copy(other.join("passes/0000.srfp"), &pass_file).unwrap();
    let err = failure(merge(&tmp.path().join("o5")));
    assert!(err.contains("0000.srfp") && err.contains("plan"), "{err}");
    std::fs::write(&pass_file, &first).unwrap();
    ok(merge(&tmp.path().join("o6")));

    // A frame changed since the plan: the task refuses it, naming the frame.
    let changed = frames.join("00002.jpg");
    std::fs::remove_file(&changed).unwrap();
    std::os::unix::fs::symlink(common::clips().join("bedroom/00100.jpg"), &changed).unwrap();
    let err = failure(pass());
    assert!(err.contains("frame 2") && err.contains("00002.jpg") && err.contains("changed"), "{err}");
    assert!(std::fs::read(&pass_file).unwrap() == first, "a refused task leaves the earlier result alone");
}

#[test]
fn several_shots_plan_into_one_job_and_merge_per_shot() {
    let tmp = tempfile::tempdir().unwrap();
    let bedroom = clip(tmp.path(), 3);
    let dog = cli_support::linked_clip(tmp.path(), "dog", 3);
    let shots = tmp.path().join("shots.yaml");
    let yaml = "bedroom:\n  frames: bedroom\n  objects:\n    girl: { frame: 0, box: [310, 0, 515, 400] }\ndog:\n  frames: dog\n  objects:\n    dog: { frame: 2, box: [453, 375, 703, 555] }\n";
    std::fs::write(&shots, yaml).unwrap();
    let ckpt = common::tiny_checkpoint(256);
    let common_args = ["--checkpoint", s(&ckpt), "--image-size", SIZE, "--device", "cpu"];
    let job = tmp.path().join("job");
    let (out, cache) = (tmp.path().join("out"), tmp.path().join("caches"));
    let mut args = vec!["farm", "plan", "--shots", s(&shots), "--job", s(&job), "--out", s(&out), "--cache", s(&cache)];
    args.extend(common_args);
    let said = ok(run(&args));
    assert!(said.contains("planned 2 shot(s), 3 pass group(s)"), "{said}");
    // The girl forward from 0; the dog forward and backward from 2.
    for g in 0..3 {
        ok(run(&["farm", "pass", "--job", s(&job), "--pass", &g.to_string()]));
    }
    ok(run(&["farm", "merge", "--job", s(&job), "--out", s(&out), "--cache", s(&cache)]));
    for (shot, frames, object) in [("bedroom", &bedroom, "girl:0:310,0,515,400"), ("dog", &dog, "dog:2:453,375,703,555")] {
        let track_out = tmp.path().join(format!("track-{shot}"));
        let mut args = vec!["track", "--frames", s(frames), "--object", object, "--out", s(&track_out)];
        args.extend(common_args);
        ok(run(&args));
        assert!(files(&out.join(shot)) == files(&track_out), "shot {shot}: the merge's mattes are track's");
        let c = TrackCache::from_bytes(&std::fs::read(cache.join(format!("{shot}.srtc"))).unwrap()).unwrap();
        assert_eq!(c.header.frames, 3, "{shot}");
    }
}
