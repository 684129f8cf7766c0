//! The plugin ↔ helper protocol (version [`VERSION`]).
//!
//! The plugin starts the helper program (`crate::launch`: `--log LEVEL`, a cleared
//! environment) with one end of a socket pair as its standard input: the *lifeline*. The helper exits when the lifeline closes, so it dies with the host
//! process. Over the lifeline the plugin only passes new *connections*: a
//! [`LIFELINE_CONNECT`] byte with two file descriptors (one end of a fresh socket pair and
//! a sealed shared-memory region, see [`crate::shm`]). Each connection carries one
//! request at a time, so several host threads and instances talk to the helper at once
//! over separate connections.
//!
//! On a connection every message is a little-endian `u32` length and a postcard-encoded
//! [`Request`] (plugin → helper) or [`Reply`] (helper → plugin), at most
//! [`MAX_MESSAGE_BYTES`]. Pixels and logits never travel in messages: they sit in the
//! connection's shared region (see "Shared region" below) and the message gives their
//! shape. A request runs as a dialogue: while tracking, the helper asks for frames
//! ([`Reply::NeedFrame`], answered by [`Request::Frame`] or [`Request::FrameUnavailable`])
//! and reports progress ([`Reply::Progress`], answered by [`Request::Go`]: `false`
//! cancels), and ends with [`Reply::Result`], [`Reply::Done`] or [`Reply::Failed`].
//!
//! **Model download.** A `Track` or `Analyse` whose model is a published size absent from
//! the helper's model folders first downloads it (see [`crate::models`]): the helper sends
//! [`Reply::Fetching`] (file name, bytes so far, bytes in all when known) every few
//! hundred kilobytes, each answered by [`Request::Go`] (`false` cancels: the partial file
//! is removed and the request fails). No frame is asked for during a download.
//!
//! **Frames asked for ahead.** The plugin can fetch host frames only inside its render
//! call, so the helper asks for the frame the tracker will load next *before* it computes
//! on the current one: the plugin fetches it from the host while the network runs. The
//! plugin answers every message in order, as always; what changes is that the helper may
//! have one `NeedFrame` outstanding while it sends its next message (a `Progress`, or a
//! `Result` during Analyse). Messages stay strictly ordered, so the helper reads that
//! frame's answer (`Frame` or `FrameUnavailable`) before the answer to its later message
//! (the `Go`), keeps it keyed by frame number, and uses it only for that frame. At most
//! one `NeedFrame` is outstanding at a time, and every one is answered before the request's
//! final reply, so the next request starts clean. A `FrameUnavailable` for a frame asked
//! for ahead is an error only when the tracker then really needs that frame; a frame asked
//! for ahead and not needed after all (the run was cancelled, say) is dropped.
//!
//! **Shared region.** Frames and results live in disjoint areas, because with a frame
//! asked for ahead the plugin writes a frame while the helper may write a result:
//!
//! | bytes                                        | holds    | written by | read by |
//! |----------------------------------------------|----------|------------|---------|
//! | [`RESULT_OFFSET`] .. + [`RESULT_AREA_BYTES`] | results  | helper     | plugin  |
//! | [`FRAME_OFFSET`] .. + [`FRAME_AREA_BYTES`]   | frames   | plugin     | helper  |
//!
//! Each area has one writer, and its reader reads only after the message that says what is
//! there: the plugin writes the frame area only in answer to a `NeedFrame` (and the helper
//! sends the next `NeedFrame` only after reading the last one's answer); the helper writes
//! the result area only before a `Result` (and the next only after the plugin's `Go`).
//! The region is [`REGION_BYTES`] long (sparse: only pages written use memory).
//!
//! Keyframes travel in [`Request::Configure`] as [`KeyframePrompt`]s: boxes, points and
//! masks by value (masks run-length encoded, see [`crate::prompt`]), so a configuration
//! says everything that decides the mattes and no extra round trip fetches a matte.
//!
//! **Heartbeat and watchdog.** From reading a request until writing its final reply the
//! helper sends [`Reply::Heartbeat`] whenever it has sent nothing else for
//! [`heartbeat_interval`] (from a thread of its own, so a long model load or a slow frame
//! keeps it coming). A heartbeat needs no answer and may come before any other message
//! of the dialogue; the plugin skips it. The plugin waits on the helper in short slices
//! and declares it hung (kills and restarts it) when it has heard nothing for
//! [`helper_timeout`] while waiting ([`TIMEOUT_ENV`], default [`DEFAULT_TIMEOUT`]; a new
//! helper gets [`STARTUP_FACTOR`] times that for its first answer, while it loads libtorch).
//!
//! Nothing received is trusted: lengths are checked before anything is allocated, every
//! decoded message is validated ([`Request::validate`], [`Reply::validate`]), and a bad
//! one fails that connection with an error, never the process.
use crate::error::{EngineError, Error, Result};
use crate::settings::{EngineSettings, KeyframePrompt, ObjectKeys};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Protocol version; both sides must agree (checked by [`Request::Hello`]).
/// 3: frames asked for ahead, disjoint frame and result areas, the GPU memory limit and
/// the frame-prefetch switch in [`EngineSettings`].
/// 4: the model as a [`ModelSource`](crate::models::ModelSource) (a published size or a
/// file) in [`EngineSettings`], and [`Reply::Fetching`] while the helper downloads it.
/// 5: [`Reply::Heartbeat`] while the helper is busy with a request.
/// 6: the kind of a [`Reply::Failed`]: a cancel is not a failure.
/// 7: a [`Reply::Failed`] is an [`EngineError`] (every [`ErrorKind`](crate::error::ErrorKind),
/// not only cancelled or failed).
/// 8: [`Request::HashFrameFiles`] (the node's farm export checks a frame file pattern
/// against the host's frames, decoding as the command line does).
pub const VERSION: u32 = 9;
/// Files one [`Request::HashFrameFiles`] may name.
pub const MAX_HASH_FILES: usize = 16;
/// Largest message body (control messages and run-length-encoded keyframe masks; frame
/// pixels and logits go through shared memory).
pub const MAX_MESSAGE_BYTES: usize = 8 << 20;
/// Limits on what a request may describe.
pub const MAX_OBJECTS: usize = 64;
pub const MAX_NAME_BYTES: usize = 256;
pub const MAX_KEYFRAMES: usize = 100_000;
pub const MAX_FRAMES: i64 = 10_000_000;
pub const MAX_FRAME_SIDE: u32 = 16_384;
/// Clicks on one keyframe.
pub const MAX_POINTS: usize = 1024;
/// The byte sent on the lifeline with a new connection's descriptors.
pub const LIFELINE_CONNECT: u8 = b'C';
/// Largest side of a result's logits (image size 1024 / 4).
pub const MAX_RESULT_SIDE: u32 = 256;
/// Where results start in the shared region, and how many bytes they may take: every
/// object at the largest side.
pub const RESULT_OFFSET: usize = 0;
pub const RESULT_AREA_BYTES: usize = MAX_OBJECTS * (MAX_RESULT_SIDE as usize) * (MAX_RESULT_SIDE as usize) * 4;
/// Where frames start in the shared region, and how many bytes a frame may take (8-bit
/// RGB: an 8K UHD frame is 100 MB).
pub const FRAME_OFFSET: usize = RESULT_OFFSET + RESULT_AREA_BYTES;
pub const FRAME_AREA_BYTES: usize = 512 << 20;
/// Size of each connection's shared region.
pub const REGION_BYTES: usize = FRAME_OFFSET + FRAME_AREA_BYTES;
// The areas must never overlap (checked when compiling).
const _: () = assert!(RESULT_OFFSET + RESULT_AREA_BYTES <= FRAME_OFFSET);
/// Largest GPU memory limit a configuration may ask for (MiB; 16 TiB).
pub const MAX_GPU_MEMORY_LIMIT_MB: u64 = 1 << 24;
/// Names the watchdog's limit in seconds (a decimal number; both sides read it, the
/// helper inherits it like every `SAMURAI_ROTO_*` variable).
pub const TIMEOUT_ENV: &str = "SAMURAI_ROTO_HELPER_TIMEOUT";
/// How long the plugin waits without hearing from a busy helper before it declares it hung.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// A new helper has this many times the limit to answer its first `Hello` (it loads
/// libtorch, and CUDA's libraries, before it can say anything).
pub const STARTUP_FACTOR: u32 = 3;

/// The watchdog's limit: [`TIMEOUT_ENV`] when it holds a positive number of seconds, else
/// [`DEFAULT_TIMEOUT`].
pub fn helper_timeout() -> Duration {
    std::env::var(TIMEOUT_ENV).ok().and_then(|v| parse_timeout(&v)).unwrap_or(DEFAULT_TIMEOUT)
}

/// A positive, finite number of seconds (at most a day).
fn parse_timeout(text: &str) -> Option<Duration> {
    let secs: f64 = text.trim().parse().ok()?;
    (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// How often a busy helper sends a heartbeat for the watchdog's `limit`: a quarter of it,
/// at most 2 s and at least 20 ms.
pub fn heartbeat_interval(limit: Duration) -> Duration {
    (limit / 4).clamp(Duration::from_millis(20), Duration::from_secs(2))
}

/// Plugin → helper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// First message of a connection.
    Hello { version: u32 },
    /// Settings, frame range, frame size and objects of an effect instance's session
    /// (created on first use; an unchanged configuration costs nothing).
    Configure { session: u64, settings: EngineSettings, range: (i64, i64), frame_size: (u32, u32), objects: Vec<ObjectKeys> },
    /// The low-resolution result of one frame, tracking as needed.
    Track { session: u64, frame: i64 },
    /// Track every frame of the range; each frame's result is sent as it is known.
    Analyse { session: u64 },
    /// Forget every tracked frame of the session (the network stays loaded).
    Clear { session: u64 },
    /// The instance is gone.
    Close { session: u64 },
    /// Counters ([`Reply::Stats`]).
    Stats,
    /// Answer to [`Reply::NeedFrame`]: the frame, RGB8 rows top-down, at [`FRAME_OFFSET`].
    Frame { frame: i64, width: u32, height: u32 },
    /// Answer to [`Reply::NeedFrame`]: the host could not provide it.
    FrameUnavailable { frame: i64, reason: String },
    /// Answer to [`Reply::Progress`] and to [`Reply::Result`] during Analyse: go on or stop.
    Go { on: bool },
    /// Decode each of `paths` as the command line's frame folders do (8-bit RGB) and say
    /// its size and `track_cache::frame_hash`; with `checkpoint`, also the model size of
    /// that SAM 2.1 checkpoint. Answered by [`Reply::FrameFiles`] or [`Reply::Failed`].
    HashFrameFiles { paths: Vec<PathBuf>, checkpoint: Option<PathBuf> },
}

/// One decoded frame file: its size and `track_cache::frame_hash` of its RGB8 pixels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameFileHash {
    pub width: u32,
    pub height: u32,
    pub hash: String,
}

/// What the helper counts (for tests and the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HelperStats {
    pub pid: u32,
    /// Networks loaded since the helper started (each (checkpoint, size, device,
    /// precision) once, however many instances use it).
    pub model_loads: u64,
    pub sessions: u32,
}

/// Helper → plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    Welcome {
        version: u32,
        pid: u32,
    },
    Done,
    Failed(EngineError),
    NeedFrame {
        frame: i64,
    },
    Progress {
        done: u32,
        total: u32,
    },
    /// Downloading the model file `file`: `done` bytes of `total` (when the server said).
    Fetching {
        file: String,
        done: u64,
        total: Option<u64>,
    },
    /// A frame's low-resolution logits at [`RESULT_OFFSET`]: `objects.len() × side²` f32,
    /// native endianness, in `objects` order, and the precision the network ran at (the
    /// session's choice resolved on the helper's machine: Auto decided there), which the
    /// plugin records in the track cache it writes.
    Result {
        frame: i64,
        side: u32,
        objects: Vec<String>,
        precision: crate::settings::Precision,
    },
    Stats(HelperStats),
    /// The helper is busy with the request (see "Heartbeat and watchdog"); no answer.
    Heartbeat,
    /// Answer to [`Request::HashFrameFiles`]: one entry per path, in order, and the
    /// checkpoint's model size when one was named.
    FrameFiles {
        frames: Vec<FrameFileHash>,
        model_size: Option<crate::config::ModelSize>,
    },
}

fn bad(what: impl Into<String>) -> Error {
    Error::Protocol(what.into())
}

fn check_name(name: &str) -> Result<()> {
    if name.len() > MAX_NAME_BYTES {
        return Err(bad(format!("object name of {} bytes (at most {MAX_NAME_BYTES})", name.len())));
    }
    Ok(())
}

fn check_size(w: u32, h: u32) -> Result<()> {
    if w == 0 || h == 0 || w > MAX_FRAME_SIDE || h > MAX_FRAME_SIDE {
        return Err(bad(format!("frame size {w}x{h} (each side 1..={MAX_FRAME_SIDE})")));
    }
    Ok(())
}

fn check_configure(settings: &EngineSettings, range: (i64, i64), size: (u32, u32), objects: &[ObjectKeys]) -> Result<()> {
    if range.0 > range.1 || range.1.checked_sub(range.0).is_none_or(|n| n >= MAX_FRAMES) {
        return Err(bad(format!("frame range {}..{}", range.0, range.1)));
    }
    check_size(size.0, size.1)?;
    if !(256..=1024).contains(&settings.image_size) || settings.image_size % 64 != 0 {
        return Err(bad(format!("image size {} (a multiple of 64 from 256 to 1024)", settings.image_size)));
    }
    if settings.gpu_memory_limit_mb > MAX_GPU_MEMORY_LIMIT_MB {
        return Err(bad(format!("GPU memory limit of {} MB (at most {MAX_GPU_MEMORY_LIMIT_MB})", settings.gpu_memory_limit_mb)));
    }
    if objects.len() > MAX_OBJECTS {
        return Err(bad(format!("{} objects (at most {MAX_OBJECTS})", objects.len())));
    }
    for o in objects {
        check_name(&o.name)?;
        if o.keyframes.len() > MAX_KEYFRAMES {
            return Err(bad(format!("object '{}': {} keyframes (at most {MAX_KEYFRAMES})", o.name, o.keyframes.len())));
        }
        for (frame, p) in &o.keyframes {
            check_prompt(p, size).map_err(|e| bad(format!("object '{}' keyframe {frame}: {e}", o.name)))?;
        }
    }
    Ok(())
}

/// A keyframe's prompts: within limits, finite, on the frame, a mask of the frame's size.
fn check_prompt(p: &KeyframePrompt, size: (u32, u32)) -> Result<()> {
    if p.points.len() > MAX_POINTS {
        return Err(bad(format!("{} points (at most {MAX_POINTS})", p.points.len())));
    }
    p.validate(size.0, size.1)
}

impl Request {
    /// Checks everything decoding cannot (ranges, sizes, counts).
    pub fn validate(&self) -> Result<()> {
        match self {
            Request::Configure { settings, range, frame_size, objects, .. } => check_configure(settings, *range, *frame_size, objects),
            Request::Frame { frame, width, height } => frame_bytes(*frame, *width, *height).map(|_| ()),
            Request::FrameUnavailable { reason, .. } if reason.len() > MAX_MESSAGE_BYTES / 2 => Err(bad("reason too long")),
            Request::HashFrameFiles { paths, .. } if paths.len() > MAX_HASH_FILES => {
                Err(bad(format!("{} files to hash (at most {MAX_HASH_FILES})", paths.len())))
            }
            _ => Ok(()),
        }
    }
}

impl Reply {
    /// Checks everything decoding cannot (ranges, sizes, counts).
    pub fn validate(&self) -> Result<()> {
        match self {
            Reply::Result { side, objects, .. } => {
                if *side == 0 || *side > MAX_RESULT_SIDE || objects.len() > MAX_OBJECTS {
                    return Err(bad(format!("result of side {side} with {} objects", objects.len())));
                }
                objects.iter().try_for_each(|n| check_name(n))
            }
            Reply::Progress { done, total } if done > total => Err(bad(format!("progress {done} of {total}"))),
            Reply::Fetching { file, done, total } => {
                check_name(file)?;
                match total {
                    Some(total) if done > total => Err(bad(format!("download of {file}: {done} of {total} bytes"))),
                    _ => Ok(()),
                }
            }
            Reply::FrameFiles { frames, .. } => {
                if frames.len() > MAX_HASH_FILES {
                    return Err(bad(format!("{} frame file hashes (at most {MAX_HASH_FILES})", frames.len())));
                }
                frames.iter().try_for_each(|f| check_size(f.width, f.height))
            }
            _ => Ok(()),
        }
    }

    /// Bytes of shared memory a [`Reply::Result`] occupies.
    pub fn result_bytes(side: u32, objects: usize) -> usize {
        objects * (side as usize) * (side as usize) * 4
    }
}

/// Bytes a `width × height` RGB8 frame takes in the frame area; an error naming the frame
/// when the size is out of bounds or the frame does not fit the area.
pub fn frame_bytes(frame: i64, width: u32, height: u32) -> Result<usize> {
    check_size(width, height).map_err(|e| bad(format!("frame {frame}: {e}")))?;
    let bytes = width as usize * height as usize * 3;
    if bytes > FRAME_AREA_BYTES {
        return Err(bad(format!(
            "frame {frame} is {width}x{height}: {bytes} bytes of RGB, more than the {FRAME_AREA_BYTES}-byte frame area"
        )));
    }
    Ok(bytes)
}

/// Decodes and validates a request body.
pub fn decode_request(body: &[u8]) -> Result<Request> {
    let r: Request = decode(body)?;
    r.validate()?;
    Ok(r)
}

/// Decodes and validates a reply body.
pub fn decode_reply(body: &[u8]) -> Result<Reply> {
    let r: Reply = decode(body)?;
    r.validate()?;
    Ok(r)
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(bad(format!("message of {} bytes (at most {MAX_MESSAGE_BYTES})", body.len())));
    }
    let (value, rest) = postcard::take_from_bytes(body).map_err(|e| bad(format!("undecodable message: {e}")))?;
    if !rest.is_empty() {
        return Err(bad(format!("{} stray bytes after a message", rest.len())));
    }
    Ok(value)
}

/// Writes to a Unix stream without ever raising SIGPIPE: a host process may not ignore
/// that signal (Rust programs do, C++ hosts need not), and a write to a helper that died
/// must be an error the plugin reports, not the death of the artist's session.
pub struct NoSigPipe<'a>(pub &'a std::os::unix::net::UnixStream);

impl Write for NoSigPipe<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        rustix::net::send(self.0, buf, rustix::net::SendFlags::NOSIGNAL).map_err(std::io::Error::from)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One message framed for the wire: its length, then its body.
pub fn encode_message<T: Serialize>(msg: &T) -> Result<Vec<u8>> {
    let body = postcard::to_stdvec(msg).map_err(|e| bad(format!("cannot encode: {e}")))?;
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(bad(format!("message of {} bytes (at most {MAX_MESSAGE_BYTES})", body.len())));
    }
    let mut framed = Vec::with_capacity(4 + body.len());
    framed.extend_from_slice(&(body.len() as u32).to_le_bytes());
    framed.extend_from_slice(&body);
    Ok(framed)
}

/// Writes one framed message.
pub fn write_message<T: Serialize>(w: &mut impl Write, msg: &T) -> Result<()> {
    let framed = encode_message(msg)?;
    w.write_all(&framed).and_then(|_| w.flush()).map_err(|e| bad(format!("connection lost while sending: {e}")))
}

/// Takes the first whole message body out of `inbox` (bytes received so far, kept by a
/// reader that reads in slices); `Ok(None)` until one has arrived whole. The announced
/// length is checked before waiting for the body.
pub fn take_frame(inbox: &mut Vec<u8>) -> Result<Option<Vec<u8>>> {
    let Some(len) = inbox.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize) else { return Ok(None) };
    if len > MAX_MESSAGE_BYTES {
        return Err(bad(format!("message of {len} bytes announced (at most {MAX_MESSAGE_BYTES})")));
    }
    if inbox.len() < 4 + len {
        return Ok(None);
    }
    let body = inbox[4..4 + len].to_vec();
    inbox.drain(..4 + len);
    Ok(Some(body))
}

/// Reads one framed message body (the length is checked before anything is allocated).
/// `Ok(None)` at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(bad(format!("connection lost: {e}"))),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_MESSAGE_BYTES {
        return Err(bad(format!("message of {len} bytes announced (at most {MAX_MESSAGE_BYTES})")));
    }
    // Grown as bytes arrive rather than reserved from the announcement: a peer that
    // announces 8 MiB and sends nine bytes costs nine bytes (and a small first block).
    let mut body = Vec::with_capacity(len.min(64 << 10));
    r.take(len as u64).read_to_end(&mut body).map_err(|e| bad(format!("connection lost inside a message: {e}")))?;
    if body.len() != len {
        return Err(bad(format!("connection lost inside a message: {} of {len} bytes arrived", body.len())));
    }
    Ok(Some(body))
}

/// Reads and validates the next request; `Ok(None)` when the plugin closed the connection.
pub fn read_request(r: &mut impl Read) -> Result<Option<Request>> {
    read_frame(r)?.map(|b| decode_request(&b)).transpose()
}

/// Reads and validates the next reply; a closed connection is an error here (the helper
/// never closes a connection in the middle of a request unless it died).
pub fn read_reply(r: &mut impl Read) -> Result<Reply> {
    let body = read_frame(r)?.ok_or_else(|| bad("the helper closed the connection"))?;
    decode_reply(&body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::DeviceChoice;

    #[test]
    fn the_areas_of_the_region_are_disjoint_and_hold_their_largest_content() {
        assert_eq!(Reply::result_bytes(MAX_RESULT_SIDE, MAX_OBJECTS), RESULT_AREA_BYTES);
        assert_eq!(REGION_BYTES, crate::shm::SHM_BYTES);
        assert!(frame_bytes(0, 7680, 4320).is_ok(), "8K UHD fits");
    }

    fn settings() -> EngineSettings {
        EngineSettings { device: DeviceChoice::Cpu, image_size: 512, ..EngineSettings::new("c.pt") }
    }

    /// Every kind of failure reaches the plugin as it left the engine, message and all.
    #[test]
    fn a_failure_crosses_with_its_kind() {
        use crate::error::ErrorKind;
        for kind in ErrorKind::ALL {
            let sent = Reply::Failed(EngineError::new(kind, format!("{kind:?}: frame 7 of shot.exr")));
            let mut wire = encode_message(&sent).unwrap();
            let body = take_frame(&mut wire).unwrap().expect("one whole message");
            assert_eq!(decode_reply(&body).unwrap(), sent);
        }
    }

    #[test]
    fn messages_arriving_in_parts_are_taken_whole_and_in_order() {
        let mut wire = Vec::new();
        for m in [Reply::Heartbeat, Reply::NeedFrame { frame: 3 }, Reply::Done] {
            wire.extend(encode_message(&m).unwrap());
        }
        let mut inbox = Vec::new();
        let mut got = Vec::new();
        for byte in wire {
            inbox.push(byte);
            while let Some(body) = take_frame(&mut inbox).unwrap() {
                got.push(decode_reply(&body).unwrap());
            }
        }
        assert_eq!(got, [Reply::Heartbeat, Reply::NeedFrame { frame: 3 }, Reply::Done]);
        assert!(inbox.is_empty());
        let mut huge = vec![0xff, 0xff, 0xff, 0x7f];
        assert!(take_frame(&mut huge).unwrap_err().to_string().contains("announced"), "refused before the body arrives");
    }

    #[test]
    fn the_watchdog_limit_and_heartbeat_follow_the_setting() {
        assert_eq!(parse_timeout("2.5"), Some(Duration::from_millis(2500)));
        for bad in ["", "0", "-3", "nan", "inf", "soon"] {
            assert_eq!(parse_timeout(bad), None, "{bad:?}");
        }
        assert_eq!(heartbeat_interval(DEFAULT_TIMEOUT), Duration::from_secs(2));
        assert_eq!(heartbeat_interval(Duration::from_secs(2)), Duration::from_millis(500));
        assert_eq!(heartbeat_interval(Duration::from_millis(10)), Duration::from_millis(20));
    }

    #[test]
    fn frame_file_hashes_round_trip_within_limits() {
        let ask = Request::HashFrameFiles { paths: vec!["/shots/a.0001.exr".into()], checkpoint: Some("/m/x.pt".into()) };
        assert_eq!(decode_request(&postcard::to_stdvec(&ask).unwrap()).unwrap(), ask);
        let many = Request::HashFrameFiles { paths: vec!["/a".into(); MAX_HASH_FILES + 1], checkpoint: None };
        assert!(decode_request(&postcard::to_stdvec(&many).unwrap()).unwrap_err().to_string().contains("files to hash"));
        let frame = FrameFileHash { width: 64, height: 48, hash: "ab".repeat(32) };
        let answer = Reply::FrameFiles { frames: vec![frame.clone()], model_size: Some(crate::config::ModelSize::Tiny) };
        assert_eq!(decode_reply(&postcard::to_stdvec(&answer).unwrap()).unwrap(), answer);
        let empty = Reply::FrameFiles { frames: vec![FrameFileHash { width: 0, ..frame }], model_size: None };
        assert!(decode_reply(&postcard::to_stdvec(&empty).unwrap()).unwrap_err().to_string().contains("frame size"));
    }

    #[test]
    fn messages_round_trip_and_bad_ones_are_refused() {
        let mut objects = vec![ObjectKeys::from_boxes("a#1", [(3, [1.0, 2.0, 30.0, 40.0])])];
        let mask = crate::prompt::MaskPrompt::from_bits(1920, 1080, (0..1920 * 1080).map(|i| i % 1920 > 900)).unwrap();
        objects[0].keyframes.insert(5, KeyframePrompt::from_mask(mask));
        let click = crate::prompt::PointPrompt { x: 10.0, y: 20.0, positive: false };
        objects[0].keyframes.get_mut(&3).unwrap().points.push(click);
        let msgs = [
            Request::Hello { version: VERSION },
            Request::Configure { session: 7, settings: settings(), range: (0, 99), frame_size: (1920, 1080), objects },
            Request::Frame { frame: 3, width: 64, height: 48 },
            Request::Go { on: false },
        ];
        for m in &msgs {
            let mut buf = Vec::new();
            write_message(&mut buf, m).unwrap();
            assert_eq!(read_request(&mut buf.as_slice()).unwrap().as_ref(), Some(m));
        }
        // Oversized announcement, stray bytes, bad sizes, a truncated body.
        let huge = [0xff, 0xff, 0xff, 0x7f];
        assert!(read_request(&mut &huge[..]).unwrap_err().to_string().contains("announced"));
        let mut body = postcard::to_stdvec(&Request::Stats).unwrap();
        body.push(0);
        assert!(decode_request(&body).unwrap_err().to_string().contains("stray"));
        let frame = postcard::to_stdvec(&Request::Frame { frame: 0, width: 0, height: 5 }).unwrap();
        assert!(decode_request(&frame).unwrap_err().to_string().contains("frame size"));
        let frame = postcard::to_stdvec(&Request::Frame { frame: 4, width: 16_000, height: 16_000 }).unwrap();
        let e = decode_request(&frame).unwrap_err().to_string();
        assert!(e.contains("frame 4") && e.contains("frame area"), "{e}");
        let cfg = Request::Configure {
            session: 1,
            settings: EngineSettings { gpu_memory_limit_mb: u64::MAX, ..settings() },
            range: (0, 1),
            frame_size: (8, 8),
            objects: vec![],
        };
        assert!(decode_request(&postcard::to_stdvec(&cfg).unwrap()).unwrap_err().to_string().contains("GPU memory limit"));
        let fetching = Reply::Fetching { file: "sam2.1_hiera_tiny.pt".into(), done: 5, total: Some(9) };
        let mut buf = Vec::new();
        write_message(&mut buf, &fetching).unwrap();
        assert_eq!(read_reply(&mut buf.as_slice()).unwrap(), fetching);
        let over = Reply::Fetching { file: "x.pt".into(), done: 10, total: Some(9) };
        assert!(decode_reply(&postcard::to_stdvec(&over).unwrap()).unwrap_err().to_string().contains("10 of 9 bytes"));
        let preset = Request::Configure {
            session: 1,
            settings: EngineSettings::with_model(crate::models::ModelSource::Preset(crate::config::ModelSize::BasePlus)),
            range: (0, 1),
            frame_size: (8, 8),
            objects: vec![],
        };
        assert_eq!(decode_request(&postcard::to_stdvec(&preset).unwrap()).unwrap(), preset);
        let big = Reply::Result { frame: 0, side: MAX_RESULT_SIDE + 1, objects: vec![], precision: crate::settings::Precision::F32 };
        assert!(decode_reply(&postcard::to_stdvec(&big).unwrap()).is_err());
        let cfg = Request::Configure {
            session: 1,
            settings: EngineSettings { image_size: 300, ..settings() },
            range: (0, 1),
            frame_size: (8, 8),
            objects: vec![],
        };
        assert!(decode_request(&postcard::to_stdvec(&cfg).unwrap()).unwrap_err().to_string().contains("image size"));
        let outside = crate::prompt::PointPrompt { x: 10.0, y: 9.0, positive: true };
        let cfg = Request::Configure {
            session: 1,
            settings: settings(),
            range: (0, 1),
            frame_size: (8, 8),
            objects: vec![ObjectKeys {
                name: "a".into(),
                keyframes: [(0, KeyframePrompt { points: vec![outside], ..Default::default() })].into(),
            }],
        };
        let e = decode_request(&postcard::to_stdvec(&cfg).unwrap()).unwrap_err().to_string();
        assert!(e.contains("object 'a' keyframe 0") && e.contains("outside the 8x8 frame"), "{e}");
        let mut buf = Vec::new();
        write_message(&mut buf, &Reply::Done).unwrap();
        buf.truncate(buf.len() - 1);
        buf[0] += 1;
        assert!(read_reply(&mut buf.as_slice()).is_err());
        assert!(read_request(&mut &[][..]).unwrap().is_none(), "clean end of stream");
    }
}
