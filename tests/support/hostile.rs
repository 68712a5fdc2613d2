//! Servers that attack their client: each answers the WebSocket handshake, then turns on wsfuzz.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// What the server does to every connection once its handshake is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attack {
    /// Streams one fragmented text message that never ends.
    EndlessMessage,
    /// Declares one frame of 2^62 bytes and streams its payload without end.
    EndlessFrame,
    /// Sends whole messages back to back, without end.
    EndlessMessages,
    /// Sends pings back to back, without end.
    PingFlood,
    /// Reads nothing and writes nothing: the socket is open, and no one is home.
    HalfOpen,
    /// Answers every frame with a close frame whose reason is not UTF-8, and keeps TCP open.
    BadCloseReason,
    /// Sends a message one byte at a time, a byte every 100 ms.
    Drip,
    /// Takes every message and answers none: every case that expects a reply fails slowly,
    /// and so does every step of shrinking it.
    Silent,
}

impl Attack {
    pub fn named(name: &str) -> Option<Attack> {
        Attack::ALL
            .into_iter()
            .find(|a| format!("{a:?}").eq_ignore_ascii_case(name))
    }

    pub const ALL: [Attack; 8] = [
        Attack::EndlessMessage,
        Attack::EndlessFrame,
        Attack::EndlessMessages,
        Attack::PingFlood,
        Attack::HalfOpen,
        Attack::BadCloseReason,
        Attack::Drip,
        Attack::Silent,
    ];
}

/// How long one connection is attacked at most: every loop that sends traffic ends.
const ATTACK_TIME: Duration = Duration::from_secs(120);

/// Starts a server making `attack` on 127.0.0.1, on a port the OS picks.
pub async fn start(attack: Attack) -> SocketAddr {
    start_on("127.0.0.1:0".parse().expect("an address"), attack).await
}

/// Starts a server making `attack` on `addr`.
pub async fn start_on(addr: SocketAddr, attack: Attack) -> SocketAddr {
    let listener = TcpListener::bind(addr).await.expect("bind the port");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, attack));
        }
    });
    addr
}

async fn serve(mut stream: TcpStream, attack: Attack) {
    let _ = stream.set_nodelay(true);
    if !handshake(&mut stream).await {
        return;
    }
    let _ = tokio::time::timeout(ATTACK_TIME, make(attack, stream)).await;
}

/// Answers a WebSocket upgrade; false for anything else.
async fn handshake(stream: &mut TcpStream) -> bool {
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        if request.len() > 64 << 10 {
            return false;
        }
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => request.extend_from_slice(&chunk[..n]),
            _ => return false,
        }
    }
    let text = String::from_utf8_lossy(&request);
    let Some(key) = text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_string())
    }) else {
        return false;
    };
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    stream.write_all(answer.as_bytes()).await.is_ok()
}

/// A server frame's header: unmasked, with the shortest length encoding.
fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut bytes = vec![if fin { 0x80 } else { 0 } | opcode];
    match len {
        0..=125 => bytes.push(len as u8),
        126..=0xFFFF => {
            bytes.push(126);
            bytes.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            bytes.push(127);
            bytes.extend_from_slice(&len.to_be_bytes());
        }
    }
    bytes
}

/// Reads and drops what the client sends, until it goes.
async fn discard(mut reader: tokio::net::tcp::OwnedReadHalf) {
    let mut sink = vec![0u8; 64 << 10];
    while let Ok(n) = reader.read(&mut sink).await {
        if n == 0 {
            return;
        }
    }
}

/// Writes `bytes` over and over until the client goes.
async fn repeat(mut writer: tokio::net::tcp::OwnedWriteHalf, first: Vec<u8>, bytes: Vec<u8>) {
    if writer.write_all(&first).await.is_err() {
        return;
    }
    while writer.write_all(&bytes).await.is_ok() {}
}

async fn make(attack: Attack, stream: TcpStream) {
    const CHUNK: usize = 64 << 10;
    let text = vec![b'a'; CHUNK];
    let (reader, writer) = stream.into_split();
    match attack {
        Attack::EndlessMessage => {
            let first = [header(false, 0x1, CHUNK as u64), text.clone()].concat();
            let next = [header(false, 0x0, CHUNK as u64), text].concat();
            tokio::join!(discard(reader), repeat(writer, first, next));
        }
        Attack::EndlessFrame => {
            let first = header(true, 0x2, 1 << 62);
            tokio::join!(discard(reader), repeat(writer, first, text));
        }
        Attack::EndlessMessages => {
            let message = [header(true, 0x1, 5), b"flood".to_vec()].concat();
            let batch = message.repeat(4096);
            tokio::join!(discard(reader), repeat(writer, Vec::new(), batch));
        }
        Attack::PingFlood => {
            let batch = header(true, 0x9, 0).repeat(8192);
            tokio::join!(discard(reader), repeat(writer, Vec::new(), batch));
        }
        Attack::HalfOpen => {
            tokio::time::sleep(ATTACK_TIME).await;
            drop((reader, writer));
        }
        Attack::BadCloseReason => bad_close(reader, writer).await,
        Attack::Drip => {
            let (_, ()) = tokio::join!(discard(reader), drip(writer));
        }
        Attack::Silent => discard(reader).await,
    }
}

/// On each read from the client, a close frame of code 1000 whose reason is not UTF-8.
async fn bad_close(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    mut writer: tokio::net::tcp::OwnedWriteHalf,
) {
    let close = [
        header(true, 0x8, 6),
        vec![0x03, 0xE8, 0xFF, 0xFE, 0xC0, 0x80],
    ]
    .concat();
    let mut sink = vec![0u8; 64 << 10];
    while let Ok(n) = reader.read(&mut sink).await {
        if n == 0 || writer.write_all(&close).await.is_err() {
            return;
        }
    }
}

/// A text message declared at 1 MiB, written one byte every 100 ms.
async fn drip(mut writer: tokio::net::tcp::OwnedWriteHalf) {
    if writer.write_all(&header(true, 0x1, 1 << 20)).await.is_err() {
        return;
    }
    let end = Instant::now() + ATTACK_TIME;
    while Instant::now() < end {
        if writer.write_all(b"a").await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
