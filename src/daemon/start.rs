//! Start-up of the daemon, in the order that keeps failures visible: validate the configuration,
//! detach (the launcher waits for our verdict), take the pid lock, open the logs, persist the
//! identity, go realtime, open sockets, then run the loop.

use std::time::{SystemTime, UNIX_EPOCH};

use super::detach::{self, Starter};
use super::guard::Guard;
use super::options::Options;
use super::shell::{Shell, ShellSetup, log_settings};
use super::{logging, pidfile, realtime, state};
use crate::core::Identity;
use crate::resource::Resolver;

/// LSB exit code for "program is not configured".
const EXIT_NOT_CONFIGURED: i32 = 6;

/// Makes a path absolute against the current directory (the daemon and its scripts run in `/`).
fn absolute(p: &std::path::Path) -> std::path::PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

pub fn run(opts: &Options) -> i32 {
    let mut opts = opts.clone();
    opts.ha_dir = absolute(&opts.ha_dir);
    opts.state_dir = absolute(&opts.state_dir);
    opts.run_dir = absolute(&opts.run_dir);
    let opts = &opts;
    let loaded = match crate::config::load(&opts.ha_dir, opts.node.as_deref()) {
        Ok(l) => l,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!(
                "heartbeat: configuration in {} is invalid ({} error(s)); not starting.",
                opts.ha_dir.display(),
                errors.len()
            );
            return EXIT_NOT_CONFIGURED;
        }
    };
    let config = loaded.config;
    let resolver = Resolver::new(
        &opts.ha_dir,
        Some(crate::resource::resolve::DEFAULT_BUILTIN_DIR.into()),
    );
    let missing = resolver.check_all(&config);
    if !missing.is_empty() {
        for e in &missing {
            eprintln!("{e}");
        }
        eprintln!("heartbeat: resource scripts missing; not starting.");
        return EXIT_NOT_CONFIGURED;
    }
    // Refuse early (before detaching) when another daemon holds the run dir.
    if let pidfile::RunState::Running(pid) = pidfile::probe(&opts.run_dir) {
        println!("heartbeat: already running [pid {pid}].");
        return 0;
    }

    let mut starter = if opts.daemonize {
        match detach::detach() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("heartbeat: cannot detach: {e}");
                return 1;
            }
        }
    } else {
        Starter::foreground()
    };

    let stderr = !starter.is_detached();
    logging::configure(log_settings(&config, stderr, opts.debug));
    logging::refresh_pid();
    let guard = if config.ha.crash_guard {
        match Guard::spawn(&mut starter, &config, &resolver, stderr) {
            Ok(g) => Some(g),
            Err(e) => {
                log::warn!("crash guard not started: {e}");
                None
            }
        }
    } else {
        None
    };
    let _pid_lock = match pidfile::acquire(&opts.run_dir) {
        Ok(l) => l,
        Err(pidfile::PidError::AlreadyRunning(pid)) => {
            let msg = match pid {
                Some(p) => format!("already running [pid {p}]."),
                None => "already running.".to_string(),
            };
            // Not an error for the init script: the service is up.
            if starter.is_detached() {
                starter.fail(0, &msg);
            } else {
                println!("heartbeat: {msg}");
            }
            return 0;
        }
        Err(e) => {
            starter.fail(1, &e.to_string());
            return 1;
        }
    };

    let version = env!("CARGO_PKG_VERSION");
    log::info!("Configuration validated. Starting heartbeat {version} (heartbeat-rs)");
    log::info!("heartbeat: version {version}");
    for w in &loaded.warnings {
        log::warn!("{w}");
    }

    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let generation = match state::bump_generation(&opts.state_dir, now_unix) {
        Ok(g) => g,
        Err(e) => {
            log::error!("{e}");
            starter.fail(1, &format!("cannot store the generation: {e}"));
            return 1;
        }
    };
    if let Some(w) = &generation.warning {
        log::warn!("{w}");
    }
    let uuid = match state::load_or_create_uuid(&opts.state_dir) {
        Ok((u, created)) => {
            if created {
                log::info!("No uuid found for current node - generating a new uuid.");
            }
            u
        }
        Err(e) => {
            log::error!("{e}");
            starter.fail(1, &format!("cannot store the uuid: {e}"));
            return 1;
        }
    };

    if config.ha.realtime && !opts.no_realtime {
        for w in realtime::enable() {
            log::warn!("{w}");
        }
    }

    let setup = ShellSetup {
        ha_dir: opts.ha_dir.clone(),
        run_dir: opts.run_dir.clone(),
        state_dir: opts.state_dir.clone(),
        node: opts.node.clone(),
        resolver,
        identity: Identity {
            uuid,
            generation: generation.generation,
        },
        uuid_text: state::uuid_text(&uuid),
        log_to_stderr: stderr,
        extra_debug: opts.debug,
        guard,
    };
    let mut shell = match Shell::new(config, setup) {
        Ok(s) => s,
        Err(e) => {
            log::error!("start-up failed: {e}");
            starter.fail(1, &format!("start-up failed: {e}"));
            return 1;
        }
    };
    starter.ready();
    shell.run()
}
