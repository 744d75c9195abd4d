//! Reading a configuration file without trusting what sits at its path: only a regular file is
//! read (a FIFO would block the reader forever, `/dev/zero` would fill memory), and only up to
//! [`MAX_CONFIG_BYTES`]. The file is opened non-blocking so that even the open of a FIFO with no
//! writer returns at once.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Largest configuration file accepted. Real ha.cf/haresources/authkeys files are a few KiB.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Why a configuration file was not read.
#[derive(Debug)]
pub enum FileError {
    Io(std::io::Error),
    /// Not a regular file (the kind is named: FIFO, directory, device, socket).
    NotRegular(&'static str),
    /// Larger than [`MAX_CONFIG_BYTES`].
    TooLarge(u64),
}

impl FileError {
    /// What to do about it, for the error's hint.
    pub fn hint(&self) -> &'static str {
        match self {
            FileError::Io(_) => "",
            FileError::NotRegular(_) => "point it at a regular file",
            FileError::TooLarge(_) => "configuration files are a few KiB; is this the right file?",
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Io(e) => write!(f, "cannot read: {e}"),
            FileError::NotRegular(kind) => write!(f, "not a regular file but a {kind}"),
            FileError::TooLarge(n) => write!(
                f,
                "too large ({n} bytes or more; at most {MAX_CONFIG_BYTES} bytes)"
            ),
        }
    }
}

impl std::error::Error for FileError {}

/// Reads a configuration file (following symlinks) as bytes, within the limits above.
pub fn read_config_file(path: &Path) -> Result<Vec<u8>, FileError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)
        .map_err(FileError::Io)?;
    let meta = file.metadata().map_err(FileError::Io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let name = if kind.is_fifo() {
            "FIFO"
        } else if kind.is_dir() {
            "directory"
        } else if kind.is_char_device() {
            "character device"
        } else if kind.is_block_device() {
            "block device"
        } else if kind.is_socket() {
            "socket"
        } else {
            "special file"
        };
        return Err(FileError::NotRegular(name));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(FileError::TooLarge(meta.len()));
    }
    // The file may grow while we read: never take more than the limit.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(FileError::Io)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(FileError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("hbcfgfile-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_regular_file_is_read() {
        let d = temp_dir("reg");
        std::fs::write(d.join("ha.cf"), b"keepalive 1\n\xff").unwrap();
        assert_eq!(
            read_config_file(&d.join("ha.cf")).unwrap(),
            b"keepalive 1\n\xff"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let d = temp_dir("fifo");
        let p = d.join("ha.cf");
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = read_config_file(&p).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn devices_and_directories_are_refused() {
        let e = read_config_file(Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        let e = read_config_file(Path::new("/")).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
    }

    #[test]
    fn a_huge_file_is_refused() {
        let d = temp_dir("huge");
        let p = d.join("haresources");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(MAX_CONFIG_BYTES + 1).unwrap();
        assert!(matches!(read_config_file(&p), Err(FileError::TooLarge(_))));
        let _ = std::fs::remove_dir_all(&d);
    }
}
