//! Element Web's files: copied once per image out of its `/app` into `web/<image id>/` under the
//! state dir, then made current by swapping the `web/current` link, so a request sees the old
//! files or the new ones, never half of either.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::config::WebClient;
use crate::diagnostic::Diagnostic;
use crate::docker::{DockerError, Engine};
use crate::fsio::{self, FsError};
use crate::i18n::{messages, tr};
use crate::paths::Paths;

/// The link to the served directory, inside `Paths::web_dir`.
pub const CURRENT: &str = "current";
/// Where the image keeps the web app (the official image's nginx serves it from there).
const APP_DIR: &str = "/app";
/// A bigger "web app" is not Element Web; the cap keeps a wrong image from filling the disk.
const MAX_BYTES: u64 = 1 << 30;

messages! {
    NotABundle => "image {0} is not a usable Element Web bundle: {1}", "镜像 {0} 不是可用的 Element Web 包：{1}";
    NotABundleHint => "`web_client.image` must be an Element Web image (its files in /app, index.html among them), e.g. `vectorim/element-web:v1.11.100`; the web client keeps the files it served before",
        "`web_client.image` 必须是 Element Web 镜像（其文件位于 /app，其中包括 index.html），例如 `vectorim/element-web:v1.11.100`；网页客户端继续使用之前提供的文件";
    NoAppDir => "it has no {0}", "它没有 {0}";
    Unreadable => "its archive is unreadable: {0}", "其归档无法读取：{0}";
    NoName => "an entry has no usable name: {0}", "某个条目没有可用的名称：{0}";
    Leaves => "entry `{0}` leaves its directory", "条目 `{0}` 超出了其所在目录";
    TooBig => "its /app holds more than {0} MB", "其 /app 超过 {0} MB";
    NoIndex => "{0} has no index.html", "{0} 中没有 index.html";
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{}", tr(M::NotABundle, &[image, why]))]
    NotABundle { image: String, why: String },
}

impl Diagnostic for BundleError {
    fn hint(&self) -> Option<String> {
        match self {
            BundleError::Docker(e) => e.hint(),
            BundleError::Fs(e) => e.hint(),
            BundleError::NotABundle { .. } => Some(tr(M::NotABundleHint, &[])),
        }
    }
}

/// The directory the edge serves from.
pub fn current_dir(paths: &Paths) -> PathBuf {
    paths.web_dir().join(CURRENT)
}

/// The directory name for an image ID (`sha256:abc…` -> `sha256-abc…`).
fn dir_name(image_id: &str) -> String {
    image_id.replace(':', "-")
}

/// Makes the configured image's files current, pulling it if needed. Cheap when they already are
/// (an image inspect and a link read), as it runs on every reconcile. Returns whether it copied.
pub async fn ensure(
    engine: &Engine,
    web: &WebClient,
    paths: &Paths,
    instance: &str,
) -> Result<bool, BundleError> {
    let image = engine
        .ensure_image(&web.candidates, &paths.image_digests())
        .await?;
    let id = engine
        .image_digests(&image)
        .await?
        .map(|d| d.id)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| DockerError::PullFailed {
            image: image.clone(),
            message: "the engine no longer has it".into(),
        })?;
    let name = dir_name(&id);
    let web_dir = paths.web_dir();
    let current = web_dir.join(CURRENT);
    if std::fs::read_link(&current).is_ok_and(|t| t == Path::new(&name))
        && web_dir.join(&name).join("index.html").is_file()
    {
        return Ok(false);
    }
    fsio::ensure_dir(&web_dir, 0o755)?;
    let tar_path = web_dir.join(".copy.tar");
    let fs_error = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| FsError {
            action,
            path,
            source,
        }
    };
    let mut tar = tokio::fs::File::create(&tar_path)
        .await
        .map_err(fs_error("create", &tar_path))?;
    let helper = format!("{instance}-web-copy");
    let copied = engine
        .copy_out(&image, APP_DIR, &helper, instance, &mut tar)
        .await;
    drop(tar);
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tar_path);
        // The engine answers 404 for a path the image does not have.
        if let DockerError::Api {
            source:
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                },
            ..
        } = &e
        {
            let why = tr(M::NoAppDir, &[&APP_DIR]);
            return Err(BundleError::NotABundle { image, why });
        }
        return Err(e.into());
    }
    let (dir, staged_name) = (web_dir.clone(), name.clone());
    let unpacked = tokio::task::spawn_blocking(move || {
        let result = stage(&dir, &staged_name);
        let _ = std::fs::remove_file(dir.join(".copy.tar"));
        result
    })
    .await
    .expect("the unpacking task does not panic");
    match unpacked {
        Ok(()) => {}
        Err(Staging::Fs(e)) => return Err(e.into()),
        Err(Staging::Bad(why)) => return Err(BundleError::NotABundle { image, why }),
    }
    switch(&web_dir, &name)?;
    prune(&web_dir, &name);
    tracing::info!(%image, "web client files updated");
    Ok(true)
}

enum Staging {
    Fs(FsError),
    Bad(String),
}

/// `.copy.tar` -> `.staging`, checked, then renamed to `name`.
fn stage(web_dir: &Path, name: &str) -> Result<(), Staging> {
    let staging = web_dir.join(".staging");
    let fs_error = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| {
            Staging::Fs(FsError {
                action,
                path,
                source,
            })
        }
    };
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(fs_error("remove", &staging))?;
    }
    std::fs::create_dir(&staging).map_err(fs_error("create", &staging))?;
    let tar_path = web_dir.join(".copy.tar");
    let file = std::fs::File::open(&tar_path).map_err(fs_error("open", &tar_path))?;
    unpack(file, &staging)?;
    let target = web_dir.join(name);
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(fs_error("remove", &target))?;
    }
    std::fs::rename(&staging, &target).map_err(fs_error("rename", &staging))?;
    Ok(())
}

/// Unpacks the archive of `/app` into `into`: directories and regular files only (links and
/// devices are left out, so serving never leaves the tree), entries below its top directory,
/// at most `MAX_BYTES`; `index.html` must be among them.
fn unpack(archive: impl Read, into: &Path) -> Result<(), Staging> {
    let bad = |why: String| Staging::Bad(why);
    let mut archive = tar::Archive::new(archive);
    let mut total = 0u64;
    let mut has_index = false;
    let entries = archive
        .entries()
        .map_err(|e| bad(tr(M::Unreadable, &[&e])))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(tr(M::Unreadable, &[&e])))?;
        let path = entry
            .path()
            .map_err(|e| bad(tr(M::NoName, &[&e])))?
            .into_owned();
        // The first component is the directory copied (`app`).
        let mut parts = path.components();
        parts.next();
        let relative: PathBuf = parts.as_path().to_path_buf();
        if relative.as_os_str().is_empty() {
            continue;
        }
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(bad(tr(M::Leaves, &[&path.display()])));
        }
        let target = into.join(&relative);
        let fs_error = |action: &'static str| {
            let path = target.clone();
            move |source| {
                Staging::Fs(FsError {
                    action,
                    path,
                    source,
                })
            }
        };
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&target).map_err(fs_error("create"))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                total += entry.size();
                if total > MAX_BYTES {
                    return Err(bad(tr(M::TooBig, &[&(MAX_BYTES >> 20)])));
                }
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(fs_error("create"))?;
                }
                let mut out = std::fs::File::create(&target).map_err(fs_error("create"))?;
                std::io::copy(&mut entry, &mut out).map_err(fs_error("write"))?;
                if entry.size() >= GZIP_MIN
                    && super::serve::compressible(&relative.to_string_lossy())
                {
                    gzip_beside(&target).map_err(fs_error("compress"))?;
                }
                has_index |= relative == Path::new("index.html");
            }
            _ => {}
        }
    }
    if !has_index {
        return Err(bad(tr(M::NoIndex, &[&APP_DIR])));
    }
    Ok(())
}

/// Smaller files gain too little from compression to be worth a second copy.
const GZIP_MIN: u64 = 1024;

/// Writes `<file>.gz` beside `file`, once, so the edge sends compressed text without compressing
/// on every request (Element's scripts are several MB).
fn gzip_beside(file: &Path) -> std::io::Result<()> {
    let mut name = file.as_os_str().to_owned();
    name.push(".gz");
    let mut input = std::fs::File::open(file)?;
    let output = std::fs::File::create(PathBuf::from(name))?;
    let mut encoder = flate2::write::GzEncoder::new(output, flate2::Compression::default());
    std::io::copy(&mut input, &mut encoder)?;
    encoder.finish()?;
    Ok(())
}

/// Points `current` at `name` in one rename.
fn switch(web_dir: &Path, name: &str) -> Result<(), FsError> {
    let link = web_dir.join(".current.new");
    let _ = std::fs::remove_file(&link);
    let fs_error = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| FsError {
            action,
            path,
            source,
        }
    };
    std::os::unix::fs::symlink(name, &link).map_err(fs_error("link", &link))?;
    std::fs::rename(&link, web_dir.join(CURRENT)).map_err(fs_error("rename", &link))
}

/// Removes the files of images no longer served (best effort: a leftover costs only disk).
fn prune(web_dir: &Path, keep: &str) {
    let Ok(entries) = std::fs::read_dir(web_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name == CURRENT || name == keep {
            continue;
        }
        let path = entry.path();
        let removed = if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if let Err(e) = removed {
            tracing::warn!(
                "could not remove old web client files {}: {e}",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages_with_the_same_placeholders() {
        crate::i18n::assert_complete(M::ALL);
    }

    fn archive(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, kind, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            if *kind == tar::EntryType::Symlink {
                header.set_link_name("/etc/passwd").unwrap();
            }
            // Written by hand: `append_data` would refuse the `..` the attacker's entry carries.
            let name = path.as_bytes();
            header.as_old_mut().name[..name.len()].copy_from_slice(name);
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn files_and_directories_are_kept_links_left_out() {
        let tmp = tempfile::tempdir().unwrap();
        let tar = archive(&[
            ("app/", tar::EntryType::Directory, b""),
            ("app/index.html", tar::EntryType::Regular, b"<html>"),
            ("app/bundles/abc/app.js", tar::EntryType::Regular, b"js"),
            (
                "app/bundles/abc/big.js",
                tar::EntryType::Regular,
                &[b'x'; 4096],
            ),
            ("app/escape", tar::EntryType::Symlink, b""),
        ]);
        assert!(unpack(&tar[..], tmp.path()).is_ok());
        assert_eq!(
            std::fs::read(tmp.path().join("index.html")).unwrap(),
            b"<html>"
        );
        assert_eq!(
            std::fs::read(tmp.path().join("bundles/abc/app.js")).unwrap(),
            b"js"
        );
        assert!(!tmp.path().join("escape").exists());
        // Text of a useful size is also kept compressed; small files are not.
        assert!(tmp.path().join("bundles/abc/big.js.gz").is_file());
        assert!(!tmp.path().join("bundles/abc/app.js.gz").exists());
        let mut unzipped = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(
                std::fs::File::open(tmp.path().join("bundles/abc/big.js.gz")).unwrap(),
            ),
            &mut unzipped,
        )
        .unwrap();
        assert_eq!(unzipped, vec![b'x'; 4096]);
        assert!(std::fs::symlink_metadata(tmp.path().join("escape")).is_err());
    }

    #[test]
    fn an_entry_leaving_the_tree_or_no_index_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let tar = archive(&[
            ("app/index.html", tar::EntryType::Regular, b"<html>"),
            ("app/../../evil", tar::EntryType::Regular, b"x"),
        ]);
        match unpack(&tar[..], tmp.path()) {
            Err(Staging::Bad(why)) => assert!(why.contains("leaves its directory"), "{why}"),
            _ => panic!("accepted"),
        }
        let tar = archive(&[("app/main.js", tar::EntryType::Regular, b"js")]);
        match unpack(&tar[..], tmp.path()) {
            Err(Staging::Bad(why)) => assert!(why.contains("no index.html"), "{why}"),
            _ => panic!("accepted"),
        }
    }

    #[test]
    fn switching_replaces_the_link_and_pruning_keeps_the_served_files() {
        let tmp = tempfile::tempdir().unwrap();
        for dir in ["sha256-old", "sha256-new", ".staging"] {
            std::fs::create_dir(tmp.path().join(dir)).unwrap();
        }
        switch(tmp.path(), "sha256-old").unwrap();
        switch(tmp.path(), "sha256-new").unwrap();
        assert_eq!(
            std::fs::read_link(tmp.path().join(CURRENT)).unwrap(),
            Path::new("sha256-new")
        );
        prune(tmp.path(), "sha256-new");
        let mut left: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [CURRENT, "sha256-new"]);
    }
}
