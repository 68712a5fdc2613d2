//! Calibration server: the chat rooms of `specs/chat.asyncapi.yaml` on tokio-tungstenite, after its chat example (`calibration_tungstenite PORT`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;

#[derive(Default)]
struct Room {
    peers: HashMap<u64, UnboundedSender<Message>>,
    texts: Vec<String>,
    count: u64,
}

type Rooms = Arc<Mutex<HashMap<String, Room>>>;

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

async fn serve(stream: TcpStream, rooms: Rooms, id: u64) {
    let mut room_name = None;
    // The callback's signature is tungstenite's, large error and all.
    #[allow(clippy::result_large_err)]
    let route = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        match request.uri().path().strip_prefix("/chat/") {
            Some(name @ ("general" | "random")) => {
                room_name = Some(name.to_string());
                Ok(response)
            }
            _ => {
                let mut refusal = ErrorResponse::new(Some("no such room".into()));
                *refusal.status_mut() = StatusCode::NOT_FOUND;
                Err(refusal)
            }
        }
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(65536))
        .max_frame_size(Some(65536));
    let Ok(ws) = tokio_tungstenite::accept_hdr_async_with_config(stream, route, Some(config)).await
    else {
        return;
    };
    let Some(name) = room_name else { return };
    let (mut write, mut read) = ws.split();
    let (tx, mut rx) = unbounded_channel();
    rooms
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
                let mut rooms = rooms.lock().unwrap();
                let room = rooms.entry(name.clone()).or_default();
                let (reply, said) = handle(room, &text);
                let _ = tx.send(Message::text(reply.to_string()));
                if let Some(said) = said {
                    for (peer, sender) in &room.peers {
                        if *peer != id {
                            let _ = sender.send(Message::text(said.to_string()));
                        }
                    }
                }
            }
            Message::Binary(_) => {
                let _ = tx.send(Message::Close(Some(CloseFrame {
                    code: CloseCode::Unsupported,
                    reason: "text only".into(),
                })));
            }
            _ => {}
        }
    }
    if let Some(room) = rooms.lock().unwrap().get_mut(&name) {
        room.peers.remove(&id);
    }
    drop(tx);
    let _ = writer.await;
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).unwrap_or_else(|| "8090".into());
    let listener = TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let rooms = Rooms::default();
    let mut next_id = 0;
    loop {
        let (stream, _) = listener.accept().await?;
        next_id += 1;
        tokio::spawn(serve(stream, rooms.clone(), next_id));
    }
}
