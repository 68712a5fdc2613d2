//! What happened when a case ran: the outcome of each step, the probe, and a timed log of every frame.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::spec::{Admission, Expectation};
use crate::wire::rfc::Obligation;

/// The record of one case against one server; checks read nothing else.
#[derive(Clone, Debug, Serialize)]
pub struct Transcript {
    pub url: String,
    pub admission: Admission,
    pub connect: Connect,
    /// What the server sent first, when the spec says it sends something on connect (a greeting or a refusal).
    pub greeting: Option<Response>,
    pub steps: Vec<StepRecord>,
    /// A fresh connection after the case: is the server still serving?
    pub probe: Option<Probe>,
    /// What happened below the messages, for raw frame, handshake and disconnect cases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wire: Option<WireRecord>,
    /// For a scenario of several clients: what each was owed and received.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<ClientRecord>,
    /// The greeting a fresh connection to the case's endpoint got after a case that tried to
    /// change its resource: what the server kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revisit: Option<Response>,
    /// Whether messages for other clients came during the case: someone else was using the
    /// resource, so what it holds after the case is not the case's doing alone.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub crowded: bool,
    /// The messages cases before this one played on its connection, kept open for it.
    #[serde(skip)]
    pub earlier_on_connection: Vec<crate::case::Step>,
    /// Whether the case's connection was kept open for the next case, not closed.
    #[serde(skip)]
    pub kept_open: bool,
    /// The inputs the server was sent and judged on: messages, frames, floods and handshakes
    /// of the case's own. Those after the server ended the connection were never sent.
    #[serde(skip)]
    pub sent: u64,
    pub events: Vec<Event>,
}

impl Transcript {
    /// The record of a case on `url` before anything happened: accepted, nothing answered yet.
    pub fn new(url: String, admission: Admission) -> Transcript {
        Transcript {
            url,
            admission,
            connect: Connect::Accepted,
            greeting: None,
            steps: Vec::new(),
            probe: None,
            wire: None,
            clients: Vec::new(),
            revisit: None,
            crowded: false,
            earlier_on_connection: Vec::new(),
            kept_open: false,
            sent: 0,
            events: Vec::new(),
        }
    }
}

/// One client of a scenario: the broadcasts the spec says it must get, and the messages it
/// got that were not answers to its own.
#[derive(Clone, Debug, Serialize)]
pub struct ClientRecord {
    pub client: u8,
    pub params: std::collections::BTreeMap<String, String>,
    /// Still connected at the end (only then is what it missed held against the server).
    pub present: bool,
    pub owed: Vec<Owed>,
    pub received: Vec<String>,
    /// Messages it may get beyond those owed: broadcasts of input the spec lets the server take or refuse.
    pub tolerated: usize,
}

/// A broadcast a client is owed.
#[derive(Clone, Debug, Serialize)]
pub struct Owed {
    /// The step (from 1) whose message it follows.
    pub step: usize,
    /// The client that sent that message.
    pub from: u8,
    /// The names of the messages it may be.
    pub messages: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Connect {
    Accepted,
    /// The handshake was answered with an HTTP status other than 101.
    Refused {
        status: u16,
        body: String,
    },
    /// TCP connected but the handshake broke off without an HTTP answer.
    Broken {
        error: String,
    },
    /// TCP connected, but the handshake got no answer in time.
    Unanswered {
        waited_ms: u64,
    },
    /// No TCP connection: the case could not run.
    Unreachable {
        error: String,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct StepRecord {
    pub expectation: Expectation,
    pub response: Response,
}

/// The first thing the server did after a message was sent.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Response {
    Text {
        text: String,
    },
    Binary {
        bytes: usize,
    },
    /// A close frame (code `None`: a close frame without a code, which the client sees as 1005).
    Closed {
        code: Option<u16>,
        reason: String,
    },
    /// The connection ended without a close frame: EOF, reset, or a frame the client had to
    /// fail the connection for (RFC 6455 §7.1.7; the client's 1006).
    Dropped {
        error: String,
    },
    /// A message over wsfuzz's own read limit: not judged, since the limit is wsfuzz's.
    TooLarge {
        error: String,
    },
    /// Nothing within the time-out.
    Silent {
        waited_ms: u64,
    },
    /// Not sent: the connection had already ended or an earlier step went unanswered.
    Skipped,
}

/// The record of a case played on a raw socket.
#[derive(Clone, Debug, Serialize)]
pub struct WireRecord {
    /// Why the server must refuse the handshake sent, if it must.
    pub must_refuse: Option<String>,
    /// Whether the request sent is a WebSocket upgrade at all; if not, the server may answer
    /// it as any HTTP request, or close it.
    pub upgrade: bool,
    /// How the request sent is past the size servers commonly take, if it is (see
    /// [`crate::wire::handshake::Handshake::oversized`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oversized: Option<String>,
    pub answer: Answer,
    /// What the client's frames oblige the server to do.
    pub obligation: Obligation,
    /// What the server did once the client's frames were written.
    pub after: Response,
    /// Every way the server's handshake answer and frames broke RFC 6455 that a client must
    /// fail the connection for.
    pub violations: Vec<String>,
    /// Every way they broke the RFC's letter that clients take.
    pub nits: Vec<String>,
    /// After a closing handshake: whether the server then closed the TCP connection in time.
    pub tcp_closed: Option<bool>,
    /// The client went away on purpose (a disconnect step or a handshake cut short).
    pub deliberate_end: bool,
    /// A client connected before the case: does it still get pongs?
    pub bystander: Option<Probe>,
    /// For a stretched header: how the server's time grew with its size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curve: Option<Curve>,
    /// For a flood of fragments: how much the server took, and what it kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood: Option<FloodRecord>,
}

/// How the server's time grew as one header doubled in size: a point per size.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Curve {
    /// What the seconds are: the target's CPU (`--spawn`), or the time to its answer.
    pub cpu: bool,
    pub points: Vec<Point>,
}

/// One rung of a ladder: the value's size, the server's time, and how it answered.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub size: usize,
    pub seconds: f64,
    pub answer: String,
    /// The server cut the request off, or left it unanswered: the ladder stops here.
    #[serde(skip)]
    pub ended: bool,
    /// No answer came in time: the wall time is the wait, not the server's work.
    #[serde(skip)]
    pub silent: bool,
}

impl Curve {
    /// `8 KiB 0.01 s → 16 KiB 0.2 s → 32 KiB 3 s`, the last `n` points.
    pub fn text(&self, n: usize) -> String {
        let skip = self.points.len().saturating_sub(n);
        self.points[skip..]
            .iter()
            .map(|p| {
                format!(
                    "{} {}",
                    crate::case::bytes(p.size as u64),
                    seconds(p.seconds)
                )
            })
            .collect::<Vec<_>>()
            .join(" → ")
    }
}

fn seconds(s: f64) -> String {
    match s {
        s if s < 0.1 => format!("{s:.3} s"),
        s if s < 10.0 => format!("{s:.2} s"),
        s => format!("{s:.0} s"),
    }
}

/// What a flood of fragments did to the server.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FloodRecord {
    /// Bytes written, frame headers included, and the message's payload bytes among them.
    pub sent: u64,
    pub payload: u64,
    pub fragments: u64,
    /// How the server ended it, if it did: a close frame, a drop.
    pub ended: Option<Response>,
    /// The target's resident memory gained while the message was open (`--spawn`).
    pub kept: Option<u64>,
    pub seconds: f64,
}

/// The server's answer to the opening handshake.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Answer {
    Status {
        status: u16,
    },
    /// Bytes that are not an HTTP response.
    Garbage {
        error: String,
    },
    Silent {
        waited_ms: u64,
    },
    Dropped {
        error: String,
    },
    /// The client cut the handshake short on purpose.
    NotAwaited,
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Status { status } => write!(f, "HTTP {status}"),
            Answer::Garbage { error } => write!(f, "an answer that is not HTTP: {error}"),
            Answer::Silent { waited_ms } => write!(f, "no answer within {waited_ms} ms"),
            Answer::Dropped { error } => {
                write!(f, "the connection dropped before an answer: {error}")
            }
            Answer::NotAwaited => write!(f, "not awaited"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Probe {
    /// A fresh connection was served in time.
    Answered,
    /// No fresh connection was made: the case's own connection, kept for the next case,
    /// answered a ping after its last message. The next fresh connection, whichever case
    /// makes it, shows whether the server still takes new ones.
    Kept,
    Failed {
        error: String,
    },
}

impl Probe {
    /// Whether the server was serving after the case.
    pub fn served(&self) -> bool {
        matches!(self, Probe::Answered | Probe::Kept)
    }
}

/// One line of the timeline, with its offset from the start of the case.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub at_ms: f64,
    pub what: String,
}

impl Event {
    pub fn new(at: Duration, what: impl Into<String>) -> Event {
        Event {
            at_ms: at.as_secs_f64() * 1000.0,
            what: what.into(),
        }
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Response::Text { text } => write!(f, "text {}", crate::case::abbreviate(text)),
            Response::Binary { bytes } => write!(f, "a binary message of {bytes} bytes"),
            Response::Closed {
                code: Some(code),
                reason,
            } if reason.is_empty() => write!(f, "close {code}"),
            Response::Closed {
                code: Some(code),
                reason,
            } => write!(f, "close {code} {reason:?}"),
            Response::Closed { code: None, .. } => write!(f, "close without a code (1005)"),
            Response::Dropped { error } => write!(
                f,
                "connection dropped without a close frame (1006): {error}"
            ),
            Response::Silent { waited_ms } => write!(f, "nothing within {waited_ms} ms"),
            Response::TooLarge { error } => {
                write!(f, "a message too large for wsfuzz to read: {error}")
            }
            Response::Skipped => write!(f, "not sent"),
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>9.3} ms  {}", self.at_ms, self.what)
    }
}
