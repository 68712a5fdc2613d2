//! Test servers for the Prompt Manager protocol: a correct one and ones with exactly one flaw each.
#![allow(dead_code)]

pub mod hostile;
pub mod protocols;
pub mod raw;
pub mod readers;
pub mod spawn;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_tungstenite::tungstenite::protocol::{
    frame::coding::CloseCode, CloseFrame, WebSocketConfig,
};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use wsfuzz::campaign::{self, Report, Settings};
use wsfuzz::case::Layer;
use wsfuzz::runner::Timing;
use wsfuzz::shrink::Budget;
use wsfuzz::spec::Spec;
use wsfuzz::target::Target;

/// The one thing a test server gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flaw {
    None,
    DropOnInvalidJson,
    SilentOnUnknownAction,
    Close1011OnWrongType,
    /// Closes with 1011 on a field of the wrong type, 200 ms after it: slowly, but within
    /// the tests' time-out of 300 ms.
    SlowClose1011OnWrongType,
    PanicOnMissingField,
    StallAfterMetadata,
    /// Stops accepting connections for good after an `update_metadata`.
    DieAfterMetadata,
    BadStatusSchema,
    BadGreeting,
    AcceptsUnknownPrompt,
    /// Takes `update_metadata` tags of any type: the near-miss `tags: [1]` gets a success.
    TakesAnyTags,
    /// Lets in only `Authorization: Bearer let-me-in`, from `https://app.example` or no origin.
    ChecksToken,
    /// Lets anyone in, and greets with the Authorization header it got (a secret to redact).
    IgnoresToken,
    /// Compares only the start of the token: a token wrong in its last character gets in.
    ChecksTokenPrefix,
    /// Checks the token but not the Origin: any site's page can use it.
    IgnoresOrigin,
    LeaksTraceback,
    /// Never answers the handshake of a path with `..` in it (a lookup that hangs).
    HangsOnDotDot,
    /// Floods pings after the greeting and answers nothing.
    PingFlood,
    /// Aborts the whole process on an `expand` with an inclusion (`[[`), as a stack overflow would.
    AbortOnInclusion,
    /// Keeps 256 KiB for good for every text message.
    LeakPerMessage,
    /// Copies a text message over 64 KiB into a 320 MiB scratch buffer.
    AmplifyLargeMessage,
    /// Spins 1.5 s of CPU on a handshake header value over 1 KiB (a backtracking pattern).
    BurnCpuOnLongHeader,
    /// Never closes a connection that ended without a close frame.
    KeepAbandonedConnections,
    /// Keeps a peer that vanished without a close frame on its prompt's list, and stops
    /// broadcasting at the first peer it cannot reach: the peers after it hear nothing more.
    BroadcastStopsAtDeadPeer,
    /// Broadcasts to every connection on every prompt, the sender's included.
    BroadcastEverywhere,
    /// Takes 200 ms to save, and fails a save that comes while another is under way with 1011.
    RaceOnConcurrentSave,
    /// Closes with 1000 (normal closure) on text that is not JSON: a close code that says
    /// nothing, which harms no user (a warning).
    ClosesNormallyOnBadJson,
    /// Takes an `update` whose content is a number, and stores it: from then on every
    /// connection to that prompt is dropped at once (its greeting cannot be written).
    BreaksOnNumberContent,
    /// Answers only the first 12 messages of a connection (a per-connection quota gone
    /// wrong): a client that keeps its connection meets silence, one message a connection never.
    QuotaPerConnection,
    /// Stops accepting connections for good after its 20th echo, and goes on serving the
    /// connections it has: only a fresh connection shows it.
    DieAfterEchoes,
    /// Never answers a request without a `Sec-WebSocket-Key`, on any path (a parser that
    /// waits for the header): one flaw of the server's, seen through every channel.
    SilentWithoutKey,
}

/// Messages a `QuotaPerConnection` server answers on one connection.
pub const QUOTA: usize = 12;

/// The one token the servers that check tokens let in, and the site they serve.
pub const TOKEN: &str = "Bearer let-me-in";
pub const SITE: &str = "https://app.example";

/// Set while a `RaceOnConcurrentSave` server saves.
static SAVING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Flaw {
    /// The flaws of a target process, by the name a spawned test target is given.
    pub fn named(name: &str) -> Option<Flaw> {
        [
            Flaw::None,
            Flaw::PanicOnMissingField,
            Flaw::AbortOnInclusion,
            Flaw::LeakPerMessage,
            Flaw::AmplifyLargeMessage,
            Flaw::BurnCpuOnLongHeader,
            Flaw::KeepAbandonedConnections,
            Flaw::BroadcastStopsAtDeadPeer,
            Flaw::BreaksOnNumberContent,
        ]
        .into_iter()
        .find(|flaw| format!("{flaw:?}") == name)
    }
}

/// Memory kept on purpose by `LeakPerMessage`, and connections by `KeepAbandonedConnections`.
static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
static ABANDONED: Mutex<Vec<WebSocketStream<TcpStream>>> = Mutex::new(Vec::new());

const KNOWN: [&str; 5] = ["greeting", "signature", "summary", "cycle_a", "cycle_b"];
const LIMIT: usize = 1 << 20;
const STAMP: &str = "2026-01-01T00:00:00Z";

/// Starts a test server with `flaw` on a free port; it serves until the test's runtime ends.
pub async fn start(flaw: Flaw) -> SocketAddr {
    start_on("127.0.0.1:0".parse().unwrap(), flaw).await
}

/// Starts a test server with `flaw` on `addr`.
pub async fn start_on(addr: SocketAddr, flaw: Flaw) -> SocketAddr {
    let listener = TcpListener::bind(addr).await.expect("bind the port");
    let addr = listener.local_addr().expect("local address");
    // When set, the accept loop holds new connections until then (or forever, for `Instant` far ahead).
    let stalled: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let peers: Arc<Peers> = Arc::default();
    let kept: Arc<Kept> = Arc::default();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let until = *stalled.lock().unwrap();
            if let Some(until) = until {
                tokio::time::sleep_until(until.into()).await;
            }
            tokio::spawn(serve(
                stream,
                flaw,
                stalled.clone(),
                peers.clone(),
                kept.clone(),
            ));
        }
    });
    addr
}

/// The connections on each prompt, each with the queue of broadcasts for it.
type Peers = Mutex<std::collections::HashMap<String, Vec<(u64, UnboundedSender<String>)>>>;
/// What each prompt holds: the fields saves set, over the ones every prompt starts with.
type Kept = Mutex<std::collections::HashMap<String, serde_json::Map<String, Value>>>;

static NEXT_PEER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Queues `message` for every other connection on `prompt`.
fn broadcast(peers: &Peers, prompt: &str, from: u64, message: &Value, flaw: Flaw) {
    let peers = peers.lock().unwrap();
    if flaw == Flaw::BroadcastEverywhere {
        for (_, queue) in peers.values().flatten() {
            let _ = queue.send(message.to_string());
        }
        return;
    }
    for (id, queue) in peers.get(prompt).into_iter().flatten() {
        if *id != from
            && queue.send(message.to_string()).is_err()
            && flaw == Flaw::BroadcastStopsAtDeadPeer
        {
            break;
        }
    }
}

/// What the other connections on the prompt are told after `request` got `reply`.
fn broadcast_for(request: &str, reply: &Value) -> Option<Value> {
    if reply.get("success") != Some(&json!(true)) {
        return None;
    }
    let request: Value = serde_json::from_str(request).ok()?;
    match request.get("action")?.as_str()? {
        "update" => {
            Some(json!({"action": "update", "content": request["content"], "timestamp": STAMP}))
        }
        "update_metadata" => Some(json!({
            "action": "update_metadata",
            "description": request.get("description").cloned().unwrap_or(Value::Null),
            "tags": request.get("tags").cloned().unwrap_or(json!([])),
            "timestamp": STAMP,
        })),
        _ => None,
    }
}

/// Whether the request's head, as it arrives within a second, has a `Sec-WebSocket-Key`.
async fn has_key(stream: &TcpStream) -> bool {
    let mut head = vec![0u8; 64 << 10];
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let Ok(Ok(seen)) = tokio::time::timeout_at(deadline.into(), stream.peek(&mut head)).await
        else {
            return false;
        };
        let arrived = String::from_utf8_lossy(&head[..seen]).to_ascii_lowercase();
        if let Some(end) = arrived.find("\r\n\r\n") {
            return arrived[..end].contains("\nsec-websocket-key:");
        }
        if seen == head.len() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn serve(
    stream: TcpStream,
    flaw: Flaw,
    stalled: Arc<Mutex<Option<Instant>>>,
    peers: Arc<Peers>,
    kept: Arc<Kept>,
) {
    let _ = stream.set_nodelay(true);
    if flaw == Flaw::HangsOnDotDot {
        let mut head = [0u8; 512];
        let seen = tokio::time::timeout(Duration::from_secs(1), stream.peek(&mut head)).await;
        let line = String::from_utf8_lossy(&head[..seen.ok().and_then(Result::ok).unwrap_or(0)])
            .into_owned();
        if line.lines().next().is_some_and(|l| l.contains("..")) {
            tokio::time::sleep(Duration::from_secs(60)).await;
            return;
        }
    }
    if flaw == Flaw::SilentWithoutKey && !has_key(&stream).await {
        tokio::time::sleep(Duration::from_secs(60)).await;
        return;
    }
    let mut path = String::new();
    let mut authorization: Option<String> = None;
    let config = WebSocketConfig::default().max_message_size(Some(16 << 20));
    // tungstenite's `Callback` trait fixes the (large) error type.
    #[allow(clippy::result_large_err)]
    let callback = |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
                    response| {
        path = request.uri().path().to_string();
        authorization = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let origin = request
            .headers()
            .get("origin")
            .and_then(|v| v.to_str().ok());
        let token = authorization.as_deref().unwrap_or("");
        let (token_ok, origin_ok) = match flaw {
            Flaw::ChecksToken => (token == TOKEN, origin.is_none_or(|o| o == SITE)),
            Flaw::ChecksTokenPrefix => (token.starts_with(&TOKEN[..TOKEN.len() - 1]), true),
            Flaw::IgnoresOrigin => (token == TOKEN, true),
            _ => (true, true),
        };
        if !token_ok || !origin_ok {
            let status = if token_ok { 403 } else { 401 };
            let refusal = tokio_tungstenite::tungstenite::http::Response::builder()
                .status(status)
                .body(Some("not allowed".to_string()))
                .expect("a valid response");
            return Err(refusal);
        }
        if flaw == Flaw::BurnCpuOnLongHeader && request.headers().values().any(|v| v.len() > 1024) {
            burn_cpu(Duration::from_millis(1500));
        }
        Ok(response)
    };
    let Ok(mut ws) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await
    else {
        return;
    };
    if path == "/api/ws/test" {
        return echo(ws, flaw, stalled).await;
    }
    let id = path.strip_prefix("/ws/prompts/").unwrap_or("");
    let id = percent_encoding::percent_decode_str(id)
        .decode_utf8_lossy()
        .into_owned();
    if !KNOWN.contains(&id.as_str()) && flaw != Flaw::AcceptsUnknownPrompt {
        let mut reason = format!("Prompt '{id}' not found");
        while reason.len() > 123 {
            reason.pop();
        }
        return close(&mut ws, 4004, &reason).await;
    }
    let mut initial = json!({"action": "initial", "content": "Hello", "description": null, "tags": ["a"], "is_composite": false, "updated_at": null});
    let saved = kept.lock().unwrap().get(&id).cloned().unwrap_or_default();
    for (field, value) in &saved {
        initial[field] = value.clone();
    }
    if !initial["content"].is_string() {
        return;
    }
    if flaw == Flaw::BadGreeting {
        initial.as_object_mut().unwrap().remove("tags");
    }
    if flaw == Flaw::IgnoresToken && !saved.contains_key("description") {
        initial["description"] = json!(authorization);
    }
    if ws.send(Message::text(initial.to_string())).await.is_err() {
        return;
    }
    if flaw == Flaw::PingFlood {
        // Bounded, like every loop here that sends traffic: 60 s or a million pings.
        let until = Instant::now() + Duration::from_secs(60);
        for _ in 0..1_000_000 {
            if Instant::now() > until || ws.send(Message::Ping(Vec::new().into())).await.is_err() {
                return;
            }
        }
        return;
    }
    let me = NEXT_PEER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (queue, mut pushed) = unbounded_channel::<String>();
    peers
        .lock()
        .unwrap()
        .entry(id.clone())
        .or_default()
        .push((me, queue));
    let mut closed = false;
    let mut received = 0;
    loop {
        let message = tokio::select! {
            Some(text) = pushed.recv() => {
                if ws.send(Message::text(text)).await.is_err() {
                    break;
                }
                continue;
            }
            message = ws.next() => match message {
                Some(Ok(message)) => message,
                _ => break,
            },
        };
        let text = match message {
            Message::Text(text) => text.to_string(),
            Message::Binary(_) => {
                return close(&mut ws, 1003, "binary messages are not supported").await
            }
            Message::Close(_) => {
                closed = true;
                drain(&mut ws, Duration::from_secs(1)).await;
                break;
            }
            _ => continue,
        };
        // What a flawed process does with a message comes before any check of it.
        match flaw {
            Flaw::LeakPerMessage => KEPT.lock().unwrap().push(vec![0xA5; 256 << 10]),
            Flaw::AmplifyLargeMessage if text.len() > 64 << 10 => {
                let scratch = vec![0x5A_u8; 320 << 20];
                std::hint::black_box(&scratch);
            }
            Flaw::AbortOnInclusion if text.contains("expand") && text.contains("[[") => {
                eprintln!(
                    "thread 'main' has overflowed its stack\nfatal runtime error: stack overflow"
                );
                std::process::abort();
            }
            _ => {}
        }
        if text.len() > LIMIT {
            return close(&mut ws, 1009, "message too large").await;
        }
        received += 1;
        if flaw == Flaw::QuotaPerConnection && received > QUOTA {
            continue;
        }
        if flaw == Flaw::RaceOnConcurrentSave && saves(&text) {
            if SAVING.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return close(&mut ws, 1011, "database is locked").await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            SAVING.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        match answer(&text, flaw) {
            Answer::Send(reply) => {
                if let Some(news) = broadcast_for(&text, &reply) {
                    let mut kept = kept.lock().unwrap();
                    let prompt = kept.entry(id.clone()).or_default();
                    for field in ["content", "description", "tags"] {
                        // Tags it should not have taken (TakesAnyTags) are not kept.
                        let kept_as_is = field != "tags"
                            || news[field]
                                .as_array()
                                .is_some_and(|t| t.iter().all(Value::is_string));
                        if let Some(value) = news.get(field).filter(|_| kept_as_is) {
                            prompt.insert(field.to_string(), value.clone());
                        }
                    }
                    drop(kept);
                    broadcast(&peers, &id, me, &news, flaw);
                }
                if ws.send(Message::text(reply.to_string())).await.is_err() {
                    return;
                }
            }
            Answer::Close(code) => {
                if flaw == Flaw::SlowClose1011OnWrongType {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                return close(&mut ws, code, "internal error").await;
            }
            Answer::Drop => return,
            Answer::Nothing => {}
        }
        if matches!(flaw, Flaw::StallAfterMetadata | Flaw::DieAfterMetadata)
            && serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("action").cloned())
                == Some(json!("update_metadata"))
        {
            let pause = if flaw == Flaw::StallAfterMetadata {
                Duration::from_millis(600)
            } else {
                Duration::from_secs(3600)
            };
            *stalled.lock().unwrap() = Some(Instant::now() + pause);
        }
    }
    // A peer that left without a close frame stays listed when that is the flaw.
    if closed || flaw != Flaw::BroadcastStopsAtDeadPeer {
        if let Some(list) = peers.lock().unwrap().get_mut(&id) {
            list.retain(|(peer, _)| *peer != me);
        }
    }
    if flaw == Flaw::KeepAbandonedConnections && !closed {
        ABANDONED.lock().unwrap().push(ws);
    }
}

/// Whether a message asks to save a change.
fn saves(text: &str) -> bool {
    let action = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_string));
    matches!(action.as_deref(), Some("update" | "update_metadata"))
}

/// Keeps a core busy for `how_long`.
fn burn_cpu(how_long: Duration) {
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < how_long {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

enum Answer {
    Send(Value),
    Close(u16),
    Drop,
    Nothing,
}

fn error(code: &str, message: &str) -> Answer {
    Answer::Send(json!({"action": "error", "error": code, "message": message}))
}

fn answer(text: &str, flaw: Flaw) -> Answer {
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(_) if flaw == Flaw::DropOnInvalidJson => return Answer::Drop,
        Err(_) if flaw == Flaw::ClosesNormallyOnBadJson => return Answer::Close(1000),
        Err(_) if flaw == Flaw::LeaksTraceback => {
            return error("invalid_json", "Traceback (most recent call last):\n  File \"app.py\", line 42, in receive\njson.decoder.JSONDecodeError: Expecting value")
        }
        Err(_) => return error("invalid_json", "the message is not JSON"),
    };
    let Some(object) = value.as_object() else {
        return error("not_an_object", "the message must be a JSON object");
    };
    let Some(action) = object.get("action").and_then(Value::as_str) else {
        return error("invalid_field", "the message needs a string `action`");
    };
    let wrong_type = || {
        if matches!(
            flaw,
            Flaw::Close1011OnWrongType | Flaw::SlowClose1011OnWrongType
        ) {
            Answer::Close(1011)
        } else {
            error("invalid_field", "a field has the wrong type")
        }
    };
    let status = if flaw == Flaw::BadStatusSchema {
        json!("yes")
    } else {
        json!(true)
    };
    match action {
        "update" | "expand" => {
            let content = match object.get("content") {
                None if flaw == Flaw::PanicOnMissingField => panic!("content is missing"),
                None => return error("invalid_field", "`content` is required"),
                Some(Value::String(content)) => content.clone(),
                Some(Value::Number(_)) if flaw == Flaw::BreaksOnNumberContent => String::new(),
                Some(_) => return wrong_type(),
            };
            if action == "update" {
                Answer::Send(
                    json!({"action": "update_status", "success": status, "timestamp": STAMP}),
                )
            } else {
                Answer::Send(
                    json!({"action": "expanded", "content": content, "expanded": content, "dependencies": [], "warnings": []}),
                )
            }
        }
        "update_metadata" => {
            let description_ok = object
                .get("description")
                .is_none_or(|d| d.is_string() || d.is_null());
            let tags_ok = object.get("tags").is_none_or(|t| {
                t.as_array()
                    .is_some_and(|a| flaw == Flaw::TakesAnyTags || a.iter().all(Value::is_string))
            });
            if !description_ok || !tags_ok {
                return wrong_type();
            }
            Answer::Send(json!({"action": "update_status", "success": status, "timestamp": STAMP}))
        }
        _ if flaw == Flaw::SilentOnUnknownAction => Answer::Nothing,
        _ => error("unknown_action", "no such action"),
    }
}

async fn echo(
    mut ws: WebSocketStream<TcpStream>,
    flaw: Flaw,
    stalled: Arc<Mutex<Option<Instant>>>,
) {
    // Counted across the servers of a test binary: the flawed one dies at its first echo past
    // the 20th, which is at most its own 20th.
    static ECHOES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    if ws
        .send(Message::text("WebSocket test connection successful"))
        .await
        .is_err()
    {
        return;
    }
    let mut counter = 0;
    while let Some(Ok(message)) = ws.next().await {
        match message {
            Message::Text(text) if text.len() > LIMIT => {
                return close(&mut ws, 1009, "message too large").await
            }
            Message::Text(text) => {
                counter += 1;
                let echoes = ECHOES.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if flaw == Flaw::DieAfterEchoes && echoes >= 20 {
                    *stalled.lock().unwrap() = Some(Instant::now() + Duration::from_secs(3600));
                }
                let reply = json!({"received": text.as_str(), "counter": counter, "timestamp": STAMP, "message": "WebSocket echo test"});
                if ws.send(Message::text(reply.to_string())).await.is_err() {
                    return;
                }
            }
            Message::Binary(_) => {
                return close(&mut ws, 1003, "binary messages are not supported").await
            }
            Message::Close(_) => return drain(&mut ws, Duration::from_secs(1)).await,
            _ => {}
        }
    }
}

/// Reads on after the client's close, which sends tungstenite's close reply and ends the stream.
async fn drain(ws: &mut WebSocketStream<TcpStream>, wait: Duration) {
    let _ = tokio::time::timeout(wait, async { while let Some(Ok(_)) = ws.next().await {} }).await;
}

/// Sends a close frame and waits (briefly) for the client's, as RFC 6455 asks.
async fn close(ws: &mut WebSocketStream<TcpStream>, code: u16, reason: &str) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    let _ = ws.send(Message::Close(Some(frame))).await;
    drain(ws, Duration::from_secs(2)).await;
}

/// Fails with the whole report if it has findings: a correct server must give none.
pub fn assert_no_findings(report: &Report) {
    assert!(
        report.findings.is_empty(),
        "{}",
        wsfuzz::report::text(report)
    );
}

/// The checks a report's findings failed, each once, in the order first found.
pub fn checks_of(report: &Report) -> Vec<&'static str> {
    // Findings of one check are kept apart by cause; a check is named once, where first found.
    let mut checks: Vec<&'static str> = Vec::new();
    for finding in &report.findings {
        if !checks.contains(&finding.check.name) {
            checks.push(finding.check.name);
        }
    }
    checks
}

/// Asserts that the campaign found the target unresponsive, and nothing else, and ended there.
pub fn assert_stopped_answering(report: &Report) {
    assert_eq!(
        checks_of(report),
        ["stays_responsive"],
        "{}",
        wsfuzz::report::text(report)
    );
    assert!(
        report
            .stopped
            .as_deref()
            .is_some_and(|s| s.contains("stopped answering")),
        "{:?}",
        report.stopped
    );
}

pub fn spec() -> Spec {
    Spec::parse(wsfuzz::PROMPT_MANAGER_SPEC, "prompt-manager.asyncapi.yaml")
        .expect("the bundled spec reads")
}

/// Settings for fast, deterministic test campaigns.
pub fn settings(seed: u64, cases: u64) -> Settings {
    Settings {
        cases,
        seed,
        timing: Timing {
            timeout: Duration::from_millis(300),
            quiet: Duration::from_millis(100),
        },
        shrink: Budget {
            attempts: 400,
            time: Duration::from_secs(60),
        },
        recover: Duration::from_secs(5),
        // These servers are for the message layer; tests of the wire layers pick theirs.
        layers: vec![Layer::Messages],
        ..Settings::default()
    }
}

/// Runs a campaign with the bundled spec against `addr`, bounded by the case count and the test's time-out.
pub async fn campaign(addr: SocketAddr, settings: &Settings) -> Report {
    let target = Target::resolve(&format!("ws://{addr}"), Some(&spec())).expect("a valid target");
    run(&target, settings).await
}

/// Runs a campaign on `target`, which must be reachable, within four minutes.
pub async fn run(target: &Target, settings: &Settings) -> Report {
    run_with(target, settings, &mut |_: &campaign::Event| {}).await
}

/// `run`, with a reporter told the campaign's events.
pub async fn run_with(
    target: &Target,
    settings: &Settings,
    reporter: &mut dyn campaign::Reporter,
) -> Report {
    let run = campaign::run(target, settings, reporter);
    tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("the campaign ends in time")
        .expect("the target is reachable")
}
