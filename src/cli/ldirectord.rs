//! `hb_ldirectord [OPTIONS] [CONFIG] {start|stop|restart|reload|status|check}`: ldirectord's
//! command line. As a haresources resource (`ldirectord::ldirectord.cf`, through
//! `resource.d/ldirectord`) it is started and stopped like the original; alone it runs under its
//! own systemd unit. CONFIG is looked up as ldirectord does (`/etc/ha.d/NAME`, then
//! `/etc/ha.d/conf/NAME`; `$HA_DIR` instead of `/etc/ha.d` when set).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::config::ldirectord::{self, CheckType, DirectorConfig, VirtualAddr};
use crate::config::time::format_millis;
use crate::daemon::detach::{Starter, detach};
use crate::daemon::logging::{self, LogSettings};
use crate::director::run::{RunOptions, run};

const USAGE: &str = "usage: hb_ldirectord [--foreground] [--warm] [--snat] [--run-dir DIR] [-d] [CONFIG] {start|stop|restart|reload|status|check}";

struct Args {
    config: PathBuf,
    /// ldirectord's name for this director in its pid file: the configuration's file name as
    /// given, or `ldirectord` when none was.
    cfgname: String,
    command: String,
    foreground: bool,
    snat: bool,
    run_dir: PathBuf,
    debug: bool,
    /// The warm standby's own start/stop (systemd), not the resource's.
    warm: bool,
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut words = Vec::new();
    let mut foreground = false;
    let mut snat = std::env::var("HB_LDIRECTORD_SNAT").is_ok_and(|v| v == "1" || v == "yes");
    let mut debug = false;
    let mut warm = false;
    let mut run_dir = std::env::var_os("HB_LDIRECTORD_RUN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run"));
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--foreground" | "-f" => foreground = true,
            "--snat" => snat = true,
            "--warm" => warm = true,
            "-d" | "--debug" => {
                debug = true;
                foreground = true;
            }
            "-t" | "--check" => words.push(String::from("check")),
            "--run-dir" => run_dir = PathBuf::from(it.next().ok_or("--run-dir needs a directory")?),
            "-h" | "--help" => return Err(USAGE.to_string()),
            w if w.starts_with('-') => return Err(format!("unknown option {w}\n{USAGE}")),
            w => words.push(w.to_string()),
        }
    }
    let commands = [
        "start",
        "stop",
        "restart",
        "reload",
        "force-reload",
        "try-restart",
        "status",
        "check",
    ];
    let (config, command, cfgname) = match words.as_slice() {
        [c] if commands.contains(&c.as_str()) => (
            "ldirectord.cf".to_string(),
            c.clone(),
            "ldirectord".to_string(),
        ),
        [f, c] if commands.contains(&c.as_str()) => (f.clone(), c.clone(), file_name(f)),
        [c, f] if c == "check" => (f.clone(), c.clone(), file_name(f)),
        _ => return Err(USAGE.to_string()),
    };
    let ha_dir = std::env::var_os("HA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/ha.d"));
    Ok(Args {
        config: ldirectord::locate(&config, &ha_dir),
        cfgname,
        command,
        foreground,
        snat,
        run_dir,
        debug,
        warm,
    })
}

/// The last component of a path as given.
fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned())
}

/// The configuration's file name without `.cf`: names the state file and the nft table.
fn base_name(config: &Path) -> String {
    let name = config
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "ldirectord.cf".into());
    name.strip_suffix(".cf").unwrap_or(&name).to_string()
}

/// `ldirectord.CFGNAME.pid`, the original's name for it (`ldirectord.ldirectord.cf.pid` for
/// `ldirectord ldirectord.cf start`), so that what watches the original's pid file finds ours.
fn pid_file(a: &Args) -> PathBuf {
    a.run_dir.join(format!("ldirectord.{}.pid", a.cfgname))
}

fn state_file(a: &Args) -> PathBuf {
    a.run_dir
        .join(format!("ldirectord.{}.state", base_name(&a.config)))
}

/// The running director's mode line: (active, started warm).
fn mode(a: &Args) -> Option<(bool, bool)> {
    let text = std::fs::read_to_string(state_file(a)).ok()?;
    let first = text.lines().next()?;
    Some((first.contains("mode=active"), first.contains("warm=yes")))
}

/// Signals the running director and waits (bounded) until its mode is `active`.
fn switch(pid: i32, a: &Args, signal: Signal, active: bool) -> i32 {
    let _ = kill(Pid::from_raw(pid), signal);
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if mode(a).is_some_and(|(m, _)| m == active) {
            return 0;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    eprintln!("hb_ldirectord: pid {pid} did not switch");
    1
}

/// The running director's pid, if any.
fn running(a: &Args) -> Option<i32> {
    let text = std::fs::read_to_string(pid_file(a)).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    (pid > 0 && kill(Pid::from_raw(pid), None).is_ok()).then_some(pid)
}

/// The program's entry point; returns the exit code (LSB: status 3 when stopped).
pub fn main(argv: &[String]) -> i32 {
    let a = match parse_args(argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let name = a.config.display().to_string();
    match a.command.as_str() {
        "check" => check(&a.config),
        "status" => match running(&a) {
            Some(pid) if mode(&a).is_some_and(|(active, _)| !active) => {
                println!(
                    "ldirectord for {name} is a warm standby (checking, no rules) with pid: {pid}"
                );
                3
            }
            Some(pid) => {
                println!("ldirectord for {name} is running with pid: {pid}");
                if let Ok(s) = std::fs::read_to_string(state_file(&a)) {
                    print!("{s}");
                }
                0
            }
            None => {
                println!("ldirectord is stopped for {name}");
                3
            }
        },
        "stop" => stop(&a),
        "reload" | "force-reload" => match running(&a) {
            Some(pid) => {
                let _ = kill(Pid::from_raw(pid), Signal::SIGHUP);
                0
            }
            None => {
                eprintln!("ldirectord is stopped for {name}");
                7
            }
        },
        "restart" | "try-restart" => {
            if a.command == "try-restart" && running(&a).is_none() {
                return 0;
            }
            let rc = stop(&a);
            if rc != 0 { rc } else { start(&a) }
        }
        _ => start(&a),
    }
}

fn stop(a: &Args) -> i32 {
    let Some(pid) = running(a) else {
        return 0;
    };
    // A warm standby's resource stop: rules go, the checks go on.
    if !a.warm
        && let Some((active, true)) = mode(a)
    {
        return if active {
            switch(pid, a, Signal::SIGUSR2, false)
        } else {
            0
        };
    }
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if kill(Pid::from_raw(pid), None).is_err() {
            let _ = std::fs::remove_file(pid_file(a));
            return 0;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = std::fs::remove_file(pid_file(a));
    0
}

fn start(a: &Args) -> i32 {
    if let Some(pid) = running(a) {
        // A warm standby becomes the director at once; else, as the original: start on a
        // running instance succeeds.
        if !a.warm && mode(a).is_some_and(|(active, _)| !active) {
            return switch(pid, a, Signal::SIGUSR1, true);
        }
        return 0;
    }
    // Refuse a broken file before forking, with every error on the terminal.
    let logfile = match crate::director::run::load(&a.config) {
        Ok(c) => c.globals.logfile,
        Err(e) => {
            eprintln!("{e}");
            return 6;
        }
    };
    // `logfile="/path"` is a file; anything else a syslog facility (ldirectord's rule).
    let (file, facility) = match logfile {
        Some(l) if l.starts_with('/') => (Some(PathBuf::from(l)), None),
        Some(f) => (None, Some(f)),
        None => (None, Some("daemon".to_string())),
    };
    let mut starter = if a.foreground {
        Starter::foreground()
    } else {
        match detach() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("hb_ldirectord: cannot detach: {e}");
                return 1;
            }
        }
    };
    logging::configure(LogSettings {
        node: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().to_string())
            .unwrap_or_default(),
        tag: "ldirectord".into(),
        logfile: file,
        debugfile: None,
        facility,
        stderr: a.foreground,
        debug: u8::from(a.debug),
    });
    let _ = std::fs::create_dir_all(&a.run_dir);
    if let Err(e) = std::fs::write(pid_file(a), format!("{}\n", std::process::id())) {
        starter.fail(1, &format!("cannot write {}: {e}", pid_file(a).display()));
        return 1;
    }
    let opts = RunOptions {
        config: a.config.clone(),
        table_name: format!("hbrs_ld_{}", sanitize(&base_name(&a.config))),
        snat: a.snat,
        state_file: Some(state_file(a)),
        warm: a.warm,
    };
    let rc = match run(&opts, &mut starter) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("{e}");
            starter.fail(1, &e);
            1
        }
    };
    let _ = std::fs::remove_file(pid_file(a));
    rc
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(40)
        .collect()
}

/// `check`: every error with its line, or a summary of what would run.
fn check(path: &Path) -> i32 {
    match ldirectord::load(path) {
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            1
        }
        Ok((config, warnings)) => {
            for w in warnings {
                eprintln!("{w}");
            }
            print!("{}", summary(&config));
            0
        }
    }
}

/// One line per virtual service: its servers, check and timers.
pub fn summary(config: &DirectorConfig) -> String {
    let mut out = format!("{}: OK\n", config.path.display());
    for v in &config.virtuals {
        let check = match v.checktype {
            CheckType::Negotiate => format!("negotiate {}", v.service.name()),
            CheckType::Combined(n) => format!("{n} connect then negotiate {}", v.service.name()),
            other => format!("{other:?}").to_lowercase(),
        };
        let addr = match v.addr {
            VirtualAddr::Sock(a) => format!("{} {a}", v.protocol.name()),
            VirtualAddr::Fwmark(m) => format!("fwmark {m}"),
        };
        out.push_str(&format!(
            "  {addr}: {} real server(s), check {check} every {}, timeout {}/{}, failurecount {}, {}{}\n",
            v.reals.len(),
            format_millis(v.checkinterval),
            format_millis(v.checktimeout),
            format_millis(v.negotiatetimeout),
            v.failurecount,
            if v.quiescent { "quiescent" } else { "removal" },
            match &v.fallback {
                Some(f) => format!(", fallback {}", f.addr),
                None => String::new(),
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid_name(argv: &[&str]) -> String {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let a = parse_args(&argv).expect("arguments");
        pid_file(&a)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The pid file is named as ldirectord names its own, so what watched the original finds it.
    #[test]
    fn the_pid_file_has_ldirectords_name() {
        assert_eq!(
            pid_name(&["ldirectord.cf", "start"]),
            "ldirectord.ldirectord.cf.pid"
        );
        assert_eq!(pid_name(&["status"]), "ldirectord.ldirectord.pid");
        assert_eq!(
            pid_name(&["/etc/ha.d/conf/web.cf", "stop"]),
            "ldirectord.web.cf.pid"
        );
        assert_eq!(pid_name(&["check", "web.cf"]), "ldirectord.web.cf.pid");
    }
}
