//! `matrixbox user add`: shared-secret registration over Synapse's socket, no `docker exec`.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;

use crate::paths::Paths;
use crate::report::Hinted;
use crate::secrets;
use crate::stack::Names;
use crate::synapse::{self, admin::Synapse};

pub async fn add(
    paths: &Paths,
    name: &str,
    admin: bool,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let config = super::load_config(paths)?;
    let secrets = secrets::load(&paths.secrets_dir())?;
    let password = read_password(password_stdin)?;
    let registered = Synapse::new(synapse::upstream(&config, paths))
        .register(&secrets.registration_shared_secret, name, &password, admin)
        .await
        .map_err(|e| -> anyhow::Error {
            if e.needs_logs() {
                let container = Names::of(&config.instance).synapse;
                Hinted::new(
                    e.to_string(),
                    format!("see `docker logs {container}` for details"),
                )
                .into()
            } else {
                e.into()
            }
        })?;
    println!(
        "created {}{}; sign in at https://{}/",
        registered.user_id,
        if admin { " (admin)" } else { "" },
        config.domain
    );
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let password = if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let first = rpassword::prompt_password("password: ").context("cannot read the password")?;
        let again = rpassword::prompt_password("again: ").context("cannot read the password")?;
        if first != again {
            return Err(Hinted::new(
                "the passwords differ; nothing was created",
                "type the same password twice",
            )
            .into());
        }
        first
    };
    if password.len() < 8 {
        return Err(Hinted::new(
            "the password is shorter than 8 characters; nothing was created",
            "choose a longer password (a passphrase of a few words is easy to type)",
        )
        .into());
    }
    Ok(password)
}
