//! The results as Markdown: what the docs copy.
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use super::bytes::describe;
use super::sizing::{self, Assumptions, Inputs};
use super::{Results, SettingName};

/// A Markdown table, columns padded so that it reads in a terminal too.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .fold(header[i].chars().count(), usize::max)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out += &line(widths.iter().map(|&w| "-".repeat(w)).collect());
    for row in rows {
        out += &line(row.clone());
    }
    out
}

fn num(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".into(), |v| format!("{v:.decimals$}"))
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1e3)
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn markdown(results: &Results, assumptions: &Assumptions, chart: &Path) -> String {
    let mut s = String::new();
    let m = &results.machine;
    let _ = writeln!(
        s,
        "\n# Capacity figures, {} ({} cores, load average {} at the start, {} at the end; Redis {})\n",
        results.started, m.cores, m.load_start, m.load_end, m.redis_version
    );
    let _ = writeln!(
        s,
        "Redis settings: default = {}; recommended = {}.\n",
        describe(&results.default_settings),
        describe(&results.recommended_settings)
    );
    s += &bytes_table(results);
    s += &cost_table(results);
    s += &rooms_table(results);
    s += &sweep_table(results, chart);
    s += &sizing_table(results, assumptions);
    s
}

fn bytes_table(results: &Results) -> String {
    let mut s = String::from(
        "## Redis bytes per message\n\n`MEMORY USAGE key SAMPLES 0` summed over the rooms, over \
         the messages; encoding of the compact rooms; `used_memory` change (compact, default) as \
         the cross-check.\n\n",
    );
    let cases: BTreeSet<(u64, u32, usize)> = results
        .bytes
        .iter()
        .map(|r| (r.room_messages, r.rooms, r.text_bytes))
        .collect();
    let find = |case: (u64, u32, usize), format: &str, setting| {
        results.bytes.iter().find(|r| {
            (r.room_messages, r.rooms, r.text_bytes) == case
                && r.format == format
                && r.setting == setting
        })
    };
    let rows: Vec<Vec<String>> = cases
        .into_iter()
        .map(|case| {
            let get = |format, setting| find(case, format, setting).map(|r| r.per_message);
            let encoding = |setting| find(case, "compact", setting).map(|r| r.encoding.clone());
            let filled = find(case, "compact", SettingName::Default)
                .map_or("-".into(), |r| r.filled.clone());
            let used =
                find(case, "compact", SettingName::Default).map(|r| r.used_memory_per_message);
            vec![
                format!("{} × {}", case.1, thousands(case.0)),
                format!("{} B", case.2),
                num(get("compact", SettingName::Default), 1),
                num(get("compact", SettingName::Recommended), 1),
                num(get("json", SettingName::Default), 1),
                num(get("json", SettingName::Recommended), 1),
                format!(
                    "{} / {}",
                    encoding(SettingName::Default).unwrap_or("-".into()),
                    encoding(SettingName::Recommended).unwrap_or("-".into())
                ),
                num(used, 1),
                filled,
            ]
        })
        .collect();
    s += &table(
        &[
            "rooms × messages",
            "text",
            "compact",
            "compact, recommended",
            "JSON",
            "JSON, recommended",
            "encoding (compact)",
            "used_memory Δ",
            "filled through",
        ],
        &rows,
    );
    s += "\n`-` under recommended: rooms larger than any listpack are measured once. \
          `server`: sent through the rpc-server; `encoder`: written with its member encoder.\n\n";
    s
}

fn cost_table(results: &Results) -> String {
    let mut s = String::from(
        "## CPU per request\n\nClosed loop, 32 connections, 64-byte texts; µs of CPU per \
         request over the measured window (server and gateway from /proc; Redis process from \
         /proc; Redis command from `INFO commandstats`). Sends: 15,000 a run, on rooms filled \
         just before.\n\n",
    );
    let rows: Vec<Vec<String>> = results
        .cost
        .iter()
        .map(|r| {
            vec![
                r.server.clone(),
                r.protocol.clone(),
                r.op.clone(),
                r.setting.name().to_owned(),
                thousands(r.room_messages),
                format!("{:.0}", r.rps),
                ms(r.p50_us),
                ms(r.p99_us),
                num(r.server_us, 1),
                num(r.gateway_us, 1),
                num(r.redis_us, 1),
                format!("{} ({})", num(r.redis_command_us, 1), r.commands),
                r.errors.to_string(),
            ]
        })
        .collect();
    s += &table(
        &[
            "server",
            "via",
            "request",
            "Redis setting",
            "room size",
            "req/s",
            "p50 ms",
            "p99 ms",
            "server µs",
            "gateway µs",
            "Redis µs",
            "Redis command µs",
            "errors",
        ],
        &rows,
    );
    s += "\n";
    s
}

fn rooms_table(results: &Results) -> String {
    let mut s = String::from(
        "## Latency by room size\n\nThe rpc-server over Thrift, closed loop, 4 connections, \
         recommended setting; pulls of 10 from random cursors, both directions.\n\n",
    );
    let rows: Vec<Vec<String>> = results
        .rooms
        .iter()
        .map(|r| {
            vec![
                format!(
                    "{} × {}",
                    thousands(u64::from(r.rooms)),
                    thousands(r.room_messages)
                ),
                r.encoding.clone(),
                r.op.clone(),
                format!("{:.0}", r.rps),
                ms(r.p50_us),
                ms(r.p99_us),
                num(r.redis_command_us, 1),
                r.errors.to_string(),
            ]
        })
        .collect();
    s += &table(
        &[
            "rooms × messages",
            "encoding",
            "request",
            "req/s",
            "p50 ms",
            "p99 ms",
            "Redis command µs",
            "errors",
        ],
        &rows,
    );
    s += "\n";
    s
}

fn sweep_table(results: &Results, chart: &Path) -> String {
    let mut s = format!(
        "## Open-loop rate sweep\n\nMixed workload (20% sends, pulls of 10), 64 connections, \
         latency from each request's intended send time; p50 / p99 in ms at each offered rate \
         (`x`: past the limit: p99 over {} ms, under 95% of the rate achieved, or errors).\n\n",
        results.p99_limit_ms
    );
    let rates: BTreeSet<u64> = results
        .sweep
        .iter()
        .flat_map(|series| series.points.iter().map(|p| p.target_rps as u64))
        .collect();
    let names: Vec<String> = results
        .sweep
        .iter()
        .map(|series| format!("{} {}", series.server, series.protocol))
        .collect();
    let mut header = vec!["offered req/s"];
    header.extend(names.iter().map(String::as_str));
    let rows: Vec<Vec<String>> = rates
        .iter()
        .map(|&rate| {
            let mut row = vec![thousands(rate)];
            for series in &results.sweep {
                let point = series.points.iter().find(|p| p.target_rps as u64 == rate);
                row.push(point.map_or(String::new(), |p| {
                    format!(
                        "{} / {}{}",
                        ms(p.p50_us),
                        ms(p.p99_us),
                        if p.within_limit { "" } else { " x" }
                    )
                }));
            }
            row
        })
        .collect();
    s += &table(&header, &rows);
    let _ = writeln!(
        s,
        "\nHighest offered rate with p99 within {} ms:",
        results.p99_limit_ms
    );
    for series in &results.sweep {
        let _ = writeln!(
            s,
            "- {} over {}: {}",
            series.server,
            series.protocol,
            series
                .sustained()
                .map_or("none of the rates".into(), |r| format!(
                    "{} req/s",
                    thousands(r as u64)
                ))
        );
    }
    if !results.sweep.is_empty() {
        let _ = writeln!(s, "\nChart: {}", chart.display());
    }
    s += "\n";
    s
}

fn sizing_table(results: &Results, a: &Assumptions) -> String {
    let mut s = String::from("## Sizing\n\n");
    let Some(inputs) = Inputs::from(results, a) else {
        s += "Not computed: the run lacks the rows it needs (compact rooms of 500 and 10,000 \
              with the sizing's text size, and the rpc-server's Thrift send and pull).\n";
        return s;
    };
    let rows: Vec<Vec<String>> = sizing::size(&inputs, a)
        .iter()
        .map(|r| {
            vec![
                sizing::count(r.daily_users),
                r.history.clone(),
                format!(
                    "{} / {}",
                    sizing::count(r.peak_sends),
                    sizing::count(r.peak_pulls)
                ),
                sizing::count(r.messages_kept),
                sizing::size_bytes(r.ram_bytes),
                format!(
                    "{} (CPU: {})",
                    r.primaries_for_ram.max(r.primaries_for_cpu),
                    r.primaries_for_cpu
                ),
                format!("{:.1}", r.rpc_cores),
                num(r.gateway_cores, 1),
                if r.ram_is_sensible {
                    "RAM".into()
                } else {
                    "tier".into()
                },
            ]
        })
        .collect();
    s += &table(
        &[
            "daily users",
            "history",
            "peak sends / pulls per s",
            "messages kept",
            "Redis RAM",
            "primaries",
            "rpc-server cores",
            "gateway cores",
            "history in",
        ],
        &rows,
    );
    s += "\n";
    s += &sizing::explain(&inputs, a);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_and_numbers() {
        let t = table(&["a", "bb"], &[vec!["x".into(), "1".into()]]);
        assert_eq!(t, "| a | bb |\n| - | -- |\n| x | 1  |\n");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(ms(1_234), "1.23");
    }
}
