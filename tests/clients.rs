//! Scenarios of several clients: a server that stops broadcasting after an abrupt disconnect, or broadcasts where it should not, is found with a shrunk scenario.

mod support;

use support::{campaign, settings, start, Flaw};
use wsfuzz::campaign::Report;
use wsfuzz::case::{Layer, Leaving, Step};

async fn scenarios_against(flaw: Flaw) -> Report {
    let addr = start(flaw).await;
    let mut settings = settings(3, 120);
    settings.layers = vec![Layer::Clients];
    campaign(addr, &settings).await
}

fn joins(steps: &[Step]) -> usize {
    steps
        .iter()
        .filter(|s| matches!(s, Step::Join { .. }))
        .count()
}

/// Not a test: the target process the tests below start (see `support::spawn`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a target process for the tests of this file, which start it themselves"]
async fn spawned_target() {
    support::spawn::serve_if_asked().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_that_stop_after_an_abrupt_disconnect_are_found() {
    // Once broken, the server stays broken: only a fresh server for every shrinking attempt
    // shows the disconnect that breaks it, so wsfuzz starts this one itself.
    let command = support::spawn::command_for(Flaw::BroadcastStopsAtDeadPeer);
    let report = support::spawn::spawned(&command, &[Layer::Clients], |s| s.seed = 3).await;
    assert_eq!(
        support::checks_of(&report),
        ["broadcasts_reach_peers"],
        "{}",
        wsfuzz::report::text(&report)
    );
    let finding = &report.findings[0];
    assert!(!finding.flaky);
    let steps = &finding.case.steps;
    // The smallest scenario: three clients on one prompt, the first vanishes, the second
    // saves, the third never hears of it.
    assert!(
        steps.iter().any(|s| matches!(
            s,
            Step::Leave {
                how: Leaving::Drop | Leaving::Reset,
                ..
            }
        )),
        "{}",
        finding.case
    );
    assert_eq!(joins(steps), 3, "{}", finding.case);
    assert_eq!(steps.len(), 5, "not minimal: {}", finding.case);
    assert!(
        finding.actual.starts_with("it got 0 of 1"),
        "{}",
        finding.actual
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_to_other_prompts_and_the_sender_are_stray() {
    let report = scenarios_against(Flaw::BroadcastEverywhere).await;
    assert_eq!(
        support::checks_of(&report),
        ["no_stray_broadcasts"],
        "{}",
        wsfuzz::report::text(&report)
    );
    let finding = &report.findings[0];
    assert!(!finding.flaky);
    // One client that saves and hears its own broadcast back is all it takes.
    let steps = &finding.case.steps;
    assert!(
        joins(steps) <= 2 && steps.len() <= 3,
        "not minimal: {}",
        finding.case
    );
    assert!(
        finding.actual.contains("the first extra one"),
        "{}",
        finding.actual
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_broadcasts_right_gives_nothing() {
    let report = scenarios_against(Flaw::None).await;
    support::assert_no_findings(&report);
    assert!(report
        .stats
        .layers
        .get(&Layer::Clients)
        .is_some_and(|n| *n > 30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saves_that_collide_are_found_with_several_connections_at_once() {
    let addr = start(Flaw::RaceOnConcurrentSave).await;
    let mut one_at_a_time = settings(5, 25);
    // Saves take 200 ms: a window wide enough that two saves of one group meet on every run.
    one_at_a_time.timing.timeout = std::time::Duration::from_secs(1);
    let report = campaign(addr, &one_at_a_time).await;
    assert!(
        report.findings.is_empty(),
        "one connection cannot race: {}",
        wsfuzz::report::text(&report)
    );
    one_at_a_time.clients = 3;
    let report = campaign(addr, &one_at_a_time).await;
    assert_eq!(
        support::checks_of(&report),
        ["no_internal_error"],
        "{}",
        wsfuzz::report::text(&report)
    );
    let finding = &report.findings[0];
    assert!(!finding.flaky);
    // The minimal interleaving: two connections, one save each.
    let case = &finding.case;
    assert_eq!(case.alongside.len(), 1, "{case}");
    for connection in [case, &case.alongside[0]] {
        let [Step::Send(payload)] = connection.steps.as_slice() else {
            panic!("not minimal: {case}")
        };
        let text = payload.text().unwrap_or_default();
        assert!(text.contains("update"), "{case}");
    }
    assert!(
        finding.transcript.iter().any(|e| e.what.starts_with("[2]")),
        "{:?}",
        finding.transcript
    );
    assert!(
        finding.by_hand.is_none(),
        "one connection by hand cannot race"
    );
}
