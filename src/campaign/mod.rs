//! A campaign: generate cases, run them, judge each transcript, shrink what fails, and keep the statistics.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::case::{Case, Layer, Payload, Step};
use crate::checks::process::Limits;
use crate::checks::{Check, Level, Needs, Selection};
use crate::gen::Generator;
use crate::regressions::Saved;
use crate::runner::{probe, run_case, run_case_in, Bystander, Pool, Timing};
use crate::shrink::{Budget, Shrunk};
use crate::target::{Route, Target};
use crate::transcript::{self, Connect, Probe, Response, Transcript};
use crate::watch::{Spawn, Usage, Watched};

mod builder;
mod company;
mod event;
mod lanes;
mod machine;
mod replay;
mod schedule;
mod stop;

pub use builder::{Campaign, Error, DEFAULT_STARTUP};
pub use event::{Event, Reporter, Reporters};
pub use stop::{Signal, Stop};

use replay::Property;

/// What a campaign does, decided before it starts.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How many cases to play; [`Settings::UNTIL_TIME`] to play as many as `time` allows.
    pub cases: u64,
    pub time: Option<Duration>,
    pub seed: u64,
    /// Run only this case number (to reproduce a finding).
    pub only_case: Option<u64>,
    pub timing: Timing,
    pub shrink: Budget,
    /// How long to wait for a target that stopped answering to come back.
    pub recover: Duration,
    /// The command line that repeats this campaign, without `--seed` and `--case`.
    pub command: String,
    /// The layers cases are drawn from; empty for all.
    pub layers: Vec<Layer>,
    /// The target process to start and watch, if wsfuzz starts it.
    pub spawn: Option<Spawn>,
    /// Thresholds of the resource checks on a started target.
    pub limits: Limits,
    /// Connections played at once (`--clients`): each case with this many less one alongside it.
    pub clients: usize,
    /// Cases played at once, each on resources of its own (`--jobs`); one on a target wsfuzz
    /// starts, whose CPU and memory each case is charged for.
    pub jobs: usize,
    /// Saved findings, replayed before any new case.
    pub saved: Vec<Saved>,
    /// The part of the campaign's cases this run plays (`--partition M/N`).
    pub partition: Partition,
    /// The checks that judge cases (`--checks`, `--exclude-checks`).
    pub checks: Selection,
    /// Whether warnings fail the run too (`--strict`).
    pub strict: bool,
    /// Whether saved cases that fail again are shrunk again (`--shrink`); they were minimal
    /// when saved, so by default they are only replayed.
    pub reshrink: bool,
    /// Stops the campaign from outside (a signal), on top of `time`.
    pub stop: Stop,
}

/// Part `index` (from 1) of `of` equal parts of a campaign: case `i` belongs to part
/// `i % of + 1`, so the parts of one campaign play every case exactly once between them,
/// on any machine, whatever the seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    pub index: u64,
    pub of: u64,
}

impl Partition {
    pub const WHOLE: Partition = Partition { index: 1, of: 1 };

    /// Reads `M/N`, with 1 <= M <= N.
    pub fn parse(text: &str) -> Result<Partition, String> {
        let bad = || format!("`{text}` is not a partition M/N with 1 <= M <= N");
        let (m, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, of) = (
            m.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || of == 0 || index > of {
            return Err(bad());
        }
        Ok(Partition { index, of })
    }

    /// The case numbers below `cases` that belong to this part.
    pub fn indices(self, cases: u64) -> impl Iterator<Item = u64> {
        (self.index - 1..cases).step_by(self.of as usize)
    }

    /// How many of the case numbers below `cases` belong to this part.
    pub fn count(self, cases: u64) -> u64 {
        cases.saturating_sub(self.index - 1).div_ceil(self.of)
    }
}

impl Settings {
    /// The cores of this machine: cases played at once unless told otherwise.
    pub fn cores() -> usize {
        std::thread::available_parallelism().map_or(1, usize::from)
    }

    /// A case count with no end of its own: the campaign runs until its `time` is up.
    pub const UNTIL_TIME: u64 = u64::MAX;

    /// How many cases this run plays, if the count and not the time ends it.
    pub fn planned(&self) -> Option<u64> {
        match self.only_case {
            Some(_) => Some(1),
            None if self.cases == Settings::UNTIL_TIME && self.time.is_some() => None,
            None => Some(self.partition.count(self.cases)),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cases: 500,
            time: None,
            seed: 0,
            only_case: None,
            timing: Timing::default(),
            shrink: Budget {
                attempts: 500,
                time: Duration::from_secs(60),
            },
            recover: Duration::from_secs(10),
            command: "wsfuzz fuzz URL".into(),
            layers: Vec::new(),
            spawn: None,
            limits: Limits::default(),
            clients: 1,
            jobs: Settings::cores(),
            saved: Vec::new(),
            partition: Partition::WHOLE,
            checks: Selection::default(),
            strict: false,
            reshrink: false,
            stop: Stop::new(),
        }
    }
}

/// A check a server failed, with the minimal case that shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub check: &'static Check,
    /// The check's level, for readers of the JSON report.
    pub level: Level,
    /// The endpoint of the minimal case.
    pub endpoint: String,
    pub channel: String,
    pub summary: String,
    /// The kind of input and of answer (`not JSON → silence`), as first seen.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cause: String,
    pub expected: String,
    pub actual: String,
    pub case: Case,
    pub seed: u64,
    pub case_index: u64,
    /// Steps of the case as generated, before shrinking.
    pub original_steps: usize,
    /// For a case of scale: the smallest size that still fails, as shrinking found it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge: Option<String>,
    /// Seconds into the campaign when it was found.
    pub found_after: f64,
    pub shrink: Shrunk,
    /// Set when the failure did not come back on a re-run.
    pub flaky: bool,
    /// Set when the campaign stopped before a re-run could confirm the failure: it is
    /// reported as first seen.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unconfirmed: bool,
    /// Set when the target was still down, so the case could be neither re-run nor shrunk.
    pub target_down: bool,
    /// How many cases failed this check on this channel.
    pub occurrences: u64,
    pub reproduce: String,
    /// A `wsfuzz connect` command that plays the minimal case by hand, where one can.
    pub by_hand: Option<String>,
    /// The command that started the target, for a target wsfuzz started (`--spawn`): the
    /// by-hand and standalone reproductions need it running first, on the same port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_first: Option<String>,
    /// The timeline of the minimal case's last run.
    pub transcript: Vec<transcript::Event>,
    /// The target's last lines of output, for a crash or a panic of a target wsfuzz started.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub target_output: Vec<String>,
    /// The saved case this finding was replayed from, or the file it was saved to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regression: Option<String>,
    /// A script that replays the minimal case without wsfuzz, saved beside the regression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standalone: Option<String>,
    /// Whether it came from a saved case rather than a new one.
    pub replayed: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Stats {
    pub cases: u64,
    /// The inputs judged: messages, frames and handshakes sent, over all cases.
    pub inputs: u64,
    pub seconds: f64,
    pub cases_per_second: f64,
    /// Cases run on each layer.
    pub layers: BTreeMap<Layer, u64>,
    /// Cases on each layer that failed at least one check.
    pub failed: BTreeMap<Layer, u64>,
    /// Distinct frame shapes written (header bits, mask, length encoding).
    pub frame_shapes: usize,
    /// Cases of each scale class played (in a campaign its time bounds).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub scale: BTreeMap<crate::gen::scale::Scale, u64>,
    /// How many times wsfuzz started the target (0: it did not start it).
    pub target_starts: u32,
}

/// What a campaign found, and why it ended if it ended early.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub stats: Stats,
    pub seed: u64,
    /// Why the campaign ended before its cases or its time did.
    pub stopped: Option<String>,
    /// The signal that stopped the campaign, and how many cases it had played by then.
    pub interrupted: Option<Interrupted>,
    /// Saved cases replayed first, and those of them that passed: fixed since.
    pub replayed: usize,
    pub fixed: Vec<String>,
    /// Saved cases that could not be replayed here, with why.
    pub not_replayed: Vec<String>,
    /// The channels fuzzed.
    pub channels: Vec<String>,
    /// The checks that judged the cases.
    pub checks: Vec<&'static Check>,
    /// Whether warnings fail the run too (`--strict`).
    pub strict: bool,
    /// What the campaign changed of its plan, and why (an example value the server refuses).
    pub notes: Vec<String>,
}

impl Report {
    /// Whether a finding fails the run: every error, and with `--strict` every warning.
    pub fn fails(&self, finding: &Finding) -> bool {
        finding.level == Level::Error || self.strict
    }

    /// Whether the run failed: exit 1, a red test case.
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| self.fails(f))
    }

    /// The findings at `level`.
    pub fn at(&self, level: Level) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.level == level)
    }
}

/// A campaign stopped by a signal: the report holds what it found until then.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Interrupted {
    pub signal: Signal,
    pub cases: u64,
}

/// Why a campaign could not run at all.
#[derive(Debug)]
pub struct Unreachable(pub String);

/// Runs a campaign against `target`. Findings are data in the report, not errors.
pub async fn run(
    target: &Target,
    settings: &Settings,
    reporter: &mut dyn Reporter,
) -> Result<Report, Unreachable> {
    // `--time` bounds the whole run: starting the target and shrinking count too.
    let stop = match settings.time {
        Some(time) => settings.stop.by(Instant::now() + time),
        None => settings.stop.clone(),
    };
    let watched = match &settings.spawn {
        Some(spawn) => match stop.or(Watched::start(spawn.clone())).await {
            Some(Ok(started)) => Some(tokio::sync::Mutex::new(started)),
            Some(Err(why)) => {
                reporter.on(&Event::Unreachable(&why));
                return Err(Unreachable(why));
            }
            None => {
                let why = before_start(&stop, "the target started");
                reporter.on(&Event::Unreachable(&why));
                return Err(Unreachable(why));
            }
        },
        None => None,
    };
    // Boxed: the campaign's state is large, and a caller's stack (a test thread's) is not.
    let report = Box::pin(campaign(
        target,
        settings,
        &stop,
        watched.as_ref(),
        reporter,
    ))
    .await;
    if let Some(watched) = watched {
        watched.into_inner().stop().await;
    }
    match &report {
        Ok(report) => reporter.on(&Event::Finished(report)),
        Err(Unreachable(why)) => reporter.on(&Event::Unreachable(why)),
    }
    report
}

/// Why a campaign that never started did not: the signal, or the time, that came first.
fn before_start(stop: &Stop, what: &str) -> String {
    match stop.signal() {
        Some(signal) => format!("interrupted by {signal} before {what}"),
        None => format!("the time ran out before {what}"),
    }
}

async fn campaign(
    target: &Target,
    settings: &Settings,
    stop: &Stop,
    watched: Option<&tokio::sync::Mutex<Watched>>,
    reporter: &mut dyn Reporter,
) -> Result<Report, Unreachable> {
    let mut notes = Vec::new();
    let mut admitted = stop
        .or(admitted(target, settings.timing, &mut notes))
        .await
        .ok_or_else(|| Unreachable(before_start(stop, "the target answered")))??;
    if let Some(watched) = watched {
        admitted.meter = watched.lock().await.meter.clone();
    }
    reporter.on(&Event::Started {
        routes: &admitted.routes,
        seed: settings.seed,
        cases: settings.planned(),
        time: settings.time,
    });
    // Cases played together (`--clients`) each keep to connections of their own.
    let pool = (settings.clients <= 1).then(Pool::default);
    let run = machine::Run::new(&admitted, settings, stop, watched, pool.as_ref(), reporter);
    Ok(run.until_done(notes).await)
}

/// Tells the reporters of a new finding: filed away first (saved as a regression, if a
/// reporter saves), then found, then saved.
fn announce(reporter: &mut dyn Reporter, finding: &mut Finding) {
    reporter.file(finding);
    reporter.on(&Event::Found(finding));
    if finding.regression.is_some() && !finding.replayed {
        reporter.on(&Event::Saved(finding));
    }
}

/// Most example values of one parameter tried at the start.
const EXAMPLES_TRIED: usize = 16;

/// The target as the server has it: the spec's example values of each parameter that the
/// server refuses (ids its data does not have) are dropped, with a note each, and so is a
/// route none of whose values the server accepts. Unreachable if the server answers nothing,
/// or no route is left.
async fn admitted(
    target: &Target,
    timing: crate::runner::Timing,
    notes: &mut Vec<String>,
) -> Result<Target, Unreachable> {
    let mut admitted = target.clone();
    let mut refusals = Vec::new();
    admitted.routes.clear();
    for route in &target.routes {
        let mut route = route.clone();
        let endpoint = route.probe_endpoint();
        let error = match probe(target, &route.channel, &endpoint, timing).await {
            Probe::Failed { error } => error,
            Probe::Answered | Probe::Kept => {
                admitted.routes.push(route);
                continue;
            }
        };
        let url = target.url(&endpoint);
        // Nothing answers at all: no example value will do better.
        if !error.starts_with("the handshake was refused") && !error.starts_with("no greeting") {
            return Err(Unreachable(format!("cannot reach {url}: {error}")));
        }
        let params: Vec<(String, Vec<String>)> = route
            .channel
            .params
            .iter()
            .filter(|p| !route.fixed.contains_key(&p.name))
            .map(|p| (p.name.clone(), p.known.clone()))
            .collect();
        let mut served = false;
        for (name, values) in params {
            for value in values.into_iter().take(EXAMPLES_TRIED) {
                let mut tried = route.probe_endpoint();
                tried.params.insert(name.clone(), value.clone());
                match probe(target, &route.channel, &tried, timing).await {
                    Probe::Answered | Probe::Kept => {
                        served = true;
                        break;
                    }
                    Probe::Failed { error } => {
                        notes.push(format!(
                            "the spec's example {name}={value} is left out: {} refused it ({error})",
                            target.url(&tried)
                        ));
                        route.channel = Arc::new(route.channel.forgetting(&name, &value));
                    }
                }
            }
        }
        match served {
            true => admitted.routes.push(route),
            false => refusals.push(format!("{url}: {error}")),
        }
    }
    if admitted.routes.is_empty() {
        return Err(Unreachable(format!(
            "cannot reach {}; give a full endpoint URL with a value the server has (the spec's examples are not on it)",
            refusals.join("; ")
        )));
    }
    for refusal in refusals {
        notes.push(format!("channel left out: {refusal}"));
    }
    Ok(admitted)
}

/// The checks a campaign runs: those of credentials only with credentials (or an origin) to
/// check, and those of the target process only on a target wsfuzz started.
fn checks_run(target: &Target, settings: &Settings, spawned: bool) -> Vec<&'static Check> {
    let layers = &settings.layers;
    // Credential cases are handshake cases.
    let handshakes = layers.is_empty() || layers.contains(&Layer::Handshake);
    let credentials = &target.credentials;
    crate::checks::CHECKS
        .iter()
        .copied()
        .filter(|check| match check.needs {
            Needs::Nothing => true,
            Needs::Secrets => handshakes && credentials.has_secrets(),
            Needs::Origin => handshakes && credentials.origin.is_some(),
            Needs::Spawn => spawned,
        })
        .filter(|check| settings.checks.admits(check))
        .collect()
}

/// What findings of one check are told apart by: their channel and cause (the kind of input
/// and of answer), but for the target process, whose flaw shows on every channel and is one
/// finding, not one per channel.
fn scope(property: Property, channel: &str, cause: &str) -> String {
    match property {
        Property::Check(_) => format!("{channel}\n{cause}"),
        _ => String::new(),
    }
}

/// The share of a timed campaign's time that shrinking may take, all findings together.
const SHRINK_SHARE: u32 = 3;

/// What shrinking the next finding may spend: the per-finding budget, and in a timed
/// campaign no more than is left of its share (a third of the time).
fn shrink_budget(settings: &Settings, spent: Duration) -> Budget {
    let mut budget = settings.shrink;
    if let Some(time) = settings.time {
        budget.time = budget.time.min((time / SHRINK_SHARE).saturating_sub(spent));
    }
    budget
}

/// Scenarios and message cases of one resource kept to replay before one that fails only
/// after others (and scenarios replayed before one, of every resource).
const HISTORY: usize = 12;
/// Cases kept in the history at most, of every resource.
const HISTORY_CASES: usize = 64;

/// What is noted of the target before a case, to tell what the case did to it.
struct Before {
    mark: u64,
    usage: Usage,
}

impl Before {
    fn take(watched: &mut Watched) -> Before {
        watched.reset_peak();
        Before {
            mark: watched.mark(),
            usage: watched.usage(),
        }
    }
}

fn route_of<'r>(routes: &'r [Route], case: &Case) -> &'r Route {
    routes
        .iter()
        .find(|r| r.channel.id == case.endpoint.channel)
        .unwrap_or(&routes[0])
}

/// Case `index` of the campaign: with `--clients N`, N-1 more cases (from seeds of their own)
/// played alongside it.
fn case_at(generator: &Generator, settings: &Settings, index: u64) -> Case {
    let mut case = generator.case(settings.seed, index);
    // A scale case is load enough alone.
    let clients = match crate::gen::scale::of_index(index) {
        Some(_) => 1,
        None => settings.clients.max(1) as u64,
    };
    case.alongside = (1..clients)
        .map(|k| {
            generator.case(
                settings
                    .seed
                    .wrapping_add(k.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                index,
            )
        })
        .collect();
    case
}

/// The same group of connections seen from connection `k` (0: the case itself, borrowed, as
/// every case is judged from it): its case first, the others alongside it.
fn from_connection(case: &Case, k: usize) -> Cow<'_, Case> {
    if k == 0 {
        return Cow::Borrowed(case);
    }
    let first = Case {
        endpoint: case.endpoint.clone(),
        handshake: case.handshake.clone(),
        steps: case.steps.clone(),
        alongside: Vec::new(),
        before: Vec::new(),
        credentials: None,
    };
    let mut seen_from = case.alongside[k - 1].clone();
    seen_from.alongside = std::iter::once(first)
        .chain(
            case.alongside
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != k - 1)
                .map(|(_, c)| c.clone()),
        )
        .collect();
    Cow::Owned(seen_from)
}

/// Runs a case and probes the server afterwards; below the messages, a bystander client
/// stays connected through the case to show whether others suffer from it.
async fn play(target: &Target, route: &Route, case: &Case, timing: Timing) -> Transcript {
    play_all(target, route, case, timing, None)
        .await
        .swap_remove(0)
}

/// `play` for a case and those alongside it, all at once: a transcript for each connection,
/// the case's own first, with the timeline of all of them interleaved.
async fn play_all(
    target: &Target,
    route: &Route,
    case: &Case,
    timing: Timing,
    pool: Option<&Pool>,
) -> Vec<Transcript> {
    for earlier in &case.before {
        let channel = &route_of(&target.routes, earlier).channel;
        run_case(target, channel, earlier, timing).await;
    }
    let bystander = match case.layer() {
        Layer::Messages | Layer::Clients => None,
        _ => Bystander::join(target, &route.channel, &route.probe_endpoint(), timing).await,
    };
    let others = case.alongside.iter().map(|other| {
        run_case(
            target,
            &route_of(&target.routes, other).channel,
            other,
            timing,
        )
    });
    let (mut transcript, mut others) = tokio::join!(
        run_case_in(target, &route.channel, case, timing, pool),
        futures_util::future::join_all(others)
    );
    if let (Some(bystander), Some(wire)) = (bystander, transcript.wire.as_mut()) {
        wire.bystander = Some(bystander.still_served(timing).await);
    }
    // A case whose connection stays open for the next has no close for a probe to follow,
    // and showed the server serving to its end: every message was answered, and a ping after
    // the last. Its read back, if it made one, was a fresh connection as well; if it made
    // none, the next fresh connection (a read back, a probe, a case's handshake) shows whether
    // the server still takes new ones. Every other case is followed by a probe.
    let mut probed = match (&transcript.revisit, transcript.kept_open) {
        (Some(Response::Text { .. }), true) => Probe::Answered,
        (None, true) => Probe::Kept,
        _ => probe(target, &route.channel, &route.probe_endpoint(), timing).await,
    };
    // The read back of the case's resource is a fresh connection too: one that got no
    // answer in time saw the server unresponsive, however soon it came back for the probe.
    if let (Some(Response::Silent { waited_ms }), Probe::Answered) = (&transcript.revisit, &probed)
    {
        probed = Probe::Failed {
            error: format!(
                "a fresh connection to {} got no greeting within {waited_ms} ms",
                crate::case::abbreviate(&target.url(&case.endpoint))
            ),
        };
    }
    if !others.is_empty() {
        let mut events = label(&transcript.events, 1);
        for (k, other) in others.iter().enumerate() {
            events.extend(label(&other.events, k + 2));
        }
        events.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
        transcript.events = events;
    }
    for other in &mut others {
        other.probe = Some(probed.clone());
    }
    transcript.probe = Some(probed);
    std::iter::once(transcript).chain(others).collect()
}

/// A connection's events, each marked with its number in the group.
fn label(events: &[transcript::Event], connection: usize) -> Vec<transcript::Event> {
    events
        .iter()
        .map(|e| transcript::Event {
            at_ms: e.at_ms,
            what: format!("[{connection}] {}", e.what),
        })
        .collect()
}

/// Whether the server was up through the case: connected and answered the probe.
fn served(transcript: &Transcript) -> bool {
    !matches!(
        transcript.connect,
        Connect::Unreachable { .. } | Connect::Unanswered { .. }
    ) && transcript.probe.as_ref().is_some_and(Probe::served)
}

/// Polls the probe endpoint until it answers or `settings.recover` passes.
async fn wait_until_up(target: &Target, route: &Route, settings: &Settings) -> bool {
    let deadline = Instant::now() + settings.recover;
    let endpoint = route.probe_endpoint();
    loop {
        if probe(target, &route.channel, &endpoint, settings.timing).await == Probe::Answered {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `wsfuzz connect URL --send MSG ...` for a case of text messages of reasonable size, on one connection.
fn by_hand(url: &str, case: &Case) -> Option<String> {
    // `wsfuzz connect` sends neither raw handshakes nor changed credentials nor a foreign
    // Origin, and plays one connection.
    if case.handshake.is_some() || case.credentials.is_some() || !case.alongside.is_empty() {
        return None;
    }
    let mut command = format!("wsfuzz connect {}", shell_quote(url));
    for step in &case.steps {
        let text = match step {
            Step::Send(Payload::Binary(_)) => return None,
            Step::Send(payload) => payload.text()?.into_owned(),
            _ => return None,
        };
        if text.len() > 2000 || text.contains('\0') {
            return None;
        }
        command.push_str(&format!(" --send {}", shell_quote(&text)));
    }
    Some(command)
}

/// Quotes a word for a POSIX shell.
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_of_a_campaign_play_every_case_exactly_once() {
        for (cases, of) in [(0, 1), (10, 3), (500, 7), (5, 8), (1000, 1)] {
            let mut played: Vec<u64> = (1..=of)
                .flat_map(|index| Partition { index, of }.indices(cases))
                .collect();
            played.sort_unstable();
            assert_eq!(
                played,
                (0..cases).collect::<Vec<_>>(),
                "{cases} cases in {of} parts"
            );
        }
        assert_eq!(Partition::parse("2/3"), Ok(Partition { index: 2, of: 3 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            assert!(Partition::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(shell_quote("ws://h:1/a"), "ws://h:1/a");
        assert_eq!(shell_quote(r#"{"a":'b'}"#), r#"'{"a":'\''b'\''}'"#);
        assert_eq!(shell_quote(""), "''");
    }
}
