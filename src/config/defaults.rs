//! Defaults the file falls back to, in one place: pinned images, ports, listen addresses.

pub const DEFAULT_SYNAPSE_IMAGE: &str = "matrixdotorg/synapse:v1.163.2";
pub const DEFAULT_POSTGRES_IMAGE: &str = "postgres:15.14-bookworm";
/// Element Web's static bundle (the edge serves its `/app`; nginx in it never runs).
pub const DEFAULT_ELEMENT_IMAGE: &str = "vectorim/element-web:v1.11.100";
pub const DEFAULT_COTURN_IMAGE: &str = "coturn/coturn:4.6.3";
/// Redis for Synapse's workers (replication pub/sub over a UNIX socket; nothing is persisted).
pub const DEFAULT_REDIS_IMAGE: &str = "redis:7.4.2-bookworm";
pub const DEFAULT_LISTEN_HTTP: &str = "0.0.0.0:80";
pub const DEFAULT_LISTEN_HTTPS: &str = "0.0.0.0:443";
/// The instance name every container, network and label derives from (`matrixbox-synapse`, ...).
pub const DEFAULT_INSTANCE: &str = "matrixbox";
/// Keeps `<instance>-postgres` a DNS label (63 bytes): Synapse reaches PostgreSQL by that name.
pub(super) const MAX_INSTANCE_LEN: usize = 40;
/// PostgreSQL and Synapse need at least this much to start at all.
pub(super) const MIN_MEMORY_MB: u64 = 512;

/// Names no public CA will certify: these get certificates from the internal CA by default.
pub fn is_private_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || !name.contains('.')
        || [
            ".localhost",
            ".local",
            ".internal",
            ".test",
            ".lan",
            ".home.arpa",
            ".example",
        ]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}
