//! Commands in running containers: collected output for short ones, and streaming for large ones
//! (standard output into a writer, or a reader into standard input, never held in memory: a
//! database dump can be larger than the host's RAM).

use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::engine::{DockerError, Engine, api_error};

/// Standard error kept for the error message: the end of it says why a command failed.
const STDERR_LIMIT: usize = 16 * 1024;

impl Engine {
    /// Runs a command in a running container and returns its exit code and combined output.
    pub async fn exec(
        &self,
        name: &str,
        cmd: &[&str],
        env: Vec<String>,
    ) -> Result<(i64, String), DockerError> {
        let (id, mut output, _) = self.start_attached(name, cmd, env, false).await?;
        let mut text = Vec::new();
        while let Some(Ok(chunk)) = output.next().await {
            text.extend_from_slice(&chunk.into_bytes());
        }
        self.finish(name, &id, text).await
    }

    /// Runs `cmd` in the running container `name`, copies its standard output into `out` and
    /// returns its exit code and (the last part of) its standard error.
    pub async fn exec_to(
        &self,
        name: &str,
        cmd: &[&str],
        out: &mut (impl AsyncWrite + Unpin),
    ) -> Result<(i64, String), DockerError> {
        let (id, output, _) = self.start_attached(name, cmd, vec![], false).await?;
        let mut stderr = Vec::new();
        let mut output = output;
        while let Some(chunk) = output.next().await {
            match chunk.map_err(api_error("read the output of exec in", name))? {
                LogOutput::StdOut { message } => out
                    .write_all(&message)
                    .await
                    .map_err(|e| api_error("write the output of exec in", name)(e.into()))?,
                other => keep_tail(&mut stderr, &other.into_bytes()),
            }
        }
        out.flush()
            .await
            .map_err(|e| api_error("write the output of exec in", name)(e.into()))?;
        self.finish(name, &id, stderr).await
    }

    /// Runs `cmd` in the running container `name` with `input` as its standard input (closed at
    /// its end); returns its exit code and (the last part of) its combined output.
    pub async fn exec_from(
        &self,
        name: &str,
        cmd: &[&str],
        input: &mut (impl AsyncRead + Unpin),
    ) -> Result<(i64, String), DockerError> {
        let (id, mut output, mut stdin) = self.start_attached(name, cmd, vec![], true).await?;
        let feed = async {
            let copied = tokio::io::copy(input, &mut stdin).await;
            let closed = stdin.shutdown().await;
            copied.and(closed)
        };
        // Read while writing: a command that talks while it reads must not block the copy.
        let drain = async {
            let mut text = Vec::new();
            while let Some(chunk) = output.next().await {
                match chunk {
                    Ok(chunk) => keep_tail(&mut text, &chunk.into_bytes()),
                    Err(e) => return Err(e),
                }
            }
            Ok(text)
        };
        let (fed, drained) = tokio::join!(feed, drain);
        let text = drained.map_err(api_error("read the output of exec in", name))?;
        fed.map_err(|e| api_error("write to exec in", name)(e.into()))?;
        self.finish(name, &id, text).await
    }

    async fn start_attached(
        &self,
        name: &str,
        cmd: &[&str],
        env: Vec<String>,
        stdin: bool,
    ) -> Result<
        (
            String,
            std::pin::Pin<
                Box<
                    dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>>
                        + Send,
                >,
            >,
            std::pin::Pin<Box<dyn AsyncWrite + Send>>,
        ),
        DockerError,
    > {
        let config = ExecConfig {
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
            env: Some(env),
            attach_stdin: Some(stdin),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let created = self
            .docker
            .create_exec(name, config)
            .await
            .map_err(api_error("exec in", name))?;
        match self
            .docker
            .start_exec(&created.id, None::<StartExecOptions>)
            .await
            .map_err(api_error("exec in", name))?
        {
            StartExecResults::Attached { output, input } => Ok((created.id, output, input)),
            StartExecResults::Detached => Err(api_error("attach to exec in", name)(
                bollard::errors::Error::DockerStreamError {
                    error: "the engine started the command detached".into(),
                },
            )),
        }
    }

    async fn finish(
        &self,
        name: &str,
        id: &str,
        output: Vec<u8>,
    ) -> Result<(i64, String), DockerError> {
        let inspected = self
            .docker
            .inspect_exec(id)
            .await
            .map_err(api_error("inspect exec in", name))?;
        Ok((
            inspected.exit_code.unwrap_or(-1),
            String::from_utf8_lossy(&output).into_owned(),
        ))
    }
}

/// Appends `chunk`, keeping only the last `STDERR_LIMIT` bytes.
fn keep_tail(buf: &mut Vec<u8>, chunk: &[u8]) {
    buf.extend_from_slice(chunk);
    if buf.len() > STDERR_LIMIT {
        buf.drain(..buf.len() - STDERR_LIMIT);
    }
}
