//! AsyncAPI 2.6 and 3.0 documents as people write them: they read, every value generated from their schemas validates, and every near-miss breaks exactly the constraint it is labelled with.

use std::collections::BTreeSet;
use std::path::Path;

use clap::Parser;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::Value;
use wsfuzz::cli::{Cli, Command, Misuse};
use wsfuzz::gen::near_miss::{broken, near_misses};
use wsfuzz::spec::{validator, Message, Spec, TokenPlace};

fn load(name: &str) -> Spec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/specs")
        .join(name);
    Spec::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The messages a client may send on every channel of `spec`.
fn sent(spec: &Spec) -> Vec<Message> {
    spec.channels
        .iter()
        .flat_map(|c| c.operations.iter().flat_map(|o| o.messages.clone()))
        .collect()
}

/// `count` values the generator makes for `message`'s schema (without the filter a campaign adds).
fn generated(message: &Message, count: usize) -> Vec<Value> {
    let strategy = wsfuzz::gen::schema::valid(&message.schema);
    // A fixed seed: CI sees the same values every run.
    let mut runner = TestRunner::deterministic();
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// Every generated value validates, and every near-miss of them breaks exactly its constraint;
/// returns the constraints the near-misses broke.
fn check(message: &Message) -> BTreeSet<String> {
    let judge = validator(&message.schema).unwrap();
    let mut constraints = BTreeSet::new();
    for value in generated(message, 300) {
        assert!(
            judge.is_valid(&value),
            "`{}` generated {value}, which breaks {:?}",
            message.name,
            broken(&judge, &value)
        );
        for miss in near_misses(&message.schema, &value) {
            assert_eq!(
                broken(&judge, &miss.value),
                [miss.constraint.as_str()],
                "`{}`: {}",
                message.name,
                miss.value
            );
            constraints.insert(miss.constraint);
        }
    }
    constraints
}

#[test]
fn an_asyncapi_3_document_with_references_to_another_file_reads_and_generates() {
    let spec = load("asyncapi-3.0.yaml");
    let room = spec.channel("room").expect("the channel");
    assert_eq!(room.address, "/rooms/{roomId}");
    assert_eq!(room.params[0].known, ["lobby", "dev"], "from common.yaml");
    let operation = &room.operations[0];
    let names: Vec<&str> = operation.messages.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["post", "ping"]);
    assert_eq!(operation.replies[0].name, "ack");
    assert_eq!(operation.messages[0].examples.len(), 1);

    assert_eq!(spec.token, Some(TokenPlace::Query("key".into())));
    assert_eq!(spec.origin.as_deref(), Some("https://rooms.example"));

    // `--token` goes where the scheme says; the origin comes from the spec.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs/asyncapi-3.0.yaml");
    let flags = [
        "wsfuzz",
        "fuzz",
        "ws://127.0.0.1:1",
        "--token",
        "T0K",
        "--cookie",
        "a=1",
        "--cookie",
        "b=2",
    ];
    let args = match Cli::try_parse_from(
        flags
            .iter()
            .copied()
            .chain(["--spec", path.to_str().unwrap()]),
    ) {
        Ok(Cli {
            command: Command::Fuzz(args),
        }) => args,
        _ => panic!("the flags parse"),
    };
    let target = args
        .campaign()
        .unwrap_or_else(|Misuse(e)| panic!("{e}"))
        .target()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        target.credentials.query,
        [("key".to_string(), "T0K".to_string())]
    );
    assert_eq!(
        target.credentials.headers,
        [("Cookie".to_string(), "a=1; b=2".to_string())]
    );
    assert_eq!(
        target.credentials.origin.as_deref(),
        Some("https://rooms.example")
    );

    let messages = sent(&spec);
    let post = check(&messages[0]);
    for constraint in [
        "/allOf/0/required",
        "/allOf/0/properties/kind/const",
        "/allOf/0/properties/id/minimum",
        "/allOf/0/properties/id/maximum",
        "/allOf/1/properties/text/minLength",
        "/allOf/1/properties/text/maxLength",
        "/allOf/1/properties/priority/enum",
        "/allOf/1/properties/tags/maxItems",
        "/allOf/1/properties/tags/minItems",
        "/allOf/1/properties/tags/items/pattern",
        "/allOf/1/properties/score/exclusiveMaximum",
        "/allOf/1/properties/score/multipleOf",
        "/allOf/1/properties/replyTo/format",
    ] {
        assert!(
            post.contains(constraint),
            "no near-miss breaks {constraint}: {post:?}"
        );
    }
    let ping = check(&messages[1]);
    assert!(ping.contains("/properties/nonce/pattern"), "{ping:?}");
}

#[test]
fn an_asyncapi_2_6_document_reads_as_its_3_0_equivalent_and_generates() {
    let spec = load("asyncapi-2.6.yaml");
    assert_eq!(
        spec.token,
        Some(TokenPlace::Bearer),
        "components.securitySchemes, by name"
    );
    let feed = spec
        .channel("/feed/{topic}")
        .expect("the channel, by its address");
    assert_eq!(feed.address, "/feed/{topic}");
    assert_eq!(feed.params[0].known, ["news", "sport"]);
    let operation = &feed.operations[0];
    assert_eq!(operation.id, "subscribeToFeed");
    let names: Vec<&str> = operation.messages.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["subscribe", "ping"]);
    assert_eq!(operation.replies[0].name, "ack", "from x-wsfuzz-reply");
    assert_eq!(operation.messages[0].examples.len(), 1);

    let subscribe = check(&operation.messages[0]);
    for constraint in [
        "/required",
        "/additionalProperties",
        "/properties/op/const",
        "/properties/topics/minItems",
        "/properties/topics/maxItems",
        "/properties/topics/uniqueItems",
        "/properties/topics/items/enum",
        "/properties/limit/exclusiveMinimum",
        "/properties/limit/maximum",
    ] {
        assert!(
            subscribe.contains(constraint),
            "no near-miss breaks {constraint}: {subscribe:?}"
        );
    }
}

#[test]
fn generation_reaches_every_enum_value_and_bound() {
    let spec = load("asyncapi-2.6.yaml");
    let subscribe = &sent(&spec)[0];
    let values = generated(subscribe, 400);
    let topics: BTreeSet<&str> = values
        .iter()
        .flat_map(|v| v["topics"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(topics, BTreeSet::from(["news", "sport", "weather"]));
    let limits: BTreeSet<i64> = values.iter().filter_map(|v| v["limit"].as_i64()).collect();
    assert!(limits.contains(&1) && limits.contains(&50), "{limits:?}");
}

#[test]
fn broken_documents_name_the_file_the_place_and_what_is_wrong() {
    let dir = std::env::temp_dir().join(format!("wsfuzz-specs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let error = |path: &Path| Spec::load(path).unwrap_err().to_string();

    let missing = write(
        "missing.yaml",
        "asyncapi: 3.0.0\nchannels:\n  a:\n    address: /a\n    messages:\n      m: { $ref: 'nowhere.yaml#/m' }\n",
    );
    let text = error(&missing);
    assert!(
        text.contains(
            "missing.yaml: at /channels/a/messages/m: `$ref: nowhere.yaml#/m`: cannot read"
        ),
        "{text}"
    );
    write("parts.yaml", "m: { payload: { type: string } }\n");
    let wrong_pointer = write(
        "pointer.yaml",
        "asyncapi: 3.0.0\nchannels:\n  a:\n    address: /a\n    messages:\n      m: { $ref: 'parts.yaml#/n' }\n",
    );
    let text = error(&wrong_pointer);
    assert!(text.contains("parts.yaml has nothing at `/n`"), "{text}");
    write("loop-a.yaml", "x: { $ref: 'loop-b.yaml#/x' }\n");
    write("loop-b.yaml", "x: { $ref: 'loop-a.yaml#/x' }\n");
    let cycle = write(
        "cycle.yaml",
        "asyncapi: 3.0.0\nchannels:\n  a:\n    address: /a\n    messages:\n      m: { $ref: 'loop-a.yaml#/x' }\n",
    );
    assert!(
        error(&cycle).contains("references nest more than"),
        "{}",
        error(&cycle)
    );
    let bad_headers = write(
        "headers.yaml",
        "asyncapi: 3.0.0\nchannels:\n  a:\n    address: /a\n    messages:\n      m:\n        headers: { type: 12 }\n",
    );
    let text = error(&bad_headers);
    assert!(
        text.contains("at /channels/a/messages/m/headers: invalid JSON Schema for the headers"),
        "{text}"
    );
    let bad_example = write(
        "example.yaml",
        "asyncapi: 3.0.0\nchannels:\n  a:\n    address: /a\n    messages:\n      m:\n        payload: { type: integer }\n        examples: [{ payload: seven }]\n",
    );
    let text = error(&bad_example);
    assert!(
        text.contains("at /channels/a/messages/m/examples/0/payload: the example does not match"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
