//! The plugin's side of the helper process (see `samurai_core::protocol`): starting
//! `samurai-roto-helper` on first need, one per host process and shared by every instance,
//! and handing out connections to it.
//!
//! - The helper binary sits beside this library in the bundle (`SAMURAI_ROTO_HELPER`
//!   names another). It starts with a clean environment: hosts put their own library
//!   folders on `LD_LIBRARY_PATH` (Nuke does) and may preload libraries, and either would
//!   make the helper bind the host's libtorch instead of the bundle's (RUNPATH loses to
//!   `LD_LIBRARY_PATH`). Only the variables in [`KEPT_ENV`] pass.
//! - Its standard input is the lifeline socket: when the host process dies, the kernel
//!   closes our end and the helper exits (no orphans). Its output goes to a log file
//!   (`SAMURAI_ROTO_HELPER_LOG`, default `$TMPDIR/samurai-roto-helper-<host pid>.log`).
//! - If the helper dies, the connection in use fails, the helper is marked dead with how
//!   it ended, and the next request starts a new one.
//! - Nothing waits forever: every wait on the helper (its first answer, a reply, room to
//!   send) runs in slices of [`SLICE`] and looks, between slices, at the host's abort and
//!   at the watchdog. A busy helper sends a heartbeat every few seconds (see
//!   `samurai_core::protocol`); one silent for [`proto::helper_timeout`] while we wait is
//!   hung: it is killed (SIGKILL, then reaped) and the wait fails as if it had died.
use parking_lot::Mutex;
use samurai_core::launch;
use samurai_core::protocol::{self as proto, Reply, Request};
use samurai_core::shm::Shm;
use samurai_core::{EngineError, EngineResult, ErrorKind};
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use samurai_core::launch::{HELPER_ENV, HELPER_LOG_ENV, HELPER_PROGRAM, KEPT_ENV};

/// How long one wait on a socket lasts before the host's abort and the watchdog are
/// looked at again.
pub const SLICE: Duration = Duration::from_millis(100);
/// The most a courtesy request (closing or clearing a session) waits for its answer.
const BRIEF: Duration = Duration::from_secs(5);

/// Why a wait on the helper ended without its answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The helper died, broke the connection or was declared hung and killed: what
    /// happened, in words (the caller says what it does about it). A new helper can
    /// compute the same thing again.
    Lost(String),
    /// The host asked to stop while we waited (the message says so); `helper_killed`: the
    /// helper was stopped or hung and the node killed it on the way out.
    Aborted { message: String, helper_killed: bool },
    /// Anything else: the helper's own failure (of its kind), a refusal, a reply out of
    /// turn.
    Failed(EngineError),
}

impl Fault {
    /// The message as it stands.
    pub fn message(self) -> String {
        match self {
            Fault::Lost(m) | Fault::Aborted { message: m, .. } => m,
            Fault::Failed(e) => e.message,
        }
    }

    /// A failure of the helper's side of the conversation that is not a lost helper (a
    /// connection that cannot be set up, an answer out of turn).
    pub fn helper(message: impl Into<String>) -> Self {
        Fault::Failed(EngineError::new(ErrorKind::Helper, message))
    }
}

/// What the node makes of a fault: a lost helper (or one killed on an abort) is a helper
/// failure, a plain abort a cancellation.
impl From<Fault> for EngineError {
    fn from(fault: Fault) -> Self {
        match fault {
            Fault::Lost(m) | Fault::Aborted { message: m, helper_killed: true } => EngineError::new(ErrorKind::Helper, m),
            Fault::Aborted { message: m, helper_killed: false } => EngineError::cancelled(m),
            Fault::Failed(e) => e,
        }
    }
}

/// A failure of a request (the helper's, or the node's own while serving it): a cancel
/// (the plugin's progress answer said stop) ends the wait like the host's abort; anything
/// else keeps its kind.
impl From<EngineError> for Fault {
    fn from(e: EngineError) -> Self {
        match e.kind {
            ErrorKind::Cancelled => Fault::Aborted { message: e.message, helper_killed: false },
            _ => Fault::Failed(e),
        }
    }
}

/// An error of the libtorch-free layer met while serving a request (a frame that does not
/// fit the shared region, say).
impl From<samurai_core::Error> for Fault {
    fn from(e: samurai_core::Error) -> Self {
        Fault::Failed(e.into())
    }
}

/// A running helper process.
pub struct Helper {
    child: Mutex<Child>,
    lifeline: UnixStream,
    pub pid: u32,
    /// Counts helpers started by this process; sessions are configured per generation.
    pub generation: u64,
    pub log: PathBuf,
    idle: Mutex<Vec<Connection>>,
    dead: AtomicBool,
    /// It answered a `Hello` once (until then it is starting and gets a longer limit).
    welcomed: AtomicBool,
    /// Why the node ended it (declared hung), for the messages of every wait it breaks.
    ended: Mutex<Option<String>>,
}

/// One connection: a socket, its shared region, and the bytes received and not yet read
/// as a message (replies are read in slices, so one may arrive in parts).
pub struct Connection {
    stream: UnixStream,
    pub shm: Shm,
    inbox: Vec<u8>,
}

/// Appends `line` to the helpers' log (the plugin's own notes: a helper declared hung, a
/// frame computed again), so the log tells the whole story of a render.
pub fn note_in_log(log: &std::path::Path, line: &str) {
    use std::io::Write;
    let file = std::fs::OpenOptions::new().create(true).append(true).open(log);
    if let Err(e) = file.and_then(|mut f| writeln!(f, "SamuraiRoto plugin (host pid {}): {line}", std::process::id())) {
        tracing::warn!("SamuraiRoto: cannot write to the helper log {}: {e}", log.display());
    }
}

static HELPER: Mutex<Option<Arc<Helper>>> = Mutex::new(None);
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The process's helper, started on first need (or again after it died).
pub fn helper() -> EngineResult<Arc<Helper>> {
    let mut slot = HELPER.lock();
    if let Some(h) = slot.as_ref().filter(|h| h.alive()) {
        return Ok(h.clone());
    }
    if let Some(old) = slot.as_ref() {
        let _ = old.child.lock().try_wait(); // reaps one killed while stuck in the kernel
    }
    let h = Arc::new(Helper::start(GENERATION.fetch_add(1, Ordering::SeqCst) + 1)?);
    *slot = Some(h.clone());
    Ok(h)
}

/// The running helper, if any (never starts one).
pub fn current() -> EngineResult<Arc<Helper>> {
    HELPER.lock().as_ref().filter(|h| h.alive()).cloned().ok_or_else(|| EngineError::new(ErrorKind::Helper, "no helper running"))
}

/// The helper binary: `SAMURAI_ROTO_HELPER`, else `samurai-roto-helper` beside this library.
pub fn helper_path() -> EngineResult<PathBuf> {
    if let Some(p) = launch::helper_override() {
        return Ok(p);
    }
    let not_found = |why: &str| EngineError::new(ErrorKind::Helper, why);
    let lib = own_library_path().ok_or_else(|| not_found("cannot find where the SamuraiRoto plugin was loaded from"))?;
    Ok(launch::helper_path(lib.parent().ok_or_else(|| not_found("the SamuraiRoto plugin's path has no folder"))?))
}

/// The file this library was mapped from, found in `/proc/self/maps` by the address of
/// one of its functions.
fn own_library_path() -> Option<PathBuf> {
    let here = own_library_path as fn() -> Option<PathBuf> as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        let (lo, hi) = parts.next()?.split_once('-')?;
        let (lo, hi) = (usize::from_str_radix(lo, 16).ok()?, usize::from_str_radix(hi, 16).ok()?);
        let path = parts.nth(4)?;
        (lo <= here && here < hi && path.starts_with('/')).then(|| PathBuf::from(path))
    })
}

impl Helper {
    fn start(generation: u64) -> EngineResult<Helper> {
        let bin = helper_path()?;
        let level = std::env::var("SAMURAI_ROTO_LOG").unwrap_or_else(|_| "info".into());
        let launch::Started { child, lifeline, log } = launch::start(&bin, &launch::log_path(), &level)?;
        let pid = child.id();
        tracing::info!("SamuraiRoto: started helper {} (pid {pid}, log {})", bin.display(), log.display());
        Ok(Helper {
            child: Mutex::new(child),
            lifeline,
            pid,
            generation,
            log,
            idle: Mutex::new(Vec::new()),
            dead: AtomicBool::new(false),
            welcomed: AtomicBool::new(false),
            ended: Mutex::new(None),
        })
    }

    /// Whether the process still runs (reaps it when it ended).
    pub fn alive(&self) -> bool {
        if self.dead.load(Ordering::SeqCst) {
            return false;
        }
        let ended = !matches!(self.child.lock().try_wait(), Ok(None));
        if ended {
            self.dead.store(true, Ordering::SeqCst);
        }
        !ended
    }

    /// Marks the helper dead after a connection failed and says how it ended (waits
    /// briefly for the process to finish dying); what happened, not what to do about it.
    pub fn failure(&self, during: &str, error: &str) -> String {
        self.dead.store(true, Ordering::SeqCst);
        self.idle.lock().clear();
        if let Some(ended) = self.ended.lock().clone() {
            return ended;
        }
        let mut status = None;
        for _ in 0..50 {
            if let Ok(Some(s)) = self.child.lock().try_wait() {
                status = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let how = match status {
            Some(s) => launch::describe_exit(s),
            None => format!("broke the connection ({error})"),
        };
        format!("SamuraiRoto's helper process (pid {}) {how} while {during} (its log: {})", self.pid, self.log.display())
    }

    /// Kills the process (SIGKILL) and reaps it, waiting at most 2 s (a process stuck in
    /// the kernel dies only when it leaves it; `alive` reaps it then). Marks it dead.
    pub fn kill(&self) {
        self.dead.store(true, Ordering::SeqCst);
        self.idle.lock().clear();
        let mut child = self.child.lock();
        if let Err(e) = child.kill() {
            tracing::debug!("SamuraiRoto: helper {} not killed: {e}", self.pid);
        }
        let start = Instant::now();
        while !matches!(child.try_wait(), Ok(Some(_)) | Err(_)) && start.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills a helper silent for `silent` while we waited on it `during` something, and
    /// says so (pid, seconds, limit, log) for the artist, the log and every other wait.
    fn declare_hung(&self, during: &str, silent: Duration, limit: Duration) -> String {
        let text = format!(
            "SamuraiRoto's helper process (pid {}) sent nothing for {:.1} s while {during} (the watchdog's limit is {:.1} s, \
             set by {}): the node declared it hung and killed it (its log: {})",
            self.pid,
            silent.as_secs_f64(),
            limit.as_secs_f64(),
            proto::TIMEOUT_ENV,
            self.log.display()
        );
        self.ended.lock().get_or_insert_with(|| text.clone());
        self.kill();
        tracing::warn!("{text}");
        note_in_log(&self.log, &text);
        text
    }

    /// How long a wait on this helper may go without hearing from it.
    fn limit(&self) -> Duration {
        let limit = proto::helper_timeout();
        if self.welcomed.load(Ordering::SeqCst) {
            limit
        } else {
            limit * proto::STARTUP_FACTOR
        }
    }

    /// A connection: an idle one, or a new one passed over the lifeline. `abort` (the
    /// host's) ends the wait for the helper's first answer.
    pub fn connect(self: &Arc<Self>, abort: &dyn Fn() -> bool) -> Result<Lease, Fault> {
        if let Some(conn) = self.idle.lock().pop() {
            return Ok(Lease { helper: self.clone(), conn: Some(conn) });
        }
        let shm = launch::new_region()?;
        let stream = launch::open_connection(&self.lifeline, &shm).map_err(|e| Fault::Lost(self.failure("connecting", &e.to_string())))?;
        let sliced = stream.set_read_timeout(Some(SLICE)).and_then(|_| stream.set_write_timeout(Some(SLICE)));
        sliced.map_err(|e| Fault::helper(format!("cannot set up a connection to SamuraiRoto's helper: {e}")))?;
        let mut lease = Lease { helper: self.clone(), conn: Some(Connection { stream, shm, inbox: Vec::new() }) };
        let during = if self.welcomed.load(Ordering::SeqCst) { "connecting" } else { "starting" };
        match lease.call(&Request::Hello { version: proto::VERSION }, during, abort)? {
            Reply::Welcome { version, .. } if version == proto::VERSION => {
                self.welcomed.store(true, Ordering::SeqCst);
                Ok(lease)
            }
            other => Err(Fault::helper(format!(
                "SamuraiRoto's helper answered {other:?} to Hello; is the bundle's helper from another version of the plugin?"
            ))),
        }
    }
}

/// Whether a read or write error only says the slice ended (or a signal came) with
/// nothing moved.
fn slice_ended(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted)
}

/// Whether process `pid` is stopped (state `T` or `t` in `/proc/<pid>/stat`).
fn process_stopped(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // "pid (comm) state ...": comm may hold spaces and parentheses, so look after the last ')'.
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()).is_some_and(|s| s == "T" || s == "t")
}

/// What the watchdog does when a wait hears nothing for its limit.
#[derive(Clone, Copy, PartialEq)]
enum Silence {
    /// Declares the helper hung and kills it.
    Kill,
    /// Gives up on the answer only (a courtesy request: the next real one judges).
    GiveUp,
}

/// A connection lent to one request; back to the pool when dropped in good order.
pub struct Lease {
    helper: Arc<Helper>,
    conn: Option<Connection>,
}

impl Lease {
    pub fn helper(&self) -> &Arc<Helper> {
        &self.helper
    }

    /// The connection's shared region.
    pub fn shm(&mut self) -> &mut Shm {
        &mut self.conn.as_mut().expect("a lease holds its connection until dropped").shm
    }

    /// Sends `request` (in slices: a stopped helper does not read, and a big request may
    /// not fit the socket's buffer); a broken connection marks the helper dead.
    pub fn send(&mut self, request: &Request, during: &str, abort: &dyn Fn() -> bool) -> Result<(), Fault> {
        let framed = proto::encode_message(request)?;
        let limit = self.helper.limit();
        let (mut sent, mut moved) = (0, Instant::now());
        while sent < framed.len() {
            let conn = self.conn.as_ref().ok_or_else(|| Fault::helper("connection already failed"))?;
            match rustix::net::send(&conn.stream, &framed[sent..], rustix::net::SendFlags::NOSIGNAL) {
                Ok(n) => {
                    sent += n;
                    moved = Instant::now();
                }
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {}
                Err(e) => {
                    self.conn = None;
                    return Err(Fault::Lost(self.helper.failure(during, &format!("connection lost while sending: {e}"))));
                }
            }
            if sent < framed.len() {
                self.watch(during, abort, moved.elapsed(), limit, Silence::Kill)?;
            }
        }
        Ok(())
    }

    /// The next reply, skipping heartbeats; a broken connection (or a malformed reply)
    /// marks the helper dead, a silent helper is killed, the host's abort ends the wait.
    pub fn receive(&mut self, during: &str, abort: &dyn Fn() -> bool) -> Result<Reply, Fault> {
        let limit = self.helper.limit();
        self.receive_within(during, abort, limit, Silence::Kill)
    }

    fn receive_within(&mut self, during: &str, abort: &dyn Fn() -> bool, limit: Duration, silence: Silence) -> Result<Reply, Fault> {
        let mut heard = Instant::now();
        let mut chunk = [0u8; 16 << 10];
        loop {
            let conn = self.conn.as_mut().ok_or_else(|| Fault::helper("connection already failed"))?;
            let read = match proto::take_frame(&mut conn.inbox) {
                Ok(Some(body)) => match proto::decode_reply(&body) {
                    Ok(Reply::Heartbeat) => continue,
                    Ok(reply) => return Ok(reply),
                    Err(e) => Err(e.to_string()),
                },
                Ok(None) => match (&conn.stream).read(&mut chunk) {
                    Ok(0) => Err("the helper closed the connection".into()),
                    Ok(n) => {
                        conn.inbox.extend_from_slice(&chunk[..n]);
                        heard = Instant::now();
                        continue;
                    }
                    Err(e) if slice_ended(&e) => Ok(()),
                    Err(e) => Err(format!("connection lost: {e}")),
                },
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = read {
                self.conn = None;
                return Err(Fault::Lost(self.helper.failure(during, &e)));
            }
            self.watch(during, abort, heard.elapsed(), limit, silence)?;
        }
    }

    /// Between slices of a wait: the host's abort ends it (the connection is dropped, and
    /// a helper silent for more than two heartbeats, stopped or hung, is killed: nothing
    /// else would end it while the host shuts down); silence beyond `limit` is a hung helper.
    fn watch(&mut self, during: &str, abort: &dyn Fn() -> bool, silent: Duration, limit: Duration, silence: Silence) -> Result<(), Fault> {
        if abort() {
            self.conn = None;
            let mut message =
                format!("SamuraiRoto: cancelled while {during} (the host aborted the render); frames finished so far are kept.");
            // Stopped or hung, the helper could not even read its lifeline closing when
            // the host quits: it is killed rather than left behind.
            let stopped = process_stopped(self.helper.pid);
            let hung = silent > 2 * proto::heartbeat_interval(proto::helper_timeout());
            let helper_killed = (stopped || hung) && silence == Silence::Kill;
            if helper_killed {
                self.helper.kill();
                let why = match stopped {
                    true => "was stopped (SIGSTOP or a debugger)".to_owned(),
                    false => format!("had sent nothing for {:.1} s (hung)", silent.as_secs_f64()),
                };
                let note = format!("The helper process (pid {}) {why}: the node killed it.", self.helper.pid);
                note_in_log(&self.helper.log, &note);
                message = format!("{message} {note}");
            }
            tracing::warn!("{message}");
            return Err(Fault::Aborted { message, helper_killed });
        }
        if silent >= limit {
            self.conn = None;
            return Err(match silence {
                Silence::Kill => Fault::Lost(self.helper.declare_hung(during, silent, limit)),
                Silence::GiveUp => {
                    Fault::helper(format!("SamuraiRoto's helper did not answer within {:.1} s while {during}", silent.as_secs_f64()))
                }
            });
        }
        Ok(())
    }

    /// `send` then `receive`.
    pub fn call(&mut self, request: &Request, during: &str, abort: &dyn Fn() -> bool) -> Result<Reply, Fault> {
        self.send(request, during, abort)?;
        self.receive(during, abort)
    }

    /// `send` then `receive` for a courtesy request that must not hold up its caller (an
    /// instance closing): waits at most a few seconds, and never kills the helper.
    pub fn call_briefly(&mut self, request: &Request, during: &str) -> Result<Reply, Fault> {
        self.send(request, during, &|| false)?;
        let limit = self.helper.limit().min(BRIEF);
        self.receive_within(during, &|| false, limit, Silence::GiveUp)
    }

    /// Drops the connection instead of pooling it (after a dialogue ended abnormally).
    pub fn discard(&mut self) {
        self.conn = None;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if !self.helper.dead.load(Ordering::SeqCst) {
                self.helper.idle.lock().push(conn);
            }
        }
    }
}
