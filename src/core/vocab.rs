//! The whole vocabulary of the core in one place: what it is fed, what it asks for, and the
//! states and reasons it reports. The shell (daemon) and the simulator speak only this.
//!
//! Contract: the core never reads a clock, touches a socket or spawns. Every call gets `Now`;
//! after each call the shell drains `Core::poll_output()` and sleeps until `Core::next_deadline()`.

use crate::config::Millis;

/// The two clocks the core is given. `mono` drives every timer; `unix_secs` only fills the `ts`
/// field of outgoing messages (spec §4.8) and is never used for timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Now {
    /// Monotonic milliseconds since an arbitrary origin.
    pub mono: Millis,
    /// Wall clock, seconds since the epoch.
    pub unix_secs: u64,
}

/// Index of a medium in `HaCf::media`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediumId(pub usize);

/// Identifies one resource script run requested by the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActionId(pub u64);

/// Identifies an admin client connection (control socket) so replies reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u64);

/// The resource sets of `hb_standby` / `hb_takeover` / `rsc_hold` (spec §6.6, §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RscSet {
    None,
    Local,
    Foreign,
    All,
}

/// What a resource script is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptOp {
    Start,
    Stop,
    Status,
}

/// How a script run ended, as the shell saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptOutcome {
    /// start/stop exited 0; status says running.
    Ok,
    /// status says not running (LSB 3 / OCF 7 / "not running").
    NotRunning,
    /// Non-zero exit (the code), or the script could not be executed (code 127 etc.).
    Failed(i32),
    /// Killed at the resource timeout.
    TimedOut,
    /// A check says the resource cannot run on this node (OCF 2/4/5, a program that is missing
    /// or not executable): monitoring restarts nothing here (crate::core::monitor).
    Hard(i32),
    /// A check says it cannot run anywhere as configured (OCF 6): monitoring stops the group.
    Fatal(i32),
}

/// Administrator requests that reach the core (from hb_standby / hb_takeover).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCommand {
    Standby(RscSet),
    Takeover(RscSet),
    /// `hb_takeover --fenced NODE`: the administrator confirms NODE is down (crate::core::fencing).
    ConfirmFenced(String),
    /// `cl_status rscfail --clear [RESOURCE]`: forget monitoring failures (crate::core::monitor).
    ClearFailures(Option<String>),
}

/// An answer to an admin command; `ok == false` carries the refusal reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminReply {
    pub ok: bool,
    pub text: String,
}

/// Everything that can happen to the core.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A UDP payload arrived on a medium (still unauthenticated).
    Datagram { medium: MediumId, bytes: Vec<u8> },
    /// The kernel dropped `dropped` datagrams of a medium before we could read them (receive
    /// queue full, `SO_RXQ_OVFL`): counted, never classified.
    KernelOverflow { medium: MediumId, dropped: u64 },
    /// The deadline returned by `next_deadline` was reached (or any wake-up).
    Tick,
    /// An ICMP echo reply from a ping host (by name/address as written in ha.cf).
    PingReply { host: String },
    /// A resource script run finished.
    ScriptDone {
        id: ActionId,
        outcome: ScriptOutcome,
    },
    /// hb_standby / hb_takeover.
    Admin {
        client: ClientId,
        command: AdminCommand,
    },
    /// SIGTERM / SIGINT / `service heartbeat stop`.
    Shutdown,
    /// SIGHUP with a freshly validated configuration.
    Reload(Box<crate::config::Config>),
    /// The fence command of `Output::Fence` finished (`ok`: exit code 0).
    FenceDone { id: ActionId, ok: bool },
    /// A message written to the FIFO by a script (`name`, `value` in order, `t` among them):
    /// sent to the cluster unless it is one of the core's own types (crate::core::messages).
    Inject { fields: Vec<(String, String)> },
}

/// Log severities, mapped to the original's words (`CRIT`, `ERROR`, `WARN`, `info`, `debug`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Crit,
    Error,
    Warn,
    Info,
    Debug,
}

/// Everything the core asks the shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send these bytes on one medium, or on every medium when `medium` is `None`.
    Transmit {
        medium: Option<MediumId>,
        bytes: Vec<u8>,
    },
    /// Send one ICMP echo request to a ping host (status time).
    SendPing { host: String },
    /// Run `op` of resource `resource` of group `group` (indexes into `Config::groups`).
    RunScript {
        id: ActionId,
        group: usize,
        resource: usize,
        op: ScriptOp,
    },
    /// Monitoring: run the status check of one resource, killed after `timeout`
    /// (crate::core::monitor); answered by `Input::ScriptDone` with this id.
    Check {
        id: ActionId,
        group: usize,
        resource: usize,
        timeout: Millis,
    },
    /// Re-announce the addresses of a group we keep (gratuitous ARP), e.g. after a partition heals.
    Announce { group: usize },
    /// A log line; `text` keeps the original's words where administrators grep for them.
    Log { severity: Severity, text: String },
    /// Answer to an admin client.
    Reply { client: ClientId, reply: AdminReply },
    /// Reset `node` with the configured fence device; answer with `Input::FenceDone`.
    Fence { id: ActionId, node: String },
    /// Ask the fence device whether it works (status / monitor); answer with `Input::FenceDone`.
    FenceCheck { id: ActionId },
    /// A message for `rc.d/<msg_type>` (spec §6.5): one the core has no handler for, from the
    /// peer or injected through the FIFO. `fields` are its string fields (`HA_<name>`).
    Hook {
        msg_type: String,
        fields: Vec<(String, String)>,
    },
    /// Our communication is up (status `active`): systemd READY=1 may be sent.
    Ready,
    /// Graceful shutdown finished: every resource is stopped, the peer told. Exit 0.
    Stopped,
}

/// Status of a cluster or ping node, as `cl_status nodestatus` prints it (spec §5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeStatus {
    Init,
    Up,
    Active,
    Dead,
    Ping,
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Init => "init",
            NodeStatus::Up => "up",
            NodeStatus::Active => "active",
            NodeStatus::Dead => "dead",
            NodeStatus::Ping => "ping",
        }
    }
}

/// Node type for `cl_status nodetype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeType {
    Normal,
    Ping,
}

/// One node as `cl_status` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub name: String,
    pub node_type: NodeType,
    pub status: NodeStatus,
    /// (link name, up?)
    pub links: Vec<(String, bool)>,
}

/// A read-only snapshot for `cl_status` and the status command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusView {
    /// Nodes in ha.cf order (cl_status prints them reversed, as the original does).
    pub nodes: Vec<NodeView>,
    /// `rscstatus`: `none`, `local`, `foreign`, `all` or `transition`.
    pub rscstatus: String,
    /// Groups (indexes into `Config::groups`) this node holds now.
    pub held_groups: Vec<usize>,
    /// Dropped-packet counters by kind (`bad_auth`, `replay`, `malformed`, ...).
    pub drops: Vec<(String, u64)>,
    /// The same per medium: (kind, link name, count) (crate::core::intake::drops).
    pub drops_by_medium: Vec<(String, String, u64)>,
    /// Failed resource runs since start: (resource, `start`/`stop`, count).
    pub failures: Vec<(String, String, u64)>,
    /// Every monitored resource (crate::core::monitor).
    pub monitors: Vec<MonitorView>,
}

/// One monitored resource as `cl_status rscfail` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorView {
    pub resource: String,
    pub group: usize,
    /// `ok`, `not running here`, `restarting`, `restart pending`, `handing over`, `stopped`.
    pub state: String,
    /// Failures since start (or the last clear).
    pub failures: u64,
    /// Restarts in place within the window / allowed.
    pub restarts: (usize, u32),
    /// (unix seconds, why) of the last failure.
    pub last_failure: Option<(u64, String)>,
    /// The group may not come back here from a live peer (until `failure_timeout` or a clear).
    pub failed_here: bool,
}
