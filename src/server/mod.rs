//! The reference Prompt Manager server: listener, routing and per-connection handling.

mod clock;
mod store;
mod upgrade;

use std::collections::HashMap;
use std::future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use store::{floor_char_boundary, MetadataChange, Prompt, Store};

/// The protocol's own message limit (the spec's `x-wsfuzz-max-message-bytes`).
const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// What tungstenite buffers at most; well above the protocol limit so that oversized
/// messages reach our code and get the protocol's 1009 answer rather than a transport error.
const TRANSPORT_MAX_BYTES: usize = 16 << 20;
/// Close reasons must fit a control frame (125 bytes) after the 2-byte code.
const MAX_CLOSE_REASON_BYTES: usize = 123;
/// Broadcasts waiting for one slow connection; beyond this they are dropped for it.
const QUEUE_CAPACITY: usize = 256;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A peer that reads nothing for this long while we have data for it is given up on.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long RFC 6455's closing handshake may take before the TCP connection is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a failed connection's peer must stay quiet before the server closes it.
const LINGER_QUIET: Duration = Duration::from_millis(50);
/// Pause after a failed accept so that a persistent failure (e.g. no file descriptors
/// left) does not spin the loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

const ECHO_PATH: &str = "/api/ws/test";
const PROMPT_PREFIX: &str = "/ws/prompts/";
const ECHO_GREETING: &str = "WebSocket test connection successful";

type Ws = WebSocketStream<TcpStream>;

/// A reference server running in the background; dropping it stops it.
pub struct RunningServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
    #[cfg(test)]
    shared: Arc<Shared>,
}

impl RunningServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        // The accept task owns the JoinSet of connection tasks; dropping it aborts them all.
        self.task.abort();
    }
}

/// Binds `addr` (port 0 allowed) and serves in background tasks on the current tokio runtime.
pub async fn start(addr: SocketAddr) -> io::Result<RunningServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared::new());
    let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
    Ok(RunningServer {
        addr,
        task,
        #[cfg(test)]
        shared,
    })
}

/// Binds and serves until the future is dropped (used by `wsfuzz serve`).
pub async fn serve(addr: SocketAddr) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    accept_loop(listener, Arc::new(Shared::new())).await;
    Ok(())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(handle_connection(stream, Arc::clone(&shared)));
                }
                Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
            },
            // Reaps finished connections so the set does not grow with the server's age.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// The endpoint a handshake asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Echo,
    Prompt(String),
    Unknown,
}

impl Route {
    fn from_path(path: &str) -> Route {
        if path == ECHO_PATH {
            return Route::Echo;
        }
        match path.strip_prefix(PROMPT_PREFIX) {
            Some(segment) if !segment.is_empty() && !segment.contains('/') => {
                Route::Prompt(percent_decode_str(segment).decode_utf8_lossy().into_owned())
            }
            _ => Route::Unknown,
        }
    }
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(TRANSPORT_MAX_BYTES))
        .max_frame_size(Some(TRANSPORT_MAX_BYTES))
}

async fn handle_connection(mut stream: TcpStream, shared: Arc<Shared>) {
    // Request/reply traffic: waiting for more data to coalesce only adds latency.
    let _ = stream.set_nodelay(true);
    let known = |path: &str| Route::from_path(path) != Route::Unknown;
    let Some(upgraded) = upgrade::upgrade(&mut stream, HANDSHAKE_TIMEOUT, known).await else {
        return;
    };
    let mut ws = WebSocketStream::from_partially_read(
        stream,
        upgraded.leftover,
        Role::Server,
        Some(ws_config()),
    )
    .await;
    match Route::from_path(&upgraded.path) {
        Route::Echo => echo_session(&mut ws).await,
        Route::Prompt(id) => prompt_session(&mut ws, &shared, &id).await,
        Route::Unknown => {}
    }
}

async fn echo_session(ws: &mut Ws) {
    if !send_text(ws, Utf8Bytes::from_static(ECHO_GREETING)).await {
        return;
    }
    let mut counter: u64 = 0;
    run_session(ws, None, |text| {
        counter += 1;
        json!({
            "received": text,
            "counter": counter,
            "timestamp": clock::now(),
            "message": "WebSocket echo test",
        })
        .to_string()
    })
    .await;
}

async fn prompt_session(ws: &mut Ws, shared: &Arc<Shared>, prompt_id: &str) {
    let Some((subscription, queue, prompt)) = Subscription::open(shared, prompt_id) else {
        let reason = format!("Prompt '{prompt_id}' not found");
        close(ws, CloseCode::from(4004), &reason).await;
        return;
    };
    let initial = json!({
        "action": "initial",
        "content": &*prompt.content,
        "description": prompt.description,
        "tags": prompt.tags,
        "is_composite": prompt.is_composite,
        "updated_at": prompt.updated_at,
    });
    if !send_text(ws, initial.to_string().into()).await {
        return;
    }
    run_session(ws, Some(queue), |text| subscription.reply_to(text)).await;
}

/// Reads client messages, answers text frames with `on_text` and forwards queued
/// broadcasts until the connection ends.
async fn run_session<F>(ws: &mut Ws, mut queue: Option<mpsc::Receiver<Utf8Bytes>>, mut on_text: F)
where
    F: FnMut(&str) -> String,
{
    enum Event {
        Queued(Utf8Bytes),
        Incoming(Option<Result<Message, WsError>>),
    }
    loop {
        let event = tokio::select! {
            biased;
            Some(text) = next_queued(&mut queue) => Event::Queued(text),
            incoming = ws.next() => Event::Incoming(incoming),
        };
        let message = match event {
            Event::Queued(text) => {
                if !send_text(ws, text).await {
                    return;
                }
                continue;
            }
            Event::Incoming(None) => return,
            Event::Incoming(Some(Err(error))) => {
                fail(ws, error).await;
                return;
            }
            Event::Incoming(Some(Ok(message))) => message,
        };
        match message {
            Message::Text(text) if text.len() > MAX_MESSAGE_BYTES => {
                close(ws, CloseCode::Size, "message too large").await;
                return;
            }
            Message::Binary(data) if data.len() > MAX_MESSAGE_BYTES => {
                close(ws, CloseCode::Size, "message too large").await;
                return;
            }
            Message::Text(text) => {
                let reply = on_text(text.as_str());
                if !send_text(ws, reply.into()).await {
                    return;
                }
            }
            Message::Binary(_) => {
                close(
                    ws,
                    CloseCode::Unsupported,
                    "binary messages are not supported",
                )
                .await;
                return;
            }
            Message::Ping(_) => {
                // tungstenite queued the pong; push it out now rather than on the next read.
                if !matches!(timeout(WRITE_TIMEOUT, ws.flush()).await, Ok(Ok(()))) {
                    return;
                }
            }
            Message::Pong(_) | Message::Frame(_) => {}
            Message::Close(_) => {
                // tungstenite queued the close reply; reading on sends it and ends the stream.
                drain(ws).await;
                return;
            }
        }
    }
}

async fn next_queued(queue: &mut Option<mpsc::Receiver<Utf8Bytes>>) -> Option<Utf8Bytes> {
    match queue {
        Some(queue) => queue.recv().await,
        None => future::pending().await,
    }
}

/// Answers a read error: the peer gets the close code RFC 6455 names for it if the
/// connection can still carry one.
async fn fail(ws: &mut Ws, error: WsError) {
    let (code, reason) = match error {
        WsError::Capacity(_) => (CloseCode::Size, "message too large"),
        WsError::Utf8(_) => (CloseCode::Invalid, "invalid UTF-8 in text message"),
        // The peer is gone; there is nobody left to tell.
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => return,
        WsError::Protocol(_) => (CloseCode::Protocol, "protocol error"),
        _ => return,
    };
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if matches!(
        timeout(CLOSE_TIMEOUT, ws.send(Message::Close(Some(frame)))).await,
        Ok(Ok(()))
    ) {
        linger(ws).await;
    }
}

/// After a read error the frames that follow cannot be parsed: read and discard raw bytes
/// until the peer falls quiet (its close frame has come) or `CLOSE_TIMEOUT` passes. Closing
/// with unread bytes would send a reset, and a reset can destroy the close frame in flight.
async fn linger(ws: &mut Ws) {
    let stream = ws.get_mut();
    let deadline = tokio::time::Instant::now() + CLOSE_TIMEOUT;
    let mut buf = [0u8; 8192];
    while tokio::time::Instant::now() < deadline {
        match timeout(LINGER_QUIET, stream.read(&mut buf)).await {
            // A read that starts with a final close frame is the peer's answer: done.
            Ok(Ok(n @ 1..)) if buf[..n].starts_with(&[0x88]) => return,
            Ok(Ok(1..)) => continue,
            _ => return,
        }
    }
}

async fn send_text(ws: &mut Ws, text: Utf8Bytes) -> bool {
    matches!(
        timeout(WRITE_TIMEOUT, ws.send(Message::Text(text))).await,
        Ok(Ok(()))
    )
}

/// Starts the closing handshake and waits, bounded, for the peer to finish it.
async fn close(ws: &mut Ws, code: CloseCode, reason: &str) {
    let reason = &reason[..floor_char_boundary(reason, MAX_CLOSE_REASON_BYTES)];
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let sent = timeout(CLOSE_TIMEOUT, ws.send(Message::Close(Some(frame)))).await;
    if matches!(sent, Ok(Ok(()))) {
        drain(ws).await;
    }
}

/// Discards what the peer still sends until its close frame ends the stream, at most
/// `CLOSE_TIMEOUT`, so the connection ends cleanly rather than with a reset.
async fn drain(ws: &mut Ws) {
    let _ = timeout(CLOSE_TIMEOUT, async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// State shared by all connections of one server.
struct Shared {
    state: Mutex<State>,
}

struct State {
    store: Store,
    /// Connections by the prompt they edit.
    subscribers: HashMap<String, Vec<Subscriber>>,
    next_connection: u64,
}

struct Subscriber {
    connection: u64,
    queue: mpsc::Sender<Utf8Bytes>,
}

impl Shared {
    fn new() -> Self {
        Shared {
            state: Mutex::new(State {
                store: Store::seeded(),
                subscribers: HashMap::new(),
                next_connection: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The critical sections cannot leave the state half-updated, so a poisoned lock
        // (a panic elsewhere) is no reason to take every other connection down.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Queues `message` for every connection on `prompt_id` except `sender`. Called with
    /// the lock held, right after the store change, so peers see changes in store order.
    fn broadcast(&self, prompt_id: &str, sender: u64, message: &Utf8Bytes) {
        let Some(subscribers) = self.subscribers.get(prompt_id) else {
            return;
        };
        for subscriber in subscribers.iter().filter(|s| s.connection != sender) {
            // A full queue means a peer that does not keep up: it loses this broadcast
            // rather than blocking the sender or growing without bound.
            let _ = subscriber.queue.try_send(message.clone());
        }
    }
}

/// A connection's registration on one prompt; unregisters when dropped, which also
/// happens when the connection task is aborted or the peer vanishes.
struct Subscription {
    shared: Arc<Shared>,
    prompt_id: String,
    connection: u64,
}

impl Subscription {
    /// Registers a connection on an existing prompt and returns the prompt as it was at
    /// registration, so that the initial message and the broadcasts that follow agree.
    fn open(
        shared: &Arc<Shared>,
        prompt_id: &str,
    ) -> Option<(Subscription, mpsc::Receiver<Utf8Bytes>, Prompt)> {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let mut state = shared.lock();
        let prompt = state.store.get(prompt_id)?.clone();
        let connection = state.next_connection;
        state.next_connection += 1;
        state
            .subscribers
            .entry(prompt_id.to_owned())
            .or_default()
            .push(Subscriber {
                connection,
                queue: sender,
            });
        drop(state);
        let subscription = Subscription {
            shared: Arc::clone(shared),
            prompt_id: prompt_id.to_owned(),
            connection,
        };
        Some((subscription, receiver, prompt))
    }

    /// The reply to one text frame from this connection; applies and broadcasts changes.
    fn reply_to(&self, text: &str) -> String {
        let fields = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(fields)) => fields,
            Ok(_) => return error_reply("not_an_object", "The message must be a JSON object."),
            Err(_) => return error_reply("invalid_json", "The message is not valid JSON."),
        };
        match fields.get("action") {
            Some(Value::String(action)) => match action.as_str() {
                "update" => self.update(&fields),
                "update_metadata" => self.update_metadata(&fields),
                "expand" => self.expand(&fields),
                _ => error_reply(
                    "unknown_action",
                    "Unknown action; expected update, update_metadata or expand.",
                ),
            },
            Some(_) => error_reply("invalid_field", "The \"action\" field must be a string."),
            None => error_reply("invalid_field", "The message has no \"action\" field."),
        }
    }

    fn update(&self, fields: &Map<String, Value>) -> String {
        let Some(content) = fields.get("content").and_then(Value::as_str) else {
            return error_reply(
                "invalid_field",
                "An update needs a string \"content\" field.",
            );
        };
        let timestamp = clock::now();
        let broadcast = Utf8Bytes::from(
            json!({"action": "update", "content": content, "timestamp": timestamp}).to_string(),
        );
        let saved = {
            let mut state = self.shared.lock();
            let saved = state
                .store
                .set_content(&self.prompt_id, content, &timestamp);
            if saved {
                state.broadcast(&self.prompt_id, self.connection, &broadcast);
            }
            saved
        };
        update_status(saved, &timestamp)
    }

    fn update_metadata(&self, fields: &Map<String, Value>) -> String {
        let description = match fields.get("description") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(description)) => Some(Some(description.clone())),
            Some(_) => {
                return error_reply(
                    "invalid_field",
                    "The \"description\" field must be a string or null.",
                )
            }
        };
        let tags = match fields.get("tags") {
            None => None,
            Some(Value::Array(items)) => {
                let tags: Option<Vec<String>> = items
                    .iter()
                    .map(|item| item.as_str().map(str::to_owned))
                    .collect();
                match tags {
                    Some(tags) => Some(tags),
                    None => return tags_error(),
                }
            }
            Some(_) => return tags_error(),
        };
        let timestamp = clock::now();
        let change = MetadataChange { description, tags };
        let mut state = self.shared.lock();
        let Some(prompt) = state
            .store
            .set_metadata(&self.prompt_id, change, &timestamp)
        else {
            return update_status(false, &timestamp);
        };
        let broadcast = Utf8Bytes::from(
            json!({
                "action": "update_metadata",
                "description": prompt.description,
                "tags": prompt.tags,
                "timestamp": timestamp,
            })
            .to_string(),
        );
        state.broadcast(&self.prompt_id, self.connection, &broadcast);
        drop(state);
        update_status(true, &timestamp)
    }

    fn expand(&self, fields: &Map<String, Value>) -> String {
        let Some(content) = fields.get("content").and_then(Value::as_str) else {
            return error_reply(
                "invalid_field",
                "An expand request needs a string \"content\" field.",
            );
        };
        // Expansion can take milliseconds on large content; do it outside the lock.
        let snapshot = self.shared.lock().store.snapshot();
        let expansion = snapshot.expand(&self.prompt_id, content);
        json!({
            "action": "expanded",
            "content": content,
            "expanded": expansion.expanded,
            "dependencies": expansion.dependencies,
            "warnings": expansion.warnings,
        })
        .to_string()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        if let Some(subscribers) = state.subscribers.get_mut(&self.prompt_id) {
            subscribers.retain(|s| s.connection != self.connection);
            if subscribers.is_empty() {
                state.subscribers.remove(&self.prompt_id);
            }
        }
    }
}

fn tags_error() -> String {
    error_reply(
        "invalid_field",
        "The \"tags\" field must be an array of strings.",
    )
}

fn error_reply(error: &str, message: &str) -> String {
    json!({"action": "error", "error": error, "message": message}).to_string()
}

fn update_status(success: bool, timestamp: &str) -> String {
    json!({"action": "update_status", "success": success, "timestamp": timestamp}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::error::Error as ClientError;
    use tokio_tungstenite::MaybeTlsStream;

    type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

    const WAIT: Duration = Duration::from_secs(5);

    async fn start_local() -> RunningServer {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        start(addr).await.expect("server starts")
    }

    async fn connect(addr: SocketAddr, path: &str) -> Client {
        let url = format!("ws://{addr}{path}");
        let connected = timeout(WAIT, tokio_tungstenite::connect_async(url)).await;
        connected.expect("connect in time").expect("handshake").0
    }

    async fn next_message(ws: &mut Client) -> Message {
        loop {
            let next = timeout(WAIT, ws.next()).await.expect("message in time");
            match next.expect("stream open").expect("no read error") {
                Message::Ping(_) | Message::Pong(_) => continue,
                message => return message,
            }
        }
    }

    async fn next_json(ws: &mut Client) -> Value {
        match next_message(ws).await {
            Message::Text(text) => serde_json::from_str(&text).expect("server sent JSON"),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    async fn send(ws: &mut Client, text: &str) {
        let sent = timeout(WAIT, ws.send(Message::Text(text.into()))).await;
        sent.expect("send in time").expect("send");
    }

    async fn expect_close(ws: &mut Client) -> CloseFrame {
        match next_message(ws).await {
            Message::Close(Some(frame)) => frame,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    async fn assert_silent(ws: &mut Client) {
        let next = timeout(Duration::from_millis(200), ws.next()).await;
        assert!(next.is_err(), "unexpected message {next:?}");
    }

    /// The spec's timestamp pattern, without a regex engine: a date-time to the second,
    /// an optional fraction, then `Z` (the only zone this server writes).
    fn is_timestamp(value: &Value) -> bool {
        let Some(s) = value.as_str() else {
            return false;
        };
        let shape = "dddd-dd-ddTdd:dd:dd";
        let Some((head, rest)) = s.split_at_checked(shape.len()) else {
            return false;
        };
        let head_ok = head.bytes().zip(shape.bytes()).all(|(c, p)| match p {
            b'd' => c.is_ascii_digit(),
            _ => c == p,
        });
        let fraction = rest.strip_suffix('Z').unwrap_or("x");
        let fraction_ok = fraction.is_empty()
            || fraction
                .strip_prefix('.')
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()));
        head_ok && fraction_ok
    }

    #[test]
    fn routes_paths() {
        assert_eq!(Route::from_path("/api/ws/test"), Route::Echo);
        assert_eq!(
            Route::from_path("/ws/prompts/greeting"),
            Route::Prompt("greeting".into())
        );
        assert_eq!(
            Route::from_path("/ws/prompts/a%20b%C3%A9%FF"),
            Route::Prompt("a bé\u{FFFD}".into())
        );
        for path in [
            "/",
            "/ws/prompts/",
            "/ws/prompts/a/b",
            "/api/ws/test/",
            "/ws/prompts",
        ] {
            assert_eq!(Route::from_path(path), Route::Unknown, "for {path}");
        }
    }

    #[tokio::test]
    async fn serves_prompts_refusals_and_echo() {
        let server = start_local().await;
        let addr = server.local_addr();

        let mut ws = connect(addr, "/ws/prompts/greeting").await;
        let initial = next_json(&mut ws).await;
        assert_eq!(initial["action"], "initial");
        assert_eq!(initial["content"], "Hello! [[signature]]");
        assert_eq!(initial["is_composite"], true);
        assert!(initial["description"].is_string());
        assert!(initial["tags"].is_array());
        assert!(is_timestamp(&initial["updated_at"]) || initial["updated_at"].is_null());

        send(
            &mut ws,
            r#"{"action":"expand","content":"[[greeting]] [[summary]]","x":1}"#,
        )
        .await;
        let expanded = next_json(&mut ws).await;
        assert_eq!(expanded["action"], "expanded");
        assert_eq!(expanded["content"], "[[greeting]] [[summary]]");
        assert_eq!(
            expanded["expanded"],
            "[[CIRCULAR DEPENDENCY: greeting]] Summary of [[CIRCULAR DEPENDENCY: greeting]] \
             and [[PROMPT NOT FOUND: missing_part]]"
        );
        assert_eq!(expanded["dependencies"], json!(["summary"]));
        assert_eq!(expanded["warnings"].as_array().map(Vec::len), Some(2));

        for (input, error) in [
            ("{", "invalid_json"),
            ("[1]", "not_an_object"),
            ("{}", "invalid_field"),
            (r#"{"action":3}"#, "invalid_field"),
            (r#"{"action":"delete"}"#, "unknown_action"),
            (r#"{"action":"update"}"#, "invalid_field"),
            (
                r#"{"action":"update_metadata","tags":["a",1]}"#,
                "invalid_field",
            ),
            (
                r#"{"action":"update_metadata","description":false}"#,
                "invalid_field",
            ),
            (
                &format!("{}{}", "[".repeat(200), "]".repeat(200)),
                "invalid_json",
            ),
            ("1e999", "invalid_json"),
        ] {
            send(&mut ws, input).await;
            let reply = next_json(&mut ws).await;
            assert_eq!(reply["action"], "error", "for {input}");
            assert_eq!(reply["error"], error, "for {input}");
            assert!(reply["message"].is_string());
        }

        let mut refused = connect(addr, "/ws/prompts/nope").await;
        let frame = expect_close(&mut refused).await;
        assert_eq!(u16::from(frame.code), 4004);
        assert_eq!(frame.reason.as_str(), "Prompt 'nope' not found");

        let long_id = "%C3%A9".repeat(100);
        let mut refused = connect(addr, &format!("/ws/prompts/{long_id}")).await;
        let frame = expect_close(&mut refused).await;
        assert_eq!(u16::from(frame.code), 4004);
        assert!(frame.reason.len() <= MAX_CLOSE_REASON_BYTES);
        assert!(frame.reason.as_str().starts_with("Prompt 'éé"));

        let url = format!("ws://{addr}/ws/prompts/a/b?x=1");
        match timeout(WAIT, tokio_tungstenite::connect_async(url)).await {
            Ok(Err(ClientError::Http(response))) => {
                assert_eq!(response.status().as_u16(), 404);
                assert_eq!(response.body().as_deref(), Some(&b"no such endpoint"[..]));
            }
            other => panic!("expected a 404, got {other:?}"),
        }

        // A handshake that is garbage must not take the server down.
        let mut raw = TcpStream::connect(addr).await.expect("tcp connect");
        raw.write_all(b"NOT HTTP AT ALL\r\n\r\n")
            .await
            .expect("write");
        let mut sink = Vec::new();
        let _ = timeout(WAIT, raw.read_to_end(&mut sink)).await;

        let mut echo = connect(addr, "/api/ws/test?debug=1").await;
        match next_message(&mut echo).await {
            Message::Text(text) => assert_eq!(text.as_str(), ECHO_GREETING),
            other => panic!("expected the echo greeting, got {other:?}"),
        }
        for counter in 1..=2 {
            send(&mut echo, "not json {").await;
            let reply = next_json(&mut echo).await;
            assert_eq!(reply["received"], "not json {");
            assert_eq!(reply["counter"], counter);
            assert_eq!(reply["message"], "WebSocket echo test");
            assert!(is_timestamp(&reply["timestamp"]));
        }
        timeout(WAIT, echo.close(None))
            .await
            .expect("close in time")
            .expect("close");
    }

    #[tokio::test]
    async fn broadcasts_to_other_clients_of_the_same_prompt_only() {
        let server = start_local().await;
        let addr = server.local_addr();
        let mut sender = connect(addr, "/ws/prompts/greeting").await;
        let mut peer = connect(addr, "/ws/prompts/greeting").await;
        let mut other_prompt = connect(addr, "/ws/prompts/signature").await;
        for ws in [&mut sender, &mut peer, &mut other_prompt] {
            assert_eq!(next_json(ws).await["action"], "initial");
        }

        send(
            &mut sender,
            r#"{"action":"update","content":"Hi [[nothing]]"}"#,
        )
        .await;
        let status = next_json(&mut sender).await;
        assert_eq!(status["action"], "update_status");
        assert_eq!(status["success"], true);
        assert!(is_timestamp(&status["timestamp"]));
        let update = next_json(&mut peer).await;
        assert_eq!(update["action"], "update");
        assert_eq!(update["content"], "Hi [[nothing]]");
        assert_eq!(update["timestamp"], status["timestamp"]);

        send(&mut peer, r#"{"action":"update_metadata","tags":["x"]}"#).await;
        assert_eq!(next_json(&mut peer).await["action"], "update_status");
        let metadata = next_json(&mut sender).await;
        assert_eq!(metadata["action"], "update_metadata");
        assert_eq!(metadata["tags"], json!(["x"]));
        assert!(metadata["description"].is_string());
        assert!(is_timestamp(&metadata["timestamp"]));

        assert_silent(&mut sender).await;
        assert_silent(&mut peer).await;
        assert_silent(&mut other_prompt).await;

        let mut late = connect(addr, "/ws/prompts/greeting").await;
        let initial = next_json(&mut late).await;
        assert_eq!(initial["content"], "Hi [[nothing]]");
        assert_eq!(initial["tags"], json!(["x"]));
        assert!(is_timestamp(&initial["updated_at"]));

        // Connections that went away, politely or not, no longer count as subscribers.
        drop(late);
        timeout(WAIT, peer.close(None))
            .await
            .expect("close in time")
            .expect("close");
        drop(sender);
        drop(other_prompt);
        let deadline = tokio::time::Instant::now() + WAIT;
        while subscriber_count(&server) != 0 {
            assert!(tokio::time::Instant::now() < deadline, "subscribers leak");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn subscriber_count(server: &RunningServer) -> usize {
        server
            .shared
            .lock()
            .subscribers
            .values()
            .map(Vec::len)
            .sum()
    }

    #[tokio::test]
    async fn enforces_the_message_size_limit_and_refuses_binary() {
        let server = start_local().await;
        let addr = server.local_addr();

        let mut echo = connect(addr, "/api/ws/test").await;
        assert!(matches!(next_message(&mut echo).await, Message::Text(_)));
        let exact = "a".repeat(MAX_MESSAGE_BYTES);
        send(&mut echo, &exact).await;
        let reply = next_json(&mut echo).await;
        assert_eq!(
            reply["received"].as_str().map(str::len),
            Some(MAX_MESSAGE_BYTES)
        );
        send(&mut echo, &format!("{exact}a")).await;
        let frame = expect_close(&mut echo).await;
        assert_eq!(frame.code, CloseCode::Size);
        assert_eq!(frame.reason.as_str(), "message too large");

        let mut prompt = connect(addr, "/ws/prompts/summary").await;
        assert_eq!(next_json(&mut prompt).await["action"], "initial");
        let sent = timeout(WAIT, prompt.send(Message::Binary(vec![1, 2, 3].into()))).await;
        sent.expect("send in time").expect("send");
        let frame = expect_close(&mut prompt).await;
        assert_eq!(frame.code, CloseCode::Unsupported);
        assert_eq!(frame.reason.as_str(), "binary messages are not supported");
    }
}
