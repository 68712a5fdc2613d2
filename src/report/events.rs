//! JSON Lines events while a campaign runs: one object a line, written as it happens, for tools that follow a campaign live.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};

use crate::campaign::{Progress, Report};

/// The events file of a campaign.
pub struct Events {
    out: BufWriter<File>,
    start: Instant,
    /// The first write that failed: reported once, at the end.
    failed: Option<std::io::Error>,
}

impl Events {
    /// Creates (or empties) the file, so a path that cannot be written is known before the campaign.
    pub fn create(path: &Path) -> std::io::Result<Events> {
        Ok(Events {
            out: BufWriter::new(File::create(path)?),
            start: Instant::now(),
            failed: None,
        })
    }

    /// One event for each progress report of the campaign.
    pub fn progress(&mut self, url: &str, progress: &Progress) {
        let event = match progress {
            Progress::Started {
                routes,
                seed,
                cases,
                time,
            } => json!({
                "event": "started",
                "url": url,
                "seed": seed,
                "cases": cases,
                "seconds": time.map(|t| t.as_secs_f64()),
                "channels": routes.iter().map(|r| r.channel.id.as_str()).collect::<Vec<_>>(),
            }),
            Progress::Played {
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
            Progress::Shrinking {
                check,
                channel,
                case_index,
            } => json!({
                "event": "shrinking",
                "check": check,
                "channel": channel,
                "case_index": case_index,
            }),
            Progress::Found(finding) => json!({ "event": "finding", "finding": finding }),
        };
        self.write(event);
    }

    /// The last event of a campaign that could not start.
    pub fn unreachable(mut self, why: &str) {
        self.write(json!({ "event": "unreachable", "message": why }));
    }

    /// A `saved` event for each new finding saved, then the last event, with the report's
    /// figures; returns the first write that failed, if any.
    pub fn finish(mut self, report: &Report) -> std::io::Result<()> {
        for finding in report.findings.iter().filter(|f| !f.replayed) {
            if let Some(path) = &finding.regression {
                self.write(json!({
                    "event": "saved",
                    "check": finding.check,
                    "channel": finding.channel,
                    "regression": path,
                    "standalone": finding.standalone,
                }));
            }
        }
        self.write(json!({
            "event": "finished",
            "cases": report.stats.cases,
            "seconds": report.stats.seconds,
            "findings": report.findings.len(),
            "replayed": report.replayed,
            "fixed": report.fixed,
            "stopped": report.stopped,
        }));
        match self.failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

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
