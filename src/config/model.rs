//! The typed configuration every other layer reads. Parsers live beside this file.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Milliseconds: every timer in the configuration is kept at millisecond precision.
pub type Millis = u64;

/// `auto_failback` (spec §6.7, §6.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoFailback {
    On,
    Off,
    Legacy,
}

/// `msgfmt`: what we send; both are always accepted on receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgFmt {
    Classic,
    Netstring,
}

/// One heartbeat medium (spec §1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Medium {
    Bcast {
        iface: String,
    },
    Mcast {
        iface: String,
        group: Ipv4Addr,
        port: u16,
        ttl: u8,
        loopback: bool,
    },
    Ucast {
        iface: String,
        peer: String,
    },
    /// `ucast6 IFACE PEER`: UDP over IPv6 to the peer (a link-local peer is reached through
    /// IFACE), on `udpport`.
    Ucast6 {
        iface: String,
        peer: std::net::Ipv6Addr,
    },
    /// `mcast6 IFACE GROUP PORT HOPS LOOP`: UDP over IPv6 multicast.
    Mcast6 {
        iface: String,
        group: std::net::Ipv6Addr,
        port: u16,
        hops: u8,
        loopback: bool,
    },
    /// `serial /dev/ttyS0`: classic-format messages on a serial line (crate::daemon::serial).
    Serial {
        device: String,
    },
}

impl Medium {
    /// The link name shown by `cl_status listhblinks` and in `Link node:link up.` logs.
    pub fn link_name(&self) -> &str {
        match self {
            Medium::Bcast { iface } | Medium::Mcast { iface, .. } | Medium::Ucast { iface, .. } => {
                iface
            }
            Medium::Ucast6 { iface, .. } | Medium::Mcast6 { iface, .. } => iface,
            Medium::Serial { device } => device,
        }
    }
}

/// `ping_group NAME HOST...`: alive while any member answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingGroup {
    pub name: String,
    pub hosts: Vec<String>,
}

/// `respawn USER PATH [ARGS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Respawn {
    pub user: String,
    pub command: String,
}

/// A way to power off or reset the peer before its resources are taken (spec §6.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FenceDevice {
    /// `stonith TYPE FILE`: cluster-glue's `stonith -t TYPE -F FILE -T reset NODE`.
    StonithFile { kind: String, file: PathBuf },
    /// `stonith_host HOST TYPE PARAMS`: `stonith -t TYPE -p PARAMS -T reset NODE`.
    StonithParams { kind: String, params: String },
    /// `fence_agent PATH [NAME=VALUE...]` (native): an RHCS-style agent (`fence_ipmilan`,
    /// `fence_virsh` …) given `action=reboot`, `plug=NODE` and the options on stdin.
    Agent {
        program: PathBuf,
        options: Vec<(String, String)>,
    },
}

impl FenceDevice {
    /// A short name for the logs (`Resetting node X with [NAME]`).
    pub fn name(&self) -> String {
        match self {
            FenceDevice::StonithFile { kind, .. } | FenceDevice::StonithParams { kind, .. } => {
                kind.clone()
            }
            FenceDevice::Agent { program, .. } => program.display().to_string(),
        }
    }
}

/// A fencing directive as written: `stonith_host` names the node that uses it (`*`: any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceLine {
    pub host: Option<String>,
    pub device: FenceDevice,
}

/// Fencing settings of `ha.cf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fencing {
    /// Every `stonith`, `stonith_host` and `fence_agent` line in file order; the last one that
    /// applies to this node wins, as in 3.0.6.
    pub lines: Vec<FenceLine>,
    /// Native `fence_delay NODE TIME`: wait this long before fencing NODE, so that in a fence
    /// race over a cut link NODE shoots first and survives (Pacemaker's `pcmk_delay_base`).
    pub delays: Vec<(String, Millis)>,
    /// Native `fence_timeout TIME` (default 60 s): a fencing run still going is killed and
    /// counts as failed.
    pub timeout: Millis,
    /// Native `fence_check TIME` (default 1 h, as 3.0.6; 0: off): how often the device is
    /// asked whether it works.
    pub check_interval: Millis,
}

impl Default for Fencing {
    fn default() -> Self {
        Fencing {
            lines: Vec::new(),
            delays: Vec::new(),
            timeout: 60_000,
            check_interval: 3_600_000,
        }
    }
}

impl Fencing {
    /// The device this node uses, if any.
    pub fn device_for(&self, local: &str) -> Option<&FenceDevice> {
        self.lines
            .iter()
            .rev()
            .find(|l| {
                l.host
                    .as_deref()
                    .is_none_or(|h| h == "*" || h.eq_ignore_ascii_case(local))
            })
            .map(|l| &l.device)
    }

    /// The delay before fencing `node`.
    pub fn delay_for(&self, node: &str) -> Millis {
        self.delays
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(node))
            .map_or(0, |(_, d)| *d)
    }
}

/// Parsed and validated `ha.cf`.
#[derive(Debug, Clone, PartialEq)]
pub struct HaCf {
    pub keepalive: Millis,
    pub deadtime: Millis,
    pub warntime: Millis,
    pub initdead: Millis,
    pub deadping: Millis,
    pub udpport: u16,
    pub media: Vec<Medium>,
    /// Cluster nodes, lower-cased, in file order.
    pub nodes: Vec<String>,
    pub ping_nodes: Vec<String>,
    pub ping_groups: Vec<PingGroup>,
    pub auto_failback: AutoFailback,
    pub logfile: Option<PathBuf>,
    pub debugfile: Option<PathBuf>,
    pub logfacility: Option<String>,
    pub realtime: bool,
    pub debug: u8,
    pub msgfmt: MsgFmt,
    /// `baud` of the serial media (default 19200).
    pub baud: u32,
    pub max_rexmit_delay: Millis,
    pub hopfudge: u8,
    pub respawn: Vec<Respawn>,
    /// Native: `notify PATH` (repeatable): run on every state change as
    /// `PATH TYPE NAME STATE REASON` (keepalived's notify, crate::daemon::hooks).
    pub notify: Vec<PathBuf>,
    /// Native: `metrics IP:PORT`: Prometheus text endpoint (crate::daemon::metrics).
    pub metrics: Option<std::net::SocketAddr>,
    /// STONITH / fence agents (spec §6.10).
    pub fencing: Fencing,
    /// Native resource monitoring (crate::config::monitoring).
    pub monitoring: super::monitoring::Monitoring,
    /// Built-in ipfail: enabled by `respawn ... ipfail` or the native `ipfail on` directive.
    pub ipfail: bool,
    /// Native: `ipfail_holddown TIME`, minimum time between two ping-driven moves.
    pub ipfail_holddown: Millis,
    /// Native: `resource_timeout TIME`, after which a resource script is killed (default 60 s).
    pub resource_timeout: Millis,
    /// Native: `crash_guard on|off` (default on): remove addresses if the daemon dies.
    pub crash_guard: bool,
    /// Native: how address resources are handled and announced.
    pub vip: VipSettings,
    /// Every directive as written (or as defaulted), exported to scripts as `HA_<name>`.
    pub directives: Vec<(String, String)>,
}

/// Address resources (`IPaddr`, `IPaddr2`, bare addresses): handled in-process over netlink
/// unless `native_addresses off`, and announced with gratuitous ARP / unsolicited NA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VipSettings {
    /// `native_addresses on|off` (default on).
    pub native: bool,
    /// `garp_count N` (default 5): announcements per burst (each an ARP request and a reply).
    pub garp_count: u8,
    /// `garp_interval TIME` (default 200 ms) between the announcements of a burst.
    pub garp_interval: Millis,
    /// `garp_repeat_delay TIME` (default 5 s; 0: none): a second burst this long after the
    /// first, for switches and hosts that missed it (as keepalived's `garp_master_delay`).
    pub garp_repeat_delay: Millis,
}

impl Default for VipSettings {
    fn default() -> Self {
        VipSettings {
            native: true,
            garp_count: 5,
            garp_interval: 200,
            garp_repeat_delay: 5000,
        }
    }
}

/// Authentication method of one `authkeys` line (spec §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Crc,
    Md5,
    Sha1,
}

/// One `N method [key]` line.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey {
    pub method: AuthMethod,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for AuthKey {
    // Never print a secret, not even in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthKey")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// Parsed `authkeys`: the sending index and every key accepted on receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthKeys {
    pub send_index: u8,
    pub keys: BTreeMap<u8, AuthKey>,
}

impl AuthKeys {
    /// One key at index 1 that also signs: the shape of most real `authkeys` files
    /// (`auth 1` / `1 sha1 secret`), and what tests and tools build by hand.
    pub fn single(method: AuthMethod, secret: &[u8]) -> Self {
        let key = AuthKey {
            method,
            secret: secret.to_vec(),
        };
        Self {
            send_index: 1,
            keys: [(1, key)].into_iter().collect(),
        }
    }

    /// The key we sign with.
    pub fn send_key(&self) -> Option<&AuthKey> {
        self.keys.get(&self.send_index)
    }
}

/// One resource of a group: `name::arg::arg`, a bare IPv4 address meaning `IPaddr::ADDR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Script name (`IPaddr`, `httpd`, ...).
    pub name: String,
    pub args: Vec<String>,
    /// The resource as written after normalisation (`IPaddr::192.0.2.10/24/eth0`).
    pub text: String,
}

/// `baud` values accepted for serial media (those of Heartbeat's StrToBaud that Linux has).
pub const SERIAL_BAUDS: [u32; 6] = [9600, 19200, 38400, 57600, 115_200, 230_400];

/// Resource names whose one argument is a virtual address (a bare address maps to `IPaddr`).
pub const ADDRESS_RESOURCES: [&str; 2] = ["IPaddr", "IPaddr2"];

impl Resource {
    /// A virtual address (`IPaddr`, `IPaddr2`, or a bare address): independent of every other
    /// address, so a run of them can be started or stopped side by side.
    pub fn is_address(&self) -> bool {
        ADDRESS_RESOURCES.contains(&self.name.as_str())
    }
}

/// One `haresources` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceGroup {
    /// Preferred node (lower-cased).
    pub owner: String,
    /// Started left to right, stopped right to left. Never empty.
    pub resources: Vec<Resource>,
    /// Line number in `haresources` (first line of a continued line).
    pub line: usize,
}

impl ResourceGroup {
    /// The group key the protocol uses (`ip-request ipaddr=KEY`): its first resource.
    pub fn key(&self) -> &str {
        self.resources
            .first()
            .map(|r| r.text.as_str())
            .unwrap_or("")
    }
}

/// Everything the daemon needs, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub ha_dir: PathBuf,
    pub ha: HaCf,
    pub keys: AuthKeys,
    pub groups: Vec<ResourceGroup>,
    /// This node's name (lower-cased).
    pub local: String,
    /// The other cluster node.
    pub peer: String,
}

impl Config {
    /// The fence device this node uses before taking over from a dead peer.
    pub fn fence_device(&self) -> Option<&FenceDevice> {
        self.ha.fencing.device_for(&self.local)
    }
}
