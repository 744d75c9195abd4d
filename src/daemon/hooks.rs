//! External programs told about events: `notify PATH` scripts (keepalived's notify: called on
//! every state change as `PATH TYPE NAME STATE REASON`) and the v1 `rc.d/<type>` hooks (spec
//! §6.5) for messages the core has no handler for and for link changes (`ifstat`).
//!
//! The shipped v1 hooks (`status`, `ip-request`, `ip-request-resp`, `hb_takeover`,
//! `ask_resources`) are never run: they drive the old ResourceManager, whose work the daemon
//! does itself; running them too would start resources twice.
//!
//! Runs are queued and started one at a time, so a script sees events in the order they
//! happened; the queue is bounded and what overflows is counted and logged.

use std::collections::VecDeque;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::scripts::ScriptSpec;
use crate::config::Millis;
use crate::core::ActionId;

/// Runs waiting beyond this are dropped (a hook that hangs for every event).
pub const MAX_QUEUED: usize = 256;
/// A notify or rc.d hook is killed after this long.
pub const HOOK_TIMEOUT_MS: Millis = 30_000;

/// The serial queue of hook runs.
#[derive(Default)]
pub struct HookQueue {
    queue: VecDeque<ScriptSpec>,
    running: Option<ActionId>,
    /// Runs dropped because the queue was full.
    pub dropped: u64,
    /// Runs started.
    pub started: u64,
}

impl HookQueue {
    pub fn push(&mut self, spec: ScriptSpec) {
        if self.queue.len() >= MAX_QUEUED {
            self.dropped += 1;
            log::warn!(
                "hook queue full ({MAX_QUEUED}): {} not run",
                spec.command_line()
            );
            return;
        }
        self.queue.push_back(spec);
    }

    /// The next run to start, if none is running; the caller starts it under `id`.
    pub fn next(&mut self, id: ActionId) -> Option<ScriptSpec> {
        if self.running.is_some() {
            return None;
        }
        let spec = self.queue.pop_front()?;
        self.running = Some(id);
        self.started += 1;
        Some(spec)
    }

    /// Something is running or queued.
    pub fn busy(&self) -> bool {
        self.running.is_some() || !self.queue.is_empty()
    }

    /// A run ended (or could not start); `true` if it was ours.
    pub fn done(&mut self, id: ActionId) -> bool {
        if self.running == Some(id) {
            self.running = None;
            return true;
        }
        false
    }
}

/// `notify` runs for one change: `PATH TYPE NAME STATE REASON`, with the same words in
/// `HA_NOTIFY_TYPE`, `HA_NOTIFY_NAME`, `HA_NOTIFY_STATE`, `HA_NOTIFY_REASON`.
pub fn notify_specs(
    programs: &[PathBuf],
    words: &[String; 3],
    reason: &str,
    base_env: &[(String, String)],
) -> Vec<ScriptSpec> {
    let [kind, name, state] = words;
    let mut env = base_env.to_vec();
    for (k, v) in [
        ("HA_NOTIFY_TYPE", kind),
        ("HA_NOTIFY_NAME", name),
        ("HA_NOTIFY_STATE", state),
        ("HA_NOTIFY_REASON", &reason.to_string()),
    ] {
        env.push((k.to_string(), v.clone()));
    }
    programs
        .iter()
        .map(|p| ScriptSpec {
            program: p.clone(),
            args: vec![
                kind.clone(),
                name.clone(),
                state.clone(),
                reason.to_string(),
            ],
            env: env.clone(),
            timeout: HOOK_TIMEOUT_MS,
            stdin: None,
        })
        .collect()
}

/// The `rc.d/<type>` run for a message, if that hook exists and is executable: called with the
/// type as its argument and every field as `HA_<name>` (spec §6.5).
pub fn rcd_spec(
    ha_dir: &Path,
    msg_type: &str,
    fields: &[(String, String)],
    base_env: &[(String, String)],
) -> Option<ScriptSpec> {
    let t = msg_type.to_ascii_lowercase();
    if !crate::core::messages::is_hook_type(&t) {
        return None;
    }
    let program = ha_dir.join("rc.d").join(&t);
    let meta = std::fs::metadata(&program).ok()?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return None;
    }
    let mut env = base_env.to_vec();
    for (k, v) in fields {
        if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            env.push((format!("HA_{k}"), v.replace('\0', "")));
        }
    }
    Some(ScriptSpec {
        program,
        args: vec![t],
        env,
        timeout: HOOK_TIMEOUT_MS,
        stdin: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_at_a_time_in_order_and_bounded() {
        let spec = |n: &str| ScriptSpec {
            program: PathBuf::from(n),
            args: vec![],
            env: vec![],
            timeout: 1,
            stdin: None,
        };
        let mut q = HookQueue::default();
        q.push(spec("/a"));
        q.push(spec("/b"));
        assert_eq!(q.next(ActionId(1)).unwrap().program, PathBuf::from("/a"));
        assert!(q.next(ActionId(2)).is_none(), "one at a time");
        assert!(!q.done(ActionId(9)));
        assert!(q.done(ActionId(1)));
        assert_eq!(q.next(ActionId(2)).unwrap().program, PathBuf::from("/b"));
        for _ in 0..MAX_QUEUED + 5 {
            q.push(spec("/c"));
        }
        assert_eq!(q.dropped, 5);
    }

    #[test]
    fn notify_arguments_and_environment() {
        let words = ["node".to_string(), "b".into(), "dead".into()];
        let s = notify_specs(&[PathBuf::from("/n")], &words, "node b: is dead", &[]);
        assert_eq!(s[0].args, vec!["node", "b", "dead", "node b: is dead"]);
        assert!(
            s[0].env
                .contains(&("HA_NOTIFY_STATE".to_string(), "dead".to_string()))
        );
    }

    #[test]
    fn rcd_hook_only_when_executable_and_never_outside_rc_d() {
        let dir = std::env::temp_dir().join(format!("hbhooks-{}", std::process::id()));
        let rcd = dir.join("rc.d");
        std::fs::create_dir_all(&rcd).unwrap();
        std::fs::write(rcd.join("myevent"), "#!/bin/sh\n").unwrap();
        std::fs::write(rcd.join("plain"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(rcd.join("myevent"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let fields = vec![
            ("t".to_string(), "MyEvent".to_string()),
            ("bad-name".into(), "x".into()),
        ];
        let s = rcd_spec(&dir, "MyEvent", &fields, &[]).unwrap();
        assert_eq!(s.args, vec!["myevent"]);
        assert!(s.env.contains(&("HA_t".to_string(), "MyEvent".to_string())));
        assert!(!s.env.iter().any(|(k, _)| k.contains('-')));
        assert!(
            rcd_spec(&dir, "plain", &[], &[]).is_none(),
            "not executable"
        );
        assert!(rcd_spec(&dir, "../rc.d/myevent", &[], &[]).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
