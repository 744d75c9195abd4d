//! The kernel side of a heartbeat receive socket: a receive queue big enough to ride out a
//! flood while the daemon is busy, and the kernel's own count of what it still had to drop.
//!
//! A datagram the kernel drops because the queue is full never reaches us, so the drop ledger
//! cannot classify it; `SO_RXQ_OVFL` makes the kernel attach its cumulative drop counter to each
//! datagram we read, and [`OverflowCounter`] turns that into "dropped since last time".

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{self, ControlMessageOwned, MsgFlags, sockopt};

/// The receive queue we ask for. The kernel doubles it for its bookkeeping (8 MiB in all): a
/// small forged datagram costs on the order of 1 KiB of queue, so the queue holds several
/// thousand of them, over 100 ms of a 50 000/s flood — time for the daemon to be descheduled
/// on a busy machine without losing a heartbeat. Memory is only used while datagrams wait.
pub const RECEIVE_BUFFER: usize = 4 << 20;

/// Enlarges the receive queue of `fd` to `bytes` (beyond `net.core.rmem_max` when we have
/// CAP_NET_ADMIN, via `SO_RCVBUFFORCE`) and returns the size the kernel reports.
pub fn enlarge_receive_buffer<F: AsFd>(fd: &F, bytes: usize) -> std::io::Result<usize> {
    if socket::setsockopt(fd, sockopt::RcvBufForce, &bytes).is_err() {
        // Not privileged: the plain option, capped by rmem_max.
        socket::setsockopt(fd, sockopt::RcvBuf, &bytes).map_err(std::io::Error::from)?;
    }
    socket::getsockopt(fd, sockopt::RcvBuf).map_err(std::io::Error::from)
}

/// Asks the kernel to attach its drop counter to received datagrams (`SO_RXQ_OVFL`).
pub fn enable_overflow_counter<F: AsFd>(fd: &F) -> std::io::Result<()> {
    socket::setsockopt(fd, sockopt::RxqOvfl, &1).map_err(std::io::Error::from)
}

/// Turns the kernel's cumulative 32-bit drop counter into increments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OverflowCounter {
    last: u32,
}

impl OverflowCounter {
    /// The drops since the previous report, given the counter carried by a datagram
    /// (the counter wraps at 2^32; an older, smaller value counts nothing).
    pub fn advance(&mut self, cumulative: u32) -> u64 {
        let delta = cumulative.wrapping_sub(self.last);
        // A datagram queued before a later one may carry an older value: never go back.
        if delta == 0 || delta > u32::MAX / 2 {
            return 0;
        }
        self.last = cumulative;
        u64::from(delta)
    }
}

/// What one read gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// Bytes of the datagram copied into the buffer.
    pub len: usize,
    /// The datagram was longer than the buffer (the rest is lost).
    pub truncated: bool,
    /// Datagrams the kernel dropped since the previous report.
    pub kernel_drops: u64,
}

/// The control-message room for one `SO_RXQ_OVFL` counter.
pub fn control_buffer() -> Vec<u8> {
    nix::cmsg_space!(u32)
}

/// Reads one datagram into `buf` without blocking (the socket is non-blocking); `cmsg` is a
/// buffer from [`control_buffer`], reused so a read allocates nothing.
pub fn read_one<F: AsRawFd>(
    fd: &F,
    buf: &mut [u8],
    cmsg: &mut [u8],
    overflow: &mut OverflowCounter,
) -> std::io::Result<Read> {
    let mut iov = [IoSliceMut::new(buf)];
    let msg = socket::recvmsg::<()>(fd.as_raw_fd(), &mut iov, Some(cmsg), MsgFlags::empty())
        .map_err(std::io::Error::from)?;
    let mut kernel_drops = 0;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::RxqOvfl(n) = c {
                kernel_drops += overflow.advance(n);
            }
        }
    }
    Ok(Read {
        len: msg.bytes,
        truncated: msg.flags.contains(MsgFlags::MSG_TRUNC),
        kernel_drops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn counter_increments_wraps_and_never_goes_back() {
        let mut c = OverflowCounter::default();
        assert_eq!(c.advance(0), 0);
        assert_eq!(c.advance(5), 5);
        assert_eq!(c.advance(5), 0);
        assert_eq!(c.advance(3), 0, "an older datagram's value");
        assert_eq!(c.advance(12), 7);
        let mut c = OverflowCounter { last: u32::MAX - 1 };
        assert_eq!(c.advance(2), 4, "wraps at 2^32");
    }

    /// A loopback socket with the smallest queue the kernel allows, not read while a burst
    /// arrives: every datagram is either read or counted by the kernel, none is lost unseen.
    #[test]
    fn kernel_overflow_is_counted_exactly() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket::setsockopt(&rx, sockopt::RcvBuf, &1usize).unwrap();
        enable_overflow_counter(&rx).unwrap();
        rx.set_nonblocking(true).unwrap();
        let to = rx.local_addr().unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        const BURST: u64 = 200;
        for i in 0..BURST {
            tx.send_to(format!("datagram {i}").as_bytes(), to).unwrap();
        }
        let (mut buf, mut cmsg) = (vec![0u8; 2048], control_buffer());
        let mut overflow = OverflowCounter::default();
        let (mut read, mut dropped) = (0u64, 0u64);
        let mut drain = |read: &mut u64, dropped: &mut u64| {
            for _ in 0..10_000 {
                match read_one(&rx, &mut buf, &mut cmsg, &mut overflow) {
                    Ok(r) => {
                        assert!(!r.truncated);
                        *read += 1;
                        *dropped += r.kernel_drops;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                    Err(e) => panic!("{e}"),
                }
            }
        };
        drain(&mut read, &mut dropped);
        // The drops after the last queued datagram are reported by the next one.
        tx.send_to(b"marker", to).unwrap();
        let t0 = std::time::Instant::now();
        while read + dropped < BURST + 1 && t0.elapsed() < std::time::Duration::from_secs(5) {
            drain(&mut read, &mut dropped);
        }
        assert!(
            dropped > BURST / 2,
            "a tiny queue must overflow: read {read}"
        );
        assert_eq!(read + dropped, BURST + 1, "read {read}, dropped {dropped}");
    }

    #[test]
    fn the_receive_buffer_grows() {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let got = enlarge_receive_buffer(&s, RECEIVE_BUFFER).unwrap();
        if nix::unistd::Uid::effective().is_root() {
            assert!(got >= RECEIVE_BUFFER, "got {got}");
        } else {
            assert!(got > 0);
        }
    }
}
