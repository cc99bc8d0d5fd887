//! PostgreSQL major versions: the data directory's major against the image's, the PostgreSQL of
//! the new major that a migration fills beside the running one, and the swap of data directories.

use std::path::PathBuf;

use nix::fcntl::RenameFlags;

use super::files::{blocking, postgres_major_change, read_pg_version};
use super::*;

/// The new major's data dir while a migration fills it: beside `postgres`, on the same
/// filesystem, so that putting it in place is one rename.
pub const POSTGRES_NEXT: &str = "postgres-next";
/// The old major's data dir after a migration: `postgres-<major>` (until `upgrade --cleanup`).
const POSTGRES_KEPT_PREFIX: &str = "postgres-";

/// `Some((data major, image major))` when `image` is another PostgreSQL major than the one that
/// made the data directory (`None` for a fresh data dir or a tag without a version).
pub async fn postgres_major(paths: &Paths, image: &str) -> Result<Option<(u32, u32)>, StackError> {
    let p = paths.clone();
    let version = blocking(move || read_pg_version(&p)).await?;
    Ok(postgres_major_change(version.as_deref(), image))
}

/// The major version in `PG_VERSION` of a data dir under the state dir (`postgres-next`, ...).
pub fn data_major(paths: &Paths, dir: &str) -> Option<u32> {
    let state = Dir::open_trusted(paths.state()).ok()?;
    let data = state.open_dir(dir).ok()??.open_dir(PGDATA_SUBDIR).ok()??;
    let bytes = data.read_small("PG_VERSION", PG_VERSION_LIMIT).ok()??;
    String::from_utf8_lossy(&bytes).trim().parse().ok()
}

/// The kept data dirs of earlier majors (`postgres-15`, ...), as (major, path).
pub fn kept_postgres_dirs(paths: &Paths) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(paths.state()) else {
        return vec![];
    };
    let mut kept: Vec<_> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let major = kept_major(&name)?;
            e.file_type().ok()?.is_dir().then(|| (major, e.path()))
        })
        .collect();
    kept.sort();
    kept
}

/// Pure: the major of a kept data dir's name (`postgres-15` -> 15).
pub fn kept_major(name: &str) -> Option<u32> {
    let digits = name.strip_prefix(POSTGRES_KEPT_PREFIX)?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The state dir's entry that keeps the data dir of `major` after a migration.
pub fn kept_name(major: u32) -> String {
    format!("{POSTGRES_KEPT_PREFIX}{major}")
}

pub fn kept_postgres_dir(paths: &Paths, major: u32) -> PathBuf {
    paths.state().join(kept_name(major))
}

/// Exchanges the data dirs `postgres` and `other` in one `renameat2(RENAME_EXCHANGE)`: at every
/// instant each name holds a whole data dir, whatever stops the process.
pub fn exchange_postgres_dir(paths: &Paths, other: &str) -> Result<(), FsError> {
    let state = paths.state();
    let fail = |source| FsError {
        action: "exchange the PostgreSQL data directory with",
        path: state.join(other),
        source,
    };
    let dir = std::fs::File::open(state).map_err(fail)?;
    nix::fcntl::renameat2(
        &dir,
        paths::POSTGRES_DATA,
        &dir,
        other,
        RenameFlags::RENAME_EXCHANGE,
    )
    .map_err(|e| fail(std::io::Error::from(e)))?;
    nix::unistd::fsync(&dir).map_err(|e| fail(e.into()))?;
    Ok(())
}

/// After a failed gate on the migrated data: the kept data dir of `major` back in place (one
/// exchange), the migrated one removed.
pub fn put_back(paths: &Paths, major: u32) -> Result<(), FsError> {
    rename_in_state(paths, &kept_name(major), POSTGRES_NEXT)?;
    exchange_postgres_dir(paths, POSTGRES_NEXT)?;
    remove_state_dir(paths, POSTGRES_NEXT)
}

/// Renames the entry `from` of the state dir to `to` (both on the same filesystem).
pub fn rename_in_state(paths: &Paths, from: &str, to: &str) -> Result<(), FsError> {
    let state = paths.state();
    std::fs::rename(state.join(from), state.join(to)).map_err(|source| FsError {
        action: "rename",
        path: state.join(from),
        source,
    })
}

/// Removes a data dir of the state dir that matrixbox made for a migration (never a link's
/// target: `remove_dir_all` does not follow links).
pub fn remove_state_dir(paths: &Paths, name: &str) -> Result<(), FsError> {
    let path = paths.state().join(name);
    match std::fs::remove_dir_all(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(FsError {
            action: "remove",
            path,
            source,
        }),
    }
}

/// Bytes on disk under `dir` (links not followed): what a second copy of it needs.
pub fn disk_usage(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            total += meta.blocks() * 512;
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    total
}

impl Stack {
    /// This stack's PostgreSQL as a migration's new one: its own container and data dir
    /// (`postgres-next`), no shared socket directory (Synapse must never reach it).
    pub fn into_next_postgres(mut self) -> Stack {
        self.names.postgres = format!("{}-postgres-next", self.names.instance);
        self
    }

    fn next_postgres_spec(&self) -> ContainerSpec {
        let mut spec = self.postgres_spec();
        let data = self.paths.state().join(POSTGRES_NEXT);
        let socket = self.paths.postgres_socket_dir().display().to_string();
        spec.binds.retain(|b| b.host != socket);
        for bind in &mut spec.binds {
            if bind.container == PGDATA_MOUNT {
                bind.host = data.display().to_string();
            }
        }
        for arg in &mut spec.cmd {
            if arg.starts_with("unix_socket_directories=") {
                *arg = "unix_socket_directories=/var/run/postgresql".into();
            }
        }
        spec
    }

    /// Makes an empty `postgres-next`, starts the configured PostgreSQL image on it (the image's
    /// entrypoint initialises it: UTF8, C collation, Synapse's role) and waits until it is ready.
    pub async fn start_next_postgres(&self, engine: &Engine) -> Result<(), StackError> {
        self.prepare_postgres_files().await?;
        let paths = self.paths.clone();
        blocking(move || {
            let state = Dir::open_trusted(paths.state())?;
            state.ensure_dir(POSTGRES_NEXT, 0o700, POSTGRES_UID, POSTGRES_UID)?;
            Ok(())
        })
        .await?;
        let image = engine
            .ensure_image(
                &self.config.postgres_candidates,
                &self.paths.image_digests(),
            )
            .await?;
        self.images.lock().expect("never poisoned").postgres = image;
        let spec = self.next_postgres_spec();
        engine.remove(&spec.name).await?;
        docker::ensure(engine, &spec).await?;
        self.wait_postgres_ready(engine).await
    }

    /// Waits until this stack's PostgreSQL accepts connections (after `docker start`).
    pub async fn wait_postgres(&self, engine: &Engine) -> Result<(), StackError> {
        self.wait_postgres_ready(engine).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_dirs_are_named_by_their_major() {
        assert_eq!(kept_major("postgres-15"), Some(15));
        assert_eq!(kept_major("postgres-next"), None);
        assert_eq!(kept_major("postgres-"), None);
        assert_eq!(kept_major("postgres-init"), None);
        assert_eq!(kept_major("postgres-socket"), None);
        assert_eq!(kept_major("postgres"), None);
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new("/x.yaml", dir.path());
        for name in ["postgres", "postgres-15", "postgres-next", "postgres-init"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("postgres-14"), "a file").unwrap();
        assert_eq!(
            kept_postgres_dirs(&paths),
            vec![(15, dir.path().join("postgres-15"))]
        );
    }

    #[test]
    fn the_next_postgres_is_its_own_container_on_its_own_data() {
        let dir = tempfile::tempdir().unwrap();
        let next = test_stack("domain: a.test\n", dir.path()).into_next_postgres();
        let spec = next.next_postgres_spec();
        assert!(spec.name.ends_with("-postgres-next"), "{}", spec.name);
        let state = dir.path().join("state");
        assert!(spec.binds.iter().any(|b| b.container == PGDATA_MOUNT
            && b.host == state.join(POSTGRES_NEXT).display().to_string()));
        assert!(
            !spec.binds.iter().any(|b| b.container == PG_SOCKET_MOUNT),
            "Synapse's socket directory is not shared"
        );
        assert!(
            spec.cmd
                .contains(&"unix_socket_directories=/var/run/postgresql".to_string())
        );
    }

    #[test]
    fn data_dirs_are_exchanged_in_one_rename() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new("/x.yaml", dir.path());
        for (name, v) in [("postgres", "15"), (POSTGRES_NEXT, "17")] {
            std::fs::create_dir_all(dir.path().join(name).join(PGDATA_SUBDIR)).unwrap();
            std::fs::write(dir.path().join(name).join("pgdata/PG_VERSION"), v).unwrap();
        }
        exchange_postgres_dir(&paths, POSTGRES_NEXT).unwrap();
        assert_eq!(data_major(&paths, "postgres"), Some(17));
        assert_eq!(data_major(&paths, POSTGRES_NEXT), Some(15));
        assert!(disk_usage(&dir.path().join("postgres")) > 0);
        remove_state_dir(&paths, POSTGRES_NEXT).unwrap();
        assert!(!dir.path().join(POSTGRES_NEXT).exists());
        assert!(exchange_postgres_dir(&paths, POSTGRES_NEXT).is_err());
        // The migration's switch (exchange, then the old one kept), and putting it back.
        std::fs::create_dir_all(dir.path().join(POSTGRES_NEXT).join(PGDATA_SUBDIR)).unwrap();
        std::fs::write(
            dir.path().join(POSTGRES_NEXT).join("pgdata/PG_VERSION"),
            "18",
        )
        .unwrap();
        exchange_postgres_dir(&paths, POSTGRES_NEXT).unwrap();
        rename_in_state(&paths, POSTGRES_NEXT, &kept_name(17)).unwrap();
        assert_eq!(data_major(&paths, "postgres"), Some(18));
        assert_eq!(data_major(&paths, "postgres-17"), Some(17));
        put_back(&paths, 17).unwrap();
        assert_eq!(data_major(&paths, "postgres"), Some(17));
        assert!(kept_postgres_dirs(&paths).is_empty());
        assert!(!dir.path().join(POSTGRES_NEXT).exists());
    }
}
