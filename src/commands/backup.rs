//! `matrixbox backup create | verify | restore`: the CLI side of `crate::backup`.

use std::path::{Path, PathBuf};

use crate::backup::messages::{self, M};
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
