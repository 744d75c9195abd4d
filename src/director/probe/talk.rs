//! What a TCP check says and how its answer is judged, without I/O: the engine feeds the bytes
//! received so far and whether the peer closed, and gets a verdict once one can be given.

use regex::bytes::Regex;

use crate::config::ldirectord::HttpMethod;

use super::super::spec::ProbeSpec;
use super::dns;

/// Answers larger than this are judged on their first part (a health page is small).
pub const MAX_ANSWER: usize = 256 * 1024;

/// A conversation over one TCP connection.
#[derive(Debug, Clone)]
pub enum Talk {
    /// Connected is enough.
    Connect,
    Http {
        receive: Option<Regex>,
    },
    Tcp {
        receive: Option<Regex>,
    },
    Smtp,
    Dns {
        id: u16,
        receive: Option<Regex>,
    },
}

impl Talk {
    /// The conversation of a TCP-borne spec and the bytes to send first.
    pub fn of(spec: &ProbeSpec, dns_id: u16) -> Option<(Talk, Vec<u8>)> {
        Some(match spec {
            ProbeSpec::Connect { .. } => (Talk::Connect, Vec::new()),
            ProbeSpec::Http {
                method,
                path,
                host,
                receive,
                ..
            } => {
                let m = match method {
                    HttpMethod::Get => "GET",
                    HttpMethod::Head => "HEAD",
                };
                let req = format!(
                    "{m} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: hb_ldirectord\r\nAccept: */*\r\nConnection: close\r\n\r\n"
                );
                (
                    Talk::Http {
                        receive: receive.clone(),
                    },
                    req.into_bytes(),
                )
            }
            ProbeSpec::Tcp { send, receive, .. } => (
                Talk::Tcp {
                    receive: receive.clone(),
                },
                send.clone().map(String::into_bytes).unwrap_or_default(),
            ),
            ProbeSpec::Smtp { .. } => (Talk::Smtp, Vec::new()),
            ProbeSpec::Dns {
                tcp: true,
                name,
                receive,
                ..
            } => {
                let q = dns::query(dns_id, name);
                let mut framed = (q.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&q);
                (
                    Talk::Dns {
                        id: dns_id,
                        receive: receive.clone(),
                    },
                    framed,
                )
            }
            _ => return None,
        })
    }

    /// Whether the verdict waits for an answer (all but a connect or a send-only check).
    pub fn needs_answer(&self) -> bool {
        !matches!(self, Talk::Connect | Talk::Tcp { receive: None })
    }

    /// The verdict once the request is sent, `got` is what came back and `eof` whether the
    /// peer closed; `None`: wait for more.
    pub fn judge(&self, got: &[u8], eof: bool, sent_all: bool) -> Option<(bool, String)> {
        let full = eof || got.len() >= MAX_ANSWER;
        match self {
            Talk::Connect => Some((true, "connected".into())),
            Talk::Http { receive } => judge_http(receive.as_ref(), got, full),
            Talk::Tcp { receive } => match receive {
                None if sent_all => Some((true, "connected, request sent".into())),
                None => None,
                Some(re) if re.is_match(got) => Some((true, "answer matched".into())),
                Some(_) if full => Some((false, "answer did not match receive".into())),
                Some(_) => None,
            },
            Talk::Smtp => {
                let line_end = got.iter().position(|&b| b == b'\n');
                match line_end {
                    Some(i) if got.starts_with(b"220") => {
                        let _ = i;
                        Some((true, "SMTP 220".into()))
                    }
                    Some(i) => Some((false, format!("SMTP greeting: {}", printable(&got[..i])))),
                    None if full => Some((false, "no SMTP greeting".into())),
                    None => None,
                }
            }
            Talk::Dns { id, receive } => {
                if got.len() < 2 {
                    return full.then(|| (false, "no DNS answer".into()));
                }
                let len = usize::from(u16::from_be_bytes([got[0], got[1]]));
                if got.len() < 2 + len {
                    return full.then(|| (false, "short DNS answer".into()));
                }
                Some(judge_dns(*id, receive.as_ref(), &got[2..2 + len]))
            }
        }
    }
}

/// A DNS response: answered with an A record (matching `receive` if given).
pub fn judge_dns(id: u16, receive: Option<&Regex>, msg: &[u8]) -> (bool, String) {
    match dns::answers(id, msg) {
        Err(e) => (false, format!("DNS: {e:?}")),
        Ok(addrs) if addrs.is_empty() => (false, "DNS: no A record".into()),
        Ok(addrs) => {
            let texts: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
            match receive {
                Some(re) if !texts.iter().any(|t| re.is_match(t.as_bytes())) => (
                    false,
                    format!("DNS: {} did not match receive", texts.join(",")),
                ),
                _ => (true, format!("DNS: {}", texts.join(","))),
            }
        }
    }
}

fn judge_http(receive: Option<&Regex>, got: &[u8], full: bool) -> Option<(bool, String)> {
    let Some(head_end) = find(got, b"\r\n\r\n") else {
        return full.then(|| (false, "no complete HTTP answer".into()));
    };
    let status_line = got[..head_end].split(|&b| b == b'\n').next().unwrap_or(b"");
    let code = status_line
        .split(|&b| b == b' ')
        .nth(1)
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.parse::<u16>().ok());
    let Some(code) = code.filter(|_| status_line.starts_with(b"HTTP/")) else {
        return Some((false, format!("not HTTP: {}", printable(status_line))));
    };
    if !(200..300).contains(&code) {
        return Some((false, format!("HTTP {code}")));
    }
    let body = &got[head_end + 4..];
    match receive {
        None => Some((true, format!("HTTP {code}"))),
        Some(re) if re.is_match(body) => Some((true, format!("HTTP {code}, receive matched"))),
        Some(_) if full => Some((false, format!("HTTP {code}, receive did not match"))),
        Some(_) => None,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// At most 80 characters of an answer, for a log line.
fn printable(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(80)])
        .trim_end()
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(receive: Option<&str>) -> Talk {
        Talk::Http {
            receive: receive.map(|r| Regex::new(r).unwrap()),
        }
    }

    #[test]
    fn http_answers() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nalive";
        assert!(http(None).judge(ok, false, true).unwrap().0);
        assert!(http(Some("ali")).judge(ok, false, true).unwrap().0);
        assert!(http(Some("dead")).judge(ok, false, true).is_none());
        assert!(!http(Some("dead")).judge(ok, true, true).unwrap().0);
        let err = b"HTTP/1.0 503 Service Unavailable\r\n\r\n";
        assert_eq!(
            http(None).judge(err, false, true),
            Some((false, "HTTP 503".into()))
        );
        assert!(
            http(None)
                .judge(b"HTTP/1.1 200 OK\r\n", false, true)
                .is_none()
        );
        assert!(!http(None).judge(b"SSH-2.0\r\n\r\n", false, true).unwrap().0);
    }

    #[test]
    fn smtp_and_tcp_answers() {
        assert!(
            Talk::Smtp
                .judge(b"220 mx ESMTP\r\n", false, true)
                .unwrap()
                .0
        );
        assert!(!Talk::Smtp.judge(b"554 no\r\n", false, true).unwrap().0);
        assert!(Talk::Smtp.judge(b"220 mx", false, true).is_none());
        let t = Talk::Tcp {
            receive: Some(Regex::new("^\\+OK").unwrap()),
        };
        assert!(t.judge(b"+OK ready", false, true).unwrap().0);
        assert!(!t.judge(b"-ERR", true, true).unwrap().0);
    }
}
