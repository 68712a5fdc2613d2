//! An echo server on tokio-tungstenite, written the way its README and examples teach:
//! accept TCP connections, `accept_async` each, send every text or binary message back.
//! Usage: echo <port>   (listens on 127.0.0.1:<port>, runs until killed)

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::accept_async;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("usage: echo <port>");
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("cannot listen");
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve(stream));
    }
}

async fn serve(stream: TcpStream) {
    let mut ws = match accept_async(stream).await {
        Ok(ws) => ws,
        Err(_) => return,
    };
    // A close from the peer is answered by tungstenite itself on the next read, which then
    // ends the stream; pings are answered the same way.
    while let Some(Ok(msg)) = ws.next().await {
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            break;
        }
    }
}
