//! The `wsfuzz` binary as users and CI scripts meet it: exit codes, one-line errors, JSON reports, reproduction.

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::Flaw;
use tokio::io::AsyncWriteExt;

/// Runs `wsfuzz` in a directory of its own, so the findings it saves (in
/// `proptest-regressions/` there) neither land in the repository nor meet other tests'.
fn wsfuzz(args: &[&str]) -> Output {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    wsfuzz_in(&temp(&format!("run-{run}")), args)
}

/// Runs `wsfuzz` in `dir`.
fn wsfuzz_in(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsfuzz"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("wsfuzz runs")
}

fn spec_path() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/specs/prompt-manager.asyncapi.yaml"
    )
    .to_string()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wsfuzz-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a blocking command while the test's runtime keeps serving on its worker threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// `wsfuzz` with these arguments, run off the test's runtime.
async fn wsfuzz_async(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    blocking(move || wsfuzz(&args.iter().map(String::as_str).collect::<Vec<_>>())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_campaign_exits_0_and_writes_the_json_report() {
    let server = wsfuzz::server::start(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let url = format!("ws://{}", server.local_addr());
    let json = temp("clean").join("report.json");
    let json_arg = json.display().to_string();
    let output = wsfuzz_async(&[
        "fuzz",
        &url,
        "--spec",
        &spec_path(),
        "--cases",
        "150",
        "--seed",
        "4",
        "--json",
        &json_arg,
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("150 cases in") && stdout.contains("seed 4: no findings"),
        "{stdout}"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["findings"], Value::Array(vec![]));
    assert_eq!(report["stats"]["cases"], 150);
    assert!(report["stats"]["seconds"].as_f64().unwrap() > 0.0);
    assert!(report["stats"]["cases_per_second"].as_f64().unwrap() > 0.0);
    // Inputs are counted beside cases: a case sends one or more, a clean close none.
    let (inputs, layers) = (&report["stats"]["inputs"], &report["stats"]["layers"]);
    let disconnects = layers["disconnect"].as_u64().unwrap_or(0);
    assert!(
        inputs.as_u64().unwrap() >= 150 - disconnects,
        "{inputs} inputs in 150 cases"
    );
    // Not a terminal: status lines, but no progress bar drawn into the log.
    let err = stderr(&output);
    assert!(err.starts_with("wsfuzz: fuzzing "), "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\r'), "{err:?}");
}

#[test]
fn checks_lists_every_check_with_its_level() {
    let output = wsfuzz(&["checks"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    for check in wsfuzz::checks::CHECKS {
        let line = format!("{} ({};", check.name, check.level.name());
        assert!(text.contains(&line), "{line:?} not in:\n{text}");
    }
    let unknown = wsfuzz(&["fuzz", "ws://127.0.0.1:9", "--checks", "no_such_check"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("`no_such_check` is not a check"));
}

/// Warnings fail a run only with --strict; --exclude-checks and --checks choose what judges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_pass_unless_strict() {
    let addr = support::start(Flaw::ClosesNormallyOnBadJson).await;
    let url = format!("ws://{addr}");
    let spec = spec_path();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "fuzz",
            &url,
            "--spec",
            &spec,
            "--layers",
            "messages",
            "--cases",
            "60",
            "--seed",
            "3",
            "--timeout",
            "0.3",
            "--no-regressions",
        ];
        args.extend_from_slice(extra);
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        async move { wsfuzz_async(&args.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };
    let lenient = run(&[]).await;
    let text = String::from_utf8_lossy(&lenient.stdout).into_owned();
    assert_eq!(lenient.status.code(), Some(0), "{text}");
    assert!(text.contains("seed 3: 1 warning"), "{text}");
    assert!(
        text.contains("Warnings: deviations from RFC 6455"),
        "{text}"
    );
    assert!(
        text.contains("Finding 1 of 1: warning bad_input_close_code"),
        "{text}"
    );
    assert!(text.contains("WARNED bad_input_close_code"), "{text}");
    let strict = run(&["--strict"]).await;
    assert_eq!(strict.status.code(), Some(1), "{}", stderr(&strict));
    let without = run(&["--strict", "--exclude-checks", "bad_input_close_code"]).await;
    let text = String::from_utf8_lossy(&without.stdout).into_owned();
    assert_eq!(without.status.code(), Some(0), "{text}");
    assert!(
        text.contains("no findings") && text.contains("checks:  24 on every case"),
        "{text}"
    );
    let only = run(&["--checks", "no_abrupt_close,bad_input_gets_error"]).await;
    let text = String::from_utf8_lossy(&only.stdout).into_owned();
    assert!(
        text.contains("checks:  2 on every case: 2 passed"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finding_exits_1_and_its_reproduce_command_reproduces_it() {
    let addr = support::start(Flaw::SilentOnUnknownAction).await;
    let url = format!("ws://{addr}");
    let json = temp("finding").join("report.json");
    let json_arg = json.display().to_string();
    let output = wsfuzz_async(&[
        "fuzz",
        &url,
        "--spec",
        &spec_path(),
        "--cases",
        "100",
        "--seed",
        "9",
        "--layers",
        "messages",
        "--timeout",
        "0.3",
        "--json",
        &json_arg,
    ])
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        stdout.contains("Finding 1 of 1: error bad_input_gets_error"),
        "{stdout}"
    );
    assert!(stdout.contains("Reproduce with: wsfuzz fuzz"), "{stdout}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let finding = &report["findings"][0];
    for field in ["check", "endpoint", "summary", "case", "reproduce"] {
        assert!(!finding[field].is_null(), "{field} missing from {finding}");
    }
    assert_eq!(finding["check"], "bad_input_gets_error");

    // The printed command, run as printed, finds the same thing from that one case.
    let reproduce =
        finding["reproduce"]
            .as_str()
            .unwrap()
            .replacen("wsfuzz", env!("CARGO_BIN_EXE_wsfuzz"), 1);
    // Run elsewhere than the repository, so the finding it saves lands in a temporary directory.
    let elsewhere = temp("reproduce");
    let again = blocking(move || {
        Command::new("sh")
            .arg("-c")
            .arg(reproduce)
            .current_dir(elsewhere)
            .output()
            .unwrap()
    })
    .await;
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    let again_out = String::from_utf8_lossy(&again.stdout);
    assert!(
        again_out.contains("1 cases in")
            && again_out.contains("Finding 1 of 1: error bad_input_gets_error"),
        "{again_out}"
    );

    // The by-hand command shows the silence too: no error envelope arrives.
    let by_hand =
        finding["by_hand"]
            .as_str()
            .unwrap()
            .replacen("wsfuzz", env!("CARGO_BIN_EXE_wsfuzz"), 1);
    let by_hand = format!("{by_hand} --timeout 0.3 --expect '\"action\":\"error\"'");
    let manual =
        blocking(move || Command::new("sh").arg("-c").arg(by_hand).output().unwrap()).await;
    assert_eq!(
        manual.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&manual.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_finds_the_same_minimal_case() {
    let addr = support::start(Flaw::PanicOnMissingField).await;
    let url = format!("ws://{addr}");
    let run = |name: &'static str| {
        let url = url.clone();
        async move {
            let json = temp(name).join("r.json");
            let json_arg = json.display().to_string();
            let output = wsfuzz_async(&[
                "fuzz",
                &url,
                "--spec",
                &spec_path(),
                "--cases",
                "80",
                "--seed",
                "21",
                "--layers",
                "messages",
                "--json",
                &json_arg,
            ])
            .await;
            assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
            let report: Value =
                serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
            (
                report["findings"][0]["case_index"].clone(),
                report["findings"][0]["case"].clone(),
            )
        }
    };
    let first = run("seed-a").await;
    assert_eq!(first, run("seed-b").await);
}

fn one_line_error(output: &Output, code: i32, contains: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(code), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("wsfuzz: error: ") || err.starts_with("error: "),
        "{err}"
    );
    assert!(err.contains(contains), "{err} should say {contains}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn misuse_exits_2_with_one_line() {
    one_line_error(
        &wsfuzz(&["fuzz", "http://127.0.0.1:1/"]),
        2,
        "must be ws://",
    );
    one_line_error(
        &wsfuzz(&["fuzz", "ws://127.0.0.1:1", "--spec", "/no/such/spec.yaml"]),
        2,
        "/no/such/spec.yaml: cannot read",
    );
    one_line_error(
        &wsfuzz(&["fuzz", "ws://127.0.0.1:1", "--timeout", "0"]),
        2,
        "--timeout must be a positive number",
    );
    one_line_error(
        &wsfuzz(&["fuzz", "ws://127.0.0.1:1/nope", "--spec", &spec_path()]),
        2,
        "matches no channel",
    );
    let broken = temp("broken").join("broken.yaml");
    std::fs::File::create(&broken)
        .unwrap()
        .write_all(b"asyncapi: 3.0.0\nchannels:\n  a:\n    address: /x/{id}\n")
        .unwrap();
    one_line_error(
        &wsfuzz(&[
            "fuzz",
            "ws://127.0.0.1:1",
            "--spec",
            &broken.display().to_string(),
        ]),
        2,
        "at /channels/a/address: `{id}` has no entry",
    );
    let bad_flag = wsfuzz(&["fuzz", "ws://127.0.0.1:1", "--cases", "many"]);
    assert_eq!(bad_flag.status.code(), Some(2));
    let no_clients = wsfuzz(&["fuzz", "ws://127.0.0.1:1", "--clients", "0"]);
    assert_eq!(no_clients.status.code(), Some(2));
    one_line_error(
        &wsfuzz(&["fuzz", "ws://127.0.0.1:{port}"]),
        2,
        "{port} in the URL needs --spawn",
    );
    one_line_error(
        &wsfuzz(&["fuzz", "ws://127.0.0.1:1", "--spawn", " "]),
        2,
        "--spawn needs a command",
    );
    one_line_error(
        &wsfuzz(&["connect", "--type", "nonsense", "--port", "1"]),
        2,
        "no such channel",
    );
}

#[test]
fn an_unreachable_target_exits_3() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    one_line_error(
        &wsfuzz(&["fuzz", &format!("ws://127.0.0.1:{port}")]),
        3,
        "cannot reach",
    );
}

#[test]
fn a_spawned_target_that_does_not_start_exits_3_with_its_last_words() {
    let output = wsfuzz(&[
        "fuzz",
        "ws://127.0.0.1:{port}",
        "--spawn",
        "echo 'loading config'; echo 'no such file: app.toml' >&2; exit 4",
    ]);
    one_line_error(
        &output,
        3,
        "exited with code 4 before accepting connections; it wrote: ",
    );
    // Its standard output and error are read side by side: both are quoted, in either order.
    let err = stderr(&output);
    assert!(
        err.contains("loading config") && err.contains("no such file: app.toml"),
        "{err}"
    );
}

#[test]
fn a_spawned_reference_server_passes_with_two_connections_at_once() {
    let serve = format!(
        "exec '{}' serve --port {{port}}",
        env!("CARGO_BIN_EXE_wsfuzz")
    );
    let output = wsfuzz(&[
        "fuzz",
        "ws://127.0.0.1:{port}",
        "--spec",
        &spec_path(),
        "--spawn",
        &serve,
        "--cases",
        "80",
        "--seed",
        "3",
        "--clients",
        "2",
    ]);
    let report = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{report}{}", stderr(&output));
    assert!(
        report.contains("80 cases in") && report.contains("no findings"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_servers_get_a_clear_error_not_a_hang() {
    // One answers the handshake with garbage, one accepts TCP and says nothing.
    let garbage = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let garbage_addr = garbage.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = garbage.accept().await {
            let _ = stream.write_all(b"\x00\xffnot http at all\r\n\r\n").await;
        }
    });
    let mute = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mute_addr = mute.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = mute.accept().await {
            held.push(stream);
        }
    });
    let output = wsfuzz_async(&["fuzz", &format!("ws://{garbage_addr}"), "--timeout", "0.5"]).await;
    one_line_error(&output, 3, "cannot reach");
    let output = wsfuzz_async(&["fuzz", &format!("ws://{mute_addr}"), "--timeout", "0.5"]).await;
    one_line_error(&output, 3, "no handshake answer within 500 ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_checks_the_prompt_managers_endpoints() {
    let server = wsfuzz::server::start(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let port = server.local_addr().port().to_string();
    let greeting = wsfuzz_async(&[
        "connect",
        "--type",
        "prompt",
        "--id",
        "greeting",
        "--port",
        &port,
        "--expect",
        "\"action\":\"initial\"",
    ])
    .await;
    assert_eq!(
        greeting.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&greeting.stdout)
    );

    let unknown = wsfuzz_async(&[
        "connect",
        "--type",
        "prompt",
        "--id",
        "nope",
        "--port",
        &port,
        "--expect",
        "initial",
        "--timeout",
        "0.5",
    ])
    .await;
    let shown = String::from_utf8_lossy(&unknown.stdout);
    assert_eq!(unknown.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("closed by the server: 4004 Prompt 'nope' not found"),
        "{shown}"
    );

    let echo = wsfuzz_async(&[
        "connect",
        "--type",
        "generic",
        "--path",
        "/api/ws/test",
        "--port",
        &port,
        "--send",
        "hello",
        "--expect",
        "\"counter\":1",
    ])
    .await;
    let shown = String::from_utf8_lossy(&echo.stdout);
    assert_eq!(echo.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("< WebSocket test connection successful") && shown.contains("> hello"),
        "{shown}"
    );

    // Lines piped in are sent one by one; the session ends after the replies.
    let url = format!("ws://127.0.0.1:{port}/ws/prompts/summary");
    let piped = blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wsfuzz"))
            .args(["connect", &url, "--timeout", "0.5"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"{\"action\":\"expand\",\"content\":\"[[summary]]\"}\nnot json\n")
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await;
    let shown = String::from_utf8_lossy(&piped.stdout);
    assert_eq!(piped.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("\"action\":\"expanded\"") && shown.contains("CIRCULAR DEPENDENCY"),
        "{shown}"
    );
    assert!(shown.contains("\"error\":\"invalid_json\""), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_finding_replays_and_is_reported_fixed_once_the_server_is() {
    let broken = format!("ws://{}", support::start(Flaw::SilentOnUnknownAction).await);
    let dir = temp("regressions");
    let run = |args: Vec<String>| {
        let dir = dir.clone();
        blocking(move || wsfuzz_in(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>()))
    };
    let words = |list: &[&str]| list.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    let found = run(words(&[
        "fuzz",
        &broken,
        "--spec",
        &spec_path(),
        "--layers",
        "messages",
        "--cases",
        "60",
        "--seed",
        "5",
        "--timeout",
        "0.3",
    ]))
    .await;
    assert_eq!(found.status.code(), Some(1), "{}", stderr(&found));
    let saved = dir.join("proptest-regressions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&saved)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "one finding: its saved case and its script");
    let file = files[0].clone();
    assert_eq!(files[1], file.with_extension("py"));
    let text = std::fs::read_to_string(&file).unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["check"], "bad_input_gets_error");
    assert_eq!(value["seed"], 5);
    assert!(value["case"]["steps"].is_array(), "{text}");
    let report = String::from_utf8_lossy(&found.stdout).into_owned();
    assert!(report.contains("Replay with:    wsfuzz replay"), "{report}");

    // Replayed alone against the same server, it still fails.
    let again = run(words(&[
        "replay",
        &saved.display().to_string(),
        "--timeout",
        "0.3",
    ]))
    .await;
    let report = String::from_utf8_lossy(&again.stdout).into_owned();
    assert_eq!(again.status.code(), Some(1), "{report}{}", stderr(&again));
    assert!(
        report.contains("saved cases: 1 replayed, 0 fixed, 1 still failing"),
        "{report}"
    );
    // It was minimal when saved: a replay does not shrink it again unless asked.
    assert!(
        report.contains("replayed as saved, not shrunk again"),
        "{report}"
    );

    // Against a server fixed since, it passes and is reported fixed, alone or before new cases.
    let fixed = format!("ws://{}", support::start(Flaw::None).await);
    let replay = run(words(&[
        "replay",
        &file.display().to_string(),
        &fixed,
        "--timeout",
        "0.3",
    ]))
    .await;
    let report = String::from_utf8_lossy(&replay.stdout).into_owned();
    assert_eq!(replay.status.code(), Some(0), "{report}{}", stderr(&replay));
    assert!(
        report.contains("1 replayed, 1 fixed, 0 still failing"),
        "{report}"
    );
    assert!(
        report.contains("fixed: ") && report.contains(&file.display().to_string()),
        "{report}"
    );
    let campaign = run(words(&[
        "fuzz",
        &fixed,
        "--spec",
        &spec_path(),
        "--layers",
        "messages",
        "--cases",
        "20",
        "--timeout",
        "0.3",
    ]))
    .await;
    let report = String::from_utf8_lossy(&campaign.stdout).into_owned();
    assert_eq!(campaign.status.code(), Some(0), "{report}");
    assert!(
        report.contains("20 cases in") && report.contains("1 replayed, 1 fixed"),
        "{report}"
    );

    // A file that is not a saved case is a one-line error.
    std::fs::write(saved.join("wsfuzz-broken.json"), "{\"check\": 1}").unwrap();
    one_line_error(
        &wsfuzz_in(&dir, &["replay", &saved.display().to_string()]),
        2,
        "not a saved wsfuzz case",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parts_of_a_campaign_merge_into_the_whole() {
    let url = format!("ws://{}", support::start(Flaw::SilentOnUnknownAction).await);
    let dir = temp("parts");
    let part = |partition: Option<&str>, name: &str| {
        let json = dir.join(name).display().to_string();
        let mut args: Vec<String> = [
            "fuzz",
            &url,
            "--spec",
            &spec_path(),
            "--layers",
            "messages",
            "--cases",
            "90",
            "--seed",
            "9",
            "--timeout",
            "0.3",
            "--no-regressions",
            "--json",
            &json,
        ]
        .iter()
        .map(|w| w.to_string())
        .collect();
        if let Some(partition) = partition {
            args.extend(["--partition".to_string(), partition.to_string()]);
        }
        blocking(move || wsfuzz(&args.iter().map(String::as_str).collect::<Vec<_>>()))
    };
    let whole = part(None, "whole.json").await;
    assert_eq!(whole.status.code(), Some(1), "{}", stderr(&whole));
    for m in 1..=3 {
        let output = part(Some(&format!("{m}/3")), &format!("part{m}.json")).await;
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "{}",
            stderr(&output)
        );
    }
    let parts: Vec<String> = (1..=3)
        .map(|m| dir.join(format!("part{m}.json")).display().to_string())
        .collect();
    let merged_path = dir.join("merged.json").display().to_string();
    let mut args = vec!["merge", "-o", &merged_path];
    args.extend(parts.iter().map(String::as_str));
    let merge = wsfuzz(&args);
    assert_eq!(
        merge.status.code(),
        Some(1),
        "findings make exit 1: {}",
        stderr(&merge)
    );
    let read = |path: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let merged = read(&merged_path);
    let whole = read(&dir.join("whole.json").display().to_string());
    assert_eq!(
        merged["stats"]["cases"], 90,
        "the parts play every case once"
    );
    assert_eq!(merged["parts"], 3);
    let checks = |report: &Value| -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["check"].as_str().unwrap().into(),
                    f["channel"].as_str().unwrap().into(),
                )
            })
            .collect();
        found.sort();
        found
    };
    assert_eq!(checks(&merged), checks(&whole));
    let occurrences = |report: &Value| -> u64 {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["occurrences"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(
        occurrences(&merged),
        occurrences(&whole),
        "every failing case counted once"
    );
    one_line_error(
        &wsfuzz(&["merge", "/no/such/report.json"]),
        2,
        "cannot read",
    );
    // A bad flag value is clap's error, with its hint line: exit 2 and the reason.
    let bad = wsfuzz(&["fuzz", "ws://127.0.0.1:1", "--partition", "4/3"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("is not a partition M/N"),
        "{}",
        stderr(&bad)
    );
}

/// A campaign of 60 message cases on `flaw`'s server writing every report, in `dir`.
async fn reported(flaw: Flaw, dir: &std::path::Path) -> Output {
    let url = format!("ws://{}", support::start(flaw).await);
    let path = |name: &str| dir.join(name).display().to_string();
    let (json, junit, html, events) = (
        path("report.json"),
        path("report.xml"),
        path("report.html"),
        path("events.jsonl"),
    );
    wsfuzz_async(&[
        "fuzz",
        &url,
        "--spec",
        &spec_path(),
        "--layers",
        "messages",
        "--cases",
        "60",
        "--seed",
        "2",
        "--timeout",
        "0.3",
        "--json",
        &json,
        "--junit",
        &junit,
        "--html",
        &html,
        "--events",
        &events,
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_show_the_findings_where_ci_and_people_read_them() {
    let dir = temp("reports");
    let output = reported(Flaw::LeaksTraceback, &dir).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));

    // The summary says what was tried and failed, and where everything is.
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let summary = &text[text.find("60 cases in").expect("a summary")..];
    // One finding for each kind of input that draws the traceback out.
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let n = report["findings"].as_array().unwrap().len();
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["check"] == "no_leaked_internals" && f["level"] == "error"),
        "{text}"
    );
    let errors = if n == 1 {
        "1 error".to_string()
    } else {
        format!("{n} errors")
    };
    let cases = if n == 1 { "1 new case" } else { "new cases" };
    for line in [
        &format!("seed 2: {errors}"),
        "  layers:  messages 60 (",
        "  checks:  25 on every case: 24 passed, 1 failed",
        "    FAILED no_leaked_internals  on `prompt`: finding",
        &format!("  saved:   {}", if n == 1 { "1 new case in" } else { "" }),
        cases,
        "  JSON:    ",
        "  JUnit:   ",
        "  HTML:    ",
    ] {
        assert!(summary.contains(line), "{line:?} not in:\n{summary}");
    }

    // Events: one a line, a case event for every case, the finding, and the end.
    let events: Vec<Value> = std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object a line"))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"started"));
    assert_eq!(kinds.last(), Some(&"finished"));
    assert_eq!(kinds.iter().filter(|k| **k == "case").count(), 60);
    let found: Vec<&Value> = events.iter().filter(|e| e["event"] == "finding").collect();
    assert_eq!(found.len(), n);
    assert!(found
        .iter()
        .any(|f| f["finding"]["case"] == report["findings"][0]["case"]));
    assert_eq!(events.last().unwrap()["findings"], n);

    // The JUnit report validates against the schema, with the server's traceback in it.
    support::readers::assert_valid_junit(&dir.join("report.xml"));
    junit_has_one_failure(&dir.join("report.xml"), "no_leaked_internals");

    // The HTML report needs no network, and a browser shows the finding and its transcript.
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for remote in ["http://", "https://", "<link", "src="] {
        assert!(!page.contains(remote), "the page loads {remote}");
    }
    let dom = support::readers::browser_dom(&dir.join("report.html"));
    for shown in [
        &format!("{errors}: 60 cases"),
        "id=\"finding-1\"",
        &format!("Finding 1 of {n} (error): <code>no_leaked_internals</code>"),
        "<td class=\"failed\">failed: <a href=\"#finding-1\">finding 1</a>",
        "class=\"transcript\"",
        "← text",
    ] {
        assert!(dom.contains(shown), "{shown:?} not in the page:\n{dom}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_of_a_clean_campaign_say_so() {
    let dir = temp("clean-reports");
    let output = reported(Flaw::None, &dir).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        text.contains("checks:  25 on every case: 25 passed, 0 failed"),
        "{text}"
    );
    assert!(!text.contains("saved:"), "{text}");
    support::readers::assert_valid_junit(&dir.join("report.xml"));
    let dom = support::readers::browser_dom(&dir.join("report.html"));
    assert!(dom.contains("no findings: 60 cases"), "{dom}");
    assert!(!dom.contains("class=\"finding\""), "{dom}");
    assert_eq!(dom.matches("<td class=\"passed\">passed</td>").count(), 25);
}

/// Reads the JUnit report at `path`: a suite per channel, a case per check, and one failure.
fn junit_has_one_failure(path: &std::path::Path, check: &str) {
    use quick_xml::events::Event;
    let xml = std::fs::read_to_string(path).unwrap();
    // Well-formed all the way through, whatever bytes the server sent.
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut suites, mut cases, mut failed) = (Vec::new(), 0, Vec::new());
    let mut current = (String::new(), String::new());
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => {
                let attribute = |name: &[u8]| {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == name)
                        .map(|a| {
                            a.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                                .unwrap()
                                .into_owned()
                        })
                        .unwrap_or_default()
                };
                match e.name().as_ref() {
                    b"testsuite" => suites.push(attribute(b"name")),
                    b"testcase" => {
                        cases += 1;
                        current = (attribute(b"classname"), attribute(b"name"));
                    }
                    b"failure" => failed.push(current.clone()),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    assert_eq!(suites, ["wsfuzz prompt", "wsfuzz echo"]);
    // The checks of credentials run only with credentials to check.
    // Nor those of a target process without --spawn.
    let spawned = wsfuzz::checks::CHECKS
        .iter()
        .filter(|c| c.needs == wsfuzz::checks::Needs::Spawn)
        .count();
    assert_eq!(cases, 2 * (wsfuzz::checks::CHECKS.len() - 3 - spawned));
    assert_eq!(
        failed,
        [("wsfuzz.prompt".to_string(), check.to_string())],
        "{xml}"
    );
    assert!(
        xml.contains("Reproduce with:"),
        "the failure carries the finding"
    );
}

#[test]
#[should_panic(expected = "does not validate against the JUnit schema")]
fn the_junit_schema_refuses_what_dashboards_would_misread() {
    let path = temp("bad-junit").join("report.xml");
    std::fs::write(
        &path,
        "<testsuites><testsuite name=\"wsfuzz prompt\" tests=\"1\" time=\"1.2s\">\
         <testcase name=\"stays_responsive\"/></testsuite></testsuites>",
    )
    .unwrap();
    support::readers::assert_valid_junit(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wsfuzz_toml_holds_what_a_team_runs_every_time() {
    let url = format!("ws://{}", support::start(Flaw::None).await);
    let dir = temp("config");
    let config = format!(
        "# The campaign CI runs.\n[fuzz]\nurl = \"{url}\"\nspec = \"{}\"\ncases = 7\nlayers = [\"messages\"]\nseed = 5\ntimeout = 0.3\njson = \"report.json\"\n",
        spec_path()
    );
    std::fs::write(dir.join("wsfuzz.toml"), config).unwrap();
    let run = |args: &'static [&'static str]| {
        let dir = dir.clone();
        blocking(move || wsfuzz_in(&dir, args))
    };
    let output = run(&["fuzz"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        text.contains("7 cases in") && text.contains("seed 5: no findings"),
        "{text}"
    );
    assert!(text.contains("layers:  messages 7\n"), "{text}");
    assert!(dir.join("report.json").exists());

    // The command line wins over the file.
    let output = run(&["fuzz", "--cases", "3", "--seed", "11"]).await;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        text.contains("3 cases in") && text.contains("seed 11: no findings"),
        "{text}"
    );

    // A broken file is one line naming it and the place.
    std::fs::write(dir.join("wsfuzz.toml"), "[fuzz]\ncases = [1\n").unwrap();
    one_line_error(&run(&["fuzz"]).await, 2, "wsfuzz.toml: line 2");
    one_line_error(
        &run(&["fuzz", "ws://127.0.0.1:1", "--config", "missing.toml"]).await,
        2,
        "cannot read missing.toml",
    );
}
