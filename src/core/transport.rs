//! The one place where the core turns datagrams into messages: authenticate first, then parse
//! (`wire::decode_verified`), and name the reason of a drop for the counters.

use crate::config::AuthKeys;
use crate::wire::{self, Message};

use super::intake::drops::DropReason;

/// Authenticates and parses a datagram.
pub fn decode(bytes: &[u8], keys: &AuthKeys) -> Result<Message, DropReason> {
    wire::decode_verified(bytes, keys).map_err(DropReason::Decode)
}
