//! Resource scripts: resolving a haresources entry to something runnable, the environment it
//! runs in, and how its exit code and output are read (spec §6.2, §10, §13 items 17-18).
//!
//! This module does no process management: the daemon spawns [`Invocation::program`] with
//! [`Invocation::argv`] and [`script_env`], then feeds the result to [`interpret`].

pub mod address;
pub mod check;
pub mod env;
pub mod ocf;
pub mod outcome;
pub mod resolve;

pub use env::script_env;
pub use outcome::interpret;
pub use resolve::{Invocation, ResolveError, Resolver, ResourceCheckError, Runner, ScriptKind};

/// A small valid configuration for the unit tests of this module.
#[cfg(test)]
pub(crate) fn test_config() -> crate::config::Config {
    use crate::config::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    let directives = [
        ("keepalive", "1"),
        ("deadtime", "6"),
        ("deadping", "6000ms"),
        ("auto_failback", "on"),
        ("logfile", "/var/log/ha-log"),
        ("bad-name", "x"),
    ];
    Config {
        ha_dir: PathBuf::from("/etc/ha.d"),
        ha: HaCf {
            keepalive: 1000,
            deadtime: 6000,
            warntime: 3000,
            initdead: 12000,
            deadping: 6000,
            udpport: 694,
            media: vec![Medium::Bcast {
                iface: "eth0".into(),
            }],
            nodes: vec!["node1".into(), "node2".into()],
            ping_nodes: vec![],
            ping_groups: vec![],
            auto_failback: AutoFailback::On,
            logfile: Some(PathBuf::from("/var/log/ha-log")),
            debugfile: Some(PathBuf::from("/var/log/ha-debug")),
            logfacility: None,
            realtime: false,
            debug: 0,
            msgfmt: MsgFmt::Classic,
            baud: 19200,
            max_rexmit_delay: 1000,
            hopfudge: 1,
            respawn: vec![],
            notify: vec![],
            metrics: None,
            fencing: Default::default(),
            monitoring: Default::default(),
            ipfail: false,
            ipfail_holddown: 0,
            resource_timeout: 60000,
            crash_guard: true,
            vip: Default::default(),
            directives: directives
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
        keys: AuthKeys {
            send_index: 1,
            keys: BTreeMap::new(),
        },
        groups: vec![],
        local: "node1".into(),
        peer: "node2".into(),
    }
}
