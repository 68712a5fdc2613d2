//! Reporters: the campaign's report as text for people and as JSON for machines.

use std::fmt::Write as _;
use std::path::Path;

use crate::campaign::{Finding, Report};

/// The report as a person reads it at the end of a campaign.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    for (n, finding) in report.findings.iter().enumerate() {
        write_finding(&mut out, n + 1, report.findings.len(), finding);
    }
    let stats = &report.stats;
    let verdict = match report.findings.len() {
        0 => "no findings".to_string(),
        1 => "1 finding".to_string(),
        n => format!("{n} findings"),
    };
    let _ = writeln!(
        out,
        "{} cases in {:.2} s ({:.0} cases/s), seed {}: {verdict}",
        stats.cases, stats.seconds, stats.cases_per_second, report.seed
    );
    if let Some(why) = &report.stopped {
        let _ = writeln!(out, "stopped early: {why}");
    }
    out
}

fn write_finding(out: &mut String, n: usize, of: usize, f: &Finding) {
    let others = match f.occurrences {
        1 => String::new(),
        k => format!(" ({k} cases failed it)"),
    };
    let _ = writeln!(
        out,
        "Finding {n} of {of}: {} on channel `{}`{others}",
        f.check, f.channel
    );
    let _ = writeln!(out, "  endpoint:  {}", crate::case::abbreviate(&f.endpoint));
    let _ = writeln!(out, "  expected:  {}", f.expected);
    let _ = writeln!(out, "  got:       {}", f.actual);
    let how = if f.target_down {
        "the target did not come back, so it was neither re-run nor shrunk".to_string()
    } else if f.flaky {
        "did not fail again on a re-run, so it was not shrunk".to_string()
    } else {
        let limit = if f.shrink.exhausted {
            ", budget spent"
        } else {
            ""
        };
        let steps = if f.original_steps == 1 {
            "step"
        } else {
            "steps"
        };
        format!(
            "shrunk from {} {steps} in {} runs{limit}",
            f.original_steps, f.shrink.attempts
        )
    };
    let _ = writeln!(out, "  minimal case ({how}):");
    for line in f.case.to_string().lines() {
        let _ = writeln!(out, "    {line}");
    }
    if !f.transcript.is_empty() {
        let _ = writeln!(out, "  what happened:");
        for event in &f.transcript {
            let _ = writeln!(out, "    {event}");
        }
    }
    let _ = writeln!(out, "  Reproduce with: {}", f.reproduce);
    if let Some(command) = &f.by_hand {
        let _ = writeln!(out, "  By hand:        {command}");
    }
    let _ = writeln!(out);
}

/// Writes the report as JSON: `{"findings": [...], "stats": {...}, ...}`.
pub fn write_json(report: &Report, path: &Path) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(path, json + "\n")
}
