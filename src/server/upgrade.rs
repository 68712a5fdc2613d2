//! The reference server's opening handshake: read the request, refuse what RFC 6455 forbids with a proper 4xx, upgrade the rest.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::wire::Handshake;

/// Largest request head read, and most headers taken; past them the answer is 431.
const MAX_HEAD: usize = 16 << 10;
const MAX_HEADERS: usize = 100;

/// An accepted upgrade: the request path and any bytes the client sent after the head.
pub(super) struct Upgraded {
    pub path: String,
    pub leftover: Vec<u8>,
}

/// Reads the request, answers it, and hands back the connection's path when it upgraded.
/// `known` says whether a path is an endpoint; others get 404.
pub(super) async fn upgrade(
    stream: &mut TcpStream,
    wait: Duration,
    known: impl Fn(&str) -> bool,
) -> Option<Upgraded> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let read = timeout(wait, async {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(&head) {
                Ok(httparse::Status::Complete(end)) => {
                    return Ok(read_request(&request, head[end..].to_vec()))
                }
                Ok(httparse::Status::Partial) if head.len() < MAX_HEAD => {}
                Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
                    return Err(431)
                }
                Err(_) => return Err(400),
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return Err(0),
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let (handshake, path, leftover) = match read {
        Ok(Ok(request)) => request,
        Ok(Err(0)) | Err(_) => return None,
        Ok(Err(status)) => {
            return refuse(
                stream,
                status,
                "the request is not one this server can read",
            )
            .await
        }
    };
    if let Some(why) = handshake.must_refuse() {
        let status = if handshake.method != "GET" {
            405
        } else if why.contains("Version") {
            426
        } else {
            400
        };
        return refuse(stream, status, &why).await;
    }
    let route = path.split('?').next().unwrap_or("").to_string();
    if !known(&route) {
        return refuse(stream, 404, "no such endpoint").await;
    }
    let accept = derive_accept_key(handshake.key().unwrap_or_default().trim().as_bytes());
    let answer = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
    timeout(wait, stream.write_all(answer.as_bytes()))
        .await
        .ok()?
        .ok()?;
    Some(Upgraded {
        path: route,
        leftover,
    })
}

/// The request as wsfuzz's handshake model, so the server refuses exactly what RFC 6455 forbids.
fn read_request(request: &httparse::Request, leftover: Vec<u8>) -> (Handshake, String, Vec<u8>) {
    let handshake = Handshake::from_request(request);
    (handshake, request.path.unwrap_or("/").to_string(), leftover)
}

/// Answers with a 4xx and a one-line reason, then lets the client read it before the close.
async fn refuse(stream: &mut TcpStream, status: u16, why: &str) -> Option<Upgraded> {
    let title = match status {
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        _ => "Bad Request",
    };
    let body = why.to_string();
    let extra = match status {
        405 => "Allow: GET\r\n",
        426 => "Sec-WebSocket-Version: 13\r\n",
        _ => "",
    };
    let answer = format!(
        "HTTP/1.1 {status} {title}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = timeout(Duration::from_secs(2), stream.write_all(answer.as_bytes())).await;
    let _ = stream.shutdown().await;
    // Read what the client still sends, briefly, so the close is a FIN and the answer arrives.
    let mut sink = [0u8; 4096];
    let _ = timeout(Duration::from_secs(1), async {
        while let Ok(1..) = stream.read(&mut sink).await {}
    })
    .await;
    None
}
