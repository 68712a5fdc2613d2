//! Calibration server: the chat rooms of `specs/chat.asyncapi.yaml` on tokio-tungstenite, after its chat example (`calibration_tungstenite PORT`).

#[path = "calibration/chat.rs"]
mod chat;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use chat::{handle, Kept};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;

#[derive(Default)]
struct Room {
    peers: HashMap<u64, UnboundedSender<Message>>,
    kept: Kept,
}

type Rooms = Arc<Mutex<HashMap<String, Room>>>;

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
                let (reply, said) = handle(&mut room.kept, &text);
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
