//! Registration in etcd, laid out exactly like kitex-contrib/registry-etcd so
//! that Kitex resolvers (the gateway with `RPC_DISCOVERY=etcd`) find us:
//!
//! - key `kitex/registry-etcd/<service name>/<host:port>`
//! - value `{"network":"tcp","address":"<host:port>","weight":10,"tags":null}`
//! - attached to a lease (TTL 60 s, `KITEX_ETCD_REGISTRY_LEASE_TTL`) that is
//!   kept alive every TTL/3.
//!
//! The registration runs in its own task and never stops the server. Every
//! wait on etcd has a deadline derived from the lease TTL, so a half-open
//! connection (the peer silent, no reset ever coming) cannot stall it:
//!
//! - one registration attempt (connect, lease grant, put, opening the
//!   keep-alive stream) must finish within TTL/3;
//! - a keep-alive goes out every TTL/3 and its answer must come within TTL/3.
//!
//! Sending every TTL/3 and waiting at most TTL/3 leaves the last third of the
//! TTL to register again before the old lease runs out: when only the
//! connection died, the key does not even disappear.
//!
//! On any failure (a deadline missed, an error, the stream closed, or etcd
//! answering TTL 0 because the lease expired or was revoked) the connection is
//! dropped and registration starts from scratch: new connection, new lease,
//! put. Retries back off from 250 ms up to TTL/3 (at least 1 s, at most 10 s).
//! The log gets one line per state change (registered, lost, lease presumed
//! expired, registered again) and, while registration keeps failing, a summary
//! once a minute; single retries are logged at debug level only.
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use etcd_client::{Client, ConnectOptions, LeaseKeepAliveStream, LeaseKeeper, PutOptions};
use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const KEY_PREFIX: &str = "kitex/registry-etcd";
const DEFAULT_WEIGHT: i32 = 10;
/// The first delay before retrying; it doubles up to [`Timing::max_backoff`].
const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// The largest delay between attempts is TTL/3 kept within these bounds.
const MAX_BACKOFF_FLOOR: Duration = Duration::from_secs(1);
const MAX_BACKOFF_CEILING: Duration = Duration::from_secs(10);
/// How long deleting the key may take at shutdown.
const DEREGISTER_TIMEOUT: Duration = Duration::from_secs(3);
/// While registration keeps failing, one summary line this often.
const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// What to register and where.
#[derive(Debug, Clone)]
pub struct Registration {
    pub endpoints: Vec<String>,
    pub service_name: String,
    pub address: String,
    pub lease_ttl: i64,
}

/// The value registry-etcd writes; field order and names are its JSON.
#[derive(Serialize)]
struct Instance<'a> {
    network: &'a str,
    address: &'a str,
    weight: i32,
    tags: Option<std::collections::HashMap<String, String>>,
}

impl Registration {
    pub fn key(&self) -> String {
        format!("{KEY_PREFIX}/{}/{}", self.service_name, self.address)
    }

    pub fn value(&self) -> String {
        let instance = Instance {
            network: "tcp",
            address: &self.address,
            weight: DEFAULT_WEIGHT,
            tags: None,
        };
        serde_json::to_string(&instance).unwrap_or_default()
    }
}

/// The address other machines should dial: `explicit` if given, else the
/// listen address, with an unspecified IP (0.0.0.0) replaced by the first
/// non-loopback IPv4 address of this host, as Kitex does.
pub fn advertise_address(listen: SocketAddr, explicit: Option<&str>) -> String {
    if let Some(explicit) = explicit.map(str::trim).filter(|addr| !addr.is_empty()) {
        return explicit.to_owned();
    }
    if !listen.ip().is_unspecified() {
        return listen.to_string();
    }
    let ip = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|interface| !interface.is_loopback())
        .find_map(|interface| match interface.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .unwrap_or(Ipv4Addr::LOCALHOST);
    SocketAddr::new(IpAddr::V4(ip), listen.port()).to_string()
}

/// Whether our key is in etcd right now (registered and kept alive), for
/// readiness checks and metrics; cheap to clone and to read.
#[derive(Debug, Clone, Default)]
pub struct RegistrationState(Arc<AtomicBool>);

impl RegistrationState {
    pub fn is_registered(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, registered: bool) {
        self.0.store(registered, Ordering::Relaxed);
    }
}

/// A running registration; [`Registrar::deregister`] removes it.
pub struct Registrar {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    state: RegistrationState,
}

impl Registrar {
    /// Starts registering in the background; returns at once.
    pub fn spawn(registration: Registration) -> Registrar {
        tracing::info!(
            key = %registration.key(),
            endpoints = ?registration.endpoints,
            "registering in etcd"
        );
        let (stop, stopped) = oneshot::channel();
        let state = RegistrationState::default();
        let task = tokio::spawn(run(registration, stopped, state.clone()));
        Registrar { stop, task, state }
    }

    /// The registration state, updated as registration succeeds and fails.
    pub fn state(&self) -> RegistrationState {
        self.state.clone()
    }

    /// Deletes the key and revokes the lease, giving etcd a few seconds at
    /// most: shutting down must not hang on an unreachable etcd.
    pub async fn deregister(self) {
        let _ = self.stop.send(());
        if tokio::time::timeout(DEREGISTER_TIMEOUT * 2, self.task)
            .await
            .is_err()
        {
            tracing::warn!("etcd deregistration timed out; the key expires with its lease");
        }
    }
}

/// The deadlines, all derived from the lease TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timing {
    /// TTL/3: the keep-alive period, the time its answer may take, and the
    /// time one registration attempt may take.
    step: Duration,
    /// The largest delay between two attempts.
    max_backoff: Duration,
}

impl Timing {
    fn new(lease_ttl: i64) -> Timing {
        let ttl = Duration::from_secs(u64::try_from(lease_ttl).unwrap_or(0).max(1));
        let step = ttl / 3;
        Timing {
            step,
            max_backoff: step.clamp(MAX_BACKOFF_FLOOR, MAX_BACKOFF_CEILING),
        }
    }
}

/// Why a registration attempt or a keep-alive session ended.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{step}: no answer within {budget:?}")]
    Timeout {
        step: &'static str,
        budget: Duration,
    },
    #[error("{step}: {source}")]
    Etcd {
        step: &'static str,
        source: etcd_client::Error,
    },
    #[error("keep-alive: etcd closed the stream")]
    StreamClosed,
    #[error("keep-alive: etcd says lease {0} is gone (expired or revoked)")]
    LeaseGone(i64),
}

/// A point in time every step of one attempt must finish by.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    at: Instant,
    budget: Duration,
}

impl Deadline {
    fn after(budget: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + budget,
            budget,
        }
    }

    async fn run<T>(
        self,
        step: &'static str,
        work: impl Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout_at(self.at, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(Failure::Etcd { step, source }),
            Err(_) => Err(Failure::Timeout {
                step,
                budget: self.budget,
            }),
        }
    }
}

/// A registration in place: its own connection, the lease holding the key,
/// and the lease's keep-alive stream. Dropping it drops the connection.
struct Session {
    client: Client,
    lease: i64,
    ttl: i64,
    keeper: LeaseKeeper,
    responses: LeaseKeepAliveStream,
}

/// What the log last said, so that each state change is logged once.
enum Status {
    /// No attempt has finished yet.
    Starting,
    Registered {
        lease: i64,
    },
    Failing {
        /// Whether a registration was in place before (then it was lost).
        was_registered: bool,
        since: Instant,
        attempts: u64,
        last_line: Instant,
    },
}

/// The registration task's state.
struct Worker {
    registration: Registration,
    key: String,
    timing: Timing,
    status: Status,
    /// The latest time a key of ours may still be in etcd if nothing is
    /// kept alive any more: the expiry of the lease that may hold it, counted
    /// from when etcd's answer arrived (etcd counts from before, so this is
    /// never early). `None` when no key of ours can be there.
    key_alive_until: Option<Instant>,
}

impl Worker {
    fn new(registration: Registration) -> Worker {
        Worker {
            key: registration.key(),
            timing: Timing::new(registration.lease_ttl),
            registration,
            status: Status::Starting,
            key_alive_until: None,
        }
    }

    fn connect_options(&self) -> ConnectOptions {
        ConnectOptions::new()
            .with_connect_timeout(self.timing.step)
            .with_timeout(self.timing.step)
    }

    fn key_may_live_until(&mut self, until: Instant) {
        self.key_alive_until = Some(self.key_alive_until.map_or(until, |known| known.max(until)));
    }

    /// One attempt from scratch on a new connection: grant a lease, put the
    /// key with it and open the keep-alive stream, all within TTL/3.
    async fn register(&mut self) -> Result<Session, Failure> {
        let deadline = Deadline::after(self.timing.step);
        let options = self.connect_options();
        let mut client = deadline
            .run(
                "connect",
                Client::connect(&self.registration.endpoints, Some(options)),
            )
            .await?;
        let grant = deadline
            .run(
                "lease grant",
                client.lease_grant(self.registration.lease_ttl, None),
            )
            .await?;
        let (lease, ttl) = (grant.id(), grant.ttl());
        // From here on the put may land, and the key then lives as long as
        // this lease unless it is kept alive.
        self.key_may_live_until(Instant::now() + seconds(ttl));
        deadline
            .run(
                "put",
                client.put(
                    self.key.as_str(),
                    self.registration.value(),
                    Some(PutOptions::new().with_lease(lease)),
                ),
            )
            .await?;
        // Opening the stream sends a first keep-alive and waits for its answer.
        let (keeper, responses) = deadline
            .run("keep-alive", client.lease_keep_alive(lease))
            .await?;
        self.key_may_live_until(Instant::now() + seconds(ttl));
        Ok(Session {
            client,
            lease,
            ttl,
            keeper,
            responses,
        })
    }

    /// Keeps the session's lease alive: a keep-alive every TTL/3, each
    /// answered within TTL/3. Returns only when that fails.
    async fn keep_alive(&mut self, session: &mut Session) -> Failure {
        let mut next = Instant::now() + self.timing.step;
        loop {
            tokio::time::sleep_until(next).await;
            next += self.timing.step;
            let deadline = Deadline::after(self.timing.step);
            if let Err(failure) = deadline
                .run("keep-alive", session.keeper.keep_alive())
                .await
            {
                return failure;
            }
            let answer = match deadline
                .run("keep-alive", session.responses.message())
                .await
            {
                Ok(Some(answer)) => answer,
                Ok(None) => return Failure::StreamClosed,
                Err(failure) => return failure,
            };
            if answer.ttl() <= 0 {
                // The key went with the lease.
                self.key_alive_until = None;
                return Failure::LeaseGone(session.lease);
            }
            self.key_may_live_until(Instant::now() + seconds(answer.ttl()));
        }
    }

    fn registered(&mut self, session: &Session) {
        let (key, lease, ttl) = (&self.key, session.lease, session.ttl);
        match self.status {
            Status::Failing {
                was_registered: true,
                since,
                attempts,
                ..
            } => tracing::info!(
                %key,
                lease,
                ttl,
                failed_attempts = attempts,
                failing_for = ?since.elapsed(),
                "registered in etcd again"
            ),
            Status::Failing {
                was_registered: false,
                attempts,
                ..
            } => tracing::info!(
                %key,
                lease,
                ttl,
                failed_attempts = attempts,
                "registered in etcd"
            ),
            Status::Starting | Status::Registered { .. } => {
                tracing::info!(%key, lease, ttl, "registered in etcd")
            }
        }
        self.status = Status::Registered { lease };
    }

    fn failed(&mut self, failure: &Failure) {
        let now = Instant::now();
        let key = &self.key;
        match &mut self.status {
            Status::Failing {
                since,
                attempts,
                last_line,
                ..
            } => {
                *attempts += 1;
                tracing::debug!(%key, error = %failure, "etcd registration attempt failed");
                if now.duration_since(*last_line) >= SUMMARY_EVERY {
                    *last_line = now;
                    tracing::warn!(
                        %key,
                        failed_attempts = *attempts,
                        failing_for = ?now.duration_since(*since),
                        last_error = %failure,
                        "etcd registration still failing; retrying"
                    );
                }
            }
            Status::Registered { lease } => {
                tracing::warn!(
                    %key,
                    lease = *lease,
                    error = %failure,
                    "etcd registration lost; registering again on a new connection"
                );
                self.status = Status::Failing {
                    was_registered: true,
                    since: now,
                    attempts: 1,
                    last_line: now,
                };
            }
            Status::Starting => {
                tracing::warn!(
                    %key,
                    error = %failure,
                    "etcd registration failed; retrying with backoff"
                );
                self.status = Status::Failing {
                    was_registered: false,
                    since: now,
                    attempts: 1,
                    last_line: now,
                };
            }
        }
        if self.key_alive_until.is_some_and(|until| until <= now) {
            self.key_alive_until = None;
            tracing::warn!(
                key = %self.key,
                "etcd lease presumed expired: the key is gone from etcd until registration succeeds"
            );
        }
    }

    /// Deletes the key (and revokes the session's lease), within
    /// [`DEREGISTER_TIMEOUT`]. Without a session, a key a lost session left
    /// behind may still be there until its lease runs out: it is deleted
    /// over a new connection rather than left for clients to dial.
    async fn deregister(&self, session: Option<Session>) {
        let key = self.key.as_str();
        let has_key = session.is_some()
            || self
                .key_alive_until
                .is_some_and(|until| until > Instant::now());
        if !has_key {
            return;
        }
        let removal = async {
            match session {
                Some(Session {
                    mut client, lease, ..
                }) => {
                    client.delete(key, None).await?;
                    client.lease_revoke(lease).await?;
                }
                None => {
                    let options = self.connect_options();
                    let mut client =
                        Client::connect(&self.registration.endpoints, Some(options)).await?;
                    client.delete(key, None).await?;
                }
            }
            Ok::<(), etcd_client::Error>(())
        };
        match tokio::time::timeout(DEREGISTER_TIMEOUT, removal).await {
            Ok(Ok(())) => tracing::info!(%key, "deregistered from etcd"),
            Ok(Err(err)) => tracing::warn!(%key, error = %err, "etcd deregistration failed"),
            Err(_) => tracing::warn!(%key, "etcd deregistration timed out"),
        }
    }
}

fn seconds(ttl: i64) -> Duration {
    Duration::from_secs(u64::try_from(ttl).unwrap_or(0))
}

async fn run(
    registration: Registration,
    mut stopped: oneshot::Receiver<()>,
    state: RegistrationState,
) {
    let mut worker = Worker::new(registration);
    let mut backoff = MIN_BACKOFF;
    loop {
        let attempt = tokio::select! {
            _ = &mut stopped => None,
            attempt = worker.register() => Some(attempt),
        };
        let Some(attempt) = attempt else { break };
        match attempt {
            Ok(mut session) => {
                worker.registered(&session);
                state.set(true);
                backoff = MIN_BACKOFF;
                let failure = tokio::select! {
                    _ = &mut stopped => None,
                    failure = worker.keep_alive(&mut session) => Some(failure),
                };
                state.set(false);
                let Some(failure) = failure else {
                    worker.deregister(Some(session)).await;
                    return;
                };
                // The connection goes with the session: a half-open one
                // never recovers, so the next attempt starts from scratch.
                drop(session);
                worker.failed(&failure);
            }
            Err(failure) => worker.failed(&failure),
        }
        tokio::select! {
            _ = &mut stopped => break,
            _ = tokio::time::sleep(jittered(backoff)) => {}
        }
        backoff = (backoff * 2).min(worker.timing.max_backoff);
    }
    worker.deregister(None).await;
}

/// Between half of `backoff` and all of it, at random: replicas that lost
/// etcd together (a restart, a partition) do not all retry in step.
fn jittered(backoff: Duration) -> Duration {
    backoff / 2 + backoff.mul_f64(fastrand::f64()) / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_to_whole_backoff() {
        let backoff = Duration::from_millis(800);
        let pauses: Vec<Duration> = (0..200).map(|_| jittered(backoff)).collect();
        assert!(
            pauses
                .iter()
                .all(|pause| (backoff / 2..=backoff).contains(pause))
        );
        assert!(pauses.iter().any(|pause| *pause != pauses[0]), "it varies");
    }

    #[test]
    fn key_and_value_are_registry_etcd_layout() {
        let registration = Registration {
            endpoints: vec![],
            service_name: "demo.rpc.server".into(),
            address: "10.0.0.7:8888".into(),
            lease_ttl: 60,
        };
        assert_eq!(
            registration.key(),
            "kitex/registry-etcd/demo.rpc.server/10.0.0.7:8888"
        );
        assert_eq!(
            registration.value(),
            r#"{"network":"tcp","address":"10.0.0.7:8888","weight":10,"tags":null}"#
        );
    }

    #[test]
    fn advertise_address_prefers_explicit_then_listen() {
        let listen: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        assert_eq!(advertise_address(listen, Some("rpc:1")), "rpc:1");
        assert_eq!(advertise_address(listen, Some(" ")), "127.0.0.1:9000");
        assert_eq!(advertise_address(listen, None), "127.0.0.1:9000");
        let any: SocketAddr = "0.0.0.0:8888".parse().unwrap();
        let chosen = advertise_address(any, None);
        assert!(chosen.ends_with(":8888"));
        assert!(!chosen.starts_with("0.0.0.0"), "{chosen}");
    }

    #[test]
    fn deadlines_follow_the_lease_ttl() {
        let default = Timing::new(60);
        assert_eq!(default.step, Duration::from_secs(20));
        assert_eq!(default.max_backoff, Duration::from_secs(10));
        let short = Timing::new(3);
        assert_eq!(short.step, Duration::from_secs(1));
        assert_eq!(short.max_backoff, Duration::from_secs(1));
        let shortest = Timing::new(1);
        assert_eq!(shortest.step, Duration::from_secs(1) / 3);
        assert_eq!(shortest.max_backoff, Duration::from_secs(1));
        assert_eq!(Timing::new(0), shortest, "a TTL below 1 s counts as 1 s");
    }

    #[test]
    fn failures_say_which_step_failed() {
        let timeout = Failure::Timeout {
            step: "keep-alive",
            budget: Duration::from_secs(1),
        };
        assert_eq!(timeout.to_string(), "keep-alive: no answer within 1s");
        assert_eq!(
            Failure::LeaseGone(7).to_string(),
            "keep-alive: etcd says lease 7 is gone (expired or revoked)"
        );
    }
}
