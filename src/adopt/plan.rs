//! The pure part of `adopt`: which compose containers are the guide's, where their files are on
//! the host, what the user's homeserver.yaml says, which of its options travel as `synapse:`
//! overrides and which are matrixbox's own, and the matrixbox.yaml that results.

use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use super::AdoptError;
use crate::docker::compose::ComposeContainer;
use crate::yaml::{self, Mapping, Value};

/// The guide's two compose services.
pub const SYNAPSE_SERVICE: &str = "synapse";
pub const POSTGRES_SERVICE: &str = "postgres";
/// Where the official Synapse image reads its config unless told otherwise.
pub const DEFAULT_CONFIG: &str = "/data/homeserver.yaml";

/// homeserver.yaml options that matrixbox sets itself (from matrixbox.yaml, its secrets or its
/// own layout), so the user's values are not carried over: paths and listeners of the old
/// container, its database, secrets (carried as secrets instead), and the settings matrixbox
/// has typed keys for.
pub const MATRIXBOX_OWNS: &[&str] = &[
    "server_name",
    "public_baseurl",
    "pid_file",
    "log_config",
    "media_store_path",
    "signing_key_path",
    "listeners",
    "database",
    "macaroon_secret_key",
    "macaroon_secret_key_path",
    "form_secret",
    "form_secret_path",
    "registration_shared_secret",
    "registration_shared_secret_path",
    "trusted_key_servers",
    "suppress_key_server_warning",
    "enable_registration",
    "enable_registration_without_verification",
    "registration_requires_token",
];

/// Secrets of homeserver.yaml that keep their values: (matrixbox's secret file, option).
pub const CARRIED_SECRETS: [(&str, &str); 3] = [
    (crate::secrets::MACAROON_SECRET_KEY, "macaroon_secret_key"),
    (crate::secrets::FORM_SECRET, "form_secret"),
    (
        crate::secrets::REGISTRATION_SHARED_SECRET,
        "registration_shared_secret",
    ),
];

/// The guide's Synapse and PostgreSQL among a project's containers.
pub fn services(
    dir: &Path,
    containers: &[ComposeContainer],
) -> Result<(ComposeContainer, ComposeContainer), AdoptError> {
    let find = |service: &str| {
        let found: Vec<&ComposeContainer> =
            containers.iter().filter(|c| c.service == service).collect();
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(AdoptError::MissingService {
                dir: dir.to_path_buf(),
                service: service.into(),
                found: containers.iter().map(|c| c.service.clone()).collect(),
            }),
            many => Err(AdoptError::ScaledService {
                service: service.into(),
                containers: many.iter().map(|c| c.name.clone()).collect(),
            }),
        }
    };
    Ok((find(SYNAPSE_SERVICE)?, find(POSTGRES_SERVICE)?))
}

/// Where the Synapse command reads its config: `--config-path X`, `--config-path=X`, `-c X`.
pub fn config_path(command: &str) -> PathBuf {
    let words: Vec<&str> = command.split_whitespace().collect();
    for (i, word) in words.iter().enumerate() {
        if let Some(path) = word.strip_prefix("--config-path=") {
            return PathBuf::from(path);
        }
        if matches!(*word, "--config-path" | "-c")
            && let Some(path) = words.get(i + 1)
        {
            return PathBuf::from(path);
        }
    }
    PathBuf::from(DEFAULT_CONFIG)
}

/// The host path of `inside` (a path in the container) through the mount that holds it (the
/// longest matching destination). `None` when no mount holds it or it climbs out with `..`.
pub fn host_path(mounts: &[(PathBuf, PathBuf)], inside: &Path) -> Option<PathBuf> {
    if inside.components().any(|c| c == Component::ParentDir) {
        return None;
    }
    mounts
        .iter()
        .filter_map(|(host, dest)| {
            inside
                .strip_prefix(dest)
                .ok()
                .map(|rest| (host, dest, rest))
        })
        .max_by_key(|(_, dest, _)| dest.components().count())
        .map(|(host, _, rest)| {
            if rest.as_os_str().is_empty() {
                host.clone()
            } else {
                host.join(rest)
            }
        })
}

/// What the user's homeserver.yaml says that adoption needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Homeserver {
    pub server_name: String,
    pub public_baseurl: Option<String>,
    /// Paths in the Synapse container.
    pub signing_key_path: PathBuf,
    pub media_store_path: PathBuf,
    pub db_user: String,
    pub db_name: String,
    /// (matrixbox's secret file, value) for the secrets homeserver.yaml sets.
    pub secrets: Vec<(&'static str, String)>,
    /// The options carried over as `synapse:` overrides.
    pub overrides: Mapping,
    /// The options matrixbox sets itself, which are not carried (their names only).
    pub left: Vec<String>,
}

fn string(doc: &Mapping, key: &str) -> Option<String> {
    doc.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Reads homeserver.yaml's text; `config` is its path in the container (relative paths and the
/// signing key's default are resolved against its directory, as Synapse does).
pub fn homeserver(text: &str, config: &Path) -> Result<Homeserver, AdoptError> {
    let bad = |reason: String| AdoptError::BadHomeserver {
        path: config.to_path_buf(),
        reason,
    };
    let doc = match yaml::parse(text).map_err(|e| bad(e.message))? {
        Value::Mapping(m) => m,
        _ => return Err(bad("it is not a mapping of options".into())),
    };
    let server_name =
        string(&doc, "server_name").ok_or_else(|| bad("server_name is not set".into()))?;
    let dir = config.parent().unwrap_or(Path::new("/data"));
    let resolve = |p: String| {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { dir.join(p) }
    };
    let signing_key_path = string(&doc, "signing_key_path")
        .map(resolve)
        .unwrap_or_else(|| dir.join(format!("{server_name}.signing.key")));
    let media_store_path =
        resolve(string(&doc, "media_store_path").unwrap_or("media_store".into()));

    let database = doc.get("database").and_then(Value::as_mapping);
    let engine = database
        .and_then(|d| string(d, "name"))
        .unwrap_or("sqlite3".into());
    if engine != "psycopg2" {
        return Err(AdoptError::NotPostgres { engine });
    }
    let args = database
        .and_then(|d| d.get("args"))
        .and_then(Value::as_mapping)
        .cloned()
        .unwrap_or_default();
    let db_user =
        string(&args, "user").ok_or_else(|| bad("database.args.user is not set".into()))?;
    let db_name = string(&args, "database")
        .or_else(|| string(&args, "dbname"))
        .unwrap_or_else(|| db_user.clone());

    let secrets = CARRIED_SECRETS
        .iter()
        .filter_map(|(file, key)| string(&doc, key).map(|v| (*file, v)))
        .filter(|(_, v)| !v.trim().is_empty())
        .collect();
    let mut overrides = Mapping::new();
    let mut left = Vec::new();
    for (key, value) in doc.iter() {
        let name = key.as_str().unwrap_or_default();
        if MATRIXBOX_OWNS.contains(&name) {
            // The secrets travel as secrets; the plan names them there.
            if !CARRIED_SECRETS.iter().any(|(_, key)| *key == name) {
                left.push(name.to_string());
            }
        } else {
            overrides.insert(key.clone(), value.clone());
        }
    }
    Ok(Homeserver {
        public_baseurl: string(&doc, "public_baseurl"),
        server_name,
        signing_key_path,
        media_store_path,
        db_user,
        db_name,
        secrets,
        overrides,
        left,
    })
}

/// The signing key file's first line (`ed25519 a_xyz <base64 seed>`), checked; its key id.
pub fn signing_key(text: &str, path: &Path) -> Result<(String, String), AdoptError> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let parts: Vec<&str> = line.split_whitespace().collect();
    let valid = match parts.as_slice() {
        [alg, id, seed] => {
            *alg == "ed25519"
                && !id.is_empty()
                && STANDARD_NO_PAD
                    .decode(seed.trim_end_matches('='))
                    .is_ok_and(|s| s.len() == 32)
        }
        _ => false,
    };
    if !valid {
        return Err(AdoptError::BadSigningKey {
            path: path.to_path_buf(),
        });
    }
    Ok((format!("{}:{}", parts[0], parts[1]), line.to_string()))
}

/// The domain clients reach: public_baseurl's host, else the server name.
pub fn domain(hs: &Homeserver) -> String {
    hs.public_baseurl
        .as_deref()
        .and_then(|url| url.split_once("://").map(|(_, rest)| rest))
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .map(|host| match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name.to_string(),
            _ => host.to_string(),
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| hs.server_name.clone())
}

/// matrixbox.yaml after adoption: the existing file (or `setup`'s first file for `domain`) with
/// the carried options under `synapse:`. An existing `synapse:` keeps its own values; the file
/// is then written anew (its comments go), otherwise the block is appended.
pub fn config_text(existing: Option<&str>, hs: &Homeserver, domain: &str) -> String {
    let base = match existing {
        Some(text) => text.to_string(),
        None => {
            let server = (hs.server_name != domain).then_some(hs.server_name.as_str());
            crate::config::render_initial(domain, server, None)
        }
    };
    if hs.overrides.is_empty() {
        return base;
    }
    let doc = yaml::parse(&base).ok();
    match doc {
        Some(Value::Mapping(mut m)) if m.contains_key("synapse") => {
            let mine = m.get("synapse").cloned().unwrap_or(Value::Null);
            let mut merged = Value::Mapping(hs.overrides.clone());
            yaml::deep_merge(&mut merged, mine);
            m.insert("synapse".into(), merged);
            yaml::to_string(&Value::Mapping(m))
        }
        _ => {
            let mut block = Mapping::new();
            block.insert("synapse".into(), Value::Mapping(hs.overrides.clone()));
            let mut out = base;
            if !out.ends_with('\n') && !out.is_empty() {
                out.push('\n');
            }
            out.push_str(HEADER);
            out.push_str(&yaml::to_string(&Value::Mapping(block)));
            out
        }
    }
}

const HEADER: &str = "# The options of the old homeserver.yaml that matrixbox does not set itself\n\
                      # (carried over by `matrixbox adopt`):\n";

#[cfg(test)]
mod tests {
    use super::*;

    const GUIDE: &str = "server_name: \"example.org\"\n\
pid_file: /data/homeserver.pid\n\
public_baseurl: https://matrix.example.org/\n\
listeners:\n  - port: 8008\n    tls: false\n    type: http\n    x_forwarded: true\n    resources:\n      - names: [client, federation]\n\
database:\n  name: psycopg2\n  args:\n    user: synapse_user\n    password: hunter2\n    database: synapsedb\n    host: postgres\n    cp_min: 5\n\
log_config: \"/data/example.org.log.config\"\n\
media_store_path: /data/media_store\n\
registration_shared_secret: \"reg-secret\"\n\
report_stats: false\n\
macaroon_secret_key: \"mac-secret\"\n\
form_secret: \"form-secret\"\n\
signing_key_path: \"/data/example.org.signing.key\"\n\
trusted_key_servers:\n  - server_name: \"matrix.org\"\n\
enable_registration: true\n\
max_upload_size: 100M\n\
retention:\n  enabled: true\n";

    fn guide() -> Homeserver {
        homeserver(GUIDE, Path::new("/data/homeserver.yaml")).unwrap()
    }

    fn container(name: &str, service: &str) -> ComposeContainer {
        ComposeContainer {
            name: name.into(),
            service: service.into(),
            project: "matrix".into(),
            image: "img".into(),
            running: true,
            command: String::new(),
            mounts: vec![],
        }
    }

    #[test]
    fn the_guides_homeserver_yaml_is_read_and_split() {
        let hs = guide();
        assert_eq!(hs.server_name, "example.org");
        assert_eq!(
            hs.signing_key_path,
            Path::new("/data/example.org.signing.key")
        );
        assert_eq!(hs.media_store_path, Path::new("/data/media_store"));
        assert_eq!(
            (hs.db_user.as_str(), hs.db_name.as_str()),
            ("synapse_user", "synapsedb")
        );
        assert_eq!(
            hs.secrets,
            vec![
                ("macaroon_secret_key", "mac-secret".to_string()),
                ("form_secret", "form-secret".to_string()),
                ("registration_shared_secret", "reg-secret".to_string()),
            ]
        );
        let carried: Vec<&str> = hs.overrides.keys().filter_map(Value::as_str).collect();
        assert_eq!(carried, ["report_stats", "max_upload_size", "retention"]);
        for owned in [
            "database",
            "listeners",
            "trusted_key_servers",
            "enable_registration",
        ] {
            assert!(hs.left.iter().any(|k| k == owned), "{owned} is matrixbox's");
        }
        assert_eq!(domain(&hs), "matrix.example.org");
    }

    #[test]
    fn defaults_follow_synapse() {
        let text = "server_name: a.test\ndatabase:\n  name: psycopg2\n  args:\n    user: synapse\n";
        let hs = homeserver(text, Path::new("/data/homeserver.yaml")).unwrap();
        assert_eq!(hs.signing_key_path, Path::new("/data/a.test.signing.key"));
        assert_eq!(hs.media_store_path, Path::new("/data/media_store"));
        assert_eq!(hs.db_name, "synapse");
        assert_eq!(domain(&hs), "a.test");
        assert!(hs.overrides.is_empty());
    }

    #[test]
    fn sqlite_and_broken_files_are_refused() {
        let path = Path::new("/data/homeserver.yaml");
        let sqlite = "server_name: a.test\ndatabase:\n  name: sqlite3\n  args:\n    database: /data/homeserver.db\n";
        assert!(
            matches!(homeserver(sqlite, path), Err(AdoptError::NotPostgres { engine }) if engine == "sqlite3")
        );
        assert!(matches!(
            homeserver("- a\n", path),
            Err(AdoptError::BadHomeserver { .. })
        ));
        assert!(matches!(
            homeserver("report_stats: true\n", path),
            Err(AdoptError::BadHomeserver { .. })
        ));
        let no_user = "server_name: a.test\ndatabase:\n  name: psycopg2\n  args: {}\n";
        assert!(matches!(
            homeserver(no_user, path),
            Err(AdoptError::BadHomeserver { .. })
        ));
    }

    #[test]
    fn container_paths_map_through_the_longest_mount() {
        let mounts = vec![
            (PathBuf::from("/srv/matrix/data"), PathBuf::from("/data")),
            (
                PathBuf::from("/srv/media"),
                PathBuf::from("/data/media_store"),
            ),
        ];
        assert_eq!(
            host_path(&mounts, Path::new("/data/homeserver.yaml")),
            Some(PathBuf::from("/srv/matrix/data/homeserver.yaml"))
        );
        assert_eq!(
            host_path(&mounts, Path::new("/data/media_store")),
            Some(PathBuf::from("/srv/media"))
        );
        assert_eq!(host_path(&mounts, Path::new("/etc/passwd")), None);
        assert_eq!(host_path(&mounts, Path::new("/data/../etc/passwd")), None);
    }

    #[test]
    fn the_config_path_comes_from_the_command() {
        assert_eq!(config_path(""), Path::new(DEFAULT_CONFIG));
        assert_eq!(
            config_path("python -m synapse.app.homeserver --config-path /data/hs.yaml"),
            Path::new("/data/hs.yaml")
        );
        assert_eq!(
            config_path("x --config-path=/c/h.yaml"),
            Path::new("/c/h.yaml")
        );
        assert_eq!(config_path("x -c /c/h.yaml"), Path::new("/c/h.yaml"));
    }

    #[test]
    fn the_two_services_are_found_once_each() {
        let dir = Path::new("/srv/matrix");
        let both = [
            container("m-synapse-1", "synapse"),
            container("m-postgres-1", "postgres"),
        ];
        let (s, p) = services(dir, &both).unwrap();
        assert_eq!(
            (s.name.as_str(), p.name.as_str()),
            ("m-synapse-1", "m-postgres-1")
        );
        assert!(matches!(
            services(dir, &both[..1]),
            Err(AdoptError::MissingService { service, .. }) if service == "postgres"
        ));
        let scaled = [
            both[0].clone(),
            container("m-synapse-2", "synapse"),
            both[1].clone(),
        ];
        assert!(matches!(
            services(dir, &scaled),
            Err(AdoptError::ScaledService { .. })
        ));
    }

    #[test]
    fn signing_keys_are_checked_and_named() {
        let seed = STANDARD_NO_PAD.encode([7u8; 32]);
        let text = format!("ed25519 a_AbC {seed}\n");
        let (id, line) = signing_key(&text, Path::new("k")).unwrap();
        assert_eq!(id, "ed25519:a_AbC");
        assert_eq!(line, format!("ed25519 a_AbC {seed}"));
        for bad in ["", "ed25519 a_x", "rsa a_x AAAA", "ed25519 a_x c2hvcnQ"] {
            assert!(signing_key(bad, Path::new("k")).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_config_gets_the_carried_options_and_stays_valid() {
        let hs = guide();
        let fresh = config_text(None, &hs, &domain(&hs));
        let config = crate::config::parse(&fresh, Path::new("m.yaml")).unwrap();
        assert_eq!(config.server_name, "example.org");
        assert_eq!(config.domain, "matrix.example.org");
        assert!(config.synapse_overrides.contains_key("retention"));
        assert!(!config.synapse_overrides.contains_key("database"));

        // An existing file keeps its text (appended to), and its own `synapse:` values win.
        let existing = "domain: example.org\n# mine\n";
        let text = config_text(Some(existing), &hs, "ignored");
        assert!(text.starts_with(existing), "{text}");
        let mine = "domain: example.org\nsynapse:\n  max_upload_size: 5M\n";
        let text = config_text(Some(mine), &hs, "ignored");
        let config = crate::config::parse(&text, Path::new("m.yaml")).unwrap();
        assert_eq!(
            config.synapse_overrides["max_upload_size"],
            Value::from("5M")
        );
        assert!(config.synapse_overrides.contains_key("retention"));
    }
}
