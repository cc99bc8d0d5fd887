//! Containers made by docker compose for a project directory, found by compose's own labels
//! (for `adopt`): which service each runs, whether it runs, and where its mounts come from.

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::models::{
    ContainerSummaryStateEnum, ContainerUpdateBody, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::ListContainersOptionsBuilder;

use super::DockerError;
use super::engine::{Engine, api_error};

/// Compose labels every container of a project carries.
pub const WORKING_DIR_LABEL: &str = "com.docker.compose.project.working_dir";
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
pub const PROJECT_LABEL: &str = "com.docker.compose.project";

/// One container of a compose project as the engine lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ComposeContainer {
    pub name: String,
    pub service: String,
    pub project: String,
    pub image: String,
    pub running: bool,
    /// The command line the engine reports (compose's `command:` or the image's).
    pub command: String,
    /// (host source, container destination) of each bind mount or volume.
    pub mounts: Vec<(PathBuf, PathBuf)>,
}

impl Engine {
    /// Every container (running or not) whose compose project directory is `working_dir`.
    pub async fn compose_containers(
        &self,
        working_dir: &str,
    ) -> Result<Vec<ComposeContainer>, DockerError> {
        let filter = format!("{WORKING_DIR_LABEL}={working_dir}");
        let filters = HashMap::from([("label", vec![filter.as_str()])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(api_error("list the compose containers of", working_dir))?;
        Ok(list
            .into_iter()
            .map(|c| {
                let label = |key: &str| {
                    c.labels
                        .as_ref()
                        .and_then(|l| l.get(key).cloned())
                        .unwrap_or_default()
                };
                ComposeContainer {
                    name: c
                        .names
                        .as_ref()
                        .and_then(|n| n.first())
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    service: label(SERVICE_LABEL),
                    project: label(PROJECT_LABEL),
                    image: c.image.clone().unwrap_or_default(),
                    running: c.state == Some(ContainerSummaryStateEnum::RUNNING),
                    command: c.command.clone().unwrap_or_default(),
                    mounts: c
                        .mounts
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|m| Some((m.source?.into(), m.destination?.into())))
                        .collect(),
                }
            })
            .collect())
    }
}

impl Engine {
    /// Sets a container's restart policy to `no`, so that a reboot or an engine restart does not
    /// start it again beside its successor; `docker compose up -d` still starts it by hand.
    pub async fn keep_stopped(&self, name: &str) -> Result<(), DockerError> {
        let body = ContainerUpdateBody {
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::NO),
                maximum_retry_count: None,
            }),
            ..Default::default()
        };
        self.docker
            .update_container(name, body)
            .await
            .map_err(api_error("change the restart policy of", name))
    }
}
