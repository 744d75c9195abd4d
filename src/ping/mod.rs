//! Ping nodes, ping groups and the decisions drawn from them (spec §8).
//!
//! - [`packet`]: ICMP echo build/parse and the authenticated heartbeat payload it carries.
//! - [`socket`]: a non-blocking ICMP socket (datagram if allowed, raw otherwise) for mio.
//! - [`pinger`]: sends the echoes the core asks for and matches genuine replies (daemon side).
//! - [`tracker`]: per ping node / group liveness (`ping`, `dead`) over millisecond times.
//! - [`policy`]: the built-in ipfail and the split-brain guard, as pure decisions.
//! - [`agent`]: the one object the core holds: liveness logs, views, counts, ipfail, guard.
//! - [`exchange`]: how each node tells its peer its count (`pingcount`, ipfail messages).

pub mod agent;
pub mod exchange;
pub mod packet;
pub mod pinger;
pub mod policy;
pub mod socket;
pub mod tracker;
