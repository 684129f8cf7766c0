//! OpenGL fallback for the overlay when the host offers no OFX Draw suite (OFX ≤ 1.4
//! hosts): during an interact's draw action the host's OpenGL context is current, and
//! overlays draw with fixed-function GL 1.x calls.
//!
//! The plugin links no GL library: the few functions used are resolved at run time from
//! the GL library the host already has loaded (`libGL.so.1`), so the plugin still loads on
//! render-farm machines without any GL. `SAMURAI_ROTO_GL_LIBRARY` names another library
//! (hosts with an unusual GL setup; the test host's recording stub).
//!
//! Host quirk: the GL state is the host's. Everything we change is saved and restored
//! with `glPushAttrib`/`glPopAttrib` around our drawing.
use super::sys;
use std::sync::OnceLock;

/// Environment variable naming the GL library to use instead of `libGL.so.1`.
pub const GL_LIBRARY_ENV: &str = "SAMURAI_ROTO_GL_LIBRARY";

const GL_CURRENT_BIT: u32 = 0x0001;
const GL_LINE_BIT: u32 = 0x0004;
const GL_ENABLE_BIT: u32 = 0x2000;
const GL_LINE_STIPPLE: u32 = 0x0B24;
const GL_LINE_LOOP: u32 = 0x0002;
const GL_LINES: u32 = 0x0001;

/// The GL 1.x entry points the overlay uses.
#[allow(non_snake_case)]
struct Fns {
    glPushAttrib: unsafe extern "C" fn(u32),
    glPopAttrib: unsafe extern "C" fn(),
    glColor4f: unsafe extern "C" fn(f32, f32, f32, f32),
    glLineWidth: unsafe extern "C" fn(f32),
    glEnable: unsafe extern "C" fn(u32),
    glDisable: unsafe extern "C" fn(u32),
    glLineStipple: unsafe extern "C" fn(i32, u16),
    glBegin: unsafe extern "C" fn(u32),
    glVertex2d: unsafe extern "C" fn(f64, f64),
    glEnd: unsafe extern "C" fn(),
}

static GL: OnceLock<Option<Fns>> = OnceLock::new();

fn open() -> Option<libloading::os::unix::Library> {
    use libloading::os::unix::{Library, RTLD_NOW};
    /// glibc's <dlfcn.h> (Linux): only return a library that is already loaded.
    const RTLD_NOLOAD: std::os::raw::c_int = 0x0004;
    if let Some(path) = std::env::var_os(GL_LIBRARY_ENV) {
        // SAFETY: loading a GL library runs only its initialisers.
        return unsafe { Library::open(Some(&path), RTLD_NOW) }
            .map_err(|e| tracing::warn!("SamuraiRoto overlay: {GL_LIBRARY_ENV}={}: {e}", path.to_string_lossy()))
            .ok();
    }
    // SAFETY: as above; RTLD_NOLOAD only finds the copy the host already loaded.
    unsafe { Library::open(Some("libGL.so.1"), RTLD_NOW | RTLD_NOLOAD) }
        .or_else(|_| unsafe { Library::open(Some("libGL.so.1"), RTLD_NOW) })
        .map_err(|e| tracing::warn!("SamuraiRoto overlay: no OpenGL library (libGL.so.1): {e}"))
        .ok()
}

fn load() -> Option<Fns> {
    let lib = open()?;
    macro_rules! sym {
        ($name:ident) => {
            // SAFETY: the symbol is the GL function of that name, whose C signature is the
            // field's type (OpenGL 1.x, unchanged since 1992).
            *unsafe { lib.get(concat!(stringify!($name), "\0").as_bytes()) }
                .map_err(|e| tracing::warn!("SamuraiRoto overlay: OpenGL has no {}: {e}", stringify!($name)))
                .ok()?
        };
    }
    let fns = Fns {
        glPushAttrib: sym!(glPushAttrib),
        glPopAttrib: sym!(glPopAttrib),
        glColor4f: sym!(glColor4f),
        glLineWidth: sym!(glLineWidth),
        glEnable: sym!(glEnable),
        glDisable: sym!(glDisable),
        glLineStipple: sym!(glLineStipple),
        glBegin: sym!(glBegin),
        glVertex2d: sym!(glVertex2d),
        glEnd: sym!(glEnd),
    };
    // The function pointers must stay valid for the life of the process.
    std::mem::forget(lib);
    Some(fns)
}

/// Drawing with OpenGL for one draw action; the host's GL state is restored on drop.
pub struct Gl(&'static Fns);

impl Gl {
    /// Starts drawing (saving the GL state we touch), or `None` without a GL library.
    pub fn begin() -> Option<Gl> {
        let fns = GL.get_or_init(load).as_ref()?;
        // SAFETY: called during the draw action, with the host's GL context current.
        unsafe { (fns.glPushAttrib)(GL_CURRENT_BIT | GL_LINE_BIT | GL_ENABLE_BIT) };
        Some(Gl(fns))
    }

    pub fn colour(&self, rgba: [f32; 4]) {
        // SAFETY: plain values, GL context current (see `begin`).
        unsafe { (self.0.glColor4f)(rgba[0], rgba[1], rgba[2], rgba[3]) }
    }

    /// Line width and an OFX Draw-suite stipple pattern.
    pub fn line(&self, width: f32, stipple: i32) {
        let pattern = match stipple {
            sys::kOfxDrawLineStipplePatternDot => Some((1, 0xAAAA)),
            sys::kOfxDrawLineStipplePatternDash => Some((3, 0x3333)),
            _ => None,
        };
        // SAFETY: plain values, GL context current (see `begin`).
        unsafe {
            (self.0.glLineWidth)(width);
            match pattern {
                Some((factor, bits)) => {
                    (self.0.glLineStipple)(factor, bits);
                    (self.0.glEnable)(GL_LINE_STIPPLE);
                }
                None => (self.0.glDisable)(GL_LINE_STIPPLE),
            }
        }
    }

    /// A closed polyline through `points` (canonical coordinates: the host's projection).
    pub fn line_loop(&self, points: &[sys::OfxPointD]) {
        self.primitive(GL_LINE_LOOP, points)
    }

    /// Separate segments: points 0–1, 2–3, ...
    pub fn lines(&self, points: &[sys::OfxPointD]) {
        self.primitive(GL_LINES, points)
    }

    fn primitive(&self, mode: u32, points: &[sys::OfxPointD]) {
        // SAFETY: a complete glBegin/glEnd pair with vertices only in between.
        unsafe {
            (self.0.glBegin)(mode);
            for p in points {
                (self.0.glVertex2d)(p.x, p.y);
            }
            (self.0.glEnd)();
        }
    }
}

impl Drop for Gl {
    fn drop(&mut self) {
        // SAFETY: pairs the glPushAttrib of `begin`.
        unsafe { (self.0.glPopAttrib)() }
    }
}
