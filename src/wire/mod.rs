//! The Heartbeat wire format (spec §1–§4): codec, authentication, builders, receive window.
//! No I/O here.
//!
//! Planned API (filled in by the wire work; the core codes against these names):
//! - `decode_verified(bytes, &AuthKeys) -> Result<Message, DecodeError>`: authenticate first,
//!   then parse; both classic and netstring framing.
//! - `encode(&Message, &AuthKeys, MsgFmt) -> Result<Vec<u8>, EncodeError>`: sign and frame.
//! - `builders`: one named constructor per message type the original exchanges.
//! - `window::ReceiveWindow`: per-peer sequence/generation tracking.

pub mod message;

pub use message::{Field, Message, Value};
