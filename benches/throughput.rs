//! Benchmark: wsfuzz's throughput against a correct FastAPI prompt server, beside the Hypothesis property test a user would write instead.
//!
//! `cargo bench --bench throughput` (after `tests/run`, which installs the Python stack into
//! target/calibration/venv). In one run, against one server
//! (examples/fastapi_prompt_server.py on uvicorn):
//! - the property test (benches/property_test.py): examples per second, one message each;
//! - `wsfuzz fuzz --layers messages --time T`: inputs judged per second, one case at a time
//!   (`--jobs 1`) and with the default jobs (the cores);
//! - `wsfuzz fuzz --time T`, every layer: cases per second;
//! - `wsfuzz fuzz`, the default campaign (500 cases on every layer): cases per second;
//! - the same default campaign against the bundled reference server (`wsfuzz serve`, in Rust),
//!   for comparison: what a campaign costs when the server answers everything at once.
//!
//! It prints the rates and their ratios, and exits 1 when wsfuzz falls short of its targets:
//! ten times the property test's inputs per second, and 100 cases per second in the default
//! campaign.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The property test's examples per run.
const EXAMPLES: u64 = 1500;
/// Seconds of each timed wsfuzz campaign.
const SECONDS: u64 = 15;
const INPUTS_RATIO_TARGET: f64 = 10.0;
const CASES_PER_SECOND_TARGET: f64 = 100.0;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("target/calibration/venv/bin/python");
    if !python.exists() {
        eprintln!(
            "throughput: {} is missing; run tests/run once to install the Python stack",
            python.display()
        );
        std::process::exit(2);
    }
    let port = free_port();
    let mut fastapi = Command::new(&python);
    fastapi
        .arg(root.join("examples/fastapi_prompt_server.py"))
        .arg(port.to_string());
    let server = Server::start(fastapi, port);
    let url = format!("ws://127.0.0.1:{port}");

    let property = Command::new(&python)
        .arg(root.join("benches/property_test.py"))
        .args([&url, &EXAMPLES.to_string()])
        .output()
        .expect("the property test runs");
    assert!(
        property.status.success(),
        "the property test fails: {}",
        String::from_utf8_lossy(&property.stderr)
    );
    let timed: Value = serde_json::from_slice(&property.stdout).expect("its JSON line");
    let property_rate = timed["examples"].as_f64().unwrap() / timed["seconds"].as_f64().unwrap();

    let spec = root.join("specs/prompt-manager.asyncapi.yaml");
    let seconds = SECONDS.to_string();
    let timed = ["--time", seconds.as_str()];
    let one_at_a_time = campaign(
        &url,
        &spec,
        &[&timed[..], &["--layers", "messages", "--jobs", "1"]].concat(),
    );
    let messages = campaign(
        &url,
        &spec,
        &[&timed[..], &["--layers", "messages"]].concat(),
    );
    let all = campaign(&url, &spec, &timed);
    let default = campaign(&url, &spec, &[]);
    drop(server);
    let port = free_port();
    let mut reference = Command::new(env!("CARGO_BIN_EXE_wsfuzz"));
    reference.args(["serve", "--port", &port.to_string()]);
    let server = Server::start(reference, port);
    let on_reference = campaign(&format!("ws://127.0.0.1:{port}"), &spec, &[]);
    drop(server);

    let rate = |stats: &Value, of: &str| {
        stats[of].as_f64().unwrap_or(0.0) / stats["seconds"].as_f64().unwrap_or(1.0)
    };
    let sequential_rate = rate(&one_at_a_time, "inputs");
    let inputs_rate = rate(&messages, "inputs");
    let cases_rate = rate(&default, "cases");
    let ratio = inputs_rate / property_rate;
    let seconds = |stats: &Value| stats["seconds"].as_f64().unwrap_or(0.0);
    println!("against examples/fastapi_prompt_server.py on uvicorn, one run:");
    println!("  Hypothesis + websockets property test  {property_rate:>8.0} inputs/s ({EXAMPLES} examples)");
    println!(
        "  wsfuzz, messages layer, --jobs 1       {sequential_rate:>8.0} inputs/s ({} cases, {} inputs in {:.1} s)",
        one_at_a_time["cases"], one_at_a_time["inputs"], seconds(&one_at_a_time)
    );
    println!(
        "  wsfuzz, messages layer                 {inputs_rate:>8.0} inputs/s ({} cases, {} inputs in {:.1} s)",
        messages["cases"], messages["inputs"], seconds(&messages)
    );
    println!(
        "  wsfuzz, every layer, --time {SECONDS}         {:>8.0} cases/s  ({} cases in {:.1} s)",
        rate(&all, "cases"),
        all["cases"],
        seconds(&all)
    );
    println!(
        "  wsfuzz, default campaign               {cases_rate:>8.0} cases/s  ({} cases in {:.1} s)",
        default["cases"],
        seconds(&default)
    );
    println!(
        "  (wsfuzz, default campaign, against the reference server in Rust: {:.0} cases/s, {} cases in {:.1} s)",
        rate(&on_reference, "cases"),
        on_reference["cases"],
        seconds(&on_reference)
    );
    println!(
        "  inputs per second, wsfuzz / property test: {ratio:.1}x (target {INPUTS_RATIO_TARGET}x); --jobs / --jobs 1: {:.2}x",
        inputs_rate / sequential_rate
    );
    println!(
        "  cases per second, default campaign: {cases_rate:.0} (target {CASES_PER_SECOND_TARGET})"
    );
    if ratio < INPUTS_RATIO_TARGET || cases_rate < CASES_PER_SECOND_TARGET {
        println!("  below target");
        std::process::exit(1);
    }
}

/// A campaign's `stats`, from its JSON report.
fn campaign(url: &str, spec: &Path, extra: &[&str]) -> Value {
    let json = std::env::temp_dir().join(format!("wsfuzz-throughput-{}.json", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_wsfuzz"))
        .args(["fuzz", url, "--spec"])
        .arg(spec)
        .args(["--seed", "1", "--no-regressions", "--json"])
        .arg(&json)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("wsfuzz runs");
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "wsfuzz {extra:?}: {status}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON report")).unwrap();
    let _ = std::fs::remove_file(&json);
    report["stats"].clone()
}

/// The server under test, stopped when dropped.
struct Server(Child);

/// A port no one listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Server {
    /// Runs `command`, which serves on `port`, until it listens.
    fn start(mut command: Command, port: u16) -> Server {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        let server = Server(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the server listens within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
