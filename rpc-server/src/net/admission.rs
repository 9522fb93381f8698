//! Accepting connections: a bounded number of them, whatever `accept` says,
//! and none once shutdown has begun.
//!
//! [`Admission`] is the `Incoming` Volo's accept loop pulls connections from
//! (Volo stops its server on the first accept error, and keeps accepting
//! until its own shutdown delay is over, so neither is left to it). Each
//! admitted connection takes a slot of [`Connections`]; the slot is handed
//! back when the connection's reader is dropped (see
//! [`super::guard::GuardedMakeCodec`]). A connection over the limit is closed
//! at once rather than left waiting in the backlog.
use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use volo::net::conn::Conn;
use volo::net::incoming::{Incoming, MakeIncoming};

use crate::log_limit::RateLimitedLog;

/// File descriptors kept for everything that is not a client connection:
/// the listener, Redis and etcd connections, logs, the admin listener.
const FD_HEADROOM: u64 = 64;
/// Default connection limit on a machine whose fd limit allows more.
const DEFAULT_MAX_CONNECTIONS: u64 = 10_000;

static OVER_LIMIT: RateLimitedLog = RateLimitedLog::new(
    "refused a connection: the connection limit is reached",
    Duration::from_secs(10),
);
static ACCEPT_ERRORS: RateLimitedLog =
    RateLimitedLog::new("accepting a connection failed", Duration::from_secs(10));

/// Open client connections and the limit on them.
#[derive(Debug)]
pub struct Connections {
    max: usize,
    open: AtomicUsize,
    refused: AtomicU64,
}

impl Connections {
    pub fn new(max: usize) -> Self {
        Connections {
            max,
            open: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections refused so far because the limit was reached.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn try_admit(&self) -> bool {
        let admitted = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.max).then_some(open + 1)
            })
            .is_ok();
        if !admitted {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        admitted
    }
}

/// One admitted connection's place; handed back on drop.
#[derive(Debug)]
pub struct ConnectionSlot(Arc<Connections>);

impl ConnectionSlot {
    /// Takes over the slot [`Admission`] counted when it accepted the
    /// connection that is now being set up.
    pub(crate) fn adopt(connections: Arc<Connections>) -> Self {
        ConnectionSlot(connections)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The listener, as Volo's `Incoming`.
pub struct Admission {
    listener: TcpListener,
    connections: Arc<Connections>,
    shutdown: watch::Receiver<bool>,
}

impl Admission {
    /// `shutdown` turning `true` ends accepting: the listener is closed and
    /// Volo goes on to drain the open connections.
    pub fn new(
        listener: TcpListener,
        connections: Arc<Connections>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Admission {
            listener,
            connections,
            shutdown,
        }
    }
}

impl fmt::Debug for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admission")
            .field("listener", &self.listener.local_addr().ok())
            .field("max_connections", &self.connections.max)
            .finish()
    }
}

impl MakeIncoming for Admission {
    type Incoming = Admission;

    async fn make_incoming(self) -> io::Result<Admission> {
        Ok(self)
    }
}

impl Incoming for Admission {
    async fn accept(&mut self) -> io::Result<Option<Conn>> {
        loop {
            let accepted = tokio::select! {
                biased;
                _ = self.shutdown.wait_for(|stopping| *stopping) => return Ok(None),
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, _)) if self.connections.try_admit() => {
                    return Ok(Some(Conn::from(stream)));
                }
                Ok((stream, peer)) => {
                    OVER_LIMIT.warn(format_args!(
                        "{peer} ({} open, {} refused so far)",
                        self.connections.max,
                        self.connections.refused()
                    ));
                    drop(stream);
                }
                Err(err) => {
                    ACCEPT_ERRORS.warn(&err);
                    if is_resource_exhaustion(&err) {
                        // Out of descriptors or buffers: retrying at once
                        // would spin; connections ending free them soon.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
    }
}

/// Errors that last until something is freed, as opposed to errors about
/// one connection (`ECONNABORTED`: the client left before we accepted).
fn is_resource_exhaustion(err: &io::Error) -> bool {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    const ENOBUFS: i32 = 105;
    const ENOMEM: i32 = 12;
    matches!(err.raw_os_error(), Some(EMFILE | ENFILE | ENOBUFS | ENOMEM))
}

/// Raises the soft limit on open files to the hard limit and returns the
/// connection limit to use: `requested` if given (lowered, with a warning,
/// when the descriptors cannot cover it), else as many as the descriptors
/// allow up to [`DEFAULT_MAX_CONNECTIONS`].
pub fn connection_limit(requested: Option<u32>, redis_connections: u16) -> usize {
    let (soft_before, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((1024, 1024));
    let soft = rlimit::increase_nofile_limit(hard).unwrap_or(soft_before);
    let available = soft.saturating_sub(FD_HEADROOM + u64::from(redis_connections));
    tracing::info!(
        soft_before,
        soft,
        hard,
        "open file limit (soft limit raised to the hard limit)"
    );
    let limit = match requested {
        Some(requested) if u64::from(requested) > available => {
            tracing::warn!(
                requested,
                available,
                "--max-connections is more than the open file limit allows; lowered"
            );
            available
        }
        Some(requested) => u64::from(requested),
        None => available.min(DEFAULT_MAX_CONNECTIONS),
    };
    usize::try_from(limit.max(1)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_handed_back() {
        let connections = Arc::new(Connections::new(2));
        assert!(connections.try_admit());
        assert!(connections.try_admit());
        assert!(!connections.try_admit());
        assert_eq!((connections.open(), connections.refused()), (2, 1));
        drop(ConnectionSlot::adopt(Arc::clone(&connections)));
        assert_eq!(connections.open(), 1);
        assert!(connections.try_admit());
    }

    #[test]
    fn exhaustion_errors_are_told_apart() {
        assert!(is_resource_exhaustion(&io::Error::from_raw_os_error(24)));
        assert!(!is_resource_exhaustion(&io::Error::from_raw_os_error(103)));
    }
}
