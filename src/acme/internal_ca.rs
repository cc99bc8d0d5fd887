//! The local CA matrixbox makes for itself: for `acme: internal` and as the stand-in certificate
//! until a public one arrives. Its root is kept under the state dir for users to trust.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::{AcmeError, Issued};
use crate::fsio;
use crate::paths::Paths;

/// Lifetime of the leaf certificates it issues; renewed at a third left like any other.
pub const LEAF_LIFETIME: Duration = Duration::days(30);
const ROOT_LIFETIME: Duration = Duration::days(3650);
/// Clocks of clients are not all right: certificates start a little in the past.
const BACKDATE: Duration = Duration::hours(1);

pub struct InternalCa {
    issuer: Issuer<'static, KeyPair>,
}

impl InternalCa {
    /// Loads the CA from `state/ca`, creating it on first use. A half-written pair (key without
    /// certificate or the reverse) is replaced, since neither half is usable alone.
    pub fn load_or_create(paths: &Paths, now: OffsetDateTime) -> Result<InternalCa, AcmeError> {
        let (cert_path, key_path) = (paths.ca_root(), paths.ca_root_key());
        if cert_path.exists() && key_path.exists() {
            let read = |path: &std::path::Path| {
                std::fs::read_to_string(path).map_err(|source| AcmeError::Read {
                    what: "the internal CA",
                    path: path.to_path_buf(),
                    source,
                })
            };
            let (cert_pem, key_pem) = (read(&cert_path)?, read(&key_path)?);
            let corrupt = |reason: String| AcmeError::Corrupt {
                what: "the internal CA",
                path: paths.ca_dir(),
                reason,
            };
            let key = KeyPair::from_pem(&key_pem).map_err(|e| corrupt(e.to_string()))?;
            let issuer =
                Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|e| corrupt(e.to_string()))?;
            return Ok(InternalCa { issuer });
        }

        let key = KeyPair::generate().map_err(|source| AcmeError::InternalCa {
            action: "generate its key",
            source,
        })?;
        let mut params = CertificateParams::default();
        let id: String = hex::encode(random_bytes::<4>());
        params
            .distinguished_name
            .push(DnType::CommonName, format!("matrixbox local CA {id}"));
        params
            .distinguished_name
            .push(DnType::OrganizationName, "matrixbox");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = now - BACKDATE;
        params.not_after = now + ROOT_LIFETIME;
        params.serial_number = Some(SerialNumber::from_slice(&random_bytes::<16>()));
        let cert = params
            .self_signed(&key)
            .map_err(|source| AcmeError::InternalCa {
                action: "sign its root certificate",
                source,
            })?;
        fsio::ensure_dir(&paths.ca_dir(), 0o755)?;
        // Key first: a crash before the certificate is written leaves a pair that is remade.
        fsio::write_atomic(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
        fsio::write_atomic(&cert_path, cert.pem().as_bytes(), 0o644)?;
        tracing::info!(root = %cert_path.display(), "created the internal CA; trust this file to trust its certificates");
        Ok(InternalCa {
            issuer: Issuer::new(params, key),
        })
    }

    /// A leaf for `names` (DNS names or IP addresses), valid from about `now` for `lifetime`.
    pub fn issue(
        &self,
        names: &[String],
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> Result<Issued, AcmeError> {
        let failed = |action| move |source| AcmeError::InternalCa { action, source };
        let key = KeyPair::generate().map_err(failed("generate a certificate key"))?;
        let mut params =
            CertificateParams::new(names.to_vec()).map_err(failed("use these names"))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(primary) = names.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, primary.clone());
        }
        params.not_before = now - BACKDATE;
        params.not_after = now + lifetime;
        params.serial_number = Some(SerialNumber::from_slice(&random_bytes::<16>()));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(failed("sign a certificate"))?;
        Ok(Issued {
            chain_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Random bytes for serial numbers and ids. A serial must be positive, so the top bit is cleared.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random number generator works");
    bytes[0] &= 0x7f;
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::sync::Arc;

    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    #[test]
    fn root_persists_and_leaves_verify_against_it() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("m.yaml"), dir.path());
        let now = OffsetDateTime::now_utc();
        let ca = InternalCa::load_or_create(&paths, now).unwrap();
        let root_pem = std::fs::read(paths.ca_root()).unwrap();
        assert_eq!(
            std::fs::metadata(paths.ca_root_key()).unwrap().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(paths.ca_root()).unwrap().mode() & 0o777,
            0o644
        );

        // Reloaded, it is the same CA: a leaf from the reloaded one verifies against the first root.
        let again = InternalCa::load_or_create(&paths, now).unwrap();
        assert_eq!(std::fs::read(paths.ca_root()).unwrap(), root_pem);
        for ca in [&ca, &again] {
            let leaf = ca
                .issue(&["a.test".into(), "127.0.0.1".into()], now, LEAF_LIFETIME)
                .unwrap();
            let facts = super::super::certinfo::from_pem(leaf.chain_pem.as_bytes()).unwrap();
            assert_eq!(facts.names, ["a.test", "127.0.0.1"]);
            assert!(facts.issuer.contains("matrixbox local CA"));
            assert!(facts.ari_id.is_some());
            verify(&root_pem, &leaf.chain_pem, "a.test");
            verify(&root_pem, &leaf.chain_pem, "127.0.0.1");
        }
    }

    fn verify(root_pem: &[u8], chain_pem: &str, name: &str) {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(root_pem).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        let leaf = CertificateDer::from_pem_slice(chain_pem.as_bytes()).unwrap();
        verifier
            .verify_server_cert(
                &leaf,
                &[],
                &ServerName::try_from(name.to_string()).unwrap(),
                &[],
                UnixTime::now(),
            )
            .unwrap();
    }

    #[test]
    fn half_written_ca_is_remade() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("m.yaml"), dir.path());
        let now = OffsetDateTime::now_utc();
        InternalCa::load_or_create(&paths, now).unwrap();
        let first = std::fs::read(paths.ca_root()).unwrap();
        std::fs::remove_file(paths.ca_root()).unwrap();
        InternalCa::load_or_create(&paths, now).unwrap();
        assert_ne!(std::fs::read(paths.ca_root()).unwrap(), first);
    }
}
