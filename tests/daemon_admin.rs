//! The daemon's local interfaces: pid lock, `-s` / `-k`, the control socket's admission check,
//! and the admin commands against a running node.
mod common;

use std::time::Duration;

use common::daemon::*;
use common::netns::can_use_netns;

fn skip() -> bool {
    if !can_use_netns() {
        eprintln!("skipped: needs root and iproute2");
        return true;
    }
    false
}

fn heartbeat(args: &[&str], dirs: &NodeDirs) -> (i32, String, String) {
    let out = std::process::Command::new(HEARTBEAT)
        .args(args)
        .arg("--ha-dir")
        .arg(dirs.ha_dir())
        .arg("--state-dir")
        .arg(dirs.state_dir())
        .arg("--run-dir")
        .arg(dirs.run_dir())
        .arg("--node")
        .arg(&dirs.name)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn pid_lock_status_and_bounded_stop() {
    if skip() {
        return;
    }
    // A long initdead: a stop requested before comm is up must not wait for it (spec §13.24).
    let settings = Settings {
        timers: "keepalive 200ms\ndeadtime 2\nwarntime 1\ninitdead 40\n".to_string(),
        ..Settings::default()
    };
    let mut pair = Pair::new("hdp", &settings);
    let (code, out, _) = heartbeat(&["-s"], &pair.a.dirs);
    assert_eq!((code, out.trim()), (3, "heartbeat is stopped. No process"));
    pair.a.start();
    assert!(
        common::netns::wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            pair.a.dirs.cl_status(&["hbstatus"]).0 == 0
        }),
        "{}",
        pair.logs()
    );
    let (code, out, _) = heartbeat(&["-s"], &pair.a.dirs);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("[pid {} et al] is running", pair.a.pid())),
        "{out}"
    );
    // A second daemon on the same run dir refuses, and the first keeps running.
    let (code, out, _) = heartbeat(&[], &pair.a.dirs);
    assert!(out.contains("already running"), "{out}");
    assert_eq!(code, 0);
    assert!(pair.a.alive());
    // The generation file is 16 bytes and the uuid 16 raw bytes.
    assert_eq!(
        std::fs::read(pair.a.dirs.state_dir().join("hb_generation"))
            .unwrap()
            .len(),
        16
    );
    assert_eq!(
        std::fs::read(pair.a.dirs.state_dir().join("hb_uuid"))
            .unwrap()
            .len(),
        16
    );
    // -k stops it (bounded) and it exits 0, long before initdead.
    let t0 = std::time::Instant::now();
    let (code, _, err) = heartbeat(&["-k"], &pair.a.dirs);
    assert_eq!(code, 0, "{err}");
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "stop waited for initdead"
    );
    assert_eq!(pair.a.wait_exit(Duration::from_secs(20)), Some(0));
    let (code, _, _) = heartbeat(&["-s"], &pair.a.dirs);
    assert_eq!(code, 3);
    let (code, out, _) = pair.a.dirs.cl_status(&["hbstatus"]);
    assert_eq!(
        (code, out.trim()),
        (1, "Heartbeat is stopped on this machine.")
    );
}

#[test]
fn non_root_user_not_in_the_group_is_refused() {
    if skip() || !std::path::Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipped: needs root, iproute2 and setpriv");
        return;
    }
    let mut pair = Pair::new("hdr", &Settings::default());
    // Let uid 65534 reach the socket's directory.
    use std::os::unix::fs::PermissionsExt;
    let root = pair.a.dirs.root.clone();
    for d in [
        root.parent().unwrap().to_path_buf(),
        root.clone(),
        pair.a.dirs.run_dir(),
    ] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    pair.a.start();
    assert!(
        common::netns::wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            pair.a.dirs.cl_status(&["hbstatus"]).0 == 0
        }),
        "{}",
        pair.logs()
    );
    let nobody: &[&str] = &[
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let run_dir = pair.a.dirs.run_dir();
    // The socket is 0660: the kernel refuses the connection.
    let (code, _, err) = run_tool(CL_STATUS, &["rscstatus"], &run_dir, Some(nobody));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("permission denied"), "{err}");
    let (code, _, err) = run_tool(HB_STANDBY, &[], &run_dir, Some(nobody));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("permission denied"), "{err}");
    // A member of haclient (supplementary group) is admitted through the 0660 socket.
    if let Ok(Some(g)) = nix::unistd::Group::from_name("haclient") {
        let groups = format!("--groups={}", g.gid);
        let member: &[&str] = &["setpriv", "--reuid=65534", "--regid=65534", &groups];
        let (code, out, err) = run_tool(CL_STATUS, &["listnodes"], &run_dir, Some(member));
        assert_eq!((code, out.as_str()), (0, "nodeb\nnodea\n"), "{err}");
        // ... but may not move resources: hb_standby is for root and hacluster, as in 3.0.6.
        let (code, _, err) = run_tool(HB_STANDBY, &["all"], &run_dir, Some(member));
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("neither root nor hacluster"), "{err}");
        if let Ok(Some(u)) = nix::unistd::User::from_name("hacluster") {
            let reuid = format!("--reuid={}", u.uid);
            let hacluster: &[&str] = &["setpriv", &reuid, "--regid=65534", &groups];
            // Admitted: the core answers (here that the peer is not up), not the admission.
            let (_, out, err) = run_tool(HB_STANDBY, &["foreign"], &run_dir, Some(hacluster));
            assert!(
                !err.contains("permission denied"),
                "hacluster may: {out}{err}"
            );
            assert!(err.contains("communication is not up"), "{out}{err}");
        }
    }
    // Even with the socket opened up, the daemon's credential check refuses.
    let sock = run_dir.join("control.sock");
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, _, err) = run_tool(HB_TAKEOVER, &["all"], &run_dir, Some(nobody));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("neither root nor a member of group haclient"),
        "{err}"
    );
    let (code, _, err) = run_tool(CL_STATUS, &["listnodes"], &run_dir, Some(nobody));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("neither root nor a member"), "{err}");
    assert!(pair.a.dirs.log_text().contains("control: refused a client"));
    // Root is admitted.
    let (code, out, _) = pair.a.dirs.cl_status(&["listnodes"]);
    assert_eq!((code, out.as_str()), (0, "nodeb\nnodea\n"));
}

#[test]
fn admin_commands_report_usage_errors_like_the_original() {
    let dir = std::env::temp_dir();
    let (code, out, err) = run_tool(HB_STANDBY, &["bogus"], &dir, None);
    assert_eq!(code, 1);
    assert_eq!(out, "hb_standby: wrong resources(bogus).\nusage:\n");
    assert_eq!(err, "hb_standby [all|foreign|local|failback]\n");
    let (code, out, _) = run_tool(HB_TAKEOVER, &["all", "local"], &dir, None);
    assert_eq!(code, 1);
    assert!(out.starts_with("hb_takeover: too many arguments\n"));
    let (code, _, _) = run_tool(CL_STATUS, &["frobnicate"], &dir, None);
    assert_eq!(code, 11);
}

/// The LSB init script drives the daemon: start (detached, waits for the verdict), status,
/// reload, stop, with LSB exit codes.
#[test]
fn init_script_start_status_reload_stop() {
    if skip() {
        return;
    }
    let pair = Pair::new("hdi", &Settings::default());
    let d = &pair.a.dirs;
    std::fs::write(d.ha_dir().join("nodeinfo"), "nodea\n").unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/etc/init.d/heartbeat");
    let env = format!(
        "HA_BIN={HEARTBEAT} HB_STANDBY={HB_STANDBY} HA_DIR={} RUN_DIR={} STATE_DIR={}",
        d.ha_dir().display(),
        d.run_dir().display(),
        d.state_dir().display()
    );
    let init = |action: &str| {
        let out = pair.a.ns.run(&format!("{env} sh {script} {action}"));
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = init("status");
    assert_eq!(code, 3, "{out}");
    let (code, out) = init("start");
    assert_eq!(code, 0, "{out}\n{}", pair.logs());
    assert!(
        out.contains("Starting High-Availability services: Done."),
        "{out}"
    );
    let (code, out) = init("status");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("is running on"), "{out}");
    let (code, out) = init("start");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("already running"), "{out}");
    let (code, out) = init("reload");
    assert_eq!(code, 0, "{out}");
    assert!(
        common::netns::wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            d.log_text().contains("Configuration reloaded.")
        }),
        "{}",
        pair.logs()
    );
    // standby goes through hb_standby, which reports the refusal (no peer here): exit 1.
    let (code, out) = init("standby");
    assert!(out.contains("Attempting to enter standby mode."), "{out}");
    assert_eq!(code, 1, "{out}");
    let (code, out) = init("stop");
    assert_eq!(code, 0, "{out}\n{}", pair.logs());
    assert!(
        out.contains("Stopping High-Availability services: Done."),
        "{out}"
    );
    assert!(d.log_text().contains("nodea Heartbeat shutdown complete."));
    let (code, _) = init("status");
    assert_eq!(code, 3);
    let (code, _) = init("bogus");
    assert_eq!(code, 2);
}

/// systemd readiness: READY=1 reaches $NOTIFY_SOCKET once communication is up; SIGUSR1 and
/// SIGUSR2 move the debug level up and down.
#[test]
fn readiness_notification_and_debug_signals() {
    if skip() {
        return;
    }
    let mut pair = Pair::new("hdn", &Settings::default());
    let sock_path = pair.a.dirs.root.join("notify.sock");
    let rx = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let started = std::time::Instant::now();
    pair.a
        .start_with_env(&[("NOTIFY_SOCKET", &sock_path.display().to_string())]);
    let mut buf = [0u8; 256];
    let n = rx.recv(&mut buf).expect("no readiness notification");
    assert_eq!(&buf[..n], b"READY=1");
    // Alone, comm comes up at initdead (4 s), not before.
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "ready too early"
    );
    assert!(pair.a.dirs.log_text().contains("Comm_now_up()"));

    pair.a.signal(nix::sys::signal::Signal::SIGUSR1);
    assert!(common::netns::wait_until(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || { pair.a.dirs.log_text().contains("debug now set to 1 [pid") }
    ));
    pair.a.signal(nix::sys::signal::Signal::SIGUSR2);
    assert!(common::netns::wait_until(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || { pair.a.dirs.log_text().contains("debug now set to 0 [pid") }
    ));
    pair.a.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(
        pair.a.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        pair.logs()
    );
    let n = rx.recv(&mut buf).expect("no stopping notification");
    assert_eq!(&buf[..n], b"STOPPING=1");
}

#[test]
fn hostile_bytes_in_the_fifo_do_not_stop_the_daemon() {
    if skip() {
        return;
    }
    // One non-UTF-8 byte used to make the FIFO parser drain past its buffer and abort.
    let mut pair = Pair::new("hdf", &Settings::default());
    pair.a.start();
    assert!(
        common::netns::wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            pair.a.dirs.cl_status(&["hbstatus"]).0 == 0
        }),
        "{}",
        pair.logs()
    );
    let fifo = pair.a.dirs.state_dir().join("fifo");
    let hostile: [&[u8]; 4] = [
        b"\xff\n",
        b"\xff\xfe\n>>>\n\xc3\n<<<\n",
        b">>>\nt=\xffask_resources\n<<<\n\xff\xff\xff",
        &[0xffu8; 70_000],
    ];
    for bytes in hostile {
        // Non-blocking: with no reader left the open fails instead of hanging.
        let mut f = std::os::unix::fs::OpenOptionsExt::custom_flags(
            std::fs::OpenOptions::new().write(true),
            nix::libc::O_NONBLOCK,
        )
        .open(&fifo)
        .unwrap_or_else(|e| panic!("FIFO has no reader ({e}): {}", pair.logs()));
        // One write at a time, read by the daemon before the next (a later write must not
        // pad the buffer that the bad count ran past).
        let _ = std::io::Write::write_all(&mut f, bytes);
        std::thread::sleep(Duration::from_millis(150));
        assert!(pair.a.alive(), "{}", pair.logs());
    }
    assert_eq!(pair.a.dirs.cl_status(&["hbstatus"]).0, 0, "{}", pair.logs());
}
