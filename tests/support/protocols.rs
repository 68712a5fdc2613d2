//! Small servers for the other bundled specs, correct or with one flaw: chat rooms (`specs/chat.asyncapi.yaml`) and JSON-RPC (`specs/jsonrpc.asyncapi.yaml`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The largest message the bundled specs promise to take.
const MAX_MESSAGE: usize = 65_536;

/// Accepts connections on a free port and serves each with `serve(path, socket)`.
async fn listen<F, Fut>(serve: F) -> SocketAddr
where
    F: Fn(String, WebSocketStream<TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("local address");
    let serve = Arc::new(serve);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let serve = serve.clone();
            tokio::spawn(async move {
                let mut path = String::new();
                #[allow(clippy::result_large_err)]
                let callback =
                    |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
                     response| {
                        path = request.uri().path().to_string();
                        Ok(response)
                    };
                if let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await {
                    serve(path, ws).await;
                }
            });
        }
    });
    addr
}

async fn close(ws: &mut WebSocketStream<TcpStream>, code: u16, reason: &str) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    let _ = ws.send(Message::Close(Some(frame))).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// The one thing a chat server gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatFlaw {
    None,
    /// Takes a `say` of any length: the near-miss over 500 characters gets `sent`.
    TakesLongText,
    /// Sends what was said back to the one who said it too.
    EchoesToSender,
}

type Rooms = Mutex<HashMap<String, Vec<(u64, UnboundedSender<String>)>>>;

/// A chat server with `flaw` on a free port.
pub async fn chat(flaw: ChatFlaw) -> SocketAddr {
    let rooms: Arc<Rooms> = Arc::default();
    let history: Arc<Mutex<Vec<String>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(1));
    listen(move |path, ws| {
        let (rooms, history, next) = (rooms.clone(), history.clone(), next.clone());
        async move { chat_session(flaw, path, ws, rooms, history, next).await }
    })
    .await
}

async fn chat_session(
    flaw: ChatFlaw,
    path: String,
    mut ws: WebSocketStream<TcpStream>,
    rooms: Arc<Rooms>,
    history: Arc<Mutex<Vec<String>>>,
    next: Arc<std::sync::atomic::AtomicU64>,
) {
    let room = path.strip_prefix("/chat/").unwrap_or("").to_string();
    if !matches!(room.as_str(), "general" | "random") {
        return close(&mut ws, 4004, "no such room").await;
    }
    let me = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (queue, mut heard) = unbounded_channel::<String>();
    rooms
        .lock()
        .unwrap()
        .entry(room.clone())
        .or_default()
        .push((me, queue));
    loop {
        tokio::select! {
            said = heard.recv() => match said {
                Some(text) => if ws.send(Message::text(text)).await.is_err() { break },
                None => break,
            },
            incoming = ws.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text.to_string(),
                    Some(Ok(Message::Binary(_))) => {
                        let _ = ws.send(Message::text(chat_error("binary messages are not taken"))).await;
                        continue;
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let answer = chat_answer(flaw, &text, &history, &next);
                if let Some(said) = answer.1 {
                    for (peer, queue) in rooms.lock().unwrap().get(&room).into_iter().flatten() {
                        if *peer != me || flaw == ChatFlaw::EchoesToSender {
                            let _ = queue.send(said.clone());
                        }
                    }
                }
                if ws.send(Message::text(answer.0)).await.is_err() {
                    break;
                }
            }
        }
    }
    if let Some(members) = rooms.lock().unwrap().get_mut(&room) {
        members.retain(|(peer, _)| *peer != me);
    }
}

fn chat_error(reason: &str) -> String {
    json!({ "type": "error", "reason": reason }).to_string()
}

/// The reply to `text`, and what the room hears, if anything.
fn chat_answer(
    flaw: ChatFlaw,
    text: &str,
    history: &Mutex<Vec<String>>,
    next: &std::sync::atomic::AtomicU64,
) -> (String, Option<String>) {
    if text.len() > MAX_MESSAGE {
        return (chat_error("message too large"), None);
    }
    let Ok(Value::Object(message)) = serde_json::from_str::<Value>(text) else {
        return (chat_error("messages are JSON objects"), None);
    };
    let only = |keys: &[&str]| message.keys().all(|k| keys.contains(&k.as_str()));
    match message.get("type").and_then(Value::as_str) {
        Some("say") if only(&["type", "text"]) => {
            let Some(said) = message.get("text").and_then(Value::as_str) else {
                return (chat_error("`text` must be a string"), None);
            };
            let length = said.chars().count();
            if length == 0 || (length > 500 && flaw != ChatFlaw::TakesLongText) {
                return (chat_error("`text` must have 1 to 500 characters"), None);
            }
            history.lock().unwrap().push(said.to_string());
            let id = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let heard = json!({ "type": "said", "text": said }).to_string();
            (json!({ "type": "sent", "id": id }).to_string(), Some(heard))
        }
        Some("history") if only(&["type", "limit"]) => {
            let limit = match message.get("limit") {
                None => 20,
                Some(limit) => match whole(limit) {
                    Some(n @ 1..=50) => n as usize,
                    _ => {
                        return (
                            chat_error("`limit` must be a whole number from 1 to 50"),
                            None,
                        )
                    }
                },
            };
            let history = history.lock().unwrap();
            let recent: Vec<&String> = history.iter().rev().take(limit).collect();
            (
                json!({ "type": "recent", "messages": recent }).to_string(),
                None,
            )
        }
        _ => (chat_error("unknown or malformed message"), None),
    }
}

/// The one thing a JSON-RPC server gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RpcFlaw {
    None,
    /// Assumes `params` is an array: anything else kills the connection handler.
    CrashesOnBadParams,
}

/// A JSON-RPC server with `flaw` on a free port.
pub async fn jsonrpc(flaw: RpcFlaw) -> SocketAddr {
    listen(move |path, mut ws| async move {
        if path != "/rpc" {
            return close(&mut ws, 1008, "no such endpoint").await;
        }
        while let Some(Ok(message)) = ws.next().await {
            let answer = match message {
                Message::Text(text) => match rpc_answer(flaw, &text) {
                    Some(answer) => answer,
                    // The handler died: the connection goes with it, without a close frame.
                    None => return,
                },
                Message::Binary(_) => {
                    rpc_error(Value::Null, -32700, "binary messages are not JSON")
                }
                Message::Close(_) => break,
                _ => continue,
            };
            if ws.send(Message::text(answer)).await.is_err() {
                break;
            }
        }
    })
    .await
}

fn rpc_error(id: Value, code: i64, message: &str) -> String {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } }).to_string()
}

/// The answer to a request, or `None` where a flawed handler dies.
fn rpc_answer(flaw: RpcFlaw, text: &str) -> Option<String> {
    if text.len() > MAX_MESSAGE {
        return Some(rpc_error(Value::Null, -32600, "request too large"));
    }
    let Ok(request) = serde_json::from_str::<Value>(text) else {
        return Some(rpc_error(Value::Null, -32700, "parse error"));
    };
    let Some(request) = request.as_object() else {
        return Some(rpc_error(Value::Null, -32600, "a request is an object"));
    };
    let id = match request.get("id") {
        Some(id @ Value::String(s)) if s.chars().count() <= 64 => id.clone(),
        Some(id) if whole(id).is_some_and(|n| n >= 0) => id.clone(),
        _ => {
            return Some(rpc_error(
                Value::Null,
                -32600,
                "`id` must be a whole number or a short string",
            ))
        }
    };
    let known: &[&str] = &["jsonrpc", "id", "method", "params"];
    if request.get("jsonrpc") != Some(&json!("2.0"))
        || !request.keys().all(|k| known.contains(&k.as_str()))
    {
        return Some(rpc_error(id, -32600, "invalid request"));
    }
    let params = request.get("params");
    if flaw == RpcFlaw::CrashesOnBadParams && !params.is_some_and(Value::is_array) {
        return None;
    }
    let Some(Value::Array(params)) = params else {
        return Some(rpc_error(id, -32602, "`params` must be an array"));
    };
    let result = match request.get("method").and_then(Value::as_str) {
        Some("sum") => sum(params),
        Some("echo") => match params.as_slice() {
            [Value::String(s)] if s.chars().count() <= 1000 => Ok(json!(s)),
            _ => Err("echo takes one string of at most 1000 characters"),
        },
        Some(_) => return Some(rpc_error(id, -32601, "method not found")),
        None => return Some(rpc_error(id, -32600, "`method` must be a string")),
    };
    Some(match result {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }).to_string(),
        Err(why) => rpc_error(id, -32602, why),
    })
}

fn sum(params: &[Value]) -> Result<Value, &'static str> {
    if params.len() > 100 {
        return Err("sum takes at most 100 numbers");
    }
    let mut total: i64 = 0;
    for value in params {
        match whole(value) {
            Some(n) if (-1_000_000..=1_000_000).contains(&n) => total += n,
            _ => return Err("sum takes whole numbers from -1000000 to 1000000"),
        }
    }
    Ok(json!(total))
}

/// A JSON number with no fractional part, as JSON Schema's `integer` counts it (`5.0` too).
fn whole(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
            .map(|f| f as i64)
    })
}
