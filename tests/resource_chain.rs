//! The resource chain through the library API, as the daemon drives it: a haresources group
//! `IPaddr::VIP/24/IFACE LVS::RULES httpd::CONF` is resolved against the repo's resource.d,
//! checked at start-up, started left to right (status first, start only when not running) and
//! stopped right to left, each result read by `resource::interpret`.
mod common;
use common::netns::*;
use heartbeat::config::*;
use heartbeat::core::{ScriptOp, ScriptOutcome};
use heartbeat::resource::{Invocation, Resolver, ScriptKind, interpret, script_env};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const RESOURCE_D: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/resource.d");
const MODULES: &str = "/usr/lib/apache2/modules";

fn resource(text: &str) -> Resource {
    let mut parts = text.split("::").map(str::to_string);
    let name = parts.next().unwrap();
    Resource {
        name,
        args: parts.collect(),
        text: text.to_string(),
    }
}

fn config(ha_dir: PathBuf, resources: &[String]) -> Config {
    Config {
        ha_dir,
        ha: HaCf {
            keepalive: 1000,
            deadtime: 6000,
            warntime: 3000,
            initdead: 12000,
            deadping: 6000,
            udpport: 694,
            media: vec![Medium::Bcast { iface: "e0".into() }],
            nodes: vec!["node1".into(), "node2".into()],
            ping_nodes: vec![],
            ping_groups: vec![],
            auto_failback: AutoFailback::On,
            logfile: None,
            debugfile: None,
            logfacility: None,
            realtime: false,
            debug: 0,
            msgfmt: MsgFmt::Classic,
            baud: 19200,
            max_rexmit_delay: 1000,
            hopfudge: 1,
            respawn: vec![],
            notify: vec![],
            metrics: None,
            fencing: Default::default(),
            monitoring: Default::default(),
            ipfail: false,
            ipfail_holddown: 0,
            resource_timeout: 60000,
            crash_guard: true,
            vip: Default::default(),
            directives: vec![("keepalive".into(), "1".into())],
        },
        keys: AuthKeys {
            send_index: 1,
            keys: BTreeMap::new(),
        },
        groups: vec![ResourceGroup {
            owner: "node1".into(),
            resources: resources.iter().map(|r| resource(r)).collect(),
            line: 3,
        }],
        local: "node1".into(),
        peer: "node2".into(),
    }
}

/// Runs one operation inside `ns` with the daemon's script environment.
fn perform(ns: &Netns, inv: &Invocation, op: ScriptOp, env: &[(String, String)]) -> ScriptOutcome {
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .arg(&inv.program)
        .args(inv.argv(op))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    interpret(
        inv.kind,
        op,
        out.status.code(),
        &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn group_starts_left_to_right_and_stops_right_to_left() {
    if !can_use_netns()
        || !run("command -v nft && command -v apache2ctl && command -v curl")
            .status
            .success()
        || !std::path::Path::new(MODULES)
            .join("mod_mpm_event.so")
            .exists()
    {
        eprintln!("skipped: needs root, nft, Debian apache2 and curl");
        return;
    }
    let node = Netns::new("hcn");
    let client = Netns::new("hcc");
    veth(&node, "e0", &client, "c0");
    node.sh("ip addr add 192.0.2.1/24 dev e0");
    client.sh("ip addr add 192.0.2.2/24 dev c0");
    let tmp = TempDir::new("hct");
    let root = tmp.s();
    std::fs::create_dir_all(tmp.path.join("ha.d/resource.d")).unwrap();
    std::fs::create_dir_all(tmp.path.join("htdocs")).unwrap();
    std::fs::write(tmp.path.join("htdocs/index.html"), "chain\n").unwrap();
    sh(&format!(
        "chmod 755 {root} {root}/htdocs && chmod 644 {root}/htdocs/index.html"
    ));
    std::fs::write(
        tmp.path.join("lvs.rules"),
        "-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 198.51.100.2:80 -m -w 1\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path.join("httpd.conf"),
        format!(
            "ServerRoot {root}\nPidFile {root}/httpd.pid\nDefaultRuntimeDir {root}\n\
             ErrorLog {root}/error.log\nListen 192.0.2.10:8080\nServerName vip.test\n\
             LoadModule mpm_event_module {MODULES}/mod_mpm_event.so\n\
             LoadModule authz_core_module {MODULES}/mod_authz_core.so\n\
             LoadModule dir_module {MODULES}/mod_dir.so\n\
             User www-data\nGroup www-data\nDocumentRoot {root}/htdocs\n\
             <Directory {root}/htdocs>\n  Require all granted\n</Directory>\n"
        ),
    )
    .unwrap();
    let group = [
        "IPaddr::192.0.2.10/24/e0".to_string(),
        format!("LVS::{root}/lvs.rules"),
        format!("httpd::{root}/httpd.conf"),
    ];
    let cfg = config(tmp.path.join("ha.d"), &group);
    let resolver = Resolver::new(&cfg.ha_dir, Some(PathBuf::from(RESOURCE_D)));
    assert!(resolver.check_all(&cfg).is_empty());
    let invocations: Vec<Invocation> = cfg.groups[0]
        .resources
        .iter()
        .map(|r| resolver.resolve(r).unwrap())
        .collect();
    assert!(invocations.iter().all(|i| i.kind == ScriptKind::Builtin));
    let mut env = script_env(&cfg);
    env.push(("HA_RSCTMP".into(), root.clone()));

    // takegroup: left to right, skipping what already runs.
    let mut log = Vec::new();
    for inv in &invocations {
        if perform(&node, inv, ScriptOp::Status, &env) == ScriptOutcome::NotRunning {
            log.push(inv.command_line(ScriptOp::Start));
            assert_eq!(
                perform(&node, inv, ScriptOp::Start, &env),
                ScriptOutcome::Ok
            );
        }
        assert_eq!(
            perform(&node, inv, ScriptOp::Status, &env),
            ScriptOutcome::Ok
        );
    }
    assert_eq!(log.len(), 3);
    assert!(log[0].ends_with("IPaddr 192.0.2.10/24/e0 start"), "{log:?}");
    assert!(
        log[1].contains("/LVS ") && log[2].contains("/httpd "),
        "{log:?}"
    );
    let code =
        client.sh("curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://192.0.2.10:8080/");
    assert_eq!(code, "200");
    assert!(
        node.sh("nft list ruleset")
            .contains("ip daddr 192.0.2.10 tcp dport 80 dnat")
    );

    // givegroup: right to left; every status then reads "not running".
    let mut order = Vec::new();
    for inv in invocations.iter().rev() {
        order.push(
            inv.program
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        );
        assert_eq!(perform(&node, inv, ScriptOp::Stop, &env), ScriptOutcome::Ok);
    }
    assert_eq!(order, ["httpd", "LVS", "IPaddr"]);
    for inv in &invocations {
        assert_eq!(
            perform(&node, inv, ScriptOp::Status, &env),
            ScriptOutcome::NotRunning
        );
    }
    assert_eq!(node.sh("nft list ruleset").trim(), "");
    assert!(!node.sh("ip -o -4 addr show").contains("192.0.2.10/"));
}

#[test]
fn a_missing_resource_is_a_start_up_error_naming_file_and_line() {
    let tmp = TempDir::new("hcm");
    let cfg = config(
        tmp.path.clone(),
        &[
            "IPaddr::192.0.2.10".to_string(),
            "NoSuchResource::x".to_string(),
        ],
    );
    let errors = Resolver::new(&cfg.ha_dir, Some(PathBuf::from(RESOURCE_D))).check_all(&cfg);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let text = errors[0].to_string();
    assert!(
        text.starts_with(&format!(
            "{}/haresources:3: resource NoSuchResource::x",
            tmp.s()
        )),
        "{text}"
    );
}

/// Writes an executable shell script.
fn write_script(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs one operation on the host (these scripts touch no network).
fn perform_here(inv: &Invocation, op: ScriptOp) -> ScriptOutcome {
    let out = Command::new(&inv.program)
        .args(inv.argv(op))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    interpret(
        inv.kind,
        op,
        out.status.code(),
        &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn init_scripts_and_legacy_ha_scripts_run_through_the_chain() {
    let tmp = TempDir::new("hci");
    let root = tmp.s();
    // An LSB init script managing a sleeping process: exit codes 0/3, localised words.
    write_script(
        &tmp.path.join("init.d/hbrsdemo"),
        &format!(
            "#!/bin/sh\nP={root}/demo.pid\n\
             alive() {{ [ -f $P ] && kill -0 $(cat $P) 2>/dev/null; }}\n\
             case $1 in\n\
             start) alive || {{ sleep 60 </dev/null >/dev/null 2>&1 & echo $! > $P; }} ;;\n\
             stop) alive && kill $(cat $P); rm -f $P ;;\n\
             status) alive && {{ echo 'läuft'; exit 0; }}; echo 'gestoppt'; exit 3 ;;\n\
             esac\nexit 0\n"
        ),
    );
    // A script written for the original: always exits 0, only its words count.
    write_script(
        &tmp.path.join("ha.d/resource.d/legacy"),
        &format!(
            "#!/bin/sh\nF={root}/legacy.on\n\
             case $1 in start) touch $F ;; stop) rm -f $F ;;\n\
             status) [ -f $F ] && echo 'legacy is running' || echo 'legacy is not running' ;;\n\
             esac\nexit 0\n"
        ),
    );
    let resolver = Resolver::new(&tmp.path.join("ha.d"), Some(PathBuf::from(RESOURCE_D)))
        .with_init_dir(tmp.path.join("init.d"))
        .with_systemd(None, vec![]);
    let demo = resolver.resolve(&resource("hbrsdemo")).unwrap();
    let legacy = resolver.resolve(&resource("legacy")).unwrap();
    assert_eq!(demo.kind, ScriptKind::InitScript);
    assert_eq!(legacy.kind, ScriptKind::HaResourceD);

    for inv in [&demo, &legacy] {
        assert_eq!(
            perform_here(inv, ScriptOp::Status),
            ScriptOutcome::NotRunning
        );
        assert_eq!(perform_here(inv, ScriptOp::Start), ScriptOutcome::Ok);
        assert_eq!(perform_here(inv, ScriptOp::Status), ScriptOutcome::Ok);
        assert_eq!(perform_here(inv, ScriptOp::Stop), ScriptOutcome::Ok);
        assert_eq!(
            perform_here(inv, ScriptOp::Stop),
            ScriptOutcome::Ok,
            "stop twice"
        );
        assert_eq!(
            perform_here(inv, ScriptOp::Status),
            ScriptOutcome::NotRunning
        );
    }
}
