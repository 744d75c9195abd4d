//! Ping nodes and ping groups in the core (spec §8), pure: liveness over millisecond times
//! ([`tracker`]), the counts the nodes exchange ([`exchange`]), the decisions drawn from them
//! (built-in ipfail and the split-brain guard, [`policy`]), behind one API for the core
//! ([`agent`]). The ICMP packets are in `wire::icmp`, the socket in `daemon::ping`.

pub mod agent;
pub mod exchange;
pub mod policy;
pub mod tracker;
