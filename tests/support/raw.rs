//! A WebSocket echo server written frame by frame, correct by RFC 6455 or with one wire-level flaw.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, Notify};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use wsfuzz::wire::frame::{self, Frame, Length};
use wsfuzz::wire::rfc::{self, Obligation};
use wsfuzz::wire::Handshake;

/// The one thing the server gets wrong at the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireFlaw {
    None,
    /// Echoes binary messages back as text, invalid UTF-8 and all.
    EchoesBinaryAsText,
    /// Takes unmasked client frames.
    AcceptsUnmasked,
    /// Takes frames with RSV bits set.
    AcceptsRsv,
    /// The whole server stops on a reserved opcode.
    DiesOnReservedOpcode,
    /// Never answers a handshake with more than 200 headers.
    ChokesOnManyHeaders,
    /// Never answers a handshake with more than 200 headers, and answers one with more than
    /// 150 only after 250 ms: slow, but within a time-out of 500 ms.
    SlowThenChokesOnManyHeaders,
    /// Keeps the TCP connection open after the closing handshake.
    NeverClosesTcp,
    /// Fails valid fragmented messages with 1002.
    RefusesFragments,
    /// Accepts handshakes RFC 6455 forbids.
    AcceptsAnyHandshake,
    /// Drops every other connection when one goes away without a closing handshake.
    DropsOthersOnAbruptEnd,
    /// Never answers a handshake without a `Sec-WebSocket-Key`, and accepts every other one
    /// at once, even one RFC 6455 forbids.
    SilentWithoutKey,
}

struct Shared {
    flaw: WireFlaw,
    dead: Notify,
    abrupt: broadcast::Sender<()>,
}

pub async fn start(flaw: WireFlaw) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("local address");
    let shared = Arc::new(Shared {
        flaw,
        dead: Notify::new(),
        abrupt: broadcast::channel(16).0,
    });
    tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => { tokio::spawn(serve(stream, shared.clone())); }
                    Err(_) => return,
                },
                // Dying drops the listener: later connections are refused.
                _ = shared.dead.notified() => return,
            }
        }
    });
    addr
}

async fn serve(mut stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let Some(rest) = handshake(&mut stream, shared.flaw).await else {
        return;
    };
    let mut others_ended = shared.abrupt.subscribe();
    let mut conn = Conn {
        stream,
        buffer: rest,
        seen: Vec::new(),
        flaw: shared.flaw,
    };
    let ended_abruptly = tokio::select! {
        abrupt = conn.run(&shared) => abrupt,
        _ = shared.dead.notified() => return,
        _ = others_ended.recv(), if shared.flaw == WireFlaw::DropsOthersOnAbruptEnd => return,
    };
    if ended_abruptly {
        let _ = shared.abrupt.send(());
    }
}

/// Reads the upgrade request and answers it; the bytes after the request head come back.
async fn handshake(stream: &mut TcpStream, flaw: WireFlaw) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 8192];
    let (request, end) = loop {
        let mut headers = vec![httparse::EMPTY_HEADER; 5000];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&head) {
            Ok(httparse::Status::Complete(end)) => {
                let request = Handshake::from_request(&parsed);
                break (request, end);
            }
            Ok(httparse::Status::Partial) if head.len() < 1 << 20 => {}
            _ => {
                let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
                return None;
            }
        }
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    };
    // The requests the server never answers.
    let silent = match flaw {
        WireFlaw::ChokesOnManyHeaders | WireFlaw::SlowThenChokesOnManyHeaders => {
            request.headers.len() > 200
        }
        WireFlaw::SilentWithoutKey => request.key().is_none(),
        _ => false,
    };
    if silent {
        tokio::time::sleep(Duration::from_secs(60)).await;
        return None;
    }
    if flaw == WireFlaw::SlowThenChokesOnManyHeaders && request.headers.len() > 150 {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let accepts_any = matches!(
        flaw,
        WireFlaw::AcceptsAnyHandshake | WireFlaw::SilentWithoutKey
    );
    if request.must_refuse().is_some() && !accepts_any {
        let _ = stream
            .write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await;
        let _ = stream.shutdown().await;
        return None;
    }
    let accept = derive_accept_key(request.key().unwrap_or("x").trim().as_bytes());
    let answer = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
    stream.write_all(answer.as_bytes()).await.ok()?;
    Some(head[end..].to_vec())
}

struct Conn {
    stream: TcpStream,
    buffer: Vec<u8>,
    /// Every frame the client sent, for the RFC oracle to judge as a whole.
    seen: Vec<Frame>,
    flaw: WireFlaw,
}

impl Conn {
    /// Serves frames until the connection ends; true when it ended without a closing handshake.
    async fn run(&mut self, shared: &Shared) -> bool {
        let mut message: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            while let Some(frame) = self.next_frame() {
                if !frame::known_opcode(frame.opcode) && self.flaw == WireFlaw::DiesOnReservedOpcode
                {
                    shared.dead.notify_waiters();
                    return false;
                }
                let mut judged = frame.clone();
                if self.flaw == WireFlaw::AcceptsUnmasked {
                    judged.masked = true;
                }
                if self.flaw == WireFlaw::AcceptsRsv {
                    judged.rsv = 0;
                }
                self.seen.push(judged);
                if let Obligation::Fail { codes, .. } = rfc::obligation(&self.seen, None) {
                    self.close(codes[0]).await;
                    return false;
                }
                if self.flaw == WireFlaw::RefusesFragments && !frame.fin && !frame.is_control() {
                    self.close(1002).await;
                    return false;
                }
                match frame.opcode {
                    frame::PING => self.send(frame::PONG, &frame.payload).await,
                    frame::PONG => {}
                    frame::CLOSE => {
                        self.send(frame::CLOSE, frame.payload.get(..2).unwrap_or_default())
                            .await;
                        if self.flaw == WireFlaw::NeverClosesTcp {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                        }
                        return false;
                    }
                    _ => {
                        message.extend_from_slice(&frame.payload);
                        if frame.fin {
                            let opcode = self
                                .seen
                                .iter()
                                .rev()
                                .find(|f| f.opcode != frame::CONTINUATION && !f.is_control())
                                .map_or(frame::TEXT, |f| f.opcode);
                            let echo = if self.flaw == WireFlaw::EchoesBinaryAsText {
                                frame::TEXT
                            } else {
                                opcode
                            };
                            let out = std::mem::take(&mut message);
                            self.send(echo, &out).await;
                        }
                    }
                }
            }
            match self.stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => self.buffer.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// The next whole client frame, unmasked, with how its length was written.
    fn next_frame(&mut self) -> Option<Frame> {
        let b = &self.buffer;
        if b.len() < 2 {
            return None;
        }
        let (len, mut at, length) = match b[1] & 0x7F {
            126 if b.len() >= 4 => {
                let n = u64::from(u16::from_be_bytes([b[2], b[3]]));
                (
                    n,
                    4,
                    if n < 126 {
                        Length::Bits16
                    } else {
                        Length::Minimal
                    },
                )
            }
            127 if b.len() >= 10 => {
                let n = u64::from_be_bytes(b[2..10].try_into().ok()?);
                (
                    n,
                    10,
                    if n <= 0xFFFF {
                        Length::Bits64
                    } else {
                        Length::Minimal
                    },
                )
            }
            126 | 127 => return None,
            n => (u64::from(n), 2, Length::Minimal),
        };
        if len > 16 << 20 {
            // Past this server's limit: judged as the absurd declaration it is.
            let frame = Frame {
                length: Length::Declared(len),
                payload: Vec::new(),
                ..Frame::new(b[0] & 0xF, Vec::new())
            };
            self.buffer.clear();
            return Some(frame);
        }
        let masked = b[1] & 0x80 != 0;
        let key = if masked {
            at += 4;
            b.get(at - 4..at)?.to_vec()
        } else {
            vec![0; 4]
        };
        let end = at + len as usize;
        if b.len() < end {
            return None;
        }
        let payload = b[at..end]
            .iter()
            .enumerate()
            .map(|(i, x)| x ^ key[i % 4])
            .collect();
        let frame = Frame {
            fin: b[0] & 0x80 != 0,
            rsv: (b[0] >> 4) & 7,
            opcode: b[0] & 0xF,
            masked,
            length,
            payload,
            drip: false,
        };
        self.buffer.drain(..end);
        Some(frame)
    }

    async fn send(&mut self, opcode: u8, payload: &[u8]) {
        let frame = Frame {
            masked: false,
            ..Frame::new(opcode, payload.to_vec())
        };
        let _ = self.stream.write_all(&frame.encode()).await;
    }

    /// Fails the connection: a close frame, a moment for the client's answer, then the end of TCP.
    async fn close(&mut self, code: u16) {
        self.send(frame::CLOSE, &code.to_be_bytes()).await;
        let mut buf = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_millis(500), self.stream.read(&mut buf)).await;
    }
}
