//! Static properties of resource.d: POSIX sh with `set -u`, executable, shellcheck-clean when
//! shellcheck is installed, and usage errors with exit code 1 like the original's wrappers.
mod common;
use common::netns::run;
use std::os::unix::fs::PermissionsExt;

const RESOURCE_D: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/resource.d");
const SCRIPTS: [&str; 4] = ["IPaddr", "IPaddr2", "LVS", "httpd"];

#[test]
fn scripts_are_executable_posix_sh_with_set_u() {
    for name in SCRIPTS {
        let path = format!("{RESOURCE_D}/{name}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("#!/bin/sh\n"),
            "{name}: not a POSIX sh script"
        );
        assert!(text.lines().any(|l| l == "set -u"), "{name}: no set -u");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "{name}: not executable");
        let syntax = run(&format!("sh -n {path}"));
        assert!(syntax.status.success(), "{name}: sh -n failed");
    }
}

#[test]
fn scripts_are_shellcheck_clean() {
    if !run("command -v shellcheck").status.success() {
        eprintln!("skipped: shellcheck not installed");
        return;
    }
    let out = run(&format!(
        "cd {RESOURCE_D} && shellcheck -s sh {}",
        SCRIPTS.join(" ")
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn usage_errors_exit_1_with_a_message_on_stderr() {
    for name in SCRIPTS {
        let out = run(&format!("{RESOURCE_D}/{name}"));
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("usage:"),
            "{name}"
        );
        assert!(out.stdout.is_empty(), "{name}: usage belongs on stderr");
    }
}
