//! Raw OpenFX 1.4/1.5 C ABI: the handles, structs, suite tables, status codes and the
//! property/action names this plugin uses. Written from the documented ABI of the public
//! OpenFX headers (ofxCore.h, ofxProperty.h, ofxParam.h, ofxImageEffect.h, ofxInteract.h,
//! ofxMemory.h, ofxMultiThread.h, ofxMessage.h, ofxProgress.h, ofxDrawSuite.h).
//!
//! Why not the `openfx` crate: 0.7.0 needs rustc 1.99 and 0.6.0 is a whole framework
//! (macros, generated object model) rather than a thin sys layer; the handful of tables we
//! need fit in this file. Field order and names follow the headers; nothing here is ever
//! reordered. The in-repo test host (`tests/ofx_host/`) is built from these same
//! declarations, so it cannot catch a slip in them; `tests/abi_layout.rs` does: it compares
//! every struct's size, alignment and field offsets and sizes, every integer constant and
//! every name here with the official OpenFX headers, as a C compiler sees them.
//!
//! Variadic functions (`paramGetValue`, `message`, ...) are declared variadic: Rust may call
//! C variadics through function pointers.
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]

use std::ffi::{c_char, c_double, c_int, c_uint, c_void};

/// The status every OFX function returns.
pub type OfxStatus = c_int;
pub type OfxTime = c_double;

macro_rules! opaque {
    ($($name:ident),*) => {$(
        #[repr(C)]
        pub struct $name { _private: [u8; 0] }
    )*};
}
opaque!(
    OfxPropertySetStruct,
    OfxParamSetStruct,
    OfxParamStruct,
    OfxImageEffectStruct,
    OfxImageClipStruct,
    OfxImageMemoryStruct,
    OfxMutex,
    OfxInteract,
    OfxDrawContext
);

pub type OfxPropertySetHandle = *mut OfxPropertySetStruct;
pub type OfxParamSetHandle = *mut OfxParamSetStruct;
pub type OfxParamHandle = *mut OfxParamStruct;
pub type OfxImageEffectHandle = *mut OfxImageEffectStruct;
pub type OfxImageClipHandle = *mut OfxImageClipStruct;
pub type OfxImageMemoryHandle = *mut OfxImageMemoryStruct;
pub type OfxMutexHandle = *mut OfxMutex;
pub type OfxInteractHandle = *mut OfxInteract;
pub type OfxDrawContextHandle = *mut OfxDrawContext;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OfxPointD {
    pub x: c_double,
    pub y: c_double,
}
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OfxRectD {
    pub x1: c_double,
    pub y1: c_double,
    pub x2: c_double,
    pub y2: c_double,
}
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OfxRectI {
    pub x1: c_int,
    pub y1: c_int,
    pub x2: c_int,
    pub y2: c_int,
}
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OfxRangeD {
    pub min: c_double,
    pub max: c_double,
}
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OfxRGBAColourF {
    pub r: f32,
    pub g: f32,
    pub b: f32,
    pub a: f32,
}

/// ofxCore.h: what the host hands the plugin in `setHost`.
#[repr(C)]
pub struct OfxHost {
    pub host: OfxPropertySetHandle,
    pub fetchSuite: Option<unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int) -> *const c_void>,
}

/// ofxCore.h: the main entry point of a plugin (and of an interact).
pub type OfxPluginEntryPoint = unsafe extern "C" fn(
    action: *const c_char,
    handle: *const c_void,
    inArgs: OfxPropertySetHandle,
    outArgs: OfxPropertySetHandle,
) -> OfxStatus;

/// ofxCore.h: one plugin as returned by `OfxGetPlugin`.
#[repr(C)]
pub struct OfxPlugin {
    pub pluginApi: *const c_char,
    pub apiVersion: c_int,
    pub pluginIdentifier: *const c_char,
    pub pluginVersionMajor: c_uint,
    pub pluginVersionMinor: c_uint,
    pub setHost: Option<unsafe extern "C" fn(*mut OfxHost)>,
    pub mainEntry: Option<OfxPluginEntryPoint>,
}

type P = OfxPropertySetHandle;
type S = *const c_char;
/// ofxProperty.h, `OfxPropertySuiteV1`.
#[repr(C)]
pub struct OfxPropertySuiteV1 {
    pub propSetPointer: unsafe extern "C" fn(P, S, c_int, *mut c_void) -> OfxStatus,
    pub propSetString: unsafe extern "C" fn(P, S, c_int, S) -> OfxStatus,
    pub propSetDouble: unsafe extern "C" fn(P, S, c_int, c_double) -> OfxStatus,
    pub propSetInt: unsafe extern "C" fn(P, S, c_int, c_int) -> OfxStatus,
    pub propSetPointerN: unsafe extern "C" fn(P, S, c_int, *const *mut c_void) -> OfxStatus,
    pub propSetStringN: unsafe extern "C" fn(P, S, c_int, *const S) -> OfxStatus,
    pub propSetDoubleN: unsafe extern "C" fn(P, S, c_int, *const c_double) -> OfxStatus,
    pub propSetIntN: unsafe extern "C" fn(P, S, c_int, *const c_int) -> OfxStatus,
    pub propGetPointer: unsafe extern "C" fn(P, S, c_int, *mut *mut c_void) -> OfxStatus,
    pub propGetString: unsafe extern "C" fn(P, S, c_int, *mut *mut c_char) -> OfxStatus,
    pub propGetDouble: unsafe extern "C" fn(P, S, c_int, *mut c_double) -> OfxStatus,
    pub propGetInt: unsafe extern "C" fn(P, S, c_int, *mut c_int) -> OfxStatus,
    pub propGetPointerN: unsafe extern "C" fn(P, S, c_int, *mut *mut c_void) -> OfxStatus,
    pub propGetStringN: unsafe extern "C" fn(P, S, c_int, *mut *mut c_char) -> OfxStatus,
    pub propGetDoubleN: unsafe extern "C" fn(P, S, c_int, *mut c_double) -> OfxStatus,
    pub propGetIntN: unsafe extern "C" fn(P, S, c_int, *mut c_int) -> OfxStatus,
    pub propReset: unsafe extern "C" fn(P, S) -> OfxStatus,
    pub propGetDimension: unsafe extern "C" fn(P, S, *mut c_int) -> OfxStatus,
}

type PS = OfxParamSetHandle;
type PH = OfxParamHandle;
/// ofxParam.h, `OfxParameterSuiteV1`. Value accessors are C variadics.
#[repr(C)]
pub struct OfxParameterSuiteV1 {
    pub paramDefine: unsafe extern "C" fn(PS, S, S, *mut P) -> OfxStatus,
    pub paramGetHandle: unsafe extern "C" fn(PS, S, *mut PH, *mut P) -> OfxStatus,
    pub paramSetGetPropertySet: unsafe extern "C" fn(PS, *mut P) -> OfxStatus,
    pub paramGetPropertySet: unsafe extern "C" fn(PH, *mut P) -> OfxStatus,
    pub paramGetValue: unsafe extern "C" fn(PH, ...) -> OfxStatus,
    pub paramGetValueAtTime: unsafe extern "C" fn(PH, OfxTime, ...) -> OfxStatus,
    pub paramGetDerivative: unsafe extern "C" fn(PH, OfxTime, ...) -> OfxStatus,
    pub paramGetIntegral: unsafe extern "C" fn(PH, OfxTime, OfxTime, ...) -> OfxStatus,
    pub paramSetValue: unsafe extern "C" fn(PH, ...) -> OfxStatus,
    pub paramSetValueAtTime: unsafe extern "C" fn(PH, OfxTime, ...) -> OfxStatus,
    pub paramGetNumKeys: unsafe extern "C" fn(PH, *mut c_uint) -> OfxStatus,
    pub paramGetKeyTime: unsafe extern "C" fn(PH, c_uint, *mut OfxTime) -> OfxStatus,
    pub paramGetKeyIndex: unsafe extern "C" fn(PH, OfxTime, c_int, *mut c_int) -> OfxStatus,
    pub paramDeleteKey: unsafe extern "C" fn(PH, OfxTime) -> OfxStatus,
    pub paramDeleteAllKeys: unsafe extern "C" fn(PH) -> OfxStatus,
    pub paramCopy: unsafe extern "C" fn(PH, PH, OfxTime, *const OfxRangeD) -> OfxStatus,
    pub paramEditBegin: unsafe extern "C" fn(PS, S) -> OfxStatus,
    pub paramEditEnd: unsafe extern "C" fn(PS) -> OfxStatus,
}

type E = OfxImageEffectHandle;
type C = OfxImageClipHandle;
/// ofxImageEffect.h, `OfxImageEffectSuiteV1`.
#[repr(C)]
pub struct OfxImageEffectSuiteV1 {
    pub getPropertySet: unsafe extern "C" fn(E, *mut P) -> OfxStatus,
    pub getParamSet: unsafe extern "C" fn(E, *mut PS) -> OfxStatus,
    pub clipDefine: unsafe extern "C" fn(E, S, *mut P) -> OfxStatus,
    pub clipGetHandle: unsafe extern "C" fn(E, S, *mut C, *mut P) -> OfxStatus,
    pub clipGetPropertySet: unsafe extern "C" fn(C, *mut P) -> OfxStatus,
    pub clipGetImage: unsafe extern "C" fn(C, OfxTime, *const OfxRectD, *mut P) -> OfxStatus,
    pub clipReleaseImage: unsafe extern "C" fn(P) -> OfxStatus,
    pub clipGetRegionOfDefinition: unsafe extern "C" fn(C, OfxTime, *mut OfxRectD) -> OfxStatus,
    pub abort: unsafe extern "C" fn(E) -> c_int,
    pub imageMemoryAlloc: unsafe extern "C" fn(E, usize, *mut OfxImageMemoryHandle) -> OfxStatus,
    pub imageMemoryFree: unsafe extern "C" fn(OfxImageMemoryHandle) -> OfxStatus,
    pub imageMemoryLock: unsafe extern "C" fn(OfxImageMemoryHandle, *mut *mut c_void) -> OfxStatus,
    pub imageMemoryUnlock: unsafe extern "C" fn(OfxImageMemoryHandle) -> OfxStatus,
}

/// ofxMemory.h, `OfxMemorySuiteV1`.
#[repr(C)]
pub struct OfxMemorySuiteV1 {
    pub memoryAlloc: unsafe extern "C" fn(*mut c_void, usize, *mut *mut c_void) -> OfxStatus,
    pub memoryFree: unsafe extern "C" fn(*mut c_void) -> OfxStatus,
}

/// ofxMultiThread.h: the function the host runs on each of its threads.
pub type OfxThreadFunctionV1 = unsafe extern "C" fn(c_uint, c_uint, *mut c_void);
/// ofxMultiThread.h, `OfxMultiThreadSuiteV1`.
#[repr(C)]
pub struct OfxMultiThreadSuiteV1 {
    pub multiThread: unsafe extern "C" fn(OfxThreadFunctionV1, c_uint, *mut c_void) -> OfxStatus,
    pub multiThreadNumCPUs: unsafe extern "C" fn(*mut c_uint) -> OfxStatus,
    pub multiThreadIndex: unsafe extern "C" fn(*mut c_uint) -> OfxStatus,
    pub multiThreadIsSpawnedThread: unsafe extern "C" fn() -> c_int,
    pub mutexCreate: unsafe extern "C" fn(*mut OfxMutexHandle, c_int) -> OfxStatus,
    pub mutexDestroy: unsafe extern "C" fn(OfxMutexHandle) -> OfxStatus,
    pub mutexLock: unsafe extern "C" fn(OfxMutexHandle) -> OfxStatus,
    pub mutexUnLock: unsafe extern "C" fn(OfxMutexHandle) -> OfxStatus,
    pub mutexTryLock: unsafe extern "C" fn(OfxMutexHandle) -> OfxStatus,
}

/// ofxMessage.h, `OfxMessageSuiteV1` (prefix of V2).
#[repr(C)]
pub struct OfxMessageSuiteV1 {
    pub message: unsafe extern "C" fn(*mut c_void, S, S, S, ...) -> OfxStatus,
}
/// ofxMessage.h, `OfxMessageSuiteV2`: adds persistent messages.
#[repr(C)]
pub struct OfxMessageSuiteV2 {
    pub message: unsafe extern "C" fn(*mut c_void, S, S, S, ...) -> OfxStatus,
    pub setPersistentMessage: unsafe extern "C" fn(*mut c_void, S, S, S, ...) -> OfxStatus,
    pub clearPersistentMessage: unsafe extern "C" fn(*mut c_void) -> OfxStatus,
}

/// ofxProgress.h, `OfxProgressSuiteV1`.
#[repr(C)]
pub struct OfxProgressSuiteV1 {
    pub progressStart: unsafe extern "C" fn(*mut c_void, S) -> OfxStatus,
    pub progressUpdate: unsafe extern "C" fn(*mut c_void, c_double) -> OfxStatus,
    pub progressEnd: unsafe extern "C" fn(*mut c_void) -> OfxStatus,
}
/// ofxProgress.h, `OfxProgressSuiteV2`: start takes a message id as well.
#[repr(C)]
pub struct OfxProgressSuiteV2 {
    pub progressStart: unsafe extern "C" fn(*mut c_void, S, S) -> OfxStatus,
    pub progressUpdate: unsafe extern "C" fn(*mut c_void, c_double) -> OfxStatus,
    pub progressEnd: unsafe extern "C" fn(*mut c_void) -> OfxStatus,
}

/// ofxInteract.h, `OfxInteractSuiteV1`.
#[repr(C)]
pub struct OfxInteractSuiteV1 {
    pub interactSwapBuffers: unsafe extern "C" fn(OfxInteractHandle) -> OfxStatus,
    pub interactRedraw: unsafe extern "C" fn(OfxInteractHandle) -> OfxStatus,
    pub interactGetPropertySet: unsafe extern "C" fn(OfxInteractHandle, *mut P) -> OfxStatus,
}

type D = OfxDrawContextHandle;
/// ofxDrawSuite.h, `OfxDrawSuiteV1` (OFX 1.5). C enums are passed as `int`.
#[repr(C)]
pub struct OfxDrawSuiteV1 {
    pub getColour: unsafe extern "C" fn(D, c_int, *mut OfxRGBAColourF) -> OfxStatus,
    pub setColour: unsafe extern "C" fn(D, *const OfxRGBAColourF) -> OfxStatus,
    pub setLineWidth: unsafe extern "C" fn(D, f32) -> OfxStatus,
    pub setLineStipple: unsafe extern "C" fn(D, c_int) -> OfxStatus,
    pub draw: unsafe extern "C" fn(D, c_int, *const OfxPointD, c_int) -> OfxStatus,
    pub drawText: unsafe extern "C" fn(D, S, *const OfxPointD, c_int) -> OfxStatus,
}

// ---- status codes (ofxCore.h, ofxImageEffect.h) ----
pub const kOfxStatOK: OfxStatus = 0;
pub const kOfxStatFailed: OfxStatus = 1;
pub const kOfxStatErrFatal: OfxStatus = 2;
pub const kOfxStatErrUnknown: OfxStatus = 3;
pub const kOfxStatErrMissingHostFeature: OfxStatus = 4;
pub const kOfxStatErrUnsupported: OfxStatus = 5;
pub const kOfxStatErrExists: OfxStatus = 6;
pub const kOfxStatErrFormat: OfxStatus = 7;
pub const kOfxStatErrMemory: OfxStatus = 8;
pub const kOfxStatErrBadHandle: OfxStatus = 9;
pub const kOfxStatErrBadIndex: OfxStatus = 10;
pub const kOfxStatErrValue: OfxStatus = 11;
pub const kOfxStatReplyYes: OfxStatus = 12;
pub const kOfxStatReplyNo: OfxStatus = 13;
pub const kOfxStatReplyDefault: OfxStatus = 14;
pub const kOfxStatErrImageFormat: OfxStatus = 1000;

// ---- draw suite enums (ofxDrawSuite.h) ----
pub const kOfxDrawPrimitiveLines: c_int = 0;
pub const kOfxDrawPrimitiveLineStrip: c_int = 1;
pub const kOfxDrawPrimitiveLineLoop: c_int = 2;
pub const kOfxDrawPrimitiveRectangle: c_int = 3;
pub const kOfxDrawLineStipplePatternSolid: c_int = 0;
pub const kOfxDrawLineStipplePatternDot: c_int = 1;
pub const kOfxDrawLineStipplePatternDash: c_int = 2;
pub const kOfxDrawTextAlignmentLeft: c_int = 0x1;
pub const kOfxDrawTextAlignmentBaseline: c_int = 0x10;

/// Names are C strings so they can be handed to the host as they are.
pub mod names {
    use std::ffi::CStr;
    macro_rules! names {
        ($($id:ident = $s:literal;)*) => {$( pub const $id: &CStr = $s; )*};
    }
    names! {
        // suites
        kOfxPropertySuite = c"OfxPropertySuite"; kOfxParameterSuite = c"OfxParameterSuite";
        kOfxImageEffectSuite = c"OfxImageEffectSuite"; kOfxMemorySuite = c"OfxMemorySuite";
        kOfxMultiThreadSuite = c"OfxMultiThreadSuite"; kOfxMessageSuite = c"OfxMessageSuite";
        kOfxProgressSuite = c"OfxProgressSuite"; kOfxInteractSuite = c"OfxInteractSuite";
        kOfxDrawSuite = c"OfxDrawSuite"; kOfxImageEffectPluginApi = c"OfxImageEffectPluginAPI";
        // actions
        kOfxActionLoad = c"OfxActionLoad"; kOfxActionUnload = c"OfxActionUnload";
        kOfxActionDescribe = c"OfxActionDescribe"; kOfxActionCreateInstance = c"OfxActionCreateInstance";
        kOfxActionDestroyInstance = c"OfxActionDestroyInstance";
        kOfxActionInstanceChanged = c"OfxActionInstanceChanged";
        kOfxActionBeginInstanceChanged = c"OfxActionBeginInstanceChanged";
        kOfxActionEndInstanceChanged = c"OfxActionEndInstanceChanged";
        kOfxActionPurgeCaches = c"OfxActionPurgeCaches"; kOfxActionSyncPrivateData = c"OfxActionSyncPrivateData";
        kOfxImageEffectActionDescribeInContext = c"OfxImageEffectActionDescribeInContext";
        kOfxImageEffectActionGetRegionOfDefinition = c"OfxImageEffectActionGetRegionOfDefinition";
        kOfxImageEffectActionGetRegionsOfInterest = c"OfxImageEffectActionGetRegionsOfInterest";
        kOfxImageEffectActionGetFramesNeeded = c"OfxImageEffectActionGetFramesNeeded";
        kOfxImageEffectActionGetClipPreferences = c"OfxImageEffectActionGetClipPreferences";
        kOfxImageEffectActionGetTimeDomain = c"OfxImageEffectActionGetTimeDomain";
        kOfxImageEffectActionIsIdentity = c"OfxImageEffectActionIsIdentity";
        kOfxImageEffectActionRender = c"OfxImageEffectActionRender";
        kOfxImageEffectActionBeginSequenceRender = c"OfxImageEffectActionBeginSequenceRender";
        kOfxImageEffectActionEndSequenceRender = c"OfxImageEffectActionEndSequenceRender";
        kOfxInteractActionDraw = c"OfxInteractActionDraw"; kOfxInteractActionPenMotion = c"OfxInteractActionPenMotion";
        kOfxInteractActionPenDown = c"OfxInteractActionPenDown"; kOfxInteractActionPenUp = c"OfxInteractActionPenUp";
        kOfxInteractActionKeyDown = c"OfxInteractActionKeyDown"; kOfxInteractActionKeyUp = c"OfxInteractActionKeyUp";
        kOfxPropKeySym = c"kOfxPropKeySym";
        // generic properties
        kOfxPropType = c"OfxPropType"; kOfxPropName = c"OfxPropName"; kOfxPropLabel = c"OfxPropLabel";
        kOfxPropTime = c"OfxPropTime"; kOfxPropInstanceData = c"OfxPropInstanceData";
        kOfxPropEffectInstance = c"OfxPropEffectInstance"; kOfxPropChangeReason = c"OfxPropChangeReason";
        kOfxPropPluginDescription = c"OfxPropPluginDescription"; kOfxPropAPIVersion = c"OfxPropAPIVersion";
        kOfxTypeParameter = c"OfxTypeParameter"; kOfxTypeClip = c"OfxTypeClip";
        kOfxChangeUserEdited = c"OfxChangeUserEdited";
        // image effect descriptor
        kOfxImageEffectPluginPropGrouping = c"OfxImageEffectPluginPropGrouping";
        kOfxImageEffectPropSupportedContexts = c"OfxImageEffectPropSupportedContexts";
        kOfxImageEffectContextFilter = c"OfxImageEffectContextFilter";
        kOfxImageEffectContextGeneral = c"OfxImageEffectContextGeneral";
        kOfxImageEffectPropContext = c"OfxImageEffectPropContext";
        kOfxImageEffectPropSupportedPixelDepths = c"OfxImageEffectPropSupportedPixelDepths";
        kOfxImageEffectPluginPropSingleInstance = c"OfxImageEffectPluginPropSingleInstance";
        kOfxImageEffectPluginRenderThreadSafety = c"OfxImageEffectPluginRenderThreadSafety";
        kOfxImageEffectRenderInstanceSafe = c"OfxImageEffectRenderInstanceSafe";
        kOfxImageEffectRenderFullySafe = c"OfxImageEffectRenderFullySafe";
        kOfxImageEffectPluginPropHostFrameThreading = c"OfxImageEffectPluginPropHostFrameThreading";
        kOfxImageEffectPropSupportsMultiResolution = c"OfxImageEffectPropSupportsMultiResolution";
        kOfxImageEffectPropSupportsMultipleClipPARs = c"OfxImageEffectPropSupportsMultipleClipPARs";
        kOfxImageEffectPropSupportsTiles = c"OfxImageEffectPropSupportsTiles";
        kOfxImageEffectPropTemporalClipAccess = c"OfxImageEffectPropTemporalClipAccess";
        kOfxImageClipPropOptional = c"OfxImageClipPropOptional";
        kOfxImageEffectPluginPropOverlayInteractV1 = c"OfxImageEffectPluginPropOverlayInteractV1";
        kOfxImageEffectPropSupportedComponents = c"OfxImageEffectPropSupportedComponents";
        kOfxImageEffectSimpleSourceClipName = c"Source"; kOfxImageEffectOutputClipName = c"Output";
        kOfxImageEffectPropFrameRange = c"OfxImageEffectPropFrameRange";
        kOfxImageEffectPropProjectSize = c"OfxImageEffectPropProjectSize";
        kOfxImageEffectFrameVarying = c"OfxImageEffectFrameVarying";
        kOfxImageEffectPropPreMultiplication = c"OfxImageEffectPropPreMultiplication";
        kOfxImageOpaque = c"OfxImageOpaque"; kOfxImagePreMultiplied = c"OfxImageAlphaPremultiplied";
        kOfxImageUnPreMultiplied = c"OfxImageAlphaUnPremultiplied";
        // clips and images
        kOfxImageClipPropConnected = c"OfxImageClipPropConnected";
        kOfxImageComponentRGBA = c"OfxImageComponentRGBA"; kOfxImageComponentRGB = c"OfxImageComponentRGB";
        kOfxImageComponentAlpha = c"OfxImageComponentAlpha";
        kOfxBitDepthByte = c"OfxBitDepthByte"; kOfxBitDepthShort = c"OfxBitDepthShort";
        kOfxBitDepthFloat = c"OfxBitDepthFloat";
        kOfxImageEffectPropPixelDepth = c"OfxImageEffectPropPixelDepth";
        kOfxImageEffectPropComponents = c"OfxImageEffectPropComponents";
        kOfxImagePropData = c"OfxImagePropData"; kOfxImagePropBounds = c"OfxImagePropBounds";
        kOfxImagePropRowBytes = c"OfxImagePropRowBytes";
        kOfxImagePropPixelAspectRatio = c"OfxImagePropPixelAspectRatio";
        kOfxImageEffectPropRenderScale = c"OfxImageEffectPropRenderScale";
        kOfxImageEffectPropRenderWindow = c"OfxImageEffectPropRenderWindow";
        kOfxImageClipPropComponentsPrefix = c"OfxImageClipPropComponents_";
        kOfxImageClipPropFrameRangePrefix = c"OfxImageClipPropFrameRange_";
        kOfxImageClipPropPARPrefix = c"OfxImageClipPropPAR_";
        kOfxImageClipPropRoIPrefix = c"OfxImageClipPropRoI_";
        kOfxImageEffectPropRegionOfDefinition = c"OfxImageEffectPropRegionOfDefinition";
        // parameters
        kOfxParamTypeInteger = c"OfxParamTypeInteger"; kOfxParamTypeDouble = c"OfxParamTypeDouble";
        kOfxParamTypeBoolean = c"OfxParamTypeBoolean"; kOfxParamTypeChoice = c"OfxParamTypeChoice";
        kOfxParamTypeRGB = c"OfxParamTypeRGB"; kOfxParamTypeDouble2D = c"OfxParamTypeDouble2D";
        kOfxParamTypeString = c"OfxParamTypeString"; kOfxParamTypeGroup = c"OfxParamTypeGroup";
        kOfxParamTypePushButton = c"OfxParamTypePushButton";
        kOfxParamPropHint = c"OfxParamPropHint"; kOfxParamPropDefault = c"OfxParamPropDefault";
        kOfxParamPropAnimates = c"OfxParamPropAnimates"; kOfxParamPropParent = c"OfxParamPropParent";
        kOfxParamPropChoiceOption = c"OfxParamPropChoiceOption";
        kOfxParamPropStringMode = c"OfxParamPropStringMode";
        kOfxParamStringIsFilePath = c"OfxParamStringIsFilePath"; kOfxParamStringIsMultiLine = c"OfxParamStringIsMultiLine";
        kOfxParamStringIsDirectoryPath = c"OfxParamStringIsDirectoryPath";
        kOfxParamPropStringFilePathExists = c"OfxParamPropStringFilePathExists";
        kOfxParamPropMin = c"OfxParamPropMin"; kOfxParamPropMax = c"OfxParamPropMax";
        kOfxParamPropDisplayMin = c"OfxParamPropDisplayMin"; kOfxParamPropDisplayMax = c"OfxParamPropDisplayMax";
        kOfxParamPropDoubleType = c"OfxParamPropDoubleType";
        kOfxParamDoubleTypeXYAbsolute = c"OfxParamDoubleTypeXYAbsolute";
        kOfxParamPropDefaultCoordinateSystem = c"OfxParamPropDefaultCoordinateSystem";
        kOfxParamCoordinatesCanonical = c"OfxParamCoordinatesCanonical";
        kOfxParamPropGroupOpen = c"OfxParamPropGroupOpen"; kOfxParamPropEvaluateOnChange = c"OfxParamPropEvaluateOnChange";
        kOfxParamPropSecret = c"OfxParamPropSecret"; kOfxParamPropEnabled = c"OfxParamPropEnabled";
        // interacts and messages
        kOfxInteractPropPenPosition = c"OfxInteractPropPenPosition";
        kOfxInteractPropPixelScale = c"OfxInteractPropPixelScale";
        kOfxInteractPropDrawContext = c"OfxInteractPropDrawContext";
        kOfxMessageError = c"OfxMessageError"; kOfxMessageWarning = c"OfxMessageWarning";
        kOfxMessageMessage = c"OfxMessageMessage";
    }
}
