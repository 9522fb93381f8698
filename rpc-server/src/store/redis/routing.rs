//! Getting a command to the node that runs it, and saying what happened when
//! it did not: Redis Cluster redirections are followed here (not by fred),
//! and every fred error becomes one of ours, by whether the command may have
//! run.
use std::time::{Duration, Instant};

use fred::prelude::{Error as RedisError, ErrorKind, Options};

use crate::error::Error;

/// Sends a command again while Redis Cluster redirects it, until `budget`
/// is spent; each try gets what is left of it as its timeout.
///
/// fred is told not to follow `MOVED` and `ASK` itself (`max_redirections =
/// 0`): fred 10.1.0 follows an `ASK` by sending `ASKING` on the shared,
/// pipelined connection and taking the next reply there as its answer, which
/// belongs to another command in flight, so every command behind it gets its
/// neighbour's reply (seen while resharding: a Send answered with a Pull's
/// array, another with `ASKING`'s "OK"). With one write attempt it instead
/// ended the client's connection task. A redirected command did not run, so
/// sending it again is safe for a Send too. After `MOVED` fred has refreshed
/// its slot map and the next try reaches the new owner; `ASK` lasts while
/// one slot's keys migrate, so tries back off from 1 ms to 50 ms.
pub(super) async fn following_redirections<T, F, Fut>(
    budget: Duration,
    mut call: F,
) -> std::result::Result<T, RedisError>
where
    F: FnMut(Options) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, RedisError>>,
{
    let deadline = Instant::now() + budget;
    let mut pause = Duration::from_millis(1);
    let mut options = Options::default();
    loop {
        match call(options.clone()).await {
            Err(err) if is_redirection(&err) => {
                let left = deadline.saturating_duration_since(Instant::now() + pause);
                if left.is_zero() {
                    return Err(err);
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(50));
                options.timeout = Some(left);
            }
            result => return result,
        }
    }
}

/// The script is not loaded on the node that got the `EVALSHA`: it did not run.
pub(super) fn is_noscript(err: &RedisError) -> bool {
    err.details().starts_with("NOSCRIPT")
}

/// fred's answer to a `MOVED` or `ASK` it was told not to follow.
fn is_redirection(err: &RedisError) -> bool {
    *err.kind() == ErrorKind::Routing && err.details().starts_with("Too many redirections")
}

/// Redis did not run the command: fred refused it (backpressure) or found
/// no connection for it ("Failed to route command.", kind `Unknown` or
/// `Routing` depending on fred's features), or the cluster refused it.
fn never_ran(err: &RedisError) -> bool {
    matches!(err.kind(), ErrorKind::Backpressure | ErrorKind::Routing)
        || err.details().starts_with("Failed to route command")
        || err.details().starts_with("CLUSTERDOWN")
}

/// Redis refused a write because it reached `maxmemory` under the
/// `noeviction` policy. The append script's first write is its `ZADD`, so
/// the refusal comes before anything of the Send was stored.
fn is_out_of_memory(err: &RedisError) -> bool {
    err.details().contains("OOM command not allowed")
}

/// Maps a fred error to ours. Redis never saw a command that fred refused
/// (backpressure) or that found no connection, and did not run one it
/// redirected or refused while the cluster is down: "unavailable". A command
/// that was sent and got no answer, or lost its connection, may have run:
/// "timeout", with `outcome` saying what that means for the caller.
/// Anything Redis itself answered is passed on (it never contains the URL or
/// password).
pub(super) fn command_error(err: RedisError, outcome: &str) -> Error {
    match err.kind() {
        _ if is_redirection(&err) => Error::StorageUnavailable(
            "Redis Cluster kept redirecting the command (its slot is moving)".into(),
        ),
        _ if never_ran(&err) => Error::StorageUnavailable(format!("Redis {}", err.details())),
        _ if is_out_of_memory(&err) => Error::Storage(
            "Redis is full (maxmemory reached, eviction off): nothing was stored".into(),
        ),
        // fred's text for these is the io::Error's Debug form.
        ErrorKind::IO => Error::StorageTimeout(format!(
            "{outcome} (the connection to Redis dropped before the answer)"
        )),
        ErrorKind::Timeout | ErrorKind::Canceled => Error::StorageTimeout(format!(
            "{outcome} (Redis did not answer: {})",
            err.details()
        )),
        _ => Error::Storage(format!("Redis: {}", err.details())),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn redirected() -> RedisError {
        RedisError::new(ErrorKind::Routing, "Too many redirections.")
    }

    #[tokio::test]
    async fn a_redirected_command_is_sent_again_until_it_runs() {
        let calls = AtomicUsize::new(0);
        let result = following_redirections(Duration::from_secs(1), |options| {
            let call = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                // Every try after the first gets what is left of the budget.
                assert_eq!(options.timeout.is_some(), call > 0);
                if call < 3 {
                    Err(redirected())
                } else {
                    Ok(call)
                }
            }
        })
        .await;
        assert_eq!(result.unwrap(), 3);
    }

    #[tokio::test]
    async fn redirections_stop_when_the_budget_is_spent() {
        let calls = AtomicUsize::new(0);
        let started = Instant::now();
        let result: std::result::Result<(), _> =
            following_redirections(Duration::from_millis(60), |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(redirected()) }
            })
            .await;
        assert!(is_redirection(&result.unwrap_err()));
        // Bounded by the budget (and a busy machine's timer slack).
        assert!(started.elapsed() < Duration::from_secs(1));
        // Pauses of 1, 2, 4, 8, 16 ms, then 32 would pass the 60 ms: at most
        // six tries, fewer if the timer runs late.
        assert!((2..=6).contains(&calls.load(Ordering::SeqCst)));
    }

    #[tokio::test]
    async fn other_errors_are_not_sent_again() {
        let calls = AtomicUsize::new(0);
        let result: std::result::Result<(), _> =
            following_redirections(Duration::from_secs(1), |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(RedisError::new(ErrorKind::IO, "Connection Closed")) }
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn errors_say_whether_the_command_may_have_run() {
        let sent = "the message may have been stored";
        let unavailable = [
            redirected(),
            RedisError::new(ErrorKind::Routing, "Failed to route command."),
            RedisError::new(ErrorKind::Unknown, "Failed to route command."),
            RedisError::new(ErrorKind::Backpressure, "Max in-flight commands reached."),
            RedisError::new(ErrorKind::Cluster, "CLUSTERDOWN The cluster is down"),
        ];
        for err in unavailable {
            let mapped = command_error(err.clone(), sent);
            assert!(
                matches!(mapped, Error::StorageUnavailable(_)),
                "{err:?} -> {mapped}"
            );
        }
        let io = command_error(RedisError::new(ErrorKind::IO, "Os { code: 104 }"), sent);
        assert!(matches!(io, Error::StorageTimeout(_)));
        assert!(io.to_string().contains(sent));
        assert!(!io.to_string().contains("Os {"), "{io}");
        let timeout = command_error(
            RedisError::new(ErrorKind::Timeout, "Request timed out."),
            sent,
        );
        assert!(matches!(timeout, Error::StorageTimeout(_)));
        let full = command_error(
            RedisError::new(
                ErrorKind::Unknown,
                "OOM command not allowed when used memory > 'maxmemory'. script: 1f0c, on @user_script:11.",
            ),
            sent,
        );
        assert_eq!(
            full.to_string(),
            "storage error: Redis is full (maxmemory reached, eviction off): nothing was stored"
        );
    }
}
