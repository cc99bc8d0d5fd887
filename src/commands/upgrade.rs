//! `matrixbox upgrade [--check]`: the CLI side of `crate::upgrade`.

use std::time::Duration;

use crate::docker::Engine;
use crate::i18n::Lang;
use crate::paths::Paths;
use crate::secrets;
use crate::upgrade::{self, messages, messages::M, plan::Plan};

pub async fn upgrade(paths: &Paths, check: bool, timeout: u64) -> anyhow::Result<()> {
    let lang = Lang::current();
    let config = super::load_config(paths)?;
    let engine = Engine::connect().await?;
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
    let done = upgrade::run(
        &engine,
        &config,
        paths,
        &secrets,
        pending,
        Duration::from_secs(timeout),
        lang,
    )
    .await?;
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
