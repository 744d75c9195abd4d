//! Never two holders: the crash guard process (the pure accounting of hostile input is in
//! `core::intake`).
//!
//! - [`spawn`] forks the crash guard, a tiny process that removes our addresses and stops our
//!   groups when the daemon dies (or freezes) without a clean exit, well before the peer's
//!   deadtime ([`guardian`], [`protocol`], [`addr`]), then tells the peer it may take over
//!   at once ([`lastwords`]).
//! - [`stopfail`] removes the address of a failed, hung or missing address stop directly.
//! - [`tracker`] is the daemon's end: which groups count as held, told to the guard.
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
