//! ldirectord.cf: what the director reads, and every broken file told with its line.

use std::path::Path;

use heartbeat::config::Diagnostics;
use heartbeat::config::ldirectord::{CheckType, Forward, Service, VirtualAddr, parse};

fn read(text: &str) -> (heartbeat::config::ldirectord::DirectorConfig, Diagnostics) {
    let mut d = Diagnostics::default();
    let c = parse(Path::new("/etc/ha.d/ldirectord.cf"), text, &mut d);
    (c, d)
}

fn errors(text: &str) -> Vec<String> {
    read(text)
        .1
        .errors
        .iter()
        .map(ToString::to_string)
        .collect()
}

const SAMPLE: &str = "\
# Global Directives
checktimeout=3
checkinterval=1
autoreload=yes
quiescent=yes

virtual=192.0.2.10:80
\treal=198.51.100.2:80 gate
\treal=198.51.100.3:80 masq 5
        real=198.51.100.4->198.51.100.6 ipip 2 \"/alive\", \"^OK\"
\tfallback=127.0.0.1:80 masq
\tservice=http
\trequest=\"index.html\"
\treceive=\"Test Page\"
\tvirtualhost=www.example.org
\tscheduler=rr
\tprotocol=tcp
\tchecktype=negotiate

virtual=192.0.2.10:53
\treal=198.51.100.2 gate
\trequest=\"www.example.org\"
\treceive=\"192.0.2\"

virtual=7
\treal=198.51.100.2:443 gate
\tchecktype=3
\tservice=https
\tcheckport=443
\tfailurecount=2
\tnegotiatetimeout=10
\tquiescent=no
";

#[test]
fn the_sample_of_ldirectord_reads_as_ldirectord_reads_it() {
    let (c, d) = read(SAMPLE);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert!(c.globals.autoreload);
    assert_eq!(c.virtuals.len(), 3);
    let web = &c.virtuals[0];
    assert_eq!(web.reals.len(), 5, "a range of three plus two");
    assert_eq!(web.reals[0].target.forward, Forward::Gate);
    assert_eq!(web.reals[1].target.weight, 5);
    assert_eq!(web.reals[4].target.addr.to_string(), "198.51.100.6");
    assert_eq!(web.reals[4].request.as_deref(), Some("/alive"));
    assert_eq!(
        web.request, "/index.html",
        "a leading / is added, as ldirectord does"
    );
    assert_eq!(web.checkinterval, 1000);
    assert_eq!(web.checktimeout, 3000);
    assert_eq!(web.negotiatetimeout, 3000, "falls back to checktimeout");
    assert!(web.quiescent);
    assert_eq!(web.fallback.as_ref().unwrap().forward, Forward::Masq);
    assert_eq!(web.virtualhost.as_deref(), Some("www.example.org"));
    let dns = &c.virtuals[1];
    assert_eq!(dns.protocol.name(), "udp", "port 53 is UDP by default");
    assert_eq!(dns.service, Service::Dns, "and DNS from its port");
    let fwm = &c.virtuals[2];
    assert_eq!(fwm.addr, VirtualAddr::Fwmark(7));
    assert_eq!(fwm.checktype, CheckType::Combined(3));
    assert_eq!(fwm.failurecount, 2);
    assert_eq!(fwm.negotiatetimeout, 10_000);
    assert!(!fwm.quiescent);
}

#[test]
fn broken_files_name_the_line_and_the_fix() {
    let cases: &[(&str, &str)] = &[
        (
            "checkintervall=5\n",
            "ldirectord.cf:1: unknown directive 'checkintervall' outside a virtual= section (did you mean 'checkinterval'?)",
        ),
        (
            "virtual=192.0.2.10:80\n\treal=198.51.100.2:80 masq\n\tchektype=connect\n",
            "ldirectord.cf:3: unknown directive 'chektype' in a virtual= section (did you mean 'checktype'?)",
        ),
        (
            "virtual=192.0.2.10:80\n\treal=198.51.100.2:80 nat\n",
            "ldirectord.cf:2: forward method must be gate, masq or ipip",
        ),
        (
            "virtual=192.0.2.10:80\n\treal=198.51.100.2:80 masq\n\treceive=\"(unclosed\"\n",
            "ldirectord.cf:3: receive: invalid pattern",
        ),
        (
            "virtual=192.0.2.10:80\n\treal=198.51.100.2:80 masq\n\tservice=mysql\n",
            "ldirectord.cf:3: service=mysql is not supported by this director",
        ),
        (
            "virtual=192.0.2.10:80\n\treal=198.51.100.2:80 masq\n\tchecktype=sometimes\n",
            "ldirectord.cf:3: checktype 'sometimes' unknown",
        ),
        (
            "virtual=[2001:db8::1]:80\n",
            "ldirectord.cf:1: invalid virtual service '[2001:db8::1]:80' (an IPv6 service is written virtual6=[ADDRESS]:PORT)",
        ),
        (
            "virtual=192.0.2.10:80\n\treal6=[2001:db8::2]:80 masq\n",
            "ldirectord.cf:2: real6 in a virtual section",
        ),
        (
            "\treal=198.51.100.2:80 masq\n",
            "ldirectord.cf:1: 'real' is indented but no virtual= section is open",
        ),
        (
            "checktimeout=soon\n",
            "ldirectord.cf:1: checktimeout: 'soon' is not a positive time",
        ),
        (
            "virtual=192.0.2.10:80\n\treal=198.51.100.2:80 masq\nvirtual=192.0.2.10:80\n\treal=198.51.100.3:80 masq\n",
            "ldirectord.cf:3: virtual service tcp 192.0.2.10:80 is also defined at line 1",
        ),
        (
            "virtual=192.0.2.10:80\n\treal=198.51.100.2:80 masq\n\treal=198.51.100.2 masq\n",
            "ldirectord.cf:3: real server 198.51.100.2 is listed twice",
        ),
        (
            "virtual=192.0.2.10:80\n\treal=198.51.100.2:80 masq\n\tchecktype=external\n",
            "ldirectord.cf:1: checktype=external without checkcommand",
        ),
        (
            "virtual=192.0.2.10:80\n\treal=198.51.100.2:80 masq\n\tquiescent=maybe\n",
            "ldirectord.cf:3: quiescent must be yes or no",
        ),
        (
            "virtual=192.0.2.10:80\n\treal=198.51.100.9->198.51.100.2 masq\n",
            "ldirectord.cf:2: real server: invalid range",
        ),
        (
            "connecttimeout=5\n",
            "ldirectord.cf:1: connecttimeout is no longer a directive (use checktimeout and negotiatetimeout)",
        ),
        (
            "just some words\n",
            "ldirectord.cf:1: 'just some words' is not a directive",
        ),
    ];
    for (text, want) in cases {
        let errs = errors(text);
        assert!(
            errs.iter().any(|e| e.contains(want)),
            "for {text:?} wanted {want:?}, got {errs:?}"
        );
    }
}

#[test]
fn directives_read_but_not_acted_on_are_warnings_not_silence() {
    let (_, d) = read(
        "emailalert=\"root@example.org\"\nvirtual=192.0.2.10:3306\n\treal=198.51.100.2 masq\n",
    );
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let w: Vec<String> = d.warnings.iter().map(ToString::to_string).collect();
    assert!(
        w.iter()
            .any(|w| w.contains("emailalert is read and ignored")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.contains("port 3306 means service=mysql")),
        "{w:?}"
    );
}

#[test]
fn hostile_files_do_not_panic() {
    for text in [
        "virtual=\n",
        "virtual=:\n\treal=:\n",
        "virtual=192.0.2.10:99999\n",
        "virtual=192.0.2.10:80\n\treal=198.51.100.2:80 masq 99999999999\n",
        "virtual=192.0.2.10:80\n\treal=198.51.100.2:80 masq 1 \"a\n",
        "virtual=192.0.2.10:80\n\treal=0.0.0.0->255.255.255.255 masq\n",
        "=\n\t=\n",
        "virtual=4294967296\n",
        "\u{feff}virtual=192.0.2.10:80\n",
    ] {
        let _ = read(text);
    }
}
