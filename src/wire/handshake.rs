//! Opening handshakes as data: the request line and headers a client sends, valid or not, and what RFC 6455 makes of them.

use serde::{Deserialize, Serialize};

/// An HTTP upgrade request, written as is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handshake {
    pub method: String,
    pub version: String,
    /// Every header but `Host`, in order (`Host` is added first unless listed here).
    pub headers: Vec<(String, String)>,
    /// Write the request this many bytes at a time, pausing between writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk: Option<usize>,
    /// Drop the connection after this many bytes of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_after: Option<usize>,
    /// Headers of no meaning (`aa:0`, `ab:0`, …) sent before all others, this many: a parser
    /// that keeps only so many headers loses the ones that matter.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub filler: u32,
    /// One header grown through doubling sizes, each request on a connection of its own, to
    /// see how the server's time grows with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stretch: Option<Stretch>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A header value made of a unit repeated, in a shape known to make parsers work hard (a
/// run of separators, of escapes in a quote never closed): `head`, the unit up to the size,
/// then `tail`, a byte that makes a pattern fail to match only at the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stretch {
    pub header: String,
    pub head: String,
    pub unit: String,
    pub tail: String,
    /// The largest value tried, in bytes.
    pub size: usize,
    /// Written this many bytes at a time, and the header line never ended: the request never
    /// completes, and a server that parses it again on every packet does quadratic work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drip: Option<usize>,
}

impl Stretch {
    /// The sizes of the ladder: from the first, doubling, up to `size`.
    pub fn sizes(&self) -> Vec<usize> {
        let first = if self.drip.is_some() {
            64 << 10
        } else {
            1 << 10
        };
        let mut sizes = Vec::new();
        let mut size = first.min(self.size);
        loop {
            sizes.push(size);
            if size >= self.size {
                return sizes;
            }
            size = (size * 2).min(self.size);
        }
    }

    /// The value at `size` bytes (without its tail when dripped: that line never ends).
    pub fn value(&self, size: usize) -> String {
        let tail = if self.drip.is_some() { "" } else { &self.tail };
        let room = size.saturating_sub(self.head.len() + tail.len());
        let mut value = String::with_capacity(size);
        value.push_str(&self.head);
        value.extend(self.unit.chars().cycle().take(room));
        value.push_str(tail);
        value
    }

    /// What the ladder is, for reports: `Sec-WebSocket-Protocol: "b" then " " runs`.
    pub fn shape(&self) -> String {
        match self.drip {
            Some(chunk) => format!(
                "a `{}` line that never ends, {} bytes at a time",
                self.header, chunk
            ),
            None => format!(
                "`{}: {}` then runs of {:?}{}",
                self.header,
                self.head,
                self.unit,
                if self.tail.is_empty() {
                    String::new()
                } else {
                    format!(" then {:?}", self.tail)
                }
            ),
        }
    }
}

/// The name of filler header `i`: `ba`, `bb`, … (`i + 26` in base 26, so at least two
/// letters and each name its own), short, so that thousands fit under the usual 16 KiB limit
/// on a request's head.
pub fn filler_name(i: u32) -> String {
    let mut n = u64::from(i) + 26;
    let mut name = Vec::new();
    while n > 0 {
        name.push(b'a' + (n % 26) as u8);
        n /= 26;
    }
    name.iter().rev().map(|&b| b as char).collect()
}

/// The key of RFC 6455's example handshake: any valid key will do, and a fixed one keeps cases repeatable.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

impl Handshake {
    /// The request every server must accept.
    pub fn standard() -> Handshake {
        let headers = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", KEY),
            ("Sec-WebSocket-Version", "13"),
        ];
        Handshake {
            method: "GET".into(),
            version: "HTTP/1.1".into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            chunk: None,
            drop_after: None,
            filler: 0,
            stretch: None,
        }
    }

    /// A request as a server read it, so a server can judge it by the same rules.
    pub fn from_request(request: &httparse::Request) -> Handshake {
        Handshake {
            method: request.method.unwrap_or("").to_string(),
            version: format!("HTTP/1.{}", request.version.unwrap_or(1)),
            headers: headers_of(request.headers),
            chunk: None,
            drop_after: None,
            filler: 0,
            stretch: None,
        }
    }

    /// This request with `extra` headers added, each unless it already has one of that name
    /// (a fuzzed `Origin` stays as fuzzed).
    pub fn with_headers(mut self, extra: Vec<(String, String)>) -> Handshake {
        for (name, value) in extra {
            if !self
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(&name))
            {
                self.headers.push((name, value));
            }
        }
        self
    }

    /// The request's bytes for `host` and `path`.
    pub fn encode(&self, host: &str, path: &str) -> Vec<u8> {
        let mut out = format!("{} {path} {}\r\n", self.method, self.version);
        for i in 0..self.filler {
            out.push_str(&filler_name(i));
            out.push_str(":0\r\n");
        }
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"))
        {
            out.push_str(&format!("Host: {host}\r\n"));
        }
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }

    /// One line for reports: what differs from the standard request.
    pub fn summary(&self, path: &str) -> String {
        let standard = Handshake::standard();
        let mut parts = vec![format!("{} {path} {}", self.method, self.version)];
        for (name, value) in &self.headers {
            if !standard
                .headers
                .iter()
                .any(|(n, v)| n == name && v == value)
            {
                parts.push(format!("{name}: {}", crate::case::abbreviate(value)));
            }
        }
        for (name, _) in &standard.headers {
            if !self.headers.iter().any(|(n, _)| n == name) {
                parts.push(format!("no {name}"));
            }
        }
        if parts.len() > 8 {
            let more = parts.len() - 6;
            parts.truncate(6);
            parts.push(format!(
                "and {more} more headers ({} in all)",
                self.headers.len()
            ));
        }
        if self.filler > 0 {
            parts.insert(1, format!("after {} filler headers", self.filler));
        }
        if let Some(stretch) = &self.stretch {
            parts.push(format!(
                "{}, up to {}",
                stretch.shape(),
                crate::case::bytes(stretch.size as u64)
            ));
        }
        if let Some(chunk) = self.chunk {
            parts.push(format!("sent {chunk} bytes at a time"));
        }
        if let Some(after) = self.drop_after {
            parts.push(format!("dropped after {after} bytes"));
        }
        parts.join("; ")
    }

    fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Why a server must refuse this request (RFC 6455 §4.2.1), or `None` when it may accept it.
    pub fn must_refuse(&self) -> Option<String> {
        if let Some(why) = self.not_an_upgrade() {
            return Some(why);
        }
        match self.values("Sec-WebSocket-Key").as_slice() {
            [key] if valid_key(key) => {}
            [] => return Some("no Sec-WebSocket-Key".into()),
            [_] => return Some("a Sec-WebSocket-Key that is not 16 bytes in base64".into()),
            _ => return Some("more than one Sec-WebSocket-Key".into()),
        }
        match self.values("Sec-WebSocket-Version").as_slice() {
            // §4.4: a server may speak versions besides 13 (drafts 7 and 8, say); §4.1 has the
            // version a number from 0 to 255. `013` breaks the grammar's letter, not its sense.
            [v] if v.trim().parse::<u8>().is_ok() => None,
            [] => Some("no Sec-WebSocket-Version".into()),
            [other] => Some(format!(
                "Sec-WebSocket-Version {other:?}, which is no version"
            )),
            _ => Some("more than one Sec-WebSocket-Version".into()),
        }
    }

    /// Why this request is no WebSocket upgrade at all, if it is none: not a GET, not HTTP/1.1
    /// (or a later 1.x), or without the Upgrade and Connection tokens. A server may answer such a
    /// request as the HTTP request it is (a page, 404, 405) or close it; only accepting it
    /// as a WebSocket is wrong.
    pub fn not_an_upgrade(&self) -> Option<String> {
        if self.method != "GET" {
            return Some(format!("the method is {:?}, not GET", self.method));
        }
        // RFC 6455 §4.1: "the HTTP version MUST be at least 1.1"; the upgrade is HTTP/1.1's
        // (HTTP/2 has none), and servers close request lines of versions that do not exist.
        let version = self
            .version
            .strip_prefix("HTTP/")
            .and_then(|v| v.split_once('.'))
            .and_then(|(major, minor)| {
                let digit = |d: &str| (d.len() == 1).then(|| d.parse::<u8>().ok()).flatten();
                Some((digit(major)?, digit(minor)?))
            });
        match version {
            None => return Some(format!("{:?} is not an HTTP version", self.version)),
            Some((1, 1)) => {}
            Some(_) => {
                return Some(format!(
                    "the HTTP version is {:?}, not HTTP/1.1",
                    self.version
                ))
            }
        }
        let has_token = |name: &str, token: &str| {
            self.values(name)
                .iter()
                .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        };
        if !has_token("Upgrade", "websocket") {
            return Some("no `Upgrade: websocket`".into());
        }
        if !has_token("Connection", "upgrade") {
            return Some("no `Connection: Upgrade`".into());
        }
        None
    }

    /// Why this request is past the size servers commonly take, if it is: more header fields,
    /// or more header bytes, than the smallest of the common limits (100 fields, as aiohttp and
    /// Go take; 8 KiB, as nginx and websockets take per block or line). A server may answer
    /// such a request 431 (RFC 6585), close it, or leave it unanswered as the flood it may be.
    pub fn oversized(&self) -> Option<String> {
        const FIELDS: usize = 100;
        const BYTES: usize = 8 << 10;
        let bytes: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum();
        if self.headers.len() > FIELDS {
            Some(format!(
                "{} header fields, past the {FIELDS} servers commonly take",
                self.headers.len()
            ))
        } else if bytes > BYTES {
            Some(format!(
                "{bytes} bytes of headers, past the 8 KiB servers commonly take"
            ))
        } else {
            None
        }
    }

    /// The key the server must answer, when the request has exactly one.
    pub fn key(&self) -> Option<&str> {
        match self.values("Sec-WebSocket-Key").as_slice() {
            [key] => Some(key),
            _ => None,
        }
    }
}

/// 16 bytes in base64: 22 significant characters, then `==`. Stray bits in the last character
/// are let through, as decoders commonly do.
fn valid_key(key: &str) -> bool {
    let b = key.trim().as_bytes();
    let base64 = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
    b.len() == 24 && b[..22].iter().all(base64) && &b[22..] == b"=="
}

/// A server's answer to the upgrade request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Bytes that came after the headers (the first frames, for a 101).
    #[serde(skip)]
    pub rest: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn headers_of(headers: &[httparse::Header]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

/// Parses a response head; `Ok(None)` while more bytes are needed.
pub fn parse_answer(bytes: &[u8]) -> Result<Option<Answer>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(bytes) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(end)) => Ok(Some(Answer {
            status: response.code.unwrap_or(0),
            headers: headers_of(response.headers),
            rest: bytes[end..].to_vec(),
        })),
        Err(e) => Err(format!("not an HTTP response: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_request_is_acceptable_and_well_formed() {
        let standard = Handshake::standard();
        assert_eq!(standard.must_refuse(), None);
        let text = String::from_utf8(standard.encode("h:1", "/x")).unwrap();
        assert!(
            text.starts_with("GET /x HTTP/1.1\r\nHost: h:1\r\nUpgrade: websocket\r\n"),
            "{text}"
        );
        assert!(text.ends_with("Sec-WebSocket-Version: 13\r\n\r\n"));
    }

    #[test]
    fn requests_past_common_limits_are_oversized() {
        let mut h = Handshake::standard();
        assert_eq!(h.oversized(), None);
        h.headers
            .extend((0..96).map(|i| (format!("X-{i}"), "v".to_string())));
        assert_eq!(h.oversized(), None, "100 fields in all are within");
        h.headers.push(("X-More".into(), "v".into()));
        assert!(h.oversized().unwrap().contains("101 header fields"));
        let mut long = Handshake::standard();
        long.headers.push(("X-Long".into(), "v".repeat(8 << 10)));
        assert!(long.oversized().unwrap().contains("bytes of headers"));
    }

    #[test]
    fn broken_requests_must_be_refused() {
        let with = |f: &dyn Fn(&mut Handshake)| {
            let mut h = Handshake::standard();
            f(&mut h);
            h.must_refuse()
        };
        assert!(with(&|h| h.method = "POST".into()).is_some());
        assert!(with(&|h| h.version = "HTTP/1.0".into()).is_some());
        assert!(with(&|h| h.version = "HTTP/9".into()).is_some());
        assert!(with(&|h| h.version = "HTTP/2.0".into()).is_some());
        assert!(with(&|h| h.version = "HTTP/1.2".into()).is_some());
        assert!(with(&|h| h.headers.retain(|(n, _)| n != "Sec-WebSocket-Key")).is_some());
        assert!(with(&|h| h.headers.push(("Sec-WebSocket-Key".into(), KEY.into()))).is_some());
        assert!(with(&|h| h.headers[2].1 = "short".into()).is_some());
        assert!(with(&|h| h.headers[3].1 = "banana".into()).is_some());
        // §4.4: other versions are the server's to speak or refuse.
        assert!(with(&|h| h.headers[3].1 = "8".into()).is_none());
        assert!(with(&|h| h.headers.retain(|(n, _)| n != "Upgrade")).is_some());
        // Odd but allowed: extra headers, a foreign origin, protocols nobody offered.
        assert!(with(&|h| h
            .headers
            .push(("Origin".into(), "https://evil.example".into())))
        .is_none());
        assert!(with(&|h| h.headers.push((
            "Sec-WebSocket-Protocol".into(),
            "__proto__, constructor".into()
        )))
        .is_none());
        assert!(with(&|h| h.headers[1].1 = "keep-alive, Upgrade".into()).is_none());
    }

    #[test]
    fn filler_headers_come_first_each_with_a_name_of_its_own() {
        let names: std::collections::BTreeSet<String> = (0..100_000).map(filler_name).collect();
        assert_eq!(names.len(), 100_000);
        assert!(names
            .iter()
            .all(|n| n.len() >= 2 && n.bytes().all(|b| b.is_ascii_lowercase())));
        let request = Handshake {
            filler: 3,
            ..Handshake::standard()
        };
        let text = String::from_utf8(request.encode("h:1", "/")).unwrap();
        assert!(
            text.starts_with("GET / HTTP/1.1\r\nba:0\r\nbb:0\r\nbc:0\r\nHost: h:1\r\n"),
            "{text}"
        );
        assert_eq!(request.must_refuse(), None);
    }

    #[test]
    fn a_stretch_doubles_to_its_size_and_a_dripped_one_never_ends() {
        let stretch = Stretch {
            header: "Sec-WebSocket-Protocol".into(),
            head: "b".into(),
            unit: " ".into(),
            tail: "x".into(),
            size: 5 << 10,
            drip: None,
        };
        assert_eq!(stretch.sizes(), [1024, 2048, 4096, 5120]);
        let value = stretch.value(1024);
        assert_eq!(value.len(), 1024);
        assert!(value.starts_with("b ") && value.ends_with(" x"));
        let dripped = Stretch {
            drip: Some(1024),
            size: 1 << 20,
            ..stretch
        };
        assert_eq!(dripped.sizes().first(), Some(&(64 << 10)));
        assert!(!dripped.value(1 << 16).ends_with('x'));
    }

    #[test]
    fn answers_are_parsed_with_what_follows() {
        let bytes = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00";
        let answer = parse_answer(bytes).unwrap().unwrap();
        assert_eq!(answer.status, 101);
        assert_eq!(answer.header("upgrade"), Some("websocket"));
        assert_eq!(answer.rest, vec![0x81, 0x00]);
        assert_eq!(parse_answer(b"HTTP/1.1 400 Bad"), Ok(None));
        assert!(parse_answer(b"\x00garbage\r\n\r\n").is_err());
    }
}
