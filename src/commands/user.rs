//! `matrixbox user add | list | reset-password | deactivate | admin`: shared-secret registration
//! and the admin API as matrixbox's service account, over Synapse's socket, no `docker exec`.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;

use super::people::{self as out, M};
use crate::cli::OnOff;
use crate::config::Config;
use crate::i18n::Lang;
use crate::paths::Paths;
use crate::people::{self, NameError};
use crate::report::Hinted;
use crate::secrets;
use crate::stack::Names;
use crate::synapse::session::Admin;
use crate::synapse::{self, admin::Synapse};

/// An admin-API client acting as the service account.
pub(super) fn admin(paths: &Paths, config: &Config) -> anyhow::Result<Admin> {
    let secrets = secrets::load(&paths.secrets_dir())?;
    Ok(Admin::new(
        Synapse::new(synapse::upstream(config, paths)),
        paths.secrets_dir(),
        secrets.registration_shared_secret.clone(),
    ))
}

/// The configuration, `name` as a user ID of this server (the service account refused, before
/// anything else is read) and the admin-API client.
fn target(paths: &Paths, lang: Lang, name: &str) -> anyhow::Result<(String, Admin)> {
    let config = super::load_config(paths)?;
    let user_id = people::user_id(name, &config.server_name).map_err(|why| {
        let message = match why {
            NameError::OtherServer => lang.t(M::NameOtherServer, &[&name, &config.server_name]),
            NameError::Invalid => lang.t(M::NameInvalid, &[&name]),
        };
        Hinted::usage(message, lang.t(M::BadNameHint, &[&config.server_name]))
    })?;
    if people::is_service_account(&user_id) {
        return Err(Hinted::usage(
            lang.t(M::ServiceAccount, &[&user_id]),
            lang.t(M::ServiceAccountHint, &[]),
        )
        .into());
    }
    Ok((user_id, admin(paths, &config)?))
}

pub async fn list(paths: &Paths) -> anyhow::Result<()> {
    let config = super::load_config(paths)?;
    let admin = admin(paths, &config)?;
    print!(
        "{}",
        out::user_table(Lang::current(), &admin.users().await?)
    );
    Ok(())
}

pub async fn reset_password(paths: &Paths, name: &str, password_stdin: bool) -> anyhow::Result<()> {
    let lang = Lang::current();
    let (user_id, admin) = target(paths, lang, name)?;
    // Unknown users fail before anyone is asked for a password.
    admin.user(&user_id).await?;
    let password = read_password(password_stdin)?;
    admin.reset_password(&user_id, &password).await?;
    println!("{}", lang.t(M::PasswordReset, &[&user_id]));
    Ok(())
}

pub async fn deactivate(paths: &Paths, name: &str, erase: bool) -> anyhow::Result<()> {
    let lang = Lang::current();
    let (user_id, admin) = target(paths, lang, name)?;
    admin.deactivate(&user_id, erase).await?;
    let done = if erase {
        M::DeactivatedErased
    } else {
        M::DeactivatedUser
    };
    println!("{}", lang.t(done, &[&user_id]));
    Ok(())
}

pub async fn set_admin(paths: &Paths, name: &str, state: OnOff) -> anyhow::Result<()> {
    let lang = Lang::current();
    let (user_id, admin) = target(paths, lang, name)?;
    admin.set_admin(&user_id, state == OnOff::On).await?;
    let done = match state {
        OnOff::On => M::AdminOn,
        OnOff::Off => M::AdminOff,
    };
    println!("{}", lang.t(done, &[&user_id]));
    Ok(())
}

pub async fn add(
    paths: &Paths,
    name: &str,
    admin: bool,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let config = super::load_config(paths)?;
    let lang = Lang::current();
    if name == people::SERVICE_ACCOUNT {
        return Err(Hinted::usage(
            lang.t(M::ServiceAccount, &[&name]),
            lang.t(M::ServiceAccountHint, &[]),
        )
        .into());
    }
    let secrets = secrets::load(&paths.secrets_dir())?;
    let password = read_password(password_stdin)?;
    let registered = Synapse::new(synapse::upstream(&config, paths))
        .register(&secrets.registration_shared_secret, name, &password, admin)
        .await
        .map_err(|e| -> anyhow::Error {
            if e.needs_logs() {
                let container = Names::of(&config.instance).synapse;
                Hinted::new(e.to_string(), lang.t(M::LogsHint, &[&container])).into()
            } else {
                e.into()
            }
        })?;
    let created = if admin { M::CreatedAdmin } else { M::Created };
    println!(
        "{}",
        lang.t(created, &[&registered.user_id, &config.domain])
    );
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let password = if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .with_context(|| Lang::current().t(M::CannotReadStdin, &[]))?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let lang = Lang::current();
        let prompt = |m| {
            rpassword::prompt_password(lang.t(m, &[]))
                .with_context(|| lang.t(M::CannotReadPassword, &[]))
        };
        let first = prompt(M::PasswordPrompt)?;
        let again = prompt(M::AgainPrompt)?;
        if first != again {
            return Err(Hinted::new(
                lang.t(M::PasswordsDiffer, &[]),
                lang.t(M::PasswordsDifferHint, &[]),
            )
            .into());
        }
        first
    };
    if password.len() < 8 {
        let lang = Lang::current();
        return Err(Hinted::new(
            lang.t(M::PasswordShort, &[]),
            lang.t(M::PasswordShortHint, &[]),
        )
        .into());
    }
    Ok(password)
}
