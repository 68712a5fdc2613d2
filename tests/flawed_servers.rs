//! Every check fires on a server with exactly that flaw, and no other check does, with a shrunk case.

mod support;

use serde_json::Value;
use support::{campaign, settings, start, Flaw};
use wsfuzz::campaign::{Finding, Report};
use wsfuzz::case::{Layer, Payload, Step};

/// Runs a campaign on a server with `flaw`, whose findings must all be of `check` (one for
/// each kind of input that shows the flaw), and returns the first.
async fn only_finding(flaw: Flaw, check: &str) -> Finding {
    let addr = start(flaw).await;
    let report: Report = campaign(addr, &settings(7, 200)).await;
    let mut checks = support::checks_of(&report);
    checks.dedup();
    assert_eq!(
        checks,
        [check],
        "{flaw:?} gave {}",
        wsfuzz::report::text(&report)
    );
    let finding = report.findings.into_iter().next().unwrap();
    assert!(
        !finding.flaky,
        "{flaw:?}: the failure must come back on a re-run"
    );
    assert!(
        finding.reproduce.contains("--seed 7 --case"),
        "{}",
        finding.reproduce
    );
    finding
}

fn only_step(finding: &Finding) -> &Payload {
    assert_eq!(finding.case.steps.len(), 1, "not minimal: {}", finding.case);
    let Step::Send(payload) = &finding.case.steps[0] else {
        panic!("expected a message, got {}", finding.case)
    };
    payload
}

fn json_of(payload: &Payload) -> Value {
    match payload {
        Payload::Json(value) => value.clone(),
        other => panic!("expected a JSON message, got {other}"),
    }
}

#[tokio::test]
async fn a_dropped_connection_on_invalid_json_is_an_abrupt_close() {
    let finding = only_finding(Flaw::DropOnInvalidJson, "no_abrupt_close").await;
    let payload = only_step(&finding);
    assert!(payload.len() <= 2, "not minimal: {payload}");
    assert!(
        serde_json::from_str::<Value>(&payload.text().unwrap()).is_err(),
        "{payload} should not be JSON"
    );
}

#[tokio::test]
async fn silence_on_an_unknown_action_is_a_missing_error() {
    let finding = only_finding(Flaw::SilentOnUnknownAction, "bad_input_gets_error").await;
    let value = json_of(only_step(&finding));
    assert_eq!(value.as_object().unwrap().len(), 1, "not minimal: {value}");
    let action = value["action"].as_str().unwrap();
    assert!(!["update", "update_metadata", "expand"].contains(&action));
    assert!(
        finding.actual.starts_with("nothing within"),
        "{}",
        finding.actual
    );
}

#[tokio::test]
async fn a_1011_close_is_an_internal_error() {
    minimal_1011(Flaw::Close1011OnWrongType).await;
}

#[tokio::test]
async fn a_slow_1011_close_is_shrunk_with_the_wait_it_needs() {
    // Re-runs wait briefly at first; a failure that takes longer than that to show is waited
    // for in full, and still shrunk to the one message.
    minimal_1011(Flaw::SlowClose1011OnWrongType).await;
}

/// The finding on a server with `flaw` is a 1011, shrunk to one message of at most two fields.
async fn minimal_1011(flaw: Flaw) {
    let finding = only_finding(flaw, "no_internal_error").await;
    let value = json_of(only_step(&finding));
    assert!(
        value.as_object().unwrap().len() <= 2,
        "not minimal: {value}"
    );
    assert!(finding.actual.contains("1011"), "{}", finding.actual);
}

#[tokio::test]
async fn a_panicking_handler_is_an_abrupt_close() {
    let finding = only_finding(Flaw::PanicOnMissingField, "no_abrupt_close").await;
    let value = json_of(only_step(&finding));
    assert_eq!(value.as_object().unwrap().len(), 1, "not minimal: {value}");
    assert!(
        ["update", "expand"].contains(&value["action"].as_str().unwrap()),
        "{value}"
    );
}

#[tokio::test]
async fn a_server_that_stops_accepting_is_unresponsive() {
    let finding = only_finding(Flaw::StallAfterMetadata, "stays_responsive").await;
    let value = json_of(only_step(&finding));
    assert_eq!(value, serde_json::json!({"action": "update_metadata"}));
}

#[tokio::test]
async fn replies_that_break_the_schema_are_found() {
    let finding = only_finding(Flaw::BadStatusSchema, "valid_request_gets_reply").await;
    let value = json_of(only_step(&finding));
    assert!(
        ["update", "update_metadata"].contains(&value["action"].as_str().unwrap()),
        "{value}"
    );
    assert!(
        finding.actual.contains("/success"),
        "the finding says which field: {}",
        finding.actual
    );
}

#[tokio::test]
async fn a_greeting_that_breaks_the_schema_is_found() {
    let finding = only_finding(Flaw::BadGreeting, "greets_on_connect").await;
    assert!(
        finding.case.steps.is_empty(),
        "not minimal: {}",
        finding.case
    );
    assert!(finding.actual.contains("tags"), "{}", finding.actual);
}

#[tokio::test]
async fn accepting_an_unknown_prompt_is_found() {
    let finding = only_finding(Flaw::AcceptsUnknownPrompt, "refuses_unknown_endpoint").await;
    assert!(
        finding.case.steps.is_empty(),
        "not minimal: {}",
        finding.case
    );
    let id = &finding.case.endpoint.params["prompt_id"];
    assert!(id.chars().count() <= 1, "the hostile id shrinks: {id:?}");
}

#[tokio::test]
async fn a_stack_trace_in_an_error_is_a_leak() {
    let finding = only_finding(Flaw::LeaksTraceback, "no_leaked_internals").await;
    assert!(only_step(&finding).len() <= 2);
    assert!(finding.actual.contains("Traceback"), "{}", finding.actual);
}

#[tokio::test]
async fn a_handshake_that_hangs_on_a_hostile_id_is_unresponsive() {
    let finding = only_finding(Flaw::HangsOnDotDot, "stays_responsive").await;
    assert!(
        finding.case.steps.is_empty(),
        "not minimal: {}",
        finding.case
    );
    assert_eq!(finding.case.endpoint.params["prompt_id"], "..");
    assert!(
        finding.actual.contains("got no answer"),
        "{}",
        finding.actual
    );
}

#[tokio::test]
async fn a_ping_flood_neither_hangs_wsfuzz_nor_fills_its_memory() {
    let addr = start(Flaw::PingFlood).await;
    let started = std::time::Instant::now();
    let report = campaign(addr, &settings(7, 10)).await;
    // Every message goes unanswered under the flood: that is the one finding, found in bounded time.
    let checks = support::checks_of(&report);
    assert!(
        checks.contains(&"valid_request_gets_reply") || checks.contains(&"bad_input_gets_error"),
        "{checks:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(120),
        "took {:?}",
        started.elapsed()
    );
    for finding in &report.findings {
        assert!(
            finding.transcript.len() < 50,
            "the log counts pings instead of listing them: {} events",
            finding.transcript.len()
        );
        assert!(
            finding
                .transcript
                .iter()
                .any(|e| e.what.contains("pings in all")),
            "{:?}",
            finding.transcript
        );
    }
}

#[tokio::test]
async fn a_target_that_dies_ends_the_campaign_with_a_report() {
    let addr = start(Flaw::DieAfterMetadata).await;
    let mut settings = settings(7, 200);
    settings.recover = std::time::Duration::from_millis(500);
    let report = campaign(addr, &settings).await;
    support::assert_stopped_answering(&report);
    assert!(report.stats.cases < 200);
}

/// A case whose connection is kept for the next makes no probe of its own: a server that
/// stops taking new connections, and goes on serving the ones it has, is found all the same
/// by the next fresh connection.
#[tokio::test]
async fn a_server_that_stops_taking_connections_behind_a_kept_one_is_found() {
    let addr = start(Flaw::DieAfterEchoes).await;
    let mut settings = settings(7, 300);
    settings.layers = vec![wsfuzz::case::Layer::Messages];
    settings.recover = std::time::Duration::from_millis(500);
    let report = campaign(addr, &settings).await;
    support::assert_stopped_answering(&report);
}

#[tokio::test]
async fn a_near_miss_the_server_takes_is_found_with_the_constraint_it_let_through() {
    let finding = only_finding(Flaw::TakesAnyTags, "bad_input_gets_error").await;
    let message = json_of(only_step(&finding));
    assert_eq!(message["action"], "update_metadata", "{message}");
    assert!(
        message["tags"]
            .as_array()
            .is_some_and(|tags| tags.iter().any(|t| !t.is_string())),
        "{message}"
    );
    assert!(
        finding.expected.contains(
            "a near-miss of `updateMetadata` that breaks only `/properties/tags/items/type`"
        ),
        "{}",
        finding.expected
    );
}

/// Cases of messages in a row share a connection; a failure that shows only after the
/// messages of cases before it on that connection is shrunk with them: the minimal case is
/// one connection with one message past the quota, however the cases were cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_earlier_cases_on_a_kept_connection_is_shrunk_with_them() {
    let addr = support::start(Flaw::QuotaPerConnection).await;
    let mut settings = support::settings(3, 150);
    settings.layers = vec![wsfuzz::case::Layer::Messages];
    // Dropping messages comes first in shrinking; simpler payloads are not the point here.
    settings.shrink.attempts = 60;
    let report = support::campaign(addr, &settings).await;
    let finding = report
        .findings
        .iter()
        .find(|f| !f.flaky)
        .unwrap_or_else(|| panic!("a finding\n{}", wsfuzz::report::text(&report)));
    let sends = finding
        .case
        .steps
        .iter()
        .filter(|s| matches!(s, Step::Send(_)))
        .count();
    assert_eq!(
        sends,
        support::QUOTA + 1,
        "{}",
        wsfuzz::report::text(&report)
    );
    // Each of the campaign's cases alone is within the quota: only a kept connection meets it.
    assert!(
        report.stats.inputs > report.stats.cases,
        "{:?}",
        report.stats
    );
}

#[tokio::test]
async fn one_flaw_seen_through_two_channels_is_shrunk_once() {
    // The server never answers a request without a key, whatever its path. The finding on
    // the second channel starts from the first one's minimal case, moved to its own endpoint.
    let addr = start(Flaw::SilentWithoutKey).await;
    let mut settings = settings(7, 40);
    settings.layers = vec![Layer::Handshake];
    let report = campaign(addr, &settings).await;
    let silent: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.actual.contains("no answer"))
        .collect();
    let channels: Vec<&str> = silent.iter().map(|f| f.channel.as_str()).collect();
    assert_eq!(
        channels.len(),
        2,
        "one silence on each channel: {}",
        wsfuzz::report::text(&report)
    );
    // In the order they were found (findings are sorted by level only).
    let (earlier, later) = (silent[0], silent[1]);
    assert_ne!(earlier.channel, later.channel);
    assert_eq!(earlier.shrink.from_channel, None);
    assert_eq!(
        later.shrink.from_channel.as_deref(),
        Some(earlier.channel.as_str())
    );
    assert_eq!(
        later.case.handshake, earlier.case.handshake,
        "{} against {}",
        later.case, earlier.case
    );
    assert!(!later.flaky && !earlier.flaky);
    let text = wsfuzz::report::text(&report);
    assert!(
        text.contains(&format!(
            "starting from the minimal case on `{}`",
            earlier.channel
        )),
        "{text}"
    );
}
