//! The JUnit XML report: a test suite per channel and a test case per check, for CI dashboards.

use std::fmt::Write as _;
use std::path::Path;

use super::write_finding;
use crate::campaign::{Finding, Report};

/// Writes the report as JUnit XML for CI dashboards: a test suite per channel, with one test
/// case per check, failed where a finding names that check on that channel.
pub fn write_junit(report: &Report, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, junit(report))
}

/// The JUnit XML of a report.
pub fn junit(report: &Report) -> String {
    let checks = &report.checks;
    // A failed test case is a check that failed on a channel, however many findings it has.
    let failed = |channel: &str| {
        checks
            .iter()
            .filter(|check| {
                report
                    .findings
                    .iter()
                    .any(|f| f.channel == channel && f.check == **check && report.fails(f))
            })
            .count()
    };
    let failures: usize = report.channels.iter().map(|c| failed(c)).sum();
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
            failed(channel),
            report.stats.seconds
        );
        for check in checks {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"0\"",
                xml(&format!("wsfuzz.{channel}")),
                xml(check.name)
            );
            let mine: Vec<&&Finding> = found.iter().filter(|f| f.check == *check).collect();
            let Some(first) = mine.first() else {
                out.push_str("/>\n");
                continue;
            };
            // Every finding of the check on this channel (a replayed one and a new one, say).
            let mut body = String::new();
            for (n, f) in mine.iter().enumerate() {
                write_finding(&mut body, n + 1, mine.len(), f);
            }
            // A warning that does not fail the run is told, not failed: CI stays green on it.
            if !report.fails(first) {
                let _ = writeln!(
                    out,
                    ">\n      <system-out>{}</system-out>\n    </testcase>",
                    xml(&body)
                );
                continue;
            }
            let _ = writeln!(
                out,
                ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                xml(&format!("{} {}", check.level.name(), check.name)),
                xml(&first.summary),
                xml(&body)
            );
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
