//! The data checks: a write the server refused changes nothing, and one it took is what a fresh connection sees.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use wsfuzz::campaign::Report;
use wsfuzz::case::Layer;
use wsfuzz::checks::{Selection, REFUSED_WRITE_CHANGES_NOTHING, WRITE_IS_VISIBLE};

#[derive(Clone, Copy, PartialEq)]
enum Keeper {
    Correct,
    /// Answers an `update` whose content is not a string with an error, and stores it anyway.
    StoresRefused,
    /// Answers every valid `update` with success, and keeps nothing.
    Forgets,
}

/// A prompt store that greets each connection with its prompt and takes `update`s.
async fn start(keeper: Keeper) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let prompts: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let prompts = prompts.clone();
            tokio::spawn(async move {
                let mut path = String::new();
                #[allow(clippy::result_large_err)]
                let route =
                    |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
                     response| {
                        path = request.uri().path().to_string();
                        Ok(response)
                    };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, route).await else {
                    return;
                };
                let id = path.rsplit('/').next().unwrap_or_default().to_string();
                let content = |prompts: &HashMap<String, Value>| {
                    prompts.get(&id).cloned().unwrap_or(json!("hello"))
                };
                let greeting = json!({"action": "initial", "content": content(&prompts.lock().unwrap()),
                    "description": null, "tags": [], "is_composite": false, "updated_at": null});
                let _ = ws.send(Message::text(greeting.to_string())).await;
                while let Some(Ok(Message::Text(text))) = ws.next().await {
                    let request: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let reply = match (request["action"].as_str(), &request["content"]) {
                        (Some("update"), Value::String(_)) => {
                            if keeper != Keeper::Forgets {
                                prompts
                                    .lock()
                                    .unwrap()
                                    .insert(id.clone(), request["content"].clone());
                            }
                            json!({"action": "update_status", "success": true, "timestamp": "2026-01-01T00:00:00"})
                        }
                        (Some("update"), content) if !content.is_null() => {
                            if keeper == Keeper::StoresRefused {
                                prompts
                                    .lock()
                                    .unwrap()
                                    .insert(id.clone(), json!(content.to_string()));
                            }
                            json!({"action": "error", "error": "invalid_field", "message": "content must be a string"})
                        }
                        _ => json!({"action": "error", "error": "invalid_json", "message": "no"}),
                    };
                    if ws.send(Message::text(reply.to_string())).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

async fn campaign(keeper: Keeper) -> Report {
    let addr = start(keeper).await;
    let mut settings = support::settings(3, 200);
    settings.layers = vec![Layer::Messages];
    settings.checks = Selection {
        only: vec![&REFUSED_WRITE_CHANGES_NOTHING, &WRITE_IS_VISIBLE],
        exclude: Vec::new(),
    };
    support::campaign(addr, &settings).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_keeps_what_it_took_and_nothing_else_passes() {
    let report = campaign(Keeper::Correct).await;
    assert!(
        report.findings.is_empty(),
        "{}",
        wsfuzz::report::text(&report)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_that_was_stored_is_found() {
    let report = campaign(Keeper::StoresRefused).await;
    let text = wsfuzz::report::text(&report);
    assert_eq!(
        support::checks_of(&report),
        ["refused_write_changes_nothing"],
        "{text}"
    );
    assert!(
        report.findings[0].actual.contains("`content` should be"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_was_lost_is_found() {
    let report = campaign(Keeper::Forgets).await;
    let text = wsfuzz::report::text(&report);
    assert_eq!(support::checks_of(&report), ["write_is_visible"], "{text}");
    assert!(
        report.findings[0].actual.contains("`content` should be"),
        "{text}"
    );
}
