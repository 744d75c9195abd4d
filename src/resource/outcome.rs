//! Reading a script's result (spec §6.2, §13 item 17).
//!
//! The original decides `status` from the text alone: `not running` → stopped, `running` or
//! `OK` → running, anything else (even no output) → stopped. Quiet or localised scripts are
//! misjudged that way, so exit codes come first here:
//!
//! * start/stop: exit 0 is success, anything else a failure (LSB and OCF agree).
//! * status of LSB init scripts, our own scripts and systemd units: 0 running; 1, 2, 3 (LSB
//!   "dead"/"not running") and 7 (OCF "not running") stopped; any other code is a failure.
//!   The text is consulted only when the code says 0 but the script printed an explicit
//!   negative (`not running`, `stopped`, `dead`, `inactive`): old scripts that always exit 0.
//! * status of scripts in `<ha_dir>/resource.d`: they were written for the original, which never
//!   looked at their exit code (some even invert it), so their text wins when it carries a
//!   verdict; the exit code decides only for quiet scripts.

use super::resolve::ScriptKind;
use crate::core::{ScriptOp, ScriptOutcome};

/// Exit code reported for a script killed by a signal (no exit code at all).
pub const KILLED_BY_SIGNAL: i32 = -1;

/// Maps one finished run to the core's vocabulary. `exit_code` is `None` when the script was
/// killed by a signal (timeouts are the daemon's to report as [`ScriptOutcome::TimedOut`]).
pub fn interpret(
    kind: ScriptKind,
    op: ScriptOp,
    exit_code: Option<i32>,
    stdout: &str,
) -> ScriptOutcome {
    let Some(code) = exit_code else {
        return ScriptOutcome::Failed(KILLED_BY_SIGNAL);
    };
    match op {
        ScriptOp::Start | ScriptOp::Stop => {
            if code == 0 {
                ScriptOutcome::Ok
            } else {
                ScriptOutcome::Failed(code)
            }
        }
        ScriptOp::Status => status(kind, code, stdout),
    }
}

fn status(kind: ScriptKind, code: i32, stdout: &str) -> ScriptOutcome {
    if kind == ScriptKind::Ocf {
        return ocf_monitor(code);
    }
    if kind == ScriptKind::HaResourceD {
        match text_verdict(stdout) {
            Some(true) => return ScriptOutcome::Ok,
            Some(false) => return ScriptOutcome::NotRunning,
            None => {}
        }
    }
    match code {
        0 if kind != ScriptKind::Systemd && text_verdict(stdout) == Some(false) => {
            ScriptOutcome::NotRunning
        }
        0 => ScriptOutcome::Ok,
        1..=3 | 7 => ScriptOutcome::NotRunning,
        other => ScriptOutcome::Failed(other),
    }
}

/// OCF `monitor` codes: 0 running, 7 stopped; 1 a generic (soft) error; 2 bad arguments,
/// 3 unimplemented, 4 insufficient privilege, 5 not installed: hard for this node; 6 not
/// configured: fatal everywhere.
fn ocf_monitor(code: i32) -> ScriptOutcome {
    match code {
        0 => ScriptOutcome::Ok,
        7 => ScriptOutcome::NotRunning,
        2..=5 => ScriptOutcome::Hard(code),
        6 => ScriptOutcome::Fatal(code),
        other => ScriptOutcome::Failed(other),
    }
}

/// What the text says: `Some(false)` for the original's not-running pattern
/// (`[Nn][Oo][Tt] ` then later `[Rr]unning`) or the LSB words `stopped`/`dead`/`inactive`;
/// `Some(true)` for `running`/`Running`/`OK`; `None` when it says nothing.
pub fn text_verdict(stdout: &str) -> Option<bool> {
    if says_not_running(stdout) {
        return Some(false);
    }
    if stdout.contains("running") || stdout.contains("Running") || stdout.contains("OK") {
        return Some(true);
    }
    let lower = stdout.to_ascii_lowercase();
    if ["stopped", "dead", "inactive"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return Some(false);
    }
    None
}

/// The original's glob `*[Nn][Oo][Tt] *[Rr]unning*`: "not", a blank, then "running" later on.
fn says_not_running(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find("not ") {
        let after = from + pos + 4;
        if text[after..].contains("running") || text[after..].contains("Running") {
            return true;
        }
        from = from + pos + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use ScriptKind::*;
    use ScriptOp::*;
    use ScriptOutcome::*;

    #[test]
    fn ocf_monitor_codes_by_gravity() {
        assert_eq!(interpret(Ocf, Status, Some(0), "stopped"), Ok);
        assert_eq!(interpret(Ocf, Status, Some(7), "running"), NotRunning);
        assert_eq!(interpret(Ocf, Status, Some(1), ""), Failed(1));
        for c in 2..=5 {
            assert_eq!(interpret(Ocf, Status, Some(c), ""), Hard(c));
        }
        assert_eq!(interpret(Ocf, Status, Some(6), ""), Fatal(6));
        assert_eq!(interpret(Ocf, Start, Some(6), ""), Failed(6));
    }

    #[test]
    fn start_and_stop_follow_the_exit_code() {
        for kind in [HaResourceD, Builtin, InitScript, Systemd] {
            assert_eq!(interpret(kind, Start, Some(0), "whatever"), Ok);
            assert_eq!(interpret(kind, Stop, Some(0), ""), Ok);
            assert_eq!(interpret(kind, Start, Some(1), "running"), Failed(1));
            assert_eq!(interpret(kind, Stop, Some(7), ""), Failed(7));
            assert_eq!(interpret(kind, Stop, None, ""), Failed(KILLED_BY_SIGNAL));
        }
    }

    #[test]
    fn lsb_status_codes_come_first() {
        for kind in [Builtin, InitScript] {
            assert_eq!(
                interpret(kind, Status, Some(0), ""),
                Ok,
                "quiet but running"
            );
            assert_eq!(interpret(kind, Status, Some(0), "apache2 is running."), Ok);
            assert_eq!(interpret(kind, Status, Some(3), ""), NotRunning);
            assert_eq!(interpret(kind, Status, Some(3), "läuft nicht"), NotRunning);
            assert_eq!(interpret(kind, Status, Some(7), "Running OK"), NotRunning);
            assert_eq!(interpret(kind, Status, Some(1), ""), NotRunning);
            assert_eq!(interpret(kind, Status, Some(4), ""), Failed(4));
            assert_eq!(interpret(kind, Status, Some(127), ""), Failed(127));
            assert_eq!(interpret(kind, Status, None, ""), Failed(KILLED_BY_SIGNAL));
        }
    }

    #[test]
    fn text_breaks_ties_only_for_scripts_that_always_exit_zero() {
        assert_eq!(
            interpret(InitScript, Status, Some(0), "foo is not running"),
            NotRunning
        );
        assert_eq!(
            interpret(Builtin, Status, Some(0), "192.0.2.10 stopped"),
            NotRunning
        );
        assert_eq!(
            interpret(InitScript, Status, Some(0), "foo dead"),
            NotRunning
        );
    }

    #[test]
    fn systemd_uses_is_active_codes_only() {
        assert_eq!(interpret(Systemd, Status, Some(0), "active\n"), Ok);
        assert_eq!(
            interpret(Systemd, Status, Some(3), "inactive\n"),
            NotRunning
        );
        assert_eq!(interpret(Systemd, Status, Some(3), "failed\n"), NotRunning);
        assert_eq!(interpret(Systemd, Status, Some(4), ""), Failed(4));
    }

    #[test]
    fn legacy_ha_resource_d_scripts_are_read_by_their_text() {
        // 3.0.6 OCF wrappers.
        assert_eq!(
            interpret(HaResourceD, Status, Some(0), "INFO:  Running OK\n"),
            Ok
        );
        assert_eq!(
            interpret(HaResourceD, Status, Some(7), "INFO:  Resource is stopped\n"),
            NotRunning
        );
        // LVSSyncDaemonSwap: inverted exit code, the text is right.
        assert_eq!(
            interpret(HaResourceD, Status, Some(3), "master running\n"),
            Ok
        );
        assert_eq!(
            interpret(HaResourceD, Status, Some(0), "master stopped\n"),
            NotRunning
        );
        // Quiet scripts: the exit code decides (the original would say "not running").
        assert_eq!(interpret(HaResourceD, Status, Some(0), ""), Ok);
        assert_eq!(interpret(HaResourceD, Status, Some(3), ""), NotRunning);
    }

    #[test]
    fn our_scripts_read_the_same_by_code_and_by_text() {
        // Exact status lines of resource.d/*: copied into <ha_dir>/resource.d they still work.
        let cases = [
            ("IPaddr 192.0.2.10 running on e0 \n", 0, Ok),
            ("IPaddr 192.0.2.10 stopped\n", 3, NotRunning),
            ("LVS /etc/ha.d/lvs.rules running (backend: nft)\n", 0, Ok),
            (
                "LVS /etc/ha.d/lvs.rules stopped (backend: nft; no table ip x)\n",
                3,
                NotRunning,
            ),
            ("httpd (pid 42) running\n", 0, Ok),
            ("httpd stopped\n", 3, NotRunning),
            (
                "httpd (pid 42) alive but not answering at http://192.0.2.10/: not running\n",
                1,
                NotRunning,
            ),
        ];
        for (text, code, want) in cases {
            assert_eq!(interpret(Builtin, Status, Some(code), text), want, "{text}");
            assert_eq!(
                interpret(HaResourceD, Status, Some(code), text),
                want,
                "{text}"
            );
        }
    }

    #[test]
    fn not_running_pattern_matches_the_original_glob() {
        assert!(says_not_running("foo is Not currently Running"));
        assert!(says_not_running("NOT running"));
        assert!(!says_not_running("nothing running")); // no blank right after "not"
        assert!(!says_not_running("running, not stopped"));
        assert_eq!(text_verdict("all OK"), Some(true));
        assert_eq!(text_verdict("hello"), None);
        assert_eq!(text_verdict(""), None);
    }
}
