//! `cl_status`: the original's sub-commands, outputs and exit codes (spec §11), over the control
//! socket. The logic is a pure function of the arguments and a request closure so it is tested
//! without a daemon.
//!
//! Exit codes: 0 OK, 1 normal failure (down, unknown parameter, cannot sign on), 11 usage or
//! unknown node, 12 timeout, 13 other error (unknown link).

use super::client::{ClientError, Report, parse_report};

/// What the command prints and returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Outcome {
    fn ok(stdout: String) -> Outcome {
        Outcome {
            stdout,
            stderr: String::new(),
            code: 0,
        }
    }
    fn fail(code: i32, stderr: String) -> Outcome {
        Outcome {
            stdout: String::new(),
            stderr,
            code,
        }
    }
}

pub const USAGE: &str = "Usage: cl_status <sub-command> [<options>] [<parameters>]\n\
Sub-commands: hbstatus [-m] [-v], listnodes [-m] [-n|-p|-v], nodestatus [-m] <node>,\n\
  nodetype [-m] <node>, nodeweight <node>, nodesite <node>, listhblinks [-m] [-v] <node>,\n\
  hblinkstatus [-m] <node> <link>, clientstatus [-m] <node> <client> [<timeout>],\n\
  rscstatus [-m], hbparameter [-m] -p <name>, drops, json (heartbeat-rs)\n\
Global options: --run-dir DIR\n";

struct Flags {
    human: bool,
    verbose: bool,
    normal_only: bool,
    ping_only: bool,
    param: Option<String>,
    words: Vec<String>,
}

fn parse_flags(args: &[String]) -> Result<Flags, String> {
    let mut f = Flags {
        human: false,
        verbose: false,
        normal_only: false,
        ping_only: false,
        param: None,
        words: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-m" => f.human = true,
            "-v" => f.verbose = true,
            "-n" => f.normal_only = true,
            "-p" => match it.next() {
                // `hbparameter -p NAME`; `listnodes -p` takes no value.
                Some(v) if !v.starts_with('-') => {
                    f.param = Some(v.clone());
                    f.ping_only = true;
                }
                Some(v) => return Err(format!("unexpected option {v}")),
                None => f.ping_only = true,
            },
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s}")),
            w => f.words.push(w.to_string()),
        }
    }
    Ok(f)
}

/// The full help, printed (exit 0) for no arguments or `-h`/`--help`, as the original does.
pub const HELP: &str = "Usage: cl_status <sub-command> [<options>] [<parameters>]

Sub-commands:
clientstatus <node-name> <client-id> [<timeout>]
\tShow the status of heartbeat clients.
hblinkstatus <node-name> <link-name>
\tShow the status of a heartbeat link.
hbstatus
\tIndicate if heartbeat is running on the local system.
\tOptions: -v  also list the nodes (listnodes -v)
listnodes [<option>]
\tList the nodes in the cluster.
\tOptions: -p  only ping nodes; -n  only normal nodes; -v  with type, status and links
listhblinks <node-name>
\tList the interfaces used as heartbeat links.
\tOptions: -v  with their status
nodestatus <node-name>
\tShow the status of a node.
nodeweight <node-name>
\tShow the weight of a node.
nodesite <node-name>
\tShow the site of a node.
nodetype <node-name>
\tShow the type of a node (normal or ping).
rscstatus
\tShow the status of the cluster resources on this node.
hbparameter -p <parameter-name>
\tShow the value of a cluster parameter (ha.cf directive).
drops
\tShow the dropped heartbeat packets by reason and medium (heartbeat-rs).
rscfail [--clear [RESOURCE]]
\tShow the monitored resources: state, failures, restarts within the window, whether the
\tgroup failed here, the last failure (heartbeat-rs). --clear forgets failures and the
\tfailed-here mark (of RESOURCE's group, or of all) and starts a group monitoring stopped.
json
\tEverything above as one JSON object, plus resource failures, the last failover and its
\ttimeline, and the respawn clients (heartbeat-rs).

Options of every sub-command: -m  human-readable output; --run-dir DIR  the daemon's run directory.
";

/// Runs `cl_status` with its arguments (program name and `--run-dir` already removed).
pub fn run(args: &[String], mut ask: impl FnMut(&str) -> Result<String, ClientError>) -> Outcome {
    let Some((cmd, rest)) = args.split_first() else {
        return Outcome::ok(HELP.to_string());
    };
    if cmd == "-h" || cmd == "--help" || cmd == "help" {
        return Outcome::ok(HELP.to_string());
    }
    if cmd == "rscfail" {
        return rscfail(rest, &mut ask);
    }
    let f = match parse_flags(rest) {
        Ok(f) => f,
        Err(e) => return Outcome::fail(11, format!("cl_status: {e}\n{USAGE}")),
    };
    let arity = match cmd.as_str() {
        "hbstatus" | "listnodes" | "rscstatus" | "hbparameter" | "drops" | "json" => 0,
        "nodestatus" | "nodetype" | "nodeweight" | "nodesite" | "listhblinks" => 1,
        "hblinkstatus" => 2,
        "clientstatus" => 2,
        _ => return Outcome::fail(11, format!("cl_status: unknown sub-command {cmd}\n{USAGE}")),
    };
    let extra_ok = cmd == "clientstatus" && f.words.len() == 3;
    if f.words.len() != arity && !extra_ok {
        return Outcome::fail(11, format!("cl_status: wrong number of arguments\n{USAGE}"));
    }
    if cmd == "hbparameter" && f.param.is_none() {
        return Outcome::fail(11, format!("cl_status: hbparameter needs -p NAME\n{USAGE}"));
    }

    if cmd == "json" {
        return match ask("json") {
            Ok(t) => match t.strip_prefix("OK\n") {
                Some(body) => Outcome::ok(body.to_string()),
                None => Outcome::fail(13, format!("cl_status: {}\n", t.trim_end())),
            },
            Err(e) => unreachable_daemon(cmd, e),
        };
    }
    let report = match ask("status").and_then(|t| {
        parse_report(&t).ok_or_else(|| ClientError::Io("malformed status answer".to_string()))
    }) {
        Ok(r) => r,
        Err(e) => return unreachable_daemon(cmd, e),
    };

    match cmd.as_str() {
        "hbstatus" => hbstatus(&report, &f),
        // Not in the original: every dropped datagram, `KIND<TAB>MEDIUM<TAB>COUNT` (crate::daemon::guard).
        "drops" => Outcome::ok(crate::core::intake::drops::render(
            &report
                .drops_on
                .iter()
                .map(|(k, m, n)| (format!("{k}@{m}"), n.parse().unwrap_or(0)))
                .collect::<Vec<_>>(),
        )),
        "listnodes" => Outcome::ok(listnodes(&report, &f)),
        "rscstatus" => {
            let x = &report.rscstatus;
            Outcome::ok(if f.human {
                format!("This node is holding {x} resources.\n")
            } else {
                format!("{x}\n")
            })
        }
        "hbparameter" => {
            let name = f.param.unwrap_or_default();
            match ask(&format!("param {name}")) {
                Ok(t) => match t.strip_prefix("OK\t") {
                    Some(v) => {
                        let v = v.trim_end_matches('\n');
                        Outcome::ok(if f.human {
                            format!("Heartbeat parameter {name}'s value: {v}\n")
                        } else {
                            format!("{v}\n")
                        })
                    }
                    None => Outcome::fail(1, format!("cl_status: unknown parameter {name}\n")),
                },
                Err(e) => unreachable_daemon(cmd, e),
            }
        }
        _ => node_command(cmd, &report, &f),
    }
}

/// `cl_status rscfail [-m] [--clear [RESOURCE]]`.
fn rscfail(rest: &[String], ask: &mut impl FnMut(&str) -> Result<String, ClientError>) -> Outcome {
    let human = rest.iter().any(|a| a == "-m");
    let words: Vec<&str> = rest
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "-m")
        .collect();
    let request = match words.as_slice() {
        [] => "rscfail".to_string(),
        ["--clear"] => "rscclear".to_string(),
        ["--clear", r] if !r.starts_with('-') => format!("rscclear {r}"),
        _ => {
            return Outcome::fail(
                11,
                format!("cl_status: usage: rscfail [-m] [--clear [RESOURCE]]\n{USAGE}"),
            );
        }
    };
    let answer = match ask(&request) {
        Ok(t) => t,
        Err(e) => return unreachable_daemon("rscfail", e),
    };
    if let Some(text) = answer.strip_prefix("OK ") {
        return Outcome::ok(format!("{}\n", text.trim_end()));
    }
    let Some(body) = answer.strip_prefix("OK\n") else {
        return Outcome::fail(1, format!("cl_status: {}\n", answer.trim_end()));
    };
    if !human {
        return Outcome::ok(body.to_string());
    }
    if body.is_empty() {
        return Outcome::ok("No resource is monitored (see monitor in ha.cf).\n".to_string());
    }
    let mut out = String::new();
    for line in body.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [res, state, failures, restarts, mark, when, why] = f.as_slice() else {
            continue;
        };
        out.push_str(&format!(
            "{res}: {state}; {failures} failure(s), {restarts} restarts in the window"
        ));
        if *mark != "-" {
            out.push_str("; failed here (kept away from this node)");
        }
        if *when != "-" {
            let secs = when.parse::<i64>().unwrap_or(0);
            out.push_str(&format!(
                "; last: {} ({why})",
                crate::daemon::logging::timestamp(secs)
            ));
        }
        out.push('\n');
    }
    Outcome::ok(out)
}

fn unreachable_daemon(cmd: &str, e: ClientError) -> Outcome {
    let code = match e {
        ClientError::Timeout => 12,
        ClientError::NotRunning | ClientError::Refused(_) => 1,
        ClientError::Io(_) => 13,
    };
    if cmd == "hbstatus" && e == ClientError::NotRunning {
        return Outcome {
            stdout: "Heartbeat is stopped on this machine.\n".to_string(),
            stderr: String::new(),
            code: 1,
        };
    }
    Outcome::fail(
        code,
        error_line(&format!("Cannot signon with heartbeat: {e}")),
    )
}

/// `<date> <node> cl_status: [<pid>]: ERROR: <msg>`.
fn error_line(msg: &str) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    format!(
        "{}\n",
        crate::daemon::logging::format_line(
            &crate::daemon::logging::timestamp(secs),
            &host,
            "cl_status",
            std::process::id(),
            "ERROR",
            msg
        )
    )
}

fn hbstatus(r: &Report, f: &Flags) -> Outcome {
    if !f.verbose {
        return Outcome::ok("Heartbeat is running on this machine.\n".to_string());
    }
    let mut s = if f.human {
        format!(
            "Heartbeat version {} (node: {})\nResources controlled by \"haresources\"\n",
            r.version, r.uuid
        )
    } else {
        format!(
            "version:\t{} (node: {})\nmanaged by:\t\"haresources\"\n",
            r.version, r.uuid
        )
    };
    s.push('\n');
    s.push_str(&listnodes_verbose(r));
    Outcome::ok(s)
}

fn listnodes(r: &Report, f: &Flags) -> String {
    if f.verbose {
        return listnodes_verbose(r);
    }
    let mut s = String::new();
    if f.human {
        s.push_str("The nodes are as follow:\n");
    }
    for n in r.nodes.iter().rev() {
        let ping = n.node_type == "ping";
        if (f.normal_only && ping) || (f.ping_only && !ping) {
            continue;
        }
        s.push_str(&n.name);
        s.push('\n');
    }
    s
}

fn listnodes_verbose(r: &Report) -> String {
    let mut s = String::new();
    for n in r.nodes.iter().rev() {
        s.push_str(&format!(
            "\n{}\t{}\t(nodetype: {})\n",
            n.name, n.status, n.node_type
        ));
        for (l, st) in &n.links {
            s.push_str(&format!("\t{l}\t{st}\n"));
        }
    }
    s
}

fn node_command(cmd: &str, r: &Report, f: &Flags) -> Outcome {
    let wanted = f.words[0].to_lowercase();
    let Some(node) = r.nodes.iter().find(|n| n.name == wanted) else {
        return Outcome::fail(11, "Error. May be due to incorrect node name\n".to_string());
    };
    let name = &f.words[0];
    match cmd {
        "nodestatus" => {
            let st = &node.status;
            let code = if matches!(st.as_str(), "active" | "up" | "ping") {
                0
            } else {
                1
            };
            Outcome {
                stdout: if f.human {
                    format!("The cluster node {name} is {st}\n")
                } else {
                    format!("{st}\n")
                },
                stderr: String::new(),
                code,
            }
        }
        "nodetype" => Outcome::ok(if f.human {
            format!("The node {name}'s type: {}\n", node.node_type)
        } else {
            format!("{}\n", node.node_type)
        }),
        "nodeweight" => Outcome::ok("100\n".to_string()),
        "nodesite" => Outcome::ok("\n".to_string()),
        "listhblinks" => {
            let mut s = String::new();
            if f.human {
                s.push_str("\tthis node has the following heartbeat links:\n");
            }
            for (l, st) in &node.links {
                if f.verbose {
                    s.push_str(&format!("\t{l}\t{st}\n"));
                } else {
                    s.push_str(&format!("\t{l}\n"));
                }
            }
            Outcome::ok(s)
        }
        "hblinkstatus" => {
            let link = &f.words[1];
            match node.links.iter().find(|(l, _)| l == link) {
                Some((_, st)) => Outcome {
                    stdout: if f.human {
                        format!("The node {name}'s heartbeat link {link} is {st}\n")
                    } else {
                        format!("{st}\n")
                    },
                    stderr: String::new(),
                    code: if st == "up" { 0 } else { 1 },
                },
                None => Outcome::fail(
                    13,
                    error_line(&format!("Unknown link {link} of node {name}")),
                ),
            }
        }
        // No API clients exist in this implementation: every client is offline.
        "clientstatus" => Outcome {
            stdout: "offline\n".to_string(),
            stderr: String::new(),
            code: 1,
        },
        _ => Outcome::fail(11, USAGE.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "OK\nversion\t0.1.0\nlocal\tnodea\nuuid\tu\ngeneration\t5\nrscstatus\tall\n\
        node\tnodea\tnormal\tactive\nlink\tnodea\teth1\tup\nnode\tnodeb\tnormal\tdead\n\
        link\tnodeb\teth1\tdead\nnode\t192.0.2.254\tping\tping\nlink\t192.0.2.254\tping\tup\nEND\n";

    fn cl(args: &[&str]) -> Outcome {
        let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        run(&a, |req| match req {
            "status" => Ok(STATUS.to_string()),
            "param deadtime" => Ok("OK\t2\n".to_string()),
            _ => Ok("ERR unknown parameter\n".to_string()),
        })
    }

    #[test]
    fn outputs_and_exit_codes_follow_the_original() {
        assert_eq!(
            cl(&["hbstatus"]).stdout,
            "Heartbeat is running on this machine.\n"
        );
        assert_eq!(cl(&["listnodes"]).stdout, "192.0.2.254\nnodeb\nnodea\n");
        assert_eq!(cl(&["listnodes", "-n"]).stdout, "nodeb\nnodea\n");
        assert_eq!(cl(&["listnodes", "-p"]).stdout, "192.0.2.254\n");
        assert!(
            cl(&["listnodes", "-v"])
                .stdout
                .contains("\nnodeb\tdead\t(nodetype: normal)\n\teth1\tdead\n")
        );
        let a = cl(&["nodestatus", "nodea"]);
        assert_eq!((a.stdout.as_str(), a.code), ("active\n", 0));
        let b = cl(&["nodestatus", "-m", "nodeb"]);
        assert_eq!(
            (b.stdout.as_str(), b.code),
            ("The cluster node nodeb is dead\n", 1)
        );
        assert_eq!(cl(&["nodestatus", "nodex"]).code, 11);
        assert_eq!(cl(&["nodetype", "192.0.2.254"]).stdout, "ping\n");
        assert_eq!(cl(&["listhblinks", "nodea"]).stdout, "\teth1\n");
        let l = cl(&["hblinkstatus", "nodeb", "eth1"]);
        assert_eq!((l.stdout.as_str(), l.code), ("dead\n", 1));
        assert_eq!(cl(&["hblinkstatus", "nodeb", "eth9"]).code, 13);
        assert_eq!(
            cl(&["rscstatus", "-m"]).stdout,
            "This node is holding all resources.\n"
        );
        assert_eq!(cl(&["hbparameter", "-p", "deadtime"]).stdout, "2\n");
        assert_eq!(cl(&["hbparameter", "-p", "nosuch"]).code, 1);
        assert_eq!(cl(&["bogus"]).code, 11);
        assert_eq!(cl(&["nodestatus"]).code, 11);
        // No arguments or -h: the whole help on stdout, exit 0, as the original.
        let help = cl(&[]);
        assert_eq!((help.code, help.stdout.contains("rscstatus")), (0, true));
        assert_eq!(cl(&["-h"]).code, 0);
    }

    #[test]
    fn daemon_down_timeouts_and_refusals() {
        let args = vec!["hbstatus".to_string()];
        let o = run(&args, |_| Err(ClientError::NotRunning));
        assert_eq!(
            (o.stdout.as_str(), o.code),
            ("Heartbeat is stopped on this machine.\n", 1)
        );
        let args = vec!["rscstatus".to_string()];
        assert_eq!(run(&args, |_| Err(ClientError::Timeout)).code, 12);
        let o = run(&args, |_| Err(ClientError::Refused("uid 65534".into())));
        assert_eq!(o.code, 1);
        assert!(
            o.stderr
                .contains("ERROR: Cannot signon with heartbeat: permission denied")
        );
    }
}
