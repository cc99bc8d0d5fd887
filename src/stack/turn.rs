//! The TURN relay (coturn) as a managed container: its files (config, certificate copy) and its
//! spec, reconciled after Synapse, and removed when `turn.enabled` goes.

use super::files::blocking;
use super::specs::files_digest;
use super::*;
use crate::calls::{COTURN_CERT, COTURN_CONFIG, COTURN_CONFIG_MOUNT, COTURN_KEY, COTURN_UID};
use crate::synapse::TurnSecret;

/// A file coturn reads: (name, contents, mode).
type File = (&'static str, String, u32);

impl Stack {
    /// The secret and certificate state Synapse's TURN settings need; `None` when TURN is off.
    /// The secret is made on first use (0600 in the secrets dir).
    pub(super) fn turn_secret(&self) -> Result<Option<TurnSecret>, StackError> {
        if self.config.turn.is_none() {
            return Ok(None);
        }
        let secret = secrets::turn_shared_secret(&self.paths.secrets_dir())?;
        Ok(Some(TurnSecret {
            secret,
            tls: self.edge_certificate()?.is_some(),
        }))
    }

    /// The edge's certificate and key (PEM), when it has one yet: coturn serves TURN over TLS with
    /// it. Read at every reconcile, so a renewal changes coturn's files and restarts it.
    fn edge_certificate(&self) -> Result<Option<(String, String)>, StackError> {
        let (chain, key) = match &self.config.tls_files {
            Some(files) => (files.cert.clone(), files.key.clone()),
            None => {
                let files = crate::acme::cert_files(&self.paths, &self.config.domain);
                (files.chain, files.key)
            }
        };
        let read = |path: &std::path::Path| match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(FsError {
                action: "read",
                path: path.to_path_buf(),
                source,
            }),
        };
        Ok(match (read(&chain)?, read(&key)?) {
            (Some(chain), Some(key)) => Some((chain, key)),
            _ => None,
        })
    }

    fn coturn_files(&self, secret: &TurnSecret) -> Result<Vec<File>, StackError> {
        let turn = self.config.turn.as_ref().expect("called with TURN on");
        let cert = self.edge_certificate()?;
        let conf = crate::calls::render_coturn(&self.config, turn, &secret.secret, cert.is_some());
        let mut files = vec![(COTURN_CONFIG, conf, 0o640)];
        if let Some((chain, key)) = cert {
            files.push((COTURN_CERT, chain, 0o640));
            files.push((COTURN_KEY, key, 0o640));
        }
        Ok(files)
    }

    pub(super) fn coturn_spec(&self, image: String, files_digest: String) -> ContainerSpec {
        ContainerSpec {
            name: self.names.coturn.clone(),
            image,
            env: vec![],
            entrypoint: Some(vec![
                "turnserver".into(),
                "-c".into(),
                format!("{COTURN_CONFIG_MOUNT}/{COTURN_CONFIG}"),
            ]),
            cmd: vec![],
            user: Some(format!("{COTURN_UID}:{COTURN_UID}")),
            binds: vec![Bind {
                host: self.paths.turn_config_dir().display().to_string(),
                container: COTURN_CONFIG_MOUNT.into(),
                read_only: true,
            }],
            // The host's network: a relay range published through Docker's proxy would cost a
            // process per port, and coturn must see the addresses peers really use.
            network: "host".into(),
            dns: vec![],
            publish: vec![],
            cap_drop_all: true,
            cap_add: vec![],
            shm_size: None,
            stop_signal: Some("SIGTERM".into()),
            stop_timeout_s: 10,
            healthcheck: None,
            files_digest,
            instance: self.names.instance.clone(),
        }
    }

    /// Brings coturn to what the config says: running with current files when TURN is on,
    /// gone when it is off. `None` when it is off.
    pub(super) async fn reconcile_turn(
        &self,
        engine: &Engine,
    ) -> Result<Option<Action>, StackError> {
        let Some(secret) = self.turn_secret()? else {
            engine.remove(&self.names.coturn).await?;
            return Ok(None);
        };
        let image = engine
            .ensure_image(&self.config.coturn_candidates, &self.paths.image_digests())
            .await?;
        let files = self.coturn_files(&secret)?;
        let digest = files_digest(&files);
        let paths = self.paths.clone();
        blocking(move || write_coturn_files(&paths, &files)).await?;
        Ok(Some(
            docker::ensure(engine, &self.coturn_spec(image, digest)).await?,
        ))
    }
}

/// coturn's files in a root-owned directory it can read and not write.
fn write_coturn_files(paths: &Paths, files: &[File]) -> Result<(), FsError> {
    let state = Dir::open_trusted(paths.state())?;
    let dir = state.ensure_dir(paths::TURN_CONFIG, 0o750, 0, COTURN_UID)?;
    for (name, contents, mode) in files {
        let path = dir.path().join(name);
        fsio::write_if_changed(&path, contents.as_bytes(), *mode)?;
        fsio::chown(&path, 0, COTURN_UID)?;
    }
    // Without a certificate now (files given up), no old copy stays behind.
    for name in [COTURN_CERT, COTURN_KEY] {
        if !files.iter().any(|f| f.0 == name) {
            dir.remove_file(name)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(dir: &std::path::Path, turn: &str) -> Stack {
        let stack = super::super::test_stack(
            &format!(
                "domain: a.test\ntls: {{cert: {0}/c.pem, key: {0}/k.pem}}\n{turn}",
                dir.display()
            ),
            dir,
        );
        std::fs::create_dir_all(stack.paths.secrets_dir()).unwrap();
        stack
    }

    fn digest(stack: &Stack) -> String {
        let secret = stack.turn_secret().unwrap().unwrap();
        files_digest(&stack.coturn_files(&secret).unwrap())
    }

    #[test]
    fn a_renewed_certificate_changes_coturns_files_and_so_restarts_it() {
        let dir = tempfile::tempdir().unwrap();
        let off = stack(dir.path(), "");
        assert!(
            off.turn_secret().unwrap().is_none(),
            "off: no secret is made"
        );
        assert!(!off.paths.secrets_dir().join("turn_shared_secret").exists());

        let on = stack(dir.path(), "turn: {enabled: true}\n");
        let secret = on.turn_secret().unwrap().unwrap();
        assert!(!secret.tls, "no certificate yet: no TURN over TLS");
        let files = on.coturn_files(&secret).unwrap();
        assert_eq!(files.len(), 1);
        assert!(files[0].1.lines().any(|l| l == "no-tls"));
        let before = digest(&on);

        std::fs::write(dir.path().join("c.pem"), "CERT 1").unwrap();
        std::fs::write(dir.path().join("k.pem"), "KEY 1").unwrap();
        assert!(on.turn_secret().unwrap().unwrap().tls);
        let first = digest(&on);
        assert_ne!(before, first, "a certificate arrives: TLS is turned on");
        std::fs::write(dir.path().join("c.pem"), "CERT 2").unwrap();
        assert_ne!(first, digest(&on), "a renewal restarts coturn with it");
        assert_eq!(
            secret.secret,
            on.turn_secret().unwrap().unwrap().secret,
            "the secret is made once"
        );
        let synapse = on.synapse_files().unwrap();
        let homeserver = &synapse.iter().find(|f| f.0 == "homeserver.yaml").unwrap().1;
        assert!(homeserver.contains("turns:a.test:5349?transport=tcp"));
        assert!(homeserver.contains(&secret.secret));
    }
}
