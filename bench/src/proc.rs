//! CPU time and peak memory of a server process over the measured window,
//! and the TCP connections the servers accepted in it, from Linux's `/proc`
//! (read with the `procfs` crate).
//!
//! CPU: `utime + stime` at the start and the end of the window. Peak RSS:
//! the high-water mark is reset at the start (`5` into `clear_refs`, which
//! needs root or the same user) and `VmHWM` is read at the end; if the reset
//! fails, the peak is since the process started, and the report says so.
use std::os::unix::fs::MetadataExt as _;

use anyhow::{Context, Result};
use procfs::process::{ClearRefs, Process};
use serde::Serialize;

/// One server's resource use over the measured window.
#[derive(Debug, Clone, Serialize)]
pub struct ServerUsage {
    pub pid: u32,
    pub name: String,
    /// utime + stime.
    pub cpu_seconds: f64,
    /// `cpu_seconds` over the window's length.
    pub cores: f64,
    pub cpu_seconds_per_10k: Option<f64>,
    pub peak_rss_kb: Option<u64>,
    /// `"window"` if the high-water mark was reset at the start of the
    /// window, else `"since process start"`.
    pub peak_rss_scope: &'static str,
}

/// A server process being watched.
pub struct Watch {
    process: Process,
    start_ticks: u64,
    hwm_reset: bool,
}

impl Watch {
    /// Resets the peak-RSS mark and reads the CPU time used so far.
    pub fn start(pid: u32) -> Result<Watch> {
        let process = Process::new(pid as i32).with_context(|| format!("no process {pid}"))?;
        let hwm_reset = process.clear_refs(ClearRefs::PeakRSS).is_ok();
        let stat = process
            .stat()
            .with_context(|| format!("/proc/{pid}/stat"))?;
        Ok(Watch {
            process,
            start_ticks: stat.utime + stat.stime,
            hwm_reset,
        })
    }

    /// What the process used since [`Watch::start`], over `requests` in
    /// `elapsed_s` seconds.
    pub fn finish(&self, requests: u64, elapsed_s: f64) -> Result<ServerUsage> {
        let pid = self.process.pid;
        let stat = self
            .process
            .stat()
            .with_context(|| format!("/proc/{pid}/stat"))?;
        let status = self
            .process
            .status()
            .with_context(|| format!("/proc/{pid}/status"))?;
        let ticks = (stat.utime + stat.stime).saturating_sub(self.start_ticks);
        let cpu_seconds = ticks as f64 / procfs::ticks_per_second() as f64;
        Ok(ServerUsage {
            pid: pid as u32,
            name: stat.comm,
            cpu_seconds,
            cores: if elapsed_s > 0.0 {
                cpu_seconds / elapsed_s
            } else {
                0.0
            },
            cpu_seconds_per_10k: (requests > 0).then(|| cpu_seconds * 1e4 / requests as f64),
            peak_rss_kb: status.vmhwm,
            peak_rss_scope: if self.hwm_reset {
                "window"
            } else {
                "since process start"
            },
        })
    }
}

/// New TCP connections over the measured window: `TcpPassiveOpens` (all
/// connections accepted, IPv4 and IPv6) of each network namespace a watched
/// server runs in, counted once per namespace. Through the gateway these are
/// the gateway's own dials to the rpc-server plus the load generator's
/// reconnects (subtracted in the report), and whatever else the namespace
/// accepted meanwhile: on a machine shared with other work in the same
/// namespace an upper bound.
pub struct AcceptWatch {
    /// A process in each namespace, and its count at the start.
    namespaces: Vec<(Process, u64)>,
}

impl AcceptWatch {
    pub fn start(pids: &[u32]) -> Result<AcceptWatch> {
        let mut seen = Vec::new();
        let mut namespaces = Vec::new();
        for &pid in pids {
            let netns = std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .with_context(|| format!("/proc/{pid}/ns/net"))?
                .ino();
            if seen.contains(&netns) {
                continue;
            }
            seen.push(netns);
            let process = Process::new(pid as i32).with_context(|| format!("no process {pid}"))?;
            let opens = passive_opens(&process)?;
            namespaces.push((process, opens));
        }
        Ok(AcceptWatch { namespaces })
    }

    /// Connections accepted since [`AcceptWatch::start`].
    pub fn finish(&self) -> Result<u64> {
        self.namespaces.iter().try_fold(0, |sum, (process, start)| {
            Ok(sum + passive_opens(process)?.saturating_sub(*start))
        })
    }
}

fn passive_opens(process: &Process) -> Result<u64> {
    let pid = process.pid;
    let snmp = process
        .snmp()
        .with_context(|| format!("/proc/{pid}/net/snmp"))?;
    Ok(snmp.tcp_passive_opens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watching_this_process_works() {
        let me = std::process::id();
        let watch = Watch::start(me).unwrap();
        let busy = std::time::Instant::now();
        while busy.elapsed().as_millis() < 50 {
            std::hint::black_box(busy.elapsed());
        }
        let usage = watch.finish(10_000, 0.05).unwrap();
        assert_eq!(usage.pid, me);
        assert!(usage.cpu_seconds >= 0.0 && usage.cores >= 0.0, "{usage:?}");
        assert_eq!(usage.cpu_seconds_per_10k, Some(usage.cpu_seconds));
        assert!(usage.peak_rss_kb.unwrap() > 0);
    }

    #[test]
    fn accepted_connections_are_counted_once_per_namespace() {
        let me = std::process::id();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let watch = AcceptWatch::start(&[me, me]).unwrap();
        assert_eq!(watch.namespaces.len(), 1);
        let clients: Vec<_> = (0..3)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        for _ in &clients {
            listener.accept().unwrap();
        }
        // Others in this namespace may connect meanwhile: at least ours.
        assert!(watch.finish().unwrap() >= 3);
    }
}
