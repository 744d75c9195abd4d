//! The FIFO of the original (`<state-dir>/fifo`, spec §12.3), kept so that the original's
//! `hb_standby` / `hb_takeover` scripts (which write classic-format messages into it) keep
//! working. The admin requests `t=ask_resources rsc_hold=SET info=me` (standby) and
//! `t=hb_takeover rsc_hold=SET` (takeover) become admin commands (their outcome is logged, since
//! the writer does not wait); any other message goes to the core as `Input::Inject`, which sends
//! it to the cluster and runs the local `rc.d/<type>` hook, or refuses the types that carry its
//! own protocol state (crate::core::messages).
//!
//! The FIFO is opened read-write so it never reports EOF when a writer leaves.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use crate::core::{AdminCommand, RscSet};

/// Longest buffered partial message; beyond it the buffer is discarded.
const MAX_PENDING: usize = 64 * 1024;

/// The FIFO, open and registered.
pub struct Fifo {
    file: std::fs::File,
    path: PathBuf,
    pending: Vec<u8>,
}

/// What one message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FifoRequest {
    Admin(AdminCommand),
    /// Any other message: for the cluster and the hooks (`name`, `value` in order).
    Message(Vec<(String, String)>),
    /// Understood framing, unusable content (logged with this reason).
    Unsupported(String),
}

impl Fifo {
    /// (Re)creates the FIFO (mode 0600) and registers it.
    pub fn open(state_dir: &Path, registry: &Registry, token: Token) -> std::io::Result<Fifo> {
        let path = state_dir.join("fifo");
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_fifo() => {}
            Ok(_) => std::fs::remove_file(&path)?,
            Err(_) => {}
        }
        if !path.exists() {
            log::info!("Creating FIFO {}.", path.display());
            nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .map_err(std::io::Error::from)?;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(&path)?;
        registry.register(&mut SourceFd(&file.as_raw_fd()), token, Interest::READABLE)?;
        Ok(Fifo {
            file,
            path,
            pending: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads what is there; returns the complete messages' requests.
    pub fn receive(&mut self) -> Vec<FifoRequest> {
        let mut buf = [0u8; 4096];
        for _ in 0..64 {
            match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let (requests, consumed) = parse_messages(&self.pending);
        self.pending.drain(..consumed);
        if self.pending.len() > MAX_PENDING {
            self.pending.clear();
        }
        requests
    }
}

/// Parses complete `>>>` ... `<<<` messages; returns them and the bytes consumed.
///
/// Works on the raw bytes, line by line, so that the count it returns is an offset into
/// `bytes` whatever they hold (a lossy UTF-8 copy is longer than invalid input, which once let
/// one stray byte push the drain past the buffer). Each line is decoded on its own.
pub fn parse_messages(bytes: &[u8]) -> (Vec<FifoRequest>, usize) {
    let mut out = Vec::new();
    let mut consumed = 0;
    let mut offset = 0;
    let mut fields: Option<Vec<(String, String)>> = None;
    while let Some(len) = bytes[offset..].iter().position(|&b| b == b'\n') {
        let raw = &bytes[offset..offset + len];
        offset += len + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = String::from_utf8_lossy(raw);
        match line.as_ref() {
            ">>>" => fields = Some(Vec::new()),
            "<<<" => {
                if let Some(f) = fields.take() {
                    out.push(request_of(&f));
                }
                consumed = offset;
            }
            l => {
                if let Some(f) = fields.as_mut()
                    && let Some((k, v)) = l.split_once('=')
                {
                    f.push((k.to_string(), v.to_string()));
                } else if fields.is_none() {
                    // Garbage outside a message: skip it.
                    consumed = offset;
                }
            }
        }
    }
    (out, consumed)
}

fn request_of(fields: &[(String, String)]) -> FifoRequest {
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let set = |word: Option<&str>, failback: RscSet| match word.unwrap_or("all") {
        "all" | "" => Some(RscSet::All),
        "local" => Some(RscSet::Local),
        "foreign" => Some(RscSet::Foreign),
        "failback" => Some(failback),
        _ => None,
    };
    match get("t") {
        Some("ask_resources") => match set(get("rsc_hold"), RscSet::Foreign) {
            Some(s) => FifoRequest::Admin(AdminCommand::Standby(s)),
            None => FifoRequest::Unsupported("ask_resources with a bad rsc_hold".to_string()),
        },
        Some("hb_takeover") => match set(get("rsc_hold"), RscSet::Local) {
            Some(s) => FifoRequest::Admin(AdminCommand::Takeover(s)),
            None => FifoRequest::Unsupported("hb_takeover with a bad rsc_hold".to_string()),
        },
        Some(_) => FifoRequest::Message(fields.to_vec()),
        None => FifoRequest::Unsupported("message without t=".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_hb_standby_message() {
        let msg = b">>>\nt=ask_resources\nrsc_hold=foreign\ninfo=me\n<<<\n";
        let (r, n) = parse_messages(msg);
        assert_eq!(n, msg.len());
        assert_eq!(
            r,
            vec![FifoRequest::Admin(AdminCommand::Standby(RscSet::Foreign))]
        );
    }

    #[test]
    fn takeover_partial_and_unsupported() {
        let two = b">>>\nt=hb_takeover\nrsc_hold=failback\n<<<\n>>>\nt=mach_down\n<<<\n>>>\nt=hb_";
        let (r, n) = parse_messages(two);
        assert_eq!(
            r,
            vec![
                FifoRequest::Admin(AdminCommand::Takeover(RscSet::Local)),
                FifoRequest::Message(vec![("t".to_string(), "mach_down".to_string())])
            ]
        );
        assert_eq!(
            &two[n..],
            b">>>\nt=hb_",
            "the partial message waits for more"
        );
    }

    #[test]
    fn invalid_utf8_never_runs_past_the_buffer() {
        // One byte of 0xff became three bytes (U+FFFD) in the old lossy copy, and the consumed
        // count overshot the buffer: the daemon aborted.
        let cases: [&[u8]; 5] = [
            b"\xff\n",
            b"\xff\xfe\xfd\n>>>\nt=hb_takeover\n<<<\n",
            b">>>\nt=ask_\xffresources\n<<<\n\xff",
            b"\xc3\n\xc3",
            b">>>\n\xff=\xff\n<<<\n",
        ];
        for bytes in cases {
            let (_, n) = parse_messages(bytes);
            assert!(n <= bytes.len(), "{bytes:?}: consumed {n}");
        }
        let input = b"\xff\xfe\xfd\n>>>\nt=hb_takeover\n<<<\n";
        let (r, n) = parse_messages(input);
        assert_eq!(
            r,
            vec![FifoRequest::Admin(AdminCommand::Takeover(RscSet::All))]
        );
        assert_eq!(n, input.len());
    }

    #[test]
    fn consumed_is_a_line_boundary_of_the_input() {
        // Any input: what is consumed ends at a newline of the input itself.
        let mut state: u32 = 12345;
        for _ in 0..20_000 {
            let len = (state % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    [b'>', b'<', b'\n', b't', b'=', 0xff, 0xc3, b'a'][(state >> 16) as usize % 8]
                })
                .collect();
            let (_, n) = parse_messages(&bytes);
            assert!(n <= bytes.len());
            assert!(n == 0 || bytes[n - 1] == b'\n', "{bytes:?} consumed {n}");
        }
    }

    #[test]
    fn fifo_is_created_and_read() {
        let dir = std::env::temp_dir().join(format!("hbfifo-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let poll = mio::Poll::new().unwrap();
        let mut f = Fifo::open(&dir, poll.registry(), Token(3)).unwrap();
        std::fs::write(
            f.path(),
            ">>>\nt=ask_resources\nrsc_hold=all\ninfo=me\n<<<\n",
        )
        .unwrap();
        assert_eq!(
            f.receive(),
            vec![FifoRequest::Admin(AdminCommand::Standby(RscSet::All))]
        );
        assert!(f.receive().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
