//! The handover between a failure's long re-runs and the campaign's cases played beside them.
//!
//! A shrunk case confirmed with the whole time-out may wait seconds for an answer that never
//! comes. The campaign need not wait with it: while the company is open, cases on other
//! resources are played beside the re-runs, and a failure a re-run shows then counts only if
//! the server answered a fresh connection right after it (a server stalled for everyone is no
//! failure of the case's own). Once it closes, no case starts; a re-run after that waits
//! until the cases beside have ended, so that it plays alone again.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

#[derive(Default)]
pub(super) struct Company {
    open: AtomicBool,
    /// Whether cases may still be playing beside the re-runs, since the company was open.
    crowded: AtomicBool,
    /// Set while a re-run waits for the cases beside it to end.
    waiting: AtomicBool,
    /// Told to the campaign when the company opens, closes, or a re-run waits.
    changed: Notify,
    /// Told to the re-runs once no case plays beside them.
    left: Notify,
}

impl Company {
    /// Whether the campaign may start cases beside the re-runs.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    /// Lets the campaign start cases beside the re-runs.
    pub fn open(&self) {
        self.open.store(true, Ordering::Relaxed);
        self.crowded.store(true, Ordering::Relaxed);
        self.changed.notify_one();
    }

    /// No case starts beside the re-runs any more; those playing go on.
    pub fn close(&self) {
        self.open.store(false, Ordering::Relaxed);
        self.changed.notify_one();
    }

    /// Closes the company, and returns once no case plays beside the re-runs.
    pub async fn alone(&self) {
        self.close();
        if !self.crowded.swap(false, Ordering::Relaxed) {
            return;
        }
        self.waiting.store(true, Ordering::Relaxed);
        self.changed.notify_one();
        self.left.notified().await;
    }

    /// Whether a re-run waits for the cases beside it to end.
    pub fn awaited(&self) -> bool {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Waits until the company opens or closes, or a re-run waits.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Tells a re-run waiting that no case plays beside it any more.
    pub fn ended(&self) {
        if self.waiting.swap(false, Ordering::Relaxed) {
            self.left.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_rerun_after_the_company_waits_for_the_cases_beside_it_to_end() {
        let company = Company::default();
        // Never open: a re-run is alone at once.
        tokio::time::timeout(Duration::from_secs(1), company.alone())
            .await
            .expect("alone at once when no case was ever let beside");
        company.open();
        assert!(company.is_open());
        company.close();
        assert!(!company.is_open());
        // Cases started while it was open may still be playing: the re-run waits for them.
        let alone = company.alone();
        tokio::pin!(alone);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut alone)
                .await
                .is_err(),
            "a re-run must not start while cases beside it may be playing"
        );
        assert!(company.awaited());
        company.ended();
        tokio::time::timeout(Duration::from_secs(1), alone)
            .await
            .expect("alone once the campaign's cases have ended");
        assert!(!company.awaited());
        // Once alone, it stays so until the company opens again.
        tokio::time::timeout(Duration::from_secs(1), company.alone())
            .await
            .expect("still alone");
    }
}
