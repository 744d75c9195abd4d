//! Command line of the `heartbeat` binary: one place that knows the flags, then dispatch to
//! `--check` (config layer), the daemon, or the classic `-k` / `-s` / `-r` controls.

use std::path::PathBuf;

/// Options shared by every mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub ha_dir: PathBuf,
    pub state_dir: PathBuf,
    pub run_dir: PathBuf,
    pub node: Option<String>,
    /// Detach (for the init script); the default stays in the foreground for systemd.
    pub daemonize: bool,
    /// Extra debug level (`-d`, repeatable).
    pub debug: u8,
    /// `-l`: do not run with realtime priority, whatever ha.cf says.
    pub no_realtime: bool,
    pub mode: Mode,
}

/// What the invocation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run the daemon.
    Run,
    /// `--check`: validate the configuration and print a summary.
    Check,
    /// `-k`: stop the running daemon and wait for it.
    Kill,
    /// `-s`: report whether the daemon runs.
    Status,
    /// `-r`: validate, then ask the running daemon to reload.
    Reload,
    /// `-V`: print the version.
    Version,
    /// `-D`: print the default value of every directive.
    Defaults,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ha_dir: PathBuf::from("/etc/ha.d"),
            state_dir: PathBuf::from("/var/lib/heartbeat"),
            run_dir: PathBuf::from("/run/heartbeat"),
            node: None,
            daemonize: false,
            debug: 0,
            no_realtime: false,
            mode: Mode::Run,
        }
    }
}

pub const USAGE: &str = "usage: heartbeat [--check] [--ha-dir DIR] [--state-dir DIR] [--run-dir DIR] \
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
    match opts.mode {
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
        Mode::Check => match crate::config::check::run(&opts) {
            0 => crate::resource::check::run(&opts),
            code => code,
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
