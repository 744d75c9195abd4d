//! ha.cf + haresources → a Pacemaker configuration, as one neutral plan that the `pcs`, `crm`
//! and CIB renderers print. What has no equivalent becomes a note.

use crate::config::{AutoFailback, Config, FenceDevice};
use crate::resource::address::VipSpec;
use crate::resource::ocf;
use crate::resource::{Resolver, Runner, ScriptKind};

/// Location preference of a group for its haresources node.
pub const PREFER_SCORE: u32 = 100;
/// Stickiness for `auto_failback off`: above the preference, so nothing moves back.
pub const STICKY: u32 = 200;

/// One operation of a primitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub name: &'static str,
    /// Seconds (0 for start/stop).
    pub interval_s: u64,
    pub timeout_s: u64,
}

/// One Pacemaker primitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Primitive {
    pub id: String,
    /// `ocf`, `lsb`, `systemd`, `stonith`.
    pub class: &'static str,
    pub provider: Option<String>,
    pub agent: String,
    pub params: Vec<(String, String)>,
    pub ops: Vec<Op>,
    pub meta: Vec<(String, String)>,
}

impl Primitive {
    /// `ocf:heartbeat:IPaddr2`, `lsb:mysql`, `stonith:external/ipmi`.
    pub fn agent_spec(&self) -> String {
        match &self.provider {
            Some(p) => format!("{}:{p}:{}", self.class, self.agent),
            None => format!("{}:{}", self.class, self.agent),
        }
    }
}

/// One haresources line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub node: String,
    pub members: Vec<Primitive>,
}

/// `ping` nodes as an `ocf:pacemaker:ping` clone and a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    pub hosts: Vec<String>,
    pub dampen_s: u64,
}

/// Everything to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub cluster: String,
    pub nodes: Vec<String>,
    pub groups: Vec<Group>,
    pub stickiness: u32,
    pub ping: Option<Ping>,
    pub stonith: Vec<Primitive>,
    /// What has no equivalent or needs a hand.
    pub notes: Vec<String>,
}

/// An XML ID (NCName): letters, digits, `.`, `-`, `_`, not starting with a digit or `.`/`-`.
pub fn xml_id(text: &str) -> String {
    let mut id: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while id.contains("__") {
        id = id.replace("__", "_");
    }
    let id = id.trim_matches('_').to_string();
    if id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        id
    } else {
        format!("r_{id}")
    }
}

fn secs(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

/// Builds the plan; `resolver` tells what each resource runs.
pub fn build(config: &Config, resolver: &Resolver) -> Plan {
    let mut notes = Vec::new();
    let mut used_ids: Vec<String> = Vec::new();
    let mut unique = |base: String| {
        let mut id = base.clone();
        let mut n = 2;
        while used_ids.contains(&id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        used_ids.push(id.clone());
        id
    };
    let timeout_s = secs(config.ha.resource_timeout);
    let mut groups = Vec::new();
    for (gi, g) in config.groups.iter().enumerate() {
        let mut members = Vec::new();
        for (ri, r) in g.resources.iter().enumerate() {
            let (class, provider, agent, params) = match map_resource(r, resolver, config) {
                Ok(m) => m,
                Err(note) => {
                    notes.push(format!("{}: {note}", r.text));
                    ("lsb", None, r.name.clone(), Vec::new())
                }
            };
            let mut ops = vec![
                Op {
                    name: "start",
                    interval_s: 0,
                    timeout_s,
                },
                Op {
                    name: "stop",
                    interval_s: 0,
                    timeout_s,
                },
            ];
            let mut meta = Vec::new();
            if let Some(m) = config.ha.monitoring.of(gi, ri) {
                let p = &m.params;
                ops.push(Op {
                    name: "monitor",
                    interval_s: secs(p.interval),
                    timeout_s: secs(p.timeout),
                });
                meta.push((
                    "migration-threshold".to_string(),
                    (p.max_restarts + 1).to_string(),
                ));
                if p.failure_timeout > 0 {
                    meta.push((
                        "failure-timeout".to_string(),
                        format!("{}s", secs(p.failure_timeout)),
                    ));
                }
                if p.fall > 1 || p.rise > 1 || p.window != 600_000 {
                    notes.push(format!(
                        "{}: monitor fall/rise/window have no Pacemaker equivalent (one failed monitor is a failure; failures expire by failure-timeout)",
                        r.text
                    ));
                }
            }
            members.push(Primitive {
                id: unique(xml_id(&format!(
                    "{}_{}",
                    agent,
                    r.args.first().map_or("", |a| a.as_str())
                ))),
                class,
                provider,
                agent,
                params,
                ops,
                meta,
            });
        }
        groups.push(Group {
            id: unique(xml_id(&format!("grp_{}", g.key()))),
            node: g.owner.clone(),
            members,
        });
    }
    let stickiness = match config.ha.auto_failback {
        AutoFailback::On => 0,
        AutoFailback::Off => STICKY,
        AutoFailback::Legacy => {
            notes.push(String::from(
                "auto_failback legacy: exported as off (resources stay where they run)",
            ));
            STICKY
        }
    };
    let mut hosts = config.ha.ping_nodes.clone();
    for pg in &config.ha.ping_groups {
        notes.push(format!(
            "ping_group {}: exported as individual ping hosts (Pacemaker counts each)",
            pg.name
        ));
        hosts.extend(pg.hosts.iter().cloned());
    }
    let ping = (!hosts.is_empty()).then(|| Ping {
        hosts,
        dampen_s: secs(config.ha.deadping),
    });
    if ping.is_some() && !config.ha.ipfail {
        notes.push(String::from("ping nodes without ipfail: exported with the rule anyway (run where more ping nodes answer), as ipfail would"));
    }
    let stonith = stonith_primitives(config, &mut notes);
    if stonith.is_empty() {
        notes.push(String::from("no fencing configured: stonith-enabled=false (a cut link gives two holders; configure a fence device)"));
    }
    for r in &config.ha.respawn {
        notes.push(format!(
            "respawn {}: no equivalent (run it as a systemd service or an ocf:pacemaker:ClusterMon/anything resource)",
            r.command
        ));
    }
    if !config.ha.notify.is_empty() {
        notes.push(String::from(
            "notify: use Pacemaker alerts (pcs alert create path=...)",
        ));
    }
    Plan {
        cluster: "hacluster".to_string(),
        nodes: config.ha.nodes.clone(),
        groups,
        stickiness,
        ping,
        stonith,
        notes,
    }
}

type Mapped = (&'static str, Option<String>, String, Vec<(String, String)>);

fn map_resource(
    r: &crate::config::Resource,
    resolver: &Resolver,
    config: &Config,
) -> Result<Mapped, String> {
    if let Some(spec) = VipSpec::of_resource(&r.name, &r.args) {
        let spec = spec.map_err(|e| e.to_string())?;
        return Ok((
            "ocf",
            Some("heartbeat".into()),
            "IPaddr2".into(),
            vip_params(&spec),
        ));
    }
    let runner = match resolver.runner(r, true) {
        Ok(runner) => runner,
        // Our own httpd script (not installed where the export runs) drives Apache.
        Err(_) if r.name == "httpd" => return Ok(apache(r)),
        Err(e) => return Err(e.to_string()),
    };
    let Runner::Script(inv) = runner else {
        return Err("unexpected in-process resource".into());
    };
    match inv.kind {
        ScriptKind::Ocf => {
            let agent = ocf::agent_for(
                &r.name,
                &r.args,
                &config.ha_dir,
                std::path::Path::new(ocf::DEFAULT_OCF_ROOT),
            )
            .and_then(|a| a.ok());
            let (provider, agent_type, params) = match agent {
                Some(a) => (a.provider, a.agent_type, a.params),
                None => ("heartbeat".to_string(), r.name.clone(), Vec::new()),
            };
            Ok(("ocf", Some(provider), agent_type, params))
        }
        ScriptKind::InitScript => Ok(("lsb", None, r.name.clone(), Vec::new())),
        ScriptKind::Systemd => Ok(("systemd", None, r.name.clone(), Vec::new())),
        ScriptKind::Builtin if r.name == "httpd" => Ok(apache(r)),
        ScriptKind::Builtin | ScriptKind::HaResourceD => Err(format!(
            "{} is a Heartbeat resource script: exported as lsb:{}; install it as /etc/init.d/{} (LSB start/stop/status) or replace it with an OCF agent",
            inv.program.display(),
            r.name,
            r.name
        )),
    }
}

/// `httpd[::CONFIG]` (our script, which runs Apache) as `ocf:heartbeat:apache`.
fn apache(r: &crate::config::Resource) -> Mapped {
    let params = r
        .args
        .first()
        .map(|c| vec![("configfile".to_string(), c.clone())])
        .unwrap_or_default();
    ("ocf", Some("heartbeat".into()), "apache".into(), params)
}

fn vip_params(spec: &VipSpec) -> Vec<(String, String)> {
    let mut p = vec![("ip".to_string(), spec.addr.to_string())];
    if let Some(n) = spec.prefix {
        p.push(("cidr_netmask".into(), n.to_string()));
    }
    if let Some(i) = &spec.iface {
        p.push(("nic".into(), i.clone()));
    }
    if let Some(l) = &spec.label
        && let Some((_, suffix)) = l.split_once(':')
    {
        p.push(("iflabel".into(), suffix.to_string()));
    }
    if let Some(b) = spec.broadcast {
        p.push(("broadcast".into(), b.to_string()));
    }
    p
}

/// `stonith_host`'s positional parameters named as the plugin names them (`stonith -t TYPE -n`),
/// which is how Pacemaker passes them.
fn stonith_params(kind: &str, params: &str, notes: &mut Vec<String>) -> Vec<(String, String)> {
    let names = std::process::Command::new(crate::daemon::fence::STONITH_PROGRAM)
        .args(["-t", kind, "-n"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let values: Vec<&str> = params.split_whitespace().collect();
    if names.is_empty() || names.len() < values.len() {
        notes.push(format!(
            "stonith {kind}: parameter names unknown here (stonith -t {kind} -n); name the values \"{params}\" by hand"
        ));
        return Vec::new();
    }
    names
        .into_iter()
        .zip(values)
        .map(|(k, v)| (k, v.to_string()))
        .collect()
}

fn stonith_primitives(config: &Config, notes: &mut Vec<String>) -> Vec<Primitive> {
    let mut out = Vec::new();
    for (i, line) in config.ha.fencing.lines.iter().enumerate() {
        let (agent, params) = match &line.device {
            FenceDevice::StonithParams { kind, params } => {
                (kind.clone(), stonith_params(kind, params, notes))
            }
            FenceDevice::StonithFile { kind, file } => {
                notes.push(format!(
                    "stonith {kind} {}: copy the file's settings into the stonith resource's parameters",
                    file.display()
                ));
                (kind.clone(), Vec::new())
            }
            FenceDevice::Agent { program, options } => (
                program
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                options.clone(),
            ),
        };
        out.push(Primitive {
            id: format!("fence_{}", i + 1),
            class: "stonith",
            provider: None,
            agent,
            params,
            ops: vec![Op {
                name: "monitor",
                interval_s: 3600,
                timeout_s: secs(config.ha.fencing.timeout),
            }],
            meta: Vec::new(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_xml_names() {
        assert_eq!(
            xml_id("IPaddr2_192.0.2.10/24/eth0"),
            "IPaddr2_192.0.2.10_24_eth0"
        );
        assert_eq!(xml_id("192.0.2.10"), "r_192.0.2.10");
        assert_eq!(xml_id("grp_a::b"), "grp_a_b");
    }
}
