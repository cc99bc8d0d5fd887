//! What a certificate says about itself: names, issuer, validity and its ARI identifier.

use instant_acme::CertificateIdentifier;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::extensions::GeneralName;

use super::schedule::Validity;

#[derive(Debug, Clone)]
pub struct CertFacts {
    /// DNS names and IP addresses from the subjectAltName extension.
    pub names: Vec<String>,
    /// The issuer's distinguished name, as people read it.
    pub issuer: String,
    pub validity: Validity,
    /// How ARI (RFC 9773) names this certificate; absent without an authority key identifier.
    pub ari_id: Option<CertificateIdentifier<'static>>,
}

/// Reads the leaf (first certificate) of a PEM chain.
pub fn from_pem(chain_pem: &[u8]) -> Result<CertFacts, String> {
    let der = CertificateDer::pem_slice_iter(chain_pem)
        .next()
        .ok_or("no certificate in the PEM data")?
        .map_err(|e| format!("invalid PEM: {e}"))?;
    from_der(&der)
}

pub fn from_der(der: &CertificateDer<'_>) -> Result<CertFacts, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("invalid certificate: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push(dns.to_string()),
                GeneralName::IPAddress(bytes) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                        names.push(std::net::Ipv4Addr::from(v4).to_string());
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                        names.push(std::net::Ipv6Addr::from(v6).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let validity = Validity {
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
    };
    Ok(CertFacts {
        names,
        issuer: cert.issuer().to_string(),
        validity,
        ari_id: CertificateIdentifier::try_from(der)
            .ok()
            .map(CertificateIdentifier::into_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_issuer_and_validity() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["a.example".into(), "127.0.0.1".into()]).unwrap();
        params.not_before = time::macros::datetime!(2025-01-01 00:00 UTC);
        params.not_after = time::macros::datetime!(2025-04-01 00:00 UTC);
        let cert = params.self_signed(&key).unwrap();
        let facts = from_pem(cert.pem().as_bytes()).unwrap();
        assert_eq!(facts.names, ["a.example", "127.0.0.1"]);
        assert_eq!(facts.issuer, "CN=rcgen self signed cert");
        assert_eq!(facts.validity.lifetime(), time::Duration::days(90));
        assert!(
            facts.ari_id.is_none(),
            "self-signed without AKI has no ARI identifier"
        );
        assert!(from_pem(b"").is_err());
    }
}
