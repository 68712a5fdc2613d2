//! Plays a stretched header as a ladder: the same request with the header's value doubled each time, each on a connection of its own, timing the server on each rung.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

use super::raw::{dial, opening, Opening};
use super::{Log, Timing};
use crate::case::Case;
use crate::spec::Channel;
use crate::target::Target;
use crate::tls::Stream;
use crate::transcript::{Answer, Curve, Point, Response, Transcript, WireRecord};
use crate::watch::Meter;
use crate::wire::handshake::{parse_answer, Handshake, Stretch};
use crate::wire::rfc::Obligation;

/// A rung that costs the server this long ends the ladder: the next would cost four times as
/// much on a quadratic parser, and the curve already tells.
const ENOUGH: f64 = 1.0;
/// The most a rung is waited for past the time-out.
const MOST_WAIT: Duration = Duration::from_secs(20);
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
    let Opening {
        url,
        address,
        path,
        host,
        handshake,
    } = opening(target, case);
    let mut log = Log::new();
    let mut transcript = Transcript::new(url.clone(), channel.admits(&case.endpoint.params));
    let mut curve = Curve {
        cpu: target.meter.read().is_some(),
        points: Vec::new(),
    };
    log.push(format!("connect {}", crate::case::abbreviate(&url)));
    log.push(format!("→ {}, doubling", stretch.shape()));
    let mut last_wall = Duration::ZERO;
    for size in stretch.sizes() {
        let stream = match dial(target, &address, &host, timing).await {
            Ok(stream) => stream,
            Err(unreachable) => {
                transcript.connect = unreachable;
                break;
            }
        };
        let to_send = request(&handshake, stretch, size, &address, &path);
        // A quadratic server takes four times the last rung: it is waited for that long.
        let wait = timing.timeout + (last_wall * 4).min(MOST_WAIT);
        let started = Instant::now();
        let point = rung(stream, &target.meter, &to_send, stretch.drip, size, wait).await;
        last_wall = started.elapsed();
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
    // Each rung is a handshake the server was sent and judged on.
    transcript.sent = curve.points.len() as u64;
    transcript.wire = Some(WireRecord {
        must_refuse: None,
        upgrade: true,
        oversized: None,
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
    transcript.events = log.into_events();
    transcript
}

/// A request as it is written: its head, then `run` bytes of `unit` over and over, made as
/// they are written rather than held whole (a dripped value of 16 MiB).
struct Request {
    head: Vec<u8>,
    unit: Vec<u8>,
    run: usize,
}

/// The request with the stretched header's value at `size`: whole, or, dripped, without its
/// end (the head without its closing blank line, then a header line that never ends).
fn request(
    handshake: &Handshake,
    stretch: &Stretch,
    size: usize,
    address: &str,
    path: &str,
) -> Request {
    let mut request = Handshake {
        stretch: None,
        ..handshake.clone()
    };
    if stretch.drip.is_none() || stretch.unit.is_empty() {
        request
            .headers
            .push((stretch.header.clone(), stretch.value(size)));
        let head = request.encode(address, path);
        return Request {
            head,
            unit: Vec::new(),
            run: 0,
        };
    }
    let mut head = request.encode(address, path);
    head.truncate(head.len() - 2);
    head.extend_from_slice(format!("{}: {}", stretch.header, stretch.head).as_bytes());
    Request {
        head,
        unit: stretch.unit.as_bytes().to_vec(),
        run: size.saturating_sub(stretch.head.len()),
    }
}

/// One rung: `bytes` written at once or `drip` at a time; the server's time to answer them
/// (its CPU, when wsfuzz started it), and how it answered.
async fn rung(
    mut stream: Stream,
    meter: &Meter,
    request: &Request,
    drip: Option<usize>,
    size: usize,
    wait: Duration,
) -> Point {
    let before = meter.read();
    let started = Instant::now();
    let deadline = started + wait;
    let chunk = drip.unwrap_or(BATCH).max(1);
    let written = write(&mut stream, request, chunk, deadline).await;
    let (answer, silent) = match (&written, drip) {
        (Err(at), _) => (
            format!("cut off after {}", crate::case::bytes(*at as u64)),
            false,
        ),
        // A request that never ends gets no answer; what it cost is all there is to see.
        (Ok(()), Some(_)) => ("no end of the request sent".to_string(), false),
        (Ok(()), None) => answer(&mut stream, deadline, wait).await,
    };
    let ended = silent || written.is_err();
    let wall = started.elapsed().as_secs_f64();
    let seconds = match (before, meter.read()) {
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

/// Writes `request` `chunk` bytes at a time; on failure, how many bytes had gone.
async fn write(
    stream: &mut Stream,
    request: &Request,
    chunk: usize,
    deadline: Instant,
) -> Result<(), usize> {
    let mut sent = 0;
    for piece in request.head.chunks(chunk) {
        if !put(stream, piece, deadline).await {
            return Err(sent);
        }
        sent += piece.len();
    }
    // The run, from one buffer of the unit repeated, sliced where each write begins.
    let unit = request.unit.len().max(1);
    let pattern: Vec<u8> = request
        .unit
        .iter()
        .copied()
        .cycle()
        .take(chunk + unit)
        .collect();
    let mut done = 0;
    while done < request.run {
        let n = chunk.min(request.run - done);
        let start = done % unit;
        if !put(stream, &pattern[start..start + n], deadline).await {
            return Err(sent);
        }
        sent += n;
        done += n;
    }
    Ok(())
}

/// Writes `piece` whole by `deadline`.
async fn put(stream: &mut Stream, piece: &[u8], deadline: Instant) -> bool {
    let written = async {
        stream.write_all(piece).await?;
        stream.flush().await
    };
    matches!(timeout_at(deadline, written).await, Ok(Ok(())))
}

/// The status of the server's answer, or how it ended the connection instead; and whether
/// it did not answer at all.
async fn answer(stream: &mut Stream, deadline: Instant, wait: Duration) -> (String, bool) {
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
                    waited_ms: wait.as_millis() as u64,
                };
                return (silent.to_string(), true);
            }
            Ok(Ok(0)) | Ok(Err(_)) => return ("the connection closed".into(), false),
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
        }
    }
}
