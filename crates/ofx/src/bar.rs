//! The host's progress bar as the node uses it (Analyse, a model download during a render).
use super::suites::{Effect, Progress};

/// The host's progress bar: one at a time, started on first use and started again under a
/// new label (the model download, then the tracking).
pub(crate) struct Bar {
    effect: Effect,
    current: std::cell::RefCell<Option<(String, Option<Progress>)>>,
}

impl Bar {
    pub(crate) fn new(effect: Effect) -> Self {
        Bar { effect, current: std::cell::RefCell::new(None) }
    }

    /// Shows `fraction` under `label`; `false` when the artist cancelled.
    pub(crate) fn update(&self, label: &str, fraction: f64) -> bool {
        let mut current = self.current.borrow_mut();
        if current.as_ref().is_none_or(|(l, _)| l != label) {
            *current = None; // ends the bar shown so far before the next starts
            *current = Some((label.to_owned(), Progress::start(self.effect, label)));
        }
        current.as_ref().and_then(|(_, p)| p.as_ref()).is_none_or(|p| p.update(fraction))
    }

    /// Shows a model download; `false` when the artist cancelled or the host aborted.
    pub(crate) fn download(&self, file: &str, done: u64, total: Option<u64>) -> bool {
        let fraction = total.filter(|t| *t > 0).map_or(0.0, |t| done as f64 / t as f64);
        self.update(&format!("SamuraiRoto: downloading {file}"), fraction) && !self.effect.aborted()
    }
}
