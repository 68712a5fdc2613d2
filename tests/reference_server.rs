//! The reference server passes every check, on several seeds and both channels.

mod support;

use support::{campaign, settings, start, Flaw};
use wsfuzz::server;

#[tokio::test]
async fn a_campaign_against_the_reference_server_finds_nothing() {
    let server = server::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    for seed in [1, 2, 3] {
        let report = campaign(server.local_addr(), &settings(seed, 400)).await;
        assert!(
            report.findings.is_empty(),
            "seed {seed}: {}",
            wsfuzz::report::text(&report)
        );
        assert_eq!(report.stats.cases, 400);
        assert!(report.stopped.is_none());
    }
}

#[tokio::test]
async fn a_campaign_against_the_correct_test_server_finds_nothing() {
    let addr = start(Flaw::None).await;
    let report = campaign(addr, &settings(5, 300)).await;
    assert!(
        report.findings.is_empty(),
        "{}",
        wsfuzz::report::text(&report)
    );
}
