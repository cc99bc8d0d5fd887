//! The edge's Prometheus metrics: lock-free counters the request path bumps, and their
//! exposition (OpenMetrics text, via `prometheus-client`) with what is read at scrape time.
//!
//! Labelled series are fixed arrays indexed by enums rather than `prometheus-client`'s `Family`
//! and `Histogram`, which take a lock per update: a request costs a few relaxed atomic adds.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// What kind of request the edge answered; the label `route` of the request metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// Long-poll `/sync` (sliding sync included): its latency is the poll's wait.
    ClientSync,
    /// Sending an event or state into a room.
    ClientSend,
    /// The media repository (uploads, downloads, thumbnails).
    Media,
    /// The rest of the client-server API.
    Client,
    /// Server-server API and key queries.
    Federation,
    /// `/_synapse/admin`, allowed or refused.
    Admin,
    /// `/_synapse/client` (SSO, password reset pages).
    SynapseClient,
    WellKnown,
    /// The edge's own pages: onboarding, invites and their assets.
    Landing,
    /// Element Web's files and its config, on the web client's name.
    WebClient,
    /// Anything else on :443: a 404.
    Other,
    /// The plain-HTTP listener: ACME challenges and redirects.
    PlainHttp,
}

impl RouteClass {
    const ALL: [RouteClass; 12] = [
        RouteClass::ClientSync,
        RouteClass::ClientSend,
        RouteClass::Media,
        RouteClass::Client,
        RouteClass::Federation,
        RouteClass::Admin,
        RouteClass::SynapseClient,
        RouteClass::WellKnown,
        RouteClass::Landing,
        RouteClass::WebClient,
        RouteClass::Other,
        RouteClass::PlainHttp,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RouteClass::ClientSync => "client_sync",
            RouteClass::ClientSend => "client_send",
            RouteClass::Media => "media",
            RouteClass::Client => "client",
            RouteClass::Federation => "federation",
            RouteClass::Admin => "admin",
            RouteClass::SynapseClient => "synapse_client",
            RouteClass::WellKnown => "well_known",
            RouteClass::Landing => "landing",
            RouteClass::WebClient => "web_client",
            RouteClass::Other => "other",
            RouteClass::PlainHttp => "plain_http",
        }
    }
}

/// How a client connection speaks; the label `protocol` of the open-connections gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// :80, plain HTTP/1.1.
    Http1,
    /// TLS, HTTP/1.1.
    Https1,
    /// TLS, HTTP/2.
    Https2,
}

impl Protocol {
    const ALL: [Protocol; 3] = [Protocol::Http1, Protocol::Https1, Protocol::Https2];

    fn label(self) -> &'static str {
        match self {
            Protocol::Http1 => "http1",
            Protocol::Https1 => "https_http1",
            Protocol::Https2 => "https_h2",
        }
    }
}

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Upper bounds of the latency buckets, in seconds; the last bucket is +Inf.
const BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Debug, Default)]
struct Latency {
    /// Not cumulative: each observation bumps one bucket (the last is +Inf).
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Latency {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// (sum in seconds, count, per-bucket counts): the encoder makes them cumulative.
    fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let buckets: Vec<(f64, u64)> = self
            .buckets
            .iter()
            .enumerate()
            .map(|(i, bucket)| {
                let bound = BUCKETS.get(i).copied().unwrap_or(f64::INFINITY);
                (bound, bucket.load(Ordering::Relaxed))
            })
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        (sum, count, buckets)
    }
}

/// Everything the daemon counts; shared by the listeners and the supervisor, lives as long as
/// the daemon (reloads keep it).
#[derive(Debug, Default)]
pub struct EdgeMetrics {
    requests: [[AtomicU64; STATUS_CLASSES.len()]; RouteClass::ALL.len()],
    latency: [Latency; RouteClass::ALL.len()],
    open: [AtomicI64; Protocol::ALL.len()],
    reconcile_ok: AtomicU64,
    reconcile_failed: AtomicU64,
    reconcile_failing_streak: AtomicU64,
    /// Unix seconds of the last good backup; 0 while there is none.
    backup_last_good: AtomicI64,
    /// 1 while the last backup attempt failed.
    backup_failing: AtomicI64,
}

/// Holds one open connection in the gauge until dropped.
#[derive(Debug)]
pub struct OpenConnection {
    metrics: std::sync::Arc<EdgeMetrics>,
    protocol: Protocol,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.metrics.open[self.protocol as usize].fetch_sub(1, Ordering::Relaxed);
    }
}

impl EdgeMetrics {
    /// One answered request: `elapsed` is from its arrival to its response's head.
    pub fn request(&self, class: RouteClass, status: u16, elapsed: Duration) {
        let status = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[class as usize][status].fetch_add(1, Ordering::Relaxed);
        self.latency[class as usize].observe(elapsed);
    }

    /// Counts a connection as open until the guard drops.
    pub fn connection(self: &std::sync::Arc<Self>, protocol: Protocol) -> OpenConnection {
        self.open[protocol as usize].fetch_add(1, Ordering::Relaxed);
        OpenConnection {
            metrics: self.clone(),
            protocol,
        }
    }

    /// The backup record as it now stands (at start, and after each scheduled backup).
    pub fn backup_recorded(&self, last_good_at: Option<i64>, failing: bool) {
        self.backup_last_good
            .store(last_good_at.unwrap_or(0), Ordering::Relaxed);
        self.backup_failing
            .store(i64::from(failing), Ordering::Relaxed);
    }

    pub fn reconciled(&self, ok: bool) {
        if ok {
            self.reconcile_ok.fetch_add(1, Ordering::Relaxed);
            self.reconcile_failing_streak.store(0, Ordering::Relaxed);
        } else {
            self.reconcile_failed.fetch_add(1, Ordering::Relaxed);
            self.reconcile_failing_streak
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A connection pool's state at scrape time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// `main` or `sync`.
    pub pool: &'static str,
    pub in_use: usize,
    pub idle: usize,
    pub max: usize,
}

/// What only the scrape reads: the pools and the certificates as they are now.
#[derive(Debug, Default)]
pub struct Observed {
    pub pools: Vec<PoolState>,
    /// (TLS name, days until its certificate expires; negative once expired).
    pub certificates: Vec<(String, f64)>,
    /// Unix seconds at the scrape (for the backup's age).
    pub now: i64,
}

/// The exposition: OpenMetrics text of `metrics` and `observed`, names prefixed `matrixbox_`.
pub fn encode(metrics: &EdgeMetricsRef, observed: Observed) -> String {
    let mut registry = Registry::with_prefix("matrixbox");
    registry.register_collector(Box::new(Scrape {
        metrics: metrics.clone(),
        observed,
    }));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .expect("writing to a String cannot fail");
    out
}

/// The metrics as the listeners hold them.
pub type EdgeMetricsRef = std::sync::Arc<EdgeMetrics>;

#[derive(Debug)]
struct Scrape {
    metrics: EdgeMetricsRef,
    observed: Observed,
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let m = &self.metrics;
        let mut family = encoder.encode_descriptor(
            "edge_requests",
            "Requests the edge answered, by route class and status class.",
            None,
            MetricType::Counter,
        )?;
        for class in RouteClass::ALL {
            for (i, status) in STATUS_CLASSES.iter().enumerate() {
                let value = m.requests[class as usize][i].load(Ordering::Relaxed);
                let labels = [("route", class.label()), ("status", status)];
                family
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "edge_request_duration_seconds",
            "Time from a request's arrival to its response's head, by route class (a long-poll sync's includes its wait).",
            None,
            MetricType::Histogram,
        )?;
        for class in RouteClass::ALL {
            let (sum, count, buckets) = m.latency[class as usize].snapshot();
            family
                .encode_family(&[("route", class.label())])?
                .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }
        let mut family = encoder.encode_descriptor(
            "edge_open_connections",
            "Client connections open now, by protocol.",
            None,
            MetricType::Gauge,
        )?;
        for protocol in Protocol::ALL {
            let value = m.open[protocol as usize].load(Ordering::Relaxed);
            family
                .encode_family(&[("protocol", protocol.label())])?
                .encode_gauge(&value)?;
        }
        for (name, help, pick) in [
            (
                "upstream_connections_in_use",
                "Connections to Synapse carrying a request now, by pool.",
                (|p: &PoolState| p.in_use) as fn(&PoolState) -> usize,
            ),
            (
                "upstream_connections_idle",
                "Connections to Synapse open and waiting for a request, by pool.",
                |p: &PoolState| p.idle,
            ),
            (
                "upstream_connections_max",
                "The most connections to Synapse a pool opens.",
                |p: &PoolState| p.max,
            ),
        ] {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for pool in &self.observed.pools {
                family
                    .encode_family(&[("pool", pool.pool)])?
                    .encode_gauge(&(pick(pool) as i64))?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "certificate_days_left",
            "Days until the served certificate for a name expires.",
            None,
            MetricType::Gauge,
        )?;
        for (name, days) in &self.observed.certificates {
            family
                .encode_family(&[("name", name.as_str())])?
                .encode_gauge(days)?;
        }
        let mut family = encoder.encode_descriptor(
            "reconcile",
            "Reconciles of the homeserver's containers, by result.",
            None,
            MetricType::Counter,
        )?;
        for (result, counter) in [("ok", &m.reconcile_ok), ("failed", &m.reconcile_failed)] {
            family
                .encode_family(&[("result", result)])?
                .encode_counter::<NoLabelSet, _, u64>(&counter.load(Ordering::Relaxed), None)?;
        }
        let streak = m.reconcile_failing_streak.load(Ordering::Relaxed) as i64;
        encoder
            .encode_descriptor(
                "reconcile_failures_in_a_row",
                "Reconciles failed since the last success (0: healthy).",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&streak)?;
        let last_good = m.backup_last_good.load(Ordering::Relaxed);
        if last_good != 0 {
            encoder
                .encode_descriptor(
                    "backup_age_seconds",
                    "Seconds since the last good backup (absent until there is one).",
                    None,
                    MetricType::Gauge,
                )?
                .encode_gauge(&(self.observed.now - last_good).max(0))?;
        }
        encoder
            .encode_descriptor(
                "backup_last_attempt_failed",
                "1 while the last backup attempt failed, else 0.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&m.backup_failing.load(Ordering::Relaxed))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
