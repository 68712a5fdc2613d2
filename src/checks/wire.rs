//! Checks of the wire layers: the server's frames and handshake answers, how it fails bad frames, how it closes, and its other clients.

use super::{failure, Failure, Observed};
use crate::case::Step;
use crate::credentials::{Change, FOREIGN_ORIGIN};
use crate::runner::as_frame;
use crate::transcript::{Answer, Probe, Response, WireRecord};
use crate::wire::rfc::{self, Obligation};

fn wire<'o>(o: &'o Observed) -> Option<&'o WireRecord> {
    o.transcript.wire.as_ref()
}

/// The wire record, unless the server was down after the case (see `server_down`).
fn alive<'o>(o: &'o Observed) -> Option<&'o WireRecord> {
    if super::server_down(o) {
        return None;
    }
    wire(o)
}

pub(super) fn server_follows_rfc6455(o: &Observed) -> Option<Failure> {
    let first = wire(o)?.violations.first()?;
    failure(
        &super::SERVER_FOLLOWS_RFC6455,
        None,
        "frames and handshake answers as RFC 6455 has them",
        format!("the server sent {first}"),
    )
}

pub(super) fn server_frames_exact(o: &Observed) -> Option<Failure> {
    let first = wire(o)?.nits.first()?;
    failure(
        &super::SERVER_FRAMES_EXACT,
        None,
        "frames as RFC 6455 has them to the letter",
        format!("the server sent {first}"),
    )
}

pub(super) fn handshake_refused_cleanly(o: &Observed) -> Option<Failure> {
    let w = alive(o)?;
    let why = w.must_refuse.as_ref()?;
    let actual = match &w.answer {
        Answer::Status { status: 101 } => "HTTP 101: the server accepted it".to_string(),
        // A request that is no upgrade may be answered as HTTP (a page, 404) or closed.
        _ if !w.upgrade => return None,
        Answer::NotAwaited | Answer::Status { .. } => return None,
        // §4.2.1: a WebSocket handshake the server will not take gets an HTTP error answer.
        answer => answer.to_string(),
    };
    // A request past common size limits may have met a limit first: said, so that a reader
    // does not chase the refusal alone.
    let past = match &w.oversized {
        Some(size) => format!("; it also has {size}, for which 431 is the answer"),
        None => String::new(),
    };
    failure(
        &super::HANDSHAKE_REFUSED_CLEANLY,
        None,
        format!("an HTTP error answer, not 101 (the request must be refused: {why}{past})"),
        actual,
    )
}

/// The frame the server must fail the connection for, when its declared length is one no
/// server can take (see `rfc::boundary`).
fn boundary_frame(o: &Observed, w: &WireRecord) -> Option<(usize, String)> {
    let Obligation::Fail { at, .. } = w.obligation else {
        return None;
    };
    let frames: Vec<_> = o.case.steps.iter().filter_map(as_frame).collect();
    let continues = frames[..at - 1]
        .iter()
        .rev()
        .find(|f| !f.is_control())
        .is_some_and(|f| !f.fin);
    rfc::boundary(frames.get(at - 1)?, continues).map(|what| (at, what))
}

pub(super) fn boundary_lengths_refused(o: &Observed) -> Option<Failure> {
    let w = alive(o)?;
    let (at, what) = boundary_frame(o, w)?;
    let Response::Silent { waited_ms } = w.after else {
        return None;
    };
    failure(
        &super::BOUNDARY_LENGTHS_REFUSED,
        Some(at),
        format!("a close (1009 or 1002) or a dropped connection (frame {at} is {what})"),
        format!("silence for {waited_ms} ms: no close, and the connection still open"),
    )
}

pub(super) fn bad_frames_fail_the_connection(o: &Observed) -> Option<Failure> {
    let w = alive(o)?;
    // Silence after a length no server can take is an error of its own (`boundary_lengths_refused`).
    if matches!(w.after, Response::Silent { .. }) && boundary_frame(o, w).is_some() {
        return None;
    }
    // A flood is written past the server's close, which a reset may then lose: how the server
    // ended it is not to be told, and what it kept is the flood's own checks' business.
    if w.flood.is_some() {
        return None;
    }
    let (at, what, codes, either, app_close) = match &w.obligation {
        Obligation::Fail {
            at,
            what,
            codes,
            after_messages,
        } => (at, what, codes, false, *after_messages),
        Obligation::Either { at, what, codes } => (at, what, codes, true, false),
        _ => return None,
    };
    let wanted = codes
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(" or ");
    let actual = match &w.after {
        Response::Closed {
            code: Some(1011), ..
        }
        | Response::TooLarge { .. } => return None,
        Response::Closed {
            code: Some(code), ..
        } if codes.contains(code) => return None,
        Response::Closed { .. } if app_close => return None,
        // A frame the server may take: taking it and closing for reasons of its own is fine too.
        Response::Text { .. } | Response::Closed { .. } if either => return None,
        Response::Text { .. } => "the connection stayed open (the ping got its pong)".to_string(),
        other => other.to_string(),
    };
    let expected = match either {
        true => {
            format!("the connection kept, or failed with a close {wanted} (frame {at} is {what})")
        }
        false => format!("a close {wanted}, then TCP closed (frame {at} is {what})"),
    };
    failure(
        &super::BAD_FRAMES_FAIL_THE_CONNECTION,
        Some(*at),
        expected,
        actual,
    )
}

/// Pings at once past which a server may end the connection as a flood: Node's `ws` ends it
/// after about 60 sent together.
const PING_FLOOD: usize = 32;

pub(super) fn valid_frames_keep_the_connection(o: &Observed) -> Option<Failure> {
    let w = alive(o)?;
    if w.obligation != Obligation::KeepOpen {
        return None;
    }
    let pings = o
        .case
        .steps
        .iter()
        .filter_map(as_frame)
        .filter(|f| f.opcode == crate::wire::frame::PING)
        .count();
    if pings > PING_FLOOD && matches!(w.after, Response::Dropped { .. }) {
        return None;
    }
    let actual = match &w.after {
        Response::Skipped
        | Response::Text { .. }
        | Response::TooLarge { .. }
        | Response::Closed { code: None, .. }
        | Response::Closed {
            code: Some(1011), ..
        } => return None,
        // The application may close for its own reasons (binary not wanted, say); a protocol error it may not claim.
        Response::Closed {
            code: Some(code), ..
        } if !matches!(code, 1002 | 1007) => return None,
        Response::Closed { .. } => {
            format!("{}, a protocol error for frames that have none", w.after)
        }
        other => other.to_string(),
    };
    failure(
        &super::VALID_FRAMES_KEEP_THE_CONNECTION,
        None,
        "a pong for a ping after valid frames",
        actual,
    )
}

pub(super) fn answers_close_with_close(o: &Observed) -> Option<Failure> {
    let w = alive(o)?;
    let Obligation::Close { at } = w.obligation else {
        return None;
    };
    let actual = match &w.after {
        Response::Closed { .. } | Response::Skipped | Response::TooLarge { .. } => return None,
        // The client wrote on after its own close, which RFC 6455 forbids it: the reset that
        // may bring can swallow the server's close frame, so a drop proves nothing here.
        Response::Dropped { .. } if frames_written(o) > at => return None,
        other => other.to_string(),
    };
    failure(
        &super::ANSWERS_CLOSE_WITH_CLOSE,
        None,
        format!("a close frame in answer to the client's (frame {at})"),
        actual,
    )
}

/// How many frames (messages included) the case writes.
fn frames_written(o: &Observed) -> usize {
    o.case
        .steps
        .iter()
        .filter(|s| matches!(s, Step::Frame(_) | Step::Send(_)))
        .count()
}

pub(super) fn closes_tcp_after_close(o: &Observed) -> Option<Failure> {
    let w = alive(o)?;
    if w.tcp_closed != Some(false) {
        return None;
    }
    failure(
        &super::CLOSES_TCP_AFTER_CLOSE,
        None,
        "the server closes the TCP connection once the closing handshake is done (§7.1.1)",
        format!(
            "the TCP connection was still open {} ms after the closing handshake",
            o.transcript.events.last().map_or(0.0, |e| e.at_ms) as u64
        ),
    )
}

pub(super) fn bystander_unaffected(o: &Observed) -> Option<Failure> {
    match &alive(o)?.bystander {
        Some(Probe::Failed { error }) => failure(
            &super::BYSTANDER_UNAFFECTED,
            None,
            "a client connected while the case ran still gets a pong for its ping",
            format!("the bystander: {error}"),
        ),
        _ => None,
    }
}

/// A 1011 or an HTTP 500/502/503/504 on the wire layers, for `no_internal_error`.
pub(super) fn internal_error(o: &Observed) -> Option<String> {
    let w = wire(o)?;
    match (&w.answer, &w.after, &w.obligation) {
        (Answer::Status { status }, _, _) if super::internal_status(*status) => {
            Some(format!("the handshake got HTTP {status}"))
        }
        // After a client's close, the server's close echoes the client's code: a 1011 there is the client's.
        (_, _, Obligation::Close { .. }) => None,
        (
            _,
            response @ Response::Closed {
                code: Some(1011), ..
            },
            _,
        ) => Some(response.to_string()),
        _ => None,
    }
}

/// Whether the server turned the connection away: HTTP 4xx, or a 101 followed at once by a
/// close with 1008 (policy violation) or an application code (4000-4999).
fn turned_away(w: &WireRecord) -> Option<bool> {
    match (&w.answer, &w.after) {
        (Answer::Status { status }, _) if super::refusal_status(*status) => Some(true),
        (
            Answer::Status { status: 101 },
            Response::Closed {
                code: Some(1008 | 4000..=4999),
                ..
            },
        ) => Some(true),
        (Answer::Status { status: 101 }, _) => Some(false),
        // Silence, drops and 5xx are other checks' business.
        _ => None,
    }
}

/// How a refused connection should have gone, for the reports.
const REFUSED: &str =
    "the handshake refused (HTTP 401 or 403), or the connection closed at once with 1008";

pub(super) fn refuses_without_credentials(o: &Observed) -> Option<Failure> {
    credentials_refused(
        o,
        Change::Without,
        &super::REFUSES_WITHOUT_CREDENTIALS,
        "without its credentials",
    )
}

pub(super) fn refuses_wrong_credentials(o: &Observed) -> Option<Failure> {
    credentials_refused(
        o,
        Change::Wrong,
        &super::REFUSES_WRONG_CREDENTIALS,
        "with credentials altered by one character",
    )
}

/// A connection with the credentials so changed must be turned away; `sent` says how.
fn credentials_refused(
    o: &Observed,
    change: Change,
    check: &'static super::Check,
    sent: &str,
) -> Option<Failure> {
    if o.case.credentials? != change {
        return None;
    }
    let w = alive(o)?;
    if turned_away(w)? {
        return None;
    }
    failure(
        check,
        None,
        REFUSED,
        format!(
            "HTTP 101 {sent}, and the connection was served ({})",
            w.after
        ),
    )
}

pub(super) fn refuses_foreign_origin(o: &Observed) -> Option<Failure> {
    credentials_refused(
        o,
        Change::ForeignOrigin,
        &super::REFUSES_FOREIGN_ORIGIN,
        &format!(
            "with `Origin: {FOREIGN_ORIGIN}` and the right credentials (cross-site WebSocket hijacking: a page on any site can use the connection)"
        ),
    )
}
