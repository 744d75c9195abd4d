//! Loading the three files of an `ha.d` directory into one validated [`Config`].

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::error::{ConfigError, ConfigWarning, Diagnostics};
use super::model::Config;
use super::{authkeys, hacf, haresources};

/// A valid configuration and the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<ConfigWarning>,
}

/// The local node: `node` if given, else the first line of `<ha_dir>/nodeinfo`, else `uname -n`;
/// lower-cased.
pub fn local_node(ha_dir: &Path, node: Option<&str>) -> String {
    if let Some(n) = node {
        return n.trim().to_lowercase();
    }
    let from_file = super::file::read_config_file(&ha_dir.join("nodeinfo"))
        .ok()
        .and_then(|t| {
            String::from_utf8_lossy(&t)
                .lines()
                .next()
                .map(|l| l.trim().to_string())
        })
        .filter(|l| !l.is_empty());
    if let Some(n) = from_file {
        return n.to_lowercase();
    }
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
        .to_lowercase()
}

/// Reads and validates `ha.cf`, `authkeys` and `haresources` in `ha_dir`.
pub fn load(ha_dir: &Path, node: Option<&str>) -> Result<Loaded, Vec<ConfigError>> {
    let local = local_node(ha_dir, node);
    let mut diags = Diagnostics::default();
    let read = |name: &str, diags: &mut Diagnostics| {
        let path = ha_dir.join(name);
        match super::file::read_config_file(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                diags.error(&path, 0, "", e.to_string(), e.hint());
                None
            }
        }
    };
    let text = |b: Option<Vec<u8>>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
    let hacf_text = text(read("ha.cf", &mut diags));
    // authkeys stays bytes: a key is kept byte for byte.
    let keys_text = read("authkeys", &mut diags);
    let res_text = text(read("haresources", &mut diags));
    let keys_path = ha_dir.join("authkeys");
    if let Ok(meta) = std::fs::metadata(&keys_path) {
        authkeys::check_mode(&keys_path, meta.permissions().mode(), &mut diags);
    }
    match (hacf_text, keys_text, res_text) {
        (Some(h), Some(k), Some(r)) => parse_into(&h, &k, &r, ha_dir, &local, diags),
        _ => {
            sort_by_position(&mut diags);
            Err(diags.errors)
        }
    }
}

/// Builds a configuration from the three texts (no file access except interface and
/// /etc/services look-ups; no file-mode check). For tests and the simulator.
pub fn parse_texts(
    hacf: &str,
    authkeys: &str,
    haresources: &str,
    ha_dir: &Path,
    local: &str,
) -> Result<Loaded, Vec<ConfigError>> {
    parse_into(
        hacf,
        authkeys.as_bytes(),
        haresources,
        ha_dir,
        &local.to_lowercase(),
        Diagnostics::default(),
    )
}

fn parse_into(
    hacf_text: &str,
    keys_text: &[u8],
    res_text: &str,
    ha_dir: &Path,
    local: &str,
    mut diags: Diagnostics,
) -> Result<Loaded, Vec<ConfigError>> {
    let ha = hacf::parse(hacf_text, &ha_dir.join("ha.cf"), local, &mut diags);
    let keys = authkeys::parse_bytes(keys_text, &ha_dir.join("authkeys"), &mut diags);
    let groups = haresources::parse(res_text, &ha_dir.join("haresources"), &ha.nodes, &mut diags);
    let mut ha = ha;
    for (line, message, hint) in super::monitoring::resolve(&mut ha.monitoring, &groups) {
        let text = hacf_text.lines().nth(line.saturating_sub(1)).unwrap_or("");
        diags.error(&ha_dir.join("ha.cf"), line, text, message, &hint);
    }
    sort_by_position(&mut diags);
    let peer = ha.nodes.iter().find(|n| *n != local).cloned();
    match (keys, peer) {
        (Some(keys), Some(peer)) if diags.errors.is_empty() => Ok(Loaded {
            config: super::model::Config {
                ha_dir: ha_dir.to_path_buf(),
                ha,
                keys,
                groups,
                local: local.to_string(),
                peer,
            },
            warnings: diags.warnings,
        }),
        _ => {
            if diags.errors.is_empty() {
                diags.error(
                    &ha_dir.join("ha.cf"),
                    0,
                    "",
                    "configuration incomplete".into(),
                    "",
                );
            }
            Err(diags.errors)
        }
    }
}

/// Orders diagnostics by file (ha.cf, authkeys, haresources) then line, so they read top-down.
fn sort_by_position(diags: &mut Diagnostics) {
    fn rank(f: &Path) -> usize {
        match f.file_name().and_then(|n| n.to_str()) {
            Some("ha.cf") => 0,
            Some("authkeys") => 1,
            Some("haresources") => 2,
            _ => 3,
        }
    }
    diags.errors.sort_by_key(|e| (rank(&e.file), e.line));
    diags.warnings.sort_by_key(|w| (rank(&w.file), w.line));
}
