//! ICMP echo packets (RFC 792) and the heartbeat message they carry (spec §8.1).
//!
//! The payload of every echo request is a complete, authenticated heartbeat message written as if
//! the ping node had sent it (`t=NS_st st=ping info=ping src=<ping node>`). An echo reply returns
//! the payload unchanged, so a reply whose payload authenticates with our keys proves that the
//! echo is one of ours and not a forged or stray packet. Parsing is total: any byte string gives
//! a value or a typed error, never a panic.

use std::fmt;
use std::net::Ipv4Addr;

use crate::config::model::{AuthKeys, MsgFmt};
use crate::wire::{self, DecodeError, EncodeError, Message};

/// ICMP type of an echo request.
pub const ECHO_REQUEST: u8 = 8;
/// ICMP type of an echo reply.
pub const ECHO_REPLY: u8 = 0;
/// Length of the ICMP echo header (type, code, checksum, identifier, sequence).
pub const ICMP_HEADER_LEN: usize = 8;
/// Largest ICMP message accepted: an IPv4 datagram cannot be longer.
pub const MAX_ICMP_LEN: usize = 65_535;

/// The `info` value that marks a ping payload, for ping nodes and ping groups alike.
pub const PING_INFO: &str = "ping";
/// The message type of a ping payload.
pub const PING_TYPE: &str = "NS_st";

/// The Internet checksum (RFC 1071): one's complement of the one's complement sum of the
/// big-endian 16-bit words, an odd last byte padded with zero.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(u16::from_be_bytes([*last, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The fold above leaves at most 16 bits.
    !(sum as u16)
}

/// One ICMP echo message (request or reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Echo {
    /// `ECHO_REQUEST` or `ECHO_REPLY`.
    pub icmp_type: u8,
    pub ident: u16,
    pub seq: u16,
    pub payload: Vec<u8>,
}

impl Echo {
    /// An echo request.
    pub fn request(ident: u16, seq: u16, payload: Vec<u8>) -> Self {
        Echo {
            icmp_type: ECHO_REQUEST,
            ident,
            seq,
            payload,
        }
    }

    /// The ICMP bytes, checksum filled in. Identifier and sequence are in network byte order.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ICMP_HEADER_LEN + self.payload.len());
        out.push(self.icmp_type);
        out.push(0);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.ident.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.payload);
        let sum = checksum(&out);
        out[2..4].copy_from_slice(&sum.to_be_bytes());
        out
    }
}

/// Why a received packet is not an echo reply we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketError {
    /// Shorter than its headers say.
    Truncated,
    /// Not IPv4, a bad header length, or not carrying ICMP.
    NotIcmpV4,
    /// Longer than an IPv4 datagram can be.
    TooLong,
    /// The ICMP checksum does not match.
    BadChecksum,
    /// An ICMP message that is not an echo reply (e.g. our own request, or an error).
    NotEchoReply,
}

impl PacketError {
    /// Stable label for counters and debug logs.
    pub fn kind_name(self) -> &'static str {
        match self {
            PacketError::Truncated => "truncated",
            PacketError::NotIcmpV4 => "not_icmpv4",
            PacketError::TooLong => "too_long",
            PacketError::BadChecksum => "bad_checksum",
            PacketError::NotEchoReply => "not_echo_reply",
        }
    }
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind_name())
    }
}

impl std::error::Error for PacketError {}

/// Parses an ICMP message (no IP header, as a datagram ICMP socket delivers it) that must be an
/// echo reply with a valid checksum.
pub fn parse_icmp_reply(bytes: &[u8]) -> Result<Echo, PacketError> {
    if bytes.len() > MAX_ICMP_LEN {
        return Err(PacketError::TooLong);
    }
    let header: &[u8; ICMP_HEADER_LEN] = bytes
        .get(..ICMP_HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(PacketError::Truncated)?;
    if header[0] != ECHO_REPLY || header[1] != 0 {
        return Err(PacketError::NotEchoReply);
    }
    if checksum(bytes) != 0 {
        return Err(PacketError::BadChecksum);
    }
    Ok(Echo {
        icmp_type: ECHO_REPLY,
        ident: u16::from_be_bytes([header[4], header[5]]),
        seq: u16::from_be_bytes([header[6], header[7]]),
        payload: bytes[ICMP_HEADER_LEN..].to_vec(),
    })
}

/// Parses an IPv4 datagram (as a raw ICMP socket delivers it): returns the source address and
/// the echo reply it carries.
pub fn parse_ipv4_reply(bytes: &[u8]) -> Result<(Ipv4Addr, Echo), PacketError> {
    let first = *bytes.first().ok_or(PacketError::Truncated)?;
    if first >> 4 != 4 {
        return Err(PacketError::NotIcmpV4);
    }
    let header_len = usize::from(first & 0x0f) * 4;
    if header_len < 20 {
        return Err(PacketError::NotIcmpV4);
    }
    let header = bytes.get(..header_len).ok_or(PacketError::Truncated)?;
    if header[9] != 1 {
        return Err(PacketError::NotIcmpV4);
    }
    // The kernel gives us the datagram as received; trust the shorter of the two lengths so a
    // lying total-length field can neither overrun nor hide trailing bytes in the checksum.
    let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let end = total.min(bytes.len());
    if end < header_len {
        return Err(PacketError::Truncated);
    }
    let source = Ipv4Addr::new(header[12], header[13], header[14], header[15]);
    let echo = parse_icmp_reply(&bytes[header_len..end])?;
    Ok((source, echo))
}

/// The heartbeat message an echo request carries for ping node `node` (spec §8.1). `ts_secs` is
/// the `ts` of the status message sent at the same time.
pub fn ping_message(node: &str, ts_secs: u64) -> Message {
    let mut m = Message::new(PING_TYPE);
    m.push("st", "ping")
        .push("info", PING_INFO)
        .push("src", node)
        .push("ts", format!("{ts_secs:x}"));
    m
}

/// The signed and framed payload for ping node `node`.
pub fn ping_payload(
    node: &str,
    ts_secs: u64,
    keys: &AuthKeys,
    fmt: MsgFmt,
) -> Result<Vec<u8>, EncodeError> {
    wire::encode(&ping_message(node, ts_secs), keys, fmt)
}

/// Why an echo payload is not a ping message of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadError {
    /// It does not decode or does not authenticate with our keys.
    Wire(DecodeError),
    /// It authenticates but is not `t=NS_st info=ping` with a `src`.
    NotPing,
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadError::Wire(e) => write!(f, "payload rejected: {e}"),
            PayloadError::NotPing => f.write_str("payload is not a ping message"),
        }
    }
}

impl std::error::Error for PayloadError {}

/// Authenticates an echo reply payload and returns the ping node it names (`src`).
pub fn verify_ping_payload(payload: &[u8], keys: &AuthKeys) -> Result<String, PayloadError> {
    let msg = wire::decode_verified(payload, keys).map_err(PayloadError::Wire)?;
    if msg.msg_type() != Some(PING_TYPE) || msg.get("info") != Some(PING_INFO) {
        return Err(PayloadError::NotPing);
    }
    msg.get("src")
        .map(str::to_string)
        .ok_or(PayloadError::NotPing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{AuthKey, AuthMethod};
    use std::collections::BTreeMap;

    fn keys(secret: &str) -> AuthKeys {
        let mut keys = BTreeMap::new();
        keys.insert(
            1,
            AuthKey {
                method: AuthMethod::Sha1,
                secret: secret.as_bytes().to_vec(),
            },
        );
        AuthKeys {
            send_index: 1,
            keys,
        }
    }

    #[test]
    fn checksum_known_values() {
        // RFC 1071 §3 worked example: the sum is 0xddf2, the checksum its complement.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        // Echo request id 1 seq 1, no payload: 0x0800 + 0x0001 + 0x0001 = 0x0802.
        assert_eq!(checksum(&[8, 0, 0, 0, 0, 1, 0, 1]), 0xf7fd);
        // Odd length: the last byte is the high half of a zero-padded word.
        assert_eq!(checksum(&[0xff]), 0x00ff);
        // Carries fold back in: 0xffff + 0x0001 = 0x1_0000 -> 0x0001.
        assert_eq!(checksum(&[0xff, 0xff, 0x00, 0x01]), 0xfffe);
        assert_eq!(checksum(&[]), 0xffff);
    }

    #[test]
    fn request_bytes_known_answer() {
        let bytes = Echo::request(0x1234, 0x0001, b"hi".to_vec()).to_bytes();
        // 0x0800 + 0x1234 + 0x0001 + 0x6869 = 0x829e -> checksum 0x7d61.
        assert_eq!(
            bytes,
            [8, 0, 0x7d, 0x61, 0x12, 0x34, 0x00, 0x01, b'h', b'i']
        );
        // A message with its checksum in place sums to zero.
        assert_eq!(checksum(&bytes), 0);
    }

    fn reply_of(request: &[u8]) -> Vec<u8> {
        // What a host does: type 0, checksum recomputed.
        let mut r = request.to_vec();
        r[0] = ECHO_REPLY;
        r[2] = 0;
        r[3] = 0;
        let sum = checksum(&r);
        r[2..4].copy_from_slice(&sum.to_be_bytes());
        r
    }

    fn ipv4(src: [u8; 4], icmp: &[u8]) -> Vec<u8> {
        let total = (20 + icmp.len()) as u16;
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 1, 0, 0];
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&[192, 0, 2, 1]);
        ip.extend_from_slice(icmp);
        ip
    }

    #[test]
    fn reply_round_trip_icmp_and_ipv4() {
        let request = Echo::request(77, 513, b"payload".to_vec()).to_bytes();
        let reply = reply_of(&request);
        let echo = parse_icmp_reply(&reply).unwrap();
        assert_eq!((echo.ident, echo.seq), (77, 513));
        assert_eq!(echo.payload, b"payload");
        let (src, echo2) = parse_ipv4_reply(&ipv4([203, 0, 113, 9], &reply)).unwrap();
        assert_eq!(src, Ipv4Addr::new(203, 0, 113, 9));
        assert_eq!(echo2, echo);
    }

    #[test]
    fn ipv4_options_are_skipped() {
        let reply = reply_of(&Echo::request(1, 2, vec![9; 5]).to_bytes());
        let mut ip = ipv4([198, 51, 100, 1], &[]);
        ip[0] = 0x46; // 24-byte header: one word of options
        ip.extend_from_slice(&[1, 1, 1, 0]);
        ip.extend_from_slice(&reply);
        let total = ip.len() as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        assert_eq!(parse_ipv4_reply(&ip).unwrap().1.payload, vec![9; 5]);
    }

    #[test]
    fn rejects_requests_errors_and_bad_checksums() {
        let request = Echo::request(1, 1, b"x".to_vec()).to_bytes();
        assert_eq!(parse_icmp_reply(&request), Err(PacketError::NotEchoReply));
        let mut reply = reply_of(&request);
        reply[8] ^= 0x01;
        assert_eq!(parse_icmp_reply(&reply), Err(PacketError::BadChecksum));
        // Destination unreachable (type 3).
        let mut unreachable = reply_of(&request);
        unreachable[0] = 3;
        assert_eq!(
            parse_icmp_reply(&unreachable),
            Err(PacketError::NotEchoReply)
        );
        // Echo reply with a non-zero code.
        let mut coded = reply_of(&request);
        coded[1] = 1;
        assert_eq!(parse_icmp_reply(&coded), Err(PacketError::NotEchoReply));
    }

    #[test]
    fn rejects_truncated_and_foreign_ip() {
        let reply = reply_of(&Echo::request(1, 1, b"abc".to_vec()).to_bytes());
        for n in 0..ICMP_HEADER_LEN {
            assert_eq!(parse_icmp_reply(&reply[..n]), Err(PacketError::Truncated));
        }
        let ip = ipv4([192, 0, 2, 7], &reply);
        assert_eq!(parse_ipv4_reply(&[]), Err(PacketError::Truncated));
        assert_eq!(parse_ipv4_reply(&ip[..19]), Err(PacketError::Truncated));
        // Cut inside the ICMP header.
        assert_eq!(parse_ipv4_reply(&ip[..24]), Err(PacketError::Truncated));
        // Cut inside the payload: the checksum no longer matches.
        assert_eq!(
            parse_ipv4_reply(&ip[..ip.len() - 1]),
            Err(PacketError::BadChecksum)
        );
        let mut udp = ip.clone();
        udp[9] = 17;
        assert_eq!(parse_ipv4_reply(&udp), Err(PacketError::NotIcmpV4));
        let mut v6 = ip.clone();
        v6[0] = 0x65;
        assert_eq!(parse_ipv4_reply(&v6), Err(PacketError::NotIcmpV4));
        let mut short_ihl = ip;
        short_ihl[0] = 0x44;
        assert_eq!(parse_ipv4_reply(&short_ihl), Err(PacketError::NotIcmpV4));
    }

    #[test]
    fn total_length_field_bounds_the_icmp_part() {
        let reply = reply_of(&Echo::request(5, 6, b"abcd".to_vec()).to_bytes());
        let mut ip = ipv4([192, 0, 2, 7], &reply);
        // Ethernet padding after the datagram is not part of the ICMP message.
        ip.extend_from_slice(&[0, 0, 0]);
        assert_eq!(parse_ipv4_reply(&ip).unwrap().1.payload, b"abcd");
        // A total length shorter than the IP header.
        ip[2..4].copy_from_slice(&10u16.to_be_bytes());
        assert_eq!(parse_ipv4_reply(&ip), Err(PacketError::Truncated));
    }

    #[test]
    fn garbage_never_panics() {
        // A deterministic byte soup of every length up to 96, both parsers.
        let mut state = 0x2545_f491_u32;
        for len in 0..96 {
            for _ in 0..64 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 17;
                        state ^= state << 5;
                        (state >> 24) as u8
                    })
                    .collect();
                let _ = parse_icmp_reply(&bytes);
                let _ = parse_ipv4_reply(&bytes);
                let _ = verify_ping_payload(&bytes, &keys("k"));
            }
        }
    }

    #[test]
    fn payload_fields_as_the_original() {
        let m = ping_message("192.0.2.254", 0x5f00_0001);
        let names: Vec<&str> = m.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["t", "st", "info", "src", "ts"]);
        assert_eq!(m.get("t"), Some("NS_st"));
        assert_eq!(m.get("st"), Some("ping"));
        assert_eq!(m.get("ts"), Some("5f000001"));
    }

    #[test]
    fn payload_authenticates_only_with_our_keys() {
        for fmt in [MsgFmt::Classic, MsgFmt::Netstring] {
            let payload = ping_payload("gw", 1, &keys("secret"), fmt).unwrap();
            assert_eq!(
                verify_ping_payload(&payload, &keys("secret")),
                Ok("gw".to_string())
            );
            assert!(matches!(
                verify_ping_payload(&payload, &keys("other")),
                Err(PayloadError::Wire(_))
            ));
            // A payload that survives a round trip through an echo reply still verifies.
            let reply = reply_of(&Echo::request(1, 1, payload.clone()).to_bytes());
            let echo = parse_icmp_reply(&reply).unwrap();
            assert_eq!(
                verify_ping_payload(&echo.payload, &keys("secret")),
                Ok("gw".to_string())
            );
        }
    }

    #[test]
    fn authenticated_non_ping_message_is_refused() {
        let mut m = Message::new("status");
        m.push("src", "gw").push("ts", "1");
        let bytes = wire::encode(&m, &keys("k"), MsgFmt::Netstring).unwrap();
        assert_eq!(
            verify_ping_payload(&bytes, &keys("k")),
            Err(PayloadError::NotPing)
        );
        let mut no_src = Message::new(PING_TYPE);
        no_src.push("info", PING_INFO).push("ts", "1");
        let bytes = wire::encode(&no_src, &keys("k"), MsgFmt::Classic).unwrap();
        assert_eq!(
            verify_ping_payload(&bytes, &keys("k")),
            Err(PayloadError::NotPing)
        );
    }
}
