//! OCF resource agents behind haresources entries (issue 20), without Heartbeat's wrappers:
//!
//! * `Type::a::b` for the agents Heartbeat 3.0.6 wrapped in `resource.d` (`Filesystem`,
//!   `IPsrcaddr`, `apache`, `portblock` …): the positional arguments become the same
//!   `OCF_RESKEY_*` parameters its wrappers set;
//! * `OCF::type::instance`: the parameters come from `<ha_dir>/conf/OCF/type/instance`
//!   (`name=value` lines; `OCF_RESKEY_` is added where missing). Unlike 3.0.6, whose wrapper
//!   looks one directory too deep and never finds an agent, every provider is searched,
//!   `heartbeat` first.
//!
//! Agents are run with the OCF environment (`OCF_ROOT`, `OCF_RA_VERSION_*`,
//! `OCF_RESOURCE_INSTANCE`, `OCF_RESOURCE_TYPE`, `OCF_RESOURCE_PROVIDER`, `HA_RSCTMP`) and
//! judged by exit code only (crate::resource::outcome).

use std::path::{Path, PathBuf};

/// Where resource-agents installs (`OCF_ROOT`).
pub const DEFAULT_OCF_ROOT: &str = "/usr/lib/ocf";
/// Where agents keep their state between runs.
pub const HA_RSCTMP: &str = "/run/resource-agents";
/// The Debian package that brings the agents.
pub const PACKAGE: &str = "resource-agents";

/// How the positional arguments of a wrapped type map to parameters.
enum Positional {
    /// In order; missing trailing ones are left out.
    Names(&'static [&'static str]),
    /// `ADDR[/PREFIX[/NIC]]` split on `/`.
    Slashed(&'static [&'static str]),
    /// Every argument, joined with blanks, as one parameter.
    Joined(&'static str),
}

/// The agents 3.0.6 wrapped in `resource.d` and their arguments (its wrappers' mapping).
fn wrapped(name: &str) -> Option<Positional> {
    use Positional::*;
    Some(match name {
        "Filesystem" => Names(&["device", "directory", "fstype", "options"]),
        "IPsrcaddr" => Names(&["ipaddress"]),
        "IPv6addr" => Slashed(&["ipv6addr", "cidr_netmask", "nic"]),
        "SendArp" => Slashed(&["ip", "nic"]),
        "LVM" => Names(&["volgrpname"]),
        "LinuxSCSI" => Names(&["scsi"]),
        "MailTo" => Names(&["email", "subject"]),
        "Raid1" => Names(&["raidconf", "raiddev"]),
        "ServeRAID" => Names(&["serveraid", "mergegroup"]),
        "WAS" => Names(&["config"]),
        "WinPopup" => Names(&["hostfile"]),
        "Xinetd" => Names(&["service"]),
        "apache" => Names(&["configfile"]),
        "db2" => Names(&["instance"]),
        "portblock" => Names(&["protocol", "portno", "action"]),
        "ids" => Names(&["informixdir", "informixserver", "onconfig"]),
        "Delay" => Names(&["startdelay", "stopdelay"]),
        "ICP" => Names(&["driveid", "device"]),
        "AudibleAlarm" => Joined("nodelist"),
        _ => return None,
    })
}

/// Is NAME one of the agents 3.0.6 wrapped (or the generic `OCF`)?
pub fn is_ocf_name(name: &str) -> bool {
    name == "OCF" || wrapped(name).is_some()
}

/// One agent run: program, its type and provider, and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcfAgent {
    pub program: PathBuf,
    pub agent_type: String,
    pub provider: String,
    pub instance: String,
    /// `(name, value)` without the `OCF_RESKEY_` prefix.
    pub params: Vec<(String, String)>,
}

impl OcfAgent {
    /// The environment of a run, besides the common `HA_*` one (the shell adds
    /// `OCF_RESKEY_CRM_meta_timeout`).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("OCF_RA_VERSION_MAJOR".to_string(), "1".to_string()),
            ("OCF_RA_VERSION_MINOR".to_string(), "0".to_string()),
            ("OCF_RESOURCE_INSTANCE".to_string(), self.instance.clone()),
            ("OCF_RESOURCE_TYPE".to_string(), self.agent_type.clone()),
            ("OCF_RESOURCE_PROVIDER".to_string(), self.provider.clone()),
            ("HA_RSCTMP".to_string(), HA_RSCTMP.to_string()),
        ];
        for (k, v) in &self.params {
            env.push((format!("OCF_RESKEY_{k}"), v.clone()));
        }
        env
    }
}

/// Why an OCF entry cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcfError {
    /// No agent of that type under `<ocf_root>/resource.d/*/`.
    NoAgent { agent_type: String, root: PathBuf },
    /// `OCF::` needs a type and an instance.
    Usage(String),
    /// The instance file is missing or unreadable.
    Instance { path: PathBuf, why: String },
    /// A line of the instance file is not `name=value`.
    InstanceLine { path: PathBuf, line: usize },
    /// More arguments than the wrapped type takes.
    TooMany { agent_type: String, max: usize },
}

impl std::fmt::Display for OcfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OcfError::NoAgent { agent_type, root } => write!(
                f,
                "no OCF agent {agent_type} under {}/resource.d (install the Debian package {PACKAGE})",
                root.display()
            ),
            OcfError::Usage(text) => write!(
                f,
                "{text}: write OCF::TYPE::INSTANCE with the parameters in <ha.d>/conf/OCF/TYPE/INSTANCE"
            ),
            OcfError::Instance { path, why } => {
                write!(f, "cannot read OCF instance file {}: {why}", path.display())
            }
            OcfError::InstanceLine { path, line } => write!(
                f,
                "{}:{line}: not a name=value line (e.g. state=/run/dummy.state)",
                path.display()
            ),
            OcfError::TooMany { agent_type, max } => {
                write!(f, "{agent_type} takes at most {max} arguments")
            }
        }
    }
}

/// Finds `type` under `<root>/resource.d/<provider>/`, `heartbeat` first, then the other
/// providers in name order. Returns (program, provider).
pub fn find_agent(root: &Path, agent_type: &str) -> Option<(PathBuf, String)> {
    let base = root.join("resource.d");
    let mut providers: Vec<String> = std::fs::read_dir(&base)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|p| !p.starts_with('.'))
        .collect();
    providers.sort_by_key(|p| (p != "heartbeat", p.clone()));
    providers.into_iter().find_map(|p| {
        let path = base.join(&p).join(agent_type);
        super::resolve::is_executable_file(&path).then_some((path, p))
    })
}

/// The agent behind one haresources entry, or None when NAME is no OCF name.
pub fn agent_for(
    name: &str,
    args: &[String],
    ha_dir: &Path,
    root: &Path,
) -> Option<Result<OcfAgent, OcfError>> {
    if name == "OCF" {
        return Some(generic(args, ha_dir, root));
    }
    let map = wrapped(name)?;
    Some(wrapped_agent(name, map, args, root))
}

fn locate(root: &Path, agent_type: &str) -> Result<(PathBuf, String), OcfError> {
    find_agent(root, agent_type).ok_or_else(|| OcfError::NoAgent {
        agent_type: agent_type.to_string(),
        root: root.to_path_buf(),
    })
}

fn wrapped_agent(
    name: &str,
    map: Positional,
    args: &[String],
    root: &Path,
) -> Result<OcfAgent, OcfError> {
    let params: Vec<(String, String)> = match map {
        Positional::Names(names) => {
            if args.len() > names.len() {
                return Err(OcfError::TooMany {
                    agent_type: name.to_string(),
                    max: names.len(),
                });
            }
            names
                .iter()
                .zip(args)
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect()
        }
        Positional::Slashed(names) => {
            let Some(first) = args.first() else {
                return Err(OcfError::TooMany {
                    agent_type: name.to_string(),
                    max: 1,
                });
            };
            names
                .iter()
                .zip(first.split('/'))
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        }
        Positional::Joined(key) => vec![(key.to_string(), args.join(" "))],
    };
    let (program, provider) = locate(root, name)?;
    let first = params.first().map(|(_, v)| v.as_str()).unwrap_or("");
    Ok(OcfAgent {
        program,
        agent_type: name.to_string(),
        provider,
        instance: instance_name(name, first),
        params,
    })
}

fn generic(args: &[String], ha_dir: &Path, root: &Path) -> Result<OcfAgent, OcfError> {
    let [agent_type, instance] = args else {
        return Err(OcfError::Usage(format!(
            "OCF takes a type and an instance, got {} argument(s)",
            args.len()
        )));
    };
    if [agent_type, instance]
        .iter()
        .any(|w| w.is_empty() || w.contains('/') || w.starts_with('.'))
    {
        return Err(OcfError::Usage(format!(
            "invalid OCF type or instance [{agent_type}::{instance}]"
        )));
    }
    let path = ha_dir.join("conf/OCF").join(agent_type).join(instance);
    let text = std::fs::read_to_string(&path).map_err(|e| OcfError::Instance {
        path: path.clone(),
        why: e.to_string(),
    })?;
    let params = parse_instance(&text).map_err(|line| OcfError::InstanceLine {
        path: path.clone(),
        line,
    })?;
    let (program, provider) = locate(root, agent_type)?;
    Ok(OcfAgent {
        program,
        agent_type: agent_type.clone(),
        provider,
        instance: instance.clone(),
        params,
    })
}

/// `name=value` lines (blank lines and `#` comments skipped; one level of quotes removed;
/// an `export ` prefix and an `OCF_RESKEY_` prefix are accepted). Err: the bad line.
pub fn parse_instance(text: &str) -> Result<Vec<(String, String)>, usize> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((k, v)) = line.split_once('=') else {
            return Err(i + 1);
        };
        let k = k.trim();
        let k = k.strip_prefix("OCF_RESKEY_").unwrap_or(k);
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(i + 1);
        }
        let v = v.trim();
        let v = ['"', '\'']
            .iter()
            .find_map(|q| v.strip_prefix(*q).and_then(|x| x.strip_suffix(*q)))
            .unwrap_or(v);
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// `TYPE_FIRSTARG` as the wrappers name instances, made safe for state file names.
fn instance_name(agent_type: &str, first: &str) -> String {
    if first.is_empty() {
        return agent_type.to_string();
    }
    let clean: String = first
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{agent_type}_{}", clean.trim_matches('_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn root(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("hbrs-ocf-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        for (prov, t) in [
            ("heartbeat", "Filesystem"),
            ("pacemaker", "Dummy"),
            ("heartbeat", "Dummy"),
        ] {
            let d = p.join("resource.d").join(prov);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join(t), "#!/bin/sh\nexit 0\n").unwrap();
            fs::set_permissions(d.join(t), fs::Permissions::from_mode(0o755)).unwrap();
        }
        p
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn wrapped_types_map_positions_like_the_3_0_6_wrappers() {
        let r = root("wrap");
        let a = agent_for(
            "Filesystem",
            &s(&["/dev/sdb1", "/srv/data", "ext4"]),
            Path::new("/x"),
            &r,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            a.params,
            vec![
                ("device".into(), "/dev/sdb1".into()),
                ("directory".into(), "/srv/data".into()),
                ("fstype".into(), "ext4".into())
            ]
        );
        assert_eq!(a.provider, "heartbeat");
        assert_eq!(a.instance, "Filesystem_dev_sdb1");
        let env = a.env();
        assert!(env.contains(&("OCF_RESKEY_directory".into(), "/srv/data".into())));
        assert!(env.contains(&("OCF_RESOURCE_TYPE".into(), "Filesystem".into())));
        assert!(matches!(
            agent_for(
                "Filesystem",
                &s(&["a", "b", "c", "d", "e"]),
                Path::new("/x"),
                &r
            ),
            Some(Err(OcfError::TooMany { .. }))
        ));
        assert!(agent_for("httpd", &[], Path::new("/x"), &r).is_none());
        let _ = fs::remove_dir_all(&r);
    }

    #[test]
    fn missing_agents_name_the_package() {
        let e = agent_for(
            "IPsrcaddr",
            &s(&["192.0.2.10"]),
            Path::new("/x"),
            Path::new("/nonexistent"),
        )
        .unwrap()
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("install the Debian package resource-agents"),
            "{e}"
        );
    }

    #[test]
    fn generic_entries_read_their_instance_file_and_search_every_provider() {
        let r = root("generic");
        let ha = r.join("ha.d");
        fs::create_dir_all(ha.join("conf/OCF/Dummy")).unwrap();
        fs::write(
            ha.join("conf/OCF/Dummy/d1"),
            "# a comment\nstate=/run/d1.state\nexport OCF_RESKEY_fake=\"x y\"\n",
        )
        .unwrap();
        let a = agent_for("OCF", &s(&["Dummy", "d1"]), &ha, &r)
            .unwrap()
            .unwrap();
        assert_eq!(a.provider, "heartbeat", "heartbeat before pacemaker");
        assert_eq!(a.instance, "d1");
        assert_eq!(
            a.params,
            vec![
                ("state".into(), "/run/d1.state".into()),
                ("fake".into(), "x y".into())
            ]
        );
        assert!(matches!(
            agent_for("OCF", &s(&["Dummy", "nope"]), &ha, &r),
            Some(Err(OcfError::Instance { .. }))
        ));
        assert!(matches!(
            agent_for("OCF", &s(&["Dummy"]), &ha, &r),
            Some(Err(OcfError::Usage(_)))
        ));
        fs::write(ha.join("conf/OCF/Dummy/bad"), "state /x\n").unwrap();
        assert!(matches!(
            agent_for("OCF", &s(&["Dummy", "bad"]), &ha, &r),
            Some(Err(OcfError::InstanceLine { line: 1, .. }))
        ));
        let _ = fs::remove_dir_all(&r);
    }
}
