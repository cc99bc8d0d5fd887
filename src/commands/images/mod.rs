//! `matrixbox images export FILE` / `images import FILE`: the configured images carried to a host
//! without registry access, verified against their IDs and this host's pins before anything is
//! tagged.

mod messages;

use std::io::{IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use self::messages::M;
use crate::config::Config;
use crate::docker::archive::{self, Manifest, ManifestImage, Problem};
use crate::docker::digests;
use crate::docker::{DockerError, Engine};
use crate::fsio;
use crate::i18n::Lang;
use crate::paths::Paths;
use crate::report::Hinted;

/// The managed images: (role, candidate references in pull order). Element Web's only with
/// `web_client:`, coturn only with `turn.enabled`, Redis only with workers, so an archive made without them still imports.
fn managed(config: &Config) -> Vec<(&'static str, &[String])> {
    let mut images: Vec<(&'static str, &[String])> = vec![
        ("postgres", &config.postgres_candidates),
        ("synapse", &config.synapse_candidates),
    ];
    if let Some(web) = &config.web_client {
        images.push(("element-web", &web.candidates));
    }
    if config.turn.is_some() {
        images.push(("coturn", &config.coturn_candidates));
    }
    if !crate::workers::running(config).is_empty() {
        images.push(("redis", &config.redis_candidates));
    }
    images
}

fn refuse_upstream(config: &Config, lang: Lang) -> anyhow::Result<()> {
    if config.external_upstream.is_some() {
        return Err(Hinted::usage(
            lang.t(M::NoContainers, &[]),
            lang.t(M::NoContainersHint, &[]),
        )
        .into());
    }
    Ok(())
}

/// A bar on a terminal, nothing otherwise (the summary line says what was done).
fn progress(total: u64, message: String) -> Option<ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_message(message);
        bar
    })
}

pub async fn export(paths: &Paths, file: &Path) -> anyhow::Result<()> {
    let lang = Lang::current();
    let config = super::load_config(paths)?;
    refuse_upstream(&config, lang)?;
    let engine = Engine::connect().await?;
    // The digest record lives in the state dir, which a host used only to export may not have.
    fsio::ensure_dir(paths.state(), 0o700)?;
    let record = paths.image_digests();
    let recorded = digests::load(&record)?;
    let vouched = digests::load_vouched(&digests::vouched_path(&record))?;
    let mut images = Vec::new();
    let mut total = 0;
    for (role, candidates) in managed(&config) {
        // Pulled if missing, and verified against the pin and the record like `run` does.
        let image = engine.ensure_image(candidates, &record).await?;
        let observed =
            engine
                .image_digests(&image)
                .await?
                .ok_or_else(|| DockerError::PullFailed {
                    image: image.clone(),
                    message: "the engine no longer has it".into(),
                })?;
        total += engine.image_size(&observed.id).await?;
        let (reference, pin) = digests::split_pin(&image);
        let mut vouched_for: Vec<String> = observed
            .repo_digests
            .iter()
            .filter_map(|r| r.split_once('@').map(|(_, d)| d.to_string()))
            .chain(pin.map(str::to_string))
            .chain(recorded.get(reference).cloned())
            .chain(vouched.get(&observed.id).into_iter().flatten().cloned())
            .filter(|d| *d != observed.id)
            .collect();
        vouched_for.sort();
        vouched_for.dedup();
        images.push(ManifestImage {
            role: role.into(),
            reference: image,
            id: observed.id,
            digests: vouched_for,
        });
    }
    let manifest = Manifest {
        format: archive::FORMAT,
        images,
    };
    let written = write_archive(&engine, &manifest, file, total, lang).await?;
    println!(
        "{}",
        lang.t(
            M::Exported,
            &[&file.display(), &(written >> 20), &manifest.images.len()]
        )
    );
    for image in &manifest.images {
        println!(
            "{}",
            lang.t(M::ImageLine, &[&image.role, &image.reference, &image.id])
        );
    }
    Ok(())
}

/// Writes the manifest entry, then the engine's save stream, into a 0600 temporary file beside
/// `file`, and renames it into place only when all of it is on disk.
async fn write_archive(
    engine: &Engine,
    manifest: &Manifest,
    file: &Path,
    total: u64,
    lang: Lang,
) -> anyhow::Result<u64> {
    let failed = |e: &dyn std::fmt::Display| {
        Hinted::new(
            lang.t(M::WriteFailed, &[&file.display(), e]),
            lang.t(M::WriteFailedHint, &[]),
        )
    };
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".matrixbox-images-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|e| failed(&e))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| failed(&e))?;
    let entry = archive::manifest_entry(manifest);
    tmp.write_all(&entry).map_err(|e| failed(&e))?;
    let mut written = entry.len() as u64;
    let bar = progress(total, lang.t(M::Exporting, &[&file.display()]));
    let ids: Vec<String> = manifest.images.iter().map(|i| i.id.clone()).collect();
    let mut stream = std::pin::pin!(engine.save_images(&ids));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        tmp.write_all(&chunk).map_err(|e| failed(&e))?;
        written += chunk.len() as u64;
        if let Some(bar) = &bar {
            bar.set_position(written);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    tmp.as_file().sync_all().map_err(|e| failed(&e))?;
    tmp.persist(file).map_err(|e| failed(&e.error))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| failed(&e))?;
    Ok(written)
}

pub async fn import(paths: &Paths, file: &Path) -> anyhow::Result<()> {
    let lang = Lang::current();
    let config = super::load_config(paths)?;
    refuse_upstream(&config, lang)?;
    let shown = file.display().to_string();
    let unreadable = |e: &dyn std::fmt::Display| {
        Hinted::new(
            lang.t(M::ReadFailed, &[&shown, e]),
            lang.t(M::ArchiveHint, &[]),
        )
    };
    let archive_problem = |p: Problem| -> anyhow::Error {
        let message = match p {
            Problem::Unreadable(e) => lang.t(M::ReadFailed, &[&shown, &e]),
            Problem::NoManifest(e) | Problem::NoSaveManifest(e) => {
                lang.t(M::NotAnArchive, &[&shown, &e])
            }
            Problem::Missing { reference, id } => {
                lang.t(M::TamperedMissing, &[&shown, &reference, &id])
            }
            Problem::Layer {
                reference,
                layer,
                expected,
                found,
            } => lang.t(
                M::Tampered,
                &[&shown, &reference, &layer, &found, &expected],
            ),
            Problem::Unexpected(what) => lang.t(M::TamperedOther, &[&shown, &what]),
        };
        Hinted::new(message, lang.t(M::ArchiveHint, &[])).into()
    };
    let engine = Engine::connect().await?;
    let size = std::fs::metadata(file).map_err(|e| unreadable(&e))?.len();
    let opened = std::fs::File::open(file).map_err(|e| unreadable(&e))?;
    let (manifest, offset) = archive::read_manifest(opened).map_err(archive_problem)?;

    // What this host expects, before the long read: its pins and its record.
    fsio::ensure_dir(paths.state(), 0o700)?;
    let record = paths.image_digests();
    let recorded = digests::load(&record)?;
    let vouched_path = digests::vouched_path(&record);
    let mut vouched = digests::load_vouched(&vouched_path)?;
    let mut wanted = Vec::new();
    for (role, candidates) in managed(&config) {
        let entry = manifest.image(role).ok_or_else(|| {
            Hinted::new(
                lang.t(M::Missing, &[&shown, &role, &candidates[0]]),
                lang.t(M::MissingHint, &[]),
            )
        })?;
        check_against_host(
            entry, candidates, &recorded, &vouched, &record, &shown, lang,
        )?;
        wanted.push((entry.clone(), candidates[0].clone()));
    }

    // Every config and layer hashed against the manifest, before the engine sees any of it.
    let bar = progress(size, lang.t(M::Importing, &[&shown]));
    let verify_bar = bar.clone();
    let verify_file = file.to_path_buf();
    let verify_manifest = manifest.clone();
    tokio::task::spawn_blocking(move || {
        let reader = std::io::BufReader::new(std::fs::File::open(&verify_file)?);
        let mut done = 0;
        Ok::<_, std::io::Error>(archive::verify(reader, &verify_manifest, |n| {
            done += n;
            if let Some(bar) = &verify_bar {
                bar.set_position(done);
            }
        }))
    })
    .await
    .expect("verification does not panic")
    .map_err(|e| unreadable(&e))?
    .map_err(archive_problem)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }

    engine
        .load_images(
            file_stream(file, offset)
                .await
                .map_err(|e| unreadable(&e))?,
        )
        .await?;
    // The archive carries no tags: only verified IDs get this host's names.
    for (entry, _) in &wanted {
        if engine.image_digests(&entry.id).await?.is_none() {
            return Err(Hinted::new(
                lang.t(M::NotLoaded, &[&entry.role, &entry.id, &shown]),
                lang.t(M::NotLoadedHint, &[]),
            )
            .into());
        }
        vouched.insert(entry.id.clone(), entry.digests.clone());
    }
    digests::save_vouched(&vouched_path, &vouched)?;
    println!("{}", lang.t(M::Imported, &[&wanted.len(), &shown]));
    for (entry, target) in &wanted {
        let name = digests::split_pin(target).0;
        engine.tag(&entry.id, name).await?;
        println!("{}", lang.t(M::TaggedAs, &[&entry.role, &entry.id, &name]));
    }
    Ok(())
}

/// Refuses an archive image this host's pin or record does not accept.
fn check_against_host(
    entry: &ManifestImage,
    candidates: &[String],
    recorded: &digests::Record,
    vouched: &digests::Vouched,
    record: &Path,
    shown: &str,
    lang: Lang,
) -> Result<(), Hinted> {
    let pin = digests::split_pin(&candidates[0]).1;
    if let Some(pin) = pin
        && !entry.has(pin)
    {
        let found = entry.digests.first().unwrap_or(&entry.id);
        return Err(Hinted::new(
            lang.t(
                M::PinMismatch,
                &[&entry.role, &shown, &candidates[0], found],
            ),
            lang.t(M::PinMismatchHint, &[]),
        ));
    }
    for candidate in candidates {
        let reference_here = digests::split_pin(candidate).0;
        let Some(was) = recorded.get(reference_here) else {
            continue;
        };
        let vouched_here = vouched.get(&entry.id).is_some_and(|d| d.contains(was));
        if pin.is_none() && !entry.has(was) && !vouched_here {
            return Err(Hinted::new(
                lang.t(
                    M::RecordMismatch,
                    &[&entry.role, &shown, &entry.id, &reference_here, was],
                ),
                lang.t(M::RecordMismatchHint, &[&record.display()]),
            ));
        }
    }
    Ok(())
}

/// The file from `offset` (the engine's part) as a stream of chunks.
async fn file_stream(
    file: &Path,
    offset: u64,
) -> std::io::Result<impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static>
{
    let mut f = tokio::fs::File::open(file).await?;
    f.seek(std::io::SeekFrom::Start(offset)).await?;
    Ok(futures_util::stream::try_unfold(f, |mut f| async move {
        let mut buf = vec![0u8; 1 << 20];
        let n = f.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((bytes::Bytes::from(buf), f)))
    }))
}
