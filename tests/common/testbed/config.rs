//! The files a node needs before its daemon starts: ha.cf / authkeys / haresources for the two
//! Heartbeat kinds, keepalived.conf for keepalived, and the `httpd` resource script shared by all.

use std::fmt::Write as _;
use std::path::Path;

use super::{Kind, Timers};

/// Address, prefix and interface of the service address on the public segment.
pub const VIP_SPEC: &str = "192.0.2.10/24/eth0";

/// `ha.cf` in the sample shape: bcast on the dedicated link, both nodes, v1 resources.
pub fn ha_cf(log_dir: &Path, timers: &Timers, auto_failback: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "logfile {}/ha-log", log_dir.display());
    let _ = writeln!(s, "debugfile {}/ha-debug", log_dir.display());
    s.push_str("logfacility none\n");
    let _ = writeln!(s, "keepalive {}ms", timers.keepalive_ms);
    let _ = writeln!(s, "deadtime {}ms", timers.deadtime_ms);
    let _ = writeln!(s, "warntime {}ms", timers.warntime_ms);
    let _ = writeln!(s, "initdead {}ms", timers.initdead_ms);
    s.push_str("udpport 694\nbcast hb0\n");
    let _ = writeln!(
        s,
        "auto_failback {}",
        if auto_failback { "on" } else { "off" }
    );
    s.push_str("node nodea\nnode nodeb\ncrm off\n");
    s
}

/// `authkeys` with one key of the given method (`crc`, `md5 secret`, `sha1 secret`).
pub fn authkeys(method: &str) -> String {
    format!("auth 1\n1 {method}\n")
}

/// `haresources`: node A prefers the VIP and the web server.
pub fn haresources() -> String {
    format!("nodea {VIP_SPEC} httpd\n")
}

/// The `httpd` resource: a Python HTTP server whose page names the node. Python's server is one
/// process with no configuration and starts in well under 100 ms, so service times measure the
/// cluster, not Apache's start-up; it listens on all addresses of the node, which avoids a race
/// with the VIP being configured by a concurrent notify script (keepalived).
pub fn httpd_script(node_dir: &Path, node: &str) -> String {
    let d = node_dir.display();
    format!(
        r#"#!/bin/sh
# httpd resource of the test bed (LSB-style start/stop/status).
PIDF={d}/httpd.pid
DOC={d}/www
running() {{ [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; }}
case "$1" in
start)
  running && exit 0
  mkdir -p "$DOC"; echo "served by {node}" > "$DOC/index.html"
  setsid /usr/bin/python3 -I -m http.server --bind 0.0.0.0 --directory "$DOC" 80 \
    >/dev/null 2>&1 </dev/null &
  echo $! > "$PIDF"; exit 0;;
stop)
  running && kill "$(cat "$PIDF")" 2>/dev/null
  rm -f "$PIDF"; exit 0;;
status)
  if running; then echo running; else echo stopped; fi; exit 0;;
*) echo "usage: $0 start|stop|status"; exit 1;;
esac
"#
    )
}

/// keepalived.conf: VRRPv3 over the dedicated link, the VIP on the public side, notify scripts
/// driving `httpd`, and a track file that plays the part of `hb_standby` (weight -100).
pub fn keepalived_conf(
    node_dir: &Path,
    node: &str,
    priority: u32,
    timers: &Timers,
    auto_failback: bool,
) -> String {
    let d = node_dir.display();
    let advert = timers.keepalive_ms as f64 / 1000.0;
    let preempt = if auto_failback { "" } else { "  nopreempt\n" };
    format!(
        r#"global_defs {{
  router_id {node}
  vrrp_version 3
  script_user root
  enable_script_security
}}
track_file standby {{
  file "{d}/standby"
  weight -100
  init_file 0 overwrite
}}
vrrp_instance VI_1 {{
  state BACKUP
  interface hb0
  dont_track_primary
  virtual_router_id 51
  priority {priority}
  advert_int {advert}
{preempt}  virtual_ipaddress {{
    192.0.2.10/24 dev eth0
  }}
  track_file {{
    standby
  }}
  notify_master "{d}/ha.d/resource.d/httpd start"
  notify_backup "{d}/ha.d/resource.d/httpd stop"
  notify_fault "{d}/ha.d/resource.d/httpd stop"
  notify_stop "{d}/ha.d/resource.d/httpd stop"
}}
"#
    )
}

/// True when the kind's daemon is a Heartbeat (ha.cf) daemon.
pub fn uses_ha_cf(kind: Kind) -> bool {
    matches!(kind, Kind::Ours | Kind::Heartbeat)
}
