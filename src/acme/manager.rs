//! The certificate manager: installs a certificate before the listeners serve, then keeps it
//! fresh (ACME, internal CA or the user's files) and swaps renewals into the cert store.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use rustls::sign::CertifiedKey;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::certinfo::{self, CertFacts};
use super::challenge::Http01Tokens;
use super::client::{self, AcmeIssuer};
use super::internal_ca::{InternalCa, LEAF_LIFETIME};
use super::schedule::{self, Plan, RenewalState, Served, Window};
use super::storage::{self, Meta, StoredCert};
use super::{AcmeError, Issued, error_chain};
use crate::config::{Config, TlsFiles};
use crate::paths::Paths;
use crate::tls::{self, CertStore};

/// `Meta.source` of certificates from the internal CA.
pub const INTERNAL: &str = "internal";
/// How often the user's certificate files are looked at for changes.
const FILES_POLL: StdDuration = StdDuration::from_secs(2);

/// Where certificates come from; narrow so the renewal loop can be tested without a CA.
pub(crate) trait Issuer {
    /// What `Meta.source` records: `internal` or the ACME directory URL.
    fn source(&self) -> &str;
    async fn obtain(&mut self, names: &[String]) -> Result<Issued, AcmeError>;
    /// The CA's renewal window and when to ask again; `None` where it offers no ARI.
    async fn renewal_window(
        &mut self,
        _cert: &CertFacts,
        _now: OffsetDateTime,
    ) -> Option<(Window, OffsetDateTime)> {
        None
    }
}

impl Issuer for AcmeIssuer {
    fn source(&self) -> &str {
        self.directory()
    }

    async fn obtain(&mut self, names: &[String]) -> Result<Issued, AcmeError> {
        AcmeIssuer::obtain(self, names).await
    }

    async fn renewal_window(
        &mut self,
        cert: &CertFacts,
        now: OffsetDateTime,
    ) -> Option<(Window, OffsetDateTime)> {
        AcmeIssuer::renewal_window(self, cert, now).await
    }
}

/// `acme: internal`: leaves from the local CA, loaded on first use so that a broken CA
/// directory is reported (and backed off) like any other failure.
struct InternalIssuer {
    paths: Paths,
    ca: Option<InternalCa>,
}

impl Issuer for InternalIssuer {
    fn source(&self) -> &str {
        INTERNAL
    }

    async fn obtain(&mut self, names: &[String]) -> Result<Issued, AcmeError> {
        let now = OffsetDateTime::now_utc();
        if self.ca.is_none() {
            self.ca = Some(InternalCa::load_or_create(&self.paths, now)?);
        }
        self.ca
            .as_ref()
            .expect("loaded above")
            .issue(names, now, LEAF_LIFETIME)
    }
}

/// The certificate being served.
#[derive(Debug, Clone)]
struct Current {
    facts: CertFacts,
    /// `Meta.source` of where it came from.
    source: String,
}

enum Mode {
    Files(TlsFiles),
    Internal,
    Acme {
        directory: String,
        ca_root: Option<PathBuf>,
        email: Option<String>,
        kinds: Vec<crate::config::Challenge>,
    },
}

pub struct CertManager {
    mode: Mode,
    /// Every name served; the first is the primary (directory name, default certificate).
    names: Vec<String>,
    paths: Paths,
    store: Arc<CertStore>,
    tokens: Http01Tokens,
    current: Mutex<Option<Current>>,
}

impl CertManager {
    pub fn new(
        config: &Config,
        paths: &Paths,
        store: Arc<CertStore>,
        tokens: Http01Tokens,
    ) -> CertManager {
        let mode = match (&config.tls_files, config.acme.directory.url()) {
            (Some(files), _) => Mode::Files(files.clone()),
            (None, None) => Mode::Internal,
            (None, Some(url)) => Mode::Acme {
                directory: url.to_string(),
                ca_root: config.acme.ca_root.clone(),
                email: config.acme.email.clone(),
                kinds: client::challenge_order(
                    config.acme.challenge,
                    config.listen.http.is_some(),
                    config.listen.https.is_some(),
                ),
            },
        };
        CertManager {
            mode,
            names: config.tls_names(),
            paths: paths.clone(),
            store,
            tokens,
            current: Mutex::new(None),
        }
    }

    fn primary(&self) -> &str {
        &self.names[0]
    }

    /// Fast, before listeners serve: install the stored certificate if valid; otherwise a
    /// certificate from the internal CA so the site is up (for tls_files: load them). Never
    /// contacts a CA.
    pub fn install_initial(&self) -> Result<(), AcmeError> {
        let now = OffsetDateTime::now_utc();
        if let Mode::Files(files) = &self.mode {
            let (key, facts) = load_files(files)?;
            self.store.install(&self.names, Arc::new(key));
            *self.current.lock().expect("current lock") = Some(Current {
                facts,
                source: "files".into(),
            });
            return Ok(());
        }
        match storage::load_cert(&self.paths, self.primary()) {
            Ok(Some(stored)) => match served(&stored.chain_pem, &stored.key_pem) {
                Ok((key, facts)) if facts.validity.is_valid_at(now) => {
                    tracing::info!(names = ?facts.names, not_after = %facts.validity.not_after, source = %stored.meta.source, "serving the stored certificate");
                    self.store.install(&self.names, Arc::new(key));
                    *self.current.lock().expect("current lock") = Some(Current {
                        facts,
                        source: stored.meta.source,
                    });
                    return Ok(());
                }
                Ok(_) => tracing::info!("the stored certificate is not valid now; replacing it"),
                Err(e) => {
                    tracing::warn!(error = %error_chain(&e), "ignoring the stored certificate")
                }
            },
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), hint = %e.hint(), "ignoring the stored certificate")
            }
        }
        let ca = InternalCa::load_or_create(&self.paths, now)?;
        let issued = ca.issue(&self.names, now, LEAF_LIFETIME)?;
        let (key, facts) = served(&issued.chain_pem, &issued.key_pem)?;
        if matches!(self.mode, Mode::Internal) {
            // This is the certificate the config asks for: keep it, so no restart re-issues it.
            let meta = Meta {
                source: INTERNAL.into(),
                names: self.names.clone(),
                obtained: now,
            };
            storage::save_cert(
                &self.paths,
                self.primary(),
                &StoredCert {
                    chain_pem: issued.chain_pem,
                    key_pem: issued.key_pem,
                    meta,
                },
            )?;
        } else {
            tracing::info!(root = %self.paths.ca_root().display(), "serving a certificate from the internal CA until the CA's certificate arrives");
        }
        self.store.install(&self.names, Arc::new(key));
        *self.current.lock().expect("current lock") = Some(Current {
            facts,
            source: INTERNAL.into(),
        });
        Ok(())
    }

    /// The loop: obtain/renew as due, swap into the store, back off on failure; returns when
    /// shutdown is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let installed = self.current.lock().expect("current lock").is_some();
        if !installed && let Err(e) = self.install_initial() {
            tracing::error!(error = %error_chain(&e), hint = %e.hint(), "no certificate to serve yet");
        }
        let current = self.current.lock().expect("current lock").take();
        match &self.mode {
            Mode::Files(files) => watch_files(files, &self.names, &self.store, shutdown).await,
            Mode::Internal => {
                let issuer = InternalIssuer {
                    paths: self.paths.clone(),
                    ca: None,
                };
                Renewer::new(issuer, &self, current).run(shutdown).await
            }
            Mode::Acme {
                directory,
                ca_root,
                email,
                kinds,
            } => {
                let issuer = AcmeIssuer::new(
                    directory.clone(),
                    ca_root.clone(),
                    email.clone(),
                    kinds.clone(),
                    self.paths.clone(),
                    self.tokens.clone(),
                    self.store.clone(),
                );
                Renewer::new(issuer, &self, current).run(shutdown).await
            }
        }
    }
}

/// Parses what will be served, refusing a key that does not belong to the certificate.
fn served(chain_pem: &str, key_pem: &str) -> Result<(CertifiedKey, CertFacts), AcmeError> {
    let bad = |reason: String| AcmeError::BadCertificate {
        source_name: "the new certificate".into(),
        reason,
    };
    let key = tls::certified_key_from_pem(chain_pem.as_bytes(), key_pem.as_bytes())
        .map_err(|e| bad(e.to_string()))?;
    let facts = certinfo::from_pem(chain_pem.as_bytes()).map_err(bad)?;
    Ok((key, facts))
}

fn load_files(files: &TlsFiles) -> Result<(CertifiedKey, CertFacts), AcmeError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| AcmeError::Read {
            what: "the certificate file",
            path: path.to_path_buf(),
            source,
        })
    };
    let (chain, key_pem) = (read(&files.cert)?, read(&files.key)?);
    let bad = |source| AcmeError::Files {
        cert: files.cert.clone(),
        key: files.key.clone(),
        source,
    };
    let key = tls::certified_key_from_pem(&chain, &key_pem).map_err(bad)?;
    if let Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) =
        key.keys_match()
    {
        return Err(AcmeError::Files {
            cert: files.cert.clone(),
            key: files.key.clone(),
            source: tls::TlsError::Key(rustls::Error::InconsistentKeys(
                rustls::InconsistentKeys::KeyMismatch,
            )),
        });
    }
    let facts = certinfo::from_pem(&chain).map_err(|reason| AcmeError::BadCertificate {
        source_name: files.cert.display().to_string(),
        reason,
    })?;
    Ok((key, facts))
}

/// What identifies a version of a file: an editor's rename or an in-place write changes one.
fn stamp(path: &Path) -> Option<(std::time::SystemTime, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// Reloads the user's files when they change; a broken update keeps the previous certificate.
async fn watch_files(
    files: &TlsFiles,
    names: &[String],
    store: &CertStore,
    shutdown: CancellationToken,
) {
    let mut seen = (stamp(&files.cert), stamp(&files.key));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(FILES_POLL) => {}
            _ = shutdown.cancelled() => return,
        }
        let now = (stamp(&files.cert), stamp(&files.key));
        if now == seen {
            continue;
        }
        seen = now;
        match load_files(files) {
            Ok((key, facts)) => {
                tracing::info!(cert = %files.cert.display(), not_after = %facts.validity.not_after, "reloaded the certificate files");
                store.install(names, Arc::new(key));
            }
            // Often a half-done update (certificate written, key not yet): the next change fixes it.
            Err(e) => tracing::warn!(error = %error_chain(&e), "keeping the current certificate"),
        }
    }
}

/// An ARI answer, kept until the CA's Retry-After.
struct Ari {
    window: Window,
    /// Where in the window to renew, drawn once per window.
    point: f64,
    refresh_at: OffsetDateTime,
}

/// The renewal loop around one issuer.
pub(crate) struct Renewer<I> {
    issuer: I,
    names: Vec<String>,
    paths: Paths,
    store: Arc<CertStore>,
    current: Option<Current>,
    state: RenewalState,
    ari: Option<Ari>,
    /// When the ARI window may be asked for again after a failed or empty answer.
    ari_retry: Option<OffsetDateTime>,
}

impl<I: Issuer> Renewer<I> {
    fn new(issuer: I, manager: &CertManager, current: Option<Current>) -> Renewer<I> {
        Renewer::with_parts(
            issuer,
            manager.names.clone(),
            manager.paths.clone(),
            manager.store.clone(),
            current,
        )
    }

    fn with_parts(
        issuer: I,
        names: Vec<String>,
        paths: Paths,
        store: Arc<CertStore>,
        current: Option<Current>,
    ) -> Renewer<I> {
        let state = match storage::load_renewal(&paths) {
            Ok(state) => state.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "starting with fresh renewal state");
                RenewalState::default()
            }
        }
        .resume(&names);
        let renewer = Renewer {
            issuer,
            names,
            paths,
            store,
            current,
            state,
            ari: None,
            ari_retry: None,
        };
        renewer.save_state();
        renewer
    }

    fn save_state(&self) {
        if let Err(e) = storage::save_renewal(&self.paths, &self.state) {
            tracing::warn!(error = %error_chain(&e), "cannot save the renewal state");
        }
    }

    async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let wake = tokio::select! {
                wake = self.step(OffsetDateTime::now_utc()) => wake,
                _ = shutdown.cancelled() => {
                    // Stopped on purpose during an attempt: not a failure to back off from.
                    if self.state.attempt_started.is_some() {
                        self.state.abandon();
                        self.save_state();
                    }
                    return;
                }
            };
            let wait = wake - OffsetDateTime::now_utc();
            let wait = StdDuration::try_from(wait).unwrap_or(StdDuration::ZERO);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// One round: refresh the ARI window if it is time, plan, and obtain when due. Returns when
    /// to come back.
    async fn step(&mut self, now: OffsetDateTime) -> OffsetDateTime {
        self.refresh_ari(now).await;
        let source = self.issuer.source().to_string();
        let served = self.current.as_ref().map(|c| Served {
            validity: c.facts.validity,
            fits: schedule::fits(&c.source, &source, &c.facts.names, &self.names),
            renew_at: schedule::renewal_time(
                c.facts.validity,
                self.ari.as_ref().map(|a| a.window),
                self.ari.as_ref().map_or(0.0, |a| a.point),
            ),
        });
        let lifetime = served.map_or(schedule::CHECK_INTERVAL * 10, |s| s.validity.lifetime());
        let check = schedule::check_interval(lifetime, random_unit());
        let next_renewal = served.filter(|s| s.fits).map(|s| s.renew_at);
        if self.state.next_renewal != next_renewal {
            self.state.next_renewal = next_renewal;
            self.save_state();
        }
        match schedule::plan(now, served, &self.state, check) {
            Plan::Wait(at) => at,
            Plan::Obtain => {
                self.attempt(now).await;
                OffsetDateTime::now_utc()
            }
        }
    }

    async fn refresh_ari(&mut self, now: OffsetDateTime) {
        let Some(current) = self
            .current
            .as_ref()
            .filter(|c| c.source == self.issuer.source())
        else {
            return;
        };
        if self.ari.as_ref().is_some_and(|a| a.refresh_at > now)
            || self.ari_retry.is_some_and(|t| t > now)
        {
            return;
        }
        let facts = current.facts.clone();
        match self.issuer.renewal_window(&facts, now).await {
            Some((window, refresh_at)) => {
                // Keep the drawn point while the CA's window stays the same.
                let point = match &self.ari {
                    Some(a) if a.window == window => a.point,
                    _ => random_unit(),
                };
                self.ari = Some(Ari {
                    window,
                    point,
                    refresh_at,
                });
            }
            None => {
                self.ari_retry =
                    Some(now + schedule::check_interval(facts.validity.lifetime(), random_unit()))
            }
        }
    }

    async fn attempt(&mut self, now: OffsetDateTime) {
        self.state.begin(now);
        self.save_state();
        tracing::info!(names = ?self.names, source = %self.issuer.source(), "obtaining a certificate");
        let started = std::time::Instant::now();
        let result = self.issuer.obtain(&self.names).await;
        let now = OffsetDateTime::now_utc();
        match result.and_then(|issued| self.accept(issued, now)) {
            Ok(current) => {
                tracing::info!(
                    names = ?current.facts.names,
                    not_after = %current.facts.validity.not_after,
                    seconds = started.elapsed().as_secs_f64(),
                    "new certificate in service"
                );
                self.current = Some(current);
                self.ari = None;
                self.ari_retry = None;
                self.state.succeeded(now);
            }
            Err(e) => {
                self.state.failed(now, error_chain(&e));
                tracing::warn!(
                    error = %error_chain(&e),
                    hint = %e.hint(),
                    next_attempt = ?self.state.next_attempt(),
                    "could not obtain a certificate; the current one stays in service"
                );
            }
        }
        self.save_state();
    }

    /// Stores and serves a new certificate.
    fn accept(&mut self, issued: Issued, now: OffsetDateTime) -> Result<Current, AcmeError> {
        let (key, facts) = served(&issued.chain_pem, &issued.key_pem)?;
        let source = self.issuer.source().to_string();
        let stored = StoredCert {
            chain_pem: issued.chain_pem,
            key_pem: issued.key_pem,
            meta: Meta {
                source: source.clone(),
                names: self.names.clone(),
                obtained: now,
            },
        };
        // Serve it even if it cannot be stored: a full disk must not keep the site on an old one.
        if let Err(e) = storage::save_cert(&self.paths, &self.names[0], &stored) {
            tracing::error!(error = %error_chain(&e), hint = %e.hint(), "cannot store the new certificate");
        }
        self.store.install(&self.names, Arc::new(key));
        Ok(Current { facts, source })
    }
}

/// A uniformly random number in [0, 1).
fn random_unit() -> f64 {
    let bits = getrandom::u64().unwrap_or(1 << 63);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

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
            crate::fsio::write_atomic(&key, c.signing_key.serialize_pem().as_bytes(), 0o600)
                .unwrap();
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
}
