//! Generators below the messages: raw frames of every shape, broken and odd handshakes, and ways to leave.

use proptest::prelude::*;

use crate::case::{Disconnect, Step};
use crate::wire::frame::{Frame, Length, BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT};
use crate::wire::rfc::ABSURD;
use crate::wire::Handshake;

/// Data frames a server is meant to serve: with a spec, each carries a message the spec
/// accepts, so that what the server does with it is the framing's doing, not the
/// application's answer to a payload it refuses; without one, short text and binary.
pub type Accepted = BoxedStrategy<Frame>;

/// Short text and binary frames, for an endpoint without a spec.
pub fn any_data() -> Accepted {
    data_frame().boxed()
}

/// Frame sequences: each piece is a short run of frames that reaches one corner of RFC 6455.
pub fn frame_steps(max_message: Option<usize>, accepted: Accepted) -> BoxedStrategy<Vec<Step>> {
    proptest::collection::vec(frame_piece(max_message, accepted), 1..=4)
        .prop_map(|pieces| pieces.into_iter().flatten().map(Step::Frame).collect())
        .boxed()
}

fn frame_piece(max_message: Option<usize>, accepted: Accepted) -> BoxedStrategy<Vec<Frame>> {
    let mut pieces: Vec<(u32, BoxedStrategy<Vec<Frame>>)> = vec![
        (4, accepted.clone().prop_map(|f| vec![f]).boxed()),
        (3, odd_header().prop_map(|f| vec![f]).boxed()),
        (
            2,
            odd_length(accepted.clone()).prop_map(|f| vec![f]).boxed(),
        ),
        (3, fragmented(accepted.clone())),
        (2, boundary_continuation(accepted.clone()).boxed()),
        (3, control().prop_map(|f| vec![f]).boxed()),
        (
            1,
            Just(vec![Frame::new(CONTINUATION, b"orphan".to_vec())]).boxed(),
        ),
        (3, bad_utf8_text()),
        (3, close_frame().prop_map(|f| vec![f]).boxed()),
        (
            1,
            (10usize..=200)
                .prop_map(|n| {
                    (0..n)
                        .map(|i| Frame::new(PING, i.to_string().into_bytes()))
                        .collect()
                })
                .boxed(),
        ),
    ];
    if let Some(max) = max_message.filter(|m| *m <= 2 << 20) {
        let at_limit = prop_oneof![Just(max), Just(max + 1)];
        pieces.push((
            1,
            at_limit
                .prop_map(|len| vec![Frame::new(TEXT, vec![b'a'; len])])
                .boxed(),
        ));
    }
    (
        proptest::strategy::Union::new_weighted(pieces),
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(mut frames, drip)| {
            // A slow drip of the first small frame: the server must reassemble it.
            if let Some(first) = frames.first_mut().filter(|f| drip && f.payload.len() <= 64) {
                first.drip = true;
            }
            frames
        })
        .boxed()
}

fn data_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        "[a-z ]{0,40}".prop_map(|t| Frame::new(TEXT, t.into_bytes())),
        ".{0,8}".prop_map(|t| Frame::new(TEXT, t.into_bytes())),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|b| Frame::new(BINARY, b)),
    ]
}

/// RSV bits, reserved opcodes, missing masks.
fn odd_header() -> impl Strategy<Value = Frame> {
    // Mostly one oddity, sometimes several at once (bit 0: RSV bits, bit 1: a reserved opcode,
    // bit 2: no mask), on a final or unfinished frame.
    let single = proptest::sample::select(vec![1u8, 2, 4]);
    let several = proptest::sample::select(vec![3u8, 5, 6, 7]);
    (
        data_frame(),
        prop_oneof![3 => single, 1 => several],
        1u8..=7,
        prop_oneof![3u8..=7, 0xBu8..=0xF],
        proptest::bool::weighted(0.8),
    )
        .prop_map(|(frame, kinds, rsv, opcode, fin)| Frame {
            rsv: if kinds & 1 != 0 { rsv } else { frame.rsv },
            opcode: if kinds & 2 != 0 { opcode } else { frame.opcode },
            masked: kinds & 4 == 0,
            fin,
            ..frame
        })
}

/// Declared lengths over the whole 64-bit field where parsers break: past 2^31 (no server
/// takes them), around 2^32 (a 32-bit length wraps), 2^53 (a double loses integers), and the
/// top bit that RFC 6455 §5.2 keeps 0 (a signed length turns negative).
const BOUNDARIES: [u64; 8] = [
    ABSURD,
    (1 << 32) - 1,
    1 << 32,
    1 << 53,
    u64::MAX >> 1,
    1 << 63,
    (1 << 63) + 1,
    u64::MAX,
];

/// Lengths in 16 or 64 bits where fewer would do, and lengths no server can take.
fn odd_length(accepted: Accepted) -> impl Strategy<Value = Frame> {
    let absurd = proptest::sample::select(BOUNDARIES.to_vec());
    (accepted, 0u8..3, absurd).prop_map(|(frame, kind, declared)| match kind {
        0 => Frame {
            length: Length::Bits16,
            ..frame
        },
        1 => Frame {
            length: Length::Bits64,
            ..frame
        },
        _ => Frame {
            length: Length::Declared(declared),
            ..frame
        },
    })
}

/// A message begun with a one-byte fragment and continued by a frame declaring a boundary
/// length: a server that adds that length to what it holds may wrap past its size check.
fn boundary_continuation(accepted: Accepted) -> impl Strategy<Value = Vec<Frame>> {
    (
        accepted,
        proptest::sample::select(BOUNDARIES.to_vec()),
        any::<bool>(),
    )
        .prop_map(|(message, declared, fin)| {
            let first = message.payload.first().copied().unwrap_or(b'{');
            vec![
                Frame {
                    fin: false,
                    ..Frame::new(message.opcode, vec![first])
                },
                Frame {
                    fin,
                    length: Length::Declared(declared),
                    ..Frame::new(
                        CONTINUATION,
                        message.payload.get(1..).unwrap_or_default().to_vec(),
                    )
                },
            ]
        })
}

/// A message split over fragments, sometimes with control frames between them or a fragment out of place.
fn fragmented(accepted: Accepted) -> BoxedStrategy<Vec<Frame>> {
    (accepted, 2usize..=4, 0u8..4)
        .prop_map(|(message, parts, twist)| {
            let size = message.payload.len().div_ceil(parts).max(1);
            let mut frames: Vec<Frame> = message
                .payload
                .chunks(size)
                .enumerate()
                .map(|(i, chunk)| Frame {
                    fin: false,
                    ..Frame::new(
                        if i == 0 { message.opcode } else { CONTINUATION },
                        chunk.to_vec(),
                    )
                })
                .collect();
            if frames.is_empty() {
                frames.push(Frame {
                    fin: false,
                    ..Frame::new(message.opcode, Vec::new())
                });
            }
            if let Some(last) = frames.last_mut() {
                last.fin = true;
            }
            match twist {
                0 => {}
                1 => frames.insert(1, Frame::new(PING, b"between".to_vec())),
                2 => frames.insert(1, Frame::new(TEXT, b"new message inside".to_vec())),
                _ => {
                    // The final fragment never comes.
                    frames.pop();
                }
            }
            frames
        })
        .boxed()
}

/// Pings and pongs of every size, some over 125 bytes, some fragmented.
fn control() -> impl Strategy<Value = Frame> {
    (
        prop_oneof![Just(PING), Just(PONG)],
        prop_oneof![0usize..=125, 126usize..=300],
        proptest::bool::weighted(0.2),
    )
        .prop_map(|(opcode, len, fragmented)| Frame {
            fin: !fragmented,
            ..Frame::new(opcode, vec![b'p'; len])
        })
}

/// Text that is not UTF-8: stray bytes, overlong forms, encoded surrogates, characters cut short, also across fragments.
fn bad_utf8_text() -> BoxedStrategy<Vec<Frame>> {
    let bad: Vec<&'static [u8]> = vec![
        b"\xff",
        b"\xc0\xaf",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\xce",
        b"\xe2\x82",
        b"caf\xc3",
    ];
    (
        proptest::sample::select(bad),
        "[a-z]{0,8}",
        proptest::bool::ANY,
    )
        .prop_map(|(bad, prefix, split)| {
            let mut bytes = prefix.into_bytes();
            bytes.extend_from_slice(bad);
            if split && bytes.len() >= 2 {
                let half = bytes.len() - 1;
                vec![
                    Frame {
                        fin: false,
                        ..Frame::new(TEXT, bytes[..half].to_vec())
                    },
                    Frame::new(CONTINUATION, bytes[half..].to_vec()),
                ]
            } else {
                vec![Frame::new(TEXT, bytes)]
            }
        })
        .boxed()
}

/// Close frames with every class of code and reason.
fn close_frame() -> impl Strategy<Value = Frame> {
    let codes = vec![
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4000, 4999, 0, 999, 1004, 1005,
        1006, 1012, 1015, 1016, 2000, 2999, 5000, 65535,
    ];
    let reasons: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"bye".to_vec(),
        vec![b'r'; 123],
        vec![b'r'; 124],
        b"\xff\xfe".to_vec(),
        "fin \u{e9}".as_bytes().to_vec(),
    ];
    (
        proptest::sample::select(codes),
        proptest::sample::select(reasons),
        0u8..8,
    )
        .prop_map(|(code, reason, kind)| match kind {
            0 => Frame::close(None, b""),
            1 => Frame::new(CLOSE, vec![0x03]),
            _ => Frame::close(Some(code), &reason),
        })
}

/// Handshakes: each the standard request with one or two things changed.
pub fn handshakes() -> BoxedStrategy<Handshake> {
    proptest::collection::vec(handshake_change(), 1..=2)
        .prop_map(|changes| {
            let mut handshake = Handshake::standard();
            for change in changes {
                change.apply(&mut handshake);
            }
            handshake
        })
        .boxed()
}

/// One change to a handshake, as data so it can be generated and applied.
#[derive(Clone, Debug)]
enum Change {
    Header(&'static str, String),
    Remove(&'static str),
    Duplicate(&'static str),
    Many(usize),
    Long(usize, usize),
    Method(&'static str),
    Version(&'static str),
}

impl Change {
    fn apply(self, h: &mut Handshake) {
        match self {
            Change::Header(name, value) => match h.headers.iter_mut().find(|(n, _)| n == name) {
                Some(header) => header.1 = value,
                None => h.headers.push((name.to_string(), value)),
            },
            Change::Remove(name) => h.headers.retain(|(n, _)| n != name),
            Change::Duplicate(name) => {
                if let Some(header) = h.headers.iter().find(|(n, _)| n == name).cloned() {
                    h.headers.push(header);
                }
            }
            Change::Many(count) => h
                .headers
                .extend((0..count).map(|i| (format!("X-Wsfuzz-{i}"), "v".to_string()))),
            Change::Long(len, chunk) => {
                h.headers.push(("X-Wsfuzz-Long".into(), "v".repeat(len)));
                h.chunk = Some(chunk);
            }
            Change::Method(method) => h.method = method.into(),
            Change::Version(version) => h.version = version.into(),
        }
    }
}

fn handshake_change() -> impl Strategy<Value = Change> {
    let keys = vec![
        "",
        "short",
        "dGhlIHNhbXBsZSBub25jZQ=",
        "dGhlIHNhbXBsZSBub25jZQ===",
        "!!!!!!!!!!!!!!!!!!!!!!==",
        "dGhlIHNhbXBsZSBub25jZR==",
    ];
    let versions = vec!["8", "14", "13, 8", "abc", "", "013"];
    let odd_values = vec![
        " ".repeat(4096),
        "chat, \"unclosed".into(),
        "constructor".into(),
        "__proto__".into(),
        "toString, valueOf, hasOwnProperty".into(),
        (0..200)
            .map(|i| format!("p{i}"))
            .collect::<Vec<_>>()
            .join(", "),
        format!(
            "permessage-deflate; {}",
            (0..200)
                .map(|i| format!("x{i}=1"))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        "permessage-deflate; client_max_window_bits=\"".into(),
    ];
    prop_oneof![
        3 => Just(Change::Remove("Sec-WebSocket-Key")),
        2 => Just(Change::Duplicate("Sec-WebSocket-Key")),
        3 => proptest::sample::select(keys).prop_map(|k| Change::Header("Sec-WebSocket-Key", k.into())),
        2 => Just(Change::Remove("Sec-WebSocket-Version")),
        3 => proptest::sample::select(versions).prop_map(|v| Change::Header("Sec-WebSocket-Version", v.into())),
        1 => Just(Change::Remove("Upgrade")),
        1 => Just(Change::Remove("Connection")),
        1 => Just(Change::Header("Connection", "keep-alive, Upgrade".into())),
        3 => (100usize..=3000).prop_map(Change::Many),
        2 => ((1usize << 10)..=(64usize << 10), 7usize..=512).prop_map(|(len, chunk)| Change::Long(len, chunk)),
        2 => proptest::sample::select(odd_values.clone()).prop_map(|v| Change::Header("Sec-WebSocket-Protocol", v)),
        2 => proptest::sample::select(odd_values).prop_map(|v| Change::Header("Sec-WebSocket-Extensions", v)),
        2 => proptest::sample::select(vec!["POST", "PUT", "get", "OPTIONS", "CONNECT"]).prop_map(Change::Method),
        2 => proptest::sample::select(vec!["HTTP/1.0", "HTTP/2.0", "HTTP/1.2", "HTTP/9"]).prop_map(Change::Version),
        2 => proptest::sample::select(vec!["https://evil.example", "null", "file://"]).prop_map(|o| Change::Header("Origin", o.into())),
    ]
}

/// Ways of leaving: resets, half-closes, drops mid-frame or right after a close, going idle, bursts.
pub fn disconnect_steps(accepted: Accepted) -> BoxedStrategy<Vec<Step>> {
    let valid = proptest::collection::vec(accepted.clone().prop_map(Step::Frame), 0..=2).boxed();
    let close = prop_oneof![Just(1000u16), Just(1001), Just(3000), Just(4000)]
        .prop_map(|code| Step::Frame(Frame::close(Some(code), b"")))
        .boxed();
    prop_oneof![
        3 => (valid.clone(), prop_oneof![Just(Disconnect::Drop), Just(Disconnect::Reset), Just(Disconnect::HalfClose)])
            .prop_map(|(mut steps, how)| { steps.push(Step::Disconnect(how)); steps }),
        2 => accepted.prop_map(|f| vec![Step::Disconnect(Disconnect::MidFrame(f))]),
        2 => (close.clone(), valid.clone()).prop_map(|(close, more)| std::iter::once(close).chain(more).collect()),
        2 => close.prop_map(|close| vec![close, Step::Disconnect(Disconnect::Drop)]),
        1 => ((50u64..=500), valid.clone()).prop_map(|(ms, more)| std::iter::once(Step::Wait { ms }).chain(more).collect()),
        1 => (5u16..=50).prop_map(|connections| vec![Step::Burst { connections }]),
    ]
    .boxed()
}

/// Handshakes cut short or sent slowly: the disconnect layer's share of handshakes.
pub fn cut_handshakes() -> BoxedStrategy<Handshake> {
    prop_oneof![
        (1usize..150).prop_map(|at| Handshake {
            drop_after: Some(at),
            ..Handshake::standard()
        }),
        (1usize..=16).prop_map(|chunk| Handshake {
            chunk: Some(chunk),
            ..Handshake::standard()
        }),
    ]
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::test_runner::TestRunner;
    use std::collections::BTreeSet;

    #[test]
    fn frame_cases_reach_every_autobahn_category() {
        let mut runner = TestRunner::deterministic();
        let strategy = frame_steps(Some(1 << 20), any_data());
        let mut shapes = BTreeSet::new();
        let mut obligations = BTreeSet::new();
        for _ in 0..600 {
            let steps = strategy.new_tree(&mut runner).unwrap().current();
            let frames: Vec<Frame> = steps
                .iter()
                .filter_map(|s| {
                    if let Step::Frame(f) = s {
                        Some(f.clone())
                    } else {
                        None
                    }
                })
                .collect();
            shapes.extend(frames.iter().map(Frame::shape));
            let obligation = crate::wire::rfc::obligation(&frames, Some(1 << 20));
            obligations.insert(match obligation {
                crate::wire::rfc::Obligation::Fail { what, .. }
                | crate::wire::rfc::Obligation::Either { what, .. } => what,
                other => format!("{other:?}")
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_string(),
            });
        }
        for wanted in [
            "an unmasked frame from a client (§5.1)",
            "RSV bits set with no extension negotiated (§5.2)",
            "a reserved opcode (§5.2)",
            "a control frame over 125 bytes (§5.5)",
            "a fragmented control frame (§5.5)",
            "a continuation frame with nothing to continue (§5.4)",
            "a new data frame inside a fragmented message (§5.4)",
            "text that is not UTF-8 (§8.1)",
            "a close code that may not be sent (§7.4)",
            "a close reason that is not UTF-8 (§5.5.1)",
            "a close frame with a 1-byte payload (§5.5.1)",
            "a frame declaring a length past any limit",
            "a frame declaring a length with the top bit set (§5.2)",
            "a continuation declaring a length past any limit",
            "a continuation declaring a length with the top bit set (§5.2)",
            "a length in more bytes than needed (§5.2)",
            "KeepOpen",
        ] {
            assert!(
                obligations.contains(wanted),
                "{wanted} missing from {obligations:#?}"
            );
        }
        assert!(shapes.len() > 40, "only {} shapes", shapes.len());
    }

    #[test]
    fn handshakes_include_ones_to_refuse_and_ones_to_allow() {
        let mut runner = TestRunner::deterministic();
        let strategy = handshakes();
        let (mut refuse, mut allow) = (0, 0);
        for _ in 0..300 {
            match strategy
                .new_tree(&mut runner)
                .unwrap()
                .current()
                .must_refuse()
            {
                Some(_) => refuse += 1,
                None => allow += 1,
            }
        }
        assert!(
            refuse > 50 && allow > 50,
            "{refuse} to refuse, {allow} to allow"
        );
    }
}
