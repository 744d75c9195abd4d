//! Receive-side key lookup. `KeyRing` keeps each key's HMAC state already keyed (the inner and
//! outer pads hashed once), which saves two compressions per packet; build it once per authkeys
//! load and decode with `KeyRing::decode_verified` (in `codec`, which uses this file, not the
//! other way round).

use super::auth::Digester;
use super::error::DecodeError;
use crate::config::model::AuthKeys;

/// Where the verifier takes its keys from.
#[derive(Clone, Copy)]
pub(crate) enum KeySource<'a> {
    Keys(&'a AuthKeys),
    Ring(&'a KeyRing),
}

impl KeySource<'_> {
    /// A fresh digester for `index`, or `UnknownKeyIndex`.
    pub(crate) fn digester(self, index: u8) -> Result<Digester, DecodeError> {
        let found = match self {
            KeySource::Keys(keys) => keys.keys.get(&index).map(Digester::new),
            KeySource::Ring(ring) => ring
                .slots
                .get(usize::from(index))
                .and_then(|d| d.as_ref())
                .cloned(),
        };
        found.ok_or(DecodeError::UnknownKeyIndex)
    }
}

/// Pre-keyed digesters for indexes 0..15.
#[derive(Clone)]
pub struct KeyRing {
    slots: [Option<Digester>; 16],
}

impl KeyRing {
    pub fn new(keys: &AuthKeys) -> Self {
        let mut slots: [Option<Digester>; 16] = Default::default();
        for (&index, key) in &keys.keys {
            if let Some(slot) = slots.get_mut(usize::from(index)) {
                *slot = Some(Digester::new(key));
            }
        }
        KeyRing { slots }
    }
}

impl std::fmt::Debug for KeyRing {
    // The keyed states are secrets: show only which indexes exist.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let present: Vec<usize> = (0..16).filter(|&i| self.slots[i].is_some()).collect();
        f.debug_struct("KeyRing")
            .field("indexes", &present)
            .finish()
    }
}
