//! Reporters: the campaign's report as text for people and as JSON for machines.

use std::fmt::Write as _;
use std::path::Path;

use crate::campaign::{Finding, Report};

/// Most lines of a case or timeline shown in the text report.
const SHOWN_LINES: usize = 24;

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
    if stats.layers.len() > 1 || stats.frame_shapes > 0 {
        let per_layer: Vec<String> = stats
            .layers
            .iter()
            .map(|(layer, n)| format!("{n} {}", layer.name()))
            .collect();
        let _ = writeln!(
            out,
            "  cases per layer: {}; {} distinct frame shapes",
            per_layer.join(", "),
            stats.frame_shapes
        );
    }
    if stats.target_starts > 1 {
        let _ = writeln!(
            out,
            "  the target was started {} times (restarts after crashes and for shrinking)",
            stats.target_starts
        );
    }
    if report.replayed > 0 || !report.not_replayed.is_empty() {
        let _ = writeln!(
            out,
            "saved cases: {} replayed, {} fixed, {} still failing",
            report.replayed,
            report.fixed.len(),
            report.replayed - report.fixed.len()
        );
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

/// Writes the report as JUnit XML for CI dashboards: a test suite per channel, with one test
/// case per check, failed where a finding names that check on that channel.
pub fn write_junit(report: &Report, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, junit(report))
}

/// The JUnit XML of a report.
pub fn junit(report: &Report) -> String {
    let mut checks: Vec<&str> = crate::checks::CHECKS.iter().map(|c| c.name).collect();
    if report.stats.target_starts > 0 {
        checks.extend(
            crate::checks::process::PROCESS_CHECKS
                .iter()
                .map(|(name, _)| *name),
        );
    }
    let failures = report.findings.len();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"wsfuzz\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">",
        checks.len() * report.channels.len(),
        report.stats.seconds
    );
    for channel in &report.channels {
        let found: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| &f.channel == channel)
            .collect();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" time=\"{:.3}\">",
            xml(&format!("wsfuzz {channel}")),
            checks.len(),
            found.len(),
            report.stats.seconds
        );
        for check in &checks {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"0\"",
                xml(&format!("wsfuzz.{channel}")),
                xml(check)
            );
            match found.iter().find(|f| f.check == *check) {
                None => out.push_str("/>\n"),
                Some(f) => {
                    let mut body = String::new();
                    write_finding(&mut body, 1, 1, f);
                    let _ = writeln!(
                        out,
                        ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                        xml(check),
                        xml(&f.summary),
                        xml(&body)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Text made safe for XML: the five markup characters escaped, and characters XML 1.0 cannot
/// hold at all (most control characters, which hostile servers send) replaced.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_a_hostile_server_is_made_safe_for_xml() {
        assert_eq!(
            xml("<a href='x'>\"&\"</a>\0\u{1b}[31m\tok\n"),
            "&lt;a href=&apos;x&apos;&gt;&quot;&amp;&quot;&lt;/a&gt;\u{fffd}\u{fffd}[31m\tok\n"
        );
    }
}
