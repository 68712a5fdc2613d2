//! A fuzz case as data: which endpoint a client connects to and what it sends, serializable and shrinkable.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::credentials::{Change, FOREIGN_ORIGIN};
use crate::wire::{Frame, Handshake};

/// One client's visit to one endpoint: connect, then play the steps in order.
///
/// Values stay structured until the runner turns them into frames, so a shrunk case
/// still reads like what it means.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub endpoint: Endpoint,
    /// A raw opening handshake; `None` for a standard one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake: Option<Handshake>,
    pub steps: Vec<Step>,
    /// Cases played at the same time as this one, each on connections of its own (`--clients`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alongside: Vec<Case>,
    /// Cases played first, in order, each on a connection of its own: on a target wsfuzz
    /// started, the state they leave (a write that broke a resource) is what this case fails on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<Case>,
    /// Connect with the credentials changed (left out, wrong, from a foreign origin), to see
    /// that the server refuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<crate::credentials::Change>,
}

/// The layer of the protocol a case works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// Whole messages through a conforming client.
    Messages,
    /// Raw frames, valid or not.
    Frames,
    /// Raw opening handshakes.
    Handshake,
    /// Ways of going away: resets, half-closes, drops mid-frame, idling, bursts.
    Disconnect,
    /// Several clients on shared resources: joins, messages, broadcasts, abrupt leaves.
    Clients,
}

impl Layer {
    pub const ALL: [Layer; 5] = [
        Layer::Messages,
        Layer::Frames,
        Layer::Handshake,
        Layer::Disconnect,
        Layer::Clients,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Layer::Messages => "messages",
            Layer::Frames => "frames",
            Layer::Handshake => "handshake",
            Layer::Disconnect => "disconnect",
            Layer::Clients => "clients",
        }
    }
}

/// Where to connect: a spec channel with values for its address parameters, or, without
/// a spec, the path of the URL given.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    /// The spec's channel id, or `url` when fuzzing without a spec.
    pub channel: String,
    /// The path template (`/ws/prompts/{prompt_id}`) or literal path.
    pub address: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

/// What a client does after connecting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Send one message and wait for what the server says to it.
    Send(Payload),
    /// Write one frame to the socket as it is.
    Frame(Frame),
    /// Say nothing for a while.
    Wait { ms: u64 },
    /// Open this many more connections to the endpoint and drop each mid-handshake.
    Burst { connections: u16 },
    /// Go away without a closing handshake; always the last step.
    Disconnect(Disconnect),
    /// Write one message in fragments as they are made, never held whole, and never finish it;
    /// always the last step.
    Flood(Flood),
    /// In a scenario of several clients: client `client` connects to the case's channel with these parameters.
    Join {
        client: u8,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        params: BTreeMap<String, String>,
    },
    /// Client `client` sends a message and waits for its answer.
    Say { client: u8, payload: Payload },
    /// Client `client` goes away, closing cleanly or abruptly.
    Leave { client: u8, how: Leaving },
}

/// A message in `fragments` non-final fragments of `size` bytes each (the first a text frame,
/// the rest continuations): a million of one byte, or a hundred of a MiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flood {
    pub fragments: u64,
    pub size: u32,
}

impl Flood {
    /// The message's bytes, were it all sent.
    pub fn total(&self) -> u64 {
        self.fragments * u64::from(self.size)
    }
}

impl fmt::Display for Flood {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "flood of {} fragments of {} ({} in all), never finished",
            self.fragments,
            bytes(u64::from(self.size)),
            bytes(self.total())
        )
    }
}

/// The part of a case of scale that has a size.
#[derive(Clone, Copy, Debug)]
pub enum Sized<'a> {
    /// A header grown through a ladder of sizes.
    Stretch(&'a crate::wire::handshake::Stretch),
    /// Filler headers before the handshake's own, this many.
    Filler(u32),
    /// A message in fragments that never ends.
    Flood(&'a Flood),
}

/// How a client of a scenario leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Leaving {
    /// With a closing handshake.
    Close,
    /// Closes the TCP connection (FIN), at once: right after the step before if that sent a message.
    Drop,
    /// Aborts the TCP connection (RST), at once.
    Reset,
}

/// How a client leaves without a closing handshake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disconnect {
    /// Close the TCP connection (FIN).
    Drop,
    /// Abort it: SO_LINGER 0, so the server gets a reset.
    Reset,
    /// Stop sending (shutdown of the write side) and keep reading.
    HalfClose,
    /// Write the first half of this frame, then drop.
    MidFrame(Frame),
}

/// One WebSocket message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    /// A JSON value, sent as a text frame in compact form.
    Json(Value),
    /// Text sent as it is, typically not valid JSON.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

/// Characters kept as they are in a path segment; everything else is percent-encoded so
/// that a hostile value arrives as one segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

impl Endpoint {
    /// The request path with every `{param}` replaced by its percent-encoded value.
    pub fn path(&self) -> String {
        let mut path = self.address.clone();
        for (name, value) in &self.params {
            let encoded = percent_encoding::utf8_percent_encode(value, SEGMENT).to_string();
            path = path.replace(&format!("{{{name}}}"), &encoded);
        }
        path
    }
}

impl Case {
    /// A case of messages on an endpoint.
    pub fn messages(endpoint: Endpoint, payloads: Vec<Payload>) -> Case {
        Case {
            endpoint,
            handshake: None,
            steps: payloads.into_iter().map(Step::Send).collect(),
            alongside: Vec::new(),
            before: Vec::new(),
            credentials: None,
        }
    }

    /// A case on `endpoint` with nothing in it yet: no handshake of its own, no steps, nothing
    /// alongside or before (the start of a scenario of several clients, say).
    pub fn scenario(endpoint: &Endpoint) -> Case {
        Case {
            endpoint: endpoint.clone(),
            handshake: None,
            steps: Vec::new(),
            alongside: Vec::new(),
            before: Vec::new(),
            credentials: None,
        }
    }

    /// This scenario, then `later` with its clients renumbered after this one's, as if the
    /// clients of both were different people.
    pub fn followed_by(mut self, later: &Case) -> Case {
        let clients = |c: &Case| {
            c.steps
                .iter()
                .filter_map(|s| match s {
                    Step::Join { client, .. }
                    | Step::Say { client, .. }
                    | Step::Leave { client, .. } => Some(*client),
                    _ => None,
                })
                .max()
        };
        // Clients of this scenario still connected left when it ended.
        let mut present: Vec<u8> = Vec::new();
        for step in &self.steps {
            match step {
                Step::Join { client, .. } if !present.contains(client) => present.push(*client),
                Step::Leave { client, .. } => present.retain(|c| c != client),
                _ => {}
            }
        }
        self.steps
            .extend(present.into_iter().map(|client| Step::Leave {
                client,
                how: Leaving::Close,
            }));
        let offset = clients(&self).map_or(0, |most| most.saturating_add(1));
        self.steps.extend(later.steps.iter().map(|step| {
            let mut step = step.clone();
            if let Step::Join { client, .. }
            | Step::Say { client, .. }
            | Step::Leave { client, .. } = &mut step
            {
                *client = client.saturating_add(offset);
            }
            step
        }));
        self
    }

    /// The part that makes this a case of scale, if it is one.
    pub fn sized(&self) -> Option<Sized<'_>> {
        if let Some(handshake) = &self.handshake {
            if let Some(stretch) = &handshake.stretch {
                return Some(Sized::Stretch(stretch));
            }
            if handshake.filler > 0 {
                return Some(Sized::Filler(handshake.filler));
            }
        }
        self.steps.iter().find_map(|step| match step {
            Step::Flood(flood) => Some(Sized::Flood(flood)),
            _ => None,
        })
    }

    /// The size that makes this a case of scale (filler headers, a stretched value, a flood's
    /// fragments), with the least it can be.
    pub fn scale(&self) -> Option<(u64, u64)> {
        Some(match self.sized()? {
            Sized::Stretch(stretch) => (stretch.sizes()[0] as u64, stretch.size as u64),
            Sized::Filler(filler) => (0, u64::from(filler)),
            Sized::Flood(flood) => (1, flood.fragments),
        })
    }

    /// What kind of case of scale this is, without its size: a finding's cause.
    pub fn shape(&self) -> Option<String> {
        Some(match self.sized()? {
            // Whatever the header and however small the writes, it is one kind of request: a
            // parser that starts over on each packet is slow on them all.
            Sized::Stretch(stretch) if stretch.drip.is_some() => {
                "a header line that never ends, in small writes".to_string()
            }
            Sized::Stretch(stretch) => stretch.shape(),
            Sized::Filler(_) => "a handshake with thousands of headers before its own".into(),
            Sized::Flood(flood) => format!(
                "a message in fragments of {} that never ends",
                bytes(u64::from(flood.size))
            ),
        })
    }

    /// This case with its size of scale set to `size`.
    pub fn scaled(&self, size: u64) -> Case {
        let mut case = self.clone();
        if let Some(handshake) = &mut case.handshake {
            match &mut handshake.stretch {
                Some(stretch) => stretch.size = size as usize,
                None => handshake.filler = size as u32,
            }
        }
        for step in &mut case.steps {
            if let Step::Flood(flood) = step {
                flood.fragments = size;
            }
        }
        case
    }

    /// The size a case of scale has, for the edge a finding reports once shrinking made it as
    /// small as it still fails: the headers, the header value, the fragments.
    pub fn size(&self) -> Option<String> {
        Some(match self.sized()? {
            Sized::Stretch(stretch) if stretch.drip.is_some() => format!(
                "{} of a request that never ends",
                bytes(stretch.size as u64)
            ),
            Sized::Stretch(stretch) => format!(
                "a `{}` value of {}",
                stretch.header,
                bytes(stretch.size as u64)
            ),
            Sized::Filler(filler) => format!("{filler} headers before the upgrade's own"),
            Sized::Flood(flood) => format!(
                "{} fragments ({} of message)",
                flood.fragments,
                bytes(flood.total())
            ),
        })
    }

    /// The layer the case works on: the lowest one any of its parts reaches.
    pub fn layer(&self) -> Layer {
        if self.handshake.is_some() || self.credentials.is_some() {
            return Layer::Handshake;
        }
        let layer_of = |step: &Step| match step {
            Step::Send(_) => Layer::Messages,
            Step::Frame(_) | Step::Flood(_) => Layer::Frames,
            Step::Wait { .. } | Step::Burst { .. } | Step::Disconnect(_) => Layer::Disconnect,
            Step::Join { .. } | Step::Say { .. } | Step::Leave { .. } => Layer::Clients,
        };
        self.steps
            .iter()
            .map(layer_of)
            .max()
            .unwrap_or(Layer::Messages)
    }

    /// The messages the case sends, as text (binary ones left out).
    pub fn sent_texts(&self) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
        self.steps.iter().filter_map(|step| match step {
            Step::Send(payload) | Step::Say { payload, .. } => payload.text(),
            Step::Frame(frame) => std::str::from_utf8(&frame.payload).ok().map(Into::into),
            _ => None,
        })
    }
}

impl Payload {
    /// The text the frame carries, or `None` for a binary frame.
    pub fn text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Payload::Json(value) => Some(value.to_string().into()),
            Payload::Text(text) => Some(text.as_str().into()),
            Payload::Binary(_) => None,
        }
    }

    /// Payload length in bytes, as it goes on the wire.
    pub fn len(&self) -> usize {
        match self {
            Payload::Json(value) => value.to_string().len(),
            Payload::Text(text) => text.len(),
            Payload::Binary(bytes) => bytes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Longest stretch of a payload shown in reports; the full value stays in the case data.
const SHOWN: usize = 160;

/// The part of `text` shown in reports: at most `SHOWN` bytes, cut on a character boundary.
fn shown(text: &str) -> &str {
    let mut end = text.len().min(SHOWN);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Shortens `text` for display, saying how much was left out.
/// A size as people read it: `512 bytes`, `64 KiB`, `1.5 MiB`.
pub fn bytes(n: u64) -> String {
    match n {
        1 => "1 byte".to_string(),
        n if n < 1 << 10 => format!("{n} bytes"),
        n if n < 1 << 20 => trim(n as f64 / 1024.0, "KiB"),
        n if n < 1 << 30 => trim(n as f64 / (1 << 20) as f64, "MiB"),
        n => trim(n as f64 / (1 << 30) as f64, "GiB"),
    }
}

fn trim(value: f64, unit: &str) -> String {
    let text = format!("{value:.1}");
    format!("{} {unit}", text.strip_suffix(".0").unwrap_or(&text))
}

pub fn abbreviate(text: &str) -> String {
    match shown(text) {
        all if all.len() == text.len() => text.to_string(),
        part => format!("{part}… ({} bytes in all)", text.len()),
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Json(value) => write!(f, "json {}", abbreviate(&value.to_string())),
            // Quote only the part shown: a megabyte of text need not be escaped to show 160 bytes.
            Payload::Text(text) => match shown(text) {
                all if all.len() == text.len() => write!(f, "text {text:?}"),
                part => write!(f, "text {part:?}… ({} bytes in all)", text.len()),
            },
            Payload::Binary(bytes) => {
                let hex = crate::wire::frame::hex(&bytes[..bytes.len().min(48)]);
                let more = if bytes.len() > 48 { "…" } else { "" };
                write!(f, "binary {} bytes 0x{hex}{more}", bytes.len())
            }
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Send(payload) => write!(f, "send {payload}"),
            Step::Frame(frame) => write!(f, "write {frame}"),
            Step::Wait { ms } => write!(f, "wait {ms} ms"),
            Step::Flood(flood) => write!(f, "write a {flood}"),
            Step::Burst { connections } => {
                write!(f, "open and drop {connections} more connections")
            }
            Step::Disconnect(Disconnect::MidFrame(frame)) => {
                write!(f, "write half of {frame}, then drop")
            }
            Step::Disconnect(how) => write!(
                f,
                "disconnect: {}",
                match how {
                    Disconnect::Drop => "drop the TCP connection",
                    Disconnect::Reset => "reset the TCP connection",
                    Disconnect::HalfClose => "shut down the sending side",
                    Disconnect::MidFrame(_) => unreachable!("matched above"),
                }
            ),
            Step::Join { client, params } => {
                let values: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "client {client} joins {}", values.join(" "))
            }
            Step::Say { client, payload } => write!(f, "client {client} sends {payload}"),
            Step::Leave { client, how } => write!(
                f,
                "client {client} {}",
                match how {
                    Leaving::Close => "closes",
                    Leaving::Drop => "drops its TCP connection",
                    Leaving::Reset => "resets its TCP connection",
                }
            ),
        }
    }
}

impl fmt::Display for Case {
    /// One line per action, as printed in reports.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, earlier) in self.before.iter().enumerate() {
            write!(f, "on a fresh target, first (connection {}):", n + 1)?;
            for line in earlier.to_string().lines() {
                write!(f, "\n  {line}")?;
            }
            f.write_str("\n")?;
        }
        if !self.before.is_empty() {
            f.write_str("then:\n")?;
        }
        match &self.handshake {
            Some(handshake) => write!(f, "handshake {}", handshake.summary(&self.endpoint.path()))?,
            None if self.layer() == Layer::Clients => {
                write!(f, "clients of {}", self.endpoint.address)?
            }
            None => write!(f, "connect {}", abbreviate(&self.endpoint.path()))?,
        }
        match self.credentials {
            Some(Change::Without) => write!(f, " without the credentials")?,
            Some(Change::Wrong) => write!(f, " with each secret altered by one character")?,
            Some(Change::ForeignOrigin) => {
                write!(f, " with the credentials, from Origin {FOREIGN_ORIGIN}")?
            }
            None => {}
        }
        for step in &self.steps {
            write!(f, "\n{step}")?;
        }
        for (n, other) in self.alongside.iter().enumerate() {
            write!(f, "\nat the same time, on connection {}:", n + 2)?;
            for line in other.to_string().lines() {
                write!(f, "\n  {line}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_parameter_values_stay_one_segment() {
        let endpoint = Endpoint {
            channel: "prompt".into(),
            address: "/ws/prompts/{prompt_id}".into(),
            params: [("prompt_id".to_string(), "../a b/é?".to_string())].into(),
        };
        assert_eq!(endpoint.path(), "/ws/prompts/..%2Fa%20b%2F%C3%A9%3F");
    }

    #[test]
    fn long_payloads_are_abbreviated_for_display() {
        let shown = Payload::Text("x".repeat(10_000)).to_string();
        assert!(shown.len() < 300, "{shown}");
        assert!(shown.contains("10000 bytes in all"), "{shown}");
    }

    #[test]
    fn case_round_trips_through_json() {
        let endpoint = Endpoint {
            channel: "echo".into(),
            address: "/e".into(),
            params: BTreeMap::new(),
        };
        let payloads = vec![
            Payload::Json(serde_json::json!({"a": 1})),
            Payload::Text("{".into()),
            Payload::Binary(vec![0, 255]),
        ];
        let mut case = Case::messages(endpoint, payloads);
        case.handshake = Some(Handshake::standard());
        case.steps.push(Step::Frame(Frame::close(Some(1000), b"")));
        case.steps
            .push(Step::Disconnect(Disconnect::MidFrame(Frame::new(
                1,
                b"x".to_vec(),
            ))));
        let text = serde_json::to_string(&case).unwrap();
        assert_eq!(serde_json::from_str::<Case>(&text).unwrap(), case);
    }
}
