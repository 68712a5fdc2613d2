//! The HTML report: the summary and every finding with its transcript, in one file that needs no network.

use std::fmt::Write as _;
use std::path::Path;

use super::{how_shrunk, saved_cases, saved_new};
use crate::campaign::{shell_quote, Finding, Report};
use crate::checks::Level;

/// Most transcript events shown per finding; a flood of frames stays readable (the JSON report has all).
const SHOWN_EVENTS: usize = 2_000;

const STYLE: &str = "
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #1d1d1f; }
h1 { font-size: 1.6em; margin-bottom: .2em; }
h2 { font-size: 1.2em; margin: 0; }
.verdict { font-size: 1.1em; margin-top: 0; }
.verdict.found { color: #b3261e; }
.verdict.clean { color: #1b6e2d; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { text-align: left; padding: .15em .8em .15em 0; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.failed { color: #b3261e; font-weight: 600; }
.passed { color: #1b6e2d; }
.warned { color: #8a5a00; font-weight: 600; }
section.finding.warning { border-left-color: #e3a008; }
section.finding { border: 1px solid #d0d0d7; border-left: 5px solid #b3261e; border-radius: 6px; padding: .8em 1em; margin: 1.2em 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; margin: .7em 0; }
dt { color: #5f6368; }
dd { margin: 0; overflow-wrap: anywhere; }
pre, code { font: 13px/1.4 ui-monospace, monospace; }
pre { background: #f5f5f7; padding: .6em .8em; border-radius: 4px; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
table.transcript td { font: 13px/1.35 ui-monospace, monospace; overflow-wrap: anywhere; }
table.transcript td.at { color: #5f6368; white-space: nowrap; }
tr.out td.what { color: #0b57d0; }
tr.in td.what { color: #7a4100; }
summary { cursor: pointer; color: #5f6368; margin-top: .6em; }
";

/// Writes the HTML report to `path`.
pub fn write_html(report: &Report, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, html(report))
}

/// The HTML report of a campaign.
pub fn html(report: &Report) -> String {
    let stats = &report.stats;
    let mut out = String::new();
    let found = report.findings.len();
    let verdict = super::tally(report);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>wsfuzz: {verdict}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    );
    let _ = writeln!(out, "<h1>wsfuzz report</h1>");
    let _ = writeln!(
        out,
        "<p class=\"verdict {}\" id=\"verdict\">{verdict}: {} cases in {:.2} s ({:.0} cases/s), seed {}</p>",
        if report.failed() { "found" } else { "clean" },
        stats.cases,
        stats.seconds,
        stats.cases_per_second,
        report.seed
    );
    if let Some(why) = &report.stopped {
        let _ = writeln!(out, "<p class=\"failed\">Stopped early: {}</p>", text(why));
    }

    // What was tried: cases per layer, and each check's outcome.
    let _ = writeln!(
        out,
        "<table id=\"layers\">\n<tr><th>Layer</th><th>Cases</th><th>Failed</th></tr>"
    );
    for (layer, n) in &stats.layers {
        let failed = stats.failed.get(layer).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"n\">{n}</td><td class=\"n{}\">{failed}</td></tr>",
            layer.name(),
            if failed > 0 { " failed" } else { "" }
        );
    }
    let _ = writeln!(
        out,
        "</table>\n<table id=\"checks\">\n<tr><th>Check</th><th>Result</th></tr>"
    );
    for check in report.checks.iter().copied() {
        let numbers: Vec<String> = report
            .findings
            .iter()
            .enumerate()
            .filter(|(_, f)| f.check == check)
            .map(|(n, _)| format!("<a href=\"#finding-{0}\">finding {0}</a>", n + 1))
            .collect();
        let result = match (numbers.is_empty(), check.level) {
            (true, _) => "<td class=\"passed\">passed</td>".to_string(),
            (false, Level::Error) => {
                format!("<td class=\"failed\">failed: {}</td>", numbers.join(", "))
            }
            (false, Level::Warning) => {
                format!("<td class=\"warned\">warning: {}</td>", numbers.join(", "))
            }
        };
        let _ = writeln!(out, "<tr><td><code>{check}</code></td>{result}</tr>");
    }
    out.push_str("</table>\n");
    if stats.target_starts > 1 {
        let _ = writeln!(
            out,
            "<p>The target was started {} times (restarts after crashes and for shrinking).</p>",
            stats.target_starts
        );
    }
    if report.replayed > 0 || !report.not_replayed.is_empty() {
        let _ = writeln!(out, "<p>Saved cases: {}.</p>", saved_cases(report));
        out.push_str("<ul id=\"saved\">\n");
        for path in &report.fixed {
            let _ = writeln!(out, "<li>fixed: <code>{}</code></li>", text(path));
        }
        for why in &report.not_replayed {
            let _ = writeln!(out, "<li>not replayed: {}</li>", text(why));
        }
        out.push_str("</ul>\n");
    }
    if let Some(saved) = saved_new(report) {
        let _ = writeln!(out, "<p>Saved: {}.</p>", text(&saved));
    }
    for (n, finding) in report.findings.iter().enumerate() {
        write_finding(&mut out, n + 1, found, finding);
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn write_finding(out: &mut String, n: usize, of: usize, f: &Finding) {
    let _ = writeln!(
        out,
        "<section class=\"finding {0}\" id=\"finding-{n}\">\n<h2>Finding {n} of {of} ({0}): <code>{1}</code> on channel <code>{2}</code></h2>",
        f.level.name(),
        f.check,
        text(&f.channel)
    );
    out.push_str("<dl>\n");
    let mut row = |name: &str, value: String| {
        let _ = writeln!(out, "<dt>{name}</dt><dd>{value}</dd>");
    };
    row("endpoint", format!("<code>{}</code>", text(&f.endpoint)));
    row("expected", text(&f.expected));
    row("got", text(&f.actual));
    if f.occurrences > 1 {
        row("cases", format!("{} cases failed it", f.occurrences));
    }
    let how = how_shrunk(f);
    row("minimal case", how);
    row("reproduce", format!("<code>{}</code>", text(&f.reproduce)));
    if let Some(path) = &f.regression {
        let kind = if f.replayed {
            "replayed from"
        } else {
            "saved as"
        };
        row(
            kind,
            format!(
                "<code>{}</code> (<code>wsfuzz replay {}</code>)",
                text(path),
                text(&shell_quote(path))
            ),
        );
    }
    if let Some(path) = &f.standalone {
        row(
            "standalone",
            format!("<code>python3 {}</code>", text(&shell_quote(path))),
        );
    }
    out.push_str("</dl>\n");
    let _ = writeln!(
        out,
        "<pre class=\"case\">{}</pre>",
        text(&f.case.to_string())
    );
    if !f.transcript.is_empty() {
        let _ = writeln!(
            out,
            "<details open><summary>Transcript: {} events (→ sent, ← received)</summary>\n<table class=\"transcript\">",
            f.transcript.len()
        );
        for event in f.transcript.iter().take(SHOWN_EVENTS) {
            let class = if event.what.contains('→') {
                "out"
            } else if event.what.contains('←') {
                "in"
            } else {
                "note"
            };
            let _ = writeln!(
                out,
                "<tr class=\"{class}\"><td class=\"at\">{:.3} ms</td><td class=\"what\">{}</td></tr>",
                event.at_ms,
                text(&event.what)
            );
        }
        if f.transcript.len() > SHOWN_EVENTS {
            let _ = writeln!(
                out,
                "<tr><td></td><td>… {} more events in the JSON report</td></tr>",
                f.transcript.len() - SHOWN_EVENTS
            );
        }
        out.push_str("</table>\n</details>\n");
    }
    if !f.target_output.is_empty() {
        let _ = writeln!(
            out,
            "<details open><summary>The target's output</summary>\n<pre class=\"output\">{}</pre>\n</details>",
            text(&f.target_output.join("\n"))
        );
    }
    out.push_str("</section>\n");
}

/// Text made safe for HTML: markup characters escaped, and control characters (which hostile
/// servers send) shown as escapes instead of passed on.
fn text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_a_hostile_server_is_made_safe_for_html() {
        assert_eq!(
            text("<script>alert('x')</script>&\u{1b}[31m\0"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;\\u{1b}[31m\\u{0}"
        );
    }
}
