//! Files out of an image without running it: a container created (never started) from the
//! image, one directory of it read as a tar stream through the engine's archive API.

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::engine::api_error;
use super::{DockerError, Engine, INSTANCE_LABEL, MANAGED_LABEL};

impl Engine {
    /// Writes `dir` of `image` as a tar archive to `out` (whose entries start with the
    /// directory's last component). The container `name` is made for this and removed after,
    /// whatever happened; one left by an interrupted copy is replaced.
    pub async fn copy_out(
        &self,
        image: &str,
        dir: &str,
        name: &str,
        instance: &str,
        out: &mut tokio::fs::File,
    ) -> Result<u64, DockerError> {
        self.remove_helper(name).await?;
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            // Never started; the engine wants a command for images (like a bare bundle) without one.
            cmd: Some(vec!["/matrixbox-never-runs".into()]),
            network_disabled: Some(true),
            labels: Some(
                [
                    (MANAGED_LABEL.to_string(), "true".to_string()),
                    (INSTANCE_LABEL.to_string(), instance.to_string()),
                ]
                .into(),
            ),
            host_config: Some(HostConfig {
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.docker
            .create_container(
                Some(CreateContainerOptionsBuilder::new().name(name).build()),
                body,
            )
            .await
            .map_err(api_error("create container", name))?;
        let copied = self.read_archive(name, dir, out).await;
        let removed = self.remove_helper(name).await;
        let copied = copied?;
        removed?;
        Ok(copied)
    }

    async fn read_archive(
        &self,
        name: &str,
        dir: &str,
        out: &mut tokio::fs::File,
    ) -> Result<u64, DockerError> {
        let object = format!("{dir} in {name}");
        let options = DownloadFromContainerOptionsBuilder::new().path(dir).build();
        let mut stream = self.docker.download_from_container(name, Some(options));
        let mut copied = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(api_error("copy", &object))?;
            out.write_all(&chunk).await.map_err(|e| {
                api_error("copy", &object)(bollard::errors::Error::IOError { err: e })
            })?;
            copied += chunk.len() as u64;
        }
        out.flush()
            .await
            .map_err(|e| api_error("copy", &object)(bollard::errors::Error::IOError { err: e }))?;
        Ok(copied)
    }

    async fn remove_helper(&self, name: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        match self.docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(api_error("remove container", name)(e)),
        }
    }
}
