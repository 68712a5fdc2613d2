//! What a campaign tells its reporters as it runs: one stream of events from start to finish, which every output consumes.

use std::time::Duration;

use super::{Finding, Interrupted, Report};
use crate::case::Layer;
use crate::checks::Check;
use crate::target::Route;

/// One thing that happened in a campaign, in the order it happened.
pub enum Event<'a> {
    /// The target answered; cases start now.
    Started {
        routes: &'a [Route],
        seed: u64,
        /// The cases to play, or none when the time ends the campaign.
        cases: Option<u64>,
        time: Option<Duration>,
    },
    /// A saved case was replayed: it fails again, or it is `fixed`.
    Replayed { saved: &'a str, fixed: bool },
    /// Case `index` was played and judged: `done` so far.
    Played {
        index: u64,
        layer: Layer,
        failed: bool,
        done: u64,
        findings: usize,
    },
    /// A case failed `check`; it is being shrunk.
    Shrinking {
        check: &'static Check,
        channel: &'a str,
        case_index: u64,
    },
    /// A finding, shrunk and written up.
    Found(&'a Finding),
    /// A finding was saved as a regression (its `regression` names the file).
    Saved(&'a Finding),
    /// The target wsfuzz started died or hung, and was started again.
    Restarted { after_case: u64, starts: u32 },
    /// A signal stopped the campaign; `Finished` follows with what it found.
    Interrupted(Interrupted),
    /// The campaign ended: its whole report.
    Finished(&'a Report),
    /// The campaign could not start (the target never answered): why. Nothing follows.
    Unreachable(&'a str),
}

/// An output of a campaign: it is told every event, in order.
pub trait Reporter {
    fn on(&mut self, event: &Event<'_>);

    /// Files a new finding away before any reporter is told of it, noting where in the
    /// finding (as the regression saver notes its file). Most reporters file nothing.
    fn file(&mut self, _finding: &mut Finding) {}

    /// What went wrong writing this reporter's output, for the run to say at its end.
    fn problems(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A closure is a reporter: `|event: &Event| ...`.
impl<F: FnMut(&Event<'_>)> Reporter for F {
    fn on(&mut self, event: &Event<'_>) {
        self(event)
    }
}

/// Several reporters told the same events, in the order they were added.
#[derive(Default)]
pub struct Reporters(Vec<Box<dyn Reporter + Send>>);

impl Reporters {
    pub fn new() -> Reporters {
        Reporters::default()
    }

    pub fn add(&mut self, reporter: impl Reporter + Send + 'static) {
        self.0.push(Box::new(reporter));
    }
}

impl Reporter for Reporters {
    fn on(&mut self, event: &Event<'_>) {
        for reporter in &mut self.0 {
            reporter.on(event);
        }
    }

    fn file(&mut self, finding: &mut Finding) {
        for reporter in &mut self.0 {
            reporter.file(finding);
        }
    }

    fn problems(&self) -> Vec<String> {
        self.0.iter().flat_map(|r| r.problems()).collect()
    }
}
