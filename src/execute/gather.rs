//! The one gather loop: tasks that each write their answer into a slot of
//! their own, awaited together under one deadline plus a short grace for
//! handing in what they have, stopped early by Ctrl-C when asked to listen
//! for it. Lines sent by the tasks meanwhile (the `logs` command's) are
//! handed over in order, as they come. `diagnose` and `doctor` both use it.

use std::future::Future;
use std::time::Duration;

use tokio::signal::unix::Signal;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant as TokioInstant;

/// Time allowed past the deadline for tasks to hand in what they have.
pub const GRACE: Duration = Duration::from_millis(400);

/// Tasks to await under one deadline.
pub struct Gather<T = ()> {
    tasks: JoinSet<()>,
    deadline: TokioInstant,
    interrupt: Option<Signal>,
    lines: Option<mpsc::Receiver<T>>,
}

impl<T> Gather<T> {
    pub fn new(deadline: TokioInstant) -> Gather<T> {
        Gather { tasks: JoinSet::new(), deadline, interrupt: None, lines: None }
    }

    /// Stops waiting when `signal` fires (Ctrl-C).
    pub fn interrupted_by(mut self, signal: Signal) -> Gather<T> {
        self.interrupt = Some(signal);
        self
    }

    /// Hands every line received on `rx` over while waiting.
    pub fn with_lines(mut self, rx: mpsc::Receiver<T>) -> Gather<T> {
        self.lines = Some(rx);
        self
    }

    pub fn spawn<F: Future<Output = ()> + Send + 'static>(&mut self, task: F) {
        self.tasks.spawn(task);
    }

    /// Waits until every task is done, the deadline and its grace have
    /// passed, or the interrupt fires; aborts what is left. Every line goes
    /// to `each`, those still queued at the end too. True when interrupted.
    pub async fn wait(mut self, mut each: impl FnMut(T)) -> bool {
        let mut interrupted = false;
        let hard_deadline = self.deadline + GRACE;
        loop {
            tokio::select! {
                biased;
                _ = recv_signal(&mut self.interrupt) => { interrupted = true; break; }
                Some(line) = recv_line(&mut self.lines) => each(line),
                joined = self.tasks.join_next() => {
                    if joined.is_none() {
                        break;
                    }
                }
                () = tokio::time::sleep_until(hard_deadline) => break,
            }
        }
        self.tasks.abort_all();
        if let Some(rx) = &mut self.lines {
            while let Ok(line) = rx.try_recv() {
                each(line);
            }
        }
        interrupted
    }
}

async fn recv_signal(signal: &mut Option<Signal>) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_line<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
