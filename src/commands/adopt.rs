//! `matrixbox adopt --compose-dir DIR [--dry-run]`: the CLI side of `crate::adopt`.

use std::path::Path;

use crate::adopt::{self, messages::M};
use crate::backup::messages as backup_messages;
use crate::docker::Engine;
use crate::i18n::Lang;
use crate::paths::Paths;

pub async fn adopt(
    paths: &Paths,
    compose_dir: &Path,
    domain: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let lang = Lang::current();
    let engine = Engine::connect().await?;
    let found = adopt::inspect(paths, &engine, compose_dir, domain).await?;
    println!("{}", adopt::describe(lang, &found, paths));
    if dry_run {
        println!("{}", lang.t(M::DryRun, &[]));
        return Ok(());
    }
    let dir = found.dir.clone();
    let done = adopt::adopt(paths, &engine, found, lang).await?;
    println!(
        "{}",
        lang.t(
            M::Adopted,
            &[
                &done.manifest.server_name,
                &done.manifest.media_files(),
                &done.manifest.signing_key_id,
                &done.archive.display(),
            ],
        )
    );
    println!("{}", lang.t(M::GoBack, &[&dir.display()]));
    println!("{}", lang.t(backup_messages::M::Next, &[]));
    Ok(())
}
