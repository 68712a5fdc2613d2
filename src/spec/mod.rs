//! A protocol as data: its channels, what a client may send on each, and what each message should get back.

mod asyncapi;
mod bundle;
mod v2;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use regex::Regex;
use serde_json::Value;

use crate::case::Payload;

/// A protocol read from a spec file.
#[derive(Clone, Debug)]
pub struct Spec {
    pub title: String,
    pub channels: Vec<Arc<Channel>>,
    /// Where a `--token` goes, from the servers' security scheme.
    pub token: Option<TokenPlace>,
    /// The site's origin, from a server's `x-wsfuzz-origin`: a foreign one must be refused.
    pub origin: Option<String>,
}

/// Where a security scheme puts a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenPlace {
    /// `Authorization: Bearer TOKEN` (`type: http, scheme: bearer`).
    Bearer,
    /// `type: httpApiKey, in: header|query|cookie, name: NAME`.
    Header(String),
    Query(String),
    Cookie(String),
}

/// One WebSocket endpoint (an AsyncAPI channel).
#[derive(Clone, Debug)]
pub struct Channel {
    pub id: String,
    /// Path template, e.g. `/ws/prompts/{prompt_id}`.
    pub address: String,
    pub params: Vec<Param>,
    /// How the server refuses a parameter value it does not know, when the spec says so.
    pub refusal: Option<Refusal>,
    /// The largest message payload the server promises to accept.
    pub max_message_bytes: Option<usize>,
    /// Messages the server sends on connect; empty when it sends nothing first.
    pub greeting: Vec<Message>,
    /// What a client may send, each with its replies.
    pub operations: Vec<Operation>,
    /// The error envelope(s) the server answers bad input with.
    pub errors: Vec<Message>,
    /// Messages pushed to the other clients after an operation.
    pub broadcasts: Vec<Broadcast>,
    /// Messages the server sends whose role the spec does not say: a plain AsyncAPI
    /// document's received messages, without `x-wsfuzz-on`. One may come unasked on connect,
    /// and any of them may answer bad input.
    pub pushed: Vec<Message>,
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    /// Values the server knows: a connection with them is accepted.
    pub known: Vec<String>,
    /// Values the spec names as ones the server must refuse.
    pub refused: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Refusal {
    /// Close code the server sends after accepting the handshake; `None`: any 4xxx or 1008.
    pub close_code: Option<u16>,
    pub reason: Option<Regex>,
}

#[derive(Clone, Debug)]
pub struct Operation {
    pub id: String,
    pub messages: Vec<Message>,
    pub replies: Vec<Message>,
}

/// Messages the server pushes to the clients of one resource (the same address parameters)
/// after a client's operation.
#[derive(Clone, Debug)]
pub struct Broadcast {
    /// The send operation that causes it.
    pub after: String,
    pub messages: Vec<Message>,
    /// A schema the sender's reply must match for the broadcast to be owed (say, `success: true`).
    pub when: Option<Message>,
    /// Whether the sender gets it too (`x-wsfuzz-to: all`); by default only the others do.
    pub to_sender: bool,
}

/// How a message travels: JSON in a text frame, plain text, or binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentType {
    Json,
    Text,
    Binary,
}

/// A message with its compiled payload schema.
#[derive(Clone)]
pub struct Message {
    pub name: String,
    pub content_type: ContentType,
    pub schema: Value,
    /// The payloads of the message's `examples`, seeds for generation.
    pub examples: Vec<Value>,
    validator: Arc<jsonschema::Validator>,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("name", &self.name)
            .field("content_type", &self.content_type)
            .finish()
    }
}

/// A spec that cannot be used: where and why.
#[derive(Debug)]
pub struct SpecError {
    pub file: String,
    pub place: String,
    pub what: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.place.is_empty() {
            write!(f, "{}: {}", self.file, self.what)
        } else {
            write!(f, "{}: at {}: {}", self.file, self.place, self.what)
        }
    }
}

impl std::error::Error for SpecError {}

/// What the server owes a client for one message it sent, decided from the spec alone.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "expect")]
pub enum Expectation {
    /// A valid request for the operation at this index: a reply from its reply messages.
    Reply { operation: usize },
    /// Bad input: the error envelope or a close frame with a fitting code.
    Reject { why: String },
    /// Input whose fate the standards leave to the implementation (JSON nesting depth, number
    /// range, lone surrogates, size past the promised limit): a well-formed error is fine, and
    /// so is serving it, with a reply that conforms to the operation it would be, if known.
    Either {
        why: String,
        operation: Option<usize>,
    },
    /// No spec: nothing beyond the checks every server must pass.
    Anything,
}

impl Spec {
    /// Reads an AsyncAPI document (YAML or JSON).
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SpecError {
            file: file.clone(),
            place: String::new(),
            what: format!("cannot read: {e}"),
        })?;
        Spec::parse(&text, &file)
    }

    /// Reads an AsyncAPI document from text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Spec, SpecError> {
        asyncapi::parse(text, file)
    }

    pub fn channel(&self, id: &str) -> Option<&Arc<Channel>> {
        self.channels.iter().find(|c| c.id == id)
    }
}

impl Message {
    pub(crate) fn new(
        name: String,
        content_type: ContentType,
        schema: Value,
    ) -> Result<Message, String> {
        let validator = validator(&schema)
            .map_err(|e| format!("invalid JSON Schema for message `{name}`: {e}"))?;
        Ok(Message {
            name,
            content_type,
            schema,
            examples: Vec::new(),
            validator: Arc::new(validator),
        })
    }

    /// Whether a JSON value (or, for text messages, a JSON string) is this message.
    pub fn accepts(&self, value: &Value) -> bool {
        self.validator.is_valid(value)
    }

    /// Whether a text frame carries this message; `parsed` is the frame's JSON, if it is JSON.
    pub fn matches_text(&self, text: &str, parsed: Option<&Value>) -> bool {
        match self.content_type {
            ContentType::Text => self.validator.is_valid(&Value::String(text.to_string())),
            ContentType::Json => parsed.is_some_and(|v| self.validator.is_valid(v)),
            ContentType::Binary => false,
        }
    }

    /// The constraints `value` breaks: each keyword's place in the schema and what is wrong.
    pub fn broken(&self, value: &Value) -> Vec<(String, String)> {
        self.validator
            .iter_errors(value)
            .map(|e| (e.schema_path().to_string(), e.to_string()))
            .collect()
    }

    /// Why a text frame is not this message, in one line.
    pub fn mismatch(&self, text: &str, parsed: Option<&Value>) -> String {
        let instance = match (self.content_type, parsed) {
            (ContentType::Text, _) => Value::String(text.to_string()),
            (ContentType::Json, Some(v)) => v.clone(),
            (ContentType::Json, None) => return "not JSON".into(),
            (ContentType::Binary, _) => return "a text frame, not binary".into(),
        };
        let explained = match self.validator.iter_errors(&instance).next() {
            Some(error) => {
                let place = error.instance_path().to_string();
                let place = if place.is_empty() {
                    "/".to_string()
                } else {
                    place
                };
                format!(
                    "at {place}: {}",
                    crate::case::abbreviate(&error.to_string())
                )
            }
            None => "matches".into(),
        };
        explained
    }
}

/// A key as one segment of a JSON pointer (RFC 6901: `~` as `~0`, `/` as `~1`).
pub fn pointer_segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The validator of a message's schema: `format` is asserted, as a spec that names one means.
pub fn validator(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| e.to_string())
}

/// Parses a text frame as JSON once, for matching against several messages.
pub fn parse_json(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

impl Channel {
    /// A channel for a URL fuzzed without a spec.
    pub fn generic(path: &str) -> Channel {
        Channel {
            id: "url".into(),
            address: path.into(),
            params: Vec::new(),
            refusal: None,
            max_message_bytes: None,
            greeting: Vec::new(),
            pushed: Vec::new(),
            operations: Vec::new(),
            errors: Vec::new(),
            broadcasts: Vec::new(),
        }
    }

    /// Whether this channel comes from a spec (and so has expectations to check).
    pub fn is_specified(&self) -> bool {
        !self.operations.is_empty() || !self.greeting.is_empty() || !self.errors.is_empty()
    }

    /// Whether the spec says the server pushes a client nothing another client did: no
    /// broadcast, and no message of a role it does not name. (A greeting there tells nothing
    /// another client wrote either: only an operation with a broadcast writes.)
    pub fn private(&self) -> bool {
        self.is_specified() && self.broadcasts.is_empty() && self.pushed.is_empty()
    }

    /// Decides what `payload` should get, from the spec alone.
    pub fn classify(&self, payload: &Payload) -> Expectation {
        self.classify_wire(payload, payload.text().as_deref())
    }

    /// `classify` for a payload whose text (`None` for binary) is already serialized.
    pub fn classify_wire(&self, payload: &Payload, text: Option<&str>) -> Expectation {
        if !self.is_specified() {
            return Expectation::Anything;
        }
        let expectation = self.classify_content(payload, text);
        let len = text.map_or_else(|| payload.len(), str::len);
        match self.max_message_bytes {
            // The limit is what the server must accept; past it, refusing and serving are both fine.
            Some(max) if len > max && !matches!(expectation, Expectation::Reject { .. }) => {
                let operation = match expectation {
                    Expectation::Reply { operation } => Some(operation),
                    Expectation::Either { operation, .. } => operation,
                    _ => None,
                };
                Expectation::Either {
                    why: format!("{len} bytes, over the {max} the server must accept"),
                    operation,
                }
            }
            _ => expectation,
        }
    }

    /// What a payload's content should get, whatever its size.
    fn classify_content(&self, payload: &Payload, text: Option<&str>) -> Expectation {
        let Some(text) = text else {
            return match self.find_operation(|m| m.content_type == ContentType::Binary) {
                Some(operation) => Expectation::Reply { operation },
                None => Expectation::Reject {
                    why: "a binary frame where the spec has none".into(),
                },
            };
        };
        // A JSON payload is its own parse; text is parsed as a server would.
        let parsed: Option<Cow<Value>> = match payload {
            Payload::Json(value) => Some(Cow::Borrowed(value)),
            _ => match serde_json::from_str::<Value>(text) {
                Ok(value) => Some(Cow::Owned(value)),
                Err(error) if implementation_defined(&error) => {
                    if let Some(operation) = self.find_operation(|m| m.matches_text(text, None)) {
                        return Expectation::Reply { operation };
                    }
                    return Expectation::Either {
                        why: format!("JSON that parsers may accept or refuse: {error}"),
                        operation: None,
                    };
                }
                Err(_) => None,
            },
        };
        let parsed = parsed.as_deref();
        let nesting = parsed.map_or(0, depth);
        if nesting >= SHALLOW {
            // Only a JSON message could be affected by how deep the server's parser goes.
            if let Some(operation) = self.find_operation(|m| {
                m.content_type != ContentType::Json && m.matches_text(text, parsed)
            }) {
                return Expectation::Reply { operation };
            }
            return Expectation::Either {
                why: format!("JSON nested {nesting} deep, past some parsers' limits"),
                operation: self.find_operation(|m| m.matches_text(text, parsed)),
            };
        }
        if let Some(operation) = self.find_operation(|m| m.matches_text(text, parsed)) {
            return Expectation::Reply { operation };
        }
        Expectation::Reject {
            why: self.nearly(parsed).unwrap_or_else(|| rejection(parsed)),
        }
    }

    /// For a near-miss (a JSON value that breaks exactly one constraint of a message a client
    /// may send), which message and which constraint, so a finding says what was let through.
    fn nearly(&self, parsed: Option<&Value>) -> Option<String> {
        let value = parsed?;
        self.operations
            .iter()
            .flat_map(|op| &op.messages)
            .filter(|m| m.content_type == ContentType::Json)
            .find_map(|m| match m.broken(value).as_slice() {
                // A value of another type altogether is not near anything.
                [(constraint, _)] if constraint == "/type" => None,
                [(constraint, what)] => Some(format!(
                    "a near-miss of `{}` that breaks only `{constraint}`: {}",
                    m.name,
                    crate::case::abbreviate(what)
                )),
                _ => None,
            })
    }

    fn find_operation(&self, accepts: impl Fn(&Message) -> bool) -> Option<usize> {
        self.operations
            .iter()
            .position(|op| op.messages.iter().any(&accepts))
    }

    /// Values for every parameter that the server knows, for connections meant to succeed.
    pub fn known_params(&self) -> Option<BTreeMap<String, String>> {
        self.params
            .iter()
            .map(|p| Some((p.name.clone(), p.known.first()?.clone())))
            .collect()
    }

    /// Whether the server says something first on a connection so admitted: a greeting or a refusal.
    pub fn speaks_first(&self, admission: Admission) -> bool {
        match admission {
            Admission::Accept => !self.greeting.is_empty(),
            Admission::Refuse => true,
            Admission::Either => !self.greeting.is_empty() || self.refusal.is_some(),
        }
    }

    /// Whether a connection with these parameter values should be accepted, refused, or either.
    /// The channel with `values` known to the server: values from the URL the user gave, which
    /// the server serves whatever the spec's examples say.
    pub fn knowing(&self, values: &BTreeMap<String, String>) -> Channel {
        let mut channel = self.clone();
        for param in &mut channel.params {
            if let Some(value) = values.get(&param.name) {
                param.refused.retain(|r| r != value);
                param.known.retain(|k| k != value);
                param.known.insert(0, value.clone());
            }
        }
        channel
    }

    /// The channel without the known `value` of parameter `name`: one of the spec's examples
    /// that this server does not have.
    pub fn forgetting(&self, name: &str, value: &str) -> Channel {
        let mut channel = self.clone();
        for param in channel.params.iter_mut().filter(|p| p.name == name) {
            param.known.retain(|k| k != value);
        }
        channel
    }

    pub fn admits(&self, params: &BTreeMap<String, String>) -> Admission {
        let unknown = self
            .params
            .iter()
            .any(|p| params.get(&p.name).is_none_or(|v| !p.known.contains(v)));
        let refused = self
            .params
            .iter()
            .any(|p| params.get(&p.name).is_some_and(|v| p.refused.contains(v)));
        if refused || (unknown && self.refusal.is_some()) {
            Admission::Refuse
        } else if unknown {
            Admission::Either
        } else {
            Admission::Accept
        }
    }
}

/// What connecting to an endpoint should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Admission {
    Accept,
    Refuse,
    Either,
}

/// Nesting below which JSON parsers in common use accept a document (.NET stops at 64,
/// Ruby at 100, serde_json at 128); deeper input may be accepted or refused.
const SHALLOW: usize = 64;

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Why input that matched no message is bad.
fn rejection(parsed: Option<&Value>) -> String {
    match parsed {
        None => "not JSON".to_string(),
        Some(value) if !value.is_object() => "JSON that is not an object".to_string(),
        Some(_) => "an object that matches no message a client may send".to_string(),
    }
}

/// serde_json errors for input that RFC 8259 lets each parser accept or refuse.
fn implementation_defined(error: &serde_json::Error) -> bool {
    let text = error.to_string();
    ["recursion limit", "number out of range", "surrogate"]
        .iter()
        .any(|s| text.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prompt_manager() -> Spec {
        Spec::parse(
            include_str!("../../specs/prompt-manager.asyncapi.yaml"),
            "prompt-manager",
        )
        .unwrap()
    }

    #[test]
    fn bundled_spec_reads_completely() {
        let spec = prompt_manager();
        let prompt = spec.channel("prompt").unwrap();
        assert_eq!(prompt.address, "/ws/prompts/{prompt_id}");
        assert_eq!(prompt.operations.len(), 3);
        assert_eq!(prompt.greeting.len(), 1);
        assert_eq!(prompt.errors.len(), 1);
        assert_eq!(prompt.broadcasts.len(), 2);
        assert_eq!(prompt.max_message_bytes, Some(1 << 20));
        assert_eq!(prompt.refusal.as_ref().unwrap().close_code, Some(4004));
        let echo = spec.channel("echo").unwrap();
        assert_eq!(echo.operations.len(), 1);
        assert!(echo.errors.is_empty());
    }

    #[test]
    fn classification_follows_the_schemas() {
        let spec = prompt_manager();
        let prompt = spec.channel("prompt").unwrap();
        let json = |v: Value| Payload::Json(v);
        assert_eq!(
            prompt.classify(&json(json!({"action": "update", "content": "x"}))),
            Expectation::Reply { operation: 0 }
        );
        assert_eq!(
            prompt.classify(&json(json!({"action": "expand", "content": ""}))),
            Expectation::Reply { operation: 2 }
        );
        assert!(matches!(
            prompt.classify(&json(json!({"action": "update"}))),
            Expectation::Reject { .. }
        ));
        assert!(matches!(
            prompt.classify(&json(json!({"action": "nope"}))),
            Expectation::Reject { .. }
        ));
        assert!(matches!(
            prompt.classify(&json(json!([1]))),
            Expectation::Reject { .. }
        ));
        assert!(matches!(
            prompt.classify(&Payload::Text("{".into())),
            Expectation::Reject { .. }
        ));
        assert!(matches!(
            prompt.classify(&Payload::Binary(vec![1])),
            Expectation::Reject { .. }
        ));
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(
            prompt.classify(&Payload::Text(deep)),
            Expectation::Either { .. }
        ));
        let huge = json!({"action": "update", "content": "a".repeat(1 << 20)});
        assert!(matches!(
            prompt.classify(&json(huge)),
            Expectation::Either { .. }
        ));
        let huge_and_wrong = json!({"action": "update", "content": 1, "pad": "a".repeat(1 << 20)});
        assert!(matches!(
            prompt.classify(&json(huge_and_wrong)),
            Expectation::Reject { .. }
        ));
        let nested = (0..70).fold(json!(1), |inner, _| json!([inner]));
        let deep = json!({"action": "update", "content": "x", "extra": nested});
        assert!(matches!(
            prompt.classify(&json(deep)),
            Expectation::Either { .. }
        ));
        let echo = spec.channel("echo").unwrap();
        assert_eq!(
            echo.classify(&Payload::Text("{".into())),
            Expectation::Reply { operation: 0 }
        );
    }

    #[test]
    fn admission_follows_known_and_refused_values() {
        let spec = prompt_manager();
        let prompt = spec.channel("prompt").unwrap();
        let with = |v: &str| [("prompt_id".to_string(), v.to_string())].into();
        assert_eq!(prompt.admits(&with("greeting")), Admission::Accept);
        assert_eq!(prompt.admits(&with("no_such_prompt")), Admission::Refuse);
        assert_eq!(prompt.admits(&with("__proto__")), Admission::Refuse);
        assert_eq!(prompt.known_params().unwrap(), with("greeting"));
    }
}
