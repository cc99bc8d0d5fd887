//! Certificates for the edge: ACME account, orders and challenges, the internal CA, the user's
//! own files, storage under the state dir, and renewal with backoff.

pub(crate) mod certinfo;
mod challenge;
mod client;
mod internal_ca;
mod manager;
mod messages;
mod schedule;
mod storage;
pub use storage::cert_files;

use std::path::PathBuf;

use serde::Serialize;
use time::OffsetDateTime;

pub use challenge::Http01Tokens;
pub use manager::CertManager;

use messages::M;

use crate::diagnostic::Diagnostic;
use crate::fsio::FsError;
use crate::i18n::{phrase, tr};
use crate::paths::Paths;
use crate::secrets::Redacted;
use crate::tls::TlsError;

/// A certificate chain (leaf first) and its private key, both PEM. `Debug` hides the key.
#[derive(Clone)]
pub struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("chain_pem", &self.chain_pem)
            .field("key_pem", &Redacted)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{}", tr(M::Read, &[&phrase(what), &path.display()]))]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", tr(M::Corrupt, &[&phrase(what), &path.display(), reason]))]
    Corrupt {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{}", tr(M::Files, &[&cert.display(), &key.display()]))]
    Files {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: TlsError,
    },
    #[error("{}", tr(M::BadCertificate, &[source_name, reason]))]
    BadCertificate { source_name: String, reason: String },
    #[error("{}", tr(M::CaRoot, &[&path.display()]))]
    CaRoot {
        path: PathBuf,
        #[source]
        source: instant_acme::Error,
    },
    #[error("{}", tr(M::Acme, &[&phrase(action), directory]))]
    Acme {
        action: &'static str,
        directory: String,
        #[source]
        source: instant_acme::Error,
    },
    #[error("{}", tr(M::Order, &[directory, detail]))]
    Order { directory: String, detail: String },
    #[error("{}", tr(M::Challenge, &[name, kind, detail]))]
    Challenge {
        name: String,
        kind: &'static str,
        detail: String,
    },
    #[error("{}", tr(M::NotOffered, &[directory, kind, name]))]
    NotOffered {
        directory: String,
        kind: &'static str,
        name: String,
    },
    #[error("{}", tr(M::Timeout, &[directory, seconds]))]
    Timeout { directory: String, seconds: u64 },
    #[error("{}", tr(M::NoListener, &[]))]
    NoListener,
    #[error("{}", tr(M::InternalCa, &[&phrase(action)]))]
    InternalCa {
        action: &'static str,
        #[source]
        source: rcgen::Error,
    },
}

impl Diagnostic for AcmeError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            AcmeError::Fs(e) => return e.hint(),
            AcmeError::Read { path, .. } => tr(M::ReadHint, &[&path.display()]),
            AcmeError::Corrupt { path, .. } => tr(M::CorruptHint, &[&path.display()]),
            AcmeError::Files { .. } => tr(M::FilesHint, &[]),
            AcmeError::BadCertificate { .. } => tr(M::BadCertificateHint, &[]),
            AcmeError::CaRoot { .. } => tr(M::CaRootHint, &[]),
            AcmeError::Acme {
                source, directory, ..
            } => match client::problem_type(source) {
                Some("rateLimited") => tr(M::RateLimited, &[]),
                Some("rejectedIdentifier") | Some("unsupportedIdentifier") => tr(M::Rejected, &[]),
                Some("caa") => tr(M::Caa, &[]),
                Some("invalidContact") | Some("unsupportedContact") => tr(M::Contact, &[]),
                Some(_) => tr(M::Backoff, &[]),
                None => tr(M::Reach, &[directory]),
            },
            AcmeError::Timeout { directory, .. } => tr(M::Reach, &[directory]),
            AcmeError::Order { .. } => tr(M::OrderHint, &[]),
            AcmeError::Challenge { kind, .. } => tr(
                M::ChallengeHint,
                &[&if *kind == "http-01" { 80 } else { 443 }],
            ),
            AcmeError::NotOffered { .. } => tr(M::NotOfferedHint, &[]),
            AcmeError::NoListener => tr(M::NoListenerHint, &[]),
            AcmeError::InternalCa { .. } => tr(M::BugHint, &[]),
        })
    }
}

/// A managed certificate as `matrixbox status` shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CertStatus {
    pub names: Vec<String>,
    /// The issuer's distinguished name; `None` while no certificate is stored.
    pub issuer: Option<String>,
    /// `internal` or the ACME directory URL.
    pub source: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_after: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_renewal: Option<OffsetDateTime>,
    /// Set while failures hold the next attempt back.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt: Option<OffsetDateTime>,
    pub failures: u32,
    pub last_error: Option<String>,
    /// Where the certificate is stored.
    pub path: Option<String>,
    /// For internal certificates: the root to trust.
    pub trust_root: Option<String>,
}

/// For `matrixbox status` (serde::Serialize): names, issuer, not_after, next renewal, last error.
pub fn status(paths: &Paths) -> Vec<CertStatus> {
    let renewal = storage::load_renewal(paths).ok().flatten();
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(paths.certs_dir())
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    let mut renewal_shown = false;
    for dir in dirs {
        let Some(primary) = dir.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let files = storage::cert_files(paths, primary);
        let Ok(chain) = std::fs::read(&files.chain) else {
            continue;
        };
        let facts = certinfo::from_pem(&chain).ok();
        let meta: Option<storage::Meta> = std::fs::read(&files.meta)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let mut status = CertStatus {
            names: facts
                .as_ref()
                .map(|f| f.names.clone())
                .or_else(|| meta.as_ref().map(|m| m.names.clone()))
                .unwrap_or_default(),
            issuer: facts.as_ref().map(|f| f.issuer.clone()),
            source: meta.as_ref().map(|m| m.source.clone()),
            not_after: facts.as_ref().map(|f| f.validity.not_after),
            next_renewal: facts
                .as_ref()
                .map(|f| schedule::lifetime_renewal(f.validity)),
            next_attempt: None,
            failures: 0,
            last_error: None,
            path: Some(files.dir.display().to_string()),
            trust_root: None,
        };
        if status.source.as_deref() == Some(manager::INTERNAL) {
            status.trust_root = Some(paths.ca_root().display().to_string());
        }
        if let Some(r) = renewal
            .as_ref()
            .filter(|r| r.names.first().is_some_and(|n| paths.cert_dir(n) == dir))
        {
            apply_renewal(&mut status, r);
            renewal_shown = true;
        }
        out.push(status);
    }
    // Failing before any certificate was stored: still say so.
    if let Some(r) = renewal.filter(|r| !renewal_shown && !r.names.is_empty()) {
        let mut status = CertStatus {
            names: r.names.clone(),
            issuer: None,
            source: None,
            not_after: None,
            next_renewal: None,
            next_attempt: None,
            failures: 0,
            last_error: None,
            path: None,
            trust_root: None,
        };
        apply_renewal(&mut status, &r);
        out.push(status);
    }
    out
}

fn apply_renewal(status: &mut CertStatus, renewal: &schedule::RenewalState) {
    if renewal.next_renewal.is_some() {
        status.next_renewal = renewal.next_renewal;
    }
    status.failures = renewal.failures;
    status.last_error = renewal.last_error.clone();
    status.next_attempt = renewal.next_attempt();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reports_stored_certificate_and_failures() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("m.yaml"), dir.path());
        assert!(status(&paths).is_empty());

        let names = vec!["a.example.org".to_string(), "example.org".to_string()];
        let mut state = schedule::RenewalState::default().resume(&names);
        let t = time::macros::datetime!(2025-01-01 00:00 UTC);
        state.failed(t, "connection refused".into());
        storage::save_renewal(&paths, &state).unwrap();
        let only_failure = status(&paths);
        assert_eq!(only_failure.len(), 1);
        assert_eq!(only_failure[0].names, names);
        assert_eq!(
            only_failure[0].next_attempt,
            Some(t + time::Duration::minutes(1))
        );

        let ca =
            internal_ca::InternalCa::load_or_create(&paths, OffsetDateTime::now_utc()).unwrap();
        let issued = ca
            .issue(&names, OffsetDateTime::now_utc(), time::Duration::days(30))
            .unwrap();
        let meta = storage::Meta {
            source: "internal".into(),
            names: names.clone(),
            obtained: OffsetDateTime::now_utc(),
        };
        storage::save_cert(
            &paths,
            "a.example.org",
            &storage::StoredCert {
                chain_pem: issued.chain_pem,
                key_pem: issued.key_pem,
                meta,
            },
        )
        .unwrap();
        let shown = status(&paths);
        assert_eq!(shown.len(), 1, "{shown:#?}");
        let s = &shown[0];
        assert_eq!(s.names, names);
        assert!(s.issuer.as_deref().unwrap().contains("matrixbox local CA"));
        assert_eq!(s.failures, 1);
        assert_eq!(s.last_error.as_deref(), Some("connection refused"));
        assert_eq!(
            s.trust_root.as_deref(),
            Some(paths.ca_root().to_str().unwrap())
        );
        let json = serde_json::to_value(s).unwrap();
        assert!(json["not_after"].as_str().unwrap().ends_with('Z'), "{json}");
    }

    #[test]
    fn debug_hides_the_private_key() {
        let issued = Issued {
            chain_pem: "-----BEGIN CERTIFICATE-----".into(),
            key_pem: "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n".into(),
        };
        let shown = format!("{issued:?}");
        assert!(shown.contains("BEGIN CERTIFICATE"), "{shown}");
        assert!(
            !shown.contains("PRIVATE KEY") && !shown.contains("c2VjcmV0"),
            "{shown}"
        );
    }

    #[test]
    fn errors_render_with_their_hint() {
        let err = anyhow::Error::from(AcmeError::Challenge {
            name: "a.example.org".into(),
            kind: "tls-alpn-01",
            detail: "connection refused".into(),
        });
        let text = crate::report::render(&err);
        assert!(
            text.starts_with("error: the CA could not validate a.example.org with tls-alpn-01"),
            "{text}"
        );
        assert!(
            text.contains("hint: ") && text.contains("port 443"),
            "{text}"
        );
    }
}
