//! AsyncAPI 2.x documents recast in the shape of 3.0, so one reader serves both.
//!
//! A 2.x channel is keyed by its address and holds `publish` (what a client sends) and
//! `subscribe` (what it receives) operations, each with one message or a `oneOf` of them. The
//! recast keeps every original key in place and adds what 3.0 has: an `address`, the channel's
//! `messages` (references back to where each message is in the 2.x document, so errors name
//! its place there) and top-level `operations`; the reader takes a parameter's values from
//! its `schema` as 2.x has them. 2.x has no
//! replies; `x-wsfuzz-reply` on a `publish` operation names them, with a message or a `oneOf`.

use serde_json::{json, Map, Value};

use super::{pointer_segment, SpecError};

/// `root`, a 2.x document, in the shape the 3.0 reader reads.
pub(super) fn upgrade(mut root: Value, file: &str) -> Result<Value, SpecError> {
    let error = |place: &str, what: &str| SpecError {
        file: file.to_string(),
        place: place.to_string(),
        what: what.to_string(),
    };
    // Messages are looked up in the document as written while its channels are recast.
    let original = root.clone();
    let Some(Value::Object(channels)) = root.get_mut("channels") else {
        return Err(error("/channels", "the document has no channels"));
    };
    let mut operations = Map::new();
    for (address, channel) in channels.iter_mut() {
        let id = pointer_segment(address);
        let place = format!("/channels/{id}");
        let Value::Object(channel) = channel else {
            return Err(error(&place, "must be a mapping"));
        };
        channel.insert("address".into(), Value::String(address.clone()));
        let mut messages = Map::new();
        for (kind, action) in [("publish", "send"), ("subscribe", "receive")] {
            let Some(Value::Object(operation)) = channel.get(kind) else {
                continue;
            };
            let here = format!("{place}/{kind}");
            let operation_id = operation
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{kind} {address}"));
            let names = list_messages(
                operation.get("message"),
                &format!("{here}/message"),
                &operation_id,
                &mut messages,
            )
            .ok_or_else(|| {
                error(
                    &here,
                    "an operation needs a `message` (or `message: {oneOf: [...]}`)",
                )
            })?;
            // A received message with an `x-wsfuzz-on` of its own (the error envelope beside the
            // broadcasts, say) is an operation of its own, as in 3.0.
            let mut names = names;
            if action == "receive" {
                names.retain(|name| {
                    let Some(own) = own_role(&original, &messages[name.as_str()]) else {
                        return true;
                    };
                    let mut single = own;
                    single.insert("action".into(), json!("receive"));
                    single.insert(
                        "channel".into(),
                        json!({ "$ref": format!("#/channels/{id}") }),
                    );
                    single.insert("messages".into(), refs(&id, std::slice::from_ref(name)));
                    operations.insert(format!("{operation_id} {name}"), Value::Object(single));
                    false
                });
                if names.is_empty() {
                    continue;
                }
            }
            let mut recast = Map::new();
            recast.insert("action".into(), json!(action));
            recast.insert(
                "channel".into(),
                json!({ "$ref": format!("#/channels/{id}") }),
            );
            recast.insert("messages".into(), refs(&id, &names));
            if let Some(reply) = operation.get("x-wsfuzz-reply") {
                let names = list_messages(
                    reply.get("message"),
                    &format!("{here}/x-wsfuzz-reply/message"),
                    &format!("{operation_id} reply"),
                    &mut messages,
                )
                .ok_or_else(|| {
                    error(
                        &format!("{here}/x-wsfuzz-reply"),
                        "`x-wsfuzz-reply` needs a `message`",
                    )
                })?;
                recast.insert("reply".into(), json!({ "messages": refs(&id, &names) }));
            }
            for (key, value) in operation {
                if key.starts_with("x-wsfuzz-") && key != "x-wsfuzz-reply" {
                    recast.insert(key.clone(), value.clone());
                }
            }
            operations.insert(operation_id, Value::Object(recast));
        }
        channel.insert("messages".into(), Value::Object(messages));
    }
    if let Value::Object(map) = &mut root {
        map.insert("operations".into(), Value::Object(operations));
    }
    Ok(root)
}

/// The `x-wsfuzz-*` keys of a message (found through the local references from `reference`),
/// if it says its own role with `x-wsfuzz-on`.
fn own_role(root: &Value, reference: &Value) -> Option<Map<String, Value>> {
    let mut message = reference;
    for _ in 0..8 {
        match message.get("$ref").and_then(Value::as_str) {
            Some(pointer) => message = root.pointer(pointer.strip_prefix('#')?)?,
            None => break,
        }
    }
    message.get("x-wsfuzz-on")?;
    let keys = message
        .as_object()?
        .iter()
        .filter(|(k, _)| k.starts_with("x-wsfuzz-"));
    Some(keys.map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// The names of an operation's messages, each added to `messages` as a reference to its place.
fn list_messages(
    message: Option<&Value>,
    place: &str,
    operation_id: &str,
    messages: &mut Map<String, Value>,
) -> Option<Vec<String>> {
    let message = message?;
    let (items, base): (Vec<&Value>, String) = match message.get("oneOf") {
        Some(Value::Array(items)) => (items.iter().collect(), format!("{place}/oneOf")),
        _ => (vec![message], place.to_string()),
    };
    let mut names = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = if message.get("oneOf").is_some() {
            format!("{base}/{i}")
        } else {
            base.clone()
        };
        // Named as the document names it: its reference, `name`, `messageId`, else by position.
        let name = item
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.rsplit('/').next())
            .or_else(|| item.get("name").and_then(Value::as_str))
            .or_else(|| item.get("messageId").and_then(Value::as_str))
            .map(str::to_string)
            .unwrap_or_else(|| format!("{operation_id} {}", i + 1));
        messages.insert(name.clone(), json!({ "$ref": format!("#{at}") }));
        names.push(name);
    }
    Some(names)
}

fn refs(channel: &str, names: &[String]) -> Value {
    Value::Array(
        names
            .iter()
            .map(|n| json!({ "$ref": format!("#/channels/{channel}/messages/{}", pointer_segment(n)) }))
            .collect(),
    )
}
