//! The daemon's certificates: the store the edge serves from, the HTTP-01 tokens, and the running
//! manager that keeps them fresh.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::tasks::Tasks;
use crate::acme::{AcmeError, CertManager, Http01Tokens};
use crate::config::Config;
use crate::notify;
use crate::paths::Paths;
use crate::proxy::ChallengeLookup;
use crate::tls::CertStore;

impl ChallengeLookup for Http01Tokens {
    fn key_authorization(&self, token: &str) -> Option<String> {
        self.get(token)
    }
}

/// The certificate side of the daemon: the store the edge serves from, the HTTP-01 tokens it
/// answers with, and the running manager (replaced when a reload changes what to certify).
pub(super) struct Certificates {
    pub(super) store: Arc<CertStore>,
    pub(super) tokens: Http01Tokens,
    /// Cancels the running manager.
    pub(super) manager: CancellationToken,
}

impl Certificates {
    /// Installs what can be served right away, then starts the manager that keeps it fresh.
    pub(super) fn start(
        config: &Config,
        paths: &Paths,
        store: Arc<CertStore>,
        tokens: Http01Tokens,
        tasks: &mut Tasks,
        shutdown: &CancellationToken,
    ) -> Result<Certificates, AcmeError> {
        let certificates = Certificates {
            store,
            tokens,
            manager: shutdown.child_token(),
        };
        certificates.spawn_manager(config, paths, tasks)?;
        Ok(certificates)
    }

    /// Starts a certificate manager for `config` after installing what can be served right away.
    pub(super) fn spawn_manager(
        &self,
        config: &Config,
        paths: &Paths,
        tasks: &mut Tasks,
    ) -> Result<(), AcmeError> {
        let manager = CertManager::new(config, paths, self.store.clone(), self.tokens.clone());
        manager.install_initial()?;
        tasks.spawn(
            "the certificate manager",
            self.manager.clone(),
            manager.run(self.manager.clone()),
        );
        Ok(())
    }

    /// Stops the running manager and starts one for `config`; on failure the certificates
    /// already in the store stay in service.
    pub(super) fn restart(
        &mut self,
        config: &Config,
        paths: &Paths,
        tasks: &mut Tasks,
        shutdown: &CancellationToken,
    ) {
        self.manager.cancel();
        self.manager = shutdown.child_token();
        if let Err(e) = self.spawn_manager(config, paths, tasks) {
            tracing::error!(
                "certificates for the new configuration failed, serving the previous ones: {e}"
            );
        }
    }

    /// The `notAfter` of the certificate served for `config`'s primary name.
    pub(super) fn served_until(&self, config: &Config) -> Option<time::OffsetDateTime> {
        self.store
            .get(&config.tls_names()[0])
            .and_then(|key| key.cert.first().and_then(|der| notify::not_after(der)))
    }
}
