//! When a campaign must end early: its time is up, or a signal asked it to stop.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde::Serialize;
use tokio::sync::Notify;

/// A signal that stops a campaign; the process then exits 128 plus its number, as a shell
/// reports a process the signal ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Signal {
    /// SIGINT: Ctrl-C.
    #[serde(rename = "SIGINT")]
    Interrupt,
    /// SIGTERM: what `timeout`, CI runners and Kubernetes send.
    #[serde(rename = "SIGTERM")]
    Terminate,
    /// SIGHUP: the terminal went away.
    #[serde(rename = "SIGHUP")]
    Hangup,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        }
    }

    /// The exit code of a process this signal stopped: 130, 143 or 129.
    pub fn exit_code(self) -> u8 {
        128 + match self {
            Signal::Interrupt => 2,
            Signal::Terminate => 15,
            Signal::Hangup => 1,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The end of a campaign, shared by everything that waits within it: a signal raised from
/// outside, and the deadline `--time` sets. Every long wait is raced against it, so that a
/// stop is obeyed within moments whatever the campaign is doing.
#[derive(Clone, Default)]
pub struct Stop {
    signal: Arc<Raised>,
    deadline: Option<Instant>,
}

#[derive(Default)]
struct Raised {
    signal: OnceLock<Signal>,
    notify: Notify,
}

impl fmt::Debug for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stop")
            .field("signal", &self.signal())
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Stop {
    /// A stop that comes only when [`Stop::raise`] is called.
    pub fn new() -> Stop {
        Stop::default()
    }

    /// A stop raised by SIGINT, SIGTERM or SIGHUP. A second signal ends the process at once,
    /// for a user who will not wait for the reports.
    pub fn on_signals() -> std::io::Result<Stop> {
        use tokio::signal::unix::{signal, SignalKind};
        let stop = Stop::new();
        let mut kinds = [
            (signal(SignalKind::interrupt())?, Signal::Interrupt),
            (signal(SignalKind::terminate())?, Signal::Terminate),
            (signal(SignalKind::hangup())?, Signal::Hangup),
        ];
        let raised = stop.clone();
        tokio::spawn(async move {
            let mut first = true;
            loop {
                let [(int, _), (term, _), (hup, _)] = &mut kinds;
                let signal = tokio::select! {
                    Some(()) = int.recv() => Signal::Interrupt,
                    Some(()) = term.recv() => Signal::Terminate,
                    Some(()) = hup.recv() => Signal::Hangup,
                    else => return,
                };
                if !first {
                    std::process::exit(signal.exit_code().into());
                }
                first = false;
                raised.raise(signal);
            }
        });
        Ok(stop)
    }

    /// Stops the campaign as `signal` would.
    pub fn raise(&self, signal: Signal) {
        if self.signal.signal.set(signal).is_ok() {
            self.signal.notify.notify_waiters();
        }
    }

    /// The signal that stopped the campaign, if one did.
    pub fn signal(&self) -> Option<Signal> {
        self.signal.signal.get().copied()
    }

    /// The same stop, coming at `deadline` too (or at its own, if sooner).
    pub fn by(&self, deadline: Instant) -> Stop {
        Stop {
            signal: self.signal.clone(),
            deadline: Some(self.deadline.map_or(deadline, |d| d.min(deadline))),
        }
    }

    /// When the time is up, if it has a time.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether the campaign must stop now.
    pub fn is_stopped(&self) -> bool {
        self.signal().is_some() || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Resolves when the campaign must stop.
    pub async fn stopped(&self) {
        let raised = self.signal.notify.notified();
        tokio::pin!(raised);
        // Registered before the check, so a signal raised between the two is not missed.
        raised.as_mut().enable();
        if self.signal().is_some() {
            return;
        }
        match self.deadline {
            Some(deadline) => {
                tokio::select! {
                    _ = raised => {}
                    _ = tokio::time::sleep_until(deadline.into()) => {}
                }
            }
            None => raised.await,
        }
    }

    /// `work`'s output, or `None` if the campaign had to stop first (the work is dropped).
    pub async fn or<F: Future>(&self, work: F) -> Option<F::Output> {
        if self.is_stopped() {
            return None;
        }
        tokio::select! {
            biased;
            _ = self.stopped() => None,
            output = work => Some(output),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn work_ends_at_the_signal_or_the_deadline() {
        let stop = Stop::new();
        assert_eq!(stop.or(async { 7 }).await, Some(7));
        let timed = stop.by(Instant::now() + Duration::from_millis(50));
        let started = Instant::now();
        assert_eq!(timed.or(std::future::pending::<()>()).await, None);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(!stop.is_stopped(), "the deadline is the timed stop's own");
        let raiser = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            raiser.raise(Signal::Terminate);
        });
        assert_eq!(stop.or(std::future::pending::<()>()).await, None);
        assert_eq!(timed.signal(), Some(Signal::Terminate));
        assert_eq!(Signal::Terminate.exit_code(), 143);
        assert_eq!(Signal::Interrupt.exit_code(), 130);
    }
}
