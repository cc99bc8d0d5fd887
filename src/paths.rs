//! Every on-disk location matrixbox reads or writes, derived from the config path and state dir.

use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG: &str = "/etc/matrixbox/matrixbox.yaml";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/matrixbox";

#[derive(Debug, Clone)]
pub struct Paths {
    pub config: PathBuf,
    pub state_dir: PathBuf,
}

impl Paths {
    pub fn new(config: impl Into<PathBuf>, state_dir: impl Into<PathBuf>) -> Self {
        Paths {
            config: config.into(),
            state_dir: state_dir.into(),
        }
    }

    /// Generated secrets, one file each (0600, directory 0700).
    pub fn secrets_dir(&self) -> PathBuf {
        self.state_dir.join("secrets")
    }

    /// Mounted at /data in the Synapse container: rendered config, signing key, media.
    pub fn synapse_dir(&self) -> PathBuf {
        self.state_dir.join("synapse")
    }

    /// Mounted as PostgreSQL's data directory.
    pub fn postgres_dir(&self) -> PathBuf {
        self.state_dir.join("postgres")
    }

    pub fn homeserver_yaml(&self) -> PathBuf {
        self.synapse_dir().join("homeserver.yaml")
    }

    pub fn state(&self) -> &Path {
        &self.state_dir
    }
}
