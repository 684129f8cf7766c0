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
use parking_lot::Mutex;
use samurai_core::launch;
use samurai_core::protocol::{self as proto, Reply, Request};
use samurai_core::shm::Shm;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

pub use samurai_core::launch::{HELPER_ENV, HELPER_LOG_ENV, HELPER_PROGRAM, KEPT_ENV};

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
}

/// One connection: a socket and its shared region.
pub struct Connection {
    stream: UnixStream,
    pub shm: Shm,
}

static HELPER: Mutex<Option<Arc<Helper>>> = Mutex::new(None);
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The process's helper, started on first need (or again after it died).
pub fn helper() -> Result<Arc<Helper>, String> {
    let mut slot = HELPER.lock();
    if let Some(h) = slot.as_ref().filter(|h| h.alive()) {
        return Ok(h.clone());
    }
    let h = Arc::new(Helper::start(GENERATION.fetch_add(1, Ordering::SeqCst) + 1)?);
    *slot = Some(h.clone());
    Ok(h)
}

/// The running helper, if any (never starts one).
pub fn current() -> Result<Arc<Helper>, String> {
    HELPER.lock().as_ref().filter(|h| h.alive()).cloned().ok_or_else(|| "no helper running".into())
}

/// The helper binary: `SAMURAI_ROTO_HELPER`, else `samurai-roto-helper` beside this library.
pub fn helper_path() -> Result<PathBuf, String> {
    if let Some(p) = launch::helper_override() {
        return Ok(p);
    }
    let lib = own_library_path().ok_or("cannot find where the SamuraiRoto plugin was loaded from")?;
    Ok(launch::helper_path(lib.parent().ok_or("the SamuraiRoto plugin's path has no folder")?))
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
    fn start(generation: u64) -> Result<Helper, String> {
        let bin = helper_path()?;
        let level = std::env::var("SAMURAI_ROTO_LOG").unwrap_or_else(|_| "info".into());
        let launch::Started { child, lifeline, log } = launch::start(&bin, &launch::log_path(), &level).map_err(|e| e.to_string())?;
        let pid = child.id();
        tracing::info!("SamuraiRoto: started helper {} (pid {pid}, log {})", bin.display(), log.display());
        Ok(Helper { child: Mutex::new(child), lifeline, pid, generation, log, idle: Mutex::new(Vec::new()), dead: AtomicBool::new(false) })
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

    /// Marks the helper dead after a connection failed and says how it ended, for the
    /// artist (waits briefly for the process to finish dying).
    pub fn failure(&self, during: &str, error: &str) -> String {
        self.dead.store(true, Ordering::SeqCst);
        let mut status = None;
        for _ in 0..50 {
            if let Ok(Some(s)) = self.child.lock().try_wait() {
                status = Some(s);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let how = match status {
            Some(s) => launch::describe_exit(s),
            None => format!("broke the connection ({error})"),
        };
        format!(
            "SamuraiRoto's helper process (pid {}) {how} while {during}. Frames finished so far are kept; render again to start a new helper. Its log: {}",
            self.pid,
            self.log.display()
        )
    }

    /// A connection: an idle one, or a new one passed over the lifeline.
    pub fn connect(self: &Arc<Self>) -> Result<Lease, String> {
        if let Some(conn) = self.idle.lock().pop() {
            return Ok(Lease { helper: self.clone(), conn: Some(conn) });
        }
        let shm = launch::new_region().map_err(|e| e.to_string())?;
        let stream = launch::open_connection(&self.lifeline, &shm).map_err(|e| self.failure("connecting", &e.to_string()))?;
        let mut lease = Lease { helper: self.clone(), conn: Some(Connection { stream, shm }) };
        match lease.call(&Request::Hello { version: proto::VERSION }, "connecting")? {
            Reply::Welcome { version, .. } if version == proto::VERSION => Ok(lease),
            other => {
                Err(format!("SamuraiRoto's helper answered {other:?} to Hello; is the bundle's helper from another version of the plugin?"))
            }
        }
    }
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

    /// Sends `request`; a broken connection marks the helper dead.
    pub fn send(&mut self, request: &Request, during: &str) -> Result<(), String> {
        let conn = self.conn.as_mut().ok_or("connection already failed")?;
        if let Err(e) = proto::write_message(&mut proto::NoSigPipe(&conn.stream), request) {
            self.conn = None;
            return Err(self.helper.failure(during, &e.to_string()));
        }
        Ok(())
    }

    /// The next reply; a broken connection (or a malformed reply) marks the helper dead.
    pub fn receive(&mut self, during: &str) -> Result<Reply, String> {
        let conn = self.conn.as_mut().ok_or("connection already failed")?;
        match proto::read_reply(&mut conn.stream) {
            Ok(r) => Ok(r),
            Err(e) => {
                self.conn = None;
                Err(self.helper.failure(during, &e.to_string()))
            }
        }
    }

    /// `send` then `receive`.
    pub fn call(&mut self, request: &Request, during: &str) -> Result<Reply, String> {
        self.send(request, during)?;
        self.receive(during)
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
