//! Where certificates come from: the `Issuer` seam, for the ACME client and the internal CA.

use time::OffsetDateTime;

use super::INTERNAL;
use crate::acme::certinfo::CertFacts;
use crate::acme::client::AcmeIssuer;
use crate::acme::internal_ca::{InternalCa, LEAF_LIFETIME};
use crate::acme::schedule::Window;
use crate::acme::{AcmeError, Issued};
use crate::paths::Paths;

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
pub(super) struct InternalIssuer {
    pub(super) paths: Paths,
    pub(super) ca: Option<InternalCa>,
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
