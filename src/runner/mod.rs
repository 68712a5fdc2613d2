//! Plays a case against a live server and records the transcript; every wait is bounded by a time-out.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::{
    frame::coding::CloseCode, CloseFrame, WebSocketConfig,
};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::case::{Case, Layer, Payload, Step};
use crate::credentials::Change;
use crate::spec::{self, parse_json, Admission, Channel, Expectation};
use crate::target::Target;
use crate::transcript::{Connect, Event, Probe, Response, StepRecord, Transcript};

mod clients;
mod ladder;
mod raw;

pub(crate) use raw::as_frame;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Largest message wsfuzz reads from a server; a hostile server cannot make it allocate more.
const MAX_INCOMING: usize = 16 << 20;

/// How long the runner waits.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// For a connection, a reply, a close: past it, the server was silent.
    pub timeout: Duration,
    /// How long to listen after a message no reply is promised for.
    pub quiet: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            timeout: Duration::from_secs(2),
            quiet: Duration::from_millis(200),
        }
    }
}

impl Timing {
    /// The waits of a re-run while a failure is shrunk: an eighth of the time-out, at least
    /// 100 ms (never more than the whole); and once re-runs have passed, four times the
    /// longest of them (their every connection and answer), if that is shorter, down to 50 ms.
    /// Most candidates are answered in a moment; one that fails by silence need not be waited
    /// out in full, since the minimal case is confirmed with the whole time-out before it is
    /// reported.
    pub(crate) fn brief(self, passed_within: Option<Duration>) -> Timing {
        let eighth = (self.timeout / 8).max(Duration::from_millis(100));
        let shown = passed_within.map_or(eighth, |took| {
            (took * 4).max(Duration::from_millis(50)).min(eighth)
        });
        Timing {
            timeout: shown.min(self.timeout),
            quiet: self.quiet,
        }
    }

    /// How long to wait for the answer to a message of `size` bytes: `quiet` where no reply is
    /// promised, else the time-out, one more for every half MiB a large message takes to
    /// send, read and parse.
    pub(crate) fn for_answer(
        &self,
        channel: &Channel,
        expectation: &Expectation,
        size: usize,
    ) -> Duration {
        match expectation {
            Expectation::Anything => self.quiet,
            Expectation::Reply { operation }
                if channel.operations[*operation].replies.is_empty() =>
            {
                self.quiet
            }
            _ => self.timeout + self.timeout * (size / (512 << 10)) as u32,
        }
    }
}

/// Records events with their offset from the start of the case: the first [`Log::HEAD`] and
/// the last [`Log::TAIL`], with a note of how many between were cut, so that a server that
/// floods its client leaves a transcript of bounded size.
struct Log {
    start: Instant,
    events: Vec<Event>,
    tail: std::collections::VecDeque<Event>,
    cut: usize,
    /// Messages for other clients passed over: someone else is using the resource.
    passed_over: usize,
}

impl Log {
    const HEAD: usize = 400;
    const TAIL: usize = 100;

    fn new() -> Log {
        Log {
            start: Instant::now(),
            events: Vec::new(),
            tail: std::collections::VecDeque::new(),
            cut: 0,
            passed_over: 0,
        }
    }

    fn push(&mut self, what: impl Into<String>) {
        let event = Event::new(self.start.elapsed(), what);
        if self.events.len() < Log::HEAD {
            self.events.push(event);
            return;
        }
        if self.tail.len() == Log::TAIL {
            self.tail.pop_front();
            self.cut += 1;
        }
        self.tail.push_back(event);
    }

    /// The events kept, in order, the cut marked where it was made.
    fn into_events(self) -> Vec<Event> {
        let mut events = self.events;
        if let Some(first) = self.tail.front().filter(|_| self.cut > 0) {
            events.push(Event {
                at_ms: first.at_ms,
                what: format!("… {} events cut …", self.cut),
            });
        }
        events.extend(self.tail);
        events
    }
}

/// Splits a URL into the address to connect to (`host:port`) and the request target (path and query).
pub(crate) fn address_and_path(url: &str) -> (String, String) {
    let (_, rest) = url.split_once("://").unwrap_or(("", url));
    let path = &rest[rest.find(['/', '?']).unwrap_or(rest.len())..];
    let path = if path.is_empty() { "/" } else { path };
    (crate::target::authority(url), path.to_string())
}

/// Opens a WebSocket connection to `url` with the credentials (changed as the case says):
/// TCP, then the handshake, each within the time-out.
async fn open(
    url: &str,
    target: &Target,
    change: Option<Change>,
    timing: Timing,
) -> Result<Socket, Connect> {
    let credentials = &target.credentials;
    let (authority, _) = address_and_path(url);
    let mut request = match credentials.url(url, change).into_client_request() {
        Ok(request) => request,
        Err(e) => {
            return Err(Connect::Broken {
                error: format!("cannot build the handshake: {e}"),
            })
        }
    };
    for (name, value) in credentials.headers(change) {
        // Checked when the flags were read; a value the HTTP library refuses is left out.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            request.headers_mut().append(name, value);
        }
    }
    let tcp = match timeout(timing.timeout, TcpStream::connect(authority.as_str())).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => {
            return Err(Connect::Unreachable {
                error: format!("cannot connect to {authority}: {e}"),
            })
        }
        Err(_) => {
            return Err(Connect::Unreachable {
                error: format!(
                    "no TCP connection to {authority} within {} ms",
                    timing.timeout.as_millis()
                ),
            })
        }
    };
    // Small frames are the norm here; Nagle's algorithm would add 40 ms to many of them.
    let _ = tcp.set_nodelay(true);
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_INCOMING))
        .max_frame_size(Some(MAX_INCOMING));
    // Under TLS, the TLS handshake comes first, within the same time-out.
    let connector = match &target.tls {
        Some(config) => Connector::Rustls(config.clone()),
        None => Connector::Plain,
    };
    let handshake = tokio_tungstenite::client_async_tls_with_config(
        request,
        tcp,
        Some(config),
        Some(connector),
    );
    match timeout(timing.timeout, handshake).await {
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(WsError::Http(response))) => {
            let body = response
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(4096)]).into_owned());
            Err(Connect::Refused {
                status: response.status().as_u16(),
                body: body.unwrap_or_default(),
            })
        }
        Ok(Err(e)) => Err(Connect::Broken {
            error: crate::tls::explained(&e.to_string()),
        }),
        Err(_) => Err(Connect::Unanswered {
            waited_ms: timing.timeout.as_millis() as u64,
        }),
    }
}

/// Pings logged one by one per wait; past that a flood is only counted.
const LOGGED_PINGS: usize = 3;

/// Waits for the next message or the end of the connection. Pings, pongs and the messages
/// `passed_over` accepts (broadcasts from other clients) do not count as the answer.
async fn next_response(
    socket: &mut Socket,
    wait: Duration,
    log: &mut Log,
    passed_over: &dyn Fn(&str) -> bool,
) -> Response {
    // One deadline for the whole wait, polled first: a server that floods pings cannot hold it off.
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    let mut pings = 0usize;
    loop {
        let next = tokio::select! {
            biased;
            _ = &mut deadline => None,
            next = socket.next() => Some(next),
        };
        let response = match next {
            None => Response::Silent {
                waited_ms: wait.as_millis() as u64,
            },
            Some(Some(Ok(Message::Text(text)))) if passed_over(&text) => {
                log.passed_over += 1;
                log.push(format!(
                    "← {} (for other clients; passed over)",
                    crate::case::abbreviate(&text)
                ));
                continue;
            }
            Some(Some(Ok(Message::Text(text)))) => Response::Text {
                text: text.to_string(),
            },
            Some(Some(Ok(Message::Binary(bytes)))) => Response::Binary { bytes: bytes.len() },
            Some(Some(Ok(Message::Close(frame)))) => match frame {
                Some(frame) => Response::Closed {
                    code: Some(frame.code.into()),
                    reason: frame.reason.to_string(),
                },
                None => Response::Closed {
                    code: None,
                    reason: String::new(),
                },
            },
            Some(Some(Ok(Message::Ping(_)))) => {
                pings += 1;
                if pings <= LOGGED_PINGS {
                    log.push("← ping");
                }
                continue;
            }
            Some(Some(Ok(Message::Pong(_) | Message::Frame(_)))) => continue,
            Some(Some(Err(WsError::Capacity(e)))) => Response::TooLarge {
                error: e.to_string(),
            },
            Some(Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) | None) => {
                Response::Dropped {
                    error: "the server closed the TCP connection".into(),
                }
            }
            Some(Some(Err(e))) => Response::Dropped {
                error: e.to_string(),
            },
        };
        if pings > LOGGED_PINGS {
            log.push(format!("← {pings} pings in all"));
        }
        log.push(format!("← {response}"));
        return response;
    }
}

/// Messages to pass over while waiting for an answer: ones the spec pushes to other clients
/// (broadcasts), unless they could also be the answer.
fn broadcasts_of<'c>(
    channel: &'c Channel,
    answers: Vec<&'c spec::Message>,
) -> impl Fn(&str) -> bool + 'c {
    move |text| {
        // Most channels push nothing to others: then there is nothing to parse for.
        if channel.broadcasts.is_empty() {
            return false;
        }
        let parsed = parse_json(text);
        let pushed = channel
            .broadcasts
            .iter()
            .flat_map(|b| &b.messages)
            .any(|m| m.matches_text(text, parsed.as_ref()));
        pushed
            && !answers
                .iter()
                .any(|m| m.matches_text(text, parsed.as_ref()))
    }
}

/// The messages that may answer a step with this expectation.
fn answers<'c>(channel: &'c Channel, expectation: &Expectation) -> Vec<&'c spec::Message> {
    let replies: Vec<&spec::Message> = match expectation {
        Expectation::Reply { operation } => channel.operations[*operation].replies.iter().collect(),
        _ => channel
            .operations
            .iter()
            .flat_map(|op| &op.replies)
            .collect(),
    };
    replies
        .into_iter()
        .chain(&channel.errors)
        .chain(&channel.greeting)
        .collect()
}

/// Plays `case` on `channel` of `target`, on connections of its own.
pub async fn run_case(
    target: &Target,
    channel: &Channel,
    case: &Case,
    timing: Timing,
) -> Transcript {
    run_case_in(target, channel, case, timing, None).await
}

/// `run_case`; a case of messages that can goes on a connection kept in `pool` by the one
/// before it, and leaves its own there for the next.
pub async fn run_case_in(
    target: &Target,
    channel: &Channel,
    case: &Case,
    timing: Timing,
    pool: Option<&Pool>,
) -> Transcript {
    let stretch = case.handshake.as_ref().and_then(|h| h.stretch.as_ref());
    let mut transcript = match (case.layer(), stretch) {
        (_, Some(stretch)) => ladder::run(target, channel, case, stretch, timing).await,
        (Layer::Messages, _) => messages(target, channel, case, timing, pool).await,
        (Layer::Clients, _) => clients::run(target, channel, case, timing).await,
        _ => raw::run(target, channel, case, timing).await,
    };
    // A server may echo a secret back; the record keeps none.
    if !target.credentials.is_empty() {
        let redact = target.credentials.redactor();
        for event in &mut transcript.events {
            event.what = redact(&event.what);
        }
    }
    transcript
}

/// Plays a case of messages through a conforming client.
async fn messages(
    target: &Target,
    channel: &Channel,
    case: &Case,
    timing: Timing,
    pool: Option<&Pool>,
) -> Transcript {
    let url = target.url(&case.endpoint);
    let mut log = Log::new();
    let admission = channel.admits(&case.endpoint.params);
    let mut transcript = Transcript::new(url.clone(), admission);
    let pool = pool.filter(|_| Pool::fits(case, admission));
    let parked = match pool {
        Some(pool) => pool.take(&url, timing).await,
        None => None,
    };
    let (opened, greeted) = match parked {
        Some(parked) => {
            log.push(format!(
                "connection to {} kept from the cases before ({} messages on it)",
                crate::case::abbreviate(&url),
                parked.steps.len()
            ));
            transcript.earlier_on_connection = parked.steps;
            (Ok(parked.socket), Some(parked.greeting))
        }
        None => {
            log.push(format!("connect {}", crate::case::abbreviate(&url)));
            (open(&url, target, case.credentials, timing).await, None)
        }
    };
    match opened {
        Err(outcome) => {
            log.push(format!("handshake: {outcome:?}"));
            transcript.connect = outcome;
        }
        Ok(mut socket) => {
            if greeted.is_none() {
                log.push("← 101 Switching Protocols");
            }
            let open = play(
                &mut socket,
                channel,
                case,
                admission,
                timing,
                greeted,
                &mut transcript,
                &mut log,
            )
            .await;
            if open && keeps_data(channel, case, admission) {
                // What the resource holds now, read while this connection is still open: a
                // broadcast of someone else's write would reach it as it closes, and tell the
                // read is not this case's alone.
                let endpoint = &case.endpoint;
                transcript.revisit = Some(revisit(target, channel, endpoint, timing).await);
            }
            // A resource someone else is using leaves no state the next case could start
            // from: its connection is closed, as any other. So does a read back that got no
            // answer (a server stalled a moment): the next case would take it for its greeting.
            let holds = transcript.revisit.clone().or(transcript.greeting.clone());
            let known = channel.greeting.is_empty()
                || matches!(holds, Some(Response::Text { .. } | Response::Binary { .. }));
            let keep = match pool.filter(|_| open && known && Pool::settled(&transcript)) {
                Some(_) => {
                    caught_up(&mut socket, channel, timing, &mut log).await && log.passed_over == 0
                }
                None => false,
            };
            match pool.filter(|_| keep) {
                Some(pool) => {
                    let mut steps = std::mem::take(&mut transcript.earlier_on_connection);
                    transcript.earlier_on_connection.clone_from(&steps);
                    steps.extend(case.steps.iter().cloned());
                    // What the resource holds now, for the next case on this connection to
                    // start from: the read back, if this case wrote, else what it started from.
                    transcript.kept_open = true;
                    pool.park(
                        Parked {
                            url,
                            socket,
                            greeting: holds,
                            since: Instant::now(),
                            steps,
                        },
                        timing,
                    )
                    .await;
                }
                None => leave(&mut socket, channel, open, timing, &mut log).await,
            }
        }
    }
    transcript
        .steps
        .resize_with(case.steps.len(), || StepRecord {
            expectation: Expectation::Anything,
            response: Response::Skipped,
        });
    transcript.crowded = log.passed_over > 0;
    transcript.sent = transcript
        .steps
        .iter()
        .filter(|r| r.response != Response::Skipped)
        .count() as u64;
    transcript.events = log.into_events();
    transcript
}

#[allow(clippy::too_many_arguments)]
async fn play(
    socket: &mut Socket,
    channel: &Channel,
    case: &Case,
    admission: Admission,
    timing: Timing,
    // On a connection kept from cases before: what it got first, read then.
    greeted: Option<Option<Response>>,
    transcript: &mut Transcript,
    log: &mut Log,
) -> bool {
    let mut open = true;
    if let Some(greeting) = greeted {
        transcript.greeting = greeting;
    } else if channel.speaks_first(admission) {
        let pushed = broadcasts_of(channel, channel.greeting.iter().collect());
        let first = next_response(socket, timing.timeout, log, &pushed).await;
        // A late greeting would be taken for the first step's answer: stop after a silence too.
        open = !(ends_connection(&first) || matches!(first, Response::Silent { .. }));
        transcript.greeting = Some(first);
    } else if !channel.pushed.is_empty() && admission != Admission::Refuse {
        // A plain spec does not say which of the server's messages comes on connect: one
        // that comes unasked at once is waited for, so it is not taken for the first answer.
        let first = next_response(socket, timing.quiet, log, &|_| false).await;
        if !matches!(first, Response::Silent { .. }) {
            open = !ends_connection(&first);
            transcript.greeting = Some(first);
        }
    }
    for step in &case.steps {
        let Step::Send(payload) = step else { continue };
        // Serialized once: classified, logged and sent as the same text.
        let wire = payload.text();
        let expectation = channel.classify_wire(payload, wire.as_deref());
        if !open {
            transcript.steps.push(StepRecord {
                expectation,
                response: Response::Skipped,
            });
            continue;
        }
        let wait = timing.for_answer(channel, &expectation, payload.len());
        let message = match (payload, wire) {
            (Payload::Binary(bytes), _) => {
                log.push(format!("→ {payload}"));
                Message::Binary(bytes.clone().into())
            }
            (Payload::Json(_), text) => {
                let text = text.unwrap_or_default().into_owned();
                log.push(format!("→ json {}", crate::case::abbreviate(&text)));
                Message::Text(text.into())
            }
            (Payload::Text(text), _) => {
                log.push(format!("→ {payload}"));
                Message::Text(text.clone().into())
            }
        };
        let sent = timeout(timing.timeout, socket.send(message)).await;
        let mut expectation = expectation;
        if let Ok(Err(e)) = &sent {
            // The server had closed first (its close frame can still be waiting to be read): the
            // message never reached it, so what comes back answers an earlier step, not this one.
            log.push(format!("send failed: {e}"));
            expectation = Expectation::Anything;
        }
        let response = match sent {
            Err(_) => Response::Silent {
                waited_ms: timing.timeout.as_millis() as u64,
            },
            Ok(_) => {
                let pushed = broadcasts_of(channel, answers(channel, &expectation));
                next_response(socket, wait, log, &pushed).await
            }
        };
        // After a silence a late answer would be taken for the next step's: stop here.
        let promised = !matches!(expectation, Expectation::Anything) && wait >= timing.timeout;
        let unanswered = promised && matches!(response, Response::Silent { .. });
        open = !(ends_connection(&response) || unanswered);
        transcript.steps.push(StepRecord {
            expectation,
            response,
        });
    }
    open
}

/// Connections kept open after cases of messages, one for each endpoint, for the next case on
/// the same endpoint: a campaign then pays one handshake for a run of cases, not one for each.
/// Only a case that left nothing in flight leaves its connection (every message it sent was
/// answered as promised), so the next case's answers are its own; and the messages played on
/// it are kept, so that a failure that shows only after them can be shrunk with them.
#[derive(Default)]
pub struct Pool(tokio::sync::Mutex<std::collections::HashMap<String, Parked>>);

struct Parked {
    url: String,
    socket: Socket,
    /// What the resource held when last read on its behalf: the greeting, or the read back
    /// of the last case that wrote.
    greeting: Option<Response>,
    since: Instant,
    steps: Vec<Step>,
}

impl Pool {
    /// Messages played on one connection at most, before a fresh one.
    const STEPS: usize = 64;
    /// How long a connection waits for its next case at most: past it, a server's idle
    /// time-out could close it under the next case.
    const IDLE: Duration = Duration::from_secs(2);
    /// Endpoints with a connection kept at most.
    const ENDPOINTS: usize = 16;

    /// Whether a case can go on a kept connection: plain messages, on an endpoint the server
    /// accepts, with the campaign's own credentials and no one alongside.
    fn fits(case: &Case, admission: Admission) -> bool {
        case.handshake.is_none()
            && case.credentials.is_none()
            && case.alongside.is_empty()
            && case.before.is_empty()
            && admission == Admission::Accept
    }

    /// Whether a case left its connection with nothing in flight: every step answered.
    fn settled(transcript: &Transcript) -> bool {
        let answered = |r: &StepRecord| {
            !matches!(r.expectation, Expectation::Anything)
                && matches!(r.response, Response::Text { .. } | Response::Binary { .. })
        };
        transcript.steps.iter().all(answered)
            && transcript.earlier_on_connection.len() + transcript.steps.len() < Pool::STEPS
    }

    /// The connection kept for `url`, if one is, has been idle only a moment, and has
    /// nothing waiting on it (a broadcast, a close); one that has is closed.
    async fn take(&self, url: &str, timing: Timing) -> Option<Parked> {
        let mut parked = self.0.lock().await.remove(url)?;
        // Polled once, not waited on: a timer of zero still waits for the timer's next tick.
        let quiet = futures_util::FutureExt::now_or_never(parked.socket.next()).is_none();
        if quiet && parked.since.elapsed() < Pool::IDLE {
            return Some(parked);
        }
        close_quietly(&mut parked.socket, timing).await;
        None
    }

    async fn park(&self, parked: Parked, timing: Timing) {
        let mut kept = self.0.lock().await;
        let mut old = kept.insert(parked.url.clone(), parked);
        if kept.len() > Pool::ENDPOINTS {
            let idlest = kept
                .iter()
                .min_by_key(|(_, p)| p.since)
                .map(|(url, _)| url.clone());
            old = idlest.and_then(|url| kept.remove(&url));
        }
        drop(kept);
        if let Some(mut old) = old {
            close_quietly(&mut old.socket, timing).await;
        }
    }

    /// Closes every kept connection, all at once: within the time-out, whatever the server.
    pub async fn clear(&self, timing: Timing) {
        let kept: Vec<Parked> = self.0.lock().await.drain().map(|(_, p)| p).collect();
        futures_util::future::join_all(
            kept.into_iter()
                .map(|mut parked| async move { close_quietly(&mut parked.socket, timing).await }),
        )
        .await;
    }
}

/// Whether the server has sent all it had for this connection: a ping's pong comes after
/// anything the server sent before it, so broadcasts of others' writes are read (and passed
/// over, the case marked crowded) as a closing handshake would read them. Anything else, or
/// no pong in time, and the connection is not kept.
async fn caught_up(socket: &mut Socket, channel: &Channel, timing: Timing, log: &mut Log) -> bool {
    const MARK: &[u8] = b"wsfuzz: caught up?";
    if !matches!(
        timeout(timing.timeout, socket.send(Message::Ping(MARK.into()))).await,
        Ok(Ok(()))
    ) {
        return false;
    }
    let others = broadcasts_of(channel, Vec::new());
    let deadline = tokio::time::Instant::now() + timing.timeout;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(Message::Pong(payload)))) if payload.as_ref() == MARK => return true,
            Ok(Some(Ok(Message::Pong(_) | Message::Ping(_)))) => continue,
            Ok(Some(Ok(Message::Text(text)))) if others(&text) => {
                log.passed_over += 1;
                log.push(format!(
                    "← {} (for other clients; passed over)",
                    crate::case::abbreviate(&text)
                ));
            }
            _ => return false,
        }
    }
}

/// A closing handshake no one judges, bounded by the time-out.
async fn close_quietly(socket: &mut Socket, timing: Timing) {
    let close = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    let _ = timeout(timing.timeout, async {
        if socket.close(Some(close)).await.is_ok() {
            while let Some(Ok(_)) = socket.next().await {}
        }
    })
    .await;
}

/// Ends the case's connection: a closing handshake if it is still open.
async fn leave(socket: &mut Socket, channel: &Channel, open: bool, timing: Timing, log: &mut Log) {
    if open {
        log.push("→ close 1000");
        let close = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        if let Ok(Ok(())) = timeout(timing.timeout, socket.close(Some(close))).await {
            let others = broadcasts_of(channel, Vec::new());
            let reply = next_response(socket, timing.timeout, log, &others).await;
            if matches!(reply, Response::Text { .. } | Response::Binary { .. }) {
                // Late messages before the close reply are fine; give the close reply a moment more.
                let _ = timeout(timing.timeout, async {
                    while let Some(Ok(_)) = socket.next().await {}
                })
                .await;
            }
        }
    } else {
        // Let tungstenite flush its close reply before the socket is dropped.
        let _ = timeout(Duration::from_millis(100), socket.next()).await;
    }
}

fn ends_connection(response: &Response) -> bool {
    matches!(
        response,
        Response::Closed { .. } | Response::Dropped { .. } | Response::TooLarge { .. }
    )
}

/// Whether the server still serves: a fresh connection completes its handshake and, where
/// the spec promises one, gets its greeting, all in time.
pub async fn probe(
    target: &Target,
    channel: &Channel,
    endpoint: &crate::case::Endpoint,
    timing: Timing,
) -> Probe {
    let url = target.url(endpoint);
    let mut socket = match open(&url, target, None, timing).await {
        Ok(socket) => socket,
        Err(Connect::Refused { status, .. }) => {
            return Probe::Failed {
                error: format!("the handshake was refused with HTTP {status}"),
            }
        }
        Err(Connect::Broken { error } | Connect::Unreachable { error }) => {
            return Probe::Failed { error }
        }
        Err(Connect::Unanswered { waited_ms }) => {
            return Probe::Failed {
                error: format!("no handshake answer within {waited_ms} ms"),
            }
        }
        Err(Connect::Accepted) => unreachable!("open returns Accepted only as Ok"),
    };
    let mut log = Log::new();
    let outcome = if channel.greeting.is_empty() {
        Probe::Answered
    } else {
        let pushed = broadcasts_of(channel, channel.greeting.iter().collect());
        match next_response(&mut socket, timing.timeout, &mut log, &pushed).await {
            Response::Text { .. } | Response::Binary { .. } => Probe::Answered,
            other => Probe::Failed {
                error: format!("no greeting: {other}"),
            },
        }
    };
    if outcome == Probe::Answered {
        let close = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        if let Ok(Ok(())) = timeout(timing.timeout, socket.close(Some(close))).await {
            let _ = timeout(timing.timeout, async {
                while let Some(Ok(_)) = socket.next().await {}
            })
            .await;
        }
    }
    outcome
}

/// Whether a case may have changed what its resource holds, and the spec lets that be read
/// back: a message case alone on an accepted endpoint whose channel greets with the resource
/// and has writes (operations others hear about).
fn keeps_data(channel: &Channel, case: &Case, admission: Admission) -> bool {
    case.layer() == Layer::Messages
        && case.alongside.is_empty()
        && case.handshake.is_none()
        && !channel.greeting.is_empty()
        && !channel.broadcasts.is_empty()
        && admission == Admission::Accept
        && case.steps.iter().any(|s| matches!(s, Step::Send(_)))
}

/// What a fresh connection to `endpoint` gets first (its greeting), then leaves: the resource
/// as the server keeps it. A refused handshake is told as the close it amounts to.
pub async fn revisit(
    target: &Target,
    channel: &Channel,
    endpoint: &crate::case::Endpoint,
    timing: Timing,
) -> Response {
    let mut socket = match open(&target.url(endpoint), target, None, timing).await {
        Ok(socket) => socket,
        Err(Connect::Refused { status, .. }) => {
            return Response::Dropped {
                error: format!("the handshake was refused with HTTP {status}"),
            }
        }
        Err(Connect::Unanswered { waited_ms }) => return Response::Silent { waited_ms },
        Err(other) => {
            return Response::Dropped {
                error: format!("{other:?}"),
            }
        }
    };
    let pushed = broadcasts_of(channel, channel.greeting.iter().collect());
    let first = next_response(&mut socket, timing.timeout, &mut Log::new(), &pushed).await;
    let close = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    let _ = timeout(timing.timeout, socket.close(Some(close))).await;
    first
}

/// A client that stays connected while a case runs, to see whether the case hurts others.
pub struct Bystander {
    socket: Socket,
}

impl Bystander {
    /// Connects to `endpoint` and reads its greeting, if the spec promises one.
    pub async fn join(
        target: &Target,
        channel: &Channel,
        endpoint: &crate::case::Endpoint,
        timing: Timing,
    ) -> Option<Bystander> {
        let mut socket = open(&target.url(endpoint), target, None, timing)
            .await
            .ok()?;
        if !channel.greeting.is_empty() {
            next_response(&mut socket, timing.timeout, &mut Log::new(), &|_| false).await;
        }
        Some(Bystander { socket })
    }

    /// Whether the bystander still gets a pong for its ping, in time; then it leaves.
    pub async fn still_served(mut self, timing: Timing) -> Probe {
        let payload = b"wsfuzz-bystander";
        if !matches!(
            timeout(
                timing.timeout,
                self.socket.send(Message::Ping(payload.to_vec().into()))
            )
            .await,
            Ok(Ok(()))
        ) {
            return Probe::Failed {
                error: "its connection no longer takes a ping".into(),
            };
        }
        let answered = timeout(timing.timeout, async {
            loop {
                match self.socket.next().await {
                    Some(Ok(Message::Pong(p))) if p.as_ref() == payload => return Ok(()),
                    Some(Ok(Message::Close(frame))) => {
                        return Err(format!(
                            "it was closed: {}",
                            frame.map(|f| f.to_string()).unwrap_or_default()
                        ))
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(format!("its connection broke: {e}")),
                    None => return Err("its connection was closed".into()),
                }
            }
        })
        .await;
        let outcome = match answered {
            Ok(Ok(())) => Probe::Answered,
            Ok(Err(error)) => Probe::Failed { error },
            Err(_) => Probe::Failed {
                error: format!("no pong within {} ms", timing.timeout.as_millis()),
            },
        };
        let close = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        let _ = timeout(timing.timeout, self.socket.close(Some(close))).await;
        outcome
    }
}
