//! heartbeat-rs: a drop-in, wire-compatible re-implementation of the Linux-HA Heartbeat v1
//! two-node failover daemon.
//!
//! Layers, from the bottom up (see ARCHITECTURE.md):
//! - [`config`]: typed parsers for `ha.cf`, `authkeys` and `haresources`.
//! - [`wire`]: the message codec and `authkeys` authentication, no I/O.
//! - [`core`]: the sans-IO cluster state machine (membership, timers, resource ownership).
//! - [`daemon`]: the thin mio shell around the core (sockets, signals, children, control socket).
//! - [`vip`]: virtual addresses in-process (netlink, gratuitous ARP, unsolicited NA).
//! - [`guard`]: the crash guard and the defences against hostile input (never two holders).

pub mod cli;
pub mod config;
pub mod core;
pub mod daemon;
pub mod resource;
pub mod wire;
