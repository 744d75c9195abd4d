//! Carrying out checks without blocking: the engine (sockets, children, deadlines), the TCP
//! conversations and their verdicts, the DNS messages, TLS.

pub mod dns;
pub mod engine;
pub mod ping6;
pub mod talk;
pub mod tls;

pub use engine::{Engine, FIRST_TOKEN, ICMP_TOKEN, ICMP6_TOKEN, Verdict};
