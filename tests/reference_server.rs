//! The reference server passes every check, on several seeds and both channels.

mod support;

use support::{campaign, settings, start, Flaw};
use wsfuzz::server;

#[tokio::test]
async fn a_campaign_against_the_reference_server_finds_nothing() {
    let server = server::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    for seed in [1, 2, 3] {
        let report = campaign(server.local_addr(), &settings(seed, 400)).await;
        support::assert_no_findings(&report);
        assert_eq!(report.stats.cases, 400);
        assert!(report.stopped.is_none());
    }
}

#[tokio::test]
async fn every_layer_against_the_reference_server_finds_nothing() {
    let server = server::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    for seed in [1, 2] {
        let mut settings = settings(seed, 300);
        settings.layers = Vec::new();
        settings.timing.timeout = std::time::Duration::from_secs(1);
        let report = campaign(server.local_addr(), &settings).await;
        support::assert_no_findings(&report);
        assert_eq!(report.stats.cases, 300);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_from_other_clients_are_not_taken_for_replies() {
    use futures_util::{SinkExt, StreamExt};
    let server = server::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    let addr = server.local_addr();
    // A second editor keeps saving the same prompt while the campaign runs on it.
    let url = format!("ws://{addr}/ws/prompts/greeting");
    let (mut editor, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let editing = tokio::spawn(async move {
        for n in 0..5_000 {
            let update = format!(r#"{{"action":"update","content":"edit {n}"}}"#);
            if editor.send(update.into()).await.is_err() || editor.next().await.is_none() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    });
    let spec = support::spec();
    let target = wsfuzz::target::Target::resolve(&url, Some(&spec)).unwrap();
    let report = wsfuzz::campaign::run(
        &target,
        &settings(4, 300),
        &mut |_: &wsfuzz::campaign::Event| {},
    )
    .await
    .unwrap();
    editing.abort();
    support::assert_no_findings(&report);
    assert_eq!(report.stats.cases, 300);
}

#[tokio::test]
async fn a_campaign_against_the_correct_test_server_finds_nothing() {
    let addr = start(Flaw::None).await;
    let report = campaign(addr, &settings(5, 300)).await;
    support::assert_no_findings(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_connections_at_once_on_every_layer_find_nothing() {
    let server = server::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    let mut settings = settings(4, 150);
    settings.layers = Vec::new();
    settings.clients = 4;
    settings.timing.timeout = std::time::Duration::from_secs(1);
    let report = campaign(server.local_addr(), &settings).await;
    support::assert_no_findings(&report);
    assert_eq!(report.stats.cases, 150);
    assert!(report
        .stats
        .layers
        .contains_key(&wsfuzz::case::Layer::Clients));
}

/// A plain AsyncAPI 2.6 document, as teams write them (no `x-wsfuzz-*`): the prompt the
/// server sends on connect is not taken for an answer, and its error message answers bad input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_asyncapi_document_gives_no_error_on_the_reference_server() {
    let server = server::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    let spec = wsfuzz::spec::Spec::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/specs/prompt-manager-plain-2.6.yaml"
    )))
    .unwrap();
    let target =
        wsfuzz::target::Target::resolve(&format!("ws://{}", server.local_addr()), Some(&spec))
            .unwrap();
    let mut settings = settings(6, 300);
    settings.layers = Vec::new();
    settings.timing.timeout = std::time::Duration::from_secs(1);
    let report = support::run(&target, &settings).await;
    let errors: Vec<&str> = report
        .at(wsfuzz::checks::Level::Error)
        .map(|f| f.check.name)
        .collect();
    assert!(errors.is_empty(), "{}", wsfuzz::report::text(&report));
    assert_eq!(report.stats.cases, 300);
}

/// The bundled spec with other example values for `prompt_id`.
fn spec_with_examples(examples: &str) -> wsfuzz::spec::Spec {
    let text = wsfuzz::PROMPT_MANAGER_SPEC.replace(
        "examples: [greeting, signature, summary, cycle_a, cycle_b]",
        &format!("examples: [{examples}]"),
    );
    assert_ne!(text, wsfuzz::PROMPT_MANAGER_SPEC);
    wsfuzz::spec::Spec::parse(&text, "prompt-manager.asyncapi.yaml").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_from_the_url_is_one_the_server_knows() {
    let server = server::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    // `signature` is on the server, though the spec's examples lack it.
    let url = format!("ws://{}/ws/prompts/signature", server.local_addr());
    let target =
        wsfuzz::target::Target::resolve(&url, Some(&spec_with_examples("greeting"))).unwrap();
    let report = support::run(&target, &settings(8, 150)).await;
    support::assert_no_findings(&report);
    assert_eq!(report.stats.cases, 150);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_values_the_server_lacks_are_left_out_with_a_note() {
    let server = server::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    let url = format!("ws://{}", server.local_addr());
    let spec = spec_with_examples("alpha, greeting");
    let target = wsfuzz::target::Target::resolve(&url, Some(&spec)).unwrap();
    let report = support::run(&target, &settings(9, 150)).await;
    support::assert_no_findings(&report);
    assert_eq!(report.stats.cases, 150);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("prompt_id=alpha is left out")),
        "{:?}",
        report.notes
    );
    // None of them there: the channel is left out, and the campaign goes on with the others.
    let spec = spec_with_examples("alpha, beta");
    let target = wsfuzz::target::Target::resolve(&url, Some(&spec)).unwrap();
    let report = support::run(&target, &settings(9, 60)).await;
    assert_eq!(report.channels, ["echo"], "{:?}", report.notes);
    assert!(report
        .notes
        .iter()
        .any(|n| n.starts_with("channel left out")));
    // A URL naming a value the server lacks cannot be fuzzed at all: a one-line error.
    let url = format!("ws://{}/ws/prompts/alpha", server.local_addr());
    let target = wsfuzz::target::Target::resolve(&url, Some(&spec)).unwrap();
    let ran = wsfuzz::campaign::run(
        &target,
        &settings(9, 10),
        &mut |_: &wsfuzz::campaign::Event| {},
    )
    .await;
    let Err(wsfuzz::campaign::Unreachable(why)) = ran else {
        panic!("an endpoint the server refuses is unreachable")
    };
    assert!(
        why.contains("/ws/prompts/alpha") && !why.contains('\n'),
        "{why}"
    );
}

/// The inputs a campaign counts are those the server was sent: messages after the server
/// ended the connection are not.
#[tokio::test]
async fn messages_after_a_close_are_not_counted_as_sent() {
    use wsfuzz::case::{Case, Payload, Step};
    use wsfuzz::transcript::Response;
    let server = server::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    let spec = support::spec();
    let target =
        wsfuzz::target::Target::resolve(&format!("ws://{}", server.local_addr()), Some(&spec))
            .unwrap();
    let route = &target.routes[0];
    let text = || {
        Step::Send(Payload::Text(
            "{\"action\": \"expand\", \"content\": \"x\"}".into(),
        ))
    };
    let case = Case {
        handshake: None,
        endpoint: route.probe_endpoint(),
        steps: vec![
            text(),
            Step::Send(Payload::Binary(vec![1, 2, 3])),
            text(),
            text(),
        ],
        alongside: Vec::new(),
        before: Vec::new(),
        credentials: None,
    };
    let transcript =
        wsfuzz::runner::run_case(&target, &route.channel, &case, Default::default()).await;
    // Answered, closed with 1003, then never sent.
    assert!(
        matches!(
            transcript.steps[1].response,
            Response::Closed {
                code: Some(1003),
                ..
            }
        ),
        "{:?}",
        transcript.steps
    );
    assert_eq!(transcript.steps[2].response, Response::Skipped);
    assert_eq!(transcript.sent, 2);
}
