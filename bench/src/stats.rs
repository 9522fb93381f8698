//! What the connections count: latency histograms and counters.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::client::Outcome;
use crate::workload::Op;

/// Highest latency recorded exactly, in µs; larger values are clamped.
const MAX_LATENCY_US: u64 = 120_000_000;
/// Distinct error messages kept as samples.
const MAX_ERROR_SAMPLES: usize = 8;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u128::from(MAX_LATENCY_US)) as u64
}

/// When a request was due (open loop only), written and answered.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub due: Option<Instant>,
    pub sent: Instant,
    pub done: Instant,
}

/// What one connection saw; merged into a run total at the end.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// From the due time in open loop, from the write in closed loop (µs).
    pub latency: Histogram<u64>,
    /// From the write (µs); differs from `latency` in open loop only.
    pub service: Histogram<u64>,
    pub per_op: BTreeMap<&'static str, Histogram<u64>>,
    pub errors: u64,
    pub sends_ok: u64,
    pub pulls_ok: u64,
    pub messages_pulled: u64,
    pub warmup: u64,
    /// Sends acknowledged with success, warm-up included.
    pub acked_sends: u64,
    /// Open loop: requests due but never sent (backlog left at the end).
    pub unsent: u64,
    pub reconnects: u64,
    /// Connections opened for measured requests (part of `reconnects`).
    pub measured_reconnects: u64,
    /// Latest completion of a measured request.
    pub last_done: Option<Instant>,
    /// Message -> count (warm-up included), at most [`MAX_ERROR_SAMPLES`]
    /// distinct messages.
    pub error_samples: BTreeMap<String, u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            latency: histogram(),
            service: histogram(),
            per_op: BTreeMap::new(),
            errors: 0,
            sends_ok: 0,
            pulls_ok: 0,
            messages_pulled: 0,
            warmup: 0,
            acked_sends: 0,
            unsent: 0,
            reconnects: 0,
            measured_reconnects: 0,
            last_done: None,
            error_samples: BTreeMap::new(),
        }
    }
}

impl Recorder {
    /// Counts one finished request; warm-up requests only count as such.
    pub fn record(&mut self, op: Op, outcome: &Outcome, t: Timing, measured: bool) {
        match outcome {
            Outcome::Ok { .. } if op == Op::Send => self.acked_sends += 1,
            Outcome::Ok { .. } => {}
            Outcome::Failed(message) => self.sample(message, 1),
        }
        if !measured {
            self.warmup += 1;
            return;
        }
        match (outcome, op) {
            (Outcome::Failed(_), _) => self.errors += 1,
            (Outcome::Ok { .. }, Op::Send) => self.sends_ok += 1,
            (Outcome::Ok { messages }, Op::Pull) => {
                self.pulls_ok += 1;
                self.messages_pulled += u64::from(*messages);
            }
        }
        let latency = micros(t.done - t.due.unwrap_or(t.sent));
        self.latency.saturating_record(latency);
        self.service.saturating_record(micros(t.done - t.sent));
        self.per_op
            .entry(op.name())
            .or_insert_with(histogram)
            .saturating_record(latency);
        self.last_done = self.last_done.max(Some(t.done));
    }

    /// Keeps `message` as a sample if it is known or there is room for it.
    fn sample(&mut self, message: &str, n: u64) {
        if let Some(count) = self.error_samples.get_mut(message) {
            *count += n;
        } else if self.error_samples.len() < MAX_ERROR_SAMPLES {
            self.error_samples.insert(message.to_owned(), n);
        }
    }

    pub fn merge(&mut self, other: &Recorder) {
        self.latency
            .add(&other.latency)
            .expect("same histogram bounds");
        self.service
            .add(&other.service)
            .expect("same histogram bounds");
        for (op, h) in &other.per_op {
            let mine = self.per_op.entry(op).or_insert_with(histogram);
            mine.add(h).expect("same histogram bounds");
        }
        self.errors += other.errors;
        self.sends_ok += other.sends_ok;
        self.pulls_ok += other.pulls_ok;
        self.messages_pulled += other.messages_pulled;
        self.warmup += other.warmup;
        self.acked_sends += other.acked_sends;
        self.unsent += other.unsent;
        self.reconnects += other.reconnects;
        self.measured_reconnects += other.measured_reconnects;
        self.last_done = self.last_done.max(other.last_done);
        for (message, n) in &other.error_samples {
            self.sample(message, *n);
        }
    }

    pub fn ok(&self) -> u64 {
        self.sends_ok + self.pulls_ok
    }

    pub fn requests(&self) -> u64 {
        self.ok() + self.errors
    }
}

/// Latency summary in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(us: u64) -> Timing {
        let due = Instant::now();
        Timing {
            due: Some(due),
            sent: due + Duration::from_micros(us / 2),
            done: due + Duration::from_micros(us),
        }
    }

    const OK: Outcome = Outcome::Ok { messages: 7 };

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut rec = Recorder::default();
        for us in 1..=10_000 {
            rec.record(Op::Send, &OK, timing(us), true);
        }
        let p = Percentiles::of(&rec.latency);
        assert_eq!(p.count, 10_000);
        let close = |got: u64, want: u64| got.abs_diff(want) <= want / 500 + 1;
        assert!(close(p.p50, 5_000), "{p:?}");
        assert!(close(p.p99, 9_900), "{p:?}");
        assert!(close(p.p999, 9_990), "{p:?}");
        assert!(close(p.max, 10_000), "{p:?}");
        assert!((p.mean - 5000.5).abs() < 10.0, "{p:?}");
        assert!(close(Percentiles::of(&rec.service).p50, 2_500));
        assert_eq!(Percentiles::of(&histogram()).count, 0);
    }

    #[test]
    fn warmup_is_counted_apart_and_merge_adds_up() {
        let down = Outcome::Failed("Send: Code 500: down".into());
        let mut a = Recorder::default();
        a.record(Op::Send, &OK, timing(100), false);
        a.record(Op::Pull, &OK, timing(200), true);
        a.record(Op::Send, &down, timing(300), true);
        let mut b = Recorder::default();
        b.record(Op::Send, &OK, timing(400), true);
        b.record(Op::Send, &down, timing(300), false);
        b.record(
            Op::Pull,
            &Outcome::Failed("other".into()),
            timing(300),
            true,
        );
        a.merge(&b);
        assert_eq!((a.ok(), a.errors, a.warmup), (2, 2, 2));
        assert_eq!((a.acked_sends, a.sends_ok, a.pulls_ok), (2, 1, 1));
        assert_eq!(a.messages_pulled, 7);
        assert_eq!(a.latency.len(), 4);
        assert_eq!(a.error_samples["Send: Code 500: down"], 2);
        assert_eq!(a.error_samples["other"], 1);
        assert_eq!(a.per_op["send"].len() + a.per_op["pull"].len(), 4);
    }

    #[test]
    fn error_samples_are_capped() {
        let mut rec = Recorder::default();
        for i in 0..100 {
            rec.record(Op::Send, &Outcome::Failed(format!("e{i}")), timing(1), true);
        }
        assert_eq!(rec.error_samples.len(), MAX_ERROR_SAMPLES);
        assert_eq!(rec.errors, 100);
    }
}
