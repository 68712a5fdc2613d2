//! The command line's reporters: the progress bar and status lines on stderr, the report files, and the text report on stdout.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{findings, summary, write_html, write_json, write_junit, Written};
use crate::campaign::{Event, Report, Reporter};

/// A report file, written when the campaign finishes.
pub struct File {
    kind: &'static str,
    path: PathBuf,
    write: fn(&Report, &std::path::Path) -> std::io::Result<()>,
    /// Where the files written are listed, for the text report to name them.
    written: Arc<Mutex<Vec<Written>>>,
    problem: Option<String>,
}

impl File {
    pub fn json(path: PathBuf, written: &Arc<Mutex<Vec<Written>>>) -> File {
        File::new("JSON", path, write_json, written)
    }

    pub fn junit(path: PathBuf, written: &Arc<Mutex<Vec<Written>>>) -> File {
        File::new("JUnit", path, write_junit, written)
    }

    pub fn html(path: PathBuf, written: &Arc<Mutex<Vec<Written>>>) -> File {
        File::new("HTML", path, write_html, written)
    }

    fn new(
        kind: &'static str,
        path: PathBuf,
        write: fn(&Report, &std::path::Path) -> std::io::Result<()>,
        written: &Arc<Mutex<Vec<Written>>>,
    ) -> File {
        File {
            kind,
            path,
            write,
            written: written.clone(),
            problem: None,
        }
    }
}

impl Reporter for File {
    fn on(&mut self, event: &Event<'_>) {
        let Event::Finished(report) = event else {
            return;
        };
        match (self.write)(report, &self.path) {
            Ok(()) => lock(&self.written).push(Written {
                kind: self.kind,
                path: self.path.clone(),
            }),
            Err(e) => self.problem = Some(format!("cannot write {}: {e}", self.path.display())),
        }
    }

    fn problems(&self) -> Vec<String> {
        self.problem.iter().cloned().collect()
    }
}

/// The text report on stdout when the campaign finishes: each finding, then the summary,
/// naming the report files written before it.
pub struct Text {
    written: Arc<Mutex<Vec<Written>>>,
}

impl Text {
    pub fn new(written: &Arc<Mutex<Vec<Written>>>) -> Text {
        Text {
            written: written.clone(),
        }
    }
}

impl Reporter for Text {
    fn on(&mut self, event: &Event<'_>) {
        if let Event::Finished(report) = event {
            print!(
                "{}{}",
                findings(report),
                summary(report, &lock(&self.written))
            );
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A progress bar on stderr while the campaign runs (none when stderr is not a terminal, so
/// logs and CI stay clean), and a status line for what a user waits on: the start, each
/// shrink, a restart of the target, an interruption.
pub struct Bar {
    url: String,
    bar: ProgressBar,
    /// Whether the time, not the case count, ends the campaign.
    timed: bool,
}

impl Bar {
    pub fn new(url: &str) -> Bar {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} cases, {msg}, {eta} left",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Bar {
            url: url.to_string(),
            bar,
            timed: false,
        }
    }

    /// A status line on stderr, above the bar where there is one.
    fn say(&self, line: String) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}

impl Drop for Bar {
    /// A campaign that never started leaves no bar behind.
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

impl Reporter for Bar {
    fn on(&mut self, event: &Event<'_>) {
        let bar = &self.bar;
        match event {
            Event::Started {
                routes,
                seed,
                cases,
                time,
            } => {
                let channels: Vec<&str> = routes.iter().map(|r| r.channel.id.as_str()).collect();
                let budget = match (cases, time) {
                    (Some(cases), Some(time)) => {
                        format!("{cases} cases or {} s", time.as_secs_f64())
                    }
                    (Some(cases), None) => format!("{cases} cases"),
                    (None, time) => format!("{} s", time.unwrap_or_default().as_secs_f64()),
                };
                self.say(format!(
                    "wsfuzz: fuzzing {} ({}), {budget}, seed {seed}",
                    self.url,
                    channels.join(", ")
                ));
                match cases {
                    Some(cases) => bar.set_length(*cases),
                    None => {
                        self.timed = true;
                        if let Ok(style) = ProgressStyle::with_template(
                            "{elapsed_precise} [{bar:30}] {msg}, {eta} left",
                        ) {
                            bar.set_style(style.progress_chars("=> "));
                        }
                        bar.set_length(time.unwrap_or_default().as_secs());
                    }
                }
                bar.set_message("no findings");
            }
            Event::Shrinking {
                check,
                channel,
                case_index,
            } => self.say(format!(
                "wsfuzz: case {case_index} failed {check} on `{channel}`; shrinking it"
            )),
            Event::Restarted { after_case, starts } => self.say(format!(
                "wsfuzz: the target stopped after case {after_case}; started it again ({starts} starts)"
            )),
            Event::Interrupted(interrupted) => self.say(format!(
                "wsfuzz: {} after {} cases; writing the reports",
                interrupted.signal, interrupted.cases
            )),
            Event::Played { done, findings, .. } => {
                let elapsed = bar.elapsed();
                let found = super::count(*findings, "finding", "findings");
                let rate = *done as f64 / elapsed.as_secs_f64().max(0.001);
                if self.timed {
                    bar.set_position(elapsed.as_secs());
                    bar.set_message(format!("{done} cases, {found}, {rate:.0} cases/s"));
                } else {
                    bar.set_position(*done);
                    bar.set_message(format!("{found}, {rate:.0} cases/s"));
                }
            }
            Event::Finished(_) => bar.finish_and_clear(),
            Event::Replayed { .. } | Event::Found(_) | Event::Saved(_) | Event::Unreachable(_) => {}
        }
    }
}
