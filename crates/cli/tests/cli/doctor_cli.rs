//! `samurai-roto doctor`: the report's sections, the helper round trip from the build tree
//! (the helper beside the binary in target/, started with a clean environment as the plugin
//! starts it, in a clean environment as the archive test runs doctor), and clear non-zero
//! failures when the helper is missing, dies at start or never answers.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cli() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_samurai-roto"))
}

/// `doctor` in a clean environment (`env -i`, `PATH=/usr/bin:/bin`, a fresh `HOME`), the
/// helper's log in `tmp`, plus `extra`.
fn doctor(tmp: &Path, args: &[&str], extra: &[(&str, &str)]) -> (Output, String) {
    let home = tmp.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new(cli())
        .arg("doctor")
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &home)
        .env("SAMURAI_ROTO_HELPER_LOG", tmp.join("helper.log"))
        .envs(extra.iter().copied())
        .output()
        .expect("run samurai-roto doctor");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out, text)
}

#[test]
fn doctor_reports_every_section_and_starts_the_helper_beside_it() {
    let helper = cli().with_file_name("samurai-roto-helper");
    assert!(helper.is_file(), "{} not built: run `cargo build --workspace` first", helper.display());
    let tmp = tempfile::tempdir().unwrap();
    // A checkpoint in the per-user cache (the fresh HOME's): listed with its size.
    let cache = tmp.path().join("home/.cache/samurai-roto/checkpoints");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("sam2.1_hiera_tiny.pt"), vec![0u8; 3 << 20]).unwrap();
    let (out, text) = doctor(tmp.path(), &[], &[]);
    assert!(out.status.success(), "doctor failed:\n{text}");
    for section in ["samurai-roto\n", "system\n", "cpu\n", "libtorch\n", "cuda\n", "model folders\n", "helper\n"] {
        assert!(text.contains(section), "no '{}' section:\n{text}", section.trim());
    }
    let glibc = text.lines().find_map(|l| l.trim().strip_prefix("glibc")).map(str::trim).unwrap_or("");
    assert!(glibc.starts_with("2."), "glibc version '{glibc}':\n{text}");
    assert!(text.contains(&format!("version        {} (", env!("CARGO_PKG_VERSION"))), "{text}");
    let libtorch = text.lines().filter(|l| l.contains("built against")).find_map(|l| l.trim().strip_prefix("version")).unwrap_or("");
    assert!(libtorch.trim().starts_with("2."), "libtorch version line '{libtorch}':\n{text}");
    assert!(["DEFAULT", "AVX2", "AVX512"].iter().any(|c| text.contains(&format!("cpu capability {c}"))), "{text}");
    assert!(text.lines().any(|l| l.trim().starts_with("precision auto ") && l.contains("(auto: ")), "{text}");
    assert!(text.contains(&format!("{}  [per-user cache", cache.display())) && text.contains("sam2.1_hiera_tiny.pt  3.0 MiB"), "{text}");
    assert!(text.contains(&format!("program        {} (found beside samurai-roto)", helper.display())), "{text}");
    let started = text.lines().find(|l| l.contains("started        yes: pid ")).unwrap_or_else(|| panic!("no helper round trip:\n{text}"));
    assert!(started.contains(&format!("protocol {}", samurai_core::protocol::VERSION)), "{started}");
    assert!(text.lines().any(|l| l.contains("mapped") && l.contains("libtorch_cpu.so")), "the helper's libtorch is not listed:\n{text}");
}

#[test]
fn doctor_json_is_one_object_with_the_helper_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, text) = doctor(tmp.path(), &["--json"], &[]);
    assert!(out.status.success(), "doctor --json failed:\n{text}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"));
    assert_eq!(v["helper"]["protocol"], samurai_core::protocol::VERSION, "{text}");
    assert!(v["helper"]["pid"].as_u64().is_some_and(|p| p > 0) && v["helper"]["error"].is_null(), "{text}");
    assert!(v["libtorch"]["config"].as_str().is_some_and(|c| c.contains("TORCH_VERSION=")), "{text}");
    assert!(v["system"]["glibc"].as_str().is_some_and(|g| g.starts_with("2.")), "{text}");
    // What --precision auto resolves to on this machine, from its own CPU flags.
    let cuda = v["cuda"]["available"].as_bool().unwrap();
    let auto = samurai_core::settings::Precision::resolve(None, cuda).to_string();
    assert_eq!(v["cpu"]["precision_auto"].as_str(), Some(auto.as_str()), "{text}");
    assert!(auto.starts_with("fp32 (auto: ") || auto.starts_with("bf16 (auto: "), "{auto}");
}

#[test]
fn a_missing_helper_fails_with_a_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-helper");
    let (out, text) = doctor(tmp.path(), &[], &[("SAMURAI_ROTO_HELPER", missing.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let last = text.lines().last().unwrap_or("");
    assert!(last.starts_with("error: the helper cannot start") && last.contains("no-such-helper") && last.contains("is missing"), "{text}");
    assert!(text.contains("found SAMURAI_ROTO_HELPER") && text.contains("started        NO"), "{text}");
}

#[test]
fn a_helper_that_dies_or_never_answers_is_reported_within_the_timeout() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let script = |name: &str, body: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    };
    let dies = script("dies", "echo 'cannot load libtorch_cpu.so' >&2; exit 3");
    let (out, text) = doctor(tmp.path(), &[], &[("SAMURAI_ROTO_HELPER", dies.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("exited with status 3") && text.contains("cannot load libtorch_cpu.so"), "the exit and the log's tail:\n{text}");

    let silent = script("silent", "exec sleep 30");
    let began = std::time::Instant::now();
    let (out, text) = doctor(tmp.path(), &["--helper-timeout", "2"], &[("SAMURAI_ROTO_HELPER", silent.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("did not answer within 2 s"), "{text}");
    assert!(began.elapsed().as_secs() < 20, "doctor took {:?} with a 2 s timeout", began.elapsed());
}
