//! Entry points of the small binaries (`cl_status`, `hb_standby`, `hb_takeover`): argument
//! plumbing (`--run-dir`, `--wait`) and printing; the logic is in `clstatus` and `admin`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::admin::{self, AdminKind};
use super::clstatus::{self, Outcome};

/// Default run dir (where the control socket lives).
pub const DEFAULT_RUN_DIR: &str = "/run/heartbeat";
/// cl_status gives up after this long (the original's 5 s alarm, exit 12).
const STATUS_LIMIT: Duration = Duration::from_secs(5);
/// hb_standby / hb_takeover wait this long for the outcome by default.
const ADMIN_LIMIT: Duration = Duration::from_secs(60);

struct Common {
    run_dir: PathBuf,
    wait: Option<Duration>,
    rest: Vec<String>,
}

fn split_common(args: Vec<String>) -> Result<Common, String> {
    let mut c = Common {
        run_dir: PathBuf::from(DEFAULT_RUN_DIR),
        wait: None,
        rest: Vec::new(),
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--run-dir" => c.run_dir = PathBuf::from(it.next().ok_or("--run-dir needs a value")?),
            "--wait" => {
                let v = it.next().ok_or("--wait needs a value")?;
                let secs: u64 = v.parse().map_err(|_| format!("bad --wait value {v}"))?;
                c.wait = Some(Duration::from_secs(secs));
            }
            _ => c.rest.push(a),
        }
    }
    Ok(c)
}

fn print(o: &Outcome) -> i32 {
    let _ = std::io::stdout().write_all(o.stdout.as_bytes());
    let _ = std::io::stderr().write_all(o.stderr.as_bytes());
    o.code
}

fn program_name(default: &str) -> String {
    std::env::args()
        .next()
        .as_deref()
        .and_then(|p| p.rsplit('/').next().map(str::to_string))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// `cl_status` main.
pub fn cl_status_main() -> i32 {
    let c = match split_common(std::env::args().skip(1).collect()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cl_status: {e}\n{}", clstatus::USAGE);
            return 11;
        }
    };
    let limit = c.wait.unwrap_or(STATUS_LIMIT);
    let out = clstatus::run(&c.rest, |req| {
        super::client::request(&c.run_dir, req, limit)
    });
    print(&out)
}

/// `hb_standby` / `hb_takeover` main.
pub fn admin_main(kind: AdminKind) -> i32 {
    let prog = program_name(match kind {
        AdminKind::Standby => "hb_standby",
        AdminKind::Takeover => "hb_takeover",
    });
    let c = match split_common(std::env::args().skip(1).collect()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{prog}: {e}");
            return 1;
        }
    };
    let limit = c.wait.unwrap_or(ADMIN_LIMIT);
    let out = admin::run(kind, &prog, &c.rest, |req| {
        super::client::request(&c.run_dir, req, limit)
    });
    print(&out)
}
