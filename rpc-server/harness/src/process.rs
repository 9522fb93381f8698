//! Child processes of the tests: started with their output in a log file,
//! killed when dropped, and found listening through `/proc` (Linux).
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port nobody listens on right now, for programs that cannot
/// bind port 0 and say which port they got (Redis, etcd). It may be taken
/// before the program binds it: [`on_free_ports`] tries again.
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
pub(crate) struct Guarded(pub(crate) Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` with stdout and stderr in `log`.
pub(crate) fn spawn(mut command: Command, log: &Path) -> Guarded {
    let log_file = std::fs::File::create(log).expect("log file");
    let program = command.get_program().to_string_lossy().into_owned();
    let child = command
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
pub(crate) struct StartFailure {
    /// Its port was taken between being picked and being bound: worth another
    /// try on a new port.
    pub(crate) port_taken: bool,
    pub(crate) message: String,
}

/// Attempts at starting a program on newly picked ports before giving up.
const PORT_ATTEMPTS: usize = 5;

/// Runs `attempt` (which picks new free ports) again while it fails because
/// a port was taken, at most [`PORT_ATTEMPTS`] times.
pub(crate) fn on_free_ports<T>(
    what: &str,
    mut attempt: impl FnMut() -> Result<T, StartFailure>,
) -> T {
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
pub(crate) fn launch(
    program: &str,
    args: &[&str],
    log: &Path,
    port: u16,
    timeout: Duration,
) -> Result<Guarded, StartFailure> {
    let mut command = Command::new(program);
    command.args(args);
    let mut guarded = spawn(command, log);
    let deadline = Instant::now() + timeout;
    loop {
        if listening_ports(guarded.0.id()).contains(&port) {
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
pub(crate) const TCP_CLOSE_WAIT: &str = "08";

/// One row of `/proc/net/tcp` or `/proc/net/tcp6`.
struct Socket {
    port: u16,
    loopback_v4: bool,
    state: String,
    inode: String,
}

/// Every TCP socket of the network namespace, IPv4 and IPv6.
fn sockets() -> Vec<Socket> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .flat_map(|table| {
            let table = std::fs::read_to_string(table).unwrap_or_default();
            // Columns: sl, local_address, rem_address, st, tx:rx queues,
            // tr:when, retrnsmt, uid, timeout, inode.
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let columns: Vec<&str> = line.split_whitespace().collect();
                    if columns.len() <= 9 {
                        return None;
                    }
                    let (address, port) = columns[1].split_once(':')?;
                    Some(Socket {
                        port: u16::from_str_radix(port, 16).ok()?,
                        loopback_v4: address == "0100007F",
                        state: columns[3].to_owned(),
                        inode: columns[9].to_owned(),
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The states of the IPv4 sockets whose local address is 127.0.0.1:`port`.
pub(crate) fn loopback_socket_states(port: u16) -> Vec<String> {
    sockets()
        .into_iter()
        .filter(|socket| socket.loopback_v4 && socket.port == port)
        .map(|socket| socket.state)
        .collect()
}

/// The ports process `pid` listens on (TCP, any address): the listening
/// sockets among its descriptors in `/proc/<pid>/fd`, sorted.
pub fn listening_ports(pid: u32) -> Vec<u16> {
    let Ok(descriptors) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let held: Vec<String> = descriptors
        .flatten()
        .filter_map(|descriptor| std::fs::read_link(descriptor.path()).ok())
        .map(|target| target.to_string_lossy().into_owned())
        .collect();
    let mut ports: Vec<u16> = sockets()
        .into_iter()
        .filter(|socket| {
            socket.state == TCP_LISTEN && held.contains(&format!("socket:[{}]", socket.inode))
        })
        .map(|socket| socket.port)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}
