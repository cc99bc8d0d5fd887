//! The renewal loop around one issuer: plan, obtain when due, store and serve, back off on
//! failure, with its state kept on disk across restarts.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::issuer::Issuer;
use super::{CertManager, Current, served};
use crate::acme::schedule::{self, Plan, RenewalState, Served, Window};
use crate::acme::storage::{self, Meta, StoredCert};
use crate::acme::{AcmeError, Issued};
use crate::diagnostic::{Diagnostic, one_line};
use crate::paths::Paths;
use crate::tls::CertStore;

/// An ARI answer, kept until the CA's Retry-After.
struct Ari {
    window: Window,
    /// Where in the window to renew, drawn once per window.
    point: f64,
    refresh_at: OffsetDateTime,
}

/// The renewal loop around one issuer.
pub(crate) struct Renewer<I> {
    pub(super) issuer: I,
    names: Vec<String>,
    paths: Paths,
    store: Arc<CertStore>,
    pub(super) current: Option<Current>,
    state: RenewalState,
    ari: Option<Ari>,
    /// When the ARI window may be asked for again after a failed or empty answer.
    ari_retry: Option<OffsetDateTime>,
}

impl<I: Issuer> Renewer<I> {
    pub(super) fn new(issuer: I, manager: &CertManager, current: Option<Current>) -> Renewer<I> {
        Renewer::with_parts(
            issuer,
            manager.names.clone(),
            manager.paths.clone(),
            manager.store.clone(),
            current,
        )
    }

    pub(super) fn with_parts(
        issuer: I,
        names: Vec<String>,
        paths: Paths,
        store: Arc<CertStore>,
        current: Option<Current>,
    ) -> Renewer<I> {
        let state = match storage::load_renewal(&paths) {
            Ok(state) => state.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %one_line(&e), "starting with fresh renewal state");
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
            tracing::warn!(error = %one_line(&e), "cannot save the renewal state");
        }
    }

    pub(super) async fn run(mut self, shutdown: CancellationToken) {
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
    pub(super) async fn step(&mut self, now: OffsetDateTime) -> OffsetDateTime {
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
                self.state.failed(now, one_line(&e));
                tracing::warn!(
                    error = %one_line(&e),
                    hint = %e.hint().unwrap_or_default(),
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
        let pem = crate::tls::Pem {
            chain: issued.chain_pem.clone(),
            key: issued.key_pem.clone(),
        };
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
            tracing::error!(error = %one_line(&e), hint = %e.hint().unwrap_or_default(), "cannot store the new certificate");
        }
        self.store.install_pem(&self.names, Arc::new(key), pem);
        Ok(Current { facts, source })
    }
}

/// A uniformly random number in [0, 1).
fn random_unit() -> f64 {
    let bits = getrandom::u64().unwrap_or(1 << 63);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}
