//! The DNS check's two messages: a recursive query for one name's A record, and the reading of
//! the answer (id, response flag, RCODE, the A records). Hostile answers are bounded: every
//! offset is checked, compression pointers are skipped, not followed.

use std::net::Ipv4Addr;

/// A query for `name` type A, class IN, with recursion desired.
pub fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let l = &label.as_bytes()[..label.len().min(63)];
        q.push(l.len() as u8);
        q.extend_from_slice(l);
    }
    q.push(0);
    q.extend_from_slice(&[0, 1, 0, 1]);
    q
}

/// Why an answer does not count.
#[derive(Debug, PartialEq, Eq)]
pub enum AnswerError {
    Short,
    OtherId,
    NotResponse,
    Rcode(u8),
}

/// The A records of a response to query `id`.
pub fn answers(id: u16, msg: &[u8]) -> Result<Vec<Ipv4Addr>, AnswerError> {
    if msg.len() < 12 {
        return Err(AnswerError::Short);
    }
    if u16::from_be_bytes([msg[0], msg[1]]) != id {
        return Err(AnswerError::OtherId);
    }
    if msg[2] & 0x80 == 0 {
        return Err(AnswerError::NotResponse);
    }
    let rcode = msg[3] & 0x0f;
    if rcode != 0 {
        return Err(AnswerError::Rcode(rcode));
    }
    let qd = u16::from_be_bytes([msg[4], msg[5]]);
    let an = u16::from_be_bytes([msg[6], msg[7]]);
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(msg, at).ok_or(AnswerError::Short)? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        at = skip_name(msg, at).ok_or(AnswerError::Short)?;
        let fixed = msg.get(at..at + 10).ok_or(AnswerError::Short)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let data = msg.get(at + 10..at + 10 + len).ok_or(AnswerError::Short)?;
        if rtype == 1 && len == 4 {
            out.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        at += 10 + len;
    }
    Ok(out)
}

/// The offset after a (possibly compressed) name.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    for _ in 0..128 {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_and_its_answer() {
        let q = query(0x1234, "www.example.org");
        assert_eq!(&q[..4], &[0x12, 0x34, 1, 0]);
        assert_eq!(&q[12..17], b"\x03www\x07");
        // The answer: header (QR, 1 question, 1 answer), the question, a compressed A record.
        let mut a = q.clone();
        a[2] = 0x81;
        a[3] = 0x80;
        a[7] = 1;
        a.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]);
        assert_eq!(answers(0x1234, &a), Ok(vec![Ipv4Addr::new(192, 0, 2, 7)]));
        assert_eq!(answers(0x1235, &a), Err(AnswerError::OtherId));
        a[3] = 0x83;
        assert_eq!(answers(0x1234, &a), Err(AnswerError::Rcode(3)));
        assert_eq!(answers(0x1234, &a[..20]), Err(AnswerError::Rcode(3)));
        a[3] = 0x80;
        assert_eq!(answers(0x1234, &a[..a.len() - 2]), Err(AnswerError::Short));
    }
}
