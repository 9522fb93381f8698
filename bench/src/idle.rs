//! `im-bench idle`: what idle connections cost each server's memory, side by
//! side.
//!
//! For every `--server` in turn: read its RSS, open `--connections`
//! connections and wait until the server holds them all (its TCP sockets on
//! that port, from `/proc/PID`), optionally make one request on each (a pull of a page of
//! `--page-size` messages, the largest reply of the usual workloads, so the
//! buffers a reply leaves behind are counted), leave them idle for
//! `--settle`, read the RSS; then close them, wait until the server has let
//! go of them and `--settle` again, and read the RSS once more. The servers
//! should be fresh: what an earlier spike left behind would be counted as
//! the baseline.
use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use procfs::net::TcpState;
use procfs::process::{FDTarget, Process};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::client::{Client, Conn, Outcome};
use crate::workload::{GenState, Mix, Rooms, Workload};

/// Connects in flight at once: below the listen backlog of either server,
/// so no SYN is dropped and retried a second later.
const CONNECTS_IN_FLIGHT: usize = 128;
/// How long a server may take to accept or let go of the connections.
const CONNECTION_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, clap::Args)]
pub struct IdleArgs {
    /// A server to measure, `NAME=PID@HOST:PORT` (a Thrift rpc-server);
    /// repeatable, measured in turn and shown side by side.
    #[arg(long = "server", required = true, value_name = "NAME=PID@HOST:PORT")]
    pub servers: Vec<Target>,

    /// Connections opened to each server.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub connections: u32,

    /// Requests made on each connection before it is left idle: 0, or 1 (a
    /// pull of a room filled with `--page-size` messages).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1))]
    pub requests: u32,

    /// Messages in the pulled room, and the page size of the pull.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i32).range(1..=100))]
    pub page_size: i32,

    /// Wait after the connections are open, and again after they closed,
    /// before reading the RSS.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
    pub settle: Duration,

    /// Append one JSON line per server to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// A server named on the command line.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub pid: u32,
    pub addr: String,
    /// The port of `addr`: the server's accepted connections are counted by it.
    pub port: u16,
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not NAME=PID@HOST:PORT");
        let (name, rest) = s.split_once('=').ok_or_else(bad)?;
        let (pid, addr) = rest.split_once('@').ok_or_else(bad)?;
        let (_, port) = addr.rsplit_once(':').ok_or_else(bad)?;
        if name.is_empty() {
            return Err(bad());
        }
        Ok(Target {
            name: name.to_owned(),
            pid: pid.parse().map_err(|_| bad())?,
            addr: addr.to_owned(),
            port: port.parse().map_err(|_| bad())?,
        })
    }
}

/// One server's figures, in KiB.
#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    pub label: String,
    pub server: String,
    pub connections: u32,
    pub requests_each: u32,
    pub settle_s: f64,
    pub rss_before_kb: u64,
    pub rss_open_kb: u64,
    pub rss_after_close_kb: u64,
    /// Failed requests (the connection is kept open all the same).
    pub failed_requests: u64,
}

impl IdleReport {
    fn per_connection_kb(&self) -> f64 {
        self.rss_open_kb.saturating_sub(self.rss_before_kb) as f64 / f64::from(self.connections)
    }

    /// Share of the rise that was returned after the connections closed.
    fn returned_percent(&self) -> f64 {
        let rise = self.rss_open_kb.saturating_sub(self.rss_before_kb);
        let kept = self.rss_after_close_kb.saturating_sub(self.rss_before_kb);
        if rise == 0 {
            100.0
        } else {
            100.0 * rise.saturating_sub(kept) as f64 / rise as f64
        }
    }
}

pub fn main(args: &IdleArgs) -> Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: &IdleArgs) -> Result<()> {
    raise_fd_limit(args.connections)?;
    let mut reports = Vec::new();
    for target in &args.servers {
        let report = measure(args, target)
            .await
            .with_context(|| format!("server {}", target.name))?;
        if let Some(path) = &args.json {
            crate::append_json(path, &report)?;
        }
        reports.push(report);
    }
    print!("{}", table(args, &reports));
    Ok(())
}

async fn measure(args: &IdleArgs, target: &Target) -> Result<IdleReport> {
    let process =
        Process::new(target.pid as i32).with_context(|| format!("no process {}", target.pid))?;
    let workload = Workload {
        mix: Mix::Pull,
        rooms: Arc::new(Rooms::new(1, &crate::workload::random_run_id())),
        text: crate::workload::random_text(64),
        page_size: args.page_size,
        cursor_range: None,
    };
    let port = target.port;
    if args.requests > 0 {
        fill_room(&target.addr, &workload).await?;
        wait_for_connections(
            &process,
            port,
            |held| held == 0,
            "close the connection that filled the room",
        )
        .await?;
    }
    let rss_before_kb = rss_kb(&process)?;
    eprintln!(
        "idle: {}: {} KiB RSS, opening {} connections",
        target.name, rss_before_kb, args.connections
    );

    let (streams, failed_requests) = open(args, &target.addr, &workload).await?;
    let opened = streams.len();
    wait_for_connections(
        &process,
        port,
        |held| held >= opened,
        "accept the connections",
    )
    .await?;
    tokio::time::sleep(args.settle).await;
    let rss_open_kb = rss_kb(&process)?;
    eprintln!(
        "idle: {}: {} KiB RSS with {} connections open; closing them",
        target.name, rss_open_kb, args.connections
    );

    drop(streams);
    let tolerance = (args.connections as usize / 100).max(1);
    wait_for_connections(
        &process,
        port,
        |held| held <= tolerance,
        "close the connections",
    )
    .await?;
    tokio::time::sleep(args.settle).await;
    let rss_after_close_kb = rss_kb(&process)?;
    Ok(IdleReport {
        label: format!("{}-idle-{}req", target.name, args.requests),
        server: target.name.clone(),
        connections: args.connections,
        requests_each: args.requests,
        settle_s: args.settle.as_secs_f64(),
        rss_before_kb,
        rss_open_kb,
        rss_after_close_kb,
        failed_requests,
    })
}

/// Sends `--page-size` messages to the one room, on one connection.
async fn fill_room(addr: &str, workload: &Workload) -> Result<()> {
    let fill = Workload {
        mix: Mix::Prefill,
        ..workload.clone()
    };
    let mut conn = Conn::open(addr).await?;
    let mut state = GenState::new(1, 0);
    for index in 0..workload.page_size as u64 {
        let request = fill.request(index, &mut state);
        match Client::Thrift.call(&mut conn, &request).await {
            Ok(reply) if reply.outcome == (Outcome::Ok { messages: 0 }) => {}
            Ok(reply) => bail!("filling the pulled room: {:?}", reply.outcome),
            Err(err) => bail!("filling the pulled room: {err}"),
        }
    }
    Ok(())
}

/// Opens the connections, each with its request made; returns them and the
/// number of requests that failed.
async fn open(args: &IdleArgs, addr: &str, workload: &Workload) -> Result<(Vec<TcpStream>, u64)> {
    let in_flight = Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT));
    let mut tasks = JoinSet::new();
    for i in 0..args.connections {
        let permit = Arc::clone(&in_flight).acquire_owned().await?;
        let addr = addr.to_owned();
        let request = (args.requests > 0).then(|| workload.request(0, &mut GenState::new(1, i)));
        tasks.spawn(async move {
            let _permit = permit;
            let mut conn = Conn::open(&addr).await?;
            let failed = match request {
                Some(request) => !matches!(
                    Client::Thrift.call(&mut conn, &request).await,
                    Ok(reply) if matches!(reply.outcome, Outcome::Ok { .. })
                ),
                None => false,
            };
            anyhow::Ok((conn.into_stream(), failed))
        });
    }
    let mut streams = Vec::with_capacity(args.connections as usize);
    let mut failed = 0;
    while let Some(opened) = tasks.join_next().await {
        let (stream, request_failed) = opened??;
        streams.push(stream);
        failed += u64::from(request_failed);
    }
    Ok((streams, failed))
}

/// Waits until the client connections the server holds (see
/// [`held_connections`]) satisfy `done`.
async fn wait_for_connections(
    process: &Process,
    port: u16,
    done: impl Fn(usize) -> bool,
    what: &str,
) -> Result<()> {
    let deadline = Instant::now() + CONNECTION_WAIT;
    loop {
        let held = held_connections(process, port)?;
        if done(held) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the server did not {what} within {CONNECTION_WAIT:?} ({held} connections held)");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Accepted connections on `port` that the server still has open: its
/// socket descriptors that are TCP sockets with that local port, not the
/// listener. Counting descriptors instead would also count what the server
/// opens on its own meanwhile (its Redis connection, made after it starts
/// listening).
fn held_connections(process: &Process, port: u16) -> Result<usize> {
    let sockets: HashSet<u64> = process
        .fd()?
        .filter_map(|fd| match fd.ok()?.target {
            FDTarget::Socket(inode) => Some(inode),
            _ => None,
        })
        .collect();
    let mut entries = process.tcp()?;
    entries.extend(process.tcp6().unwrap_or_default());
    Ok(entries
        .iter()
        .filter(|entry| {
            entry.local_address.port() == port
                && entry.state != TcpState::Listen
                && sockets.contains(&entry.inode)
        })
        .count())
}

fn rss_kb(process: &Process) -> Result<u64> {
    let status = process.status()?;
    status.vmrss.context("no VmRSS in /proc/PID/status")
}

/// This process holds one descriptor per connection: the soft limit is
/// raised to the hard limit, which must allow them.
fn raise_fd_limit(connections: u32) -> Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            bail!("getrlimit: {}", std::io::Error::last_os_error());
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            bail!("setrlimit: {}", std::io::Error::last_os_error());
        }
    }
    let needed = u64::from(connections) + 64;
    if limit.rlim_cur < needed {
        bail!(
            "the open file limit is {}; {connections} connections need about {needed} (ulimit -n)",
            limit.rlim_cur
        );
    }
    Ok(())
}

/// The side-by-side table, one column per server.
fn table(args: &IdleArgs, reports: &[IdleReport]) -> String {
    let mib = |kb: u64| format!("{:.1}", kb as f64 / 1024.0);
    let settle = humantime::format_duration(args.settle);
    let requests = match args.requests {
        0 => "no request".to_owned(),
        _ => format!("one pull of {} messages each", args.page_size),
    };
    let row = |name: String, value: &dyn Fn(&IdleReport) -> String| {
        (name, reports.iter().map(value).collect::<Vec<_>>())
    };
    let rows = [
        row("RSS before (MiB)".into(), &|r| mib(r.rss_before_kb)),
        row(
            format!("RSS, {} idle connections (MiB)", args.connections),
            &|r| mib(r.rss_open_kb),
        ),
        row("  per connection (KiB)".into(), &|r| {
            format!("{:.1}", r.per_connection_kb())
        }),
        row(format!("RSS {settle} after they closed (MiB)"), &|r| {
            mib(r.rss_after_close_kb)
        }),
        row("  share of the rise returned (%)".into(), &|r| {
            format!("{:.0}", r.returned_percent())
        }),
        row("failed requests".into(), &|r| r.failed_requests.to_string()),
    ];
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let mut out = format!(
        "\nidle connections: {} per server, {requests}, left idle {settle}\n{:width$}",
        args.connections, ""
    );
    for report in reports {
        out += &format!(" {:>10}", report.server);
    }
    out.push('\n');
    for (name, values) in &rows {
        out += &format!("{name:width$}");
        for value in values {
            out += &format!(" {value:>10}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let target: Target = "rust=42@127.0.0.1:9000".parse().unwrap();
        assert_eq!(
            (target.name.as_str(), target.pid, target.addr.as_str()),
            ("rust", 42, "127.0.0.1:9000")
        );
        for bad in ["rust", "rust=42", "=42@h:1", "rust=x@h:1", "rust=42@host"] {
            assert!(bad.parse::<Target>().is_err(), "{bad}");
        }
    }

    #[test]
    fn per_connection_and_returned_share() {
        let report = IdleReport {
            label: "rust-idle-0req".into(),
            server: "rust".into(),
            connections: 1000,
            requests_each: 0,
            settle_s: 3.0,
            rss_before_kb: 10_000,
            rss_open_kb: 30_000,
            rss_after_close_kb: 15_000,
            failed_requests: 0,
        };
        assert_eq!(report.per_connection_kb(), 20.0);
        assert_eq!(report.returned_percent(), 75.0);
        let args = IdleArgs {
            servers: vec![],
            connections: 1000,
            requests: 0,
            page_size: 50,
            settle: Duration::from_secs(3),
            json: None,
        };
        let table = table(&args, &[report]);
        assert!(table.contains("  per connection (KiB)"), "{table}");
        assert!(table.contains("20.0"), "{table}");
    }
}
