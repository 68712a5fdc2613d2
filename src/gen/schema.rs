//! Valid values from a JSON Schema, as proptest strategies: types, bounds, enums, patterns and the spec's examples.

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// Largest `minLength` or `minItems` honoured: a spec cannot make wsfuzz allocate without bound.
const MAX_GENERATED: u64 = 65_536;

/// Deepest schema nesting followed; deeper parts are generated as `null`.
const MAX_DEPTH: usize = 12;

/// A strategy for values meant to validate against `schema` (the caller filters the rare miss,
/// e.g. a value matching two branches of a `oneOf`).
pub fn valid(schema: &Value) -> BoxedStrategy<Value> {
    valid_at(schema, 0)
}

fn valid_at(schema: &Value, depth: usize) -> BoxedStrategy<Value> {
    if depth > MAX_DEPTH {
        return Just(Value::Null).boxed();
    }
    let Value::Object(s) = schema else {
        // `true` or a schema wsfuzz does not read: anything goes.
        return any_json(2);
    };
    if let Some(value) = s.get("const") {
        return Just(value.clone()).boxed();
    }
    if let Some(Value::Array(values)) = s.get("enum") {
        if !values.is_empty() {
            return proptest::sample::select(values.clone()).boxed();
        }
    }
    let generated = generated(s, depth);
    match s.get("examples") {
        Some(Value::Array(examples)) if !examples.is_empty() => {
            prop_oneof![1 => proptest::sample::select(examples.clone()), 2 => generated].boxed()
        }
        _ => generated,
    }
}

fn generated(s: &Map<String, Value>, depth: usize) -> BoxedStrategy<Value> {
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(branches)) = s.get(key) {
            if !branches.is_empty() {
                let options: Vec<_> = branches.iter().map(|b| valid_at(b, depth + 1)).collect();
                return proptest::strategy::Union::new(options).boxed();
            }
        }
    }
    if let Some(Value::Array(parts)) = s.get("allOf") {
        return valid_at(&merge_all_of(s, parts), depth + 1);
    }
    let types: Vec<&str> = match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ if s.contains_key("properties") || s.contains_key("required") => vec!["object"],
        _ if s.contains_key("items") => vec!["array"],
        _ if s.contains_key("pattern")
            || s.contains_key("minLength")
            || s.contains_key("maxLength") =>
        {
            vec!["string"]
        }
        _ => return any_json(2),
    };
    let options: Vec<_> = types.iter().map(|t| of_type(t, s, depth)).collect();
    if options.is_empty() {
        return any_json(2);
    }
    proptest::strategy::Union::new(options).boxed()
}

fn merge_all_of(base: &Map<String, Value>, parts: &[Value]) -> Value {
    let mut merged = base.clone();
    merged.remove("allOf");
    for part in parts.iter().filter_map(Value::as_object) {
        for (key, value) in part {
            match (key.as_str(), merged.get_mut(key)) {
                ("properties", Some(Value::Object(props))) => {
                    if let Value::Object(more) = value {
                        props.extend(more.clone());
                    }
                }
                ("required", Some(Value::Array(required))) => {
                    if let Value::Array(more) = value {
                        required.extend(more.clone());
                    }
                }
                _ => {
                    merged.insert(key.clone(), value.clone());
                }
            }
        }
    }
    Value::Object(merged)
}

fn of_type(kind: &str, s: &Map<String, Value>, depth: usize) -> BoxedStrategy<Value> {
    let number = |key: &str| s.get(key).and_then(Value::as_f64);
    match kind {
        "null" => Just(Value::Null).boxed(),
        "boolean" => any::<bool>().prop_map(Value::Bool).boxed(),
        "integer" | "number"
            if s.get("multipleOf")
                .and_then(Value::as_f64)
                .is_some_and(|m| m > 0.0) =>
        {
            multiples(s, kind == "integer")
        }
        "integer" => {
            // `as` saturates on out-of-range floats, and the ±1 saturates too: absurd bounds cannot overflow.
            let low = number("minimum")
                .map(|m| m.ceil() as i64)
                .or(number("exclusiveMinimum").map(|m| (m.floor() as i64).saturating_add(1)));
            let high = number("maximum")
                .map(|m| m.floor() as i64)
                .or(number("exclusiveMaximum").map(|m| (m.ceil() as i64).saturating_sub(1)));
            let (low, high) = (low.unwrap_or(-1_000_000), high.unwrap_or(1_000_000));
            if low > high {
                return Just(Value::Null).boxed();
            }
            let edges = vec![
                low,
                high,
                low.saturating_add(1).min(high),
                0.clamp(low, high),
            ];
            prop_oneof![3 => low..=high, 1 => proptest::sample::select(edges)]
                .prop_map(Value::from)
                .boxed()
        }
        "number" => {
            let low = number("minimum")
                .or(number("exclusiveMinimum"))
                .unwrap_or(-1e9);
            let high = number("maximum")
                .or(number("exclusiveMaximum"))
                .unwrap_or(1e9);
            if low > high {
                return Just(Value::Null).boxed();
            }
            // An exclusive bound is never drawn itself: the middle stands in for it.
            let (open_low, open_high) = (
                number("exclusiveMinimum").is_some(),
                number("exclusiveMaximum").is_some(),
            );
            (low..=high)
                .prop_map(move |f| {
                    let f = if (open_low && f <= low) || (open_high && f >= high) {
                        low / 2.0 + high / 2.0
                    } else {
                        f
                    };
                    Number::from_f64(f)
                        .map(Value::Number)
                        .unwrap_or(Value::Null)
                })
                .boxed()
        }
        "string" => string(s),
        "array" => {
            let items = s
                .get("items")
                .map(|i| valid_at(i, depth + 1))
                .unwrap_or_else(|| any_json(1));
            let min = s
                .get("minItems")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                .min(MAX_GENERATED) as usize;
            let max = s
                .get("maxItems")
                .and_then(Value::as_u64)
                .map(|m| m as usize)
                .unwrap_or(min + 4)
                .min(min + 8);
            let max = max.max(min);
            if s.get("uniqueItems") != Some(&Value::Bool(true)) {
                return proptest::collection::vec(items, min..=max)
                    .prop_map(Value::Array)
                    .boxed();
            }
            // Unique items: from an enum, a subset of it; otherwise extra draws, duplicates dropped.
            if let Some(Value::Array(allowed)) = s.get("items").and_then(|i| i.get("enum")) {
                let max = max.min(allowed.len());
                return proptest::sample::subsequence(allowed.clone(), min.min(max)..=max)
                    .prop_shuffle()
                    .prop_map(Value::Array)
                    .boxed();
            }
            proptest::collection::vec(items, (min * 2).max(min + 2)..=(max * 2).max(min + 2))
                .prop_map(move |drawn| {
                    let mut unique: Vec<Value> = Vec::new();
                    for item in drawn {
                        if !unique.contains(&item) {
                            unique.push(item);
                        }
                    }
                    unique.truncate(max);
                    Value::Array(unique)
                })
                .boxed()
        }
        "object" => object(s, depth),
        _ => any_json(1),
    }
}

/// Numbers that are whole multiples of `multipleOf` within the bounds.
fn multiples(s: &Map<String, Value>, integer: bool) -> BoxedStrategy<Value> {
    let number = |key: &str| s.get(key).and_then(Value::as_f64);
    let step = number("multipleOf").unwrap_or(1.0);
    // The smallest and largest multiple inside the bounds, exclusive ones stepped past.
    let low = match (number("minimum"), number("exclusiveMinimum")) {
        (Some(m), _) => (m / step).ceil(),
        (None, Some(m)) => (m / step).floor() + 1.0,
        (None, None) => -1_000.0,
    };
    let high = match (number("maximum"), number("exclusiveMaximum")) {
        (Some(m), _) => (m / step).floor(),
        (None, Some(m)) => (m / step).ceil() - 1.0,
        (None, None) => 1_000.0,
    };
    let (low, high) = (low.max(-1e15) as i64, high.min(1e15) as i64);
    if low > high {
        return Just(Value::Null).boxed();
    }
    (low..=high)
        .prop_map(move |k| {
            let value = k as f64 * step;
            if integer || (value.fract() == 0.0 && step.fract() == 0.0) {
                Value::from(value as i64)
            } else {
                Number::from_f64(value)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        })
        .boxed()
}

fn object(s: &Map<String, Value>, depth: usize) -> BoxedStrategy<Value> {
    let required: Vec<String> = s
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let empty = Map::new();
    let properties = s
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut fields: Vec<BoxedStrategy<Option<(String, Value)>>> = Vec::new();
    for (name, schema) in properties {
        let name = name.clone();
        let value = valid_at(schema, depth + 1);
        if required.contains(&name) {
            fields.push(value.prop_map(move |v| Some((name.clone(), v))).boxed());
        } else {
            fields.push(proptest::option::of(value.prop_map(move |v| (name.clone(), v))).boxed());
        }
    }
    // A required field without a schema of its own may hold anything.
    for name in required.iter().filter(|n| !properties.contains_key(*n)) {
        let name = name.clone();
        fields.push(
            any_json(1)
                .prop_map(move |v| Some((name.clone(), v)))
                .boxed(),
        );
    }
    let extras_allowed = !matches!(s.get("additionalProperties"), Some(Value::Bool(false)));
    let known: Vec<String> = properties.keys().cloned().collect();
    let extra = if extras_allowed {
        proptest::option::weighted(0.1, ("x_[a-z]{1,6}", any_json(1))).boxed()
    } else {
        Just(None).boxed()
    };
    (fields, extra)
        .prop_map(move |(fields, extra)| {
            let mut map: Map<String, Value> = fields.into_iter().flatten().collect();
            if let Some((key, value)) = extra {
                if !known.contains(&key) {
                    map.insert(key, value);
                }
            }
            Value::Object(map)
        })
        .boxed()
}

fn string(s: &Map<String, Value>) -> BoxedStrategy<Value> {
    if let Some(pattern) = s.get("pattern").and_then(Value::as_str) {
        // JSON Schema patterns are unanchored; generate a full match, which also matches.
        // Their classes are ASCII, where the generator's regex classes are Unicode.
        let pattern = pattern
            .trim_start_matches('^')
            .trim_end_matches('$')
            .replace(r"\d", "[0-9]")
            .replace(r"\w", "[A-Za-z0-9_]")
            .replace(r"\s", "[ \t\n\r]");
        if let Ok(strategy) = proptest::string::string_regex(&pattern) {
            return strategy.prop_map(Value::String).boxed();
        }
    }
    if let Some(format) = s.get("format").and_then(Value::as_str) {
        if format == "date-time" {
            return timestamp().prop_map(Value::String).boxed();
        }
        if let Some(pattern) = format_pattern(format) {
            if let Ok(strategy) = proptest::string::string_regex(pattern) {
                return strategy.prop_map(Value::String).boxed();
            }
        }
    }
    let min = s
        .get("minLength")
        .and_then(Value::as_u64)
        .map(|m| m.min(MAX_GENERATED));
    let max = s.get("maxLength").and_then(Value::as_u64);
    if min.is_some() || max.is_some() {
        let min = min.unwrap_or(0) as usize;
        let max = max
            .map(|m| m as usize)
            .unwrap_or(min + 64)
            .min(min + 4096)
            .max(min);
        return proptest::collection::vec(any::<char>(), min..=max)
            .prop_map(|chars| Value::String(chars.into_iter().collect()))
            .boxed();
    }
    text().prop_map(Value::String).boxed()
}

/// A pattern for strings of a JSON Schema `format` (the common, checkable ones).
fn format_pattern(format: &str) -> Option<&'static str> {
    Some(match format {
        "uuid" => "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        "email" => "[a-z][a-z0-9]{0,10}(\\.[a-z0-9]{1,5})?@[a-z]{1,10}\\.(com|org|net)",
        "uri" => "(https|wss|urn)://[a-z]{1,10}\\.example(/[a-z0-9]{1,8}){0,3}",
        "date" => "20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])",
        "time" => "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z",
        "ipv4" => "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}",
        "hostname" => "[a-z]([a-z0-9-]{0,8}[a-z0-9])?(\\.[a-z]{2,8}){0,2}",
        _ => return None,
    })
}

/// Strings that find bugs: plain words, odd Unicode, escapes, injections and long runs.
pub fn text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 _.-]{0,24}",
        2 => ".{0,16}",
        2 => proptest::sample::select(ODD_STRINGS).prop_map(String::from),
        1 => (1usize..=65_536).prop_map(|n| "x".repeat(n)),
        1 => ("[a-z]{0,8}", proptest::sample::select(ODD_STRINGS), "[a-z]{0,8}").prop_map(|(a, b, c)| format!("{a}{b}{c}")),
    ]
    .boxed()
}

/// Strings that have broken parsers, templates and storage layers before.
const ODD_STRINGS: &[&str] = &[
    "",
    " ",
    "\0",
    "\u{7f}",
    "é",
    "e\u{301}",
    "😀",
    "👨‍👩‍👧",
    "\u{202e}abc",
    "\u{200b}",
    "\u{feff}",
    "\u{fffd}",
    "\u{10ffff}",
    "𝕏",
    "ﷺ",
    "\\",
    "\"",
    "'",
    "`",
    "\n",
    "\r\n",
    "\t",
    "%s%n%x",
    "{{7*7}}",
    "${7*7}",
    "<script>alert(1)</script>",
    "' OR '1'='1",
    "../../../etc/passwd",
    "null",
    "true",
    "0",
    "-1",
    "NaN",
    "Infinity",
    "[[",
    "]]",
    "[[]]",
    "{",
    "}",
    "[",
    "]",
    "\\u0000",
    "__proto__",
    "constructor",
];

/// RFC 3339 timestamps, with and without fractions.
fn timestamp() -> impl Strategy<Value = String> {
    (
        1970u32..2100,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
        proptest::option::of(0u32..1000),
    )
        .prop_map(|(y, mo, d, h, mi, s, ms)| match ms {
            Some(ms) => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z"),
            None => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
        })
}

/// Any JSON value, nested at most `depth` levels.
pub fn any_json(depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}
