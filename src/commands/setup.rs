//! `matrixbox setup`: check the host, then write the configuration and generate secrets, idempotently.

use anyhow::Context;

use super::preflight::Show;
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
        super::preflight::gate(&target, Show::All).await?;
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
    println!(
        "next: start the homeserver with `matrixbox run` (or `systemctl enable --now matrixbox`),"
    );
    println!("      then create your first user: `matrixbox user add alice --admin`");
    Ok(())
}
