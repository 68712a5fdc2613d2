//! Credentials: a server that lets in a client without its token, with a wrong one, or from a foreign site's page is found; one that checks them is not; and the secret appears nowhere wsfuzz writes.

mod support;

use std::process::Command;

use support::{Flaw, SITE, TOKEN};
use wsfuzz::campaign::Report;
use wsfuzz::case::Layer;
use wsfuzz::credentials::{Change, Credentials};
use wsfuzz::target::Target;

/// A campaign on the message and handshake layers, sending the token (and the site's origin).
async fn with_token(flaw: Flaw, origin: bool) -> Report {
    let addr = support::start(flaw).await;
    let mut target = Target::resolve(&format!("ws://{addr}"), Some(&support::spec())).unwrap();
    target.credentials = Credentials {
        headers: vec![("Authorization".into(), TOKEN.into())],
        query: Vec::new(),
        origin: origin.then(|| SITE.to_string()),
    };
    let mut settings = support::settings(5, 150);
    settings.layers = vec![Layer::Messages, Layer::Handshake];
    support::run(&target, &settings).await
}

/// The findings of the credential checks, one kind per check (each channel has its own).
/// The test server is strict about fuzzed handshakes in its own way (it drops malformed ones
/// unanswered), so findings of `handshake_refused_cleanly` are left aside here.
fn credential_findings(report: &Report) -> Vec<(&'static str, Option<Change>)> {
    let mut found: Vec<(&'static str, Option<Change>)> = report
        .findings
        .iter()
        .filter(|f| f.check.name != "handshake_refused_cleanly")
        .map(|f| (f.check.name, f.case.credentials))
        .collect();
    found.sort_by_key(|(check, _)| *check);
    found.dedup();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_checks_token_and_origin_gives_nothing() {
    let report = with_token(Flaw::ChecksToken, true).await;
    assert_eq!(
        credential_findings(&report),
        [],
        "{}",
        wsfuzz::report::text(&report)
    );
    for check in [
        "refuses_without_credentials",
        "refuses_wrong_credentials",
        "refuses_foreign_origin",
    ] {
        assert!(
            report.checks.iter().any(|c| c.name == check),
            "{check} was not run"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_lets_anyone_in_is_found() {
    let report = with_token(Flaw::IgnoresToken, false).await;
    assert_eq!(
        credential_findings(&report),
        [
            ("refuses_without_credentials", Some(Change::Without)),
            ("refuses_wrong_credentials", Some(Change::Wrong))
        ],
        "{}",
        wsfuzz::report::text(&report)
    );
    // Without an origin to defend, the origin check is not run at all.
    assert!(!report
        .checks
        .iter()
        .any(|c| c.name == "refuses_foreign_origin"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_compares_part_of_the_token_is_found() {
    let report = with_token(Flaw::ChecksTokenPrefix, false).await;
    assert_eq!(
        credential_findings(&report),
        [("refuses_wrong_credentials", Some(Change::Wrong))],
        "{}",
        wsfuzz::report::text(&report)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_the_origin_is_open_to_hijacking() {
    let report = with_token(Flaw::IgnoresOrigin, true).await;
    assert_eq!(
        credential_findings(&report),
        [("refuses_foreign_origin", Some(Change::ForeignOrigin))],
        "{}",
        wsfuzz::report::text(&report)
    );
    let finding = report
        .findings
        .iter()
        .find(|f| f.check.name == "refuses_foreign_origin")
        .unwrap();
    assert!(
        finding.actual.contains("cross-site WebSocket hijacking"),
        "{}",
        wsfuzz::report::text(&report)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_is_in_no_report_saved_case_script_or_log() {
    let addr = support::start(Flaw::IgnoresToken).await;
    let dir = std::env::temp_dir().join(format!("wsfuzz-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/specs/prompt-manager.asyncapi.yaml"
    );
    let header = format!("Authorization: {TOKEN}");
    let output = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let header = header.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_wsfuzz"))
                .args(["fuzz", &format!("ws://{addr}"), "--spec", spec])
                .args([
                    "--layers",
                    "messages,handshake",
                    "--cases",
                    "80",
                    "--seed",
                    "5",
                ])
                .args(["--timeout", "0.3", "--header", &header])
                .args([
                    "--json", "r.json", "--junit", "r.xml", "--html", "r.html", "--events",
                    "e.jsonl",
                ])
                .current_dir(&dir)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("refuses_without_credentials"), "{stdout}");
    // The server echoed the token in its greeting; the transcript shows where, not what.
    assert!(stdout.contains("Bearer ***"), "{stdout}");
    assert!(stdout.contains("--header 'Authorization: ***'"), "{stdout}");
    let secret = &TOKEN["Bearer ".len()..];
    let mut written = vec![
        ("stdout".to_string(), stdout),
        (
            "stderr".to_string(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ),
    ];
    let mut files = vec![dir.clone()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            written.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
    assert!(
        written.len() >= 7,
        "reports, a saved case and its script: {written:?}"
    );
    for (place, text) in &written {
        assert!(!text.contains(secret), "the secret is in {place}");
    }

    // The scripts take the credentials from the environment and change them as their case did.
    let script = |check: &str| {
        let saved = dir.join("proptest-regressions");
        std::fs::read_dir(&saved)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.extension().is_some_and(|e| e == "py") && p.display().to_string().contains(check)
            })
            .unwrap_or_else(|| panic!("no script for {check}"))
    };
    let run = |script: std::path::PathBuf, server: std::net::SocketAddr| {
        let output = Command::new("python3")
            .arg(script)
            .arg(format!("ws://{server}"))
            .env("WSFUZZ_HEADERS", format!("Authorization: {TOKEN}"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let checking = support::start(Flaw::ChecksToken).await;
    let prefix = support::start(Flaw::ChecksTokenPrefix).await;
    let without = script("refuses_without_credentials");
    let wrong = script("refuses_wrong_credentials");
    let (a, b, c, d) = tokio::task::spawn_blocking(move || {
        (
            run(without.clone(), addr),
            run(without, checking),
            run(wrong.clone(), prefix),
            run(wrong, checking),
        )
    })
    .await
    .unwrap();
    // `replay` takes the credentials too: against the server that checks them, both are fixed.
    let replayed = {
        let dir = dir.clone();
        let header = header.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_wsfuzz"))
                .args([
                    "replay",
                    "proptest-regressions",
                    &format!("ws://{checking}"),
                ])
                .args(["--timeout", "0.3", "--header", &header])
                .current_dir(&dir)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    let text = String::from_utf8_lossy(&replayed.stdout);
    for check in ["refuses_without_credentials", "refuses_wrong_credentials"] {
        assert!(
            text.lines()
                .any(|l| l.contains("fixed: ") && l.contains(check)),
            "{check} not fixed:\n{text}"
        );
    }
    assert!(a.contains("<- 'HTTP/1.1 101"), "{a}");
    assert!(b.contains("<- 'HTTP/1.1 401"), "{b}");
    assert!(c.contains("<- 'HTTP/1.1 101"), "{c}");
    assert!(d.contains("<- 'HTTP/1.1 401"), "{d}");
    let _ = std::fs::remove_dir_all(&dir);
}
