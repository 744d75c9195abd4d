//! `heartbeat --check`, third part: every OCF agent of haresources runs its `validate-all`
//! with the parameters the daemon will give it, so a wrong device or a missing binary shows
//! before a failover, not during one.

use std::path::Path;

use crate::config::Config;
use crate::daemon::guard::run::RunOutcome;
use crate::resource::resolve::{DEFAULT_BUILTIN_DIR, Resolver, Runner};

/// Prints each failed validation; returns the exit code (0 none failed).
pub fn run(ha_dir: &Path, node: Option<&str>) -> i32 {
    let Ok(loaded) = crate::config::load(ha_dir, node) else {
        return 1;
    };
    let resolver = Resolver::new(ha_dir, Some(DEFAULT_BUILTIN_DIR.into()));
    let errors = validate_ocf(&loaded.config, &resolver);
    for e in &errors {
        eprintln!("{e}");
    }
    if errors.is_empty() {
        0
    } else {
        eprintln!(
            "heartbeat --check: {} OCF resource(s) fail validate-all",
            errors.len()
        );
        1
    }
}

/// How long an agent's `validate-all` may take at `--check`.
const VALIDATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `validate-all` of every OCF agent that has it (exit 3, unimplemented, is fine); each
/// failure names haresources and the line.
pub fn validate_ocf(config: &Config, resolver: &Resolver) -> Vec<String> {
    let file = config.ha_dir.join("haresources");
    let mut errors = Vec::new();
    for g in &config.groups {
        for r in &g.resources {
            let Ok(Runner::Script(inv)) = resolver.runner(r, config.ha.vip.native) else {
                continue;
            };
            if inv.kind != crate::resource::ScriptKind::Ocf {
                continue;
            }
            let mut env = crate::resource::script_env(config);
            env.extend(inv.env.iter().cloned());
            // Through sh, so that the agent's reason (ocf-exit-reason, on stderr) is kept.
            let (outcome, output) = crate::daemon::guard::run::run_bounded(
                Path::new("/bin/sh"),
                &[
                    "-c".to_string(),
                    "exec \"$0\" validate-all 2>&1".to_string(),
                    inv.program.display().to_string(),
                ],
                &env,
                VALIDATE_TIMEOUT,
                true,
            );
            let code = match outcome {
                RunOutcome::Exited(Some(0 | 3)) => continue,
                RunOutcome::Exited(Some(c)) => c,
                _ => -1,
            };
            {
                let said = output
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim()
                    .to_string();
                errors.push(format!(
                    "{}:{}: resource {}: {} validate-all failed ({}){}",
                    file.display(),
                    g.line,
                    r.text,
                    inv.program.display(),
                    ocf_code(code),
                    if said.is_empty() {
                        String::new()
                    } else {
                        format!(": {said}")
                    }
                ));
            }
        }
    }
    errors
}

fn ocf_code(code: i32) -> String {
    let what = match code {
        1 => "generic error",
        2 => "invalid arguments",
        4 => "insufficient privileges",
        5 => "not installed",
        6 => "not configured",
        -1 => "timed out or killed",
        _ => "error",
    };
    format!("exit {code}: {what}")
}
