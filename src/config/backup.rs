//! `backup:`: when the daemon takes backups, how many it keeps, and where; `backup.offsite:`,
//! the S3-compatible bucket each scheduled backup is copied to (optionally encrypted with age).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::error::{Problem, problem_t};
use super::messages::M;

/// Daily, the last seven kept: a week to notice that something went wrong.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(86_400);
pub const DEFAULT_KEEP: u32 = 7;
/// Shorter would mostly wear the disk; it is allowed for trying the schedule out.
const MIN_EVERY: Duration = Duration::from_secs(10);

/// `backup:` as written.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawBackup {
    /// `off`, or a number with `s`, `m`, `h`, `d` or `w`.
    pub every: Option<String>,
    pub keep: Option<u32>,
    pub dir: Option<PathBuf>,
    pub offsite: Option<RawOffsite>,
}

/// `backup.offsite:` as written.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawOffsite {
    pub endpoint: Option<String>,
    pub bucket: Option<String>,
    pub region: Option<String>,
    pub prefix: Option<String>,
    pub access_key_file: Option<PathBuf>,
    pub secret_key_file: Option<PathBuf>,
    /// An age public key (`age1...`): the bucket then holds only ciphertext.
    pub recipient: Option<String>,
    pub keep: Option<u32>,
    pub virtual_host: Option<bool>,
}

/// The daemon's backup schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupSchedule {
    /// `None`: no scheduled backups (`backup create` still works).
    pub every: Option<Duration>,
    /// Scheduled archives of this server kept in `dir`; older ones are removed.
    pub keep: u32,
    /// `None`: `<state>/backups`.
    pub dir: Option<PathBuf>,
    /// `None`: backups stay on this host.
    pub offsite: Option<Offsite>,
}

/// Where each scheduled backup is copied off the host: an S3-compatible bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Offsite {
    /// `https://host[:port]` (`http://` only for a loopback address).
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    /// Put before each archive's name to make its key, e.g. `matrixbox/`.
    pub prefix: String,
    /// Files holding the access key id and the secret key, each alone (0600).
    pub access_key_file: PathBuf,
    pub secret_key_file: PathBuf,
    /// A checked age X25519 public key; `None`: archives are stored as they are.
    pub recipient: Option<String>,
    /// Scheduled archives of this server kept in the bucket.
    pub keep: u32,
    /// `bucket.host` instead of `host/bucket` (path style, which most S3-compatible servers take).
    pub virtual_host: bool,
}

/// Most S3-compatible servers ignore the region; AWS's own default.
pub const DEFAULT_REGION: &str = "us-east-1";

impl Default for BackupSchedule {
    fn default() -> Self {
        BackupSchedule {
            every: Some(DEFAULT_EVERY),
            keep: DEFAULT_KEEP,
            dir: None,
            offsite: None,
        }
    }
}

pub(super) fn check_backup(raw: RawBackup, problems: &mut Vec<Problem>) -> BackupSchedule {
    let every = match raw.every.as_deref().map(str::trim) {
        None => Some(DEFAULT_EVERY),
        Some("off") => None,
        Some(text) => match parse_every(text) {
            Some(every) if every >= MIN_EVERY => Some(every),
            _ => {
                problems.push(problem_t(
                    "backup.every",
                    (M::NotInterval, &[&text]),
                    Some((M::NotIntervalFix, &[])),
                ));
                None
            }
        },
    };
    let keep = raw.keep.unwrap_or(DEFAULT_KEEP);
    if keep == 0 {
        problems.push(problem_t(
            "backup.keep",
            (M::KeepZero, &[]),
            Some((M::KeepZeroFix, &[&DEFAULT_KEEP])),
        ));
    }
    if let Some(dir) = &raw.dir
        && !dir.is_absolute()
    {
        problems.push(problem_t(
            "backup.dir",
            (M::NotAbsolute, &[&dir.display()]),
            Some((M::BackupDirFix, &[])),
        ));
    }
    let offsite = raw.offsite.and_then(|o| check_offsite(o, keep, problems));
    BackupSchedule {
        every,
        keep,
        dir: raw.dir,
        offsite,
    }
}

fn check_offsite(raw: RawOffsite, keep: u32, problems: &mut Vec<Problem>) -> Option<Offsite> {
    let before = problems.len();
    let mut required = |value: Option<String>, key: &str, fix: M| -> String {
        match value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
        {
            Some(v) => v,
            None => {
                problems.push(problem_t(
                    format!("backup.offsite.{key}"),
                    (M::Missing, &[]),
                    Some((fix, &[])),
                ));
                String::new()
            }
        }
    };
    let endpoint = required(raw.endpoint, "endpoint", M::EndpointFix);
    let bucket = required(raw.bucket, "bucket", M::BucketFix);
    if !endpoint.is_empty()
        && let Err(reason) = check_endpoint(&endpoint)
    {
        problems.push(problem_t(
            "backup.offsite.endpoint",
            (reason, &[&endpoint]),
            Some((M::EndpointFix, &[])),
        ));
    }
    if !bucket.is_empty() && !bucket_name_ok(&bucket) {
        problems.push(problem_t(
            "backup.offsite.bucket",
            (M::NotBucket, &[&bucket]),
            Some((M::BucketFix, &[])),
        ));
    }
    let prefix = raw.prefix.unwrap_or_default();
    if prefix.starts_with('/') || prefix.chars().any(|c| c.is_control()) {
        problems.push(problem_t(
            "backup.offsite.prefix",
            (M::NotPrefix, &[&prefix]),
            Some((M::PrefixFix, &[])),
        ));
    }
    let mut key_file = |value: Option<PathBuf>, key: &str| -> PathBuf {
        let path = format!("backup.offsite.{key}");
        match value {
            None => problems.push(problem_t(
                path,
                (M::Missing, &[]),
                Some((M::KeyFileFix, &[])),
            )),
            Some(ref file) if !file.is_absolute() => problems.push(problem_t(
                path,
                (M::NotAbsolute, &[&file.display()]),
                Some((M::KeyFileFix, &[])),
            )),
            Some(_) => {}
        }
        value.unwrap_or_default()
    };
    let access_key_file = key_file(raw.access_key_file, "access_key_file");
    let secret_key_file = key_file(raw.secret_key_file, "secret_key_file");
    let recipient = raw.recipient.map(|r| r.trim().to_string());
    if let Some(text) = &recipient
        && text.parse::<age::x25519::Recipient>().is_err()
    {
        problems.push(problem_t(
            "backup.offsite.recipient",
            (M::NotRecipient, &[text]),
            Some((M::RecipientFix, &[])),
        ));
    }
    let offsite_keep = raw.keep.unwrap_or(keep);
    if offsite_keep == 0 {
        problems.push(problem_t(
            "backup.offsite.keep",
            (M::KeepZero, &[]),
            Some((M::OffsiteKeepFix, &[])),
        ));
    }
    (problems.len() == before).then(|| Offsite {
        endpoint: endpoint.trim_end_matches('/').to_string(),
        bucket,
        region: raw
            .region
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| DEFAULT_REGION.into()),
        prefix,
        access_key_file,
        secret_key_file,
        recipient,
        keep: offsite_keep,
        virtual_host: raw.virtual_host.unwrap_or(false),
    })
}

/// `https://host[:port]`, or `http://` to a loopback address: over plain HTTP anyone on the path
/// reads the archives (when not encrypted) and every object's name.
fn check_endpoint(text: &str) -> Result<(), M> {
    let uri: http::Uri = text.parse().map_err(|_| M::NotEndpoint)?;
    let host = uri.host().ok_or(M::NotEndpoint)?;
    if uri
        .path_and_query()
        .is_some_and(|p| !matches!(p.as_str(), "" | "/"))
    {
        return Err(M::NotEndpoint);
    }
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if is_loopback(host) => Ok(()),
        Some("http") => Err(M::EndpointPlain),
        _ => Err(M::NotEndpoint),
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// S3's rules: 3 to 63 lowercase letters, digits, `-` and `.`, starting and ending with a letter
/// or digit.
fn bucket_name_ok(name: &str) -> bool {
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && ends_ok(name.chars().next())
        && ends_ok(name.chars().last())
}

/// `90s`, `30m`, `12h`, `1d`, `1w`.
pub(super) fn parse_every(text: &str) -> Option<Duration> {
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(unit_at);
    let seconds: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(
        number.parse::<u64>().ok()?.checked_mul(seconds)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    fn check(raw: RawBackup) -> (BackupSchedule, Vec<String>) {
        let mut problems = vec![];
        let schedule = check_backup(raw, &mut problems);
        (schedule, problems.iter().map(|p| p.path.clone()).collect())
    }

    #[test]
    fn defaults_are_daily_keeping_seven_under_the_state_dir() {
        let (schedule, problems) = check(RawBackup::default());
        assert_eq!(schedule, BackupSchedule::default());
        assert_eq!(schedule.every, Some(Duration::from_secs(86_400)));
        assert!(problems.is_empty());
    }

    #[test]
    fn intervals_and_off() {
        for (text, every) in [
            ("off", None),
            ("10s", Some(10)),
            ("30m", Some(1_800)),
            ("12h", Some(43_200)),
            ("1d", Some(86_400)),
            ("2w", Some(1_209_600)),
        ] {
            let raw = RawBackup {
                every: Some(text.into()),
                ..Default::default()
            };
            let (schedule, problems) = check(raw);
            assert_eq!(schedule.every, every.map(Duration::from_secs), "{text}");
            assert!(problems.is_empty(), "{text}");
        }
    }

    #[test]
    fn every_problem_is_named_by_its_path() {
        for text in [
            "daily",
            "5s",
            "0h",
            "1y",
            "h",
            "-1d",
            "99999999999999999999d",
        ] {
            let raw = RawBackup {
                every: Some(text.into()),
                ..Default::default()
            };
            assert_eq!(check(raw).1, ["backup.every"], "{text}");
        }
        let raw = RawBackup {
            keep: Some(0),
            dir: Some("backups".into()),
            ..Default::default()
        };
        assert_eq!(check(raw).1, ["backup.keep", "backup.dir"]);
    }

    const RECIPIENT: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    fn offsite(raw: RawOffsite) -> (Option<Offsite>, Vec<String>) {
        let (schedule, problems) = check(RawBackup {
            offsite: Some(raw),
            ..Default::default()
        });
        (schedule.offsite, problems)
    }

    fn good_offsite() -> RawOffsite {
        RawOffsite {
            endpoint: Some("https://s3.example.com/".into()),
            bucket: Some("matrix-backups".into()),
            access_key_file: Some("/etc/matrixbox/s3-access-key".into()),
            secret_key_file: Some("/etc/matrixbox/s3-secret-key".into()),
            ..Default::default()
        }
    }

    #[test]
    fn offsite_defaults_and_a_recipient() {
        let (o, problems) = offsite(good_offsite());
        assert!(problems.is_empty(), "{problems:?}");
        let o = o.unwrap();
        assert_eq!(o.endpoint, "https://s3.example.com");
        assert_eq!(o.region, "us-east-1");
        assert_eq!(o.prefix, "");
        assert_eq!(o.keep, DEFAULT_KEEP, "the local keep by default");
        assert_eq!(o.recipient, None);
        assert!(!o.virtual_host);
        let (o, problems) = offsite(RawOffsite {
            recipient: Some(RECIPIENT.into()),
            keep: Some(30),
            prefix: Some("matrixbox/".into()),
            ..good_offsite()
        });
        assert!(problems.is_empty(), "{problems:?}");
        let o = o.unwrap();
        assert_eq!(o.recipient.as_deref(), Some(RECIPIENT));
        assert_eq!((o.keep, o.prefix.as_str()), (30, "matrixbox/"));
    }

    #[test]
    fn offsite_problems_read_in_both_languages() {
        let (_, problems) = {
            let mut problems = vec![];
            let raw = RawBackup {
                offsite: Some(RawOffsite {
                    endpoint: Some("http://s3.example.com".into()),
                    bucket: Some("My_Bucket".into()),
                    prefix: Some("/abs".into()),
                    access_key_file: Some("relative".into()),
                    recipient: Some("age1notakey".into()),
                    keep: Some(0),
                    ..Default::default()
                }),
                ..Default::default()
            };
            (check_backup(raw, &mut problems), problems)
        };
        for (lang, golden) in [
            (Lang::En, "config-offsite.en.txt"),
            (Lang::ZhCn, "config-offsite.zh_CN.txt"),
        ] {
            let text: String = problems
                .iter()
                .map(|p| {
                    let (message, hint) = p.text(lang);
                    format!("{}: {message}\n    {}\n", p.path, hint.unwrap_or_default())
                })
                .collect();
            crate::golden::assert_golden(golden, &text);
        }
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:9000",
            "http://[::1]:9000",
            "http://localhost:9000",
        ] {
            let raw = RawOffsite {
                endpoint: Some(ok.into()),
                ..good_offsite()
            };
            assert!(offsite(raw).1.is_empty(), "{ok}");
        }
        for bad in [
            "http://s3.example.com",
            "ftp://s3.example.com",
            "s3.example.com",
            "https://s3.example.com/bucket",
        ] {
            let raw = RawOffsite {
                endpoint: Some(bad.into()),
                ..good_offsite()
            };
            let (o, problems) = offsite(raw);
            assert_eq!(problems, ["backup.offsite.endpoint"], "{bad}");
            assert_eq!(o, None, "{bad}");
        }
    }

    #[test]
    fn every_offsite_problem_is_named_by_its_path() {
        let (o, problems) = offsite(RawOffsite::default());
        assert_eq!(o, None);
        assert_eq!(
            problems,
            [
                "backup.offsite.endpoint",
                "backup.offsite.bucket",
                "backup.offsite.access_key_file",
                "backup.offsite.secret_key_file"
            ]
        );
        let raw = RawOffsite {
            bucket: Some("My_Bucket".into()),
            prefix: Some("/abs".into()),
            access_key_file: Some("relative".into()),
            recipient: Some("age1notakey".into()),
            keep: Some(0),
            ..good_offsite()
        };
        assert_eq!(
            offsite(raw).1,
            [
                "backup.offsite.bucket",
                "backup.offsite.prefix",
                "backup.offsite.access_key_file",
                "backup.offsite.recipient",
                "backup.offsite.keep"
            ]
        );
    }
}
