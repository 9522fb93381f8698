//! A real `redis-server` and a real one-node `etcd` on loopback ports.
use std::process::Command;
use std::time::Duration;

use crate::process::{Guarded, StartFailure, free_port, launch, on_free_ports};

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

    /// Starts it on `port`, e.g. one a server was told about while nothing
    /// listened there.
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

    /// Starts it on `port`, e.g. one a server was told about while nothing
    /// listened there.
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
