//! The campaign's loop as a state machine: replay the saved cases, then draw, play, judge and shrink each case and see to the target, until the cases, the time or a stop end it.
//!
//! ```text
//! Replaying ─▶ Drawing ◀─▶ Playing ─▶ Judging ─▶ Shrinking ─▶ Recovering ─▶ Drawing …
//!                             │                   ▲     │         │
//!                             ▼                   └─────┘         ▼
//!                          Finished         (one failure a step)  Finished
//! ```
//!
//! Drawing starts cases in lanes, as many at once as `--jobs` and their claims on the server
//! allow (`lanes`); Playing waits for the next case in the order they were drawn, so cases are
//! judged in that order whatever order they end in. Shrinking starts alone: the cases playing
//! are let end, but those that only connect are taken back, to start again in their turn. While
//! a shrunk case waits out the whole time-out to confirm a silence, Shrinking draws and plays
//! beside it (`company`). Each state is a method of [`Run`] that does one thing and says which
//! state comes next; the loop in [`Run::until_done`] names no check, layer or reporter.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use futures_util::future::{AbortHandle, LocalBoxFuture};
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::company::Company;
use super::lanes::{self, Claim};
use super::replay::{Bench, Property, Rerun};
use super::schedule::Schedule;
use super::{
    announce, case_at, checks_run, from_connection, play_all, route_of, scope, served,
    shrink_budget, wait_until_up, Before, Event, Finding, Interrupted, Report, Reporter, Settings,
    Stats, Stop, HISTORY, HISTORY_CASES,
};
use crate::case::{Case, Layer, Step};
use crate::checks::process::{self, Excess, Ledger};
use crate::checks::{judge, Check, Observed};
use crate::gen::scale::Scale;
use crate::gen::Generator;
use crate::runner::Pool;
use crate::target::{Route, Target};
use crate::transcript::Transcript;
use crate::watch::Watched;

/// Where a campaign is.
enum State<'a> {
    /// Replaying saved case number `.0` (and those after it).
    Replaying(usize),
    /// Taking cases from the schedule and starting them, as many at once as `--jobs` and
    /// their claims allow.
    Drawing,
    /// Waiting for the next case, in the order they were drawn, to be played out.
    Playing,
    /// Judging what a case showed: the checks, and the target's process.
    Judging(Played<'a>),
    /// Shrinking a case's failures, one a step.
    Shrinking(Judged<'a>),
    /// Seeing that the target is still there after a case, and starting it again if not.
    Recovering(Played<'a>),
    /// The cases or the time ran out, a stop came, or the target is gone.
    Finished,
}

/// A case drawn, with what was noted of the target before it.
struct Drawn<'a> {
    /// Its place in the order cases are drawn in, which is the order they are judged in.
    seq: u64,
    index: u64,
    case: Case,
    route: &'a Route,
    before: Option<Before>,
}

/// A case played: a transcript for each of its connections, its own first.
struct Played<'a> {
    drawn: Drawn<'a>,
    connections: Vec<Transcript>,
    took: Duration,
    /// The cases played at the same time as it, some of the time (`--jobs`): a failure
    /// they may have caused counts only if it comes back with the case played alone.
    beside: Vec<u64>,
    /// Whether it failed a check, once judged.
    failed: bool,
}

/// Cases being played at once: each ends with its place in the draw, and what it showed
/// (nothing if the stop cut it short).
type Lanes<'a> = FuturesUnordered<LocalBoxFuture<'a, (u64, Option<Played<'a>>)>>;

/// A case in a lane: its place in the draw, its number, what it claims of the server, and
/// the cases played beside it so far.
struct InLane {
    seq: u64,
    index: u64,
    claim: Claim,
    beside: Vec<u64>,
    /// Ends its play at once, to take it back (`withdrawn`).
    abort: AbortHandle,
    /// Taken back before it ended, to start again in its turn.
    withdrawn: bool,
}

/// Cases played out ahead of their turn to be judged, at most: past it, no more are drawn
/// until the slow one before them ends.
const AHEAD: usize = 256;
/// Cases drawn and held back by a clash, at most: past it, drawing waits for a lane to free.
const WAITING: usize = 16;

impl Played<'_> {
    fn transcript(&self) -> &Transcript {
        &self.connections[0]
    }
}

/// A case judged: the failures still to shrink, each with the connection it was seen from.
struct Judged<'a> {
    played: Played<'a>,
    failures: VecDeque<(Property, Rerun, usize)>,
    /// For a leak or descriptors that grew over many cases: the case that added most.
    suspects: Vec<(Property, u64)>,
    /// Whether the target's death is among the failures already.
    crashed: bool,
    /// When the case failed, into the campaign: what a user waits for, shrinking aside.
    detected: Duration,
}

/// What the cases played add up to.
#[derive(Default)]
struct Tally {
    ran: u64,
    inputs: u64,
    per_layer: BTreeMap<Layer, u64>,
    failed_per_layer: BTreeMap<Layer, u64>,
    shapes: BTreeSet<String>,
    per_scale: BTreeMap<Scale, u64>,
}

/// Saved cases replayed, those of them fixed since, and those that could not be.
#[derive(Default)]
struct Replays {
    replayed: usize,
    fixed: Vec<String>,
    not_replayed: Vec<String>,
}

/// A campaign under way: what every state reads and adds to.
pub(super) struct Run<'a> {
    target: &'a Target,
    settings: &'a Settings,
    stop: &'a Stop,
    watched: Option<&'a tokio::sync::Mutex<Watched>>,
    reporter: &'a mut dyn Reporter,
    generator: Generator,
    schedule: Schedule,
    /// Connections kept from one case of messages to the next; not with `--clients`, where
    /// cases played together each keep to connections of their own.
    pool: Option<&'a Pool>,
    /// Cases played at once at most.
    jobs: usize,
    lanes: Lanes<'a>,
    /// The cases in the lanes.
    in_lanes: Vec<InLane>,
    /// Cases drawn that clash with one being played, or with one waiting before them, in the
    /// order they were drawn: each starts once it clashes with neither, and cases drawn after
    /// them on other resources need not wait for them.
    waiting: VecDeque<(Drawn<'a>, Claim)>,
    /// Whether the schedule has no more cases.
    drawn_all: bool,
    drawn: u64,
    /// Cases played out, waiting for their turn to be judged, by their place in the draw.
    ahead: BTreeMap<u64, Played<'a>>,
    /// The place in the draw of the next case to judge.
    next_judged: u64,
    started: Instant,
    /// Time spent shrinking so far: a timed campaign spends at most a share of its time on it.
    shrinking: Duration,
    findings: Vec<Finding>,
    /// Which finding each failure (check and scope) is, to count it rather than find it again.
    seen: HashMap<(&'static Check, String), usize>,
    ledger: Ledger,
    /// Recent scenarios, in case a later one fails only on what they left behind.
    history: VecDeque<Case>,
    tally: Tally,
    replays: Replays,
    /// Why the campaign ended early, when it did.
    stopped: Option<String>,
}

impl<'a> Run<'a> {
    pub fn new(
        target: &'a Target,
        settings: &'a Settings,
        stop: &'a Stop,
        watched: Option<&'a tokio::sync::Mutex<Watched>>,
        pool: Option<&'a Pool>,
        reporter: &'a mut dyn Reporter,
    ) -> Run<'a> {
        let generator = Generator::checking(
            &target.routes,
            &settings.layers,
            &target.credentials.changes(),
        );
        let schedule = Schedule::new(settings, generator.scales());
        Run {
            target,
            settings,
            stop,
            watched,
            reporter,
            generator,
            schedule,
            pool,
            // Each case is charged for the CPU and memory of a target wsfuzz started.
            jobs: match watched {
                Some(_) => 1,
                None => settings.jobs.max(1),
            },
            lanes: FuturesUnordered::new(),
            in_lanes: Vec::new(),
            waiting: VecDeque::new(),
            drawn_all: false,
            drawn: 0,
            ahead: BTreeMap::new(),
            next_judged: 0,
            started: Instant::now(),
            shrinking: Duration::ZERO,
            findings: Vec::new(),
            seen: HashMap::new(),
            ledger: Ledger::new(settings.limits),
            history: VecDeque::new(),
            tally: Tally::default(),
            replays: Replays::default(),
            stopped: None,
        }
    }

    /// Plays the campaign from its first state to its last, and reports.
    pub async fn until_done(mut self, notes: Vec<String>) -> Report {
        let mut state = State::Replaying(0);
        loop {
            state = match state {
                State::Replaying(next) => self.replay(next).await,
                State::Drawing => self.draw().await,
                State::Playing => self.play().await,
                State::Judging(played) => self.judge(played).await,
                State::Shrinking(judged) => Box::pin(self.shrink(judged)).await,
                State::Recovering(played) => self.recover(played).await,
                State::Finished => break,
            };
        }
        self.finish(notes).await
    }

    /// Where a failure is re-run: on `route`, after `history` (on a target wsfuzz started)
    /// and after `on_connection` (the messages before it on its kept connection).
    fn bench<'b>(
        &self,
        route: &'b Route,
        history: &'b [Case],
        on_connection: &'b [Step],
    ) -> Bench<'b>
    where
        'a: 'b,
    {
        Bench {
            target: self.target,
            route,
            settings: self.settings,
            stop: self.stop,
            watched: self.watched,
            history,
            on_connection,
            from_scratch: AtomicBool::new(false),
            brief: AtomicBool::new(false),
            passed_within: std::sync::Mutex::new(None),
            company: None,
        }
    }

    fn route(&self, case: &Case) -> &'a Route {
        route_of(&self.target.routes, case)
    }

    /// Replays saved case `next`: a case fixed since is told so, one that fails again is
    /// a finding (shrunk again only if asked: it was minimal when saved).
    async fn replay(&mut self, next: usize) -> State<'a> {
        let Some(saved) = self.settings.saved.get(next) else {
            return State::Drawing;
        };
        if self.stop.is_stopped() {
            return State::Finished;
        }
        let settings = self.settings;
        let case = &saved.regression.case;
        let name = saved.path.display().to_string();
        let Some(route) = self
            .target
            .routes
            .iter()
            .find(|r| r.channel.id == case.endpoint.channel)
        else {
            self.replays.not_replayed.push(format!(
                "{name}: the target has no channel `{}`",
                case.endpoint.channel
            ));
            return State::Replaying(next + 1);
        };
        let Some(property) = Property::of(&saved.regression.check, &settings.limits) else {
            self.replays
                .not_replayed
                .push(format!("{name}: no check `{}`", saved.regression.check));
            return State::Replaying(next + 1);
        };
        if self.watched.is_none() && !matches!(property, Property::Check(_)) {
            self.replays.not_replayed.push(format!(
                "{name}: `{}` needs --spawn",
                saved.regression.check
            ));
            return State::Replaying(next + 1);
        }
        let bench = self.bench(route, &[], &[]);
        let Some(first) = bench.rerun(property, case).await else {
            // A replay the stop cut short says nothing of the case.
            if self.stop.is_stopped() {
                return State::Finished;
            }
            self.replays.replayed += 1;
            self.reporter.on(&Event::Replayed {
                saved: &name,
                fixed: true,
            });
            self.replays.fixed.push(name);
            return State::Replaying(next + 1);
        };
        self.replays.replayed += 1;
        self.reporter.on(&Event::Replayed {
            saved: &name,
            fixed: false,
        });
        let key = (
            first.failure.check,
            scope(property, &route.channel.id, &first.failure.cause),
        );
        let budget = match settings.reshrink {
            true => shrink_budget(settings, self.shrinking),
            false => crate::shrink::Budget::NONE,
        };
        let began = Instant::now();
        let mut finding = bench
            .minimize(
                property,
                case.clone(),
                first,
                saved.regression.case_index,
                budget,
                None,
            )
            .await;
        self.shrinking += began.elapsed();
        finding.regression = Some(name);
        finding.replayed = true;
        announce(self.reporter, &mut finding);
        self.seen.insert(key, self.findings.len());
        self.findings.push(finding);
        State::Replaying(next + 1)
    }

    /// Starts cases while there are lanes free: those waiting first, in the order they were
    /// drawn, then those the schedule admits. A case that clashes with one being played, or
    /// with one waiting before it, waits; up to `WAITING` of them.
    async fn draw(&mut self) -> State<'a> {
        match self.fill_lanes(None).await {
            true => State::Playing,
            false => State::Finished,
        }
    }

    /// `draw`, beside re-runs that claim `rerun` of the server if any; false once stopped.
    async fn fill_lanes(&mut self, rerun: Option<&Claim>) -> bool {
        while self.lanes.len() < self.jobs {
            if self.stop.is_stopped() {
                return false;
            }
            let playing: Vec<&Claim> = self
                .in_lanes
                .iter()
                .map(|c| &c.claim)
                .chain(rerun)
                .collect();
            let waiting: Vec<&Claim> = self.waiting.iter().map(|(_, c)| c).collect();
            let ready = lanes::first_ready(&playing, &waiting);
            if let Some(i) = ready {
                // A connection is kept from one case of messages to the next only while such
                // cases follow each other: other layers meet the server as they always did.
                // Cleared while the case still waits, so that a stop in between loses no case.
                if let Some(pool) = self
                    .pool
                    .filter(|_| self.waiting[i].0.case.layer() != Layer::Messages)
                {
                    self.stop.or(pool.clear(self.settings.timing)).await;
                }
                if let Some((drawn, claim)) = self.waiting.remove(i) {
                    self.start(drawn, claim).await;
                }
                continue;
            }
            // A case of scale waiting holds back every case after it: drawing more would only
            // take the schedule's turns (of time, in a timed campaign) before they can be played.
            // The cases waiting still start past `AHEAD`: the one whose turn it is may be among
            // them, taken back from its lane.
            if self.ahead.len() >= AHEAD
                || self.waiting.len() >= WAITING
                || self.waiting.iter().any(|(_, c)| c.alone())
            {
                break;
            }
            let Some(drawn) = self.next_case() else {
                break;
            };
            let claim = Claim::of(&drawn.case, drawn.route);
            self.waiting.push_back((drawn, claim));
        }
        true
    }

    /// The next case the schedule admits, if it has one.
    fn next_case(&mut self) -> Option<Drawn<'a>> {
        while !self.drawn_all {
            let Some(index) = self.schedule.next(self.started.elapsed()) else {
                self.drawn_all = true;
                break;
            };
            let case = case_at(&self.generator, self.settings, index);
            if !self.schedule.admit(index, case.layer()) {
                continue;
            }
            self.drawn += 1;
            return Some(Drawn {
                seq: self.drawn - 1,
                index,
                route: self.route(&case),
                case,
                before: None,
            });
        }
        None
    }

    /// Starts playing a case in a lane of its own, noting the target's state before it.
    async fn start(&mut self, mut drawn: Drawn<'a>, claim: Claim) {
        let (stop, timing, target, pool) =
            (self.stop, self.settings.timing, self.target, self.pool);
        if let Some(watched) = self.watched {
            drawn.before = Some(Before::take(&mut *watched.lock().await));
        }
        for other in &mut self.in_lanes {
            other.beside.push(drawn.index);
        }
        let beside = self.in_lanes.iter().map(|other| other.index).collect();
        let (seq, index) = (drawn.seq, drawn.index);
        let (lane, abort) = futures_util::future::abortable(async move {
            let began = Instant::now();
            let played = stop
                .or(Box::pin(play_all(
                    target,
                    drawn.route,
                    &drawn.case,
                    timing,
                    pool,
                )))
                .await;
            let played = played.map(|connections| Played {
                drawn,
                connections,
                took: began.elapsed(),
                beside: Vec::new(),
                failed: false,
            });
            (seq, played)
        });
        self.in_lanes.push(InLane {
            seq,
            index,
            claim,
            beside,
            abort,
            withdrawn: false,
        });
        self.lanes
            .push(Box::pin(async move { lane.await.unwrap_or((seq, None)) }));
    }

    /// Waits until the next case in the draw's order has been played, and counts it; one the
    /// stop cuts short is not counted: it was neither played out nor judged.
    async fn play(&mut self) -> State<'a> {
        if let Some(played) = self.ahead.remove(&self.next_judged) {
            self.next_judged += 1;
            self.count(&played);
            return State::Judging(played);
        }
        // Nothing is being played, and nothing more could start: the cases are done.
        if self.lanes.is_empty() {
            return State::Finished;
        }
        let Some(Some((seq, played))) = self.stop.or(self.lanes.next()).await else {
            return State::Finished;
        };
        if !self.landed(seq, played) {
            return State::Finished;
        }
        // The case whose turn it is is judged before another starts in its lane: on a target
        // wsfuzz watches, what the process did then was that case's doing alone.
        self.next_turn()
    }

    /// The next case in the draw's order, if it has been played already, else drawing more:
    /// cases played out are judged before others start, so that a failure among them is
    /// re-run without waiting for cases drawn meanwhile.
    fn next_turn(&self) -> State<'a> {
        match self.ahead.contains_key(&self.next_judged) {
            true => State::Playing,
            false => State::Drawing,
        }
    }

    fn count(&mut self, played: &Played) {
        let (case, tally) = (&played.drawn.case, &mut self.tally);
        tally.ran += 1;
        tally.inputs += played.connections.iter().map(|t| t.sent).sum::<u64>();
        *tally.per_layer.entry(case.layer()).or_insert(0) += 1;
        if let Some((class, _)) = crate::gen::scale::of_index(played.drawn.index) {
            *tally.per_scale.entry(class).or_insert(0) += 1;
        }
        tally
            .shapes
            .extend(case.steps.iter().filter_map(|s| match s {
                Step::Frame(f) => Some(f.shape()),
                _ => None,
            }));
    }

    /// Leaves the server to a failure's re-runs alone. Cases that only connect are taken
    /// back, to start again in their turn: one may wait out a whole time-out on a server that
    /// is silent to it, and it changed nothing that playing it again would not. The others
    /// are let end, and are judged in their turn.
    async fn drain(&mut self) {
        for lane in &mut self.in_lanes {
            if lane.claim.reads_only() {
                lane.withdrawn = true;
                lane.abort.abort();
            }
        }
        while let Some(Some((seq, played))) = self.stop.or(self.lanes.next()).await {
            self.landed(seq, played);
        }
    }

    /// Takes in a case its lane has played out, to be judged in its turn, or one taken back,
    /// to wait for its turn to start again; false if the stop cut it short.
    fn landed(&mut self, seq: u64, played: Option<Played<'a>>) -> bool {
        let at = self.in_lanes.iter().position(|lane| lane.seq == seq);
        let lane = at.map(|at| self.in_lanes.swap_remove(at));
        let Some(mut played) = played else {
            return match lane.filter(|lane| lane.withdrawn && !self.stop.is_stopped()) {
                Some(lane) => {
                    self.withdrawn(lane);
                    true
                }
                None => false,
            };
        };
        played.beside = lane.map(|lane| lane.beside).unwrap_or_default();
        let drawn = &played.drawn;
        self.schedule
            .played(drawn.index, drawn.case.layer(), played.took);
        self.ahead.insert(seq, played);
        true
    }

    /// Puts a case taken back from its lane among those waiting, in its place in the draw.
    fn withdrawn(&mut self, lane: InLane) {
        let case = case_at(&self.generator, self.settings, lane.index);
        let drawn = Drawn {
            seq: lane.seq,
            index: lane.index,
            route: self.route(&case),
            case,
            before: None,
        };
        let at = self.waiting.partition_point(|(d, _)| d.seq < lane.seq);
        self.waiting.insert(at, (drawn, lane.claim));
    }

    /// Judges every connection of the case (a failure is shrunk as seen from its own), then
    /// the target's process: a crash, an alarm in its output, CPU, memory and descriptors.
    async fn judge(&mut self, mut played: Played<'a>) -> State<'a> {
        let settings = self.settings;
        let case = &played.drawn.case;
        let events = || played.transcript().events.clone();
        let mut failures: Vec<(Property, Rerun, usize)> = Vec::new();
        for (k, transcript) in played.connections.iter().enumerate() {
            let seen_from = from_connection(case, k);
            let channel = &self.route(&seen_from).channel;
            for failure in judge(&Observed {
                case: &seen_from,
                transcript,
                channel,
            }) {
                failures.push((
                    Property::Check(failure.check),
                    Rerun {
                        failure,
                        events: events(),
                        output: Vec::new(),
                    },
                    k,
                ));
            }
        }
        failures.retain(|(_, rerun, _)| settings.checks.admits(rerun.failure.check));
        let mut suspects = Vec::new();
        if let (Some(watched), Some(before)) = (self.watched, played.drawn.before.as_ref()) {
            let mut watched = watched.lock().await;
            // A case that went wrong may have killed the target a moment after the probe.
            let grace = match failures.is_empty() {
                true => Duration::ZERO,
                false => Duration::from_millis(100),
            };
            match watched.exit_within(grace).await {
                // A crash explains whatever else went wrong in the case: it alone is reported.
                Some(exit) => {
                    failures = vec![(
                        Property::Crash,
                        Rerun {
                            failure: process::crashed(&exit),
                            events: events(),
                            output: watched.last_words(before.mark),
                        },
                        0,
                    )];
                }
                None => {
                    if let Some(failure) = process::alarmed(&watched.alarms_since(before.mark)) {
                        let output = watched.alarm_context(before.mark);
                        failures.push((
                            Property::Alarm,
                            Rerun {
                                failure,
                                events: events(),
                                output,
                            },
                            0,
                        ));
                    }
                    let after = watched.usage();
                    // A case of scale costs what its size costs, and may leave a heap grown
                    // for good: its own checks judge it, and the account starts after it.
                    let excesses = match case.scale() {
                        Some(_) => {
                            self.ledger.restarted();
                            Vec::new()
                        }
                        None => self
                            .ledger
                            .record(played.drawn.index, &before.usage, &after),
                    };
                    for excess in excesses {
                        let property = match &excess {
                            Excess::Cpu { limit, .. } => Property::Cpu(*limit),
                            Excess::Jump { limit, .. } => Property::Jump(*limit),
                            Excess::Leak { suspects: s, .. } => {
                                suspects.extend(s.iter().map(|&i| (Property::Leak, i)));
                                Property::Leak
                            }
                            Excess::Descriptors { suspects: s, .. } => {
                                suspects.extend(s.iter().map(|&i| (Property::Descriptors, i)));
                                Property::Descriptors
                            }
                        };
                        failures.push((
                            property,
                            Rerun {
                                failure: excess.failure(&settings.limits),
                                events: events(),
                                output: Vec::new(),
                            },
                            0,
                        ));
                    }
                }
            }
        }
        failures.retain(|(_, rerun, _)| settings.checks.admits(rerun.failure.check));
        played.failed = !failures.is_empty();
        if played.failed {
            *self.tally.failed_per_layer.entry(case.layer()).or_insert(0) += 1;
        }
        State::Shrinking(Judged {
            crashed: failures
                .iter()
                .any(|(p, _, _)| matches!(p, Property::Crash)),
            detected: self.started.elapsed(),
            failures: failures.into(),
            suspects,
            played,
        })
    }

    /// Shrinks the case's next failure into a finding, or counts it to the finding it is
    /// already; with none left, records the case.
    async fn shrink(&mut self, mut judged: Judged<'a>) -> State<'a> {
        let Some((property, first, connection)) = judged.failures.pop_front() else {
            // A target that died a moment after its probe died of this case all the same.
            if let Some(crash) = self.died_after(&mut judged).await {
                judged.failures.push_back(crash);
                return State::Shrinking(judged);
            }
            return self.recorded(judged.played);
        };
        let (settings, drawn) = (self.settings, &judged.played.drawn);
        let seen_from = from_connection(&drawn.case, connection);
        let channel = &self.route(&seen_from).channel.id;
        let key = (
            first.failure.check,
            scope(property, channel, &first.failure.cause),
        );
        if let Some(&at) = self.seen.get(&key) {
            self.findings[at].occurrences += 1;
            return State::Shrinking(judged);
        }
        self.reporter.on(&Event::Shrinking {
            check: first.failure.check,
            channel,
            case_index: drawn.index,
        });
        // A leak shows over many cases: its suspects are tried in turn, the one that added
        // most first, until one shows it again; other failures are the case's own.
        let suspects: Vec<(Case, u64)> = judged
            .suspects
            .iter()
            .filter(|(p, _)| std::mem::discriminant(p) == std::mem::discriminant(&property))
            .map(|&(_, suspect)| (self.generator.case(settings.seed, suspect), suspect))
            .collect();
        let tries = match suspects.is_empty() {
            true => vec![(seen_from.into_owned(), drawn.index)],
            false => suspects,
        };
        // CPU, memory and descriptor figures that a replay does not bring back are noise
        // (a collection pause, a cache filling up), not a finding.
        let statistical = matches!(
            property,
            Property::Cpu(_) | Property::Jump(_) | Property::Leak | Property::Descriptors
        );
        let mut shown = None;
        for (case, index) in tries {
            let route = self.route(&case);
            let earlier: Vec<Case> = match self.watched {
                Some(_) => self
                    .history
                    .iter()
                    .filter(|c| c.endpoint.channel == route.channel.id)
                    .cloned()
                    .collect(),
                None => Vec::new(),
            };
            let on_connection = &judged.played.transcript().earlier_on_connection;
            // Shrinking starts alone: cases drawn after this one, or that an earlier failure's
            // re-runs kept company with, may still be playing.
            self.drain().await;
            // Re-runs start from fresh connections; the kept one would only idle meanwhile.
            if let Some(pool) = self.pool {
                self.stop.or(pool.clear(settings.timing)).await;
            }
            let company = Company::default();
            let mut bench = self.bench(route, &earlier, on_connection);
            bench.company = self.watched.is_none().then_some(&company);
            let budget = shrink_budget(settings, self.shrinking);
            let began = Instant::now();
            let head_start = self.head_start(&case, &first);
            let claim = Claim::of(&case, route);
            let minimizing =
                Box::pin(bench.minimize(property, case, first.clone(), index, budget, head_start));
            let finding = self.beside(&company, &claim, index, minimizing).await;
            self.shrinking += began.elapsed();
            if (finding.flaky || finding.unconfirmed) && statistical {
                if self.stop.is_stopped() {
                    break;
                }
                continue;
            }
            shown = Some(finding);
            break;
        }
        let Some(finding) = shown else {
            return State::Shrinking(judged);
        };
        let beside = &judged.played.beside;
        // A failure that does not come back with the case played alone may have been another
        // case's doing, on a server they share (a stall, a lock): that case's own failure
        // tells it, if it has one.
        if (finding.flaky || finding.unconfirmed) && !beside.is_empty() {
            return State::Shrinking(judged);
        }
        let mut finding = finding;
        if finding.target_down && !beside.is_empty() {
            let cases: Vec<String> = beside.iter().map(u64::to_string).collect();
            finding.actual.push_str(&format!(
                "; cases {} were played at the same time (--jobs), and any of them may have \
                 brought the target down",
                cases.join(", ")
            ));
        }
        // Shrinking may show the cause another finding has already: then it is that one.
        let shown = (finding.check, scope(property, channel, &finding.cause));
        if let Some(&at) = self.seen.get(&shown) {
            self.findings[at].occurrences += finding.occurrences;
            self.seen.insert(key, at);
            return State::Shrinking(judged);
        }
        finding.found_after = judged.detected.as_secs_f64();
        announce(self.reporter, &mut finding);
        self.seen.insert(key, self.findings.len());
        self.seen.insert(shown, self.findings.len());
        self.findings.push(finding);
        State::Shrinking(judged)
    }

    /// Waits for `minimizing`, playing the campaign's cases beside it while its company is
    /// open: they are judged in their turn, with case `index` among those beside them.
    async fn beside(
        &mut self,
        company: &Company,
        claim: &Claim,
        index: u64,
        minimizing: impl std::future::Future<Output = Finding>,
    ) -> Finding {
        let mut minimizing = std::pin::pin!(minimizing);
        loop {
            tokio::select! {
                biased;
                finding = &mut minimizing => return finding,
                () = self.keep(company, claim, index) => {}
            }
        }
    }

    /// One turn of keeping company: while it is open, cases are started; those played are
    /// taken in, open or not; a re-run that must play alone is told once they have all ended.
    /// `beside` drops the turn when the re-runs end, so no wait in it leaves a case half
    /// started (`start` waits only on a target wsfuzz watches, which keeps no company).
    async fn keep(&mut self, company: &Company, claim: &Claim, index: u64) {
        if self.stop.is_stopped() {
            return std::future::pending().await;
        }
        if company.awaited() {
            self.drain().await;
            company.ended();
        }
        if company.is_open() {
            self.fill_lanes(Some(claim)).await;
            for lane in &mut self.in_lanes {
                if !lane.beside.contains(&index) {
                    lane.beside.push(index);
                }
            }
        }
        tokio::select! {
            Some((seq, played)) = self.lanes.next(), if !self.lanes.is_empty() => {
                self.landed(seq, played);
            }
            () = company.changed() => {}
        }
    }

    /// The minimal case of a finding of the same check and cause on another channel, moved to
    /// `case`'s endpoint: the same flaw, seen through another channel, likely shrinks to it.
    fn head_start(&self, case: &Case, first: &Rerun) -> Option<(Case, String)> {
        let earlier = self.findings.iter().rev().find(|f| {
            f.check == first.failure.check
                && f.cause == first.failure.cause
                && f.case.endpoint.channel != case.endpoint.channel
                && f.case.layer() == case.layer()
        })?;
        let moved = Case {
            endpoint: case.endpoint.clone(),
            ..earlier.case.clone()
        };
        Some((moved, earlier.channel.clone()))
    }

    /// The death of the target, if it died after the case was judged and no crash is among
    /// its failures yet.
    async fn died_after(&mut self, judged: &mut Judged<'a>) -> Option<(Property, Rerun, usize)> {
        let watched = self.watched?;
        if judged.crashed {
            return None;
        }
        let mut watched = watched.lock().await;
        let exit = watched.exited().await?;
        judged.crashed = true;
        let output = judged
            .played
            .drawn
            .before
            .as_ref()
            .map_or_else(Vec::new, |b| watched.last_words(b.mark));
        Some((
            Property::Crash,
            Rerun {
                failure: process::crashed(&exit),
                events: judged.played.transcript().events.clone(),
                output,
            },
            0,
        ))
    }

    /// Notes a case played and judged: in the history (failed or not, it left its resource
    /// as it left it), and to the reporters.
    fn recorded(&mut self, played: Played<'a>) -> State<'a> {
        let drawn = &played.drawn;
        if matches!(drawn.case.layer(), Layer::Clients | Layer::Messages) {
            // The last cases of each resource: the one that broke it may be many cases back
            // when the campaign plays several resources.
            let same = |c: &Case| c.endpoint == drawn.case.endpoint;
            if self.history.iter().filter(|c| same(c)).count() >= HISTORY {
                if let Some(oldest) = self.history.iter().position(same) {
                    self.history.remove(oldest);
                }
            }
            if self.history.len() >= HISTORY_CASES {
                self.history.pop_front();
            }
            self.history.push_back(drawn.case.clone());
        }
        self.reporter.on(&Event::Played {
            index: drawn.index,
            layer: drawn.case.layer(),
            failed: played.failed,
            done: self.tally.ran,
            findings: self.findings.len(),
        });
        State::Recovering(played)
    }

    /// After a case: a target wsfuzz started that died, or hangs past `--recover`, is
    /// started again so the campaign goes on; one that is not wsfuzz's and stopped
    /// answering ends the campaign.
    async fn recover(&mut self, played: Played<'a>) -> State<'a> {
        let (settings, stop) = (self.settings, self.stop);
        let drawn = &played.drawn;
        let transcript = played.transcript();
        let up = || wait_until_up(self.target, drawn.route, settings);
        let Some(watched) = self.watched else {
            if !served(transcript) && !stop.or(up()).await.unwrap_or(true) {
                self.stopped = Some(format!(
                    "the target stopped answering after case {} and did not come back within {:?}",
                    drawn.index, settings.recover
                ));
                return State::Finished;
            }
            return self.next_turn();
        };
        // One that died is not waited for.
        let exited = watched.lock().await.exited().await.is_some();
        let hung = !exited && !served(transcript) && !stop.or(up()).await.unwrap_or(true);
        if stop.is_stopped() {
            return State::Finished;
        }
        let mut watched = watched.lock().await;
        if exited || hung {
            match stop.or(watched.restart()).await {
                None => return State::Finished,
                Some(Err(e)) => {
                    self.stopped = Some(format!("the target could not be restarted: {e}"));
                    return State::Finished;
                }
                Some(Ok(())) => self.reporter.on(&Event::Restarted {
                    after_case: drawn.index,
                    starts: watched.starts,
                }),
            }
            self.history.clear();
        }
        if played.failed || hung {
            // Replays and restarts moved memory and descriptors: the account starts over.
            self.ledger.restarted();
        }
        State::Drawing
    }

    /// Ends the campaign: kept connections closed, a stop told, and the report.
    async fn finish(self, notes: Vec<String>) -> Report {
        // Kept connections are closed cleanly, unless a stop asks for speed: then dropped.
        drop(self.lanes);
        if let Some(pool) = self.pool {
            self.stop.or(pool.clear(self.settings.timing)).await;
        }
        let mut stopped = self.stopped;
        let interrupted = self.stop.signal().map(|signal| Interrupted {
            signal,
            cases: self.tally.ran,
        });
        if let Some(i) = interrupted {
            stopped = Some(format!(
                "interrupted after {} cases by {}",
                i.cases, i.signal
            ));
            self.reporter.on(&Event::Interrupted(i));
        }
        // Errors first: they are what a reader must act on.
        let mut findings = self.findings;
        findings.sort_by_key(|f| std::cmp::Reverse(f.level));
        let seconds = self.started.elapsed().as_secs_f64();
        let tally = self.tally;
        let stats = Stats {
            layers: tally.per_layer,
            failed: tally.failed_per_layer,
            frame_shapes: tally.shapes.len(),
            scale: tally.per_scale,
            cases: tally.ran,
            inputs: tally.inputs,
            seconds,
            cases_per_second: match seconds > 0.0 {
                true => tally.ran as f64 / seconds,
                false => 0.0,
            },
            target_starts: match self.watched {
                Some(w) => w.lock().await.starts,
                None => 0,
            },
        };
        Report {
            findings,
            stats,
            seed: self.settings.seed,
            stopped,
            interrupted,
            replayed: self.replays.replayed,
            fixed: self.replays.fixed,
            not_replayed: self.replays.not_replayed,
            channels: self
                .target
                .routes
                .iter()
                .map(|r| r.channel.id.clone())
                .collect(),
            checks: checks_run(self.target, self.settings, self.watched.is_some()),
            strict: self.settings.strict,
            notes,
        }
    }
}
