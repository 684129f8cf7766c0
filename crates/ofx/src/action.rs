//! OpenFX actions decoded into a typed enum (ofxCore.h / ofxImageEffect.h / ofxInteract.h
//! action list), with the in-arguments each action carries read out of its property set.
use super::suites::{OfxError, OfxResult, PropSet};
use super::sys::{self, names as n};
use std::ffi::CStr;

/// Arguments of the interact actions (draw and pen events), canonical coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InteractArgs {
    pub time: f64,
    pub render_scale: [f64; 2],
    /// Canonical units per screen pixel.
    pub pixel_scale: [f64; 2],
    /// Pen position (zero for draw).
    pub pen: [f64; 2],
}

/// What the host asked the plugin to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Load,
    Unload,
    Describe,
    DescribeInContext {
        context: String,
    },
    CreateInstance,
    DestroyInstance,
    BeginInstanceChanged,
    InstanceChanged {
        is_param: bool,
        name: String,
        user_edit: bool,
        time: f64,
    },
    EndInstanceChanged,
    PurgeCaches,
    SyncPrivateData,
    GetRegionOfDefinition {
        time: f64,
    },
    GetRegionsOfInterest {
        time: f64,
    },
    GetFramesNeeded {
        time: f64,
    },
    GetClipPreferences,
    GetTimeDomain,
    IsIdentity {
        time: f64,
    },
    BeginSequenceRender,
    Render {
        time: f64,
        window: [i32; 4],
        render_scale: [f64; 2],
    },
    EndSequenceRender,
    InteractDraw(InteractArgs),
    PenDown(InteractArgs),
    PenMotion(InteractArgs),
    PenUp(InteractArgs),
    /// A key pressed or released over the viewer (`kOfxPropKeySym`, X11 key symbols).
    KeyDown(i32),
    KeyUp(i32),
    /// Anything else; the plugin answers `kOfxStatReplyDefault`.
    Other(String),
}

/// Actions whose in-arguments `decode` reads.
const NEEDS_ARGS: [&CStr; 11] = [
    n::kOfxImageEffectActionDescribeInContext,
    n::kOfxImageEffectActionGetRegionOfDefinition,
    n::kOfxImageEffectActionGetRegionsOfInterest,
    n::kOfxActionInstanceChanged,
    n::kOfxImageEffectActionGetFramesNeeded,
    n::kOfxImageEffectActionIsIdentity,
    n::kOfxImageEffectActionRender,
    n::kOfxInteractActionDraw,
    n::kOfxInteractActionPenDown,
    n::kOfxInteractActionPenMotion,
    n::kOfxInteractActionPenUp,
];

impl Action {
    /// Decodes `name` with its in-arguments. `in_args` may be absent for actions that have none.
    pub fn decode(name: &CStr, in_args: Option<PropSet>) -> OfxResult<Action> {
        let b = name.to_bytes();
        let simple = [
            (n::kOfxActionLoad, Action::Load),
            (n::kOfxActionUnload, Action::Unload),
            (n::kOfxActionDescribe, Action::Describe),
            (n::kOfxActionCreateInstance, Action::CreateInstance),
            (n::kOfxActionDestroyInstance, Action::DestroyInstance),
            (n::kOfxActionBeginInstanceChanged, Action::BeginInstanceChanged),
            (n::kOfxActionEndInstanceChanged, Action::EndInstanceChanged),
            (n::kOfxActionPurgeCaches, Action::PurgeCaches),
            (n::kOfxActionSyncPrivateData, Action::SyncPrivateData),
            (n::kOfxImageEffectActionGetClipPreferences, Action::GetClipPreferences),
            (n::kOfxImageEffectActionGetTimeDomain, Action::GetTimeDomain),
            (n::kOfxImageEffectActionBeginSequenceRender, Action::BeginSequenceRender),
            (n::kOfxImageEffectActionEndSequenceRender, Action::EndSequenceRender),
        ];
        if let Some((_, a)) = simple.into_iter().find(|(k, _)| k.to_bytes() == b) {
            return Ok(a);
        }
        let Some(args) = in_args else {
            // An action that carries arguments but came without any is a host error, not
            // an unknown action (answering "default" would pass off a skipped render as done).
            if NEEDS_ARGS.iter().any(|k| k.to_bytes() == b) {
                return Err(OfxError::new(sys::kOfxStatErrBadHandle, format!("{} without inArgs", name.to_string_lossy())));
            }
            return Ok(Action::Other(name.to_string_lossy().into_owned()));
        };
        Self::decode_with_args(b, args).map(|a| a.unwrap_or_else(|| Action::Other(name.to_string_lossy().into_owned())))
    }

    fn decode_with_args(b: &[u8], args: PropSet) -> OfxResult<Option<Action>> {
        let is = |k: &CStr| k.to_bytes() == b;
        let time = || args.get_double(n::kOfxPropTime, 0);
        Ok(Some(if is(n::kOfxImageEffectActionDescribeInContext) {
            Action::DescribeInContext { context: args.get_string(n::kOfxImageEffectPropContext, 0)? }
        } else if is(n::kOfxActionInstanceChanged) {
            Action::InstanceChanged {
                is_param: args.get_string(n::kOfxPropType, 0)?.as_bytes() == n::kOfxTypeParameter.to_bytes(),
                name: args.get_string(n::kOfxPropName, 0)?,
                user_edit: args.get_string(n::kOfxPropChangeReason, 0).is_ok_and(|r| r.as_bytes() == n::kOfxChangeUserEdited.to_bytes()),
                time: time().unwrap_or(0.0),
            }
        } else if is(n::kOfxImageEffectActionGetRegionOfDefinition) {
            Action::GetRegionOfDefinition { time: time()? }
        } else if is(n::kOfxImageEffectActionGetRegionsOfInterest) {
            Action::GetRegionsOfInterest { time: time()? }
        } else if is(n::kOfxImageEffectActionGetFramesNeeded) {
            Action::GetFramesNeeded { time: time()? }
        } else if is(n::kOfxImageEffectActionIsIdentity) {
            Action::IsIdentity { time: time()? }
        } else if is(n::kOfxImageEffectActionRender) {
            Action::Render {
                time: time()?,
                window: args.get_ints::<4>(n::kOfxImageEffectPropRenderWindow)?,
                render_scale: args.get_doubles::<2>(n::kOfxImageEffectPropRenderScale).unwrap_or([1.0; 2]),
            }
        } else if is(n::kOfxInteractActionDraw) {
            Action::InteractDraw(interact_args(args, false)?)
        } else if is(n::kOfxInteractActionPenDown) {
            Action::PenDown(interact_args(args, true)?)
        } else if is(n::kOfxInteractActionPenMotion) {
            Action::PenMotion(interact_args(args, true)?)
        } else if is(n::kOfxInteractActionPenUp) {
            Action::PenUp(interact_args(args, true)?)
        } else if is(n::kOfxInteractActionKeyDown) {
            Action::KeyDown(args.get_int(n::kOfxPropKeySym, 0)?)
        } else if is(n::kOfxInteractActionKeyUp) {
            Action::KeyUp(args.get_int(n::kOfxPropKeySym, 0)?)
        } else {
            return Ok(None);
        }))
    }

    /// Whether this action is sent to an interact rather than to the effect.
    pub fn is_interact(&self) -> bool {
        matches!(
            self,
            Action::InteractDraw(_) | Action::PenDown(_) | Action::PenMotion(_) | Action::PenUp(_) | Action::KeyDown(_) | Action::KeyUp(_)
        )
    }
}

fn interact_args(args: PropSet, pen: bool) -> OfxResult<InteractArgs> {
    Ok(InteractArgs {
        time: args.get_double(n::kOfxPropTime, 0)?,
        render_scale: args.get_doubles::<2>(n::kOfxImageEffectPropRenderScale).unwrap_or([1.0; 2]),
        pixel_scale: args.get_doubles::<2>(n::kOfxInteractPropPixelScale).unwrap_or([1.0; 2]),
        pen: if pen { args.get_doubles::<2>(n::kOfxInteractPropPenPosition)? } else { [0.0; 2] },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_free_actions_decode_without_a_host() {
        assert_eq!(Action::decode(c"OfxActionLoad", None).unwrap(), Action::Load);
        assert_eq!(Action::decode(c"OfxImageEffectActionGetClipPreferences", None).unwrap(), Action::GetClipPreferences);
        assert_eq!(Action::decode(c"SomethingNew", None).unwrap(), Action::Other("SomethingNew".into()));
        assert!(!Action::Load.is_interact());
        assert_eq!(Action::decode(c"OfxImageEffectActionRender", None).unwrap_err().status, sys::kOfxStatErrBadHandle);
    }
}
