//! Scenarios of several clients on shared resources: joins, updates that others must hear of, abrupt leaves mid-broadcast.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{payloads, valid_payload};
use crate::case::{Case, Endpoint, Leaving, Payload, Step};
use crate::spec::Channel;
use crate::target::Route;

/// Most clients in one scenario.
const MAX_CLIENTS: usize = 4;
/// Most actions after the joins.
const MAX_ACTIONS: usize = 10;

/// What one client does next, before it is made consistent (no leaving twice).
#[derive(Clone, Debug)]
enum Action {
    Say(Payload),
    Leave(Leaving),
    Rejoin,
}

/// Scenarios on `route`'s channel, or `None` if the spec promises no broadcasts there (then
/// several clients have nothing to tell each other) or names no resource the clients could share.
pub fn scenarios(route: &Route) -> Option<BoxedStrategy<Case>> {
    let channel = route.channel.clone();
    let triggers = triggers(&channel)?;
    let resources = resources(route);
    if resources.is_empty() {
        return None;
    }
    let base = Endpoint {
        channel: channel.id.clone(),
        address: channel.address.clone(),
        params: BTreeMap::new(),
    };
    let message = prop_oneof![
        4 => triggers,
        1 => payloads(&channel),
    ];
    let action = prop_oneof![
        6 => message.prop_map(Action::Say),
        1 => Just(Action::Leave(Leaving::Drop)),
        1 => Just(Action::Leave(Leaving::Reset)),
        1 => Just(Action::Leave(Leaving::Close)),
        1 => Just(Action::Rejoin),
    ];
    let homes = proptest::collection::vec(0..resources.len(), 2..=MAX_CLIENTS);
    let actions = proptest::collection::vec((0..MAX_CLIENTS as u8, action), 1..=MAX_ACTIONS);
    Some(
        (homes, actions)
            .prop_map(move |(homes, actions)| {
                let mut steps: Vec<Step> = Vec::new();
                let mut present = vec![true; homes.len()];
                for (client, home) in homes.iter().enumerate() {
                    steps.push(Step::Join {
                        client: client as u8,
                        params: resources[*home].clone(),
                    });
                }
                for (client, action) in actions {
                    let index = usize::from(client) % homes.len();
                    let client = index as u8;
                    match (action, present[index]) {
                        (Action::Say(payload), true) => steps.push(Step::Say { client, payload }),
                        (Action::Leave(how), true) => {
                            present[index] = false;
                            steps.push(Step::Leave { client, how });
                        }
                        (Action::Rejoin, false) => {
                            present[index] = true;
                            steps.push(Step::Join {
                                client,
                                params: resources[homes[index]].clone(),
                            });
                        }
                        _ => {}
                    }
                }
                Case {
                    endpoint: Endpoint {
                        params: resources[homes[0]].clone(),
                        ..base.clone()
                    },
                    handshake: None,
                    steps,
                    alongside: Vec::new(),
                    before: Vec::new(),
                    credentials: None,
                }
            })
            .boxed(),
    )
}

/// Valid messages of the operations the spec says others hear about: the ones that make a
/// broadcast. `None` if the spec promises none on `channel`.
pub(super) fn triggers(channel: &Channel) -> Option<BoxedStrategy<Payload>> {
    let triggers: Vec<BoxedStrategy<Payload>> = channel
        .operations
        .iter()
        .filter(|op| channel.broadcasts.iter().any(|b| b.after == op.id))
        .flat_map(|op| op.messages.iter().map(valid_payload))
        .collect();
    (!triggers.is_empty()).then(|| proptest::strategy::Union::new(triggers).boxed())
}

/// The resources clients share: up to two known values of each parameter, so that some
/// clients meet on one resource and some sit on another.
fn resources(route: &Route) -> Vec<BTreeMap<String, String>> {
    let mut resources = vec![BTreeMap::new()];
    for param in &route.channel.params {
        let values: Vec<String> = match route.fixed.get(&param.name) {
            Some(value) => vec![value.clone()],
            None => param.known.iter().take(2).cloned().collect(),
        };
        if values.is_empty() {
            // No value known to be served: there is no resource for clients to share.
            return Vec::new();
        }
        resources = resources
            .into_iter()
            .flat_map(|r| {
                values.iter().map(move |v| {
                    let mut r = r.clone();
                    r.insert(param.name.clone(), v.clone());
                    r
                })
            })
            .collect();
    }
    resources
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;
    use crate::target::Target;
    use proptest::strategy::ValueTree;

    #[test]
    fn scenarios_join_first_and_mix_resources_and_leaves() {
        let spec = Spec::parse(crate::PROMPT_MANAGER_SPEC, "spec").unwrap();
        let target = Target::resolve("ws://127.0.0.1:1", Some(&spec)).unwrap();
        let prompt = target
            .routes
            .iter()
            .find(|r| r.channel.id == "prompt")
            .unwrap();
        let echo = target
            .routes
            .iter()
            .find(|r| r.channel.id == "echo")
            .unwrap();
        assert!(
            scenarios(echo).is_none(),
            "the echo channel broadcasts nothing"
        );
        let strategy = scenarios(prompt).unwrap();
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut shared, mut apart, mut abrupt) = (0, 0, 0);
        for _ in 0..200 {
            let case = strategy.new_tree(&mut runner).unwrap().current();
            let joins: Vec<&BTreeMap<String, String>> = case
                .steps
                .iter()
                .filter_map(|s| match s {
                    Step::Join { params, .. } => Some(params),
                    _ => None,
                })
                .collect();
            assert!(joins.len() >= 2, "{case}");
            assert!(
                matches!(case.steps[0], Step::Join { client: 0, .. }),
                "{case}"
            );
            if joins.iter().skip(1).any(|p| *p == joins[0]) {
                shared += 1;
            }
            if joins.iter().any(|p| *p != joins[0]) {
                apart += 1;
            }
            if case.steps.iter().any(|s| {
                matches!(
                    s,
                    Step::Leave {
                        how: Leaving::Drop | Leaving::Reset,
                        ..
                    }
                )
            }) {
                abrupt += 1;
            }
        }
        assert!(
            shared > 50 && apart > 50 && abrupt > 50,
            "{shared} {apart} {abrupt}"
        );
    }
}
