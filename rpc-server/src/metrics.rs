//! Request metrics as a Volo layer around the service, so the handler stays
//! free of them, and the Prometheus registry the admin listener serves.
//!
//! Every labelled series is created up front and kept as a handle, so a
//! request costs a few atomic operations and one histogram update: no label
//! formatting, no map lookup, no allocation. Values that live elsewhere
//! (connections, etcd registration) are read when `/metrics` is scraped.
//!
//! What failed in a call is not in its response (a storage failure is a
//! code 500 with a message), so the handler notes the failure's
//! [`ErrorKind`] with [`note_failure`] in a slot this layer opens for each
//! call: metrics never read an error's text.
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Instant;

use im_idl::rpc::{
    ImServicePullResultSend, ImServiceRequestRecv, ImServiceResponseSend, ImServiceSendResultSend,
};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use volo::{Layer, Service};
use volo_thrift::ServerError;
use volo_thrift::context::ServerContext;

use crate::admin::StorageProbe;
use crate::error::{CODE_BAD_REQUEST, CODE_INTERNAL, CODE_OK, ErrorKind};
use crate::net::Connections;
use crate::registry::RegistrationState;

/// Upper bounds of the latency buckets, in seconds: 100 µs to 2.5 s, around
/// the 800 ms storage timeout and the gateway's 1 s RPC timeout.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

const METHODS: [&str; 2] = ["Send", "Pull"];
/// Response codes as labels; `exception` is a call that ended in a Thrift
/// exception instead of a response.
const CODES: [&str; 5] = ["0", "400", "500", "other", "exception"];
/// What failed in storage, as labels.
const STORAGE_FAILURES: [(&str, ErrorKind); 3] = [
    ("timeout", ErrorKind::StorageTimeout),
    ("unavailable", ErrorKind::StorageUnavailable),
    ("error", ErrorKind::Storage),
];

tokio::task_local! {
    /// The failure of the call being measured, noted by the handler.
    static FAILURE: Cell<Option<ErrorKind>>;
}

/// Notes what kind of failure the current call ended in, for the metrics
/// layer around it; does nothing when the call is not measured.
pub fn note_failure(kind: ErrorKind) {
    let _ = FAILURE.try_with(|failure| failure.set(Some(kind)));
}

type Labels2 = [(&'static str, &'static str); 2];
type Labels1 = [(&'static str, &'static str); 1];

/// Handles of one method's series.
struct MethodMetrics {
    by_code: [Counter; CODES.len()],
    latency: Histogram,
    storage: [Counter; STORAGE_FAILURES.len()],
}

/// The server's metrics and the registry that exposes them.
pub struct Metrics {
    registry: Registry,
    methods: [MethodMetrics; METHODS.len()],
    in_flight: Gauge<i64, AtomicI64>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl Metrics {
    /// Registers every metric. `connections`, `registration` and `store` are
    /// read at each scrape; `registration` is `None` when etcd is not
    /// configured.
    pub fn new(
        connections: Arc<Connections>,
        registration: Option<RegistrationState>,
        store: StorageProbe,
    ) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<Labels2, Counter>::default();
        let latency = Family::<Labels1, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let storage = Family::<Labels2, Counter>::default();
        let in_flight = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "rpc_requests",
            "Requests answered, by method and response code",
            requests.clone(),
        );
        registry.register(
            "rpc_request_duration_seconds",
            "Time from a decoded request to its response, by method",
            latency.clone(),
        );
        registry.register(
            "rpc_requests_in_flight",
            "Requests being handled now",
            in_flight.clone(),
        );
        registry.register(
            "rpc_storage_errors",
            "Requests that failed in storage, by method and kind (timeout, unavailable, error)",
            storage.clone(),
        );
        registry.register_collector(Box::new(Scraped {
            connections,
            registration,
            store,
        }));

        let methods = METHODS.map(|method| MethodMetrics {
            by_code: CODES.map(|code| {
                requests
                    .get_or_create(&[("method", method), ("code", code)])
                    .clone()
            }),
            latency: latency.get_or_create(&[("method", method)]).clone(),
            storage: STORAGE_FAILURES.map(|(kind, _)| {
                storage
                    .get_or_create(&[("method", method), ("kind", kind)])
                    .clone()
            }),
        });
        Metrics {
            registry,
            methods,
            in_flight,
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(8 * 1024);
        if let Err(err) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!(error = %err, "encoding metrics failed");
        }
        text
    }

    fn record(&self, method: usize, outcome: Outcome, started: Instant) {
        let metrics = &self.methods[method];
        metrics.latency.observe(started.elapsed().as_secs_f64());
        let code = match outcome {
            Outcome::Response { code: CODE_OK, .. } => 0,
            Outcome::Response {
                code: CODE_BAD_REQUEST,
                ..
            } => 1,
            Outcome::Response {
                code: CODE_INTERNAL,
                ..
            } => 2,
            Outcome::Response { .. } => 3,
            Outcome::Exception => 4,
        };
        metrics.by_code[code].inc();
        if let Outcome::Response {
            failure: Some(failure),
            ..
        } = outcome
            && let Some(kind) = STORAGE_FAILURES
                .iter()
                .position(|(_, kind)| *kind == failure)
        {
            metrics.storage[kind].inc();
        }
    }
}

enum Outcome {
    Response {
        code: i32,
        failure: Option<ErrorKind>,
    },
    Exception,
}

/// Series whose values are kept elsewhere, read at each scrape.
#[derive(Debug)]
struct Scraped {
    connections: Arc<Connections>,
    registration: Option<RegistrationState>,
    store: StorageProbe,
}

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let open = ConstGauge::new(self.connections.open() as i64);
        open.encode(encoder.encode_descriptor(
            "rpc_connections_open",
            "Client connections open now",
            None,
            open.metric_type(),
        )?)?;
        let refused = ConstCounter::new(self.connections.refused());
        refused.encode(encoder.encode_descriptor(
            "rpc_connections_refused",
            "Client connections closed on arrival because the connection limit was reached",
            None,
            refused.metric_type(),
        )?)?;
        let connected = ConstGauge::new(i64::from(self.store.connected()));
        connected.encode(encoder.encode_descriptor(
            "rpc_storage_connected",
            "1 while a connection to the store (Redis) is up, else 0",
            None,
            connected.metric_type(),
        )?)?;
        if let Some(registration) = &self.registration {
            let registered = ConstGauge::new(i64::from(registration.is_registered()));
            registered.encode(encoder.encode_descriptor(
                "rpc_etcd_registered",
                "1 while this server's key is registered in etcd, else 0",
                None,
                registered.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

/// The layer: measures every call when given metrics, else passes through.
#[derive(Clone)]
pub struct MetricsLayer(Option<Arc<Metrics>>);

impl MetricsLayer {
    pub fn new(metrics: Option<Arc<Metrics>>) -> MetricsLayer {
        MetricsLayer(metrics)
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = Measured<S>;

    fn layer(self, inner: S) -> Measured<S> {
        Measured {
            inner,
            metrics: self.0,
        }
    }
}

/// The service the layer produces.
pub struct Measured<S> {
    inner: S,
    metrics: Option<Arc<Metrics>>,
}

/// Keeps the in-flight gauge right even when a call is dropped midway.
struct InFlight<'a>(&'a Gauge<i64, AtomicI64>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl<S> Service<ServerContext, ImServiceRequestRecv> for Measured<S>
where
    S: Service<
            ServerContext,
            ImServiceRequestRecv,
            Response = ImServiceResponseSend,
            Error = ServerError,
        > + Send
        + Sync,
{
    type Response = ImServiceResponseSend;
    type Error = ServerError;

    async fn call(
        &self,
        cx: &mut ServerContext,
        req: ImServiceRequestRecv,
    ) -> Result<ImServiceResponseSend, ServerError> {
        let Some(metrics) = self.metrics.as_deref() else {
            return self.inner.call(cx, req).await;
        };
        let method = match req {
            ImServiceRequestRecv::Send(_) => 0,
            ImServiceRequestRecv::Pull(_) => 1,
        };
        let started = Instant::now();
        metrics.in_flight.inc();
        let _in_flight = InFlight(&metrics.in_flight);
        let (result, failure) = FAILURE
            .scope(Cell::new(None), async {
                let result = self.inner.call(cx, req).await;
                (result, FAILURE.with(Cell::get))
            })
            .await;
        let outcome = match &result {
            Ok(ImServiceResponseSend::Send(ImServiceSendResultSend::Ok(response))) => {
                Outcome::Response {
                    code: response.code,
                    failure,
                }
            }
            Ok(ImServiceResponseSend::Pull(ImServicePullResultSend::Ok(response))) => {
                Outcome::Response {
                    code: response.code,
                    failure,
                }
            }
            Err(_) => Outcome::Exception,
        };
        metrics.record(method, outcome, started);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> Metrics {
        Metrics::new(
            Arc::new(Connections::new(10)),
            None,
            StorageProbe::new(|| true),
        )
    }

    #[test]
    fn every_series_is_exposed_from_the_start() {
        let text = metrics().encode();
        for line in [
            r#"rpc_requests_total{method="Send",code="0"} 0"#,
            r#"rpc_requests_total{method="Pull",code="500"} 0"#,
            r#"rpc_request_duration_seconds_count{method="Send"} 0"#,
            r#"rpc_storage_errors_total{method="Pull",kind="timeout"} 0"#,
            "rpc_requests_in_flight 0",
            "rpc_connections_open 0",
            "rpc_connections_refused_total 0",
            "rpc_storage_connected 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(!text.contains("rpc_etcd_registered"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn outcomes_count_by_code_and_storage_kind() {
        let metrics = metrics();
        let now = Instant::now();
        metrics.record(
            0,
            Outcome::Response {
                code: 0,
                failure: None,
            },
            now,
        );
        metrics.record(
            1,
            Outcome::Response {
                code: 400,
                failure: Some(ErrorKind::InvalidArgument),
            },
            now,
        );
        let timeout = Outcome::Response {
            code: 500,
            failure: Some(ErrorKind::StorageTimeout),
        };
        metrics.record(1, timeout, now);
        metrics.record(0, Outcome::Exception, now);
        let text = metrics.encode();
        for line in [
            r#"rpc_requests_total{method="Send",code="0"} 1"#,
            r#"rpc_requests_total{method="Send",code="exception"} 1"#,
            r#"rpc_requests_total{method="Pull",code="400"} 1"#,
            r#"rpc_requests_total{method="Pull",code="500"} 1"#,
            r#"rpc_storage_errors_total{method="Pull",kind="timeout"} 1"#,
            r#"rpc_storage_errors_total{method="Pull",kind="error"} 0"#,
            r#"rpc_request_duration_seconds_count{method="Pull"} 2"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
