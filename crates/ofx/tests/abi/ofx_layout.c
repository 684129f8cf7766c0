/* The C side of the ABI layout test (tests/abi_layout.rs): the sizes, alignments and field
 * offsets of the structs src/sys.rs declares, its integer constants and its names, as the
 * official OpenFX headers define them. build.rs generates the rows (ofx_layout_gen.h, from
 * src/sys.rs) and compiles this file against the headers in OFX_INCLUDE_DIR. */
#include <stddef.h>

#include "ofxCore.h"
#include "ofxDrawSuite.h"
#include "ofxImageEffect.h"
#include "ofxInteract.h"
#include "ofxKeySyms.h"
#include "ofxMemory.h"
#include "ofxMessage.h"
#include "ofxMultiThread.h"
#include "ofxParam.h"
#include "ofxPixels.h"
#include "ofxProgress.h"
#include "ofxProperty.h"

/* One row: a key ("size OfxRectI", "offset OfxRectI.x1", "size OfxRectI.x1", "const kOfxStatOK",
 * "name kOfxPropType"), an integer value, or a string value for names; `defined` is 0 for
 * a constant or name the headers do not define. */
struct samurai_ofx_layout_row {
  const char *key;
  long long value;
  const char *text;
  int defined;
};

#define SIZE(T) {"size " #T, (long long)sizeof(T), NULL, 1},
#define ALIGN(T) {"align " #T, (long long)_Alignof(T), NULL, 1},
#define OFFSET(T, f) {"offset " #T "." #f, (long long)offsetof(T, f), NULL, 1},
#define FIELD_SIZE(T, f) {"size " #T "." #f, (long long)sizeof(((T *)0)->f), NULL, 1},
#define CONST(k) {"const " #k, (long long)(k), NULL, 1},
#define NAME(k) {"name " #k, 0, k, 1},
#define MISSING(key) {key, 0, NULL, 0},

static const struct samurai_ofx_layout_row rows[] = {
#include "ofx_layout_gen.h"
    /* sys.rs passes the draw suite's C enums as int. */
    {"enum size OfxStandardColour", (long long)sizeof(OfxStandardColour), NULL, 1},
    {"enum size OfxDrawLineStipplePattern", (long long)sizeof(OfxDrawLineStipplePattern), NULL, 1},
    {"enum size OfxDrawPrimitive", (long long)sizeof(OfxDrawPrimitive), NULL, 1},
    {"enum size OfxDrawTextAlignment", (long long)sizeof(OfxDrawTextAlignment), NULL, 1},
};

const struct samurai_ofx_layout_row *samurai_ofx_layout(size_t *count) {
  *count = sizeof(rows) / sizeof(rows[0]);
  return rows;
}
