/* Recording stand-in for libGL, for the test host: the plugin's OpenGL overlay fallback
 * (src/ofx/gl.rs) is pointed at this library through SAMURAI_ROTO_GL_LIBRARY, and each GL
 * call it makes is appended to a text log the test reads back (stub_gl_log). Built by
 * tests/ofx_host.rs with the system C compiler. */
#include <stdio.h>
#include <string.h>

static char log_buf[1 << 16];
static size_t log_len;

static void add(const char *line) {
    size_t n = strlen(line);
    if (log_len + n + 1 < sizeof log_buf) {
        memcpy(log_buf + log_len, line, n);
        log_len += n;
        log_buf[log_len] = 0;
    }
}

#define LOG(...) do { char line_[160]; snprintf(line_, sizeof line_, __VA_ARGS__); add(line_); } while (0)

void glPushAttrib(unsigned mask) { LOG("push %u\n", mask); }
void glPopAttrib(void) { LOG("pop\n"); }
void glColor4f(float r, float g, float b, float a) { LOG("colour %.2f %.2f %.2f %.2f\n", r, g, b, a); }
void glLineWidth(float w) { LOG("width %.1f\n", w); }
void glEnable(unsigned cap) { LOG("enable %u\n", cap); }
void glDisable(unsigned cap) { LOG("disable %u\n", cap); }
void glLineStipple(int factor, unsigned short pattern) { LOG("stipple %d %u\n", factor, pattern); }
void glBegin(unsigned mode) { LOG("begin %u\n", mode); }
void glVertex2d(double x, double y) { LOG("vertex %.1f %.1f\n", x, y); }
void glEnd(void) { LOG("end\n"); }

const char *stub_gl_log(void) { return log_buf; }
