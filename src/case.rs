//! A fuzz case as data: which endpoint a client connects to and what it sends, serializable and shrinkable.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One client's visit to one endpoint: connect, then play the steps in order.
///
/// Values stay structured until the runner turns them into frames, so a shrunk case
/// still reads like what it means.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub endpoint: Endpoint,
    pub steps: Vec<Step>,
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
                let hex: String = bytes.iter().take(48).map(|b| format!("{b:02x}")).collect();
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
        }
    }
}

impl fmt::Display for Case {
    /// One line per action, as printed in reports.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connect {}", abbreviate(&self.endpoint.path()))?;
        for step in &self.steps {
            write!(f, "\n{step}")?;
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
        let case = Case {
            endpoint: Endpoint {
                channel: "echo".into(),
                address: "/e".into(),
                params: BTreeMap::new(),
            },
            steps: vec![
                Step::Send(Payload::Json(serde_json::json!({"a": 1}))),
                Step::Send(Payload::Text("{".into())),
                Step::Send(Payload::Binary(vec![0, 255])),
            ],
        };
        let text = serde_json::to_string(&case).unwrap();
        assert_eq!(serde_json::from_str::<Case>(&text).unwrap(), case);
    }
}
