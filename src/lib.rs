//! wsfuzz: a property-based fuzzer for WebSocket APIs.
//!
//! # Layout
//!
//! A fuzz case is data. Each stage reads only what the previous one produced:
//!
//! ```text
//! spec ─► gen ─► Case ─► runner ─► Transcript ─► checks ─► Failure ─► campaign ─► report
//!                  ▲                                                     │
//!                  └──────────────── shrink (replays smaller cases) ◄────┘
//! ```
//!
//! - [`spec`]: a protocol as data, read from an AsyncAPI file: channels, messages, replies,
//!   greetings, the error envelope, and what each message a client sends should get.
//! - [`target`]: the server's URL resolved into the spec's channels (routes), with the
//!   [`credentials`] every handshake carries and, for `wss://`, the [`tls`] settings.
//! - [`case`]: what one client does: connect to an endpoint (or send a raw handshake), then
//!   send messages, write raw frames, wait, open bursts of connections, or disconnect; or a
//!   scenario of several clients joining, speaking and leaving; with the cases played
//!   alongside it, for races.
//! - [`wire`]: frames and handshakes as data, and RFC 6455 as an oracle: what a client's
//!   frames oblige a server to do, and what is wrong with a server's frames.
//! - [`gen`]: proptest strategies for cases on five layers: messages (valid ones from the
//!   schemas, near-misses, garbage, oversized and deeply nested input, hostile endpoint
//!   parameters), frames, handshakes, disconnects, and scenarios of several clients; and the
//!   classes of scale ([`gen::scale`]): thousands of headers, header values that make parsers
//!   backtrack, dripped requests, lengths at the edges of 64 bits, floods of fragments, and
//!   resets in the middle of a broadcast.
//! - [`runner`]: plays a case over a real connection (messages through tokio-tungstenite, the
//!   rest byte for byte on a raw socket; a stretched header as a ladder of doubling sizes, a
//!   flood as it is made) and records a [`transcript`], with the target's CPU and memory
//!   where wsfuzz started it.
//! - [`checks`]: pure functions from a transcript to failures; one flaw, one check. Each
//!   check is a typed [`checks::Check`] with its level (an error fails the run, a warning is
//!   an RFC deviation that harms no user), the layers it judges and what it needs. The model of
//!   several clients (who is owed which broadcast), the data a server keeps, and the resource
//!   checks on a target process live there too.
//! - [`watch`]: a target process wsfuzz starts itself (`--spawn`): its exits, its output, and
//!   its CPU, memory and descriptors read from `/proc`.
//! - [`shrink`]: simplifies a failing case on its data until the same check no longer fails;
//!   a size of scale is searched for the server's edge instead.
//! - [`campaign`]: the loop tying these together, with statistics and reproductions. The
//!   command line and code set a campaign up through one builder, [`Campaign`], which alone
//!   writes the `Reproduce with:` command. Its `machine` is the loop, a state for each thing
//!   it does: replaying, drawing, playing, judging, shrinking, recovering. It tells
//!   what happens as one stream of [`campaign::Event`]s to [`campaign::Reporter`]s; a
//!   [`campaign::Stop`] (a signal, the end of `--time`) ends every wait within it. Its
//!   `schedule` gives the classes of scale their turns and the layers their shares of a timed
//!   campaign, and its `replay` re-runs a failure to confirm and shrink it, on a fresh target
//!   where needed; its `company` lets the campaign play on beside a silence waited out to be
//!   confirmed. Cases of messages in a row share connections ([`runner::Pool`]).
//! - [`report`]: the reporters of those events: the progress bar, the text report and its
//!   summary, JSON, JUnit XML, HTML and JSON Lines; [`regressions::Saver`] saves each finding.
//! - [`server`]: the reference Prompt Manager server, a server that gets everything right.
//! - [`connect`]: the manual client of `wsfuzz connect`.
//! - [`config`]: `wsfuzz.toml`, the flags a team runs every time.
//! - [`regressions`] and [`reproduce`]: findings saved as cases to replay, and as standalone scripts.
//!
//! # From a `cargo test`
//!
//! A [`Campaign`] runs against your own server from an ordinary test, and
//! [`Report::assert_no_findings`] fails the test on an error (or, with `strict`, a warning)
//! with each finding, its minimal case and how to reproduce it. Here the server is wsfuzz's reference server on a free port:
//!
//! ```
//! use wsfuzz::{case::Layer, spec::Spec, Campaign};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = wsfuzz::server::start(([127, 0, 0, 1], 0).into()).await?;
//! let spec = Spec::parse(wsfuzz::PROMPT_MANAGER_SPEC, "prompt-manager.asyncapi.yaml")?;
//! let report = Campaign::new(format!("ws://{}", server.local_addr()))
//!     .spec(spec) // or .spec_file("specs/my-api.asyncapi.yaml")?
//!     .layers(&[Layer::Messages, Layer::Frames])
//!     .cases(60)
//!     .seed(7)
//!     .run()
//!     .await?;
//! report.assert_no_findings();
//! assert_eq!(report.stats.cases, 60);
//! # Ok(())
//! # }
//! ```
//!
//! In a test file that is a `#[tokio::test(flavor = "multi_thread")]` function; add
//! `.regressions("proptest-regressions")?` to replay and keep findings as `wsfuzz fuzz` does.
//!
//! The generators are proptest strategies too, for properties of your own: for instance the
//! messages wsfuzz sends to a channel (valid ones, near-misses and hostile ones).
//!
//! ```
//! use proptest::strategy::{Strategy, ValueTree};
//! use proptest::test_runner::TestRunner;
//! use wsfuzz::spec::Spec;
//!
//! let spec = Spec::parse(wsfuzz::PROMPT_MANAGER_SPEC, "prompt-manager.asyncapi.yaml").unwrap();
//! let prompt = spec.channels.iter().find(|c| c.id == "prompt").unwrap();
//! let messages = wsfuzz::gen::payloads(prompt);
//! let mut runner = TestRunner::deterministic();
//! for _ in 0..20 {
//!     let message = messages.new_tree(&mut runner).unwrap().current();
//!     // Send it with your own client, and check what your server does.
//!     assert!(message.len() <= 1 << 20, "{message}");
//! }
//! ```

pub mod campaign;
pub mod case;
pub mod checks;
pub mod cli;
pub mod config;
pub mod connect;
pub mod credentials;
pub mod gen;
pub mod merge;
pub mod regressions;
pub mod report;
pub mod reproduce;
pub mod runner;
pub mod server;
pub mod shrink;
pub mod spec;
pub mod target;
pub mod tls;
pub mod transcript;
pub mod watch;
pub mod wire;

pub use campaign::{Campaign, Error, Report};

/// The Prompt Manager spec, built in so `wsfuzz demo` and `wsfuzz connect --type` work anywhere.
pub const PROMPT_MANAGER_SPEC: &str = include_str!("../specs/prompt-manager.asyncapi.yaml");
