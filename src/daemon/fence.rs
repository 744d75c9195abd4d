//! Running the configured fence device for the core's `Output::Fence` (crate::core::fencing):
//! cluster-glue's `stonith(8)` for `stonith` / `stonith_host` (as 3.0.6 drives its plugins),
//! or an RHCS-style fence agent for `fence_agent`, which reads `name=value` lines on stdin.
//! Success is exit code 0, and nothing else: a fence that cannot say it worked did not.

use std::path::PathBuf;

use super::scripts::ScriptSpec;
use crate::config::{Config, FenceDevice};

/// Where cluster-glue installs its command (Debian: cluster-glue).
pub const STONITH_PROGRAM: &str = "/usr/sbin/stonith";

/// What a run asks of the device.
enum Ask<'a> {
    /// Reset this node.
    Reset(&'a str),
    /// Say whether the device works.
    Status,
}

/// The run that resets `node`, if a device is configured.
pub fn fence_spec(config: &Config, node: &str) -> Option<ScriptSpec> {
    device_spec(config, Ask::Reset(node))
}

/// The run that asks the device whether it works (3.0.6's hourly check): `stonith -S` or the
/// agent's `action=monitor`.
pub fn status_spec(config: &Config) -> Option<ScriptSpec> {
    device_spec(config, Ask::Status)
}

/// `stonith -t TYPE (-F FILE | -p PARAMS) (-T reset NODE | -S)`, or the agent with
/// `action=reboot plug=NODE nodename=NODE` / `action=monitor` and its options on stdin.
fn device_spec(config: &Config, ask: Ask) -> Option<ScriptSpec> {
    let device = config.fence_device()?;
    let timeout = config.ha.fencing.timeout;
    let env = crate::resource::script_env(config);
    let stonith = |kind: &str, source: [&str; 2]| {
        let mut args: Vec<String> = ["-t", kind, source[0], source[1]]
            .map(String::from)
            .to_vec();
        match ask {
            Ask::Reset(node) => args.extend(["-T", "reset", node].map(String::from)),
            Ask::Status => args.push(String::from("-S")),
        }
        ScriptSpec {
            program: PathBuf::from(STONITH_PROGRAM),
            args,
            env: env.clone(),
            timeout,
            stdin: None,
        }
    };
    Some(match device {
        FenceDevice::StonithFile { kind, file } => {
            stonith(kind, ["-F", &file.display().to_string()])
        }
        FenceDevice::StonithParams { kind, params } => stonith(kind, ["-p", params]),
        FenceDevice::Agent { program, options } => {
            let mut input = match ask {
                Ask::Reset(node) => format!("action=reboot\nplug={node}\nnodename={node}\n"),
                Ask::Status => "action=monitor\n".to_string(),
            };
            for (k, v) in options {
                input.push_str(&format!("{k}={v}\n"));
            }
            ScriptSpec {
                program: program.clone(),
                args: Vec::new(),
                env,
                timeout,
                stdin: Some(input.into_bytes()),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(lines: &str) -> Config {
        let dir =
            std::env::temp_dir().join(format!("hbfence-{}-{}", std::process::id(), lines.len()));
        let _ = std::fs::create_dir_all(&dir);
        std::fs::write(
            dir.join("ha.cf"),
            format!("bcast eth9\nnode a\nnode b\n{lines}"),
        )
        .unwrap();
        std::fs::write(dir.join("authkeys"), "auth 1\n1 sha1 k\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("authkeys"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        std::fs::write(dir.join("haresources"), "a 192.0.2.10\n").unwrap();
        let c = crate::config::load(&dir, Some("a")).expect("valid").config;
        let _ = std::fs::remove_dir_all(&dir);
        c
    }

    #[test]
    fn stonith_lines_map_to_the_stonith_command_and_the_last_one_for_us_wins() {
        let c = config(
            "stonith_host a external/ssh b\nstonith_host b external/ssh a\nstonith_host * external/ipmi b 192.0.2.20 admin pw lan\n",
        );
        let s = fence_spec(&c, "b").unwrap();
        assert_eq!(s.program, PathBuf::from(STONITH_PROGRAM));
        assert_eq!(
            s.args,
            [
                "-t",
                "external/ipmi",
                "-p",
                "b 192.0.2.20 admin pw lan",
                "-T",
                "reset",
                "b"
            ]
        );
        let c = config("stonith external/ssh /etc/ha.d/ssh.cfg\nstonith_host b external/x y\n");
        assert_eq!(
            fence_spec(&c, "b").unwrap().args,
            [
                "-t",
                "external/ssh",
                "-F",
                "/etc/ha.d/ssh.cfg",
                "-T",
                "reset",
                "b"
            ]
        );
        assert!(fence_spec(&config(""), "b").is_none());
    }

    #[test]
    fn a_fence_agent_reads_its_options_on_stdin() {
        let c = config(
            "fence_agent /usr/sbin/fence_virsh ip=192.0.2.1 username=root\nfence_timeout 20\n",
        );
        let s = fence_spec(&c, "b").unwrap();
        assert_eq!(s.program, PathBuf::from("/usr/sbin/fence_virsh"));
        assert_eq!(s.timeout, 20_000);
        assert_eq!(
            String::from_utf8(s.stdin.unwrap()).unwrap(),
            "action=reboot\nplug=b\nnodename=b\nip=192.0.2.1\nusername=root\n"
        );
    }

    #[test]
    fn the_status_check_asks_the_same_device() {
        let c = config("stonith_host * external/ipmi b 192.0.2.20 admin pw lan\n");
        assert_eq!(
            status_spec(&c).unwrap().args,
            [
                "-t",
                "external/ipmi",
                "-p",
                "b 192.0.2.20 admin pw lan",
                "-S"
            ]
        );
        let c = config("fence_agent /usr/sbin/fence_virsh ip=192.0.2.1\n");
        let s = status_spec(&c).unwrap();
        assert_eq!(
            String::from_utf8(s.stdin.unwrap()).unwrap(),
            "action=monitor\nip=192.0.2.1\n"
        );
        assert!(status_spec(&config("")).is_none());
    }
}
