//! `wsfuzz connect`: a manual client that shows what the server sends, with times, and sends what it is given.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use regex::Regex;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// How long input waits for a server that speaks first.
const GREETING_GRACE: Duration = Duration::from_millis(300);

/// What `connect` does: where, what to send, what to wait for.
pub struct Session {
    pub url: String,
    pub send: Vec<String>,
    pub expect: Option<Regex>,
    pub timeout: Duration,
}

/// How a session ended, for the exit code.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Expected,
    NotExpected,
}

/// Connects, prints every frame with its time, and sends the `--send` messages (or stdin's lines).
pub async fn run(session: Session) -> Result<Outcome, String> {
    let started = Instant::now();
    let stamp = move || format!("[{:>8.3}s]", started.elapsed().as_secs_f64());
    crate::target::split_url(&session.url)?;
    let connecting = tokio_tungstenite::connect_async(session.url.as_str());
    let (socket, response) = match timeout(session.timeout, connecting).await {
        Err(_) => {
            return Err(format!(
                "{}: no handshake within {} ms",
                session.url,
                session.timeout.as_millis()
            ))
        }
        Ok(Err(WsError::Http(response))) => {
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .into_owned();
            return Err(format!(
                "{}: handshake refused with HTTP {} {}",
                session.url,
                response.status(),
                body.trim()
            ));
        }
        Ok(Err(e)) => return Err(format!("{}: {e}", session.url)),
        Ok(Ok(pair)) => pair,
    };
    println!(
        "{} connected to {} (HTTP {})",
        stamp(),
        session.url,
        response.status().as_u16()
    );
    let (mut sink, mut stream) = socket.split();
    let one_shot = !session.send.is_empty() || session.expect.is_some();
    let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<String>(16);
    if one_shot {
        for message in session.send.clone() {
            let _ = lines_tx.send(message).await;
        }
        drop(lines_tx);
    } else {
        tokio::spawn(async move {
            let mut stdin = BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = stdin.next_line().await {
                if lines_tx.send(line).await.is_err() {
                    break;
                }
            }
        });
    }
    let mut input_open = true;
    // Input waits for the server's first frame (or a moment), so a greeting shows before what is sent.
    let mut greeted = false;
    let grace = tokio::time::Instant::now() + GREETING_GRACE.min(session.timeout);
    // Once input ends (or at once, for a one-shot), replies get one time-out to arrive.
    let mut deadline = tokio::time::Instant::now() + session.timeout;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(grace), if !greeted => greeted = true,
            line = lines.recv(), if input_open && greeted => match line {
                Some(line) => {
                    println!("{} > {line}", stamp());
                    match timeout(session.timeout, sink.send(Message::text(line))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => println!("{} send failed: {e}", stamp()),
                        Err(_) => println!("{} send not taken within {} ms", stamp(), session.timeout.as_millis()),
                    }
                    deadline = tokio::time::Instant::now() + session.timeout;
                }
                None => {
                    input_open = false;
                    deadline = tokio::time::Instant::now() + session.timeout;
                }
            },
            frame = stream.next() => match frame.inspect(|_| greeted = true) {
                Some(Ok(Message::Text(text))) => {
                    println!("{} < {text}", stamp());
                    if session.expect.as_ref().is_some_and(|p| p.is_match(&text)) {
                        let _ = timeout(session.timeout, sink.send(Message::Close(None))).await;
                        return Ok(Outcome::Expected);
                    }
                }
                Some(Ok(Message::Binary(bytes))) => println!("{} < binary, {} bytes", stamp(), bytes.len()),
                Some(Ok(Message::Ping(_))) => println!("{} < ping", stamp()),
                Some(Ok(Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(frame))) => {
                    let shown = match frame {
                        Some(f) => format!("closed by the server: {} {}", u16::from(f.code), f.reason),
                        None => "closed by the server without a code".to_string(),
                    };
                    println!("{} {}", stamp(), shown.trim_end());
                    let matched = session.expect.as_ref().is_some_and(|p| p.is_match(&shown));
                    return Ok(finish(&session, matched));
                }
                Some(Err(e)) => {
                    println!("{} connection lost without a close frame (1006): {e}", stamp());
                    return Ok(finish(&session, false));
                }
                None => {
                    println!("{} connection closed", stamp());
                    return Ok(finish(&session, false));
                }
            },
            _ = tokio::time::sleep_until(deadline), if one_shot || !input_open => {
                let _ = timeout(session.timeout, sink.send(Message::Close(None))).await;
                let _ = timeout(session.timeout, async { while let Some(Ok(_)) = stream.next().await {} }).await;
                println!("{} closed", stamp());
                return Ok(finish(&session, false));
            }
        }
    }
}

fn finish(session: &Session, matched: bool) -> Outcome {
    match (&session.expect, matched) {
        (None, _) => Outcome::Done,
        (Some(_), true) => Outcome::Expected,
        (Some(pattern), false) => {
            eprintln!("wsfuzz: nothing matched {pattern}");
            Outcome::NotExpected
        }
    }
}
