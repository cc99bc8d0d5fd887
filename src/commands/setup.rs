//! `matrixbox setup`: check the host, then write the configuration and generate secrets, idempotently.

use anyhow::Context;

use super::gate::{self, Show};
use crate::cli::SetupArgs;
use crate::config::{self, Config};
use crate::fsio;
use crate::paths::Paths;
use crate::preflight::{Mode, Target};
use crate::report::Hinted;
use crate::secrets;

/// The configuration `setup` would write for these arguments: its text and what it means.
pub(super) fn config_from_args(
    paths: &Paths,
    domain: &str,
    server_name: Option<&str>,
    email: Option<&str>,
) -> anyhow::Result<(String, Config)> {
    for (flag, name) in [("--domain", Some(domain)), ("--server-name", server_name)] {
        if let Some(hint) = name.and_then(config::domain_problem) {
            return Err(Hinted::usage(
                format!(
                    "{flag} `{}` is not a valid domain name; nothing was written",
                    name.unwrap()
                ),
                hint,
            )
            .into());
        }
    }
    let text = config::render_initial(domain, server_name, email);
    // Validate exactly what would be written, so a bad --domain writes nothing.
    let config =
        config::parse(&text, &paths.config).context("the values given to `setup` are not valid")?;
    Ok((text, config))
}

pub async fn setup(paths: &Paths, args: SetupArgs) -> anyhow::Result<()> {
    let (text, wanted) = config_from_args(
        paths,
        &args.domain,
        args.server_name.as_deref(),
        args.email.as_deref(),
    )?;

    // Decide about an existing file first: refusing to overwrite it needs no host checks.
    let kept = match std::fs::read_to_string(&paths.config) {
        Ok(existing) if !args.force => match config::parse(&existing, &paths.config) {
            Ok(current)
                if current.domain == wanted.domain && current.server_name == wanted.server_name =>
            {
                Some(current)
            }
            _ => {
                return Err(Hinted::new(
                    format!("{} already exists with other settings; not overwritten", paths.config.display()),
                    "edit it by hand, or run `matrixbox setup --force ...` to replace it (secrets are kept)",
                )
                .into());
            }
        },
        _ => None,
    };

    // Before anything is written: the config it would keep or write, on this host.
    if !args.skip_preflight {
        let target = Target::from_config(Mode::Setup, paths, kept.as_ref().unwrap_or(&wanted));
        gate::pass(&target, Show::All).await?;
        println!();
    }

    match kept {
        Some(current) => println!(
            "{} already configures {}; left as it is.",
            paths.config.display(),
            current.domain
        ),
        None => {
            if let Some(dir) = paths.config.parent() {
                fsio::ensure_dir(dir, 0o755)?;
            }
            fsio::write_atomic(&paths.config, text.as_bytes(), 0o640)?;
            println!("wrote {}", paths.config.display());
        }
    }

    fsio::ensure_dir(paths.state(), 0o700)?;
    secrets::load_or_create(&paths.secrets_dir())?;
    println!(
        "secrets are in {} (generated once, never rotated)",
        paths.secrets_dir().display()
    );
    println!();
    if !args.no_start && service_installed(paths) {
        start_service()?;
        println!(
            "matrixbox.service is running: `systemctl status matrixbox` shows how it is doing"
        );
    } else {
        println!(
            "next: start the homeserver with `matrixbox run` (or `systemctl enable --now matrixbox`),"
        );
    }
    println!("      then create your first user: `matrixbox user add alice --admin`");
    Ok(())
}

/// Whether systemd runs this host and knows matrixbox.service, which reads the default config.
fn service_installed(paths: &Paths) -> bool {
    paths.config == std::path::Path::new(crate::paths::DEFAULT_CONFIG)
        && sd_notify::booted().unwrap_or(false)
        && systemctl(&["cat", "matrixbox.service"]).is_ok_and(|out| out.status.success())
}

fn systemctl(args: &[&str]) -> std::io::Result<std::process::Output> {
    std::process::Command::new("systemctl")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
}

/// Starts the service (a running one reloads the config instead); returns once systemd reports
/// it ready, which is when Synapse answers behind the edge.
fn start_service() -> anyhow::Result<()> {
    let running = systemctl(&["is-active", "--quiet", "matrixbox.service"])
        .is_ok_and(|out| out.status.success());
    let args: &[&str] = if running {
        println!("reloading matrixbox.service with this configuration");
        &["reload", "matrixbox.service"]
    } else {
        println!(
            "starting matrixbox.service (a first start pulls images and prepares the database; `journalctl -fu matrixbox` follows it)"
        );
        &["enable", "--now", "matrixbox.service"]
    };
    let out = systemctl(args).context("cannot run systemctl")?;
    if !out.status.success() {
        return Err(Hinted::new(
            format!(
                "`systemctl {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "`systemctl status matrixbox` and `journalctl -u matrixbox` say why; fix it and run `systemctl start matrixbox`",
        )
        .into());
    }
    Ok(())
}
