//! The normal client's latency against the edge (production policy), quiet and under each
//! attack of tests/common/hostile.rs, with what the edge held meanwhile. Attackers, normal client
//! and edge share this process (and its fds and RSS), all on loopback, each on a runtime of its
//! own (one worker thread each) so the edge's tasks do not queue behind the attackers'. Run by
//! bench/hostile-bench.sh. Usage: hostile_bench [SECONDS_PER_PHASE [PHASE_FILTER]]

#[path = "../tests/common/hostile.rs"]
mod hostile;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hostile::{ATTACKER, Harness, NORMAL};
use matrixbox::proxy::ConnPolicy;
use tokio_util::sync::CancellationToken;

/// How often the normal client asks (each time on a new TLS connection).
const EVERY: Duration = Duration::from_millis(20);
/// An attacker whose connection was refused waits this long before trying again.
const REFUSED_PAUSE: Duration = Duration::from_millis(50);

/// Runs `workers` copies of `attack` from `sources` (round robin), each again and again, until
/// `stop`.
fn swarm<F, Fut>(
    h: &Arc<Harness>,
    sources: &[IpAddr],
    workers: usize,
    stop: &CancellationToken,
    attack: F,
) -> tokio::task::JoinSet<()>
where
    F: Fn(Arc<Harness>, IpAddr) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let mut set = tokio::task::JoinSet::new();
    for i in 0..workers {
        let (h, source, stop, attack) = (
            h.clone(),
            sources[i % sources.len()],
            stop.clone(),
            attack.clone(),
        );
        set.spawn(async move {
            while !stop.is_cancelled() {
                let admitted = tokio::select! {
                    _ = stop.cancelled() => return,
                    admitted = attack(h.clone(), source) => admitted,
                };
                if !admitted {
                    tokio::time::sleep(REFUSED_PAUSE).await;
                }
            }
        });
    }
    set
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn attackers(n: u8) -> Vec<IpAddr> {
    (0..n)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 1, 10 + i)))
        .collect()
}

/// What every phase needs: the edge, the normal client's runtime, the phase length and filter.
struct Bench {
    h: Arc<Harness>,
    normal: tokio::runtime::Handle,
    seconds: u64,
    only: Option<String>,
}

async fn phase(
    bench: &Bench,
    name: &str,
    start: impl FnOnce(&CancellationToken) -> Vec<tokio::task::JoinSet<()>>,
) {
    if let Some(only) = &bench.only
        && !name.contains(only.as_str())
    {
        return;
    }
    let (h, seconds) = (&bench.h, bench.seconds);
    let stop = CancellationToken::new();
    let refused_before = h.connections.refused();
    let sets = start(&stop);
    // Let the attack build up before measuring.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let normal = hostile::NormalClient::start_on(&bench.normal, h, NORMAL, EVERY);
    let (mut peak_open, mut peak_fds, mut peak_rss) = (0, 0, 0);
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        peak_open = peak_open.max(h.connections.open());
        peak_fds = peak_fds.max(hostile::open_fds());
        peak_rss = peak_rss.max(rss_kib());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let results = normal.stop().await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    let mut latencies: Vec<Duration> = results.into_iter().filter_map(Result::ok).collect();
    stop.cancel();
    for mut set in sets {
        set.abort_all();
        while set.join_next().await.is_some() {}
    }
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<38} {:>5} {:>6} {:>8.1} {:>8.1} {:>8.1} {:>6} {:>8} {:>6} {:>8}",
        latencies.len(),
        failed,
        ms(hostile::percentile(&latencies, 0.50)),
        ms(hostile::percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
        peak_open,
        h.connections.refused() - refused_before,
        peak_fds,
        peak_rss / 1024,
    );
    // Let the edge close what the attackers left before the next phase.
    let settle = Instant::now();
    while h.connections.open() > 0 && settle.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .map_or(10, |s| s.parse().expect("SECONDS_PER_PHASE"));
    let only = std::env::args().nth(2);
    let policy = ConnPolicy::default();
    println!(
        "edge policy: {} connections in all, {} per address; first request {:?}, HTTP/2 idle {:?}, \
         header {:?}; {} cores; {seconds} s per phase; normal client: GET /_matrix/client/versions \
         on a new TLS connection every {:?} from another address",
        policy.max_connections,
        policy.max_per_address,
        policy.first_request_timeout,
        policy.http2_idle_timeout,
        policy.header_timeout,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        EVERY,
    );
    let (edge, normal, attackers_rt) = (runtime(), runtime(), runtime());
    let h = Arc::new(edge.block_on(Harness::start(policy)));
    let bench = Bench {
        h: h.clone(),
        normal: normal.handle().clone(),
        seconds,
        only,
    };
    attackers_rt.block_on(phases(&bench));
}

async fn phases(bench: &Bench) {
    let h = &bench.h;
    println!(
        "{:<38} {:>5} {:>6} {:>8} {:>8} {:>8} {:>6} {:>8} {:>6} {:>8}",
        "phase", "ok", "failed", "p50 ms", "p99 ms", "max ms", "open", "refused", "fds", "RSS MiB"
    );
    let four = attackers(4);
    phase(bench, "quiet", |_| vec![]).await;
    phase(bench, "silent h2 x1000 (4 addresses)", |stop| {
        vec![swarm(h, &four, 1000, stop, |h, s| async move {
            hostile::silent_h2(&h, s).await.is_ok()
        })]
    })
    .await;
    phase(bench, "preface-only h2 x1000 (4 addresses)", |stop| {
        vec![swarm(h, &four, 1000, stop, |h, s| async move {
            hostile::preface_only(&h, s).await.is_ok()
        })]
    })
    .await;
    phase(bench, "idle PINGing h2 x1000 (4 addresses)", |stop| {
        vec![swarm(h, &four, 1000, stop, |h, s| async move {
            hostile::idle_pinger(&h, s, Duration::from_secs(1))
                .await
                .is_ok()
        })]
    })
    .await;
    phase(bench, "idle TLS x1000 (1 address)", |stop| {
        vec![swarm(h, &[ATTACKER], 1000, stop, |h, s| async move {
            match h.tls(s, b"http/1.1").await {
                Ok(mut tls) => {
                    let mut buf = [0u8; 64];
                    let _ = tokio::io::AsyncReadExt::read(&mut tls, &mut buf).await;
                    true
                }
                Err(_) => false,
            }
        })]
    })
    .await;
    phase(bench, "slowloris x200", |stop| {
        vec![swarm(h, &[ATTACKER], 200, stop, |h, s| async move {
            hostile::slowloris(&h, s, Duration::from_secs(1))
                .await
                .is_ok()
        })]
    })
    .await;
    phase(bench, "rapid reset x4 connections", |stop| {
        vec![swarm(h, &[ATTACKER], 4, stop, |h, s| async move {
            hostile::rapid_reset(&h, s, usize::MAX, Duration::ZERO, Duration::from_secs(3600))
                .await;
            true
        })]
    })
    .await;
    phase(bench, "resets after accept x16", |stop| {
        vec![swarm(h, &[ATTACKER], 16, stop, |h, s| async move {
            hostile::reset_after_accept(&h, s, 100_000).await.is_ok()
        })]
    })
    .await;
    phase(bench, "MadeYouReset x4", |stop| {
        vec![swarm(h, &[ATTACKER], 4, stop, |h, s| async move {
            hostile::made_you_reset(&h, s, 100_000).await.is_ok()
        })]
    })
    .await;
    phase(bench, "CONTINUATION flood x4", |stop| {
        vec![swarm(h, &[ATTACKER], 4, stop, |h, s| async move {
            hostile::continuation_flood(&h, s, 100_000).await.is_ok()
        })]
    })
    .await;
}
