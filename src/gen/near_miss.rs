//! Near-misses: copies of a valid value that break exactly one constraint of its schema, each labelled with that constraint.
//!
//! A near-miss is the most telling bad input: everything about it is right but one thing, so a
//! server that takes it has let exactly that constraint through. Each candidate is checked with
//! the validator: it is kept only if the one error it causes is at the constraint it names.

use serde_json::{json, Map, Value};

use crate::spec::{pointer_segment, validator};

/// A value that breaks one constraint alone.
#[derive(Clone, Debug, PartialEq)]
pub struct NearMiss {
    /// The constraint's place in the schema, as a JSON pointer to its keyword
    /// (`/properties/title/maxLength`).
    pub constraint: String,
    pub value: Value,
}

/// How deep into a value near-misses are looked for.
const MAX_DEPTH: usize = 8;
/// Most items of an array whose constraints are broken one by one.
const ITEMS: usize = 3;
/// Largest length, item or property count a near-miss goes past: beyond it, the value would
/// be too large to be telling (and to build).
const MAX_SIZE: u64 = 1 << 16;

/// Every near-miss of `valid`, a value `schema` accepts: for each constraint met on the way
/// down, a copy that breaks it and nothing else. Empty if `valid` is not valid.
pub fn near_misses(schema: &Value, valid: &Value) -> Vec<NearMiss> {
    Breaker::new(schema)
        .map(|breaker| breaker.near_misses(valid))
        .unwrap_or_default()
}

/// A schema with its validator compiled once, for the near-misses of many values.
pub struct Breaker {
    schema: Value,
    validator: jsonschema::Validator,
}

impl Breaker {
    pub fn new(schema: &Value) -> Result<Breaker, String> {
        Ok(Breaker {
            schema: schema.clone(),
            validator: validator(schema)?,
        })
    }

    /// See [`near_misses`].
    pub fn near_misses(&self, valid: &Value) -> Vec<NearMiss> {
        if !self.validator.is_valid(valid) {
            return Vec::new();
        }
        let mut candidates = Vec::new();
        walk(&self.schema, valid, "", "", 0, &mut candidates);
        let mut out: Vec<NearMiss> = Vec::new();
        for (constraint, pointer, replacement) in candidates {
            if out.iter().any(|m| m.constraint == constraint) {
                continue;
            }
            let value = replaced(valid, &pointer, replacement);
            if breaks_only(&self.validator, &value, &constraint) {
                out.push(NearMiss { constraint, value });
            }
        }
        out
    }
}

/// The constraints `value` breaks, as schema pointers to their keywords.
pub fn broken(validator: &jsonschema::Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| e.schema_path().to_string())
        .collect()
}

fn breaks_only(validator: &jsonschema::Validator, value: &Value, constraint: &str) -> bool {
    broken(validator, value) == [constraint]
}

/// `value` with the part at `pointer` (an instance pointer) replaced.
fn replaced(value: &Value, pointer: &str, replacement: Value) -> Value {
    let mut copy = value.clone();
    match copy.pointer_mut(pointer) {
        Some(slot) => *slot = replacement,
        None => return value.clone(),
    }
    copy
}

/// Collects (constraint, instance pointer, replacement) for the schema `s` at `at` (a schema
/// pointer) applied to `v`, found at `here` (an instance pointer).
fn walk(
    s: &Value,
    v: &Value,
    at: &str,
    here: &str,
    depth: usize,
    out: &mut Vec<(String, String, Value)>,
) {
    let Value::Object(s) = s else { return };
    if depth > MAX_DEPTH {
        return;
    }
    let mut push = |keyword: &str, replacement: Value| {
        out.push((format!("{at}/{keyword}"), here.to_string(), replacement));
    };
    if let Some(types) = s.get("type") {
        for other in other_types(types, v) {
            push("type", other);
        }
    }
    if let Some(Value::Array(allowed)) = s.get("enum") {
        for other in outside(v, allowed) {
            push("enum", other);
        }
    }
    if let Some(constant) = s.get("const") {
        for other in outside(v, std::slice::from_ref(constant)) {
            push("const", other);
        }
    }
    match v {
        Value::String(text) => strings(s, text, &mut push),
        Value::Number(_) => numbers(s, v, &mut push),
        Value::Array(items) => arrays(s, items, &mut push),
        Value::Object(map) => objects(s, map, &mut push),
        _ => {}
    }
    // Into the parts: each property present, the first items, each branch of an allOf.
    if let (Some(Value::Object(properties)), Value::Object(map)) = (s.get("properties"), v) {
        for (key, schema) in properties {
            if let Some(child) = map.get(key) {
                let at = format!("{at}/properties/{}", pointer_segment(key));
                let here = format!("{here}/{}", pointer_segment(key));
                walk(schema, child, &at, &here, depth + 1, out);
            }
        }
    }
    if let (Some(items), Value::Array(values)) = (s.get("items"), v) {
        for (i, child) in values.iter().enumerate().take(ITEMS) {
            walk(
                items,
                child,
                &format!("{at}/items"),
                &format!("{here}/{i}"),
                depth + 1,
                out,
            );
        }
    }
    if let Some(Value::Array(parts)) = s.get("allOf") {
        for (i, part) in parts.iter().enumerate() {
            walk(part, v, &format!("{at}/allOf/{i}"), here, depth + 1, out);
        }
    }
}

/// Values of JSON types `types` does not allow, the closest to `v` first.
fn other_types(types: &Value, v: &Value) -> Vec<Value> {
    let allowed: Vec<&str> = match types {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return Vec::new(),
    };
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let candidates = [
        ("string", Value::String(text)),
        ("number", json!(1.5)),
        ("integer", json!(7)),
        ("boolean", json!(true)),
        ("null", Value::Null),
        ("array", json!([])),
        ("object", json!({})),
    ];
    candidates
        .into_iter()
        .filter(|(kind, value)| {
            // An integer is a number too: only a type the schema allows in no way is wrong.
            let number = allowed.contains(&"number");
            !(allowed.contains(kind) || (value.is_number() && number))
        })
        .map(|(_, value)| value)
        .collect()
}

/// Values like `v` that are none of `allowed`.
fn outside(v: &Value, allowed: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    match v {
        Value::String(s) => {
            out.push(Value::String(format!("{s}_")));
            out.push(Value::String(s.to_uppercase()));
            out.push(Value::String("wsfuzz".into()));
        }
        Value::Number(n) => {
            let biggest = allowed
                .iter()
                .filter_map(Value::as_f64)
                .fold(n.as_f64().unwrap_or(0.0), f64::max);
            out.push(json!((biggest.floor() as i64).saturating_add(1)));
        }
        Value::Bool(b) => out.push(Value::Bool(!b)),
        _ => out.push(json!("wsfuzz")),
    }
    out.retain(|candidate| !allowed.contains(candidate));
    out
}

fn strings(s: &Map<String, Value>, text: &str, push: &mut impl FnMut(&str, Value)) {
    let chars: Vec<char> = text.chars().collect();
    if let Some(min) = s
        .get("minLength")
        .and_then(Value::as_u64)
        .filter(|m| *m > 0)
    {
        let shorter: String = chars.iter().take(min as usize - 1).collect();
        push("minLength", Value::String(shorter));
    }
    if let Some(max) = s
        .get("maxLength")
        .and_then(Value::as_u64)
        .filter(|m| *m < MAX_SIZE)
    {
        let filler = chars.last().copied().unwrap_or('a');
        let mut longer: String = chars.iter().take(max as usize).collect();
        while (longer.chars().count() as u64) <= max {
            longer.push(filler);
        }
        push("maxLength", Value::String(longer));
    }
    if s.contains_key("pattern") {
        for candidate in [
            format!("{text} "),
            format!(" {text}"),
            format!("{text}!"),
            format!("!{text}"),
            String::new(),
            text.to_uppercase(),
            text.to_lowercase(),
        ] {
            push("pattern", Value::String(candidate));
        }
    }
    if let Some(format) = s.get("format").and_then(Value::as_str) {
        let wrong: &[&str] = match format {
            "date-time" => &["2024-13-01T00:00:00Z", "yesterday", "2024-01-01 00:00"],
            "date" => &["2024-02-30", "01/02/2024"],
            "time" => &["25:00:00Z", "noon"],
            "email" => &["no-at-sign", "a@", "@b.c"],
            "uuid" => &["not-a-uuid", "123e4567-e89b-12d3-a456"],
            "uri" => &["no scheme", "://x"],
            "ipv4" => &["256.1.1.1", "1.2.3"],
            "ipv6" => &["::g", "1:2"],
            "hostname" => &["-bad-.host", "a..b"],
            _ => &["wsfuzz: not the format"],
        };
        for candidate in wrong {
            push("format", Value::String(candidate.to_string()));
        }
    }
}

fn numbers(s: &Map<String, Value>, v: &Value, push: &mut impl FnMut(&str, Value)) {
    let number = |key: &str| s.get(key).and_then(Value::as_f64);
    let whole = v.is_i64() || v.is_u64();
    // Just past a bound, kept whole where the value is.
    let step = |bound: f64, by: f64| {
        let next = (bound as i64).checked_add(by as i64);
        match next {
            Some(next) if whole && bound.fract() == 0.0 && bound.abs() < 9e15 => json!(next),
            _ => json!(bound + by * 0.5),
        }
    };
    // Several distances past the bound, so one of them meets the other constraints (`multipleOf`).
    let past = [1.0, 2.0, 10.0, 100.0];
    if let Some(min) = number("minimum") {
        past.iter().for_each(|by| push("minimum", step(min, -by)));
    }
    if let Some(max) = number("maximum") {
        past.iter().for_each(|by| push("maximum", step(max, *by)));
    }
    if let Some(min) = number("exclusiveMinimum") {
        push("exclusiveMinimum", json!(min));
        past.iter()
            .for_each(|by| push("exclusiveMinimum", step(min, -by)));
    }
    if let Some(max) = number("exclusiveMaximum") {
        push("exclusiveMaximum", json!(max));
        past.iter()
            .for_each(|by| push("exclusiveMaximum", step(max, *by)));
    }
    if let (Some(of), Some(current)) = (number("multipleOf"), v.as_f64()) {
        if of > 0.0 {
            push("multipleOf", json!(current + of / 2.0));
            if let (true, Some(next)) = (of > 1.0 && whole, (current as i64).checked_add(1)) {
                push("multipleOf", json!(next));
            }
        }
    }
}

fn arrays(s: &Map<String, Value>, items: &[Value], push: &mut impl FnMut(&str, Value)) {
    // Items the schema allows, to grow an array without repeating one (for `uniqueItems`).
    let spare: Vec<Value> = match s.get("items").and_then(|i| i.get("enum")) {
        Some(Value::Array(allowed)) => allowed
            .iter()
            .filter(|a| !items.contains(a))
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    if let Some(min) = s.get("minItems").and_then(Value::as_u64).filter(|m| *m > 0) {
        push(
            "minItems",
            Value::Array(items[..items.len().min(min as usize - 1)].to_vec()),
        );
    }
    if let Some(max) = s
        .get("maxItems")
        .and_then(Value::as_u64)
        .filter(|m| *m < MAX_SIZE)
    {
        let mut distinct = items.to_vec();
        distinct.extend(spare.iter().cloned());
        if distinct.len() as u64 > max {
            distinct.truncate(max as usize + 1);
            push("maxItems", Value::Array(distinct));
        }
        if let Some(last) = items.last() {
            let mut longer = items.to_vec();
            while (longer.len() as u64) <= max {
                longer.push(last.clone());
            }
            push("maxItems", Value::Array(longer));
            // Distinct items like the last (a word repeated, a number counted on), for `uniqueItems`.
            let mut distinct = items.to_vec();
            let mut k = 2;
            while (distinct.len() as u64) <= max && k < 64 {
                let variant = match last {
                    Value::String(s) => Value::String(s.repeat(k)),
                    Value::Number(n) => json!(n.as_i64().unwrap_or(0).saturating_add(k as i64)),
                    _ => break,
                };
                if !distinct.contains(&variant) {
                    distinct.push(variant);
                }
                k += 1;
            }
            push("maxItems", Value::Array(distinct));
        }
    }
    if s.get("uniqueItems") == Some(&Value::Bool(true)) {
        if let Some(first) = items.first() {
            let mut repeated = items.to_vec();
            repeated.push(first.clone());
            push("uniqueItems", Value::Array(repeated));
        }
    }
}

fn objects(s: &Map<String, Value>, map: &Map<String, Value>, push: &mut impl FnMut(&str, Value)) {
    if let Some(Value::Array(required)) = s.get("required") {
        for key in required.iter().filter_map(Value::as_str) {
            if map.contains_key(key) {
                let mut without = map.clone();
                without.remove(key);
                push("required", Value::Object(without));
            }
        }
    }
    if s.get("additionalProperties") == Some(&Value::Bool(false)) {
        let mut more = map.clone();
        more.insert("wsfuzz_extra".into(), json!(1));
        push("additionalProperties", Value::Object(more));
    }
    if let Some(min) = s
        .get("minProperties")
        .and_then(Value::as_u64)
        .filter(|m| *m > 0)
    {
        let fewer: Map<String, Value> = map.clone().into_iter().take(min as usize - 1).collect();
        push("minProperties", Value::Object(fewer));
    }
    if let Some(max) = s
        .get("maxProperties")
        .and_then(Value::as_u64)
        .filter(|m| *m < MAX_SIZE)
    {
        let mut more = map.clone();
        let mut n = 0;
        while (more.len() as u64) <= max {
            more.insert(format!("wsfuzz_{n}"), json!(n));
            n += 1;
        }
        push("maxProperties", Value::Object(more));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_near_miss_breaks_exactly_its_constraint() {
        let schema = json!({
            "type": "object",
            "required": ["action", "title", "tags"],
            "additionalProperties": false,
            "properties": {
                "action": { "const": "save" },
                "title": { "type": "string", "minLength": 2, "maxLength": 8, "pattern": "^[a-z]+$" },
                "tags": { "type": "array", "maxItems": 2, "uniqueItems": true, "items": { "enum": ["a", "b", "c"] } },
                "count": { "type": "integer", "minimum": 0, "exclusiveMaximum": 10, "multipleOf": 2 },
                "at": { "type": "string", "format": "date-time" },
                "note": { "type": ["string", "null"] }
            }
        });
        let valid = json!({ "action": "save", "title": "abc", "tags": ["a"], "count": 4, "at": "2024-01-01T00:00:00Z", "note": null });
        let misses = near_misses(&schema, &valid);
        let labels: Vec<&str> = misses.iter().map(|m| m.constraint.as_str()).collect();
        for expected in [
            "/required",
            "/additionalProperties",
            "/type",
            "/properties/action/const",
            "/properties/title/minLength",
            "/properties/title/maxLength",
            "/properties/title/pattern",
            "/properties/title/type",
            "/properties/tags/maxItems",
            "/properties/tags/uniqueItems",
            "/properties/tags/items/enum",
            "/properties/count/minimum",
            "/properties/count/exclusiveMaximum",
            "/properties/count/multipleOf",
            "/properties/count/type",
            "/properties/at/format",
            "/properties/note/type",
        ] {
            assert!(
                labels.contains(&expected),
                "no near-miss for {expected}: {labels:?}"
            );
        }
        let validator = validator(&schema).unwrap();
        for miss in &misses {
            assert_eq!(
                broken(&validator, &miss.value),
                [miss.constraint.as_str()],
                "{miss:?}"
            );
        }
    }

    #[test]
    fn an_invalid_value_has_no_near_misses() {
        assert!(near_misses(&json!({ "maxLength": 1 }), &json!("long")).is_empty());
    }
}
