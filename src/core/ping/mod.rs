//! Ping nodes and ping groups in the core (spec §8), pure: liveness over millisecond times
//! ([`tracker`]), the decisions drawn from them
//! (built-in ipfail and the split-brain guard, [`policy`]), behind one API for the core
//! ([`agent`]). The counts the nodes exchange are encoded by `wire::ping_news`, the ICMP
//! packets by `wire::icmp`; the socket is in `daemon::ping`.

pub mod agent;
pub mod policy;
pub mod tracker;
