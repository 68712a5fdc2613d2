//! Which case comes next: the campaign's own cases in order, and, in a campaign its time bounds, the scale classes, each reached at the start and then given a share of the time.

use std::time::{Duration, Instant};

use super::{Partition, Settings};
use crate::gen::scale::{self, Scale};

/// The share of a timed campaign's time the scale classes get once each has had its turn.
const SCALE_SHARE: f64 = 0.3;

pub(super) struct Schedule {
    cases: Box<dyn Iterator<Item = u64> + Send>,
    /// The scale classes in turn, with the turns each has had and the time they took.
    scales: Vec<(Scale, u64, Duration)>,
    partition: Partition,
    /// The case being played, and since when.
    playing: Option<(u64, Instant)>,
    played_cases: u64,
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
            playing: None,
            played_cases: 0,
        }
    }

    /// The next case's number, `elapsed` into the campaign; `None` when the cases are done.
    pub fn next(&mut self, elapsed: Duration) -> Option<u64> {
        if let Some((index, since)) = self.playing.take() {
            match scale::of_index(index) {
                Some((class, _)) => {
                    if let Some(entry) = self.scales.iter_mut().find(|(s, ..)| *s == class) {
                        entry.2 += since.elapsed();
                    }
                }
                None => self.played_cases += 1,
            }
        }
        let index = match self.scale_due(elapsed) {
            Some(at) => {
                let (class, turns, _) = &mut self.scales[at];
                let turn = *turns * self.partition.of + self.partition.index - 1;
                *turns += 1;
                scale::index(*class, turn)
            }
            None => self.cases.next()?,
        };
        self.playing = Some((index, Instant::now()));
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
        let first: Vec<u64> = (0..7)
            .map(|_| schedule.next(Duration::ZERO).unwrap())
            .collect();
        assert_eq!(first[0], 0);
        let classes: Vec<Scale> = first[1..]
            .iter()
            .map(|&i| scale::of_index(i).expect("a scale case").0)
            .collect();
        assert_eq!(classes, Scale::ALL);
        // Then, with no time spent on them yet being all the time there was, cases.
        assert_eq!(schedule.next(Duration::ZERO), Some(1));
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
