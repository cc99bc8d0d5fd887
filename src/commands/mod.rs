//! One file per subcommand; this module dispatches and holds what they share.

mod adopt;
mod backup;
mod doctor;
mod down;
mod export;
mod gate;
mod generate;
mod images;
mod invite;
mod people;
mod preflight;
mod run;
mod setup;
mod status;
mod upgrade;
mod user;

use anyhow::Context;

use crate::cli::{
    BackupCommand, Cli, Command, ExportCommand, ImagesCommand, InviteCommand, UserCommand,
};
use crate::config::{self, Config};
use crate::i18n::{Lang, messages};
use crate::paths::Paths;

messages! {
    CannotLoad => "cannot load the configuration", "无法加载配置";
}

pub async fn execute(cli: Cli) -> anyhow::Result<()> {
    let paths = Paths::new(cli.config, cli.state_dir);
    match cli.command {
        Command::Preflight(args) => preflight::preflight(&paths, args).await,
        Command::Setup(args) => setup::setup(&paths, args).await,
        Command::Run(args) => run::run(&paths, args.skip_preflight).await,
        Command::Status { json } => status::status(&paths, json).await,
        Command::Doctor(args) => doctor::doctor(&paths, args).await,
        Command::User(UserCommand::Add {
            name,
            admin,
            password_stdin,
        }) => user::add(&paths, &name, admin, password_stdin).await,
        Command::User(UserCommand::List) => user::list(&paths).await,
        Command::User(UserCommand::ResetPassword {
            name,
            password_stdin,
        }) => user::reset_password(&paths, &name, password_stdin).await,
        Command::User(UserCommand::Deactivate { name, erase }) => {
            user::deactivate(&paths, &name, erase).await
        }
        Command::User(UserCommand::Admin { name, state }) => {
            user::set_admin(&paths, &name, state).await
        }
        Command::Invite(InviteCommand::Create { uses, expires }) => {
            invite::create(&paths, uses, &expires).await
        }
        Command::Invite(InviteCommand::List) => invite::list(&paths).await,
        Command::Invite(InviteCommand::Revoke { token }) => invite::revoke(&paths, &token).await,
        Command::Down { remove } => down::down(&paths, remove).await,
        Command::Export(ExportCommand::Ess(args)) => export::ess(&paths, args),
        Command::Images(ImagesCommand::Export { file }) => images::export(&paths, &file).await,
        Command::Images(ImagesCommand::Import { file }) => images::import(&paths, &file).await,
        Command::Backup(BackupCommand::Create { output }) => backup::create(&paths, output).await,
        Command::Backup(BackupCommand::Verify { file }) => backup::verify(&file).await,
        Command::Backup(BackupCommand::Restore { file, force }) => {
            backup::restore(&paths, &file, force).await
        }
        Command::Backup(BackupCommand::Push { file }) => backup::push(&paths, &file).await,
        Command::Backup(BackupCommand::List) => backup::list(&paths).await,
        Command::Backup(BackupCommand::Fetch {
            key,
            output,
            identity,
        }) => backup::fetch(&paths, &key, &output, identity.as_deref()).await,
        Command::Adopt(args) => {
            adopt::adopt(
                &paths,
                &args.compose_dir,
                args.domain.as_deref(),
                args.dry_run,
            )
            .await
        }
        Command::Upgrade {
            check,
            timeout,
            cleanup,
        } => upgrade::upgrade(&paths, check, timeout, cleanup).await,
        Command::Unit => generate::unit(),
        Command::Completions { shell } => generate::completions(shell),
        Command::Manpages { dir } => generate::manpages(&dir),
        Command::Edge(args) => Ok(crate::service::edge::run(&paths, args).await?),
    }
}

fn load_config(paths: &Paths) -> anyhow::Result<Config> {
    config::load(&paths.config).with_context(|| Lang::current().t(M::CannotLoad, &[]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_message_has_both_languages_with_the_same_placeholders() {
        crate::i18n::assert_complete(super::M::ALL);
    }
}
