//! Each connection's reader and writer, wrapped inside Volo's codec so that
//! no client can hold the server's memory or a connection for long.
//!
//! [`GuardedMakeCodec`] is given to Volo as the server's codec factory: Volo
//! calls it once per accepted connection with the socket's two halves, and
//! it hands Volo's own default codec a [`GuardedRead`] and a
//! [`GuardedWrite`] instead. Reads pass every byte through the request
//! scanner before the codec sees it; the read timer counts from a
//! request's first byte, the idle timer from the moment the server waits
//! for the next request. Errors are of kind `ConnectionAborted`, which Volo
//! treats as a closed connection (no log line of its own, no reply); our
//! own rate-limited line says why.
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf, Ready};
use tokio::time::{Instant, Sleep};
use volo::net::ext::AsyncExt;
use volo_thrift::codec::MakeCodec;

use super::admission::{ConnectionSlot, Connections};
use super::scan::RequestScanner;
use crate::log_limit::RateLimitedLog;

static REJECTED_REQUESTS: RateLimitedLog =
    RateLimitedLog::new("closed a connection", Duration::from_secs(10));

/// What one connection may do.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Largest request, in bytes, in any transport.
    pub max_request_bytes: usize,
    /// A request must arrive whole within this time from its first byte.
    pub read_timeout: Duration,
    /// A connection with no request in progress is closed after this time.
    pub idle_timeout: Duration,
    /// A reply the client does not read for this long is abandoned.
    pub write_timeout: Duration,
}

/// Bytes of requests still arriving, over all connections. Each connection
/// may hold up to `max_request_bytes` while its request streams in; without
/// a bound across connections, thousands of half-sent requests would hold
/// gigabytes. A connection whose bytes would go past it is closed.
#[derive(Debug)]
pub struct PendingBytes {
    limit: usize,
    used: AtomicUsize,
}

impl PendingBytes {
    pub fn new(limit: usize) -> Self {
        PendingBytes {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    fn try_take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// Volo's codec factory, with every connection's halves guarded.
#[derive(Clone)]
pub struct GuardedMakeCodec<C> {
    inner: C,
    limits: ConnectionLimits,
    connections: Arc<Connections>,
    pending: Arc<PendingBytes>,
}

impl<C> GuardedMakeCodec<C> {
    pub fn new(
        inner: C,
        limits: ConnectionLimits,
        connections: Arc<Connections>,
        pending: Arc<PendingBytes>,
    ) -> Self {
        GuardedMakeCodec {
            inner,
            limits,
            connections,
            pending,
        }
    }
}

impl<C, R, W> MakeCodec<R, W> for GuardedMakeCodec<C>
where
    C: MakeCodec<GuardedRead<R>, GuardedWrite<W>>,
    R: AsyncRead + AsyncExt + Unpin + Send + Sync + 'static,
    W: AsyncWrite + AsyncExt + Unpin + Send + Sync + 'static,
{
    type Encoder = C::Encoder;
    type Decoder = C::Decoder;

    fn make_codec(&self, reader: R, writer: W) -> (Self::Encoder, Self::Decoder) {
        // Volo makes the codec once per accepted connection, as the
        // connection's task starts: the reader holds the connection's
        // admission slot and frees it when the connection ends.
        let slot = ConnectionSlot::adopt(Arc::clone(&self.connections));
        self.inner.make_codec(
            GuardedRead::new(reader, self.limits, slot, Arc::clone(&self.pending)),
            GuardedWrite::new(writer, self.limits.write_timeout),
        )
    }
}

fn aborted(reason: String) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, reason)
}

/// The error that ends a connection whose read `deadline` passed: a request
/// cut short is worth a warning, closing an idle connection is routine.
fn expired(deadline: ReadDeadline, limits: &ConnectionLimits) -> io::Error {
    if deadline == ReadDeadline::Request {
        let reason = format!(
            "request not complete within the read timeout of {:?}",
            limits.read_timeout
        );
        REJECTED_REQUESTS.warn(&reason);
        aborted(reason)
    } else {
        let reason = format!("idle for {:?}", limits.idle_timeout);
        tracing::debug!("closed a connection: {reason}");
        aborted(reason)
    }
}

/// Which deadline the read timer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadDeadline {
    None,
    /// Waiting for a request to start.
    Idle,
    /// Waiting for the rest of a started request.
    Request,
}

/// The read half: scanned, and bounded in time.
pub struct GuardedRead<R> {
    inner: R,
    scanner: RequestScanner,
    limits: ConnectionLimits,
    timer: Pin<Box<Sleep>>,
    deadline: ReadDeadline,
    failed: bool,
    /// Bytes this connection holds of `pending`: those of the request
    /// arriving now.
    pending: Arc<PendingBytes>,
    held: usize,
    _slot: ConnectionSlot,
}

impl<R> GuardedRead<R> {
    fn new(
        inner: R,
        limits: ConnectionLimits,
        slot: ConnectionSlot,
        pending: Arc<PendingBytes>,
    ) -> Self {
        GuardedRead {
            pending,
            held: 0,
            inner,
            scanner: RequestScanner::new(limits.max_request_bytes),
            limits,
            timer: Box::pin(tokio::time::sleep(limits.idle_timeout)),
            deadline: ReadDeadline::None,
            failed: false,
            _slot: slot,
        }
    }

    fn arm(&mut self, deadline: ReadDeadline, after: Duration) {
        self.deadline = deadline;
        self.timer.as_mut().reset(Instant::now() + after);
    }

    fn fail(&mut self, reason: String) -> io::Error {
        self.failed = true;
        REJECTED_REQUESTS.warn(&reason);
        aborted(reason)
    }

    /// Scans what was just read and moves the timers along.
    fn scan(&mut self, received: &[u8]) -> io::Result<()> {
        let was_mid_request = self.scanner.mid_request();
        let progress = self
            .scanner
            .feed(received)
            .map_err(|rejection| self.fail(format!("invalid request: {rejection}")))?;
        if progress.completed > 0 {
            self.pending.give_back(std::mem::take(&mut self.held));
        }
        if !progress.mid_request {
            self.deadline = ReadDeadline::None;
            return Ok(());
        }
        if !was_mid_request || progress.completed > 0 {
            self.arm(ReadDeadline::Request, self.limits.read_timeout);
        }
        // What arrived of the request in progress (a chunk that also ended
        // the one before is counted whole: a slight overestimate).
        if !self.pending.try_take(received.len()) {
            return Err(self.fail(format!(
                "requests in progress over all connections hold more than {} bytes",
                self.pending.limit
            )));
        }
        self.held += received.len();
        Ok(())
    }
}

impl<R> Drop for GuardedRead<R> {
    fn drop(&mut self) {
        self.pending.give_back(self.held);
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for GuardedRead<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(Err(aborted("connection already rejected".into())));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let received = &buf.filled()[before..];
                if received.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                if let Err(err) = this.scan(received) {
                    // The codec must not see the bytes that broke the rules.
                    buf.set_filled(before);
                    return Poll::Ready(Err(err));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => {
                if this.deadline == ReadDeadline::None {
                    this.arm(ReadDeadline::Idle, this.limits.idle_timeout);
                }
                ready!(this.timer.as_mut().poll(cx));
                this.failed = true;
                Poll::Ready(Err(expired(this.deadline, &this.limits)))
            }
        }
    }
}

/// Volo's decoder waits here between requests, with no buffer, before it
/// reads: the same deadlines as a read apply (the read timeout's remainder
/// in the middle of a request, else the idle timeout).
impl<R: AsyncExt + Sync> AsyncExt for GuardedRead<R> {
    fn ready(&self, interest: Interest) -> impl Future<Output = io::Result<Ready>> + Send {
        let deadline = if self.deadline == ReadDeadline::Request {
            self.timer.deadline()
        } else {
            Instant::now() + self.limits.idle_timeout
        };
        async move {
            tokio::time::timeout_at(deadline, self.inner.ready(interest))
                .await
                .unwrap_or_else(|_| Err(expired(self.deadline, &self.limits)))
        }
    }
}

/// The write half: a reply the client does not take within the write
/// timeout fails the connection instead of holding it forever.
pub struct GuardedWrite<W> {
    inner: W,
    timeout: Duration,
    timer: Pin<Box<Sleep>>,
    armed: bool,
}

impl<W> GuardedWrite<W> {
    fn new(inner: W, timeout: Duration) -> Self {
        GuardedWrite {
            inner,
            timeout,
            timer: Box::pin(tokio::time::sleep(timeout)),
            armed: false,
        }
    }

    /// Passes a ready result through, or fails once the write has been
    /// stalled for the whole timeout.
    fn bound<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(result) => {
                self.armed = false;
                Poll::Ready(result)
            }
            Poll::Pending => {
                if !self.armed {
                    self.armed = true;
                    self.timer.as_mut().reset(Instant::now() + self.timeout);
                }
                ready!(self.timer.as_mut().poll(cx));
                let reason = format!("client did not read its reply within {:?}", self.timeout);
                REJECTED_REQUESTS.warn(&reason);
                Poll::Ready(Err(aborted(reason)))
            }
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for GuardedWrite<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.bound(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.bound(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.bound(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<W: AsyncExt + Sync> AsyncExt for GuardedWrite<W> {
    fn ready(&self, interest: Interest) -> impl Future<Output = io::Result<Ready>> + Send {
        self.inner.ready(interest)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use volo::net::conn::{Conn, OwnedReadHalf};

    use super::*;

    const READ_TIMEOUT: Duration = Duration::from_millis(300);
    const IDLE_TIMEOUT: Duration = Duration::from_millis(900);

    /// A client socket and the server's guarded read half of it.
    async fn connection() -> (TcpStream, GuardedRead<OwnedReadHalf>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let (read_half, _) = Conn::from(accepted).stream.into_split();
        let limits = ConnectionLimits {
            max_request_bytes: 1 << 20,
            read_timeout: READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            write_timeout: READ_TIMEOUT,
        };
        let slot = ConnectionSlot::adopt(Arc::new(Connections::new(1)));
        let pending = Arc::new(PendingBytes::new(1 << 20));
        let mut reader = GuardedRead::new(read_half, limits, slot, pending);
        // tokio takes a socket it has just accepted for readable; a read
        // that finds nothing there clears that.
        let mut buf = [0u8; 8];
        let read = reader.read(&mut buf);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), read)
                .await
                .is_err()
        );
        (client, reader)
    }

    /// How long `ready` took to fail with `ConnectionAborted`.
    async fn ready_fails_after(reader: &GuardedRead<OwnedReadHalf>) -> Duration {
        let started = Instant::now();
        let err = reader.ready(Interest::READABLE).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted, "{err}");
        started.elapsed()
    }

    #[tokio::test]
    async fn waiting_for_a_request_ends_when_bytes_arrive() {
        let (mut client, reader) = connection().await;
        let wait = reader.ready(Interest::READABLE);
        tokio::pin!(wait);
        let early = tokio::time::timeout(Duration::from_millis(100), &mut wait).await;
        assert!(early.is_err(), "ready before any byte arrived");
        client.write_all(&[0x80]).await.unwrap();
        let ready = tokio::time::timeout(IDLE_TIMEOUT / 2, wait).await;
        assert!(ready.unwrap().unwrap().is_readable());
    }

    #[tokio::test]
    async fn waiting_between_requests_ends_after_the_idle_timeout() {
        let (_client, reader) = connection().await;
        let waited = ready_fails_after(&reader).await;
        assert!(
            waited >= IDLE_TIMEOUT && waited < IDLE_TIMEOUT * 2,
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn waiting_inside_a_request_ends_at_its_read_deadline() {
        let (mut client, mut reader) = connection().await;
        // A framed request's length and the start of its message: the
        // request has begun, its read deadline runs.
        client.write_all(&[0, 0, 0, 100, 0x80, 0x01]).await.unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 64];
        assert_eq!(reader.read(&mut buf).await.unwrap(), 6);
        ready_fails_after(&reader).await;
        let waited = started.elapsed();
        assert!(
            waited >= READ_TIMEOUT && waited < IDLE_TIMEOUT,
            "{waited:?}"
        );
    }
}
