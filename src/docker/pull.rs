//! Pulling an image with progress: a bar on a terminal, periodic log lines otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

use super::DockerError;

const LOG_EVERY: Duration = Duration::from_secs(5);

pub async fn pull(docker: &Docker, image: &str) -> Result<(), DockerError> {
    let options = CreateImageOptionsBuilder::new().from_image(image).build();
    let mut stream = docker.create_image(Some(options), None, None);
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "pulling {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_message(image.to_string());
        bar
    });
    tracing::info!(image, "pulling image");
    // Per-layer (downloaded, size): the engine reports layers separately.
    let mut layers: HashMap<String, (u64, u64)> = HashMap::new();
    let mut last_log = Instant::now();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| DockerError::PullFailed {
            image: image.to_string(),
            message: e.to_string(),
        })?;
        if let (Some(id), Some(detail)) = (info.id, info.progress_detail)
            && info.status.as_deref() == Some("Downloading")
        {
            let entry = layers.entry(id).or_default();
            entry.0 = detail.current.unwrap_or(0).max(0) as u64;
            entry.1 = detail.total.unwrap_or(0).max(0) as u64;
        }
        let (done, total) = layers
            .values()
            .fold((0, 0), |acc, (d, t)| (acc.0 + d, acc.1 + t));
        match &bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_position(done);
            }
            None if last_log.elapsed() >= LOG_EVERY && total > 0 => {
                tracing::info!(image, "pulled {} of {} MB", done >> 20, total >> 20);
                last_log = Instant::now();
            }
            None => {}
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    tracing::info!(image, "image pulled");
    Ok(())
}
