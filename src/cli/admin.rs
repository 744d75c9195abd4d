//! `hb_standby` / `hb_takeover`: the original's arguments, messages and usage (spec §7.1), but
//! they wait (bounded) for the daemon's answer and report it: exit 0 when done, 1 when refused,
//! not running, or on a bad argument (spec §13.21).

use super::client::ClientError;
use super::clstatus::Outcome;

/// Which command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminKind {
    Standby,
    Takeover,
}

impl AdminKind {
    fn verb(self) -> &'static str {
        match self {
            AdminKind::Standby => "standby",
            AdminKind::Takeover => "takeover",
        }
    }
}

fn usage(prog: &str) -> (String, String) {
    let fenced = if prog.ends_with("hb_takeover") {
        format!("{prog} --fenced NODE   (NODE is down: take over without waiting for its fence)\n")
    } else {
        String::new()
    };
    (
        "usage:\n".to_string(),
        format!("{prog} [all|foreign|local|failback]\n{fenced}"),
    )
}

/// Runs the command (program name and `--run-dir` already removed).
pub fn run(
    kind: AdminKind,
    prog: &str,
    args: &[String],
    ask: impl FnOnce(&str) -> Result<String, ClientError>,
) -> Outcome {
    let bad = |first: String| {
        let (out, err) = usage(prog);
        Outcome {
            stdout: format!("{first}{out}"),
            stderr: err,
            code: 1,
        }
    };
    if kind == AdminKind::Takeover
        && let [flag, node] = args
        && flag == "--fenced"
    {
        return answer(
            prog,
            format!("Confirming that {node} is down.\n"),
            ask(&format!("fenced {node}")),
        );
    }
    let word = match args {
        [] => "all",
        [w] if matches!(w.as_str(), "all" | "foreign" | "local" | "failback") => w.as_str(),
        [w] if w == "--help" || w == "-h" => return bad(String::new()),
        [w] => return bad(format!("{prog}: wrong resources({w}).\n")),
        _ => return bad(format!("{prog}: too many arguments\n")),
    };
    let going = match kind {
        AdminKind::Standby => format!("Going standby [{word}].\n"),
        AdminKind::Takeover => format!("Taking over [{word}].\n"),
    };
    answer(prog, going, ask(&format!("{} {word}", kind.verb())))
}

/// Prints the daemon's answer after `going`: exit 0 on `OK`, 1 otherwise.
fn answer(prog: &str, going: String, reply: Result<String, ClientError>) -> Outcome {
    match reply {
        Ok(answer) => {
            let answer = answer.trim_end();
            if let Some(text) = answer.strip_prefix("OK") {
                Outcome {
                    stdout: format!("{going}{}\n", text.trim_start()),
                    stderr: String::new(),
                    code: 0,
                }
            } else {
                let why = answer.strip_prefix("ERR").unwrap_or(answer).trim_start();
                Outcome {
                    stdout: going,
                    stderr: format!("{prog}: refused: {why}\n"),
                    code: 1,
                }
            }
        }
        Err(e) => Outcome {
            stdout: String::new(),
            stderr: format!("{prog}: {e}\n"),
            code: 1,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn bad_words_and_too_many_arguments() {
        let o = run(
            AdminKind::Standby,
            "hb_standby",
            &s(&["some"]),
            |_| unreachable!(),
        );
        assert_eq!(o.code, 1);
        assert_eq!(o.stdout, "hb_standby: wrong resources(some).\nusage:\n");
        assert_eq!(o.stderr, "hb_standby [all|foreign|local|failback]\n");
        let o = run(
            AdminKind::Takeover,
            "hb_takeover",
            &s(&["a", "b"]),
            |_| unreachable!(),
        );
        assert!(o.stdout.starts_with("hb_takeover: too many arguments\n"));
        assert_eq!(o.code, 1);
        assert_eq!(
            run(
                AdminKind::Standby,
                "hb_standby",
                &s(&["--help"]),
                |_| unreachable!()
            )
            .code,
            1
        );
    }

    #[test]
    fn takeover_fenced_confirms_a_node_down() {
        let o = run(
            AdminKind::Takeover,
            "hb_takeover",
            &s(&["--fenced", "nodeb"]),
            |req| {
                assert_eq!(req, "fenced nodeb");
                Ok("OK nodeb confirmed down: taking over\n".into())
            },
        );
        assert_eq!(o.code, 0, "{o:?}");
        assert!(o.stdout.starts_with("Confirming that nodeb is down.\n"));
        let o = run(
            AdminKind::Standby,
            "hb_standby",
            &s(&["--fenced", "nodeb"]),
            |_| unreachable!(),
        );
        assert_eq!(o.code, 1, "only hb_takeover knows --fenced");
    }

    #[test]
    fn default_is_all_and_outcome_sets_the_exit_code() {
        let o = run(AdminKind::Standby, "hb_standby", &[], |req| {
            assert_eq!(req, "standby all");
            Ok("OK standby done\n".into())
        });
        assert_eq!(o.code, 0);
        assert!(o.stdout.contains("standby done"));
        let o = run(
            AdminKind::Takeover,
            "hb_takeover",
            &s(&["failback"]),
            |req| {
                assert_eq!(req, "takeover failback");
                Ok("ERR peer is dead\n".into())
            },
        );
        assert_eq!(o.code, 1);
        assert_eq!(o.stderr, "hb_takeover: refused: peer is dead\n");
        let o = run(AdminKind::Standby, "hb_standby", &[], |_| {
            Err(ClientError::NotRunning)
        });
        assert_eq!(o.code, 1);
    }
}
