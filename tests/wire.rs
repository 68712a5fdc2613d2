//! Every wire-level check fires on a server that breaks it, with a shrunk case, and stays silent on one that does not.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::raw::{start, WireFlaw};
use wsfuzz::campaign::{Event, Finding, Report};
use wsfuzz::case::{Layer, Step};
use wsfuzz::target::Target;

/// A campaign without a spec on the given layers, bounded in cases and time.
async fn campaign(addr: SocketAddr, layers: &[Layer], cases: u64) -> Report {
    let mut settings = support::settings(3, cases);
    settings.layers = layers.to_vec();
    settings.timing.timeout = Duration::from_millis(500);
    settings.recover = Duration::from_secs(2);
    let target = Target::resolve(&format!("ws://{addr}/"), None).expect("a valid target");
    support::run(&target, &settings).await
}

async fn only_finding(flaw: WireFlaw, layers: &[Layer], check: &str) -> Finding {
    found_in(flaw, layers, check, 150).await
}

/// The one finding of a campaign of `cases` cases on a server with `flaw`, which must be `check`.
async fn found_in(flaw: WireFlaw, layers: &[Layer], check: &str, cases: u64) -> Finding {
    let report = campaign(start(flaw).await, layers, cases).await;
    let checks = support::checks_of(&report);
    assert_eq!(
        checks,
        [check],
        "{flaw:?} gave {}",
        wsfuzz::report::text(&report)
    );
    report.findings.into_iter().next().unwrap()
}

fn frames(finding: &Finding) -> Vec<&wsfuzz::wire::Frame> {
    finding
        .case
        .steps
        .iter()
        .filter_map(|s| {
            if let Step::Frame(f) = s {
                Some(f)
            } else {
                None
            }
        })
        .collect()
}

#[tokio::test]
async fn a_correct_server_passes_every_wire_check() {
    let report = campaign(
        start(WireFlaw::None).await,
        &[Layer::Frames, Layer::Handshake, Layer::Disconnect],
        400,
    )
    .await;
    support::assert_no_findings(&report);
    assert_eq!(report.stats.cases, 400);
}

#[tokio::test]
async fn text_that_is_not_utf8_from_the_server_breaks_rfc6455() {
    let finding = only_finding(
        WireFlaw::EchoesBinaryAsText,
        &[Layer::Frames],
        "server_follows_rfc6455",
    )
    .await;
    assert!(finding.actual.contains("not UTF-8"), "{}", finding.actual);
    assert!(!finding.flaky);
}

#[tokio::test]
async fn taking_unmasked_frames_is_found() {
    let finding = only_finding(
        WireFlaw::AcceptsUnmasked,
        &[Layer::Frames],
        "bad_frames_fail_the_connection",
    )
    .await;
    let frames = frames(&finding);
    assert_eq!(frames.len(), 1, "not minimal: {}", finding.case);
    assert!(
        !frames[0].masked && frames[0].payload.is_empty(),
        "{}",
        finding.case
    );
}

#[tokio::test]
async fn one_rsv_bit_shrinks_to_that_one_frame() {
    let finding = only_finding(
        WireFlaw::AcceptsRsv,
        &[Layer::Frames],
        "bad_frames_fail_the_connection",
    )
    .await;
    let frames = frames(&finding);
    assert_eq!(finding.case.steps.len(), 1, "not minimal: {}", finding.case);
    assert_eq!(frames[0].rsv.count_ones(), 1, "{}", finding.case);
    assert!(
        frames[0].payload.is_empty() && frames[0].masked,
        "{}",
        finding.case
    );
}

#[tokio::test]
async fn a_server_that_dies_on_a_reserved_opcode_is_unresponsive() {
    let report = campaign(
        start(WireFlaw::DiesOnReservedOpcode).await,
        &[Layer::Frames],
        150,
    )
    .await;
    support::assert_stopped_answering(&report);
    let finding = &report.findings[0];
    assert!(
        frames(finding)
            .iter()
            .any(|f| !wsfuzz::wire::frame::known_opcode(f.opcode)),
        "{}",
        finding.case
    );
}

#[tokio::test]
async fn a_server_that_chokes_on_many_headers_is_found_with_the_smallest_count() {
    let finding = only_finding(
        WireFlaw::ChokesOnManyHeaders,
        &[Layer::Handshake],
        "handshake_refused_cleanly",
    )
    .await;
    let headers = finding
        .case
        .handshake
        .as_ref()
        .expect("a handshake case")
        .headers
        .len();
    // The server chokes past 200 headers in all, `Host` included: 200 listed here is the edge.
    assert!(
        (200..=240).contains(&headers),
        "shrunk to {headers} headers: {}",
        finding.case
    );
}

#[tokio::test]
async fn a_silence_shrunk_with_brief_waits_is_confirmed_with_the_whole_time_out() {
    // Shrinking waits briefly for each candidate: here, the handshakes of 151 to 200 headers,
    // which the server answers late but within the time-out, look silent to it. What it took
    // is confirmed with the whole time-out, so the case reported is one the server never
    // answers, shrunk or not as far as the budget went.
    let addr = start(WireFlaw::SlowThenChokesOnManyHeaders).await;
    let mut settings = support::settings(3, 150);
    settings.layers = vec![Layer::Handshake];
    settings.timing.timeout = Duration::from_millis(500);
    settings.shrink.time = Duration::from_secs(10);
    let target = Target::resolve(&format!("ws://{addr}/"), None).expect("a valid target");
    let report = support::run(&target, &settings).await;
    assert_eq!(
        support::checks_of(&report),
        ["handshake_refused_cleanly"],
        "{}",
        wsfuzz::report::text(&report)
    );
    let finding = &report.findings[0];
    let headers = finding.case.handshake.as_ref().expect("a handshake case");
    assert!(
        headers.headers.len() > 200 && finding.shrink.accepted > 0,
        "shrunk to {} headers ({:?}): {}",
        headers.headers.len(),
        finding.shrink,
        finding.case
    );
    assert!(
        finding.actual.contains("no answer within 500 ms"),
        "{}",
        finding.actual
    );
}

#[tokio::test]
async fn cases_taken_back_for_a_rerun_alone_are_played_again_and_judged_once() {
    // The server never answers a handshake without a key, and accepts a forbidden one at
    // once. A failure is shrunk with nothing else on the server, so the cases still waiting
    // out a silence then are taken back, and played again in their turn: none is lost, none
    // is judged twice, and both flaws are found.
    let addr = start(WireFlaw::SilentWithoutKey).await;
    let mut settings = support::settings(1, 80);
    settings.layers = vec![Layer::Handshake];
    settings.timing.timeout = Duration::from_millis(500);
    settings.jobs = 4;
    let target = Target::resolve(&format!("ws://{addr}/"), None).expect("a valid target");
    let mut played = Vec::new();
    let report = support::run_with(&target, &settings, &mut |event: &Event| {
        if let Event::Played { index, .. } = event {
            played.push(*index);
        }
    })
    .await;
    let text = wsfuzz::report::text(&report);
    assert_eq!(report.stats.cases, 80, "{text}");
    let mut once = played.clone();
    once.sort_unstable();
    once.dedup();
    assert_eq!((once.len(), played.len()), (80, 80), "{played:?}");
    assert_eq!(
        support::checks_of(&report),
        ["handshake_refused_cleanly"],
        "{text}"
    );
    let causes: Vec<&str> = report.findings.iter().map(|f| f.actual.as_str()).collect();
    assert!(
        causes.iter().any(|c| c.contains("accepted"))
            && causes.iter().any(|c| c.contains("no answer within 500 ms")),
        "{causes:?}"
    );
}

#[tokio::test]
async fn a_server_that_keeps_tcp_open_after_the_close_is_found() {
    // Every case that closes waits out the time-out here: a few dozen cases are plenty.
    let finding = found_in(
        WireFlaw::NeverClosesTcp,
        &[Layer::Frames],
        "closes_tcp_after_close",
        12,
    )
    .await;
    assert!(
        finding.case.steps.len() <= 1,
        "not minimal: {}",
        finding.case
    );
}

#[tokio::test]
async fn failing_valid_fragments_is_found() {
    let finding = only_finding(
        WireFlaw::RefusesFragments,
        &[Layer::Frames],
        "valid_frames_keep_the_connection",
    )
    .await;
    assert!(frames(&finding).iter().any(|f| !f.fin), "{}", finding.case);
    assert!(
        finding.case.steps.len() <= 2,
        "not minimal: {}",
        finding.case
    );
}

#[tokio::test]
async fn accepting_a_forbidden_handshake_is_found() {
    let finding = only_finding(
        WireFlaw::AcceptsAnyHandshake,
        &[Layer::Handshake],
        "handshake_refused_cleanly",
    )
    .await;
    assert!(finding.actual.contains("accepted"), "{}", finding.actual);
    let handshake = finding.case.handshake.as_ref().expect("a handshake case");
    assert!(handshake.must_refuse().is_some());
}

#[tokio::test]
async fn hurting_other_clients_on_an_abrupt_end_is_found() {
    let finding = only_finding(
        WireFlaw::DropsOthersOnAbruptEnd,
        &[Layer::Disconnect],
        "bystander_unaffected",
    )
    .await;
    assert!(
        finding.case.steps.len() <= 2,
        "not minimal: {}",
        finding.case
    );
}
