//! Test host storage: property sets and animated parameters, with handle registries so a
//! foreign or freed handle is answered with kOfxStatErrBadHandle like a real host.
#![allow(dead_code)]
use samurai_roto_ofx::sys::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::CString;
use std::sync::Mutex;

#[derive(Clone, Debug)]
pub enum Val {
    I(Vec<i32>),
    D(Vec<f64>),
    S(Vec<CString>),
    P(Vec<usize>),
}

#[derive(Default)]
pub struct Props {
    pub m: Mutex<HashMap<String, Val>>,
}

pub static PROPS: Mutex<Option<HashSet<usize>>> = Mutex::new(None);
pub static PARAMS: Mutex<Option<HashSet<usize>>> = Mutex::new(None);
pub static PARAMSETS: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

impl Props {
    pub fn new_handle() -> OfxPropertySetHandle {
        let p = Box::into_raw(Box::new(Props::default()));
        PROPS.lock().unwrap().get_or_insert_with(HashSet::new).insert(p as usize);
        p.cast()
    }
    /// The props behind a handle, or None for a foreign one.
    pub fn get<'a>(h: OfxPropertySetHandle) -> Option<&'a Props> {
        let ok = PROPS.lock().unwrap().as_ref().is_some_and(|s| s.contains(&(h as usize)));
        // SAFETY: registered handles are leaked boxes that live for the whole test.
        ok.then(|| unsafe { &*(h as *const Props) })
    }
    pub fn set(&self, k: &str, v: Val) {
        self.m.lock().unwrap().insert(k.into(), v);
    }
    pub fn set_str(&self, k: &str, v: &str) {
        self.set(k, Val::S(vec![CString::new(v).unwrap()]));
    }
    pub fn get_val(&self, k: &str) -> Option<Val> {
        self.m.lock().unwrap().get(k).cloned()
    }
    pub fn str(&self, k: &str) -> Option<String> {
        match self.get_val(k)? {
            Val::S(v) => v.first().map(|s| s.to_string_lossy().into_owned()),
            _ => None,
        }
    }
    pub fn strs(&self, k: &str) -> Vec<String> {
        match self.get_val(k) {
            Some(Val::S(v)) => v.iter().map(|s| s.to_string_lossy().into_owned()).collect(),
            _ => vec![],
        }
    }
    pub fn int(&self, k: &str) -> Option<i32> {
        match self.get_val(k)? {
            Val::I(v) => v.first().copied(),
            _ => None,
        }
    }
    pub fn dbl(&self, k: &str) -> Vec<f64> {
        match self.get_val(k) {
            Some(Val::D(v)) => v,
            _ => vec![],
        }
    }
}

/// One parameter: its kind, descriptor properties, static value and animation keys.
pub struct Param {
    pub kind: String,
    pub props: OfxPropertySetHandle,
    pub value: Mutex<Vec<f64>>,
    pub string: Mutex<CString>,
    pub keys: Mutex<BTreeMap<i64, Vec<f64>>>,
}

pub fn time_key(t: f64) -> i64 {
    (t * 1000.0).round() as i64
}

impl Param {
    pub fn get<'a>(h: OfxParamHandle) -> Option<&'a Param> {
        let ok = PARAMS.lock().unwrap().as_ref().is_some_and(|s| s.contains(&(h as usize)));
        // SAFETY: registered handles are leaked boxes that live for the whole test.
        ok.then(|| unsafe { &*(h as *const Param) })
    }
    pub fn dims(&self) -> usize {
        match self.kind.as_str() {
            "OfxParamTypeDouble2D" => 2,
            "OfxParamTypeRGB" => 3,
            "OfxParamTypeRGBA" => 4,
            _ => 1,
        }
    }
    /// Value at `t`: linear between keys, held outside; the static value without keys.
    pub fn at(&self, t: f64) -> Vec<f64> {
        let keys = self.keys.lock().unwrap();
        let k = time_key(t);
        let before = keys.range(..=k).next_back();
        let after = keys.range(k..).next();
        match (before, after) {
            (Some((a, va)), Some((b, vb))) if b > a => {
                let w = (k - a) as f64 / (b - a) as f64;
                va.iter().zip(vb).map(|(x, y)| x + (y - x) * w).collect()
            }
            (Some((_, v)), _) | (None, Some((_, v))) => v.clone(),
            _ => self.value.lock().unwrap().clone(),
        }
    }
}

/// A parameter set: name → leaked Param.
#[derive(Default)]
pub struct ParamSet {
    pub m: Mutex<HashMap<String, usize>>,
    /// Names in the order they were defined (the order a host's panel shows them in).
    pub order: Mutex<Vec<String>>,
    pub props: usize,
    pub edits: Mutex<i32>,
}

impl ParamSet {
    pub fn define(&self, kind: &str, name: &str) -> Option<(OfxParamHandle, OfxPropertySetHandle)> {
        let mut m = self.m.lock().unwrap();
        if m.contains_key(name) {
            return None;
        }
        let props = Props::new_handle();
        let pr = Props::get(props).unwrap();
        pr.set_str("OfxPropType", "OfxTypeParameter");
        pr.set_str("OfxParamPropType", kind);
        pr.set_str("OfxPropName", name);
        let p = Box::into_raw(Box::new(Param {
            kind: kind.into(),
            props,
            value: Mutex::new(vec![]),
            string: Mutex::new(CString::default()),
            keys: Mutex::new(BTreeMap::new()),
        }));
        PARAMS.lock().unwrap().get_or_insert_with(HashSet::new).insert(p as usize);
        m.insert(name.into(), p as usize);
        self.order.lock().unwrap().push(name.into());
        Some((p.cast(), props))
    }
    pub fn param(&self, name: &str) -> Option<&Param> {
        let h = *self.m.lock().unwrap().get(name)?;
        Param::get(h as OfxParamHandle)
    }
    /// A new registered, empty parameter set.
    pub fn new_handle() -> OfxParamSetHandle {
        let ps = Box::into_raw(Box::new(ParamSet { props: Props::new_handle() as usize, ..Default::default() }));
        PARAMSETS.lock().unwrap().get_or_insert_with(HashSet::new).insert(ps as usize);
        ps.cast()
    }
    /// The set behind a handle, or None for a foreign one.
    pub fn get<'a>(h: OfxParamSetHandle) -> Option<&'a ParamSet> {
        let ok = PARAMSETS.lock().unwrap().as_ref().is_some_and(|s| s.contains(&(h as usize)));
        // SAFETY: registered handles are leaked boxes that live for the whole test.
        ok.then(|| unsafe { &*(h as *const ParamSet) })
    }
    /// An instance's parameters: the descriptor's definitions (kind and properties) with
    /// their defaults as values.
    pub fn instantiate(&self) -> OfxParamSetHandle {
        let h = Self::new_handle();
        let new = Self::get(h).unwrap();
        for (name, ph) in self.m.lock().unwrap().iter() {
            let d = Param::get(*ph as OfxParamHandle).unwrap();
            let (_, props) = new.define(&d.kind, name).unwrap();
            let copy = Props::get(d.props).unwrap().m.lock().unwrap().clone();
            *Props::get(props).unwrap().m.lock().unwrap() = copy;
        }
        new.apply_defaults();
        h
    }
    /// Copies descriptor defaults into values (what a host does at instance creation).
    pub fn apply_defaults(&self) {
        for (_, h) in self.m.lock().unwrap().iter() {
            let p = Param::get(*h as OfxParamHandle).unwrap();
            let props = Props::get(p.props).unwrap();
            match props.get_val("OfxParamPropDefault") {
                Some(Val::D(v)) => *p.value.lock().unwrap() = v,
                Some(Val::I(v)) => *p.value.lock().unwrap() = v.iter().map(|x| *x as f64).collect(),
                Some(Val::S(v)) => *p.string.lock().unwrap() = v[0].clone(),
                _ => *p.value.lock().unwrap() = vec![0.0; p.dims()],
            }
        }
    }
}
