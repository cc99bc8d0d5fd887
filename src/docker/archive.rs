//! Offline image archives (`images export` / `images import`): a `docker save` tar of the images
//! by ID, preceded by matrixbox's manifest of their IDs and digests, and the check that every
//! config and layer in it hashes to what the manifest names before the engine sees any of it.

use std::collections::HashMap;
use std::io::Read;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The archive's first entry; the rest is the engine's own `docker save` format.
pub const MANIFEST_NAME: &str = "matrixbox-images.json";
pub const FORMAT: u32 = 1;
/// Files this small (configs, manifest.json, tiny layers) are kept in memory to be parsed.
const SMALL_FILE_LIMIT: u64 = 1 << 20;
/// Past this much kept in memory, the archive is refused: a save of two images is far below.
const SMALL_FILES_TOTAL: usize = 64 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub images: Vec<ManifestImage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestImage {
    /// `postgres`, `synapse`: which configured image this is.
    pub role: String,
    /// The reference it had on the exporting host.
    pub reference: String,
    /// The image ID: the digest of its config, which names every layer's digest.
    pub id: String,
    /// Registry digests the exporting host verified for it (pinned or recorded).
    pub digests: Vec<String>,
}

impl Manifest {
    pub fn image(&self, role: &str) -> Option<&ManifestImage> {
        self.images.iter().find(|i| i.role == role)
    }
}

impl ManifestImage {
    /// Whether the exporting host vouched that this image is the one `digest` names.
    pub fn has(&self, digest: &str) -> bool {
        self.id == digest || self.digests.iter().any(|d| d == digest)
    }
}

/// Why an archive is refused; `reference` names the image when one is concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// Not a tar file, cut short, or unreadable.
    Unreadable(String),
    /// The first entry is not matrixbox's manifest, or it does not parse.
    NoManifest(String),
    /// `docker save`'s manifest.json is missing or does not parse.
    NoSaveManifest(String),
    /// The manifest names an image the archive does not hold.
    Missing { reference: String, id: String },
    /// A layer's contents do not hash to the digest the image's config names.
    Layer {
        reference: String,
        layer: String,
        expected: String,
        found: String,
    },
    /// The archive holds an image, or tags, the manifest does not account for.
    Unexpected(String),
}

/// The matrixbox manifest as the archive's first tar entry (header and padded data): the
/// engine's save stream follows it, so the file stays one tar archive.
pub fn manifest_entry(manifest: &Manifest) -> Vec<u8> {
    let json = serde_json::to_vec_pretty(manifest).expect("the manifest always serialises");
    let mut header = tar::Header::new_ustar();
    header.set_path(MANIFEST_NAME).expect("a short ASCII name");
    header.set_size(json.len() as u64);
    header.set_mode(0o600);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(&json);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

/// Reads the manifest entry from the start of an archive; returns it and the length of the entry
/// (where the engine's part begins).
pub fn read_manifest(mut reader: impl Read) -> Result<(Manifest, u64), Problem> {
    let mut header = [0u8; 512];
    reader
        .read_exact(&mut header)
        .map_err(|e| Problem::Unreadable(e.to_string()))?;
    let header = tar::Header::from_byte_slice(&header);
    let path = header
        .path()
        .map_err(|e| Problem::NoManifest(e.to_string()))?;
    if path.to_str() != Some(MANIFEST_NAME) {
        return Err(Problem::NoManifest(format!(
            "the first entry is `{}`, not {MANIFEST_NAME}",
            path.display()
        )));
    }
    let size = header
        .size()
        .map_err(|e| Problem::NoManifest(e.to_string()))?;
    if size > SMALL_FILE_LIMIT {
        return Err(Problem::NoManifest(format!("{MANIFEST_NAME} is too large")));
    }
    let mut json = vec![0; size as usize];
    reader
        .read_exact(&mut json)
        .map_err(|e| Problem::Unreadable(e.to_string()))?;
    let manifest: Manifest =
        serde_json::from_slice(&json).map_err(|e| Problem::NoManifest(e.to_string()))?;
    if manifest.format != FORMAT {
        return Err(Problem::NoManifest(format!(
            "format {} is not {FORMAT}: made by another matrixbox version",
            manifest.format
        )));
    }
    Ok((manifest, 512 + size.div_ceil(512) * 512))
}

#[derive(Deserialize)]
struct SaveEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct ImageConfig {
    rootfs: RootFs,
}

#[derive(Deserialize)]
struct RootFs {
    diff_ids: Vec<String>,
}

/// Reads a whole archive (the manifest entry first) and checks the engine's part against the
/// manifest: each image's config hashes to its ID, each layer to the digest the config names,
/// and nothing else (no other image, no tag) would be loaded. `progress` gets the bytes read.
pub fn verify(
    reader: impl Read,
    manifest: &Manifest,
    mut progress: impl FnMut(u64),
) -> Result<(), Problem> {
    let unreadable = |e: std::io::Error| Problem::Unreadable(e.to_string());
    let mut archive = tar::Archive::new(reader);
    let mut hashes: HashMap<String, String> = HashMap::new();
    let mut links: HashMap<String, String> = HashMap::new();
    let mut small: HashMap<String, Vec<u8>> = HashMap::new();
    let mut kept_total = 0;
    for entry in archive.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let path = entry
            .path()
            .map_err(unreadable)?
            .to_string_lossy()
            .into_owned();
        let path = path.trim_start_matches("./").to_string();
        // The engine would load the last of two same-named entries: refuse the ambiguity.
        if hashes.contains_key(&path) || links.contains_key(&path) {
            return Err(Problem::Unexpected(format!("{path} appears twice")));
        }
        match entry.header().entry_type() {
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(unreadable)?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                links.insert(path.clone(), resolve_link(&path, &target));
            }
            tar::EntryType::Regular => {
                let keep = entry.size() <= SMALL_FILE_LIMIT;
                let mut hasher = Sha256::new();
                let mut kept = Vec::new();
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = entry.read(&mut buf).map_err(unreadable)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    if keep {
                        kept.extend_from_slice(&buf[..n]);
                    }
                    progress(n as u64);
                }
                hashes.insert(
                    path.clone(),
                    format!("sha256:{}", hex::encode(hasher.finalize())),
                );
                if keep {
                    kept_total += kept.len();
                    if kept_total > SMALL_FILES_TOTAL {
                        return Err(Problem::Unexpected("too many small files".into()));
                    }
                    small.insert(path, kept);
                }
            }
            _ => {}
        }
    }
    let hash_of = |path: &str| {
        let path = links.get(path).map_or(path, String::as_str);
        hashes.get(path).cloned()
    };
    let save: Vec<SaveEntry> = small
        .get("manifest.json")
        .ok_or_else(|| Problem::NoSaveManifest("manifest.json is missing".into()))
        .and_then(|json| {
            serde_json::from_slice(json).map_err(|e| Problem::NoSaveManifest(e.to_string()))
        })?;
    for entry in &save {
        if let Some(tags) = entry.repo_tags.as_ref().filter(|t| !t.is_empty()) {
            return Err(Problem::Unexpected(format!(
                "the archive would tag {}",
                tags.join(", ")
            )));
        }
        let id = hash_of(&entry.config).unwrap_or_default();
        if !manifest.images.iter().any(|i| i.id == id) {
            return Err(Problem::Unexpected(format!(
                "the archive holds image {} ({}), which its manifest does not list",
                id, entry.config
            )));
        }
    }
    for image in &manifest.images {
        let missing = || Problem::Missing {
            reference: image.reference.clone(),
            id: image.id.clone(),
        };
        let entry = save
            .iter()
            .find(|e| hash_of(&e.config).as_deref() == Some(image.id.as_str()))
            .ok_or_else(missing)?;
        let config: ImageConfig = small
            .get(&entry.config)
            .and_then(|json| serde_json::from_slice(json).ok())
            .ok_or_else(missing)?;
        if config.rootfs.diff_ids.len() != entry.layers.len() {
            return Err(Problem::Unexpected(format!(
                "image {} lists {} layers, its config {}",
                image.reference,
                entry.layers.len(),
                config.rootfs.diff_ids.len()
            )));
        }
        for (layer, expected) in entry.layers.iter().zip(&config.rootfs.diff_ids) {
            let found = hash_of(layer).unwrap_or_else(|| "nothing".into());
            if &found != expected {
                return Err(Problem::Layer {
                    reference: image.reference.clone(),
                    layer: layer.clone(),
                    expected: expected.clone(),
                    found,
                });
            }
        }
    }
    Ok(())
}

impl super::Engine {
    /// `docker save` of these images by ID (so the archive carries no tags), as it streams.
    pub fn save_images(
        &self,
        ids: &[String],
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes, super::DockerError>> + use<> {
        use futures_util::StreamExt;
        let names: Vec<&str> = ids.iter().map(String::as_str).collect();
        let object = ids.join(" ");
        self.docker.export_images(&names).map(move |r| {
            r.map_err(|source| super::DockerError::Api {
                action: "export the images",
                object: object.clone(),
                source,
            })
        })
    }

    /// `docker load` of a save stream; the engine's own error (a layer that does not match) is
    /// returned as it said it.
    pub async fn load_images<S>(&self, stream: S) -> Result<(), super::DockerError>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
    {
        use futures_util::StreamExt;
        let options = bollard::query_parameters::ImportImageOptionsBuilder::new()
            .quiet(true)
            .build();
        let mut out = self.docker.import_image_stream(options, stream, None);
        while let Some(item) = out.next().await {
            item.map_err(|source| super::DockerError::Api {
                action: "load",
                object: "the image archive".into(),
                source,
            })?;
        }
        Ok(())
    }

    /// The image's size on disk, for progress.
    pub async fn image_size(&self, id: &str) -> Result<u64, super::DockerError> {
        let inspect =
            self.docker
                .inspect_image(id)
                .await
                .map_err(|source| super::DockerError::Api {
                    action: "inspect image",
                    object: id.to_string(),
                    source,
                })?;
        Ok(inspect.size.unwrap_or(0).max(0) as u64)
    }

    /// Tags the image `id` as `reference` (`repository:tag`).
    pub async fn tag(&self, id: &str, reference: &str) -> Result<(), super::DockerError> {
        let (repo, tag) = match reference.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, tag),
            _ => (reference, "latest"),
        };
        let options = bollard::query_parameters::TagImageOptionsBuilder::new()
            .repo(repo)
            .tag(tag)
            .build();
        self.docker
            .tag_image(id, Some(options))
            .await
            .map_err(|source| super::DockerError::Api {
                action: "tag",
                object: format!("{id} as {reference}"),
                source,
            })
    }
}

/// `a/layer.tar` linking to `../b/layer.tar` is `b/layer.tar`.
fn resolve_link(path: &str, target: &str) -> String {
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            other => parts.push(other),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(data: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(data)))
    }

    /// A `docker save` archive of one image with two layers (the second a link to the first, as
    /// the engine writes identical layers), after a manifest entry.
    fn archive(tags: Option<&[&str]>) -> (Vec<u8>, Manifest) {
        let layer = b"layer contents".to_vec();
        let config = format!(
            r#"{{"rootfs":{{"type":"layers","diff_ids":["{0}","{0}"]}}}}"#,
            sha(&layer)
        );
        let id = sha(config.as_bytes());
        let config_name = format!("{}.json", &id[7..]);
        let save = serde_json::json!([{
            "Config": config_name,
            "RepoTags": tags,
            "Layers": ["a/layer.tar", "b/layer.tar"],
        }]);
        let manifest = Manifest {
            format: FORMAT,
            images: vec![ManifestImage {
                role: "postgres".into(),
                reference: "pg:15".into(),
                id,
                digests: vec![],
            }],
        };
        let mut out = manifest_entry(&manifest);
        let mut builder = tar::Builder::new(Vec::new());
        let mut add = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            builder.append_data(&mut h, name, data).unwrap();
        };
        add("a/layer.tar", &layer);
        add(&config_name, config.as_bytes());
        add("manifest.json", save.to_string().as_bytes());
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        builder
            .append_link(&mut link, "b/layer.tar", "../a/layer.tar")
            .unwrap();
        out.extend(builder.into_inner().unwrap());
        (out, manifest)
    }

    #[test]
    fn a_sound_archive_verifies_and_its_manifest_reads_back() {
        let (bytes, manifest) = archive(None);
        let (read, offset) = read_manifest(&bytes[..]).unwrap();
        assert_eq!(read, manifest);
        assert_eq!(offset % 512, 0);
        let mut seen = 0;
        verify(&bytes[..], &manifest, |n| seen += n).unwrap();
        assert!(seen > 0);
        // The engine's part alone is a tar archive on its own.
        assert!(
            tar::Archive::new(&bytes[offset as usize..])
                .entries()
                .unwrap()
                .count()
                >= 4
        );
    }

    #[test]
    fn a_flipped_byte_in_a_layer_is_found_and_named() {
        let (mut bytes, manifest) = archive(None);
        let at = bytes
            .windows(14)
            .position(|w| w == b"layer contents")
            .unwrap();
        bytes[at] ^= 1;
        match verify(&bytes[..], &manifest, |_| {}) {
            Err(Problem::Layer {
                reference, layer, ..
            }) => {
                assert_eq!(
                    (reference.as_str(), layer.as_str()),
                    ("pg:15", "a/layer.tar")
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn another_id_in_the_manifest_is_refused() {
        let (bytes, mut manifest) = archive(None);
        manifest.images[0].id = format!("sha256:{}", "0".repeat(64));
        assert!(matches!(
            verify(&bytes[..], &manifest, |_| {}),
            Err(Problem::Unexpected(_))
        ));
        manifest.images.push(ManifestImage {
            role: "synapse".into(),
            reference: "s:1".into(),
            id: "sha256:1".into(),
            digests: vec![],
        });
        let (bytes, mut manifest) = archive(None);
        manifest.images.push(ManifestImage {
            role: "synapse".into(),
            reference: "s:1".into(),
            id: "sha256:1".into(),
            digests: vec![],
        });
        assert_eq!(
            verify(&bytes[..], &manifest, |_| {}),
            Err(Problem::Missing {
                reference: "s:1".into(),
                id: "sha256:1".into()
            })
        );
    }

    #[test]
    fn a_second_entry_under_the_same_name_is_refused() {
        let (mut bytes, manifest) = archive(None);
        // Drop the end-of-archive blocks and append another `a/layer.tar`.
        while bytes.ends_with(&[0u8; 512]) {
            bytes.truncate(bytes.len() - 512);
        }
        let mut extra = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_cksum();
        extra
            .append_data(&mut h, "a/layer.tar", &b"bad"[..])
            .unwrap();
        bytes.extend(extra.into_inner().unwrap());
        assert!(matches!(
            verify(&bytes[..], &manifest, |_| {}),
            Err(Problem::Unexpected(m)) if m.contains("a/layer.tar appears twice")
        ));
    }

    #[test]
    fn tags_in_the_archive_are_refused() {
        let (bytes, manifest) = archive(Some(&["pg:15"]));
        assert!(matches!(
            verify(&bytes[..], &manifest, |_| {}),
            Err(Problem::Unexpected(m)) if m.contains("pg:15")
        ));
    }

    #[test]
    fn other_files_are_not_archives() {
        assert!(matches!(
            read_manifest(&b"short"[..]),
            Err(Problem::Unreadable(_))
        ));
        let mut plain = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_cksum();
        plain
            .append_data(&mut h, "manifest.json", &b"[]"[..])
            .unwrap();
        let bytes = plain.into_inner().unwrap();
        assert!(matches!(
            read_manifest(&bytes[..]),
            Err(Problem::NoManifest(m)) if m.contains("manifest.json")
        ));
    }

    #[test]
    fn links_resolve_relative_to_their_directory() {
        assert_eq!(resolve_link("a/layer.tar", "../b/layer.tar"), "b/layer.tar");
        assert_eq!(resolve_link("a/layer.tar", "layer2.tar"), "a/layer2.tar");
    }
}
