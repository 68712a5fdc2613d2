//! Which case comes next: the campaign's own cases in order, and, in a campaign its time bounds, the scale classes, each reached at the start and then given a share of the time, and each layer a share of the time rather than of the cases.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Partition, Settings};
use crate::case::Layer;
use crate::gen::scale::{self, Scale};

/// The share of a timed campaign's time the scale classes get once each has had its turn.
const SCALE_SHARE: f64 = 0.3;

/// How a campaign that runs for its time shares it between the layers. A case of a slow
/// layer (a handshake the server never answers, a scenario of several clients) costs a
/// hundred message cases: shared by cases, the slow layers would take all the time. The
/// messages the server's own code reads get the largest part.
const LAYER_SHARES: [(Layer, f64); 5] = [
    (Layer::Messages, 0.4),
    (Layer::Clients, 0.2),
    (Layer::Frames, 0.15),
    (Layer::Handshake, 0.15),
    (Layer::Disconnect, 0.1),
];

pub(super) struct Schedule {
    cases: Box<dyn Iterator<Item = u64> + Send>,
    /// The scale classes in turn, with the turns each has had and the time they took.
    scales: Vec<(Scale, u64, Duration)>,
    partition: Partition,
    played_cases: u64,
    /// In a campaign its time ends: the time each layer's cases took so far.
    layers: Option<BTreeMap<Layer, Duration>>,
}

impl Schedule {
    /// The cases of `settings`; scale cases of `scales` only when the campaign's time is
    /// bounded (a case count alone keeps its cases as they were) and not for a single case.
    pub fn new(settings: &Settings, scales: &[Scale]) -> Schedule {
        let cases: Box<dyn Iterator<Item = u64> + Send> = match settings.only_case {
            Some(index) => Box::new(std::iter::once(index)),
            None => Box::new(settings.partition.indices(settings.cases)),
        };
        let timed = settings.time.is_some() && settings.only_case.is_none();
        Schedule {
            cases,
            scales: match timed {
                true => scales.iter().map(|s| (*s, 0, Duration::ZERO)).collect(),
                false => Vec::new(),
            },
            partition: settings.partition,
            played_cases: 0,
            layers: (timed && settings.cases == Settings::UNTIL_TIME).then(BTreeMap::new),
        }
    }

    /// Whether case `index`, of `layer`, is played: in a campaign its time ends, only while
    /// its layer has had no more than its share of the time the layers have had. A case
    /// passed over is not played at all; its number stays its own, for `--case`.
    pub fn admit(&self, index: u64, layer: Layer) -> bool {
        if scale::of_index(index).is_some() {
            return true;
        }
        let Some(layers) = &self.layers else {
            return true;
        };
        let share = |l: Layer| {
            LAYER_SHARES
                .iter()
                .find(|(of, _)| *of == l)
                .map_or(0.0, |(_, share)| *share)
        };
        let spent = |l: Layer| layers.get(&l).map_or(0.0, Duration::as_secs_f64);
        let total: f64 = layers.values().map(Duration::as_secs_f64).sum();
        // Shared between the layers the campaign draws: those seen so far, and this one.
        let shares: f64 = layers
            .keys()
            .chain(std::iter::once(&layer))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|&l| share(l))
            .sum();
        let fair = total * share(layer) / shares.max(f64::EPSILON);
        // Within a hair of its share counts as within it: a layer drawn alone is always at
        // its share, and rounding must not shut it out (a passed-over case adds no time).
        spent(layer) <= fair * 1.01 + 0.001
    }

    /// Case `index`, of `layer`, was played and took `took` (cases played at once each count
    /// their own time).
    pub fn played(&mut self, index: u64, layer: Layer, took: Duration) {
        // A case of scale counts to its class's share, not its layer's.
        if let Some((class, _)) = scale::of_index(index) {
            if let Some(entry) = self.scales.iter_mut().find(|(s, ..)| *s == class) {
                entry.2 += took;
            }
            return;
        }
        self.played_cases += 1;
        if let Some(layers) = &mut self.layers {
            *layers.entry(layer).or_default() += took;
        }
    }

    /// The next case's number, `elapsed` into the campaign; `None` when the cases are done.
    pub fn next(&mut self, elapsed: Duration) -> Option<u64> {
        let index = match self.scale_due(elapsed) {
            Some(at) => {
                let (class, turns, _) = &mut self.scales[at];
                let turn = *turns * self.partition.of + self.partition.index - 1;
                *turns += 1;
                scale::index(*class, turn)
            }
            None => self.cases.next()?,
        };
        Some(index)
    }

    /// The scale class whose turn it is: each once after the first case, in order; then, in
    /// turn, while they have had less than their share of the time.
    fn scale_due(&self, elapsed: Duration) -> Option<usize> {
        if self.played_cases == 0 {
            return None;
        }
        if let Some(first) = self.scales.iter().position(|(_, turns, _)| *turns == 0) {
            return Some(first);
        }
        let spent: Duration = self.scales.iter().map(|(_, _, took)| *took).sum();
        if spent.as_secs_f64() >= SCALE_SHARE * elapsed.as_secs_f64() {
            return None;
        }
        (0..self.scales.len()).min_by_key(|&i| self.scales[i].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timed_campaign_reaches_every_class_after_its_first_case() {
        let settings = Settings {
            cases: Settings::UNTIL_TIME,
            time: Some(Duration::from_secs(60)),
            ..Settings::default()
        };
        let mut schedule = Schedule::new(&settings, &Scale::ALL);
        assert_eq!(schedule.next(Duration::ZERO), Some(0));
        // Until the first case is played, cases go on being drawn.
        assert_eq!(schedule.next(Duration::ZERO), Some(1));
        schedule.played(0, Layer::Messages, Duration::from_millis(1));
        let first: Vec<u64> = std::iter::once(0)
            .chain((0..6).map(|_| schedule.next(Duration::ZERO).unwrap()))
            .collect();
        let classes: Vec<Scale> = first[1..]
            .iter()
            .map(|&i| scale::of_index(i).expect("a scale case").0)
            .collect();
        assert_eq!(classes, Scale::ALL);
        // Then, with no time spent on them yet being all the time there was, cases.
        assert_eq!(schedule.next(Duration::ZERO), Some(2));
    }

    #[test]
    fn a_campaign_its_time_ends_shares_the_time_between_layers() {
        let settings = Settings {
            cases: Settings::UNTIL_TIME,
            time: Some(Duration::from_secs(60)),
            ..Settings::default()
        };
        let mut schedule = Schedule::new(&settings, &[]);
        let mut time = BTreeMap::new();
        // A handshake case takes 100 times a message case; draws alternate between the two.
        let cost = |l: Layer| match l {
            Layer::Handshake => Duration::from_millis(100),
            _ => Duration::from_millis(1),
        };
        for i in 0..20_000 {
            let index = schedule.next(Duration::ZERO).unwrap();
            let layer = [Layer::Messages, Layer::Handshake][i % 2];
            if schedule.admit(index, layer) {
                *time.entry(layer).or_insert(Duration::ZERO) += cost(layer);
                schedule.played(index, layer, cost(layer));
            }
        }
        let ratio = time[&Layer::Messages].as_secs_f64() / time[&Layer::Handshake].as_secs_f64();
        // 0.4 : 0.15 of the time, not half the cases each.
        assert!((ratio - 0.4 / 0.15).abs() < 0.2, "{ratio}");

        // A layer drawn alone is always played.
        let mut schedule = Schedule::new(&settings, &[]);
        for _ in 0..1000 {
            let index = schedule.next(Duration::ZERO).unwrap();
            assert!(schedule.admit(index, Layer::Messages));
            schedule.played(index, Layer::Messages, Duration::from_micros(1234));
        }
    }

    #[test]
    fn a_count_of_cases_alone_plays_those_cases() {
        let settings = Settings {
            cases: 5,
            ..Settings::default()
        };
        let mut schedule = Schedule::new(&settings, &Scale::ALL);
        let played: Vec<u64> =
            std::iter::from_fn(|| schedule.next(Duration::from_secs(1))).collect();
        assert_eq!(played, [0, 1, 2, 3, 4]);
    }
}
