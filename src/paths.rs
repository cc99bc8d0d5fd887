//! Every on-disk location matrixbox reads or writes, derived from the config path and state dir.

use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG: &str = "/etc/matrixbox/matrixbox.yaml";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/matrixbox";
/// Entries of the state dir, which the stack opens by name relative to it (see `fsio::Dir`).
pub const SYNAPSE_DATA: &str = "synapse";
pub const SYNAPSE_CONFIG: &str = "synapse-config";
pub const SYNAPSE_SOCKET: &str = "synapse-socket";
pub const POSTGRES_DATA: &str = "postgres";
pub const POSTGRES_INIT: &str = "postgres-init";
pub const POSTGRES_SOCKET: &str = "postgres-socket";
pub const TURN_CONFIG: &str = "turn-config";
pub const REDIS_SOCKET: &str = "redis-socket";

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

    /// Mounted read-write at /data in the Synapse container: media store and pid file. Synapse owns
    /// what is inside; matrixbox never follows a path in it.
    pub fn synapse_dir(&self) -> PathBuf {
        self.state_dir.join(SYNAPSE_DATA)
    }

    /// Mounted read-only at /config in the Synapse container: the rendered config and signing key,
    /// owned by root (group synapse, so Synapse can read them).
    pub fn synapse_config_dir(&self) -> PathBuf {
        self.state_dir.join(SYNAPSE_CONFIG)
    }

    /// Mounted read-write in the Synapse container, where Synapse makes its listening socket:
    /// only root and Synapse's user may enter it, so no other local user reaches Synapse.
    pub fn synapse_socket_dir(&self) -> PathBuf {
        self.state_dir.join(SYNAPSE_SOCKET)
    }

    /// Root's init script for a new PostgreSQL data directory (mounted read-only).
    pub fn postgres_init_dir(&self) -> PathBuf {
        self.state_dir.join(POSTGRES_INIT)
    }

    /// Where PostgreSQL makes the socket Synapse logs in through (mounted in both containers):
    /// PostgreSQL's user owns it, Synapse's group may enter it, no other local user can.
    pub fn postgres_socket_dir(&self) -> PathBuf {
        self.state_dir.join(POSTGRES_SOCKET)
    }

    /// Redis's socket (for Synapse's workers): Redis's, in Synapse's group.
    pub fn redis_socket_dir(&self) -> PathBuf {
        self.state_dir.join(REDIS_SOCKET)
    }

    /// Mounted read-only in the coturn container: its config and a copy of the edge's certificate,
    /// owned by root, readable by coturn's group.
    pub fn turn_config_dir(&self) -> PathBuf {
        self.state_dir.join(TURN_CONFIG)
    }

    /// Mounted as PostgreSQL's data directory.
    pub fn postgres_dir(&self) -> PathBuf {
        self.state_dir.join(POSTGRES_DATA)
    }

    /// The last good and the last failed backup (`backup::schedule::Record`).
    pub fn backup_status(&self) -> PathBuf {
        self.state_dir.join("backup-status.json")
    }

    /// Element Web's files, one directory per image extracted and `current` naming the served one.
    pub fn web_dir(&self) -> PathBuf {
        self.state_dir.join("web")
    }

    /// The digest each image tag resolved to when matrixbox first used it.
    pub fn image_digests(&self) -> PathBuf {
        self.state_dir.join("image-digests.json")
    }

    /// Locked while the stack is changed (see `stack::StackLock`).
    pub fn stack_lock(&self) -> PathBuf {
        self.state_dir.join("stack.lock")
    }

    /// The last upgrade's outcome (`matrixbox upgrade`), read by `status`.
    pub fn upgrade_record(&self) -> PathBuf {
        self.state_dir.join("upgrade.json")
    }

    pub fn homeserver_yaml(&self) -> PathBuf {
        self.synapse_config_dir().join("homeserver.yaml")
    }

    /// ACME account and renewal bookkeeping (directory 0700).
    pub fn acme_dir(&self) -> PathBuf {
        self.state_dir.join("acme")
    }

    /// The ACME account: its key and the directory it belongs to (0600).
    pub fn acme_account(&self) -> PathBuf {
        self.acme_dir().join("account.json")
    }

    /// Renewal failures, backoff and the next planned renewal; survives restarts.
    pub fn acme_renewal(&self) -> PathBuf {
        self.acme_dir().join("renewal.json")
    }

    /// One directory per managed certificate, named after its primary name.
    pub fn certs_dir(&self) -> PathBuf {
        self.state_dir.join("certs")
    }

    /// `fullchain.pem`, `key.pem` (0600) and `meta.json` of the certificate for `primary`.
    pub fn cert_dir(&self, primary: &str) -> PathBuf {
        // Names come from validated config, but a path component must never climb out.
        let safe: String = primary
            .to_ascii_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let safe = if safe.starts_with('.') {
            format!("_{safe}")
        } else {
            safe
        };
        self.certs_dir().join(safe)
    }

    /// The internal CA matrixbox makes for `acme: internal` and until a public certificate arrives.
    pub fn ca_dir(&self) -> PathBuf {
        self.state_dir.join("ca")
    }

    /// The internal CA's root certificate: the file users add to their trust store (0644).
    pub fn ca_root(&self) -> PathBuf {
        self.ca_dir().join("root.pem")
    }

    pub fn ca_root_key(&self) -> PathBuf {
        self.ca_dir().join("root.key")
    }

    pub fn state(&self) -> &Path {
        &self.state_dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_dir_stays_inside_certs() {
        let paths = Paths::new("/etc/m.yaml", "/var/lib/m");
        assert_eq!(
            paths.cert_dir("Matrix.Example.org"),
            Path::new("/var/lib/m/certs/matrix.example.org")
        );
        assert_eq!(
            paths.cert_dir("../x/y"),
            Path::new("/var/lib/m/certs/_.._x_y")
        );
        assert_eq!(paths.cert_dir(".."), Path::new("/var/lib/m/certs/_.."));
    }
}
