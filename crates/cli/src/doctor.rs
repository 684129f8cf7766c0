//! `samurai-roto doctor`: what a support request needs, in one command.
//!
//! Versions (ours with the git description baked in at build time, libtorch's, the CUDA
//! runtime's), the CPU and what libtorch dispatches to on it, CUDA devices and the driver,
//! the checkpoint folders and what they hold, the machine's glibc and kernel, and whether
//! the helper starts from the plugin's point of view: found where the plugin finds it
//! (`samurai-roto-helper` beside this binary, which in the bundle is beside the plugin;
//! `SAMURAI_ROTO_HELPER` names another), started as the plugin starts it
//! (`samurai_core::launch`: clean environment, lifeline on standard input) and asked one
//! `Hello` within a bounded time.
//!
//! Exits 0 when the helper answered; otherwise the report is still printed and the last
//! line says why the helper could not start. "No CUDA device" is a normal outcome.
use anyhow::{bail, Result};
use samurai_core::cpu::{self, CpuInfo};
use samurai_core::launch;
use samurai_core::protocol as proto;
use samurai_core::settings::Precision;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct DoctorArgs {
    /// Print the report as JSON (one object) instead of text.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for the helper to start and answer.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    helper_timeout: u64,
}

#[derive(Serialize)]
struct Report {
    samurai_roto: Versions,
    system: System,
    cpu: Cpu,
    libtorch: Libtorch,
    cuda: Cuda,
    model_folders: Vec<Folder>,
    helper: Helper,
}

#[derive(Serialize)]
struct Versions {
    version: &'static str,
    git: &'static str,
    protocol: u32,
    executable: Option<PathBuf>,
}

#[derive(Serialize)]
struct System {
    glibc: String,
    kernel: Option<String>,
    os: Option<String>,
}

#[derive(Serialize)]
struct Cpu {
    model: Option<String>,
    logical_cpus: usize,
    /// Each of [`cpu::FLAGS`]: whether the kernel reports it.
    flags: Vec<(String, bool)>,
    /// What `--precision auto` (and the node's Auto) resolves to here with `--device auto`
    /// (CUDA when libtorch sees a device, else this CPU), and why.
    precision_auto: String,
}

#[derive(Serialize)]
struct Libtorch {
    /// From the loaded library's build settings (`TORCH_VERSION=`).
    version: Option<String>,
    /// The headers this build was compiled against.
    built_against: String,
    /// The libtorch this process mapped.
    library: Option<PathBuf>,
    /// What libtorch's CPU kernels dispatch to (DEFAULT, AVX2, AVX512).
    cpu_capability: Option<String>,
    onednn: bool,
    onednn_version: Option<String>,
    mkl: bool,
    openmp: bool,
    threads: i32,
    interop_threads: i32,
    cuda_runtime: Option<String>,
    /// `at::show_config()` in full.
    config: String,
}

#[derive(Serialize)]
struct Cuda {
    /// Whether this build's libtorch carries CUDA (libtorch_cuda loaded).
    libtorch_cuda: bool,
    available: bool,
    /// Devices libtorch sees, with their memory.
    devices: Vec<CudaDevice>,
    /// The NVIDIA kernel driver (`/proc/driver/nvidia/version`), if loaded.
    driver: Option<String>,
    /// GPUs the driver lists (`/proc/driver/nvidia/gpus/*/information`).
    driver_gpus: Vec<String>,
}

#[derive(Serialize)]
struct CudaDevice {
    index: i64,
    total_bytes: Option<i64>,
}

#[derive(Serialize)]
struct Folder {
    role: &'static str,
    from: &'static str,
    path: Option<PathBuf>,
    exists: bool,
    writable: bool,
    checkpoints: Vec<(String, u64)>,
    /// Why the folder could not be determined or read.
    problem: Option<String>,
}

#[derive(Serialize)]
struct Helper {
    path: Option<PathBuf>,
    found_by: &'static str,
    log: Option<PathBuf>,
    pid: Option<u32>,
    protocol: Option<u32>,
    answer_ms: Option<u64>,
    /// libtorch-family libraries the helper mapped (`/proc/<pid>/maps`).
    mapped: Vec<PathBuf>,
    error: Option<String>,
}

/// `samurai-roto doctor`.
pub fn doctor(args: &DoctorArgs) -> Result<()> {
    let cuda = cuda();
    let report = Report {
        samurai_roto: Versions {
            version: env!("CARGO_PKG_VERSION"),
            git: env!("SAMURAI_ROTO_GIT"),
            protocol: proto::VERSION,
            executable: std::env::current_exe().ok(),
        },
        system: system(),
        cpu: cpu(cuda.available),
        libtorch: libtorch(),
        cuda,
        model_folders: folders(),
        helper: helper(Duration::from_secs(args.helper_timeout)),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report));
    }
    if let Some(e) = &report.helper.error {
        bail!("the helper cannot start: {e}");
    }
    Ok(())
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn system() -> System {
    // SAFETY: gnu_get_libc_version takes no arguments and returns a pointer to a static,
    // NUL-terminated string owned by glibc.
    let glibc = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) }.to_string_lossy().into_owned();
    let os = read_trimmed("/etc/os-release")
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_owned())));
    System { glibc, kernel: read_trimmed("/proc/sys/kernel/osrelease"), os }
}

fn cpu(cuda: bool) -> Cpu {
    let info = CpuInfo::this_machine();
    Cpu {
        model: info.model.clone(),
        logical_cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        flags: cpu::FLAGS.iter().map(|f| (f.to_string(), info.has(f))).collect(),
        precision_auto: Precision::resolve(None, cuda).to_string(),
    }
}

/// The value after `key` on the first line of `config` that holds it (to the end of the
/// line, or the next comma for `KEY=value` build settings).
fn config_value(config: &str, key: &str) -> Option<String> {
    config.lines().find_map(|l| {
        let rest = &l[l.find(key)? + key.len()..];
        let v = if key.ends_with('=') { rest.split(',').next().unwrap_or("") } else { rest };
        Some(v.trim().to_owned()).filter(|v| !v.is_empty())
    })
}

/// Paths of the libraries mapped by process `pid` whose file names start with one of
/// `prefixes`, in the order of the map.
fn mapped_libs(pid: &str, prefixes: &[&str]) -> Vec<PathBuf> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let mut libs: Vec<PathBuf> = Vec::new();
    for path in maps.lines().filter_map(|l| l.split_whitespace().nth(5)).map(PathBuf::from) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if prefixes.iter().any(|p| name.starts_with(p)) && !libs.contains(&path) {
            libs.push(path);
        }
    }
    libs
}

/// Paths of the libtorch-family libraries (libtorch*, libc10*) mapped by process `pid`.
fn mapped_libtorch(pid: &str) -> Vec<PathBuf> {
    mapped_libs(pid, &["libtorch", "libc10"])
}

/// Whether this process loaded libtorch_cuda (a CUDA build), whether or not a device or a
/// driver is present: libtorch's own `hasCUDA()` is false without a visible device.
fn loads_libtorch_cuda() -> bool {
    mapped_libs("self", &["libtorch_cuda"]).iter().any(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("libtorch_cuda.")))
}

fn libtorch() -> Libtorch {
    let config = samurai_engine::ffi::libtorch_config().unwrap_or_else(|e| format!("(at::show_config failed: {e})"));
    let libtorch_cuda = loads_libtorch_cuda();
    // libtorch names its CUDA runtime's version only while a device is visible; otherwise
    // the runtime library this process loaded is named.
    let cuda_runtime = config_value(&config, "CUDA Runtime ").or_else(|| {
        let cudart = mapped_libs("self", &["libcudart"]).into_iter().next()?;
        Some(format!("{} (its version shows once a CUDA device is visible)", cudart.file_name()?.to_string_lossy()))
    });
    Libtorch {
        version: config_value(&config, "TORCH_VERSION="),
        built_against: samurai_engine::ffi::libtorch_header_version(),
        library: mapped_libtorch("self")
            .into_iter()
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("libtorch_cpu"))),
        cpu_capability: config_value(&config, "CPU capability usage:"),
        onednn: tch::utils::has_mkldnn(),
        onednn_version: config_value(&config, "Intel(R) MKL-DNN ").or_else(|| config_value(&config, "oneDNN ")),
        mkl: tch::utils::has_mkl(),
        openmp: tch::utils::has_openmp(),
        threads: tch::get_num_threads(),
        interop_threads: tch::get_num_interop_threads(),
        cuda_runtime: if libtorch_cuda { cuda_runtime } else { None },
        config,
    }
}

fn cuda() -> Cuda {
    let available = tch::Cuda::is_available();
    let count = if available { tch::Cuda::device_count() } else { 0 };
    let devices = (0..count)
        .map(|i| CudaDevice {
            index: i,
            total_bytes: i8::try_from(i)
                .ok()
                .and_then(|d| samurai_engine::ffi::cuda_memory_stats(d).ok())
                .map(|s| s.total_bytes)
                .filter(|b| *b >= 0),
        })
        .collect();
    let mut driver_gpus = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc/driver/nvidia/gpus") {
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for dir in entries {
            let info = std::fs::read_to_string(dir.join("information")).unwrap_or_default();
            let model = info.lines().find_map(|l| l.strip_prefix("Model:")).map(str::trim).unwrap_or("unknown model");
            driver_gpus.push(format!("{} at {}", model, dir.file_name().unwrap_or_default().to_string_lossy()));
        }
    }
    Cuda {
        libtorch_cuda: loads_libtorch_cuda(),
        available,
        devices,
        driver: read_trimmed("/proc/driver/nvidia/version").and_then(|v| v.lines().next().map(str::to_owned)),
        driver_gpus,
    }
}

fn folders() -> Vec<Folder> {
    let list = match samurai_core::models::model_folders() {
        Ok(l) => l,
        Err(e) => {
            return vec![Folder {
                role: "per-user cache",
                from: "",
                path: None,
                exists: false,
                writable: false,
                checkpoints: vec![],
                problem: Some(format!("{e:#}")),
            }]
        }
    };
    list.into_iter()
        .map(|f| {
            let exists = f.path.is_dir();
            let (mut checkpoints, mut problem) = (Vec::new(), None);
            if exists {
                match std::fs::read_dir(&f.path) {
                    Ok(entries) => {
                        for e in entries.flatten() {
                            let name = e.file_name().to_string_lossy().into_owned();
                            if name.ends_with(".pt") || name.ends_with(".pt.part") {
                                checkpoints.push((name, e.metadata().map_or(0, |m| m.len())));
                            }
                        }
                        checkpoints.sort();
                    }
                    Err(e) => problem = Some(format!("cannot list it: {e}")),
                }
            }
            // Writable: a file can be created there (and is removed at once).
            let writable = exists && tempfile::tempfile_in(&f.path).is_ok();
            Folder { role: f.role, from: f.from, path: Some(f.path), exists, writable, checkpoints, problem }
        })
        .collect()
}

fn helper(timeout: Duration) -> Helper {
    let mut report =
        Helper { path: None, found_by: "", log: None, pid: None, protocol: None, answer_ms: None, mapped: vec![], error: None };
    let beside = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf));
    report.found_by = if launch::helper_override().is_some() { launch::HELPER_ENV } else { "beside samurai-roto" };
    let bin = match (launch::helper_override(), beside) {
        (Some(p), _) => p,
        (None, Some(dir)) => launch::helper_path(&dir),
        (None, None) => {
            report.error = Some("cannot find where samurai-roto runs from (/proc/self/exe)".into());
            return report;
        }
    };
    report.path = Some(bin.clone());
    let level = std::env::var("SAMURAI_ROTO_LOG").unwrap_or_else(|_| "info".into());
    let log = launch::log_path();
    report.log = Some(log.clone());
    let began = Instant::now();
    let mut started = match launch::start(&bin, &log, &level) {
        Ok(s) => s,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    let pid = started.child.id();
    report.pid = Some(pid);
    let answer = (|| -> Result<u32> {
        let shm = launch::new_region()?;
        let mut stream = launch::open_connection(&started.lifeline, &shm)?;
        stream.set_read_timeout(Some(timeout))?;
        Ok(launch::hello(&mut stream)?)
    })();
    match answer {
        Ok(welcome_pid) => {
            report.answer_ms = Some(began.elapsed().as_millis() as u64);
            report.protocol = Some(proto::VERSION);
            report.mapped = mapped_libtorch(&welcome_pid.to_string());
        }
        Err(e) => {
            let timed_out = began.elapsed() >= timeout;
            // A helper that closed the connection is usually dying: give it a moment to end
            // so its exit status can be told.
            let settle = Instant::now() + Duration::from_secs(2);
            while !timed_out && matches!(started.child.try_wait(), Ok(None)) && Instant::now() < settle {
                std::thread::sleep(Duration::from_millis(10));
            }
            let how = match started.child.try_wait() {
                Ok(Some(status)) => launch::describe_exit(status),
                _ if timed_out => format!("did not answer within {} s", timeout.as_secs()),
                _ => format!("failed to answer ({e:#})"),
            };
            report.error =
                Some(format!("SamuraiRoto's helper {} (pid {pid}) {how}; its log {}:{}", bin.display(), log.display(), log_tail(&log)));
        }
    }
    // Closing the lifeline ends the helper, as when the host quits; a bounded wait, then kill.
    drop(started.lifeline);
    let deadline = Instant::now() + Duration::from_secs(5);
    while matches!(started.child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if matches!(started.child.try_wait(), Ok(None)) {
        let _ = started.child.kill();
        let _ = started.child.wait();
        if report.error.is_none() {
            report.error = Some(format!("SamuraiRoto's helper (pid {pid}) answered but did not exit within 5 s of its lifeline closing"));
        }
    }
    report
}

/// The last lines of the helper's log, indented (or a note that it is empty).
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return " (empty)".into();
    }
    lines[lines.len().saturating_sub(8)..].iter().fold(String::new(), |mut s, l| {
        let _ = write!(s, "\n    {l}");
        s
    })
}

fn gib(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    }
}

fn or_unknown<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "unknown".into(), |v| v.to_string())
}

fn text(r: &Report) -> String {
    let mut s = String::new();
    let v = &r.samurai_roto;
    let _ = writeln!(s, "samurai-roto");
    let _ = writeln!(s, "  version        {} ({}), helper protocol {}", v.version, v.git, v.protocol);
    let _ = writeln!(s, "  executable     {}", or_unknown(&v.executable.as_ref().map(|p| p.display())));
    let _ = writeln!(s, "system");
    let _ = writeln!(s, "  glibc          {}", r.system.glibc);
    let _ = writeln!(s, "  kernel         {}", or_unknown(&r.system.kernel));
    let _ = writeln!(s, "  os             {}", or_unknown(&r.system.os));
    let _ = writeln!(s, "cpu");
    let _ = writeln!(s, "  model          {} ({} logical CPUs)", or_unknown(&r.cpu.model), r.cpu.logical_cpus);
    let flags: Vec<String> = r.cpu.flags.iter().map(|(f, on)| format!("{}{f}", if *on { "+" } else { "-" })).collect();
    let _ = writeln!(s, "  flags          {}", flags.join(" "));
    let _ = writeln!(s, "  precision auto {}", r.cpu.precision_auto);
    let t = &r.libtorch;
    let _ = writeln!(s, "libtorch");
    let _ = writeln!(s, "  version        {} (built against {})", or_unknown(&t.version), t.built_against);
    let _ = writeln!(s, "  library        {}", or_unknown(&t.library.as_ref().map(|p| p.display())));
    let _ = writeln!(s, "  cpu capability {}", or_unknown(&t.cpu_capability));
    let onednn = if t.onednn { format!("yes ({})", or_unknown(&t.onednn_version)) } else { "no".into() };
    let _ = writeln!(s, "  oneDNN         {onednn}; MKL {}; OpenMP {}", yes(t.mkl), yes(t.openmp));
    let _ = writeln!(s, "  threads        {} intra-op, {} inter-op", t.threads, t.interop_threads);
    let _ = writeln!(s, "  cuda runtime   {}", t.cuda_runtime.as_deref().unwrap_or("none (this build loads no libtorch_cuda)"));
    let c = &r.cuda;
    let _ = writeln!(s, "cuda");
    if !c.libtorch_cuda {
        let _ = writeln!(s, "  devices        none: this build loads no CUDA libtorch (runs on the CPU)");
    } else if c.devices.is_empty() {
        let _ = writeln!(s, "  devices        none visible (runs on the CPU)");
    }
    for d in &c.devices {
        let _ = writeln!(s, "  device {:<7} {}", d.index, d.total_bytes.map_or("memory unknown".into(), |b| gib(b as u64)));
    }
    let _ = writeln!(s, "  driver         {}", c.driver.as_deref().unwrap_or("no NVIDIA driver loaded"));
    for g in &c.driver_gpus {
        let _ = writeln!(s, "  driver gpu     {g}");
    }
    let _ = writeln!(s, "model folders");
    for f in &r.model_folders {
        let state = match (&f.path, f.exists, f.writable) {
            (None, ..) => "unknown".to_owned(),
            (Some(_), false, _) => "does not exist yet".to_owned(),
            (Some(_), true, true) => "exists, writable".to_owned(),
            (Some(_), true, false) => "exists, read-only".to_owned(),
        };
        let path = or_unknown(&f.path.as_ref().map(|p| p.display()));
        let from = if f.from.is_empty() { String::new() } else { format!(", from {}", f.from) };
        let _ = writeln!(s, "  {path}  [{}{from}; {state}]", f.role);
        if let Some(p) = &f.problem {
            let _ = writeln!(s, "    problem: {p}");
        }
        if f.exists && f.checkpoints.is_empty() {
            let _ = writeln!(s, "    no checkpoints");
        }
        for (name, bytes) in &f.checkpoints {
            let _ = writeln!(s, "    {name}  {}", gib(*bytes));
        }
    }
    let h = &r.helper;
    let _ = writeln!(s, "helper");
    let _ = writeln!(s, "  program        {} (found {})", or_unknown(&h.path.as_ref().map(|p| p.display())), h.found_by);
    let _ = writeln!(s, "  log            {}", or_unknown(&h.log.as_ref().map(|p| p.display())));
    if h.error.is_none() {
        let _ = writeln!(
            s,
            "  started        yes: pid {}, protocol {}, answered in {} ms",
            or_unknown(&h.pid),
            or_unknown(&h.protocol),
            or_unknown(&h.answer_ms)
        );
        for m in &h.mapped {
            let _ = writeln!(s, "  mapped         {}", m.display());
        }
    } else {
        let _ = writeln!(s, "  started        NO (see the error below)");
    }
    s
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_are_read_from_show_config_lines() {
        let config = "PyTorch built with:\n  - Intel(R) MKL-DNN v3.7.1 (Git Hash 8d2)\n  - CPU capability usage: AVX512\n  - Build settings: BLAS_INFO=mkl, TORCH_VERSION=2.11.0, USE_CUDA=ON,\n";
        assert_eq!(config_value(config, "TORCH_VERSION=").as_deref(), Some("2.11.0"));
        assert_eq!(config_value(config, "CPU capability usage:").as_deref(), Some("AVX512"));
        assert_eq!(config_value(config, "Intel(R) MKL-DNN ").as_deref(), Some("v3.7.1 (Git Hash 8d2)"));
        assert_eq!(config_value(config, "CUDA Runtime "), None);
    }
}
