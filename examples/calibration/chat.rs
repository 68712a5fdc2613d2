//! The chat rooms of `specs/chat.asyncapi.yaml` shared by the Rust calibration servers: what a message asks for, and what each room keeps.

use serde_json::{json, Value};

/// What a room keeps: its latest texts, and how many were said.
#[derive(Default)]
pub struct Kept {
    texts: Vec<String>,
    count: u64,
}

/// The reply to one text message, and the broadcast to the others.
pub fn handle(room: &mut Kept, text: &str) -> (Value, Option<Value>) {
    let error = |reason: &str| (json!({"type": "error", "reason": reason}), None);
    let Ok(message) = serde_json::from_str::<Value>(text) else {
        return error("not JSON");
    };
    let Some(fields) = message.as_object() else {
        return error("not a JSON object");
    };
    match fields.get("type").and_then(Value::as_str) {
        Some("say") => {
            let said = match fields.get("text").and_then(Value::as_str) {
                Some(said) if fields.len() == 2 && (1..=500).contains(&said.chars().count()) => {
                    said
                }
                _ => return error("say takes a text of 1 to 500 characters, and nothing else"),
            };
            room.count += 1;
            room.texts.push(said.to_string());
            let excess = room.texts.len().saturating_sub(50);
            room.texts.drain(..excess);
            (
                json!({"type": "sent", "id": room.count}),
                Some(json!({"type": "said", "text": said})),
            )
        }
        Some("history") => {
            let limit = match fields.get("limit") {
                None => Some(50),
                Some(limit) => limit.as_u64().or_else(|| {
                    limit
                        .as_f64()
                        .filter(|f| f.fract() == 0.0)
                        .map(|f| f as u64)
                }),
            };
            match limit {
                Some(limit @ 1..=50) if fields.keys().all(|k| k == "type" || k == "limit") => {
                    let from = room.texts.len().saturating_sub(limit as usize);
                    (
                        json!({"type": "recent", "messages": room.texts[from..]}),
                        None,
                    )
                }
                _ => error("history takes a limit from 1 to 50, and nothing else"),
            }
        }
        _ => error("unknown type"),
    }
}
