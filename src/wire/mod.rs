//! The Heartbeat wire format (spec §1–§4): codec, authentication, builders, receive window.
//! No I/O here.
//!
//! - [`decode_verified`]: authenticate first, then parse; classic and netstring framing.
//!   [`KeyRing::decode_verified`] does the same with pre-keyed HMACs (build once per authkeys).
//! - [`encode`]: sign and frame (`msgfmt classic` or 3.0.6-style netstring).
//! - [`builders`]: one named constructor per message type the original exchanges.
//! - [`sender::Sender`]: automatic fields, sequence numbers and retransmission history.
//! - [`window::ReceiveWindow`]: per-peer sequence/generation tracking.
//! - [`generation`]: the `hb_generation` file content.

pub mod auth;
pub mod base64;
pub mod builders;
pub mod classic;
pub mod codec;
pub mod crc;
pub mod error;
pub mod generation;
pub mod icmp;
pub mod keyring;
pub mod message;
pub mod netstring;
pub mod ping_news;
pub mod repr;
pub mod rules;
mod scan;
pub mod sender;
pub mod window;

pub use codec::{Format, decode_unverified, decode_verified, encode, encode_with_key};
pub use error::{DecodeError, EncodeError};
pub use keyring::KeyRing;
pub use message::{Field, Message, Value};
pub use rules::MAX_PACKET;
