//! Atomic, permission-aware file writes: temp file + fsync + rename, so nothing is ever half-written.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;

#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}", path.display())]
pub struct FsError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl Diagnostic for FsError {
    fn hint(&self) -> Option<String> {
        Some(match self.source.kind() {
            io::ErrorKind::PermissionDenied => {
                "run as root, or choose paths you own with --config / --state-dir".into()
            }
            io::ErrorKind::InvalidData => {
                "the file is damaged: move it aside and run again (matrixbox writes a new one)".into()
            }
            _ if self.source.raw_os_error() == Some(nix::libc::ENOSPC) => {
                "the disk is full: free some space and run the command again; the previous file is intact".into()
            }
            _ => "check that the directory exists and is writable".into(),
        })
    }
}

fn err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FsError + 'a {
    move |source| FsError {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (and parents) if missing and sets its mode.
pub fn ensure_dir(dir: &Path, mode: u32) -> Result<(), FsError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(err("create directory", dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))
        .map_err(err("set permissions on", dir))
}

/// Writes `contents` to `path` atomically with `mode`; readers see the old or the new file, never a mix.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), FsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".matrixbox-")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(err("create a temporary file in", dir))?;
    tmp.write_all(contents).map_err(err("write", path))?;
    tmp.as_file().sync_all().map_err(err("sync", path))?;
    tmp.persist(path).map_err(|e| FsError {
        action: "replace",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    // The rename is durable only once the directory entry is.
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err("sync directory", dir))
}

/// Like `write_atomic` but leaves the file alone when it already has these contents, so callers
/// can tell whether anything changed.
pub fn write_if_changed(path: &Path, contents: &[u8], mode: u32) -> Result<bool, FsError> {
    if fs::read(path).is_ok_and(|old| old == contents) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(err("set permissions on", path))?;
        return Ok(false);
    }
    write_atomic(path, contents, mode)?;
    Ok(true)
}

/// Gives `path` to the uid/gid a container runs as.
pub fn chown(path: &Path, uid: u32, gid: u32) -> Result<(), FsError> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(err("change the owner of", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn atomic_write_sets_mode_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        write_atomic(&file, b"one", 0o600).unwrap();
        assert_eq!(fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
        assert!(write_if_changed(&file, b"two", 0o600).unwrap());
        assert!(!write_if_changed(&file, b"two", 0o600).unwrap());
        assert_eq!(fs::read(&file).unwrap(), b"two");
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left behind");
    }

    #[test]
    fn failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("missing-dir").join("f");
        assert!(write_atomic(&file, b"x", 0o600).is_err());
        assert!(!file.exists());
    }
}
