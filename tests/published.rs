//! Published bugs: the default timed campaign finds each vulnerable version within a minute, as the class of bug it is, and leaves its fixed version alone.
//!
//! Each pair is installed from its registry at pinned versions by `tests/run` (see
//! `tests/published/README.md`). Two classes have no published pair here, and are proven on
//! small servers of our own: a Node `http` server that trusts the upgrade headers it was
//! given, and a broadcast loop that stops at the first dead socket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wsfuzz::campaign::{self, Report, Settings};
use wsfuzz::checks::Level;
use wsfuzz::spec::Spec;
use wsfuzz::target::Target;
use wsfuzz::watch::Spawn;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What `tests/run` installed, or a message that says to run it.
fn installed(path: &str) -> PathBuf {
    let path = root().join(path);
    assert!(
        path.exists(),
        "{} is missing: run `tests/run` (it installs the published servers)",
        path.display()
    );
    path
}

fn node(script: &str, args: &str) -> String {
    installed("tests/published/node/node_modules");
    let script = installed(&format!("tests/published/node/{script}"));
    format!("exec node '{}' {args} {{port}}", script.display())
}

fn aiohttp(version: &str) -> String {
    let python = installed(&format!("target/published/aiohttp-{version}/bin/python3"));
    let app = installed("tests/published/aiohttp/echo.py");
    format!("exec '{}' '{}' {{port}}", python.display(), app.display())
}

fn tungstenite(version: &str) -> String {
    let echo = installed(&format!(
        "target/published/tungstenite-{version}/release/echo"
    ));
    format!("exec '{}' {{port}}", echo.display())
}

/// The campaign the README gives: every layer, `--spawn`, `--time 60`, no other flag.
const MINUTE: Duration = Duration::from_secs(60);

/// Campaigns two at a time: each is judged on its own target's CPU and memory, and two
/// fit on two cores; more would slow the targets past the time-outs.
static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

async fn default_campaign(command: &str, spec: Option<&str>) -> Report {
    let _slot = SLOTS
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let spec = spec.map(|s| Spec::load(&root().join(s)).expect("the spec"));
    let url = format!("ws://127.0.0.1:{port}");
    let target = Target::resolve(&url, spec.as_ref()).expect("a valid target");
    let settings = Settings {
        cases: Settings::UNTIL_TIME,
        time: Some(MINUTE),
        seed: 1,
        spawn: Some(Spawn {
            command: command.replace("{port}", &port.to_string()),
            address: target.authority(),
            startup: Duration::from_secs(30),
        }),
        ..Settings::default()
    };
    let mut quiet = |_: &campaign::Event| {};
    let run = campaign::run(&target, &settings, &mut quiet);
    tokio::time::timeout(Duration::from_secs(360), run)
        .await
        .expect("the campaign ends in time")
        .expect("the server starts")
}

/// The vulnerable version gives an error of `check` found within the minute; the fixed
/// version gives none.
async fn pair(vulnerable: String, fixed: String, spec: Option<&'static str>, check: &str) {
    // Boxed, so the two campaigns live on the heap, not on this thread's stack.
    let (found, clean) = tokio::join!(
        Box::pin(default_campaign(&vulnerable, spec)),
        Box::pin(default_campaign(&fixed, spec))
    );
    let text = wsfuzz::report::text(&found);
    let finding = found
        .findings
        .iter()
        .find(|f| f.check.name == check && f.level == Level::Error)
        .unwrap_or_else(|| panic!("no {check} on {vulnerable}:\n{text}"));
    assert!(
        finding.found_after <= MINUTE.as_secs_f64(),
        "{check} found after {} s:\n{text}",
        finding.found_after
    );
    eprintln!(
        "{vulnerable}: {check} after {:.1} s, edge {:?}: {}",
        finding.found_after, finding.edge, finding.actual
    );
    let text = wsfuzz::report::text(&clean);
    assert!(
        !clean
            .findings
            .iter()
            .any(|f| f.check.name == check && f.level == Level::Error),
        "{check} on the fixed {fixed}:\n{text}"
    );
}

/// CVE-2021-32640: `ws` 7.4.5 parses `Sec-WebSocket-Protocol` with a pattern that backtracks
/// on runs of spaces (quadratic time); 7.4.6 does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_subprotocol_backtracking_is_parser_complexity() {
    pair(
        node("echo.js", "ws-7.4.5"),
        node("echo.js", "ws-7.4.6"),
        None,
        "header_time_linear",
    )
    .await;
}

/// CVE-2023-43669: `tungstenite` 0.20.0 parses the whole request again on every packet, with
/// no limit on its length; 0.20.1 limits it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tungstenite_reparsing_headers_is_a_slow_handshake() {
    pair(
        tungstenite("0.20.0"),
        tungstenite("0.20.1"),
        None,
        "drip_time_linear",
    )
    .await;
}

/// GHSA-96hv-2xvq-fx4p: `ws` 8.20.1 keeps any number of fragments of one message, each at a
/// large cost; 8.21.1 closes with 1008 past a count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_fragment_flood_is_memory_out_of_proportion() {
    pair(
        node("echo.js", "ws-8.20.1"),
        node("echo.js", "ws-8.21.1"),
        None,
        "memory_proportionate",
    )
    .await;
}

/// `aiohttp` 3.14.3 adds a continuation's declared length to the message so far in a way that
/// wraps, so a continuation declaring 2^63 - 1 bytes passes the size check and is waited for;
/// 3.14.4 closes with 1009.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiohttp_wrapping_size_check_is_a_boundary_length() {
    pair(
        aiohttp("3.14.3"),
        aiohttp("3.14.4"),
        None,
        "boundary_lengths_refused",
    )
    .await;
}

/// Our own: a Node `http` server that takes `Sec-WebSocket-Key` as given, which Node leaves
/// out past 2,000 headers, dies of a request with more; the edge is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_trusting_its_headers_dies_of_a_header_count() {
    let report = default_campaign(&node("trusts_headers.js", ""), None).await;
    let text = wsfuzz::report::text(&report);
    let crash = report
        .findings
        .iter()
        .find(|f| f.check.name == "target_keeps_running")
        .unwrap_or_else(|| panic!("no crash:\n{text}"));
    assert!(crash.found_after <= MINUTE.as_secs_f64(), "{text}");
    let edge = crash
        .edge
        .as_deref()
        .unwrap_or_else(|| panic!("no edge:\n{text}"));
    let headers: u32 = edge
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("an edge of no count: {edge}"));
    // The server keeps 2,000 headers; the key is the fourth after Host and the filler.
    assert_eq!(headers, 1_997, "{edge}:\n{text}");
    eprintln!(
        "trusts_headers: crash after {:.1} s, edge {edge}",
        crash.found_after
    );
}

/// Our own: the chat rooms on `ws`, with a broadcast loop that stops at the first dead
/// socket; editors reset at the moment of a broadcast make the listener miss it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_that_stops_at_a_dead_socket_is_lost_under_churn() {
    let app = installed("tests/calibration/node/server.js");
    let command = format!(
        "CALIBRATION_FLAW=broadcast_stops exec node '{}' {{port}}",
        app.display()
    );
    let report = default_campaign(&command, Some("specs/chat.asyncapi.yaml")).await;
    let text = wsfuzz::report::text(&report);
    let lost = report
        .findings
        .iter()
        .find(|f| f.check.name == "broadcasts_reach_peers")
        .unwrap_or_else(|| panic!("no lost broadcast:\n{text}"));
    assert!(lost.found_after <= MINUTE.as_secs_f64(), "{text}");
    eprintln!(
        "broadcast_stops: lost broadcast after {:.1} s",
        lost.found_after
    );
}

/// A campaign of the frames layer for `seconds`, against `url` (no `--spawn` if `spawn` is
/// `None`).
async fn frames_campaign(url: &str, spawn: Option<Spawn>, seconds: u64) -> Report {
    let _slot = SLOTS
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let target = Target::resolve(url, None).expect("a valid target");
    let settings = Settings {
        cases: Settings::UNTIL_TIME,
        time: Some(Duration::from_secs(seconds)),
        seed: 1,
        layers: vec![wsfuzz::case::Layer::Frames],
        spawn,
        ..Settings::default()
    };
    let mut quiet = |_: &campaign::Event| {};
    let run = campaign::run(&target, &settings, &mut quiet);
    tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the campaign ends in time")
        .expect("the server starts")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `aiohttp` with `max_msg_size=0` takes a message of any size: with `--spawn`, the flood of
/// 128 MiB it keeps is an error; without, that no limit is enforced is a warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_no_size_limit_keeps_what_it_is_sent() {
    let python = installed("target/published/aiohttp-3.14.4/bin/python3");
    let app = installed("tests/published/aiohttp/echo.py");
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}");
    let spawned = frames_campaign(
        &url,
        Some(Spawn {
            command: format!("exec '{}' '{}' {port} 0", python.display(), app.display()),
            address: format!("127.0.0.1:{port}"),
            startup: Duration::from_secs(30),
        }),
        30,
    )
    .await;
    let text = wsfuzz::report::text(&spawned);
    let kept = spawned
        .findings
        .iter()
        .find(|f| f.check.name == "message_size_limited")
        .unwrap_or_else(|| panic!("no message_size_limited:\n{text}"));
    assert_eq!(kept.level, Level::Error, "{text}");

    // The same server, started by hand: wsfuzz sees no memory, only that nothing closes.
    let port = free_port();
    let mut server = tokio::process::Command::new(&python)
        .arg(&app)
        .arg(port.to_string())
        .arg("0")
        .kill_on_drop(true)
        .spawn()
        .expect("the server starts");
    let address = format!("127.0.0.1:{port}");
    let up = async {
        while tokio::net::TcpStream::connect(&address).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), up)
        .await
        .expect("the server listens");
    let plain = frames_campaign(&format!("ws://{address}"), None, 30).await;
    let _ = server.kill().await;
    let text = wsfuzz::report::text(&plain);
    let unlimited = plain
        .findings
        .iter()
        .find(|f| f.check.name == "size_limit_enforced")
        .unwrap_or_else(|| panic!("no size_limit_enforced:\n{text}"));
    assert_eq!(unlimited.level, Level::Warning, "{text}");
    assert!(
        !plain
            .findings
            .iter()
            .any(|f| f.check.name == "message_size_limited"),
        "{text}"
    );
}
