//! Real local Redis topologies for the fleet tests: a Redis Cluster of three
//! primaries with one replica each, and a primary with one replica watched by
//! three Sentinels. Everything binds 127.0.0.1 on free ports, every wait is
//! bounded, and every process is killed (SIGKILL) when its guard is dropped.
//!
//! [`shared_cluster`] and [`shared_sentinel`] hand out one topology to the
//! tests of a binary that run at the same time (each test uses its own keys);
//! it is stopped when the last of them drops its handle. Tests that kill or
//! move things start their own.
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::{free_port, wait_until};

/// The Sentinel service name.
pub const SERVICE_NAME: &str = "mymaster";

/// One `redis-server` (or `redis-sentinel`) process, killed on drop.
pub struct Node {
    pub port: u16,
    child: Option<Child>,
    program: String,
    args: Vec<String>,
    log: std::path::PathBuf,
}

impl Node {
    /// Starts `program` with `args` (which must make it listen on `port`)
    /// and waits until it answers PING. `None` when it exits first (its port
    /// was taken since it was picked).
    fn start(program: &str, args: &[String], port: u16, log: &Path) -> Option<Node> {
        let mut node = Node {
            port,
            child: None,
            program: program.to_owned(),
            args: args.to_vec(),
            log: log.to_owned(),
        };
        node.spawn().then_some(node)
    }

    /// Starts the process again, same port, arguments and data (after
    /// [`Node::kill`]), and waits until it answers PING.
    pub fn restart(&mut self) {
        self.kill();
        assert!(
            self.spawn(),
            "{} did not restart on port {}",
            self.program,
            self.port
        );
    }

    /// [`Node::restart`] as a replica of the node on `primary`, as it
    /// would come back where Sentinel had reconfigured it.
    pub fn restart_as_replica_of(&mut self, primary: u16) {
        let replicaof = [
            "--replicaof".to_owned(),
            "127.0.0.1".to_owned(),
            primary.to_string(),
        ];
        if let Some(at) = self.args.iter().position(|arg| arg == "--replicaof") {
            self.args.splice(at..at + 3, replicaof);
        } else {
            self.args.extend(replicaof);
        }
        self.restart();
    }

    fn spawn(&mut self) -> bool {
        let (program, port, log) = (self.program.clone(), self.port, self.log.clone());
        let (program, log) = (program.as_str(), log.as_path());
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = Command::new(program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|err| {
                panic!("cannot start {program} (scripts/install-deps.sh installs it): {err}")
            });
        self.child = Some(child);
        let node = self;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if cli(port, &["PING"]) == "PONG" {
                return true;
            }
            let child = node.child.as_mut().expect("running");
            if child.try_wait().expect("wait").is_some() {
                node.child = None;
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "{program} on port {port} did not answer PING within 10 s: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `redis-cli` against this node; its output, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args)
    }

    /// SIGKILL: no shutdown, nothing saved, connections cut.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`) to the process.
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("a running node");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill -{signal} {}", child.id());
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// For a failing test's output: what the node says of its replication
    /// now and the last lines of its log.
    pub fn report(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(25).collect();
        let replication = if self.is_running() && self.program == "redis-server" {
            self.cli(&["INFO", "replication"])
        } else {
            String::new()
        };
        format!(
            "--- {} {} ({}):\n{replication}\nlog, newest first:\n{}\n",
            self.program,
            self.port,
            if self.is_running() { "running" } else { "down" },
            tail.join("\n")
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `redis-cli -p port args...`, its output trimmed.
pub fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Starts a program on a newly picked port, again on another if it was taken.
fn start_on_free_port(program: &str, dir: &Path, args: impl Fn(u16) -> Vec<String>) -> Node {
    for _ in 0..5 {
        let port = free_port();
        let log = dir.join(format!("{program}-{port}.log"));
        if let Some(node) = Node::start(program, &args(port), port, &log) {
            return node;
        }
    }
    panic!("{program}: no free port after 5 attempts")
}

fn redis_node(dir: &Path, extra: &[&str]) -> Node {
    let dir_arg = dir.to_string_lossy().into_owned();
    start_on_free_port("redis-server", dir, |port| {
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir_arg,
            "--dbfilename",
            &format!("dump-{port}.rdb"),
            "--appendonly",
            "yes",
            "--appendfilename",
            &format!("appendonly-{port}.aof"),
            "--appenddirname",
            &format!("aof-{port}"),
            "--save",
            "",
            // A replica that comes back syncs at once (the default waits 5 s).
            "--repl-diskless-sync-delay",
            "0",
            // No fsync and no temporary RDB file on a replica's sync: the
            // tests run many nodes on one busy disk, where an fsync can stall
            // a replica for seconds, and what they measure is the server.
            "--appendfsync",
            "no",
            "--repl-diskless-load",
            "swapdb",
        ]
        .iter()
        .map(|arg| arg.to_string())
        .collect();
        args.extend(
            extra
                .iter()
                .map(|arg| arg.replace("{port}", &port.to_string())),
        );
        args
    })
}

/// A Redis Cluster: three primaries, one replica each, node timeout 1 s.
pub struct RedisCluster {
    pub nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone)]
pub struct ClusterNode {
    pub id: String,
    pub port: u16,
    pub primary: bool,
    pub failed: bool,
    /// Slot ranges served, inclusive.
    pub slots: Vec<(u16, u16)>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let nodes: Vec<Node> = (0..6)
            .map(|_| {
                redis_node(
                    dir.path(),
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes-{port}.conf",
                        "--cluster-node-timeout",
                        "1000",
                    ],
                )
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = RedisCluster { nodes, _dir: dir };
        cluster.wait_healthy(Duration::from_secs(30));
        wait_until(
            "every primary's replica to be in sync",
            Duration::from_secs(30),
            || {
                cluster.topology().iter().filter(|n| n.primary).all(|n| {
                    let replication = cli(n.port, &["INFO", "replication"]);
                    replication.contains("connected_slaves:1")
                        && replication.contains("state=online")
                })
            },
        );
        cluster
    }

    /// Waits until a node other than `old` serves `slot` as a primary and
    /// the cluster is ok again (a replica was promoted after `old` died).
    pub fn wait_promoted(&self, old: u16, slot: u16, timeout: Duration) {
        wait_until("a replica to be promoted", timeout, || {
            self.primary_of_slot(slot).is_some_and(|n| n.port != old)
                && self
                    .running()
                    .all(|node| node.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
        });
    }

    /// `redis-cluster://` URL naming every node.
    pub fn url(&self) -> String {
        let mut url = format!("redis-cluster://127.0.0.1:{}", self.nodes[0].port);
        for (index, node) in self.nodes.iter().enumerate().skip(1) {
            url.push(if index == 1 { '?' } else { '&' });
            url.push_str(&format!("node=127.0.0.1:{}", node.port));
        }
        url
    }

    fn running(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|node| node.is_running())
    }

    /// Waits until every running node says `cluster_state:ok`, knows three
    /// primaries serving all slots, and sees no node as failed but the dead.
    pub fn wait_healthy(&self, timeout: Duration) {
        wait_until("the Redis Cluster to be ok on every node", timeout, || {
            self.running()
                .all(|node| node.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
                && {
                    let view = self.topology();
                    view.iter().filter(|n| n.primary && !n.failed).count() == 3
                        && view
                            .iter()
                            .filter(|n| n.primary && !n.failed)
                            .map(|n| {
                                n.slots
                                    .iter()
                                    .map(|(a, b)| usize::from(b - a) + 1)
                                    .sum::<usize>()
                            })
                            .sum::<usize>()
                            == 16384
                }
        });
    }

    /// The cluster as a running node sees it (`CLUSTER NODES`).
    pub fn topology(&self) -> Vec<ClusterNode> {
        let Some(node) = self.running().next() else {
            return Vec::new();
        };
        parse_cluster_nodes(&node.cli(&["CLUSTER", "NODES"]))
    }

    /// The primary serving `slot`, as running nodes see it.
    pub fn primary_of_slot(&self, slot: u16) -> Option<ClusterNode> {
        self.topology().into_iter().find(|node| {
            node.primary
                && !node.failed
                && node.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot))
        })
    }

    /// Every node's [`Node::report`], for a failing test's output.
    pub fn report(&self) -> String {
        self.nodes.iter().map(Node::report).collect()
    }

    pub fn node_mut(&mut self, port: u16) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|node| node.port == port)
            .expect("a node of this cluster")
    }

    /// `redis-cli --cluster reshard`: moves `slots` slots (the lowest of
    /// `from`'s) from primary `from` to primary `to`. Returns the output.
    pub fn reshard(&self, from: &ClusterNode, to: &ClusterNode, slots: u32) -> String {
        let entry = format!("127.0.0.1:{}", to.port);
        let output = Command::new("redis-cli")
            .args(["--cluster", "reshard", &entry])
            .args(["--cluster-from", &from.id, "--cluster-to", &to.id])
            .args(["--cluster-slots", &slots.to_string(), "--cluster-yes"])
            .args(["--cluster-pipeline", "100"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli --cluster reshard");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "reshard failed: {text}");
        text
    }
}

/// Parses `CLUSTER NODES` output.
pub fn parse_cluster_nodes(text: &str) -> Vec<ClusterNode> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8 {
                return None;
            }
            let port = fields[1].split(['@', ':']).nth(1)?.parse().ok()?;
            let flags = fields[2];
            let slots = fields[8..]
                .iter()
                .filter(|slot| !slot.starts_with('['))
                .filter_map(|range| match range.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => range.parse().ok().map(|slot| (slot, slot)),
                })
                .collect();
            Some(ClusterNode {
                id: fields[0].to_owned(),
                port,
                primary: flags.contains("master"),
                failed: flags.contains("fail"),
                slots,
            })
        })
        .collect()
}

/// A primary, one replica and three Sentinels monitoring them as
/// [`SERVICE_NAME`] (quorum 2, down after 1 s, failover timeout 3 s).
pub struct RedisSentinel {
    /// Data nodes by port: the initial primary first, then the replica.
    pub data: Vec<Node>,
    pub sentinels: Vec<Node>,
    dir: tempfile::TempDir,
}

impl RedisSentinel {
    pub fn start() -> RedisSentinel {
        let dir = tempfile::tempdir().expect("temp dir");
        let primary = redis_node(dir.path(), &[]);
        let replicaof = primary.port.to_string();
        let replica = redis_node(dir.path(), &["--replicaof", "127.0.0.1", &replicaof]);
        let sentinels = (0..3)
            .map(|_| {
                let dir_arg = dir.path().to_string_lossy().into_owned();
                start_on_free_port("redis-sentinel", dir.path(), |port| {
                    // Sentinel rewrites its configuration file: one each.
                    let config = dir.path().join(format!("sentinel-{port}.conf"));
                    let text = format!(
                        "port {port}\nbind 127.0.0.1\ndir {dir_arg}\n\
                         sentinel monitor {SERVICE_NAME} 127.0.0.1 {} 2\n\
                         sentinel down-after-milliseconds {SERVICE_NAME} 1000\n\
                         sentinel failover-timeout {SERVICE_NAME} 3000\n",
                        primary.port
                    );
                    std::fs::write(&config, text).expect("sentinel config");
                    vec![config.to_string_lossy().into_owned()]
                })
            })
            .collect();
        let setup = RedisSentinel {
            data: vec![primary, replica],
            sentinels,
            dir,
        };
        setup.wait_healthy(Duration::from_secs(30));
        setup
    }

    /// `redis-sentinel://` URL naming the three Sentinels.
    pub fn url(&self) -> String {
        format!(
            "redis-sentinel://127.0.0.1:{}?node=127.0.0.1:{}&node=127.0.0.1:{}&sentinelServiceName={SERVICE_NAME}",
            self.sentinels[0].port, self.sentinels[1].port, self.sentinels[2].port
        )
    }

    /// The primary's port as the first running Sentinel reports it.
    pub fn primary_port(&self) -> Option<u16> {
        let sentinel = self.sentinels.iter().find(|node| node.is_running())?;
        let reply = sentinel.cli(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE_NAME]);
        reply.lines().nth(1)?.trim().parse().ok()
    }

    /// Waits until every Sentinel knows the primary, its replica and the two
    /// other Sentinels, and the replica is in sync.
    pub fn wait_healthy(&self, timeout: Duration) {
        wait_until("the Sentinels and the replica to be ready", timeout, || {
            let Some(primary) = self.primary_port() else {
                return false;
            };
            let replication = cli(primary, &["INFO", "replication"]);
            replication.contains("role:master")
                && replication.contains("connected_slaves:1")
                && replication.contains("state=online")
                && self.sentinels.iter().all(|sentinel| {
                    let fields =
                        sentinel_fields(&sentinel.cli(&["SENTINEL", "MASTER", SERVICE_NAME]));
                    fields.get("port").map(String::as_str) == Some(&*primary.to_string())
                        && fields.get("num-slaves").map(String::as_str) == Some("1")
                        && fields.get("num-other-sentinels").map(String::as_str) == Some("2")
                        && fields.get("flags").map(String::as_str) == Some("master")
                })
        });
    }

    /// The data node that is not the primary.
    pub fn replica_port(&self) -> u16 {
        let primary = self.primary_port();
        self.data
            .iter()
            .map(|node| node.port)
            .find(|port| Some(*port) != primary)
            .expect("a replica")
    }

    /// Every process's [`Node::report`], for a failing test's output.
    pub fn report(&self) -> String {
        self.data
            .iter()
            .chain(&self.sentinels)
            .map(Node::report)
            .collect()
    }

    pub fn data_node_mut(&mut self, port: u16) -> &mut Node {
        self.data
            .iter_mut()
            .find(|node| node.port == port)
            .expect("a data node of this setup")
    }

    /// Where logs and data live.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// `SENTINEL MASTER` output (alternating field and value lines) as a map.
fn sentinel_fields(text: &str) -> HashMap<String, String> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines
        .chunks(2)
        .filter(|pair| pair.len() == 2)
        .map(|pair| (pair[0].to_owned(), pair[1].to_owned()))
        .collect()
}

/// One topology shared by the tests of a binary that run at the same time;
/// started by the first, stopped when the last drops its handle.
fn shared<T>(slot: &Mutex<Weak<T>>, start: impl FnOnce() -> T) -> Arc<T> {
    let mut current = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(running) = current.upgrade() {
        return running;
    }
    let started = Arc::new(start());
    *current = Arc::downgrade(&started);
    started
}

static CLUSTER: Mutex<Weak<RedisCluster>> = Mutex::new(Weak::new());
static SENTINEL: Mutex<Weak<RedisSentinel>> = Mutex::new(Weak::new());

/// A cluster shared with the concurrently running tests: do not kill or
/// move anything in it, and use keys of your own.
pub fn shared_cluster() -> Arc<RedisCluster> {
    shared(&CLUSTER, RedisCluster::start)
}

/// A Sentinel setup shared with the concurrently running tests: do not
/// kill anything in it, and use keys of your own.
pub fn shared_sentinel() -> Arc<RedisSentinel> {
    shared(&SENTINEL, RedisSentinel::start)
}
