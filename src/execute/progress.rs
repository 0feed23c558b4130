//! Progress of a run, as data: the executor says which step each region is
//! on through a [`Sink`] the caller passes in; the caller decides whether
//! and how to show it (`render::progress`). Sending never waits: when the
//! receiver is slow or gone, an update is dropped, never a check held up.

use std::sync::Arc;

use tokio::sync::mpsc;

/// Where a region's checks are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Loading credentials and building the client.
    Connecting,
    ListingPods,
    /// `done` of `total` log reads (windows and baselines) finished.
    ReadingLogs {
        done: usize,
        total: usize,
    },
    /// The required steps are done; the optional evidence is still being read.
    ReadingEvents,
    Done,
}

/// What changed for a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// It moved on to this step.
    Step(Step),
    /// Its API server pushed back (HTTP `status`: 429, 503 or 504) and the
    /// request goes again after a wait; the region stays on its step.
    Retry { status: u16 },
}

/// Something changed for one region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub region: Arc<str>,
    pub update: Update,
}

/// Where progress goes: nowhere, or a bounded channel.
#[derive(Debug, Clone, Default)]
pub struct Sink(Option<mpsc::Sender<Progress>>);

impl Sink {
    /// Progress not wanted.
    pub fn none() -> Sink {
        Sink(None)
    }

    pub fn channel(tx: mpsc::Sender<Progress>) -> Sink {
        Sink(Some(tx))
    }

    /// The sink of one region's checks.
    pub fn region(&self, name: &str) -> RegionSink {
        RegionSink { region: Arc::from(name), tx: self.0.clone() }
    }
}

/// A [`Sink`] bound to one region.
#[derive(Debug, Clone)]
pub struct RegionSink {
    region: Arc<str>,
    tx: Option<mpsc::Sender<Progress>>,
}

impl RegionSink {
    /// Reports `step`; dropped when the channel is full or closed.
    pub fn step(&self, step: Step) {
        self.send(Update::Step(step));
    }

    /// Reports a request the API server pushed back on with `status`, which
    /// goes again after a wait.
    pub fn retry(&self, status: u16) {
        self.send(Update::Retry { status });
    }

    fn send(&self, update: Update) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(Progress { region: self.region.clone(), update });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_channel_drops_updates_instead_of_waiting() {
        let (tx, mut rx) = mpsc::channel(1);
        let sink = Sink::channel(tx).region("us-east");
        sink.step(Step::ListingPods);
        sink.step(Step::Done);
        assert_eq!(rx.try_recv().unwrap().update, Update::Step(Step::ListingPods));
        assert!(rx.try_recv().is_err());
        drop(rx);
        sink.step(Step::Done);
        Sink::none().region("eu-de").step(Step::Done);
    }
}
