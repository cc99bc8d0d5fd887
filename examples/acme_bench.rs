//! Certificate issuance time against Pebble (no VA sleep), through the library API: from the
//! manager's start to the new certificate being in the store, for a fresh installation (account
//! creation included) and for a new name on an existing account. Run by bench/acme-bench.sh.
//! Usage: acme_bench [ROUNDS]

#[path = "../tests/common/pebble.rs"]
mod pebble;

use std::sync::Arc;
use std::time::{Duration, Instant};

use matrixbox::acme::{CertManager, Http01Tokens};
use matrixbox::paths::Paths;
use matrixbox::tls::CertStore;
use pebble::{Options, Pebble, Responders};
use tokio_util::sync::CancellationToken;

/// Runs a manager until the certificate for `name` in the store is no longer the one
/// `install_initial` put there (the internal CA's stand-in); returns how long that took.
async fn issue(
    pebble: &Pebble,
    paths: &Paths,
    name: &str,
    store: Arc<CertStore>,
    tokens: Http01Tokens,
) -> Duration {
    let config =
        matrixbox::config::parse(&pebble.config(&[name], "http-01"), &paths.config).unwrap();
    let manager = CertManager::new(&config, paths, store.clone(), tokens);
    manager.install_initial().unwrap();
    let stand_in = store.get(name).unwrap();
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(manager.run(shutdown.clone()));
    while store.get(name).is_some_and(|k| Arc::ptr_eq(&k, &stand_in)) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no certificate for {name} within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed();
    shutdown.cancel();
    task.await.unwrap();
    elapsed
}

fn summary(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label}: n={} min={:.0} ms median={:.0} ms max={:.0} ms",
        times.len(),
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(10, |n| n.parse().expect("ROUNDS is a number"));
    let pebble = Pebble::start(Options::default());
    let store = CertStore::new();
    let tokens = Http01Tokens::default();
    let names: Vec<String> = (0..rounds * 2)
        .map(|i| format!("m{i}.bench.example.com"))
        .collect();
    let _responders = Responders::start(
        &pebble,
        Some((tokens.clone(), names.clone())),
        Some(store.clone()),
    )
    .await;

    let (mut fresh, mut existing) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // A new installation: new state dir, so a new account.
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("matrixbox.yaml"), dir.path().join("state"));
        fresh.push(
            issue(
                &pebble,
                &paths,
                &names[2 * round],
                store.clone(),
                tokens.clone(),
            )
            .await,
        );
        // Another name on the same installation: the stored account is reused.
        existing.push(
            issue(
                &pebble,
                &paths,
                &names[2 * round + 1],
                store.clone(),
                tokens.clone(),
            )
            .await,
        );
    }
    summary("issuance, new account  ", fresh);
    summary("issuance, stored account", existing);
}
