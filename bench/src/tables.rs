//! `im-bench tables FILE`: the comparison tables of `scripts/bench.sh`,
//! from the JSON lines its runs appended to FILE.
//!
//! Labels follow `<server>-<kind>-<workload>`: server `rust` or `go`; kind
//! `thrift` (direct), `http` (through the gateway with its defaults; the
//! report's first server is the gateway, the second the rpc-server),
//! `httptpl` (through the gateway as the template has it, `RPC_POOL=template
//! HTTP_BIND=template RPC_TIMEOUT_MODE=template`) or `redis` (redis-benchmark with that server's
//! command, a line `{"label":..,"throughput_rps":..}`). `rust-http` is this
//! project's stack as a user runs it, `go-httptpl` the template's.
//! The Rust server's options section adds kinds `base`, `metrics` and
//! `wait1` (Thrift, Redis with one replica; see `scripts/bench.sh`), and the
//! stacks' side-by-side section kind `stack` (`rust-stack` = `rust-http`,
//! `go-stack` = `go-httptpl`, both up at once, in alternating rounds).
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::verify::Verify;

const SERVERS: [&str; 2] = ["rust", "go"];
/// Columns of a side-by-side table: (header name, server, kind).
type Column = (&'static str, &'static str, &'static str);

/// Which way a side-by-side table's ratio columns divide.
#[derive(Clone, Copy)]
enum Ratio {
    /// The first column over each other one (rust/go: above 1, Rust ahead).
    FirstOverOthers,
    /// Each other column over the first (metrics/base: below 1, a cost).
    OthersOverFirst,
}
const THRIFT_SERVERS: [Column; 2] = [("rust", "rust", "thrift"), ("go", "go", "thrift")];
const HTTP_SERVERS: [Column; 2] = [("rust", "rust", "http"), ("go", "go", "http")];
/// This project's stack, the template's, and the template's gateway in
/// front of this server.
const HTTP_STACKS: [Column; 3] = [
    ("ours", "rust", "http"),
    ("template", "go", "httptpl"),
    ("tpl-gw+rust", "rust", "httptpl"),
];
/// The same two stacks, measured in alternating rounds: the headline
/// comparison when it ran.
const STACKS_SIDE_BY_SIDE: [Column; 2] = [("ours", "rust", "stack"), ("template", "go", "stack")];
const RUST_OPTIONS: [Column; 3] = [
    ("base", "rust", "base"),
    ("metrics", "rust", "metrics"),
    ("wait1", "rust", "wait1"),
];
const WORKLOADS: [(&str, &str); 4] = [
    ("send", "send"),
    ("pull10", "pull page 10"),
    ("pull50", "pull page 50"),
    ("mixed", "mixed 20% send"),
];

/// The fields of a report line the tables use.
#[derive(Debug, Deserialize)]
struct Run {
    label: String,
    throughput_rps: f64,
    errors: Option<u64>,
    latency_us: Option<Latency>,
    #[serde(default)]
    servers: Vec<Usage>,
    load_generator: Option<Usage>,
    messages_per_pull: Option<f64>,
    new_connections: Option<NewConnections>,
    verify: Option<Verify>,
}

#[derive(Debug, Deserialize)]
struct NewConnections {
    per_request: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Latency {
    p99: u64,
}

#[derive(Debug, Deserialize)]
struct Usage {
    cores: f64,
    cpu_seconds_per_10k: Option<f64>,
    peak_rss_kb: Option<u64>,
}

/// A column pair (rust, go) of a side-by-side table.
struct Metric {
    name: &'static str,
    decimals: usize,
    value: fn(&Run) -> Option<f64>,
}

const RPS: Metric = Metric {
    name: "rps",
    decimals: 0,
    value: |r| Some(r.throughput_rps),
};
const P99_MS: Metric = Metric {
    name: "p99",
    decimals: 2,
    value: |r| r.latency_us.as_ref().map(|l| l.p99 as f64 / 1e3),
};
const ERRORS: Metric = Metric {
    name: "err",
    decimals: 0,
    value: |r| r.errors.map(|e| e as f64),
};

const SERVER_CPU: Metric = Metric {
    name: "cpu",
    decimals: 3,
    value: |r| r.servers.first()?.cpu_seconds_per_10k,
};
const THRIFT: [Metric; 5] = [
    RPS,
    P99_MS,
    SERVER_CPU,
    Metric {
        name: "rss",
        decimals: 1,
        value: |r| Some(r.servers.first()?.peak_rss_kb? as f64 / 1024.0),
    },
    ERRORS,
];
/// CPU seconds per 10k requests of `servers[i]` of a run.
fn server_cpu(r: &Run, i: usize) -> Option<f64> {
    r.servers.get(i)?.cpu_seconds_per_10k
}

/// CPU seconds per 10k requests of the gateway, the rpc-server, Redis and
/// the load generator together.
const SUM_CPU: Metric = Metric {
    name: "sum cpu",
    decimals: 3,
    value: |r| {
        let servers: Option<f64> = (0..3).map(|i| server_cpu(r, i)).sum();
        Some(servers? + r.load_generator.as_ref()?.cpu_seconds_per_10k?)
    },
};

/// The HTTP tables' metrics. Through the gateway a run watches the gateway,
/// the rpc-server and Redis, in that order, and reports the load
/// generator's own CPU: their sum is what a request costs the machine.
const HTTP: [Metric; 10] = [
    RPS,
    P99_MS,
    Metric {
        name: "gw cpu",
        decimals: 3,
        value: |r| server_cpu(r, 0),
    },
    Metric {
        name: "srv cpu",
        decimals: 3,
        value: |r| server_cpu(r, 1),
    },
    Metric {
        name: "redis cpu",
        decimals: 3,
        value: |r| server_cpu(r, 2),
    },
    Metric {
        name: "load cpu",
        decimals: 3,
        value: |r| r.load_generator.as_ref()?.cpu_seconds_per_10k,
    },
    SUM_CPU,
    Metric {
        name: "gw cores",
        decimals: 2,
        value: |r| Some(r.servers.first()?.cores),
    },
    Metric {
        name: "conn/req",
        decimals: 3,
        value: |r| r.new_connections.as_ref()?.per_request,
    },
    ERRORS,
];

/// The runs of one benchmark.
struct Runs(Vec<Run>);

impl Runs {
    fn load(file: &Path) -> Result<Runs> {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let runs = text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()
            .with_context(|| format!("parsing {}", file.display()))?;
        Ok(Runs(runs))
    }

    fn get(&self, server: &str, kind: &str, workload: &str) -> Option<&Run> {
        self.all(server, kind, workload).next()
    }

    /// Every run of that label (the options section repeats its runs).
    fn all<'a>(
        &'a self,
        server: &str,
        kind: &str,
        workload: &str,
    ) -> impl Iterator<Item = &'a Run> + 'a {
        let label = format!("{server}-{kind}-{workload}");
        self.0.iter().filter(move |r| r.label == label)
    }

    fn rps(&self, server: &str, kind: &str, workload: &str) -> Option<f64> {
        self.get(server, kind, workload).map(|r| r.throughput_rps)
    }

    /// The median of `metric` over every run of that label.
    fn median(&self, server: &str, kind: &str, workload: &str, metric: &Metric) -> Option<f64> {
        median(
            self.all(server, kind, workload)
                .filter_map(|run| (metric.value)(run)),
        )
    }

    /// How many side-by-side rounds of the two stacks ran.
    fn side_by_side_rounds(&self) -> usize {
        self.all("rust", "stack", "mixed").count()
    }

    /// The stacks users choose between, ours and the template's: the
    /// side-by-side rounds when they ran.
    fn stacks(&self) -> [Column; 2] {
        if self.side_by_side_rounds() > 0 {
            STACKS_SIDE_BY_SIDE
        } else {
            [HTTP_STACKS[0], HTTP_STACKS[1]]
        }
    }
}

pub fn print(file: &Path) -> Result<()> {
    let runs = Runs::load(file)?;
    let title = "Thrift, closed loop (req/s; p99 ms; server CPU s per 10k req; peak RSS MiB)";
    println!(
        "{}",
        side_by_side(
            title,
            &runs,
            &THRIFT_SERVERS,
            Ratio::FirstOverOthers,
            &THRIFT
        )
    );
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let units = format!(
        "req/s; p99 ms; CPU s per 10k req of the gateway, the rpc-server, Redis, the load \
         generator and their sum; CPU cores used by the gateway, of {cores} here; new TCP \
         connections per request"
    );
    let title = format!(
        "HTTP, the stacks users choose between, closed loop: ours = the gateway's defaults \
         in front of the Rust server; template = the gateway as the template has it \
         (RPC_POOL=template HTTP_BIND=template RPC_TIMEOUT_MODE=template) in front of the Go peer; tpl-gw+rust = that \
         gateway in front of the Rust server ({units})"
    );
    println!("{}", stacked(&title, &runs, &HTTP_STACKS, 1, &HTTP));
    if runs.side_by_side_rounds() > 0 {
        let title = format!(
            "HTTP, the two stacks side by side: both up at once on the one Redis, the workload \
             on each in turn, the order swapped every round; medians of the rounds ({units})"
        );
        println!("{}", stacked(&title, &runs, &STACKS_SIDE_BY_SIDE, 1, &HTTP));
        println!("{}", rounds(&runs));
    }
    let title = format!("HTTP through the same gateway (its defaults), closed loop ({units})");
    println!("{}", stacked(&title, &runs, &HTTP_SERVERS, 1, &HTTP));
    println!("{}", notes(&runs));
    if runs.get("rust", "base", "send").is_some() {
        let title = "Rust server options, Thrift (req/s; p99 ms; server CPU s per 10k req; \
                     medians of the rounds): base, metrics on (/metrics scraped every second), \
                     WAIT for 1 replica; Redis with one replica, the three servers in turn";
        let metrics = [RPS, P99_MS, SERVER_CPU, ERRORS];
        let table = side_by_side(
            title,
            &runs,
            &RUST_OPTIONS,
            Ratio::OthersOverFirst,
            &metrics,
        );
        println!("{table}");
    }
    println!("{}", ceilings(&runs));
    println!("{}", summary(&runs));
    Ok(())
}

/// The ratio lines: the mixed workload's throughput of each comparison, and
/// for the stacks the two p99s beside it.
fn summary(runs: &Runs) -> String {
    let mixed = |(server, kind): (&str, &str), m: &Metric| runs.median(server, kind, "mixed", m);
    let throughput = |a, b| {
        let r = ratio(mixed(a, &RPS), mixed(b, &RPS));
        r.map_or("n/a".into(), |r| format!("{r:.2}"))
    };
    let [ours, template] = runs.stacks().map(|(_, server, kind)| (server, kind));
    let rounds = match runs.side_by_side_rounds() {
        0 => String::new(),
        n => format!(", medians of {n} alternating rounds"),
    };
    format!(
        "mixed thrift throughput rust/go: {}\n\
         mixed http throughput ours/template stack: {} (p99 ms ours {}, template {}{rounds})\n\
         mixed http CPU per request of all processes, template/ours stack: {} (the throughput \
         ratio where both are bound by the same cores)\n\
         mixed http throughput rust/go, same gateway: {}",
        throughput(("rust", "thrift"), ("go", "thrift")),
        throughput(ours, template),
        num(mixed(ours, &P99_MS), 2),
        num(mixed(template, &P99_MS), 2),
        num(ratio(mixed(template, &SUM_CPU), mixed(ours, &SUM_CPU)), 2),
        throughput(("rust", "http"), ("go", "http")),
    )
}

/// Each side-by-side round's req/s, in the order they ran, and its ratio.
fn rounds(runs: &Runs) -> String {
    let rps = |server| runs.all(server, "stack", "mixed").map(|r| r.throughput_rps);
    let rounds: Vec<String> = rps("rust")
        .zip(rps("go"))
        .map(|(ours, template)| {
            let r = num(ratio(Some(ours), Some(template)), 2);
            format!("{ours:.0}/{template:.0} = {r}")
        })
        .collect();
    format!("rounds, req/s ours/template: {}", rounds.join("; "))
}

/// One row per workload that has runs; per metric a column for each of
/// `columns` (the median where a label ran more than once), and after the
/// first metric the ratios of the first column and each later one.
fn side_by_side(
    title: &str,
    runs: &Runs,
    columns: &[Column],
    ratios: Ratio,
    metrics: &[Metric],
) -> String {
    let (first, _, _) = columns[0];
    let mut header = vec!["workload".to_owned()];
    for (i, m) in metrics.iter().enumerate() {
        header.extend(columns.iter().map(|(c, _, _)| format!("{} {c}", m.name)));
        if i == 0 {
            header.extend(columns[1..].iter().map(|(c, _, _)| match ratios {
                Ratio::FirstOverOthers => format!("{first}/{c}"),
                Ratio::OthersOverFirst => format!("{c}/{first}"),
            }));
        }
    }
    let rows: Vec<Vec<String>> = WORKLOADS
        .iter()
        .filter_map(|(wl, name)| {
            let row_runs: Vec<Vec<&Run>> = columns
                .iter()
                .map(|(_, server, kind)| runs.all(server, kind, wl).collect())
                .collect();
            let any = row_runs.iter().any(|runs| !runs.is_empty());
            any.then_some((name, row_runs))
        })
        .map(|(name, row_runs)| {
            let mut row = vec![name.to_string()];
            for (i, m) in metrics.iter().enumerate() {
                let values: Vec<Option<f64>> = row_runs
                    .iter()
                    .map(|runs| median(runs.iter().filter_map(|run| (m.value)(run))))
                    .collect();
                row.extend(values.iter().map(|v| num(*v, m.decimals)));
                if i == 0 {
                    row.extend(values[1..].iter().map(|v| {
                        let r = match ratios {
                            Ratio::FirstOverOthers => ratio(values[0], *v),
                            Ratio::OthersOverFirst => ratio(*v, values[0]),
                        };
                        num(r, 2)
                    }));
                }
            }
            row
        })
        .collect();
    render(title, &header, &rows)
}

/// One row per workload and column (a stack), one column per metric, and
/// after the first metric its ratio to the `reference` column's (medians
/// where a label ran more than once).
fn stacked(
    title: &str,
    runs: &Runs,
    columns: &[Column],
    reference: usize,
    metrics: &[Metric],
) -> String {
    let (reference_name, _, _) = columns[reference];
    let mut header = vec!["workload".to_owned(), "stack".to_owned()];
    for (i, m) in metrics.iter().enumerate() {
        header.push(m.name.to_owned());
        if i == 0 {
            header.push(format!("/{reference_name}"));
        }
    }
    let mut rows = Vec::new();
    for (wl, name) in WORKLOADS {
        let value = |column: &Column, m: &Metric| {
            let (_, server, kind) = *column;
            runs.median(server, kind, wl, m)
        };
        if columns
            .iter()
            .all(|(_, server, kind)| runs.get(server, kind, wl).is_none())
        {
            continue;
        }
        let reference_value = value(&columns[reference], &metrics[0]);
        for (k, column) in columns.iter().enumerate() {
            let mut row = vec![
                if k == 0 {
                    name.to_string()
                } else {
                    String::new()
                },
                column.0.to_string(),
            ];
            for (i, m) in metrics.iter().enumerate() {
                let v = value(column, m);
                row.push(num(v, m.decimals));
                if i == 0 {
                    row.push(num(ratio(v, reference_value), 2));
                }
            }
            rows.push(row);
        }
    }
    render_aligned(title, &header, &rows, 2)
}

fn notes(runs: &Runs) -> String {
    let mut lines = String::new();
    for server in SERVERS {
        for kind in ["thrift", "http", "httptpl"] {
            let verdict = match runs
                .get(server, kind, "send")
                .and_then(|r| r.verify.as_ref())
            {
                Some(v) if v.ok => format!("redis {} = acked {}: OK", v.redis, v.acked),
                Some(v) => format!("redis {} != acked {}: MISMATCH", v.redis, v.acked),
                None => "no result".into(),
            };
            lines += &format!("verify {server}-{kind}-send: {verdict}\n");
        }
        let per_pull = ["pull10", "pull50", "mixed"].map(|wl| {
            let run = runs.get(server, "thrift", wl);
            format!("{wl} {}", num(run.and_then(|r| r.messages_per_pull), 1))
        });
        lines += &format!("messages per pull {server}: {}\n", per_pull.join(", "));
    }
    lines
}

fn ceilings(runs: &Runs) -> String {
    let header = [
        "op",
        "rust",
        "go",
        "redis rust cmd",
        "redis go cmd",
        "rust % ceil",
        "go % ceil",
    ];
    let rows = WORKLOADS[..3].iter().map(|(wl, name)| {
        let [rust, go] = SERVERS.map(|s| runs.rps(s, "thrift", wl));
        let [rust_ceil, go_ceil] = SERVERS.map(|s| runs.rps(s, "redis", wl));
        let percent = |a, b| ratio(a, b).map(|r| 100.0 * r);
        vec![
            name.to_string(),
            num(rust, 0),
            num(go, 0),
            num(rust_ceil, 0),
            num(go_ceil, 0),
            num(percent(rust, rust_ceil), 1),
            num(percent(go, go_ceil), 1),
        ]
    });
    render(
        "Servers vs redis-benchmark (req/s; pipeline 16, same connections; rust cmd = EVALSHA \
         append / ZRANGE BYSCORE LIMIT, go cmd = ZADD / ZRANGE by index)",
        &header.map(String::from),
        &rows.collect::<Vec<_>>(),
    )
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[middle]),
        _ => Some((values[middle - 1] + values[middle]) / 2.0),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b.filter(|b| *b > 0.0)?)
}

fn num(v: Option<f64>, decimals: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.decimals$}"))
}

/// A title, then columns aligned: the first to the left, the rest right.
fn render(title: &str, header: &[String], rows: &[Vec<String>]) -> String {
    render_aligned(title, header, rows, 1)
}

/// A title, then columns aligned: the first `left` to the left, the rest
/// right.
fn render_aligned(title: &str, header: &[String], rows: &[Vec<String>], left: usize) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .fold(header[i].len(), usize::max)
        })
        .collect();
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let mut out = format!("{title}\n");
    for cells in [header, &rule]
        .into_iter()
        .chain(rows.iter().map(Vec::as_slice))
    {
        let padded: Vec<String> = (cells.iter().zip(&widths).enumerate())
            .map(|(i, (c, w))| {
                if i < left {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        out += &(padded.join("  ") + "\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(json: &str) -> Run {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn side_by_side_pairs_servers_per_workload() {
        let runs = Runs(vec![
            run(
                r#"{"label":"rust-thrift-send","throughput_rps":3000.4,"errors":0,
                   "latency_us":{"p99":1480},"servers":[{"cores":0.9,"cpu_seconds_per_10k":0.2}]}"#,
            ),
            run(r#"{"label":"go-thrift-send","throughput_rps":1500,"errors":2}"#),
        ]);
        let table = side_by_side(
            "T",
            &runs,
            &THRIFT_SERVERS,
            Ratio::FirstOverOthers,
            &[RPS, P99_MS, ERRORS],
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "T");
        assert!(lines[1].starts_with("workload  rps rust  rps go  rust/go  p99 rust"));
        let send: Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!(
            send,
            ["send", "3000", "1500", "2.00", "1.48", "-", "0", "2"]
        );
        assert_eq!(lines.len(), 4, "workloads without runs have no row");
    }

    #[test]
    fn options_are_compared_with_the_first_column() {
        let runs = Runs(vec![
            run(r#"{"label":"rust-base-mixed","throughput_rps":1200}"#),
            run(r#"{"label":"rust-base-mixed","throughput_rps":900}"#),
            run(r#"{"label":"rust-base-mixed","throughput_rps":1000}"#),
            run(r#"{"label":"rust-metrics-mixed","throughput_rps":980}"#),
            run(r#"{"label":"rust-wait1-mixed","throughput_rps":500}"#),
        ]);
        let table = side_by_side("T", &runs, &RUST_OPTIONS, Ratio::OthersOverFirst, &[RPS]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].contains("rps wait1  metrics/base  wait1/base"));
        let mixed: Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!(
            mixed,
            ["mixed", "20%", "send", "1000", "980", "500", "0.98", "0.50"]
        );
    }

    #[test]
    fn medians() {
        assert_eq!(median([].into_iter()), None);
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), Some(2.0));
        assert_eq!(median([4.0, 1.0, 2.0, 3.0].into_iter()), Some(2.5));
    }

    #[test]
    fn numbers_and_ratios() {
        assert_eq!(num(None, 2), "-");
        assert_eq!(num(Some(1.234), 1), "1.2");
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio(Some(3.0), Some(1.5)), Some(2.0));
    }

    /// A run through the gateway: CPU s per 10k requests of the gateway, the
    /// server, Redis and the load generator.
    fn http_run(label: &str, rps: u32, p99_us: u32, cpu: [f64; 4], conn_per_req: f64) -> Run {
        let usage = |cpu: f64| serde_json::json!({"cores": 0.5, "cpu_seconds_per_10k": cpu});
        serde_json::from_value(serde_json::json!({
            "label": label,
            "throughput_rps": rps,
            "latency_us": {"p99": p99_us},
            "servers": [usage(cpu[0]), usage(cpu[1]), usage(cpu[2])],
            "load_generator": usage(cpu[3]),
            "new_connections": {"per_request": conn_per_req},
        }))
        .unwrap()
    }

    #[test]
    fn stacks_and_summary() {
        let runs = Runs(vec![
            http_run(
                "rust-http-mixed",
                13000,
                6360,
                [0.63, 0.3, 0.2, 0.15],
                0.0001,
            ),
            http_run("go-httptpl-mixed", 6500, 9460, [0.8, 0.8, 0.2, 0.16], 0.6),
            run(r#"{"label":"go-http-mixed","throughput_rps":8000}"#),
            run(r#"{"label":"rust-thrift-mixed","throughput_rps":30000}"#),
            run(r#"{"label":"go-thrift-mixed","throughput_rps":10000}"#),
        ]);
        let table = stacked("T", &runs, &HTTP_STACKS, 1, &HTTP);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[1].starts_with("workload        stack          rps"),
            "{table}"
        );
        assert!(
            lines[3].starts_with("mixed 20% send  ours         13000"),
            "{table}"
        );
        let cells = |line: &str| {
            line.split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        };
        let ours = cells(lines[3]);
        let want = "mixed 20% send ours 13000 2.00 6.36 0.630 0.300 0.200 0.150 1.280 0.50 0.000 -";
        assert_eq!(ours.join(" "), want, "{table}");
        let template = cells(lines[4]);
        assert_eq!(template[..3], ["template", "6500", "1.00"], "{table}");
        assert_eq!(
            template[template.len() - 4..],
            ["1.960", "0.50", "0.600", "-"],
            "{table}"
        );
        assert_eq!(cells(lines[5])[..3], ["tpl-gw+rust", "-", "-"], "{table}");
        assert_eq!(lines.len(), 6, "{table}");
        assert_eq!(
            summary(&runs),
            "mixed thrift throughput rust/go: 3.00\n\
             mixed http throughput ours/template stack: 2.00 (p99 ms ours 6.36, template 9.46)\n\
             mixed http CPU per request of all processes, template/ours stack: 1.53 (the throughput \
             ratio where both are bound by the same cores)\n\
             mixed http throughput rust/go, same gateway: 1.62"
        );
    }

    /// With the side-by-side rounds, the summary's stack line is their
    /// medians; the single runs stay in their own table.
    #[test]
    fn side_by_side_rounds_make_the_stack_summary() {
        let mut runs = vec![
            http_run("rust-http-mixed", 13000, 6360, [0.6, 0.3, 0.2, 0.1], 0.0),
            http_run("go-httptpl-mixed", 6500, 9460, [0.8, 0.8, 0.2, 0.2], 0.6),
        ];
        for (ours, template, p99) in [
            (21000, 10000, 3000),
            (19000, 11000, 2800),
            (22000, 10500, 3100),
        ] {
            runs.push(http_run(
                "rust-stack-mixed",
                ours,
                p99,
                [0.3, 0.2, 0.1, 0.1],
                0.0,
            ));
            runs.push(http_run(
                "go-stack-mixed",
                template,
                7000,
                [0.7, 0.7, 0.2, 0.1],
                0.3,
            ));
        }
        let runs = Runs(runs);
        let summary = summary(&runs);
        let line = summary.lines().nth(1).unwrap();
        assert_eq!(
            line,
            "mixed http throughput ours/template stack: 2.00 (p99 ms ours 3.00, template 7.00, \
             medians of 3 alternating rounds)"
        );
        assert_eq!(
            summary.lines().nth(2).unwrap(),
            "mixed http CPU per request of all processes, template/ours stack: 2.43 (the \
             throughput ratio where both are bound by the same cores)"
        );
        assert_eq!(
            rounds(&runs),
            "rounds, req/s ours/template: 21000/10000 = 2.10; 19000/11000 = 1.73; 22000/10500 = 2.10"
        );
        let table = stacked("T", &runs, &STACKS_SIDE_BY_SIDE, 1, &HTTP);
        let ours = table.lines().nth(3).unwrap();
        assert!(
            ours.starts_with("mixed 20% send  ours      21000       2.00"),
            "{table}"
        );
    }
}
