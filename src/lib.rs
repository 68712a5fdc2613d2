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
//! - [`target`]: the server's URL resolved into the spec's channels (routes).
//! - [`case`]: what one client does: connect to an endpoint (or send a raw handshake), then
//!   send messages, write raw frames, wait, open bursts of connections, or disconnect; or a
//!   scenario of several clients joining, speaking and leaving; with the cases played
//!   alongside it, for races.
//! - [`wire`]: frames and handshakes as data, and RFC 6455 as an oracle: what a client's
//!   frames oblige a server to do, and what is wrong with a server's frames.
//! - [`gen`]: proptest strategies for cases on five layers: messages (valid ones from the
//!   schemas, near-misses, garbage, oversized and deeply nested input, hostile endpoint
//!   parameters), frames, handshakes, disconnects, and scenarios of several clients.
//! - [`runner`]: plays a case over a real connection (messages through tokio-tungstenite, the
//!   rest byte for byte on a raw socket) and records a [`transcript`].
//! - [`checks`]: pure functions from a transcript to failures; one flaw, one check. The
//!   model of several clients (who is owed which broadcast) and the resource checks on a
//!   target process live there too.
//! - [`watch`]: a target process wsfuzz starts itself (`--spawn`): its exits, its output, and
//!   its CPU, memory and descriptors read from `/proc`.
//! - [`shrink`]: simplifies a failing case on its data until the same check no longer fails.
//! - [`campaign`]: the loop tying these together, with statistics and reproductions; its
//!   `replay` re-runs a failure to confirm and shrink it, on a fresh target where needed.
//! - [`report`]: text and JSON reports.
//! - [`server`]: the reference Prompt Manager server, a server that gets everything right.
//! - [`connect`]: the manual client of `wsfuzz connect`.

pub mod campaign;
pub mod case;
pub mod checks;
pub mod cli;
pub mod config;
pub mod connect;
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
pub mod transcript;
pub mod watch;
pub mod wire;

/// The Prompt Manager spec, built in so `wsfuzz demo` and `wsfuzz connect --type` work anywhere.
pub const PROMPT_MANAGER_SPEC: &str = include_str!("../specs/prompt-manager.asyncapi.yaml");
