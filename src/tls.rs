//! The certificate store the TLS listeners read: keyed by name, swapped in place on renewal, plus
//! TLS-ALPN-01 challenge certificates; and the rustls server configuration built on it.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::i18n::{messages, tr};

pub const ALPN_ACME_TLS: &[u8] = b"acme-tls/1";

messages! {
    NoCertificate => "no certificate found in the PEM data", "PEM 数据中没有证书";
    NoKey => "no private key found in the PEM data", "PEM 数据中没有私钥";
    Pem => "invalid PEM data", "PEM 数据无效";
    Key => "the private key is not usable for TLS", "该私钥不能用于 TLS";
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}", tr(M::NoCertificate, &[]))]
    NoCertificate,
    #[error("{}", tr(M::NoKey, &[]))]
    NoKey,
    #[error("{}", tr(M::Pem, &[]))]
    Pem(#[source] rustls::pki_types::pem::Error),
    #[error("{}", tr(M::Key, &[]))]
    Key(#[source] rustls::Error),
}

/// Parses a PEM chain (leaf first) and a PEM private key into something rustls can serve.
pub fn certified_key_from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<_, _>>()
        .map_err(TlsError::Pem)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey,
        e => TlsError::Pem(e),
    })?;
    let signer = any_supported_type(&key).map_err(TlsError::Key)?;
    // `CertifiedKey::new` (not `from_der`): it does not insist on parsing every extension,
    // which matters for the critical acmeIdentifier extension of TLS-ALPN-01 certificates.
    Ok(CertifiedKey::new(chain, signer))
}

/// A certificate chain (leaf first) and its private key as PEM: what the daemon hands to the
/// unprivileged edge process, which cannot read the key on disk.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Pem {
    pub chain: String,
    pub key: String,
}

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Pem {{ chain: {} bytes, key: <redacted> }}",
            self.chain.len()
        )
    }
}

/// A change to a store, as told to its watcher (`CertStore::watch`).
#[derive(Debug, Clone)]
pub enum StoreChange {
    Installed {
        names: Vec<String>,
        pem: Pem,
    },
    /// A TLS-ALPN-01 challenge certificate set (`Some`) or cleared.
    AlpnChallenge {
        name: String,
        pem: Option<Pem>,
    },
}

/// Who is told of every change: the daemon, which mirrors its store into the edge process.
struct Watcher(Box<dyn Fn(StoreChange) + Send + Sync>);

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watcher")
    }
}

/// Names -> certificates, read on every handshake and replaced atomically by the ACME manager.
///
/// Policy for SNI: a known name gets its certificate; no SNI (clients connecting by IP address)
/// gets the default (primary) certificate; an unknown name is refused, so the server does not
/// present a certificate for a name it was not asked about.
#[derive(Debug, Default)]
pub struct CertStore {
    by_name: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    default: RwLock<Option<Arc<CertifiedKey>>>,
    alpn_challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    watcher: OnceLock<Watcher>,
}

impl CertStore {
    pub fn new() -> Arc<CertStore> {
        Arc::new(CertStore::default())
    }

    /// Serves `key` for every name in `names` (the first becomes the default); open connections
    /// keep the certificate they started with, new handshakes get this one.
    pub fn install(&self, names: &[String], key: Arc<CertifiedKey>) {
        let mut by_name = self.by_name.write().expect("cert store lock");
        for name in names {
            by_name.insert(name.to_ascii_lowercase(), key.clone());
        }
        let mut default = self.default.write().expect("cert store lock");
        if default.is_none()
            || names
                .first()
                .is_some_and(|n| by_name.get(&n.to_ascii_lowercase()).is_some())
        {
            *default = Some(key);
        }
    }

    /// `install`, and tells the watcher with the PEM it was made from.
    pub fn install_pem(&self, names: &[String], key: Arc<CertifiedKey>, pem: Pem) {
        self.install(names, key);
        self.tell(StoreChange::Installed {
            names: names.to_vec(),
            pem,
        });
    }

    /// Calls `watcher` with every later change made through `install_pem` and the ALPN
    /// challenges; set once, before the first certificate is installed.
    pub fn watch(&self, watcher: impl Fn(StoreChange) + Send + Sync + 'static) {
        let _ = self.watcher.set(Watcher(Box::new(watcher)));
    }

    fn tell(&self, change: StoreChange) {
        if let Some(watcher) = self.watcher.get() {
            (watcher.0)(change);
        }
    }

    /// The certificate currently served for `name`.
    pub fn get(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        self.by_name
            .read()
            .expect("cert store lock")
            .get(&name.to_ascii_lowercase())
            .cloned()
    }

    pub fn set_alpn_challenge(&self, name: &str, key: Arc<CertifiedKey>, pem: Pem) {
        self.alpn_challenges
            .write()
            .expect("cert store lock")
            .insert(name.to_ascii_lowercase(), key);
        self.tell(StoreChange::AlpnChallenge {
            name: name.to_string(),
            pem: Some(pem),
        });
    }

    pub fn clear_alpn_challenge(&self, name: &str) {
        self.alpn_challenges
            .write()
            .expect("cert store lock")
            .remove(&name.to_ascii_lowercase());
        self.tell(StoreChange::AlpnChallenge {
            name: name.to_string(),
            pem: None,
        });
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(str::to_ascii_lowercase);
        let only_acme_tls = hello
            .alpn()
            .map(|mut protocols| {
                protocols.next() == Some(ALPN_ACME_TLS) && protocols.next().is_none()
            })
            .unwrap_or(false);
        if only_acme_tls {
            // The challenge certificate only for a validation request, never for normal clients.
            return name.and_then(|n| {
                self.alpn_challenges
                    .read()
                    .expect("cert store lock")
                    .get(&n)
                    .cloned()
            });
        }
        match name {
            Some(n) => self
                .by_name
                .read()
                .expect("cert store lock")
                .get(&n)
                .cloned(),
            None => self.default.read().expect("cert store lock").clone(),
        }
    }
}

/// Roots a client of the public internet trusts: the system's, plus extra PEM files (a private
/// ACME CA's root, `--ca-file`, the internal CA's root).
pub fn client_roots(extra: &[&std::path::Path]) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    for path in extra {
        let certs =
            CertificateDer::pem_file_iter(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for cert in certs {
            roots
                .add(cert.map_err(|e| format!("{}: {e}", path.display()))?)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(roots)
}

/// The suites the edge offers, in the order it picks them: Mozilla's "intermediate" order, AES-128
/// before AES-256 (ring's own list puts AES-256 first). AES-128-GCM is as safe in practice and
/// takes fewer rounds per record and a cheaper key schedule (SHA-256), which the edge pays on
/// every answer once the server's order wins.
const SERVER_SUITE_ORDER: &[rustls::SupportedCipherSuite] = {
    use rustls::crypto::ring::cipher_suite::*;
    &[
        TLS13_AES_128_GCM_SHA256,
        TLS13_AES_256_GCM_SHA384,
        TLS13_CHACHA20_POLY1305_SHA256,
        TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ]
};

/// TLS 1.2+ with ALPN h2, http/1.1 and acme-tls/1, certificates from `store`. The server's
/// cipher suite order wins over the client's, so a client cannot steer the choice to the weakest
/// suite both support.
pub fn server_config(store: Arc<CertStore>) -> rustls::ServerConfig {
    let provider = Arc::new(rustls::crypto::CryptoProvider {
        cipher_suites: SERVER_SUITE_ORDER.to_vec(),
        ..rustls::crypto::ring::default_provider()
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("ring supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec(), ALPN_ACME_TLS.to_vec()];
    config.ignore_client_order = true;
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages_with_the_same_placeholders() {
        crate::i18n::assert_complete(M::ALL);
    }

    fn self_signed(name: &str) -> Arc<CertifiedKey> {
        let cert = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        Arc::new(
            certified_key_from_pem(
                cert.cert.pem().as_bytes(),
                cert.signing_key.serialize_pem().as_bytes(),
            )
            .unwrap(),
        )
    }

    #[test]
    fn pem_errors_are_specific() {
        assert!(matches!(
            certified_key_from_pem(b"", b""),
            Err(TlsError::NoCertificate)
        ));
        let cert = rcgen::generate_simple_self_signed(vec!["a".into()]).unwrap();
        assert!(matches!(
            certified_key_from_pem(cert.cert.pem().as_bytes(), b""),
            Err(TlsError::NoKey)
        ));
    }

    #[test]
    fn install_swaps_and_sets_default() {
        let store = CertStore::new();
        let first = self_signed("a.example");
        store.install(&["A.example".into(), "b.example".into()], first.clone());
        assert!(Arc::ptr_eq(&store.get("a.example").unwrap(), &first));
        let second = self_signed("a.example");
        store.install(&["a.example".into(), "b.example".into()], second.clone());
        assert!(Arc::ptr_eq(&store.get("b.example").unwrap(), &second));
        assert!(Arc::ptr_eq(
            store.default.read().unwrap().as_ref().unwrap(),
            &second
        ));
    }
}
