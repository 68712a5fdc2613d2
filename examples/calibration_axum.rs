//! Calibration server: the chat rooms of `specs/chat.asyncapi.yaml` on axum, after its websockets example (`calibration_axum PORT`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

#[derive(Default)]
struct Room {
    peers: HashMap<u64, UnboundedSender<Message>>,
    texts: Vec<String>,
    count: u64,
}

#[derive(Clone, Default)]
struct Rooms {
    rooms: Arc<Mutex<HashMap<String, Room>>>,
    next_id: Arc<Mutex<u64>>,
}

/// The reply to one text message, and the broadcast to the others.
fn handle(room: &mut Room, text: &str) -> (Value, Option<Value>) {
    let error = |reason: &str| (json!({"type": "error", "reason": reason}), None);
    let Ok(message) = serde_json::from_str::<Value>(text) else {
        return error("not JSON");
    };
    let Some(fields) = message.as_object() else {
        return error("not a JSON object");
    };
    match fields.get("type").and_then(Value::as_str) {
        Some("say") => {
            let said = match fields.get("text").and_then(Value::as_str) {
                Some(said) if fields.len() == 2 && (1..=500).contains(&said.chars().count()) => {
                    said
                }
                _ => return error("say takes a text of 1 to 500 characters, and nothing else"),
            };
            room.count += 1;
            room.texts.push(said.to_string());
            let excess = room.texts.len().saturating_sub(50);
            room.texts.drain(..excess);
            (
                json!({"type": "sent", "id": room.count}),
                Some(json!({"type": "said", "text": said})),
            )
        }
        Some("history") => {
            let limit = match fields.get("limit") {
                None => Some(50),
                Some(limit) => limit.as_u64().or_else(|| {
                    limit
                        .as_f64()
                        .filter(|f| f.fract() == 0.0)
                        .map(|f| f as u64)
                }),
            };
            match limit {
                Some(limit @ 1..=50) if fields.keys().all(|k| k == "type" || k == "limit") => {
                    let from = room.texts.len().saturating_sub(limit as usize);
                    (
                        json!({"type": "recent", "messages": room.texts[from..]}),
                        None,
                    )
                }
                _ => error("history takes a limit from 1 to 50, and nothing else"),
            }
        }
        _ => error("unknown type"),
    }
}

async fn chat(
    ws: WebSocketUpgrade,
    Path(name): Path<String>,
    State(state): State<Rooms>,
) -> Response {
    if name != "general" && name != "random" {
        return (StatusCode::NOT_FOUND, "no such room").into_response();
    }
    ws.max_message_size(65536)
        .max_frame_size(65536)
        .on_upgrade(move |socket| serve(socket, state, name))
}

async fn serve(socket: WebSocket, state: Rooms, name: String) {
    let id = {
        let mut next = state.next_id.lock().unwrap();
        *next += 1;
        *next
    };
    let (mut write, mut read) = socket.split();
    let (tx, mut rx) = unbounded_channel();
    state
        .rooms
        .lock()
        .unwrap()
        .entry(name.clone())
        .or_default()
        .peers
        .insert(id, tx.clone());
    let writer = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            let closing = matches!(message, Message::Close(_));
            if write.send(message).await.is_err() || closing {
                break;
            }
        }
    });
    while let Some(Ok(message)) = read.next().await {
        match message {
            Message::Text(text) => {
                let mut rooms = state.rooms.lock().unwrap();
                let room = rooms.entry(name.clone()).or_default();
                let (reply, said) = handle(room, text.as_str());
                let _ = tx.send(Message::Text(reply.to_string().into()));
                if let Some(said) = said {
                    for (peer, sender) in &room.peers {
                        if *peer != id {
                            let _ = sender.send(Message::Text(said.to_string().into()));
                        }
                    }
                }
            }
            Message::Binary(_) => {
                let _ = tx.send(Message::Close(Some(CloseFrame {
                    code: 1003,
                    reason: "text only".into(),
                })));
            }
            _ => {}
        }
    }
    if let Some(room) = state.rooms.lock().unwrap().get_mut(&name) {
        room.peers.remove(&id);
    }
    drop(tx);
    let _ = writer.await;
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).unwrap_or_else(|| "8090".into());
    let app = Router::new()
        .route(
            "/",
            get(|| async { "chat rooms: connect to /chat/general or /chat/random\n" }),
        )
        .route("/chat/{name}", get(chat))
        .with_state(Rooms::default());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    axum::serve(listener, app).await
}
