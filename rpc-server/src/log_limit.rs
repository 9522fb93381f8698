//! Warnings that repeat are logged once, then summed up: a Redis outage or a
//! flood of malformed connections must not turn into a flood of log lines.
//!
//! The first event of a kind is logged at once; later ones within the
//! interval are only counted, and the next event after the interval logs a
//! line that carries the count of those skipped.
use std::fmt::Display;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One kind of repeated warning.
pub struct RateLimitedLog {
    what: &'static str,
    interval: Duration,
    state: Mutex<State>,
}

struct State {
    next_line_at: Option<Instant>,
    skipped: u64,
}

impl RateLimitedLog {
    pub const fn new(what: &'static str, interval: Duration) -> Self {
        RateLimitedLog {
            what,
            interval,
            state: Mutex::new(State {
                next_line_at: None,
                skipped: 0,
            }),
        }
    }

    /// Logs `detail` at WARN unless a line of this kind was written less
    /// than the interval ago; then it is only counted.
    pub fn warn(&self, detail: impl Display) {
        if let Some(skipped) = self.admit() {
            if skipped == 0 {
                tracing::warn!("{}: {detail}", self.what);
            } else {
                tracing::warn!(
                    "{}: {detail} ({skipped} more since the last line, not logged)",
                    self.what
                );
            }
        }
    }

    /// `Some(skipped)` when a line may be written now.
    fn admit(&self) -> Option<u64> {
        let Ok(mut state) = self.state.lock() else {
            return Some(0);
        };
        let now = Instant::now();
        match state.next_line_at {
            Some(at) if now < at => {
                state.skipped += 1;
                None
            }
            _ => {
                state.next_line_at = Some(now + self.interval);
                Some(std::mem::take(&mut state.skipped))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_event_passes_then_counts_until_the_interval_is_over() {
        let log = RateLimitedLog::new("test", Duration::from_millis(50));
        assert_eq!(log.admit(), Some(0));
        assert_eq!(log.admit(), None);
        assert_eq!(log.admit(), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(log.admit(), Some(2));
        assert_eq!(log.admit(), None);
    }
}
