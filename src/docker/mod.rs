//! Containers: the desired spec, what the engine reports, and reconciling one into the other.

pub mod archive;
pub mod compose;
pub mod digests;
pub mod engine;
mod exec;
mod files;
mod messages;
mod mirrors;
mod pull;

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use engine::{DockerError, Engine};

/// Label carrying the hash of the spec a container was created from.
pub const SPEC_HASH_LABEL: &str = "io.matrixbox.spec-hash";
pub const MANAGED_LABEL: &str = "io.matrixbox.managed";
/// Label naming the instance (config `instance:`) a container or network belongs to.
pub const INSTANCE_LABEL: &str = "io.matrixbox.instance";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bind {
    pub host: String,
    pub container: String,
    /// Skipped when false, so specs from before this field hash as they did.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Publish {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval_s: i64,
}

/// Everything that defines a container. Its hash decides whether a running container is current.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Vec<String>,
    pub user: Option<String>,
    pub binds: Vec<Bind>,
    pub network: String,
    /// DNS servers instead of the engine's default. Skipped when empty, like `cap_add`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    pub publish: Vec<Publish>,
    pub cap_drop_all: bool,
    /// Capabilities kept after dropping all. Skipped when empty, so older specs hash as they did.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    pub shm_size: Option<i64>,
    pub stop_signal: Option<String>,
    pub stop_timeout_s: i64,
    pub healthcheck: Option<Healthcheck>,
    /// Digest of mounted files whose change needs a restart (e.g. homeserver.yaml).
    pub files_digest: String,
    /// The instance, for its label. Not hashed: the name already carries it, and containers made
    /// before instances existed stay current.
    #[serde(skip)]
    pub instance: String,
}

impl ContainerSpec {
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("specs always serialise");
        hex::encode(&Sha256::digest(&json)[..16])
    }
}

/// A container as the engine reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observed {
    pub spec_hash: Option<String>,
    pub running: bool,
    /// Docker's health status when the container has a healthcheck.
    pub health: Option<String>,
    pub image: String,
    pub status: String,
    pub exit_code: Option<i64>,
    pub restart_count: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Recreate,
    Start,
    None,
}

/// Pure: what to do so that a container built from a spec hashing to `desired` is running.
pub fn plan(desired: &str, observed: Option<&Observed>) -> Action {
    match observed {
        None => Action::Create,
        Some(o) if o.spec_hash.as_deref() != Some(desired) => Action::Recreate,
        Some(o) if !o.running => Action::Start,
        Some(_) => Action::None,
    }
}

/// The side effects reconciling needs, owned here so the decision logic can be tested alone.
#[allow(async_fn_in_trait)]
pub trait Runtime {
    async fn inspect(&self, name: &str) -> Result<Option<Observed>, DockerError>;
    async fn create(&self, spec: &ContainerSpec) -> Result<(), DockerError>;
    async fn start(&self, name: &str) -> Result<(), DockerError>;
    async fn stop(&self, name: &str, timeout_s: i64) -> Result<(), DockerError>;
    async fn remove(&self, name: &str) -> Result<(), DockerError>;
}

/// Observes, diffs and acts for one container; running it again right after changes nothing.
pub async fn ensure(rt: &impl Runtime, spec: &ContainerSpec) -> Result<Action, DockerError> {
    let observed = rt.inspect(&spec.name).await?;
    let action = plan(&spec.hash(), observed.as_ref());
    match action {
        Action::None => {}
        Action::Start => rt.start(&spec.name).await?,
        Action::Create => {
            rt.create(spec).await?;
            rt.start(&spec.name).await?;
        }
        Action::Recreate => {
            if observed.is_some_and(|o| o.running) {
                rt.stop(&spec.name, spec.stop_timeout_s).await?;
            }
            rt.remove(&spec.name).await?;
            rt.create(spec).await?;
            rt.start(&spec.name).await?;
        }
    }
    if action != Action::None {
        tracing::info!(container = %spec.name, action = ?action, "reconciled");
    }
    Ok(action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn observed(hash: &str, running: bool) -> Observed {
        Observed {
            spec_hash: Some(hash.into()),
            running,
            health: None,
            image: "img:1".into(),
            status: if running { "running" } else { "exited" }.into(),
            exit_code: None,
            restart_count: 0,
        }
    }

    #[test]
    fn plan_covers_every_case() {
        assert_eq!(plan("h", None), Action::Create);
        assert_eq!(plan("h", Some(&observed("other", true))), Action::Recreate);
        assert_eq!(plan("h", Some(&observed("h", false))), Action::Start);
        assert_eq!(plan("h", Some(&observed("h", true))), Action::None);
        let mut foreign = observed("h", true);
        foreign.spec_hash = None;
        assert_eq!(
            plan("h", Some(&foreign)),
            Action::Recreate,
            "a container we did not make is replaced"
        );
    }

    fn spec() -> ContainerSpec {
        ContainerSpec {
            name: "c".into(),
            image: "img:1".into(),
            env: vec![],
            entrypoint: None,
            cmd: vec![],
            user: None,
            binds: vec![],
            network: "n".into(),
            dns: vec![],
            publish: vec![],
            cap_drop_all: true,
            cap_add: vec![],
            shm_size: None,
            stop_signal: None,
            stop_timeout_s: 10,
            healthcheck: None,
            files_digest: String::new(),
            instance: "i".into(),
        }
    }

    #[test]
    fn hash_follows_every_field() {
        let a = spec();
        let mut b = spec();
        b.files_digest = "changed".into();
        assert_ne!(a.hash(), b.hash());
        let mut c = spec();
        c.dns = vec!["10.0.0.53".into()];
        assert_ne!(a.hash(), c.hash());
        assert_eq!(a.hash(), spec().hash());
    }

    /// Records calls and keeps one container's state, like an engine would.
    #[derive(Default)]
    struct Recorder {
        state: RefCell<Option<Observed>>,
        calls: RefCell<Vec<String>>,
    }

    impl Runtime for Recorder {
        async fn inspect(&self, _: &str) -> Result<Option<Observed>, DockerError> {
            Ok(self.state.borrow().clone())
        }
        async fn create(&self, spec: &ContainerSpec) -> Result<(), DockerError> {
            self.calls.borrow_mut().push("create".into());
            *self.state.borrow_mut() = Some(observed(&spec.hash(), false));
            Ok(())
        }
        async fn start(&self, _: &str) -> Result<(), DockerError> {
            self.calls.borrow_mut().push("start".into());
            self.state.borrow_mut().as_mut().unwrap().running = true;
            Ok(())
        }
        async fn stop(&self, _: &str, _: i64) -> Result<(), DockerError> {
            self.calls.borrow_mut().push("stop".into());
            self.state.borrow_mut().as_mut().unwrap().running = false;
            Ok(())
        }
        async fn remove(&self, _: &str) -> Result<(), DockerError> {
            self.calls.borrow_mut().push("remove".into());
            *self.state.borrow_mut() = None;
            Ok(())
        }
    }

    #[tokio::test]
    async fn ensure_is_idempotent_and_recreates_on_change() {
        let rt = Recorder::default();
        assert_eq!(ensure(&rt, &spec()).await.unwrap(), Action::Create);
        assert_eq!(ensure(&rt, &spec()).await.unwrap(), Action::None);
        let mut changed = spec();
        changed.env.push("X=1".into());
        assert_eq!(ensure(&rt, &changed).await.unwrap(), Action::Recreate);
        assert_eq!(
            *rt.calls.borrow(),
            ["create", "start", "stop", "remove", "create", "start"]
        );
    }
}
