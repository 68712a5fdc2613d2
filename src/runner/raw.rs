//! Plays frame, handshake and disconnect cases on a raw socket, reading the server's bytes through the RFC 6455 oracle.

use std::time::Duration;

use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use tokio::time::{timeout, timeout_at, Instant};
use tokio_rustls::rustls::ClientConfig;

use super::{address_and_path, Log, Timing};
use crate::case::{Case, Disconnect, Flood, Payload, Step};
use crate::spec::Channel;
use crate::spec::Expectation;
use crate::target::Target;
use crate::tls::Stream;
use crate::transcript::{
    Answer, Connect, FloodRecord, Response, StepRecord, Transcript, WireRecord,
};
use crate::watch::Meter;
use crate::wire::frame::{self, Frame};
use crate::wire::handshake::{parse_answer, Handshake};
use crate::wire::rfc::{self, Obligation, Reader, Received};

/// Largest frame wsfuzz reads from a server, and largest handshake answer.
const MAX_FRAME: usize = 16 << 20;
const MAX_ANSWER: usize = 64 << 10;
/// The ping that asks a server whether the connection is still in order.
const SENTINEL: &[u8] = b"wsfuzz-sentinel";
/// Most connections one burst opens, and most bytes one frame is dripped.
const MAX_BURST: u16 = 100;
const MAX_DRIP: usize = 32;
/// Bytes of a flood written at once, the most time a flood is written for, and how long the
/// server then has to catch up with what it was sent.
const FLOOD_WRITE: usize = 256 << 10;
const FLOOD_TIME: Duration = Duration::from_secs(20);
const FLOOD_SETTLE: Duration = Duration::from_secs(10);

/// Plays a raw case; the transcript's `wire` record holds what it found.
pub(super) async fn run(
    target: &Target,
    channel: &Channel,
    case: &Case,
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
    let mut record = WireRecord {
        must_refuse: handshake.must_refuse(),
        upgrade: handshake.not_an_upgrade().is_none(),
        oversized: handshake.oversized(),
        answer: Answer::NotAwaited,
        obligation: Obligation::KeepOpen,
        after: Response::Skipped,
        violations: Vec::new(),
        nits: Vec::new(),
        tcp_closed: None,
        deliberate_end: false,
        bystander: None,
        curve: None,
        flood: None,
    };
    let mut transcript = Transcript::new(url.clone(), channel.admits(&case.endpoint.params));
    transcript.steps = case
        .steps
        .iter()
        .map(|_| StepRecord {
            expectation: Expectation::Anything,
            response: Response::Skipped,
        })
        .collect();
    log.push(format!("connect {}", crate::case::abbreviate(&url)));
    let tls = target.tls.as_ref();
    match dial(target, &address, &host, timing).await {
        Ok(stream) => {
            let mut conn = Conn {
                stream,
                reader: Reader::new(false, MAX_FRAME),
                log: &mut log,
                timing,
                host: &host,
                tls,
                meter: &target.meter,
            };
            transcript.sent = conn
                .play(case, &handshake, &address, &path, channel, &mut record)
                .await;
            transcript.wire = Some(record);
        }
        Err(unreachable) => transcript.connect = unreachable,
    }
    transcript.events = log.into_events();
    transcript
}

/// Where a raw case connects, and the handshake it sends.
pub(super) struct Opening {
    pub url: String,
    pub address: String,
    pub path: String,
    pub host: String,
    pub handshake: Handshake,
}

/// The opening of `case` on `target`: credentials go on the wire only, so the URL shown is
/// the one without them.
pub(super) fn opening(target: &Target, case: &Case) -> Opening {
    let url = target.url(&case.endpoint);
    let (address, path) = address_and_path(&target.credentials.url(&url, case.credentials));
    let handshake = case
        .handshake
        .clone()
        .unwrap_or_else(Handshake::standard)
        .with_headers(target.credentials.headers(case.credentials));
    Opening {
        host: crate::target::host(&url),
        url,
        address,
        path,
        handshake,
    }
}

/// A connection to `address` (TLS for `wss://`) within the time-out, or why there is none.
pub(super) async fn dial(
    target: &Target,
    address: &str,
    host: &str,
    timing: Timing,
) -> Result<Stream, Connect> {
    match timeout(
        timing.timeout,
        crate::tls::connect(address, host, target.tls.as_ref()),
    )
    .await
    {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(Connect::Unreachable {
            error: format!("cannot connect to {address}: {e}"),
        }),
        Err(_) => Err(Connect::Unreachable {
            error: format!(
                "no TCP connection to {address} within {} ms",
                timing.timeout.as_millis()
            ),
        }),
    }
}

struct Conn<'l> {
    stream: Stream,
    /// For the connections of a burst: the host and TLS settings of this one.
    host: &'l str,
    tls: Option<&'l Arc<ClientConfig>>,
    reader: Reader,
    log: &'l mut Log,
    timing: Timing,
    /// The target's cost, read by floods.
    meter: &'l Meter,
}

/// Why a read loop stopped.
enum Stop {
    Pong,
    Closed { code: Option<u16>, reason: String },
    Ended(Response),
}

impl Conn<'_> {
    async fn play(
        &mut self,
        case: &Case,
        handshake: &Handshake,
        address: &str,
        path: &str,
        channel: &Channel,
        record: &mut WireRecord,
    ) -> u64 {
        let request = handshake.encode(address, path);
        // The inputs sent, for the campaign's count: the case's own handshake, then each
        // frame and flood written.
        let handshake_sent = u64::from(case.handshake.is_some());
        if case.handshake.is_some() {
            self.log
                .push(format!("→ handshake {}", handshake.summary(path)));
        }
        if let Some(cut) = handshake.drop_after {
            let _ = self
                .write(&request[..cut.min(request.len())], handshake.chunk)
                .await;
            self.log.push(format!(
                "→ dropped after {} bytes of the handshake",
                cut.min(request.len())
            ));
            record.deliberate_end = true;
            return handshake_sent;
        }
        let written = self.write(&request, handshake.chunk).await;
        // A server may answer (and refuse) before the whole request is in: read its answer anyway.
        record.answer = match (self.answer(handshake, record).await, written) {
            (Answer::Dropped { .. } | Answer::Silent { .. }, Err(e)) => Answer::Dropped {
                error: e.to_string(),
            },
            (answer, _) => answer,
        };
        self.log.push(format!("← {}", record.answer));
        if record.answer != (Answer::Status { status: 101 }) || record.must_refuse.is_some() {
            return handshake_sent;
        }
        // Past the first frame the server must (or may) fail the connection for, nothing more is
        // written: those frames cannot change the verdict, and unread bytes would turn the
        // server's close into a reset that loses its close frame.
        let frames: Vec<Frame> = case.steps.iter().filter_map(as_frame).collect();
        let last = match rfc::obligation(&frames, channel.max_message_bytes) {
            Obligation::Fail { at, .. } | Obligation::Either { at, .. } => at,
            _ => frames.len(),
        };
        let mut sent: Vec<Frame> = Vec::new();
        for step in &case.steps {
            if sent.len() == last && as_frame(step).is_some() {
                break;
            }
            let frame = match step {
                Step::Frame(_) | Step::Send(_) => {
                    as_frame(step).expect("frames and messages are frames")
                }
                Step::Wait { ms } => {
                    self.log.push(format!("… {ms} ms"));
                    tokio::time::sleep(Duration::from_millis((*ms).min(2_000))).await;
                    continue;
                }
                Step::Burst { connections } => {
                    self.burst(address, path, *connections).await;
                    continue;
                }
                // Scenario steps are played by the runner of several clients, never here.
                Step::Join { .. } | Step::Say { .. } | Step::Leave { .. } => continue,
                Step::Disconnect(how) => {
                    self.disconnect(how).await;
                    record.deliberate_end = true;
                    return handshake_sent + sent.len() as u64;
                }
                Step::Flood(flood) => {
                    let flooded = self.flood(flood, self.meter).await;
                    if let Some(ended) = &flooded.ended {
                        record.after = ended.clone();
                    }
                    record.flood = Some(flooded);
                    break;
                }
            };
            self.log.push(format!("→ {frame}"));
            let bytes = frame.encode();
            let pace = frame.drip.then_some(1);
            sent.push(frame);
            if let Err(e) = self.write(&bytes, pace).await {
                // The server may have failed the connection already; what it sent is still to be read.
                self.log.push(format!("write failed: {e}"));
                break;
            }
        }
        record.obligation = match &record.flood {
            // A message with no end, past any size: the server may take it all or end it.
            Some(_) => Obligation::Either {
                at: sent.len() + 1,
                what: "a message in fragments that never ends".into(),
                codes: vec![1009, 1008],
            },
            None => rfc::obligation(&sent, channel.max_message_bytes),
        };
        let inputs = handshake_sent + sent.len() as u64 + u64::from(record.flood.is_some());
        if record.flood.as_ref().is_some_and(|f| f.ended.is_some()) {
            record.violations.append(&mut self.reader.violations);
            return inputs;
        }
        self.finish(record).await;
        record.violations.append(&mut self.reader.violations);
        record.nits.append(&mut self.reader.nits);
        inputs
    }

    /// Writes a flood's fragments as they are made, watching for the server to end the
    /// message; then asks with a ping whether the server has caught up, and reads what its
    /// process kept meanwhile.
    async fn flood(&mut self, flood: &Flood, meter: &Meter) -> FloodRecord {
        self.log.push(format!("→ {flood}"));
        let before = meter.read().map(|u| u.rss);
        let started = Instant::now();
        let payload = vec![b'a'; flood.size as usize];
        let fragment = |opcode| {
            Frame {
                fin: false,
                ..Frame::new(opcode, payload.clone())
            }
            .encode()
        };
        let (first, piece) = (fragment(frame::TEXT), fragment(frame::CONTINUATION));
        let per_write = (FLOOD_WRITE / piece.len()).max(1) as u64;
        let batch = piece.repeat(per_write as usize);
        let mut record = FloodRecord::default();
        let deadline = started + FLOOD_TIME;
        let mut written = self.write_now(&first).await;
        while written.is_ok() {
            record.fragments += if record.fragments == 0 { 1 } else { per_write };
            record.sent += if record.sent == 0 {
                first.len()
            } else {
                batch.len()
            } as u64;
            let left = flood.fragments.saturating_sub(record.fragments);
            if left == 0 || Instant::now() >= deadline {
                break;
            }
            if let Some(ended) = self.ended_yet().await {
                record.ended = Some(ended);
                break;
            }
            let n = left.min(per_write) as usize;
            written = self.write_now(&batch[..n * piece.len()]).await;
            if written.is_ok() && n < per_write as usize {
                record.fragments += n as u64;
                record.sent += (n * piece.len()) as u64;
                break;
            }
        }
        record.payload = record.fragments * u64::from(flood.size);
        if let Err(e) = &written {
            self.log.push(format!("write failed: {e}"));
        }
        self.log.push(format!(
            "  {} fragments, {} written",
            record.fragments,
            crate::case::bytes(record.sent)
        ));
        if record.ended.is_none() {
            record.ended = self.caught_up(deadline).await;
        }
        record.kept = match (before, meter.read()) {
            (Some(before), Some(after)) => Some(after.rss.saturating_sub(before)),
            _ => None,
        };
        record.seconds = started.elapsed().as_secs_f64();
        record
    }

    /// The server's end of the connection, if it has ended it by now: a close frame read, or
    /// the connection gone. Reads only what is there already.
    async fn ended_yet(&mut self) -> Option<Response> {
        let mut buf = vec![0u8; 16 << 10];
        // A server writing without pause always has more: a look reads a bounded amount.
        for _ in 0..64 {
            match timeout(Duration::ZERO, self.stream.read(&mut buf)).await {
                Err(_) => break,
                Ok(Ok(0)) => {
                    return Some(Response::Dropped {
                        error: "the server closed the TCP connection".into(),
                    })
                }
                Ok(Ok(n)) => self.reader.push(&buf[..n]),
                Ok(Err(e)) => {
                    return Some(Response::Dropped {
                        error: e.to_string(),
                    })
                }
            }
        }
        loop {
            let frame = match self.reader.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return None,
                // Nothing more can be read of this connection: a frame past the cap.
                Err(rfc::Unreadable::TooLarge(len)) => {
                    return Some(Response::TooLarge {
                        error: format!("a frame of {len} bytes"),
                    })
                }
            };
            if frame.opcode == frame::CLOSE {
                let code = (frame.payload.len() >= 2)
                    .then(|| u16::from_be_bytes([frame.payload[0], frame.payload[1]]));
                let reason = String::from_utf8_lossy(frame.payload.get(2..).unwrap_or_default())
                    .into_owned();
                let response = Response::Closed { code, reason };
                self.log.push(format!("← {response}"));
                return Some(response);
            }
        }
    }

    /// After a flood: a ping, and its pong once the server has read all that was written, or
    /// the server's end of the connection. `None`: the server holds the message open.
    async fn caught_up(&mut self, deadline: Instant) -> Option<Response> {
        let ping = Frame::new(frame::PING, SENTINEL.to_vec());
        self.log.push(format!("→ {ping}"));
        if let Err(e) = self.write(&ping.encode(), None).await {
            self.log.push(format!("write failed: {e}"));
        }
        let settle = Instant::now().max(deadline) + FLOOD_SETTLE;
        loop {
            match self.read_until(true).await {
                Stop::Pong => return None,
                Stop::Closed { code, reason } => return Some(Response::Closed { code, reason }),
                Stop::Ended(Response::Silent { .. }) if Instant::now() < settle => continue,
                Stop::Ended(Response::Silent { .. }) => return None,
                Stop::Ended(response) => return Some(response),
            }
        }
    }

    /// Writes `bytes`, `pace` bytes at a time with a pause between, or all at once.
    async fn write(&mut self, bytes: &[u8], pace: Option<usize>) -> std::io::Result<()> {
        let Some(size) = pace else {
            return self.write_now(bytes).await;
        };
        // A drip is bounded: past the first bytes, the rest goes at once.
        let size = size.max(bytes.len() / 2_000).max(1);
        let dripped = bytes.len().min(MAX_DRIP * size);
        for chunk in bytes[..dripped].chunks(size) {
            self.write_now(chunk).await?;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.write_now(&bytes[dripped..]).await
    }

    async fn write_now(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        // Flushed too: under TLS, written bytes wait in the session until then.
        let written = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match timeout(self.timing.timeout, written).await {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the server stopped reading",
            )),
        }
    }

    /// Reads the handshake answer and checks a 101 against RFC 6455 §4.2.2.
    async fn answer(&mut self, handshake: &Handshake, record: &mut WireRecord) -> Answer {
        // A request past common size limits that is otherwise one a server may take can go
        // unanswered, and no check judges that silence: it is listened to as a message no
        // reply is promised for. One the server must refuse is waited on in full.
        let judged = record.must_refuse.is_some() && record.upgrade;
        let wait = match record.oversized.is_some() && !judged {
            true => self.timing.quiet,
            false => self.timing.timeout,
        };
        let deadline = Instant::now() + wait;
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match parse_answer(&bytes) {
                Ok(Some(answer)) => {
                    if answer.status == 101 {
                        let has = |name: &str, token: &str| {
                            answer.header(name).is_some_and(|v| {
                                v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))
                            })
                        };
                        if !has("Upgrade", "websocket") || !has("Connection", "upgrade") {
                            record.violations.push("a 101 answer without `Upgrade: websocket` and `Connection: Upgrade` (§4.2.2)".into());
                        }
                        if let Some(key) = handshake.key() {
                            let expected =
                                tokio_tungstenite::tungstenite::handshake::derive_accept_key(
                                    key.as_bytes(),
                                );
                            if answer.header("Sec-WebSocket-Accept") != Some(expected.as_str()) {
                                record.violations.push("a 101 answer whose Sec-WebSocket-Accept does not match the key (§4.2.2)".into());
                            }
                        }
                        self.reader = Reader::new(
                            answer.header("Sec-WebSocket-Extensions").is_some(),
                            MAX_FRAME,
                        );
                        self.reader.push(&answer.rest);
                    }
                    return Answer::Status {
                        status: answer.status,
                    };
                }
                Ok(None) if bytes.len() < MAX_ANSWER => {}
                Ok(None) => {
                    return Answer::Garbage {
                        error: format!("no end of headers in {MAX_ANSWER} bytes"),
                    }
                }
                Err(error) => return Answer::Garbage { error },
            }
            match timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => {
                    return Answer::Silent {
                        waited_ms: wait.as_millis() as u64,
                    }
                }
                Ok(Ok(0)) => {
                    return Answer::Dropped {
                        error: "the server closed the connection".into(),
                    }
                }
                Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
                Ok(Err(e)) => {
                    return Answer::Dropped {
                        error: e.to_string(),
                    }
                }
            }
        }
    }

    /// After the client's frames: ask with a ping where the connection should be in order,
    /// otherwise wait for the server's close; then complete the closing handshake.
    async fn finish(&mut self, record: &mut WireRecord) {
        let stop = match &record.obligation {
            Obligation::KeepOpen | Obligation::Either { .. } => {
                let ping = Frame::new(frame::PING, SENTINEL.to_vec());
                self.log.push(format!("→ {ping}"));
                let _ = self.write(&ping.encode(), None).await;
                self.read_until(true).await
            }
            Obligation::Fail { .. } | Obligation::Close { .. } => self.read_until(false).await,
        };
        record.after = match stop {
            Stop::Pong => {
                // In order: the client closes, and the server must answer and close TCP.
                self.log.push("→ frame close 1000");
                let _ = self
                    .write(&Frame::close(Some(1000), b"").encode(), None)
                    .await;
                if let Stop::Closed { .. } = self.read_until(false).await {
                    record.tcp_closed = Some(self.wait_for_eof().await);
                }
                Response::Text {
                    text: "pong".into(),
                }
            }
            Stop::Closed { code, reason } => {
                if !matches!(record.obligation, Obligation::Close { .. }) {
                    // Answer the server's close, as a client must, then see TCP closed.
                    let echo = code.filter(|c| rfc::close_code_allowed(*c)).unwrap_or(1000);
                    let _ = self
                        .write(&Frame::close(Some(echo), b"").encode(), None)
                        .await;
                }
                record.tcp_closed = Some(self.wait_for_eof().await);
                Response::Closed { code, reason }
            }
            Stop::Ended(response) => response,
        };
    }

    /// Reads frames until a close, the end of the connection, the time-out, or (if asked) the sentinel's pong.
    async fn read_until(&mut self, pong: bool) -> Stop {
        let deadline = Instant::now() + self.timing.timeout;
        let mut buf = vec![0u8; 64 << 10];
        let mut shown = 0;
        loop {
            loop {
                let frame: Received = match self.reader.next_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(rfc::Unreadable::TooLarge(len)) => {
                        return Stop::Ended(Response::TooLarge {
                            error: format!("a frame of {len} bytes"),
                        })
                    }
                };
                if pong && rfc::is_pong_for(&frame, SENTINEL) {
                    self.log.push("← pong");
                    return Stop::Pong;
                }
                if frame.opcode == frame::CLOSE {
                    let code = (frame.payload.len() >= 2)
                        .then(|| u16::from_be_bytes([frame.payload[0], frame.payload[1]]));
                    let reason =
                        String::from_utf8_lossy(frame.payload.get(2..).unwrap_or_default())
                            .into_owned();
                    let response = Response::Closed {
                        code,
                        reason: reason.clone(),
                    };
                    self.log.push(format!("← {response}"));
                    return Stop::Closed { code, reason };
                }
                if rfc::is_ping(&frame) {
                    let _ = self
                        .write(
                            &Frame::new(frame::PONG, frame.payload.clone()).encode(),
                            None,
                        )
                        .await;
                }
                if shown < 8 {
                    shown += 1;
                    let text = String::from_utf8_lossy(&frame.payload);
                    self.log.push(format!(
                        "← {} {}",
                        frame::opcode_name(frame.opcode),
                        crate::case::abbreviate(&text)
                    ));
                }
            }
            match timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => {
                    return Stop::Ended(Response::Silent {
                        waited_ms: self.timing.timeout.as_millis() as u64,
                    })
                }
                Ok(Ok(0)) => {
                    let response = Response::Dropped {
                        error: "the server closed the TCP connection".into(),
                    };
                    self.log.push(format!("← {response}"));
                    return Stop::Ended(response);
                }
                Ok(Ok(n)) => self.reader.push(&buf[..n]),
                Ok(Err(e)) => {
                    let response = Response::Dropped {
                        error: e.to_string(),
                    };
                    self.log.push(format!("← {response}"));
                    return Stop::Ended(response);
                }
            }
        }
    }

    /// Whether the server closes TCP within the time-out (reading and discarding until then).
    async fn wait_for_eof(&mut self) -> bool {
        let mut buf = vec![0u8; 16 << 10];
        let closed = timeout(self.timing.timeout, async {
            loop {
                match self.stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await
        .is_ok();
        self.log.push(if closed {
            "← TCP closed"
        } else {
            "TCP still open"
        });
        closed
    }

    async fn disconnect(&mut self, how: &Disconnect) {
        self.log
            .push(format!("→ {}", Step::Disconnect(how.clone())));
        match how {
            Disconnect::Drop => {
                let _ = self.stream.shutdown().await;
            }
            Disconnect::Reset => {
                // SO_LINGER 0 makes the close below send a reset instead of a FIN.
                let _ = socket2::SockRef::from(self.stream.tcp()).set_linger(Some(Duration::ZERO));
            }
            Disconnect::HalfClose => {
                let _ = self.stream.shutdown().await;
                self.wait_for_eof().await;
            }
            Disconnect::MidFrame(frame) => {
                let bytes = frame.encode();
                let _ = self.write(&bytes[..bytes.len() / 2], None).await;
            }
        }
    }

    /// Opens `connections` more connections to the endpoint, each dropped halfway through its handshake.
    async fn burst(&mut self, address: &str, path: &str, connections: u16) {
        self.log
            .push(format!("→ open and drop {connections} connections"));
        let request = Handshake::standard().encode(address, path);
        for _ in 0..connections.min(MAX_BURST) {
            let connecting = crate::tls::connect(address, self.host, self.tls);
            if let Ok(Ok(mut other)) = timeout(self.timing.timeout, connecting).await {
                let half = async {
                    other.write_all(&request[..request.len() / 2]).await?;
                    other.flush().await
                };
                let _ = timeout(self.timing.timeout, half).await;
            }
        }
    }
}

/// The frame a step writes, if it writes one: a message becomes one final frame.
pub(crate) fn as_frame(step: &Step) -> Option<Frame> {
    match step {
        Step::Frame(frame) => Some(frame.clone()),
        Step::Send(Payload::Binary(bytes)) => Some(Frame::new(frame::BINARY, bytes.clone())),
        Step::Send(payload) => Some(Frame::new(
            frame::TEXT,
            payload.text().unwrap_or_default().into_owned().into_bytes(),
        )),
        _ => None,
    }
}
