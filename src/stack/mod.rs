//! The homeserver stack: PostgreSQL and Synapse specs derived from config, brought up in order and down cleanly.
//!
//! `specs` derives the containers, `files` prepares what root writes for them, `database` keeps
//! Synapse's role and database as they must be, `health` waits for both to be healthy, `turn`
//! runs the TURN relay when the config enables it, `major` holds what a PostgreSQL major
//! migration needs (the new major's container beside the old, the swap of data directories).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::diagnostic::Diagnostic;
use crate::docker::{
    self, Action, Bind, ContainerSpec, DockerError, Engine, Healthcheck, Observed, Runtime,
};
use crate::embedded;
use crate::fsio::{self, Dir, FsError};
use crate::i18n::tr;
use crate::paths::{self, Paths};
use crate::secrets::{self, Secrets};
use crate::synapse::{self, admin::Synapse};
use crate::tuning::{self, Tuning};

mod database;
mod files;
mod health;
mod hold;
pub mod major;
mod messages;
mod specs;
mod turn;
mod workers;

use messages::M;

pub use hold::StackLock;

/// Synapse's role: owns its database, not a superuser (made by `embedded/postgres/init-roles.sh`).
pub(crate) const DB_USER: &str = "synapse";
/// The superuser `initdb` makes; it has no password, so it logs in only inside the container.
pub(crate) const DB_SUPERUSER: &str = "postgres";
pub(crate) const DB_NAME: &str = "synapse";
/// Ready means accepting TCP connections: the init-time server listens on sockets only, the
/// final one also on the container's own loopback (never on the network Synapse shares).
const PG_ISREADY: [&str; 7] = [
    "pg_isready",
    "-h",
    "127.0.0.1",
    "-U",
    DB_USER,
    "-d",
    DB_NAME,
];
/// The official postgres image's uid/gid.
const POSTGRES_UID: u32 = 999;
const PGDATA_MOUNT: &str = "/var/lib/postgresql/data";
/// PGDATA inside the mount (and the postgres directory of the state dir).
const PGDATA_SUBDIR: &str = "pgdata";
const PG_PASSWORD_MOUNT: &str = "/run/secrets/postgres_password";
const PG_INIT_SCRIPT: &str = "matrixbox-roles.sh";
/// Where both containers see PostgreSQL's shared socket directory.
pub(crate) const PG_SOCKET_MOUNT: &str = "/run/matrixbox-postgres";
/// Who may log in, and how (`embedded/postgres/`); root's files, mounted read-only.
const PG_AUTH_FILES: [&str; 2] = ["pg_hba.conf", "pg_ident.conf"];
const PG_AUTH_MOUNT: &str = "/etc/matrixbox-postgres";
/// Run by the image's entrypoint (official and bench alike) once, when it creates the database.
const PG_INIT_MOUNT: &str = "/docker-entrypoint-initdb.d/matrixbox-roles.sh";
/// What the postgres entrypoint needs as root: fix ownership of PGDATA (CHOWN, FOWNER, and
/// DAC_OVERRIDE to enter it), then drop to uid 999 (SETUID, SETGID). Nothing else.
const POSTGRES_CAPS: [&str; 5] = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"];
/// `PG_VERSION` holds a major version and a newline; anything longer is not PostgreSQL's.
const PG_VERSION_LIMIT: usize = 64;
/// A superuser that exists only while the old superuser `synapse` is renamed (a role cannot
/// rename itself).
const MIGRATION_ROLE: &str = "matrixbox_migrate";
/// Synapse's rendered files that older versions kept in its writable data dir.
const OLD_SYNAPSE_FILES: [&str; 3] = ["homeserver.yaml", "log.config", "signing.key"];
const POSTGRES_READY_TIMEOUT: Duration = Duration::from_secs(120);
/// First start runs all database migrations; a slow VPS needs a while.
const SYNAPSE_HEALTHY_TIMEOUT: Duration = Duration::from_secs(240);
const LOG_LINES_ON_FAILURE: usize = 30;
/// Restarts by Docker while a container is awaited that make it a crash loop: one can be the
/// crash being repaired, several in a row are not.
const CRASH_LOOP_RESTARTS: i64 = 3;

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    WebClient(#[from] crate::webclient::bundle::BundleError),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error(transparent)]
    FederationCa(#[from] crate::synapse::federation::CaRootError),
    #[error(transparent)]
    SmtpPassword(#[from] crate::synapse::email::PasswordFileError),
    #[error("{}", tr(M::PostgresUnhealthy, &[container, reason, logs]))]
    PostgresUnhealthy {
        container: String,
        reason: String,
        logs: String,
    },
    #[error("{}", tr(M::WrongLocale, &[&DB_NAME, container, found]))]
    WrongLocale { container: String, found: String },
    #[error("{}", tr(M::SynapseUnhealthy, &[container, reason, logs]))]
    SynapseUnhealthy {
        container: String,
        reason: String,
        logs: String,
    },
    #[error("{}", tr(M::RoleMigration, &[container, output]))]
    RoleMigration { container: String, output: String },
    #[error("{}", tr(M::MajorChange, &[dir, data, image, wanted]))]
    PostgresMajorChange {
        dir: String,
        data: u32,
        image: String,
        wanted: u32,
    },
}

impl Diagnostic for StackError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            StackError::Docker(e) => return e.hint(),
            StackError::Fs(e) => return e.hint(),
            StackError::FederationCa(e) => return e.hint(),
            StackError::SmtpPassword(e) => return e.hint(),
            StackError::WebClient(e) => return e.hint(),
            StackError::Secrets(e) => return e.hint(),
            StackError::PostgresUnhealthy { container, .. } => tr(M::PostgresHint, &[container]),
            StackError::WrongLocale { container, .. } => tr(M::WrongLocaleHint, &[container]),
            StackError::SynapseUnhealthy { .. } => tr(M::SynapseHint, &[]),
            StackError::RoleMigration { container, .. } => tr(M::RoleMigrationHint, &[container]),
            StackError::PostgresMajorChange { data, wanted, .. } if wanted > data => {
                tr(M::MajorUpgradeHint, &[data])
            }
            StackError::PostgresMajorChange { data, .. } => tr(M::MajorChangeHint, &[data]),
        })
    }
}

/// The Docker objects of one instance (config `instance:`): its network and both containers.
/// The default instance keeps the names matrixbox always used.
#[derive(Debug, Clone, PartialEq)]
pub struct Names {
    pub instance: String,
    pub network: String,
    pub postgres: String,
    pub synapse: String,
    pub coturn: String,
    /// Redis, for Synapse's workers.
    pub redis: String,
}

impl Names {
    pub fn of(instance: &str) -> Names {
        Names {
            instance: instance.into(),
            network: instance.into(),
            postgres: format!("{instance}-postgres"),
            synapse: format!("{instance}-synapse"),
            coturn: format!("{instance}-coturn"),
            redis: format!("{instance}-redis"),
        }
    }
}

/// What the stack needs to derive its containers: validated config, secrets and sizing.
pub struct Stack {
    pub config: Config,
    pub names: Names,
    pub paths: Paths,
    pub secrets: Secrets,
    pub tuning: Tuning,
    /// The database's locale cannot change under a running container: checked once per container.
    locale_verified: AtomicBool,
    /// The references the containers run (which mirror's copy of each image): the first
    /// candidates until `up` or `resolve_images` finds what the engine has.
    images: std::sync::Mutex<Images>,
    /// Whether Synapse keeps the image it runs when the configured one differs (see `hold`).
    hold_synapse: bool,
    /// How long a (re)started Synapse is waited for until healthy.
    synapse_timeout: Duration,
}

/// The image references the containers are made from.
#[derive(Debug, Clone)]
pub struct Images {
    pub postgres: String,
    pub synapse: String,
}

/// What one reconcile pass did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UpReport {
    pub postgres: Action,
    pub synapse: Action,
    /// `None` when TURN is off.
    pub coturn: Option<Action>,
    /// `None` when no worker runs.
    pub redis: Option<Action>,
    /// One per worker, in the order of `Stack::workers`.
    pub workers: Vec<Action>,
}

impl Stack {
    pub fn new(config: Config, paths: Paths, secrets: Secrets) -> Stack {
        let memory = config
            .memory_mb
            .or_else(tuning::host_memory_mb)
            .unwrap_or(1024);
        let tuning = tuning::for_memory(memory);
        Stack {
            images: std::sync::Mutex::new(Images {
                postgres: config.postgres_image.clone(),
                synapse: config.synapse_image.clone(),
            }),
            names: Names::of(&config.instance),
            config,
            paths,
            secrets,
            tuning,
            locale_verified: AtomicBool::new(false),
            hold_synapse: true,
            synapse_timeout: SYNAPSE_HEALTHY_TIMEOUT,
        }
    }

    /// A stack that waits `timeout` for Synapse to become healthy (an upgrade's migration may
    /// take longer than a start).
    pub fn with_synapse_timeout(mut self, timeout: Duration) -> Stack {
        self.synapse_timeout = timeout;
        self
    }

    /// A stack that moves Synapse to the configured image (an upgrade, its rollback, a restore)
    /// instead of keeping the one it runs.
    pub fn without_hold(mut self) -> Stack {
        self.hold_synapse = false;
        self
    }

    /// One reconcile pass: observe, diff, act, and wait until both services are healthy.
    pub async fn up(&self, engine: &Engine) -> Result<UpReport, StackError> {
        let lock = self.lock().await?;
        self.up_locked(engine, &lock).await
    }

    /// `up` for one who already holds the stack's lock (an upgrade).
    pub async fn up_locked(
        &self,
        engine: &Engine,
        _lock: &StackLock,
    ) -> Result<UpReport, StackError> {
        // Checks and images first: a refusal or a failed pull must leave the running stack untouched.
        self.check_postgres_major().await?;
        // Synapse's inputs from outside the state dir (the SMTP password file, CA roots).
        self.synapse_files()?;
        let record = self.paths.image_digests();
        let images = Images {
            postgres: engine
                .ensure_image(&self.config.postgres_candidates, &record)
                .await?,
            synapse: self
                .synapse_image(
                    engine,
                    engine
                        .ensure_image(&self.config.synapse_candidates, &record)
                        .await?,
                )
                .await?,
        };
        *self.images.lock().expect("never poisoned") = images;
        let postgres = self.start_postgres(engine).await?;
        let redis = self.reconcile_redis(engine).await?;

        let spec = self.prepare_synapse_files().await?;
        let synapse = docker::ensure(engine, &spec).await?;
        self.wait_synapse_healthy(engine).await?;
        let workers = self.reconcile_workers(engine, &spec.files_digest).await?;
        // After Synapse: the homeserver does not wait on the web client's files.
        if let Some(web) = &self.config.web_client {
            crate::webclient::bundle::ensure(engine, web, &self.paths, &self.names.instance)
                .await?;
        }
        let coturn = self.reconcile_turn(engine).await?;
        Ok(UpReport {
            postgres,
            synapse,
            coturn,
            redis,
            workers,
        })
    }

    /// PostgreSQL alone, up and ready, Synapse left as it is (a restore fills the database
    /// before Synapse may see it).
    pub async fn up_postgres(&self, engine: &Engine) -> Result<Action, StackError> {
        self.check_postgres_major().await?;
        let postgres = engine
            .ensure_image(
                &self.config.postgres_candidates,
                &self.paths.image_digests(),
            )
            .await?;
        self.images.lock().expect("never poisoned").postgres = postgres;
        self.start_postgres(engine).await
    }

    async fn start_postgres(&self, engine: &Engine) -> Result<Action, StackError> {
        let names = &self.names;
        engine
            .ensure_network(&names.network, &names.instance)
            .await?;
        self.prepare_postgres_files().await?;
        let postgres = docker::ensure(engine, &self.postgres_spec()).await?;
        self.wait_postgres_ready(engine).await?;
        if postgres != Action::None || !self.locale_verified.load(Ordering::Relaxed) {
            self.verify_database_locale(engine).await?;
            self.ensure_synapse_not_superuser(engine).await?;
            self.locale_verified.store(true, Ordering::Relaxed);
        }
        Ok(postgres)
    }

    /// Why the stack needs a reconcile now, if it does: a container is missing, stopped or
    /// restarting. A cheap look that tells a container that died from those a reconcile itself
    /// stopped and started again.
    pub async fn needs_repair(&self, engine: &Engine) -> Result<Option<String>, DockerError> {
        let coturn = self
            .config
            .turn
            .is_some()
            .then_some(self.names.coturn.clone());
        let running = self.workers();
        let redis = (!running.is_empty()).then(|| self.names.redis.clone());
        let workers = running
            .into_iter()
            .map(|kind| crate::workers::container_name(&self.names.instance, kind));
        for name in [self.names.postgres.clone(), self.names.synapse.clone()]
            .into_iter()
            .chain(coturn)
            .chain(redis)
            .chain(workers)
        {
            let why = match engine.inspect(&name).await? {
                None => "is missing",
                Some(o) if o.status == "restarting" => "is restarting",
                Some(o) if !o.running => "is not running",
                Some(_) => continue,
            };
            return Ok(Some(format!("{name} {why}")));
        }
        Ok(None)
    }

    /// Finds which copy of each image the engine has (no pulling), for the specs that `status`
    /// and `down` compare and stop.
    pub async fn resolve_images(&self, engine: &Engine) -> Result<(), DockerError> {
        let record = self.paths.image_digests();
        let images = Images {
            postgres: engine
                .resolve_local(&self.config.postgres_candidates, &record)
                .await?,
            synapse: engine
                .resolve_local(&self.config.synapse_candidates, &record)
                .await?,
        };
        *self.images.lock().expect("never poisoned") = images;
        Ok(())
    }

    /// The image references the containers are made from.
    pub fn images(&self) -> Images {
        self.images.lock().expect("never poisoned").clone()
    }

    /// Stops coturn, Synapse, then PostgreSQL, each with its clean-shutdown timeout. Data stays.
    pub async fn down(&self, engine: &Engine) -> Result<(), StackError> {
        if engine
            .inspect(&self.names.coturn)
            .await?
            .is_some_and(|o| o.running)
        {
            tracing::info!(container = %self.names.coturn, "stopping");
            engine.stop(&self.names.coturn, 10).await?;
        }
        // Workers before the main process, Redis after it: each process leaves cleanly.
        for name in self.worker_containers() {
            if name != self.names.redis && engine.inspect(&name).await?.is_some_and(|o| o.running) {
                tracing::info!(container = %name, "stopping");
                engine.stop(&name, 30).await?;
            }
        }
        // Stopping needs the name and timeout only: an unreadable input (a password file) must
        // not keep the stack from stopping.
        let synapse = self.synapse_spec(String::new());
        let postgres = self.postgres_spec();
        for spec in [synapse, postgres] {
            if engine.inspect(&spec.name).await?.is_some_and(|o| o.running) {
                tracing::info!(container = %spec.name, "stopping");
                engine.stop(&spec.name, spec.stop_timeout_s).await?;
            }
            if spec.name == self.names.synapse
                && engine
                    .inspect(&self.names.redis)
                    .await?
                    .is_some_and(|o| o.running)
            {
                engine.stop(&self.names.redis, 10).await?;
            }
        }
        Ok(())
    }

    /// Removes this instance's containers and network; run after `down`, so both stopped cleanly.
    pub async fn remove(&self, engine: &Engine) -> Result<(), StackError> {
        for name in self.worker_containers() {
            engine.remove(&name).await?;
        }
        for name in [
            &self.names.coturn,
            &self.names.synapse,
            &self.names.postgres,
        ] {
            engine.remove(name).await?;
        }
        engine.remove_network(&self.names.network).await?;
        Ok(())
    }
}

/// A stack for unit tests: `config` parsed, fixed secrets, its state dir under `dir`.
#[cfg(test)]
pub(super) fn test_stack(config: &str, dir: &std::path::Path) -> Stack {
    let config = crate::config::parse(config, std::path::Path::new("t.yaml")).unwrap();
    let secrets = Secrets {
        postgres_password: "p".into(),
        registration_shared_secret: "r".into(),
        macaroon_secret_key: "m".into(),
        form_secret: "f".into(),
        signing_key: "ed25519 a_abc SEED".into(),
    };
    Stack::new(config, Paths::new("/x.yaml", dir.join("state")), secrets)
}

#[cfg(test)]
mod tests {
    use super::database::check_database_locale;
    use super::files::{postgres_major_change, read_pg_version};
    use super::health::{Progress, progress};
    use super::hold::holds;
    use super::*;

    #[test]
    fn postgres_major_change_is_read_from_the_tag() {
        let change = postgres_major_change;
        assert_eq!(change(Some("15\n"), "postgres:15.14-bookworm"), None);
        assert_eq!(
            change(Some("15\n"), "postgres:16.4-bookworm"),
            Some((15, 16))
        );
        assert_eq!(
            change(Some("15"), "mirror.example:5000/library/postgres:16"),
            Some((15, 16))
        );
        assert_eq!(change(Some("15"), "mirror.example:5000/postgres"), None);
        assert_eq!(change(Some("15"), "postgres:latest"), None);
        assert_eq!(change(Some("15"), "postgres@sha256:abcd"), None);
        assert_eq!(change(None, "postgres:16"), None, "a fresh data directory");
    }

    #[test]
    fn restarts_are_waited_for_until_they_make_a_loop() {
        let look = |status: &str, restart_count: i64| Observed {
            spec_hash: None,
            running: status != "exited",
            health: None,
            image: "postgres:15".into(),
            status: status.into(),
            exit_code: Some(3),
            restart_count,
        };
        assert_eq!(
            progress(Some(&look("running", 5)), Some(5)),
            Progress::Running
        );
        assert_eq!(
            progress(Some(&look("restarting", 6)), Some(5)),
            Progress::Restarting,
            "one restart is waited for"
        );
        assert_eq!(
            progress(Some(&look("running", 7)), Some(5)),
            Progress::Running
        );
        assert!(matches!(
            progress(Some(&look("restarting", 8)), Some(5)),
            Progress::Failed(r) if r.contains("keeps exiting") && r.contains("3 times")
        ));
        assert!(matches!(
            progress(Some(&look("exited", 5)), Some(5)),
            Progress::Failed(r) if r == "exited (status 3)"
        ));
        assert!(matches!(progress(None, Some(1)), Progress::Failed(_)));
        // Counted from zero when the container did not exist before the wait.
        assert!(matches!(
            progress(Some(&look("running", 3)), None),
            Progress::Failed(_)
        ));
    }

    #[test]
    fn synapse_keeps_its_image_until_an_upgrade_moves_it() {
        // Compared by ID: a mirror's name for the same image is no change.
        assert!(!holds(Some("sha256:a"), Some("sha256:a")));
        assert!(holds(Some("sha256:old"), Some("sha256:new")));
        assert!(holds(Some("sha256:old"), None), "new image not here yet");
        assert!(
            !holds(None, Some("sha256:new")),
            "the running image is gone"
        );
    }

    #[test]
    fn pg_version_is_read_only_from_a_small_regular_file() {
        let base = tempfile::tempdir().unwrap();
        let paths = Paths::new("/nonexistent.yaml", base.path().join("state"));
        assert_eq!(read_pg_version(&paths).unwrap(), None, "no state dir yet");
        let pgdata = paths.postgres_dir().join(PGDATA_SUBDIR);
        std::fs::create_dir_all(&pgdata).unwrap();
        assert_eq!(read_pg_version(&paths).unwrap(), None, "a fresh data dir");
        std::fs::write(pgdata.join("PG_VERSION"), "15\n").unwrap();
        assert_eq!(read_pg_version(&paths).unwrap().as_deref(), Some("15\n"));
        std::fs::remove_file(pgdata.join("PG_VERSION")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", pgdata.join("PG_VERSION")).unwrap();
        assert_eq!(
            read_pg_version(&paths).unwrap(),
            None,
            "refused, check skipped"
        );
        // The data dir itself swapped for a link to a directory holding a PG_VERSION.
        let elsewhere = base.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("PG_VERSION"), "16\n").unwrap();
        std::fs::remove_dir_all(&pgdata).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &pgdata).unwrap();
        assert_eq!(read_pg_version(&paths).unwrap(), None);
    }

    #[test]
    fn locale_check() {
        assert_eq!(check_database_locale("UTF8|C|C"), Ok(()));
        assert_eq!(
            check_database_locale("UTF8|en_US.utf8|en_US.utf8"),
            Err("encoding UTF8, collation en_US.utf8, ctype en_US.utf8".into())
        );
        assert!(check_database_locale("").is_err());
    }

    #[test]
    fn names_derive_from_the_instance_and_default_to_the_old_ones() {
        let default = Names::of(crate::config::DEFAULT_INSTANCE);
        assert_eq!(
            (
                default.network.as_str(),
                default.postgres.as_str(),
                default.synapse.as_str()
            ),
            ("matrixbox", "matrixbox-postgres", "matrixbox-synapse")
        );
        assert_eq!(Names::of("two").synapse, "two-synapse");
    }

    #[test]
    fn federation_ca_roots_become_a_file_in_synapses_config_and_change_its_spec() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("private-ca.pem");
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        std::fs::write(&ca, params.self_signed(&key).unwrap().pem()).unwrap();
        let stack = |extra: &str| test_stack(&format!("domain: a.test\n{extra}"), dir.path());
        let plain = stack("");
        let with_ca = stack(&format!("federation: {{ca_roots: [{}]}}\n", ca.display()));
        let names = |s: &Stack| -> Vec<&'static str> {
            s.synapse_files().unwrap().iter().map(|f| f.0).collect()
        };
        assert!(!names(&plain).contains(&synapse::federation::CA_BUNDLE));
        let files = with_ca.synapse_files().unwrap();
        let (_, bundle, mode) = files
            .iter()
            .find(|f| f.0 == synapse::federation::CA_BUNDLE)
            .unwrap();
        assert_eq!(*mode, 0o640);
        assert!(bundle.contains(&format!("# {}", ca.display())));
        assert_ne!(
            plain.desired_synapse_spec().unwrap().hash(),
            with_ca.desired_synapse_spec().unwrap().hash(),
            "a change of roots restarts Synapse"
        );
        assert!(
            (with_ca.desired_synapse_spec().unwrap().env.iter())
                .any(|e| e == "SSL_CERT_FILE=/config/federation-ca.pem"),
            "Synapse's TLS trusts the bundle"
        );
        let resolver = stack("federation: {dns_servers: [10.0.0.53]}\n");
        let spec = resolver.desired_synapse_spec().unwrap();
        assert_eq!(
            spec.dns,
            ["10.0.0.53"],
            "Synapse asks the configured resolver"
        );
        assert!(plain.desired_synapse_spec().unwrap().dns.is_empty());
        assert!(resolver.postgres_spec().dns.is_empty());
        let missing = stack("federation: {ca_roots: [/nonexistent/ca.pem]}\n");
        assert!(matches!(
            missing.desired_synapse_spec(),
            Err(StackError::FederationCa(e)) if e.path == std::path::Path::new("/nonexistent/ca.pem")
        ));
    }

    #[test]
    fn the_smtp_password_reaches_synapse_and_a_change_restarts_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("smtp-password");
        let stack = || {
            test_stack(
                &format!(
                    "domain: a.test\nemail: {{smtp_host: smtp.a.test, user: u, password_file: {}, from: m@a.test}}\n",
                    file.display()
                ),
                dir.path(),
            )
        };
        assert!(matches!(
            stack().desired_synapse_spec(),
            Err(StackError::SmtpPassword(e)) if e.path == file
        ));
        std::fs::write(&file, "first\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let files = stack().synapse_files().unwrap();
        assert!(files[0].1.contains("smtp_pass: first\n"), "{}", files[0].1);
        let first = stack().desired_synapse_spec().unwrap().hash();
        std::fs::write(&file, "second\n").unwrap();
        assert_ne!(first, stack().desired_synapse_spec().unwrap().hash());
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let refused = stack().desired_synapse_spec().unwrap_err();
        assert!(
            refused.hint().unwrap().contains("chmod 600"),
            "{refused}: {:?}",
            refused.hint()
        );
    }
}
