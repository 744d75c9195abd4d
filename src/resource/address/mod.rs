//! Address resources as haresources writes them (`IPaddr::…`, `IPaddr2::…`, bare addresses):
//! their grammar ([`spec`]) and where an address goes on this machine ([`plan`], the
//! original's `findif`), both pure. The daemon adds them over netlink (`daemon::vip`).

pub mod plan;
pub mod spec;

pub use spec::{Flavour, SpecError, VipSpec};
