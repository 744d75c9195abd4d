//! Serial heartbeats (`serial /dev/ttyS0`, `baud 19200`) as Heartbeat 3.0.6's serial plugin
//! does them: the line set raw (8 bits, no parity, receiver on, modem lines ignored, RTS/CTS
//! flow control, no echo, carriage returns dropped), messages in the classic text form framed
//! by their own `>>>` and `<<<` lines. A reader skips everything before a `>>>` line, so a
//! message cut by a write error or a restart costs that message only.
//!
//! The port is opened non-blocking and registered with mio like a socket; a frame is written in
//! one go (a heartbeat is a few hundred bytes, well inside the tty's output buffer, so 3.0.6's
//! 512-byte fragments with pauses are not needed to keep the line busy for less than a
//! keepalive).

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

use nix::sys::termios::{self, BaudRate, ControlFlags, InputFlags, LocalFlags, OutputFlags};

/// A frame longer than this is dropped (the original's MAXMSG is 40 000 bytes).
pub const MAX_FRAME: usize = 65_536;
const START: &str = ">>>";
const END: &str = "<<<";

/// Baud rates accepted by `baud` (those of 3.0.6's StrToBaud that Linux has).
pub fn baud_rate(baud: u32) -> Option<BaudRate> {
    Some(match baud {
        9600 => BaudRate::B9600,
        19200 => BaudRate::B19200,
        38400 => BaudRate::B38400,
        57600 => BaudRate::B57600,
        115_200 => BaudRate::B115200,
        230_400 => BaudRate::B230400,
        _ => return None,
    })
}

/// One open serial port.
pub struct SerialPort {
    file: std::fs::File,
    /// Bytes of the line being read.
    line: Vec<u8>,
    /// The frame being assembled (after its `>>>` line), if any.
    frame: Option<Vec<u8>>,
}

impl SerialPort {
    /// Opens and configures `device`.
    pub fn open(device: &str, baud: u32) -> Result<SerialPort, String> {
        let meta = std::fs::metadata(device).map_err(|e| format!("{device}: {e}"))?;
        if !meta.file_type().is_char_device() {
            return Err(format!("{device} is not a character device"));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NOCTTY | nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
            .open(device)
            .map_err(|e| format!("cannot open {device}: {e}"))?;
        let rate = baud_rate(baud).ok_or_else(|| format!("unsupported baud rate {baud}"))?;
        let mut t = termios::tcgetattr(&file).map_err(|e| format!("tcgetattr {device}: {e}"))?;
        t.input_flags &= !(InputFlags::IGNBRK
            | InputFlags::IXANY
            | InputFlags::IXOFF
            | InputFlags::IXON
            | InputFlags::ICRNL
            | InputFlags::PARMRK);
        t.input_flags |=
            InputFlags::INPCK | InputFlags::ISTRIP | InputFlags::IGNCR | InputFlags::BRKINT;
        t.output_flags &= !OutputFlags::OPOST;
        t.control_flags &= !(ControlFlags::CSIZE | ControlFlags::PARENB);
        t.control_flags |=
            ControlFlags::CS8 | ControlFlags::CREAD | ControlFlags::CLOCAL | ControlFlags::CRTSCTS;
        t.local_flags &= !(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG);
        termios::cfsetspeed(&mut t, rate).map_err(|e| format!("baud {baud}: {e}"))?;
        termios::tcsetattr(&file, termios::SetArg::TCSANOW, &t)
            .map_err(|e| format!("tcsetattr {device}: {e}"))?;
        let _ = termios::tcflush(&file, termios::FlushArg::TCIOFLUSH);
        Ok(SerialPort {
            file,
            line: Vec::new(),
            frame: None,
        })
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.file.as_raw_fd()
    }

    /// Reads what is there (until it would block) and returns the complete frames.
    pub fn receive(&mut self) -> std::io::Result<Vec<Vec<u8>>> {
        let mut frames = Vec::new();
        let mut buf = [0u8; 4096];
        for _ in 0..64 {
            match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.feed(&buf[..n], &mut frames),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(frames)
    }

    /// The line assembler: bytes in, frames (classic text, each line ending in `\n`) out.
    fn feed(&mut self, bytes: &[u8], frames: &mut Vec<Vec<u8>>) {
        for &b in bytes {
            if b == b'\r' || b == 0 {
                continue;
            }
            if b != b'\n' {
                if self.line.len() < MAX_FRAME {
                    self.line.push(b);
                }
                continue;
            }
            let line = std::mem::take(&mut self.line);
            if line == START.as_bytes() {
                // A new start: whatever was being assembled is abandoned.
                self.frame = Some(b">>>\n".to_vec());
                continue;
            }
            let Some(frame) = self.frame.as_mut() else {
                continue;
            };
            frame.extend_from_slice(&line);
            frame.push(b'\n');
            if line == END.as_bytes() {
                if let Some(done) = self.frame.take() {
                    frames.push(done);
                }
            } else if frame.len() > MAX_FRAME {
                self.frame = None;
            }
        }
    }

    /// Writes one frame; `Ok(false)` when the line is busy (the frame is dropped). The C
    /// string's terminating NUL of a datagram is not sent: a reader would find it at the start
    /// of the next `>>>` line (the original writes `strlen` bytes).
    pub fn send(&mut self, frame: &[u8]) -> std::io::Result<bool> {
        let end = frame.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        let frame = &frame[..end];
        match self.file.write(frame) {
            Ok(n) if n == frame.len() => Ok(true),
            Ok(_) => {
                // Finish the line so the peer's reader resynchronises on the next `>>>`.
                let _ = self.file.write(b"\n");
                Ok(false)
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port() -> SerialPort {
        SerialPort {
            file: std::fs::File::open("/dev/null").unwrap(),
            line: Vec::new(),
            frame: None,
        }
    }

    #[test]
    fn frames_are_cut_from_the_line_noise() {
        let mut p = port();
        let mut out = Vec::new();
        p.feed(b"garbage\r\n>>>\r\nt=status\r\n", &mut out);
        assert!(out.is_empty());
        p.feed(b"src=a\n<<<\n\0>>>\nt=x\n", &mut out);
        assert_eq!(out, vec![b">>>\nt=status\nsrc=a\n<<<\n".to_vec()]);
        // A new start abandons the unfinished frame.
        p.feed(b">>>\nt=y\n<<<\n", &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1], b">>>\nt=y\n<<<\n".to_vec());
    }

    #[test]
    fn overlong_frames_are_dropped() {
        let mut p = port();
        let mut out = Vec::new();
        let mut big = b">>>\n".to_vec();
        for _ in 0..(MAX_FRAME / 10 + 10) {
            big.extend_from_slice(b"x=1234567\n");
        }
        big.extend_from_slice(b"<<<\n>>>\nt=ok\n<<<\n");
        p.feed(&big, &mut out);
        assert_eq!(out, vec![b">>>\nt=ok\n<<<\n".to_vec()]);
    }

    #[test]
    fn baud_rates_are_those_linux_has() {
        assert!(baud_rate(19200).is_some());
        assert!(baud_rate(115_200).is_some());
        assert!(baud_rate(12345).is_none());
    }
}
