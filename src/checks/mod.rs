//! The checks: pure functions from a case's transcript (and the spec) to at most one failure each.
//!
//! Each response is judged by exactly one check, so one flaw in a server gives one finding:
//! a drop is `no_abrupt_close`, a 1011 is `no_internal_error`, and only responses free of
//! both are held against the spec's promises.

mod clients;
mod data;
pub mod process;
mod scale;
mod wire;

use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

use crate::case::{Case, Layer, Step};
use crate::spec::{parse_json, Admission, Channel, Expectation, Message};
use crate::transcript::{Connect, Probe, Response, Transcript};
use crate::wire::rfc::Obligation;

/// How much a failed check matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A deviation from RFC 6455 or HTTP that harms none of the server's users (which close
    /// code, lax handshake validation, TCP left open after the close): reported, and a failed
    /// run only with `--strict`.
    Warning,
    /// The server fails its users: a crash, a hang, 1011 or 5xx, a dropped connection, lost
    /// data or broadcasts, credentials not enforced, the spec broken. A failed run.
    Error,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// What a check needs before it can judge anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    Nothing,
    /// Credentials to leave out or alter (`--header`, `--cookie`, `--query`, `--token`).
    Secrets,
    /// An origin the server is meant to insist on (`--origin`, `x-wsfuzz-origin`).
    Origin,
    /// A target process wsfuzz started (`--spawn`).
    Spawn,
}

/// What judges a check.
pub enum Judge {
    /// A pure function of one case's transcript.
    Transcript(fn(&Observed) -> Option<Failure>),
    /// The campaign, from what it watches of a spawned target across cases.
    Target,
}

/// A named property a server is held to: its level, the layers whose cases it judges (every
/// layer when empty), what it verifies, and what judges it.
pub struct Check {
    pub name: &'static str,
    pub level: Level,
    pub layers: &'static [Layer],
    pub needs: Needs,
    pub about: &'static str,
    pub judge: Judge,
}

impl PartialEq for Check {
    fn eq(&self, other: &Check) -> bool {
        self.name == other.name
    }
}

impl Eq for Check {}

impl std::hash::Hash for Check {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl PartialOrd for Check {
    fn partial_cmp(&self, other: &Check) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Check {
    fn cmp(&self, other: &Check) -> std::cmp::Ordering {
        self.name.cmp(other.name)
    }
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Serialize for Check {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name)
    }
}

/// The check of that name, for names read from flags, files and saved cases.
pub fn named(name: &str) -> Option<&'static Check> {
    CHECKS.iter().copied().find(|c| c.name == name)
}

/// Which checks judge a campaign's cases: all, or those named by `--checks`, less those named
/// by `--exclude-checks`.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// The checks to run; empty for all.
    pub only: Vec<&'static Check>,
    pub exclude: Vec<&'static Check>,
}

impl Selection {
    pub fn admits(&self, check: &Check) -> bool {
        (self.only.is_empty() || self.only.contains(&check)) && !self.exclude.contains(&check)
    }
}

/// Everything a check may look at.
pub struct Observed<'a> {
    pub case: &'a Case,
    pub transcript: &'a Transcript,
    pub channel: &'a Channel,
}

/// How a case broke a check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Failure {
    pub check: &'static Check,
    /// The step (from 1) whose answer failed, or `None` for the connection or the probe.
    pub step: Option<usize>,
    pub expected: String,
    pub actual: String,
    /// What kind of input met what kind of answer (`not JSON → silence`): findings of one check
    /// are kept apart by it, so that distinct causes do not hide behind each other.
    pub cause: String,
}

/// HTTP statuses that say the server itself failed (501 and 505 are refusals of what was asked).
pub fn internal_status(status: u16) -> bool {
    matches!(status, 500 | 502..=504)
}

/// HTTP statuses that refuse a request cleanly: 4xx, and 501/505 for what the server does not do.
pub fn refusal_status(status: u16) -> bool {
    matches!(status, 400..=499 | 501 | 505)
}

/// Codes that say the client sent something wrong (RFC 6455 §7.4.1).
pub const FITTING_CLOSE_CODES: [u16; 5] = [1002, 1003, 1007, 1008, 1009];

const ALL: &[Layer] = &[];
const MESSAGES: &[Layer] = &[Layer::Messages, Layer::Clients];
const WIRE: &[Layer] = &[Layer::Frames, Layer::Disconnect];
const HANDSHAKE: &[Layer] = &[Layer::Handshake];

/// A check judged from transcripts, that needs nothing more.
const fn transcript(
    name: &'static str,
    level: Level,
    layers: &'static [Layer],
    about: &'static str,
    run: fn(&Observed) -> Option<Failure>,
) -> Check {
    Check {
        name,
        level,
        layers,
        needs: Needs::Nothing,
        about,
        judge: Judge::Transcript(run),
    }
}

pub static STAYS_RESPONSIVE: Check = transcript(
    "stays_responsive",
    Level::Error,
    ALL,
    "after every case a fresh connection still gets its handshake (and greeting) in time",
    stays_responsive,
);
pub static NO_INTERNAL_ERROR: Check = transcript(
    "no_internal_error",
    Level::Error,
    ALL,
    "the server never closes with 1011 nor answers a handshake with HTTP 500, 502, 503 or 504",
    no_internal_error,
);
pub static NO_ABRUPT_CLOSE: Check = transcript("no_abrupt_close", Level::Error, ALL, "the server never ends a connection without a close frame (the client's 1006) after input that is valid at the wire", no_abrupt_close);
pub static NO_LEAKED_INTERNALS: Check = transcript(
    "no_leaked_internals",
    Level::Error,
    ALL,
    "no stack trace or exception text in messages, close reasons or HTTP bodies",
    no_leaked_internals,
);
pub static GREETS_ON_CONNECT: Check = transcript(
    "greets_on_connect",
    Level::Error,
    MESSAGES,
    "a known endpoint accepts the connection and sends the greeting the spec promises, in time",
    greets_on_connect,
);
pub static REFUSES_UNKNOWN_ENDPOINT: Check = transcript(
    "refuses_unknown_endpoint",
    Level::Error,
    MESSAGES,
    "an unknown or hostile parameter value is refused: HTTP 4xx, or the spec's close code",
    refuses_unknown_endpoint,
);
pub static VALID_REQUEST_GETS_REPLY: Check = transcript(
    "valid_request_gets_reply",
    Level::Error,
    MESSAGES,
    "a message that matches the spec gets a reply that conforms to its schema, in time",
    valid_request_gets_reply,
);
pub static BAD_INPUT_GETS_ERROR: Check = transcript("bad_input_gets_error", Level::Error, MESSAGES, "bad input gets a message the spec declares (its error envelope, say) or a close, in time: never silence, nor a message the spec does not declare", bad_input_gets_error);
pub static BAD_INPUT_CLOSE_CODE: Check = transcript(
    "bad_input_close_code",
    Level::Warning,
    MESSAGES,
    "a close in answer to bad input says why: 1002, 1003, 1007, 1008, 1009 or an application code 4000-4999, and a message past the size limit gets 1009, not a dropped connection (RFC 6455 §7.4.1)",
    bad_input_close_code,
);
pub static REFUSED_WRITE_CHANGES_NOTHING: Check = transcript("refused_write_changes_nothing", Level::Error, &[Layer::Messages], "a write the server refused (an error, success: false, a close) leaves the resource as it was: a fresh connection's greeting is unchanged", data::refused_write_changes_nothing);
pub static WRITE_IS_VISIBLE: Check = transcript(
    "write_is_visible",
    Level::Error,
    &[Layer::Messages],
    "a write the server took is what a fresh connection to the resource sees",
    data::write_is_visible,
);
pub static SERVER_FOLLOWS_RFC6455: Check = transcript("server_follows_rfc6455", Level::Error, ALL, "the server's frames and handshake answers follow RFC 6455 where a client must fail the connection otherwise: unmasked, known opcodes, no stray RSV bits, UTF-8 text, short unfragmented control frames, a right Sec-WebSocket-Accept", wire::server_follows_rfc6455);
pub static SERVER_FRAMES_EXACT: Check = transcript("server_frames_exact", Level::Warning, ALL, "the server's frames follow RFC 6455 to the letter where clients forgive it: lengths in as few bytes as they need (§5.2), close codes that may be sent and UTF-8 close reasons (§7.4, §5.5.1)", wire::server_frames_exact);
pub static HANDSHAKE_REFUSED_CLEANLY: Check = transcript(
    "handshake_refused_cleanly",
    Level::Warning,
    HANDSHAKE,
    "a WebSocket handshake RFC 6455 forbids is not accepted, and gets an HTTP answer (§4.2.1); a request that is no upgrade at all may get any answer but 101, or none",
    wire::handshake_refused_cleanly,
);
pub static BAD_FRAMES_FAIL_THE_CONNECTION: Check = transcript("bad_frames_fail_the_connection", Level::Warning, WIRE, "a frame that breaks the protocol gets a close with the fitting code (1002, 1007, 1009), in time (§7.1.7, §7.4.1)", wire::bad_frames_fail_the_connection);
pub static BOUNDARY_LENGTHS_REFUSED: Check = transcript("boundary_lengths_refused", Level::Error, WIRE, "a frame declaring a length no server can take (past 2^31, or with the top bit set), on its own or continuing a message, gets a close or a dropped connection, never silence: a silent server is stuck reading it or stuck for good", wire::boundary_lengths_refused);
pub static HEADER_TIME_LINEAR: Check = transcript("header_time_linear", Level::Error, HANDSHAKE, "the server's time (its CPU with --spawn, else the time to answer) grows at most linearly as a header's value doubles in a shape that makes parsers backtrack: runs of separators, escapes in a quote never closed", scale::header_time_linear);
pub static DRIP_TIME_LINEAR: Check = transcript("drip_time_linear", Level::Error, HANDSHAKE, "the server's time grows at most linearly as a request that never ends is sent in small writes: a parser that starts over on every packet does quadratic work", scale::drip_time_linear);
pub static MESSAGE_SIZE_LIMITED: Check = Check { needs: Needs::Spawn, ..transcript("message_size_limited", Level::Error, WIRE, "with --spawn: a message in fragments that never ends is refused (1009) before the target holds 16 MiB of it", scale::message_size_limited) };
pub static SIZE_LIMIT_ENFORCED: Check = transcript(
    "size_limit_enforced",
    Level::Warning,
    WIRE,
    "without --spawn: a message in fragments that never ends is refused before it passes 16 MiB",
    scale::size_limit_enforced,
);
pub static MEMORY_PROPORTIONATE: Check = Check { needs: Needs::Spawn, ..transcript("memory_proportionate", Level::Error, WIRE, "with --spawn: a message in many small fragments costs the target at most 4 bytes of memory per byte sent (and 64 MiB at least before it counts), or is refused", scale::memory_proportionate) };
pub static VALID_FRAMES_KEEP_THE_CONNECTION: Check = transcript("valid_frames_keep_the_connection", Level::Error, WIRE, "after valid frames the connection is kept: a ping gets its pong, and no protocol error is claimed", wire::valid_frames_keep_the_connection);
pub static ANSWERS_CLOSE_WITH_CLOSE: Check = transcript(
    "answers_close_with_close",
    Level::Warning,
    WIRE,
    "a client's close frame gets a close frame back (§5.5.1)",
    wire::answers_close_with_close,
);
pub static CLOSES_TCP_AFTER_CLOSE: Check = transcript(
    "closes_tcp_after_close",
    Level::Warning,
    WIRE,
    "once the closing handshake is done, the server closes the TCP connection (§7.1.1)",
    wire::closes_tcp_after_close,
);
pub static BYSTANDER_UNAFFECTED: Check = transcript(
    "bystander_unaffected",
    Level::Error,
    &[Layer::Frames, Layer::Disconnect, Layer::Handshake],
    "a client connected while a wire case runs keeps being served",
    wire::bystander_unaffected,
);
pub static REFUSES_WITHOUT_CREDENTIALS: Check = Check { needs: Needs::Secrets, ..transcript("refuses_without_credentials", Level::Error, HANDSHAKE, "with credentials given (--header, --cookie, --query, --token), a handshake without them is refused: HTTP 401 or 403, or a close with 1008", wire::refuses_without_credentials) };
pub static REFUSES_WRONG_CREDENTIALS: Check = Check {
    needs: Needs::Secrets,
    ..transcript(
        "refuses_wrong_credentials",
        Level::Error,
        HANDSHAKE,
        "with credentials given, a handshake with each secret altered by one character is refused",
        wire::refuses_wrong_credentials,
    )
};
pub static REFUSES_FOREIGN_ORIGIN: Check = Check { needs: Needs::Origin, ..transcript("refuses_foreign_origin", Level::Error, HANDSHAKE, "with an origin given (--origin, or the spec's x-wsfuzz-origin), the right credentials sent from a foreign Origin are refused (cross-site WebSocket hijacking)", wire::refuses_foreign_origin) };
pub static BROADCASTS_REACH_PEERS: Check = transcript("broadcasts_reach_peers", Level::Error, &[Layer::Clients], "in a scenario of several clients, each client still connected gets every broadcast the spec owes it (x-wsfuzz-on: broadcast), however others left", clients::broadcasts_reach_peers);
pub static NO_STRAY_BROADCASTS: Check = transcript("no_stray_broadcasts", Level::Error, &[Layer::Clients], "no client gets pushed messages it is not owed: none from other resources, none for failed or refused requests, none echoed to the sender", clients::no_stray_broadcasts);

/// The checks that judge what a case of scale cost, by its shape.
static SCALE_CHECKS: [&Check; 5] = [
    &HEADER_TIME_LINEAR,
    &DRIP_TIME_LINEAR,
    &MESSAGE_SIZE_LIMITED,
    &SIZE_LIMIT_ENFORCED,
    &MEMORY_PROPORTIONATE,
];

/// Every check, in the order findings are reported.
pub static CHECKS: &[&Check] = &[
    &STAYS_RESPONSIVE,
    &NO_INTERNAL_ERROR,
    &NO_ABRUPT_CLOSE,
    &NO_LEAKED_INTERNALS,
    &GREETS_ON_CONNECT,
    &REFUSES_UNKNOWN_ENDPOINT,
    &VALID_REQUEST_GETS_REPLY,
    &BAD_INPUT_GETS_ERROR,
    &BAD_INPUT_CLOSE_CODE,
    &REFUSED_WRITE_CHANGES_NOTHING,
    &WRITE_IS_VISIBLE,
    &SERVER_FOLLOWS_RFC6455,
    &SERVER_FRAMES_EXACT,
    &HANDSHAKE_REFUSED_CLEANLY,
    &BAD_FRAMES_FAIL_THE_CONNECTION,
    &BOUNDARY_LENGTHS_REFUSED,
    &HEADER_TIME_LINEAR,
    &DRIP_TIME_LINEAR,
    &MESSAGE_SIZE_LIMITED,
    &SIZE_LIMIT_ENFORCED,
    &MEMORY_PROPORTIONATE,
    &VALID_FRAMES_KEEP_THE_CONNECTION,
    &ANSWERS_CLOSE_WITH_CLOSE,
    &CLOSES_TCP_AFTER_CLOSE,
    &BYSTANDER_UNAFFECTED,
    &REFUSES_WITHOUT_CREDENTIALS,
    &REFUSES_WRONG_CREDENTIALS,
    &REFUSES_FOREIGN_ORIGIN,
    &BROADCASTS_REACH_PEERS,
    &NO_STRAY_BROADCASTS,
    &process::TARGET_KEEPS_RUNNING,
    &process::NO_PANIC_IN_OUTPUT,
    &process::CPU_PER_CASE_BOUNDED,
    &process::MEMORY_DOES_NOT_JUMP,
    &process::MEMORY_DOES_NOT_LEAK,
    &process::DESCRIPTORS_COME_BACK,
];

/// Every check as `wsfuzz checks` lists it: name, level, layers, and what it verifies.
pub fn listing() -> String {
    let mut out = String::new();
    for check in CHECKS {
        let layers = match check.layers {
            [] => "every layer".to_string(),
            layers => layers
                .iter()
                .map(|l| l.name())
                .collect::<Vec<_>>()
                .join(", "),
        };
        let needs = match check.needs {
            Needs::Nothing => "",
            Needs::Secrets => "; with credentials given",
            Needs::Origin => "; with an origin given",
            Needs::Spawn => "; with --spawn",
        };
        out.push_str(&format!(
            "{} ({}; {layers}{needs})\n    {}\n",
            check.name,
            check.level.name(),
            check.about
        ));
    }
    out
}

/// Runs every check on one transcript.
pub fn judge(observed: &Observed) -> Vec<Failure> {
    CHECKS
        .iter()
        .filter_map(|check| match check.judge {
            Judge::Transcript(run) => run(observed),
            Judge::Target => None,
        })
        .map(|mut failure| {
            failure.cause = cause(observed, &failure);
            failure
        })
        .collect()
}

/// The kind of input that failed and the kind of answer it got, without the particulars (the
/// value, the length) that differ from case to case.
fn cause(o: &Observed, failure: &Failure) -> String {
    let kind = |why: &str| {
        // `a near-miss of `say` that breaks only `/properties/text/maxLength`: 501 characters`
        // is a near-miss that breaks that constraint, of whichever message has it.
        let general = why.split(": ").next().unwrap_or(why);
        let general = match general.split_once(" of `") {
            Some((head, rest)) if head.ends_with("near-miss") => {
                format!("{head} {}", rest.split_once("` ").map_or(rest, |(_, r)| r))
            }
            _ => general.to_string(),
        };
        // Numbers and quoted values are the particulars of one case; a section (`§5.4`) is not.
        let mut out = String::new();
        let mut quoted = false;
        let mut section = false;
        for c in general.chars() {
            section = c == '§' || (section && (c.is_ascii_digit() || c == '.'));
            if section {
                out.push(c);
                continue;
            }
            match (c, quoted, c.is_ascii_digit(), out.ends_with('N')) {
                ('"', false, ..) => {
                    quoted = true;
                    out.push_str("\"…");
                }
                ('"', true, ..) => {
                    quoted = false;
                    out.push('"');
                }
                (_, true, ..) | (_, false, true, true) => {}
                (_, false, true, false) => out.push('N'),
                _ => out.push(c),
            }
        }
        out
    };
    let answer = |response: &Response| match response {
        Response::Text { .. } => "a message".to_string(),
        Response::Binary { .. } => "a binary message".to_string(),
        Response::Closed {
            code: Some(code), ..
        } => format!("close {code}"),
        Response::Closed { code: None, .. } => "a close without a code".to_string(),
        Response::Dropped { .. } => "a drop".to_string(),
        Response::TooLarge { .. } => "a message too large to read".to_string(),
        Response::Silent { .. } => "silence".to_string(),
        Response::Skipped => String::new(),
    };
    // A scenario of several clients, or connections at once, fail as a whole.
    if o.case.layer() == Layer::Clients || !o.case.alongside.is_empty() {
        return String::new();
    }
    // A case of scale is told by its shape, whatever its size, where its cost is judged;
    // other checks it fails are told by its class, so one flaw is not a finding per shape.
    if let Some(shape) = o.case.shape() {
        return match SCALE_CHECKS.iter().any(|c| std::ptr::eq(*c, failure.check)) {
            true => shape,
            false => format!(
                "a case of {}",
                crate::gen::scale::class_of(o.case).map_or("scale", |c| c.name())
            ),
        };
    }
    if let Some(w) = &o.transcript.wire {
        // A handshake is told by how it was answered: a server that takes every broken
        // handshake shows one flaw, not one for each rule a handshake can break.
        if w.must_refuse.is_some() {
            return format!("a handshake to refuse → {}", w.answer);
        }
        let input = match &w.obligation {
            Obligation::Fail { what, .. } | Obligation::Either { what, .. } => kind(what),
            _ => "valid frames".to_string(),
        };
        return format!("{input} → {}", answer(&w.after));
    }
    if let Some(record) = failure.step.and_then(|i| o.transcript.steps.get(i - 1)) {
        let input = match &record.expectation {
            Expectation::Reject { why } | Expectation::Either { why, .. } => kind(why),
            Expectation::Reply { .. } => "a valid message".to_string(),
            Expectation::Anything => String::new(),
        };
        return format!("{input} → {}", answer(&record.response));
    }
    String::new()
}

/// The responses of a case, with the step each belongs to (`None`: what came on connect).
fn responses(t: &Transcript) -> impl Iterator<Item = (Option<usize>, &Response)> {
    t.greeting.iter().map(|r| (None, r)).chain(
        t.steps
            .iter()
            .enumerate()
            .map(|(i, s)| (Some(i + 1), &s.response)),
    )
}

/// Whether a response is already some other check's business, or nobody's: a message over
/// wsfuzz's own read limit says nothing about the server.
fn judged_apart(response: &Response) -> bool {
    matches!(
        response,
        Response::Dropped { .. }
            | Response::TooLarge { .. }
            | Response::Closed {
                code: Some(1011),
                ..
            }
    )
}

/// Whether the answer to step `index` is the server refusing an endpoint whose admission the
/// spec leaves open: nothing came on connect and the first answer is a refusal close.
fn endpoint_refused(t: &Transcript, index: usize, response: &Response) -> bool {
    let refusal = matches!(response, Response::Closed { code: Some(c), .. } if *c == 1008 || (4000..5000).contains(c));
    t.admission == Admission::Either && t.greeting.is_none() && index == 0 && refusal
}

fn failure(
    check: &'static Check,
    step: Option<usize>,
    expected: impl Into<String>,
    actual: impl Into<String>,
) -> Option<Failure> {
    Some(Failure {
        check,
        step,
        expected: expected.into(),
        actual: actual.into(),
        cause: String::new(),
    })
}

fn stays_responsive(o: &Observed) -> Option<Failure> {
    if let Connect::Unanswered { waited_ms } = o.transcript.connect {
        let actual = format!(
            "the handshake for {} got no answer within {waited_ms} ms",
            crate::case::abbreviate(&o.transcript.url)
        );
        return failure(
            &STAYS_RESPONSIVE,
            None,
            "every handshake is answered in time",
            actual,
        );
    }
    match &o.transcript.probe {
        Some(Probe::Failed { error }) => failure(
            &STAYS_RESPONSIVE,
            None,
            "a fresh connection after the case is served in time",
            format!("the probe connection failed: {error}"),
        ),
        _ => None,
    }
}

fn no_internal_error(o: &Observed) -> Option<Failure> {
    let expected = "no 1011 close and no HTTP 500, 502, 503 or 504";
    if let Some(actual) = wire::internal_error(o) {
        return failure(&NO_INTERNAL_ERROR, None, expected, actual);
    }
    if let Connect::Refused { status, body } = &o.transcript.connect {
        if internal_status(*status) {
            return failure(
                &NO_INTERNAL_ERROR,
                None,
                expected,
                format!(
                    "the handshake got HTTP {status}: {}",
                    crate::case::abbreviate(body)
                ),
            );
        }
    }
    let (step, response) = responses(o.transcript).find(|(_, r)| {
        matches!(
            r,
            Response::Closed {
                code: Some(1011),
                ..
            }
        )
    })?;
    failure(&NO_INTERNAL_ERROR, step, expected, response.to_string())
}

/// Whether the server was down after the case: then what its connections suffered is its
/// death's doing, and `stays_responsive` alone reports it.
fn server_down(o: &Observed) -> bool {
    matches!(o.transcript.probe, Some(Probe::Failed { .. }))
}

fn no_abrupt_close(o: &Observed) -> Option<Failure> {
    if server_down(o) {
        return None;
    }
    let expected = "every connection the server ends, it ends with a close frame";
    if let Connect::Broken { error } = &o.transcript.connect {
        return failure(
            &NO_ABRUPT_CLOSE,
            None,
            expected,
            format!("the connection broke during the handshake: {error}"),
        );
    }
    let (step, response) = responses(o.transcript).find(|(step, r)| {
        matches!(r, Response::Dropped { .. }) && !step.is_some_and(|i| oversized(o, i))
    })?;
    failure(&NO_ABRUPT_CLOSE, step, expected, response.to_string())
}

/// A message size past which a server may refuse a message, when the spec names no limit: the
/// smallest default of the stacks in wide use (Python `websockets`).
const COMMON_LIMIT: usize = 1 << 20;

/// Whether step `step` (from 1) sent a message past the server's limit: one the spec lets it
/// refuse. Stacks refuse those by dropping the connection as often as with the 1009 RFC 6455
/// asks for (§7.4.1): that is `bad_input_close_code`'s warning, not a dropped connection.
fn oversized(o: &Observed, step: usize) -> bool {
    let limit = o.channel.max_message_bytes.unwrap_or(COMMON_LIMIT);
    matches!(o.case.steps.get(step - 1), Some(Step::Send(payload)) if payload.len() > limit)
}

/// Shapes of stack traces and exception messages from common server stacks.
const LEAK_PATTERNS: [&str; 10] = [
    r"Traceback \(most recent call last\)",
    r#"File "[^"]+", line \d+"#,
    r"panicked at",
    r"stack backtrace:",
    r"goroutine \d+ \[",
    r"Exception in thread",
    r"\bat [\w$.]+\([\w$]+\.(java|kt|scala):\d+\)",
    r"\bat .+\.(js|mjs|cjs|ts):\d+:\d+\)?",
    r"\b[A-Z]\w*(Error|Exception): ",
    r"\bat [\w.]+\.\w+\(.*\) in .+:line \d+",
];

fn leak_patterns() -> &'static [Regex] {
    static PATTERNS: OnceLock<Vec<Regex>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        LEAK_PATTERNS
            .iter()
            .map(|p| Regex::new(p).expect("leak patterns are valid regexes"))
            .collect()
    })
}

fn no_leaked_internals(o: &Observed) -> Option<Failure> {
    // Text the client itself sent may legitimately come back (an echo), so it does not count.
    // It is serialized only when a pattern matches, which is rare: messages can be megabytes.
    let sent: std::cell::OnceCell<Vec<String>> = std::cell::OnceCell::new();
    let leak = |text: &str| {
        leak_patterns()
            .iter()
            .flat_map(|p| p.find_iter(text))
            .find(|m| {
                let sent =
                    sent.get_or_init(|| o.case.sent_texts().map(|t| t.into_owned()).collect());
                !sent.iter().any(|s| s.contains(m.as_str()))
            })
            .map(|m| m.as_str().to_string())
    };
    let expected = "no stack trace or exception text";
    if let Connect::Refused { body, .. } = &o.transcript.connect {
        if let Some(found) = leak(body) {
            return failure(
                &NO_LEAKED_INTERNALS,
                None,
                expected,
                format!(
                    "the HTTP refusal body shows `{found}`: {}",
                    crate::case::abbreviate(body)
                ),
            );
        }
    }
    responses(o.transcript).find_map(|(step, response)| {
        let text = match response {
            Response::Text { text } => text,
            Response::Closed { reason, .. } => reason,
            _ => return None,
        };
        let found = leak(text)?;
        failure(
            &NO_LEAKED_INTERNALS,
            step,
            expected,
            format!("{response}, which shows `{found}`"),
        )
    })
}

/// The first of `messages` a text matches, or why it matches none (against the first).
fn conforms(text: &str, messages: &[Message]) -> Result<(), String> {
    let parsed = parse_json(text);
    if messages
        .iter()
        .any(|m| m.matches_text(text, parsed.as_ref()))
    {
        return Ok(());
    }
    let names: Vec<&str> = messages.iter().map(|m| m.name.as_str()).collect();
    Err(format!(
        "matches none of {} ({} {})",
        names.join(", "),
        names.first().unwrap_or(&"?"),
        messages
            .first()
            .map(|m| m.mismatch(text, parsed.as_ref()))
            .unwrap_or_default()
    ))
}

fn names(messages: &[Message]) -> String {
    messages
        .iter()
        .map(|m| m.name.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

fn greets_on_connect(o: &Observed) -> Option<Failure> {
    let t = o.transcript;
    if t.admission != Admission::Accept {
        return None;
    }
    let greeting = &o.channel.greeting;
    let expected = if greeting.is_empty() {
        "the handshake is accepted".to_string()
    } else {
        format!("the handshake is accepted and {} arrives", names(greeting))
    };
    match &t.connect {
        Connect::Refused { status, .. } if !internal_status(*status) => {
            return failure(
                &GREETS_ON_CONNECT,
                None,
                expected,
                format!("the handshake was refused with HTTP {status}"),
            )
        }
        Connect::Accepted => {}
        _ => return None,
    }
    // A message that came unasked where the spec promises no greeting is no greeting to judge.
    if greeting.is_empty() {
        return None;
    }
    let response = t.greeting.as_ref()?;
    let actual = match response {
        _ if judged_apart(response) => return None,
        Response::Text { text } => match conforms(text, greeting) {
            Ok(()) => return None,
            Err(why) => format!("{response}, which {why}"),
        },
        other => other.to_string(),
    };
    failure(&GREETS_ON_CONNECT, None, expected, actual)
}

fn refuses_unknown_endpoint(o: &Observed) -> Option<Failure> {
    let t = o.transcript;
    if t.admission != Admission::Refuse {
        return None;
    }
    let refusal = o.channel.refusal.as_ref();
    let expected = match refusal.and_then(|r| r.close_code) {
        Some(code) => format!("HTTP 4xx or a close {code}"),
        None => "HTTP 4xx or a close 1008 or 4000-4999".to_string(),
    };
    match &t.connect {
        Connect::Refused { status, .. } if refusal_status(*status) => return None,
        Connect::Refused { status, .. } if !internal_status(*status) => {
            return failure(
                &REFUSES_UNKNOWN_ENDPOINT,
                None,
                expected,
                format!("the handshake got HTTP {status}"),
            )
        }
        Connect::Accepted => {}
        _ => return None,
    }
    let response = t.greeting.as_ref()?;
    let actual = match response {
        _ if judged_apart(response) => return None,
        Response::Closed {
            code: Some(code),
            reason,
        } => {
            let code_fits = match refusal.and_then(|r| r.close_code) {
                Some(wanted) => *code == wanted,
                None => *code == 1008 || (4000..5000).contains(code),
            };
            let reason_fits = refusal
                .and_then(|r| r.reason.as_ref())
                .is_none_or(|p| p.is_match(reason));
            if code_fits && reason_fits {
                return None;
            }
            if code_fits {
                format!("{response}, whose reason does not match the spec's reasonPattern")
            } else {
                response.to_string()
            }
        }
        other => format!("the connection was accepted and then: {other}"),
    };
    failure(&REFUSES_UNKNOWN_ENDPOINT, None, expected, actual)
}

fn valid_request_gets_reply(o: &Observed) -> Option<Failure> {
    o.transcript.steps.iter().enumerate().find_map(|(i, step)| {
        let response = &step.response;
        let operation = match step.expectation {
            Expectation::Reply { operation } => operation,
            // Input the server may serve or refuse: once it answers with something other than
            // the error envelope, it served it, and the reply must conform.
            Expectation::Either {
                operation: Some(operation),
                ..
            } => match response {
                Response::Text { text } if conforms(text, &o.channel.errors).is_err() => operation,
                _ => return None,
            },
            _ => return None,
        };
        let replies = &o.channel.operations[operation].replies;
        let actual = match response {
            Response::Skipped => return None,
            _ if judged_apart(response) || endpoint_refused(o.transcript, i, response) => {
                return None
            }
            Response::Silent { .. } if replies.is_empty() => return None,
            Response::Text { .. } if replies.is_empty() => return None,
            Response::Text { text } => match conforms(text, replies) {
                Ok(()) => return None,
                Err(why) => format!("{response}, which {why}"),
            },
            other => other.to_string(),
        };
        let expected = if replies.is_empty() {
            "the connection stays open".to_string()
        } else {
            names(replies)
        };
        failure(&VALID_REQUEST_GETS_REPLY, Some(i + 1), expected, actual)
    })
}

/// Every message the spec says the server may send on a channel: what it sends unasked or in
/// reply, its errors and its broadcasts.
fn declared(channel: &Channel) -> Vec<&Message> {
    channel
        .greeting
        .iter()
        .chain(channel.operations.iter().flat_map(|op| &op.replies))
        .chain(&channel.errors)
        .chain(channel.broadcasts.iter().flat_map(|b| &b.messages))
        .chain(&channel.pushed)
        .collect()
}

/// Why step `index`'s input counts as bad, for the reports; `None` for input that is not.
fn bad_input(step: &crate::transcript::StepRecord, response: &Response) -> Option<String> {
    match &step.expectation {
        Expectation::Reject { why } => Some(why.clone()),
        // A served request's reply is `valid_request_gets_reply`'s to judge.
        Expectation::Either {
            operation: Some(_), ..
        } if matches!(response, Response::Text { .. }) => None,
        Expectation::Either { why, .. } => Some(why.clone()),
        _ => None,
    }
}

fn bad_input_gets_error(o: &Observed) -> Option<Failure> {
    let channel = o.channel;
    // With an error envelope declared, bad input gets it (or, where the input may be served, a
    // reply). A plain AsyncAPI document lists what the server sends without saying which is
    // the error: then any message it declares is an answer.
    let answers: Vec<&Message> = match channel.errors.is_empty() {
        true => declared(channel),
        false => channel.errors.iter().collect(),
    };
    let replies: Vec<&Message> = channel
        .operations
        .iter()
        .flat_map(|op| &op.replies)
        .collect();
    o.transcript.steps.iter().enumerate().find_map(|(i, step)| {
        let response = &step.response;
        let why = bad_input(step, response)?;
        let either = matches!(step.expectation, Expectation::Either { .. });
        let actual = match response {
            Response::Skipped | Response::Closed { .. } => return None,
            _ if judged_apart(response) || endpoint_refused(o.transcript, i, response) => {
                return None
            }
            Response::Text { text } => {
                let parsed = parse_json(text);
                let fits = |m: &&Message| m.matches_text(text, parsed.as_ref());
                if answers.iter().any(fits) || (either && replies.iter().any(fits)) {
                    return None;
                }
                match channel.errors.is_empty() {
                    true => format!("{response}, which is no message the spec declares"),
                    false => format!(
                        "{response}, which {}",
                        conforms(text, &channel.errors).unwrap_err()
                    ),
                }
            }
            other => other.to_string(),
        };
        let mut expected = match channel.errors.is_empty() {
            true => "a message the spec declares, or a close".to_string(),
            false => format!("{} or a close", names(&channel.errors)),
        };
        if either && !channel.errors.is_empty() {
            expected.push_str(", or a conforming reply");
        }
        failure(
            &BAD_INPUT_GETS_ERROR,
            Some(i + 1),
            format!("{expected} (the input was {why})"),
            actual,
        )
    })
}

fn bad_input_close_code(o: &Observed) -> Option<Failure> {
    o.transcript.steps.iter().enumerate().find_map(|(i, step)| {
        let response = &step.response;
        let why = bad_input(step, response)?;
        match response {
            Response::Closed {
                code: Some(code), ..
            } if FITTING_CLOSE_CODES.contains(code) || matches!(code, 1011 | 4000..=4999) => None,
            Response::Closed { .. } if endpoint_refused(o.transcript, i, response) => None,
            Response::Dropped { .. } if oversized(o, i + 1) => failure(
                &BAD_INPUT_CLOSE_CODE,
                Some(i + 1),
                format!("a close with 1009 (the input was {why})"),
                format!("{response}, with no close frame"),
            ),
            Response::Closed { .. } => failure(
                &BAD_INPUT_CLOSE_CODE,
                Some(i + 1),
                format!("a close with 1002, 1003, 1007, 1008, 1009 or an application's 4000-4999 (the input was {why})"),
                response.to_string(),
            ),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Step;
    use crate::case::{Endpoint, Payload};
    use crate::spec::Spec;
    use crate::transcript::StepRecord;
    use serde_json::json;

    fn spec() -> Spec {
        Spec::parse(crate::PROMPT_MANAGER_SPEC, "pm").unwrap()
    }

    const INITIAL: &str = r#"{"action":"initial","content":"c","description":null,"tags":[],"is_composite":false,"updated_at":null}"#;

    /// A one-step transcript on the prompt channel, with the given greeting and answer.
    fn judge_one(
        id: &str,
        greeting: Response,
        payload: Payload,
        answer: Response,
    ) -> Vec<&'static str> {
        let spec = spec();
        let channel = spec.channel("prompt").unwrap();
        let case = Case {
            handshake: None,
            endpoint: Endpoint {
                channel: "prompt".into(),
                address: channel.address.clone(),
                params: [("prompt_id".to_string(), id.to_string())].into(),
            },
            steps: vec![Step::Send(payload.clone())],
            alongside: Vec::new(),
            before: Vec::new(),
            credentials: None,
        };
        let transcript = Transcript {
            url: String::new(),
            admission: channel.admits(&case.endpoint.params),
            connect: Connect::Accepted,
            greeting: Some(greeting),
            steps: vec![StepRecord {
                expectation: channel.classify(&payload),
                response: answer,
            }],
            probe: Some(Probe::Answered),
            wire: None,
            clients: Vec::new(),
            revisit: None,
            crowded: false,
            earlier_on_connection: Vec::new(),
            kept_open: false,
            sent: 1,
            events: Vec::new(),
        };
        judge(&Observed {
            case: &case,
            transcript: &transcript,
            channel,
        })
        .into_iter()
        .map(|f| f.check.name)
        .collect()
    }

    fn text(s: &str) -> Response {
        Response::Text {
            text: s.to_string(),
        }
    }

    fn valid() -> Payload {
        Payload::Json(json!({"action": "update", "content": "x"}))
    }

    fn garbage() -> Payload {
        Payload::Text("{".into())
    }

    const STATUS: &str =
        r#"{"action":"update_status","success":true,"timestamp":"2026-01-01T00:00:00Z"}"#;
    const ERROR: &str = r#"{"action":"error","error":"invalid_json","message":"not JSON"}"#;

    #[test]
    fn a_correct_exchange_passes_every_check() {
        assert!(judge_one("greeting", text(INITIAL), valid(), text(STATUS)).is_empty());
        assert!(judge_one("greeting", text(INITIAL), garbage(), text(ERROR)).is_empty());
        assert!(judge_one(
            "greeting",
            text(INITIAL),
            garbage(),
            Response::Closed {
                code: Some(1007),
                reason: "".into()
            }
        )
        .is_empty());
        let refused = Response::Closed {
            code: Some(4004),
            reason: "Prompt 'x' not found".into(),
        };
        assert!(judge_one("x", refused, valid(), Response::Skipped).is_empty());
    }

    #[test]
    fn each_flaw_is_one_check() {
        let greeting = || text(INITIAL);
        let closed = |code| Response::Closed {
            code: Some(code),
            reason: String::new(),
        };
        assert_eq!(
            judge_one(
                "greeting",
                greeting(),
                garbage(),
                Response::Dropped {
                    error: "reset".into()
                }
            ),
            ["no_abrupt_close"]
        );
        assert_eq!(
            judge_one("greeting", greeting(), garbage(), closed(1011)),
            ["no_internal_error"]
        );
        assert_eq!(
            judge_one(
                "greeting",
                greeting(),
                garbage(),
                Response::Silent { waited_ms: 5 }
            ),
            ["bad_input_gets_error"]
        );
        // A close is an answer; which code it carries is a warning's business.
        assert_eq!(
            judge_one("greeting", greeting(), garbage(), closed(1000)),
            ["bad_input_close_code"]
        );
        assert!(judge_one("greeting", greeting(), garbage(), closed(4400)).is_empty());
        assert_eq!(
            judge_one("greeting", greeting(), garbage(), text(STATUS)),
            ["bad_input_gets_error"]
        );
        assert_eq!(
            judge_one("greeting", greeting(), valid(), text(ERROR)),
            ["valid_request_gets_reply"]
        );
        assert_eq!(
            judge_one(
                "greeting",
                greeting(),
                valid(),
                Response::Silent { waited_ms: 5 }
            ),
            ["valid_request_gets_reply"]
        );
        let wrong_status =
            r#"{"action":"update_status","success":"yes","timestamp":"2026-01-01T00:00:00Z"}"#;
        assert_eq!(
            judge_one("greeting", greeting(), valid(), text(wrong_status)),
            ["valid_request_gets_reply"]
        );
        assert_eq!(
            judge_one(
                "greeting",
                text(r#"{"action":"initial"}"#),
                valid(),
                text(STATUS)
            ),
            ["greets_on_connect"]
        );
        assert_eq!(
            judge_one("nope", greeting(), valid(), text(STATUS)),
            ["refuses_unknown_endpoint"]
        );
        assert_eq!(
            judge_one("nope", closed(1000), valid(), Response::Skipped),
            ["refuses_unknown_endpoint"]
        );
        let traceback = r#"{"action":"error","error":"invalid_json","message":"Traceback (most recent call last): File \"app.py\", line 3"}"#;
        assert_eq!(
            judge_one("greeting", greeting(), garbage(), text(traceback)),
            ["no_leaked_internals"]
        );
    }

    #[test]
    fn input_the_server_may_serve_or_refuse_is_judged_by_what_it_did() {
        let nested = (0..70).fold(json!(1), |inner, _| json!([inner]));
        let deep =
            || Payload::Json(json!({"action": "update", "content": "x", "extra": nested.clone()}));
        let wrong_status =
            r#"{"action":"update_status","success":"yes","timestamp":"2026-01-01T00:00:00Z"}"#;
        assert!(judge_one("greeting", text(INITIAL), deep(), text(STATUS)).is_empty());
        assert!(judge_one("greeting", text(INITIAL), deep(), text(ERROR)).is_empty());
        assert_eq!(
            judge_one("greeting", text(INITIAL), deep(), text(wrong_status)),
            ["valid_request_gets_reply"]
        );
        assert_eq!(
            judge_one(
                "greeting",
                text(INITIAL),
                deep(),
                Response::Silent { waited_ms: 5 }
            ),
            ["bad_input_gets_error"]
        );
    }

    #[test]
    fn text_the_client_sent_is_not_a_leak() {
        let sent = Payload::Json(json!({"action": "expand", "content": "ValueError: boom"}));
        let reply = r#"{"action":"expanded","content":"ValueError: boom","expanded":"ValueError: boom","dependencies":[],"warnings":[]}"#;
        assert!(judge_one("greeting", text(INITIAL), sent, text(reply)).is_empty());
    }

    #[test]
    fn a_failed_probe_is_unresponsive() {
        let spec = spec();
        let channel = spec.channel("echo").unwrap();
        let case = Case {
            handshake: None,
            endpoint: Endpoint {
                channel: "echo".into(),
                address: channel.address.clone(),
                params: Default::default(),
            },
            steps: vec![],
            alongside: Vec::new(),
            before: Vec::new(),
            credentials: None,
        };
        let transcript = Transcript {
            url: String::new(),
            admission: Admission::Accept,
            connect: Connect::Accepted,
            greeting: Some(text("WebSocket test connection successful")),
            steps: vec![],
            probe: Some(Probe::Failed {
                error: "timed out".into(),
            }),
            wire: None,
            clients: Vec::new(),
            revisit: None,
            crowded: false,
            earlier_on_connection: Vec::new(),
            kept_open: false,
            sent: 1,
            events: vec![],
        };
        let found: Vec<_> = judge(&Observed {
            case: &case,
            transcript: &transcript,
            channel,
        })
        .into_iter()
        .map(|f| f.check.name)
        .collect();
        assert_eq!(found, ["stays_responsive"]);
    }
}
