//! `matrixbox status`: containers, images, health and where data lives; `--json` for scripts.

use serde::Serialize;

use crate::acme;
use crate::backup::{self, schedule};
use crate::diagnostic::ExitCode;
use crate::docker::engine::{self, EngineVersion};
use crate::docker::{Engine, Observed, Runtime};
use crate::i18n::{self, Lang, messages};
use crate::paths::Paths;
use crate::report::Exit;
use crate::secrets;
use crate::stack::Stack;
use crate::synapse::{self, admin::Synapse};
use crate::upgrade::{UpgradeError, plan::Plan};
use crate::wellknown;

#[derive(Serialize)]
struct Status {
    domain: String,
    server_name: String,
    docker: DockerStatus,
    containers: Vec<ContainerStatus>,
    synapse_health: Option<bool>,
    certificates: Vec<acme::CertStatus>,
    /// When user IDs use another name than the server's: what that name must publish.
    delegation: Option<Delegation>,
    /// Element Web, when `web_client:` is on.
    web_client: Option<WebClientStatus>,
    /// Synapse's workers that run (`workers:`); their containers are in `containers`.
    workers: Vec<crate::config::WorkerKind>,
    data: Data,
    backup: BackupStatus,
    /// The last `matrixbox upgrade`, when there was one.
    upgrade: Option<crate::upgrade::plan::Record>,
    /// Data directories of earlier PostgreSQL majors kept after a migration, until when each.
    old_postgres: Vec<crate::upgrade::kept::Kept>,
    healthy: bool,
}

/// The schedule and the last outcome (`backup::schedule::Record`).
#[derive(Serialize)]
struct BackupStatus {
    /// `None`: scheduled backups are off.
    every_seconds: Option<u64>,
    keep: u32,
    dir: String,
    #[serde(flatten)]
    record: schedule::Record,
    #[serde(skip)]
    freshness: schedule::Freshness,
    /// `backup.offsite`: where each scheduled backup is copied.
    offsite: Option<OffsiteStatus>,
}

#[derive(Serialize)]
struct OffsiteStatus {
    endpoint: String,
    bucket: String,
    prefix: String,
    encrypted: bool,
    keep: u32,
}

#[derive(Serialize)]
struct WebClientStatus {
    url: String,
    /// The served copy (`<state>/web/<image id>`); `None` until `run` has copied the files.
    files: Option<String>,
}

#[derive(Serialize)]
struct Delegation {
    url: String,
    document: String,
}

#[derive(Serialize)]
struct DockerStatus {
    host: String,
    #[serde(flatten)]
    version: Option<EngineVersion>,
    error: Option<String>,
}

#[derive(Serialize)]
struct ContainerStatus {
    name: String,
    image: String,
    /// None when the container does not exist.
    observed: Option<Observed>,
    /// False when `run` would recreate it (config or image changed).
    up_to_date: bool,
    /// Synapse runs another image than the configured one, which only `matrixbox upgrade` moves.
    upgrade_pending: bool,
}

#[derive(Serialize)]
struct Data {
    config: String,
    state_dir: String,
    postgres: String,
    synapse: String,
    secrets: String,
}

pub async fn status(paths: &Paths, json: bool) -> anyhow::Result<()> {
    let config = super::load_config(paths)?;
    let secrets = secrets::load(&paths.secrets_dir())?;
    let stack = Stack::new(config, paths.clone(), secrets);
    let show = |p: std::path::PathBuf| p.display().to_string();
    let data = Data {
        config: show(paths.config.clone()),
        state_dir: show(paths.state_dir.clone()),
        postgres: show(paths.postgres_dir()),
        synapse: show(paths.synapse_dir()),
        secrets: show(paths.secrets_dir()),
    };
    let record = schedule::load(paths);
    let backup = BackupStatus {
        every_seconds: stack.config.backup.every.map(|d| d.as_secs()),
        keep: stack.config.backup.keep,
        dir: show(schedule::dir(&stack.config, paths)),
        freshness: schedule::freshness(time::OffsetDateTime::now_utc().unix_timestamp(), &record),
        record,
        offsite: stack.config.backup.offsite.as_ref().map(|o| OffsiteStatus {
            endpoint: o.endpoint.clone(),
            bucket: o.bucket.clone(),
            prefix: o.prefix.clone(),
            encrypted: o.recipient.is_some(),
            keep: o.keep,
        }),
    };
    let mut status = Status {
        backup,
        domain: stack.config.domain.clone(),
        server_name: stack.config.server_name.clone(),
        docker: DockerStatus {
            host: engine::docker_host(),
            version: None,
            error: None,
        },
        containers: vec![],
        synapse_health: None,
        certificates: acme::status(paths),
        delegation: (stack.config.server_name != stack.config.domain).then(|| Delegation {
            url: format!(
                "https://{}/.well-known/matrix/server",
                stack.config.server_name
            ),
            document: wellknown::server(&stack.config),
        }),
        web_client: stack.config.web_client.as_ref().map(|web| WebClientStatus {
            url: format!("https://{}/", web.name),
            files: std::fs::canonicalize(crate::webclient::bundle::current_dir(paths))
                .ok()
                .filter(|dir| dir.join("index.html").is_file())
                .map(show),
        }),
        workers: stack.workers(),
        data,
        upgrade: crate::upgrade::last(paths),
        old_postgres: crate::upgrade::kept::list(paths, stack.config.keep_old_postgres),
        healthy: false,
    };
    let synapse = Synapse::new(synapse::upstream(&stack.config, paths));
    if stack.config.external_upstream.is_some() {
        // An existing Synapse: no containers of ours to report.
        status.synapse_health = Some(synapse.healthy().await);
    } else {
        match Engine::connect().await {
            Err(e) => status.docker.error = Some(e.to_string()),
            Ok(engine) => {
                match engine.version().await {
                    Ok(v) => status.docker.version = Some(v),
                    Err(e) => status.docker.error = Some(e.to_string()),
                }
                stack.resolve_images(&engine).await?;
                let pending = matches!(
                    crate::upgrade::check(&engine, &stack.config, paths).await,
                    Ok(Plan::Upgrade { .. }) | Err(UpgradeError::Downgrade { .. })
                );
                let synapse_spec = stack.desired_synapse_spec()?;
                let mut specs = vec![stack.postgres_spec()];
                if !status.workers.is_empty() {
                    let record = paths.image_digests();
                    let redis = engine
                        .resolve_local(&stack.config.redis_candidates, &record)
                        .await?;
                    specs.push(stack.redis_spec(redis));
                }
                let digest = &synapse_spec.files_digest;
                specs.extend(
                    (status.workers.iter()).map(|kind| stack.worker_spec(*kind, digest.clone())),
                );
                specs.insert(1, synapse_spec);
                for spec in specs {
                    let observed = engine.inspect(&spec.name).await?;
                    status.containers.push(ContainerStatus {
                        upgrade_pending: pending && spec.name == stack.names.synapse,
                        up_to_date: observed
                            .as_ref()
                            .is_some_and(|o| o.spec_hash.as_deref() == Some(&spec.hash())),
                        name: spec.name,
                        image: spec.image,
                        observed,
                    });
                }
                status.synapse_health = Some(synapse.healthy().await);
            }
        }
    }
    status.healthy = status.synapse_health == Some(true)
        && status.containers.iter().all(|c| {
            c.observed
                .as_ref()
                .is_some_and(|o| o.running && o.health.as_deref().is_none_or(|h| h == "healthy"))
        });

    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", render_text(&status, synapse.base(), Lang::current()));
    }
    if status.healthy {
        Ok(())
    } else {
        Err(Exit(ExitCode::Unhealthy).into())
    }
}

messages! {
    Homeserver => "https://{0}/  (user IDs: @name:{1})", "https://{0}/  (用户 ID：@用户名:{1})";
    Docker => "{0} (API {1}) at {2}", "{0}（API {1}），地址 {2}";
    DockerUnreachable => "unreachable at {0}: {1}", "无法连接 {0}：{1}";
    NotCreated => "not created (run `matrixbox run`)", "尚未创建（运行 `matrixbox run`）";
    OutOfDate => ", out of date: `matrixbox run` recreates it", "，已过期：`matrixbox run` 会重建它";
    UpgradePending => ", another image is configured: `matrixbox upgrade` moves it", "，配置了另一个镜像：由 `matrixbox upgrade` 迁移";
    SynapseHealthy => "healthy (/health at {0})", "健康（{0} 上的 /health）";
    SynapseDown => "not answering /health at {0}", "{0} 上的 /health 无应答";
    CertIssued => "{0}: issued by {1}, valid until {2}", "{0}：由 {1} 签发，有效期至 {2}";
    CertNextRenewal => "next renewal {0}", "下次续期 {0}";
    CertNone => "{0}: none stored yet", "{0}：尚无证书";
    CertInternal => "from the internal CA; clients must trust {0}", "由内部 CA 签发；客户端必须信任 {0}";
    CertFailing => "last renewal failed ({0} in a row): {1}", "上次续期失败（连续 {0} 次）：{1}";
    Delegation => "user IDs use another name: unless it points here, publish at {0}", "用户 ID 使用另一个域名：除非它已指向本机，请在 {0} 发布";
    DataDirs => "{0} (postgres/, synapse/, secrets/)", "{0}（postgres/、synapse/、secrets/）";
    LabelHomeserver => "homeserver", "主服务器";
    LabelDocker => "docker", "docker";
    LabelSynapse => "synapse", "synapse";
    LabelCertificate => "certificate", "证书";
    LabelDelegation => "delegation", "委托";
    LabelConfig => "config", "配置";
    LabelWebClient => "web client", "网页客户端";
    LabelWorkers => "workers", "workers";
    Workers => "{0}: the edge sends their requests to their sockets", "{0}：边缘代理把它们负责的请求转发到各自的套接字";
    WebFiles => "Element Web from {0}", "Element Web 文件：{0}";
    WebNoFiles => "its files are not in place yet: `matrixbox run` copies them from the image", "文件尚未就位：`matrixbox run` 会从镜像中复制";
    LabelData => "data", "数据";
    LabelBackup => "backups", "备份";
    LabelUpgrade => "upgrade", "升级";
    BackupGood => "last good {0} ago, {1}: {2}", "最近一次成功备份在 {0}前，{1}：{2}";
    BackupStale => "last good {0} ago, {1}: {2} (older than two days)", "最近一次成功备份在 {0}前，{1}：{2}（已超过两天）";
    BackupNever => "none yet", "尚无备份";
    BackupFailed => "last attempt failed: {0}", "上次备份失败：{0}";
    BackupSchedule => "every {0}, keeping {1} in {2}", "每 {0}一次，在 {2} 中保留 {1} 份";
    OffsitePushed => "off-host: last pushed {0} ago, {1}{2}: {3} in bucket {4} at {5} (keeping {6})", "异地副本：最近一次推送在 {0}前，{1}{2}：存储桶 {4}（{5}）中的 {3}（保留 {6} 份）";
    OffsiteEncrypted => ", encrypted", "，已加密";
    OffsiteNone => "off-host: none pushed yet to bucket {0} at {1}", "异地副本：尚未推送到存储桶 {0}（{1}）";
    BackupOff => "scheduled backups are off (`backup.every: off`); `matrixbox backup create` takes one", "定时备份已关闭（`backup.every: off`）；`matrixbox backup create` 可手动备份";
    Seconds => "{0} s", "{0} 秒";
    Minutes => "{0} min", "{0} 分钟";
    Hours => "{0} h", "{0} 小时";
    Days => "{0} d", "{0} 天";
}

/// A duration as a person reads it, in its largest whole unit.
fn span(d: std::time::Duration, lang: Lang) -> String {
    let minutes = d.as_secs() / 60;
    match minutes {
        0 | 1 => lang.t(M::Seconds, &[&d.as_secs()]),
        m if m < 120 => lang.t(M::Minutes, &[&m]),
        m if m < 48 * 60 => lang.t(M::Hours, &[&(m / 60)]),
        m => lang.t(M::Days, &[&(m / (24 * 60))]),
    }
}

fn backup_lines(b: &BackupStatus, lang: Lang) -> Vec<Line> {
    let path = |r: &schedule::Record| {
        r.last_good
            .as_ref()
            .map(|g| g.path.display().to_string())
            .unwrap_or_default()
    };
    let mut lines = vec![];
    let first =
        |text: String, lines: &mut Vec<Line>| lines.push(Line::Labelled(M::LabelBackup, text));
    match &b.freshness {
        schedule::Freshness::Never => first(lang.t(M::BackupNever, &[]), &mut lines),
        schedule::Freshness::Fresh { age, bytes } => first(
            lang.t(
                M::BackupGood,
                &[
                    &span(*age, lang),
                    &backup::human_bytes(*bytes),
                    &path(&b.record),
                ],
            ),
            &mut lines,
        ),
        schedule::Freshness::Stale { age, bytes } => first(
            lang.t(
                M::BackupStale,
                &[
                    &span(*age, lang),
                    &backup::human_bytes(*bytes),
                    &path(&b.record),
                ],
            ),
            &mut lines,
        ),
        schedule::Freshness::Failed { error, last_good } => {
            match (last_good, &b.record.last_good) {
                (Some(age), Some(good)) => first(
                    lang.t(
                        M::BackupGood,
                        &[
                            &span(*age, lang),
                            &backup::human_bytes(good.bytes),
                            &path(&b.record),
                        ],
                    ),
                    &mut lines,
                ),
                _ => first(lang.t(M::BackupNever, &[]), &mut lines),
            }
            lines.push(Line::Continued(lang.t(M::BackupFailed, &[error])));
        }
    }
    lines.push(Line::Continued(match b.every_seconds {
        Some(every) => lang.t(
            M::BackupSchedule,
            &[
                &span(std::time::Duration::from_secs(every), lang),
                &b.keep,
                &b.dir,
            ],
        ),
        None => lang.t(M::BackupOff, &[]),
    }));
    if let Some(o) = &b.offsite {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        lines.push(Line::Continued(match &b.record.last_push {
            Some(p) => lang.t(
                M::OffsitePushed,
                &[
                    &span(
                        std::time::Duration::from_secs(now.saturating_sub(p.at).max(0) as u64),
                        lang,
                    ),
                    &backup::human_bytes(p.bytes),
                    &if p.encrypted {
                        lang.t(M::OffsiteEncrypted, &[])
                    } else {
                        String::new()
                    },
                    &p.key,
                    &o.bucket,
                    &o.endpoint,
                    &o.keep,
                ],
            ),
            None => lang.t(M::OffsiteNone, &[&o.bucket, &o.endpoint]),
        }));
    }
    lines
}

/// The label column's width in display columns (Chinese labels take two per character).
const LABEL_COLUMNS: usize = 12;

enum Line {
    Labelled(M, String),
    /// More about the labelled line above, under its text.
    Continued(String),
    /// A row of the containers' table, which has no label.
    Table(String),
}

/// `status` for a person, in `lang`: one labelled line per part, continuation lines indented.
fn render_text(s: &Status, synapse_at: &str, lang: Lang) -> String {
    let mut lines: Vec<Line> = Vec::new();
    lines.push(Line::Labelled(
        M::LabelHomeserver,
        lang.t(M::Homeserver, &[&s.domain, &s.server_name]),
    ));
    lines.push(Line::Labelled(
        M::LabelDocker,
        match (&s.docker.version, &s.docker.error) {
            (Some(v), _) => lang.t(M::Docker, &[&v.version, &v.api, &s.docker.host]),
            (None, e) => lang.t(
                M::DockerUnreachable,
                &[&s.docker.host, &e.as_deref().unwrap_or("")],
            ),
        },
    ));
    for c in &s.containers {
        let state = match &c.observed {
            None => lang.t(M::NotCreated, &[]),
            Some(o) => {
                let health = o
                    .health
                    .as_deref()
                    .map(|h| format!(", {h}"))
                    .unwrap_or_default();
                let stale = if c.upgrade_pending {
                    lang.t(M::UpgradePending, &[])
                } else if c.up_to_date {
                    String::new()
                } else {
                    lang.t(M::OutOfDate, &[])
                };
                format!("{}{health}{stale}", o.status)
            }
        };
        lines.push(Line::Table(format!(
            "{:<20}  {:<40}  {state}",
            c.name, c.image
        )));
    }
    match s.synapse_health {
        Some(true) => lines.push(Line::Labelled(
            M::LabelSynapse,
            lang.t(M::SynapseHealthy, &[&synapse_at]),
        )),
        Some(false) => lines.push(Line::Labelled(
            M::LabelSynapse,
            lang.t(M::SynapseDown, &[&synapse_at]),
        )),
        None => {}
    }
    for cert in &s.certificates {
        let names = cert.names.join(", ");
        match (&cert.issuer, cert.not_after) {
            (Some(issuer), Some(not_after)) => {
                lines.push(Line::Labelled(
                    M::LabelCertificate,
                    lang.t(M::CertIssued, &[&names, issuer, &utc(not_after)]),
                ));
                if let Some(next) = cert.next_renewal {
                    lines.push(Line::Continued(lang.t(M::CertNextRenewal, &[&utc(next)])));
                }
            }
            _ => lines.push(Line::Labelled(
                M::LabelCertificate,
                lang.t(M::CertNone, &[&names]),
            )),
        }
        if let Some(root) = &cert.trust_root {
            lines.push(Line::Continued(lang.t(M::CertInternal, &[root])));
        }
        if let Some(error) = &cert.last_error {
            lines.push(Line::Continued(
                lang.t(M::CertFailing, &[&cert.failures, error]),
            ));
        }
    }
    if let Some(d) = &s.delegation {
        lines.push(Line::Labelled(
            M::LabelDelegation,
            lang.t(M::Delegation, &[&d.url]),
        ));
        lines.push(Line::Continued(d.document.clone()));
    }
    lines.extend(backup_lines(&s.backup, lang));
    if let Some(record) = &s.upgrade {
        lines.push(Line::Labelled(
            M::LabelUpgrade,
            crate::upgrade::messages::last(lang, record),
        ));
    }
    for kept in &s.old_postgres {
        lines.push(Line::Labelled(
            M::LabelUpgrade,
            crate::upgrade::kept::describe(lang, kept),
        ));
    }
    if let Some(web) = &s.web_client {
        let files = match &web.files {
            Some(dir) => lang.t(M::WebFiles, &[dir]),
            None => lang.t(M::WebNoFiles, &[]),
        };
        lines.push(Line::Labelled(M::LabelWebClient, web.url.clone()));
        lines.push(Line::Continued(files));
    }
    if !s.workers.is_empty() {
        let names: Vec<&str> = s.workers.iter().map(|k| k.name()).collect();
        lines.push(Line::Labelled(
            M::LabelWorkers,
            lang.t(M::Workers, &[&names.join(", ")]),
        ));
    }
    lines.push(Line::Labelled(M::LabelConfig, s.data.config.clone()));
    lines.push(Line::Labelled(
        M::LabelData,
        lang.t(M::DataDirs, &[&s.data.state_dir]),
    ));
    lines
        .into_iter()
        .map(|line| match line {
            Line::Labelled(label, text) => {
                format!("{}{text}\n", i18n::pad(&lang.t(label, &[]), LABEL_COLUMNS))
            }
            Line::Continued(text) => format!("{}{text}\n", " ".repeat(LABEL_COLUMNS)),
            Line::Table(text) => format!("{text}\n"),
        })
        .collect()
}

/// `2026-12-01 08:00 UTC`: minutes are enough for a person, and the zone is said.
fn utc(t: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::Observed;

    const SOCKET: &str = "unix:/var/lib/matrixbox/synapse-socket/synapse.sock";

    fn sample() -> Status {
        let when = time::macros::datetime!(2026-12-01 08:00 UTC);
        Status {
            domain: "matrix.example.com".into(),
            server_name: "example.com".into(),
            docker: DockerStatus {
                host: "unix:///var/run/docker.sock".into(),
                version: Some(EngineVersion {
                    version: "20.10.24".into(),
                    api: "1.41".into(),
                }),
                error: None,
            },
            containers: vec![
                ContainerStatus {
                    name: "matrixbox-postgres".into(),
                    image: "postgres:15".into(),
                    observed: Some(Observed {
                        spec_hash: None,
                        running: true,
                        health: Some("healthy".into()),
                        image: "postgres:15".into(),
                        status: "running".into(),
                        exit_code: None,
                        restart_count: 0,
                    }),
                    up_to_date: true,
                    upgrade_pending: false,
                },
                ContainerStatus {
                    name: "matrixbox-synapse".into(),
                    image: "matrixdotorg/synapse:v1.163.2".into(),
                    observed: None,
                    up_to_date: false,
                    upgrade_pending: false,
                },
            ],
            synapse_health: Some(false),
            certificates: vec![acme::CertStatus {
                names: vec!["matrix.example.com".into()],
                issuer: Some("CN=R11".into()),
                source: None,
                not_after: Some(when),
                next_renewal: Some(when - time::Duration::days(30)),
                next_attempt: None,
                failures: 2,
                last_error: Some("timed out".into()),
                path: None,
                trust_root: None,
            }],
            delegation: Some(Delegation {
                url: "https://example.com/.well-known/matrix/server".into(),
                document: r#"{"m.server":"matrix.example.com:443"}"#.into(),
            }),
            web_client: Some(WebClientStatus {
                url: "https://chat.example.com/".into(),
                files: Some("/var/lib/matrixbox/web/sha256-0123abcd".into()),
            }),
            data: Data {
                config: "/etc/matrixbox/matrixbox.yaml".into(),
                state_dir: "/var/lib/matrixbox".into(),
                postgres: String::new(),
                synapse: String::new(),
                secrets: String::new(),
            },
            backup: BackupStatus {
                every_seconds: Some(86_400),
                keep: 7,
                dir: "/var/lib/matrixbox/backups".into(),
                record: schedule::Record {
                    last_good: Some(schedule::Good {
                        at: 0,
                        path: "/var/lib/matrixbox/backups/example.com-20261201T030000Z.tar.gz"
                            .into(),
                        bytes: 12 << 20,
                    }),
                    last_failure: Some(schedule::Failure {
                        at: 0,
                        error: "PostgreSQL is not running".into(),
                    }),
                    ..Default::default()
                },
                freshness: schedule::Freshness::Failed {
                    error: "PostgreSQL is not running".into(),
                    last_good: Some(std::time::Duration::from_secs(26 * 3_600)),
                },
                offsite: None,
            },
            upgrade: None,
            old_postgres: vec![],
            workers: vec![],
            healthy: false,
        }
    }

    #[test]
    fn workers_are_listed_in_both_languages() {
        use crate::config::WorkerKind;
        let mut status = sample();
        status.workers = vec![WorkerKind::Sync, WorkerKind::FederationSender];
        let en = render_text(&status, SOCKET, Lang::En);
        assert!(
            en.contains("workers     sync, federation_sender: the edge sends their requests to their sockets\n"),
            "{en}"
        );
        let zh = render_text(&status, SOCKET, Lang::ZhCn);
        assert!(zh.contains("sync, federation_sender：边缘代理"), "{zh}");
    }

    #[test]
    fn the_last_push_off_host_is_shown_in_both_languages() {
        let mut status = sample();
        status.backup.offsite = Some(OffsiteStatus {
            endpoint: "https://s3.example.com".into(),
            bucket: "matrix-backups".into(),
            prefix: "mbx/".into(),
            encrypted: true,
            keep: 7,
        });
        let en = render_text(&status, SOCKET, Lang::En);
        assert!(
            en.contains(
                "off-host: none pushed yet to bucket matrix-backups at https://s3.example.com"
            ),
            "{en}"
        );
        status.backup.record.last_push = Some(schedule::Push {
            at: time::OffsetDateTime::now_utc().unix_timestamp() - 3 * 3_600,
            key: "mbx/example.com-20261201T030000Z.tar.gz.age".into(),
            bytes: 12 << 20,
            encrypted: true,
        });
        let en = render_text(&status, SOCKET, Lang::En);
        assert!(en.contains("off-host: last pushed 3 h ago, 12.00 MiB, encrypted: mbx/example.com-20261201T030000Z.tar.gz.age in bucket matrix-backups at https://s3.example.com (keeping 7)"), "{en}");
        let zh = render_text(&status, SOCKET, Lang::ZhCn);
        assert!(
            zh.contains("异地副本：最近一次推送在 3 小时前，12.00 MiB，已加密"),
            "{zh}"
        );
    }

    #[test]
    fn the_last_upgrade_is_shown_in_both_languages() {
        use crate::upgrade::plan::{Outcome, Record};
        let mut status = sample();
        status.upgrade = Some(Record {
            from: "synapse:v1.161.0".into(),
            to: "synapse:v1.163.2-broken".into(),
            started: "2026-11-27T22:00:00Z".into(),
            outcome: Outcome::RolledBack,
            backup: None,
            downtime_s: Some(30.0),
            rollback_s: Some(12.0),
            reason: Some("exited (status 3)".into()),
        });
        status.containers[1].upgrade_pending = true;
        status.containers[1].observed = status.containers[0].observed.clone();
        status.old_postgres = vec![crate::upgrade::kept::Kept {
            major: 15,
            path: "/var/lib/matrixbox/postgres-15".into(),
            until: crate::upgrade::kept::Until::At(time::macros::datetime!(2026-12-12 04:30 UTC)),
        }];
        let json = serde_json::to_value(&status.old_postgres).unwrap();
        assert_eq!(json[0]["until"]["at"], "2026-12-12T04:30:00Z");
        let en = render_text(&status, SOCKET, Lang::En);
        assert!(en.contains("upgrade     the data directory of PostgreSQL 15 is kept in /var/lib/matrixbox/postgres-15 until 2026-12-12 04:30 UTC"), "{en}");
        assert!(
            en.contains(
                "running, healthy, another image is configured: `matrixbox upgrade` moves it"
            ),
            "{en}"
        );
        assert!(en.contains("upgrade     synapse:v1.161.0 -> synapse:v1.163.2-broken at 2026-11-27T22:00:00Z: rolled back in 12.0 s (exited (status 3)); Synapse runs synapse:v1.161.0"), "{en}");
        let zh = render_text(&status, SOCKET, Lang::ZhCn);
        assert!(
            zh.contains("升级")
                && zh.contains("已在 12.0 秒内回滚")
                && zh.contains("直到 2026-12-12 04:30 UTC"),
            "{zh}"
        );
    }

    #[test]
    fn status_text_in_both_languages() {
        crate::i18n::assert_complete(M::ALL);
        crate::golden::assert_golden("status.en.txt", &render_text(&sample(), SOCKET, Lang::En));
        crate::golden::assert_golden(
            "status.zh_CN.txt",
            &render_text(&sample(), SOCKET, Lang::ZhCn),
        );
    }
}
