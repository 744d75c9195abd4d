//! `heartbeat --check`, second half: every resource of `haresources` resolved to what will run
//! it (an in-process address, or which script), exactly as the daemon will at start-up, so
//! that a check that passes means a daemon that starts. A script in the ha.d resource
//! directory that shadows an in-process address resource is named.

use std::fmt::Write as _;

use super::resolve::{DEFAULT_BUILTIN_DIR, Resolver, Runner};
use std::path::Path;

use crate::config::Config;
use crate::config::ldirectord;

/// Prints what runs each resource; returns the exit code (0 all resolved, 1 otherwise).
pub fn run(ha_dir: &Path, node: Option<&str>) -> i32 {
    let Ok(loaded) = crate::config::load(ha_dir, node) else {
        // The first half already reported the errors.
        return 1;
    };
    let resolver = Resolver::new(ha_dir, Some(DEFAULT_BUILTIN_DIR.into()));
    let (text, errors) = report(&loaded.config, &resolver);
    print!("{text}");
    for e in &errors {
        eprintln!("{e}");
    }
    if errors.is_empty() {
        0
    } else {
        eprintln!("heartbeat --check: {} resource(s) cannot run", errors.len());
        1
    }
}

/// One line per resource (what runs it) and the errors, for [`run`] and the tests.
pub fn report(config: &Config, resolver: &Resolver) -> (String, Vec<String>) {
    let native = config.ha.vip.native;
    let mut text = String::new();
    for g in &config.groups {
        for r in &g.resources {
            // Unresolvable ones are in the errors below, with file and line.
            let Ok(runner) = resolver.runner(r, native) else {
                continue;
            };
            let shadows = native
                && matches!(runner, Runner::Script(_))
                && crate::resource::address::VipSpec::of_resource(&r.name, &r.args).is_some();
            let note = if shadows {
                " — this script replaces the in-process address handling; remove it to get that back"
            } else {
                ""
            };
            let _ = writeln!(text, "resource {}: {}{note}", r.text, runner.describe());
        }
    }
    let mut errors: Vec<String> = resolver
        .check_all(config)
        .iter()
        .map(|e| e.to_string())
        .collect();
    check_directors(config, resolver, &mut text, &mut errors);
    (text, errors)
}

/// Every `ldirectord::FILE` resource: its ldirectord.cf read as the director will read it —
/// unless another ldirectord runs it (the Perl one's resource script, which Debian's ldirectord
/// package puts in /etc/ha.d/resource.d, wins over ours): that one reads the file, with a
/// grammar of its own, and is named instead.
fn check_directors(
    config: &Config,
    resolver: &Resolver,
    text: &mut String,
    errors: &mut Vec<String>,
) {
    let mut seen = Vec::new();
    for r in config.groups.iter().flat_map(|g| &g.resources) {
        if r.name != "ldirectord" {
            continue;
        }
        let name = r.args.first().map_or("ldirectord.cf", String::as_str);
        let path = ldirectord::locate(name, &config.ha_dir);
        if seen.contains(&path) {
            continue;
        }
        seen.push(path.clone());
        if let Ok(Runner::Script(inv)) = resolver.runner(r, false)
            && !runs_hb_ldirectord(&inv.program)
        {
            let _ = writeln!(
                text,
                "ldirectord {}: read by {}, not by hb_ldirectord: not checked here (remove that \
                 script, or the package that installed it, to run hb_ldirectord)",
                path.display(),
                inv.program.display()
            );
            continue;
        }
        match ldirectord::load(&path) {
            Ok((dc, warnings)) => {
                let reals: usize = dc.virtuals.iter().map(|v| v.reals.len()).sum();
                let _ = writeln!(
                    text,
                    "ldirectord {}: {} virtual service(s), {reals} real server(s)",
                    path.display(),
                    dc.virtuals.len()
                );
                for w in warnings {
                    let _ = writeln!(text, "{w}");
                }
            }
            Err(errs) => errors.extend(errs.iter().map(ToString::to_string)),
        }
    }
}

/// Whether a resource script is ours, i.e. runs hb_ldirectord (a wrapper an administrator
/// wrote around it counts as ours).
fn runs_hb_ldirectord(script: &Path) -> bool {
    const NEEDLE: &[u8] = b"hb_ldirectord";
    std::fs::read(script).is_ok_and(|b| b.windows(NEEDLE.len()).any(|w| w == NEEDLE))
}
