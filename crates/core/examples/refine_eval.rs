//! Runs the edge refinement on one plate for the evaluation harness
//! (`tools/matting-eval/eval.py`) and the benchmark, writing every output as `.npy`.
//!
//! ```text
//! cargo run --release -p samurai-roto-core --example refine_eval -- \
//!     --plate PLATE.png|PLATE.npy (--logits LOGITS.npy | --matte COARSE.npy) --out DIR \
//!     [--band PX] [--modes off,fast,quality] [--decontaminate] [--repeat N] [--settings YAML]
//! ```
//!
//! PLATE is an 8-bit PNG/JPEG or an `H × W × 3` float `.npy` (0..1); LOGITS a
//! low-resolution logit map of any size (upsampled bilinearly, then the sigmoid); COARSE
//! a soft matte at plate resolution (`--decontaminate` applies to the refined modes, not
//! to `off`). DIR receives `coarse.npy`, `trimap.npy`,
//! `alpha_<mode>.npy`, `fg_<mode>.npy` (with `--decontaminate`) and `timing.json`
//! (median milliseconds over `--repeat` runs of each stage). `--settings` overrides
//! [`RefineSettings`] fields inline, e.g. `"{guided: {radius: 6}}"`. With `--stages`, the
//! best time of each stage alone is printed instead; with `--faults`, the fast mode's
//! stages in `refine`'s order with the page faults of each (both need `--logits`).
use ndarray::{Array2, Array3};
use samurai_core::refine::{self, npy, RefineMode, RefineSettings};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Command-line options.
struct Args {
    plate: PathBuf,
    logits: Option<PathBuf>,
    matte: Option<PathBuf>,
    out: PathBuf,
    band: f32,
    modes: Vec<RefineMode>,
    decontaminate: bool,
    repeat: usize,
    settings: RefineSettings,
}

fn parse_args() -> Result<Args, String> {
    parse_args_from(std::env::args().skip(1))
}

fn parse_args_from(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        plate: PathBuf::new(),
        logits: None,
        matte: None,
        out: PathBuf::new(),
        band: 16.0,
        modes: vec![RefineMode::Off, RefineMode::Fast, RefineMode::Quality],
        decontaminate: false,
        repeat: 1,
        settings: RefineSettings::default(),
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--plate" => a.plate = value()?.into(),
            "--logits" => a.logits = Some(value()?.into()),
            "--matte" => a.matte = Some(value()?.into()),
            "--out" => a.out = value()?.into(),
            "--band" => a.band = value()?.parse().map_err(|e| format!("--band: {e}"))?,
            "--modes" => {
                a.modes = value()?.split(',').map(|m| RefineMode::parse(m).map_err(|e| e.to_string())).collect::<Result<_, _>>()?
            }
            "--decontaminate" => a.decontaminate = true,
            "--settings" => a.settings = serde_norway::from_str(&value()?).map_err(|e| format!("--settings: {e}"))?,
            "--repeat" => a.repeat = value()?.parse().map_err(|e| format!("--repeat: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.plate.as_os_str().is_empty() || a.out.as_os_str().is_empty() || a.logits.is_some() == a.matte.is_some() {
        return Err("usage: refine_eval --plate P (--logits L.npy | --matte M.npy) --out DIR [--band PX] [--modes off,fast,quality] [--decontaminate] [--repeat N] [--settings YAML]".into());
    }
    Ok(a)
}

/// The plate as `H × W × 3` f32 in 0..1.
fn read_plate(path: &Path) -> Result<Array3<f32>, String> {
    if path.extension().is_some_and(|e| e == "npy") {
        let a = npy::read(path).map_err(|e| e.to_string())?;
        return Array3::from_shape_vec((a.shape[0], a.shape[1], 3), a.data).map_err(|e| e.to_string());
    }
    let img = image::open(path).map_err(|e| format!("{}: {e}", path.display()))?.to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let data = img.into_raw().into_iter().map(|v| v as f32 / 255.0).collect();
    Array3::from_shape_vec((h, w, 3), data).map_err(|e| e.to_string())
}

fn read2(path: &Path) -> Result<Array2<f32>, String> {
    let a = npy::read(path).map_err(|e| e.to_string())?;
    Array2::from_shape_vec((a.shape[0], a.shape[1]), a.data).map_err(|e| e.to_string())
}

/// Runs `f` `n` times; returns the last result and the median time in milliseconds.
fn timed<T>(n: usize, mut f: impl FnMut() -> T) -> (T, f64) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..n.max(1) {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    (last.expect("ran once"), times[times.len() / 2])
}

fn save2(dir: &Path, name: &str, a: &Array2<f32>) -> Result<(), String> {
    let a = a.as_standard_layout();
    npy::write_f32(&dir.join(name), &[a.nrows(), a.ncols()], a.as_slice().expect("standard")).map_err(|e| e.to_string())
}

fn run(a: &Args) -> Result<(), String> {
    std::fs::create_dir_all(&a.out).map_err(|e| e.to_string())?;
    let plate = read_plate(&a.plate)?;
    let (h, w, _) = plate.dim();
    let mut timing = vec![format!("\"threads\": {}", rayon::current_num_threads())];
    let coarse = match (&a.logits, &a.matte) {
        (Some(l), _) => {
            let logits = read2(l)?;
            let (c, ms) = timed(a.repeat, || refine::coarse_alpha_from_logits(logits.view(), h, w));
            timing.push(format!("\"upsample_ms\": {ms:.3}"));
            c
        }
        (_, Some(m)) => read2(m)?,
        _ => unreachable!("checked in parse_args"),
    };
    save2(&a.out, "coarse.npy", &coarse)?;
    for &mode in &a.modes {
        let decontaminate = a.decontaminate && mode != RefineMode::Off;
        let s = RefineSettings { mode, band_px: a.band, decontaminate, ..a.settings };
        // Each run's matte is dropped before the next run starts, as a render loop drops a
        // frame's (keeping them all made every run start on fresh pages: about 12 ms more
        // per HD frame on this project's virtual machines, where a page fault costs about
        // 2.6 µs).
        let mut runs = Vec::new();
        let mut last = None;
        for _ in 0..a.repeat.max(1) {
            drop(last.take());
            let t = Instant::now();
            let r = refine::refine(plate.view(), coarse.view(), &s).map_err(|e| e.to_string())?;
            runs.push((t.elapsed().as_secs_f64() * 1e3, r.stats));
            last = Some(r);
        }
        let median = |f: &dyn Fn(&(f64, refine::RefineStats)) -> f64| {
            let mut v: Vec<f64> = runs.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (total, band, alpha, fg) =
            (median(&|r| r.0), median(&|r| r.1.band_ms), median(&|r| r.1.alpha_ms), median(&|r| r.1.foreground_ms));
        let min = |f: &dyn Fn(&(f64, refine::RefineStats)) -> f64| runs.iter().map(f).fold(f64::INFINITY, f64::min);
        let (min_total, min_fg) = (min(&|r| r.0), min(&|r| r.1.foreground_ms));
        let min_refine = min(&|r| r.1.band_ms + r.1.alpha_ms + r.1.fit_ms);
        let fit = median(&|r| r.1.fit_ms);
        let r = last.as_ref().expect("ran once");
        save2(&a.out, &format!("alpha_{}.npy", mode.name()), &r.alpha)?;
        if mode != RefineMode::Off {
            let t = r.trimap.as_standard_layout();
            npy::write_u8(&a.out.join("trimap.npy"), &[h, w], t.as_slice().expect("standard")).map_err(|e| e.to_string())?;
        }
        if !r.weight.is_empty() {
            save2(&a.out, &format!("weight_{}.npy", mode.name()), &r.weight)?;
        }
        if let Some(fg) = &r.foreground {
            let fg = fg.as_standard_layout();
            npy::write_f32(&a.out.join(format!("fg_{}.npy", mode.name())), &[h, w, 3], fg.as_slice().expect("standard"))
                .map_err(|e| e.to_string())?;
        }
        let solve = r.stats.solve.map_or(String::new(), |s| {
            format!(
                ", \"unknowns\": {}, \"cg_iterations\": {}, \"relative_residual\": {:e}, \"assemble_ms\": {:.1}, \"setup_ms\": {:.1}, \"solve_ms\": {:.1}, \"ichol_shift\": {}",
                s.unknowns, s.iterations, s.relative_residual, s.assemble_ms, s.setup_ms, s.solve_ms, s.ichol_shift.map_or("null".into(), |v| v.to_string())
            )
        });
        let line = format!(
            "\"total_ms\": {total:.2}, \"min_total_ms\": {min_total:.2}, \"min_foreground_ms\": {min_fg:.2}, \"min_refine_ms\": {min_refine:.2}, \"band_ms\": {band:.2}, \"alpha_ms\": {alpha:.2}, \"foreground_ms\": {fg:.2}, \"fit_ms\": {fit:.2}, \"band_pixels\": {}, \"refined_fraction\": {:.4}, \"fallback_fraction\": {:.4}, \"outcome\": \"{:?}\"{solve}",
            r.stats.band_pixels,
            r.stats.refined_share,
            1.0 - r.stats.refined_share,
            r.stats.outcome
        );
        eprintln!("{:8} {line}", mode.name());
        timing.push(format!("\"{}\": {{{line}}}", mode.name()));
    }
    std::fs::write(a.out.join("timing.json"), format!("{{{}}}\n", timing.join(", "))).map_err(|e| e.to_string())
}

/// `--stages`: the minimum time of every stage of the fast and quality modes over
/// `--repeat` runs, printed (a profile of where the time goes).
fn bench_stages(a: &Args) -> Result<(), String> {
    use samurai_core::refine::{band, closed_form_alpha, fast, fit, guided, image};
    let plate = read_plate(&a.plate)?;
    let (h, w, _) = plate.dim();
    let logits = read2(a.logits.as_ref().ok_or("--stages needs --logits")?)?;
    let n = a.repeat.max(1);
    let best = |name: &str, f: &mut dyn FnMut()| {
        let ms = (0..n)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .fold(f64::INFINITY, f64::min);
        eprintln!("{name:28} {ms:8.2} ms");
    };
    let s = a.settings;
    let coarse = refine::coarse_alpha_from_logits(logits.view(), h, w);
    best("upsample+sigmoid", &mut || drop(refine::coarse_alpha_from_logits(logits.view(), h, w)));
    let (_, unc) = band::contour_and_uncertain(coarse.view(), s.uncertain.0, s.uncertain.1);
    best("band: contour, uncertain", &mut || drop(band::contour_and_uncertain(coarse.view(), s.uncertain.0, s.uncertain.1)));
    best("band: dilate", &mut || drop(band::dilate(unc.view(), a.band)));
    let tri = band::trimap(coarse.view(), a.band, s.uncertain, s.band_cap);
    best("band: trimap (all)", &mut || drop(band::trimap(coarse.view(), a.band, s.uncertain, s.band_cap)));
    let f = s.fast.factor(h, w);
    best("fast: downsample plate", &mut || drop(image::downsample_box(plate.view(), f)));
    let small = image::downsample_box(plate.view(), f);
    let cs = image::downsample_box2(coarse.view(), f);
    let ts = band::downsample_trimap(tri.view(), f);
    best("fast: downsample trimap", &mut || drop(band::downsample_trimap(tri.view(), f)));
    best("fast: closed form", &mut || drop(closed_form_alpha(small.view(), ts.view(), Some(cs.view()), &s.fast.closed_form)));
    let (al, _) = closed_form_alpha(small.view(), ts.view(), Some(cs.view()), &s.fast.closed_form);
    best("fast: noise estimate", &mut || {
        std::hint::black_box(image::estimate_noise(plate.view()));
    });
    best("fast: coefficients (all)", &mut || drop(guided::guided_coefficients(small.view(), al.view(), &s.fast.guided)));
    let coef = guided::guided_coefficients(small.view(), al.view(), &s.fast.guided);
    best("fast: upsample in band", &mut || drop(guided::upsample_in_band(coef.view(), plate.view(), tri.view(), f)));
    best("fast: fast_alpha", &mut || drop(fast::fast_alpha(plate.view(), coarse.view(), tri.view(), &s.fast)));
    let (fa, _) = fast::fast_alpha(plate.view(), coarse.view(), tri.view(), &s.fast);
    best("fit: weights", &mut || drop(fit::solved_weight(plate.view(), tri.view(), coarse.view(), fa.view(), a.band, &s.fit)));
    best("foreground (band only)", &mut || drop(refine::estimate_foreground_ml(plate.view(), fa.view(), &s.foreground)));
    let mut q = None;
    best("quality: closed form", &mut || q = Some(closed_form_alpha(plate.view(), tri.view(), Some(coarse.view()), &s.closed_form)));
    eprintln!("quality solve: {:?}", q.map(|q| q.1));
    Ok(())
}

/// Minor page faults of this process so far (`/proc/self/stat`, field 10).
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    after.split_whitespace().nth(7).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// `--faults`: the fast mode's stages in the order `refine` runs them, `--repeat` times,
/// with the milliseconds and page faults of each in the last run (on a virtual machine a
/// fresh page can cost microseconds).
fn fault_profile(a: &Args) -> Result<(), String> {
    use samurai_core::refine::{band, closed_form_alpha, fast, fit, guided, image};
    let plate = read_plate(&a.plate)?;
    let (h, w, _) = plate.dim();
    let logits = read2(a.logits.as_ref().ok_or("--faults needs --logits")?)?;
    let s = a.settings;
    let coarse = refine::coarse_alpha_from_logits(logits.view(), h, w);
    let mut lines = Vec::new();
    for _ in 0..a.repeat.max(1) {
        lines.clear();
        let mut stage = |name: &str, f: &mut dyn FnMut()| {
            let (f0, t) = (minor_faults(), Instant::now());
            f();
            lines.push(format!("{name:28} {:8.2} ms {:7} faults", t.elapsed().as_secs_f64() * 1e3, minor_faults() - f0));
        };
        let mut tri = None;
        stage("band: trimap", &mut || tri = Some(band::trimap(coarse.view(), a.band, s.uncertain, s.band_cap)));
        let tri = tri.expect("ran");
        let f = s.fast.factor(h, w);
        let (mut small, mut cs, mut ts) = (None, None, None);
        stage("fast: downsample", &mut || {
            small = Some(image::downsample_box(plate.view(), f));
            cs = Some(image::downsample_box2(coarse.view(), f));
            ts = Some(band::downsample_trimap(tri.view(), f));
        });
        let (small, cs, ts) = (small.expect("ran"), cs.expect("ran"), ts.expect("ran"));
        let mut al = None;
        stage("fast: closed form", &mut || al = Some(closed_form_alpha(small.view(), ts.view(), Some(cs.view()), &s.fast.closed_form).0));
        let al = al.expect("ran");
        let mut sigma = 0.0;
        stage("fast: noise estimate", &mut || sigma = image::estimate_noise(plate.view()));
        let mut gp = s.fast.guided;
        gp.epsilon += gp.noise_factor * (sigma * sigma) as f32;
        let mut coef = None;
        stage("fast: coefficients (band)", &mut || coef = Some(fast::band_coefficients(small.view(), al.view(), ts.view(), &gp)));
        let coef = coef.expect("ran");
        let mut fa = None;
        stage("fast: upsample in band", &mut || fa = Some(guided::upsample_in_band(coef.view(), plate.view(), tri.view(), f)));
        let fa = fa.expect("ran");
        stage("fit: weights", &mut || drop(fit::solved_weight(plate.view(), tri.view(), coarse.view(), fa.view(), a.band, &s.fit)));
    }
    lines.iter().for_each(|l| eprintln!("{l}"));
    Ok(())
}

fn main() {
    // `--faults` and `--stages` pick a profile instead of the evaluation run; the other
    // arguments are the same.
    let profiles: [(&str, fn(&Args) -> Result<(), String>); 2] = [("--faults", fault_profile), ("--stages", bench_stages)];
    let chosen = profiles.iter().find(|(flag, _)| std::env::args().any(|a| a == *flag));
    let result = match chosen {
        Some(&(flag, profile)) => parse_args_from(std::env::args().skip(1).filter(|a| a != flag)).and_then(|a| profile(&a)),
        None => parse_args().and_then(|a| run(&a)),
    };
    if let Err(e) = result {
        eprintln!("refine_eval: {e}");
        std::process::exit(2);
    }
}
