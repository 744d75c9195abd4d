//! Typed configuration diagnostics: every error and warning names its file, line and text.

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem that stops the configuration from being used. Displayed as
/// `FILE:LINE: message (hint)`; line 0 means the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the whole file (e.g. a missing directive).
    pub line: usize,
    /// The offending line as written (empty for whole-file problems).
    pub text: String,
    pub message: String,
    /// How to fix it (may be empty).
    pub hint: String,
}

/// Something suspicious that does not stop the configuration from being used. Displayed as
/// `FILE:LINE: warning: message (hint)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub file: PathBuf,
    pub line: usize,
    pub text: String,
    pub message: String,
    pub hint: String,
}

fn write_diag(
    f: &mut fmt::Formatter<'_>,
    file: &Path,
    line: usize,
    message: &str,
    hint: &str,
) -> fmt::Result {
    write!(f, "{}:{}: {}", file.display(), line, message)?;
    if !hint.is_empty() {
        write!(f, " ({hint})")?;
    }
    Ok(())
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_diag(f, &self.file, self.line, &self.message, &self.hint)
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = format!("warning: {}", self.message);
        write_diag(f, &self.file, self.line, &message, &self.hint)
    }
}

impl std::error::Error for ConfigError {}

/// Collects the errors and warnings of one parse, so a parser reports every problem at once.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigWarning>,
}

impl Diagnostics {
    pub fn error(&mut self, file: &Path, line: usize, text: &str, message: String, hint: &str) {
        self.errors.push(ConfigError {
            file: file.to_path_buf(),
            line,
            text: text.to_string(),
            message,
            hint: hint.to_string(),
        });
    }

    pub fn warn(&mut self, file: &Path, line: usize, text: &str, message: String, hint: &str) {
        self.warnings.push(ConfigWarning {
            file: file.to_path_buf(),
            line,
            text: text.to_string(),
            message,
            hint: hint.to_string(),
        });
    }
}
