//! The tracker's result on one frame before upsampling: every object's blended
//! low-resolution logits. Plain data, so it crosses threads, the helper socket and track
//! cache files unchanged; [`crate::finish`] turns it into mattes.
use serde::{Deserialize, Serialize};

/// Every object's blended low-resolution logits on one frame (`side × side`, row-major,
/// in object order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LowResFrame {
    pub side: i64,
    pub objects: Vec<(String, Vec<f32>)>,
}

impl LowResFrame {
    /// Bytes of logits held.
    pub fn bytes(&self) -> usize {
        self.objects.iter().map(|(n, v)| v.len() * 4 + n.len()).sum::<usize>() + 32
    }

    /// Checks that every object has `side²` values.
    pub fn validate(&self) -> Result<(), String> {
        let cells = usize::try_from(self.side).ok().and_then(|s| s.checked_mul(s)).filter(|_| self.side > 0);
        let Some(cells) = cells else { return Err(format!("bad low-resolution side {}", self.side)) };
        match self.objects.iter().find(|(_, v)| v.len() != cells) {
            Some((name, v)) => Err(format!("object '{name}' has {} low-resolution values, expected {cells}", v.len())),
            None => Ok(()),
        }
    }
}
