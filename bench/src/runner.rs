//! The load engine: long-lived connections, each with up to `pipeline`
//! requests in flight, fed by a ticket source.
//!
//! * Closed loop: a connection takes the next ticket as soon as it has room;
//!   latency runs from the write.
//! * Open loop: a pacer thread issues ticket `k` at `start + k / rate` into a
//!   queue shared by all connections; any connection with room takes it, and
//!   latency runs from the ticket's *intended* time, so a slow server cannot
//!   hide its queueing delay (no coordinated omission).
//!
//! Tickets due before the end of the warm-up are sent but not measured.
//! Each connection decodes its replies in order with a [`Codec`]; a reply it
//! cannot trust (bad bytes, wrong seqid) or a lost connection fails the
//! requests in flight, and the connection is re-established.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::sync::mpsc::{self, UnboundedReceiver, error::TryRecvError};

use crate::stats::{Recorder, Timing};
use crate::workload::{GenState, Op, Schedule, Workload};

/// Turns requests into bytes and bytes back into outcomes, for one protocol.
pub trait Codec: Send + Sync + 'static {
    /// Appends the encoding of `req` to `out`.
    fn encode(&self, req: &crate::workload::Request, seq: i32, out: &mut BytesMut) -> Result<()>;
    /// Takes the reply to `expect` off the front of `buf`: `Ok(None)` if
    /// incomplete (nothing consumed), `Err` if the stream is unusable.
    fn decode(&self, buf: &mut BytesMut, expect: &Expect) -> Result<Option<Decoded>, String>;
}

/// What the oldest request in flight on a connection was.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    pub op: Op,
    pub seq: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok { messages: u32 },
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub outcome: Outcome,
    /// The server closes the connection after this reply.
    pub close: bool,
}

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
    pub connections: usize,
    pub pipeline: usize,
    pub warmup: Duration,
    pub stop: Stop,
    /// Open loop at this many requests per second; `None`: closed loop.
    pub rate: Option<f64>,
    /// A request with no reply after this long fails and its connection is
    /// re-established.
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
    intended: Instant,
    measured: bool,
}

struct Closed {
    measure_start: Instant,
    measure_end: Option<Instant>,
    limit: Option<u64>,
    claimed: AtomicU64,
    measured: AtomicU64,
}

impl Closed {
    fn next(&self, now: Instant) -> Option<Ticket> {
        if self.measure_end.is_some_and(|end| now >= end) {
            return None;
        }
        let measured = now >= self.measure_start;
        if measured
            && let Some(limit) = self.limit
            && self.measured.fetch_add(1, Ordering::Relaxed) >= limit
        {
            return None;
        }
        Some(Ticket {
            index: self.claimed.fetch_add(1, Ordering::Relaxed),
            intended: now,
            measured,
        })
    }
}

struct Open {
    rx: Mutex<UnboundedReceiver<Ticket>>,
    /// Set when the pacer has issued its last ticket.
    paced_until: Arc<OnceLock<Instant>>,
}

enum Source {
    Closed(Closed),
    Open(Open),
}

enum Next {
    Ticket(Ticket),
    Wait,
    Done,
}

struct Shared<C> {
    codec: C,
    workload: Workload,
    source: Source,
    plan: Plan,
    abort: Arc<AtomicBool>,
}

impl<C: Codec> Shared<C> {
    fn is_open(&self) -> bool {
        matches!(self.source, Source::Open(_))
    }

    fn try_next(&self) -> Next {
        if self.abort.load(Ordering::Relaxed) {
            return Next::Done;
        }
        match &self.source {
            Source::Closed(c) => c.next(Instant::now()).map_or(Next::Done, Next::Ticket),
            Source::Open(o) => {
                let Ok(mut rx) = o.rx.try_lock() else {
                    return Next::Wait;
                };
                match rx.try_recv() {
                    Ok(t) => Next::Ticket(t),
                    Err(TryRecvError::Empty) => Next::Wait,
                    Err(TryRecvError::Disconnected) => Next::Done,
                }
            }
        }
    }

    async fn recv(&self) -> Option<Ticket> {
        if self.abort.load(Ordering::Relaxed) {
            return None;
        }
        match &self.source {
            Source::Closed(c) => c.next(Instant::now()),
            Source::Open(o) => o.rx.lock().await.recv().await,
        }
    }

    /// Open loop: a ticket found in the queue too long after the pacer
    /// stopped is not sent.
    fn too_late(&self, now: Instant) -> bool {
        match &self.source {
            Source::Open(o) => o
                .paced_until
                .get()
                .is_some_and(|&end| now > end + DRAIN_LIMIT),
            Source::Closed(_) => false,
        }
    }
}

async fn connect(addr: &str) -> Result<TcpStream> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
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
pub async fn start<C: Codec>(plan: Plan, codec: C, workload: Workload) -> Result<Running> {
    if plan.connections == 0 || plan.pipeline == 0 {
        bail!("connections and pipeline must be at least 1");
    }
    let mut streams = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections {
        streams.push(connect(&plan.addr).await?);
    }
    let t0 = Instant::now();
    let measure_start = t0 + plan.warmup;
    let (measure_end, limit) = match plan.stop {
        Stop::Duration(d) => (Some(measure_start + d), None),
        Stop::Requests(n) => (None, Some(n)),
    };
    let abort = Arc::new(AtomicBool::new(false));
    let source = match plan.rate {
        None => Source::Closed(Closed {
            measure_start,
            measure_end,
            limit,
            claimed: AtomicU64::new(0),
            measured: AtomicU64::new(0),
        }),
        Some(rate) => {
            if !(rate > 0.0 && rate.is_finite()) {
                bail!("--rate must be a positive number, got {rate}");
            }
            let (tx, rx) = mpsc::unbounded_channel();
            let paced_until = Arc::new(OnceLock::new());
            let pacer = Pacer {
                schedule: Schedule { start: t0, rate },
                measure_start,
                measure_end,
                limit,
                abort: abort.clone(),
                paced_until: paced_until.clone(),
            };
            std::thread::Builder::new()
                .name("im-bench-pacer".into())
                .spawn(move || pacer.run(tx))
                .context("starting the pacer thread")?;
            Source::Open(Open {
                rx: Mutex::new(rx),
                paced_until,
            })
        }
    };
    let shared = Arc::new(Shared {
        codec,
        workload,
        source,
        plan,
        abort,
    });
    let mut tasks = tokio::task::JoinSet::new();
    for (i, stream) in streams.into_iter().enumerate() {
        let shared = shared.clone();
        tasks.spawn(async move {
            let result = worker(&shared, i as u32, stream).await;
            if result.is_err() {
                shared.abort.store(true, Ordering::Relaxed);
            }
            result
        });
    }
    let handle = tokio::spawn(async move {
        let mut total = Recorder::default();
        let mut failure = None;
        while let Some(joined) = tasks.join_next().await {
            match joined.context("connection task panicked")? {
                Ok(rec) => total.merge(&rec),
                Err(err) => failure = Some(err),
            }
        }
        if let Some(err) = failure {
            return Err(err);
        }
        let end = total.last_done.unwrap_or_else(Instant::now);
        Ok(RunResult {
            elapsed: end.saturating_duration_since(measure_start),
            recorder: total,
        })
    });
    Ok(Running {
        measure_start,
        handle,
    })
}

struct Pacer {
    schedule: Schedule,
    measure_start: Instant,
    measure_end: Option<Instant>,
    limit: Option<u64>,
    abort: Arc<AtomicBool>,
    paced_until: Arc<OnceLock<Instant>>,
}

impl Pacer {
    /// Issues tickets on schedule until the run's end. A thread sleep is
    /// precise to tens of microseconds, unlike tokio's millisecond timer.
    fn run(self, tx: mpsc::UnboundedSender<Ticket>) {
        // Linux lets a sleeping thread oversleep by its timer slack (50 µs by
        // default), which would count as latency; ask for 1 ns instead.
        // SAFETY: PR_SET_TIMERSLACK only changes this thread's timer slack.
        unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
        }
        let mut measured = 0u64;
        for k in 0.. {
            let intended = self.schedule.slot(k);
            if self.measure_end.is_some_and(|end| intended >= end)
                || self.abort.load(Ordering::Relaxed)
            {
                break;
            }
            let is_measured = intended >= self.measure_start;
            if is_measured && let Some(limit) = self.limit {
                if measured >= limit {
                    break;
                }
                measured += 1;
            }
            let now = Instant::now();
            if intended > now {
                std::thread::sleep(intended - now);
            }
            let ticket = Ticket {
                index: k,
                intended,
                measured: is_measured,
            };
            if tx.send(ticket).is_err() {
                break;
            }
        }
        let _ = self.paced_until.set(Instant::now());
    }
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    op: Op,
    seq: i32,
    intended: Instant,
    sent: Instant,
    measured: bool,
}

enum Event {
    Read(std::io::Result<usize>),
    Ticket(Option<Ticket>),
    Timeout,
}

/// One connection's loop; returns what it recorded.
async fn worker<C: Codec>(sh: &Shared<C>, conn: u32, stream: TcpStream) -> Result<Recorder> {
    let mut rec = Recorder::default();
    let mut st = GenState::new(fastrand::u64(..), conn);
    let depth = sh.plan.pipeline;
    let mut inflight: VecDeque<InFlight> = VecDeque::with_capacity(depth);
    let mut rbuf = BytesMut::with_capacity(64 << 10);
    let mut wbuf = BytesMut::with_capacity(4 << 10);
    let mut seq: i32 = 0;
    let mut done = false;
    let mut stream = Some(stream);

    loop {
        let Some(s) = stream.as_mut() else {
            if done && inflight.is_empty() {
                break;
            }
            stream = Some(reconnect(sh, &mut rec).await?);
            continue;
        };

        // Take every ticket available now, up to the pipeline depth.
        while !done && inflight.len() < depth {
            match sh.try_next() {
                Next::Ticket(t) => {
                    enqueue(sh, t, &mut st, &mut seq, &mut wbuf, &mut inflight, &mut rec)?
                }
                Next::Wait => break,
                Next::Done => done = true,
            }
        }
        if inflight.is_empty() {
            if done {
                break;
            }
            // Open loop with nothing in flight: wait for the next ticket.
            match sh.recv().await {
                Some(t) => enqueue(sh, t, &mut st, &mut seq, &mut wbuf, &mut inflight, &mut rec)?,
                None => done = true,
            }
        }
        if !wbuf.is_empty() {
            let written = s.write_all(&wbuf).await;
            wbuf.clear();
            if let Err(err) = written {
                broken(&mut rec, &mut inflight, &format!("write failed: {err}"));
                stream = None;
                continue;
            }
        }
        let Some(oldest) = inflight.front() else {
            continue;
        };

        let deadline = tokio::time::Instant::from_std(oldest.sent + sh.plan.timeout);
        let take_more = !done && inflight.len() < depth && sh.is_open();
        let event = tokio::select! {
            biased;
            r = s.read_buf(&mut rbuf) => Event::Read(r),
            t = sh.recv(), if take_more => Event::Ticket(t),
            _ = tokio::time::sleep_until(deadline) => Event::Timeout,
        };
        match event {
            Event::Ticket(Some(t)) => {
                enqueue(sh, t, &mut st, &mut seq, &mut wbuf, &mut inflight, &mut rec)?;
            }
            Event::Ticket(None) => done = true,
            Event::Timeout => {
                let msg = format!("no reply within {:?}", sh.plan.timeout);
                broken(&mut rec, &mut inflight, &msg);
                stream = None;
            }
            Event::Read(Ok(0)) => {
                broken(&mut rec, &mut inflight, "connection closed by the server");
                stream = None;
            }
            Event::Read(Err(err)) => {
                broken(&mut rec, &mut inflight, &format!("read failed: {err}"));
                stream = None;
            }
            Event::Read(Ok(_)) => {
                if let Err(msg) = take_replies(sh, &mut rbuf, &mut inflight, &mut rec) {
                    broken(&mut rec, &mut inflight, &msg);
                    stream = None;
                }
            }
        }
        if stream.is_none() {
            rbuf.clear();
        }
    }
    Ok(rec)
}

/// Encodes the request for ticket `t` into `wbuf`.
fn enqueue<C: Codec>(
    sh: &Shared<C>,
    t: Ticket,
    st: &mut GenState,
    seq: &mut i32,
    wbuf: &mut BytesMut,
    inflight: &mut VecDeque<InFlight>,
    rec: &mut Recorder,
) -> Result<()> {
    let now = Instant::now();
    if sh.too_late(now) {
        rec.unsent += 1;
        return Ok(());
    }
    let req = sh.workload.request(t.index, st);
    *seq = seq.wrapping_add(1);
    sh.codec.encode(&req, *seq, wbuf)?;
    inflight.push_back(InFlight {
        op: req.op(),
        seq: *seq,
        intended: t.intended,
        sent: now,
        measured: t.measured,
    });
    Ok(())
}

/// Decodes every complete reply in `rbuf`. `Err` means the connection must
/// be dropped (the failing request is already recorded).
fn take_replies<C: Codec>(
    sh: &Shared<C>,
    rbuf: &mut BytesMut,
    inflight: &mut VecDeque<InFlight>,
    rec: &mut Recorder,
) -> Result<(), String> {
    while let Some(&f) = inflight.front() {
        let expect = Expect {
            op: f.op,
            seq: f.seq,
        };
        let decoded = match sh.codec.decode(rbuf, &expect) {
            Ok(Some(d)) => d,
            Ok(None) => break,
            Err(msg) => return Err(msg),
        };
        inflight.pop_front();
        let timing = Timing {
            intended: f.intended,
            sent: f.sent,
            done: Instant::now(),
        };
        match decoded.outcome {
            Outcome::Ok { messages } => rec.success(f.op, messages, timing, f.measured),
            Outcome::Failed(msg) => rec.failure(f.op, &msg, timing, f.measured),
        }
        if decoded.close {
            return Err("server closed the connection (Connection: close)".into());
        }
    }
    if !rbuf.is_empty() && inflight.is_empty() {
        return Err(format!("{} unexpected bytes from the server", rbuf.len()));
    }
    Ok(())
}

/// Fails every request in flight with `msg`.
fn broken(rec: &mut Recorder, inflight: &mut VecDeque<InFlight>, msg: &str) {
    let done = Instant::now();
    if inflight.is_empty() {
        rec.sample(msg);
    }
    for f in inflight.drain(..) {
        let timing = Timing {
            intended: f.intended,
            sent: f.sent,
            done,
        };
        rec.failure(f.op, msg, timing, f.measured);
    }
}

async fn reconnect<C: Codec>(sh: &Shared<C>, rec: &mut Recorder) -> Result<TcpStream> {
    let mut last = None;
    for attempt in 0..MAX_RECONNECT_ATTEMPTS {
        if sh.abort.load(Ordering::Relaxed) {
            bail!("run aborted");
        }
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match connect(&sh.plan.addr).await {
            Ok(s) => {
                rec.reconnects += 1;
                return Ok(s);
            }
            Err(err) => last = Some(err),
        }
    }
    Err(last.expect("at least one attempt")).context(format!(
        "server unreachable: {MAX_RECONNECT_ATTEMPTS} reconnect attempts failed"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_source_warms_up_then_counts() {
        let start = Instant::now();
        let c = Closed {
            measure_start: start + Duration::from_secs(1),
            measure_end: None,
            limit: Some(2),
            claimed: AtomicU64::new(0),
            measured: AtomicU64::new(0),
        };
        let warm = c.next(start).unwrap();
        assert!(!warm.measured);
        let later = start + Duration::from_secs(2);
        assert!(c.next(later).unwrap().measured);
        let t = c.next(later).unwrap();
        assert!(t.measured);
        assert_eq!(t.index, 2);
        assert!(c.next(later).is_none());
    }

    #[test]
    fn closed_source_stops_at_the_end() {
        let start = Instant::now();
        let c = Closed {
            measure_start: start,
            measure_end: Some(start + Duration::from_secs(1)),
            limit: None,
            claimed: AtomicU64::new(0),
            measured: AtomicU64::new(0),
        };
        assert!(c.next(start).is_some());
        assert!(c.next(start + Duration::from_secs(1)).is_none());
    }

    #[test]
    fn pacer_issues_the_schedule() {
        let start = Instant::now();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let paced_until = Arc::new(OnceLock::new());
        Pacer {
            schedule: Schedule {
                start,
                rate: 10_000.0,
            },
            measure_start: start + Duration::from_millis(10),
            measure_end: Some(start + Duration::from_millis(30)),
            limit: None,
            abort: Arc::new(AtomicBool::new(false)),
            paced_until: paced_until.clone(),
        }
        .run(tx);
        let mut tickets = Vec::new();
        while let Ok(t) = rx.try_recv() {
            tickets.push(t);
        }
        assert_eq!(tickets.len(), 300);
        assert_eq!(tickets.iter().filter(|t| t.measured).count(), 200);
        assert_eq!(tickets[150].intended, start + Duration::from_micros(15_000));
        assert!(paced_until.get().unwrap() >= &(start + Duration::from_micros(29_900)));
    }

    #[test]
    fn pacer_stops_after_the_measured_count() {
        let start = Instant::now();
        let (tx, mut rx) = mpsc::unbounded_channel();
        Pacer {
            schedule: Schedule {
                start,
                rate: 100_000.0,
            },
            measure_start: start,
            measure_end: None,
            limit: Some(50),
            abort: Arc::new(AtomicBool::new(false)),
            paced_until: Arc::new(OnceLock::new()),
        }
        .run(tx);
        let mut n = 0;
        while rx.try_recv().is_ok() {
            n += 1;
        }
        assert_eq!(n, 50);
    }
}
