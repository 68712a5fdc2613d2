//! A target wsfuzz starts itself: crashes, panics, CPU, memory and descriptor leaks are found with shrunk cases; the reference server gives nothing.

mod support;

use std::time::Duration;

use support::spawn::{command_for, spawned};
use support::Flaw;
use wsfuzz::campaign::{self, Finding, Report, Settings};
use wsfuzz::case::{Layer, Payload, Step};
use wsfuzz::target::Target;
use wsfuzz::watch::Spawn;

/// Not a test: the target process the tests below start (see `support::spawn`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a target process for the tests of this file, which start it themselves"]
async fn spawned_target() {
    support::spawn::serve_if_asked().await;
}

/// The finding for `check`, which must not be flaky.
fn finding<'r>(report: &'r Report, check: &str) -> &'r Finding {
    let found = report
        .findings
        .iter()
        .find(|f| f.check.name == check)
        .unwrap_or_else(|| panic!("no {check}: {}", wsfuzz::report::text(report)));
    assert!(!found.flaky, "{}", wsfuzz::report::text(report));
    found
}

fn only_message(finding: &Finding) -> String {
    match finding.case.steps.as_slice() {
        [Step::Send(payload)] => payload.text().unwrap_or_default().into_owned(),
        _ => panic!("not one message: {}", finding.case),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_exits_on_some_input_is_a_crash_with_its_last_words() {
    let report = spawned(
        &command_for(Flaw::AbortOnInclusion),
        &[Layer::Messages],
        |_| {},
    )
    .await;
    assert_eq!(
        support::checks_of(&report),
        ["target_keeps_running"],
        "{}",
        wsfuzz::report::text(&report)
    );
    let crash = finding(&report, "target_keeps_running");
    assert!(
        crash.actual.contains("signal 6 (SIGABRT)"),
        "{}",
        crash.actual
    );
    let message = only_message(crash);
    assert!(
        message.contains("expand") && message.contains("[["),
        "{message}"
    );
    assert!(message.len() < 40, "not minimal: {message}");
    assert!(
        crash
            .target_output
            .iter()
            .any(|l| l.contains("stack overflow")),
        "{:?}",
        crash.target_output
    );
    // Restarted after the crash and for every shrinking attempt, and the campaign went on.
    assert!(report.stats.target_starts > 3, "{:?}", report.stats);
    assert_eq!(report.stats.cases, 150);
    assert!(report.stopped.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_targets_output_is_a_finding() {
    let report = spawned(
        &command_for(Flaw::PanicOnMissingField),
        &[Layer::Messages],
        |_| {},
    )
    .await;
    let panic = finding(&report, "no_panic_in_output");
    assert!(panic.actual.contains("panicked at"), "{}", panic.actual);
    let message = only_message(panic);
    assert!(!message.contains("content"), "{message}");
    assert!(
        panic
            .target_output
            .iter()
            .any(|l| l.contains("content is missing")),
        "{:?}",
        panic.target_output
    );
    // The dropped connection is the panic's other face (once for each kind of input that
    // reaches it); nothing else is wrong.
    let mut checks = support::checks_of(&report);
    checks.sort();
    checks.dedup();
    assert_eq!(checks, ["no_abrupt_close", "no_panic_in_output"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_kept_for_every_message_is_a_leak() {
    let report = spawned(
        &command_for(Flaw::LeakPerMessage),
        &[Layer::Messages],
        |s| {
            s.limits.memory_growth = 24 << 20;
            // The test server is a debug build: a message at the size limit costs it half a
            // second of CPU, which is not what this test is about.
            s.limits.cpu = Duration::from_secs(5);
        },
    )
    .await;
    assert_eq!(
        support::checks_of(&report),
        ["memory_does_not_leak"],
        "{}",
        wsfuzz::report::text(&report)
    );
    let leak = finding(&report, "memory_does_not_leak");
    assert!(leak.actual.contains("replays left"), "{}", leak.actual);
    assert_eq!(leak.case.steps.len(), 1, "not minimal: {}", leak.case);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_costs_hundreds_of_megabytes_is_a_jump() {
    // Filling 320 MiB takes time and CPU: the reply is late and the case costly, but that is
    // not what this test is about.
    let report = spawned(
        &command_for(Flaw::AmplifyLargeMessage),
        &[Layer::Messages],
        |s| {
            s.timing.timeout = Duration::from_secs(3);
            s.limits.cpu = Duration::from_secs(5);
        },
    )
    .await;
    assert_eq!(
        support::checks_of(&report),
        ["memory_does_not_jump"],
        "{}",
        wsfuzz::report::text(&report)
    );
    let jump = finding(&report, "memory_does_not_jump");
    let message = only_message(jump);
    assert!(
        message.len() > 64 << 10 && message.len() < 200 << 10,
        "{}",
        message.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_that_burns_cpu_is_a_denial_of_service() {
    let tune = |s: &mut Settings| {
        s.cases = 200;
        s.timing.timeout = Duration::from_secs(3);
    };
    // The test server takes tungstenite's word on handshakes, which the handshake checks
    // fault; the CPU it burns must be the one difference the campaign sees.
    let plain = spawned(&command_for(Flaw::None), &[Layer::Handshake], tune).await;
    let report = spawned(
        &command_for(Flaw::BurnCpuOnLongHeader),
        &[Layer::Handshake],
        tune,
    )
    .await;
    let mut expected = support::checks_of(&plain);
    expected.push("cpu_per_case_bounded");
    expected.sort();
    let mut checks = support::checks_of(&report);
    checks.sort();
    assert_eq!(checks, expected, "{}", wsfuzz::report::text(&report));
    let burn = finding(&report, "cpu_per_case_bounded");
    let handshake = burn.case.handshake.as_ref().expect("a handshake case");
    let standard = wsfuzz::wire::Handshake::standard();
    let added: Vec<_> = handshake
        .headers
        .iter()
        .filter(|h| !standard.headers.contains(h))
        .collect();
    assert!(
        matches!(added.as_slice(), [(_, value)] if value.len() > 1024),
        "not minimal: {}",
        burn.case
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_never_closed_are_a_descriptor_leak() {
    let report = spawned(
        &command_for(Flaw::KeepAbandonedConnections),
        &[Layer::Disconnect],
        |s| {
            s.cases = 200;
            // About one case in ten ends abruptly on a prompt: a low bar finds it in 200 cases.
            s.limits.fd_growth = 8;
        },
    )
    .await;
    assert_eq!(
        support::checks_of(&report),
        ["descriptors_come_back"],
        "{}",
        wsfuzz::report::text(&report)
    );
    let leak = finding(&report, "descriptors_come_back");
    assert!(
        matches!(leak.case.steps.last(), Some(Step::Disconnect(_))),
        "{}",
        leak.case
    );
    assert!(leak.case.steps.len() <= 2, "not minimal: {}", leak.case);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_server_started_by_wsfuzz_gives_nothing() {
    let command = format!(
        "exec '{}' serve --port {{port}}",
        env!("CARGO_BIN_EXE_wsfuzz")
    );
    let report = spawned(&command, &Layer::ALL, |s| {
        s.cases = 400;
        s.timing.timeout = Duration::from_secs(1);
    })
    .await;
    support::assert_no_findings(&report);
    assert_eq!(report.stats.cases, 400);
    assert_eq!(report.stats.target_starts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_never_listens_is_a_clear_error() {
    let target = Target::resolve("ws://127.0.0.1:9", None).unwrap();
    let mut settings = support::settings(1, 10);
    settings.spawn = Some(Spawn {
        command: "echo 'no such config file' >&2; exit 2".into(),
        address: target.authority(),
        startup: Duration::from_secs(5),
    });
    let mut quiet = |_: &campaign::Event| {};
    let error = campaign::run(&target, &settings, &mut quiet)
        .await
        .expect_err("no campaign without a target");
    assert!(error.0.contains("exited with code 2"), "{}", error.0);
    assert!(error.0.contains("no such config file"), "{}", error.0);
}

#[test]
fn only_messages_of_a_payload_are_compared() {
    // `only_message` reads a payload's text; binary payloads have none.
    assert_eq!(Payload::Binary(vec![1]).text(), None);
}

/// A write the target takes and that breaks its prompt for every later connection: the
/// connections after it fail from their first step, and the minimal case, played on a fresh
/// target after the cases before it, shows the write that broke the prompt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_breaks_its_resource_is_shrunk_with_the_cases_before_it() {
    let report = spawned(
        &command_for(Flaw::BreaksOnNumberContent),
        &[Layer::Messages],
        |settings| settings.cases = 300,
    )
    .await;
    let text = wsfuzz::report::text(&report);
    let breaks = |payload: &Payload| match payload {
        Payload::Json(value) => value["action"] == "update" && value["content"].is_number(),
        _ => false,
    };
    let later = report
        .findings
        .iter()
        .find(|f| {
            f.case.before.iter().any(|earlier| {
                earlier
                    .steps
                    .iter()
                    .any(|s| matches!(s, Step::Send(p) if breaks(p)))
            })
        })
        .unwrap_or_else(|| panic!("no later connection's finding shows the write: {text}"));
    assert!(!later.flaky, "{text}");
}
