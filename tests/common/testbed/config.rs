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

/// `haresources`: node A prefers the VIP (and `extra` more addresses) and the web server.
pub fn haresources(extra: &[std::net::Ipv4Addr]) -> String {
    let mut s = format!("nodea {VIP_SPEC}");
    for a in extra {
        let _ = write!(s, " IPaddr::{a}/24/eth0");
    }
    s.push_str(" httpd\n");
    s
}

/// The addresses beyond the VIP of a group of `total` (VIP-scale runs): 192.0.2.11-89, then
/// 203.0.113.1-176 (documentation ranges; the client has an address in both). At most 256.
pub fn extra_vips(total: usize) -> Vec<std::net::Ipv4Addr> {
    (1..total.min(256))
        .map(|i| {
            if i < 80 {
                std::net::Ipv4Addr::new(192, 0, 2, 10 + i as u8)
            } else {
                std::net::Ipv4Addr::new(203, 0, 113, (i - 79) as u8)
            }
        })
        .collect()
}

/// The client's address in 203.0.113.0/24 (to ask the VIPs there by ARP).
pub const CLIENT_IP2: &str = "203.0.113.254";

/// The program behind the `httpd` resource (Debian's `busybox`, its `httpd` applet).
pub const HTTPD_BIN: &str = "/bin/busybox";

/// The `httpd` resource: busybox's HTTP server, whose page names the node. It is one small
/// process with no configuration that listens within a few milliseconds, so service times
/// measure the cluster manager, not a web server's start-up (Python's `http.server` needed
/// ~100-200 ms of interpreter start, Apache more). `start` returns once port 80 is listening
/// (LSB: the service is up when start returns); `stop` ends the server's process group and waits.
/// It listens on all addresses of the node, which avoids a race with the VIP being configured by
/// a concurrent notify script (keepalived). The polls use shell built-ins only: a fork costs
/// milliseconds on a loaded machine.
///
/// Faults for the monitoring tests: while `NODE_DIR/httpd.fail` exists `start` fails; while
/// `NODE_DIR/httpd.hang` exists `status` hangs.
pub fn httpd_script(node_dir: &Path, node: &str) -> String {
    let d = node_dir.display();
    format!(
        r#"#!/bin/sh
# httpd resource of the test bed (LSB-style start/stop/status): busybox httpd.
PIDF={d}/httpd.pid
DOC={d}/www
alive() {{ [ -n "$1" ] && [ -r "/proc/$1/stat" ] && read -r _ _ st _ < "/proc/$1/stat" && [ "$st" != Z ]; }}
running() {{ [ -f "$PIDF" ] && read -r p < "$PIDF" && alive "$p"; }}
listening() {{
  while read -r _ local _ st _; do
    [ "$local" = 00000000:0050 ] && [ "$st" = 0A ] && return 0
  done < /proc/net/tcp
  return 1
}}
case "$1" in
start)
  [ -f {d}/httpd.fail ] && {{ echo "httpd: start refused (test fault)" >&2; exit 1; }}
  running && exit 0
  # A killed server's last process can hold the port for a moment: wait for it to go.
  i=0
  while listening && [ "$i" -lt 1000 ]; do sleep 0.002; i=$((i + 1)); done
  [ -d "$DOC" ] || mkdir -p "$DOC"
  echo "served by {node}" > "$DOC/index.html"
  : > {d}/httpd.conf
  # The server writes its own pid (setsid forks when it must); a server that dies before it
  # listens (the port still held a moment after a kill) is started again, a few times.
  tries=0
  while [ "$tries" -lt 5 ]; do
    tries=$((tries + 1))
    rm -f "$PIDF"
    setsid sh -c 'echo $$ > "$1"; exec "$2" httpd -f -p 0.0.0.0:80 -h "$3" -c "$4"' httpd \
      "$PIDF" {bin} "$DOC" {d}/httpd.conf >/dev/null 2>>{d}/httpd.err </dev/null &
    i=0
    while [ "$i" -lt 1000 ]; do
      listening && exit 0
      [ -s "$PIDF" ] && ! running && break
      sleep 0.002; i=$((i + 1))
    done
  done
  echo "httpd: not listening on port 80 ($(tail -n 1 {d}/httpd.err 2>/dev/null))" >&2; exit 1;;
stop)
  if running; then
    read -r pid < "$PIDF"
    kill -TERM "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null
    i=0
    while alive "$pid" && [ "$i" -lt 200 ]; do sleep 0.01; i=$((i + 1)); done
    alive "$pid" && kill -KILL "-$pid" 2>/dev/null
  fi
  rm -f "$PIDF"; exit 0;;
status)
  [ -f {d}/httpd.hang ] && sleep 600
  if running; then echo running; else echo stopped; fi; exit 0;;
*) echo "usage: $0 start|stop|status"; exit 1;;
esac
"#,
        bin = HTTPD_BIN
    )
}

/// keepalived priorities of node A and node B: A preempts (like `auto_failback on`).
pub const KEEPALIVED_PRIORITY: [u32; 2] = [150, 100];

/// keepalived's default advert interval for the timers: the keepalive, in centiseconds (the
/// resolution of VRRPv3's advert field).
pub fn keepalived_advert_cs(timers: &Timers) -> u64 {
    (timers.keepalive_ms / 10).max(1)
}

/// The backup's master-down interval in µs, computed as keepalived 2.2 does for VRRPv3:
/// 3 × advert + skew, skew = (256 − priority) × advert / 256 (integer arithmetic, in µs).
pub fn keepalived_dead_us(advert_cs: u64, priority: u32) -> u64 {
    let skew = (256 - u64::from(priority.min(255))) * advert_cs * 625 / 16;
    3 * advert_cs * 10_000 + skew
}

/// The advert interval (centiseconds, 0.01 s to 40.95 s) whose master-down interval at
/// `priority` is nearest to `dead_ms`: keepalived at the same dead time as a Heartbeat.
pub fn keepalived_advert_cs_for_dead(dead_ms: u64, priority: u32) -> u64 {
    let target = dead_ms * 1000;
    (1..=4095)
        .min_by_key(|&cs| keepalived_dead_us(cs, priority).abs_diff(target))
        .unwrap_or(1)
}

/// `advert_int` as keepalived.conf writes it: seconds with two decimals.
pub fn advert_text(advert_cs: u64) -> String {
    format!("{}.{:02}", advert_cs / 100, advert_cs % 100)
}

/// keepalived.conf: VRRPv3 over the dedicated link, the VIP on the public side, notify scripts
/// driving `httpd`, and a track file that plays the part of `hb_standby` (weight -100).
pub fn keepalived_conf(
    node_dir: &Path,
    node: &str,
    priority: u32,
    advert_cs: u64,
    auto_failback: bool,
    extra: &[std::net::Ipv4Addr],
    check: Option<(u32, u32, u32)>,
) -> String {
    let d = node_dir.display();
    let (script, track) = match check {
        Some((interval, fall, rise)) => (
            format!(
                "vrrp_script chk_httpd {{\n  script \"{d}/chk_httpd\"\n  interval {interval}\n  fall {fall}\n  rise {rise}\n  weight -100\n}}\n"
            ),
            "  track_script {\n    chk_httpd\n  }\n".to_string(),
        ),
        None => (String::new(), String::new()),
    };
    let extra: String = extra
        .iter()
        .map(|a| format!("    {a}/24 dev eth0\n"))
        .collect();
    let advert = advert_text(advert_cs);
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
{script}vrrp_instance VI_1 {{
  state BACKUP
  interface hb0
  dont_track_primary
  virtual_router_id 51
  priority {priority}
  advert_int {advert}
{preempt}  virtual_ipaddress {{
    192.0.2.10/24 dev eth0
{extra}  }}
  track_file {{
    standby
  }}
{track}  notify_master "{d}/ha.d/resource.d/httpd start"
  notify_backup "{d}/ha.d/resource.d/httpd stop"
  notify_fault "{d}/ha.d/resource.d/httpd stop"
  notify_stop "{d}/ha.d/resource.d/httpd stop"
}}
"#
    )
}

/// keepalived's check of the web server (`vrrp_script`): the `httpd` resource's own status,
/// as `pidof httpd` would be for a real Apache — but only where keepalived started it (its pid
/// file is there): a backup, which runs no web server, stays healthy, so the peer wins.
pub fn keepalived_check_script(node_dir: &Path) -> String {
    let d = node_dir.display();
    format!(
        "#!/bin/sh\n[ -f {d}/httpd.pid ] || exit 0\n[ \"$({d}/ha.d/resource.d/httpd status)\" = running ]\n"
    )
}

/// True when the kind's daemon is a Heartbeat (ha.cf) daemon.
pub fn uses_ha_cf(kind: Kind) -> bool {
    matches!(kind, Kind::Ours | Kind::Heartbeat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_dead_interval_follows_vrrpv3() {
        // advert 1 s, backup priority 100: 3 s + 156/256 s.
        assert_eq!(keepalived_dead_us(100, 100), 3_609_375);
        assert_eq!(keepalived_dead_us(10, 100), 360_937);
    }

    #[test]
    fn advert_matched_to_a_deadtime_is_the_nearest_centisecond() {
        assert_eq!(keepalived_advert_cs_for_dead(5000, 100), 139);
        assert_eq!(keepalived_advert_cs_for_dead(300, 100), 8);
        assert_eq!(advert_text(139), "1.39");
        assert_eq!(advert_text(8), "0.08");
        assert_eq!(advert_text(100), "1.00");
    }
}
