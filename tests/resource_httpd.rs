//! resource.d/httpd with a real Debian Apache: a per-test configuration listening on a VIP
//! (added by IPaddr, as in the haresources chain) answers 200 after start and is gone after stop.
mod common;
use common::netns::*;
use std::time::Duration;

const HTTPD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/resource.d/httpd");
const IPADDR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/resource.d/IPaddr");
const MODULES: &str = "/usr/lib/apache2/modules";

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn apache_config(dir: &TempDir, listen: &str) -> String {
    let root = dir.s();
    std::fs::create_dir_all(dir.path.join("htdocs")).unwrap();
    std::fs::write(
        dir.path.join("htdocs/index.html"),
        "heartbeat-rs test page\n",
    )
    .unwrap();
    let conf = format!(
        "ServerRoot {root}\n\
         PidFile {root}/httpd.pid\n\
         DefaultRuntimeDir {root}\n\
         ErrorLog {root}/error.log\n\
         Listen {listen}\n\
         ServerName vip.test\n\
         LoadModule mpm_event_module {MODULES}/mod_mpm_event.so\n\
         LoadModule authz_core_module {MODULES}/mod_authz_core.so\n\
         LoadModule dir_module {MODULES}/mod_dir.so\n\
         User www-data\n\
         Group www-data\n\
         DocumentRoot {root}/htdocs\n\
         DirectoryIndex index.html\n\
         <Directory {root}/htdocs>\n  Require all granted\n</Directory>\n"
    );
    let path = dir.path.join("httpd.conf");
    std::fs::write(&path, conf).unwrap();
    sh(&format!(
        "chmod 755 {root} {root}/htdocs && chmod 644 {root}/htdocs/index.html"
    ));
    path.display().to_string()
}

fn pid_alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(s) => !s
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z')),
        Err(_) => false,
    }
}

#[test]
fn apache_on_the_vip_answers_after_start_and_is_gone_after_stop() {
    if !can_use_netns()
        || !run("command -v apache2ctl && command -v curl")
            .status
            .success()
        || !std::path::Path::new(MODULES)
            .join("mod_mpm_event.so")
            .exists()
    {
        eprintln!("skipped: needs root, Debian apache2 and curl");
        return;
    }
    let server = Netns::new("hws");
    let client = Netns::new("hwc");
    veth(&server, "e0", &client, "c0");
    server.sh("ip addr add 192.0.2.1/24 dev e0");
    client.sh("ip addr add 192.0.2.2/24 dev c0");
    let tmp = TempDir::new("hwt");
    let conf = apache_config(&tmp, "192.0.2.10:80");
    let env = format!("HA_RSCTMP={}", tmp.s());
    let get = || {
        client
            .sh("curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://192.0.2.10/ || true")
            .trim()
            .to_string()
    };

    assert_eq!(
        code(&server.run(&format!("{env} {IPADDR} 192.0.2.10/24/e0 start"))),
        0
    );
    let status = server.run(&format!("{HTTPD} {conf} status"));
    assert_eq!(code(&status), 3);
    assert!(String::from_utf8_lossy(&status.stdout).contains("stopped"));

    let out = server.run(&format!("{HTTPD} {conf} start"));
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    // start returned only once it answered: no waiting needed here.
    assert_eq!(get(), "200");
    let body = client.sh("curl -s --max-time 3 http://192.0.2.10/");
    assert_eq!(body, "heartbeat-rs test page\n");
    let status = server.run(&format!("{HTTPD} {conf} status"));
    assert_eq!(code(&status), 0);
    assert!(String::from_utf8_lossy(&status.stdout).contains("running"));
    let pid = std::fs::read_to_string(tmp.path.join("httpd.pid")).unwrap();
    let pid = pid.trim().to_string();
    assert!(pid_alive(&pid));
    assert_eq!(
        code(&server.run(&format!("{HTTPD} {conf} start"))),
        0,
        "start twice"
    );

    assert_eq!(code(&server.run(&format!("{HTTPD} {conf} stop"))), 0);
    assert!(!pid_alive(&pid), "apache pid {pid} still alive after stop");
    let gone = wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
        !server.sh("ss -ltn").contains("192.0.2.10:80")
    });
    assert!(gone, "something still listens on the VIP");
    assert_eq!(get(), "000");
    assert_eq!(
        code(&server.run(&format!("{HTTPD} {conf} stop"))),
        0,
        "stop twice"
    );
    assert_eq!(code(&server.run(&format!("{HTTPD} {conf} status"))), 3);
    assert_eq!(
        code(&server.run(&format!("{env} {IPADDR} 192.0.2.10/24/e0 stop"))),
        0
    );
}

#[test]
fn bad_configuration_and_missing_apache_use_lsb_codes() {
    let tmp = TempDir::new("hwb");
    let conf = tmp.path.join("broken.conf");
    std::fs::write(&conf, "NoSuchDirective here\n").unwrap();
    let conf = conf.display().to_string();
    if run("command -v apache2ctl").status.success() {
        assert_eq!(code(&run(&format!("{HTTPD} {conf} start"))), 6);
    }
    assert_eq!(
        code(&run(&format!(
            "HTTPD_BIN=/nonexistent/apachectl {HTTPD} {conf} start"
        ))),
        5
    );
    assert_eq!(code(&run(&format!("{HTTPD} {conf} reload"))), 1, "usage");
}
