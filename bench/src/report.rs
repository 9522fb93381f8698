//! The report of a run: printed for people, one JSON line for scripts.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::proc::ServerUsage;
use crate::stats::{Percentiles, Recorder};
use crate::verify::Verify;

/// Everything about one run.
#[derive(Debug, Serialize)]
pub struct Report {
    pub label: String,
    /// The flags of the run.
    pub params: serde_json::Value,
    pub elapsed_s: f64,
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub throughput_rps: f64,
    /// Open loop: the requested rate; `throughput_rps` is what was achieved.
    pub target_rps: Option<f64>,
    pub sends_ok: u64,
    pub pulls_ok: u64,
    pub messages_per_pull: Option<f64>,
    pub warmup_requests: u64,
    pub unsent: u64,
    pub reconnects: u64,
    /// From the intended send time (open loop) or the write (closed loop).
    pub latency_us: Percentiles,
    /// Open loop only: from the actual write.
    pub service_time_us: Option<Percentiles>,
    /// Per operation, when the run mixed them.
    pub per_op_latency_us: BTreeMap<&'static str, Percentiles>,
    /// Message -> count, warm-up included.
    pub error_samples: BTreeMap<String, u64>,
    pub servers: Vec<ServerUsage>,
    /// This process's own CPU over the window (its peak RSS since start).
    pub load_generator: Option<ServerUsage>,
    /// With `--server-pid`: TCP connections opened in the measured window.
    pub new_connections: Option<NewConnections>,
    pub verify: Option<Verify>,
}

/// TCP connections opened during the measured window, from the kernel's
/// count of accepted connections in the watched servers' network namespaces
/// (`proc::AcceptWatch`). Through the gateway, `others` are the gateway's
/// dials to the rpc-server: 0 while its pool keeps its connections.
#[derive(Debug, Serialize)]
pub struct NewConnections {
    /// `TcpPassiveOpens` over the window.
    pub accepted: u64,
    /// The load generator's own reconnects in the window.
    pub load_generator: u64,
    /// `accepted - load_generator`.
    pub others: u64,
    /// `others` per measured request.
    pub per_request: Option<f64>,
}

impl NewConnections {
    pub fn new(accepted: u64, rec: &Recorder) -> NewConnections {
        let others = accepted.saturating_sub(rec.measured_reconnects);
        let requests = rec.requests();
        NewConnections {
            accepted,
            load_generator: rec.measured_reconnects,
            others,
            per_request: (requests > 0).then(|| others as f64 / requests as f64),
        }
    }
}

impl Report {
    pub fn new(
        label: String,
        params: serde_json::Value,
        target_rps: Option<f64>,
        rec: &Recorder,
        elapsed: Duration,
        servers: Vec<ServerUsage>,
    ) -> Report {
        let elapsed_s = elapsed.as_secs_f64();
        let requests = rec.requests();
        let per_op = rec.per_op.iter().map(|(op, h)| (*op, Percentiles::of(h)));
        Report {
            label,
            params,
            elapsed_s,
            requests,
            ok: rec.ok(),
            errors: rec.errors,
            throughput_rps: if elapsed_s > 0.0 {
                requests as f64 / elapsed_s
            } else {
                0.0
            },
            target_rps,
            sends_ok: rec.sends_ok,
            pulls_ok: rec.pulls_ok,
            messages_per_pull: (rec.pulls_ok > 0)
                .then(|| rec.messages_pulled as f64 / rec.pulls_ok as f64),
            warmup_requests: rec.warmup,
            unsent: rec.unsent,
            reconnects: rec.reconnects,
            latency_us: Percentiles::of(&rec.latency),
            service_time_us: target_rps.map(|_| Percentiles::of(&rec.service)),
            per_op_latency_us: if rec.per_op.len() > 1 {
                per_op.collect()
            } else {
                BTreeMap::new()
            },
            error_samples: rec.error_samples.clone(),
            servers,
            load_generator: None,
            new_connections: None,
            verify: None,
        }
    }

    /// The compact human-readable block.
    pub fn human(&self) -> String {
        let mut s = String::new();
        let param = |key: &str| match &self.params[key] {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let mode = match self.target_rps {
            Some(r) => format!("open loop @ {r} req/s"),
            None => "closed loop".into(),
        };
        let _ = writeln!(
            s,
            "== {} | {} {} -> {} | {mode} | {} connections ==",
            self.label,
            param("protocol"),
            param("workload"),
            param("addr"),
            param("connections")
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
        self.write_latency(&mut s);
        if let Some(m) = self.messages_per_pull {
            let _ = writeln!(s, "pulls     {m:.1} messages per pull");
        }
        if self.reconnects > 0 {
            let _ = writeln!(s, "reconnects {}", self.reconnects);
        }
        for (message, n) in &self.error_samples {
            let _ = writeln!(s, "error     x{n} (warm-up included): {message}");
        }
        if let Some(c) = &self.new_connections {
            let _ = writeln!(
                s,
                "new conns {} = {} per request, besides the load generator's {} (TCP connections accepted in the servers' network namespaces)",
                c.others,
                c.per_request.map_or("-".into(), |v| format!("{v:.4}")),
                c.load_generator,
            );
        }
        let load_generator = self.load_generator.iter().map(|u| ("load gen", u));
        for (role, u) in self
            .servers
            .iter()
            .map(|u| ("server", u))
            .chain(load_generator)
        {
            let _ = writeln!(
                s,
                "{role:<9} {} (pid {}): cpu {:.2}s = {:.2} cores, {} cpu-s/10k req, peak RSS {} ({})",
                u.name,
                u.pid,
                u.cpu_seconds,
                u.cores,
                u.cpu_seconds_per_10k
                    .map_or("-".into(), |v| format!("{v:.3}")),
                u.peak_rss_kb
                    .map_or("-".into(), |kb| format!("{:.1} MiB", kb as f64 / 1024.0)),
                u.peak_rss_scope,
            );
        }
        s
    }

    fn write_latency(&self, s: &mut String) {
        if let Some(target) = self.target_rps {
            let _ = writeln!(
                s,
                "rate      target {target:.0} req/s, achieved {:.0} req/s, {} due requests never sent",
                self.throughput_rps, self.unsent
            );
            let _ = writeln!(
                s,
                "latency   {} (from intended send time)",
                line(&self.latency_us)
            );
        } else {
            let _ = writeln!(s, "latency   {}", line(&self.latency_us));
        }
        if let Some(service) = &self.service_time_us {
            let _ = writeln!(s, "service   {} (from actual write)", line(service));
        }
        for (op, pct) in &self.per_op_latency_us {
            let _ = writeln!(s, "  {op:<6}  n={}  {}", pct.count, line(pct));
        }
    }
}

/// `p50 120us  p90 ...`.
fn line(p: &Percentiles) -> String {
    format!(
        "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (mean {})",
        fmt_us(p.p50),
        fmt_us(p.p90),
        fmt_us(p.p99),
        fmt_us(p.p999),
        fmt_us(p.max),
        fmt_us(p.mean.round() as u64)
    )
}

/// `850us` below 10 ms, `12.3ms` below 1 s, else `1.25s`.
fn fmt_us(us: u64) -> String {
    if us < 10_000 {
        format!("{us}us")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Outcome;
    use crate::stats::Timing;
    use crate::workload::Op;
    use std::time::Instant;

    #[test]
    fn report_figures() {
        let mut rec = Recorder::default();
        let due = Instant::now();
        for _ in 0..1000 {
            let timing = Timing {
                due: Some(due),
                sent: due + Duration::from_micros(100),
                done: due + Duration::from_micros(150),
            };
            rec.record(Op::Pull, &Outcome::Ok { messages: 10 }, timing, true);
        }
        let params = serde_json::json!({"protocol": "thrift", "workload": "pull"});
        let report = Report::new(
            "t".into(),
            params,
            Some(250.0),
            &rec,
            Duration::from_secs(4),
            vec![],
        );
        assert_eq!(report.throughput_rps, 250.0);
        assert_eq!(report.messages_per_pull, Some(10.0));
        assert_eq!(report.service_time_us.unwrap().p50, 50);
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
        assert_eq!(fmt_us(2_963_500), "2.96s");
    }
}
