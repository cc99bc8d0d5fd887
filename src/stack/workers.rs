//! Synapse's workers and the Redis they talk through, as managed containers: specs derived from
//! the main Synapse's, reconciled after it, waited for until healthy, removed when `workers:`
//! no longer names them.

use super::files::blocking;
use super::*;
use crate::config::WorkerKind;
use crate::synapse::workers::{REDIS_MOUNT, REDIS_SOCKET, REPLICATION_SOCKET};
use crate::workers;

/// Redis runs as its own user, in Synapse's group: its socket (0660) is then Synapse's to use
/// and nobody else's. No passwd entry is needed in either image.
pub(crate) const REDIS_UID: u32 = 6379;

impl Stack {
    /// The workers this stack runs (from `workers:` and the host's cores).
    pub fn workers(&self) -> Vec<WorkerKind> {
        workers::running(&self.config)
    }

    /// The main process's spec with what workers need: Redis's socket, and its replication
    /// socket cleared at start like its other one. Unchanged without workers.
    pub(super) fn with_worker_mounts(&self, mut spec: ContainerSpec) -> ContainerSpec {
        if self.workers().is_empty() {
            return spec;
        }
        spec.binds.push(self.redis_socket_bind());
        if let Some(script) = spec.entrypoint.as_mut().and_then(|e| e.get_mut(2)) {
            let stale = format!(
                "{0}/{REPLICATION_SOCKET} {0}/{REPLICATION_SOCKET}.lock",
                synapse::SOCKET_MOUNT
            );
            *script = script.replacen("rm -f ", &format!("rm -f {stale} "), 1);
        }
        spec
    }

    fn redis_socket_bind(&self) -> Bind {
        Bind {
            host: self.paths.redis_socket_dir().display().to_string(),
            container: REDIS_MOUNT.into(),
            read_only: true,
        }
    }

    /// A worker: the main Synapse's image, user, mounts and files, another process and socket.
    pub fn worker_spec(&self, kind: WorkerKind, files_digest: String) -> ContainerSpec {
        let mut spec = self.synapse_spec(files_digest);
        spec.name = workers::container_name(&self.names.instance, kind);
        let socket = format!("{}/{}", synapse::SOCKET_MOUNT, workers::socket_name(kind));
        let config = synapse::CONFIG_MOUNT;
        // As for the main process: a stale socket and lock of a killed worker go at every start.
        spec.entrypoint = Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            format!(
                "rm -f {socket} {socket}.lock && exec /usr/local/bin/python -m synapse.app.generic_worker --config-path {config}/homeserver.yaml --config-path {config}/{}",
                workers::config_name(kind)
            ),
        ]);
        spec.stop_timeout_s = 30;
        spec
    }

    /// Redis for replication between the processes: a UNIX socket only (no TCP port), nothing
    /// persisted, no capabilities.
    pub fn redis_spec(&self, image: String) -> ContainerSpec {
        let socket = format!("{REDIS_MOUNT}/{REDIS_SOCKET}");
        ContainerSpec {
            name: self.names.redis.clone(),
            image,
            env: vec![],
            entrypoint: Some(
                [
                    "redis-server",
                    "--port",
                    "0",
                    "--unixsocket",
                    socket.as_str(),
                    "--unixsocketperm",
                    "660",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ]
                .map(String::from)
                .to_vec(),
            ),
            cmd: vec![],
            user: Some(format!("{REDIS_UID}:{}", synapse::UID)),
            binds: vec![Bind {
                host: self.paths.redis_socket_dir().display().to_string(),
                container: REDIS_MOUNT.into(),
                read_only: false,
            }],
            network: self.names.network.clone(),
            dns: vec![],
            publish: vec![],
            cap_drop_all: true,
            cap_add: vec![],
            shm_size: None,
            stop_signal: Some("SIGTERM".into()),
            stop_timeout_s: 10,
            healthcheck: None,
            files_digest: String::new(),
            instance: self.names.instance.clone(),
        }
    }

    /// Redis, before Synapse (every process connects to it at start), when workers run; gone
    /// when they do not. `None` when they do not.
    pub(super) async fn reconcile_redis(
        &self,
        engine: &Engine,
    ) -> Result<Option<Action>, StackError> {
        if self.workers().is_empty() {
            engine.remove(&self.names.redis).await?;
            return Ok(None);
        }
        let image = engine
            .ensure_image(&self.config.redis_candidates, &self.paths.image_digests())
            .await?;
        let paths = self.paths.clone();
        blocking(move || {
            let state = Dir::open_trusted(paths.state())?;
            state.ensure_dir(paths::REDIS_SOCKET, 0o750, REDIS_UID, synapse::UID)?;
            Ok(())
        })
        .await?;
        Ok(Some(docker::ensure(engine, &self.redis_spec(image)).await?))
    }

    /// The configured workers, after the main process is healthy, each waited for until it
    /// answers /health on its socket; the others removed.
    pub(super) async fn reconcile_workers(
        &self,
        engine: &Engine,
        files_digest: &str,
    ) -> Result<Vec<Action>, StackError> {
        let running = self.workers();
        for kind in WorkerKind::ALL.into_iter().filter(|k| !running.contains(k)) {
            engine
                .remove(&workers::container_name(&self.names.instance, kind))
                .await?;
        }
        let mut actions = Vec::new();
        for kind in &running {
            let spec = self.worker_spec(*kind, files_digest.into());
            actions.push(docker::ensure(engine, &spec).await?);
        }
        for (kind, address) in synapse::workers::upstreams(&self.config, &self.paths) {
            let name = workers::container_name(&self.names.instance, kind);
            self.wait_healthy(engine, &name, Synapse::new(address))
                .await?;
        }
        Ok(actions)
    }

    /// The workers' and Redis's containers for this instance, whether configured or not (what
    /// `down` stops, `remove` removes and the event watcher follows).
    pub fn worker_containers(&self) -> Vec<String> {
        WorkerKind::ALL
            .into_iter()
            .map(|kind| workers::container_name(&self.names.instance, kind))
            .chain([self.names.redis.clone()])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_share_the_main_process_but_for_their_process_and_socket() {
        let dir = tempfile::tempdir().unwrap();
        let off = super::super::test_stack("domain: a.test\n", dir.path());
        assert!(off.workers().is_empty());
        let main_off = off.synapse_spec("d".into());
        assert!(!main_off.binds.iter().any(|b| b.container == REDIS_MOUNT));
        assert!(!main_off.entrypoint.as_ref().unwrap()[2].contains("replication"));

        let on = super::super::test_stack(
            "domain: a.test\nworkers: [sync, federation_sender]\n",
            dir.path(),
        );
        assert_eq!(
            on.workers(),
            [WorkerKind::Sync, WorkerKind::FederationSender]
        );
        let main = on.synapse_spec("d".into());
        assert!(
            main.binds
                .iter()
                .any(|b| b.container == REDIS_MOUNT && b.read_only)
        );
        assert!(main.entrypoint.as_ref().unwrap()[2].contains("replication.sock.lock"));
        let sync = on.worker_spec(WorkerKind::Sync, "d".into());
        assert_eq!(sync.name, "matrixbox-synapse-sync");
        let script = &sync.entrypoint.as_ref().unwrap()[2];
        assert!(
            script.starts_with(
                "rm -f /run/matrixbox/worker-sync.sock /run/matrixbox/worker-sync.sock.lock && exec"
            ),
            "{script}"
        );
        assert!(script.contains("synapse.app.generic_worker --config-path /config/homeserver.yaml --config-path /config/worker-sync.yaml"));
        assert_eq!(
            (sync.user.as_deref(), &sync.image, &sync.binds),
            (main.user.as_deref(), &main.image, &main.binds)
        );
        assert_ne!(sync.hash(), main.hash());

        let redis = on.redis_spec("redis:x".into());
        assert_eq!(redis.name, "matrixbox-redis");
        let args = redis.entrypoint.unwrap();
        assert!(
            args.windows(2).any(|w| w == ["--port", "0"]),
            "no TCP: {args:?}"
        );
        assert!(
            args.windows(2).any(|w| w == ["--save", ""]),
            "nothing persisted"
        );
        assert_eq!(redis.user.as_deref(), Some("6379:991"));
        assert!(redis.cap_drop_all && redis.cap_add.is_empty() && redis.publish.is_empty());
    }
}
