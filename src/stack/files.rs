//! Files root prepares for the containers: Synapse's config in a root-owned read-only mount,
//! the data dirs made once, and PostgreSQL's version read by descriptor, never through a link.

use super::specs::files_digest;
use super::*;

impl Stack {
    /// Writes Synapse's files (only those that changed) off the async runtime and returns the spec
    /// that mounts them.
    pub(super) async fn prepare_synapse_files(&self) -> Result<ContainerSpec, StackError> {
        let files = self.synapse_files()?;
        let digest = files_digest(&files);
        let paths = self.paths.clone();
        blocking(move || write_synapse_files(&paths, &files)).await?;
        Ok(self.synapse_spec(digest))
    }

    /// PostgreSQL's data dir, init script, login rules and shared socket dir, off the async runtime.
    pub(super) async fn prepare_postgres_files(&self) -> Result<(), StackError> {
        let paths = self.paths.clone();
        blocking(move || {
            let state = Dir::open_trusted(paths.state())?;
            state.ensure_dir(paths::POSTGRES_DATA, 0o700, POSTGRES_UID, POSTGRES_UID)?;
            // Root's, read-only in the container: the entrypoint runs it as the postgres user.
            let init = state.ensure_dir(paths::POSTGRES_INIT, 0o755, 0, 0)?;
            let script = embedded::text("postgres/init-roles.sh");
            fsio::write_if_changed(&init.path().join(PG_INIT_SCRIPT), script.as_bytes(), 0o644)?;
            for name in PG_AUTH_FILES {
                let text = embedded::text(&format!("postgres/{name}"));
                fsio::write_if_changed(&init.path().join(name), text.as_bytes(), 0o644)?;
            }
            // PostgreSQL makes its socket here; Synapse enters through its group.
            state.ensure_dir(paths::POSTGRES_SOCKET, 0o750, POSTGRES_UID, synapse::UID)?;
            Ok(())
        })
        .await
    }

    /// A new major version cannot open the old data: refuse before the running container goes.
    pub(super) async fn check_postgres_major(&self) -> Result<(), StackError> {
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
}

/// Runs file work on the blocking pool: a slow disk must not stall the edge's runtime.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, FsError> + Send + 'static,
) -> Result<T, StackError> {
    Ok(tokio::task::spawn_blocking(work)
        .await
        .expect("file work does not panic")?)
}

/// Renders Synapse's files into the root-owned config dir, and makes its writable data dir once.
/// Nothing inside the data dir is written, chmod-ed or chown-ed: Synapse controls it.
pub(super) fn write_synapse_files(
    paths: &Paths,
    files: &[(&'static str, String, u32)],
) -> Result<(), FsError> {
    let state = Dir::open_trusted(paths.state())?;
    let data = state.ensure_dir(paths::SYNAPSE_DATA, 0o700, synapse::UID, synapse::UID)?;
    // Entered by Synapse's user and the edge process's group alone, so its sockets (0666) are
    // theirs; no setgid bit (the unit's RestrictSUIDSGID= forbids one).
    state.ensure_dir(
        paths::SYNAPSE_SOCKET,
        0o750,
        synapse::UID,
        crate::privsep::EDGE_GID,
    )?;
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
pub(super) fn remove_old_synapse_files(data: &Dir, config: &std::path::Path) {
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
pub(super) fn read_pg_version(paths: &Paths) -> Result<Option<String>, FsError> {
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

/// Pure: `Some((data major, image major))` when the image's tag names another major version than
/// the data directory's `PG_VERSION`. Tags without a version (a digest, `latest`) cannot be judged
/// here; PostgreSQL itself refuses the data then, and the crash is reported with its log.
pub(super) fn postgres_major_change(pg_version: Option<&str>, image: &str) -> Option<(u32, u32)> {
    let data: u32 = pg_version?.trim().parse().ok()?;
    let name = image.split('@').next()?;
    let tag = name.rsplit('/').next()?.split_once(':')?.1;
    let digits: String = tag.chars().take_while(char::is_ascii_digit).collect();
    let wanted: u32 = digits.parse().ok()?;
    (wanted != data).then_some((data, wanted))
}
