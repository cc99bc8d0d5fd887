//! `matrixbox upgrade [--check|--cleanup]`: the CLI side of `crate::upgrade`. A PostgreSQL major
//! change is migrated first, then Synapse is moved.

use std::time::Duration;

use crate::docker::Engine;
use crate::i18n::Lang;
use crate::paths::Paths;
use crate::secrets;
use crate::stack::major;
use crate::upgrade::{
    self, UpgradeError, major_messages::M as PgM, messages, messages::M, plan::Plan,
};

pub async fn upgrade(
    paths: &Paths,
    check: bool,
    timeout: u64,
    cleanup: bool,
) -> anyhow::Result<()> {
    let lang = Lang::current();
    if cleanup {
        let removed = upgrade::major::cleanup(paths).map_err(UpgradeError::from)?;
        for (m, dir) in &removed {
            println!("{}", lang.t(PgM::Removed, &[&dir.display(), m]));
        }
        if removed.is_empty() {
            println!("{}", lang.t(PgM::NothingToClean, &[]));
        }
        return Ok(());
    }
    let config = super::load_config(paths)?;
    let engine = Engine::connect().await?;
    let timeout = Duration::from_secs(timeout);

    // The old major's data directory this run put aside.
    let mut migrated = None;
    if let Some((from, to)) = major::postgres_major(paths, &config.postgres_image).await? {
        upgrade::major::refuse_older((from, to), lang).map_err(UpgradeError::from)?;
        if check {
            println!(
                "{}",
                lang.t(PgM::Pending, &[&from, &config.postgres_image, &to])
            );
            let room = upgrade::major::room(paths)
                .await
                .map_err(UpgradeError::from)?;
            println!("{}", upgrade::major::room_line(lang, paths, room));
        } else {
            let secrets = secrets::load(&paths.secrets_dir())?;
            let done = upgrade::major::migrate(
                &engine,
                &config,
                paths,
                &secrets,
                (from, to),
                timeout,
                lang,
            )
            .await
            .map_err(UpgradeError::from)?;
            println!(
                "{}",
                lang.t(
                    PgM::Migrated,
                    &[&done.from, &done.to, &format!("{:.1}", done.downtime_s)]
                )
            );
            migrated = Some(done.kept);
        }
    }
    for kept in upgrade::kept::list(paths, config.keep_old_postgres) {
        if check || migrated.as_ref() == Some(&kept.path) {
            println!("{}", upgrade::kept::describe(lang, &kept));
        }
    }

    let plan = upgrade::check(&engine, &config, paths).await?;
    let pending = match &plan {
        Plan::Upgrade { from, to, pull } if !check => Some((from.clone(), to.clone(), *pull)),
        _ => None,
    };
    let Some(pending) = pending else {
        println!("{}", messages::plan(lang, &plan, &config.synapse_image));
        if let Some(last) = upgrade::last(paths).filter(|_| check) {
            println!("{}", messages::last(lang, &last));
        }
        return Ok(());
    };
    let secrets = secrets::load(&paths.secrets_dir())?;
    let done = upgrade::run(&engine, &config, paths, &secrets, pending, timeout, lang).await?;
    println!(
        "{}",
        lang.t(
            M::Upgraded,
            &[
                &done.from,
                &done.to,
                &format!("{:.1}", done.downtime_s.unwrap_or_default()),
                &done.backup.unwrap_or_default(),
            ]
        )
    );
    Ok(())
}
