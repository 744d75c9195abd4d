//! `ldirectord.cf`: the LVS director's file (virtual services, real servers, checks), read with
//! ldirectord's grammar so an existing file works unchanged.

pub mod model;
mod parse;

use std::path::{Path, PathBuf};

pub use model::*;
pub use parse::{parse, port_of};

use crate::config::error::{ConfigError, ConfigWarning, Diagnostics};
use crate::config::file::read_config_file;

/// Where a haresources argument such as `ldirectord.cf` is looked up, as ldirectord does: an
/// absolute path as is, else `HA_DIR/NAME`, then `HA_DIR/conf/NAME`.
pub fn locate(name: &str, ha_dir: &Path) -> PathBuf {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    let direct = ha_dir.join(p);
    if direct.exists() {
        return direct;
    }
    let conf = ha_dir.join("conf").join(p);
    if conf.exists() { conf } else { direct }
}

/// Reads and parses a file: the configuration and its warnings, or every error found.
pub fn load(path: &Path) -> Result<(DirectorConfig, Vec<ConfigWarning>), Vec<ConfigError>> {
    let bytes = read_config_file(path).map_err(|e| {
        vec![ConfigError {
            file: path.to_path_buf(),
            line: 0,
            text: String::new(),
            message: format!("cannot read: {e}"),
            hint: e.hint().to_string(),
        }]
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let mut diag = Diagnostics::default();
    let config = parse(path, &text, &mut diag);
    if diag.errors.is_empty() {
        Ok((config, diag.warnings))
    } else {
        Err(diag.errors)
    }
}
