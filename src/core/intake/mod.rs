//! The receive path's defences, pure: drop counters by kind and medium ([`drops`]), the book
//! that counts and rate-limits their log lines ([`ledger`], [`ratelimit`]), and telling the
//! loop-back of our own packets from packets that only claim our name ([`selfecho`]), and a
//! second medium's late copy from a replay ([`copies`]).

pub mod copies;
pub mod drops;
pub mod ledger;
pub mod ratelimit;
pub mod selfecho;

pub use copies::RecentCopies;
pub use drops::DropCounters;
pub use ledger::DropLedger;
pub use ratelimit::{KeyedRateLimiter, Permit, RateLimiter};
pub use selfecho::{SelfEcho, SelfVerdict, SpoofReason};
