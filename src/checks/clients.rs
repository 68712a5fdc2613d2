//! Checks on scenarios of several clients: each gets the broadcasts the spec owes it, and none it is not owed.

use super::{failure, server_down, Failure, Observed};
use crate::spec::parse_json;
use crate::transcript::ClientRecord;

fn who(record: &ClientRecord) -> String {
    let values: Vec<String> = record
        .params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if values.is_empty() {
        format!("client {}", record.client)
    } else {
        format!("client {} ({})", record.client, values.join(" "))
    }
}

/// The broadcasts the spec describes.
fn broadcast_messages<'o>(o: &'o Observed) -> Vec<&'o crate::spec::Message> {
    o.channel
        .broadcasts
        .iter()
        .flat_map(|b| &b.messages)
        .collect()
}

/// How many of the messages a client received are broadcasts the spec describes.
fn conforming(o: &Observed, record: &ClientRecord) -> usize {
    let messages = broadcast_messages(o);
    record
        .received
        .iter()
        .filter(|text| {
            let parsed = parse_json(text);
            messages
                .iter()
                .any(|m| m.matches_text(text, parsed.as_ref()))
        })
        .count()
}

pub(super) fn broadcasts_reach_peers(o: &Observed) -> Option<Failure> {
    if server_down(o) {
        return None;
    }
    o.transcript
        .clients
        .iter()
        .filter(|r| r.present && !r.owed.is_empty())
        .find_map(|record| {
            let got = conforming(o, record);
            if got >= record.owed.len() {
                return None;
            }
            // Broadcasts that came but break their schema came all the same: the flaw is the
            // schema's, and the report names it.
            if record.received.len() >= record.owed.len() {
                let messages = broadcast_messages(o);
                let broken = record.received.iter().find_map(|text| {
                    let parsed = parse_json(text);
                    let first = messages.first()?;
                    (!messages
                        .iter()
                        .any(|m| m.matches_text(text, parsed.as_ref())))
                    .then(|| {
                        format!(
                            "{}, which {}",
                            crate::case::abbreviate(text),
                            first.mismatch(text, parsed.as_ref())
                        )
                    })
                })?;
                return failure(
                    &super::BROADCASTS_REACH_PEERS,
                    record.owed.last().map(|owed| owed.step),
                    format!(
                        "{} gets broadcasts ({}) that conform to the spec",
                        who(record),
                        record.owed[0].messages.join(" or ")
                    ),
                    format!("it got {}", broken),
                );
            }
            let after: Vec<String> = record
                .owed
                .iter()
                .map(|owed| format!("step {} (client {})", owed.step, owed.from))
                .collect();
            let names = record.owed[0].messages.join(" or ");
            let received = match record.received.last() {
                Some(last) => format!(
                    "; the last message it got: {}",
                    crate::case::abbreviate(last)
                ),
                None => String::new(),
            };
            failure(
                &super::BROADCASTS_REACH_PEERS,
                record.owed.last().map(|owed| owed.step),
                format!(
                    "{} gets a broadcast ({names}) after each of: {}",
                    who(record),
                    after.join(", ")
                ),
                format!(
                    "it got {got} of {} such broadcasts{received}",
                    record.owed.len()
                ),
            )
        })
}

pub(super) fn no_stray_broadcasts(o: &Observed) -> Option<Failure> {
    // Connections played alongside (`--clients`) may cause broadcasts of their own, which the
    // model of this scenario cannot tell from strays.
    if server_down(o) || !o.case.alongside.is_empty() {
        return None;
    }
    o.transcript.clients.iter().find_map(|record| {
        let allowed = record.owed.len() + record.tolerated;
        let stray = record.received.get(allowed)?;
        failure(
            &super::NO_STRAY_BROADCASTS,
            None,
            format!(
                "{} gets {} pushed message{} (the broadcasts owed to its own resource)",
                who(record),
                record.owed.len(),
                if record.owed.len() == 1 { "" } else { "s" }
            ),
            format!(
                "it got {}; the first extra one: {}",
                record.received.len(),
                crate::case::abbreviate(stray)
            ),
        )
    })
}
