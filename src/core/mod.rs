//! The sans-IO cluster core (membership, timers, resource ownership).
//!
//! `vocab` holds every input, output, state and reason; `machine::Core` is fed `Now` and
//! `Input`s and yields `Output`s plus its next deadline. The other files each add one concern
//! to `Core`: `membership` (liveness, links, heartbeats), `protocol` (receive path, ACKs,
//! retransmission, node lists), `resources` (§6.7 ownership), `standby` (§7), `legacy` (§6.8),
//! `shutdown` (§12.6), `groups` (script sequencing); `halves` and `transport` are small
//! helpers; the wire module stamps, signs and frames (`wire::sender::Sender`) and keeps each
//! peer's receive window (`wire::window::ReceiveWindow`, wrapped with request timing in
//! `protocol::PeerRx`).

pub mod fencing;
mod groups;
mod halves;
pub mod intake;
mod legacy;
pub mod machine;
mod membership;
pub mod messages;
pub mod monitor;
pub mod observe;
pub mod ping;
mod pingnodes;
mod protocol;
mod resources;
mod shutdown;
mod standby;
pub mod timers;
mod transport;
pub mod vocab;

pub use machine::{Core, Identity};
pub use vocab::*;
