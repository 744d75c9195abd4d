//! Configuration: `ha.cf`, `authkeys`, `haresources` (spec §3.1, §6.1, §9).

pub mod authkeys;
pub mod check;
pub mod error;
pub mod file;
pub mod hacf;
pub mod haresources;
pub mod ldirectord;
pub mod load;
pub mod model;
pub mod monitoring;
mod suggest;
pub mod time;

pub use error::{ConfigError, ConfigWarning, Diagnostics};
pub use load::{Loaded, load, local_node, parse_texts};
pub use model::*;
pub use monitoring::{MonitorParams, MonitorSpec, Monitoring};
