//! The LVS director (`hb_ldirectord`): checks real servers as ldirectord does, from the same
//! `ldirectord.cf`, and keeps the kernel's virtual-service rules in line with their health.
//!
//! - [`health`]: the sans-IO decisions (scheduling, failure counts, quiescent, fallback).
//! - [`spec`]: which probe a check is; [`table`]: the rules and their minimal changes.
//! - [`probe`]: the non-blocking probes (TCP, HTTP(S), SMTP, DNS, ICMP, commands) on one loop.
//! - [`nft`], [`ipvs`]: the two ways rules reach the kernel; [`run`]: the event loop.

pub mod genl;
pub mod health;
pub mod ipvs;
pub mod nft;
pub mod probe;
pub mod run;
pub mod spec;
pub mod table;
