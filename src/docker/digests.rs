//! Image digests: `name:tag@sha256:…` pins, and the record of what each tag resolved to the first
//! time matrixbox used it, so a tag re-pushed with other contents is refused instead of run.

use std::collections::BTreeMap;
use std::path::Path;

use crate::fsio::{self, FsError};

/// Splits `name:tag@sha256:…` into the reference without the digest and the digest.
pub fn split_pin(image: &str) -> (&str, Option<&str>) {
    match image.split_once('@') {
        Some((reference, digest)) => (reference, Some(digest)),
        None => (image, None),
    }
}

/// Whether `digest` is a content digest the engine can pin: `sha256:` and 64 lowercase hex digits.
pub fn is_sha256_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// What the engine reports for a local image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageDigests {
    /// `repository@sha256:…`, one per registry it was pulled from; empty for built or loaded images.
    pub repo_digests: Vec<String>,
    /// The image ID (digest of its configuration).
    pub id: String,
}

impl ImageDigests {
    fn digests(&self) -> impl Iterator<Item = &str> {
        self.repo_digests
            .iter()
            .filter_map(|r| r.split_once('@').map(|(_, d)| d))
    }

    /// Whether this image is the one `digest` names (a registry digest or the image ID).
    pub fn has(&self, digest: &str) -> bool {
        self.id == digest || self.digests().any(|d| d == digest)
    }

    /// The digest worth recording: the registry's for `reference`'s repository when there is one,
    /// else the image ID. Another registry's digest is never recorded: it is there only while
    /// someone keeps that push or pull around, and its removal would look like a changed tag.
    pub fn primary(&self, reference: &str) -> String {
        let repo = canonical(repository(reference));
        self.repo_digests
            .iter()
            .find_map(|r| {
                r.split_once('@')
                    .filter(|(r, _)| canonical(r) == repo)
                    .map(|(_, d)| d)
            })
            .unwrap_or(&self.id)
            .to_string()
    }
}

/// Whether a reference (without digest) names a tag, so pulling it does not mean `latest`.
pub fn has_tag(reference: &str) -> bool {
    repository(reference) != reference
}

/// Docker Hub's spellings of one repository (`docker.io/library/postgres`, `postgres`) as the
/// engine reports them in `RepoDigests`.
fn canonical(repository: &str) -> &str {
    let path = repository
        .strip_prefix("docker.io/")
        .or_else(|| repository.strip_prefix("index.docker.io/"));
    match path {
        Some(path) => path.strip_prefix("library/").unwrap_or(path),
        None => repository,
    }
}

/// `host:5000/name:tag` → `host:5000/name`: a colon after the last slash starts the tag.
fn repository(reference: &str) -> &str {
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].find(':') {
        Some(colon) => &reference[..slash + colon],
        None => reference,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Already recorded as this digest.
    Accept,
    /// First use, or the pin vouches for a new digest: write it to the record.
    Record(String),
    /// The pin does not match the image.
    PinMismatch { found: String },
    /// The tag now names another image than the one recorded.
    Changed { recorded: String, found: String },
}

/// Decides about one image. A pin is checked first and, when it matches, overrides the record:
/// pinning the new digest is how the administrator accepts a changed tag.
pub fn judge(
    reference: &str,
    pinned: Option<&str>,
    recorded: Option<&str>,
    observed: &ImageDigests,
) -> Verdict {
    let found = observed.primary(reference);
    if let Some(pin) = pinned {
        if !observed.has(pin) {
            return Verdict::PinMismatch { found };
        }
        return match recorded {
            Some(r) if r == pin => Verdict::Accept,
            _ => Verdict::Record(pin.to_string()),
        };
    }
    match recorded {
        None => Verdict::Record(found),
        Some(r) if observed.has(r) => Verdict::Accept,
        Some(r) => Verdict::Changed {
            recorded: r.to_string(),
            found,
        },
    }
}

/// The record file: image reference (without digest, mirror prefix included) → digest.
pub type Record = BTreeMap<String, String>;

pub fn load(path: &Path) -> Result<Record, FsError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Record::new()),
        Err(source) => {
            return Err(FsError {
                action: "read",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| FsError {
        action: "parse the image digest record",
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

/// Writes the record atomically; the state directory already exists (secrets live there).
pub fn save(path: &Path, record: &Record) -> Result<(), FsError> {
    let mut json = serde_json::to_vec_pretty(record).expect("a string map always serialises");
    json.push(b'\n');
    fsio::write_atomic(path, &json, 0o600)
}

/// Registry digests an `images import` archive vouched for, by image ID: a loaded image has no
/// registry digest of its own, and its pin is checked against these once its ID is verified.
pub type Vouched = BTreeMap<String, Vec<String>>;

/// The vouched digests live next to the record.
pub fn vouched_path(record: &Path) -> std::path::PathBuf {
    record.with_file_name("image-imports.json")
}

pub fn load_vouched(path: &Path) -> Result<Vouched, FsError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| FsError {
            action: "parse the imported image digests",
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vouched::new()),
        Err(source) => Err(FsError {
            action: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

pub fn save_vouched(path: &Path, vouched: &Vouched) -> Result<(), FsError> {
    let mut json = serde_json::to_vec_pretty(vouched).expect("a string map always serialises");
    json.push(b'\n');
    fsio::write_atomic(path, &json, 0o600)
}

/// Whether an import vouched that the image `observed` is the one `digest` names.
pub fn vouches(vouched: &Vouched, observed: &ImageDigests, digest: &str) -> bool {
    observed.has(digest)
        || vouched
            .get(&observed.id)
            .is_some_and(|d| d.iter().any(|d| d == digest))
}

/// `observed` with the vouched digests added as `reference`'s repository digests.
pub fn with_vouched(observed: &ImageDigests, reference: &str, vouched: &Vouched) -> ImageDigests {
    let mut out = observed.clone();
    let repo = repository(reference);
    for digest in vouched.get(&observed.id).into_iter().flatten() {
        if !out.has(digest) {
            out.repo_digests.push(format!("{repo}@{digest}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const ID: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn pulled(digest: &str) -> ImageDigests {
        ImageDigests {
            repo_digests: vec![
                format!("other.example/pg@{B}"),
                format!("127.0.0.1:5000/pg@{digest}"),
            ],
            id: ID.into(),
        }
    }

    fn local() -> ImageDigests {
        ImageDigests {
            repo_digests: vec![],
            id: ID.into(),
        }
    }

    const REF: &str = "127.0.0.1:5000/pg:15";

    #[test]
    fn pins_split_and_validate() {
        assert_eq!(
            split_pin(&format!("{REF}@{A}")),
            (REF, Some(A)),
            "the digest is split off"
        );
        assert_eq!(split_pin(REF), (REF, None));
        assert!(has_tag(REF));
        assert!(!has_tag("127.0.0.1:5000/pg"), "a registry port is no tag");
        assert!(is_sha256_digest(A));
        assert!(!is_sha256_digest("sha256:abc"));
        assert!(!is_sha256_digest(
            &A.to_uppercase().replace("SHA256", "sha256")
        ));
        assert!(!is_sha256_digest(&A.replace("sha256", "sha512")));
    }

    #[test]
    fn primary_prefers_the_references_repository_then_the_image_id() {
        assert_eq!(pulled(A).primary(REF), A);
        assert_eq!(pulled(A).primary(&format!("{REF}@{A}")), A);
        assert_eq!(
            pulled(A).primary("elsewhere/x:1"),
            ID,
            "another registry's digest comes and goes with that registry's reference"
        );
        let hub = ImageDigests {
            repo_digests: vec![format!("postgres@{A}")],
            id: ID.into(),
        };
        assert_eq!(hub.primary("docker.io/library/postgres:15"), A);
        assert_eq!(hub.primary("postgres:15"), A);
        assert_eq!(local().primary(REF), ID);
    }

    #[test]
    fn first_use_is_recorded() {
        assert_eq!(
            judge(REF, None, None, &pulled(A)),
            Verdict::Record(A.into())
        );
        assert_eq!(judge(REF, None, None, &local()), Verdict::Record(ID.into()));
    }

    #[test]
    fn same_digest_is_accepted() {
        assert_eq!(judge(REF, None, Some(A), &pulled(A)), Verdict::Accept);
        assert_eq!(judge(REF, None, Some(ID), &local()), Verdict::Accept);
        // Recorded as the ID before the image came from a registry: still the same image.
        assert_eq!(judge(REF, None, Some(ID), &pulled(A)), Verdict::Accept);
    }

    #[test]
    fn a_push_elsewhere_coming_and_going_changes_nothing() {
        // A local image someone pushed to another registry, then untagged again.
        let pushed = ImageDigests {
            repo_digests: vec![format!("127.0.0.1:5999/pg@{B}")],
            id: ID.into(),
        };
        let recorded = match judge("pg:15", None, None, &pushed) {
            Verdict::Record(d) => d,
            v => panic!("{v:?}"),
        };
        assert_eq!(
            judge("pg:15", None, Some(&recorded), &local()),
            Verdict::Accept
        );
    }

    #[test]
    fn a_changed_tag_is_refused() {
        let other = ImageDigests {
            repo_digests: vec![format!("127.0.0.1:5000/pg@{B}")],
            id: "sha256:22".into(),
        };
        assert_eq!(
            judge(REF, None, Some(A), &other),
            Verdict::Changed {
                recorded: A.into(),
                found: B.into()
            }
        );
    }

    #[test]
    fn a_wrong_pin_is_refused_whatever_the_record() {
        let other = ImageDigests {
            repo_digests: vec![format!("127.0.0.1:5000/pg@{B}")],
            id: "sha256:22".into(),
        };
        for recorded in [None, Some(A), Some(B)] {
            assert_eq!(
                judge(REF, Some(A), recorded, &other),
                Verdict::PinMismatch { found: B.into() }
            );
        }
    }

    #[test]
    fn a_matching_pin_overrides_the_record() {
        assert_eq!(judge(REF, Some(A), Some(A), &pulled(A)), Verdict::Accept);
        assert_eq!(
            judge(REF, Some(A), Some(B), &pulled(A)),
            Verdict::Record(A.into())
        );
        assert_eq!(
            judge(REF, Some(A), None, &pulled(A)),
            Verdict::Record(A.into())
        );
    }

    #[test]
    fn vouched_digests_count_for_the_image_id_they_were_vouched_for() {
        let mut vouched = Vouched::new();
        vouched.insert(ID.into(), vec![A.into()]);
        assert!(vouches(&vouched, &local(), A));
        assert!(!vouches(&vouched, &local(), B));
        let other = ImageDigests {
            repo_digests: vec![],
            id: "sha256:22".into(),
        };
        assert!(!vouches(&vouched, &other, A), "only for the verified ID");
        let seen = with_vouched(&local(), REF, &vouched);
        assert_eq!(judge(REF, Some(A), None, &seen), Verdict::Record(A.into()));
        assert_eq!(seen.primary(REF), A);
        let dir = tempfile::tempdir().unwrap();
        let path = vouched_path(&dir.path().join("image-digests.json"));
        assert!(load_vouched(&path).unwrap().is_empty());
        save_vouched(&path, &vouched).unwrap();
        assert_eq!(load_vouched(&path).unwrap(), vouched);
    }

    #[test]
    fn record_round_trips_and_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image-digests.json");
        assert!(load(&path).unwrap().is_empty());
        let mut record = Record::new();
        record.insert(REF.into(), A.into());
        save(&path, &record).unwrap();
        assert_eq!(load(&path).unwrap(), record);
        std::fs::write(&path, b"{not json").unwrap();
        let err = load(&path).unwrap_err();
        assert!(err.to_string().contains("image-digests.json"), "{err}");
        let hint = crate::diagnostic::Diagnostic::hint(&err).unwrap();
        assert!(hint.contains("damaged"), "{hint}");
    }
}
