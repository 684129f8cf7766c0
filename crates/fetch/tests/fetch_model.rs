//! The model download against a local HTTP server on 127.0.0.1 (loopback only, bounded in
//! time) serving the random tiny checkpoint fixture, a cut copy and an HTML page:
//! - a download reports several increasing progress values and leaves exactly the file,
//!   equal to the one served, under its official name;
//! - a cancel mid-download stops it and leaves nothing behind;
//! - a body shorter than its Content-Length, a whole body that is a cut checkpoint, and an
//!   HTML page are refused with the file's name and the address, leaving nothing;
//! - the studio folder is searched first (no request made), then the user cache;
//! - with the server down (connection refused) the message names the address, the file
//!   name and the folder to put it in.
#[path = "../../ofx/tests/common/mod.rs"]
mod common;
mod support;

use samurai_core::config::ModelSize;
use samurai_core::models::{file_name, STUDIO_MODELS_ENV, TEST_DOWNLOAD_BASE_ENV, USER_CACHE_ENV};
use samurai_fetch::{download, ensure, FetchError};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::http::serve;

fn fixture() -> Arc<Vec<u8>> {
    static BODY: Mutex<Option<Arc<Vec<u8>>>> = Mutex::new(None);
    BODY.lock().unwrap().get_or_insert_with(|| Arc::new(std::fs::read(common::tiny_checkpoint(256)).unwrap())).clone()
}

/// Names of the entries of `dir` (hidden `.part` files included).
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

const NAME: &str = "sam2.1_hiera_tiny.pt";

#[test]
fn a_download_reports_progress_and_lands_whole_under_its_name() {
    let body = fixture();
    let server = serve(body.clone());
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("models").join(NAME);
    let mut seen = Vec::new();
    download(&format!("{}/ok/{NAME}", server.base), &dest, "advice", &mut |done, total| {
        seen.push((done, total));
        true
    })
    .unwrap();
    assert!(std::fs::read(&dest).unwrap() == *body, "the file differs from the body served");
    assert_eq!(entries(dest.parent().unwrap()), [NAME], "only the file stays");
    let dones: Vec<u64> = seen.iter().map(|(d, _)| *d).collect();
    assert!(dones.len() >= 5 && dones.windows(2).all(|w| w[0] <= w[1]), "progress: {dones:?}");
    assert!(dones.windows(2).filter(|w| w[0] < w[1]).count() >= 4, "several increasing values: {dones:?}");
    assert_eq!(seen.last().copied(), Some((body.len() as u64, Some(body.len() as u64))));
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
}

#[test]
fn a_cancel_mid_download_stops_it_and_leaves_nothing() {
    let server = serve(fixture());
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join(NAME);
    let mut calls = 0;
    let e = download(&format!("{}/ok/{NAME}", server.base), &dest, "advice", &mut |done, _| {
        calls += 1;
        calls < 4 || done == 0
    })
    .unwrap_err();
    assert!(matches!(e, FetchError::Cancelled { .. }), "{e}");
    assert!(e.to_string().contains(NAME) && e.to_string().contains("cancelled"), "{e}");
    assert_eq!(calls, 4, "progress was asked after the cancel");
    assert!(entries(dir.path()).is_empty(), "left behind: {:?}", entries(dir.path()));
}

#[test]
fn a_short_body_a_cut_checkpoint_and_an_html_page_are_refused_by_name_leaving_nothing() {
    let server = serve(fixture());
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join(NAME);
    for (route, want) in
        [("short", "cut short"), ("half", "did not send a SAM 2.1 checkpoint"), ("html", "did not send a SAM 2.1 checkpoint")]
    {
        let url = format!("{}/{route}/{NAME}", server.base);
        let e = download(&url, &dest, "Put it there by hand.", &mut |_, _| true).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains(NAME) && e.contains(&url) && e.contains("nothing was kept"), "{route}: {e}");
        assert!(e.ends_with("Put it there by hand."), "{route}: {e}");
        assert!(entries(dir.path()).is_empty(), "{route}: left behind {:?}", entries(dir.path()));
        eprintln!("fetch_model: {route}: {e}");
    }
    let e = download(&format!("{}/missing/{NAME}", server.base), &dest, "advice", &mut |_, _| true).unwrap_err().to_string();
    assert!(e.contains("HTTP 404") && e.contains(NAME), "{e}");
    assert!(entries(dir.path()).is_empty());
}

/// The environment is the process's: the tests that set it take turns.
static ENV: Mutex<()> = Mutex::new(());

#[test]
fn the_studio_folder_is_searched_first_then_the_user_cache_then_the_server() {
    let _env = ENV.lock().unwrap_or_else(|p| p.into_inner());
    let body = fixture();
    let server = serve(body.clone());
    let (studio, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::env::set_var(STUDIO_MODELS_ENV, studio.path());
    std::env::set_var(USER_CACHE_ENV, cache.path());
    std::env::set_var(TEST_DOWNLOAD_BASE_ENV, format!("{}/ok", server.base));
    std::fs::write(studio.path().join(NAME), b"pre-seeded by the TD").unwrap();
    std::fs::write(cache.path().join(NAME), b"in the user cache").unwrap();
    let mut asked = false;
    assert_eq!(
        ensure(ModelSize::Tiny, &mut |_, _| {
            asked = true;
            true
        })
        .unwrap(),
        studio.path().join(NAME)
    );
    std::fs::remove_file(studio.path().join(NAME)).unwrap();
    assert_eq!(ensure(ModelSize::Tiny, &mut |_, _| true).unwrap(), cache.path().join(NAME));
    assert!(!asked && server.requests.load(Ordering::SeqCst) == 0, "a present model was downloaded");
    std::fs::remove_file(cache.path().join(NAME)).unwrap();
    let got = ensure(ModelSize::Tiny, &mut |_, _| true).unwrap();
    assert_eq!(got, cache.path().join(NAME), "downloads go to the user cache");
    assert!(entries(studio.path()).is_empty(), "the studio folder is never written");
    assert!(std::fs::read(&got).unwrap() == *body);
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
    for v in [STUDIO_MODELS_ENV, USER_CACHE_ENV, TEST_DOWNLOAD_BASE_ENV] {
        std::env::remove_var(v);
    }
}

#[test]
fn offline_the_message_names_the_address_the_file_and_the_folder() {
    let _env = ENV.lock().unwrap_or_else(|p| p.into_inner());
    // A port nothing listens on: bound, then closed.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cache = tempfile::tempdir().unwrap();
    std::env::remove_var(STUDIO_MODELS_ENV);
    std::env::set_var(USER_CACHE_ENV, cache.path());
    std::env::set_var(TEST_DOWNLOAD_BASE_ENV, format!("http://127.0.0.1:{port}/models"));
    let start = std::time::Instant::now();
    let e = ensure(ModelSize::Small, &mut |_, _| true).unwrap_err();
    let text = e.to_string();
    let url = format!("http://127.0.0.1:{port}/models/{}", file_name(ModelSize::Small));
    assert!(matches!(e, FetchError::Unreachable { .. }), "{text}");
    assert!(text.contains(&url) && text.contains("sam2.1_hiera_small.pt") && text.contains(&cache.path().display().to_string()), "{text}");
    assert!(text.contains(STUDIO_MODELS_ENV), "the studio folder is offered too: {text}");
    assert!(entries(cache.path()).is_empty());
    assert!(start.elapsed() < Duration::from_secs(10), "a refused connection took {:?}", start.elapsed());
    eprintln!("fetch_model: offline: {text}");
    for v in [USER_CACHE_ENV, TEST_DOWNLOAD_BASE_ENV] {
        std::env::remove_var(v);
    }
}
