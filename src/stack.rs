//! The homeserver stack: PostgreSQL and Synapse specs derived from config, brought up in order and down cleanly.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::diagnostic::Diagnostic;
use crate::docker::{
    self, Action, Bind, ContainerSpec, DockerError, Engine, Healthcheck, Observed, Publish, Runtime,
};
use crate::embedded;
use crate::fsio::{self, Dir, FsError};
use crate::paths::{self, Paths};
use crate::secrets::{self, Secrets};
use crate::synapse::{self, admin::Synapse};
use crate::tuning::{self, Tuning};

/// Synapse's role: owns its database, not a superuser (made by `embedded/postgres/init-roles.sh`).
const DB_USER: &str = "synapse";
/// The superuser `initdb` makes; it has no password, so it logs in only inside the container.
const DB_SUPERUSER: &str = "postgres";
const DB_NAME: &str = "synapse";
/// Ready means accepting TCP connections: the init-time server listens on the socket only.
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
    #[error("PostgreSQL ({container}) {reason}; its last log lines:\n{logs}")]
    PostgresUnhealthy {
        container: String,
        reason: String,
        logs: String,
    },
    #[error(
        "database `{DB_NAME}` in {container} has {found}, but Synapse needs encoding UTF8 with C collation and ctype"
    )]
    WrongLocale { container: String, found: String },
    #[error("Synapse ({container}) {reason}; its last log lines:\n{logs}")]
    SynapseUnhealthy {
        container: String,
        reason: String,
        logs: String,
    },
    #[error(
        "could not give Synapse's database role in {container} up its superuser rights; psql said:\n{output}"
    )]
    RoleMigration { container: String, output: String },
    #[error(
        "the database in {dir} was made by PostgreSQL {data}, but images.postgres is `{image}` (PostgreSQL {wanted}), which cannot open it"
    )]
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
            StackError::PostgresUnhealthy { container, .. } => format!("fix the cause shown in the log (often `images.postgres` in matrixbox.yaml or the data directory) and run again; the data stays in the state directory, `docker logs {container}` shows more"),
            StackError::WrongLocale { container, .. } => format!(
                "this database was created outside matrixbox; dump it, move the postgres directory aside and run again so matrixbox recreates it with C collation (see `docker logs {container}`)"
            ),
            StackError::SynapseUnhealthy { .. } => "fix the cause shown in the log (often an option under `synapse:` in matrixbox.yaml) and run again".into(),
            StackError::RoleMigration { container, .. } => format!(
                "nothing was changed (one transaction); Synapse is stopped until the next `run` tries again; see `docker logs {container}`"
            ),
            StackError::PostgresMajorChange { data, .. } => format!(
                "set images.postgres back to a PostgreSQL {data} image; the running containers were left as they are. Moving to a new major version needs a dump and restore (pg_dumpall), not an image change"
            ),
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
}

impl Names {
    pub fn of(instance: &str) -> Names {
        Names {
            instance: instance.into(),
            network: instance.into(),
            postgres: format!("{instance}-postgres"),
            synapse: format!("{instance}-synapse"),
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
}

/// What one reconcile pass did.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct UpReport {
    pub postgres: Action,
    pub synapse: Action,
}

impl Stack {
    pub fn new(config: Config, paths: Paths, secrets: Secrets) -> Stack {
        let memory = config
            .memory_mb
            .or_else(tuning::host_memory_mb)
            .unwrap_or(1024);
        let tuning = tuning::for_memory(memory);
        Stack {
            names: Names::of(&config.instance),
            config,
            paths,
            secrets,
            tuning,
            locale_verified: AtomicBool::new(false),
        }
    }

    pub fn postgres_spec(&self) -> ContainerSpec {
        let mut cmd = vec!["postgres".to_string()];
        for (name, value) in &self.tuning.postgres {
            cmd.push("-c".into());
            cmd.push(format!("{name}={value}"));
        }
        ContainerSpec {
            name: self.names.postgres.clone(),
            image: self.config.postgres_image.clone(),
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
            ],
            network: self.names.network.clone(),
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

    fn synapse_spec(&self, files_digest: String) -> ContainerSpec {
        let config = format!("{}/homeserver.yaml", synapse::CONFIG_MOUNT);
        ContainerSpec {
            name: self.names.synapse.clone(),
            image: self.config.synapse_image.clone(),
            env: vec![format!("SYNAPSE_CONFIG_PATH={config}")],
            entrypoint: Some(
                [
                    "/usr/local/bin/python",
                    "-m",
                    "synapse.app.homeserver",
                    "--config-path",
                    &config,
                ]
                .map(String::from)
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
            ],
            network: self.names.network.clone(),
            publish: vec![Publish {
                host_ip: "127.0.0.1".into(),
                host_port: self.config.synapse_port,
                container_port: synapse::CONTAINER_PORT,
            }],
            cap_drop_all: true,
            cap_add: vec![],
            shm_size: None,
            stop_signal: Some("SIGTERM".into()),
            stop_timeout_s: 30,
            healthcheck: None,
            files_digest,
            instance: self.names.instance.clone(),
        }
    }

    /// Everything Synapse reads from its config dir: (file name, contents, mode). Owned by root,
    /// readable by Synapse's group.
    fn synapse_files(&self) -> [(&'static str, String, u32); 3] {
        [
            (
                "homeserver.yaml",
                synapse::render_homeserver(
                    &self.config,
                    &self.secrets,
                    &self.tuning,
                    &self.names.postgres,
                ),
                0o640,
            ),
            ("log.config", synapse::render_log_config(), 0o640),
            (
                "signing.key",
                format!("{}\n", self.secrets.signing_key),
                0o640,
            ),
        ]
    }

    /// The Synapse spec as it would be after writing its files now.
    pub fn desired_synapse_spec(&self) -> ContainerSpec {
        self.synapse_spec(files_digest(&self.synapse_files()))
    }

    /// Writes Synapse's files (only those that changed) off the async runtime and returns the spec
    /// that mounts them.
    async fn prepare_synapse_files(&self) -> Result<ContainerSpec, StackError> {
        let files = self.synapse_files();
        let digest = files_digest(&files);
        let paths = self.paths.clone();
        blocking(move || write_synapse_files(&paths, &files)).await?;
        Ok(self.synapse_spec(digest))
    }

    /// PostgreSQL's data dir and init script, off the async runtime.
    async fn prepare_postgres_files(&self) -> Result<(), StackError> {
        let paths = self.paths.clone();
        blocking(move || {
            let state = Dir::open_trusted(paths.state())?;
            state.ensure_dir(paths::POSTGRES_DATA, 0o700, POSTGRES_UID, POSTGRES_UID)?;
            // Root's, read-only in the container: the entrypoint runs it as the postgres user.
            let init = state.ensure_dir(paths::POSTGRES_INIT, 0o755, 0, 0)?;
            let script = embedded::text("postgres/init-roles.sh");
            fsio::write_if_changed(&init.path().join(PG_INIT_SCRIPT), script.as_bytes(), 0o644)?;
            Ok(())
        })
        .await
    }

    /// One reconcile pass: observe, diff, act, and wait until both services are healthy.
    pub async fn up(&self, engine: &Engine) -> Result<UpReport, StackError> {
        // Checks and images first: a refusal or a failed pull must leave the running stack untouched.
        self.check_postgres_major().await?;
        let record = self.paths.image_digests();
        engine
            .ensure_image(&self.config.postgres_image, &record)
            .await?;
        engine
            .ensure_image(&self.config.synapse_image, &record)
            .await?;
        // A busy port is found before anything starts, so nothing is left half-up.
        let names = &self.names;
        if !engine
            .inspect(&names.synapse)
            .await?
            .is_some_and(|o| o.running)
        {
            ensure_port_free(&names.synapse, self.config.synapse_port)?;
        }
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

        let spec = self.prepare_synapse_files().await?;
        let synapse = docker::ensure(engine, &spec).await?;
        self.wait_synapse_healthy(engine).await?;
        Ok(UpReport { postgres, synapse })
    }

    /// A new major version cannot open the old data: refuse before the running container goes.
    async fn check_postgres_major(&self) -> Result<(), StackError> {
        let pg_dir = self.paths.postgres_dir();
        let paths = self.paths.clone();
        let data_version = blocking(move || read_pg_version(&paths)).await?;
        let image = &self.config.postgres_image;
        match postgres_major_change(data_version.as_deref(), image) {
            Some((data, wanted)) => Err(StackError::PostgresMajorChange {
                dir: pg_dir.display().to_string(),
                data,
                image: image.clone(),
                wanted,
            }),
            None => Ok(()),
        }
    }

    /// Databases made before Synapse had its own role have Synapse log in as the bootstrap
    /// superuser, named `synapse`. Once, with Synapse stopped, that superuser becomes `postgres`
    /// (without a password, so it logs in only inside the container) and a new `synapse` role,
    /// not a superuser, gets the database and everything Synapse made in it, in one transaction.
    async fn ensure_synapse_not_superuser(&self, engine: &Engine) -> Result<(), StackError> {
        let postgres = &self.names.postgres;
        let query = format!("SELECT rolsuper FROM pg_roles WHERE rolname = '{DB_USER}'");
        let (code, out) = engine
            .exec(
                postgres,
                &["psql", "-U", DB_USER, "-d", DB_NAME, "-tA", "-c", &query],
                vec![],
            )
            .await?;
        // `f` for a database matrixbox made with its own role: nothing to move.
        if code != 0 || out.trim() != "t" {
            return Ok(());
        }
        tracing::info!(
            container = %postgres,
            "Synapse's database role `{DB_USER}` is a superuser (made by an older matrixbox): stopping Synapse to give it a role without superuser rights"
        );
        if engine
            .inspect(&self.names.synapse)
            .await?
            .is_some_and(|o| o.running)
        {
            engine.stop(&self.names.synapse, 30).await?;
        }
        let run = |user: &'static str, db: &'static str, sql: String| async move {
            // SQL through the environment and stdin: the password stays out of argv.
            let script = format!(
                "printf '%s\n' \"$MATRIXBOX_SQL\" | psql -v ON_ERROR_STOP=1 -X -q -1 -U {user} -d {db} -f -"
            );
            engine
                .exec(
                    postgres,
                    &["sh", "-c", &script],
                    vec![format!("MATRIXBOX_SQL={sql}")],
                )
                .await
        };
        let password = self.secrets.postgres_password.replace('\'', "''");
        let outcome = async {
            let (code, out) = run(
                DB_USER,
                "postgres",
                format!("CREATE ROLE {MIGRATION_ROLE} SUPERUSER LOGIN;"),
            )
            .await?;
            if code != 0 {
                return Ok::<_, DockerError>(Err(out));
            }
            let (code, out) = run(MIGRATION_ROLE, DB_NAME, migrate_role_sql(&password)).await?;
            Ok(if code == 0 { Ok(()) } else { Err(out) })
        }
        .await?;
        // The helper role goes whatever happened; after a failure, from the old superuser.
        let dropper = if outcome.is_ok() {
            DB_SUPERUSER
        } else {
            DB_USER
        };
        let _ = run(
            dropper,
            "postgres",
            format!("DROP ROLE IF EXISTS {MIGRATION_ROLE};"),
        )
        .await;
        match outcome {
            Ok(()) => {
                tracing::info!(container = %postgres, "Synapse's database role `{DB_USER}` is no longer a superuser; the superuser is `{DB_SUPERUSER}`");
                Ok(())
            }
            Err(out) => Err(StackError::RoleMigration {
                container: postgres.clone(),
                output: out.trim().to_string(),
            }),
        }
    }

    /// Waits until PostgreSQL accepts connections. A restart by Docker is waited for; a crash
    /// loop is stopped and reported with its log.
    async fn wait_postgres_ready(&self, engine: &Engine) -> Result<(), StackError> {
        let postgres = &self.names.postgres;
        let deadline = Instant::now() + POSTGRES_READY_TIMEOUT;
        let restarts_before = engine.inspect(postgres).await?.map(|o| o.restart_count);
        loop {
            let look = progress(engine.inspect(postgres).await?.as_ref(), restarts_before);
            let restarting = look == Progress::Restarting;
            let reason = match look {
                Progress::Running => {
                    match engine.exec(postgres, &PG_ISREADY, vec![]).await {
                        Ok((0, _)) => return Ok(()),
                        Ok(_) => None,
                        // It exited between the look and the exec: the next look says how.
                        Err(e) if e.is_conflict() => None,
                        Err(e) => return Err(e.into()),
                    }
                }
                Progress::Restarting => None,
                Progress::Failed(reason) => Some(reason),
            };
            // A slow start (crash recovery of a large database) is left running; a container
            // still being restarted at the deadline is a slow crash loop.
            let timed_out = || {
                (Instant::now() > deadline).then(|| {
                    format!(
                        "did not become ready within {}s",
                        POSTGRES_READY_TIMEOUT.as_secs()
                    )
                })
            };
            let crashed = reason.is_some() || restarting;
            if let Some(reason) = reason.or_else(timed_out) {
                let logs = engine.logs_tail(postgres, LOG_LINES_ON_FAILURE).await;
                if crashed {
                    // Stop a crash loop; the next `run` starts it again once the cause is fixed.
                    engine.stop(postgres, 10).await?;
                }
                return Err(StackError::PostgresUnhealthy {
                    container: postgres.clone(),
                    reason,
                    logs,
                });
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    pub async fn verify_database_locale(&self, engine: &Engine) -> Result<(), StackError> {
        let query = "SELECT pg_encoding_to_char(encoding) || '|' || datcollate || '|' || datctype FROM pg_database WHERE datname = current_database()";
        let postgres = &self.names.postgres;
        let (code, output) = engine
            .exec(
                postgres,
                &[
                    "psql",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    DB_USER,
                    "-d",
                    DB_NAME,
                    "-tA",
                    "-c",
                    query,
                ],
                vec![format!("PGPASSWORD={}", self.secrets.postgres_password)],
            )
            .await?;
        if code != 0 {
            return Err(StackError::WrongLocale {
                container: postgres.clone(),
                found: format!("an unreadable locale (psql: {})", output.trim()),
            });
        }
        check_database_locale(output.trim()).map_err(|found| StackError::WrongLocale {
            container: postgres.clone(),
            found,
        })
    }

    async fn wait_synapse_healthy(&self, engine: &Engine) -> Result<(), StackError> {
        let synapse = &self.names.synapse;
        let client = Synapse::on_loopback(self.config.synapse_port);
        let deadline = Instant::now() + SYNAPSE_HEALTHY_TIMEOUT;
        let restarts_before = engine.inspect(synapse).await?.map(|o| o.restart_count);
        loop {
            let reason = match progress(engine.inspect(synapse).await?.as_ref(), restarts_before) {
                Progress::Running if client.healthy().await => return Ok(()),
                Progress::Running | Progress::Restarting => None,
                Progress::Failed(reason) => Some(reason),
            };
            let reason = reason.or_else(|| {
                (Instant::now() > deadline).then(|| {
                    format!(
                        "did not answer /health within {}s",
                        SYNAPSE_HEALTHY_TIMEOUT.as_secs()
                    )
                })
            });
            if let Some(reason) = reason {
                let logs = engine.logs_tail(synapse, LOG_LINES_ON_FAILURE).await;
                // Stop a crash loop; the next `run` starts it again once the cause is fixed.
                engine.stop(synapse, 10).await?;
                return Err(StackError::SynapseUnhealthy {
                    container: synapse.clone(),
                    reason,
                    logs,
                });
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Why the stack needs a reconcile now, if it does: a container is missing, stopped or
    /// restarting. A cheap look that tells a container that died from those a reconcile itself
    /// stopped and started again.
    pub async fn needs_repair(&self, engine: &Engine) -> Result<Option<String>, DockerError> {
        for name in [&self.names.postgres, &self.names.synapse] {
            let why = match engine.inspect(name).await? {
                None => "is missing",
                Some(o) if o.status == "restarting" => "is restarting",
                Some(o) if !o.running => "is not running",
                Some(_) => continue,
            };
            return Ok(Some(format!("{name} {why}")));
        }
        Ok(None)
    }

    /// Stops Synapse, then PostgreSQL, each with its clean-shutdown timeout. Data stays.
    pub async fn down(&self, engine: &Engine) -> Result<(), StackError> {
        let synapse = self.desired_synapse_spec();
        let postgres = self.postgres_spec();
        for spec in [synapse, postgres] {
            if engine.inspect(&spec.name).await?.is_some_and(|o| o.running) {
                tracing::info!(container = %spec.name, "stopping");
                engine.stop(&spec.name, spec.stop_timeout_s).await?;
            }
        }
        Ok(())
    }

    /// Removes this instance's containers and network; run after `down`, so both stopped cleanly.
    pub async fn remove(&self, engine: &Engine) -> Result<(), StackError> {
        for name in [&self.names.synapse, &self.names.postgres] {
            engine.remove(name).await?;
        }
        engine.remove_network(&self.names.network).await?;
        Ok(())
    }
}

/// What one look at an awaited container says.
#[derive(Debug, PartialEq)]
enum Progress {
    Running,
    /// Docker's restart policy brings it back: wait.
    Restarting,
    Failed(String),
}

/// Pure: judges a container awaited since it had been restarted `restarts_before` times. Docker
/// reports a container it is about to restart as running, so restarts are counted.
fn progress(observed: Option<&Observed>, restarts_before: Option<i64>) -> Progress {
    let Some(o) = observed else {
        return Progress::Failed("disappeared".into());
    };
    let restarts = o.restart_count - restarts_before.unwrap_or(0);
    if restarts >= CRASH_LOOP_RESTARTS {
        Progress::Failed(format!(
            "keeps exiting (Docker restarted it {restarts} times; last exit status {})",
            o.exit_code.unwrap_or(-1)
        ))
    } else if o.status == "restarting" {
        Progress::Restarting
    } else if o.running {
        Progress::Running
    } else {
        Progress::Failed(format!("exited (status {})", o.exit_code.unwrap_or(-1)))
    }
}

/// Pure: the transaction, run as the helper superuser in Synapse's database, that renames the old
/// superuser `synapse` to `postgres` and gives a new `synapse` role the database and every object
/// in its `public` schema. Sequences that belong to a table move with their table.
fn migrate_role_sql(password: &str) -> String {
    format!(
        r#"ALTER ROLE {DB_USER} RENAME TO {DB_SUPERUSER};
ALTER ROLE {DB_SUPERUSER} PASSWORD NULL;
CREATE ROLE {DB_USER} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD '{password}';
ALTER DATABASE {DB_NAME} OWNER TO {DB_USER};
DO $$
DECLARE r record;
BEGIN
  IF (SELECT nspowner FROM pg_namespace WHERE nspname = 'public') = '{DB_SUPERUSER}'::regrole THEN
    ALTER SCHEMA public OWNER TO {DB_USER};
  END IF;
  FOR r IN
    SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relowner = '{DB_SUPERUSER}'::regrole
      AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
        AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO {DB_USER}',
      CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
        WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, r.name);
  END LOOP;
  FOR r IN
    SELECT p.oid::regprocedure AS name, p.prokind FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace AND p.proowner = '{DB_SUPERUSER}'::regrole
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO {DB_USER}',
      CASE r.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, r.name);
  END LOOP;
  FOR r IN
    SELECT t.oid::regtype AS name, t.typtype FROM pg_type t
    WHERE t.typnamespace = 'public'::regnamespace AND t.typowner = '{DB_SUPERUSER}'::regrole
      AND t.typtype IN ('e', 'd', 'r', 'c') AND t.typrelid = 0 AND t.typelem = 0
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO {DB_USER}',
      CASE r.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, r.name);
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = 'public'::regnamespace
      AND relowner = '{DB_SUPERUSER}'::regrole) THEN
    RAISE EXCEPTION 'objects in schema public are still owned by {DB_SUPERUSER}';
  END IF;
END
$$;"#
    )
}

/// Runs file work on the blocking pool: a slow disk must not stall the edge's runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, FsError> + Send + 'static,
) -> Result<T, StackError> {
    Ok(tokio::task::spawn_blocking(work)
        .await
        .expect("file work does not panic")?)
}

/// Renders Synapse's files into the root-owned config dir, and makes its writable data dir once.
/// Nothing inside the data dir is written, chmod-ed or chown-ed: Synapse controls it.
fn write_synapse_files(
    paths: &Paths,
    files: &[(&'static str, String, u32)],
) -> Result<(), FsError> {
    let state = Dir::open_trusted(paths.state())?;
    let data = state.ensure_dir(paths::SYNAPSE_DATA, 0o700, synapse::UID, synapse::UID)?;
    let existed = state.open_dir(paths::SYNAPSE_CONFIG)?.is_some();
    let config = state.ensure_dir(paths::SYNAPSE_CONFIG, 0o750, 0, synapse::UID)?;
    for (name, contents, mode) in files {
        let path = config.path().join(name);
        fsio::write_if_changed(&path, contents.as_bytes(), *mode)?;
        // Root's directory, which no container can write: the path is safe to follow.
        fsio::chown(&path, 0, synapse::UID)?;
    }
    if !existed {
        remove_old_synapse_files(&data, config.path());
    }
    Ok(())
}

/// Older versions rendered Synapse's config into its data dir: once the new copies exist, the old
/// ones go, so that nobody edits a file that is no longer read. Only the names are removed
/// (a link, never its target).
fn remove_old_synapse_files(data: &Dir, config: &std::path::Path) {
    for name in OLD_SYNAPSE_FILES {
        match data.remove_file(name) {
            Ok(true) => tracing::info!(
                "removed the old copy of {name} from Synapse's data dir {}: it is now rendered into {}, read-only for Synapse",
                data.path().display(),
                config.display()
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!("{e}: {}", e.source),
        }
    }
}

/// `PG_VERSION` of the data dir, read by descriptor: PostgreSQL's container can replace it (or the
/// directory holding it) with a link, a FIFO or a huge file. Those are refused in the log and the
/// version check is skipped; PostgreSQL itself refuses a data dir it cannot read.
fn read_pg_version(paths: &Paths) -> Result<Option<String>, FsError> {
    let read = || -> Result<Option<Vec<u8>>, FsError> {
        let state = Dir::open_trusted(paths.state())?;
        let Some(postgres) = state.open_dir(paths::POSTGRES_DATA)? else {
            return Ok(None);
        };
        let Some(pgdata) = postgres.open_dir(PGDATA_SUBDIR)? else {
            return Ok(None);
        };
        pgdata.read_small("PG_VERSION", PG_VERSION_LIMIT)
    };
    match read() {
        Ok(bytes) => Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned())),
        Err(e) if e.is_refusal() => {
            let hint = e.hint().unwrap_or_default();
            tracing::warn!(
                "refused: {e}: {}; the PostgreSQL major-version check is skipped; hint: {hint}",
                e.source
            );
            Ok(None)
        }
        // No state dir yet: nothing to check.
        Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn files_digest(files: &[(&str, String, u32)]) -> String {
    let mut digest = Sha256::new();
    for (name, contents, _) in files {
        digest.update(name.as_bytes());
        digest.update(contents.as_bytes());
    }
    hex::encode(&digest.finalize()[..16])
}

/// Pure: `Some((data major, image major))` when the image's tag names another major version than
/// the data directory's `PG_VERSION`. Tags without a version (a digest, `latest`) cannot be judged
/// here; PostgreSQL itself refuses the data then, and the crash is reported with its log.
fn postgres_major_change(pg_version: Option<&str>, image: &str) -> Option<(u32, u32)> {
    let data: u32 = pg_version?.trim().parse().ok()?;
    let name = image.split('@').next()?;
    let tag = name.rsplit('/').next()?.split_once(':')?.1;
    let digits: String = tag.chars().take_while(char::is_ascii_digit).collect();
    let wanted: u32 = digits.parse().ok()?;
    (wanted != data).then_some((data, wanted))
}

/// Pure: accepts only `UTF8|C|C` (what psql printed for encoding, collation and ctype).
fn check_database_locale(found: &str) -> Result<(), String> {
    match found.split('|').collect::<Vec<_>>().as_slice() {
        ["UTF8", "C", "C"] => Ok(()),
        [enc, collate, ctype] => Err(format!(
            "encoding {enc}, collation {collate}, ctype {ctype}"
        )),
        _ => Err(format!("an unexpected answer `{found}`")),
    }
}

fn ensure_port_free(object: &str, port: u16) -> Result<(), DockerError> {
    TcpListener::bind(("127.0.0.1", port))
        .map(drop)
        .map_err(|_| DockerError::PortInUse {
            object: object.into(),
            port,
        })
}

#[cfg(test)]
mod tests {
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
    fn busy_port_is_reported() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(
            matches!(ensure_port_free("x", port), Err(DockerError::PortInUse { port: p, .. }) if p == port)
        );
    }
}
