//! Cases at the sizes where real servers break: thousands of headers, header values that make parsers backtrack, requests dripped, lengths at the edges of 64 bits, floods of fragments, and resets in the middle of a broadcast.

use proptest::prelude::*;
use serde::Serialize;

use super::accepted_frames;
use crate::case::{Case, Flood, Layer, Leaving, Sized, Step};
use crate::target::Route;
use crate::wire::frame::{Frame, Length, CONTINUATION};
use crate::wire::handshake::{Handshake, Stretch};

/// A class of input that costs a server more the bigger it is. Each is reached early in a
/// campaign, whatever its length, and then in turn with the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// An upgrade request with thousands of headers before the ones that matter.
    HeaderCount,
    /// A header value that doubles in a shape that makes parsers backtrack.
    HeaderValues,
    /// A request that never ends, sent in small writes.
    SlowHandshake,
    /// A frame declaring a length at the edges of 64 bits, alone or continuing a message.
    BoundaryLengths,
    /// A message in fragments that never ends: a million of a byte, or a hundred of a MiB.
    FragmentFlood,
    /// Clients of one resource reset at the moment of a broadcast, another listening.
    Churn,
}

impl Scale {
    pub const ALL: [Scale; 6] = [
        Scale::HeaderCount,
        Scale::HeaderValues,
        Scale::SlowHandshake,
        Scale::BoundaryLengths,
        Scale::FragmentFlood,
        Scale::Churn,
    ];

    pub fn layer(self) -> Layer {
        match self {
            Scale::HeaderCount | Scale::HeaderValues | Scale::SlowHandshake => Layer::Handshake,
            Scale::BoundaryLengths | Scale::FragmentFlood => Layer::Frames,
            Scale::Churn => Layer::Clients,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scale::HeaderCount => "header counts",
            Scale::HeaderValues => "header values",
            Scale::SlowHandshake => "slow handshakes",
            Scale::BoundaryLengths => "boundary lengths",
            Scale::FragmentFlood => "fragment floods",
            Scale::Churn => "churn",
        }
    }

    fn id(self) -> u64 {
        Scale::ALL.iter().position(|s| *s == self).unwrap_or(0) as u64
    }
}

/// The class a case of scale belongs to, as far as the case itself shows it (a boundary
/// length or a churn is an ordinary case of its layer).
pub fn class_of(case: &Case) -> Option<Scale> {
    Some(match case.sized()? {
        Sized::Stretch(stretch) if stretch.drip.is_some() => Scale::SlowHandshake,
        Sized::Stretch(_) => Scale::HeaderValues,
        Sized::Filler(_) => Scale::HeaderCount,
        Sized::Flood(_) => Scale::FragmentFlood,
    })
}

/// Case numbers from here on are scale cases: `FIRST + 6 j + class` is the `j`-th case of the
/// class, so a scale case is reproduced by its number like any other.
pub const FIRST: u64 = 1_000_000_000;

/// The number of case `j` of `scale`.
pub fn index(scale: Scale, j: u64) -> u64 {
    FIRST + j * Scale::ALL.len() as u64 + scale.id()
}

/// The class and the turn of a scale case's number.
pub fn of_index(index: u64) -> Option<(Scale, u64)> {
    let n = index.checked_sub(FIRST)?;
    let all = Scale::ALL.len() as u64;
    Some((Scale::ALL[(n % all) as usize], n / all))
}

/// Header counts: past the 100-odd many servers keep, past Node's 2,000, and up to 10^5.
const HEADER_COUNTS: [u32; 4] = [2_100, 130, 10_000, 100_000];

/// Values known to make header parsers backtrack: runs of separators, escapes in a quote never
/// closed, between a head and a tail that fails the match only at the end.
const STRETCHES: [(&str, &str, &str, &str); 14] = [
    ("Sec-WebSocket-Protocol", "b", " ", "x"),
    (
        "Sec-WebSocket-Extensions",
        "permessage-deflate; x=\"",
        "\\x",
        "",
    ),
    ("Sec-WebSocket-Protocol", "b", ",", "x"),
    ("Sec-WebSocket-Protocol", "b", " ,", "x"),
    ("Sec-WebSocket-Extensions", "permessage-deflate", " ", "x"),
    ("Sec-WebSocket-Extensions", "permessage-deflate", ";", "\""),
    ("Sec-WebSocket-Extensions", "a; b", "=\"", "\\"),
    ("Cookie", "a=", " ", "\""),
    ("Cookie", "a=\"", "\\\"", ""),
    ("Cookie", "a=b", ";", "x"),
    ("Origin", "http://a", ".", ":x"),
    ("Connection", "Upgrade", ", ", "\""),
    ("Upgrade", "websocket", ", ", "\""),
    ("Sec-WebSocket-Protocol", "b", "\t", "x"),
];

/// The largest value tried at once: 1 MiB, past any header limit but the most generous.
const STRETCH_SIZE: usize = 1 << 20;
/// Requests that never end, dripped: header, head, unit; and the writes.
const DRIPS: [(&str, &str, &str); 3] = [
    ("X-Pad", "", "a"),
    ("Cookie", "a=", "b"),
    ("Sec-WebSocket-Protocol", "", "a"),
];
const DRIP_SIZE: usize = 16 << 20;
const DRIP_CHUNKS: [usize; 2] = [1 << 10, 4 << 10];

/// Declared lengths at the edges of the 64-bit field, each continuing a one-byte fragment
/// first (where a size check may wrap when it adds), then alone.
const BOUNDARIES: [u64; 8] = [
    u64::MAX >> 1,
    u64::MAX,
    1 << 63,
    (1 << 63) + 1,
    1 << 32,
    (1 << 32) - 1,
    1 << 53,
    crate::wire::rfc::ABSURD,
];

/// Floods: two million fragments of a byte; 128 of a MiB (past the 100 MiB the most
/// generous stacks take); a million of 16 bytes.
const FLOODS: [Flood; 3] = [
    Flood {
        fragments: 2_000_000,
        size: 1,
    },
    Flood {
        fragments: 128,
        size: 1 << 20,
    },
    Flood {
        fragments: 1_000_000,
        size: 16,
    },
];

/// Clients reset at once in a churn: about as many as a broadcast loop must meet dead.
const CHURNED: [u8; 3] = [8, 12, 5];

/// The scale classes `routes` offer on `layers`: churn needs a channel with broadcasts.
pub fn classes(routes: &[Route], layers: &[Layer]) -> Vec<Scale> {
    Scale::ALL
        .into_iter()
        .filter(|s| layers.contains(&s.layer()))
        .filter(|s| {
            *s != Scale::Churn
                || routes
                    .iter()
                    .any(|r| super::clients::scenarios(r).is_some())
        })
        .collect()
}

/// Case `j` of `scale`: the class's dictionary in turn, on the routes in turn.
pub fn case(scale: Scale, j: u64, routes: &[Route]) -> Option<BoxedStrategy<Case>> {
    let pick = |n: usize| (j % n as u64) as usize;
    let route = &routes[pick(routes.len())];
    let endpoint = route.probe_endpoint();
    let plain = move |handshake: Option<Handshake>, steps: Vec<Step>| Case {
        handshake,
        steps,
        ..Case::scenario(&endpoint)
    };
    Some(match scale {
        Scale::HeaderCount => Just(plain(
            Some(Handshake {
                filler: HEADER_COUNTS[pick(HEADER_COUNTS.len())],
                ..Handshake::standard()
            }),
            Vec::new(),
        ))
        .boxed(),
        Scale::HeaderValues => {
            let (header, head, unit, tail) = STRETCHES[pick(STRETCHES.len())];
            Just(plain(
                Some(stretched(Stretch {
                    header: header.into(),
                    head: head.into(),
                    unit: unit.into(),
                    tail: tail.into(),
                    size: STRETCH_SIZE,
                    drip: None,
                })),
                Vec::new(),
            ))
            .boxed()
        }
        Scale::SlowHandshake => {
            let (header, head, unit) = DRIPS[pick(DRIPS.len())];
            let chunk = DRIP_CHUNKS[(j / DRIPS.len() as u64 % DRIP_CHUNKS.len() as u64) as usize];
            Just(plain(
                Some(stretched(Stretch {
                    header: header.into(),
                    head: head.into(),
                    unit: unit.into(),
                    tail: String::new(),
                    size: DRIP_SIZE,
                    drip: Some(chunk),
                })),
                Vec::new(),
            ))
            .boxed()
        }
        Scale::BoundaryLengths => {
            let turn = pick(2 * BOUNDARIES.len());
            let declared = BOUNDARIES[turn % BOUNDARIES.len()];
            let continuing = turn < BOUNDARIES.len();
            accepted_frames(&route.channel)
                .prop_map(move |message| {
                    let rest = message.payload.get(1..).unwrap_or_default().to_vec();
                    let frames = match continuing {
                        true => vec![
                            Frame {
                                fin: false,
                                ..Frame::new(
                                    message.opcode,
                                    message.payload.iter().take(1).copied().collect(),
                                )
                            },
                            Frame {
                                length: Length::Declared(declared),
                                ..Frame::new(CONTINUATION, rest)
                            },
                        ],
                        false => vec![Frame {
                            length: Length::Declared(declared),
                            ..message
                        }],
                    };
                    plain(None, frames.into_iter().map(Step::Frame).collect())
                })
                .boxed()
        }
        Scale::FragmentFlood => {
            Just(plain(None, vec![Step::Flood(FLOODS[pick(FLOODS.len())])])).boxed()
        }
        Scale::Churn => {
            let route = routes
                .iter()
                .find(|r| super::clients::scenarios(r).is_some())?;
            churn(route, CHURNED[pick(CHURNED.len())])?
        }
    })
}

fn stretched(stretch: Stretch) -> Handshake {
    Handshake {
        stretch: Some(stretch),
        ..Handshake::standard()
    }
}

/// `editors` clients join a resource, then the one who speaks, then the one who listens
/// (last, so a broadcast loop meets the dead ones first); the speaker sends, and all editors
/// reset at once, in the middle of its broadcast; then the speaker sends again, while the
/// server may still hold the dead sockets.
fn churn(route: &Route, editors: u8) -> Option<BoxedStrategy<Case>> {
    let trigger = super::clients::triggers(&route.channel)?;
    let endpoint = route.probe_endpoint();
    let params = endpoint.params.clone();
    Some(
        (trigger.clone(), trigger)
            .prop_map(move |(first, second)| {
                let (speaker, listener) = (editors, editors + 1);
                let mut steps: Vec<Step> = (0..=listener)
                    .map(|client| Step::Join {
                        client,
                        params: params.clone(),
                    })
                    .collect();
                steps.push(Step::Say {
                    client: speaker,
                    payload: first,
                });
                steps.extend((0..editors).map(|client| Step::Leave {
                    client,
                    how: Leaving::Reset,
                }));
                steps.push(Step::Say {
                    client: speaker,
                    payload: second,
                });
                Case {
                    steps,
                    ..Case::scenario(&endpoint)
                }
            })
            .boxed(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_case_numbers_name_their_class_and_turn() {
        for scale in Scale::ALL {
            for j in [0, 1, 17] {
                assert_eq!(of_index(index(scale, j)), Some((scale, j)));
            }
        }
        assert_eq!(of_index(FIRST - 1), None);
    }
}
