//! Test harness: real `redis-server`, real `etcd`, the rpc-server run
//! in-process ([`InProcessServer`]) or as the real binary ([`RpcServer`]), on
//! loopback ports, each stopped when its guard is dropped, plus Volo Thrift
//! clients in the three framings.
#![allow(dead_code)] // each test binary uses a different part of the harness
pub mod contract;
pub mod proxy;
pub mod redis_topologies;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use im_idl::rpc::{
    ImServiceClientBuilder, Message, PullRequest, PullResponse, SendRequest, SendResponse,
};
use rpc_server::config::Config;
use volo_thrift::codec::default::DefaultMakeCodec;

pub const SERVICE: &str = "demo.rpc.server";

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("no free port")
}

/// Polls `check` every 50 ms until it holds or `timeout` passes.
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Async variant of [`wait_until`].
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A child process killed (SIGKILL) on drop.
struct Guarded(Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(program: &str, args: &[&str], envs: &[(&str, String)], log: &Path) -> Guarded {
    let log_file = std::fs::File::create(log).expect("log file");
    let child = Command::new(program)
        .args(args)
        .envs(envs.iter().map(|(key, value)| (*key, value.as_str())))
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|err| {
            panic!("cannot start {program} (is it installed? scripts/test.sh installs it): {err}")
        });
    Guarded(child)
}

/// Why a program did not come up on its port.
struct StartFailure {
    /// Its port was taken between being picked and being bound: worth another
    /// try on a new port.
    port_taken: bool,
    message: String,
}

/// Attempts at starting a program on newly picked ports before giving up.
const PORT_ATTEMPTS: usize = 5;

/// Runs `attempt` (which picks new free ports) again while it fails because
/// a port was taken, at most [`PORT_ATTEMPTS`] times.
fn on_free_ports<T>(what: &str, mut attempt: impl FnMut() -> Result<T, StartFailure>) -> T {
    let mut failures = Vec::new();
    for _ in 0..PORT_ATTEMPTS {
        match attempt() {
            Ok(started) => return started,
            Err(failure) if failure.port_taken => failures.push(failure.message),
            Err(failure) => panic!("{}", failure.message),
        }
    }
    panic!(
        "{what}: the picked port was taken {PORT_ATTEMPTS} times:\n{}",
        failures.join("\n")
    )
}

/// Starts `program` and waits until it listens on 127.0.0.1:`port` itself
/// (another program that happens to listen there does not count). Fails when
/// it exits first, e.g. because the port was taken since it was picked.
fn launch(
    program: &str,
    args: &[&str],
    envs: &[(&str, String)],
    log: &Path,
    port: u16,
    timeout: Duration,
) -> Result<Guarded, StartFailure> {
    let mut guarded = spawn(program, args, envs, log);
    let deadline = Instant::now() + timeout;
    loop {
        if listens(guarded.0.id(), port) {
            return Ok(guarded);
        }
        if let Some(status) = guarded.0.try_wait().expect("wait") {
            let output = std::fs::read_to_string(log).unwrap_or_default();
            return Err(StartFailure {
                port_taken: output.to_lowercase().contains("address already in use"),
                message: format!(
                    "{program} exited ({status}) before listening on port {port}; its output:\n{output}"
                ),
            });
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {program} to listen on port {port}; its output:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// TCP states as `/proc/net/tcp` writes them.
const TCP_LISTEN: &str = "0A";
const TCP_CLOSE_WAIT: &str = "08";

/// The IPv4 sockets whose local address is 127.0.0.1:`port`, as (state,
/// inode), from `/proc/net/tcp` (Linux).
fn loopback_sockets(port: u16) -> Vec<(String, String)> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    // Columns: sl, local_address, rem_address, st, tx:rx queues, tr:when,
    // retrnsmt, uid, timeout, inode.
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let columns: Vec<&str> = line.split_whitespace().collect();
            (columns.len() > 9 && columns[1] == local)
                .then(|| (columns[3].to_owned(), columns[9].to_owned()))
        })
        .collect()
}

/// Whether process `pid` holds a socket listening on 127.0.0.1:`port`: one
/// of its descriptors in `/proc/<pid>/fd` is that socket.
fn listens(pid: u32, port: u16) -> bool {
    let sockets: Vec<String> = loopback_sockets(port)
        .into_iter()
        .filter(|(state, _)| state == TCP_LISTEN)
        .map(|(_, inode)| format!("socket:[{inode}]"))
        .collect();
    if sockets.is_empty() {
        return false;
    }
    let Ok(descriptors) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    descriptors.flatten().any(|descriptor| {
        std::fs::read_link(descriptor.path()).is_ok_and(|target| {
            sockets
                .iter()
                .any(|socket| target.as_os_str() == socket.as_str())
        })
    })
}

/// A real `redis-server` without persistence on a free port (another one
/// if the picked port is taken before Redis binds it).
pub struct Redis {
    pub port: u16,
    dir: tempfile::TempDir,
    process: Option<Guarded>,
}

impl Redis {
    pub fn start() -> Redis {
        on_free_ports("redis-server", || {
            let mut redis = Self::new(free_port());
            redis.try_restart().map(|()| redis)
        })
    }

    pub fn start_on(port: u16) -> Redis {
        let mut redis = Self::new(port);
        redis.restart();
        redis
    }

    fn new(port: u16) -> Redis {
        Redis {
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            process: None,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGKILL, nothing saved).
    pub fn stop(&mut self) {
        self.process.take();
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        if let Err(failure) = self.try_restart() {
            panic!("{}", failure.message);
        }
    }

    fn try_restart(&mut self) -> Result<(), StartFailure> {
        self.stop();
        let port = self.port.to_string();
        let dir = self.dir.path().to_string_lossy().into_owned();
        let log = self.dir.path().join("redis.log");
        self.process = Some(launch(
            "redis-server",
            &[
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                &dir,
            ],
            &[],
            &log,
            self.port,
            Duration::from_secs(10),
        )?);
        Ok(())
    }

    /// Runs `redis-cli` against this server and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

/// A real one-node `etcd` on free ports (others if a picked port is taken
/// before etcd binds it).
pub struct Etcd {
    pub port: u16,
    peer_port: u16,
    dir: tempfile::TempDir,
    process: Option<Guarded>,
}

impl Etcd {
    pub fn start() -> Etcd {
        on_free_ports("etcd", || {
            let mut etcd = Self::new(free_port());
            etcd.try_restart_empty().map(|()| etcd)
        })
    }

    pub fn start_on(port: u16) -> Etcd {
        let mut etcd = Self::new(port);
        etcd.restart_empty();
        etcd
    }

    fn new(port: u16) -> Etcd {
        Etcd {
            port,
            peer_port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            process: None,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        self.process.take();
    }

    /// Starts etcd again on the same ports with an empty data directory, as
    /// after a crash that lost everything: registrations must be redone.
    pub fn restart_empty(&mut self) {
        if let Err(failure) = self.try_restart_empty() {
            panic!("{}", failure.message);
        }
    }

    fn try_restart_empty(&mut self) -> Result<(), StartFailure> {
        self.stop();
        let data = self.dir.path().join(format!("data-{}", free_port()));
        let client_url = format!("http://127.0.0.1:{}", self.port);
        let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
        let cluster = format!("default={peer_url}");
        let log = self.dir.path().join("etcd.log");
        self.process = Some(launch(
            "etcd",
            &[
                "--name",
                "default",
                "--data-dir",
                &data.to_string_lossy(),
                "--listen-client-urls",
                &client_url,
                "--advertise-client-urls",
                &client_url,
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
                "--initial-cluster",
                &cluster,
            ],
            &[],
            &log,
            self.port,
            Duration::from_secs(20),
        )?);
        Ok(())
    }

    pub async fn client(&self) -> etcd_client::Client {
        etcd_client::Client::connect([self.endpoint()], None)
            .await
            .expect("etcd client")
    }
}

/// The real `rpc-server` binary.
pub struct RpcServer {
    pub port: u16,
    envs: Vec<(&'static str, String)>,
    log: PathBuf,
    _dir: tempfile::TempDir,
    process: Option<Guarded>,
}

impl RpcServer {
    /// Starts the server on a free port (another one if the picked port is
    /// taken before the server binds it) with these extra environment
    /// variables (e.g. `REDIS_URL`), and waits until it listens.
    pub fn start(envs: &[(&'static str, String)]) -> RpcServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = RpcServer {
            port: 0,
            envs: envs.to_vec(),
            log: dir.path().join("rpc-server.log"),
            _dir: dir,
            process: None,
        };
        on_free_ports("rpc-server", || {
            server.port = free_port();
            server.try_restart()
        });
        server
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The process id while the server runs (for /proc: its memory).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|guarded| guarded.0.id())
    }

    /// Starts the binary again on the same port (after [`RpcServer::terminate`]).
    pub fn restart(&mut self) {
        if let Err(failure) = self.try_restart() {
            panic!("{}", failure.message);
        }
    }

    fn try_restart(&mut self) -> Result<(), StartFailure> {
        self.process.take();
        let mut envs = self.envs.clone();
        envs.push(("RPC_LISTEN", self.addr().to_string()));
        envs.push(("RUST_LOG", "info".to_owned()));
        self.process = Some(launch(
            env!("CARGO_BIN_EXE_rpc-server"),
            &[],
            &envs,
            &self.log,
            self.port,
            Duration::from_secs(20),
        )?);
        Ok(())
    }

    /// Sends SIGTERM and waits for a graceful exit; returns whether it exited
    /// successfully.
    pub fn terminate(&mut self) -> bool {
        let mut guarded = self.process.take().expect("server is running");
        let pid = guarded.0.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = guarded.0.try_wait().expect("wait") {
                return status.success();
            }
            assert!(
                Instant::now() < deadline,
                "rpc-server did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until a Pull succeeds, i.e. the store is connected.
    pub async fn wait_storage_ready(&self) {
        wait_storage_ready(self.addr()).await;
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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
    /// `["--redis-url", &redis.url()]`); `--listen` is ignored. It accepts
    /// connections at once (they wait in the backlog while it starts).
    pub fn start(args: &[&str]) -> InProcessServer {
        let config = hermetic_config(args);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("listener address");
        let log = CapturedLog::default();
        let dispatch = log.dispatch();
        let (shutdown, shutdown_requested) = tokio::sync::oneshot::channel::<()>();
        let workers = config.worker_threads.map_or(2, usize::from);
        let thread = std::thread::Builder::new()
            .name(format!("rpc-server {addr}"))
            .spawn(move || -> anyhow::Result<()> {
                let worker_dispatch = dispatch.clone();
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .thread_name("rpc-server-worker")
                    .enable_all()
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
            shutdown: Some(shutdown),
            thread: Some(thread),
            log,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
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
            && loopback_sockets(self.addr.port())
                .iter()
                .any(|(state, _)| state == TCP_CLOSE_WAIT)
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
/// as the binary prints it (level `info`, or `RUST_LOG`).
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

/// The three transports a Thrift client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Kitex's default ("PurePayload"): bare strict binary messages.
    Unframed,
    /// A 4-byte length before each message.
    Framed,
    /// TTHeader around a framed message.
    TTHeader,
}

pub const ALL_FRAMINGS: [Framing; 3] = [Framing::Unframed, Framing::Framed, Framing::TTHeader];

type Call<Req, Resp> = Box<
    dyn Fn(Req) -> futures::future::BoxFuture<'static, Result<Resp, volo_thrift::ClientError>>
        + Send
        + Sync,
>;

/// A Volo client speaking one framing. Volo's client type differs per codec,
/// so the calls are boxed to give the tests one type.
pub struct Client {
    send: Call<SendRequest, SendResponse>,
    pull: Call<PullRequest, PullResponse>,
}

macro_rules! boxed_client {
    ($client:expr) => {{
        let client = $client;
        let pull_client = client.clone();
        Client {
            send: Box::new(move |req| {
                let client = client.clone();
                Box::pin(async move { client.send(req).await })
            }),
            pull: Box::new(move |req| {
                let client = pull_client.clone();
                Box::pin(async move { client.pull(req).await })
            }),
        }
    }};
}

impl Client {
    pub fn new(addr: SocketAddr, framing: Framing) -> Client {
        let builder = ImServiceClientBuilder::new(SERVICE)
            .address(addr)
            .rpc_timeout(Some(Duration::from_secs(5)));
        match framing {
            Framing::Unframed => {
                boxed_client!(builder.make_codec(DefaultMakeCodec::buffered()).build())
            }
            Framing::Framed => {
                boxed_client!(builder.make_codec(DefaultMakeCodec::framed()).build())
            }
            Framing::TTHeader => boxed_client!(builder.build()),
        }
    }

    pub async fn send(&self, req: SendRequest) -> SendResponse {
        (self.send)(req)
            .await
            .expect("Send failed at the transport level")
    }

    pub async fn pull(&self, req: PullRequest) -> PullResponse {
        (self.pull)(req)
            .await
            .expect("Pull failed at the transport level")
    }

    pub async fn send_text(&self, chat: &str, sender: &str, text: &str) -> SendResponse {
        self.send(send_request(chat, sender, text)).await
    }

    pub async fn pull_page(
        &self,
        chat: &str,
        cursor: i64,
        limit: i32,
        reverse: bool,
    ) -> PullResponse {
        self.pull(PullRequest {
            chat: chat.to_owned().into(),
            cursor,
            limit,
            reverse: Some(reverse),
        })
        .await
    }

    /// Follows `next_cursor` from `start` until `has_more` is false and
    /// returns every message in the order received.
    pub async fn pull_all(
        &self,
        chat: &str,
        start: i64,
        limit: i32,
        reverse: bool,
    ) -> Vec<Message> {
        let mut cursor = start;
        let mut all = Vec::new();
        loop {
            let page = self.pull_page(chat, cursor, limit, reverse).await;
            assert_eq!(page.code, 0, "pull failed: {}", page.msg);
            all.extend(page.messages.expect("messages are always set"));
            if !page.has_more.expect("has_more is always set") {
                assert_eq!(page.next_cursor, Some(0));
                return all;
            }
            cursor = page.next_cursor.expect("next_cursor is always set");
        }
    }
}

pub fn send_request(chat: &str, sender: &str, text: &str) -> SendRequest {
    SendRequest {
        message: Message {
            chat: Some(chat.to_owned().into()),
            text: Some(text.to_owned().into()),
            sender: Some(sender.to_owned().into()),
            send_time: None,
        },
    }
}

pub fn texts(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .map(|message| message.text.as_deref().unwrap_or_default().to_owned())
        .collect()
}
