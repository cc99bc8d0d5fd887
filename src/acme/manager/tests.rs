//! The renewal loop against a scripted issuer, and the manager's three modes end to end.

use std::time::Duration as StdDuration;

use time::Duration;

use super::files::FILES_POLL;
use super::issuer::Issuer;
use super::*;
use crate::acme::Issued;
use crate::acme::schedule::{self, RenewalState};

/// An issuer that answers from a script, signing with a real internal CA.
struct Scripted {
    ca: InternalCa,
    lifetime: Duration,
    fail: bool,
    /// Never answer, like a CA that accepted the connection and went silent.
    hang: bool,
    calls: u32,
}

impl Issuer for Scripted {
    fn source(&self) -> &str {
        "https://ca.test/dir"
    }

    async fn obtain(&mut self, names: &[String]) -> Result<Issued, AcmeError> {
        self.calls += 1;
        if self.hang {
            std::future::pending::<()>().await;
        }
        if self.fail {
            return Err(AcmeError::Order {
                directory: self.source().into(),
                detail: "connection refused".into(),
            });
        }
        self.ca
            .issue(names, OffsetDateTime::now_utc(), self.lifetime)
    }
}

fn setup(fail: bool) -> (tempfile::TempDir, Paths, Arc<CertStore>, Scripted) {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("m.yaml"), dir.path().join("state"));
    let ca = InternalCa::load_or_create(&paths, OffsetDateTime::now_utc()).unwrap();
    let issuer = Scripted {
        ca,
        lifetime: Duration::days(90),
        fail,
        hang: false,
        calls: 0,
    };
    (dir, paths, CertStore::new(), issuer)
}

fn names() -> Vec<String> {
    vec!["a.example.org".into(), "example.org".into()]
}

#[tokio::test]
async fn obtains_stores_serves_and_then_waits() {
    let (_dir, paths, store, issuer) = setup(false);
    let mut r = Renewer::with_parts(issuer, names(), paths.clone(), store.clone(), None);
    let now = OffsetDateTime::now_utc();
    r.step(now).await;
    assert_eq!(r.issuer.calls, 1);
    assert!(store.get("example.org").is_some());
    let stored = storage::load_cert(&paths, "a.example.org")
        .unwrap()
        .unwrap();
    assert_eq!(stored.meta.source, "https://ca.test/dir");
    // Not due: never re-issued, next wake within a check interval.
    let wake = r.step(OffsetDateTime::now_utc()).await;
    assert_eq!(r.issuer.calls, 1);
    assert!(wake <= OffsetDateTime::now_utc() + Duration::minutes(11));
    let state = storage::load_renewal(&paths).unwrap().unwrap();
    let expected = schedule::lifetime_renewal(r.current.as_ref().unwrap().facts.validity);
    assert_eq!(state.next_renewal, Some(expected));
    // Due (60 of 90 days later): renewed.
    r.step(OffsetDateTime::now_utc() + Duration::days(61)).await;
    assert_eq!(r.issuer.calls, 2);
}

#[tokio::test]
async fn failure_keeps_certificate_and_backoff_survives_restart() {
    let (_dir, paths, store, issuer) = setup(true);
    // A stand-in from the internal CA is being served.
    let stand_in = issuer
        .ca
        .issue(&names(), OffsetDateTime::now_utc(), Duration::days(30))
        .unwrap();
    let (key, facts) = served(&stand_in.chain_pem, &stand_in.key_pem).unwrap();
    let key = Arc::new(key);
    store.install(&names(), key.clone());
    let current = Current {
        facts,
        source: INTERNAL.into(),
    };
    let mut r = Renewer::with_parts(
        issuer,
        names(),
        paths.clone(),
        store.clone(),
        Some(current.clone()),
    );
    let now = OffsetDateTime::now_utc();
    let wake = r.step(now).await;
    assert_eq!(r.issuer.calls, 1);
    assert!(
        Arc::ptr_eq(&store.get("a.example.org").unwrap(), &key),
        "the served certificate stays"
    );
    // Within the minute of backoff: no second attempt.
    let wake2 = r.step(now + Duration::seconds(30)).await;
    assert_eq!(r.issuer.calls, 1);
    assert!(wake2 >= wake.min(now + Duration::seconds(59)));

    // "Restart": a new renewer on the same state dir keeps backing off.
    let Renewer { issuer, .. } = r;
    let state = storage::load_renewal(&paths).unwrap().unwrap();
    assert_eq!(state.failures, 1);
    assert!(
        state
            .last_error
            .as_deref()
            .unwrap()
            .contains("connection refused")
    );
    let mut again =
        Renewer::with_parts(issuer, names(), paths.clone(), store.clone(), Some(current));
    again.step(now + Duration::seconds(30)).await;
    assert_eq!(
        again.issuer.calls, 1,
        "backoff persisted across the restart"
    );
    again.step(now + Duration::seconds(61)).await;
    assert_eq!(again.issuer.calls, 2);
    assert_eq!(storage::load_renewal(&paths).unwrap().unwrap().failures, 2);
}

#[test]
fn run_can_be_spawned() {
    fn assert_send<T: Send + 'static>(_: T) {}
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("m.yaml"), dir.path());
    let config = crate::config::parse("domain: a.example.org\n", &paths.config).unwrap();
    let manager = CertManager::new(&config, &paths, CertStore::new(), Http01Tokens::default());
    assert_send(manager.run(CancellationToken::new()));
}

#[tokio::test]
async fn crash_during_an_attempt_counts_as_failure() {
    let (_dir, paths, store, issuer) = setup(false);
    let mut state = RenewalState::default().resume(&names());
    let crashed_at = OffsetDateTime::now_utc();
    state.begin(crashed_at);
    storage::save_renewal(&paths, &state).unwrap();
    let mut r = Renewer::with_parts(issuer, names(), paths.clone(), store, None);
    r.step(crashed_at + Duration::seconds(10)).await;
    assert_eq!(r.issuer.calls, 0, "backs off after an interrupted attempt");
    r.step(crashed_at + Duration::seconds(61)).await;
    assert_eq!(r.issuer.calls, 1);
}

#[tokio::test]
async fn shutdown_during_an_attempt_is_not_a_failure() {
    let (_dir, paths, store, mut issuer) = setup(false);
    issuer.hang = true;
    let renewer = Renewer::with_parts(issuer, names(), paths.clone(), store, None);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(renewer.run(shutdown.clone()));
    let started = async {
        while storage::load_renewal(&paths)
            .unwrap()
            .unwrap()
            .attempt_started
            .is_none()
        {
            tokio::time::sleep(StdDuration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(StdDuration::from_secs(5), started)
        .await
        .unwrap();
    shutdown.cancel();
    task.await.unwrap();
    let state = storage::load_renewal(&paths).unwrap().unwrap();
    assert_eq!(state.attempt_started, None);
    assert_eq!(state.clone().resume(&names()).failures, 0);
}

fn parse(yaml: &str, paths: &Paths) -> Config {
    crate::config::parse(yaml, &paths.config).unwrap()
}

#[tokio::test]
async fn internal_ca_certificate_is_stored_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("m.yaml"), dir.path().join("state"));
    let config = parse("domain: localhost\n", &paths);
    let store = CertStore::new();
    let manager = CertManager::new(&config, &paths, store.clone(), Http01Tokens::default());
    manager.install_initial().unwrap();
    assert!(store.get("localhost").is_some());
    let stored = storage::load_cert(&paths, "localhost").unwrap().unwrap();
    assert_eq!(stored.meta.source, INTERNAL);
    let facts = certinfo::from_pem(stored.chain_pem.as_bytes()).unwrap();
    assert_eq!(
        facts.validity.lifetime(),
        LEAF_LIFETIME + time::Duration::hours(1)
    );

    // A restart serves the same certificate, and the loop finds nothing due.
    let store = CertStore::new();
    let manager = CertManager::new(&config, &paths, store.clone(), Http01Tokens::default());
    manager.install_initial().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(manager.run(shutdown.clone()));
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    shutdown.cancel();
    task.await.unwrap();
    let again = storage::load_cert(&paths, "localhost").unwrap().unwrap();
    assert_eq!(again.chain_pem, stored.chain_pem);
    assert_eq!(
        storage::load_renewal(&paths)
            .unwrap()
            .unwrap()
            .last_obtained,
        None
    );
}

#[tokio::test]
async fn user_files_are_served_and_reloaded_when_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("m.yaml"), dir.path().join("state"));
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let write = |name: &str| {
        let c = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        crate::fsio::write_atomic(&cert, c.cert.pem().as_bytes(), 0o644).unwrap();
        crate::fsio::write_atomic(&key, c.signing_key.serialize_pem().as_bytes(), 0o600).unwrap();
    };
    write("a.example.org");
    let config = parse(
        &format!(
            "domain: a.example.org\ntls:\n  cert: {}\n  key: {}\n",
            cert.display(),
            key.display()
        ),
        &paths,
    );
    let store = CertStore::new();
    let manager = CertManager::new(&config, &paths, store.clone(), Http01Tokens::default());
    manager.install_initial().unwrap();
    let first = store.get("a.example.org").unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(manager.run(shutdown.clone()));

    // A half-done update (new key, old certificate) is refused: the old pair stays.
    let other = rcgen::KeyPair::generate().unwrap();
    crate::fsio::write_atomic(&key, other.serialize_pem().as_bytes(), 0o600).unwrap();
    tokio::time::sleep(FILES_POLL + StdDuration::from_millis(500)).await;
    assert!(Arc::ptr_eq(&store.get("a.example.org").unwrap(), &first));

    // A complete update is picked up.
    write("a.example.org");
    let swapped = async {
        while Arc::ptr_eq(&store.get("a.example.org").unwrap(), &first) {
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(FILES_POLL * 3, swapped)
        .await
        .expect("reloaded");
    shutdown.cancel();
    task.await.unwrap();
    // No ACME state for user files.
    assert!(!paths.acme_dir().exists());
}
