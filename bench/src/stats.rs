//! Latency histograms, counters and the run report (human and JSON).
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::proc::ServerUsage;
use crate::workload::Op;

/// Highest latency recorded exactly, in µs; larger values are clamped.
const MAX_LATENCY_US: u64 = 120_000_000;
/// Distinct error messages kept as samples.
const MAX_ERROR_SAMPLES: usize = 8;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// What one connection saw. Merged into a run total at the end.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Latency from the intended send time (µs), measured requests only.
    pub latency: Histogram<u64>,
    /// Latency from the actual write (µs); equals `latency` in closed loop.
    pub service: Histogram<u64>,
    pub per_op: BTreeMap<&'static str, Histogram<u64>>,
    pub ok: u64,
    pub errors: u64,
    pub sends_ok: u64,
    pub pulls_ok: u64,
    pub messages_pulled: u64,
    pub warmup_ok: u64,
    pub warmup_errors: u64,
    /// Sends acknowledged with success, warm-up and prefill included.
    pub acked_sends: u64,
    /// Open loop: requests due but never sent (backlog left at the end).
    pub unsent: u64,
    pub reconnects: u64,
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
            ok: 0,
            errors: 0,
            sends_ok: 0,
            pulls_ok: 0,
            messages_pulled: 0,
            warmup_ok: 0,
            warmup_errors: 0,
            acked_sends: 0,
            unsent: 0,
            reconnects: 0,
            last_done: None,
            error_samples: BTreeMap::new(),
        }
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u128::from(MAX_LATENCY_US)) as u64
}

impl Recorder {
    /// A successful reply.
    pub fn success(&mut self, op: Op, messages: u32, timing: Timing, measured: bool) {
        if op == Op::Send {
            self.acked_sends += 1;
        }
        if !measured {
            self.warmup_ok += 1;
            return;
        }
        self.ok += 1;
        match op {
            Op::Send => self.sends_ok += 1,
            Op::Pull => {
                self.pulls_ok += 1;
                self.messages_pulled += u64::from(messages);
            }
        }
        self.record_latency(op, timing);
    }

    /// A failed request: error reply, exception, or lost connection.
    pub fn failure(&mut self, op: Op, message: &str, timing: Timing, measured: bool) {
        self.sample(message);
        if !measured {
            self.warmup_errors += 1;
            return;
        }
        self.errors += 1;
        self.record_latency(op, timing);
    }

    /// Keeps `message` as a sample if there is room for it.
    pub fn sample(&mut self, message: &str) {
        if let Some(n) = self.error_samples.get_mut(message) {
            *n += 1;
        } else if self.error_samples.len() < MAX_ERROR_SAMPLES {
            self.error_samples.insert(message.to_owned(), 1);
        }
    }

    fn record_latency(&mut self, op: Op, t: Timing) {
        let latency = micros(t.done.saturating_duration_since(t.intended));
        self.latency.saturating_record(latency.max(1));
        self.service
            .saturating_record(micros(t.done.saturating_duration_since(t.sent)).max(1));
        self.per_op
            .entry(op_name(op))
            .or_insert_with(histogram)
            .saturating_record(latency.max(1));
        self.last_done = Some(self.last_done.map_or(t.done, |d| d.max(t.done)));
    }

    pub fn merge(&mut self, other: &Recorder) {
        self.latency.add(&other.latency).expect("same bounds");
        self.service.add(&other.service).expect("same bounds");
        for (op, h) in &other.per_op {
            self.per_op
                .entry(op)
                .or_insert_with(histogram)
                .add(h)
                .expect("same bounds");
        }
        self.ok += other.ok;
        self.errors += other.errors;
        self.sends_ok += other.sends_ok;
        self.pulls_ok += other.pulls_ok;
        self.messages_pulled += other.messages_pulled;
        self.warmup_ok += other.warmup_ok;
        self.warmup_errors += other.warmup_errors;
        self.acked_sends += other.acked_sends;
        self.unsent += other.unsent;
        self.reconnects += other.reconnects;
        self.last_done = match (self.last_done, other.last_done) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (message, n) in &other.error_samples {
            if let Some(total) = self.error_samples.get_mut(message) {
                *total += n;
            } else if self.error_samples.len() < MAX_ERROR_SAMPLES {
                self.error_samples.insert(message.clone(), *n);
            }
        }
    }

    pub fn requests(&self) -> u64 {
        self.ok + self.errors
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Send => "send",
        Op::Pull => "pull",
    }
}

/// When a request was due, written and answered.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub intended: Instant,
    pub sent: Instant,
    pub done: Instant,
}

/// Latency summary in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub min: u64,
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
            return Percentiles {
                count: 0,
                min: 0,
                mean: 0.0,
                p50: 0,
                p90: 0,
                p99: 0,
                p999: 0,
                max: 0,
            };
        }
        Percentiles {
            count: h.len(),
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }

    /// `p50 120us  p90 ...`, values in µs below 10 ms, else in ms.
    pub fn line(&self) -> String {
        format!(
            "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (mean {})",
            fmt_us(self.p50),
            fmt_us(self.p90),
            fmt_us(self.p99),
            fmt_us(self.p999),
            fmt_us(self.max),
            fmt_us(self.mean.round() as u64)
        )
    }
}

/// `850us` below 10 ms, `12.3ms` below 1 s, else `1.25s`.
pub fn fmt_us(us: u64) -> String {
    if us < 10_000 {
        format!("{us}us")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1000.0)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

/// The parameters of a run, echoed into the report.
#[derive(Debug, Clone, Serialize)]
pub struct Params {
    pub protocol: String,
    pub addr: String,
    pub workload: String,
    pub connections: usize,
    pub pipeline: usize,
    pub threads: usize,
    pub rate: Option<f64>,
    pub duration_s: Option<f64>,
    pub requests: Option<u64>,
    pub warmup_s: f64,
    pub rooms: u32,
    pub text_bytes: usize,
    pub page_size: i32,
    pub prefill: u32,
    pub send_ratio: f64,
    pub run_id: String,
}

/// Redis check of acknowledged sends.
#[derive(Debug, Clone, Serialize)]
pub struct Verify {
    pub redis: u64,
    pub acked: u64,
    pub keys: usize,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorSample {
    pub message: String,
    pub count: u64,
}

/// Everything about one run; one JSON object per run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub label: String,
    pub timestamp_unix: u64,
    pub params: Params,
    pub mode: &'static str,
    pub elapsed_s: f64,
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub throughput_rps: f64,
    /// Open loop: the requested rate; `throughput_rps` is what was achieved.
    pub target_rps: Option<f64>,
    pub rate_kept: Option<bool>,
    pub sends_ok: u64,
    pub pulls_ok: u64,
    pub messages_per_pull: Option<f64>,
    pub warmup_requests: u64,
    pub warmup_errors: u64,
    pub unsent: u64,
    pub reconnects: u64,
    /// From the intended send time (open loop) or the write (closed loop).
    pub latency_us: Percentiles,
    /// From the actual write; reported in open loop only.
    pub service_time_us: Option<Percentiles>,
    pub per_op_latency_us: BTreeMap<&'static str, Percentiles>,
    pub error_samples: Vec<ErrorSample>,
    pub servers: Vec<ServerUsage>,
    pub servers_cpu_seconds: Option<f64>,
    pub servers_cpu_seconds_per_10k: Option<f64>,
    pub acked_sends_total: u64,
    pub verify: Option<Verify>,
}

impl Report {
    pub fn new(
        label: String,
        params: Params,
        rec: &Recorder,
        elapsed: Duration,
        servers: Vec<ServerUsage>,
    ) -> Report {
        let elapsed_s = elapsed.as_secs_f64();
        let requests = rec.requests();
        let throughput_rps = if elapsed_s > 0.0 {
            requests as f64 / elapsed_s
        } else {
            0.0
        };
        let open = params.rate.is_some();
        let servers_cpu_seconds =
            (!servers.is_empty()).then(|| servers.iter().map(|s| s.cpu_seconds).sum::<f64>());
        Report {
            label,
            timestamp_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            mode: if open { "open-loop" } else { "closed-loop" },
            elapsed_s,
            requests,
            ok: rec.ok,
            errors: rec.errors,
            throughput_rps,
            target_rps: params.rate,
            rate_kept: params.rate.map(|r| rate_kept(r, throughput_rps)),
            sends_ok: rec.sends_ok,
            pulls_ok: rec.pulls_ok,
            messages_per_pull: (rec.pulls_ok > 0)
                .then(|| rec.messages_pulled as f64 / rec.pulls_ok as f64),
            warmup_requests: rec.warmup_ok + rec.warmup_errors,
            warmup_errors: rec.warmup_errors,
            unsent: rec.unsent,
            reconnects: rec.reconnects,
            latency_us: Percentiles::of(&rec.latency),
            service_time_us: open.then(|| Percentiles::of(&rec.service)),
            per_op_latency_us: if rec.per_op.len() > 1 {
                rec.per_op
                    .iter()
                    .map(|(op, h)| (*op, Percentiles::of(h)))
                    .collect()
            } else {
                BTreeMap::new()
            },
            error_samples: rec
                .error_samples
                .iter()
                .map(|(message, count)| ErrorSample {
                    message: message.clone(),
                    count: *count,
                })
                .collect(),
            servers_cpu_seconds_per_10k: servers_cpu_seconds
                .and_then(|cpu| crate::proc::per_10k(cpu, requests)),
            servers_cpu_seconds,
            servers,
            acked_sends_total: rec.acked_sends,
            verify: None,
            params,
        }
    }

    /// The compact human-readable block.
    pub fn human(&self) -> String {
        let p = &self.params;
        let mut s = String::new();
        let load = match self.target_rps {
            Some(r) => format!("open loop @ {r} req/s"),
            None => "closed loop".to_owned(),
        };
        let _ = writeln!(
            s,
            "== {} | {} {} -> {} | {} | {} conns x pipeline {} ==",
            self.label, p.protocol, p.workload, p.addr, load, p.connections, p.pipeline
        );
        let _ = writeln!(
            s,
            "requests  {} in {:.2}s = {:.0} req/s  (ok {}, errors {}, warm-up {})",
            self.requests,
            self.elapsed_s,
            self.throughput_rps,
            self.ok,
            self.errors,
            self.warmup_requests
        );
        if let (Some(target), Some(kept)) = (self.target_rps, self.rate_kept) {
            let _ = writeln!(
                s,
                "rate      target {target:.0} req/s, achieved {:.0} req/s{}{}",
                self.throughput_rps,
                if kept { "" } else { "  ** TARGET NOT KEPT **" },
                if self.unsent > 0 {
                    format!(", {} due requests never sent", self.unsent)
                } else {
                    String::new()
                }
            );
        }
        let from = if self.target_rps.is_some() {
            " (from intended send time)"
        } else {
            ""
        };
        let _ = writeln!(s, "latency   {}{from}", self.latency_us.line());
        if let Some(service) = &self.service_time_us {
            let _ = writeln!(s, "service   {}  (from actual write)", service.line());
        }
        for (op, pct) in &self.per_op_latency_us {
            let _ = writeln!(s, "  {op:<6}  n={}  {}", pct.count, pct.line());
        }
        if let Some(m) = self.messages_per_pull {
            let _ = writeln!(
                s,
                "pulls     {} ok, {:.1} messages per pull; sends {} ok",
                self.pulls_ok, m, self.sends_ok
            );
        }
        if self.reconnects > 0 {
            let _ = writeln!(s, "reconnects {}", self.reconnects);
        }
        if !self.error_samples.is_empty() {
            let _ = writeln!(s, "error samples (counts include warm-up):");
        }
        for e in &self.error_samples {
            let _ = writeln!(s, "  x{}: {}", e.count, e.message);
        }
        for u in &self.servers {
            let _ = writeln!(
                s,
                "server    pid {} ({}): cpu {:.2}s ({:.2} cores, user {:.2}s), {} cpu-s/10k req, peak RSS {} ({}), RSS now {}",
                u.pid,
                u.name,
                u.cpu_seconds,
                if self.elapsed_s > 0.0 {
                    u.cpu_seconds / self.elapsed_s
                } else {
                    0.0
                },
                u.user_seconds,
                u.cpu_seconds_per_10k
                    .map_or("-".to_owned(), |v| format!("{v:.3}")),
                fmt_kb(u.peak_rss_kb),
                u.peak_rss_scope,
                fmt_kb(u.rss_kb),
            );
        }
        if self.servers.len() > 1
            && let (Some(cpu), Some(per)) =
                (self.servers_cpu_seconds, self.servers_cpu_seconds_per_10k)
        {
            let _ = writeln!(s, "servers   total cpu {cpu:.2}s, {per:.3} cpu-s/10k req");
        }
        if let Some(v) = &self.verify {
            let _ = writeln!(
                s,
                "verify: redis={} acked={} {} ({} keys)",
                v.redis,
                v.acked,
                if v.ok { "OK" } else { "MISMATCH" },
                v.keys
            );
        }
        s
    }
}

/// A target rate counts as kept when at least 95% of it was achieved.
pub fn rate_kept(target: f64, achieved: f64) -> bool {
    achieved >= 0.95 * target
}

fn fmt_kb(kb: Option<u64>) -> String {
    match kb {
        Some(kb) if kb >= 10 * 1024 => format!("{:.1} MiB", kb as f64 / 1024.0),
        Some(kb) => format!("{kb} KiB"),
        None => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(us: u64) -> Timing {
        let intended = Instant::now();
        Timing {
            intended,
            sent: intended + Duration::from_micros(us / 2),
            done: intended + Duration::from_micros(us),
        }
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut rec = Recorder::default();
        for us in 1..=10_000 {
            rec.success(Op::Send, 0, timing(us), true);
        }
        let p = Percentiles::of(&rec.latency);
        assert_eq!(p.count, 10_000);
        let close = |got: u64, want: u64| got.abs_diff(want) <= want / 500 + 1;
        assert!(close(p.p50, 5_000), "{p:?}");
        assert!(close(p.p90, 9_000), "{p:?}");
        assert!(close(p.p99, 9_900), "{p:?}");
        assert!(close(p.p999, 9_990), "{p:?}");
        assert!(close(p.max, 10_000), "{p:?}");
        assert!((p.mean - 5000.5).abs() < 10.0, "{p:?}");
        let service = Percentiles::of(&rec.service);
        assert!(close(service.p50, 2_500), "{service:?}");
        assert_eq!(Percentiles::of(&histogram()).count, 0);
    }

    #[test]
    fn warmup_is_counted_apart_and_merge_adds_up() {
        let mut a = Recorder::default();
        a.success(Op::Send, 0, timing(100), false);
        a.success(Op::Pull, 7, timing(200), true);
        a.failure(Op::Send, "Send: Code 500: down", timing(300), true);
        let mut b = Recorder::default();
        b.success(Op::Send, 0, timing(400), true);
        b.failure(Op::Send, "Send: Code 500: down", timing(300), false);
        b.failure(Op::Pull, "other", timing(300), true);
        a.merge(&b);
        assert_eq!((a.ok, a.errors, a.warmup_ok, a.warmup_errors), (2, 2, 1, 1));
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
            rec.failure(Op::Send, &format!("e{i}"), timing(1), true);
        }
        assert_eq!(rec.error_samples.len(), MAX_ERROR_SAMPLES);
        assert_eq!(rec.errors, 100);
    }

    #[test]
    fn report_figures() {
        let mut rec = Recorder::default();
        for _ in 0..1000 {
            rec.success(Op::Pull, 10, timing(150), true);
        }
        let params = Params {
            protocol: "thrift".into(),
            addr: "127.0.0.1:1".into(),
            workload: "pull".into(),
            connections: 4,
            pipeline: 1,
            threads: 1,
            rate: Some(250.0),
            duration_s: Some(4.0),
            requests: None,
            warmup_s: 1.0,
            rooms: 10,
            text_bytes: 64,
            page_size: 10,
            prefill: 20,
            send_ratio: 0.2,
            run_id: "x".into(),
        };
        let report = Report::new("t".into(), params, &rec, Duration::from_secs(4), vec![]);
        assert_eq!(report.throughput_rps, 250.0);
        assert_eq!(report.rate_kept, Some(true));
        assert_eq!(report.messages_per_pull, Some(10.0));
        assert!(report.service_time_us.is_some());
        let text = report.human();
        assert!(text.contains("1000 in 4.00s = 250 req/s"), "{text}");
        assert!(text.contains("p50 150us"), "{text}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["latency_us"]["p50"], 150);
        assert_eq!(json["params"]["workload"], "pull");
    }

    #[test]
    fn formatting() {
        assert_eq!(fmt_us(850), "850us");
        assert_eq!(fmt_us(12_345), "12.3ms");
        assert_eq!(fmt_us(999_999), "1000.0ms");
        assert_eq!(fmt_us(2_963_500), "2.96s");
        assert!(rate_kept(1000.0, 960.0));
        assert!(!rate_kept(1000.0, 900.0));
        assert_eq!(fmt_kb(Some(2048)), "2048 KiB");
        assert_eq!(fmt_kb(Some(20480)), "20.0 MiB");
    }
}
