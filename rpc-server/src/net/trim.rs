//! Giving memory back to the system once a connection spike is over.
//!
//! glibc's malloc keeps what is freed in its free lists and returns to the
//! system only the free memory at the top of each heap. The small blocks of
//! thousands of closed connections are scattered among blocks still in use,
//! so without help the RSS stays at the spike's peak (it is reused by the
//! next connections, never returned). `malloc_trim(0)` hands every free page
//! of every arena back. It walks each arena under that arena's lock (a few
//! milliseconds for a heap of 100 MB), so it runs only when at least
//! [`TRIM_AFTER_CLOSED`] connections have closed since the peak, checked
//! every [`CHECK_EVERY`], on a blocking thread.
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::admission::Connections;

/// Connections closed since the last peak that make a trim worth it: about
/// 2 MB of connection state.
pub const TRIM_AFTER_CLOSED: usize = 512;
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The task that watches the connections; it stops when this is dropped.
#[derive(Debug)]
pub struct Trimmer(JoinHandle<()>);

impl Drop for Trimmer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Watches the open connections and trims the heap after they fall.
pub fn spawn(connections: Arc<Connections>) -> Trimmer {
    Trimmer(tokio::spawn(async move {
        let mut watch = SpikeWatch::default();
        let mut ticks = tokio::time::interval(CHECK_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if watch.spike_is_over(connections.open()) {
                let trimmed = tokio::task::spawn_blocking(release_free_memory).await;
                tracing::debug!(returned = ?trimmed.ok(), "connections closed: free heap memory given back");
            }
        }
    }))
}

/// The highest number of open connections since the last trim.
#[derive(Debug, Default)]
struct SpikeWatch {
    peak: usize,
}

impl SpikeWatch {
    /// Whether enough connections closed since the peak to trim now; the
    /// count after a trim is the next peak's starting point.
    fn spike_is_over(&mut self, open: usize) -> bool {
        self.peak = self.peak.max(open);
        if self.peak - open < TRIM_AFTER_CLOSED {
            return false;
        }
        self.peak = open;
        true
    }
}

/// Whether memory was given back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() -> bool {
    // SAFETY: malloc_trim only walks glibc's own free lists, under their
    // locks; it may be called from any thread at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Other allocators return memory their own way.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_per_fall_from_a_peak() {
        let mut watch = SpikeWatch::default();
        assert!(!watch.spike_is_over(0));
        assert!(!watch.spike_is_over(5000));
        assert!(!watch.spike_is_over(5000 - TRIM_AFTER_CLOSED + 1));
        assert!(watch.spike_is_over(4000));
        // From 4000 on: another fall of the same size is needed.
        assert!(!watch.spike_is_over(3900));
        assert!(watch.spike_is_over(4000 - TRIM_AFTER_CLOSED));
        assert!(!watch.spike_is_over(4000));
        assert!(watch.spike_is_over(0));
    }

    #[test]
    fn trimming_runs() {
        let garbage: Vec<Vec<u8>> = (0..1000).map(|i| vec![1u8; 4096 + i]).collect();
        drop(garbage);
        release_free_memory();
    }
}
