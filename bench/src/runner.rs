//! The load engine: long-lived connections, one request in flight on each,
//! fed with tickets.
//!
//! * Closed loop: a connection takes the next ticket as soon as its previous
//!   reply is in; latency runs from the write.
//! * Open loop: a pacer thread issues ticket `k` at `start + k / rate` into a
//!   queue shared by all connections; the next idle connection takes it, and
//!   latency runs from the ticket's *intended* time, so a slow server cannot
//!   hide its queueing delay (no coordinated omission).
//!
//! Tickets due before the end of the warm-up are sent but not measured. A
//! request that fails on the connection (I/O error, bytes that are not its
//! reply, no reply within the timeout) is counted as an error, and the
//! connection is re-established.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::Mutex;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use crate::client::{Client, Conn, Outcome};
use crate::stats::{Recorder, Timing};
use crate::workload::{GenState, Workload};

/// When the measured part of a run ends.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// After this long past the warm-up.
    Duration(Duration),
    /// After this many measured requests.
    Requests(u64),
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub addr: String,
    pub connections: u32,
    pub warmup: Duration,
    pub stop: Stop,
    /// Open loop at this many requests per second; `None`: closed loop.
    pub rate: Option<f64>,
    /// A request with no reply after this long fails.
    pub timeout: Duration,
}

/// Open loop: tickets still queued this long after the pacer stopped are
/// dropped (counted as `unsent`) instead of being sent.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);
/// Consecutive failed reconnects after which a run is given up.
const MAX_RECONNECT_ATTEMPTS: u32 = 50;

#[derive(Debug, Clone, Copy)]
struct Ticket {
    index: u64,
    /// Open loop: when the request is due.
    due: Option<Instant>,
    measured: bool,
}

/// Which tickets a run issues: those after the warm-up are measured, until
/// the end time or the request limit.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    end: Option<Instant>,
    limit: Option<u64>,
}

impl Window {
    /// Whether a ticket at `at` is measured, or `None` once the run is over;
    /// `count` returns how many measured tickets came before this one.
    fn admit(&self, at: Instant, count: impl FnOnce() -> u64) -> Option<bool> {
        if self.end.is_some_and(|end| at >= end) {
            return None;
        }
        let measured = at >= self.start;
        if measured && self.limit.is_some_and(|limit| count() >= limit) {
            return None;
        }
        Some(measured)
    }
}

/// Closed loop: a ticket whenever a connection asks.
struct Closed {
    window: Window,
    issued: AtomicU64,
    measured: AtomicU64,
}

impl Closed {
    fn next(&self, now: Instant) -> Option<Ticket> {
        let measured = self
            .window
            .admit(now, || self.measured.fetch_add(1, Ordering::Relaxed))?;
        Some(Ticket {
            index: self.issued.fetch_add(1, Ordering::Relaxed),
            due: None,
            measured,
        })
    }
}

enum Tickets {
    Closed(Closed),
    Open {
        queue: Mutex<UnboundedReceiver<Ticket>>,
        /// Set when the pacer has issued its last ticket.
        paced_until: Arc<OnceLock<Instant>>,
    },
}

struct Shared {
    client: Client,
    workload: Workload,
    tickets: Tickets,
    plan: Plan,
    abort: Arc<AtomicBool>,
}

impl Shared {
    async fn next_ticket(&self) -> Option<Ticket> {
        if self.abort.load(Ordering::Relaxed) {
            return None;
        }
        match &self.tickets {
            Tickets::Closed(c) => c.next(Instant::now()),
            Tickets::Open { queue, .. } => queue.lock().await.recv().await,
        }
    }

    /// Open loop: a ticket taken too long after the pacer stopped is not sent.
    fn too_late(&self) -> bool {
        match &self.tickets {
            Tickets::Open { paced_until, .. } => paced_until
                .get()
                .is_some_and(|&end| Instant::now() > end + DRAIN_LIMIT),
            Tickets::Closed(_) => false,
        }
    }
}

/// A run under way.
pub struct Running {
    /// Start of the measured window (end of the warm-up).
    pub measure_start: Instant,
    handle: tokio::task::JoinHandle<Result<RunResult>>,
}

/// What a finished run measured.
pub struct RunResult {
    pub recorder: Recorder,
    /// From the end of the warm-up to the last measured reply.
    pub elapsed: Duration,
}

impl Running {
    pub async fn finish(self) -> Result<RunResult> {
        self.handle.await.context("run task panicked")?
    }
}

/// Opens every connection, then starts the run.
pub async fn start(plan: Plan, client: Client, workload: Workload) -> Result<Running> {
    let mut conns = Vec::new();
    for _ in 0..plan.connections {
        conns.push(Conn::open(&plan.addr).await?);
    }
    let t0 = Instant::now();
    let window = Window {
        start: t0 + plan.warmup,
        end: match plan.stop {
            Stop::Duration(d) => Some(t0 + plan.warmup + d),
            Stop::Requests(_) => None,
        },
        limit: match plan.stop {
            Stop::Requests(n) => Some(n),
            Stop::Duration(_) => None,
        },
    };
    let abort = Arc::new(AtomicBool::new(false));
    let tickets = match plan.rate {
        None => Tickets::Closed(Closed {
            window,
            issued: AtomicU64::new(0),
            measured: AtomicU64::new(0),
        }),
        Some(rate) => start_pacer(t0, rate, window, abort.clone())?,
    };
    let shared = Arc::new(Shared {
        client,
        workload,
        tickets,
        plan,
        abort,
    });
    Ok(Running {
        measure_start: window.start,
        handle: tokio::spawn(run_connections(shared, conns, window.start)),
    })
}

fn start_pacer(t0: Instant, rate: f64, window: Window, abort: Arc<AtomicBool>) -> Result<Tickets> {
    let (tx, rx) = mpsc::unbounded_channel();
    let paced_until = Arc::new(OnceLock::new());
    let pacer = Pacer {
        start: t0,
        rate,
        window,
        abort,
        paced_until: paced_until.clone(),
    };
    std::thread::Builder::new()
        .name("im-bench-pacer".into())
        .spawn(move || pacer.run(tx))
        .context("starting the pacer thread")?;
    Ok(Tickets::Open {
        queue: Mutex::new(rx),
        paced_until,
    })
}

/// Runs a task per connection and adds up what they recorded.
async fn run_connections(
    shared: Arc<Shared>,
    conns: Vec<Conn>,
    measure_start: Instant,
) -> Result<RunResult> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, conn) in conns.into_iter().enumerate() {
        let shared = shared.clone();
        tasks.spawn(async move {
            let result = drive(&shared, i as u32, conn).await;
            if result.is_err() {
                shared.abort.store(true, Ordering::Relaxed);
            }
            result
        });
    }
    let mut total = Recorder::default();
    while let Some(joined) = tasks.join_next().await {
        total.merge(&joined.context("connection task panicked")??);
    }
    let end = total.last_done.unwrap_or_else(Instant::now);
    Ok(RunResult {
        elapsed: end.saturating_duration_since(measure_start),
        recorder: total,
    })
}

/// One connection's loop: a request per ticket, one at a time.
async fn drive(sh: &Shared, conn_no: u32, conn: Conn) -> Result<Recorder> {
    let mut rec = Recorder::default();
    let mut gen_state = GenState::new(fastrand::u64(..), conn_no);
    let mut conn = Some(conn);
    while let Some(ticket) = sh.next_ticket().await {
        if sh.too_late() {
            rec.unsent += 1;
            continue;
        }
        let live = match &mut conn {
            Some(live) => live,
            None => conn.insert(reconnect(sh, &mut rec, ticket.measured).await?),
        };
        let req = sh.workload.request(ticket.index, &mut gen_state);
        let sent = Instant::now();
        let reply = tokio::time::timeout(sh.plan.timeout, sh.client.call(live, &req)).await;
        let timing = Timing {
            due: ticket.due,
            sent,
            done: Instant::now(),
        };
        let (outcome, keep_alive) = match reply {
            Ok(Ok(reply)) => (reply.outcome, reply.keep_alive),
            Ok(Err(broken)) => (Outcome::Failed(broken), false),
            Err(_) => {
                let timeout = format!("no reply within {:?}", sh.plan.timeout);
                (Outcome::Failed(timeout), false)
            }
        };
        if !keep_alive {
            conn = None;
        }
        rec.record(req.op(), &outcome, timing, ticket.measured);
    }
    Ok(rec)
}

/// Opens a new connection for the next request (`measured`: one of the
/// measured window's).
async fn reconnect(sh: &Shared, rec: &mut Recorder, measured: bool) -> Result<Conn> {
    let mut last = None;
    for attempt in 0..MAX_RECONNECT_ATTEMPTS {
        if sh.abort.load(Ordering::Relaxed) {
            anyhow::bail!("run aborted");
        }
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match Conn::open(&sh.plan.addr).await {
            Ok(conn) => {
                rec.reconnects += 1;
                rec.measured_reconnects += u64::from(measured);
                return Ok(conn);
            }
            Err(err) => last = Some(err),
        }
    }
    Err(last.expect("at least one attempt")).context(format!(
        "server unreachable: {MAX_RECONNECT_ATTEMPTS} reconnect attempts failed"
    ))
}

/// Open loop: issues ticket `k` at `start + k / rate`.
struct Pacer {
    start: Instant,
    rate: f64,
    window: Window,
    abort: Arc<AtomicBool>,
    paced_until: Arc<OnceLock<Instant>>,
}

impl Pacer {
    /// Issues tickets on schedule until the run's end. A thread sleep is
    /// precise to tens of microseconds, unlike tokio's millisecond timer.
    fn run(self, tx: UnboundedSender<Ticket>) {
        // Linux lets a sleeping thread oversleep by its timer slack (50 µs by
        // default), which would count as latency; ask for 1 ns instead.
        // SAFETY: PR_SET_TIMERSLACK only changes this thread's timer slack.
        unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
        }
        let mut measured = 0;
        for index in 0.. {
            let due = self.start + Duration::from_secs_f64(index as f64 / self.rate);
            let count = || {
                measured += 1;
                measured - 1
            };
            let Some(is_measured) = self.window.admit(due, count) else {
                break;
            };
            if self.abort.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            let ticket = Ticket {
                index,
                due: Some(due),
                measured: is_measured,
            };
            if tx.send(ticket).is_err() {
                break;
            }
        }
        let _ = self.paced_until.set(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: Instant, warmup_ms: u64, end_ms: Option<u64>, limit: Option<u64>) -> Window {
        Window {
            start: start + Duration::from_millis(warmup_ms),
            end: end_ms.map(|ms| start + Duration::from_millis(ms)),
            limit,
        }
    }

    #[test]
    fn closed_loop_warms_up_then_counts_to_the_limit() {
        let start = Instant::now();
        let c = Closed {
            window: window(start, 1000, None, Some(2)),
            issued: AtomicU64::new(0),
            measured: AtomicU64::new(0),
        };
        assert!(!c.next(start).unwrap().measured);
        let later = start + Duration::from_secs(2);
        assert!(c.next(later).unwrap().measured);
        let t = c.next(later).unwrap();
        assert!(t.measured && t.due.is_none());
        assert_eq!(t.index, 2);
        assert!(c.next(later).is_none());
    }

    #[test]
    fn closed_loop_stops_at_the_end() {
        let start = Instant::now();
        let w = window(start, 0, Some(1000), None);
        assert_eq!(w.admit(start, || unreachable!()), Some(true));
        assert_eq!(w.admit(start + Duration::from_secs(1), || 0), None);
    }

    fn pace(rate: f64, window: Window, start: Instant) -> (Vec<Ticket>, Option<Instant>) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let paced_until = Arc::new(OnceLock::new());
        Pacer {
            start,
            rate,
            window,
            abort: Arc::new(AtomicBool::new(false)),
            paced_until: paced_until.clone(),
        }
        .run(tx);
        let mut tickets = Vec::new();
        while let Ok(t) = rx.try_recv() {
            tickets.push(t);
        }
        (tickets, paced_until.get().copied())
    }

    #[test]
    fn pacer_issues_the_schedule() {
        let start = Instant::now();
        let (tickets, paced_until) = pace(10_000.0, window(start, 10, Some(30), None), start);
        assert_eq!(tickets.len(), 300);
        assert_eq!(tickets.iter().filter(|t| t.measured).count(), 200);
        assert_eq!(
            tickets[150].due,
            Some(start + Duration::from_micros(15_000))
        );
        assert!(paced_until.unwrap() >= start + Duration::from_micros(29_900));
    }

    #[test]
    fn pacer_stops_after_the_measured_count() {
        let start = Instant::now();
        let (tickets, _) = pace(100_000.0, window(start, 0, None, Some(50)), start);
        assert_eq!(tickets.len(), 50);
    }
}
