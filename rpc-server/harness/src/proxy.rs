//! A TCP proxy on 127.0.0.1 that can cut a link without closing it: the
//! sockets stay open but nothing is forwarded either way, which is what a
//! half-open connection looks like to its ends (no reset, no FIN, silence).
//!
//! Paused connections stop reading, so bytes wait in the kernel's buffers as
//! they would wait in TCP retransmissions on a real cut link. Everything stops
//! when the [`Proxy`] is dropped.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Connections share a "forwarding" switch per generation: a cut that never
/// heals retires the generation (its switch stays off for good) and starts a
/// new one for the connections accepted from then on.
struct Generations {
    current: watch::Sender<bool>,
    retired: Vec<watch::Sender<bool>>,
}

pub struct Proxy {
    addr: SocketAddr,
    generations: Arc<Mutex<Generations>>,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards each connection to
    /// `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let generations = Arc::new(Mutex::new(Generations {
            current: watch::Sender::new(true),
            retired: Vec::new(),
        }));
        let accepted = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept_loop(
            listener,
            upstream,
            generations.clone(),
            accepted.clone(),
        ));
        Proxy {
            addr,
            generations,
            accepted,
            task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections the proxy has accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Stops forwarding on every connection, open or accepted from now on,
    /// both ways, without closing any socket.
    pub fn black_hole(&self) {
        self.generations.lock().unwrap().current.send_replace(false);
    }

    /// Forwards connections accepted from now on, while every connection
    /// opened before stays silent for good: a cut link whose old flows never
    /// come back (a peer or NAT that lost their state), so only a client that
    /// gives up on its old connection and dials again gets through.
    pub fn forward_new_connections_only(&self) {
        let mut generations = self.generations.lock().unwrap();
        let fresh = watch::Sender::new(true);
        let old = std::mem::replace(&mut generations.current, fresh);
        old.send_replace(false);
        // Kept, not dropped: a dropped switch would end the relays and close
        // their sockets.
        generations.retired.push(old);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The accept loop owns the relays' JoinSet: aborting it aborts them
        // and closes every socket.
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    generations: Arc<Mutex<Generations>>,
    accepted: Arc<AtomicUsize>,
) {
    let mut relays = JoinSet::new();
    loop {
        tokio::select! {
            incoming = listener.accept() => {
                let Ok((client, _)) = incoming else { continue };
                accepted.fetch_add(1, Ordering::SeqCst);
                let forwarding = generations.lock().unwrap().current.subscribe();
                relays.spawn(relay(client, upstream, forwarding));
            }
            // Reap finished relays so the set does not grow.
            Some(_) = relays.join_next(), if !relays.is_empty() => {}
        }
    }
}

/// Waits until the switch reads `on`; false if the proxy is gone.
async fn until(forwarding: &mut watch::Receiver<bool>, on: bool) -> bool {
    forwarding.wait_for(|state| *state == on).await.is_ok()
}

async fn relay(client: TcpStream, upstream: SocketAddr, mut forwarding: watch::Receiver<bool>) {
    // A connection accepted during a cut is held, silent, until forwarding
    // resumes; only then is etcd dialled.
    if !until(&mut forwarding, true).await {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        pump(client_read, server_write, forwarding.clone()),
        pump(server_read, client_write, forwarding),
    );
}

/// Copies one direction while forwarding is on; on end of stream or error,
/// passes the end on (shutdown of the write side).
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut forwarding: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if !until(&mut forwarding, true).await {
            return;
        }
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            // Cut while waiting for data: stop reading (read is cancel safe).
            _ = until(&mut forwarding, false) => continue,
        };
        let count = match read {
            Ok(0) | Err(_) => break,
            Ok(count) => count,
        };
        // Cut between the read and the write: hold the bytes until resumed.
        if !until(&mut forwarding, true).await {
            return;
        }
        if to.write_all(&buffer[..count]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
