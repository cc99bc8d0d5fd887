//! `adopt`: takes over a server installed with the manual guide (docker compose with `synapse`
//! and `postgres`): reads it, copies it into one verified matrixbox backup, stops the old stack
//! only then, and restores the copy under matrixbox. The old stack's files are never changed.
//!
//! `plan` holds the pure decisions, `copy` writes the archive, `messages` the texts.

pub mod copy;
pub mod messages;
pub mod plan;

use std::error::Error;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::backup::manifest::{self, FORMAT, Manifest, Refusal, Target};
use crate::backup::{BackupError, restore};
use crate::config::{self, ConfigError};
use crate::diagnostic::Diagnostic;
use crate::docker::compose::ComposeContainer;
use crate::docker::{DockerError, Engine, Runtime};
use crate::fsio::{Dir, FsError};
use crate::i18n::Lang;
use crate::paths::Paths;
use crate::stack::Names;
use messages::M;
use plan::Homeserver;

/// Largest homeserver.yaml or key file read (they are a few KiB).
const SMALL_FILE: usize = 1 << 20;
/// Seconds the old containers get to stop cleanly.
const STOP_TIMEOUT_S: i64 = 30;

#[derive(Debug)]
pub enum AdoptError {
    NoDir {
        dir: PathBuf,
        reason: String,
    },
    NoCompose {
        dir: PathBuf,
    },
    MissingService {
        dir: PathBuf,
        service: String,
        found: Vec<String>,
    },
    ScaledService {
        service: String,
        containers: Vec<String>,
    },
    NotMounted {
        container: String,
        path: PathBuf,
    },
    Read {
        path: PathBuf,
        reason: String,
    },
    BadHomeserver {
        path: PathBuf,
        reason: String,
    },
    NotPostgres {
        engine: String,
    },
    BadSigningKey {
        path: PathBuf,
    },
    PostgresStopped {
        container: String,
    },
    Database {
        container: String,
        step: M,
        code: i64,
        output: String,
    },
    ServerName {
        config: PathBuf,
        here: String,
        theirs: String,
    },
    Newer(Vec<Refusal>),
    ExistingDatabase {
        dir: PathBuf,
    },
    MatrixboxRunning {
        container: String,
    },
    Copy {
        restarted: bool,
        source: Box<BackupError>,
    },
    Restore {
        archive: PathBuf,
        dir: PathBuf,
        source: Box<BackupError>,
    },
    Config(ConfigError),
    Docker(DockerError),
    Fs(FsError),
}

impl From<DockerError> for AdoptError {
    fn from(e: DockerError) -> Self {
        AdoptError::Docker(e)
    }
}

impl From<FsError> for AdoptError {
    fn from(e: FsError) -> Self {
        AdoptError::Fs(e)
    }
}

fn d(p: &Path) -> std::path::Display<'_> {
    p.display()
}

impl AdoptError {
    /// The message in `lang`.
    pub fn text(&self, lang: Lang) -> String {
        use AdoptError::*;
        match self {
            NoDir { dir, reason } => lang.t(M::ErrNoDir, &[&d(dir), reason]),
            NoCompose { dir } => lang.t(M::ErrNoCompose, &[&d(dir)]),
            MissingService {
                dir,
                service,
                found,
            } => lang.t(
                M::ErrMissingService,
                &[&d(dir), service, &messages::list(lang, found)],
            ),
            ScaledService {
                service,
                containers,
            } => lang.t(M::ErrScaled, &[service, &containers.join(", ")]),
            NotMounted { container, path } => lang.t(M::ErrNotMounted, &[container, &d(path)]),
            Read { path, reason } => lang.t(M::ErrRead, &[&d(path), reason]),
            BadHomeserver { path, reason } => lang.t(M::ErrBadHomeserver, &[&d(path), reason]),
            NotPostgres { engine } => lang.t(M::ErrNotPostgres, &[engine]),
            BadSigningKey { path } => lang.t(M::ErrBadKey, &[&d(path)]),
            PostgresStopped { container } => lang.t(M::ErrPgStopped, &[container]),
            Database {
                container,
                step,
                code,
                output,
            } => lang.t(
                M::ErrDatabase,
                &[container, &lang.t(*step, &[]), code, output],
            ),
            ServerName {
                config,
                here,
                theirs,
            } => lang.t(M::ErrServerName, &[&d(config), here, theirs]),
            Newer(refusals) => refusals
                .iter()
                .map(|r| match r {
                    Refusal::NewerSynapse { backup, here } => {
                        lang.t(M::ErrNewerSynapse, &[backup, here])
                    }
                    Refusal::NewerPostgres { backup, here } => {
                        lang.t(M::ErrNewerPostgres, &[backup, here])
                    }
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join("; "),
            ExistingDatabase { dir } => lang.t(M::ErrExistingDb, &[&d(dir)]),
            MatrixboxRunning { container } => lang.t(M::ErrMbxRunning, &[container]),
            Copy { restarted, .. } => {
                let left = if *restarted {
                    M::CopyRestarted
                } else {
                    M::CopyLeft
                };
                lang.t(M::ErrCopy, &[&lang.t(left, &[])])
            }
            Restore { archive, .. } => lang.t(M::ErrRestore, &[&d(archive)]),
            Config(e) => e.to_string(),
            Docker(e) => e.to_string(),
            Fs(e) => e.to_string(),
        }
    }

    /// What to do about it, in `lang`.
    pub fn hint_in(&self, lang: Lang) -> Option<String> {
        use AdoptError::*;
        Some(match self {
            NoDir { .. } => lang.t(M::HintNoDir, &[]),
            NoCompose { .. } => lang.t(M::HintNoCompose, &[]),
            MissingService { .. } => lang.t(M::HintMissingService, &[]),
            ScaledService { service, .. } => lang.t(M::HintScaled, &[service]),
            NotMounted { .. } => lang.t(M::HintNotMounted, &[]),
            Read { .. } => lang.t(M::HintRead, &[]),
            BadHomeserver { .. } => lang.t(M::HintBadHomeserver, &[]),
            NotPostgres { .. } => lang.t(M::HintNotPostgres, &[]),
            BadSigningKey { .. } => lang.t(M::HintBadKey, &[]),
            PostgresStopped { container } => lang.t(M::HintPgStopped, &[container]),
            Database { container, .. } => lang.t(M::HintDatabase, &[container]),
            ServerName {
                config,
                here,
                theirs,
            } => lang.t(M::HintServerName, &[&d(config), here, theirs]),
            Newer(_) => lang.t(M::HintNewer, &[]),
            ExistingDatabase { dir } => lang.t(M::HintExistingDb, &[&d(dir)]),
            MatrixboxRunning { .. } => lang.t(M::HintMbxRunning, &[]),
            Copy { source, .. } => return source.hint(),
            Restore { archive, dir, .. } => lang.t(M::HintRestore, &[&d(archive), &d(dir)]),
            Config(e) => return e.hint(),
            Docker(e) => return e.hint(),
            Fs(e) => return e.hint(),
        })
    }
}

impl fmt::Display for AdoptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text(Lang::current()))
    }
}

impl Error for AdoptError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            AdoptError::Copy { source, .. } | AdoptError::Restore { source, .. } => {
                Some(source.as_ref())
            }
            // Said as their own message (transparent): their causes follow.
            AdoptError::Config(e) => e.source(),
            AdoptError::Docker(e) => e.source(),
            AdoptError::Fs(e) => e.source(),
            _ => None,
        }
    }
}

impl Diagnostic for AdoptError {
    fn hint(&self) -> Option<String> {
        self.hint_in(Lang::current())
    }

    fn exit_code(&self) -> Option<crate::diagnostic::ExitCode> {
        match self {
            AdoptError::Config(e) => e.exit_code(),
            _ => None,
        }
    }
}

/// Everything read from the old installation, before anything changes.
pub struct Found {
    pub dir: PathBuf,
    pub synapse: ComposeContainer,
    pub postgres: ComposeContainer,
    pub homeserver: Homeserver,
    pub domain: String,
    pub signing_key: String,
    pub media: Option<PathBuf>,
    /// The matrixbox.yaml that adoption writes, and whether it extends an existing one.
    pub config_text: String,
    pub config_existed: bool,
    pub manifest: Manifest,
    pub archive: PathBuf,
}

/// Reads a small regular file of the old installation without following a link at its name
/// (its directory is Synapse's to write).
fn read_small(path: &Path) -> Result<String, AdoptError> {
    let fail = |reason: String| AdoptError::Read {
        path: path.to_path_buf(),
        reason,
    };
    let (parent, name) = match (path.parent(), path.file_name()) {
        (Some(p), Some(n)) => (p, n.to_string_lossy()),
        _ => return Err(fail("not a file".into())),
    };
    let dir = Dir::open_trusted(parent).map_err(|e| fail(e.source.to_string()))?;
    let bytes = dir
        .read_small(&name, SMALL_FILE)
        .map_err(|e| fail(e.source.to_string()))?
        .ok_or_else(|| fail(std::io::Error::from(std::io::ErrorKind::NotFound).to_string()))?;
    String::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".into()))
}

fn mounted(c: &ComposeContainer, inside: &Path) -> Result<PathBuf, AdoptError> {
    plan::host_path(&c.mounts, inside).ok_or_else(|| AdoptError::NotMounted {
        container: c.name.clone(),
        path: inside.to_path_buf(),
    })
}

async fn psql_value(
    engine: &Engine,
    c: &ComposeContainer,
    hs: &Homeserver,
    sql: &str,
    step: M,
) -> Result<String, AdoptError> {
    let cmd = [
        "psql",
        "-X",
        "-tA",
        "-U",
        hs.db_user.as_str(),
        "--no-password",
        "-d",
        hs.db_name.as_str(),
        "-c",
        sql,
    ];
    let (code, out) = engine.exec(&c.name, &cmd, vec![]).await?;
    if code != 0 {
        return Err(AdoptError::Database {
            container: c.name.clone(),
            step,
            code,
            output: out.trim().to_string(),
        });
    }
    Ok(out.trim().to_string())
}

/// Reads the old installation in `dir` and decides everything; changes nothing.
pub async fn inspect(
    paths: &Paths,
    engine: &Engine,
    dir: &Path,
    domain: Option<&str>,
) -> Result<Found, AdoptError> {
    let dir = std::fs::canonicalize(dir).map_err(|e| AdoptError::NoDir {
        dir: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let containers = engine.compose_containers(&dir.to_string_lossy()).await?;
    if containers.is_empty() {
        return Err(AdoptError::NoCompose { dir });
    }
    let (synapse, postgres) = plan::services(&dir, &containers)?;

    let config_inside = plan::config_path(&synapse.command);
    let homeserver_yaml = mounted(&synapse, &config_inside)?;
    let hs = plan::homeserver(&read_small(&homeserver_yaml)?, &config_inside)?;
    let key_file = mounted(&synapse, &hs.signing_key_path)?;
    let (key_id, signing_key) = plan::signing_key(&read_small(&key_file)?, &key_file)?;
    let media = mounted(&synapse, &hs.media_store_path).ok();

    let (config_text, config_existed) = match std::fs::read_to_string(&paths.config) {
        Ok(existing) => {
            let here = config::parse(&existing, &paths.config).map_err(AdoptError::Config)?;
            if !here.server_name.eq_ignore_ascii_case(&hs.server_name) {
                return Err(AdoptError::ServerName {
                    config: paths.config.clone(),
                    here: here.server_name,
                    theirs: hs.server_name.clone(),
                });
            }
            (plan::config_text(Some(&existing), &hs, ""), true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let domain = domain
                .map(str::to_string)
                .unwrap_or_else(|| plan::domain(&hs));
            (plan::config_text(None, &hs, &domain), false)
        }
        Err(e) => {
            return Err(AdoptError::Read {
                path: paths.config.clone(),
                reason: e.to_string(),
            });
        }
    };
    let config = config::parse(&config_text, &paths.config).map_err(AdoptError::Config)?;

    if let Some(dir) = restore::existing_database(paths) {
        return Err(AdoptError::ExistingDatabase { dir });
    }
    let names = Names::of(&config.instance);
    if engine
        .inspect(&names.synapse)
        .await?
        .is_some_and(|o| o.running)
    {
        return Err(AdoptError::MatrixboxRunning {
            container: names.synapse,
        });
    }
    if !postgres.running {
        return Err(AdoptError::PostgresStopped {
            container: postgres.name.clone(),
        });
    }
    let postgres_version = psql_value(
        engine,
        &postgres,
        &hs,
        "SHOW server_version",
        M::StepVersion,
    )
    .await?;
    let synapse_version = synapse_version(engine, &synapse).await;

    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero is a valid nanosecond");
    let manifest = Manifest {
        format: FORMAT,
        created: now
            .format(&time::format_description::well_known::Rfc3339)
            .expect("a valid time"),
        server_name: hs.server_name.clone(),
        matrixbox_version: env!("CARGO_PKG_VERSION").into(),
        synapse_version,
        postgres_version,
        signing_key_id: key_id,
        members: vec![],
    };
    let target = Target {
        server_name: Some(config.server_name.clone()),
        synapse: manifest::image_version(&config.synapse_image),
        postgres_major: manifest::image_version(&config.postgres_image).map(|v| v[0]),
    };
    let refusals = manifest::refusals(&manifest, &target);
    if !refusals.is_empty() {
        return Err(AdoptError::Newer(refusals));
    }
    Ok(Found {
        archive: copy::output(paths, &hs.server_name, now),
        domain: config.domain.clone(),
        dir,
        synapse,
        postgres,
        homeserver: hs,
        signing_key,
        media,
        config_text,
        config_existed,
        manifest,
    })
}

/// The version the old Synapse reports, when it runs; else the one its image tag names.
async fn synapse_version(engine: &Engine, c: &ComposeContainer) -> String {
    let cmd = [
        "/usr/local/bin/python",
        "-c",
        "import synapse; print(synapse.__version__)",
    ];
    if c.running
        && let Ok((0, out)) = engine.exec(&c.name, &cmd, vec![]).await
        && !out.trim().is_empty()
    {
        return out.trim().to_string();
    }
    manifest::image_version(&c.image)
        .map(|v| v.iter().map(u32::to_string).collect::<Vec<_>>().join("."))
        .unwrap_or_else(|| "unknown".into())
}

/// The plan as a person reads it.
pub fn describe(lang: Lang, found: &Found, paths: &Paths) -> String {
    let hs = &found.homeserver;
    let keys = |m: &crate::yaml::Mapping| -> Vec<String> {
        m.keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect()
    };
    let mut secrets = vec![lang.t(M::SigningKey, &[])];
    secrets.extend(
        plan::CARRIED_SECRETS
            .iter()
            .filter(|(file, _)| hs.secrets.iter().any(|(f, _)| f == file))
            .map(|(_, key)| key.to_string()),
    );
    let config = if found.config_existed {
        lang.t(M::ConfigKept, &[&paths.config.display()])
    } else {
        lang.t(M::ConfigNew, &[&paths.config.display(), &found.domain])
    };
    let media = found
        .media
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| lang.t(M::None_, &[]));
    [
        lang.t(
            M::Found,
            &[
                &found.dir.display(),
                &found.synapse.name,
                &found.manifest.synapse_version,
                &found.postgres.name,
                &found.manifest.postgres_version,
            ],
        ),
        lang.t(
            M::Server,
            &[
                &hs.server_name,
                &found.domain,
                &found.manifest.signing_key_id,
            ],
        ),
        lang.t(M::Database, &[&hs.db_name, &hs.db_user]),
        lang.t(M::Media, &[&media]),
        lang.t(M::Secrets, &[&secrets.join(", ")]),
        lang.t(M::Carried, &[&messages::list(lang, &keys(&hs.overrides))]),
        lang.t(M::Left, &[&messages::list(lang, &hs.left)]),
        config,
        lang.t(M::Steps, &[&found.archive.display(), &found.dir.display()]),
    ]
    .join("\n")
}

/// What a finished adoption reports.
pub struct Adopted {
    pub manifest: Manifest,
    pub archive: PathBuf,
}

/// Copies, verifies, stops the old stack and restores under matrixbox (see the module's text).
pub async fn adopt(
    paths: &Paths,
    engine: &Engine,
    found: Found,
    lang: Lang,
) -> Result<Adopted, AdoptError> {
    let Found {
        dir,
        synapse,
        postgres,
        homeserver: hs,
        signing_key,
        media,
        config_text,
        manifest,
        archive,
        ..
    } = found;
    // Nothing is written to the old database after the copy: its Synapse stops first, and is
    // started again when the copy fails.
    let stopped = synapse.running;
    if stopped {
        eprintln!("{}", lang.t(M::StoppingSynapse, &[&synapse.name]));
        engine.stop(&synapse.name, STOP_TIMEOUT_S).await?;
    }
    eprintln!("{}", lang.t(M::Copying, &[&archive.display()]));
    let mut secrets = hs.secrets.clone();
    secrets.push((crate::secrets::SIGNING_KEY, signing_key));
    let source = copy::Source {
        postgres: postgres.name.clone(),
        db_user: hs.db_user.clone(),
        db_name: hs.db_name.clone(),
        secrets,
        media,
        config: config_text,
    };
    let copied = match copy::write(engine, paths, source, manifest, &archive).await {
        Ok(_) => restore::verify(&archive, lang).await,
        Err(e) => Err(e),
    };
    let manifest = match copied {
        Ok(m) => m,
        Err(source) => {
            let restarted = stopped && engine.start(&synapse.name).await.is_ok();
            return Err(AdoptError::Copy {
                restarted,
                source: Box::new(source),
            });
        }
    };
    eprintln!("{}", lang.t(M::Verified, &[&archive.display()]));

    // Only now does the old stack stop, and it stays stopped across reboots.
    eprintln!("{}", lang.t(M::StoppingPostgres, &[&postgres.name]));
    engine.stop(&postgres.name, STOP_TIMEOUT_S).await?;
    for c in [&synapse, &postgres] {
        engine.keep_stopped(&c.name).await?;
    }
    restore::restore_adopted(paths, &archive, lang)
        .await
        .map_err(|source| AdoptError::Restore {
            archive: archive.clone(),
            dir: dir.clone(),
            source: Box::new(source),
        })?;
    Ok(Adopted { manifest, archive })
}

#[cfg(test)]
mod tests;
