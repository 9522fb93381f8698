//! Test harness: real `redis-server`, real `etcd` and the real `rpc-server`
//! binary on free loopback ports, each stopped when its guard is dropped, plus
//! Volo Thrift clients in the three framings.
#![allow(dead_code)] // each test binary uses a different part of the harness
pub mod redis_topologies;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use im_idl::rpc::{
    ImServiceClientBuilder, Message, PullRequest, PullResponse, SendRequest, SendResponse,
};
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

fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
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

/// A real `redis-server` without persistence on a free port.
pub struct Redis {
    pub port: u16,
    dir: tempfile::TempDir,
    process: Option<Guarded>,
}

impl Redis {
    pub fn start() -> Redis {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Redis {
        let mut redis = Redis {
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            process: None,
        };
        redis.restart();
        redis
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
        self.stop();
        let port = self.port.to_string();
        let dir = self.dir.path().to_string_lossy().into_owned();
        let log = self.dir.path().join("redis.log");
        self.process = Some(spawn(
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
        ));
        wait_until(
            "redis-server to accept connections",
            Duration::from_secs(10),
            || accepts(self.port),
        );
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

/// A real one-node `etcd` on free ports.
pub struct Etcd {
    pub port: u16,
    peer_port: u16,
    dir: tempfile::TempDir,
    process: Option<Guarded>,
}

impl Etcd {
    pub fn start() -> Etcd {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Etcd {
        let mut etcd = Etcd {
            port,
            peer_port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            process: None,
        };
        etcd.restart_empty();
        etcd
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
        self.stop();
        let data = self.dir.path().join(format!("data-{}", free_port()));
        let client_url = format!("http://127.0.0.1:{}", self.port);
        let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
        let cluster = format!("default={peer_url}");
        let log = self.dir.path().join("etcd.log");
        self.process = Some(spawn(
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
        ));
        wait_until(
            "etcd to accept connections",
            Duration::from_secs(20),
            || accepts(self.port),
        );
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
    /// Starts the server on a free port with these extra environment
    /// variables (e.g. `REDIS_URL`), and waits until it accepts connections.
    pub fn start(envs: &[(&'static str, String)]) -> RpcServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = RpcServer {
            port: free_port(),
            envs: envs.to_vec(),
            log: dir.path().join("rpc-server.log"),
            _dir: dir,
            process: None,
        };
        server.restart();
        server
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Starts the binary again on the same port (after [`RpcServer::terminate`]).
    pub fn restart(&mut self) {
        self.process.take();
        let mut envs = self.envs.clone();
        envs.push(("RPC_LISTEN", self.addr().to_string()));
        envs.push(("RUST_LOG", "info".to_owned()));
        self.process = Some(spawn(
            env!("CARGO_BIN_EXE_rpc-server"),
            &[],
            &envs,
            &self.log,
        ));
        let port = self.port;
        wait_until(
            "rpc-server to accept connections",
            Duration::from_secs(20),
            || accepts(port),
        );
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
        let client = Client::new(self.addr(), Framing::Unframed);
        eventually(
            "the rpc-server's store to be ready",
            Duration::from_secs(15),
            || async { client.pull_page("ready:probe", 0, 1, false).await.code == 0 },
        )
        .await;
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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
