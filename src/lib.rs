//! heartbeat-rs: a drop-in, wire-compatible re-implementation of the Linux-HA Heartbeat v1
//! two-node failover daemon.
//!
//! Layers, from the bottom up; each refers only to itself and those below (ARCHITECTURE.md,
//! checked by `tests/layers.rs`):
//! - [`config`]: typed parsers for `ha.cf`, `authkeys` and `haresources`.
//! - [`wire`]: the message codec, `authkeys` authentication and typed messages, no I/O.
//! - [`core`]: the sans-IO cluster state machine (membership, timers, resource ownership,
//!   ping policy, the accounting of hostile input).
//! - [`resource`]: what runs each haresources entry (a script, or an in-process address).
//! - [`daemon`]: the mio shell around the core (sockets, signals, children, the crash guard,
//!   the address worker, the control socket).
//! - [`director`]: the LVS director (`hb_ldirectord`): real-server checks and rules.
//! - [`cli`]: the command lines of `heartbeat`, `cl_status`, `hb_standby`, `hb_takeover`,
//!   `hb_ldirectord`.

pub mod cli;
pub mod config;
pub mod core;
pub mod daemon;
pub mod director;
pub mod resource;
pub mod wire;
