//! The sizing model: from the measured bytes per message and CPU per
//! request, what a stated workload needs in Redis RAM and primaries,
//! rpc-server cores and gateway cores, and whether RAM is still the
//! sensible home for its history.
//!
//! Plain arithmetic, printed with its inputs so that it can be checked
//! and redone (`im-bench capacity --from capacity.json` with other
//! assumptions).
use std::fmt::Write as _;

use serde::Serialize;

use super::{Results, SettingName};

#[derive(Debug, Clone, clap::Args)]
pub struct Assumptions {
    /// Daily users of the workloads sized (K, M, G suffixes).
    #[arg(long, value_delimiter = ',', default_value = "1M,10M,100M", value_parser = parse_count)]
    pub daily_users: Vec<f64>,
    /// Messages each user sends a day.
    #[arg(long, default_value_t = 40.0)]
    pub messages_per_user_day: f64,
    /// Pulls (pages of 10) per message sent.
    #[arg(long, default_value_t = 10.0)]
    pub pulls_per_message: f64,
    /// Days of history kept with retention.
    #[arg(long, default_value_t = 30.0)]
    pub retention_days: f64,
    /// Years of history the keep-everything rows hold.
    #[arg(long, default_value_t = 1.0)]
    pub keep_years: f64,
    /// Average text size, bytes (picks the measured rows).
    #[arg(long, default_value_t = 64)]
    pub text_bytes: usize,
    /// Peak rate over the day's average rate.
    #[arg(long, default_value_t = 3.0)]
    pub peak_to_average: f64,
    /// Share of each core busy at the peak (the rest is headroom).
    #[arg(long, default_value_t = 0.5)]
    pub cpu_target: f64,
    /// Data one Redis primary holds, GB (its maxmemory).
    #[arg(long, default_value_t = 25.0)]
    pub ram_per_primary_gb: f64,
    /// Replicas per primary.
    #[arg(long, default_value_t = 1)]
    pub replicas: u32,
    /// Redis's memory over its data (allocator fragmentation, buffers).
    #[arg(long, default_value_t = 1.2)]
    pub fragmentation: f64,
    /// History leaves RAM once it needs this many times the primaries that
    /// the traffic needs.
    #[arg(long, default_value_t = 10.0)]
    pub tier_ratio: f64,
}

fn parse_count(text: &str) -> Result<f64, String> {
    let (digits, scale) = match text.chars().last() {
        Some('K' | 'k') => (&text[..text.len() - 1], 1e3),
        Some('M' | 'm') => (&text[..text.len() - 1], 1e6),
        Some('G' | 'g' | 'B' | 'b') => (&text[..text.len() - 1], 1e9),
        _ => (text, 1.0),
    };
    digits
        .parse::<f64>()
        .map(|n| n * scale)
        .map_err(|_| format!("{text:?} is not a count like 10M"))
}

/// The measured figures the model uses.
#[derive(Debug, Clone, Serialize)]
pub struct Inputs {
    /// Bytes per message in rooms that fit the retention window.
    pub bytes_retained: f64,
    pub bytes_retained_row: String,
    /// Bytes per message in rooms that keep growing.
    pub bytes_kept: f64,
    pub bytes_kept_row: String,
    pub server_send_us: f64,
    pub server_pull_us: f64,
    pub redis_send_us: f64,
    pub redis_pull_us: f64,
    pub gateway_send_us: Option<f64>,
    pub gateway_pull_us: Option<f64>,
}

/// Messages in a room that keeps the retention window: a user's 40
/// messages a day spread over about 10 rooms, and each room has two
/// members, so 8 a day; 30 days hold 240. The 500-message rooms are the
/// measured size that covers it (a listpack with the recommended setting).
pub const RETAINED_ROOM: u64 = 500;
/// Rooms that keep everything outgrow any listpack: the 10,000 row.
pub const KEPT_ROOM: u64 = 10_000;

impl Inputs {
    pub fn from(results: &Results, a: &Assumptions) -> Option<Inputs> {
        let bytes = |room: u64| {
            let pick = |setting| {
                results.bytes.iter().find(|r| {
                    r.format == "compact"
                        && r.room_messages == room
                        && r.text_bytes == a.text_bytes
                        && r.setting == setting
                })
            };
            pick(SettingName::Recommended).or_else(|| pick(SettingName::Default))
        };
        let retained = bytes(RETAINED_ROOM)?;
        let kept = bytes(KEPT_ROOM)?;
        // The costliest of the rpc-server's Thrift runs under the
        // recommended setting, retention off.
        let max = |op: &str, field: fn(&super::cost::CostRow) -> Option<f64>, protocol: &str| {
            results
                .cost
                .iter()
                .filter(|r| {
                    r.server == "rust"
                        && r.op == op
                        && r.protocol == protocol
                        && r.setting == SettingName::Recommended
                })
                .filter_map(field)
                .reduce(f64::max)
        };
        let describe = |r: &super::bytes::BytesRow| {
            format!(
                "compact, {} B texts, rooms of {}, {} setting ({})",
                r.text_bytes,
                r.room_messages,
                r.setting.name(),
                r.encoding
            )
        };
        Some(Inputs {
            bytes_retained: retained.per_message,
            bytes_retained_row: describe(retained),
            bytes_kept: kept.per_message,
            bytes_kept_row: describe(kept),
            server_send_us: max("send", |r| r.server_us, "thrift")?,
            server_pull_us: max("pull", |r| r.server_us, "thrift")?,
            redis_send_us: max("send", |r| r.redis_us, "thrift")?,
            redis_pull_us: max("pull", |r| r.redis_us, "thrift")?,
            gateway_send_us: max("send", |r| r.gateway_us, "http"),
            gateway_pull_us: max("pull", |r| r.gateway_us, "http"),
        })
    }
}

/// One sized workload.
#[derive(Debug, Clone, Serialize)]
pub struct Sized {
    pub daily_users: f64,
    /// `30 days` or `everything, 1 year`.
    pub history: String,
    pub peak_sends: f64,
    pub peak_pulls: f64,
    pub messages_kept: f64,
    /// Data bytes, before fragmentation and replicas.
    pub data_bytes: f64,
    /// All Redis RAM: data, fragmentation, replicas.
    pub ram_bytes: f64,
    pub primaries_for_ram: u64,
    pub primaries_for_cpu: u64,
    pub rpc_cores: f64,
    pub gateway_cores: Option<f64>,
    pub ram_is_sensible: bool,
}

pub fn size(inputs: &Inputs, a: &Assumptions) -> Vec<Sized> {
    let mut rows = Vec::new();
    for &users in &a.daily_users {
        let per_day = users * a.messages_per_user_day;
        let peak_sends = per_day / 86_400.0 * a.peak_to_average;
        let peak_pulls = peak_sends * a.pulls_per_message;
        let cores = |send_us: f64, pull_us: f64| {
            (peak_sends * send_us + peak_pulls * pull_us) / 1e6 / a.cpu_target
        };
        let redis_cores = cores(inputs.redis_send_us, inputs.redis_pull_us);
        let primaries_for_cpu = redis_cores.ceil().max(1.0) as u64;
        let histories = [
            (
                format!("{} days", a.retention_days),
                per_day * a.retention_days,
                inputs.bytes_retained,
            ),
            (
                format!(
                    "everything, {} year{}",
                    a.keep_years,
                    if a.keep_years == 1.0 { "" } else { "s" }
                ),
                per_day * 365.0 * a.keep_years,
                inputs.bytes_kept,
            ),
        ];
        for (history, messages_kept, bytes_per_message) in histories {
            let data_bytes = messages_kept * bytes_per_message;
            let primary_ram = data_bytes * a.fragmentation;
            let primaries_for_ram =
                (primary_ram / (a.ram_per_primary_gb * 1e9)).ceil().max(1.0) as u64;
            rows.push(Sized {
                daily_users: users,
                history,
                peak_sends,
                peak_pulls,
                messages_kept,
                data_bytes,
                ram_bytes: primary_ram * f64::from(1 + a.replicas),
                primaries_for_ram,
                primaries_for_cpu,
                rpc_cores: cores(inputs.server_send_us, inputs.server_pull_us),
                gateway_cores: inputs
                    .gateway_send_us
                    .zip(inputs.gateway_pull_us)
                    .map(|(send, pull)| cores(send, pull)),
                ram_is_sensible: (primaries_for_ram as f64)
                    <= a.tier_ratio * primaries_for_cpu as f64,
            });
        }
    }
    rows
}

/// `1M`, `10M`, `1.5G`.
pub fn count(n: f64) -> String {
    let (value, unit) = if n >= 1e9 {
        (n / 1e9, "G")
    } else if n >= 1e6 {
        (n / 1e6, "M")
    } else if n >= 1e3 {
        (n / 1e3, "k")
    } else {
        (n, "")
    };
    let text = format!("{value:.1}");
    format!("{}{unit}", text.trim_end_matches(".0"))
}

/// `250 GB`, `2.9 TB`.
pub fn size_bytes(n: f64) -> String {
    if n >= 1e12 {
        format!("{:.1} TB", n / 1e12)
    } else {
        format!("{:.0} GB", n / 1e9)
    }
}

/// The assumptions and inputs, in words, for under the table.
pub fn explain(inputs: &Inputs, a: &Assumptions) -> String {
    let mut s = String::new();
    let us = |v: Option<f64>| v.map_or("not measured".into(), |v| format!("{v:.1} µs"));
    let _ = writeln!(
        s,
        "- Traffic: {} messages per user a day, {} pulls (pages of 10) per message; peak = {}× \
         the day's average rate; every process sized to run at {:.0}% of its cores at the peak.",
        a.messages_per_user_day,
        a.pulls_per_message,
        a.peak_to_average,
        a.cpu_target * 100.0
    );
    let _ = writeln!(
        s,
        "- Bytes per message: {:.1} B with {} days of retention ({}; a room then holds about \
         240 messages); {:.1} B when rooms keep everything ({}).",
        inputs.bytes_retained,
        a.retention_days,
        inputs.bytes_retained_row,
        inputs.bytes_kept,
        inputs.bytes_kept_row
    );
    let _ = writeln!(
        s,
        "- Redis RAM = messages kept × bytes per message × {} (fragmentation, buffers) × {} \
         (a primary and {} replica(s)); primaries for RAM = that over {} GB per primary \
         (replicas not counted); primaries for CPU = Redis CPU at the peak ({} per Send, {} \
         per Pull) over {:.0}% of its one core.",
        a.fragmentation,
        1 + a.replicas,
        a.replicas,
        a.ram_per_primary_gb,
        us(Some(inputs.redis_send_us)),
        us(Some(inputs.redis_pull_us)),
        a.cpu_target * 100.0
    );
    let _ = writeln!(
        s,
        "- rpc-server CPU: {} per Send, {} per Pull; gateway CPU: {} per Send, {} per Pull.",
        us(Some(inputs.server_send_us)),
        us(Some(inputs.server_pull_us)),
        us(inputs.gateway_send_us),
        us(inputs.gateway_pull_us)
    );
    let _ = writeln!(
        s,
        "- History in RAM is marked \"tier\" once it needs more than {}× the primaries the \
         traffic needs: most of that RAM then holds history nobody reads.",
        a.tier_ratio
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        a: Assumptions,
    }

    #[test]
    fn counts_parse_and_print() {
        assert_eq!(parse_count("10M"), Ok(10e6));
        assert_eq!(parse_count("1.5k"), Ok(1500.0));
        assert!(parse_count("many").is_err());
        assert_eq!(count(1e6), "1M");
        assert_eq!(count(1.5e9), "1.5G");
        assert_eq!(size_bytes(2.9e12), "2.9 TB");
    }

    #[test]
    fn the_arithmetic() {
        let a = Wrapper::parse_from(["x", "--daily-users", "1M"]).a;
        let inputs = Inputs {
            bytes_retained: 100.0,
            bytes_retained_row: String::new(),
            bytes_kept: 200.0,
            bytes_kept_row: String::new(),
            server_send_us: 20.0,
            server_pull_us: 20.0,
            redis_send_us: 10.0,
            redis_pull_us: 10.0,
            gateway_send_us: Some(50.0),
            gateway_pull_us: None,
        };
        let rows = size(&inputs, &a);
        assert_eq!(rows.len(), 2);
        let r = &rows[0];
        // 40 M messages a day: 463/s on average, 1389/s at the peak.
        assert!((r.peak_sends - 1388.9).abs() < 0.1, "{}", r.peak_sends);
        assert!((r.peak_pulls - 13_888.9).abs() < 1.0);
        assert_eq!(r.messages_kept, 1.2e9);
        // 1.2 G messages × 100 B × 1.2 = 144 GB: 6 primaries of 25 GB, and
        // as much again on replicas.
        assert_eq!(r.primaries_for_ram, 6);
        assert!((r.ram_bytes - 288e9).abs() < 1e6);
        // (1389 + 13 889) × 10 µs = 0.15 cores, at 50%: 0.31, one primary.
        assert_eq!(r.primaries_for_cpu, 1);
        assert!((r.rpc_cores - 0.611).abs() < 0.001, "{}", r.rpc_cores);
        assert_eq!(r.gateway_cores, None);
        assert!(r.ram_is_sensible);
        assert_eq!(rows[1].messages_kept, 40e6 * 365.0);
        assert!(!rows[1].ram_is_sensible);
    }
}
