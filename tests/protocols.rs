//! The other bundled specs, each with a small server: a chat service (AsyncAPI 2.6) and JSON-RPC (3.0). A correct server gives nothing; a flawed one gives its flaw.

mod support;

use std::net::SocketAddr;
use std::path::Path;

use support::protocols::{chat, jsonrpc, ChatFlaw, RpcFlaw};
use wsfuzz::campaign::Report;
use wsfuzz::case::Layer;
use wsfuzz::spec::Spec;
use wsfuzz::target::Target;

async fn campaign(addr: SocketAddr, spec: &str, layers: &[Layer]) -> Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("specs")
        .join(spec);
    let spec = Spec::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let target = Target::resolve(&format!("ws://{addr}"), Some(&spec)).unwrap();
    let mut settings = support::settings(11, 200);
    settings.layers = layers.to_vec();
    support::run(&target, &settings).await
}

async fn chat_campaign(flaw: ChatFlaw) -> Report {
    campaign(
        chat(flaw).await,
        "chat.asyncapi.yaml",
        &[Layer::Messages, Layer::Clients],
    )
    .await
}

async fn rpc_campaign(flaw: RpcFlaw) -> Report {
    campaign(
        jsonrpc(flaw).await,
        "jsonrpc.asyncapi.yaml",
        &[Layer::Messages],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_chat_server_gives_nothing() {
    let report = chat_campaign(ChatFlaw::None).await;
    support::assert_no_findings(&report);
    assert!(
        report.stats.layers.contains_key(&Layer::Clients),
        "scenarios ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_server_that_takes_overlong_text_is_found_with_the_constraint() {
    let report = chat_campaign(ChatFlaw::TakesLongText).await;
    assert_eq!(
        support::checks_of(&report),
        ["bad_input_gets_error"],
        "{}",
        wsfuzz::report::text(&report)
    );
    let expected = &report.findings[0].expected;
    assert!(
        expected.contains("breaks only `/properties/text/maxLength`"),
        "{expected}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_server_that_echoes_to_the_sender_is_found() {
    let report = chat_campaign(ChatFlaw::EchoesToSender).await;
    assert_eq!(
        support::checks_of(&report),
        ["no_stray_broadcasts"],
        "{}",
        wsfuzz::report::text(&report)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_json_rpc_server_gives_nothing() {
    support::assert_no_findings(&rpc_campaign(RpcFlaw::None).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_rpc_server_that_dies_on_bad_params_is_found() {
    let report = rpc_campaign(RpcFlaw::CrashesOnBadParams).await;
    assert_eq!(
        support::checks_of(&report),
        ["no_abrupt_close"],
        "{}",
        wsfuzz::report::text(&report)
    );
}
