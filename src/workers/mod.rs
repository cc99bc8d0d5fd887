//! Synapse's generic workers: which run (from `workers:` and the core count), what each is
//! called and where it listens, and which requests the edge sends to which (`route`).
//!
//! Pure: the containers are `stack::workers`', the YAML is `synapse::workers`'.

pub mod route;

use crate::config::{Config, WorkerKind, Workers};

/// Which workers run for `workers` on a host with `cores` cores. `auto` adds kinds as cores
/// allow: each worker is a Python process with its own core's worth of work to take from the
/// main process, and its own memory (about 100 MB), which a small host cannot spare.
pub fn plan(workers: &Workers, cores: usize) -> Vec<WorkerKind> {
    use WorkerKind::*;
    match workers {
        Workers::Off => vec![],
        Workers::List(kinds) => kinds.clone(),
        // One core: a worker would only add replication overhead to the same core.
        Workers::Auto if cores < 2 => vec![],
        // Sync is the long-poll every client keeps open and the main process's heaviest load;
        // sending federation is cheap to split off and unblocks the main process.
        Workers::Auto if cores < 4 => vec![Sync, FederationSender],
        Workers::Auto if cores < 8 => vec![Sync, ClientReader, FederationInbound, FederationSender],
        Workers::Auto => WorkerKind::ALL.to_vec(),
    }
}

/// The workers this host runs for `config` (reads the core count for `auto`).
pub fn running(config: &Config) -> Vec<WorkerKind> {
    if config.external_upstream.is_some() {
        return vec![];
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    plan(&config.workers, cores)
}

/// Whether a worker of `kind` has an HTTP listener (its own socket): a federation sender has
/// nothing to answer.
pub fn listens(kind: WorkerKind) -> bool {
    kind != WorkerKind::FederationSender
}

/// The worker's socket in Synapse's socket directory (beside the main process's).
pub fn socket_name(kind: WorkerKind) -> String {
    format!("worker-{}.sock", kind.name())
}

/// The worker's container: `<instance>-synapse-<kind>`, e.g. `matrixbox-synapse-sync`.
pub fn container_name(instance: &str, kind: WorkerKind) -> String {
    format!("{instance}-synapse-{}", kind.name().replace('_', "-"))
}

/// The worker's own config file (beside homeserver.yaml in Synapse's config dir).
pub fn config_name(kind: WorkerKind) -> &'static str {
    match kind {
        WorkerKind::Sync => "worker-sync.yaml",
        WorkerKind::ClientReader => "worker-client_reader.yaml",
        WorkerKind::FederationInbound => "worker-federation_inbound.yaml",
        WorkerKind::FederationSender => "worker-federation_sender.yaml",
        WorkerKind::Media => "worker-media.yaml",
        WorkerKind::EventPersister => "worker-event_persister.yaml",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use WorkerKind::*;

    #[test]
    fn auto_grows_with_the_cores() {
        assert!(plan(&Workers::Off, 16).is_empty());
        assert!(plan(&Workers::Auto, 1).is_empty());
        assert_eq!(plan(&Workers::Auto, 2), [Sync, FederationSender]);
        assert_eq!(
            plan(&Workers::Auto, 4),
            [Sync, ClientReader, FederationInbound, FederationSender]
        );
        assert_eq!(plan(&Workers::Auto, 8), WorkerKind::ALL);
        assert_eq!(plan(&Workers::List(vec![Media]), 1), [Media]);
    }

    #[test]
    fn names() {
        assert_eq!(
            container_name("matrixbox", FederationInbound),
            "matrixbox-synapse-federation-inbound"
        );
        assert_eq!(socket_name(Sync), "worker-sync.sock");
        for kind in WorkerKind::ALL {
            assert_eq!(config_name(kind), format!("worker-{}.yaml", kind.name()));
        }
        assert!(!listens(FederationSender) && listens(EventPersister));
    }
}
