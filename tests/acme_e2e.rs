//! Certificates from a real ACME CA (Pebble) through the library API: issuance by HTTP-01 and by
//! TLS-ALPN-01, fallback between them, renewal of short certificates swapped in the store under
//! an open connection, bad-nonce storms, and a CA that goes away (backoff survives a restart).
//! The challenge responders are the test's own (tests/common/pebble.rs), not the product's edge.

mod common;

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::pebble::{self, Options, Pebble, Responders};
use matrixbox::acme::{self, CertManager, Http01Tokens};
use matrixbox::config::Config;
use matrixbox::paths::Paths;
use matrixbox::tls::CertStore;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const NAMES: [&str; 2] = ["matrix.example.com", "example.com"];

/// One matrixbox installation's certificate side: state dir, store, tokens, config.
struct Site {
    _dir: tempfile::TempDir,
    paths: Paths,
    config: Config,
    store: Arc<CertStore>,
    tokens: Http01Tokens,
}

impl Site {
    fn new(pebble: &Pebble, challenge: &str) -> Site {
        // The manager's log, shown for failing tests (cargo captures it per test).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "matrixbox=debug".into()),
            )
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("matrixbox.yaml"), dir.path().join("state"));
        let config =
            matrixbox::config::parse(&pebble.config(&NAMES, challenge), &paths.config).unwrap();
        Site {
            _dir: dir,
            paths,
            config,
            store: CertStore::new(),
            tokens: Http01Tokens::default(),
        }
    }

    fn names(&self) -> Vec<String> {
        self.config.tls_names()
    }

    /// A manager with a fresh store (as after a restart), its initial certificate installed.
    fn manager(&mut self) -> CertManager {
        self.store = CertStore::new();
        let manager = CertManager::new(
            &self.config,
            &self.paths,
            self.store.clone(),
            self.tokens.clone(),
        );
        manager.install_initial().unwrap();
        manager
    }

    async fn responders(&self, pebble: &Pebble, http: bool, tls: bool) -> Responders {
        Responders::start(
            pebble,
            http.then(|| (self.tokens.clone(), self.names())),
            tls.then(|| self.store.clone()),
        )
        .await
    }

    fn renewal(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.paths.acme_renewal()).unwrap()).unwrap()
    }
}

struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

fn spawn(manager: CertManager) -> Running {
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(manager.run(shutdown.clone()));
    Running { shutdown, task }
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("run returns soon after shutdown")
            .unwrap();
    }
}

/// Waits until the responder of `pebble` serves every name a certificate that verifies against
/// Pebble's root and differs from `not`; returns it.
async fn wait_for_verified(
    pebble: &Pebble,
    not: Option<&CertificateDer<'static>>,
    timeout: Duration,
) -> Option<CertificateDer<'static>> {
    let (addr, root) = (pebble.tls_addr(), &pebble.issuing_root);
    let deadline = Instant::now() + timeout;
    loop {
        let mut leaves = Vec::new();
        for name in NAMES {
            if let Ok(leaf) = pebble::verified_leaf(&addr, name, root).await {
                leaves.push(leaf);
            }
        }
        if leaves.len() == NAMES.len() && leaves[0] == leaves[1] && Some(&leaves[0]) != not {
            return Some(leaves.remove(0));
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_issues_one_certificate_for_all_names_and_keeps_it() {
    let mut pebble = Pebble::start(Options::default());
    let mut site = Site::new(&pebble, "http-01");
    let manager = site.manager();
    let responders = site.responders(&pebble, true, true).await;

    // Before the CA answers, the site is up with the internal CA's certificate, which Pebble's
    // root does not vouch for.
    let stand_in = pebble::served_leaf(&pebble.tls_addr(), NAMES[0]).await;
    assert!(
        pebble::verified_leaf(&pebble.tls_addr(), NAMES[0], &pebble.issuing_root)
            .await
            .is_err()
    );

    let started = Instant::now();
    let running = spawn(manager);
    let leaf = wait_for_verified(&pebble, Some(&stand_in), Duration::from_secs(60))
        .await
        .unwrap_or_else(|| {
            panic!(
                "no certificate from Pebble; renewal state: {}",
                site.renewal()
            )
        });
    eprintln!(
        "issued by HTTP-01 in {:?} (account creation included)",
        started.elapsed()
    );
    running.stop().await;

    // Stored: account and key private, metadata says where it came from.
    let cert_dir = site.paths.cert_dir(NAMES[0]);
    assert_eq!(mode(&site.paths.acme_account()), 0o600);
    assert_eq!(mode(&cert_dir.join("key.pem")), 0o600);
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cert_dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["source"], pebble.directory());
    assert_eq!(site.renewal()["failures"], 0);
    let status = acme::status(&site.paths);
    assert_eq!(status.len(), 1, "{status:?}");
    assert_eq!(status[0].names, NAMES);
    assert!(
        status[0].issuer.as_deref().unwrap().contains("Pebble"),
        "{status:?}"
    );
    assert!(status[0].next_renewal.is_some() && status[0].last_error.is_none());

    // Restarted with the CA gone: the stored certificate is served at once and no order is
    // attempted (an attempt would fail and be counted).
    pebble.stop();
    let manager = site.manager();
    drop(responders);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _responders = site.responders(&pebble, false, true).await;
    assert_eq!(
        pebble::verified_leaf(&pebble.tls_addr(), NAMES[1], &pebble.issuing_root)
            .await
            .unwrap(),
        leaf
    );
    let running = spawn(manager);
    tokio::time::sleep(Duration::from_secs(3)).await;
    running.stop().await;
    assert_eq!(site.renewal()["failures"], 0, "{}", site.renewal());
    assert!(site.renewal()["attempt_started"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn01_issues_certificate() {
    let pebble = Pebble::start(Options::default());
    let mut site = Site::new(&pebble, "tls-alpn-01");
    let manager = site.manager();
    // Only the TLS listener: success can only come from TLS-ALPN-01.
    let _responders = site.responders(&pebble, false, true).await;
    let started = Instant::now();
    let running = spawn(manager);
    let leaf = wait_for_verified(&pebble, None, Duration::from_secs(60)).await;
    eprintln!("issued by TLS-ALPN-01 in {:?}", started.elapsed());
    running.stop().await;
    assert!(
        leaf.is_some(),
        "no certificate; renewal state: {}",
        site.renewal()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_http01_falls_back_to_tls_alpn01() {
    let pebble = Pebble::start(Options::default());
    let mut site = Site::new(&pebble, "http-01");
    let manager = site.manager();
    // Nothing answers on the HTTP-01 port: validation there fails, TLS-ALPN-01 must take over.
    let _responders = site.responders(&pebble, false, true).await;
    let running = spawn(manager);
    let leaf = wait_for_verified(&pebble, None, Duration::from_secs(60)).await;
    running.stop().await;
    assert!(
        leaf.is_some(),
        "no certificate; renewal state: {}",
        site.renewal()
    );
    assert_eq!(site.renewal()["failures"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_certificates_are_renewed_and_swapped_under_an_open_connection() {
    let pebble = Pebble::start(Options {
        validity_secs: 90,
        ..Options::default()
    });
    let mut site = Site::new(&pebble, "http-01");
    let manager = site.manager();
    let _responders = site.responders(&pebble, true, true).await;
    let running = spawn(manager);
    let first = wait_for_verified(&pebble, None, Duration::from_secs(60))
        .await
        .expect("first certificate");
    let (mut open, open_leaf) = pebble::connect(&pebble.tls_addr(), NAMES[0], &pebble.issuing_root)
        .await
        .unwrap();
    assert_eq!(open_leaf, first);

    // 90 s certificates are renewed at half their lifetime, checked every ~9 s.
    let second = wait_for_verified(&pebble, Some(&first), Duration::from_secs(80))
        .await
        .unwrap_or_else(|| panic!("not renewed; renewal state: {}", site.renewal()));
    assert_ne!(second, first);

    // The connection opened before the swap still works.
    open.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), open.read_exact(&mut echo))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echo, b"ping");
    running.stop().await;
    let stored =
        std::fs::read_to_string(site.paths.cert_dir(NAMES[0]).join("fullchain.pem")).unwrap();
    let stored_leaf = rustls::pki_types::pem::PemObject::from_pem_slice(stored.as_bytes())
        .map(|c: CertificateDer| c.into_owned());
    assert_eq!(
        stored_leaf.unwrap(),
        second,
        "the renewed certificate is the stored one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_the_nonces_rejected_still_ends_with_a_certificate() {
    let pebble = Pebble::start(Options {
        nonce_reject: 50,
        ..Options::default()
    });
    let mut site = Site::new(&pebble, "http-01");
    let manager = site.manager();
    let _responders = site.responders(&pebble, true, true).await;
    let started = Instant::now();
    let running = spawn(manager);
    let leaf = wait_for_verified(&pebble, None, Duration::from_secs(90)).await;
    eprintln!("issued with 50% bad nonces in {:?}", started.elapsed());
    running.stop().await;
    assert!(
        leaf.is_some(),
        "no certificate; renewal state: {}",
        site.renewal()
    );
    assert_eq!(
        site.renewal()["failures"],
        0,
        "the in-attempt retries absorbed the bad nonces"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_ca_keeps_the_certificate_and_backoff_survives_a_restart() {
    let mut pebble = Pebble::start(Options {
        validity_secs: 60,
        ..Options::default()
    });
    let mut site = Site::new(&pebble, "http-01");
    let manager = site.manager();
    let responders = site.responders(&pebble, true, true).await;
    let running = spawn(manager);
    let leaf = wait_for_verified(&pebble, None, Duration::from_secs(60))
        .await
        .expect("first certificate");
    pebble.stop();

    // Renewal falls due at 30 s; the attempt fails after its in-attempt retries.
    let failed = pebble::eventually(
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async { site.renewal()["failures"].as_u64() >= Some(1) },
    )
    .await;
    assert!(failed, "no failure recorded: {}", site.renewal());
    let state = site.renewal();
    assert!(
        state["last_error"]
            .as_str()
            .unwrap()
            .contains(&pebble.acme_addr),
        "{state}"
    );
    for name in NAMES {
        assert_eq!(
            pebble::served_leaf(&pebble.tls_addr(), name).await,
            leaf,
            "the old certificate stays in service"
        );
    }
    running.stop().await;
    drop(responders);

    // Restart: the stored certificate is served again, and the next attempt waits out the
    // persisted backoff (1 min) instead of hitting the CA at once.
    let manager = site.manager();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _responders = site.responders(&pebble, true, true).await;
    assert_eq!(
        pebble::served_leaf(&pebble.tls_addr(), NAMES[0]).await,
        leaf
    );
    let running = spawn(manager);
    tokio::time::sleep(Duration::from_secs(5)).await;
    running.stop().await;
    let after = site.renewal();
    assert_eq!(
        after["failures"], 1,
        "no attempt during the backoff: {after}"
    );
    assert_eq!(after["last_failure"], state["last_failure"]);
    let status = acme::status(&site.paths);
    assert_eq!(status[0].failures, 1);
    assert!(
        status[0].next_attempt.is_some() && status[0].last_error.is_some(),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_the_ca_no_longer_knows_is_replaced() {
    let pebble = Pebble::start(Options::default());
    let mut site = Site::new(&pebble, "http-01");
    let manager = site.manager();
    let responders = site.responders(&pebble, true, true).await;
    let running = spawn(manager);
    wait_for_verified(&pebble, None, Duration::from_secs(60))
        .await
        .expect("first certificate");
    running.stop().await;
    drop(responders);
    let account = std::fs::read_to_string(site.paths.acme_account()).unwrap();

    // Pebble forgets everything on restart, as a CA might lose or deactivate an account. A new
    // name makes a new order necessary; the stored account is refused and replaced.
    drop(pebble);
    let pebble = Pebble::start(Options::default());
    let yaml = pebble.config(&["chat.example.com", NAMES[1]], "http-01");
    site.config = matrixbox::config::parse(&yaml, &site.paths.config).unwrap();
    let manager = site.manager();
    let _responders = site.responders(&pebble, true, true).await;
    let running = spawn(manager);
    let issued = pebble::eventually(
        Duration::from_secs(60),
        Duration::from_millis(50),
        || async {
            pebble::verified_leaf(&pebble.tls_addr(), "chat.example.com", &pebble.issuing_root)
                .await
                .is_ok()
        },
    )
    .await;
    running.stop().await;
    assert!(issued, "no certificate; renewal state: {}", site.renewal());
    assert_ne!(
        std::fs::read_to_string(site.paths.acme_account()).unwrap(),
        account
    );
}
