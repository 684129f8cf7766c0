//! Strict weight look-up by the official state-dict key names.
//!
//! Blocks ask a [`Scope`] for each tensor by its upstream name and expected shape. Every
//! problem (missing key, shape or dtype mismatch) is recorded instead of failing at the first
//! one, and [`WeightStore::finish`] adds every key nobody asked for, so one error lists them
//! all by name (house rule 2).
use crate::error::{Error, Result};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// The tensors of one checkpoint, consumed by name while the network is built.
pub struct WeightStore {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
    used: RefCell<BTreeSet<String>>,
    problems: RefCell<Vec<String>>,
    device: Device,
    kind: Kind,
}

impl WeightStore {
    /// Wraps named tensors (as read from a checkpoint). Tensors handed out are converted to
    /// `kind` and moved to `device`.
    pub fn new(path: &Path, tensors: Vec<(String, Tensor)>, device: Device, kind: Kind) -> Self {
        Self {
            path: path.to_owned(),
            tensors: tensors.into_iter().collect(),
            used: RefCell::new(BTreeSet::new()),
            problems: RefCell::new(Vec::new()),
            device,
            kind,
        }
    }

    /// The root scope (no prefix).
    pub fn root(&self) -> Scope<'_> {
        Scope { store: self, prefix: String::new() }
    }

    /// Whether the checkpoint holds `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.tensors.contains_key(key)
    }

    /// Shape of `key` in the checkpoint, without marking it used.
    pub fn shape_of(&self, key: &str) -> Option<Vec<i64>> {
        self.tensors.get(key).map(|t| t.size())
    }

    /// All key names in the checkpoint.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.tensors.keys()
    }

    /// Records a problem found while building (reported by [`finish`](Self::finish)).
    pub fn report(&self, problem: String) {
        self.problems.borrow_mut().push(problem);
    }

    fn fetch(&self, key: &str, shape: &[i64]) -> Tensor {
        let placeholder = || Tensor::zeros(shape, (self.kind, self.device));
        let Some(t) = self.tensors.get(key) else {
            self.report(format!("missing key '{key}' (expected shape {shape:?})"));
            return placeholder();
        };
        self.used.borrow_mut().insert(key.to_owned());
        if t.size() != shape {
            self.report(format!("'{key}': shape {:?} in file, model expects {shape:?}", t.size()));
            return placeholder();
        }
        if !matches!(t.kind(), Kind::Float | Kind::Half | Kind::BFloat16 | Kind::Double) {
            self.report(format!("'{key}': dtype {:?} in file, model expects a float tensor", t.kind()));
            return placeholder();
        }
        t.to_kind(self.kind).to_device(self.device).detach()
    }

    /// Fails with every recorded problem plus every key that was never asked for.
    pub fn finish(self, model: &str) -> Result<()> {
        let used = self.used.into_inner();
        let mut problems = self.problems.into_inner();
        let mut unexpected: Vec<&String> = self.tensors.keys().filter(|k| !used.contains(*k)).collect();
        unexpected.sort();
        problems.extend(unexpected.into_iter().map(|k| format!("unexpected key '{k}'")));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::WeightMismatch { path: self.path, model: model.to_owned(), problems })
        }
    }
}

/// A view of the store under a key prefix, e.g. `image_encoder.trunk.blocks.3`.
#[derive(Clone)]
pub struct Scope<'a> {
    store: &'a WeightStore,
    prefix: String,
}

impl<'a> Scope<'a> {
    /// The scope of a child module: `self.prefix + "." + name`.
    pub fn sub(&self, name: impl std::fmt::Display) -> Scope<'a> {
        Scope { store: self.store, prefix: self.key(&name.to_string()) }
    }

    /// The full key of `name` in this scope.
    pub fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{}", self.prefix, name)
        }
    }

    /// The tensor `name` with the expected shape; a problem is recorded if it does not fit.
    pub fn tensor(&self, name: &str, shape: &[i64]) -> Tensor {
        self.store.fetch(&self.key(name), shape)
    }

    /// Whether the checkpoint has `name` in this scope.
    pub fn contains(&self, name: &str) -> bool {
        self.store.contains(&self.key(name))
    }

    /// The store this scope reads from.
    pub fn store(&self) -> &'a WeightStore {
        self.store
    }

    /// Device tensors are placed on.
    pub fn device(&self) -> Device {
        self.store.device
    }

    /// Kind tensors are converted to.
    pub fn kind(&self) -> Kind {
        self.store.kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_by_name() {
        let tensors = vec![
            ("a.weight".to_owned(), Tensor::zeros([2, 3], (Kind::Float, Device::Cpu))),
            ("a.bias".to_owned(), Tensor::zeros([4], (Kind::Float, Device::Cpu))),
            ("b.idx".to_owned(), Tensor::zeros([2], (Kind::Int64, Device::Cpu))),
            ("extra".to_owned(), Tensor::zeros([1], (Kind::Float, Device::Cpu))),
        ];
        let store = WeightStore::new(Path::new("x.pt"), tensors, Device::Cpu, Kind::Float);
        let a = store.root().sub("a");
        assert_eq!(a.tensor("weight", &[2, 3]).size(), vec![2, 3]);
        assert_eq!(a.tensor("bias", &[3]).size(), vec![3]);
        let _ = store.root().sub("b").tensor("idx", &[2]);
        let _ = store.root().tensor("gone", &[5]);
        let msg = store.finish("tiny").unwrap_err().to_string();
        for needle in ["'a.bias': shape [4]", "'b.idx': dtype", "missing key 'gone'", "unexpected key 'extra'"] {
            assert!(msg.contains(needle), "{needle} not in {msg}");
        }
        assert!(!msg.contains("a.weight"), "{msg}");
    }
}
