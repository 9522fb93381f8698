//! CPU time and peak memory of server processes, from Linux's `/proc`.
//!
//! CPU: `utime + stime` of `/proc/PID/stat` (fields 14 and 15, in clock
//! ticks) at the start and the end of the measured window. Peak RSS: the
//! high-water mark is reset at the start by writing `5` to
//! `/proc/PID/clear_refs` (needs root or the same user), and `VmHWM` of
//! `/proc/PID/status` is read at the end. If the reset fails, `VmHWM` is the
//! peak since the process started, and the report says so.
use anyhow::{Context, Result, bail};
use serde::Serialize;

/// Ticks per second of the CPU times in `/proc/PID/stat`.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 on error.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as u64 } else { 100 }
}

/// What `/proc/PID/stat` tells: the command name and CPU ticks used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub comm: String,
    pub utime: u64,
    pub stime: u64,
}

/// Parses `/proc/PID/stat`. The command name is in parentheses and may hold
/// spaces and parentheses itself, so fields are counted after the last `)`.
pub fn parse_stat(text: &str) -> Result<Stat> {
    let open = text.find('(').context("no '(' in stat")?;
    let close = text.rfind(')').context("no ')' in stat")?;
    if close < open {
        bail!("malformed stat");
    }
    let comm = text[open + 1..close].to_owned();
    // Fields from 3 (state) on; utime is field 14, stime 15.
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let field = |n: usize| -> Result<u64> {
        rest.get(n - 3)
            .with_context(|| format!("stat has no field {n}"))?
            .parse()
            .with_context(|| format!("stat field {n} is not a number"))
    };
    Ok(Stat {
        comm,
        utime: field(14)?,
        stime: field(15)?,
    })
}

/// A `kB` value of `/proc/PID/status`, e.g. `VmHWM`.
pub fn parse_status_kb(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name != key {
            return None;
        }
        value.split_whitespace().next()?.parse().ok()
    })
}

fn read_stat(pid: u32) -> Result<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat (is process {pid} running?)"))?;
    parse_stat(&text)
}

/// A server process being watched over the measured window.
#[derive(Debug)]
pub struct Watch {
    pid: u32,
    start: Stat,
    hwm_reset: bool,
}

impl Watch {
    /// Resets the peak-RSS mark and records the CPU time used so far.
    pub fn start(pid: u32) -> Result<Watch> {
        let hwm_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
        let start = read_stat(pid)?;
        Ok(Watch {
            pid,
            start,
            hwm_reset,
        })
    }

    /// CPU seconds and peak RSS since [`Watch::start`].
    pub fn finish(&self, requests: u64) -> Result<ServerUsage> {
        let end = read_stat(self.pid)?;
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .with_context(|| format!("reading /proc/{}/status", self.pid))?;
        let ticks = (end.utime + end.stime).saturating_sub(self.start.utime + self.start.stime);
        let cpu_seconds = ticks as f64 / clock_ticks() as f64;
        Ok(ServerUsage {
            pid: self.pid,
            name: end.comm,
            cpu_seconds,
            user_seconds: end.utime.saturating_sub(self.start.utime) as f64 / clock_ticks() as f64,
            cpu_seconds_per_10k: per_10k(cpu_seconds, requests),
            peak_rss_kb: parse_status_kb(&status, "VmHWM"),
            rss_kb: parse_status_kb(&status, "VmRSS"),
            peak_rss_scope: if self.hwm_reset {
                "window"
            } else {
                "since process start"
            },
        })
    }
}

/// CPU seconds per 10,000 requests.
pub fn per_10k(cpu_seconds: f64, requests: u64) -> Option<f64> {
    (requests > 0).then(|| cpu_seconds * 10_000.0 / requests as f64)
}

/// One server's resource use over the measured window.
#[derive(Debug, Clone, Serialize)]
pub struct ServerUsage {
    pub pid: u32,
    pub name: String,
    /// utime + stime.
    pub cpu_seconds: f64,
    pub user_seconds: f64,
    pub cpu_seconds_per_10k: Option<f64>,
    pub peak_rss_kb: Option<u64>,
    /// RSS at the end of the window.
    pub rss_kb: Option<u64>,
    /// `"window"` if the high-water mark was reset at the start of the
    /// window, else `"since process start"`.
    pub peak_rss_scope: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (rpc (server) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                        250 75 0 0 20 0 3 0 98765 123456789 2048 18446744073709551615 \
                        1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

    const STATUS: &str = "Name:\trpc-server\nUmask:\t0022\nState:\tS (sleeping)\n\
                          VmPeak:\t  300000 kB\nVmSize:\t  290000 kB\nVmHWM:\t   12345 kB\n\
                          VmRSS:\t   11111 kB\nThreads:\t3\n";

    #[test]
    fn stat_fields_are_counted_after_the_last_paren() {
        let stat = parse_stat(STAT).unwrap();
        assert_eq!(stat.comm, "rpc (server) x");
        assert_eq!((stat.utime, stat.stime), (250, 75));
        assert!(parse_stat("1 (x) S 1 2").is_err());
        assert!(parse_stat("garbage").is_err());
    }

    #[test]
    fn status_values_in_kb() {
        assert_eq!(parse_status_kb(STATUS, "VmHWM"), Some(12345));
        assert_eq!(parse_status_kb(STATUS, "VmRSS"), Some(11111));
        assert_eq!(parse_status_kb(STATUS, "VmSwap"), None);
    }

    #[test]
    fn cpu_per_10k_requests() {
        assert_eq!(per_10k(2.0, 40_000), Some(0.5));
        assert_eq!(per_10k(2.0, 0), None);
    }

    #[test]
    fn watching_this_process_works() {
        let me = std::process::id();
        let watch = Watch::start(me).unwrap();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let usage = watch.finish(10).unwrap();
        assert_eq!(usage.pid, me);
        assert!(usage.cpu_seconds >= 0.0);
        assert!(usage.peak_rss_kb.unwrap() > 0);
    }
}
