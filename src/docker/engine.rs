//! The Docker Engine API through bollard: connection and version check, containers, images, exec, logs.

use std::collections::HashMap;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, HostConfigLogConfig,
    NetworkCreateRequest, NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, EventsOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::{Stream, StreamExt};

use super::digests::ImageDigests;
use super::{ContainerSpec, INSTANCE_LABEL, MANAGED_LABEL, Observed, Runtime, SPEC_HASH_LABEL};
use crate::diagnostic::Diagnostic;
use crate::fsio::FsError;
use crate::i18n::{phrase, tr};

use super::messages::M;

/// Oldest engine API we support (Docker 20.10).
pub const MIN_API: (usize, usize) = (1, 41);

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("{}", tr(M::Unreachable, &[host]))]
    Unreachable {
        host: String,
        #[source]
        source: BollardError,
    },
    #[error("{}", tr(M::TooOld, &[host, api, &format_args!("{}.{}", MIN_API.0, MIN_API.1)]))]
    TooOld { host: String, api: String },
    #[error("{}", tr(M::Api, &[&phrase(action), object]))]
    Api {
        action: &'static str,
        object: String,
        #[source]
        source: BollardError,
    },
    #[error("{}", tr(M::PullFailed, &[image, message]))]
    PullFailed { image: String, message: String },
    #[error("{}", super::messages::no_mirror(image, attempts))]
    NoMirrorAnswered {
        image: String,
        /// (reference tried, why it failed), in the order tried.
        attempts: Vec<(String, String)>,
    },
    #[error("{}", tr(M::PortInUse, &[object, port]))]
    PortInUse { object: String, port: u16 },
    #[error("{}", tr(M::DigestMismatch, &[image, expected, found]))]
    DigestMismatch {
        image: String,
        expected: String,
        found: String,
    },
    #[error("{}", tr(M::DigestChanged, &[image, recorded, found]))]
    DigestChanged {
        image: String,
        recorded: String,
        found: String,
        record: String,
    },
    #[error(transparent)]
    DigestRecord(#[from] FsError),
}

impl Diagnostic for DockerError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            DockerError::Unreachable { .. } => tr(M::UnreachableHint, &[]),
            DockerError::TooOld { .. } => tr(M::TooOldHint, &[]),
            DockerError::PullFailed { .. } => tr(M::PullHint, &[]),
            DockerError::NoMirrorAnswered { .. } => super::messages::no_mirror_hint(),
            DockerError::PortInUse { port, .. } => tr(M::PortHint, &[port]),
            DockerError::Api { .. } => tr(M::ApiHint, &[]),
            DockerError::DigestMismatch { found, .. } => tr(M::MismatchHint, &[found]),
            DockerError::DigestChanged { found, record, .. } => {
                tr(M::ChangedHint, &[found, record])
            }
            DockerError::DigestRecord(e) => return e.hint(),
        })
    }
}

impl DockerError {
    /// The engine refused because of the object's state (409), e.g. an exec into a container
    /// that is restarting: worth another look, not a failure.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            DockerError::Api {
                source: BollardError::DockerResponseServerError {
                    status_code: 409,
                    ..
                },
                ..
            }
        )
    }
}

/// A watched container stopped running (`die`: exited, killed or stopped) or was removed
/// (`destroy`).
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerEvent {
    pub container: String,
    pub action: String,
    /// `die` carries the exit code.
    pub exit_code: Option<String>,
}

/// Cheap to clone: the connection pool is shared.
#[derive(Clone)]
pub struct Engine {
    pub(super) docker: Docker,
    host: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EngineVersion {
    pub version: String,
    pub api: String,
}

/// The parts of `docker info` that preflight judges.
#[derive(Debug, Clone)]
pub struct EngineInfo {
    pub storage_driver: Option<String>,
    pub data_root: Option<String>,
    /// The engine's clock, RFC 3339 with nanoseconds.
    pub system_time: Option<String>,
}

pub(super) fn api_error(
    action: &'static str,
    object: &str,
) -> impl FnOnce(BollardError) -> DockerError {
    let object = object.to_string();
    move |source| DockerError::Api {
        action,
        object,
        source,
    }
}

fn is_not_found(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

pub fn parse_api(api: &str) -> Option<(usize, usize)> {
    let (major, minor) = api.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The engine address in use: DOCKER_HOST, or Docker's default socket.
pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

impl Engine {
    /// Connects through DOCKER_HOST (or the default socket), negotiates the API version and
    /// refuses engines older than 20.10.
    pub async fn connect() -> Result<Engine, DockerError> {
        let engine = Engine::connect_any().await?;
        let version = engine.version().await?;
        match parse_api(&version.api) {
            Some(api) if api >= MIN_API => Ok(engine),
            _ => Err(DockerError::TooOld {
                host: engine.host,
                api: version.api,
            }),
        }
    }

    /// Connects and negotiates without judging the engine's version: preflight reports on old
    /// engines instead of refusing them.
    pub async fn connect_any() -> Result<Engine, DockerError> {
        let host = docker_host();
        let unreachable = |source| DockerError::Unreachable {
            host: host.clone(),
            source,
        };
        let docker = Docker::connect_with_defaults().map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        Ok(Engine { docker, host })
    }

    /// Answers when the engine does (after a restart of the engine, before subscribing again).
    pub async fn ping(&self) -> Result<(), DockerError> {
        self.docker
            .ping()
            .await
            .map(drop)
            .map_err(|source| DockerError::Unreachable {
                host: self.host.clone(),
                source,
            })
    }

    /// The `die` and `destroy` events of the containers named `names`, as they happen. The
    /// stream errs or ends when the engine goes away (a restart of Docker): subscribe again.
    pub fn container_events(
        &self,
        names: &[String],
    ) -> impl Stream<Item = Result<ContainerEvent, DockerError>> + Send + 'static {
        let filters = HashMap::from([
            ("type", vec!["container".to_string()]),
            ("event", vec!["die".into(), "destroy".into()]),
            ("container", names.to_vec()),
        ]);
        let options = EventsOptionsBuilder::new().filters(&filters).build();
        let names = names.to_vec();
        let host = self.host.clone();
        self.docker.events(Some(options)).filter_map(move |event| {
            let event = match event {
                Ok(message) => container_event(message, &names).map(Ok),
                Err(source) => Some(Err(DockerError::Api {
                    action: "follow the events of",
                    object: host.clone(),
                    source,
                })),
            };
            std::future::ready(event)
        })
    }

    /// What `docker info` says about storage and time.
    pub async fn info(&self) -> Result<EngineInfo, DockerError> {
        let info = self
            .docker
            .info()
            .await
            .map_err(api_error("read the system info of", &self.host))?;
        Ok(EngineInfo {
            storage_driver: info.driver,
            data_root: info.docker_root_dir,
            system_time: info.system_time,
        })
    }

    pub async fn version(&self) -> Result<EngineVersion, DockerError> {
        let v = self
            .docker
            .version()
            .await
            .map_err(|source| DockerError::Unreachable {
                host: self.host.clone(),
                source,
            })?;
        Ok(EngineVersion {
            version: v.version.unwrap_or_default(),
            api: v.api_version.unwrap_or_default(),
        })
    }

    /// Creates the bridge network `name`, labelled with `instance`, unless it exists.
    pub async fn ensure_network(&self, name: &str, instance: &str) -> Result<(), DockerError> {
        match self.docker.inspect_network(name, None).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => {
                let request = NetworkCreateRequest {
                    name: name.to_string(),
                    driver: Some("bridge".into()),
                    labels: Some(HashMap::from([
                        (MANAGED_LABEL.to_string(), "true".to_string()),
                        (INSTANCE_LABEL.to_string(), instance.to_string()),
                    ])),
                    ..Default::default()
                };
                self.docker
                    .create_network(request)
                    .await
                    .map(|_| ())
                    .map_err(api_error("create network", name))
            }
            Err(e) => Err(api_error("inspect network", name)(e)),
        }
    }

    pub async fn remove_network(&self, name: &str) -> Result<(), DockerError> {
        match self.docker.remove_network(name).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(api_error("remove network", name)(e)),
        }
    }

    pub async fn image_present(&self, image: &str) -> Result<bool, DockerError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(api_error("inspect image", image)(e)),
        }
    }

    /// The digests the engine reports for a local image; `None` when it has no such image.
    pub async fn image_digests(&self, image: &str) -> Result<Option<ImageDigests>, DockerError> {
        match self.docker.inspect_image(image).await {
            Ok(inspect) => Ok(Some(ImageDigests {
                repo_digests: inspect.repo_digests.unwrap_or_default(),
                id: inspect.id.unwrap_or_default(),
            })),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(api_error("inspect image", image)(e)),
        }
    }

    /// The last `lines` lines of a container's output, for error messages.
    pub async fn logs_tail(&self, name: &str, lines: usize) -> String {
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let mut stream = self.docker.logs(name, Some(options));
        let mut out = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        out
    }
}

fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let seconds = 1_000_000_000i64;
    let ports: HashMap<String, Option<Vec<PortBinding>>> = spec
        .publish
        .iter()
        .map(|p| {
            (
                format!("{}/tcp", p.container_port),
                Some(vec![PortBinding {
                    host_ip: Some(p.host_ip.clone()),
                    host_port: Some(p.host_port.to_string()),
                }]),
            )
        })
        .collect();
    let host_config = HostConfig {
        binds: Some(
            spec.binds
                .iter()
                .map(|b| {
                    let mode = if b.read_only { ":ro" } else { "" };
                    format!("{}:{}{mode}", b.host, b.container)
                })
                .collect(),
        ),
        network_mode: Some(spec.network.clone()),
        dns: (!spec.dns.is_empty()).then(|| spec.dns.clone()),
        port_bindings: Some(ports),
        cap_drop: spec.cap_drop_all.then(|| vec!["ALL".to_string()]),
        cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
        security_opt: Some(vec!["no-new-privileges".into()]),
        shm_size: spec.shm_size,
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
            maximum_retry_count: None,
        }),
        // A small VPS must not fill its disk with container logs.
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([
                ("max-size".to_string(), "20m".to_string()),
                ("max-file".to_string(), "3".to_string()),
            ])),
        }),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        env: Some(spec.env.clone()),
        entrypoint: spec.entrypoint.clone(),
        cmd: Some(spec.cmd.clone()),
        user: spec.user.clone(),
        labels: Some(HashMap::from([
            (SPEC_HASH_LABEL.to_string(), spec.hash()),
            (MANAGED_LABEL.to_string(), "true".to_string()),
            (INSTANCE_LABEL.to_string(), spec.instance.clone()),
        ])),
        exposed_ports: Some(
            spec.publish
                .iter()
                .map(|p| format!("{}/tcp", p.container_port))
                .collect(),
        ),
        stop_signal: spec.stop_signal.clone(),
        stop_timeout: Some(spec.stop_timeout_s),
        healthcheck: spec.healthcheck.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: Some(h.interval_s * seconds),
            timeout: Some(5 * seconds),
            retries: Some(3),
            start_period: Some(0),
            start_interval: None,
        }),
        // The host's network has no aliases (the engine refuses them there).
        networking_config: (spec.network != "host").then(|| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                spec.network.clone(),
                EndpointSettings {
                    aliases: Some(vec![spec.name.clone()]),
                    ..Default::default()
                },
            )])),
        }),
        host_config: Some(host_config),
        ..Default::default()
    }
}

impl Runtime for Engine {
    async fn inspect(&self, name: &str) -> Result<Option<Observed>, DockerError> {
        let c = match self.docker.inspect_container(name, None).await {
            Ok(c) => c,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(api_error("inspect container", name)(e)),
        };
        let state = c.state.unwrap_or_default();
        let config = c.config.unwrap_or_default();
        Ok(Some(Observed {
            spec_hash: config.labels.unwrap_or_default().remove(SPEC_HASH_LABEL),
            running: state.running.unwrap_or(false),
            health: state.health.and_then(|h| h.status).map(|s| s.to_string()),
            image: config.image.unwrap_or_default(),
            status: state.status.map(|s| s.to_string()).unwrap_or_default(),
            exit_code: state.exit_code,
            restart_count: c.restart_count.unwrap_or(0),
        }))
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<(), DockerError> {
        let options = CreateContainerOptionsBuilder::new()
            .name(&spec.name)
            .build();
        self.docker
            .create_container(Some(options), create_body(spec))
            .await
            .map(|_| ())
            .map_err(api_error("create container", &spec.name))
    }

    async fn start(&self, name: &str) -> Result<(), DockerError> {
        self.docker
            .start_container(name, None)
            .await
            .map_err(|source| {
                let text = source.to_string();
                match port_of_conflict(&text) {
                    Some(port) => DockerError::PortInUse {
                        object: name.to_string(),
                        port,
                    },
                    None => api_error("start container", name)(source),
                }
            })
    }

    async fn stop(&self, name: &str, timeout_s: i64) -> Result<(), DockerError> {
        let options = StopContainerOptionsBuilder::new()
            .t(timeout_s as i32)
            .build();
        match self.docker.stop_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            // 304: already stopped.
            Err(BollardError::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(api_error("stop container", name)(e)),
        }
    }

    async fn remove(&self, name: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        match self.docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(api_error("remove container", name)(e)),
        }
    }
}

/// Pure: the event, when it concerns one of `names` exactly (the engine's `container` filter
/// also matches names that merely start with one of them).
fn container_event(
    message: bollard::models::EventMessage,
    names: &[String],
) -> Option<ContainerEvent> {
    let mut attributes = message.actor?.attributes.unwrap_or_default();
    let container = attributes.remove("name")?;
    names.contains(&container).then(|| ContainerEvent {
        container,
        action: message.action.unwrap_or_default(),
        exit_code: attributes.remove("exitCode"),
    })
}

/// Recognises the engine's "port is already allocated" / "address already in use" errors.
fn port_of_conflict(message: &str) -> Option<u16> {
    if !(message.contains("address already in use")
        || message.contains("port is already allocated"))
    {
        return None;
    }
    // Both messages name the host address as ...127.0.0.1:PORT...
    let after = message.split("127.0.0.1:").nth(1)?;
    after
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_compare_numerically() {
        assert!(parse_api("1.41").unwrap() >= MIN_API);
        assert!(parse_api("1.9").unwrap() < MIN_API);
        assert!(parse_api("1.100").unwrap() >= MIN_API);
        assert_eq!(parse_api("garbage"), None);
    }

    #[test]
    fn port_conflicts_are_recognised() {
        let m = "Docker responded with status code 500: driver failed programming external connectivity on endpoint matrixbox-synapse: Error starting userland proxy: listen tcp4 127.0.0.1:8008: bind: address already in use";
        assert_eq!(port_of_conflict(m), Some(8008));
        assert_eq!(
            port_of_conflict("Bind for 127.0.0.1:18008 failed: port is already allocated"),
            Some(18008)
        );
        assert_eq!(port_of_conflict("no such image"), None);
    }

    #[test]
    fn events_of_other_containers_are_ignored() {
        let message = |name: &str| bollard::models::EventMessage {
            action: Some("die".into()),
            actor: Some(bollard::models::EventActor {
                id: Some("abc".into()),
                attributes: Some(HashMap::from([
                    ("name".to_string(), name.to_string()),
                    ("exitCode".to_string(), "137".to_string()),
                ])),
            }),
            ..Default::default()
        };
        let names = ["i-synapse".to_string(), "i-postgres".to_string()];
        assert_eq!(
            container_event(message("i-synapse"), &names),
            Some(ContainerEvent {
                container: "i-synapse".into(),
                action: "die".into(),
                exit_code: Some("137".into()),
            })
        );
        assert_eq!(container_event(message("i-synapse-old"), &names), None);
    }
}
