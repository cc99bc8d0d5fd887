//! Challenge responses while an order runs: HTTP-01 tokens for the :80 listener and TLS-ALPN-01
//! certificates in the cert store, both removed when the order is over.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use rcgen::{CertificateParams, CustomExtension, KeyPair};

use super::AcmeError;
use crate::tls::{self, CertStore};

/// HTTP-01 tokens the :80 listener answers (token -> key authorization). Clone = shared.
#[derive(Clone, Default)]
pub struct Http01Tokens {
    map: Arc<RwLock<HashMap<String, String>>>,
    /// Told of every token set (`Some`) or removed: the daemon mirrors them into the edge process.
    watcher: Arc<OnceLock<TokenWatcher>>,
}

type TokenWatcher = Box<dyn Fn(&str, Option<&str>) + Send + Sync>;

impl Http01Tokens {
    /// The key authorization to answer `/.well-known/acme-challenge/<token>` with.
    pub fn get(&self, token: &str) -> Option<String> {
        self.map.read().expect("token lock").get(token).cloned()
    }

    /// Calls `watcher` with every later change; set once, before any order runs.
    pub fn watch(&self, watcher: impl Fn(&str, Option<&str>) + Send + Sync + 'static) {
        let _ = self.watcher.set(Box::new(watcher));
    }

    pub fn insert(&self, token: &str, key_authorization: &str) {
        self.map
            .write()
            .expect("token lock")
            .insert(token.to_string(), key_authorization.to_string());
        if let Some(watcher) = self.watcher.get() {
            watcher(token, Some(key_authorization));
        }
    }

    pub fn remove(&self, token: &str) {
        self.map.write().expect("token lock").remove(token);
        if let Some(watcher) = self.watcher.get() {
            watcher(token, None);
        }
    }
}

/// The responses set up for one order. They stay in place until this is dropped, i.e. until the
/// order is over: CAs validate from several places in parallel, and may retry.
pub struct Responses {
    tokens: Http01Tokens,
    store: Arc<CertStore>,
    http: Vec<String>,
    alpn: Vec<String>,
}

impl Responses {
    pub fn new(tokens: Http01Tokens, store: Arc<CertStore>) -> Responses {
        Responses {
            tokens,
            store,
            http: Vec::new(),
            alpn: Vec::new(),
        }
    }

    pub fn http01(&mut self, token: &str, key_authorization: &str) {
        self.tokens.insert(token, key_authorization);
        self.http.push(token.to_string());
    }

    /// Serves the TLS-ALPN-01 certificate for `name` whose acmeIdentifier holds `digest`, the
    /// SHA-256 of the key authorization (RFC 8737).
    pub fn tls_alpn01(&mut self, name: &str, digest: &[u8]) -> Result<(), AcmeError> {
        let (key, pem) = alpn_certificate(name, digest)?;
        self.store.set_alpn_challenge(name, Arc::new(key), pem);
        self.alpn.push(name.to_string());
        Ok(())
    }
}

impl Drop for Responses {
    fn drop(&mut self) {
        for token in &self.http {
            self.tokens.remove(token);
        }
        for name in &self.alpn {
            self.store.clear_alpn_challenge(name);
        }
    }
}

/// A self-signed certificate for `name` with the critical acmeIdentifier extension.
pub fn alpn_certificate(
    name: &str,
    digest: &[u8],
) -> Result<(rustls::sign::CertifiedKey, tls::Pem), AcmeError> {
    let failed = |action| move |source| AcmeError::InternalCa { action, source };
    let key = KeyPair::generate().map_err(failed("generate a TLS-ALPN-01 key"))?;
    let mut params =
        CertificateParams::new(vec![name.to_string()]).map_err(failed("use this name"))?;
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest)];
    let cert = params
        .self_signed(&key)
        .map_err(failed("sign a TLS-ALPN-01 certificate"))?;
    // `certified_key_from_pem` goes through `CertifiedKey::new`, which accepts the critical
    // extension that `from_der` would reject.
    let pem = tls::Pem {
        chain: cert.pem(),
        key: key.serialize_pem(),
    };
    let served = tls::certified_key_from_pem(pem.chain.as_bytes(), pem.key.as_bytes()).map_err(
        |source| AcmeError::BadCertificate {
            source_name: "the TLS-ALPN-01 challenge".into(),
            reason: source.to_string(),
        },
    )?;
    Ok((served, pem))
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::*;

    #[test]
    fn alpn_certificate_carries_critical_acme_identifier() {
        let digest = [7u8; 32];
        let (key, _) = alpn_certificate("a.example", &digest).unwrap();
        let (_, cert) = parse_x509_certificate(key.cert[0].as_ref()).unwrap();
        let ext = cert
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
            .expect("acmeIdentifier extension");
        assert!(ext.critical);
        // OCTET STRING (0x04), length 32, then the digest.
        assert_eq!(&ext.value[..2], &[0x04, 32]);
        assert_eq!(&ext.value[2..], &digest);
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert_eq!(san.value.general_names, [GeneralName::DNSName("a.example")]);
    }

    #[test]
    fn responses_live_until_dropped() {
        let tokens = Http01Tokens::default();
        let store = CertStore::new();
        {
            let mut r = Responses::new(tokens.clone(), store.clone());
            r.http01("tok", "tok.thumb");
            r.tls_alpn01("a.example", &[1u8; 32]).unwrap();
            assert_eq!(tokens.get("tok").as_deref(), Some("tok.thumb"));
        }
        assert_eq!(tokens.get("tok"), None);
    }
}
