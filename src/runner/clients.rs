//! Plays a scenario of several clients: each joins, speaks and leaves in turn, while everything it receives is recorded.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::MaybeTlsStream;

use super::{answers, broadcasts_of, open, Log, Socket, Timing};
use crate::case::{Case, Endpoint, Leaving, Payload, Step};
use crate::spec::{parse_json, Admission, Channel, Expectation};
use crate::target::Target;
use crate::transcript::{ClientRecord, Connect, Owed, Response, StepRecord, Transcript};

/// Messages a client may have waiting unread; past that, its reader stops reading (TCP pushes back).
const INBOX: usize = 256;

/// One client of the scenario while it is connected.
struct Client {
    params: BTreeMap<String, String>,
    sink: SplitSink<Socket, Message>,
    inbox: mpsc::Receiver<Response>,
    reader: JoinHandle<()>,
}

/// Plays `case`, a scenario of several clients on `channel`.
pub async fn run(target: &Target, channel: &Channel, case: &Case, timing: Timing) -> Transcript {
    let mut log = Log::new();
    let mut transcript = Transcript::new(target.url(&case.endpoint), Admission::Accept);
    let mut clients: BTreeMap<u8, Client> = BTreeMap::new();
    // What each client has been owed and has received, by client number.
    let mut records: BTreeMap<u8, ClientRecord> = BTreeMap::new();
    let mut done = vec![false; case.steps.len()];
    // The slowest reply the server gave in the scenario: how long it takes it to answer.
    let mut slowest = Duration::ZERO;
    for (index, step) in case.steps.iter().enumerate() {
        if done[index] {
            continue;
        }
        done[index] = true;
        let mut record = StepRecord {
            expectation: Expectation::Anything,
            response: Response::Skipped,
        };
        match step {
            Step::Join { client, params } => {
                if clients.contains_key(client) {
                    transcript.steps.push(record);
                    continue;
                }
                let resets = case.steps.iter().any(
                    |s| matches!(s, Step::Leave { client: c, how: Leaving::Reset } if c == client),
                );
                match join(target, channel, *client, params, resets, timing, &mut log).await {
                    Ok(joined) => {
                        // The 101 says the upgrade was taken; many stacks (axum's on_upgrade, ASGI
                        // apps) add the connection to its room only after. Without a greeting to
                        // show it is in, it is given a moment before anything is owed to it.
                        if channel.greeting.is_empty() {
                            tokio::time::sleep(timing.quiet / 4).await;
                        }
                        // A client that comes back is a new connection: owed nothing from before.
                        records.insert(
                            *client,
                            ClientRecord {
                                client: *client,
                                params: params.clone(),
                                present: true,
                                owed: Vec::new(),
                                received: Vec::new(),
                                tolerated: 0,
                            },
                        );
                        clients.insert(*client, joined);
                    }
                    Err(outcome) => {
                        if matches!(outcome, Connect::Unanswered { .. }) {
                            transcript.connect = outcome;
                        }
                    }
                }
            }
            Step::Say { client, payload } => {
                let Some(sender) = clients.get_mut(client) else {
                    transcript.steps.push(record);
                    continue;
                };
                let wire = payload.text();
                let expectation = channel.classify_wire(payload, wire.as_deref());
                let message = match (payload, wire) {
                    (Payload::Binary(bytes), _) => Message::Binary(bytes.clone().into()),
                    (_, text) => Message::Text(text.unwrap_or_default().into_owned().into()),
                };
                log.push(format!("client {client} → {payload}"));
                let sent = matches!(
                    timeout(timing.timeout, sender.sink.send(message)).await,
                    Ok(Ok(()))
                );
                transcript.sent += u64::from(sent);
                // Abrupt leaves right after a message happen at once: in the middle of its broadcast.
                for (later, next) in case.steps.iter().enumerate().skip(index + 1) {
                    match next {
                        Step::Leave { client: c, how } if *how != Leaving::Close && c != client => {
                            done[later] = true;
                            if let Some(gone) = clients.remove(c) {
                                leave(gone, *c, *how, timing, &mut log).await;
                                if let Some(r) = records.get_mut(c) {
                                    r.present = false;
                                }
                            }
                        }
                        _ => break,
                    }
                }
                let Some(sender) = clients.get_mut(client) else {
                    transcript.steps.push(record);
                    continue;
                };
                let asked = Instant::now();
                let response = if sent {
                    answer(
                        sender,
                        channel,
                        &expectation,
                        payload.len(),
                        timing,
                        *client,
                        &mut records,
                        &mut log,
                    )
                    .await
                } else {
                    Response::Dropped {
                        error: "the message could not be sent".into(),
                    }
                };
                if matches!(response, Response::Text { .. } | Response::Binary { .. }) {
                    slowest = slowest.max(asked.elapsed());
                }
                owe(
                    channel,
                    &expectation,
                    &response,
                    *client,
                    index,
                    &clients,
                    &mut records,
                );
                if matches!(
                    response,
                    Response::Closed { .. } | Response::Dropped { .. } | Response::TooLarge { .. }
                ) {
                    if let Some(gone) = clients.remove(client) {
                        gone.reader.abort();
                    }
                    if let Some(r) = records.get_mut(client) {
                        r.present = false;
                    }
                }
                record = StepRecord {
                    expectation,
                    response,
                };
            }
            Step::Leave { client, how } => {
                if let Some(gone) = clients.remove(client) {
                    leave(gone, *client, *how, timing, &mut log).await;
                    if let Some(r) = records.get_mut(client) {
                        r.present = false;
                    }
                }
            }
            _ => {}
        }
        transcript.steps.push(record);
    }
    settle(
        channel,
        &mut clients,
        &mut records,
        timing,
        slowest,
        &mut log,
    )
    .await;
    for (number, client) in std::mem::take(&mut clients) {
        leave(client, number, Leaving::Close, timing, &mut log).await;
    }
    transcript.clients = records.into_values().collect();
    transcript.events = log.into_events();
    transcript
}

/// Connects client `number` to the resource `params` names and reads its greeting.
async fn join(
    target: &Target,
    channel: &Channel,
    number: u8,
    params: &BTreeMap<String, String>,
    resets: bool,
    timing: Timing,
    log: &mut Log,
) -> Result<Client, Connect> {
    let endpoint = Endpoint {
        channel: channel.id.clone(),
        address: channel.address.clone(),
        params: params.clone(),
    };
    let url = target.url(&endpoint);
    log.push(format!(
        "client {number} joins {}",
        crate::case::abbreviate(&url)
    ));
    let socket = match open(&url, target, None, timing).await {
        Ok(socket) => socket,
        Err(outcome) => {
            log.push(format!("client {number}: handshake {outcome:?}"));
            return Err(outcome);
        }
    };
    if resets {
        // A reset needs SO_LINGER 0 on the socket, which the halves of a split socket no longer reach.
        if let MaybeTlsStream::Plain(tcp) = socket.get_ref() {
            let _ = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO));
        }
    }
    let (sink, stream) = socket.split();
    let (sender, mut inbox) = mpsc::channel(INBOX);
    let reader = tokio::spawn(read(stream, sender));
    if !channel.greeting.is_empty() {
        match timeout(timing.timeout, inbox.recv()).await {
            Ok(Some(greeting)) => log.push(format!("client {number} ← {greeting}")),
            _ => log.push(format!(
                "client {number}: no greeting within {} ms",
                timing.timeout.as_millis()
            )),
        }
    }
    Ok(Client {
        params: params.clone(),
        sink,
        inbox,
        reader,
    })
}

/// Passes everything a client receives to its inbox, until the connection ends.
async fn read(mut stream: SplitStream<Socket>, inbox: mpsc::Sender<Response>) {
    while let Some(next) = stream.next().await {
        let response = match next {
            Ok(Message::Text(text)) => Response::Text {
                text: text.to_string(),
            },
            Ok(Message::Binary(bytes)) => Response::Binary { bytes: bytes.len() },
            Ok(Message::Close(frame)) => Response::Closed {
                code: frame.as_ref().map(|f| f.code.into()),
                reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
            },
            Ok(_) => continue,
            Err(WsError::Capacity(e)) => Response::TooLarge {
                error: e.to_string(),
            },
            Err(e) => Response::Dropped {
                error: e.to_string(),
            },
        };
        let last = !matches!(response, Response::Text { .. } | Response::Binary { .. });
        if inbox.send(response).await.is_err() || last {
            return;
        }
    }
    let _ = inbox
        .send(Response::Dropped {
            error: "the server closed the TCP connection".into(),
        })
        .await;
}

/// Waits for the sender's answer to its message; broadcasts that arrive meanwhile are kept as received.
#[allow(clippy::too_many_arguments)]
async fn answer(
    sender: &mut Client,
    channel: &Channel,
    expectation: &Expectation,
    size: usize,
    timing: Timing,
    number: u8,
    records: &mut BTreeMap<u8, ClientRecord>,
    log: &mut Log,
) -> Response {
    let wait = timing.for_answer(channel, expectation, size);
    let pushed = broadcasts_of(channel, answers(channel, expectation));
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, sender.inbox.recv()).await {
            Err(_) => {
                return Response::Silent {
                    waited_ms: wait.as_millis() as u64,
                }
            }
            Ok(None) => {
                return Response::Dropped {
                    error: "the connection ended".into(),
                }
            }
            Ok(Some(Response::Text { text })) if pushed(&text) => {
                log.push(format!(
                    "client {number} ← {} (a broadcast)",
                    crate::case::abbreviate(&text)
                ));
                if let Some(r) = records.get_mut(&number) {
                    r.received.push(text);
                }
            }
            Ok(Some(response)) => {
                log.push(format!("client {number} ← {response}"));
                return response;
            }
        }
    }
}

/// Notes the broadcasts a message is owed to other clients, judged by the sender's reply.
fn owe(
    channel: &Channel,
    expectation: &Expectation,
    reply: &Response,
    sender: u8,
    step: usize,
    clients: &BTreeMap<u8, Client>,
    records: &mut BTreeMap<u8, ClientRecord>,
) {
    let operation = match expectation {
        Expectation::Reply { operation } => Some(*operation),
        Expectation::Either { operation, .. } => *operation,
        _ => None,
    };
    let Some(from) = clients.get(&sender) else {
        return;
    };
    let peers = |to_sender: bool| {
        clients
            .iter()
            .filter(move |(n, c)| c.params == from.params && (to_sender || **n != sender))
            .map(|(n, _)| *n)
            .collect::<Vec<u8>>()
    };
    let Some(operation) = operation.map(|i| &channel.operations[i]) else {
        // Input whose fate the spec leaves open may or may not be acted on: a broadcast is allowed, not owed.
        if matches!(expectation, Expectation::Either { .. }) {
            for peer in peers(true) {
                if let Some(r) = records.get_mut(&peer) {
                    r.tolerated += 1;
                }
            }
        }
        return;
    };
    let text = match reply {
        Response::Text { text } => Some(text.as_str()),
        _ => None,
    };
    let parsed = text.and_then(parse_json);
    // The sender's reply is the server's word that it acted: a conforming reply (or, for an
    // operation without replies, a valid request) is what makes a broadcast owed.
    let acted = if operation.replies.is_empty() {
        matches!(expectation, Expectation::Reply { .. })
    } else {
        text.is_some_and(|t| {
            operation
                .replies
                .iter()
                .any(|m| m.matches_text(t, parsed.as_ref()))
        })
    };
    for broadcast in channel
        .broadcasts
        .iter()
        .filter(|b| b.after == operation.id)
    {
        let when = broadcast
            .when
            .as_ref()
            .is_none_or(|w| text.is_some_and(|t| w.matches_text(t, parsed.as_ref())));
        if !(acted && when) {
            continue;
        }
        let names: Vec<String> = broadcast.messages.iter().map(|m| m.name.clone()).collect();
        for peer in peers(broadcast.to_sender) {
            if let Some(r) = records.get_mut(&peer) {
                r.owed.push(Owed {
                    step: step + 1,
                    from: sender,
                    messages: names.clone(),
                });
            }
        }
    }
}

/// Waits until every client still connected has received what it is owed (or the time-out
/// passes), then listens a moment longer for broadcasts nobody is owed. Only messages the spec
/// pushes count as received; a late reply is not a broadcast.
async fn settle(
    channel: &Channel,
    clients: &mut BTreeMap<u8, Client>,
    records: &mut BTreeMap<u8, ClientRecord>,
    timing: Timing,
    slowest: Duration,
    log: &mut Log,
) {
    let pushed = broadcasts_of(channel, Vec::new());
    let began = Instant::now();
    let deadline = began + timing.timeout;
    let mut ended: Vec<u8> = Vec::new();
    for (number, client) in clients.iter_mut() {
        let Some(record) = records.get_mut(number) else {
            continue;
        };
        while record.received.len() < record.owed.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(Some(message)) = timeout(left, client.inbox.recv()).await else {
                break;
            };
            if !keep(message, &pushed, *number, record, log) {
                ended.push(*number);
                break;
            }
        }
    }
    // What the server sends with the owed broadcasts (one to a client owed nothing, a second
    // copy) comes about as soon as they do: listened for four times as long as the server
    // took to reply or to deliver, within an eighth of the quiet window and the whole.
    let slowest = slowest.max(began.elapsed());
    tokio::time::sleep((slowest * 4).clamp(timing.quiet / 8, timing.quiet)).await;
    for (number, client) in clients.iter_mut() {
        let Some(record) = records.get_mut(number) else {
            continue;
        };
        while let Ok(message) = client.inbox.try_recv() {
            if !keep(message, &pushed, *number, record, log) {
                ended.push(*number);
                break;
            }
        }
    }
    for number in ended {
        if let Some(gone) = clients.remove(&number) {
            gone.reader.abort();
        }
    }
}

/// Logs a message a client got, keeps it if it is a broadcast, and says whether the
/// connection is still open (a server that closed it owes that client nothing more).
fn keep(
    message: Response,
    pushed: &dyn Fn(&str) -> bool,
    number: u8,
    record: &mut ClientRecord,
    log: &mut Log,
) -> bool {
    log.push(format!("client {number} ← {message}"));
    match message {
        Response::Text { text } => {
            if pushed(&text) {
                record.received.push(text);
            }
            true
        }
        Response::Binary { .. } => true,
        _ => {
            record.present = false;
            false
        }
    }
}

/// Client `number` goes away as `how` says.
async fn leave(mut client: Client, number: u8, how: Leaving, timing: Timing, log: &mut Log) {
    match how {
        Leaving::Close => {
            log.push(format!("client {number} → close 1000"));
            let frame = CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            };
            if let Ok(Ok(())) = timeout(
                timing.timeout,
                client.sink.send(Message::Close(Some(frame))),
            )
            .await
            {
                // The reader ends with the server's close reply.
                let _ = timeout(timing.timeout, async {
                    while client.inbox.recv().await.is_some() {}
                })
                .await;
            }
            client.reader.abort();
        }
        Leaving::Drop | Leaving::Reset => {
            log.push(format!(
                "client {number} {}",
                if how == Leaving::Drop {
                    "drops its connection"
                } else {
                    "resets its connection"
                }
            ));
            client.reader.abort();
            // Both halves must be gone for the socket to close: wait for the aborted reader's.
            let _ = client.reader.await;
            drop(client.sink);
        }
    }
}
