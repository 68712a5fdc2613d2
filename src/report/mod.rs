//! Reporters: the campaign's report as text for people, and as JSON, JUnit XML, JSON Lines events and HTML for machines and dashboards.

use std::fmt::Write as _;
use std::path::Path;

use crate::campaign::{Finding, Report};
use crate::checks::{Check, Level};

mod events;
mod html;
mod junit;
mod reporters;

pub use events::Events;
pub use html::{html, write_html};
pub use junit::{junit, write_junit};
pub use reporters::{Bar, File, Text};

/// Most lines of a case or timeline shown in the text report.
const SHOWN_LINES: usize = 24;

/// A report file written beside the text report: its kind (`JSON`, `JUnit`, ...) and path.
pub struct Written {
    pub kind: &'static str,
    pub path: std::path::PathBuf,
}

/// The report as a person reads it at the end of a campaign: each finding, then the summary.
pub fn text(report: &Report) -> String {
    findings(report) + &summary(report, &[])
}

/// Each finding in full, errors first, then the warnings in a section of their own.
pub fn findings(report: &Report) -> String {
    let mut out = String::new();
    let of = report.findings.len();
    let mut warned = false;
    for (n, finding) in report.findings.iter().enumerate() {
        if finding.level == Level::Warning && !warned {
            warned = true;
            let _ = writeln!(
                out,
                "Warnings: deviations from RFC 6455 or HTTP that harm none of the server's users{}\n",
                if report.strict {
                    " (they fail this run: --strict)"
                } else {
                    " (they fail the run only with --strict)"
                }
            );
        }
        write_finding(&mut out, n + 1, of, finding);
    }
    out
}

/// `2 errors, 1 warning`, or `no findings`.
pub(crate) fn tally(report: &Report) -> String {
    let errors = report.at(Level::Error).count();
    let warnings = report.at(Level::Warning).count();
    match (errors, warnings) {
        (0, 0) => "no findings".to_string(),
        (_, 0) => count(errors, "error", "errors"),
        (0, _) => count(warnings, "warning", "warnings"),
        _ => format!(
            "{}, {}",
            count(errors, "error", "errors"),
            count(warnings, "warning", "warnings")
        ),
    }
}

/// What a person reads in ten seconds: what was tried on each layer and by each check, what
/// failed, and where the saved cases and reports are.
pub fn summary(report: &Report, written: &[Written]) -> String {
    let mut out = String::new();
    let stats = &report.stats;
    let _ = writeln!(
        out,
        "{} cases in {:.2} s ({:.0} cases/s), seed {}: {}",
        stats.cases,
        stats.seconds,
        stats.cases_per_second,
        report.seed,
        tally(report)
    );
    if stats.inputs > 0 {
        let _ = writeln!(
            out,
            "  inputs:  {} messages, frames and handshakes judged ({:.0}/s)",
            stats.inputs,
            stats.inputs as f64 / stats.seconds.max(0.001)
        );
    }
    if !stats.layers.is_empty() {
        let per_layer: Vec<String> = stats
            .layers
            .iter()
            .map(|(layer, n)| match stats.failed.get(layer) {
                Some(failed) => format!("{} {n} ({failed} failed)", layer.name()),
                None => format!("{} {n}", layer.name()),
            })
            .collect();
        let _ = writeln!(out, "  layers:  {}", per_layer.join(", "));
    }
    if !stats.scale.is_empty() {
        let per_class: Vec<String> = stats
            .scale
            .iter()
            .map(|(class, n)| format!("{} {n}", class.name()))
            .collect();
        let _ = writeln!(out, "  scale:   {}", per_class.join(", "));
    }
    if stats.frame_shapes > 0 {
        let _ = writeln!(
            out,
            "           {} distinct frame shapes written",
            stats.frame_shapes
        );
    }
    let checks = &report.checks;
    let failed: Vec<&Check> = checks
        .iter()
        .copied()
        .filter(|check| report.findings.iter().any(|f| f.check == *check))
        .collect();
    let errors = failed.iter().filter(|c| c.level == Level::Error).count();
    let _ = writeln!(
        out,
        "  checks:  {} on every case: {} passed, {} failed{}",
        checks.len(),
        checks.len() - failed.len(),
        errors,
        match failed.len() - errors {
            0 => String::new(),
            n => format!(", {n} warned"),
        }
    );
    let width = failed.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for check in &failed {
        let mine: Vec<(usize, &Finding)> = report
            .findings
            .iter()
            .enumerate()
            .filter(|(_, f)| f.check == *check)
            .collect();
        let mut channels: Vec<&str> = mine.iter().map(|(_, f)| f.channel.as_str()).collect();
        channels.sort_unstable();
        channels.dedup();
        let numbers: Vec<String> = mine.iter().map(|(n, _)| (n + 1).to_string()).collect();
        let cases: u64 = mine.iter().map(|(_, f)| f.occurrences).sum();
        let verdict = match check.level {
            Level::Error => "FAILED",
            Level::Warning => "WARNED",
        };
        let _ = writeln!(
            out,
            "    {verdict} {:<width$}  on `{}`: {} {} ({})",
            check.name,
            channels.join("`, `"),
            if numbers.len() == 1 {
                "finding"
            } else {
                "findings"
            },
            numbers.join(", "),
            count(cases as usize, "case", "cases")
        );
    }
    if report.stats.target_starts > 1 {
        let _ = writeln!(
            out,
            "  target:  started {} times (restarts after crashes and for shrinking)",
            report.stats.target_starts
        );
    }
    if report.replayed > 0 || !report.not_replayed.is_empty() {
        let _ = writeln!(out, "saved cases: {}", saved_cases(report));
        for path in &report.fixed {
            let _ = writeln!(
                out,
                "  fixed: {path} passes now (delete it, or keep it as a regression test)"
            );
        }
        for why in &report.not_replayed {
            let _ = writeln!(out, "  not replayed: {why}");
        }
    }
    if let Some(saved) = saved_new(report) {
        let _ = writeln!(out, "  saved:   {saved}");
    }
    for file in written {
        let _ = writeln!(
            out,
            "  {:<8} {}",
            format!("{}:", file.kind),
            file.path.display()
        );
    }
    for note in &report.notes {
        let _ = writeln!(out, "  note:    {note}");
    }
    if let Some(why) = &report.stopped {
        let _ = writeln!(out, "stopped early: {why}");
    }
    out
}

/// Where this campaign's new findings were saved, if it saved any.
pub(crate) fn saved_new(report: &Report) -> Option<String> {
    let new: Vec<&Finding> = report.findings.iter().filter(|f| !f.replayed).collect();
    let saved = new.iter().filter(|f| f.regression.is_some()).count();
    let dir = new
        .iter()
        .find_map(|f| Path::new(f.regression.as_deref()?).parent())?
        .display()
        .to_string();
    let scripts = match new.iter().filter(|f| f.standalone.is_some()).count() {
        n if n < saved => format!(", {n} with a standalone Python script beside it"),
        1 => ", with its standalone Python script beside it".into(),
        _ => ", each with its standalone Python script beside it".into(),
    };
    Some(format!(
        "{} in {dir}/{scripts}",
        count(saved, "new case", "new cases")
    ))
}

/// How a finding's minimal case came to be: shrunk, or why not.
pub(crate) fn how_shrunk(f: &Finding) -> String {
    if f.target_down {
        "the target did not come back, so it was neither re-run nor shrunk".to_string()
    } else if f.flaky {
        "did not fail again on a re-run, so it was not shrunk".to_string()
    } else if f.unconfirmed {
        "the campaign stopped before a re-run: as first seen, not shrunk".to_string()
    } else if f.replayed && f.shrink.attempts <= 1 {
        "replayed as saved, not shrunk again (`--shrink` shrinks it)".to_string()
    } else {
        let limit = if f.shrink.exhausted {
            ", budget spent"
        } else {
            ""
        };
        let from = match f.original_steps {
            0 => String::new(),
            1 => "from 1 step ".to_string(),
            n => format!("from {n} steps "),
        };
        let start = match &f.shrink.from_channel {
            Some(channel) => format!(", starting from the minimal case on `{channel}`"),
            None => String::new(),
        };
        format!("shrunk {from}in {} runs{limit}{start}", f.shrink.attempts)
    }
}

/// What became of the saved cases replayed first.
pub(crate) fn saved_cases(report: &Report) -> String {
    format!(
        "{} replayed, {} fixed, {} still failing",
        report.replayed,
        report.fixed.len(),
        report.replayed - report.fixed.len()
    )
}

/// `1 finding`, `2 findings`, `no findings`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    match n {
        0 => format!("no {many}"),
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

pub(crate) fn write_finding(out: &mut String, n: usize, of: usize, f: &Finding) {
    let others = match f.occurrences {
        1 => String::new(),
        k => format!(" ({k} cases failed it)"),
    };
    let _ = writeln!(
        out,
        "Finding {n} of {of}: {} {} on channel `{}`{others}",
        f.level.name(),
        f.check,
        f.channel
    );
    let _ = writeln!(out, "  endpoint:  {}", crate::case::abbreviate(&f.endpoint));
    if !f.cause.is_empty() {
        let _ = writeln!(out, "  cause:     {}", f.cause);
    }
    let _ = writeln!(out, "  expected:  {}", f.expected);
    let _ = writeln!(out, "  got:       {}", f.actual);
    if let Some(edge) = &f.edge {
        let _ = writeln!(out, "  edge:      {edge}, the smallest that still fails");
    }
    let how = how_shrunk(f);
    let _ = writeln!(out, "  minimal case ({how}):");
    // A long case is shown by its head; the JSON report holds all of it.
    let text = f.case.to_string();
    let lines: Vec<&str> = text.lines().collect();
    for line in lines.iter().take(SHOWN_LINES) {
        let _ = writeln!(out, "    {line}");
    }
    if lines.len() > SHOWN_LINES {
        let _ = writeln!(out, "    … and {} more steps", lines.len() - SHOWN_LINES);
    }
    if !f.transcript.is_empty() {
        let _ = writeln!(out, "  what happened:");
        for event in f.transcript.iter().take(SHOWN_LINES) {
            let _ = writeln!(out, "    {event}");
        }
        if f.transcript.len() > SHOWN_LINES {
            let last = &f.transcript[f.transcript.len() - 1];
            let _ = writeln!(
                out,
                "    … {} more events, the last:\n    {last}",
                f.transcript.len() - SHOWN_LINES
            );
        }
    }
    if !f.target_output.is_empty() {
        let _ = writeln!(out, "  the target's output:");
        for line in &f.target_output {
            let _ = writeln!(out, "    | {line}");
        }
    }
    match (&f.regression, f.replayed) {
        (Some(path), true) => {
            let _ = writeln!(out, "  Still failing:  saved case {path}");
        }
        (Some(path), false) => {
            let _ = writeln!(out, "  Saved as:       {path}");
        }
        _ => {}
    }
    let _ = writeln!(out, "  Reproduce with: {}", f.reproduce);
    if let Some(path) = &f.regression {
        let _ = writeln!(
            out,
            "  Replay with:    wsfuzz replay {}",
            crate::campaign::shell_quote(path)
        );
    }
    if let (Some(command), true) = (
        &f.start_first,
        f.standalone.is_some() || f.by_hand.is_some(),
    ) {
        let _ = writeln!(
            out,
            "  Start first:    {command}  (the target, for the lines below)"
        );
    }
    if let Some(path) = &f.standalone {
        let _ = writeln!(
            out,
            "  Standalone:     python3 {}",
            crate::campaign::shell_quote(path)
        );
    }
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
