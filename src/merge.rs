//! `wsfuzz merge`: the JSON reports of a campaign's parts (`--partition M/N`) joined into one.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

/// Joins reports read from `paths`: findings of the same check on the same channel become one
/// (the first found, with the occurrences summed), case counts add up, and the time is the
/// longest part's, since parts run side by side.
pub fn merge(paths: &[&Path]) -> Result<Value, String> {
    let mut reports = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let report: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a wsfuzz JSON report: {e}", path.display()))?;
        if !report["findings"].is_array() || !report["stats"].is_object() {
            return Err(format!(
                "{}: not a wsfuzz JSON report (no findings or stats)",
                path.display()
            ));
        }
        reports.push((path.display().to_string(), report));
    }
    let Some((_, first)) = reports.first() else {
        return Err("give the JSON reports to merge".into());
    };
    let seed = first["seed"].clone();
    if let Some((path, other)) = reports.iter().find(|(_, r)| r["seed"] != seed) {
        return Err(format!(
            "{path}: seed {} is not {seed}: the parts of one campaign share a seed",
            other["seed"]
        ));
    }
    let mut findings: Vec<Value> = Vec::new();
    let mut cases = 0;
    let mut inputs = 0;
    let mut seconds: f64 = 0.0;
    let mut layers: BTreeMap<String, u64> = BTreeMap::new();
    let mut stopped: Vec<String> = Vec::new();
    let mut fixed: Vec<Value> = Vec::new();
    for (path, report) in &reports {
        for finding in report["findings"].as_array().into_iter().flatten() {
            let same = findings
                .iter_mut()
                .find(|f| f["check"] == finding["check"] && f["channel"] == finding["channel"]);
            match same {
                Some(kept) => {
                    let sum = kept["occurrences"].as_u64().unwrap_or(1)
                        + finding["occurrences"].as_u64().unwrap_or(1);
                    kept["occurrences"] = json!(sum);
                }
                None => findings.push(finding.clone()),
            }
        }
        let stats = &report["stats"];
        cases += stats["cases"].as_u64().unwrap_or(0);
        inputs += stats["inputs"].as_u64().unwrap_or(0);
        seconds = seconds.max(stats["seconds"].as_f64().unwrap_or(0.0));
        for (layer, n) in stats["layers"].as_object().into_iter().flatten() {
            *layers.entry(layer.clone()).or_default() += n.as_u64().unwrap_or(0);
        }
        if let Some(why) = report["stopped"].as_str() {
            stopped.push(format!("{path}: {why}"));
        }
        for file in report["fixed"].as_array().into_iter().flatten() {
            if !fixed.contains(file) {
                fixed.push(file.clone());
            }
        }
    }
    let layers: Map<String, Value> = layers.into_iter().map(|(k, v)| (k, json!(v))).collect();
    Ok(json!({
        "findings": findings,
        "stats": {
            "cases": cases,
            "inputs": inputs,
            "seconds": seconds,
            "cases_per_second": if seconds > 0.0 { cases as f64 / seconds } else { 0.0 },
            "layers": layers,
        },
        "seed": seed,
        "strict": reports.iter().any(|(_, r)| r["strict"].as_bool() == Some(true)),
        "stopped": if stopped.is_empty() { Value::Null } else { json!(stopped.join("; ")) },
        "fixed": fixed,
        "parts": reports.len(),
    }))
}
