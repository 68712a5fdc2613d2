//! Checks of the data a server keeps: a write it refused changes nothing, and a write it took is what a fresh connection sees.
//!
//! A write is a message whose operation the spec has others hear about (a broadcast follows
//! it); it succeeded when its reply meets the broadcast's condition (`x-wsfuzz-when-reply`).
//! What a resource holds is read from the greeting a connection to it gets, before the case
//! (the case's own connection) and after it (a fresh connection to the same endpoint).

use serde_json::{Map, Value};

use super::{failure, server_down, Failure, Observed};
use crate::case::{Payload, Step};
use crate::spec::{parse_json, Channel, Expectation};
use crate::transcript::Response;

/// What became of one write the case sent.
enum Outcome {
    Took(Map<String, Value>),
    Refused,
    /// No reply to tell: the checks say nothing of the case.
    Unknown,
}

/// The fields of a resource that writes set: the properties of the write messages that are
/// not fixed (an `action` const says which message it is, not what it holds).
fn written_fields(channel: &Channel) -> Vec<String> {
    let mut fields = Vec::new();
    for op in channel
        .operations
        .iter()
        .filter(|op| writes(channel, &op.id))
    {
        for message in &op.messages {
            let Some(properties) = message.schema.get("properties").and_then(Value::as_object)
            else {
                continue;
            };
            for (name, schema) in properties {
                let fixed = schema.get("const").is_some()
                    || schema
                        .get("enum")
                        .and_then(Value::as_array)
                        .is_some_and(|e| e.len() == 1);
                if !fixed && !fields.contains(name) {
                    fields.push(name.clone());
                }
            }
        }
    }
    fields
}

fn writes(channel: &Channel, operation: &str) -> bool {
    channel.broadcasts.iter().any(|b| b.after == operation)
}

/// Whether a reply says a write was taken: it meets a broadcast's condition, or, where a
/// broadcast has none, is a reply of its write.
fn took_by_its_reply(channel: &Channel, text: &str) -> bool {
    let parsed = parse_json(text);
    channel.broadcasts.iter().any(|b| match &b.when {
        Some(condition) => condition.matches_text(text, parsed.as_ref()),
        None => channel
            .operations
            .iter()
            .filter(|op| op.id == b.after)
            .flat_map(|op| &op.replies)
            .any(|m| m.matches_text(text, parsed.as_ref())),
    })
}

/// The writes of the case, in order, with what became of each.
fn outcomes(o: &Observed) -> Vec<Outcome> {
    let channel = o.channel;
    let mut outcomes = Vec::new();
    for (i, record) in o.transcript.steps.iter().enumerate() {
        let operation = match record.expectation {
            Expectation::Reply { operation }
            | Expectation::Either {
                operation: Some(operation),
                ..
            } => operation,
            Expectation::Reject { .. } => {
                // Bad input to a resource must be refused, and is then judged as a refused
                // write. Bad input the server took (its reply says it did) is
                // `bad_input_gets_error`'s: what it did to the resource is nobody's to say.
                outcomes.push(match &record.response {
                    Response::Text { text } if took_by_its_reply(channel, text) => Outcome::Unknown,
                    Response::Text { .. } | Response::Closed { .. } => Outcome::Refused,
                    _ => Outcome::Unknown,
                });
                continue;
            }
            _ => continue,
        };
        let op = &channel.operations[operation];
        let Some(broadcast) = channel.broadcasts.iter().find(|b| b.after == op.id) else {
            continue;
        };
        let Response::Text { text } = &record.response else {
            outcomes.push(match record.response {
                Response::Closed { .. } => Outcome::Refused,
                _ => Outcome::Unknown,
            });
            continue;
        };
        let parsed = parse_json(text);
        let took = match &broadcast.when {
            Some(condition) => condition.matches_text(text, parsed.as_ref()),
            None => op
                .replies
                .iter()
                .any(|m| m.matches_text(text, parsed.as_ref())),
        };
        let sent = match o.case.steps.get(i) {
            Some(Step::Send(Payload::Json(Value::Object(fields)))) => Some(fields.clone()),
            Some(Step::Send(Payload::Text(text))) => match parse_json(text) {
                Some(Value::Object(fields)) => Some(fields),
                _ => None,
            },
            _ => None,
        };
        outcomes.push(match (took, sent) {
            (true, Some(fields)) => Outcome::Took(fields),
            (true, None) => Outcome::Unknown,
            (false, _) => Outcome::Refused,
        });
    }
    outcomes
}

/// The resource before the case and after it, as JSON objects, when both were read.
fn before_and_after<'o>(o: &'o Observed) -> Option<(Value, &'o str)> {
    if server_down(o) || !o.case.alongside.is_empty() || o.transcript.crowded {
        return None;
    }
    let Some(Response::Text { text }) = &o.transcript.greeting else {
        return None;
    };
    let before = parse_json(text).filter(Value::is_object)?;
    // A read back that got no greeting at all (silence, a drop, a refusal) shows the server
    // unresponsive or a resource gone, which the checks of later connections judge; only a
    // greeting tells what the resource holds.
    let Some(Response::Text { text: after }) = &o.transcript.revisit else {
        return None;
    };
    Some((before, after))
}

/// A fresh connection's greeting as an object, or why it is none.
fn read(after: &str) -> Result<Value, String> {
    parse_json(after).filter(Value::is_object).ok_or_else(|| {
        format!(
            "a fresh connection got {}, which is no object",
            crate::case::abbreviate(after)
        )
    })
}

/// What the resource should hold after the case: as it was, if the server took no write; else
/// each field the last write it took set, as that write set it. `None` where the server may
/// choose: a number or list in a form of its own, a field the last write left out (kept or
/// cleared, as the server sees fit).
fn expected(o: &Observed, before: &Value, outcomes: &[Outcome]) -> Vec<(String, Option<Value>)> {
    let last_took = outcomes.iter().rev().find_map(|w| match w {
        Outcome::Took(sent) => Some(sent),
        _ => None,
    });
    written_fields(o.channel)
        .into_iter()
        .map(|field| {
            let value = match last_took {
                None => before.get(&field).cloned(),
                Some(sent) => sent.get(&field).filter(|v| v.is_string()).cloned(),
            };
            (field, value)
        })
        .collect()
}

/// The failure of `check` if the resource after the case is not what the writes it took set;
/// judged by the check of the case's last write: refused, or taken.
fn judge_writes(o: &Observed, last_took: bool, check: &'static super::Check) -> Option<Failure> {
    let (before, after) = before_and_after(o)?;
    let outcomes = outcomes(o);
    let last = outcomes.last()?;
    let took_any = outcomes.iter().any(|w| matches!(w, Outcome::Took(_)));
    // A refused write after a taken one could be the one that broke it, or the taken one
    // could have been lost: neither check can tell, so neither judges.
    let judged = match last_took {
        true => matches!(last, Outcome::Took(_)),
        false => !took_any,
    };
    if !judged || outcomes.iter().any(|w| matches!(w, Outcome::Unknown)) {
        return None;
    }
    let expected_text = match last_took {
        true => "a fresh connection sees what the writes the server took set",
        false => {
            "after requests the server refused, a fresh connection gets the resource as it was"
        }
    };
    let after = match read(after) {
        Ok(after) => after,
        Err(why) => return failure(check, None, expected_text, why),
    };
    let wrong: Vec<String> = expected(o, &before, &outcomes)
        .into_iter()
        .filter_map(|(field, value)| {
            let value = value?;
            let now = after.get(&field);
            (now.is_some() && now != Some(&value)).then(|| {
                format!(
                    "`{field}` should be {} and is {}",
                    show(Some(&value)),
                    show(now)
                )
            })
        })
        .collect();
    if wrong.is_empty() {
        return None;
    }
    failure(check, None, expected_text, wrong.join("; "))
}

pub(super) fn refused_write_changes_nothing(o: &Observed) -> Option<Failure> {
    judge_writes(o, false, &super::REFUSED_WRITE_CHANGES_NOTHING)
}

pub(super) fn write_is_visible(o: &Observed) -> Option<Failure> {
    judge_writes(o, true, &super::WRITE_IS_VISIBLE)
}

fn show(value: Option<&Value>) -> String {
    value.map_or("missing".to_string(), |v| {
        crate::case::abbreviate(&v.to_string())
    })
}
