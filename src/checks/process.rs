//! Checks on the target process itself (with `--spawn`): it keeps running, writes no panic, and its CPU, memory and descriptors stay bounded.

use std::collections::VecDeque;
use std::time::Duration;

use super::{Check, Failure, Judge, Level, Needs};
use crate::watch::{Exit, Usage};

/// A check judged by the campaign from what it watches of a spawned target.
const fn watched(name: &'static str, level: Level, about: &'static str) -> Check {
    Check {
        name,
        level,
        layers: &[],
        needs: Needs::Spawn,
        about,
        judge: Judge::Target,
    }
}

pub static TARGET_KEEPS_RUNNING: Check = watched(
    "target_keeps_running",
    Level::Error,
    "the target process never exits or dies of a signal while it is fuzzed",
);
// A traceback the target logged while every client was answered well is a handled exception
// (a protocol error its library closed with 1002, say): what the client saw wrong is judged by
// the checks of what it saw.
pub static NO_PANIC_IN_OUTPUT: Check = watched("no_panic_in_output", Level::Warning, "the target writes no panic, traceback or fatal error (Rust, Python, Go, Node.js, JVM, sanitizers)");
pub static CPU_PER_CASE_BOUNDED: Check = watched(
    "cpu_per_case_bounded",
    Level::Error,
    "no case costs the target more CPU than --max-case-cpu, nor 20 times the median case",
);
pub static MEMORY_DOES_NOT_JUMP: Check = watched(
    "memory_does_not_jump",
    Level::Error,
    "no case raises the target's peak resident memory by more than --max-memory-jump",
);
pub static MEMORY_DOES_NOT_LEAK: Check = watched("memory_does_not_leak", Level::Error, "resident memory does not keep growing: at most --max-memory-growth over the campaign, and no case leaves 64 KiB or more behind each time it is replayed");
pub static DESCRIPTORS_COME_BACK: Check = watched("descriptors_come_back", Level::Error, "open file descriptors come back down after connections close: at most --max-fd-growth more than after warm-up");

/// Thresholds for the resource checks.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// CPU one case may cost the target, whatever the median.
    pub cpu: Duration,
    /// How many times the median case's CPU one case may cost.
    pub cpu_factor: u32,
    /// Bytes by which one case may raise the peak resident memory.
    pub memory_jump: u64,
    /// Bytes by which resident memory may grow from the end of the warm-up.
    pub memory_growth: u64,
    /// Descriptors by which the open count may grow from the end of the warm-up.
    pub fd_growth: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu: Duration::from_millis(500),
            cpu_factor: 20,
            memory_jump: 256 << 20,
            memory_growth: 64 << 20,
            fd_growth: 50,
        }
    }
}

/// Cases run before the memory and descriptor baselines are taken: caches and pools fill first.
pub const WARM_UP: u64 = 20;
/// Memory a leaking case leaves behind on each replay, at least.
pub const LEAK_PER_RUN: u64 = 64 << 10;
/// How many times a suspected leak is replayed to measure it.
pub const LEAK_REPLAYS: u32 = 16;
/// Latest cases whose CPU makes the median.
const MEDIAN_OF: usize = 200;
/// Cases kept as suspects for a leak that shows over many.
const SUSPECTS: usize = 200;

/// A resource check that a case, or the campaign so far, broke.
#[derive(Clone, Debug, PartialEq)]
pub enum Excess {
    Cpu {
        used: Duration,
        limit: Duration,
    },
    Jump {
        rose: u64,
        limit: u64,
    },
    /// Memory grew past the limit; `suspects` are the cases that added most, most first.
    Leak {
        grown: u64,
        cases: u64,
        suspects: Vec<u64>,
    },
    /// Descriptors stayed open; `suspects` are the cases after which more stayed open, latest first.
    Descriptors {
        grown: u64,
        suspects: Vec<u64>,
    },
}

/// The running account of what cases cost the target.
#[derive(Debug, Default)]
pub struct Ledger {
    limits: Limits,
    /// CPU of the latest cases, in whole milliseconds, for the median.
    cpu_ms: VecDeque<u64>,
    cases: u64,
    baseline: Option<Usage>,
    /// Per case since the baseline: (case index, resident bytes added, descriptors added).
    recent: VecDeque<(u64, i64, i64)>,
    leak_reported: bool,
    descriptors_reported: bool,
}

impl Ledger {
    pub fn new(limits: Limits) -> Ledger {
        Ledger {
            limits,
            ..Ledger::default()
        }
    }

    /// The CPU limit for one case now: the absolute one, or the median's multiple if higher.
    pub fn cpu_limit(&self) -> Duration {
        let mut sorted: Vec<u64> = self.cpu_ms.iter().copied().collect();
        sorted.sort_unstable();
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
        self.limits
            .cpu
            .max(Duration::from_millis(median) * self.limits.cpu_factor)
    }

    /// Forgets the baseline: the target was restarted (or replays moved its memory and
    /// descriptors), so the account starts over, and growth may be reported again.
    pub fn restarted(&mut self) {
        self.baseline = None;
        self.recent.clear();
        self.cases = 0;
        self.leak_reported = false;
        self.descriptors_reported = false;
    }

    /// Accounts for case `index`, measured before and after; returns the limits it broke.
    pub fn record(&mut self, index: u64, before: &Usage, after: &Usage) -> Vec<Excess> {
        let mut broken = Vec::new();
        let used = after.cpu.saturating_sub(before.cpu);
        let limit = self.cpu_limit();
        if used > limit {
            broken.push(Excess::Cpu { used, limit });
        }
        // Only typical cases set the median: a runaway case must not raise its own bar.
        if used <= limit {
            if self.cpu_ms.len() == MEDIAN_OF {
                self.cpu_ms.pop_front();
            }
            self.cpu_ms.push_back(used.as_millis() as u64);
        }
        let rose = after.peak.saturating_sub(before.rss);
        if rose > self.limits.memory_jump {
            broken.push(Excess::Jump {
                rose,
                limit: self.limits.memory_jump,
            });
        }
        self.cases += 1;
        let Some(baseline) = self.baseline else {
            if self.cases >= WARM_UP {
                self.baseline = Some(*after);
            }
            return broken;
        };
        if self.recent.len() == SUSPECTS {
            self.recent.pop_front();
        }
        self.recent.push_back((
            index,
            after.rss as i64 - before.rss as i64,
            after.fds as i64 - before.fds as i64,
        ));
        let grown = after.rss.saturating_sub(baseline.rss);
        if !self.leak_reported && grown > self.limits.memory_growth {
            self.leak_reported = true;
            let mut by_growth: Vec<(u64, i64)> =
                self.recent.iter().map(|&(i, rss, _)| (i, rss)).collect();
            by_growth.sort_by_key(|&(_, rss)| std::cmp::Reverse(rss));
            broken.push(Excess::Leak {
                grown,
                cases: self.cases - WARM_UP,
                suspects: by_growth.iter().take(3).map(|&(i, _)| i).collect(),
            });
        }
        let open = after.fds.saturating_sub(baseline.fds);
        if !self.descriptors_reported && open > self.limits.fd_growth {
            self.descriptors_reported = true;
            let suspects = self
                .recent
                .iter()
                .rev()
                .filter(|&&(_, _, fds)| fds > 0)
                .take(3)
                .map(|&(i, _, _)| i)
                .collect();
            broken.push(Excess::Descriptors {
                grown: open,
                suspects,
            });
        }
        broken
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

impl Excess {
    pub fn check(&self) -> &'static Check {
        match self {
            Excess::Cpu { .. } => &CPU_PER_CASE_BOUNDED,
            Excess::Jump { .. } => &MEMORY_DOES_NOT_JUMP,
            Excess::Leak { .. } => &MEMORY_DOES_NOT_LEAK,
            Excess::Descriptors { .. } => &DESCRIPTORS_COME_BACK,
        }
    }

    /// The failure, with the figures measured.
    pub fn failure(&self, limits: &Limits) -> Failure {
        let (expected, actual) = match self {
            Excess::Cpu { used, limit } => (
                format!(
                    "a case costs the target at most {:.2} s of CPU",
                    limit.as_secs_f64()
                ),
                format!("the case cost {:.2} s of CPU", used.as_secs_f64()),
            ),
            Excess::Jump { rose, limit } => (
                format!("a case raises peak memory by at most {}", mib(*limit)),
                format!(
                    "peak resident memory rose by {} during the case",
                    mib(*rose)
                ),
            ),
            Excess::Leak { grown, cases, .. } => (
                format!(
                    "resident memory grows by at most {} after warm-up",
                    mib(limits.memory_growth)
                ),
                format!("resident memory grew by {} over {cases} cases", mib(*grown)),
            ),
            Excess::Descriptors { grown, .. } => (
                format!(
                    "at most {} more open descriptors than after warm-up",
                    limits.fd_growth
                ),
                format!("{grown} more descriptors stayed open after their connections closed"),
            ),
        };
        Failure {
            check: self.check(),
            step: None,
            expected,
            actual,
            cause: String::new(),
        }
    }
}

/// The failure for a target that ended during a case.
pub fn crashed(exit: &Exit) -> Failure {
    Failure {
        check: &TARGET_KEEPS_RUNNING,
        step: None,
        expected: "the target keeps running".into(),
        actual: format!("the target {} during the case", exit.status),
        cause: String::new(),
    }
}

/// The failure for panic or traceback lines written during a case.
pub fn alarmed(lines: &[String]) -> Option<Failure> {
    let first = lines.first()?;
    let more = match lines.len() {
        1 => String::new(),
        n => format!(" (and {} more such lines)", n - 1),
    };
    Some(Failure {
        check: &NO_PANIC_IN_OUTPUT,
        step: None,
        expected: "no panic, traceback or fatal error in the target's output".into(),
        actual: format!("it wrote: {}{more}", crate::case::abbreviate(first)),
        cause: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(cpu_ms: u64, rss_mib: u64, fds: u64) -> Usage {
        Usage {
            rss: rss_mib << 20,
            peak: rss_mib << 20,
            cpu: Duration::from_millis(cpu_ms),
            fds,
            processes: 1,
        }
    }

    #[test]
    fn a_case_far_above_the_median_cpu_is_excess() {
        let mut ledger = Ledger::new(Limits::default());
        for i in 0..30 {
            assert!(ledger
                .record(i, &usage(i * 10, 10, 8), &usage(i * 10 + 10, 10, 8))
                .is_empty());
        }
        let broken = ledger.record(30, &usage(300, 10, 8), &usage(1900, 10, 8));
        assert_eq!(
            broken,
            [Excess::Cpu {
                used: Duration::from_millis(1600),
                limit: Duration::from_millis(500)
            }]
        );
        // A server whose every case costs 100 ms has a bar of 2 s.
        let mut busy = Ledger::new(Limits::default());
        for i in 0..30 {
            busy.record(i, &usage(0, 10, 8), &usage(100, 10, 8));
        }
        assert_eq!(busy.cpu_limit(), Duration::from_secs(2));
        assert!(busy
            .record(30, &usage(0, 10, 8), &usage(1600, 10, 8))
            .is_empty());
    }

    #[test]
    fn steady_growth_is_a_leak_with_the_biggest_adders_as_suspects() {
        let mut ledger = Ledger::new(Limits::default());
        let mut rss = 10;
        let mut found = None;
        for i in 0..200 {
            let grow = if i % 3 == 0 { 2 } else { 0 };
            let broken = ledger.record(i, &usage(0, rss, 8), &usage(0, rss + grow, 8));
            rss += grow;
            if let Some(excess) = broken.into_iter().next() {
                found = Some((i, excess));
                break;
            }
        }
        let (
            at,
            Excess::Leak {
                grown, suspects, ..
            },
        ) = found.expect("the leak is seen")
        else {
            panic!("not a leak")
        };
        assert!(grown > 64 << 20 && at < 150, "{grown} at {at}");
        assert!(suspects.iter().all(|s| s % 3 == 0), "{suspects:?}");
        // Reported once.
        assert!(ledger
            .record(500, &usage(0, rss, 8), &usage(0, rss + 2, 8))
            .is_empty());
    }

    #[test]
    fn memory_that_comes_back_down_is_no_leak() {
        let mut ledger = Ledger::new(Limits::default());
        for i in 0..500 {
            let (before, after) = if i % 2 == 0 { (40, 90) } else { (90, 40) };
            let broken = ledger.record(i, &usage(0, before, 8), &usage(0, after, 8));
            assert!(broken.is_empty(), "{broken:?} at {i}");
        }
    }

    #[test]
    fn descriptors_that_stay_open_are_found() {
        let mut ledger = Ledger::new(Limits::default());
        let mut fds = 8;
        let mut found = Vec::new();
        for i in 0..300 {
            let leak = u64::from(i % 4 == 1);
            found.extend(ledger.record(i, &usage(0, 10, fds), &usage(0, 10, fds + leak)));
            fds += leak;
        }
        let [Excess::Descriptors { grown, suspects }] = found.as_slice() else {
            panic!("{found:?}")
        };
        assert_eq!(*grown, 51);
        assert!(suspects.iter().all(|s| s % 4 == 1), "{suspects:?}");
    }

    #[test]
    fn a_jump_in_peak_memory_is_excess() {
        let mut ledger = Ledger::new(Limits::default());
        let mut after = usage(0, 20, 8);
        after.peak = 400 << 20;
        let broken = ledger.record(0, &usage(0, 20, 8), &after);
        assert_eq!(
            broken,
            [Excess::Jump {
                rose: 380 << 20,
                limit: 256 << 20
            }]
        );
    }
}
