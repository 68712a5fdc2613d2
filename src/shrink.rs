//! Shrinking on the case data itself: drop steps, fields, elements and characters while the same check still fails.
//!
//! It needs no generator, so a case loaded from a regression file shrinks as well as a fresh one.

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::case::{Case, Payload, Step};

/// How much shrinking one finding may cost.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub attempts: usize,
    pub time: Duration,
}

/// The smallest failing case found, and what it took.
#[derive(Clone, Debug, Serialize)]
pub struct Shrunk {
    #[serde(skip)]
    pub case: Case,
    pub attempts: usize,
    pub accepted: usize,
    /// The budget ran out before every simplification had been tried.
    pub exhausted: bool,
}

/// Greedily replaces `case` by its first simpler variant that `still_fails`, until none does.
pub async fn shrink<F, Fut>(case: Case, budget: Budget, mut still_fails: F) -> Shrunk
where
    F: FnMut(Case) -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    let mut shrunk = Shrunk {
        case,
        attempts: 0,
        accepted: 0,
        exhausted: false,
    };
    'simpler: loop {
        for candidate in candidates(&shrunk.case) {
            if shrunk.attempts >= budget.attempts || start.elapsed() >= budget.time {
                shrunk.exhausted = true;
                break 'simpler;
            }
            shrunk.attempts += 1;
            if still_fails(candidate.clone()).await {
                shrunk.case = candidate;
                shrunk.accepted += 1;
                continue 'simpler;
            }
        }
        break;
    }
    shrunk
}

/// Simpler variants of a case, the biggest cuts first; each is strictly smaller, so shrinking ends.
pub fn candidates(case: &Case) -> Vec<Case> {
    let mut out = Vec::new();
    let steps = &case.steps;
    if steps.len() > 2 {
        for step in steps {
            out.push(Case {
                steps: vec![step.clone()],
                ..case.clone()
            });
        }
    }
    for drop in (0..steps.len()).rev() {
        let mut fewer = steps.clone();
        fewer.remove(drop);
        out.push(Case {
            steps: fewer,
            ..case.clone()
        });
    }
    for (i, Step::Send(payload)) in steps.iter().enumerate() {
        for simpler in payload_candidates(payload) {
            let mut changed = steps.clone();
            changed[i] = Step::Send(simpler);
            out.push(Case {
                steps: changed,
                ..case.clone()
            });
        }
    }
    for (name, value) in &case.endpoint.params {
        for simpler in string_candidates(value) {
            let mut endpoint = case.endpoint.clone();
            endpoint.params.insert(name.clone(), simpler);
            out.push(Case {
                endpoint,
                ..case.clone()
            });
        }
    }
    out
}

fn payload_candidates(payload: &Payload) -> Vec<Payload> {
    match payload {
        Payload::Json(value) => {
            // Text is simpler than any JSON: the empty message, then just the opening bracket.
            let opening = value
                .to_string()
                .chars()
                .next()
                .map(String::from)
                .unwrap_or_default();
            let mut out = vec![Payload::Text(String::new()), Payload::Text(opening)];
            out.extend(value_candidates(value).into_iter().map(Payload::Json));
            out
        }
        Payload::Text(text) => string_candidates(text)
            .into_iter()
            .map(Payload::Text)
            .collect(),
        Payload::Binary(bytes) => sequence_candidates(bytes)
            .into_iter()
            .map(Payload::Binary)
            .collect(),
    }
}

/// Only the first few variants of each nested value, so wide values do not drown the budget.
const PER_CHILD: usize = 12;

fn value_candidates(value: &Value) -> Vec<Value> {
    match value {
        Value::Null => Vec::new(),
        Value::Bool(b) => {
            if *b {
                vec![Value::Bool(false)]
            } else {
                Vec::new()
            }
        }
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let mut out = Vec::new();
                if i != 0 {
                    out.push(Value::from(0));
                }
                if i.unsigned_abs() > 1 {
                    out.push(Value::from(i / 2));
                }
                out
            } else if let Some(u) = n.as_u64() {
                vec![Value::from(0), Value::from(u / 2)]
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                let mut out = vec![Value::from(0)];
                if f.trunc() != f {
                    out.push(
                        serde_json::Number::from_f64(f.trunc())
                            .map(Value::Number)
                            .unwrap_or(Value::Null),
                    );
                }
                out
            }
        }
        Value::String(s) => string_candidates(s)
            .into_iter()
            .map(Value::String)
            .collect(),
        Value::Array(items) => {
            let mut out: Vec<Value> = sequence_candidates(items)
                .into_iter()
                .map(Value::Array)
                .collect();
            for (i, item) in items.iter().enumerate() {
                for simpler in value_candidates(item).into_iter().take(PER_CHILD) {
                    let mut changed = items.clone();
                    changed[i] = simpler;
                    out.push(Value::Array(changed));
                }
            }
            out
        }
        Value::Object(map) => {
            let mut out = Vec::new();
            for key in map.keys() {
                let mut fewer = map.clone();
                fewer.remove(key);
                out.push(Value::Object(fewer));
            }
            for (key, child) in map {
                for simpler in value_candidates(child).into_iter().take(PER_CHILD) {
                    let mut changed: Map<String, Value> = map.clone();
                    changed.insert(key.clone(), simpler);
                    out.push(Value::Object(changed));
                }
            }
            out
        }
    }
}

fn string_candidates(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    sequence_candidates(&chars)
        .into_iter()
        .map(|c| c.into_iter().collect())
        .collect()
}

/// Shorter versions of a sequence: empty, halves, chunks removed at finer and finer grain,
/// and prefixes a little shorter each time (a binary search for a length threshold).
fn sequence_candidates<T: Clone + PartialEq>(items: &[T]) -> Vec<Vec<T>> {
    let n = items.len();
    if n == 0 {
        return Vec::new();
    }
    let mut out: Vec<Vec<T>> = vec![Vec::new()];
    let mut parts = 2;
    while parts <= 16 && parts <= n {
        let chunk = n.div_ceil(parts);
        for start in (0..n).step_by(chunk) {
            let mut fewer = items[..start].to_vec();
            fewer.extend_from_slice(&items[(start + chunk).min(n)..]);
            out.push(fewer);
        }
        parts *= 2;
    }
    if n <= 16 {
        for drop in 0..n {
            let mut fewer = items.to_vec();
            fewer.remove(drop);
            out.push(fewer);
        }
    }
    let mut cut = n / 4;
    while cut > 0 {
        out.push(items[..n - cut].to_vec());
        cut /= 2;
    }
    let mut unique: Vec<Vec<T>> = Vec::with_capacity(out.len());
    for candidate in out {
        if !unique.contains(&candidate) {
            unique.push(candidate);
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Endpoint;
    use serde_json::json;

    fn case(steps: Vec<Payload>) -> Case {
        Case {
            endpoint: Endpoint {
                channel: "c".into(),
                address: "/c".into(),
                params: Default::default(),
            },
            steps: steps.into_iter().map(Step::Send).collect(),
        }
    }

    fn shrink_now(case: Case, fails: impl Fn(&Case) -> bool) -> Shrunk {
        let budget = Budget {
            attempts: 10_000,
            time: Duration::from_secs(30),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(shrink(case, budget, |c| std::future::ready(fails(&c))))
    }

    fn texts(case: &Case) -> Vec<String> {
        case.steps
            .iter()
            .map(|Step::Send(p)| p.text().unwrap().into_owned())
            .collect()
    }

    #[test]
    fn shrinks_to_the_one_step_and_field_that_matter() {
        let original = case(vec![
            Payload::Json(json!({"action": "update", "content": "hello world"})),
            Payload::Json(
                json!({"action": "expand", "content": "abc [[x]] def", "extra": [1, 2, 3]}),
            ),
            Payload::Text("not json".into()),
        ]);
        let fails = |c: &Case| texts(c).iter().any(|t| t.contains("[["));
        let shrunk = shrink_now(original, fails);
        assert_eq!(texts(&shrunk.case), vec![r#"{"content":"[["}"#]);
        assert!(!shrunk.exhausted);
    }

    #[test]
    fn finds_a_length_threshold() {
        let original = case(vec![Payload::Text("x".repeat(5000))]);
        let shrunk = shrink_now(original, |c| {
            c.steps.iter().any(|Step::Send(p)| p.len() > 1000)
        });
        assert_eq!(shrunk.case.steps.len(), 1);
        assert_eq!(
            shrunk.case.steps[0],
            Step::Send(Payload::Text("x".repeat(1001)))
        );
        assert!(shrunk.attempts < 400, "{} attempts", shrunk.attempts);
    }

    #[test]
    fn the_budget_bounds_the_work() {
        let original = case(vec![Payload::Text("y".repeat(100))]);
        let budget = Budget {
            attempts: 3,
            time: Duration::from_secs(30),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let shrunk = runtime.block_on(shrink(original, budget, |_| std::future::ready(false)));
        assert_eq!(shrunk.attempts, 3);
        assert!(shrunk.exhausted);
    }

    #[test]
    fn shrinking_ends_at_the_empty_case_when_everything_fails() {
        let original = case(vec![
            Payload::Json(json!({"a": [1, "bc", {"d": true}], "e": -7.5})),
            Payload::Binary(vec![1, 2, 3]),
        ]);
        let shrunk = shrink_now(original, |_| true);
        assert!(shrunk.case.steps.is_empty());
        assert!(!shrunk.exhausted);
    }
}
