//! Federation settings in homeserver.yaml: the allow-list, the private ranges Synapse may dial,
//! and the CA bundle Synapse trusts for outbound TLS (the system's roots plus
//! `federation.ca_roots`).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::messages::M;
use crate::config::Federation;
use crate::i18n::tr;
use crate::yaml::{Mapping, Value};

/// The bundle's name in Synapse's read-only config dir.
pub const CA_BUNDLE: &str = "federation-ca.pem";

#[derive(Debug, thiserror::Error)]
#[error("{}", tr(M::CaRoot, &[&path.display(), reason]))]
pub struct CaRootError {
    pub path: PathBuf,
    pub reason: String,
}

impl crate::diagnostic::Diagnostic for CaRootError {
    fn hint(&self) -> Option<String> {
        Some(tr(M::CaRootHint, &[]))
    }
}

/// The settings `federation:` adds: `federation_domain_whitelist` when an allow-list is set, and
/// `ip_range_whitelist` when private networks are (Synapse refuses private, loopback and reserved
/// addresses for every outbound request otherwise). Extra roots are not a setting: see
/// [`ca_env`].
pub fn settings(federation: &Federation) -> Mapping {
    let mut m = Mapping::new();
    if let Some(allow) = &federation.allow {
        let names = allow.iter().map(|n| Value::from(n.as_str())).collect();
        m.insert("federation_domain_whitelist".into(), Value::Sequence(names));
    }
    if !federation.private_networks.is_empty() {
        let nets = federation
            .private_networks
            .iter()
            .map(|n| Value::from(n.to_string()))
            .collect();
        m.insert("ip_range_whitelist".into(), Value::Sequence(nets));
    }
    m
}

/// The environment that makes Synapse trust the bundle, when extra roots are configured:
/// OpenSSL's `SSL_CERT_FILE`, read by the platform trust Synapse's federation client uses.
/// Not `federation_custom_ca_list`: Synapse reads only the first certificate of each file listed
/// there (Twisted's `Certificate.loadPEM`) and drops the system's roots.
pub fn ca_env(federation: &Federation, config_mount: &str) -> Option<String> {
    (!federation.ca_roots.is_empty()).then(|| format!("SSL_CERT_FILE={config_mount}/{CA_BUNDLE}"))
}

/// Reads `federation.ca_roots` and bundles them after the host's roots: the bundle replaces the
/// container's own, and federation with the public servers must keep working. `None` when no
/// extra roots are configured.
pub fn read_bundle(federation: &Federation) -> Result<Option<String>, CaRootError> {
    if federation.ca_roots.is_empty() {
        return Ok(None);
    }
    let mut extra = Vec::new();
    for path in &federation.ca_roots {
        let pem = std::fs::read(path).map_err(|e| CaRootError {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        extra.push((path.clone(), pem));
    }
    let system = rustls_native_certs::load_native_certs().certs;
    bundle(&system, &extra).map(Some)
}

/// Pure: the system roots, then each extra file's certificates, as one PEM text. A file without a
/// certificate, or with a broken one, is refused naming it.
pub fn bundle(
    system: &[CertificateDer<'_>],
    extra: &[(PathBuf, Vec<u8>)],
) -> Result<String, CaRootError> {
    let mut out = String::new();
    for cert in system {
        push_pem(&mut out, cert);
    }
    for (path, pem) in extra {
        let certs = certificates(path, pem)?;
        out.push_str(&format!("# {}\n", path.display()));
        for cert in &certs {
            push_pem(&mut out, cert);
        }
    }
    Ok(out)
}

fn certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, CaRootError> {
    let error = |reason: String| CaRootError {
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(tr(M::InvalidPem, &[&e])))?;
    if certs.is_empty() {
        return Err(error(tr(M::NoCertificate, &[])));
    }
    for cert in &certs {
        x509_parser::parse_x509_certificate(cert)
            .map_err(|e| error(tr(M::InvalidCertificate, &[&e])))?;
    }
    Ok(certs)
}

fn push_pem(out: &mut String, cert: &CertificateDer<'_>) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> (CertificateDer<'static>, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        (cert.der().clone(), cert.pem())
    }

    #[test]
    fn bundle_keeps_the_system_roots_first_and_adds_each_file() {
        let (system, _) = ca();
        let (_, extra_pem) = ca();
        let out = bundle(
            std::slice::from_ref(&system),
            &[(PathBuf::from("/etc/private-ca.pem"), extra_pem.into_bytes())],
        )
        .unwrap();
        let certs: Vec<_> = CertificateDer::pem_slice_iter(out.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0], system, "system roots come first, unchanged");
        assert!(out.contains("# /etc/private-ca.pem\n"));
    }

    #[test]
    fn files_without_certificates_are_refused_by_name() {
        for bad in [
            &b"not a pem"[..],
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ] {
            let err = bundle(&[], &[(PathBuf::from("/etc/x.pem"), bad.to_vec())]).unwrap_err();
            assert!(err.to_string().contains("/etc/x.pem"), "{err}");
            assert!(
                crate::diagnostic::Diagnostic::hint(&err)
                    .unwrap()
                    .contains("federation.ca_roots")
            );
        }
        let err = read_bundle(&Federation {
            ca_roots: vec!["/nonexistent/ca.pem".into()],
            ..Federation::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn settings_follow_the_config() {
        assert!(settings(&Federation::default()).is_empty());
        assert_eq!(ca_env(&Federation::default(), "/config"), None);
        let m = settings(&Federation {
            allow: Some(vec!["a.test".into(), "b.test:8448".into()]),
            ca_roots: vec!["/etc/ca.pem".into()],
            dns_servers: vec!["10.0.0.53".parse().unwrap()],
            private_networks: vec!["10.20.0.0/16".parse().unwrap()],
        });
        assert_eq!(
            m[&Value::from("federation_domain_whitelist")],
            Value::Sequence(vec!["a.test".into(), "b.test:8448".into()])
        );
        assert_eq!(
            m[&Value::from("ip_range_whitelist")],
            Value::Sequence(vec!["10.20.0.0/16".into()])
        );
        assert!(m.get("federation_custom_ca_list").is_none());
        let roots = Federation {
            ca_roots: vec!["/etc/ca.pem".into()],
            ..Federation::default()
        };
        assert_eq!(
            ca_env(&roots, "/config").as_deref(),
            Some("SSL_CERT_FILE=/config/federation-ca.pem")
        );
    }
}
