//! Persistent identity in the state dir (spec §4.1, §12.1): `hb_generation` (read, increment,
//! write back synchronously before anything is sent) and `hb_uuid` (16 raw bytes, created once).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why the identity could not be established; start-up aborts on any of these.
#[derive(Debug)]
pub enum StateError {
    CreateDir(PathBuf, std::io::Error),
    Write(PathBuf, std::io::Error),
    Read(PathBuf, std::io::Error),
    Random(std::io::Error),
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateError::CreateDir(p, e) => write!(f, "cannot create {}: {e}", p.display()),
            StateError::Write(p, e) => write!(f, "cannot write {}: {e}", p.display()),
            StateError::Read(p, e) => write!(f, "cannot read {}: {e}", p.display()),
            StateError::Random(e) => write!(f, "cannot read random bytes: {e}"),
        }
    }
}

use crate::wire::generation::{self, Previous};

/// The new generation and the log line the original writes about it (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationStart {
    pub generation: u64,
    /// `No Previous generation - starting at N` (WARN) or `BROKEN previous ...` (ERROR).
    pub warning: Option<String>,
}

/// Decides the next generation from the previous one (`now` = time(NULL) for a missing file).
pub fn next_generation(prev: Previous, now_unix: u64) -> GenerationStart {
    let g = generation::next(prev, now_unix);
    let warning = match prev {
        Previous::Value(_) => None,
        Previous::Missing => Some(format!("No Previous generation - starting at {g}")),
        Previous::Broken => Some(format!("BROKEN previous generation - starting at {g}")),
    };
    GenerationStart {
        generation: g,
        warning,
    }
}

/// Reads, increments and durably stores `hb_generation`.
pub fn bump_generation(state_dir: &Path, now_unix: u64) -> Result<GenerationStart, StateError> {
    ensure_dir(state_dir)?;
    let path = state_dir.join("hb_generation");
    let prev = match std::fs::read(&path) {
        Ok(bytes) => generation::parse(&bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Previous::Missing,
        Err(e) => return Err(StateError::Read(path, e)),
    };
    let start = next_generation(prev, now_unix);
    write_durably(&path, generation::render(start.generation).as_bytes())?;
    Ok(start)
}

/// Reads `hb_uuid`, creating a random one if it is missing; `true` when it was created.
pub fn load_or_create_uuid(state_dir: &Path) -> Result<([u8; 16], bool), StateError> {
    ensure_dir(state_dir)?;
    let path = state_dir.join("hb_uuid");
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() == 16 => {
            let mut uuid = [0u8; 16];
            uuid.copy_from_slice(&bytes);
            return Ok((uuid, false));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StateError::Read(path, e)),
    }
    let uuid = random_uuid()?;
    write_durably(&path, &uuid)?;
    Ok((uuid, true))
}

/// A random (version 4) UUID.
pub fn random_uuid() -> Result<[u8; 16], StateError> {
    let mut uuid = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut uuid))
        .map_err(StateError::Random)?;
    uuid[6] = (uuid[6] & 0x0f) | 0x40;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    Ok(uuid)
}

/// Lower-case hex of a UUID in the usual 8-4-4-4-12 grouping.
pub fn uuid_text(uuid: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in uuid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn ensure_dir(dir: &Path) -> Result<(), StateError> {
    std::fs::create_dir_all(dir).map_err(|e| StateError::CreateDir(dir.to_path_buf(), e))
}

/// Write to a temporary file with O_SYNC, fsync, rename over, fsync the directory: the file is
/// either the old or the new content after a crash, never empty.
fn write_durably(path: &Path, content: &[u8]) -> Result<(), StateError> {
    let tmp = path.with_extension("new");
    let err = |e| StateError::Write(path.to_path_buf(), e);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(nix::libc::O_SYNC)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(content).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hbstate-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn missing_broken_and_value() {
        let m = next_generation(Previous::Missing, 100);
        assert_eq!(m.generation, 101);
        assert!(m.warning.unwrap().starts_with("No Previous generation"));
        assert_eq!(next_generation(Previous::Value(7), 100).generation, 8);
        assert!(
            next_generation(Previous::Broken, 5)
                .warning
                .unwrap()
                .starts_with("BROKEN")
        );
    }

    #[test]
    fn generation_increments_across_starts() {
        let d = tmpdir("gen");
        let a = bump_generation(&d, 1000).unwrap();
        let b = bump_generation(&d, 5000).unwrap();
        assert_eq!(a.generation, 1001);
        assert_eq!(b.generation, 1002);
        assert!(b.warning.is_none());
        assert_eq!(std::fs::read(d.join("hb_generation")).unwrap().len(), 16);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn uuid_is_created_once() {
        let d = tmpdir("uuid");
        let (u1, created1) = load_or_create_uuid(&d).unwrap();
        let (u2, created2) = load_or_create_uuid(&d).unwrap();
        assert!(created1 && !created2);
        assert_eq!(u1, u2);
        assert_eq!(std::fs::read(d.join("hb_uuid")).unwrap().len(), 16);
        assert_eq!(uuid_text(&u1).len(), 36);
        let _ = std::fs::remove_dir_all(&d);
    }
}
