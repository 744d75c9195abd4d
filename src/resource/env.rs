//! The environment of every resource script (spec §6.2): what the original exports from its own
//! state and from `ha.cf`, so scripts written for it find the same variables.

use crate::config::{AutoFailback, Config};

/// Where OCF agents live (the original exports it unconditionally).
pub const OCF_ROOT: &str = "/usr/lib/ocf";
/// The original's date format for script log lines (with its trailing TAB).
pub const HA_DATEFMT: &str = "%Y/%m/%d_%T\t";
/// Directories the original's `shellfuncs` puts on PATH; scripts call `ip`, `ipvsadm`, `nft`.
pub const EXTRA_PATH: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// Variables set for every resource script, in a stable order. The caller adds them on top of
/// the daemon's own environment. `HA_DONTASK` is per-run (local acquisition with fewer than two
/// nodes active) and is the caller's to add.
pub fn script_env(config: &Config) -> Vec<(String, String)> {
    let ha = &config.ha;
    let ha_dir = config.ha_dir.display().to_string();
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| {
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v));
    };
    // Directives first, so the variables the daemon computes below win on a clash.
    for (name, value) in &ha.directives {
        if is_env_name(name) {
            set(&format!("HA_{name}"), value.clone());
        }
    }
    set("HA_CURHOST", config.local.clone());
    set("HA_DIR", ha_dir.clone());
    set("HA_FUNCS", format!("{ha_dir}/shellfuncs"));
    set("HA_RESOURCEDIR", format!("{ha_dir}/resource.d"));
    set("HA_RCDIR", format!("{ha_dir}/rc.d"));
    set("HA_DATEFMT", HA_DATEFMT.to_string());
    if let Some(f) = &ha.logfile {
        set("HA_LOGFILE", f.display().to_string());
    }
    if let Some(f) = &ha.debugfile {
        set("HA_DEBUGLOG", f.display().to_string());
    }
    if let Some(f) = &ha.logfacility {
        set("HA_LOGFACILITY", f.clone());
    }
    set("OCF_ROOT", OCF_ROOT.to_string());
    if ha.debug > 0 {
        set("HA_debug", ha.debug.to_string());
    }
    let logd = ha
        .directives
        .iter()
        .rev()
        .find(|(n, _)| n == "use_logd")
        .is_some_and(|(_, v)| {
            matches!(
                v.to_ascii_lowercase().as_str(),
                "yes" | "on" | "true" | "y" | "1"
            )
        });
    set("HA_LOGD", if logd { "yes" } else { "no" }.to_string());
    if matches!(ha.auto_failback, AutoFailback::On | AutoFailback::Off) {
        set("HA_NICEFAILBACK", "yes".to_string());
    }
    set(
        "PATH",
        path_with_extras(std::env::var("PATH").ok().as_deref()),
    );
    // Where this daemon's programs are, so resource.d/ldirectord finds hb_ldirectord beside it.
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.display().to_string()))
    {
        set("HBRS_BINDIR", dir);
    }
    env
}

/// `current` PATH followed by every [`EXTRA_PATH`] entry it lacks.
pub fn path_with_extras(current: Option<&str>) -> String {
    let mut parts: Vec<&str> = current
        .unwrap_or("")
        .split(':')
        .filter(|p| !p.is_empty())
        .collect();
    for extra in EXTRA_PATH {
        if !parts.contains(&extra) {
            parts.push(extra);
        }
    }
    parts.join(":")
}

/// Directive names become part of a variable name: letters, digits and `_` only.
fn is_env_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::test_config;

    fn get<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn exports_what_the_original_exports() {
        let cfg = test_config();
        let env = script_env(&cfg);
        assert_eq!(get(&env, "HA_CURHOST"), Some("node1"));
        assert_eq!(get(&env, "HA_DIR"), Some("/etc/ha.d"));
        assert_eq!(get(&env, "HA_FUNCS"), Some("/etc/ha.d/shellfuncs"));
        assert_eq!(get(&env, "HA_LOGFILE"), Some("/var/log/ha-log"));
        assert_eq!(get(&env, "HA_DEBUGLOG"), Some("/var/log/ha-debug"));
        assert_eq!(get(&env, "HA_DATEFMT"), Some("%Y/%m/%d_%T\t"));
        assert_eq!(get(&env, "OCF_ROOT"), Some("/usr/lib/ocf"));
        assert_eq!(get(&env, "HA_NICEFAILBACK"), Some("yes"));
        assert_eq!(get(&env, "HA_LOGD"), Some("no"));
        assert_eq!(get(&env, "HA_keepalive"), Some("1"));
        assert_eq!(get(&env, "HA_deadping"), Some("6000ms"));
        assert_eq!(get(&env, "HA_auto_failback"), Some("on"));
        assert_eq!(get(&env, "HA_debug"), None, "debug 0 is not exported");
        assert!(get(&env, "HA_bad-name").is_none());
        assert!(get(&env, "PATH").unwrap().contains("/usr/sbin"));
        // One variable per name.
        let mut names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        let len = names.len();
        names.dedup();
        assert_eq!(names.len(), len);
    }

    #[test]
    fn legacy_failback_and_debug() {
        let mut cfg = test_config();
        cfg.ha.auto_failback = AutoFailback::Legacy;
        cfg.ha.debug = 2;
        cfg.ha.logfile = None;
        let env = script_env(&cfg);
        assert_eq!(get(&env, "HA_NICEFAILBACK"), None);
        assert_eq!(get(&env, "HA_debug"), Some("2"));
        assert_eq!(get(&env, "HA_LOGFILE"), None);
    }

    #[test]
    fn path_gets_sbin_once() {
        assert_eq!(
            path_with_extras(Some("/usr/local/bin:/usr/bin")),
            "/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin"
        );
        assert_eq!(path_with_extras(None), "/usr/sbin:/sbin:/usr/bin:/bin");
    }
}
