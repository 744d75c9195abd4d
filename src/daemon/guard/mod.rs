//! Never two holders: the crash guard and the defences against hostile input.
//!
//! - [`spawn`] forks the crash guard, a tiny process that removes our addresses and stops our
//!   groups when the daemon dies (or freezes) without a clean exit, well before the peer's
//!   deadtime ([`guardian`], [`protocol`], [`addr`]), then tells the peer it may take over
//!   at once ([`lastwords`]).
//! - [`stopfail`] removes the address of a failed, hung or missing address stop directly.
//! - [`ratelimit`] keeps a flood of bad packets to a few log lines; [`drops`] counts every
//!   drop per kind and per medium; [`selfecho`] tells our own loop-back from packets that
//!   only claim our node name.
//!
//! See docs/reliability.md for what each piece promises and the figures measured.

pub mod addr;
pub mod guardian;
pub mod handle;
pub mod lastwords;
pub mod protocol;
pub mod run;
pub mod stopfail;
pub mod tracker;

pub use guardian::{GuardSettings, Trigger};
pub use handle::{GuardError, GuardHandle, spawn};
pub use lastwords::LastWords;
pub use protocol::{GuardCommand, Holdings};
pub use tracker::Guard;
