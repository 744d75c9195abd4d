//! The daemon's log, in the line shape Heartbeat 3.0.6 writes with `syslogmsgfmt true`:
//! `Nov 23 06:44:27 nodeb heartbeat: [PID]: info: message`.
//!
//! One process-wide `log::Log` whose sinks (logfile, debugfile, syslog, stderr) are swapped on
//! reload. Writes go straight to files opened with `O_APPEND` (a local regular-file write does
//! not wait on anything the loop cares about); the syslog sink is a non-blocking datagram to
//! `/dev/log` that fails softly (there is no syslog daemon on many test machines).
//! `CRIT` has no `log::Level`: it travels as `Level::Error` with the target [`CRIT_TARGET`].

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::core::Severity;

/// `log` target marking an error line as `CRIT`.
pub const CRIT_TARGET: &str = "crit";

/// Where lines go; rebuilt from the configuration at start and on reload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSettings {
    /// Node name printed in every line.
    pub node: String,
    /// Program tag (`heartbeat`).
    pub tag: String,
    pub logfile: Option<PathBuf>,
    pub debugfile: Option<PathBuf>,
    /// Syslog facility name (`daemon`, `local0`...); `None` = no syslog.
    pub facility: Option<String>,
    /// Copy every line to stderr (foreground runs).
    pub stderr: bool,
    /// Debug level: debug lines are emitted only when > 0.
    pub debug: u8,
}

struct Sinks {
    settings: LogSettings,
    logfile: Option<File>,
    debugfile: Option<File>,
    syslog: Option<UnixDatagram>,
    syslog_facility: u8,
    /// stderr is a socket (journald under systemd): written with MSG_DONTWAIT so a stalled
    /// journal drops lines instead of stalling heartbeats.
    stderr_is_socket: bool,
    pid: u32,
}

/// The process-wide logger.
pub struct Logger {
    sinks: Mutex<Sinks>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Installs the logger (first call) or replaces its sinks (later calls, e.g. on reload).
pub fn configure(settings: LogSettings) {
    let explicit = settings
        .facility
        .as_deref()
        .is_some_and(|f| !f.eq_ignore_ascii_case("none"));
    let sinks = open_sinks(settings);
    let logger = LOGGER.get_or_init(|| Logger {
        sinks: Mutex::new(Sinks {
            settings: LogSettings::default(),
            logfile: None,
            debugfile: None,
            syslog: None,
            syslog_facility: 3,
            stderr_is_socket: false,
            pid: std::process::id(),
        }),
    });
    let syslog_missing = explicit && sinks.syslog.is_none();
    if let Ok(mut guard) = logger.sinks.lock() {
        *guard = sinks;
    }
    // Fails only when another logger was installed first (tests): harmless.
    let _ = log::set_logger(logger);
    log::set_max_level(log::LevelFilter::Trace);
    if syslog_missing {
        log::warn!("logfacility set but /dev/log is not available: logging to files only");
    }
}

/// Current debug level.
pub fn debug_level() -> u8 {
    LOGGER
        .get()
        .and_then(|l| l.sinks.lock().ok().map(|s| s.settings.debug))
        .unwrap_or(0)
}

/// Changes the debug level (SIGUSR1 / SIGUSR2); returns the new level.
pub fn set_debug_level(level: u8) -> u8 {
    if let Some(l) = LOGGER.get()
        && let Ok(mut s) = l.sinks.lock()
    {
        s.settings.debug = level;
    }
    level
}

/// Re-reads the pid after a fork (`--daemon`).
pub fn refresh_pid() {
    if let Some(l) = LOGGER.get()
        && let Ok(mut s) = l.sinks.lock()
    {
        s.pid = std::process::id();
    }
}

/// Logs a core severity with the original's words.
pub fn emit(severity: Severity, text: &str) {
    match severity {
        Severity::Crit => log::error!(target: CRIT_TARGET, "{text}"),
        Severity::Error => log::error!("{text}"),
        Severity::Warn => log::warn!("{text}"),
        Severity::Info => log::info!("{text}"),
        Severity::Debug => log::debug!("{text}"),
    }
}

/// Where lines go when ha.cf names no log at all: the original then logs through ha_logd to
/// syslog (facility daemon); without a syslog socket, to this file, so that a daemon started
/// by the init script (stderr closed) is never silent.
pub const FALLBACK_LOGFILE: &str = "/var/log/ha-log";

/// The sinks as the settings ask, with the original's rules: `logfacility none` is no syslog;
/// no directive at all means syslog `daemon` (or [`FALLBACK_LOGFILE`] without `/dev/log` and
/// without stderr); under systemd, lines that reach the journal through syslog are not also
/// copied to stderr (which is the journal too).
fn open_sinks(settings: LogSettings) -> Sinks {
    let wanted = wanted_facility(&settings);
    let syslog = wanted.as_ref().and_then(|_| connect_syslog());
    let settings = effective(settings, syslog.is_some(), stderr_is_journal());
    let open = |p: &Option<PathBuf>| p.as_deref().and_then(open_append);
    let syslog_facility = settings.facility.as_deref().map(facility_code).unwrap_or(3);
    Sinks {
        logfile: open(&settings.logfile),
        debugfile: open(&settings.debugfile),
        syslog,
        syslog_facility,
        stderr_is_socket: stderr_is_socket(),
        pid: std::process::id(),
        settings,
    }
}

/// The syslog facility the settings ask for: `none` is none; no log directive at all is
/// `daemon`.
fn wanted_facility(s: &LogSettings) -> Option<String> {
    match s.facility.as_deref() {
        Some(f) if f.eq_ignore_ascii_case("none") => None,
        Some(f) => Some(f.to_string()),
        None if s.logfile.is_none() && s.debugfile.is_none() => Some("daemon".to_string()),
        None => None,
    }
}

/// The settings in force, given whether syslog could be reached and whether stderr is the
/// journal (pure, for the tests).
fn effective(mut s: LogSettings, syslog_up: bool, stderr_journal: bool) -> LogSettings {
    s.facility = wanted_facility(&s);
    if !syslog_up
        && s.facility.is_some()
        && s.logfile.is_none()
        && s.debugfile.is_none()
        && !s.stderr
    {
        s.logfile = Some(PathBuf::from(FALLBACK_LOGFILE));
    }
    if !syslog_up {
        s.facility = None;
    }
    if syslog_up && s.stderr && stderr_journal {
        s.stderr = false;
    }
    s
}

/// Whether stderr is the systemd journal (`JOURNAL_STREAM` names its device and inode).
fn stderr_is_journal() -> bool {
    let Ok(v) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    nix::sys::stat::fstat(std::io::stderr())
        .map(|st| st.st_dev == dev && st.st_ino == ino)
        .unwrap_or(false)
}

fn stderr_is_socket() -> bool {
    nix::sys::stat::fstat(std::io::stderr())
        .map(|st| st.st_mode & nix::libc::S_IFMT == nix::libc::S_IFSOCK)
        .unwrap_or(false)
}

fn write_stderr(text: &str, is_socket: bool) {
    if is_socket {
        let _ = nix::sys::socket::send(
            nix::libc::STDERR_FILENO,
            text.as_bytes(),
            nix::sys::socket::MsgFlags::MSG_DONTWAIT | nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
        );
    } else {
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

fn open_append(path: &Path) -> Option<File> {
    match OpenOptions::new().create(true).append(true).open(path) {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!("heartbeat: cannot open log file {}: {e}", path.display());
            None
        }
    }
}

fn connect_syslog() -> Option<UnixDatagram> {
    let sock = UnixDatagram::unbound().ok()?;
    sock.connect("/dev/log").ok()?;
    sock.set_nonblocking(true).ok()?;
    Some(sock)
}

/// Syslog facility number from its name (`daemon` when unknown, as syslog does).
pub fn facility_code(name: &str) -> u8 {
    match name.to_ascii_lowercase().as_str() {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "auth" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "uucp" => 8,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => 3,
    }
}

/// The original's priority word for a record.
pub fn level_word(level: log::Level, target: &str) -> &'static str {
    match level {
        log::Level::Error if target == CRIT_TARGET => "CRIT",
        log::Level::Error => "ERROR",
        log::Level::Warn => "WARN",
        log::Level::Info => "info",
        log::Level::Debug | log::Level::Trace => "debug",
    }
}

fn syslog_severity(word: &str) -> u8 {
    match word {
        "CRIT" => 2,
        "ERROR" => 3,
        "WARN" => 4,
        "info" => 6,
        _ => 7,
    }
}

/// `Nov 23 06:44:27` in local time.
pub fn timestamp(unix_secs: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t: nix::libc::time_t = unix_secs as nix::libc::time_t;
    // SAFETY: localtime_r writes into the zeroed struct we own; both pointers are valid.
    let mut tm: nix::libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !nix::libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return "Jan  1 00:00:00".to_string();
    }
    let month = MONTHS.get(tm.tm_mon as usize).copied().unwrap_or("Jan");
    format!(
        "{month} {:2} {:02}:{:02}:{:02}",
        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
    )
}

/// One log line without the trailing newline.
pub fn format_line(stamp: &str, node: &str, tag: &str, pid: u32, word: &str, msg: &str) -> String {
    format!("{stamp} {node} {tag}: [{pid}]: {word}: {msg}")
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl log::Log for Logger {
    fn enabled(&self, _metadata: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let Ok(mut s) = self.sinks.lock() else {
            return;
        };
        let is_debug = record.level() >= log::Level::Debug;
        if is_debug && s.settings.debug == 0 {
            return;
        }
        let word = level_word(record.level(), record.target());
        let msg = record.args().to_string();
        let line = format_line(
            &timestamp(now_secs()),
            &s.settings.node,
            &s.settings.tag,
            s.pid,
            word,
            &msg,
        );
        let mut text = line.clone();
        text.push('\n');
        if !is_debug && let Some(f) = s.logfile.as_mut() {
            let _ = f.write_all(text.as_bytes());
        }
        if let Some(f) = s.debugfile.as_mut() {
            let _ = f.write_all(text.as_bytes());
        }
        if s.settings.stderr {
            write_stderr(&text, s.stderr_is_socket);
        }
        let pri = s.syslog_facility * 8 + syslog_severity(word);
        if let Some(sock) = s.syslog.as_ref() {
            let tag = &s.settings.tag;
            let pid = s.pid;
            let _ = sock.send(format!("<{pri}>{tag}[{pid}]: {word}: {msg}").as_bytes());
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_has_the_original_shape() {
        let l = format_line(
            "Nov 23 06:44:27",
            "nodeb",
            "heartbeat",
            42,
            "WARN",
            "node nodea: is dead",
        );
        assert_eq!(
            l,
            "Nov 23 06:44:27 nodeb heartbeat: [42]: WARN: node nodea: is dead"
        );
    }

    #[test]
    fn level_words_match_the_original() {
        assert_eq!(level_word(log::Level::Error, CRIT_TARGET), "CRIT");
        assert_eq!(level_word(log::Level::Error, "x"), "ERROR");
        assert_eq!(level_word(log::Level::Warn, "x"), "WARN");
        assert_eq!(level_word(log::Level::Info, "x"), "info");
        assert_eq!(level_word(log::Level::Debug, "x"), "debug");
    }

    #[test]
    fn timestamp_is_syslog_shaped() {
        let t = timestamp(1_795_411_724);
        // `Mmm dd hh:mm:ss`, day padded with a space.
        assert_eq!(t.len(), 15, "{t}");
        assert_eq!(&t[3..4], " ");
        assert_eq!(&t[9..10], ":");
    }

    #[test]
    fn facility_names() {
        assert_eq!(facility_code("local7"), 23);
        assert_eq!(facility_code("daemon"), 3);
        assert_eq!(facility_code("bogus"), 3);
    }
}

#[cfg(test)]
mod sink_rules {
    use super::*;

    fn settings(facility: Option<&str>, logfile: bool, stderr: bool) -> LogSettings {
        LogSettings {
            facility: facility.map(String::from),
            logfile: logfile.then(|| PathBuf::from("/tmp/x-log")),
            stderr,
            ..LogSettings::default()
        }
    }

    #[test]
    fn logfacility_none_means_no_syslog() {
        let s = effective(settings(Some("none"), true, false), true, false);
        assert_eq!(s.facility, None);
    }

    #[test]
    fn no_directive_logs_to_syslog_or_the_fallback_file() {
        let s = effective(settings(None, false, false), true, false);
        assert_eq!(s.facility.as_deref(), Some("daemon"));
        // Started by the init script (no stderr) on a machine without /dev/log: a file.
        let s = effective(settings(None, false, false), false, false);
        assert_eq!(s.logfile.as_deref(), Some(Path::new(FALLBACK_LOGFILE)));
        // A logfile alone means no syslog, as in the original.
        let s = effective(settings(None, true, false), true, false);
        assert_eq!(s.facility, None);
    }

    #[test]
    fn the_journal_gets_each_line_once() {
        let s = effective(settings(Some("daemon"), false, true), true, true);
        assert!(!s.stderr, "syslog already reaches the journal");
        let s = effective(settings(Some("daemon"), false, true), true, false);
        assert!(s.stderr, "a terminal keeps its copy");
    }
}
