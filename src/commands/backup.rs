//! `matrixbox backup create | verify | restore | push | list | fetch`: the CLI side of
//! `crate::backup`.

use std::path::{Path, PathBuf};

use crate::backup::messages::{self, M};
use crate::backup::offsite::{self, OffsiteError};
use crate::backup::{create, restore, schedule};
use crate::docker::Engine;
use crate::i18n::Lang;
use crate::paths::Paths;
use crate::secrets;

pub async fn create(paths: &Paths, output: Option<PathBuf>) -> anyhow::Result<()> {
    let lang = Lang::current();
    let config = super::load_config(paths)?;
    let secrets = secrets::load(&paths.secrets_dir())?;
    let engine = Engine::connect().await?;
    let done = create::create(paths, &config, &secrets, &engine, output, lang).await?;
    // A backup taken by hand counts as much as a scheduled one for `status` and `doctor`.
    let mut record = schedule::load(paths);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    record.succeeded(now, done.path.clone(), done.archive_bytes);
    if let Err(e) = schedule::save(paths, &record) {
        tracing::warn!("the backup is complete, but recording it for `status` failed: {e}");
    }
    println!("{}", lang.t(M::Written, &[&done.path.display()]));
    println!("{}", messages::describe(lang, &done.manifest));
    println!(
        "{}",
        messages::figures(lang, &done.manifest, done.archive_bytes, done.seconds)
    );
    Ok(())
}

pub async fn verify(file: &Path) -> anyhow::Result<()> {
    let lang = Lang::current();
    let manifest = restore::verify(file, lang).await?;
    println!("{}", lang.t(M::Complete, &[&file.display()]));
    println!("{}", messages::describe(lang, &manifest));
    Ok(())
}

pub async fn restore(paths: &Paths, file: &Path, force: bool) -> anyhow::Result<()> {
    let lang = Lang::current();
    let done = restore::restore(paths, file, force, lang).await?;
    println!(
        "{}",
        lang.t(
            M::Restored,
            &[&done.manifest.server_name, &done.manifest.created]
        )
    );
    println!("{}", messages::describe(lang, &done.manifest));
    println!("{}", lang.t(M::Next, &[]));
    Ok(())
}

fn offsite(paths: &Paths) -> anyhow::Result<crate::config::Offsite> {
    let config = super::load_config(paths)?;
    Ok(config.backup.offsite.ok_or(OffsiteError::NotConfigured)?)
}

pub async fn push(paths: &Paths, file: &Path) -> anyhow::Result<()> {
    let lang = Lang::current();
    let target = offsite(paths)?;
    let bar = crate::backup::progress(
        lang.t(M::Pushing, &[&file.display(), &target.endpoint]),
        false,
    );
    let pushed = offsite::push(&target, file).await;
    bar.finish_and_clear();
    let pushed = pushed?;
    println!(
        "{}",
        lang.t(
            M::Pushed,
            &[
                &file.display(),
                &target.endpoint,
                &pushed.key,
                &crate::backup::human_bytes(pushed.bytes),
                &format!("{:.1} s", pushed.seconds),
            ]
        )
    );
    match &target.recipient {
        Some(recipient) => println!("{}", lang.t(M::PushedEncrypted, &[recipient])),
        None => println!("{}", lang.t(M::PushedPlain, &[])),
    }
    Ok(())
}

pub async fn list(paths: &Paths) -> anyhow::Result<()> {
    let lang = Lang::current();
    let target = offsite(paths)?;
    let objects = offsite::list(&target).await?;
    if objects.is_empty() {
        println!(
            "{}",
            lang.t(M::ListEmpty, &[&target.prefix, &target.bucket])
        );
        return Ok(());
    }
    println!(
        "{}",
        lang.t(
            M::ListHeader,
            &[&objects.len(), &target.prefix, &target.bucket]
        )
    );
    for o in objects {
        println!(
            "  {}  {:>10}  {}",
            o.last_modified,
            crate::backup::human_bytes(o.size),
            o.key
        );
    }
    Ok(())
}

pub async fn fetch(
    paths: &Paths,
    key: &str,
    output: &Path,
    identity: Option<&Path>,
) -> anyhow::Result<()> {
    let lang = Lang::current();
    let target = offsite(paths)?;
    let bar = crate::backup::progress(lang.t(M::Fetching, &[&key]), false);
    let fetched = offsite::fetch(&target, key, output, identity).await;
    bar.finish_and_clear();
    let fetched = fetched?;
    let size = crate::backup::human_bytes(fetched.bytes);
    match identity.filter(|_| fetched.decrypted) {
        Some(identity) => println!(
            "{}",
            lang.t(
                M::FetchedDecrypted,
                &[&key, &output.display(), &size, &identity.display()]
            )
        ),
        None => println!("{}", lang.t(M::Fetched, &[&key, &output.display(), &size])),
    }
    println!("{}", lang.t(M::FetchedNext, &[&output.display()]));
    Ok(())
}
