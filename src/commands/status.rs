//! `matrixbox status`: containers, images, health and where data lives; `--json` for scripts.

use serde::Serialize;

use crate::acme;
use crate::diagnostic::ExitCode;
use crate::docker::engine::{self, EngineVersion};
use crate::docker::{Engine, Observed, Runtime};
use crate::paths::Paths;
use crate::report::Exit;
use crate::secrets;
use crate::stack::Stack;
use crate::synapse::admin::Synapse;
use crate::wellknown;

#[derive(Serialize)]
struct Status {
    domain: String,
    server_name: String,
    docker: DockerStatus,
    containers: Vec<ContainerStatus>,
    synapse_health: Option<bool>,
    certificates: Vec<acme::CertStatus>,
    /// When user IDs use another name than the server's: what that name must publish.
    delegation: Option<Delegation>,
    data: Data,
    healthy: bool,
}

#[derive(Serialize)]
struct Delegation {
    url: String,
    document: String,
}

#[derive(Serialize)]
struct DockerStatus {
    host: String,
    #[serde(flatten)]
    version: Option<EngineVersion>,
    error: Option<String>,
}

#[derive(Serialize)]
struct ContainerStatus {
    name: String,
    image: String,
    /// None when the container does not exist.
    observed: Option<Observed>,
    /// False when `run` would recreate it (config or image changed).
    up_to_date: bool,
}

#[derive(Serialize)]
struct Data {
    config: String,
    state_dir: String,
    postgres: String,
    synapse: String,
    secrets: String,
}

pub async fn status(paths: &Paths, json: bool) -> anyhow::Result<()> {
    let config = super::load_config(paths)?;
    let secrets = secrets::load(&paths.secrets_dir())?;
    let stack = Stack::new(config, paths.clone(), secrets);
    let show = |p: std::path::PathBuf| p.display().to_string();
    let data = Data {
        config: show(paths.config.clone()),
        state_dir: show(paths.state_dir.clone()),
        postgres: show(paths.postgres_dir()),
        synapse: show(paths.synapse_dir()),
        secrets: show(paths.secrets_dir()),
    };
    let mut status = Status {
        domain: stack.config.domain.clone(),
        server_name: stack.config.server_name.clone(),
        docker: DockerStatus {
            host: engine::docker_host(),
            version: None,
            error: None,
        },
        containers: vec![],
        synapse_health: None,
        certificates: acme::status(paths),
        delegation: (stack.config.server_name != stack.config.domain).then(|| Delegation {
            url: format!(
                "https://{}/.well-known/matrix/server",
                stack.config.server_name
            ),
            document: wellknown::server(&stack.config),
        }),
        data,
        healthy: false,
    };
    if let Some(upstream) = &stack.config.external_upstream {
        // An existing Synapse: no containers of ours to report.
        let base = upstream.to_string();
        status.synapse_health = Some(
            Synapse::at(base.trim_end_matches('/').to_string())
                .healthy()
                .await,
        );
    } else {
        match Engine::connect().await {
            Err(e) => status.docker.error = Some(e.to_string()),
            Ok(engine) => {
                match engine.version().await {
                    Ok(v) => status.docker.version = Some(v),
                    Err(e) => status.docker.error = Some(e.to_string()),
                }
                stack.resolve_images(&engine).await?;
                for spec in [stack.postgres_spec(), stack.desired_synapse_spec()?] {
                    let observed = engine.inspect(&spec.name).await?;
                    status.containers.push(ContainerStatus {
                        up_to_date: observed
                            .as_ref()
                            .is_some_and(|o| o.spec_hash.as_deref() == Some(&spec.hash())),
                        name: spec.name,
                        image: spec.image,
                        observed,
                    });
                }
                status.synapse_health = Some(
                    Synapse::on_loopback(stack.config.synapse_port)
                        .healthy()
                        .await,
                );
            }
        }
    }
    status.healthy = status.synapse_health == Some(true)
        && status.containers.iter().all(|c| {
            c.observed
                .as_ref()
                .is_some_and(|o| o.running && o.health.as_deref().is_none_or(|h| h == "healthy"))
        });

    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print_text(&status, stack.config.synapse_port);
    }
    if status.healthy {
        Ok(())
    } else {
        Err(Exit(ExitCode::Unhealthy).into())
    }
}

fn print_text(s: &Status, port: u16) {
    println!(
        "homeserver  https://{}/  (user IDs: @name:{})",
        s.domain, s.server_name
    );
    match (&s.docker.version, &s.docker.error) {
        (Some(v), _) => println!(
            "docker      {} (API {}) at {}",
            v.version, v.api, s.docker.host
        ),
        (None, e) => println!(
            "docker      unreachable at {}: {}",
            s.docker.host,
            e.as_deref().unwrap_or("")
        ),
    }
    for c in &s.containers {
        let state = match &c.observed {
            None => "not created (run `matrixbox run`)".to_string(),
            Some(o) => {
                let health = o
                    .health
                    .as_deref()
                    .map(|h| format!(", {h}"))
                    .unwrap_or_default();
                let stale = if c.up_to_date {
                    ""
                } else {
                    ", out of date: `matrixbox run` recreates it"
                };
                format!("{}{health}{stale}", o.status)
            }
        };
        println!("{:<20}  {:<40}  {state}", c.name, c.image);
    }
    match s.synapse_health {
        Some(true) => println!("synapse     healthy (http://127.0.0.1:{port}/health)"),
        Some(false) => println!("synapse     not answering on http://127.0.0.1:{port}/health"),
        None => {}
    }
    for cert in &s.certificates {
        let names = cert.names.join(", ");
        match (&cert.issuer, cert.not_after) {
            (Some(issuer), Some(not_after)) => {
                println!("certificate {names}: issued by {issuer}, valid until {not_after}");
                if let Some(next) = cert.next_renewal {
                    println!("            next renewal {next}");
                }
            }
            _ => println!("certificate {names}: none stored yet"),
        }
        if let Some(root) = &cert.trust_root {
            println!("            from the internal CA; clients must trust {root}");
        }
        if let Some(error) = &cert.last_error {
            println!(
                "            last renewal failed ({} in a row): {error}",
                cert.failures
            );
        }
    }
    if let Some(d) = &s.delegation {
        println!(
            "delegation  user IDs use another name: unless it points here, publish at {}\n            {}",
            d.url, d.document
        );
    }
    println!("config      {}", s.data.config);
    println!(
        "data        {} (postgres/, synapse/, secrets/)",
        s.data.state_dir
    );
}
