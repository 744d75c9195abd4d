//! Command line of the `heartbeat` binary: one place that knows the flags, then dispatch to
//! `--check` (config layer), the daemon, or the classic `-k` / `-s` / `-r` controls.

use std::path::PathBuf;

pub mod admin;
pub mod client;
pub mod clstatus;
pub mod export;
pub mod ldirectord;
pub mod ocfcheck;
pub mod tools;

pub use crate::daemon::options::{Mode, Options};

pub const USAGE: &str = "usage: heartbeat [--check] [--export pcs|crm|cib|corosync] [--ha-dir DIR] [--state-dir DIR] [--run-dir DIR] \
[--node NAME] [--daemon] [-f] [-d] [-v] [-l] [-k|-s|-r|-V|-D]";

/// Parses the arguments (without the program name).
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match a.as_str() {
            "--check" | "-c" => o.mode = Mode::Check,
            "--export" => {
                let f = value(a)?;
                if export::Format::parse(&f).is_none() {
                    return Err(format!(
                        "--export takes pcs, crm, cib or corosync (got '{f}')"
                    ));
                }
                o.mode = Mode::Export(f);
            }
            "--ha-dir" => o.ha_dir = PathBuf::from(value(a)?),
            "--state-dir" => o.state_dir = PathBuf::from(value(a)?),
            "--run-dir" => o.run_dir = PathBuf::from(value(a)?),
            "--node" => o.node = Some(value(a)?.to_lowercase()),
            "--daemon" => o.daemonize = true,
            "-f" | "--foreground" => o.daemonize = false,
            // The original's -v (verbose) is one more debug level here.
            "-d" | "-v" => o.debug = o.debug.saturating_add(1),
            "-l" => o.no_realtime = true,
            "-D" => o.mode = Mode::Defaults,
            "-M" => {
                return Err(
                    "-M (run without resource management) is not supported: heartbeat-rs \
                     always manages the haresources groups; to run without resources, leave \
                     haresources without a line for this node"
                        .to_string(),
                );
            }
            "-R" | "-C" => {
                return Err(format!(
                    "{a} belongs to the original's internal restart (heartbeat re-executing \
                     itself with its resource state); heartbeat-rs restarts with -k and a new \
                     start, or `service heartbeat restart`"
                ));
            }
            "-W" => {
                return Err(
                    "-W is not supported: heartbeat-rs has its own freeze watchdog (the crash \
                     guard, crash_guard on in ha.cf); drop the flag"
                        .to_string(),
                );
            }
            "-k" => o.mode = Mode::Kill,
            "-s" => o.mode = Mode::Status,
            "-r" => o.mode = Mode::Reload,
            "-V" | "--version" => o.mode = Mode::Version,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    Ok(o)
}

/// Entry point of the `heartbeat` binary; returns the exit code.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("heartbeat: {e}");
            return 2;
        }
    };
    match &opts.mode {
        Mode::Version => {
            println!("heartbeat-rs {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Mode::Defaults => {
            for (name, value) in crate::config::hacf::default_directives() {
                println!("{name} {value}");
            }
            0
        }
        Mode::Check => match crate::config::check::run(&opts.ha_dir, opts.node.as_deref()) {
            0 => {
                let resolved = crate::resource::check::run(&opts.ha_dir, opts.node.as_deref());
                let validated = ocfcheck::run(&opts.ha_dir, opts.node.as_deref());
                resolved.max(validated)
            }
            code => code,
        },
        Mode::Export(f) => match export::Format::parse(f) {
            Some(format) => export::run(format, &opts.ha_dir, opts.node.as_deref()),
            None => 2,
        },
        Mode::Run | Mode::Kill | Mode::Status | Mode::Reload => crate::daemon::run(&opts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_check_with_dirs() {
        let o = parse(&s(&["--check", "--ha-dir", "/x", "--node", "NodeA"])).unwrap();
        assert_eq!(o.mode, Mode::Check);
        assert_eq!(o.ha_dir, PathBuf::from("/x"));
        assert_eq!(o.node.as_deref(), Some("nodea"));
    }

    #[test]
    fn rejects_unknown_and_missing_values() {
        assert!(parse(&s(&["--bogus"])).is_err());
        assert!(parse(&s(&["--ha-dir"])).is_err());
    }
}
