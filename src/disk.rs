//! Free space where matrixbox keeps its data, measured the same way for preflight (before
//! anything is written) and doctor (on a running installation).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Images (~1.5 GiB), the database and media need room to grow.
pub const MIN_FREE_BYTES: u64 = 5 << 30;

/// Which directory a measurement is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskRole {
    State,
    DockerRoot,
}

#[derive(Debug, Clone)]
pub struct Disk {
    pub role: DiskRole,
    pub path: PathBuf,
    pub space: Result<Space, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub free_bytes: u64,
    /// Device id of the filesystem, to notice two paths on the same one.
    pub dev: u64,
}

/// Free space of the filesystem holding `path`, measured at its nearest existing ancestor
/// (the state directory does not exist before `setup`).
pub fn disk(role: DiskRole, path: &Path) -> Disk {
    let existing = path
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    let space = nix::sys::statvfs::statvfs(existing)
        .map_err(|e| format!("{}: {e}", existing.display()))
        .and_then(|s| {
            let dev = std::fs::metadata(existing)
                .map_err(|e| format!("{}: {e}", existing.display()))?
                .dev();
            Ok(Space {
                free_bytes: s.blocks_available() * s.fragment_size(),
                dev,
            })
        });
    Disk {
        role,
        path: path.to_path_buf(),
        space,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_space_of_a_path_that_does_not_exist_yet() {
        let dir = tempfile::tempdir().unwrap();
        let d = disk(DiskRole::State, &dir.path().join("not/yet"));
        let space = d.space.unwrap();
        assert!(space.free_bytes > 0);
        assert_eq!(space.dev, std::fs::metadata(dir.path()).unwrap().dev());
    }
}
