//! The archive: a gzip-compressed tar whose members are hashed on the way in and out, with the
//! manifest as its last member, so a backup cut short has no manifest and is never accepted.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

use super::manifest::{Manifest, Member};
use super::{BackupError, MANIFEST};

/// More than any real manifest (a million media files); a bigger one is not ours.
const MANIFEST_LIMIT: u64 = 256 * 1024 * 1024;

/// Counts and hashes what is read through it, and moves the progress bar.
struct Hashing<'a, R> {
    inner: R,
    hash: Sha256,
    len: u64,
    progress: &'a ProgressBar,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        self.progress.inc(n as u64);
        Ok(n)
    }
}

impl<'a, R: Read> Hashing<'a, R> {
    fn new(inner: R, progress: &'a ProgressBar) -> Self {
        Hashing {
            inner,
            hash: Sha256::new(),
            len: 0,
            progress,
        }
    }

    fn finish(self) -> (u64, String) {
        (self.len, hex::encode(self.hash.finalize()))
    }
}

/// Writes members into a compressed tar and remembers each one's size and sha256.
pub struct Writer<W: Write> {
    tar: tar::Builder<GzEncoder<W>>,
    members: Vec<Member>,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Self {
        let mut tar = tar::Builder::new(GzEncoder::new(out, Compression::default()));
        tar.mode(tar::HeaderMode::Deterministic);
        Writer {
            tar,
            members: Vec::new(),
        }
    }

    /// Appends `size` bytes of `data` as `path`; fails when the source holds fewer (a file that
    /// shrank while it was read).
    pub fn append(
        &mut self,
        path: &str,
        size: u64,
        data: impl Read,
        progress: &ProgressBar,
    ) -> io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o600);
        header.set_entry_type(tar::EntryType::Regular);
        let mut reader = Hashing::new(data.take(size), progress);
        self.tar.append_data(&mut header, path, &mut reader)?;
        let (len, sha256) = reader.finish();
        if len != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{path} shrank from {size} to {len} bytes while it was read"),
            ));
        }
        self.members.push(Member {
            path: path.into(),
            size,
            sha256,
        });
        Ok(())
    }

    /// Appends the manifest (its members are the ones written) and ends the stream.
    pub fn finish(mut self, mut manifest: Manifest) -> io::Result<(W, Manifest)> {
        manifest.members = std::mem::take(&mut self.members);
        let text = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o600);
        self.tar.append_data(&mut header, MANIFEST, &text[..])?;
        let out = self.tar.into_inner()?.finish()?;
        Ok((out, manifest))
    }
}

/// Whether `path` is a name a matrixbox backup can hold: restore writes only these, so an archive
/// cannot place a file anywhere else (no `..`, no absolute path, no other directory).
pub fn allowed_member(path: &str) -> bool {
    let safe = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '='))
    };
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [super::CONFIG_MEMBER] | [super::DATABASE_MEMBER] => true,
        ["secrets", name] => safe(name) && !name.starts_with('.'),
        ["media", kind, rest @ ..] => {
            super::MEDIA_KINDS.contains(kind) && !rest.is_empty() && rest.iter().all(|p| safe(p))
        }
        _ => false,
    }
}

/// Reads the whole archive: hands each member to `visit` (which may read it or not) while
/// hashing it, and checks every member against the manifest at the end. The first problem is
/// returned, naming the member.
pub fn scan(
    input: impl Read,
    progress: &ProgressBar,
    mut visit: impl FnMut(&str, &mut dyn Read) -> Result<(), BackupError>,
) -> Result<Manifest, BackupError> {
    let mut archive = tar::Archive::new(GzDecoder::new(input));
    let mut found: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut manifest: Option<Manifest> = None;
    let mut last: Option<String> = None;
    let damaged = |last: &Option<String>, source: io::Error| BackupError::Damaged {
        after: last.clone(),
        source,
    };
    let entries = archive.entries().map_err(|e| damaged(&None, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| damaged(&last, e))?;
        let path = entry
            .path()
            .map_err(|e| damaged(&last, e))?
            .to_string_lossy()
            .into_owned();
        let size = entry.header().size().map_err(|e| damaged(&last, e))?;
        if manifest.is_some() {
            return Err(BackupError::AfterManifest { member: path });
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(BackupError::Unexpected { member: path });
        }
        if path == MANIFEST {
            if size > MANIFEST_LIMIT {
                return Err(BackupError::Unexpected { member: path });
            }
            let mut text = Vec::new();
            entry
                .read_to_end(&mut text)
                .map_err(|e| member_damaged(&path, e))?;
            manifest = Some(
                serde_json::from_slice(&text)
                    .map_err(|e| BackupError::BadManifest(e.to_string()))?,
            );
            continue;
        }
        if !allowed_member(&path) {
            return Err(BackupError::Unexpected { member: path });
        }
        if found.contains_key(&path) {
            return Err(BackupError::Duplicate { member: path });
        }
        let mut reader = Hashing::new(&mut entry, progress);
        visit(&path, &mut reader)?;
        io::copy(&mut reader, &mut io::sink()).map_err(|e| member_damaged(&path, e))?;
        found.insert(path.clone(), reader.finish());
        last = Some(path);
    }
    // The tar ends before the gzip trailer: reading to its end checks the stream's CRC.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| damaged(&last, e))?;
    let manifest = manifest.ok_or(BackupError::NoManifest)?;
    check_members(&manifest, &found)?;
    Ok(manifest)
}

fn member_damaged(member: &str, source: io::Error) -> BackupError {
    BackupError::Damaged {
        after: Some(member.into()),
        source,
    }
}

/// Pure: every member the manifest lists is in the archive with its size and checksum, and the
/// archive holds nothing else.
pub fn check_members(
    manifest: &Manifest,
    found: &BTreeMap<String, (u64, String)>,
) -> Result<(), BackupError> {
    let mut listed = std::collections::BTreeSet::new();
    for member in &manifest.members {
        listed.insert(member.path.as_str());
        let Some((size, sha256)) = found.get(&member.path) else {
            return Err(BackupError::Missing {
                member: member.path.clone(),
            });
        };
        if *size != member.size || *sha256 != member.sha256 {
            return Err(BackupError::Checksum {
                member: member.path.clone(),
                expected: format!("{} bytes, sha256 {}", member.size, member.sha256),
                found: format!("{size} bytes, sha256 {sha256}"),
            });
        }
    }
    if let Some(extra) = found.keys().find(|p| !listed.contains(p.as_str())) {
        return Err(BackupError::Unlisted {
            member: extra.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: super::super::manifest::FORMAT,
            created: "2026-11-27T20:00:00Z".into(),
            server_name: "example.org".into(),
            matrixbox_version: "0.1.0".into(),
            synapse_version: "1.163.2".into(),
            postgres_version: "15.14".into(),
            signing_key_id: "ed25519:a_abc".into(),
            members: vec![],
        }
    }

    fn build(members: &[(&str, &[u8])]) -> Vec<u8> {
        let bar = ProgressBar::hidden();
        let mut w = Writer::new(Vec::new());
        for (path, data) in members {
            w.append(path, data.len() as u64, *data, &bar).unwrap();
        }
        w.finish(manifest()).unwrap().0
    }

    fn scan_all(bytes: &[u8]) -> Result<Manifest, BackupError> {
        scan(bytes, &ProgressBar::hidden(), |_, _| Ok(()))
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        out
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn a_written_archive_verifies_and_lists_every_member() {
        let bytes = build(&[
            ("matrixbox.yaml", b"domain: x\n"),
            ("secrets/signing.key", b"ed25519 a_abc AAAA\n"),
            ("media/local_content/ab/cd/efgh", b"\x89PNG image"),
        ]);
        let m = scan_all(&bytes).unwrap();
        assert_eq!(m.members.len(), 3);
        assert_eq!(m.members[2].path, "media/local_content/ab/cd/efgh");
        assert_eq!(m.members[2].size, 10);
        assert_eq!(
            m.members[0].sha256,
            hex::encode(Sha256::digest(b"domain: x\n"))
        );
    }

    #[test]
    fn a_flipped_byte_names_its_member() {
        let bytes = build(&[
            ("matrixbox.yaml", b"domain: x\n"),
            ("media/local_content/ab/cd/efgh", b"some image bytes"),
        ]);
        let mut tar = gunzip(&bytes);
        let at = tar
            .windows(16)
            .position(|w| w == b"some image bytes")
            .unwrap();
        tar[at + 3] ^= 0x20;
        let err = scan_all(&gzip(&tar)).unwrap_err();
        assert!(
            matches!(&err, BackupError::Checksum { member, .. } if member == "media/local_content/ab/cd/efgh"),
            "{err:?}"
        );
    }

    #[test]
    fn a_cut_archive_has_no_manifest_and_is_refused() {
        let bytes = build(&[
            ("matrixbox.yaml", b"domain: x\n"),
            ("database.pgdump", &[7; 5000]),
        ]);
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            let err = scan_all(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(err, BackupError::Damaged { .. } | BackupError::NoManifest),
                "cut at {cut}: {err:?}"
            );
        }
        // A complete tar without a manifest (the writer killed before its last member).
        let mut w = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        w.append_data(&mut h, "matrixbox.yaml", &b"abc"[..])
            .unwrap();
        let err = scan_all(&gzip(&w.into_inner().unwrap())).unwrap_err();
        assert!(matches!(err, BackupError::NoManifest), "{err:?}");
    }

    #[test]
    fn only_known_member_names_are_accepted() {
        for ok in [
            "matrixbox.yaml",
            "database.pgdump",
            "secrets/postgres_password",
            "media/local_thumbnails/ab/cd/efgh/32-32-image-png",
        ] {
            assert!(allowed_member(ok), "{ok}");
        }
        for bad in [
            "../etc/passwd",
            "/etc/passwd",
            "secrets/../../x",
            "secrets/.hidden",
            "secrets/a/b",
            "media/remote_content/x",
            "media/local_content/../../../x",
            "media/local_content",
            "media/local_content//x",
            "synapse/homeserver.yaml",
        ] {
            assert!(!allowed_member(bad), "{bad}");
        }
    }

    #[test]
    fn a_member_missing_from_the_manifest_or_the_archive_is_named() {
        let mut m = manifest();
        m.members = vec![Member {
            path: "database.pgdump".into(),
            size: 1,
            sha256: "aa".into(),
        }];
        let mut found = BTreeMap::new();
        let err = check_members(&m, &found).unwrap_err();
        assert!(matches!(err, BackupError::Missing { member } if member == "database.pgdump"));
        found.insert("database.pgdump".to_string(), (1, "aa".to_string()));
        found.insert("secrets/x".to_string(), (1, "bb".to_string()));
        let err = check_members(&m, &found).unwrap_err();
        assert!(matches!(err, BackupError::Unlisted { member } if member == "secrets/x"));
    }
}
