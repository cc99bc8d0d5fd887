//! The certificate manager: installs a certificate before the listeners serve, then keeps it
//! fresh (ACME, internal CA or the user's files) and swaps renewals into the cert store.
//!
//! - `issuer`: the `Issuer` seam and its two kinds (ACME client, internal CA).
//! - `renewer`: the renewal loop around one issuer.
//! - `files`: the user's own certificate files, loaded and watched.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustls::sign::CertifiedKey;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::AcmeError;
use super::certinfo::{self, CertFacts};
use super::challenge::Http01Tokens;
use super::client::{self, AcmeIssuer};
use super::internal_ca::{InternalCa, LEAF_LIFETIME};
use super::storage::{self, Meta, StoredCert};
use crate::config::{Config, TlsFiles};
use crate::diagnostic::{Diagnostic, one_line};
use crate::paths::Paths;
use crate::tls::{self, CertStore};
use files::{load_files, watch_files};
use issuer::InternalIssuer;
use renewer::Renewer;

mod files;
mod issuer;
mod renewer;

/// `Meta.source` of certificates from the internal CA.
pub const INTERNAL: &str = "internal";

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
            let (key, facts, pem) = load_files(files)?;
            self.store.install_pem(&self.names, Arc::new(key), pem);
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
                    let pem = tls::Pem {
                        chain: stored.chain_pem.clone(),
                        key: stored.key_pem.clone(),
                    };
                    self.store.install_pem(&self.names, Arc::new(key), pem);
                    *self.current.lock().expect("current lock") = Some(Current {
                        facts,
                        source: stored.meta.source,
                    });
                    return Ok(());
                }
                Ok(_) => tracing::info!("the stored certificate is not valid now; replacing it"),
                Err(e) => {
                    tracing::warn!(error = %one_line(&e), "ignoring the stored certificate")
                }
            },
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %one_line(&e), hint = %e.hint().unwrap_or_default(), "ignoring the stored certificate")
            }
        }
        let ca = InternalCa::load_or_create(&self.paths, now)?;
        let issued = ca.issue(&self.names, now, LEAF_LIFETIME)?;
        let (key, facts) = served(&issued.chain_pem, &issued.key_pem)?;
        let pem = tls::Pem {
            chain: issued.chain_pem.clone(),
            key: issued.key_pem.clone(),
        };
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
        self.store.install_pem(&self.names, Arc::new(key), pem);
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
            tracing::error!(error = %one_line(&e), hint = %e.hint().unwrap_or_default(), "no certificate to serve yet");
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

#[cfg(test)]
mod tests;
