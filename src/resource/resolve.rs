//! Finding the program behind a haresources resource name (spec §6.2, issue 6).
//!
//! Order: `<ha_dir>/resource.d/NAME`, the project's installed `resource.d`, `/etc/init.d/NAME`,
//! then a systemd unit `NAME.service` (only when `systemctl` exists). Scripts must be regular
//! executable files. Resolution happens at start-up for every resource ([`Resolver::check_all`])
//! so a missing script is a configuration error, not a failover-time surprise.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::address::{SpecError, VipSpec};
use crate::config::{Config, Resource};
use crate::core::ScriptOp;

/// Where the project's own scripts are installed by default.
pub const DEFAULT_BUILTIN_DIR: &str = "/usr/lib/heartbeat-rs/resource.d";
/// LSB init scripts.
pub const DEFAULT_INIT_DIR: &str = "/etc/init.d";
/// Unit directories searched for `NAME.service`, most specific first.
pub const DEFAULT_UNIT_DIRS: [&str; 4] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];
/// Candidate locations of `systemctl`.
const SYSTEMCTL_PATHS: [&str; 2] = ["/usr/bin/systemctl", "/bin/systemctl"];

/// Where the program was found; decides how its exit codes and output are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptKind {
    /// `<ha_dir>/resource.d`: scripts written for the original, which read only their text.
    HaResourceD,
    /// The project's own `resource.d` (exit codes 0/3 and the words `running`/`stopped`).
    Builtin,
    /// `/etc/init.d` LSB script.
    InitScript,
    /// A systemd unit driven through `systemctl`.
    Systemd,
    /// An OCF resource agent (crate::resource::ocf): `start`, `stop`, `monitor`, exit codes only.
    Ocf,
}

/// Something runnable for one resource: `program argv(op)...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub program: PathBuf,
    /// Arguments before the action: the resource's `::` arguments, or the unit name for systemd.
    pub args: Vec<String>,
    pub kind: ScriptKind,
    /// Environment of this resource beyond the common one (the OCF parameters).
    pub env: Vec<(String, String)>,
}

impl Invocation {
    /// The arguments to pass after `program`: `<args...> <action>` as the original does, or
    /// `start|stop|is-active NAME.service` for systemd.
    pub fn argv(&self, op: ScriptOp) -> Vec<String> {
        match self.kind {
            ScriptKind::Ocf => {
                let verb = match op {
                    ScriptOp::Start => "start",
                    ScriptOp::Stop => "stop",
                    ScriptOp::Status => "monitor",
                };
                vec![verb.to_string()]
            }
            ScriptKind::Systemd => {
                let verb = match op {
                    ScriptOp::Start => "start",
                    ScriptOp::Stop => "stop",
                    ScriptOp::Status => "is-active",
                };
                let mut v = vec![verb.to_string()];
                v.extend(self.args.iter().cloned());
                v
            }
            _ => {
                let action = match op {
                    ScriptOp::Start => "start",
                    ScriptOp::Stop => "stop",
                    ScriptOp::Status => "status",
                };
                let mut v = self.args.clone();
                v.push(action.to_string());
                v
            }
        }
    }
}

impl Invocation {
    /// The whole command as the original logs it before a start/stop
    /// (`info: Running <path> <args> <action>`).
    pub fn command_line(&self, op: ScriptOp) -> String {
        let mut line = self.program.display().to_string();
        for a in self.argv(op) {
            line.push(' ');
            line.push_str(&a);
        }
        line
    }
}

/// How a resource runs: a program, or an address handled in-process (`crate::daemon::vip`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    Script(Invocation),
    Native(VipSpec),
}

impl Runner {
    /// What runs, for `--check` and the logs.
    pub fn describe(&self) -> String {
        match self {
            Runner::Script(inv) => {
                let kind = match inv.kind {
                    ScriptKind::HaResourceD => "script of the ha.d resource directory",
                    ScriptKind::Builtin => "script of heartbeat-rs",
                    ScriptKind::InitScript => "LSB init script",
                    ScriptKind::Systemd => "systemd unit",
                    ScriptKind::Ocf => "OCF resource agent",
                };
                format!("{} ({kind})", inv.command_line(ScriptOp::Start))
            }
            Runner::Native(spec) => {
                format!("in-process address {spec} (netlink, gratuitous ARP/NA)")
            }
        }
    }
}

/// Why a resource name could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// The name would escape the script directories (`/`, empty, leading `.`).
    BadName(String),
    /// Nothing runnable found; `looked_in` lists every candidate, `not_executable` the files
    /// that exist but are not regular executable files.
    NotFound {
        name: String,
        looked_in: Vec<PathBuf>,
        not_executable: Vec<PathBuf>,
    },
    /// A systemd unit cannot take `::` arguments.
    SystemdArgs { name: String, args: Vec<String> },
    /// An address resource with an argument no address script would accept.
    BadAddress(SpecError),
    /// An OCF entry that cannot run (crate::resource::ocf).
    Ocf(super::ocf::OcfError),
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::BadName(n) => write!(f, "invalid resource script name [{n}]"),
            ResolveError::NotFound {
                name,
                looked_in,
                not_executable,
            } => {
                write!(f, "Cannot locate resource script {name} (looked in ")?;
                let list: Vec<String> = looked_in.iter().map(|p| p.display().to_string()).collect();
                write!(f, "{})", list.join(", "))?;
                for p in not_executable {
                    write!(f, "; {} is not a regular executable file", p.display())?;
                }
                Ok(())
            }
            ResolveError::SystemdArgs { name, args } => write!(
                f,
                "{name} resolves to systemd unit {name}.service, which takes no arguments (got {})",
                args.join("::")
            ),
            ResolveError::BadAddress(e) => write!(f, "{e}"),
            ResolveError::Ocf(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ResolveError {}

/// A resource of `haresources` that cannot be resolved, with its file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceCheckError {
    pub file: PathBuf,
    pub line: usize,
    /// The resource as written (`IPaddr::192.0.2.10/24`).
    pub resource: String,
    pub error: ResolveError,
}

impl fmt::Display for ResourceCheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: resource {}: {}",
            self.file.display(),
            self.line,
            self.resource,
            self.error
        )
    }
}

impl std::error::Error for ResourceCheckError {}

/// Resolves resource names against the lookup chain. Paths are fields so tests can point
/// every step at temporary directories.
#[derive(Debug, Clone)]
pub struct Resolver {
    ha_dir: PathBuf,
    builtin_dir: PathBuf,
    init_dir: PathBuf,
    unit_dirs: Vec<PathBuf>,
    systemctl: Option<PathBuf>,
    ocf_root: PathBuf,
}

impl Resolver {
    /// The standard chain; `builtin_dir` defaults to [`DEFAULT_BUILTIN_DIR`]. systemd units are
    /// considered only when a `systemctl` binary exists.
    pub fn new(ha_dir: &Path, builtin_dir: Option<PathBuf>) -> Resolver {
        Resolver {
            ha_dir: ha_dir.to_path_buf(),
            builtin_dir: builtin_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_BUILTIN_DIR)),
            init_dir: PathBuf::from(DEFAULT_INIT_DIR),
            unit_dirs: DEFAULT_UNIT_DIRS.iter().map(PathBuf::from).collect(),
            systemctl: SYSTEMCTL_PATHS
                .iter()
                .map(PathBuf::from)
                .find(|p| is_executable_file(p)),
            ocf_root: PathBuf::from(super::ocf::DEFAULT_OCF_ROOT),
        }
    }

    /// Replaces `OCF_ROOT` (tests).
    pub fn with_ocf_root(mut self, dir: PathBuf) -> Resolver {
        self.ocf_root = dir;
        self
    }

    /// Replaces `/etc/init.d` (tests).
    pub fn with_init_dir(mut self, dir: PathBuf) -> Resolver {
        self.init_dir = dir;
        self
    }

    /// Replaces the systemd lookup: `systemctl` binary (None disables systemd) and unit dirs.
    pub fn with_systemd(mut self, systemctl: Option<PathBuf>, unit_dirs: Vec<PathBuf>) -> Resolver {
        self.systemctl = systemctl;
        self.unit_dirs = unit_dirs;
        self
    }

    /// How one resource runs. Address resources (`IPaddr`, `IPaddr2`, bare addresses) are
    /// handled in-process when `native` is set, unless the ha.d resource directory has a
    /// script of that name: an administrator's own script always wins. Their argument is
    /// validated either way (the scripts would refuse it too).
    pub fn runner(&self, r: &Resource, native: bool) -> Result<Runner, ResolveError> {
        if let Some(spec) = VipSpec::of_resource(&r.name, &r.args)
            && !self.has_own_script(&r.name)
        {
            let spec = spec.map_err(ResolveError::BadAddress)?;
            if native {
                return Ok(Runner::Native(spec));
            }
        }
        self.resolve(r).map(Runner::Script)
    }

    /// Whether `<ha_dir>/resource.d/NAME` is a runnable script.
    fn has_own_script(&self, name: &str) -> bool {
        is_executable_file(&self.ha_dir.join("resource.d").join(name))
    }

    /// Finds the program for one resource.
    pub fn resolve(&self, r: &Resource) -> Result<Invocation, ResolveError> {
        let name = r.name.as_str();
        if name.is_empty() || name.contains('/') || name.starts_with('.') || name.contains('\0') {
            return Err(ResolveError::BadName(name.to_string()));
        }
        let scripts = [
            (
                self.ha_dir.join("resource.d").join(name),
                ScriptKind::HaResourceD,
            ),
            (self.builtin_dir.join(name), ScriptKind::Builtin),
            (self.init_dir.join(name), ScriptKind::InitScript),
        ];
        let mut looked_in = Vec::new();
        let mut not_executable = Vec::new();
        for (path, kind) in scripts {
            if kind == ScriptKind::InitScript
                && let Some(agent) =
                    super::ocf::agent_for(name, &r.args, &self.ha_dir, &self.ocf_root)
            {
                // The agents 3.0.6 wrapped come where its wrappers were, before init.d.
                let agent = agent.map_err(ResolveError::Ocf)?;
                return Ok(Invocation {
                    program: agent.program.clone(),
                    args: Vec::new(),
                    kind: ScriptKind::Ocf,
                    env: agent.env(),
                });
            }
            if is_executable_file(&path) {
                return Ok(Invocation {
                    program: path,
                    args: r.args.clone(),
                    kind,
                    env: Vec::new(),
                });
            }
            if path.exists() {
                not_executable.push(path.clone());
            }
            looked_in.push(path);
        }
        if let Some(systemctl) = &self.systemctl {
            let unit = format!("{name}.service");
            for dir in &self.unit_dirs {
                let candidate = dir.join(&unit);
                looked_in.push(candidate.clone());
                if candidate.is_file() {
                    if !r.args.is_empty() {
                        return Err(ResolveError::SystemdArgs {
                            name: name.to_string(),
                            args: r.args.clone(),
                        });
                    }
                    return Ok(Invocation {
                        program: systemctl.clone(),
                        args: vec![unit],
                        kind: ScriptKind::Systemd,
                        env: Vec::new(),
                    });
                }
            }
        }
        Err(ResolveError::NotFound {
            name: name.to_string(),
            looked_in,
            not_executable,
        })
    }

    /// Resolves every resource of every group; one error per unresolvable resource, naming
    /// `<ha_dir>/haresources` and the group's line.
    pub fn check_all(&self, config: &Config) -> Vec<ResourceCheckError> {
        let file = config.ha_dir.join("haresources");
        let mut errors = Vec::new();
        for group in &config.groups {
            for r in &group.resources {
                if let Err(error) = self.runner(r, config.ha.vip.native) {
                    errors.push(ResourceCheckError {
                        file: file.clone(),
                        line: group.line,
                        resource: r.text.clone(),
                        error,
                    });
                }
            }
        }
        errors
    }
}

/// A regular file (after following links) with an execute bit.
pub(super) fn is_executable_file(path: &Path) -> bool {
    match std::fs::metadata(path) {
        Ok(m) => m.is_file() && m.permissions().mode() & 0o111 != 0,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let p =
                std::env::temp_dir().join(format!("hbrs-resolve-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn script(path: &Path, mode: u32) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "#!/bin/sh\nexit 0\n").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn res(name: &str, args: &[&str]) -> Resource {
        let mut text = name.to_string();
        for a in args {
            text.push_str("::");
            text.push_str(a);
        }
        Resource {
            name: name.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            text,
        }
    }

    struct Layout {
        _root: TempDir,
        ha: PathBuf,
        builtin: PathBuf,
        init: PathBuf,
        units: PathBuf,
        systemctl: PathBuf,
    }

    fn layout() -> Layout {
        let root = TempDir::new("chain");
        let ha = root.0.join("ha.d");
        let builtin = root.0.join("builtin");
        let init = root.0.join("init.d");
        let units = root.0.join("units");
        let systemctl = root.0.join("systemctl");
        for d in [&ha, &builtin, &init, &units] {
            fs::create_dir_all(d).unwrap();
        }
        script(&systemctl, 0o755);
        Layout {
            _root: root,
            ha,
            builtin,
            init,
            units,
            systemctl,
        }
    }

    fn resolver(l: &Layout) -> Resolver {
        Resolver::new(&l.ha, Some(l.builtin.clone()))
            .with_init_dir(l.init.clone())
            .with_systemd(Some(l.systemctl.clone()), vec![l.units.clone()])
            .with_ocf_root(l.init.join("no-ocf"))
    }

    #[test]
    fn ocf_agents_come_after_ha_dir_and_builtin_before_init_d() {
        let l = layout();
        let ocf = l.units.join("ocf");
        script(&ocf.join("resource.d/heartbeat/Filesystem"), 0o755);
        script(&l.init.join("Filesystem"), 0o755);
        let r = resolver(&l).with_ocf_root(ocf.clone());
        let fs_res = res("Filesystem", &["/dev/sdb1", "/srv", "ext4"]);
        let inv = r.resolve(&fs_res).unwrap();
        assert_eq!(inv.kind, ScriptKind::Ocf);
        assert_eq!(inv.argv(ScriptOp::Status), ["monitor"]);
        assert!(
            inv.env
                .contains(&("OCF_RESKEY_device".into(), "/dev/sdb1".into()))
        );
        // An administrator's script in ha.d (e.g. 3.0.6's wrapper) still wins.
        script(&l.ha.join("resource.d/Filesystem"), 0o755);
        assert_eq!(r.resolve(&fs_res).unwrap().kind, ScriptKind::HaResourceD);
        // Without resource-agents the error names the package.
        let e = resolver(&l)
            .resolve(&res("IPsrcaddr", &["192.0.2.1"]))
            .unwrap_err();
        assert!(e.to_string().contains("resource-agents"), "{e}");
    }

    #[test]
    fn lookup_order_is_ha_dir_builtin_init_systemd() {
        let l = layout();
        let r = res("svc", &[]);
        fs::write(l.units.join("svc.service"), "[Service]\n").unwrap();
        let inv = resolver(&l).resolve(&r).unwrap();
        assert_eq!(inv.kind, ScriptKind::Systemd);
        assert_eq!(inv.program, l.systemctl);

        script(&l.init.join("svc"), 0o755);
        assert_eq!(
            resolver(&l).resolve(&r).unwrap().kind,
            ScriptKind::InitScript
        );

        script(&l.builtin.join("svc"), 0o755);
        let inv = resolver(&l).resolve(&r).unwrap();
        assert_eq!(inv.kind, ScriptKind::Builtin);
        assert_eq!(inv.program, l.builtin.join("svc"));

        script(&l.ha.join("resource.d/svc"), 0o755);
        let inv = resolver(&l).resolve(&r).unwrap();
        assert_eq!(inv.kind, ScriptKind::HaResourceD);
        assert_eq!(inv.program, l.ha.join("resource.d/svc"));
    }

    #[test]
    fn non_executable_and_directories_are_skipped_and_reported() {
        let l = layout();
        script(&l.ha.join("resource.d/svc"), 0o644);
        fs::create_dir_all(l.builtin.join("svc")).unwrap();
        script(&l.init.join("svc"), 0o755);
        let inv = resolver(&l).resolve(&res("svc", &[])).unwrap();
        assert_eq!(inv.kind, ScriptKind::InitScript);

        fs::remove_file(l.init.join("svc")).unwrap();
        let err = resolver(&l).resolve(&res("svc", &[])).unwrap_err();
        match &err {
            ResolveError::NotFound {
                not_executable,
                looked_in,
                ..
            } => {
                assert!(not_executable.contains(&l.ha.join("resource.d/svc")));
                assert!(looked_in.contains(&l.units.join("svc.service")));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with("Cannot locate resource script svc")
        );
    }

    #[test]
    fn systemd_is_ignored_without_systemctl_and_refuses_arguments() {
        let l = layout();
        fs::write(l.units.join("svc.service"), "").unwrap();
        let no_systemctl = resolver(&l).with_systemd(None, vec![l.units.clone()]);
        assert!(matches!(
            no_systemctl.resolve(&res("svc", &[])),
            Err(ResolveError::NotFound { .. })
        ));
        assert!(matches!(
            resolver(&l).resolve(&res("svc", &["x"])),
            Err(ResolveError::SystemdArgs { .. })
        ));
    }

    #[test]
    fn names_that_escape_are_refused() {
        let l = layout();
        for bad in ["", "../x", "a/b", ".hidden"] {
            assert_eq!(
                resolver(&l).resolve(&res(bad, &[])),
                Err(ResolveError::BadName(bad.to_string()))
            );
        }
    }

    #[test]
    fn argv_matches_the_original_calling_convention() {
        let inv = Invocation {
            program: PathBuf::from("/etc/ha.d/resource.d/Filesystem"),
            args: vec!["/dev/sda1".into(), "/data1".into(), "ext2".into()],
            kind: ScriptKind::HaResourceD,
            env: Vec::new(),
        };
        assert_eq!(
            inv.argv(ScriptOp::Start),
            ["/dev/sda1", "/data1", "ext2", "start"]
        );
        assert_eq!(inv.argv(ScriptOp::Status).last().unwrap(), "status");
        assert_eq!(
            inv.command_line(ScriptOp::Stop),
            "/etc/ha.d/resource.d/Filesystem /dev/sda1 /data1 ext2 stop"
        );
        let unit = Invocation {
            program: PathBuf::from("/usr/bin/systemctl"),
            args: vec!["nginx.service".into()],
            kind: ScriptKind::Systemd,
            env: Vec::new(),
        };
        assert_eq!(unit.argv(ScriptOp::Start), ["start", "nginx.service"]);
        assert_eq!(unit.argv(ScriptOp::Stop), ["stop", "nginx.service"]);
        assert_eq!(unit.argv(ScriptOp::Status), ["is-active", "nginx.service"]);
    }

    #[test]
    fn repo_resource_d_scripts_resolve_as_builtin() {
        let l = layout();
        let repo = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/resource.d"));
        let r = Resolver::new(&l.ha, Some(repo.clone())).with_systemd(None, vec![]);
        for name in ["IPaddr", "IPaddr2", "LVS", "httpd"] {
            let inv = r.resolve(&res(name, &["a"])).unwrap();
            assert_eq!(inv.kind, ScriptKind::Builtin, "{name}");
            assert_eq!(inv.program, repo.join(name));
        }
    }

    #[test]
    fn check_all_names_file_line_and_resource() {
        use crate::config::ResourceGroup;
        let l = layout();
        script(&l.builtin.join("IPaddr"), 0o755);
        let mut cfg = crate::resource::test_config();
        cfg.ha_dir = l.ha.clone();
        cfg.groups = vec![ResourceGroup {
            owner: "node1".into(),
            resources: vec![res("IPaddr", &["192.0.2.10/24"]), res("nosuch", &[])],
            line: 7,
        }];
        let errors = resolver(&l).check_all(&cfg);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 7);
        assert_eq!(errors[0].file, l.ha.join("haresources"));
        assert_eq!(errors[0].resource, "nosuch");
        let text = errors[0].to_string();
        assert!(
            text.contains("haresources:7: resource nosuch: Cannot locate"),
            "{text}"
        );
    }
}
