use super::tests::{object, plan, shot, three_objects};
use super::*;
use serde_norway::Value;

fn strings(v: &Value) -> Vec<&str> {
    v.as_sequence().unwrap().iter().map(|a| a.as_str().unwrap()).collect()
}

#[test]
fn the_openjd_template_runs_one_pass_task_per_group_then_the_merge() {
    let p = plan(Split::Keyframes, three_objects()).unwrap();
    let merge_args: Vec<String> = ["--cache", "/caches/bed room.srtc", "--out", "/out/{{x}}", "--format", "png"].map(String::from).to_vec();
    let text = openjd_template(&p, Path::new("/jobs/bed room"), Path::new("/opt/samurai-roto"), &merge_args);
    let t: Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(t["specificationVersion"].as_str(), Some("jobtemplate-2023-09"));
    assert_eq!(t["name"].as_str(), Some("SamuraiRoto analysis: bedroom"));
    let params = t["parameterDefinitions"].as_sequence().unwrap();
    let summary: Vec<(&str, &str, &str)> =
        params.iter().map(|p| (p["name"].as_str().unwrap(), p["type"].as_str().unwrap(), p["default"].as_str().unwrap())).collect();
    // The argument holding `{{` travels as a parameter: a template argument cannot hold it.
    // PATH defaults are relative to the template's folder (the job folder); the program is a
    // string (a PATH default cannot leave the template's folder).
    assert_eq!(summary, [("JobDir", "PATH", "."), ("SamuraiRoto", "STRING", "/opt/samurai-roto"), ("MergeArg3", "STRING", "/out/{{x}}")]);
    assert_eq!((params[0]["objectType"].as_str(), params[0]["dataFlow"].as_str()), (Some("DIRECTORY"), Some("INOUT")));
    assert!(params[0]["description"].as_str().unwrap().ends_with("planned as /jobs/bed room"));

    let steps = t["steps"].as_sequence().unwrap();
    assert_eq!(steps.len(), 2);
    let pass = &steps[0];
    assert_eq!(pass["name"].as_str(), Some("Pass"));
    let group = &pass["parameterSpace"]["taskParameterDefinitions"][0];
    assert_eq!((group["name"].as_str(), group["type"].as_str(), group["range"].as_str()), (Some("Group"), Some("INT"), Some("0-4")));
    let run = &pass["script"]["actions"]["onRun"];
    assert_eq!(run["command"].as_str(), Some("{{Param.SamuraiRoto}}"));
    assert_eq!(strings(&run["args"]), ["farm", "pass", "--job", "{{Param.JobDir}}", "--pass", "{{Task.Param.Group}}"]);
    assert!(pass.get("dependencies").is_none());

    let merge = &steps[1];
    assert_eq!(merge["name"].as_str(), Some("Merge"));
    assert_eq!(merge["dependencies"][0]["dependsOn"].as_str(), Some("Pass"));
    assert!(merge.get("parameterSpace").is_none());
    let run = &merge["script"]["actions"]["onRun"];
    assert_eq!(run["command"].as_str(), Some("{{Param.SamuraiRoto}}"));
    assert_eq!(
        strings(&run["args"]),
        [
            "farm",
            "merge",
            "--job",
            "{{Param.JobDir}}",
            "--cache",
            "/caches/bed room.srtc",
            "--out",
            "{{Param.MergeArg3}}",
            "--format",
            "png"
        ]
    );
}

#[test]
fn openjd_names_and_ranges_fit_the_specification() {
    // One group: a range of one value.
    let p = plan(Split::Keyframes, vec![shot("a", 5, vec![object("o", &[0])])]).unwrap();
    assert_eq!(p.groups.len(), 1);
    let t: Value = serde_norway::from_str(&openjd_template(&p, Path::new("/j"), Path::new("/x"), &[])).unwrap();
    assert_eq!(t["steps"][0]["parameterSpace"]["taskParameterDefinitions"][0]["range"].as_str(), Some("0"));
    assert_eq!(strings(&t["steps"][1]["script"]["actions"]["onRun"]["args"]), ["farm", "merge", "--job", "{{Param.JobDir}}"]);

    // Many shots, awkward names: at most 128 characters, no braces or control characters.
    let shots: Vec<Shot> = (0..20).map(|i| shot(&format!("shot{{{{{i}}}}}\té"), 3, vec![object("o", &[1])])).collect();
    let p = plan(Split::Keyframes, shots).unwrap();
    let t: Value = serde_norway::from_str(&openjd_template(&p, Path::new("/j"), Path::new("/x"), &[])).unwrap();
    let name = t["name"].as_str().unwrap();
    assert_eq!(name.chars().count(), 128);
    assert!(name.starts_with("SamuraiRoto analysis: shot((0)) é, shot((1))"), "{name}");
    assert!(!name.contains(['{', '}', '\t']), "{name}");
    assert_eq!(t["steps"][0]["parameterSpace"]["taskParameterDefinitions"][0]["range"].as_str(), Some("0-39"));

    // No group (no keyframe): the merge alone.
    let p = plan(Split::Keyframes, vec![shot("a", 5, vec![object("o", &[])])]).unwrap();
    let t: Value = serde_norway::from_str(&openjd_template(&p, Path::new("/j"), Path::new("/x"), &[])).unwrap();
    let steps = t["steps"].as_sequence().unwrap();
    assert_eq!((steps.len(), steps[0]["name"].as_str(), steps[0].get("dependencies")), (1, Some("Merge"), None));
}

/// What bash makes of `words` (each already quoted): one line per argument.
fn bash_words(words: &str) -> String {
    let out = std::process::Command::new("bash").arg("-c").arg(format!("printf '%s\\n' {words}")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn shell_quoting_keeps_every_argument_whole() {
    assert_eq!(shell_quote("/opt/samurai-roto"), "/opt/samurai-roto");
    assert_eq!(shell_quote("it's"), r"'it'\''s'");
    assert_eq!(shell_quote(""), "''");
    let awkward = ["plain", "", "two words", "it's", "$HOME", "`id`", "a\"b", "back\\slash", "*", "~", "new\nline", "'", "%a", "-x", "é"];
    let quoted: Vec<String> = awkward.iter().map(|s| shell_quote(s)).collect();
    let expected: String = awkward.iter().map(|s| format!("{s}\n")).collect();
    assert_eq!(bash_words(&quoted.join(" ")), expected);
}

#[test]
fn slurm_scripts_run_one_array_task_per_group_then_the_merge() {
    let p = plan(Split::Keyframes, three_objects()).unwrap();
    let merge_args: Vec<String> = ["--out", "/out/it's here", "--format", "exr"].map(String::from).to_vec();
    let (pass, merge) =
        slurm_scripts(&p, Path::new("/jobs/bed room/100%"), Path::new("/opt/samurai roto/bin/samurai-roto"), &merge_args, Some(4));
    let lines: Vec<&str> = pass.lines().collect();
    assert_eq!(lines[0], "#!/bin/bash");
    assert!(lines.contains(&"#SBATCH --job-name=\"SamuraiRoto pass: bedroom\""), "{pass}");
    assert!(lines.contains(&"#SBATCH --output=\"/jobs/bed room/100%%/slurm/pass-%a.log\""), "{pass}");
    assert!(lines.contains(&"#SBATCH --array=0-4"), "{pass}");
    assert!(lines.contains(&"#SBATCH --cpus-per-task=4"), "{pass}");
    assert_eq!(
        *lines.last().unwrap(),
        "exec '/opt/samurai roto/bin/samurai-roto' --threads \"${SLURM_CPUS_PER_TASK:-0}\" farm pass --job '/jobs/bed room/100%' --pass \"$SLURM_ARRAY_TASK_ID\""
    );
    // Every #SBATCH line comes before the first command.
    let first_command = lines.iter().position(|l| !l.starts_with('#')).unwrap();
    assert!(lines[first_command..].iter().all(|l| !l.starts_with("#SBATCH")));

    let lines: Vec<&str> = merge.lines().collect();
    assert!(lines.contains(&"#SBATCH --output=\"/jobs/bed room/100%%/slurm/merge.log\""), "{merge}");
    assert!(lines.contains(&"#SBATCH --job-name=\"SamuraiRoto merge: bedroom\""), "{merge}");
    assert!(!merge.contains("--array"));
    let exec = *lines.last().unwrap();
    assert_eq!(
        exec,
        r"exec '/opt/samurai roto/bin/samurai-roto' farm merge --job '/jobs/bed room/100%' --out '/out/it'\''s here' --format exr"
    );
    // The shell reads the merge's words back as given.
    let words = exec.strip_prefix("exec ").unwrap();
    assert_eq!(
        bash_words(words),
        "/opt/samurai roto/bin/samurai-roto\nfarm\nmerge\n--job\n/jobs/bed room/100%\n--out\n/out/it's here\n--format\nexr\n"
    );
    for script in [&pass, &merge] {
        let check = std::process::Command::new("bash").arg("-n").arg("-c").arg(script).status().unwrap();
        assert!(check.success(), "{script}");
    }

    // A double quote or backslash in a name is escaped for sbatch's own parser.
    let p = plan(Split::Keyframes, vec![shot("say \"hi\"\\", 5, vec![object("o", &[0])])]).unwrap();
    let (pass, _) = slurm_scripts(&p, Path::new("/j"), Path::new("/x"), &[], None);
    assert!(pass.contains(r#"#SBATCH --job-name="SamuraiRoto pass: say \"hi\"\\""#), "{pass}");
    assert!(pass.contains("#SBATCH --array=0\n") || pass.contains("#SBATCH --array=0-0\n"), "{pass}");
}
