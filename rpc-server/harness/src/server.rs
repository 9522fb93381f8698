//! The rpc-server in a test: in-process ([`InProcessServer`], the default)
//! or the real binary ([`RpcServer`]). Both bind 127.0.0.1:0, so no port is
//! picked, released and bound again.
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rpc_server::config::Config;

use crate::client::{Client, Framing};
use crate::process::{Guarded, TCP_CLOSE_WAIT, eventually, loopback_socket_states, spawn};

/// The addresses a server wrote to its `--listen-addr-file`, once every
/// listener was bound; `None` until the file is there.
fn read_listen_addrs(path: &Path) -> Option<(SocketAddr, Option<SocketAddr>)> {
    let text = std::fs::read_to_string(path).ok()?;
    let find = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
            .map(|addr| {
                addr.parse()
                    .unwrap_or_else(|err| panic!("{path:?}: {addr:?}: {err}"))
            })
    };
    Some((
        find("rpc").unwrap_or_else(|| panic!("{path:?} has no rpc address: {text:?}")),
        find("admin"),
    ))
}

/// The `rpc-server` binary cargo built next to the test binary (cargo
/// builds a package's binaries for its integration tests).
fn binary() -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> -> target/<profile>/rpc-server
    let binary = test_binary
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is in target/<profile>/deps")
        .join("rpc-server");
    assert!(binary.exists(), "no rpc-server binary at {binary:?}");
    binary
}

/// Resident memory of a process, in bytes, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy)]
pub struct ProcessMemory {
    /// VmRSS: resident now.
    pub rss: u64,
    /// VmHWM: the most it has been resident.
    pub peak: u64,
}

impl ProcessMemory {
    /// `None` once the process is gone.
    pub fn of(pid: u32) -> Option<ProcessMemory> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| -> Option<u64> {
            let line = status.lines().find(|line| line.starts_with(name))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        };
        Some(ProcessMemory {
            rss: field("VmRSS:")?,
            peak: field("VmHWM:")?,
        })
    }
}

/// How long the binary may take to bind its listeners.
const BINARY_START_BOUND: Duration = Duration::from_secs(20);

/// The real `rpc-server` binary, listening on 127.0.0.1:0 and telling its
/// addresses through `--listen-addr-file`; killed (SIGKILL) when dropped.
/// Its output (stdout and stderr) is kept ([`RpcServer::log`]).
///
/// For what needs a process of its own: signals, the environment, an fd
/// limit, memory use, the process-wide log limits. Everything else runs
/// [`InProcessServer`].
pub struct RpcServer {
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    dir: tempfile::TempDir,
    process: Guarded,
}

impl RpcServer {
    /// Starts the binary with these environment variables besides the
    /// harness's own (e.g. `REDIS_URL`, or `RPC_ADMIN_LISTEN=127.0.0.1:0`
    /// for an admin listener) and waits until its listeners are bound.
    pub fn start(envs: &[(&str, String)]) -> RpcServer {
        Self::launch(envs, None)
    }

    /// [`RpcServer::start`] with the server's open file limit lowered to
    /// `limit`: it is started by `sh -c 'ulimit -n <limit> && exec ...'`,
    /// so the test process keeps its own limit.
    pub fn start_with_open_files(envs: &[(&str, String)], limit: u32) -> RpcServer {
        Self::launch(envs, Some(limit))
    }

    fn launch(envs: &[(&str, String)], open_files: Option<u32>) -> RpcServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let addr_file = dir.path().join("listen-addrs");
        let binary = binary();
        let mut command = match open_files {
            None => Command::new(&binary),
            Some(limit) => {
                let mut shell = Command::new("sh");
                shell
                    .arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\""))
                    .arg(&binary);
                shell
            }
        };
        command
            .env("RPC_LISTEN", "127.0.0.1:0")
            .env("RPC_LISTEN_ADDR_FILE", &addr_file)
            .env("RUST_LOG", "info")
            .envs(envs.iter().map(|(key, value)| (*key, value.as_str())));
        let log = dir.path().join("rpc-server.log");
        let mut process = spawn(command, &log);
        let deadline = Instant::now() + BINARY_START_BOUND;
        let (addr, admin_addr) = loop {
            if let Some(addrs) = read_listen_addrs(&addr_file) {
                break addrs;
            }
            if let Some(status) = process.0.try_wait().expect("wait") {
                panic!(
                    "rpc-server exited ({status}) before listening; its output:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "rpc-server did not listen within {BINARY_START_BOUND:?}; its output:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        RpcServer {
            addr,
            admin_addr,
            dir,
            process,
        }
    }

    /// Where it serves Thrift.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where its admin listener serves; panics if it has none.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
            .expect("the server was started without RPC_ADMIN_LISTEN")
    }

    /// The addresses it reported: its `--listen-addr-file`, as written.
    pub fn listen_addr_file(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("listen-addrs")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.process.0.id()
    }

    /// Whether it is still running (it has not exited).
    pub fn is_running(&mut self) -> bool {
        self.process.0.try_wait().expect("wait").is_none()
    }

    /// Panics, with its log, if it has exited.
    pub fn assert_alive(&mut self) {
        assert!(self.is_running(), "rpc-server exited; log:\n{}", self.log());
    }

    /// Its memory now; panics if it is gone.
    pub fn memory(&self) -> ProcessMemory {
        ProcessMemory::of(self.pid()).expect("the server's /proc status")
    }

    /// Sends SIGTERM, and returns at once.
    pub fn send_sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -TERM {}", self.pid());
    }

    /// Waits for it to exit; returns whether it exited successfully.
    /// Panics if it is still running after `within`.
    pub fn wait_exit(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.process.0.try_wait().expect("wait") {
                return status.success();
            }
            assert!(
                Instant::now() < deadline,
                "rpc-server did not exit within {within:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and waits for a graceful exit; returns whether it
    /// exited successfully.
    pub fn terminate(&mut self) -> bool {
        self.send_sigterm();
        self.wait_exit(Duration::from_secs(40))
    }

    /// Waits until a Pull succeeds, i.e. the store is connected.
    pub async fn wait_storage_ready(&self) {
        wait_storage_ready(self.addr).await;
    }

    /// Everything it has printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rpc-server.log")).unwrap_or_default()
    }
}

/// Waits until a Pull through the server at `addr` succeeds, i.e. its store
/// is connected.
pub async fn wait_storage_ready(addr: SocketAddr) {
    let client = Client::new(addr, Framing::Unframed);
    eventually(
        "the rpc-server's store to be ready",
        Duration::from_secs(15),
        || async { client.pull_page("ready:probe", 0, 1, false).await.code == 0 },
    )
    .await;
}

/// Longest an in-process server may take to stop: Volo waits 2 s before
/// closing connections that are still open, then for requests in flight.
const IN_PROCESS_STOP_BOUND: Duration = Duration::from_secs(10);

/// The rpc-server run inside the test process by `rpc_server::server::serve`
/// on a listener bound to 127.0.0.1:0 (no port is picked, released and bound
/// again), on a thread and Tokio runtime of its own: it works from plain and
/// `#[tokio::test]` tests alike, and the end of a test's runtime does not cut
/// it off. Its configuration comes from the arguments only (the `Config`
/// environment variables of the test process are ignored), its log is kept
/// ([`InProcessServer::log`], printed when the test fails), and dropping it
/// stops it as [`InProcessServer::stop`] does.
///
/// Use [`RpcServer`], the binary, for what needs a process: signals, the
/// environment, fd limits, memory use.
pub struct InProcessServer {
    addr: SocketAddr,
    /// Holds its `--listen-addr-file`.
    dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    log: CapturedLog,
}

thread_local! {
    /// The in-process server's log subscriber, on each of its runtime's threads.
    static SERVER_LOG: std::cell::RefCell<Option<tracing::dispatcher::DefaultGuard>> =
        const { std::cell::RefCell::new(None) };
}

impl InProcessServer {
    /// Starts the server with these command-line arguments (e.g.
    /// `["--redis-url", &redis.url()]`, or `["--admin-listen",
    /// "127.0.0.1:0"]` for an admin listener); `--listen` is ignored. It
    /// accepts connections at once (they wait in the backlog while it
    /// starts).
    pub fn start(args: &[&str]) -> InProcessServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = hermetic_config(args);
        config.listen_addr_file = Some(dir.path().join("listen-addrs"));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("listener address");
        let log = CapturedLog::default();
        let dispatch = log.dispatch();
        let (shutdown, shutdown_requested) = tokio::sync::oneshot::channel::<()>();
        let workers = config.worker_threads.or(Some(2));
        let thread = std::thread::Builder::new()
            .name(format!("rpc-server {addr}"))
            .spawn(move || -> anyhow::Result<()> {
                let worker_dispatch = dispatch.clone();
                let runtime = rpc_server::server::runtime(workers)
                    .thread_name("rpc-server-worker")
                    .on_thread_start(move || {
                        SERVER_LOG.set(Some(tracing::dispatcher::set_default(&worker_dispatch)));
                    })
                    .on_thread_stop(|| SERVER_LOG.set(None))
                    .build()?;
                let served = tracing::dispatcher::with_default(&dispatch, || {
                    runtime.block_on(async move {
                        let listener = tokio::net::TcpListener::from_std(listener)?;
                        let shutdown = async move {
                            // Sent, or the sender dropped: stop either way.
                            let _ = shutdown_requested.await;
                        };
                        rpc_server::server::serve(listener, config, shutdown).await
                    })
                });
                // Whatever serve left behind (reconnecting store clients,
                // blocking lookups) is cancelled, not waited for.
                runtime.shutdown_timeout(Duration::from_millis(500));
                served
            })
            .expect("server thread");
        InProcessServer {
            addr,
            dir,
            shutdown: Some(shutdown),
            thread: Some(thread),
            log,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where its admin listener serves, once it is bound (after the store's
    /// first connection attempt); panics if it was started without
    /// `--admin-listen`.
    pub fn admin_addr(&self) -> SocketAddr {
        let file = self.dir.path().join("listen-addrs");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some((_, admin)) = read_listen_addrs(&file) {
                return admin.expect("the server was started without --admin-listen");
            }
            assert!(
                Instant::now() < deadline,
                "the in-process server bound no admin listener within 20 s; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until a Pull succeeds, i.e. the store is connected.
    pub async fn wait_storage_ready(&self) {
        wait_storage_ready(self.addr).await;
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        self.log.text()
    }

    /// Completes the server's shutdown future and waits for `serve` to
    /// return (it stops accepting at once and drains open connections);
    /// returns what `serve` returned. Panics if the server does not stop
    /// within [`IN_PROCESS_STOP_BOUND`].
    pub fn stop(mut self) -> anyhow::Result<()> {
        match self.shut_down() {
            Ok(served) => served,
            Err(failure) => panic!("{failure}; its log:\n{}", self.log()),
        }
    }

    fn shut_down(&mut self) -> Result<anyhow::Result<()>, String> {
        let Some(thread) = self.thread.take() else {
            return Ok(Ok(()));
        };
        // Volo waits 2 s before it closes the connections still open when
        // shutdown begins. Those whose clients have closed them already (the
        // test's clients, dropped before the server) are closed by the server
        // as soon as it reads their end: give it a moment to, so that only
        // connections a test really leaves open cost those 2 s.
        let settled = Instant::now() + Duration::from_secs(1);
        while Instant::now() < settled
            && loopback_socket_states(self.addr.port())
                .iter()
                .any(|state| state == TCP_CLOSE_WAIT)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let deadline = Instant::now() + IN_PROCESS_STOP_BOUND;
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                // The thread is left running; the process ends it.
                return Err(format!(
                    "the in-process rpc-server on {} did not stop within {IN_PROCESS_STOP_BOUND:?}",
                    self.addr
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        thread.join().map_err(|panic| {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|reason| reason.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            format!(
                "the in-process rpc-server on {} panicked: {reason}",
                self.addr
            )
        })
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        let outcome = match self.shut_down() {
            Ok(Ok(())) => None,
            Ok(Err(err)) => Some(format!("the in-process rpc-server failed: {err:#}")),
            Err(failure) => Some(failure),
        };
        // Not a panic: the test may be unwinding already. Printed output of a
        // test is shown when it fails.
        if let Some(outcome) = outcome {
            eprintln!("{outcome}");
        }
        if std::thread::panicking() {
            eprintln!(
                "log of the in-process rpc-server on {}:\n{}",
                self.addr,
                self.log()
            );
        }
    }
}

/// A `Config` from `args` alone: clap's environment fallbacks are turned off,
/// so that a `REDIS_URL` (or any other setting) in the test's environment
/// cannot change what the test runs against.
fn hermetic_config(args: &[&str]) -> Config {
    use clap::{CommandFactory, FromArgMatches};
    let command = Config::command().mut_args(|arg| arg.env(None::<&'static str>));
    let matches = command
        .try_get_matches_from(std::iter::once("rpc-server").chain(args.iter().copied()))
        .unwrap_or_else(|err| panic!("invalid rpc-server arguments {args:?}: {err}"));
    Config::from_arg_matches(&matches)
        .unwrap_or_else(|err| panic!("invalid rpc-server arguments {args:?}: {err}"))
}

/// A log kept in memory: the in-process server's `tracing` output, formatted
/// as the binary prints it (level `info`, or `RUST_LOG`); a test can make it
/// the default subscriber of its own thread to see what a store logs.
#[derive(Clone, Default)]
pub struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    pub fn dispatch(&self) -> tracing::Dispatch {
        let writer = self.clone();
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        tracing::Dispatch::new(
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish(),
        )
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
