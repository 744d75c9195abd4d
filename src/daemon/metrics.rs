//! `metrics IP:PORT`: a Prometheus text endpoint. HTTP/1.0 reduced to what scrapers send: one
//! `GET /metrics` per connection, answered and closed. Served from the event loop without
//! blocking it: bounded request size, bounded clients, a deadline per connection.

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use crate::config::Millis;

/// Longest request head read.
const MAX_REQUEST: usize = 4096;
/// Connections served at once; more are closed at accept.
pub const MAX_CLIENTS: usize = 16;
/// A connection older than this is closed.
const CLIENT_TIMEOUT_MS: Millis = 5_000;

struct Conn {
    stream: TcpStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    written: usize,
    since: Millis,
}

/// The listener and its connections.
pub struct MetricsServer {
    listener: TcpListener,
    listener_token: Token,
    token_base: usize,
    next: usize,
    conns: HashMap<usize, Conn>,
    /// Requests answered with 200.
    pub scrapes: u64,
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    Metrics,
    NotFound,
    BadRequest,
}

/// Routes a complete request head (`GET /metrics HTTP/1.x`).
pub fn route(head: &[u8]) -> Route {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some("GET" | "HEAD"), Some(path)) => {
            if path == "/metrics" || path.starts_with("/metrics?") || path == "/" {
                Route::Metrics
            } else {
                Route::NotFound
            }
        }
        _ => Route::BadRequest,
    }
}

/// The whole HTTP response for a route; `body` renders the metrics.
pub fn response(route: &Route, body: impl FnOnce() -> String) -> Vec<u8> {
    let (status, ctype, body) = match route {
        Route::Metrics => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body()),
        Route::NotFound => (
            "404 Not Found",
            "text/plain",
            "only /metrics is served\n".to_string(),
        ),
        Route::BadRequest => ("400 Bad Request", "text/plain", "bad request\n".to_string()),
    };
    format!(
        "HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl MetricsServer {
    pub fn bind(
        addr: SocketAddr,
        registry: &Registry,
        listener_token: Token,
        token_base: usize,
    ) -> std::io::Result<MetricsServer> {
        let mut listener = TcpListener::bind(addr)?;
        registry.register(&mut listener, listener_token, Interest::READABLE)?;
        Ok(MetricsServer {
            listener,
            listener_token,
            token_base,
            next: 0,
            conns: HashMap::new(),
            scrapes: 0,
        })
    }

    pub fn is_listener(&self, token: Token) -> bool {
        token == self.listener_token
    }

    pub fn owns(&self, token: Token) -> bool {
        token.0 >= self.token_base && token.0 < self.token_base + MAX_CLIENTS
    }

    pub fn accept(&mut self, registry: &Registry, now: Millis) {
        for _ in 0..64 {
            let (mut stream, _) = match self.listener.accept() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let Some(slot) = (0..MAX_CLIENTS)
                .map(|i| (self.next + i) % MAX_CLIENTS)
                .find(|s| !self.conns.contains_key(s))
            else {
                continue; // dropped: closes the connection
            };
            self.next = slot + 1;
            if registry
                .register(
                    &mut stream,
                    Token(self.token_base + slot),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_err()
            {
                continue;
            }
            self.conns.insert(
                slot,
                Conn {
                    stream,
                    inbuf: Vec::new(),
                    outbuf: Vec::new(),
                    written: 0,
                    since: now,
                },
            );
        }
    }

    /// Reads a request and answers it once its head is complete.
    pub fn on_event(&mut self, registry: &Registry, token: Token, body: impl FnOnce() -> String) {
        let slot = token.0 - self.token_base;
        let Some(c) = self.conns.get_mut(&slot) else {
            return;
        };
        if c.outbuf.is_empty() {
            let mut buf = [0u8; 1024];
            let mut closed = false;
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => {
                        c.inbuf.extend_from_slice(&buf[..n]);
                        if c.inbuf.len() > MAX_REQUEST {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
            let complete = c.inbuf.windows(4).any(|w| w == b"\r\n\r\n")
                || c.inbuf.windows(2).any(|w| w == b"\n\n");
            if complete || c.inbuf.len() > MAX_REQUEST {
                let r = if complete {
                    route(&c.inbuf)
                } else {
                    Route::BadRequest
                };
                if r == Route::Metrics {
                    self.scrapes += 1;
                }
                c.outbuf = response(&r, body);
            } else if closed {
                self.close(registry, slot);
                return;
            } else {
                return;
            }
        }
        self.flush(registry, slot);
    }

    fn flush(&mut self, registry: &Registry, slot: usize) {
        let Some(c) = self.conns.get_mut(&slot) else {
            return;
        };
        if super::control::write_pending(&mut c.stream, &c.outbuf, &mut c.written) {
            self.close(registry, slot);
        }
    }

    fn close(&mut self, registry: &Registry, slot: usize) {
        if let Some(mut c) = self.conns.remove(&slot) {
            let _ = registry.deregister(&mut c.stream);
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Closes connections past their deadline.
    pub fn expire(&mut self, registry: &Registry, now: Millis) {
        let old: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| now.saturating_sub(c.since) > CLIENT_TIMEOUT_MS)
            .map(|(s, _)| *s)
            .collect();
        for s in old {
            self.close(registry, s);
        }
    }

    pub fn next_deadline(&self) -> Option<Millis> {
        self.conns
            .values()
            .map(|c| c.since + CLIENT_TIMEOUT_MS + 1)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_responses() {
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Route::Metrics
        );
        assert_eq!(route(b"GET /other HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"\xff\xfe\r\n\r\n"), Route::BadRequest);
        assert_eq!(route(b"POST /metrics HTTP/1.1\r\n\r\n"), Route::BadRequest);
        let r = String::from_utf8(response(&Route::Metrics, || "a 1\n".into())).unwrap();
        assert!(r.starts_with("HTTP/1.0 200 OK\r\n"));
        assert!(r.contains("Content-Length: 4\r\n"));
        assert!(r.ends_with("\r\n\r\na 1\n"));
    }
}
