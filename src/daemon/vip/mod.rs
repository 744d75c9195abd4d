//! Virtual addresses handled in-process: `IPaddr::…`, `IPaddr2::…` and bare-address resources
//! are added and removed over rtnetlink and announced with gratuitous ARP / unsolicited NA on a
//! packet socket, by a worker thread beside the event loop. No `ip`, `arping` or `send_arp` is
//! needed, and a group of hundreds of addresses moves in milliseconds.
//!
//! - `resource::address::{spec, plan}`: the resource argument's grammar, and interface,
//!   prefix, label and broadcast from a snapshot of the kernel (pure).
//! - [`frames`]: the ARP and NA payloads (pure).
//! - [`announce`]: their pacing (pure) and the packet socket.
//! - [`rtnl`]: the netlink requests, dumps and address events.
//! - [`worker`]: the thread that runs jobs for the daemon and restores removed addresses.

pub mod announce;
pub mod frames;
pub mod rtnl;
pub mod worker;

pub use crate::resource::address::{Flavour, SpecError, VipSpec};
pub use worker::{Done, Job, VipWorker};
