//! Case generators: proptest strategies for valid, malformed and adversarial messages and endpoints, drawn from a spec.

mod clients;
pub mod near_miss;
pub mod scale;
pub mod schema;
mod wire;

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Map, Value};

use crate::case::{Case, Endpoint, Layer, Payload, Step};
use crate::credentials::Change;
use crate::spec::{Channel, ContentType, Message};
use crate::target::Route;
use crate::wire::Handshake;

/// Most steps one generated case plays: runs of several messages find what only a sequence
/// shows, and share the cost of the fresh connection each case pays (its read back or its
/// probe). Longer runs leave fewer cases whose writes were all refused, which is what
/// `refused_write_changes_nothing` judges: at 12, a third fewer a case than at 8.
pub const MAX_STEPS: usize = 12;

/// Makes the cases of a campaign; case `n` of seed `s` is the same on every machine.
pub struct Generator {
    strategy: BoxedStrategy<Case>,
    /// The routes, for the scale cases, and the scale classes they offer on the layers drawn.
    routes: Vec<Route>,
    scales: Vec<scale::Scale>,
    /// Connecting to the first route and sending nothing, should every draw be rejected.
    fallback: Case,
}

/// Draws tried for one case before it falls back to a plain connection.
const DRAWS: u64 = 64;

impl Generator {
    /// Cases for `routes` on the given layers (all of them if none are given).
    pub fn new(routes: &[Route], layers: &[Layer]) -> Generator {
        Generator::checking(routes, layers, &[])
    }

    /// As `new`, with handshakes that make these changes to the credentials among the
    /// handshake cases, to see the server refuse them.
    pub fn checking(routes: &[Route], layers: &[Layer], changes: &[Change]) -> Generator {
        let layers = if layers.is_empty() {
            &Layer::ALL[..]
        } else {
            layers
        };
        let per_route: Vec<_> = routes
            .iter()
            .map(|route| route_cases(route, layers, changes))
            .collect();
        let fallback = Case {
            handshake: None,
            endpoint: routes[0].probe_endpoint(),
            steps: Vec::new(),
            alongside: Vec::new(),
            before: Vec::new(),
            credentials: None,
        };
        Generator {
            strategy: proptest::strategy::Union::new(per_route).boxed(),
            routes: routes.to_vec(),
            scales: scale::classes(routes, layers),
            fallback,
        }
    }

    /// The proptest strategy behind the cases, for property tests of one's own.
    pub fn strategy(&self) -> BoxedStrategy<Case> {
        self.strategy.clone()
    }

    /// The scale classes this campaign reaches (see [`scale::Scale`]).
    pub fn scales(&self) -> &[scale::Scale] {
        &self.scales
    }

    /// Case `index` of the campaign with `seed`; from [`scale::FIRST`] on, a scale case.
    pub fn case(&self, seed: u64, index: u64) -> Case {
        let strategy = match scale::of_index(index) {
            Some((class, turn)) => match scale::case(class, turn, &self.routes) {
                Some(strategy) => strategy,
                None => return self.fallback.clone(),
            },
            None => self.strategy.clone(),
        };
        // A filter can reject a whole draw in rare corners; the next sub-seed is just as deterministic.
        (0..DRAWS)
            .find_map(|attempt| {
                let mut runner =
                    TestRunner::new_with_rng(Config::default(), rng_for(seed, index, attempt));
                strategy
                    .new_tree(&mut runner)
                    .ok()
                    .map(|tree| tree.current())
            })
            .unwrap_or_else(|| self.fallback.clone())
    }
}

/// A ChaCha generator keyed by seed, case number and attempt, through splitmix64.
fn rng_for(seed: u64, index: u64, attempt: u64) -> TestRng {
    let mut state = seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ attempt.rotate_left(32);
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

fn route_cases(route: &Route, layers: &[Layer], changes: &[Change]) -> BoxedStrategy<Case> {
    let channel = &route.channel;
    let known = route.probe_endpoint();
    let on_known = move |handshake: Option<Handshake>, steps: Vec<Step>| Case {
        endpoint: known.clone(),
        handshake,
        steps,
        alongside: Vec::new(),
        before: Vec::new(),
        credentials: None,
    };
    let mut options: Vec<(u32, BoxedStrategy<Case>)> = Vec::new();
    for layer in layers {
        let on_known = on_known.clone();
        let (weight, cases) = match layer {
            Layer::Messages => (4, message_cases(route)),
            Layer::Frames => (
                3,
                wire::frame_steps(channel.max_message_bytes, accepted_frames(channel))
                    .prop_map(move |steps| on_known(None, steps))
                    .boxed(),
            ),
            Layer::Handshake => {
                let fuzzed = wire::handshakes().prop_map(move |h| on_known(Some(h), Vec::new()));
                if changes.is_empty() {
                    (2, fuzzed.boxed())
                } else {
                    let endpoint = route.probe_endpoint();
                    let changed =
                        proptest::sample::select(changes.to_vec()).prop_map(move |c| Case {
                            endpoint: endpoint.clone(),
                            handshake: None,
                            steps: Vec::new(),
                            alongside: Vec::new(),
                            before: Vec::new(),
                            credentials: Some(c),
                        });
                    (2, prop_oneof![4 => fuzzed, 1 => changed].boxed())
                }
            }
            Layer::Clients => match clients::scenarios(route) {
                Some(scenarios) => (2, scenarios),
                None => continue,
            },
            Layer::Disconnect => {
                let cut = on_known.clone();
                let steps = wire::disconnect_steps(accepted_frames(channel))
                    .prop_map(move |steps| on_known(None, steps));
                let handshakes = wire::cut_handshakes().prop_map(move |h| cut(Some(h), Vec::new()));
                (2, prop_oneof![3 => steps, 1 => handshakes].boxed())
            }
        };
        options.push((weight, cases));
    }
    if options.is_empty() {
        // Only layers this channel has nothing for (scenarios without broadcasts): plain messages.
        return message_cases(route);
    }
    proptest::strategy::Union::new_weighted(options).boxed()
}

/// Message cases: an endpoint (sometimes an unknown or hostile one) and a few messages.
fn message_cases(route: &Route) -> BoxedStrategy<Case> {
    let channel = &route.channel;
    let base = Endpoint {
        channel: channel.id.clone(),
        address: channel.address.clone(),
        params: BTreeMap::new(),
    };
    // Any message may come last; before it, only those a conforming server answers and goes on
    // serving after, so that every message of the case is sent.
    let steps = (
        proptest::collection::vec(midway_payloads(channel), 0..MAX_STEPS),
        payloads(channel),
    )
        .prop_map(|(midway, last)| {
            midway
                .into_iter()
                .chain([last])
                .map(Step::Send)
                .collect::<Vec<_>>()
        });
    (endpoints(route), steps)
        .prop_map(move |(params, steps)| Case {
            handshake: None,
            endpoint: Endpoint {
                params,
                ..base.clone()
            },
            steps,
            alongside: Vec::new(),
            before: Vec::new(),
            credentials: None,
        })
        .boxed()
}

/// Parameter values: mostly ones the server knows, sometimes unknown or hostile ones.
fn endpoints(route: &Route) -> BoxedStrategy<BTreeMap<String, String>> {
    let mut per_param: Vec<BoxedStrategy<(String, String)>> = Vec::new();
    for param in &route.channel.params {
        let name = param.name.clone();
        let values = match route.fixed.get(&name) {
            Some(value) => Just(value.clone()).boxed(),
            None => {
                let known = proptest::sample::select(param.known.clone());
                let mut unknown = HOSTILE_VALUES
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>();
                unknown.extend(param.refused.iter().cloned());
                prop_oneof![
                    18 => known,
                    1 => proptest::sample::select(unknown),
                    1 => "wsfuzz-[a-z0-9]{1,12}",
                ]
                .boxed()
            }
        };
        per_param.push(values.prop_map(move |v| (name.clone(), v)).boxed());
    }
    per_param
        .prop_map(|pairs| pairs.into_iter().collect())
        .boxed()
}

/// Resource names that break lookups: prototype keys, traversal, injection, control bytes, length.
const HOSTILE_VALUES: &[&str] = &[
    "__proto__", "constructor", "toString", "..", ".", "../../etc/passwd", "%00", "\0", "' OR '1'='1",
    "<script>", "😀", "\u{202e}", " ", "null", "undefined", "-1", "",
    "wsfuzz-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];

/// Everything a client might send on `channel`: valid messages, near-misses and garbage.
pub fn payloads(channel: &Channel) -> BoxedStrategy<Payload> {
    weighted(kinds(channel))
}

/// What a client might send on `channel` with more to follow: `payloads` without the kinds
/// that may end the connection.
fn midway_payloads(channel: &Channel) -> BoxedStrategy<Payload> {
    weighted(kinds(channel).into_iter().filter(|k| !k.ends))
}

/// One of `kinds`, drawn by their weights.
fn weighted(kinds: impl IntoIterator<Item = Kind>) -> BoxedStrategy<Payload> {
    let options = kinds.into_iter().map(|k| (k.weight, k.payloads)).collect();
    proptest::strategy::Union::new_weighted(options).boxed()
}

/// A kind of message `payloads` draws from, with its weight.
struct Kind {
    weight: u32,
    payloads: BoxedStrategy<Payload>,
    /// Whether it may end the connection (binary where the spec has none, over the size limit:
    /// RFC 6455 lets a server close with 1003 or 1009) or costs the server a megabyte to read
    /// (at the limit). A case sends one only last: the messages after it would never be sent,
    /// and a run of cases on one connection would be cut short.
    ends: bool,
}

fn kinds(channel: &Channel) -> Vec<Kind> {
    let kind = |weight, payloads, ends| Kind {
        weight,
        payloads,
        ends,
    };
    let messages: Vec<&Message> = channel
        .operations
        .iter()
        .flat_map(|op| &op.messages)
        .collect();
    if messages.is_empty() {
        // Without a spec nothing is known to end the connection.
        return vec![kind(1, generic_payloads(), false)];
    }
    let valid: Vec<_> = messages.iter().map(|m| valid_payload(m)).collect();
    let valid = proptest::strategy::Union::new(valid).boxed();
    let takes_binary = messages
        .iter()
        .any(|m| m.content_type == ContentType::Binary);
    let mut kinds = vec![
        kind(16, valid.clone(), false),
        kind(2, binary(), !takes_binary),
    ];
    let json: Vec<&&Message> = messages
        .iter()
        .filter(|m| m.content_type == ContentType::Json)
        .collect();
    if !json.is_empty() {
        let objects = proptest::strategy::Union::new(json.iter().map(|m| valid_json(m))).boxed();
        kinds.extend([
            kind(4, invalid_json(valid.clone()), false),
            kind(2, non_object(objects.clone()), false),
            kind(2, deeply_nested(objects.clone()), false),
        ]);
        for message in &json {
            let near = near_misses(message).into_iter();
            kinds.extend(near.map(|(weight, payloads)| kind(weight, payloads, false)));
        }
    }
    // Past 16 MiB a message over the limit costs more to send than it can tell.
    if let Some(max) = channel.max_message_bytes.filter(|max| *max <= 16 << 20) {
        let padded = messages.iter().map(|m| at_the_limit(m, max));
        kinds.push(kind(
            1,
            proptest::strategy::Union::new(padded).boxed(),
            true,
        ));
    }
    kinds
}

/// Data frames carrying messages the spec accepts (see [`wire::Accepted`]).
fn accepted_frames(channel: &Channel) -> wire::Accepted {
    use crate::wire::frame::{Frame, BINARY, TEXT};
    let messages: Vec<BoxedStrategy<Payload>> = channel
        .operations
        .iter()
        .flat_map(|op| &op.messages)
        .map(valid_payload)
        .collect();
    if messages.is_empty() {
        return wire::any_data();
    }
    proptest::strategy::Union::new(messages)
        .prop_map(|payload| match payload {
            Payload::Binary(bytes) => Frame::new(BINARY, bytes),
            other => Frame::new(
                TEXT,
                other.text().unwrap_or_default().into_owned().into_bytes(),
            ),
        })
        .boxed()
}

/// Text, JSON and binary messages for an endpoint without a spec.
pub fn generic_payloads() -> BoxedStrategy<Payload> {
    let any_text = schema::text().prop_map(Payload::Text);
    let any_json = schema::any_json(3).prop_map(Payload::Json);
    prop_oneof![
        4 => any_text,
        4 => any_json,
        2 => binary(),
        1 => invalid_json(schema::any_json(2).prop_map(Payload::Json).boxed()),
        1 => (1usize..400).prop_map(|depth| Payload::Text(format!("{}{}", "[".repeat(depth), "]".repeat(depth)))),
    ]
    .boxed()
}

/// Values meant to be `message`: now and then one of its examples, else generated. No filter:
/// a rare miss (a value matching two `oneOf` branches, a pattern beyond the generator) is
/// classified for what it is when it is sent, and filtering could stall on a schema the
/// generator cannot meet.
fn valid_json(message: &Message) -> BoxedStrategy<Value> {
    let generated = schema::valid(&message.schema);
    if message.examples.is_empty() {
        return generated;
    }
    prop_oneof![1 => proptest::sample::select(message.examples.clone()), 3 => generated].boxed()
}

pub(crate) fn valid_payload(message: &Message) -> BoxedStrategy<Payload> {
    match message.content_type {
        ContentType::Json => valid_json(message).prop_map(Payload::Json).boxed(),
        ContentType::Text => valid_json(message)
            .prop_map(|v| {
                Payload::Text(
                    v.as_str()
                        .map(String::from)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .boxed(),
        ContentType::Binary => proptest::collection::vec(any::<u8>(), 0..256)
            .prop_map(Payload::Binary)
            .boxed(),
    }
}

fn binary() -> BoxedStrategy<Payload> {
    proptest::collection::vec(any::<u8>(), 0..64)
        .prop_map(Payload::Binary)
        .boxed()
}

/// Text that is not JSON, made from real messages so it gets past a first glance.
fn invalid_json(valid: BoxedStrategy<Payload>) -> BoxedStrategy<Payload> {
    (valid, 0u8..5, any::<Index>(), "[a-z]{0,8}")
        .prop_map(|(payload, kind, cut, junk)| {
            let text = payload.text().map(|t| t.into_owned()).unwrap_or_default();
            Payload::Text(match kind {
                // A proper prefix of a compact JSON object or array never parses.
                0 if text.len() > 1 => {
                    let mut end = cut.index(text.len());
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    text[..end].to_string()
                }
                1 => text.replace('"', "'"),
                2 => format!("{},}}", text.trim_end_matches('}')),
                3 => format!("x{junk}{text}"),
                _ => format!("{text}{{"),
            })
        })
        .boxed()
}

fn non_object(objects: BoxedStrategy<Value>) -> BoxedStrategy<Payload> {
    prop_oneof![
        schema::any_json(1).prop_filter("not an object", |v| !v.is_object()),
        objects.prop_map(|v| json!([v])),
    ]
    .prop_map(Payload::Json)
    .boxed()
}

fn deeply_nested(objects: BoxedStrategy<Value>) -> BoxedStrategy<Payload> {
    (objects, 1usize..400)
        .prop_map(|(mut value, depth)| {
            let nested = (0..depth).fold(Value::Array(Vec::new()), |inner, _| {
                Value::Array(vec![inner])
            });
            if let Value::Object(map) = &mut value {
                map.insert("x_nested".into(), nested);
            }
            Payload::Json(value)
        })
        .boxed()
}

/// A valid `message` padded to just past the size limit or just within it, so only its size is
/// out of line: the padding goes into a free-text field, never a constant or an enum.
fn at_the_limit(message: &Message, max: usize) -> BoxedStrategy<Payload> {
    let fixed: Vec<String> = message
        .schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .filter(|(_, s)| s.get("const").is_some() || s.get("enum").is_some())
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    (valid_payload(message), 0usize..4096, proptest::bool::ANY)
        .prop_map(move |(payload, extra, over)| {
            // Just past the limit, or just within it: a server may choke on what it promised to take.
            let size = if over {
                max.saturating_add(1).saturating_add(extra)
            } else {
                max.saturating_sub(4096).saturating_add(extra).min(max)
            };
            let need = size.saturating_sub(payload.len());
            match payload {
                Payload::Json(Value::Object(mut map)) => {
                    let free = map
                        .iter()
                        .find(|(k, v)| v.is_string() && !fixed.contains(k))
                        .map(|(k, _)| k.clone());
                    let key = free.unwrap_or_else(|| "x_pad".to_string());
                    let mut text = map
                        .get(&key)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    // A few more than needed past the limit, since the key may be new.
                    text.push_str(&"x".repeat(if over {
                        need + 8
                    } else {
                        need.saturating_sub(16)
                    }));
                    map.insert(key, Value::String(text));
                    Payload::Json(Value::Object(map))
                }
                Payload::Binary(mut bytes) => {
                    bytes.resize(size, b'x');
                    Payload::Binary(bytes)
                }
                other => {
                    let mut text = other.text().map(|t| t.into_owned()).unwrap_or_default();
                    text.push_str(&"x".repeat(need));
                    Payload::Text(text)
                }
            }
        })
        .boxed()
}

/// Valid messages with exactly one thing wrong: the discriminator, a required field, or a field's type.
fn near_misses(message: &Message) -> Vec<(u32, BoxedStrategy<Payload>)> {
    let base = valid_json(message);
    let mut out = Vec::new();
    // The most telling: right in every way but one constraint of the schema (of any shape).
    if let Ok(breaker) = near_miss::Breaker::new(&message.schema) {
        let breaker = std::sync::Arc::new(breaker);
        // Never rejected: a value with no constraint to break (or not valid) goes as it is.
        let labelled = (base.clone(), any::<Index>()).prop_map(move |(value, which)| {
            let misses = breaker.near_misses(&value);
            match misses.get(which.index(misses.len().max(1))) {
                Some(pick) => Payload::Json(pick.value.clone()),
                None => Payload::Json(value),
            }
        });
        out.push((3, labelled.boxed()));
    }
    let Some(properties) = message.schema.get("properties").and_then(Value::as_object) else {
        return out;
    };
    let required: Vec<String> = message
        .schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let discriminators: Vec<String> = properties
        .iter()
        .filter(|(_, s)| s.get("const").is_some_and(Value::is_string))
        .map(|(k, _)| k.clone())
        .collect();

    if !discriminators.is_empty() {
        let keys = discriminators.clone();
        let renamed = (
            base.clone(),
            any::<Index>(),
            prop_oneof!["[a-z_]{0,12}", ".{1,4}"],
            0u8..4,
        )
            .prop_map(move |(value, which, name, style)| {
                let key = &keys[which.index(keys.len())];
                let current = value
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let replacement = match style {
                    0 => current.to_uppercase(),
                    1 => format!("{current} "),
                    2 => format!("{current}\0"),
                    _ => name,
                };
                Payload::Json(with_field(value, key, Value::String(replacement)))
            });
        out.push((1, renamed.boxed()));
    }
    if !required.is_empty() {
        let keys = required.clone();
        let dropped = (base.clone(), any::<Index>()).prop_map(move |(mut value, which)| {
            if let Value::Object(map) = &mut value {
                map.remove(&keys[which.index(keys.len())]);
            }
            Payload::Json(value)
        });
        out.push((1, dropped.boxed()));
    }
    let typed: Vec<(String, Vec<Value>)> = properties
        .iter()
        .filter_map(|(key, schema)| {
            let validator = jsonschema::validator_for(schema).ok()?;
            let wrong: Vec<Value> = wrong_typed_values()
                .into_iter()
                .filter(|v| !validator.is_valid(v))
                .collect();
            (!wrong.is_empty()).then(|| (key.clone(), wrong))
        })
        .collect();
    if !typed.is_empty() {
        let retyped =
            (base, any::<Index>(), any::<Index>()).prop_map(move |(value, field, pick)| {
                let (key, wrong) = &typed[field.index(typed.len())];
                Payload::Json(with_field(
                    value,
                    key,
                    wrong[pick.index(wrong.len())].clone(),
                ))
            });
        out.push((1, retyped.boxed()));
    }
    out
}

fn with_field(mut value: Value, key: &str, field: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.insert(key.to_string(), field);
    }
    value
}

/// One value of each JSON type, plus the edges parsers trip on.
fn wrong_typed_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(9_007_199_254_740_993_u64),
        json!(""),
        json!("text"),
        json!([]),
        json!(["a"]),
        json!({}),
        Value::Object(Map::from_iter([("a".to_string(), json!(1))])),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Expectation, Spec};
    use crate::target::Target;

    fn routes() -> Vec<Route> {
        let spec = Spec::parse(
            include_str!("../../specs/prompt-manager.asyncapi.yaml"),
            "pm",
        )
        .unwrap();
        Target::resolve("ws://127.0.0.1:1", Some(&spec))
            .unwrap()
            .routes
    }

    #[test]
    fn same_seed_same_cases() {
        let generator = Generator::new(&routes(), &[Layer::Messages]);
        for index in 0..50 {
            assert_eq!(generator.case(7, index), generator.case(7, index));
        }
        assert_ne!(
            (0..20).map(|i| generator.case(7, i)).collect::<Vec<_>>(),
            (0..20).map(|i| generator.case(8, i)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn valid_messages_validate_against_their_schema() {
        for route in routes() {
            for message in route.channel.operations.iter().flat_map(|op| &op.messages) {
                let strategy = valid_payload(message);
                let mut runner = TestRunner::new_with_rng(Config::default(), rng_for(1, 2, 3));
                for _ in 0..300 {
                    let payload = strategy.new_tree(&mut runner).unwrap().current();
                    let classified = route.channel.classify(&payload);
                    assert!(
                        matches!(classified, Expectation::Reply { .. }),
                        "{} -> {classified:?} for {payload}",
                        message.name
                    );
                }
            }
        }
    }

    #[test]
    fn near_misses_and_garbage_do_not_validate() {
        for route in routes().iter().filter(|r| r.channel.id == "prompt") {
            let message = &route.channel.operations[0].messages[0];
            let mut broken: Vec<BoxedStrategy<Payload>> =
                near_misses(message).into_iter().map(|(_, s)| s).collect();
            let valid = valid_payload(message);
            broken.push(invalid_json(valid.clone()));
            broken.push(non_object(valid_json(message)));
            broken.push(binary());
            for strategy in broken {
                let mut runner = TestRunner::new_with_rng(Config::default(), rng_for(4, 5, 6));
                for _ in 0..200 {
                    let payload = strategy.new_tree(&mut runner).unwrap().current();
                    let classified = route.channel.classify(&payload);
                    // A renamed discriminator may land on another real action; all else must be rejected.
                    let other_action =
                        matches!(classified, Expectation::Reply { operation } if operation != 0);
                    assert!(
                        matches!(classified, Expectation::Reject { .. }) || other_action,
                        "{payload} -> {classified:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn campaigns_reach_every_kind_of_input() {
        let generator = Generator::new(&routes(), &[Layer::Messages]);
        let cases: Vec<Case> = (0..400).map(|i| generator.case(11, i)).collect();
        let prompt = routes()
            .into_iter()
            .find(|r| r.channel.id == "prompt")
            .unwrap()
            .channel;
        let mut kinds = std::collections::BTreeSet::new();
        for case in cases.iter().filter(|c| c.endpoint.channel == "prompt") {
            for payload in
                case.steps
                    .iter()
                    .filter_map(|s| if let Step::Send(p) = s { Some(p) } else { None })
            {
                kinds.insert(match prompt.classify(payload) {
                    Expectation::Reply { .. } if payload.len() > 1 << 19 => "at the limit".into(),
                    Expectation::Reply { operation } => format!("valid {operation}"),
                    Expectation::Either { why, .. } if why.contains("the server must accept") => {
                        "oversized".into()
                    }
                    Expectation::Reject { why } => why,
                    Expectation::Either { .. } => "either".into(),
                    Expectation::Anything => "anything".into(),
                });
            }
        }
        for expected in [
            "valid 0",
            "valid 1",
            "valid 2",
            "not JSON",
            "JSON that is not an object",
            "either",
            "a binary frame where the spec has none",
            "oversized",
            "at the limit",
        ] {
            assert!(
                kinds.contains(expected),
                "{expected} missing from {kinds:?}"
            );
        }
        assert!(cases.iter().any(|c| c
            .endpoint
            .params
            .get("prompt_id")
            .is_some_and(|id| !prompt.params[0].known.contains(id))));
    }

    #[test]
    fn a_message_that_may_end_the_connection_comes_last() {
        let generator = Generator::new(&routes(), &[Layer::Messages]);
        let ends =
            |payload: &Payload| matches!(payload, Payload::Binary(_)) || payload.len() > 1 << 19;
        let (mut midway, mut last) = (0, 0);
        for case in (0..600).map(|i| generator.case(5, i)) {
            let sent: Vec<&Payload> = case
                .steps
                .iter()
                .filter_map(|s| if let Step::Send(p) = s { Some(p) } else { None })
                .collect();
            let Some((end, before)) = sent.split_last() else {
                continue;
            };
            midway += before.len();
            last += usize::from(ends(end));
            if let Some(early) = before.iter().find(|p| ends(p)) {
                panic!("{early} before the last message of {case:?}");
            }
        }
        assert!(
            midway > 600 && last > 20,
            "{midway} midway, {last} ending last"
        );
    }
}
