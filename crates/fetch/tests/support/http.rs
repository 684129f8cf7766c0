//! A loopback HTTP/1.1 server for the model-download tests (this crate's and the plugin's
//! end-to-end test, which includes this file by path): 127.0.0.1 only, one thread per
//! connection, each read bounded in time.
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A loopback HTTP/1.1 server: `/ok/NAME` the body whole, `/short/NAME` announces the
/// whole length and sends half, `/half/NAME` sends the first half as a whole body,
/// `/html/NAME` an HTML page, anything else 404. Counts requests.
pub struct Server {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Requests received so far.
    pub requests: Arc<AtomicUsize>,
}

pub fn serve(body: Arc<Vec<u8>>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let count = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            std::thread::spawn(move || answer(stream, &body));
        }
    });
    Server { base, requests }
}

fn answer(mut stream: TcpStream, body: &[u8]) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = String::new();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    reader.read_line(&mut head).unwrap();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let half = &body[..body.len() / 2];
    let html = b"<html><body><h1>Service unavailable</h1></body></html>".as_slice();
    let (status, announced, sent, kind) = match path.split('/').nth(1).unwrap_or("") {
        "ok" => ("200 OK", body.len(), body, "application/octet-stream"),
        "short" => ("200 OK", body.len(), half, "application/octet-stream"),
        "half" => ("200 OK", half.len(), half, "application/octet-stream"),
        "html" => ("200 OK", html.len(), html, "text/html"),
        _ => ("404 Not Found", 0, &[][..], "text/plain"),
    };
    let head = format!("HTTP/1.1 {status}\r\nContent-Length: {announced}\r\nContent-Type: {kind}\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(head.as_bytes());
    for chunk in sent.chunks(1 << 20) {
        if stream.write_all(chunk).is_err() {
            return; // the client hung up (a cancel)
        }
    }
}
