//! JSON Lines events while a campaign runs: one object a line, written as it happens, for tools that follow a campaign live.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};

use crate::campaign::{Event, Reporter};

/// The events file of a campaign: a reporter that writes each event as a line.
pub struct Events {
    out: BufWriter<File>,
    url: String,
    start: Instant,
    /// The first write that failed: reported once, at the end.
    failed: Option<std::io::Error>,
    path: String,
}

impl Events {
    /// Creates (or empties) the file, so a path that cannot be written is known before the campaign.
    pub fn create(path: &Path, url: &str) -> std::io::Result<Events> {
        Ok(Events {
            out: BufWriter::new(File::create(path)?),
            url: url.to_string(),
            start: Instant::now(),
            failed: None,
            path: path.display().to_string(),
        })
    }
}

impl Reporter for Events {
    fn on(&mut self, event: &Event<'_>) {
        let line = match event {
            Event::Started {
                routes,
                seed,
                cases,
                time,
            } => json!({
                "event": "started",
                "url": self.url,
                "seed": seed,
                "cases": cases,
                "seconds": time.map(|t| t.as_secs_f64()),
                "channels": routes.iter().map(|r| r.channel.id.as_str()).collect::<Vec<_>>(),
            }),
            Event::Replayed { saved, fixed } => json!({
                "event": "replayed",
                "regression": saved,
                "fixed": fixed,
            }),
            Event::Played {
                index,
                layer,
                failed,
                done,
                findings,
            } => json!({
                "event": "case",
                "case_index": index,
                "layer": layer,
                "failed": failed,
                "done": done,
                "findings": findings,
            }),
            Event::Shrinking {
                check,
                channel,
                case_index,
            } => json!({
                "event": "shrinking",
                "check": check,
                "channel": channel,
                "case_index": case_index,
            }),
            Event::Found(finding) => json!({ "event": "finding", "finding": finding }),
            Event::Saved(finding) => json!({
                "event": "saved",
                "check": finding.check,
                "channel": finding.channel,
                "regression": finding.regression,
                "standalone": finding.standalone,
            }),
            Event::Restarted { after_case, starts } => json!({
                "event": "restarted",
                "after_case": after_case,
                "starts": starts,
            }),
            Event::Interrupted(interrupted) => json!({
                "event": "interrupted",
                "signal": interrupted.signal,
                "cases": interrupted.cases,
            }),
            Event::Unreachable(why) => json!({ "event": "unreachable", "message": why }),
            Event::Finished(report) => json!({
                "event": "finished",
                "cases": report.stats.cases,
                "seconds": report.stats.seconds,
                "findings": report.findings.len(),
                "replayed": report.replayed,
                "fixed": report.fixed,
                "stopped": report.stopped,
            }),
        };
        self.write(line);
    }

    fn problems(&self) -> Vec<String> {
        match &self.failed {
            Some(e) => vec![format!("cannot write {}: {e}", self.path)],
            None => Vec::new(),
        }
    }
}

impl Events {
    fn write(&mut self, mut event: Value) {
        if self.failed.is_some() {
            return;
        }
        event["elapsed_ms"] = json!(self.start.elapsed().as_millis() as u64);
        let line = serde_json::to_string(&event).unwrap_or_default();
        // Flushed a line at a time, so a follower sees each event as it happens.
        let written = writeln!(self.out, "{line}").and_then(|()| self.out.flush());
        if let Err(e) = written {
            self.failed = Some(e);
        }
    }
}
