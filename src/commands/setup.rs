//! `matrixbox setup`: write the configuration and generate secrets, idempotently.

use anyhow::Context;

use crate::cli::SetupArgs;
use crate::config;
use crate::fsio;
use crate::paths::Paths;
use crate::report::Hinted;
use crate::secrets;

pub fn setup(paths: &Paths, args: SetupArgs) -> anyhow::Result<()> {
    for (flag, name) in [
        ("--domain", Some(&args.domain)),
        ("--server-name", args.server_name.as_ref()),
    ] {
        if let Some(hint) = name.and_then(|n| config::domain_problem(n)) {
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
    let text = config::render_initial(
        &args.domain,
        args.server_name.as_deref(),
        args.email.as_deref(),
    );
    // Validate exactly what would be written, so a bad --domain writes nothing.
    let wanted =
        config::parse(&text, &paths.config).context("the values given to `setup` are not valid")?;

    match std::fs::read_to_string(&paths.config) {
        Ok(existing) if !args.force => match config::parse(&existing, &paths.config) {
            Ok(current)
                if current.domain == wanted.domain && current.server_name == wanted.server_name =>
            {
                println!(
                    "{} already configures {}; left as it is.",
                    paths.config.display(),
                    current.domain
                );
            }
            _ => {
                return Err(Hinted::new(
                    format!("{} already exists with other settings; not overwritten", paths.config.display()),
                    "edit it by hand, or run `matrixbox setup --force ...` to replace it (secrets are kept)",
                )
                .into());
            }
        },
        _ => {
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
