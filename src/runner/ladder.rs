//! Plays a stretched header as a ladder: the same request with the header's value doubled each time, each on a connection of its own, timing the server on each rung.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout, timeout_at, Instant};

use super::{address_and_path, Log, Timing};
use crate::case::Case;
use crate::spec::Channel;
use crate::target::Target;
use crate::tls::Stream;
use crate::transcript::{Answer, Connect, Curve, Point, Response, Transcript, WireRecord};
use crate::wire::handshake::{parse_answer, Handshake, Stretch};
use crate::wire::rfc::Obligation;

/// A rung that costs the server this long ends the ladder: the next would cost four times as
/// much on a quadratic parser, and the curve already tells.
const ENOUGH: f64 = 1.0;
/// Bytes written at once when a value is not dripped.
const BATCH: usize = 64 << 10;

/// Plays `case`, whose handshake has a stretch, and records the curve.
pub(super) async fn run(
    target: &Target,
    channel: &Channel,
    case: &Case,
    stretch: &Stretch,
    timing: Timing,
) -> Transcript {
    let url = target.url(&case.endpoint);
    let (address, path) = address_and_path(&target.credentials.url(&url, case.credentials));
    let host = crate::target::host(&url);
    let mut log = Log::new();
    let mut transcript = Transcript::new(url.clone(), channel.admits(&case.endpoint.params));
    let handshake = case
        .handshake
        .clone()
        .unwrap_or_else(Handshake::standard)
        .with_headers(target.credentials.headers(case.credentials));
    let mut curve = Curve {
        cpu: target.meter.read().is_some(),
        points: Vec::new(),
    };
    log.push(format!("connect {}", crate::case::abbreviate(&url)));
    log.push(format!("→ {}, doubling", stretch.shape()));
    for size in stretch.sizes() {
        let stream = match timeout(
            timing.timeout,
            crate::tls::connect(&address, &host, target.tls.as_ref()),
        )
        .await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                transcript.connect = Connect::Unreachable {
                    error: format!("cannot connect to {address}: {e}"),
                };
                break;
            }
            Err(_) => {
                transcript.connect = Connect::Unreachable {
                    error: format!(
                        "no TCP connection to {address} within {} ms",
                        timing.timeout.as_millis()
                    ),
                };
                break;
            }
        };
        let point = rung(
            stream, target, &handshake, stretch, size, &address, &path, timing,
        )
        .await;
        log.push(format!(
            "  {}: {} after {:.3} s{}",
            crate::case::bytes(size as u64),
            point.answer,
            point.seconds,
            if curve.cpu { " of CPU" } else { "" }
        ));
        let (seconds, ended) = (point.seconds, point.ended);
        curve.points.push(point);
        // A server that cuts the request off or leaves it unanswered has a limit of its own
        // (or is stuck, which the probe after the case tells): larger rungs tell nothing new.
        if seconds >= ENOUGH || ended {
            break;
        }
    }
    transcript.wire = Some(WireRecord {
        must_refuse: None,
        upgrade: true,
        answer: Answer::NotAwaited,
        obligation: Obligation::KeepOpen,
        after: Response::Skipped,
        violations: Vec::new(),
        nits: Vec::new(),
        tcp_closed: None,
        deliberate_end: true,
        bystander: None,
        curve: Some(curve),
        flood: None,
    });
    transcript.events = log.events;
    transcript
}

/// One request with the value at `size`: the server's time to answer it (its CPU, when wsfuzz
/// started it), and how it answered.
async fn rung(
    mut stream: Stream,
    target: &Target,
    handshake: &Handshake,
    stretch: &Stretch,
    size: usize,
    address: &str,
    path: &str,
    timing: Timing,
) -> Point {
    let before = target.meter.read();
    let started = Instant::now();
    // The time-out is long enough: a rung that costs more is one the curve already condemns.
    let deadline = started + timing.timeout;
    let value = stretch.value(size);
    let mut request = Handshake {
        stretch: None,
        ..handshake.clone()
    };
    let written = match stretch.drip {
        None => {
            request.headers.push((stretch.header.clone(), value));
            let bytes = request.encode(address, path);
            write(&mut stream, &bytes, BATCH, deadline).await
        }
        Some(chunk) => {
            // The head without its closing blank line, then a header line that never ends.
            let mut bytes = request.encode(address, path);
            bytes.truncate(bytes.len() - 2);
            bytes.extend_from_slice(format!("{}: ", stretch.header).as_bytes());
            bytes.extend_from_slice(value.as_bytes());
            write(&mut stream, &bytes, chunk.max(1), deadline).await
        }
    };
    let (answer, silent) = match (&written, stretch.drip) {
        (Err(at), _) => (
            format!("cut off after {}", crate::case::bytes(*at as u64)),
            false,
        ),
        // A request that never ends gets no answer; what it cost is all there is to see.
        (Ok(()), Some(_)) => ("no end of the request sent".to_string(), false),
        (Ok(()), None) => answer(&mut stream, deadline, timing).await,
    };
    let ended = silent || written.is_err();
    let wall = started.elapsed().as_secs_f64();
    let seconds = match (before, target.meter.read()) {
        (Some(before), Some(after)) => after.cpu.saturating_sub(before.cpu).as_secs_f64(),
        _ => wall,
    };
    Point {
        size,
        seconds,
        answer,
        ended,
        silent,
    }
}

/// Writes `bytes` `chunk` at a time; on failure, how many bytes had gone.
async fn write(
    stream: &mut Stream,
    bytes: &[u8],
    chunk: usize,
    deadline: Instant,
) -> Result<(), usize> {
    let mut sent = 0;
    for piece in bytes.chunks(chunk) {
        let written = async {
            stream.write_all(piece).await?;
            stream.flush().await
        };
        match timeout_at(deadline, written).await {
            Ok(Ok(())) => sent += piece.len(),
            _ => return Err(sent),
        }
    }
    Ok(())
}

/// The status of the server's answer, or how it ended the connection instead; and whether
/// it did not answer at all.
async fn answer(stream: &mut Stream, deadline: Instant, timing: Timing) -> (String, bool) {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match parse_answer(&bytes) {
            Ok(Some(answer)) => return (format!("HTTP {}", answer.status), false),
            Err(_) => return ("an answer that is not HTTP".into(), false),
            Ok(None) if bytes.len() > 64 << 10 => {
                return ("an answer that is not HTTP".into(), false)
            }
            Ok(None) => {}
        }
        match timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => {
                let silent = Answer::Silent {
                    waited_ms: timing.timeout.as_millis() as u64,
                };
                return (silent.to_string(), true);
            }
            Ok(Ok(0)) | Ok(Err(_)) => return ("the connection closed".into(), false),
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
        }
    }
}
