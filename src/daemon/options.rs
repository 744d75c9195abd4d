//! What the daemon is asked to do and where its files are: parsed from the command line by
//! the `cli` layer, read by the daemon's start-up and controls.

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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// `--export pcs|crm|cib|corosync`: print a Pacemaker/Corosync configuration
    /// (crate::cli::export).
    Export(String),
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
