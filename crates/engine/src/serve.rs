//! The helper process's server (`samurai-roto-helper`, also `samurai-roto serve`): what the
//! OpenFX plugin starts, so that libtorch and
//! the network never run inside the host (Nuke carries its own libtorch; a crash or an
//! out-of-memory here must not take the artist's session down).
//!
//! Standard input is the *lifeline* socket (see [`samurai_core::protocol`]): new
//! connections arrive on it with their shared-memory region, each served by its own
//! thread against one [`Engine`]; when it closes (the host process is gone) the helper
//! exits. Every message is validated; a malformed one fails its connection, never the
//! process.
//!
//! While a connection's request runs, a heartbeat thread of that connection sends
//! [`Reply::Heartbeat`] whenever nothing else went out for
//! [`proto::heartbeat_interval`]: the plugin's watchdog hears from a helper that loads a
//! model or computes a long frame, and hears nothing from one that is stopped or frozen.
use crate::engine::{Engine, HostFrames};
use samurai_core::protocol::{self as proto, Reply, Request, LIFELINE_CONNECT};
use samurai_core::settings::{FrameImage, Precision};
use samurai_core::shm::Shm;
use samurai_core::{EngineError, Error, Result};
use std::cell::{Cell, RefCell};
use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The helper's main loop: serves the lifeline on standard input (the socket the plugin
/// passed) until it closes, then ends the process, since connection threads may still be
/// inside a request and the host is gone.
pub fn serve_stdin() -> Result<()> {
    use std::os::fd::AsFd;
    let lifeline =
        std::io::stdin().as_fd().try_clone_to_owned().map_err(|e| Error::Protocol(format!("standard input is not a socket: {e}")))?;
    serve(lifeline)?;
    std::process::exit(0)
}

/// Serves connections passed over `lifeline` until it closes.
pub fn serve(lifeline: OwnedFd) -> Result<()> {
    let engine = Arc::new(Engine::default());
    let lifeline = UnixStream::from(lifeline);
    let interval = proto::heartbeat_interval(proto::helper_timeout());
    tracing::info!("helper {} serving (heartbeat every {:.2} s while busy)", std::process::id(), interval.as_secs_f64());
    loop {
        match receive_connection(&lifeline) {
            Ok(Some((stream, shm))) => {
                if let Err(e) = start_connection(&engine, stream, shm, interval) {
                    tracing::warn!("refused a connection: {e}");
                }
            }
            Ok(None) => {
                tracing::info!("the lifeline closed (the host process is gone): exiting");
                return Ok(());
            }
            Err(e) => tracing::warn!("refused a connection: {e}"),
        }
    }
}

/// Starts the threads of a new connection: its requests, its heartbeats.
fn start_connection(engine: &Arc<Engine>, stream: UnixStream, shm: Shm, interval: Duration) -> Result<()> {
    let engine = engine.clone();
    let writer = Arc::new(Writer::new(&stream, interval)?);
    let beat = writer.clone();
    std::thread::Builder::new()
        .name("samurai-roto heartbeat".into())
        .spawn(move || beat.beat())
        .map_err(|e| Error::Protocol(format!("cannot start a heartbeat thread: {e}")))?;
    let closing = Closing(writer.clone());
    let started = std::thread::Builder::new().name("samurai-roto connection".into()).spawn(move || {
        let _closing = closing;
        Connection { engine, stream, shm, writer }.run()
    });
    // A connection thread that did not start dropped its closure, and with it `closing`:
    // the heartbeat thread ends.
    started.map(|_| ()).map_err(|e| Error::Protocol(format!("cannot start a connection thread: {e}")))
}

/// The next connection on the lifeline: one [`LIFELINE_CONNECT`] byte with exactly two
/// descriptors (the connection's socket, its shared region). `None` when it closed.
fn receive_connection(lifeline: &UnixStream) -> Result<Option<(UnixStream, Shm)>> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut byte = [0u8; 1];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = rustix::net::recvmsg(lifeline, &mut [IoSliceMut::new(&mut byte)], &mut control, RecvFlags::CMSG_CLOEXEC)
        .map_err(|e| Error::Protocol(format!("lifeline: {e}")))?;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = m {
            fds.extend(received);
        }
    }
    if msg.bytes == 0 {
        return Ok(None);
    }
    if byte[0] != LIFELINE_CONNECT || fds.len() != 2 {
        return Err(Error::Protocol(format!(
            "lifeline message {:#04x} with {} descriptors (expected a connection and its region)",
            byte[0],
            fds.len()
        )));
    }
    let shm = Shm::from_fd(fds.pop().expect("two"))?;
    Ok(Some((UnixStream::from(fds.pop().expect("two")), shm)))
}

/// The writing side of a connection, shared with its heartbeat thread: every message goes
/// out under one lock, so a heartbeat never lands inside another message, and the final
/// reply of a request ends its heartbeats in the same step (none comes after it).
struct Writer {
    stream: UnixStream,
    beat: parking_lot::Mutex<Beat>,
    wake: parking_lot::Condvar,
    interval: Duration,
}

struct Beat {
    /// Between reading a request and writing its final reply.
    busy: bool,
    /// When the last message went out.
    last: Instant,
    /// The connection ended: the heartbeat thread stops.
    closed: bool,
}

impl Writer {
    fn new(stream: &UnixStream, interval: Duration) -> Result<Self> {
        let stream = stream.try_clone().map_err(|e| Error::Protocol(format!("cannot share the connection's socket: {e}")))?;
        let beat = Beat { busy: false, last: Instant::now(), closed: false };
        Ok(Writer { stream, beat: parking_lot::Mutex::new(beat), wake: parking_lot::Condvar::new(), interval })
    }

    fn write(&self, beat: &mut Beat, reply: &Reply) -> Result<()> {
        let sent = proto::write_message(&mut proto::NoSigPipe(&self.stream), reply);
        beat.last = Instant::now();
        sent
    }

    /// A message inside a request's dialogue.
    fn send(&self, reply: &Reply) -> Result<()> {
        let mut beat = self.beat.lock();
        self.write(&mut beat, reply)
    }

    /// A request was read: heartbeats from now on until its final reply.
    fn begin(&self) {
        let mut beat = self.beat.lock();
        beat.busy = true;
        beat.last = Instant::now();
        self.wake.notify_all();
    }

    /// The final reply to a request (or a message outside one): no heartbeat after it.
    fn finish(&self, reply: &Reply) -> Result<()> {
        let mut beat = self.beat.lock();
        beat.busy = false;
        self.write(&mut beat, reply)
    }

    fn close(&self) {
        let mut beat = self.beat.lock();
        beat.closed = true;
        beat.busy = false;
        self.wake.notify_all();
    }

    /// The heartbeat thread: while busy, a heartbeat when nothing went out for an interval.
    fn beat(&self) {
        let mut beat = self.beat.lock();
        while !beat.closed {
            let now = Instant::now();
            let due = beat.last + self.interval;
            if beat.busy && now >= due {
                if let Err(e) = self.write(&mut beat, &Reply::Heartbeat) {
                    tracing::debug!("heartbeat not sent ({e}); the connection is gone");
                    return;
                }
                continue;
            }
            let wait = if beat.busy { due - now } else { self.interval };
            self.wake.wait_for(&mut beat, wait);
        }
    }
}

/// Ends a connection's heartbeat thread when the connection thread ends (however it ends).
struct Closing(Arc<Writer>);

impl Drop for Closing {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// One connection: a request at a time, each a dialogue (frames and progress go back and
/// forth) ending in a final reply.
struct Connection {
    engine: Arc<Engine>,
    stream: UnixStream,
    shm: Shm,
    writer: Arc<Writer>,
}

impl Connection {
    fn run(mut self) {
        if let Err(e) = self.serve() {
            tracing::warn!("connection closed: {e}");
            let _ = self.writer.finish(&Reply::Failed(EngineError::from(e)));
        }
    }

    fn serve(&mut self) -> Result<()> {
        match proto::read_request(&mut self.stream)? {
            Some(Request::Hello { version }) if version == proto::VERSION => {
                self.writer.finish(&Reply::Welcome { version: proto::VERSION, pid: std::process::id() })?
            }
            Some(Request::Hello { version }) => {
                return Err(Error::Protocol(format!("the plugin speaks protocol {version}, this helper {}", proto::VERSION)))
            }
            Some(other) => return Err(Error::Protocol(format!("expected Hello, got {other:?}"))),
            None => return Ok(()),
        }
        while let Some(request) = proto::read_request(&mut self.stream)? {
            self.writer.begin();
            let reply = self.handle(request)?;
            self.writer.finish(&reply)?;
        }
        Ok(())
    }

    /// The final reply to one request; `Err` only when the connection is unusable.
    fn handle(&mut self, request: Request) -> Result<Reply> {
        Ok(match request {
            Request::Configure { session, settings, range, frame_size, objects } => self
                .engine
                .configure(session, &settings, range, frame_size, &objects)
                .map_or_else(|e| Reply::Failed(e.into()), |_| Reply::Done),
            Request::Track { session, frame } => {
                let engine = self.engine.clone();
                let precision = match engine.precision_of(session) {
                    Ok(p) => p,
                    Err(failure) => return Ok(Reply::Failed(failure)),
                };
                let dialogue = Dialogue::new(self, precision);
                let result = engine
                    .prepare(session, &mut |file, done, total| dialogue.fetching(file, done, total))
                    .and_then(|_| engine.track(session, frame, &mut &dialogue, &mut |d, t| dialogue.progress(d, t)));
                dialogue.finish()?;
                match result {
                    Ok(low) => self.put_result(frame, &low, precision)?,
                    Err(failure) => Reply::Failed(failure),
                }
            }
            Request::Analyse { session } => {
                let engine = self.engine.clone();
                let precision = match engine.precision_of(session) {
                    Ok(p) => p,
                    Err(failure) => return Ok(Reply::Failed(failure)),
                };
                let dialogue = Dialogue::new(self, precision);
                let result = engine.prepare(session, &mut |file, done, total| dialogue.fetching(file, done, total)).and_then(|_| {
                    engine.analyse(session, &mut &dialogue, &mut |d, t| dialogue.progress(d, t), &mut |f, low| dialogue.result(f, &low))
                });
                dialogue.finish()?;
                result.map_or_else(Reply::Failed, |_| Reply::Done)
            }
            Request::Clear { session } => {
                self.engine.clear(session);
                Reply::Done
            }
            Request::Close { session } => {
                self.engine.close(session);
                Reply::Done
            }
            Request::Stats => Reply::Stats(self.engine.stats()),
            Request::HashFrameFiles { paths, checkpoint } => {
                hash_frame_files(&paths, checkpoint.as_deref()).unwrap_or_else(|e| Reply::Failed(e.into()))
            }
            other => return Err(Error::Protocol(format!("{other:?} outside a tracking dialogue"))),
        })
    }

    /// Writes a frame's result into the shared region and describes it.
    fn put_result(&mut self, frame: i64, low: &samurai_core::lowres::LowResFrame, precision: Precision) -> Result<Reply> {
        let side = u32::try_from(low.side).map_err(|_| Error::Protocol(format!("result side {}", low.side)))?;
        let cells = (side as usize) * (side as usize);
        let bytes = Reply::result_bytes(side, low.objects.len());
        if side > proto::MAX_RESULT_SIDE || bytes > proto::RESULT_AREA_BYTES {
            return Err(Error::Protocol(format!(
                "frame {frame}: a result of side {side} for {} objects does not fit the result area",
                low.objects.len()
            )));
        }
        let out = self.shm.get_mut(proto::RESULT_OFFSET, bytes)?;
        for ((_, values), chunk) in low.objects.iter().zip(out.chunks_exact_mut(cells * 4)) {
            for (v, b) in values.iter().zip(chunk.chunks_exact_mut(4)) {
                b.copy_from_slice(&v.to_ne_bytes());
            }
        }
        Ok(Reply::Result { frame, side, objects: low.objects.iter().map(|(n, _)| n.clone()).collect(), precision })
    }
}

/// The helper's side of a tracking dialogue: the engine's callbacks turned into messages.
/// The first protocol failure is kept (and ends the request) so the connection closes.
///
/// Frames asked for ahead (see [`samurai_core::protocol`]): at most one `NeedFrame` is
/// outstanding (`asked`); its answer is read before any later answer and kept, keyed by
/// frame number, in `answered` until a fetch takes it (the right frame) or drops it
/// (another frame, the end of the request). The frame area is written only in answer to a
/// `NeedFrame` and the next one is sent only after `answered` is cleared, so the pixels a
/// kept `Frame` answer points at stay in place until it is used.
struct Dialogue<'c> {
    conn: RefCell<&'c mut Connection>,
    broken: RefCell<Option<Error>>,
    asked: Cell<Option<i64>>,
    answered: RefCell<Option<(i64, FrameAnswer)>>,
    /// The precision the request's network runs at (told with each result).
    precision: Precision,
}

/// [`Request::HashFrameFiles`]: each file decoded exactly as a farm task's frame folder
/// decodes it (`FolderSource`: JPEG, PNG or EXR to 8-bit sRGB), its size and
/// `frame_hash`; the checkpoint's model size read from its tensors.
fn hash_frame_files(paths: &[std::path::PathBuf], checkpoint: Option<&std::path::Path>) -> crate::Result<Reply> {
    use crate::tracker::{FolderSource, FrameSource};
    let mut frames = Vec::with_capacity(paths.len());
    for path in paths {
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        let img = FolderSource::from_files(dir, vec![path.clone()])?.load(0)?;
        let hash = samurai_core::track_cache::frame_hash(img.width, img.height, &img.data);
        frames.push(proto::FrameFileHash { width: img.width, height: img.height, hash });
    }
    let model_size = match checkpoint {
        None => None,
        Some(c) => Some(crate::model::sam2_base::detect_size(c, &crate::model::checkpoint::read_checkpoint(c)?)?),
    };
    Ok(Reply::FrameFiles { frames, model_size })
}

/// The plugin's answer to a `NeedFrame`: the frame's size (its pixels sit in the frame
/// area) or why the host could not provide it.
type FrameAnswer = std::result::Result<(u32, u32), String>;

/// A failure of the engine's request as the tracker sees it (a broken connection is the
/// helper's failure, whatever the frame).
fn engine_error(e: Error) -> crate::Error {
    crate::Error::Core(e)
}

impl<'c> Dialogue<'c> {
    fn new(conn: &'c mut Connection, precision: Precision) -> Self {
        Dialogue { conn: RefCell::new(conn), broken: RefCell::new(None), asked: Cell::new(None), answered: RefCell::new(None), precision }
    }

    /// The kept failure, if the connection broke.
    fn check(&self) -> Result<()> {
        match self.broken.borrow().as_ref() {
            Some(e) => Err(Error::Protocol(e.to_string())),
            None => Ok(()),
        }
    }

    /// Keeps the first failure (the request ends, the connection closes).
    fn fail<T>(&self, e: Error) -> Result<T> {
        let text = e.to_string();
        self.broken.borrow_mut().get_or_insert(e);
        Err(Error::Protocol(text))
    }

    fn send(&self, reply: &Reply) -> Result<()> {
        self.check()?;
        let writer = self.conn.borrow().writer.clone();
        writer.send(reply).or_else(|e| self.fail(e))
    }

    fn read(&self) -> Result<Request> {
        self.check()?;
        let mut conn = self.conn.borrow_mut();
        let read =
            proto::read_request(&mut conn.stream).and_then(|r| r.ok_or_else(|| Error::Protocol("the plugin closed the connection".into())));
        drop(conn);
        read.or_else(|e| self.fail(e))
    }

    /// Reads the answer to a `NeedFrame` for `frame` (the next message must be it).
    fn read_frame_answer(&self, frame: i64) -> Result<FrameAnswer> {
        match self.read()? {
            Request::Frame { frame: f, width, height } if f == frame => Ok(Ok((width, height))),
            Request::FrameUnavailable { frame: f, reason } if f == frame => Ok(Err(reason)),
            other => self.fail(Error::Protocol(format!("expected frame {frame}, got {other:?}"))),
        }
    }

    /// Reads the answer to the frame asked for ahead, if one is outstanding, and keeps it:
    /// it comes before the answer to any message sent after the `NeedFrame`.
    fn settle(&self) -> Result<()> {
        if let Some(frame) = self.asked.take() {
            let answer = self.read_frame_answer(frame)?;
            *self.answered.borrow_mut() = Some((frame, answer));
        }
        Ok(())
    }

    /// Sends `reply` and reads the plugin's answer to it (after the answer to a frame asked
    /// for ahead, if one is outstanding).
    fn exchange(&self, reply: &Reply) -> Result<Request> {
        self.send(reply)?;
        self.settle()?;
        self.read()
    }

    fn unexpected(&self, what: &str, got: Request) -> String {
        let e = Error::Protocol(format!("expected {what}, got {got:?}"));
        let text = e.to_string();
        self.broken.borrow_mut().get_or_insert(e);
        text
    }

    /// Frame `frame`: the answer kept from asking ahead when it is that frame's, else asked
    /// for now (a kept answer for another frame is dropped unused).
    fn fetch(&self, frame: i64) -> crate::Result<FrameImage> {
        self.settle().map_err(engine_error)?;
        let kept = self.answered.borrow_mut().take();
        let answer = match kept {
            Some((f, answer)) if f == frame => answer,
            other => {
                if let Some((f, _)) = other {
                    tracing::debug!("frame {f} was asked for ahead but frame {frame} is needed: dropped");
                }
                self.send(&Reply::NeedFrame { frame }).map_err(engine_error)?;
                self.read_frame_answer(frame).map_err(engine_error)?
            }
        };
        let (width, height) =
            answer.map_err(|reason| crate::Error::Frame { frame, reason: format!("the host could not provide it: {reason}") })?;
        let conn = self.conn.borrow();
        let rgb8 =
            proto::frame_bytes(frame, width, height).and_then(|len| conn.shm.get(proto::FRAME_OFFSET, len)).map_err(engine_error)?.to_vec();
        Ok(FrameImage { width, height, rgb8 })
    }

    /// Asks for `frame` ahead: the plugin fetches it from the host while the network
    /// computes; its answer is read later (see [`Self::settle`]).
    fn ask_ahead(&self, frame: i64) {
        if self.settle().is_err() {
            return;
        }
        // A kept answer not taken by now is for a frame the tracker skipped; the frame area
        // is about to be overwritten.
        self.answered.borrow_mut().take();
        if self.send(&Reply::NeedFrame { frame }).is_ok() {
            self.asked.set(Some(frame));
        }
    }

    fn progress(&self, done: usize, total: usize) -> bool {
        let (done, total) = (done.min(total) as u32, total as u32);
        match self.exchange(&Reply::Progress { done, total }) {
            Ok(Request::Go { on }) => on,
            Ok(other) => {
                self.unexpected("Go", other);
                false
            }
            Err(_) => false,
        }
    }

    /// Reports a model download; `false` (the plugin's cancel, a broken connection) stops it.
    fn fetching(&self, file: &str, done: u64, total: Option<u64>) -> bool {
        match self.exchange(&Reply::Fetching { file: file.to_owned(), done, total }) {
            Ok(Request::Go { on }) => on,
            Ok(other) => {
                self.unexpected("Go", other);
                false
            }
            Err(_) => false,
        }
    }

    fn result(&self, frame: i64, low: &samurai_core::lowres::LowResFrame) -> bool {
        let reply = match self.conn.borrow_mut().put_result(frame, low, self.precision) {
            Ok(r) => r,
            Err(e) => {
                self.broken.borrow_mut().get_or_insert(e);
                return false;
            }
        };
        match self.exchange(&reply) {
            Ok(Request::Go { on }) => on,
            Ok(other) => {
                self.unexpected("Go", other);
                false
            }
            Err(_) => false,
        }
    }

    /// Ends the dialogue: reads the answer to a frame still asked for ahead (so the next
    /// request starts clean) and drops what was not used. `Err` when the connection broke.
    fn finish(self) -> Result<()> {
        if self.check().is_ok() {
            let _ = self.settle();
        }
        if let Some((frame, _)) = self.answered.take() {
            tracing::debug!("frame {frame} was asked for ahead and not needed: dropped");
        }
        match self.broken.into_inner() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The dialogue as the engine's source of host frames.
impl HostFrames for &Dialogue<'_> {
    fn fetch(&mut self, frame: i64) -> crate::Result<FrameImage> {
        Dialogue::fetch(self, frame)
    }
    fn ahead(&mut self, frame: i64) {
        self.ask_ahead(frame)
    }
}
