//! Re-running cases to confirm and shrink a finding: what a re-run must show, on a fresh target where a crash needs one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::company::Company;
use super::{by_hand, play, served, wait_until_up, Finding, Settings, Stop};
use crate::case::{Case, Layer};
use crate::checks::process::{self, Limits, LEAK_PER_RUN, LEAK_REPLAYS};
use crate::checks::{judge, Check, Failure, Observed};
use crate::runner::{run_case, Timing};
use crate::shrink::{shrink, Budget, Shrunk};
use crate::target::{Route, Target};
use crate::transcript::Event;
use crate::watch::{Usage, Watched};

/// What a re-run must show for a finding to count as failing again.
#[derive(Clone, Copy, Debug)]
pub(super) enum Property {
    /// This transcript check fails.
    Check(&'static Check),
    /// The target exits; every run starts from a fresh target.
    Crash,
    /// The target writes a panic or a traceback.
    Alarm,
    /// The case costs more CPU than this.
    Cpu(Duration),
    /// The case raises peak memory by more than this many bytes.
    Jump(u64),
    /// Replaying the case leaves memory behind each time.
    Leak,
    /// Replaying the case leaves descriptors open.
    Descriptors,
}

impl Property {
    /// The property a saved finding of `check` must show again.
    pub(super) fn of(name: &str, limits: &Limits) -> Option<Property> {
        let check = crate::checks::named(name)?;
        Some(match check {
            c if *c == process::TARGET_KEEPS_RUNNING => Property::Crash,
            c if *c == process::NO_PANIC_IN_OUTPUT => Property::Alarm,
            c if *c == process::CPU_PER_CASE_BOUNDED => Property::Cpu(limits.cpu),
            c if *c == process::MEMORY_DOES_NOT_JUMP => Property::Jump(limits.memory_jump),
            c if *c == process::MEMORY_DOES_NOT_LEAK => Property::Leak,
            c if *c == process::DESCRIPTORS_COME_BACK => Property::Descriptors,
            c => Property::Check(c),
        })
    }
}

/// Replays of a leak suspect whose descriptors are counted.
const DESCRIPTOR_REPLAYS: u64 = 12;
/// Runs of a group of connections before a race counts as gone.
const RACE_TRIES: usize = 5;
/// How long a crash may take to show after the case that caused it.
const CRASH_GRACE: Duration = Duration::from_millis(100);

/// Where re-runs happen: the target, the route of the case, and the target process if wsfuzz started it.
pub(super) struct Bench<'a> {
    pub target: &'a Target,
    pub route: &'a Route,
    pub settings: &'a Settings,
    /// The campaign's stop: a re-run it cuts short shows nothing.
    pub stop: &'a Stop,
    pub watched: Option<&'a tokio::sync::Mutex<Watched>>,
    /// Scenarios and message cases played before the failing one on a started target, oldest first.
    pub history: &'a [Case],
    /// The messages played before the failing case on the connection it was played on.
    pub on_connection: &'a [crate::case::Step],
    /// Whether every re-run of a message case starts from a fresh target: set while shrinking
    /// a failure that shows only after earlier cases, so that only what the candidate itself
    /// plays counts.
    pub from_scratch: AtomicBool,
    /// Whether re-runs of a check wait [`Timing::brief`] rather than the whole time-out: set
    /// while a confirmed failure is shrunk.
    pub brief: AtomicBool,
    /// The longest a re-run that passed took: how soon the server answers, to wait briefly for.
    pub passed_within: Mutex<Option<Duration>>,
    /// The campaign's cases, played beside a shrunk case confirmed with whole waits; none on a
    /// target wsfuzz started, whose every change is one case's doing.
    pub company: Option<&'a Company>,
}

/// What a failing re-run showed.
#[derive(Clone)]
pub(super) struct Rerun {
    pub failure: Failure,
    pub events: Vec<Event>,
    pub output: Vec<String>,
}

impl Bench<'_> {
    /// The waits of a re-run of a check, brief while shrinking.
    fn check_timing(&self) -> Timing {
        match self.brief.load(Ordering::Relaxed) {
            true => self.settings.timing.brief(*held(&self.passed_within)),
            false => self.settings.timing,
        }
    }

    /// Runs `case` once (or as often as `property` needs) and says whether it fails again;
    /// `None` too if the campaign had to stop first.
    pub async fn rerun(&self, property: Property, case: &Case) -> Option<Rerun> {
        self.stop
            .or(Box::pin(self.rerun_unstopped(property, case)))
            .await
            .flatten()
    }

    async fn rerun_unstopped(&self, property: Property, case: &Case) -> Option<Rerun> {
        let Some(watched) = self.watched else {
            return self.rerun_check(property, case).await;
        };
        let mut watched = watched.lock().await;
        // Any candidate may have crashed the target; each run starts from a live one. A crash,
        // and a scenario of several clients (whose failure may hang on state earlier runs left),
        // start from a fresh one, so that what earlier runs did cannot count.
        let fresh = match property {
            Property::Crash => true,
            Property::Check(_) => {
                case.layer() == Layer::Clients || self.from_scratch.load(Ordering::Relaxed)
            }
            // Resources are measured on a warm target: a fresh one grows as it loads.
            _ => false,
        };
        if fresh || watched.exited().await.is_some() {
            watched.restart().await.ok()?;
        }
        let timing = self.settings.timing;
        match property {
            Property::Check(_) => {
                drop(watched);
                self.rerun_check(property, case).await
            }
            Property::Crash => {
                let mark = watched.mark();
                let transcript = play(self.target, self.route, case, timing).await;
                let exit = watched.exit_within(CRASH_GRACE).await?;
                Some(Rerun {
                    failure: process::crashed(&exit),
                    events: transcript.events,
                    output: watched.last_words(mark),
                })
            }
            Property::Alarm => {
                let mark = watched.mark();
                let transcript = play(self.target, self.route, case, timing).await;
                // Output is read by other tasks: give the last lines a moment to arrive.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let failure = process::alarmed(&watched.alarms_since(mark))?;
                Some(Rerun {
                    failure,
                    events: transcript.events,
                    output: watched.alarm_context(mark),
                })
            }
            Property::Cpu(limit) => {
                let before = watched.usage();
                let transcript = play(self.target, self.route, case, timing).await;
                let used = watched.usage().cpu.saturating_sub(before.cpu);
                (used > limit).then(|| Rerun {
                    failure: process::Excess::Cpu { used, limit }.failure(&self.settings.limits),
                    events: transcript.events,
                    output: Vec::new(),
                })
            }
            Property::Jump(limit) => {
                watched.reset_peak();
                let before = watched.usage();
                let transcript = play(self.target, self.route, case, timing).await;
                let rose = watched.usage().peak.saturating_sub(before.rss);
                (rose > limit).then(|| Rerun {
                    failure: process::Excess::Jump { rose, limit }.failure(&self.settings.limits),
                    events: transcript.events,
                    output: Vec::new(),
                })
            }
            Property::Leak => {
                // Two runs first, so that what a first run allocates for good (caches) is not counted.
                self.replay(case, 2).await;
                let before = watched.usage();
                let events = self.replay(case, LEAK_REPLAYS.into()).await;
                let after = watched.usage();
                let grown = after.rss.saturating_sub(before.rss);
                (grown >= u64::from(LEAK_REPLAYS) * LEAK_PER_RUN).then(|| Rerun {
                    failure: Failure {
                        check: &process::MEMORY_DOES_NOT_LEAK,
                        step: None,
                        expected: format!(
                            "replaying the case leaves less than {} KiB behind each time",
                            LEAK_PER_RUN >> 10
                        ),
                        actual: format!(
                            "{LEAK_REPLAYS} replays left {} KiB behind ({} KiB each)",
                            grown >> 10,
                            (grown / u64::from(LEAK_REPLAYS)) >> 10
                        ),
                        cause: String::new(),
                    },
                    events,
                    output: Vec::new(),
                })
            }
            Property::Descriptors => {
                let before = watched.usage();
                let events = self.replay(case, DESCRIPTOR_REPLAYS).await;
                let after = settled(&mut watched, &before, timing.timeout).await;
                let open = after.fds.saturating_sub(before.fds);
                (open >= DESCRIPTOR_REPLAYS / 2).then(|| Rerun {
                    failure: Failure {
                        check: &process::DESCRIPTORS_COME_BACK,
                        step: None,
                        expected: "the target's descriptors come back down once its connections close".into(),
                        actual: format!(
                            "after {DESCRIPTOR_REPLAYS} replays, {open} more descriptors stayed open"
                        ),
                        cause: String::new(),
                    },
                    events,
                    output: Vec::new(),
                })
            }
        }
    }

    /// Plays `case` `times` times, without probes (the server's resources are what is watched);
    /// returns the last run's timeline.
    async fn replay(&self, case: &Case, times: u64) -> Vec<Event> {
        let mut events = Vec::new();
        for _ in 0..times {
            events = run_case(self.target, &self.route.channel, case, self.settings.timing)
                .await
                .events;
        }
        events
    }

    async fn rerun_check(&self, property: Property, case: &Case) -> Option<Rerun> {
        let Property::Check(check) = property else {
            return None;
        };
        // Out of the company, a re-run plays alone.
        if let Some(company) = self.company.filter(|c| !c.is_open()) {
            self.stop.or(company.alone()).await;
        }
        if !wait_until_up(self.target, self.route, self.settings).await {
            return None;
        }
        // A race may not come back every time: connections played together get a few tries.
        let tries = if case.alongside.is_empty() {
            1
        } else {
            RACE_TRIES
        };
        for _ in 0..tries {
            let transcript = play(self.target, self.route, case, self.check_timing()).await;
            let failed = judge(&Observed {
                case,
                transcript: &transcript,
                channel: &self.route.channel,
            })
            .into_iter()
            .find(|f| f.check == check);
            if let Some(failure) = failed {
                // Beside the campaign's cases, a failure is the case's own only if the server
                // answered a fresh connection right after it; else the case is played again,
                // alone.
                if let Some(company) = self.company.filter(|c| c.is_open() && !served(&transcript))
                {
                    company.close();
                    return Box::pin(self.rerun_check(property, case)).await;
                }
                return Some(Rerun {
                    failure,
                    events: transcript.events,
                    output: Vec::new(),
                });
            }
        }
        None
    }

    /// Confirms a failure on a re-run, shrinks it, and writes it up. `head_start` is the
    /// minimal case of a finding of the same check and cause on another channel, moved to
    /// this case's endpoint: tried first, the same flaw seen through another channel need not
    /// be shrunk all over again.
    pub async fn minimize(
        &self,
        property: Property,
        case: Case,
        // The failure as first seen: what is reported if no re-run fails.
        first: Rerun,
        index: u64,
        // What shrinking may spend; a re-run that confirms the failure is not shrinking.
        budget: Budget,
        head_start: Option<(Case, String)>,
    ) -> Finding {
        let check = first.failure.check;
        let first_cause = first.failure.cause.clone();
        let last: Mutex<Option<Rerun>> = Mutex::new(None);
        // The candidates shrinking took, in turn, and whether the newest failed only once its
        // wait ran out.
        let taken: Mutex<Vec<Case>> = Mutex::new(Vec::new());
        let waited_out = AtomicBool::new(false);
        let admission = self.route.channel.admits(&case.endpoint.params);
        // When shrinking ends, mid-run if need be; unset while a re-run confirms the failure,
        // which only the campaign's stop cuts short. Shrinking's time runs from its first
        // re-run, across the phases below.
        let shrinking_until: Mutex<Option<Instant>> = Mutex::new(None);
        let deadline = std::sync::OnceLock::new();
        let shrinking = |on: bool| {
            *held(&shrinking_until) =
                on.then(|| *deadline.get_or_init(|| Instant::now() + budget.time));
        };
        let original = &case.clone();
        let attempt = |candidate: Case| {
            let (last, taken, waited_out, first_cause) = (&last, &taken, &waited_out, &first_cause);
            let until = *held(&shrinking_until);
            async move {
                // A candidate whose endpoint the server would refuse where the original's it would
                // accept (or the other way round) fails for another reason: it is not simpler.
                if self.route.channel.admits(&candidate.endpoint.params) != admission {
                    return false;
                }
                // Once stopped, every remaining candidate counts as passing, so shrinking
                // winds down at once.
                let stop = match until {
                    Some(until) => self.stop.by(until),
                    None => self.stop.clone(),
                };
                let (began, wait) = (Instant::now(), self.check_timing().timeout);
                let rerun = stop.or(self.rerun(property, &candidate)).await;
                let took = began.elapsed();
                if let Some(None) = rerun {
                    let mut passed = held(&self.passed_within);
                    *passed = Some(passed.map_or(took, |before| before.max(took)));
                }
                let rerun = rerun.flatten();
                match rerun {
                    // Shrinking keeps to the kind of answer first seen: it must not slip from
                    // one flaw to another of the same check (silence on some requests, a drop
                    // on smaller ones), where the finding would hide behind the other one.
                    Some(rerun) if !keeps_to(original, first_cause, &candidate, &rerun) => false,
                    Some(rerun) => {
                        *held(last) = Some(rerun);
                        waited_out.store(took >= wait, Ordering::Relaxed);
                        held(taken).push(candidate);
                        true
                    }
                    None => false,
                }
            }
        };
        let lock = |last: &Mutex<Option<Rerun>>| std::mem::take(&mut *held(last));
        let minimal_of = |case: Case| async move {
            if case.scale().is_some() {
                crate::shrink::edge(case, budget, attempt).await
            } else {
                shrink(case, budget, attempt).await
            }
        };
        let target_down = self.watched.is_none()
            && !self
                .stop
                .or(wait_until_up(self.target, self.route, self.settings))
                .await
                .unwrap_or(true);
        // A check's failure is re-run with brief waits first, and shrunk at once if it fails so
        // too: the newest case shrinking took that fails with whole waits confirms it. A
        // failure by silence then costs one whole time-out, not two (the case's, then its
        // minimal case's). What brief waits cannot show is confirmed below with whole waits.
        let mut early: Option<(Shrunk, Rerun)> = None;
        // Whether the case itself was re-run with whole waits, and passed.
        let mut passed_whole = false;
        if !target_down && budget.attempts > 0 && matches!(property, Property::Check(_)) {
            shrinking(true);
            self.brief.store(true, Ordering::Relaxed);
            let (head, from_channel) = match head_start
                .filter(|(head, _)| weight(head) <= weight(&case))
            {
                Some((head, channel)) if attempt(head.clone()).await => (Some(head), Some(channel)),
                _ => (None, None),
            };
            let headed = usize::from(head.is_some());
            let from = match head {
                Some(head) => Some(head),
                None => attempt(case.clone()).await.then(|| case.clone()),
            };
            if let Some(from) = from {
                let briefly = minimal_of(from).await;
                self.brief.store(false, Ordering::Relaxed);
                let tried = std::mem::take(&mut *held(&taken));
                // A case that failed only once its brief wait ran out will wait out the whole
                // time-out: that need not hold the campaign up (a case of scale is still re-run
                // alone: the time the server takes over it is what is judged).
                let waits_out = waited_out.load(Ordering::Relaxed);
                if let Some(company) = self.company.filter(|_| waits_out && case.scale().is_none())
                {
                    company.open();
                }
                let (newest, oldest_passed) = self
                    .newest_failing(property, &tried, original, &first_cause)
                    .await;
                if let Some(company) = self.company {
                    company.close();
                }
                passed_whole = oldest_passed && headed == 0;
                if let Some((at, rerun)) = newest {
                    lock(&last);
                    // Candidates taken after `at` failed only for the brief wait: shrinking
                    // goes on from `at`, with whole waits.
                    let mut shrunk = match at + 1 < tried.len() {
                        true => {
                            let again = minimal_of(tried[at].clone()).await;
                            Shrunk {
                                attempts: briefly.attempts + again.attempts,
                                accepted: at + headed + again.accepted,
                                ..again
                            }
                        }
                        false => Shrunk {
                            accepted: briefly.accepted + headed,
                            ..briefly
                        },
                    };
                    // Every case taken descends from the head start, if there was one.
                    shrunk.from_channel = from_channel;
                    early = Some((shrunk, lock(&last).unwrap_or(rerun)));
                }
            }
            self.brief.store(false, Ordering::Relaxed);
            held(&taken).clear();
            lock(&last);
        }
        shrinking(false);
        let mut reproduced =
            early.is_some() || (!target_down && !passed_whole && attempt(case.clone()).await);
        let unconfirmed = !reproduced && self.stop.is_stopped();
        // A scenario that fails only after others may fail on what they left behind: played
        // after them on a fresh target, the history itself is the case to shrink.
        let mut case = case;
        let stateful = matches!(property, Property::Check(_) | Property::Crash)
            && case.layer() == Layer::Clients;
        let mut scenarios: Vec<&Case> = self
            .history
            .iter()
            .rev()
            .filter(|c| c.layer() == Layer::Clients)
            .take(super::HISTORY)
            .collect();
        scenarios.reverse();
        if !reproduced && !target_down && stateful && !scenarios.is_empty() {
            let combined = scenarios
                .iter()
                .fold(Case::scenario(&case.endpoint), |all, earlier| {
                    all.followed_by(earlier)
                })
                .followed_by(&case);
            if attempt(combined.clone()).await {
                reproduced = true;
                case = combined;
            }
        }
        // A case played on a connection kept from the cases before may fail only after their
        // messages: played after them on one connection, they are the case to shrink.
        if !reproduced && !target_down && !unconfirmed && !self.on_connection.is_empty() {
            let mut after = case.clone();
            after.steps = self
                .on_connection
                .iter()
                .chain(&case.steps)
                .cloned()
                .collect();
            if attempt(after.clone()).await {
                reproduced = true;
                case = after;
            }
        }
        let original_steps = case.steps.len();
        shrinking(true);
        // The re-run that confirmed the case, with the whole time-out, and the case shrunk.
        let (confirmed, mut shrunk) = match early {
            Some((shrunk, rerun)) => (Some(rerun), shrunk),
            // Confirmed with whole waits only: shrunk with them.
            None if reproduced && budget.attempts > 0 => {
                let confirmed = lock(&last);
                held(&taken).clear();
                (confirmed, minimal_of(case.clone()).await)
            }
            None => (
                lock(&last),
                Shrunk {
                    case: case.clone(),
                    attempts: 1,
                    accepted: 0,
                    exhausted: false,
                    from_channel: None,
                },
            ),
        };
        // On a started target, a message case's minimal case must fail on a fresh target too: if
        // it fails only on what the campaign left in its resource (a write that broke it, every
        // later connection failing from its first step), the case is played on a fresh target,
        // after the cases played before it on the same resource if it needs them, and shrunk
        // again with every candidate on a fresh target: the minimal case shows what broke the
        // state.
        let messages = matches!(property, Property::Check(_)) && case.layer() == Layer::Messages;
        if reproduced && messages && self.watched.is_some() {
            self.from_scratch.store(true, Ordering::Relaxed);
            if self.rerun(property, &shrunk.case).await.is_none() {
                let mut after_earlier = case.clone();
                after_earlier.before = self
                    .history
                    .iter()
                    .filter(|c| c.layer() == Layer::Messages && c.endpoint == case.endpoint)
                    .cloned()
                    .collect();
                for candidate in [case.clone(), after_earlier] {
                    if attempt(candidate.clone()).await {
                        shrunk = shrink(candidate, budget, attempt).await;
                        break;
                    }
                }
            }
            self.from_scratch.store(false, Ordering::Relaxed);
        }
        if let Some(watched) = self.watched {
            let mut watched = watched.lock().await;
            if watched.exited().await.is_some() {
                // The campaign goes on; if the target cannot be started again, the next case says so.
                let _ = self.stop.or(watched.restart()).await;
            }
        }
        let rerun = lock(&last).or(confirmed).unwrap_or(first);
        let minimal = shrunk.case.clone();
        // The size shrinking brought a case of scale down to is where the server breaks.
        let edge = crate::gen::scale::of_index(index).and_then(|_| minimal.size());
        let url = self.target.url(&minimal.endpoint);
        let at = match rerun.failure.step {
            Some(step) => format!("step {step} of "),
            None => String::new(),
        };
        let settings = self.settings;
        let redact = self.target.credentials.redactor();
        Finding {
            check,
            level: check.level,
            // What the server said or printed may hold a secret it echoed; none is kept.
            summary: redact(&format!(
                "{check}: {at}{url}: {}",
                crate::case::abbreviate(&rerun.failure.actual)
            )),
            endpoint: url.clone(),
            channel: self.route.channel.id.clone(),
            // As the minimal case shows it (the campaign tells findings apart by the first).
            cause: if rerun.failure.cause.is_empty() {
                first_cause
            } else {
                rerun.failure.cause.clone()
            },
            expected: redact(&rerun.failure.expected),
            actual: redact(&rerun.failure.actual),
            by_hand: by_hand(&url, &minimal),
            start_first: settings.spawn.as_ref().map(|spawn| spawn.command.clone()),
            case: minimal,
            seed: settings.seed,
            case_index: index,
            original_steps,
            edge,
            found_after: 0.0,
            shrink: shrunk,
            flaky: !reproduced && !target_down && !unconfirmed,
            unconfirmed,
            target_down,
            occurrences: 1,
            reproduce: format!(
                "{} --seed {} --case {index}",
                settings.command, settings.seed
            ),
            transcript: rerun.events,
            target_output: rerun.output.iter().map(|l| redact(l)).collect(),
            regression: None,
            standalone: None,
            replayed: false,
        }
    }

    /// The newest of `taken` (cases shrinking took in turn, each smaller than the one before)
    /// that fails with whole waits, searched for by halves, with the re-run that showed it;
    /// and whether the oldest was re-run so and passed.
    async fn newest_failing(
        &self,
        property: Property,
        taken: &[Case],
        original: &Case,
        first_cause: &str,
    ) -> (Option<(usize, Rerun)>, bool) {
        let Some(mut next) = taken.len().checked_sub(1) else {
            return (None, false);
        };
        let tries = 2 + taken.len().ilog2();
        let by = Instant::now() + tries * self.settings.timing.timeout;
        // The newest that failed, among those before `passed`.
        let (mut from, mut passed) = (None, taken.len());
        loop {
            match self
                .stop
                .by(by)
                .or(self.rerun(property, &taken[next]))
                .await
            {
                Some(Some(rerun)) if keeps_to(original, first_cause, &taken[next], &rerun) => {
                    from = Some((next, rerun))
                }
                Some(_) => passed = next,
                None => break,
            }
            let low = from.as_ref().map_or(0, |(at, _)| at + 1);
            if low >= passed {
                break;
            }
            next = low + (passed - low) / 2;
        }
        (from, passed == 0)
    }
}

/// Whether a failing re-run of `candidate` shows the flaw first seen: the original case
/// fails however it fails, a smaller one only with the same kind of answer.
fn keeps_to(original: &Case, first_cause: &str, candidate: &Case, rerun: &Rerun) -> bool {
    candidate == original || same_answer(first_cause, &rerun.failure.cause)
}

/// Whether two causes tell of the same kind of answer (`… → silence`, `… → close 1011`),
/// whatever its particulars (after a colon) and however long it was waited for; a cause that
/// tells none matches any.
fn same_answer(first: &str, now: &str) -> bool {
    let answer = |cause: &str| {
        let (_, answer) = cause.rsplit_once(" → ")?;
        let answer = answer.split(": ").next().unwrap_or(answer);
        let words: Vec<&str> = answer.split(' ').collect();
        let waited = |i: usize| {
            words[i].bytes().all(|b| b.is_ascii_digit()) && words.get(i + 1) == Some(&"ms")
        };
        Some(
            (0..words.len())
                .map(|i| if waited(i) { "N" } else { words[i] })
                .collect::<Vec<_>>()
                .join(" "),
        )
    };
    match (answer(first), answer(now)) {
        (Some(first), Some(now)) => first == now,
        _ => true,
    }
}

/// How big a case is, to tell whether a head start is no bigger: its length as saved.
fn weight(case: &Case) -> usize {
    serde_json::to_vec(case).map_or(usize::MAX, |bytes| bytes.len())
}

/// Usage once the target's descriptor count stops falling, or `wait` passes: closing sockets takes it a moment.
async fn settled(watched: &mut Watched, before: &Usage, wait: Duration) -> Usage {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let now = watched.usage();
        if now.fds <= before.fds + 2 || std::time::Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What `mutex` guards, even if a holder panicked: shrinking's notes are plain values, never
/// left half-written.
fn held<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::same_answer;

    #[test]
    fn shrinking_keeps_to_the_kind_of_answer_however_long_it_was_waited_for() {
        let silent = "a handshake to refuse → no answer within 2000 ms";
        assert!(same_answer(
            silent,
            "a handshake to refuse → no answer within 250 ms"
        ));
        let dropped = "a handshake to refuse → the connection dropped before an answer";
        assert!(!same_answer(silent, &format!("{dropped}: reset")));
        // How the connection dropped is a particular of one case.
        assert!(same_answer(
            &format!("{dropped}: the server closed the connection"),
            &format!("{dropped}: Connection reset by peer (os error 104)")
        ));
        // Close codes are kinds of answer of their own.
        assert!(!same_answer(
            "invalid JSON → close 1011",
            "invalid JSON → close 1002"
        ));
        assert!(same_answer(
            "invalid JSON → close 1011",
            "a near-miss → close 1011"
        ));
        // A cause that tells no answer (a scenario of several clients) constrains nothing.
        assert!(same_answer("", "invalid JSON → close 1011"));
    }
}
