//! The containers' specs: what PostgreSQL and Synapse run with, derived from the config.

use super::*;

impl Stack {
    pub fn postgres_spec(&self) -> ContainerSpec {
        let mut cmd = vec!["postgres".to_string()];
        // TCP on the container's own loopback only: nothing on the network or the host reaches
        // PostgreSQL; Synapse logs in through the socket in the shared directory. The image's
        // own socket directory stays, for its entrypoint and matrixbox's `docker exec`.
        let auth = |name: &str| format!("{PG_AUTH_MOUNT}/{name}");
        for (name, value) in [
            ("listen_addresses", "127.0.0.1".to_string()),
            (
                "unix_socket_directories",
                format!("/var/run/postgresql,{PG_SOCKET_MOUNT}"),
            ),
            ("hba_file", auth(PG_AUTH_FILES[0])),
            ("ident_file", auth(PG_AUTH_FILES[1])),
        ] {
            cmd.push("-c".into());
            cmd.push(format!("{name}={value}"));
        }
        for (name, value) in &self.tuning.postgres {
            cmd.push("-c".into());
            cmd.push(format!("{name}={value}"));
        }
        ContainerSpec {
            name: self.names.postgres.clone(),
            image: self.images().postgres,
            env: vec![
                format!("POSTGRES_USER={DB_SUPERUSER}"),
                format!("POSTGRES_DB={DB_NAME}"),
                // A file, not the value: environment values show in `docker inspect`.
                format!("POSTGRES_PASSWORD_FILE={PG_PASSWORD_MOUNT}"),
                "POSTGRES_INITDB_ARGS=--encoding=UTF8 --lc-collate=C --lc-ctype=C".into(),
                format!("PGDATA={PGDATA_MOUNT}/{PGDATA_SUBDIR}"),
            ],
            entrypoint: None,
            cmd,
            user: None,
            binds: vec![
                Bind {
                    host: self.paths.postgres_dir().display().to_string(),
                    container: PGDATA_MOUNT.into(),
                    read_only: false,
                },
                // Read by the entrypoint as root, before it drops to the postgres user.
                Bind {
                    host: secrets::postgres_password_file(&self.paths.secrets_dir())
                        .display()
                        .to_string(),
                    container: PG_PASSWORD_MOUNT.into(),
                    read_only: true,
                },
                Bind {
                    host: self
                        .paths
                        .postgres_init_dir()
                        .join(PG_INIT_SCRIPT)
                        .display()
                        .to_string(),
                    container: PG_INIT_MOUNT.into(),
                    read_only: true,
                },
                Bind {
                    host: self.paths.postgres_init_dir().display().to_string(),
                    container: PG_AUTH_MOUNT.into(),
                    read_only: true,
                },
                Bind {
                    host: self.paths.postgres_socket_dir().display().to_string(),
                    container: PG_SOCKET_MOUNT.into(),
                    read_only: false,
                },
            ],
            network: self.names.network.clone(),
            dns: vec![],
            publish: vec![],
            // The official entrypoint starts as root to fix ownership, then drops to uid 999.
            cap_drop_all: true,
            cap_add: POSTGRES_CAPS.map(String::from).to_vec(),
            shm_size: Some(self.tuning.postgres_shm_bytes),
            // SIGINT is PostgreSQL's "fast" shutdown: clean, without waiting for clients.
            stop_signal: Some("SIGINT".into()),
            stop_timeout_s: 90,
            healthcheck: Some(Healthcheck {
                test: std::iter::once("CMD")
                    .chain(PG_ISREADY)
                    .map(String::from)
                    .collect(),
                // Frequent enough that `status` and `doctor` see "healthy" soon after start.
                interval_s: 3,
            }),
            files_digest: String::new(),
            instance: self.names.instance.clone(),
        }
    }

    pub(super) fn synapse_spec(&self, files_digest: String) -> ContainerSpec {
        let config = format!("{}/homeserver.yaml", synapse::CONFIG_MOUNT);
        self.with_worker_mounts(ContainerSpec {
            name: self.names.synapse.clone(),
            image: self.images().synapse,
            env: std::iter::once(format!("SYNAPSE_CONFIG_PATH={config}"))
                .chain(synapse::federation::ca_env(
                    &self.config.federation,
                    synapse::CONFIG_MOUNT,
                ))
                .collect(),
            // Twisted guards the socket with a lock naming Synapse's pid; after a kill, the
            // restarted Synapse has the same pid (1), takes the stale lock for its own and
            // refuses to start. One Synapse per container: socket and lock go at every start.
            entrypoint: Some(
                [
                    "/bin/sh".to_string(),
                    "-c".to_string(),
                    format!(
                        "rm -f {mount}/{name} {mount}/{name}.lock && exec /usr/local/bin/python -m synapse.app.homeserver --config-path {config}",
                        mount = synapse::SOCKET_MOUNT,
                        name = synapse::SOCKET_NAME,
                    ),
                ]
                .to_vec(),
            ),
            cmd: vec![],
            user: Some(format!("{0}:{0}", synapse::UID)),
            binds: vec![
                Bind {
                    host: self.paths.synapse_dir().display().to_string(),
                    container: synapse::DATA_MOUNT.into(),
                    read_only: false,
                },
                Bind {
                    host: self.paths.synapse_config_dir().display().to_string(),
                    container: synapse::CONFIG_MOUNT.into(),
                    read_only: true,
                },
                Bind {
                    host: self.paths.synapse_socket_dir().display().to_string(),
                    container: synapse::SOCKET_MOUNT.into(),
                    read_only: false,
                },
                // Connecting to a socket needs no write access to its file system.
                Bind {
                    host: self.paths.postgres_socket_dir().display().to_string(),
                    container: PG_SOCKET_MOUNT.into(),
                    read_only: true,
                },
            ],
            // For federation and key fetches out; nothing listens on it (see SOCKET_MOUNT).
            network: self.names.network.clone(),
            dns: (self.config.federation.dns_servers.iter())
                .map(ToString::to_string)
                .collect(),
            publish: vec![],
            cap_drop_all: true,
            cap_add: vec![],
            shm_size: None,
            stop_signal: Some("SIGTERM".into()),
            stop_timeout_s: 30,
            healthcheck: None,
            files_digest,
            instance: self.names.instance.clone(),
        })
    }

    /// Everything Synapse reads from its config dir: (file name, contents, mode). Owned by root,
    /// readable by Synapse's group.
    pub(super) fn synapse_files(&self) -> Result<Vec<(&'static str, String, u32)>, StackError> {
        let smtp_password = match self.config.email.as_ref().and_then(|e| e.login.as_ref()) {
            Some(login) => Some(synapse::email::read_password(login)?),
            None => None,
        };
        let mut files = vec![
            (
                "homeserver.yaml",
                synapse::render_homeserver(
                    &self.config,
                    &self.secrets,
                    &self.tuning,
                    PG_SOCKET_MOUNT,
                    smtp_password.as_ref(),
                    self.turn_secret()?.as_ref(),
                ),
                0o640,
            ),
            ("log.config", synapse::render_log_config(), 0o640),
            (
                "signing.key",
                format!("{}\n", self.secrets.signing_key),
                0o640,
            ),
        ];
        if let Some(bundle) = synapse::federation::read_bundle(&self.config.federation)? {
            files.push((synapse::federation::CA_BUNDLE, bundle, 0o640));
        }
        for kind in self.workers() {
            let name = crate::workers::config_name(kind);
            files.push((name, synapse::workers::render_worker(kind), 0o640));
        }
        Ok(files)
    }

    /// The Synapse spec as it would be after writing its files now.
    pub fn desired_synapse_spec(&self) -> Result<ContainerSpec, StackError> {
        Ok(self.synapse_spec(files_digest(&self.synapse_files()?)))
    }
}

pub(super) fn files_digest(files: &[(&str, String, u32)]) -> String {
    let mut digest = Sha256::new();
    for (name, contents, _) in files {
        digest.update(name.as_bytes());
        digest.update(contents.as_bytes());
    }
    hex::encode(&digest.finalize()[..16])
}
