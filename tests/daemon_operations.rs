//! What an administrator runs beside the daemon: `respawn` clients, `notify` scripts, `rc.d`
//! hooks for messages written to the FIFO, `cl_status json` and the Prometheus endpoint —
//! observed through one failover of a real pair in network namespaces.
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::daemon::*;
use common::netns::{TempDir, can_use_netns, wait_until};

fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn pid_alive(pid: i32) -> bool {
    // A zombie is dead too: its state letter is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

#[test]
fn respawn_notify_hooks_json_and_metrics_through_a_failover() {
    if !can_use_netns() {
        eprintln!("skipped: needs root and iproute2");
        return;
    }
    let tools = TempDir::new("hbops");
    let t = tools.path.clone();
    // A long-running client that records each start, and one that asks not to be restarted.
    script(
        &t.join("keeper"),
        "echo $$ >> \"$(dirname \"$0\")/keeper-$HA_CURHOST.pids\"\nexec sleep 300",
    );
    script(
        &t.join("oneshot"),
        "echo run >> \"$(dirname \"$0\")/oneshot-$HA_CURHOST.runs\"\nexit 100",
    );
    script(
        &t.join("notify"),
        "echo \"$1|$2|$3|$4|$HA_NOTIFY_STATE\" >> \"$(dirname \"$0\")/notify-$HA_CURHOST.log\"",
    );
    let settings = Settings {
        extra: format!(
            "respawn root {k}\nrespawn root {o}\nnotify {n}\nmetrics 127.0.0.1:9694\n",
            k = t.join("keeper").display(),
            o = t.join("oneshot").display(),
            n = t.join("notify").display(),
        ),
        ..Settings::default()
    };
    let mut pair = Pair::new("hbops", &settings);
    for node in [&pair.a, &pair.b] {
        let rcd = node.dirs.ha_dir().join("rc.d");
        std::fs::create_dir_all(&rcd).unwrap();
        script(
            &rcd.join("app-event"),
            &format!(
                "echo \"$1 from=$HA_src word=$HA_word\" >> {}/hook-$HA_CURHOST.log",
                t.display()
            ),
        );
        // The shipped v1 status hook would run the old ResourceManager: it must never run.
        script(
            &rcd.join("status"),
            &format!("echo ran >> {}/status-hook.log", t.display()),
        );
    }
    pair.start_until_served_by("nodea");

    // respawn: started at comm up; a killed client comes back; exit 100 is final.
    let keeper_a = t.join("keeper-nodea.pids");
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            read(&keeper_a).lines().count() == 1
        }),
        "keeper not started: {}",
        pair.logs()
    );
    let first: i32 = read(&keeper_a).trim().parse().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            read(&keeper_a).lines().count() == 2
        }),
        "keeper not respawned: {}",
        pair.logs()
    );
    assert!(pair.a.dirs.log_text().contains("Respawning client"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(read(&t.join("oneshot-nodea.runs")).lines().count(), 1);

    // FIFO: a script's message reaches the peer's rc.d hook and our own; our own protocol's
    // types are refused.
    let fifo = pair.a.dirs.state_dir().join("fifo");
    std::fs::write(
        &fifo,
        ">>>\nt=app-event\nword=hello\n<<<\n>>>\nt=resource\nrsc_hold=all\n<<<\n",
    )
    .unwrap();
    let hook_b = t.join("hook-nodeb.log");
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            read(&hook_b).contains("app-event from=nodea word=hello")
        }),
        "peer hook: {:?}\n{}",
        read(&hook_b),
        pair.logs()
    );
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
            read(&t.join("hook-nodea.log")).contains("app-event from=nodea")
        }),
        "local hook"
    );
    assert!(
        pair.a
            .dirs
            .log_text()
            .contains("FIFO message refused: [resource]")
    );

    // Failover: A stops, B takes over; B's notify script hears of it, its JSON and metrics
    // show the takeover with a timeline.
    let keeper_pid: i32 = read(&keeper_a)
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    pair.a.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(pair.a.wait_exit(Duration::from_secs(20)), Some(0));
    assert!(!pid_alive(keeper_pid), "respawn client outlived the daemon");
    // The notify runs queued while stopping still ran before the exit.
    let notify_a = read(&t.join("notify-nodea.log"));
    assert!(notify_a.contains("resources|nodea|none|"), "{notify_a}");
    assert!(
        wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
            pair.b.dirs.holds_resource()
        }),
        "{}",
        pair.logs()
    );
    let notify_b = t.join("notify-nodeb.log");
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            let n = read(&notify_b);
            n.contains("node|nodea|dead|") && n.contains("group|testrsc|up|")
        }),
        "notify: {:?}\n{}",
        read(&notify_b),
        pair.logs()
    );
    assert!(read(&notify_b).contains("resources|nodeb|all|"));
    assert!(!t.join("status-hook.log").exists(), "v1 status hook ran");

    let (code, json, err) = pair.b.dirs.cl_status(&["json"]);
    eprintln!(
        "notify on nodeb:\n{}\ncl_status json:\n{json}",
        read(&notify_b)
    );
    assert_eq!(code, 0, "{err}");
    let checked = std::process::Command::new("python3")
        .args([
            "-c",
            "import json,sys; d=json.load(sys.stdin); \
             assert d['node']=='nodeb', d; assert d['rscstatus']=='all', d; \
             assert d['groups']==[{'key':'testrsc','held':True}], d; \
             assert d['takeovers']>=1, d; t=d['last_transition']; \
             assert t['duration_ms'] is not None and len(t['timeline'])>=2, t; \
             assert [c for c in d['nodes'] if c['name']=='nodea'][0]['status']=='dead', d; \
             assert any(r['state']=='running' for r in d['respawn']), d",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(json.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(
        checked.status.success(),
        "{json}\n{}",
        String::from_utf8_lossy(&checked.stderr)
    );

    let metrics = pair
        .b
        .ns
        .sh("curl -sf --max-time 5 http://127.0.0.1:9694/metrics");
    for want in [
        "heartbeat_node_status{node=\"nodea\",type=\"normal\",status=\"dead\"} 1",
        "heartbeat_group_held{group=\"testrsc\"} 1",
        "heartbeat_resources{status=\"all\"} 1",
        "heartbeat_transitions_total{kind=\"takeover\"} ",
        "heartbeat_last_transition_duration_seconds ",
    ] {
        assert!(metrics.contains(want), "missing {want:?} in\n{metrics}");
    }
    let missing = pair
        .b
        .ns
        .run("curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:9694/nope");
    assert_eq!(String::from_utf8_lossy(&missing.stdout), "404");
}
