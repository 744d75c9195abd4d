//! A small generic-netlink client: resolve a family by name, send a request, read its ACK.
//! Messages are built by hand (a header, a genl header, attributes); the IPVS messages are in
//! `ipvs.rs`. Blocking: the kernel answers a request before `recv` returns, in microseconds.

use std::io;

use netlink_sys::{Socket, protocols::NETLINK_GENERIC};

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
/// NLM_F_ROOT | NLM_F_MATCH: every object, in as many messages as it takes.
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// Most datagrams one dump may take (a bound, not a limit any real table reaches).
const MAX_DUMP_DATAGRAMS: usize = 100_000;
/// Marks an attribute whose payload is more attributes.
pub const NLA_F_NESTED: u16 = 0x8000;

/// Attributes being written, aligned to 4 bytes as netlink wants.
#[derive(Debug, Default, Clone)]
pub struct Attrs(pub Vec<u8>);

impl Attrs {
    pub fn bytes(&mut self, kind: u16, data: &[u8]) -> &mut Self {
        let len = 4 + data.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(data);
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
        self
    }

    pub fn u16(&mut self, kind: u16, v: u16) -> &mut Self {
        self.bytes(kind, &v.to_ne_bytes())
    }

    pub fn u32(&mut self, kind: u16, v: u32) -> &mut Self {
        self.bytes(kind, &v.to_ne_bytes())
    }

    /// A NUL-terminated string.
    pub fn string(&mut self, kind: u16, s: &str) -> &mut Self {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.bytes(kind, &d)
    }

    pub fn nested(&mut self, kind: u16, inner: &Attrs) -> &mut Self {
        self.bytes(kind | NLA_F_NESTED, &inner.0)
    }
}

/// One request: netlink header, genl header (command, version), attributes.
pub fn request(family: u16, cmd: u8, version: u8, seq: u32, attrs: &Attrs) -> Vec<u8> {
    request_with(family, cmd, version, seq, NLM_F_REQUEST | NLM_F_ACK, attrs)
}

fn request_with(family: u16, cmd: u8, version: u8, seq: u32, flags: u16, attrs: &Attrs) -> Vec<u8> {
    let len = 16 + 4 + attrs.0.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&family.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&[cmd, version, 0, 0]);
    m.extend_from_slice(&attrs.0);
    m
}

/// What came back for request `seq`: the error code of its ACK (0 = done), or a reply's
/// attributes (a GETFAMILY answer).
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Ack(i32),
    Data(Vec<u8>),
}

/// Reads the messages of one datagram; the first that answers `seq` wins.
pub fn parse_reply(buf: &[u8], seq: u32) -> Option<Reply> {
    let mut at = 0;
    while at + 16 <= buf.len() {
        let len = u32::from_ne_bytes(buf[at..at + 4].try_into().ok()?) as usize;
        if len < 16 || at + len > buf.len() {
            return None;
        }
        let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
        let mseq = u32::from_ne_bytes(buf[at + 8..at + 12].try_into().ok()?);
        let body = &buf[at + 16..at + len];
        if mseq == seq {
            if kind == NLMSG_ERROR {
                let code = i32::from_ne_bytes(body.get(..4)?.try_into().ok()?);
                return Some(Reply::Ack(code));
            }
            return Some(Reply::Data(body.get(4..)?.to_vec()));
        }
        at += (len + 3) & !3;
    }
    None
}

/// Reads one datagram of a dump answering `seq`: each message's attributes go to `out`;
/// `Some(Ok)` once the dump is done, `Some(Err(errno))` if it failed, `None` while it goes on.
pub fn parse_dump(buf: &[u8], seq: u32, out: &mut Vec<Vec<u8>>) -> Option<Result<(), i32>> {
    let mut at = 0;
    while at + 16 <= buf.len() {
        let len = u32::from_ne_bytes(buf[at..at + 4].try_into().ok()?) as usize;
        if len < 16 || at + len > buf.len() {
            return Some(Err(-nix::libc::EBADMSG));
        }
        let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
        let mseq = u32::from_ne_bytes(buf[at + 8..at + 12].try_into().ok()?);
        let body = &buf[at + 16..at + len];
        if mseq == seq {
            match kind {
                NLMSG_DONE => return Some(Ok(())),
                NLMSG_ERROR => {
                    let code = body.get(..4).map_or(-nix::libc::EBADMSG, |c| {
                        i32::from_ne_bytes([c[0], c[1], c[2], c[3]])
                    });
                    return Some(if code == 0 { Ok(()) } else { Err(code) });
                }
                _ => out.push(body.get(4..).unwrap_or_default().to_vec()),
            }
        }
        at += (len + 3) & !3;
    }
    None
}

/// The payload of attribute `kind` in a run of attributes.
pub fn find_attr(mut attrs: &[u8], kind: u16) -> Option<&[u8]> {
    while attrs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
        let k = u16::from_ne_bytes([attrs[2], attrs[3]]) & !NLA_F_NESTED;
        if len < 4 || len > attrs.len() {
            return None;
        }
        if k == kind {
            return Some(&attrs[4..len]);
        }
        attrs = &attrs[((len + 3) & !3).min(attrs.len())..];
    }
    None
}

/// A generic-netlink socket talking to one family.
pub struct Genl {
    socket: Socket,
    family: u16,
    seq: u32,
    buf: Vec<u8>,
}

impl Genl {
    /// Opens a socket and resolves `name`; `NotFound` when the kernel has no such family.
    pub fn open(name: &str) -> io::Result<Genl> {
        let mut socket = Socket::new(NETLINK_GENERIC)?;
        socket.bind_auto()?;
        let mut g = Genl {
            socket,
            family: GENL_ID_CTRL,
            seq: 0,
            buf: vec![0; 65536],
        };
        let mut a = Attrs::default();
        a.string(CTRL_ATTR_FAMILY_NAME, name);
        match g.call(CTRL_CMD_GETFAMILY, 1, &a)? {
            Some(data) => {
                let id = find_attr(&data, CTRL_ATTR_FAMILY_ID)
                    .and_then(|d| d.get(..2))
                    .map(|d| u16::from_ne_bytes([d[0], d[1]]))
                    .ok_or_else(|| io::Error::other("no family id in the answer"))?;
                g.family = id;
                Ok(g)
            }
            None => Err(io::Error::other("no answer to GETFAMILY")),
        }
    }

    pub fn family(&self) -> u16 {
        self.family
    }

    /// Sends a request and waits for its ACK or reply; a negative ACK is the errno.
    pub fn call(&mut self, cmd: u8, version: u8, attrs: &Attrs) -> io::Result<Option<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let msg = request(self.family, cmd, version, self.seq, attrs);
        self.socket.send(&msg, 0)?;
        let mut data = None;
        for _ in 0..16 {
            let n = self.socket.recv(&mut &mut self.buf[..], 0)?;
            match parse_reply(&self.buf[..n], self.seq) {
                Some(Reply::Ack(0)) => return Ok(data),
                Some(Reply::Ack(code)) => return Err(io::Error::from_raw_os_error(-code)),
                // A GETFAMILY answer comes before its ACK.
                Some(Reply::Data(d)) => data = Some(d),
                None => {}
            }
        }
        Err(io::Error::other("no ACK from the kernel"))
    }

    /// Asks for every object of a kind (a dump); the attributes of each answer.
    pub fn dump(&mut self, cmd: u8, version: u8, attrs: &Attrs) -> io::Result<Vec<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let flags = NLM_F_REQUEST | NLM_F_DUMP;
        let msg = request_with(self.family, cmd, version, self.seq, flags, attrs);
        self.socket.send(&msg, 0)?;
        let mut out = Vec::new();
        for _ in 0..MAX_DUMP_DATAGRAMS {
            let n = self.socket.recv(&mut &mut self.buf[..], 0)?;
            match parse_dump(&self.buf[..n], self.seq, &mut out) {
                Some(Ok(())) => return Ok(out),
                Some(Err(code)) => return Err(io::Error::from_raw_os_error(-code)),
                None => {}
            }
        }
        Err(io::Error::other("the kernel's dump did not end"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nested() {
        let mut inner = Attrs::default();
        inner.u16(1, 2).string(6, "wrr");
        assert_eq!(inner.0.len(), 8 + 8);
        let mut outer = Attrs::default();
        outer.nested(1, &inner);
        assert_eq!(&outer.0[..4], &[20, 0, 0x01, 0x80]);
        assert_eq!(find_attr(&outer.0, 1), Some(&inner.0[..]));
        assert_eq!(find_attr(&inner.0, 6), Some(&b"wrr\0"[..]));
        assert_eq!(find_attr(&[255, 0, 1, 0], 1), None, "a length past the end");
    }

    #[test]
    fn acks_and_errors_are_matched_to_their_request() {
        let mut ack = Vec::new();
        ack.extend_from_slice(&36u32.to_ne_bytes());
        ack.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        ack.extend_from_slice(&0u16.to_ne_bytes());
        ack.extend_from_slice(&7u32.to_ne_bytes());
        ack.extend_from_slice(&0u32.to_ne_bytes());
        ack.extend_from_slice(&(-17i32).to_ne_bytes());
        ack.extend_from_slice(&[0; 16]);
        assert_eq!(parse_reply(&ack, 7), Some(Reply::Ack(-17)));
        assert_eq!(parse_reply(&ack, 8), None);
        assert_eq!(parse_reply(&ack[..20], 7), None, "truncated");
    }

    /// A dump against the running kernel: every family, the controller among them, and an
    /// end (NLMSG_DONE) that stops the reading.
    #[test]
    fn a_dump_lists_every_family_and_ends() {
        let mut g = Genl::open("nlctrl").expect("nlctrl");
        let all = g
            .dump(CTRL_CMD_GETFAMILY, 1, &Attrs::default())
            .expect("dump");
        let names: Vec<String> = all
            .iter()
            .filter_map(|a| find_attr(a, CTRL_ATTR_FAMILY_NAME))
            .map(|n| {
                String::from_utf8_lossy(n)
                    .trim_end_matches('\0')
                    .to_string()
            })
            .collect();
        assert!(names.len() > 1, "{names:?}");
        assert!(names.iter().any(|n| n == "nlctrl"), "{names:?}");
        // The socket is left clean: a plain request after it still gets its own answer.
        let mut a = Attrs::default();
        a.string(CTRL_ATTR_FAMILY_NAME, "nlctrl");
        assert!(g.call(CTRL_CMD_GETFAMILY, 1, &a).expect("call").is_some());
    }

    /// Against the running kernel: the controller resolves itself, and an absent family is
    /// an error, not a hang.
    #[test]
    fn the_kernel_answers_family_lookups() {
        let g = Genl::open("nlctrl").expect("nlctrl");
        assert_eq!(g.family(), GENL_ID_CTRL);
        let err = Genl::open("hbrsnosuchfam").err().expect("an error");
        assert_eq!(err.raw_os_error(), Some(2), "{err}");
    }
}
