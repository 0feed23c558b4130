//! The live progress display: one line per region on stderr (region, step,
//! seconds since the run started), redrawn in place while the checks run
//! and erased before the report is written. Shown only on a terminal; the
//! executor only sends [`Progress`] events, this draws them.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::execute::progress::{Progress, Sink, Step, Update};

/// How often the elapsed seconds are redrawn when nothing else changes.
const TICK: Duration = Duration::from_millis(200);
/// Updates waiting to be drawn; more are dropped by the sender.
const QUEUE: usize = 256;

/// Whether to show progress: stderr is a terminal that can move its cursor
/// (not `TERM=dumb`), the user did not ask for
/// quiet or for traces on stderr, and stdout does not stream log lines to
/// the same terminal. The output format does not matter: stdout may be a pipe.
pub fn wanted(stderr_is_tty: bool, quiet: bool, verbose: u8, streams_to_tty: bool) -> bool {
    stderr_is_tty && !quiet && verbose == 0 && !streams_to_tty
}

/// The regions and where each is.
#[derive(Debug)]
pub struct Board {
    started: Instant,
    rows: Vec<Row>,
}

#[derive(Debug)]
struct Row {
    region: Arc<str>,
    step: Step,
    /// Requests its API server pushed back on, and the last status.
    retries: u32,
    last_status: u16,
    /// When the region finished, to stop its clock.
    done_at: Option<Instant>,
}

impl Board {
    pub fn new(regions: &[String], started: Instant) -> Board {
        let rows = regions.iter().map(|r| Row {
            region: Arc::from(r.as_str()),
            step: Step::Connecting,
            retries: 0,
            last_status: 0,
            done_at: None,
        });
        Board { started, rows: rows.collect() }
    }

    pub fn update(&mut self, p: &Progress, now: Instant) {
        let Some(row) = self.rows.iter_mut().find(|r| r.region == p.region) else { return };
        match p.update {
            Update::Step(step) => {
                row.step = step;
                if step == Step::Done {
                    row.done_at.get_or_insert(now);
                }
            }
            Update::Retry { status } => {
                row.retries += 1;
                row.last_status = status;
            }
        }
    }

    /// The lines to show at `now`, each at most `width` columns.
    pub fn lines(&self, now: Instant, width: usize) -> Vec<String> {
        let name_width = self.rows.iter().map(|r| r.region.chars().count()).max().unwrap_or(0);
        self.rows
            .iter()
            .map(|r| {
                let secs = r.done_at.unwrap_or(now).saturating_duration_since(self.started).as_secs();
                let mut line = format!("  {:<name_width$}  {:<22} {secs:>3}s", r.region, step_text(r.step));
                // A region waiting on a busy API server says so, or its
                // clock would seem to run for nothing.
                if r.retries > 0 && r.done_at.is_none() {
                    let retries = if r.retries == 1 { "1 retry".to_string() } else { format!("{} retries", r.retries) };
                    line.push_str(&format!("  API server busy: {retries} ({})", r.last_status));
                }
                line.chars().take(width).collect::<String>().trim_end().to_string()
            })
            .collect()
    }
}

fn step_text(step: Step) -> String {
    match step {
        Step::Connecting => "connecting".into(),
        Step::ListingPods => "listing pods".into(),
        Step::ReadingLogs { done, total } => format!("reading logs {done}/{total}"),
        Step::ReadingEvents => "reading events".into(),
        Step::Done => "done".into(),
    }
}

/// The bytes that replace the `drawn` lines above the cursor with `lines`
/// (the cursor hidden meanwhile).
pub fn redraw(lines: &[String], drawn: usize) -> String {
    let mut out = String::from("\x1b[?25l");
    if drawn > 0 {
        out.push_str(&format!("\x1b[{drawn}A"));
    }
    for line in lines {
        out.push_str("\r\x1b[2K");
        out.push_str(line);
        out.push('\n');
    }
    if drawn > lines.len() {
        out.push_str("\x1b[J");
    }
    out
}

/// The bytes that erase the `drawn` lines and show the cursor again.
pub fn erase(drawn: usize) -> String {
    let mut out = String::new();
    if drawn > 0 {
        out.push_str(&format!("\x1b[{drawn}A\r\x1b[J"));
    }
    out.push_str("\x1b[?25h");
    out
}

/// A running display: drawing on a task of its own until [`Live::finish`].
pub struct Live {
    sink: Sink,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Live {
    /// Starts drawing `regions` to `out`, fitted to `width` columns.
    pub fn start(regions: &[String], width: usize, mut out: Box<dyn Write + Send>) -> Live {
        let (tx, mut rx) = mpsc::channel::<Progress>(QUEUE);
        let (stop, mut stopped) = oneshot::channel::<()>();
        let mut board = Board::new(regions, Instant::now());
        let width = width.saturating_sub(1).max(20);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Not drawn at once: a run that ends quickly shows nothing.
            tick.reset_after(Duration::from_millis(100));
            let mut drawn = 0;
            loop {
                tokio::select! {
                    biased;
                    _ = &mut stopped => break,
                    Some(p) = rx.recv() => {
                        board.update(&p, Instant::now());
                        continue;
                    }
                    _ = tick.tick() => {}
                }
                let lines = board.lines(Instant::now(), width);
                if out.write_all(redraw(&lines, drawn).as_bytes()).and_then(|()| out.flush()).is_err() {
                    break;
                }
                drawn = lines.len();
            }
            let _ = out.write_all(erase(drawn).as_bytes());
            let _ = out.flush();
        });
        Live { sink: Sink::channel(tx), stop, task }
    }

    /// Where the executor sends progress.
    pub fn sink(&self) -> Sink {
        self.sink.clone()
    }

    /// Erases the display (cursor shown again) and waits until it is gone.
    pub async fn finish(self) {
        let Live { sink, stop, task } = self;
        drop(sink);
        let _ = stop.send(());
        let _ = task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(board: &mut Board, region: &str, step: Step, now: Instant) {
        board.update(&Progress { region: Arc::from(region), update: Update::Step(step) }, now);
    }

    #[test]
    fn a_region_pushed_back_on_says_how_often_until_it_is_done() {
        let t0 = Instant::now();
        let mut b = Board::new(&["us-south".into(), "eu-de".into()], t0);
        at(&mut b, "us-south", Step::ListingPods, t0);
        let retry = |b: &mut Board, status| {
            b.update(&Progress { region: Arc::from("us-south"), update: Update::Retry { status } }, t0)
        };
        retry(&mut b, 429);
        let lines = b.lines(t0 + Duration::from_secs(2), 100);
        assert_eq!(lines[0], "  us-south  listing pods             2s  API server busy: 1 retry (429)");
        assert_eq!(lines[1], "  eu-de     connecting               2s");
        retry(&mut b, 503);
        at(&mut b, "us-south", Step::ReadingLogs { done: 1, total: 6 }, t0);
        let lines = b.lines(t0 + Duration::from_secs(3), 100);
        assert_eq!(lines[0], "  us-south  reading logs 1/6         3s  API server busy: 2 retries (503)");
        // Cut to the width like any line; gone once the region is done.
        let narrow = &b.lines(t0, 40)[0];
        assert!(narrow.chars().count() <= 40 && narrow.starts_with("  us-south  reading logs 1/6"), "{narrow}");
        at(&mut b, "us-south", Step::Done, t0 + Duration::from_secs(4));
        assert_eq!(b.lines(t0 + Duration::from_secs(5), 100)[0], "  us-south  done                     4s");
    }

    #[test]
    fn a_line_per_region_with_its_step_and_seconds() {
        let t0 = Instant::now();
        let mut b = Board::new(&["us-south".into(), "eu-de".into(), "us-east".into()], t0);
        at(&mut b, "us-south", Step::ListingPods, t0);
        at(&mut b, "eu-de", Step::ReadingLogs { done: 2, total: 6 }, t0);
        at(&mut b, "us-east", Step::Done, t0 + Duration::from_secs(2));
        at(&mut b, "mars", Step::Done, t0);
        let lines = b.lines(t0 + Duration::from_secs(7), 200);
        assert_eq!(
            lines,
            [
                "  us-south  listing pods             7s",
                "  eu-de     reading logs 2/6         7s",
                "  us-east   done                     2s",
            ]
        );
        at(&mut b, "us-south", Step::ReadingEvents, t0);
        let narrow = b.lines(t0 + Duration::from_secs(7), 20);
        assert_eq!(narrow[0], "  us-south  reading");
        assert!(narrow.iter().all(|l| l.chars().count() <= 20));
    }

    #[test]
    fn redrawing_moves_up_over_the_lines_drawn_and_erasing_shows_the_cursor() {
        let lines = vec!["a".to_string(), "b".to_string()];
        assert_eq!(redraw(&lines, 0), "\x1b[?25l\r\x1b[2Ka\n\r\x1b[2Kb\n");
        assert_eq!(redraw(&lines, 2), "\x1b[?25l\x1b[2A\r\x1b[2Ka\n\r\x1b[2Kb\n");
        assert_eq!(erase(2), "\x1b[2A\r\x1b[J\x1b[?25h");
        assert_eq!(erase(0), "\x1b[?25h");
    }

    #[test]
    fn only_on_a_terminal_and_not_when_quiet_or_tracing() {
        assert!(wanted(true, false, 0, false));
        assert!(!wanted(false, false, 0, false));
        assert!(!wanted(true, true, 0, false));
        assert!(!wanted(true, false, 1, false));
        assert!(!wanted(true, false, 0, true));
    }
}
