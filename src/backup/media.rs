//! Synapse's media store, which its container can write: walked and written by descriptor, never
//! through a link, so a planted link cannot pull another file into a backup or send a restored
//! one elsewhere.

use std::io::{Read, Write};

use indicatif::ProgressBar;

use super::archive::{Writer, allowed_member};
use super::{BackupError, MEDIA_KINDS, MEDIA_PREFIX, MEDIA_STORE};
use crate::fsio::{Dir, FsError};
use crate::paths::{self, Paths};
use crate::synapse;

/// Adds every regular file under `local_content` and `local_thumbnails`. Links, special files and
/// names a backup cannot hold are left out, each with a warning.
pub fn add_all<W: Write>(
    paths: &Paths,
    writer: &mut Writer<W>,
    progress: &ProgressBar,
    out: &std::path::Path,
) -> Result<(), BackupError> {
    let state = Dir::open_trusted(paths.state())?;
    let Some(store) = state
        .open_dir(paths::SYNAPSE_DATA)?
        .and_then(|d| d.open_dir(MEDIA_STORE).transpose())
        .transpose()?
    else {
        return Ok(());
    };
    add_store(&store, writer, progress, out)
}

/// Adds the two kinds of local media under an opened media store (also another installation's,
/// for `adopt`).
pub(crate) fn add_store<W: Write>(
    store: &Dir,
    writer: &mut Writer<W>,
    progress: &ProgressBar,
    out: &std::path::Path,
) -> Result<(), BackupError> {
    for kind in MEDIA_KINDS {
        if let Some(dir) = skip_refused(store.open_dir(kind))?.flatten() {
            add_dir(
                &dir,
                &format!("{MEDIA_PREFIX}{kind}"),
                writer,
                progress,
                out,
            )?;
        }
    }
    Ok(())
}

fn add_dir<W: Write>(
    dir: &Dir,
    prefix: &str,
    writer: &mut Writer<W>,
    progress: &ProgressBar,
    out: &std::path::Path,
) -> Result<(), BackupError> {
    for name in dir.entries()? {
        let member = format!("{prefix}/{name}");
        if !allowed_member(&member) {
            tracing::warn!("left out of the backup: {member} (a name Synapse does not make)");
            continue;
        }
        match dir.is_dir(&name)? {
            Some(true) => {
                if let Some(sub) = skip_refused(dir.open_dir(&name))?.flatten() {
                    add_dir(&sub, &member, writer, progress, out)?;
                }
            }
            Some(false) => {
                if let Some((file, size)) = skip_refused(dir.open_regular(&name))?.flatten() {
                    writer
                        .append(&member, size, file, progress)
                        .map_err(|source| BackupError::Write {
                            path: out.to_path_buf(),
                            source,
                        })?;
                }
            }
            None => {} // removed meanwhile
        }
    }
    Ok(())
}

/// A link or special file where media should be is left out with a warning (`None`), not fatal.
fn skip_refused<T>(result: Result<T, FsError>) -> Result<Option<T>, FsError> {
    match result {
        Ok(found) => Ok(Some(found)),
        Err(e) if e.is_refusal() => {
            tracing::warn!("left out of the backup: {e}: {}", e.source);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Writes one media member (`media/local_content/...`, already checked by `allowed_member`)
/// into Synapse's media store, making directories as Synapse's, by descriptor.
pub fn restore_one(paths: &Paths, member: &str, data: &mut dyn Read) -> Result<(), BackupError> {
    let uid = synapse::UID;
    let state = Dir::open_trusted(paths.state())?;
    let mut dir = state.ensure_dir(paths::SYNAPSE_DATA, 0o700, uid, uid)?;
    dir = dir.ensure_dir(MEDIA_STORE, 0o750, uid, uid)?;
    let rest = member.strip_prefix(MEDIA_PREFIX).unwrap_or(member);
    let mut parts: Vec<&str> = rest.split('/').collect();
    let name = parts.pop().unwrap_or_default();
    for part in parts {
        dir = dir.ensure_dir(part, 0o750, uid, uid)?;
    }
    let mut file = dir.create_file(name, 0o640, uid, uid)?;
    let path = dir.path().join(name);
    // Synced once for all files at the end of the restore.
    std::io::copy(data, &mut file).map_err(|source| BackupError::Write { path, source })?;
    Ok(())
}
