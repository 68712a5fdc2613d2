//! Calibration server: the chat rooms of `specs/chat.asyncapi.yaml` on axum, after its websockets example (`calibration_axum PORT`).

#[path = "calibration/chat.rs"]
mod chat;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use chat::{handle, Kept};

#[derive(Default)]
struct Room {
    peers: HashMap<u64, UnboundedSender<Message>>,
    kept: Kept,
}

#[derive(Clone, Default)]
struct Rooms {
    rooms: Arc<Mutex<HashMap<String, Room>>>,
    next_id: Arc<Mutex<u64>>,
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
                let (reply, said) = handle(&mut room.kept, text.as_str());
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
