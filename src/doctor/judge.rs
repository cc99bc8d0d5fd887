//! The decisions: each step is a pure function of the gathered facts, giving pass / warn / fail
//! (or skip when a step it depends on failed) with evidence and, when something is wrong, the fix.

use time::OffsetDateTime;
use time::macros::format_description;

use super::discovery::{self, DocProblem, DocWarning, Via};
use super::keys::{self, KeyProblem};
use super::messages::M;
use super::net::{FetchError, Fetched, Presented, TlsProblem};
use super::{Facts, Local, Remote, Status, Step};
use crate::disk::MIN_FREE_BYTES;
use crate::i18n::Lang;

/// Fewer days left than this: renewal (due at a third of the lifetime) has clearly not worked.
pub const CERT_FAIL_DAYS: i64 = 7;
/// Let's Encrypt warns at 20 days; a 90-day certificate renews at 30.
pub const CERT_WARN_DAYS: i64 = 20;
/// Below this PostgreSQL is about to stop; below preflight's floor it is time to clean up.
pub const DISK_FAIL_BYTES: u64 = 1 << 30;

pub fn evaluate(f: &Facts, l: Lang) -> Vec<Step> {
    let r = &f.remote;
    vec![
        discovery(r, l),
        well_known(r, l),
        tls(r, l),
        keys(r, f.now, l),
        client_well_known(r, &f.domain, l),
        client_versions(r, l),
        containers(&f.local, l),
        database(&f.local, l),
        certificate(&f.local, f.now, l),
        renewal(&f.local, l),
        disk(&f.local, l),
    ]
}

fn step(
    id: &'static str,
    title: String,
    status: Status,
    evidence: String,
    remedy: Option<String>,
) -> Step {
    // Messages from outside (resolver, TLS, Docker) may span lines; a step reads as one line.
    let one_line = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
    Step {
        id,
        title,
        status,
        evidence: one_line(evidence),
        remedy: remedy.map(one_line),
    }
}

fn skipped(id: &'static str, title: String, after: M, l: Lang) -> Step {
    let after = l.t(after, &[]);
    step(id, title, Status::Skip, l.t(M::NotReached, &[&after]), None)
}

fn day(t: OffsetDateTime) -> String {
    t.format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_else(|_| t.to_string())
}

fn minute(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute] UTC"
    ))
    .unwrap_or_else(|_| t.to_string())
}

/// Evidence and fix for a request that did not get an HTTP answer.
fn fetch_failure(e: &FetchError, tls_name: &str, l: Lang) -> (String, String) {
    match e {
        FetchError::Resolve { host, error } => (
            l.t(M::ResolveFailed, &[host, error]),
            l.t(M::ResolveFailedFix, &[host]),
        ),
        FetchError::Connect { addr, error } => (
            l.t(M::ConnectFailed, &[addr, error]),
            l.t(M::ConnectFailedFix, &[&addr.port()]),
        ),
        FetchError::Http { addr, error, .. } => (
            l.t(M::HttpFailed, &[addr, error]),
            l.t(M::HttpFailedFix, &[]),
        ),
        FetchError::Tls {
            addr,
            problem,
            presented,
        } => {
            let issuer = presented.as_ref().map_or("?", |p| p.issuer.as_str());
            match problem {
                TlsProblem::NotValidForName => {
                    let names = presented
                        .as_ref()
                        .map(|p| p.names.join(", "))
                        .unwrap_or_else(|| "?".into());
                    (
                        l.t(M::TlsNameMismatch, &[addr, &tls_name, &names]),
                        l.t(M::TlsNameMismatchFix, &[&tls_name]),
                    )
                }
                TlsProblem::UnknownIssuer => (
                    l.t(M::TlsUntrusted, &[addr, &issuer]),
                    l.t(M::TlsUntrustedFix, &[]),
                ),
                TlsProblem::Expired => {
                    let until = presented
                        .as_ref()
                        .and_then(|p| p.not_after)
                        .map(day)
                        .unwrap_or_else(|| "?".into());
                    (
                        l.t(M::TlsExpired, &[addr, &until]),
                        l.t(M::TlsExpiredFix, &[]),
                    )
                }
                TlsProblem::NotYetValid => (
                    l.t(M::TlsNotYetValid, &[addr]),
                    l.t(M::TlsNotYetValidFix, &[]),
                ),
                TlsProblem::Other(error) => {
                    (l.t(M::TlsOther, &[addr, error]), l.t(M::TlsOtherFix, &[]))
                }
            }
        }
    }
}

fn doc_problem(p: &DocProblem, url: &str, l: Lang) -> String {
    match p {
        DocProblem::Status(code) => l.t(M::DocStatus, &[code, &url]),
        DocProblem::NotJson(e) => l.t(M::DocNotJson, &[e]),
        DocProblem::Missing(field) => l.t(M::DocMissing, &[field]),
        DocProblem::Invalid { field, value } => l.t(M::DocInvalid, &[field, value]),
    }
}

/// A document that parsed: pass, or warn when its headers are off; the evidence quotes it.
fn doc_accepted(body: &[u8], url: &str, warnings: &[DocWarning], l: Lang) -> (Status, String) {
    let body = String::from_utf8_lossy(body).trim().to_string();
    let mut evidence = vec![l.t(M::DocOk, &[&body, &url])];
    evidence.extend(doc_warnings(warnings, l));
    let status = if warnings.is_empty() {
        Status::Pass
    } else {
        Status::Warn
    };
    (status, evidence.join("; "))
}

fn doc_warnings(warnings: &[DocWarning], l: Lang) -> Vec<String> {
    let missing = l.t(M::None_, &[]);
    warnings
        .iter()
        .map(|w| match w {
            DocWarning::ContentType(t) => {
                l.t(M::WarnContentType, &[&t.as_deref().unwrap_or(&missing)])
            }
            DocWarning::Cors(c) => l.t(M::WarnCors, &[&c.as_deref().unwrap_or(&missing)]),
        })
        .collect()
}

pub fn discovery(r: &Remote, l: Lang) -> Step {
    let title = l.t(M::TitleDiscovery, &[]);
    let name = r.server_name.to_string();
    let mut trail = Vec::new();
    match &r.well_known {
        None => trail.push(l.t(M::ViaLiteral, &[&name])),
        Some(fetched) => {
            let delegated = fetched
                .as_ref()
                .ok()
                .and_then(|f| discovery::server_well_known(&f.answer).ok());
            match delegated {
                Some((to, _)) => trail.push(l.t(M::ViaWellKnown, &[&name, &to])),
                None => trail.push(l.t(M::ViaNoWellKnown, &[&name])),
            }
            for (record, error) in &r.srv_errors {
                trail.push(format!("{record}: {}", l.t(M::SrvError, &[error])));
            }
            match &r.endpoint.via {
                Via::Srv(record) => trail.push(l.t(M::ViaSrv, &[record])),
                Via::DefaultPort => trail.push(l.t(M::ViaDefault, &[])),
                Via::Literal => {}
            }
        }
    }
    let target = format!("{}:{}", r.endpoint.connect_host, r.endpoint.port);
    match &r.address {
        Ok(addr) => {
            trail.push(l.t(M::ConnectsTo, &[&target, addr]));
            step("discovery", title, Status::Pass, trail.join("; "), None)
        }
        Err(e) => {
            let (evidence, remedy) = fetch_failure(e, &r.endpoint.tls_name, l);
            trail.push(evidence);
            step(
                "discovery",
                title,
                Status::Fail,
                trail.join("; "),
                Some(remedy),
            )
        }
    }
}

pub fn well_known(r: &Remote, l: Lang) -> Step {
    let title = l.t(M::TitleWellKnown, &[]);
    let name = &r.server_name.host;
    let expected = r.endpoint_doc();
    let fix = || Some(l.t(M::ServerDocFix, &[&expected, name]));
    match &r.well_known {
        None => step(
            "well-known-server",
            title,
            Status::Skip,
            l.t(M::LiteralNoWellKnown, &[&r.server_name]),
            None,
        ),
        Some(Err(e)) => {
            let (evidence, remedy) = fetch_failure(e, name, l);
            step(
                "well-known-server",
                title,
                Status::Fail,
                evidence,
                Some(remedy),
            )
        }
        Some(Ok(f)) => match discovery::server_well_known(&f.answer) {
            Err(p) => step(
                "well-known-server",
                title,
                Status::Fail,
                doc_problem(&p, &f.url, l),
                fix(),
            ),
            Ok((_, warnings)) => {
                let (status, evidence) = doc_accepted(&f.answer.body, &f.url, &warnings, l);
                let remedy = (!warnings.is_empty()).then(fix).flatten();
                step("well-known-server", title, status, evidence, remedy)
            }
        },
    }
}

impl Remote {
    /// The document matrixbox publishes, for remedies: delegation to the endpoint's name on 443.
    fn endpoint_doc(&self) -> String {
        serde_json::json!({ "m.server": format!("{}:443", self.endpoint.tls_name) }).to_string()
    }
}

fn presented_evidence(
    p: Option<&Presented>,
    name: &str,
    addr: &std::net::SocketAddr,
    internal_root: Option<&std::path::Path>,
    l: Lang,
) -> String {
    let names = p.map(|p| p.names.join(", ")).unwrap_or_default();
    let issuer = p.map(|p| p.issuer.clone()).unwrap_or_default();
    let until = p.and_then(|p| p.not_after).map(day).unwrap_or_default();
    let mut text = l.t(M::TlsOk, &[&name, addr, &names, &issuer, &until]);
    if let Some(root) = internal_root {
        text.push_str(&l.t(M::TlsInternalRoot, &[&root.display()]));
    }
    text
}

pub fn tls(r: &Remote, l: Lang) -> Step {
    let title = l.t(M::TitleTls, &[]);
    let name = &r.endpoint.tls_name;
    let root = r.internal_root.as_deref();
    match &r.keys {
        None => skipped("tls", title, M::TitleDiscovery, l),
        Some(Ok(Fetched {
            addr, presented, ..
        }))
        | Some(Err(FetchError::Http {
            addr, presented, ..
        })) => step(
            "tls",
            title,
            Status::Pass,
            presented_evidence(presented.as_ref(), name, addr, root, l),
            None,
        ),
        Some(Err(e)) => {
            let (evidence, remedy) = fetch_failure(e, name, l);
            step("tls", title, Status::Fail, evidence, Some(remedy))
        }
    }
}

pub fn keys(r: &Remote, now: OffsetDateTime, l: Lang) -> Step {
    let title = l.t(M::TitleKeys, &[]);
    let fetched = match &r.keys {
        None => return skipped("keys", title, M::TitleDiscovery, l),
        Some(Err(FetchError::Http { addr, error, .. })) => {
            return step(
                "keys",
                title,
                Status::Fail,
                l.t(M::HttpFailed, &[addr, error]),
                Some(l.t(M::KeysStatusFix, &[])),
            );
        }
        Some(Err(_)) => return skipped("keys", title, M::TitleTls, l),
        Some(Ok(f)) => f,
    };
    let url = format!(
        "https://{}:{}/_matrix/key/v2/server",
        r.endpoint.connect_host, r.endpoint.port
    );
    if fetched.answer.status != 200 {
        return step(
            "keys",
            title,
            Status::Fail,
            l.t(M::KeysStatus, &[&fetched.answer.status, &url]),
            Some(l.t(M::KeysStatusFix, &[])),
        );
    }
    let name = r.server_name.to_string();
    let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
    let broken = || Some(l.t(M::KeysBrokenFix, &[]));
    let (evidence, remedy) = match keys::verify(&fetched.answer.body, &name, now_ms) {
        Ok(v) => {
            let until = OffsetDateTime::from_unix_timestamp(v.valid_until_ts / 1000)
                .map(minute)
                .unwrap_or_else(|_| v.valid_until_ts.to_string());
            let evidence = l.t(M::KeysOk, &[&name, &v.key_ids.join(", "), &until]);
            return step("keys", title, Status::Pass, evidence, None);
        }
        Err(KeyProblem::NotJson(e)) => {
            (l.t(M::KeysNotJson, &[&e]), Some(l.t(M::KeysStatusFix, &[])))
        }
        Err(KeyProblem::WrongServerName { found }) => (
            l.t(M::KeysWrongName, &[&found, &name]),
            Some(l.t(M::KeysWrongNameFix, &[])),
        ),
        Err(KeyProblem::NoValidUntil) => (l.t(M::KeysNoValidUntil, &[]), broken()),
        Err(KeyProblem::Expired { valid_until_ts }) => {
            let at = OffsetDateTime::from_unix_timestamp(valid_until_ts / 1000)
                .map(minute)
                .unwrap_or_else(|_| valid_until_ts.to_string());
            (
                l.t(M::KeysExpired, &[&at]),
                Some(l.t(M::KeysExpiredFix, &[])),
            )
        }
        Err(KeyProblem::NoKeys) => (l.t(M::KeysNone, &[]), broken()),
        Err(KeyProblem::BadKey { key_id }) => (l.t(M::KeysBadKey, &[&key_id]), broken()),
        Err(KeyProblem::Unsigned { key_id }) => (l.t(M::KeysUnsigned, &[&key_id]), broken()),
        Err(KeyProblem::BadSignature { key_id }) => {
            (l.t(M::KeysBadSignature, &[&key_id]), broken())
        }
    };
    step("keys", title, Status::Fail, evidence, remedy)
}

/// Clients can be given the homeserver URL by hand, so a missing client well-known only warns.
pub fn client_well_known(r: &Remote, domain: &str, l: Lang) -> Step {
    let title = l.t(M::TitleClientWellKnown, &[]);
    let name = &r.server_name.host;
    let expected =
        serde_json::json!({ "m.homeserver": { "base_url": format!("https://{domain}") } })
            .to_string();
    let fix = Some(l.t(M::ClientDocFix, &[&expected, name]));
    let fallback = l.t(M::ClientFallback, &[&domain]);
    match &r.client_well_known {
        Err(e) => {
            let (evidence, remedy) = fetch_failure(e, name, l);
            step(
                "well-known-client",
                title,
                Status::Warn,
                evidence + &fallback,
                Some(remedy),
            )
        }
        Ok(f) => match discovery::client_well_known(&f.answer) {
            Err(p) => step(
                "well-known-client",
                title,
                Status::Warn,
                doc_problem(&p, &f.url, l) + &fallback,
                fix,
            ),
            Ok((_, warnings)) => {
                let (status, evidence) = doc_accepted(&f.answer.body, &f.url, &warnings, l);
                let remedy = if warnings.is_empty() { None } else { fix };
                step("well-known-client", title, status, evidence, remedy)
            }
        },
    }
}

pub fn client_versions(r: &Remote, l: Lang) -> Step {
    let title = l.t(M::TitleClientVersions, &[]);
    let (base_url, result) = &r.versions;
    let url = format!("{base_url}/_matrix/client/versions");
    let host = base_url.trim_start_matches("https://");
    match result {
        Err(e) => {
            let (evidence, remedy) = fetch_failure(e, host, l);
            step(
                "client-versions",
                title,
                Status::Fail,
                evidence,
                Some(remedy),
            )
        }
        Ok(f) => match discovery::client_versions(&f.answer) {
            Ok(versions) => {
                let newest = versions.iter().rev().take(3).cloned().collect::<Vec<_>>();
                let shown = format!("{} … {}", versions.len(), newest.join(", "));
                step(
                    "client-versions",
                    title,
                    Status::Pass,
                    l.t(M::VersionsOk, &[&url, &shown]),
                    None,
                )
            }
            Err(p) => step(
                "client-versions",
                title,
                Status::Fail,
                doc_problem(&p, &url, l),
                Some(l.t(M::VersionsFix, &[])),
            ),
        },
    }
}

pub fn containers(local: &Local, l: Lang) -> Step {
    let title = l.t(M::TitleContainers, &[]);
    let observed = match &local.containers {
        None => {
            return step(
                "containers",
                title,
                Status::Skip,
                l.t(M::Upstream, &[]),
                None,
            );
        }
        Some(Err(e)) => {
            return step(
                "containers",
                title,
                Status::Fail,
                l.t(M::DockerUnreachable, &[e]),
                Some(l.t(M::DockerUnreachableFix, &[])),
            );
        }
        Some(Ok(observed)) => observed,
    };
    let mut parts = Vec::new();
    let mut first_bad = None;
    let mut starting = false;
    for (name, o) in observed {
        match o {
            None => {
                parts.push(l.t(M::ContainerMissing, &[name]));
                first_bad.get_or_insert(name.clone());
            }
            Some(o) => {
                let health = o
                    .health
                    .as_deref()
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                parts.push(l.t(M::ContainerState, &[name, &format!("{}{health}", o.status)]));
                match o.health.as_deref() {
                    _ if !o.running => {
                        first_bad.get_or_insert(name.clone());
                    }
                    Some("starting") => starting = true,
                    Some("unhealthy") => {
                        first_bad.get_or_insert(name.clone());
                    }
                    _ => {}
                }
            }
        }
    }
    let evidence = parts.join(", ");
    match first_bad {
        Some(name) => step(
            "containers",
            title,
            Status::Fail,
            evidence,
            Some(l.t(M::ContainersFix, &[&name])),
        ),
        None if starting => step("containers", title, Status::Warn, evidence, None),
        None => step("containers", title, Status::Pass, evidence, None),
    }
}

pub fn database(local: &Local, l: Lang) -> Step {
    let title = l.t(M::TitleDatabase, &[]);
    match (&local.containers, &local.database) {
        (None, _) => step("database", title, Status::Skip, l.t(M::Upstream, &[]), None),
        (_, None) => step(
            "database",
            title,
            Status::Skip,
            l.t(M::DatabaseNotRunning, &[]),
            None,
        ),
        (_, Some(Ok(()))) => step(
            "database",
            title,
            Status::Pass,
            l.t(M::DatabaseOk, &[]),
            None,
        ),
        // The stack's error already names what was found and how to fix it.
        (_, Some(Err(e))) => {
            let (evidence, remedy) = e.split_once("; ").unwrap_or((e, ""));
            step(
                "database",
                title,
                Status::Fail,
                evidence.to_string(),
                Some(remedy.to_string()).filter(|r| !r.is_empty()),
            )
        }
    }
}

/// Days left on a certificate judged: expired or under a week fails, under 20 days warns.
pub fn days_left_status(not_after: OffsetDateTime, now: OffsetDateTime) -> (i64, Status) {
    let days = (not_after - now).whole_days();
    let status = if not_after <= now || days < CERT_FAIL_DAYS {
        Status::Fail
    } else if days < CERT_WARN_DAYS {
        Status::Warn
    } else {
        Status::Pass
    };
    (days, status)
}

pub fn certificate(local: &Local, now: OffsetDateTime, l: Lang) -> Step {
    let title = l.t(M::TitleCertificate, &[]);
    if let Some((path, facts)) = &local.own_certificate {
        let path = path.display();
        return match facts {
            Err(e) => step(
                "certificate",
                title,
                Status::Fail,
                l.t(M::CertUnreadable, &[&path, e]),
                Some(l.t(M::CertOwnFix, &[])),
            ),
            Ok((names, not_after)) => {
                let (days, status) = days_left_status(*not_after, now);
                let label = l.t(M::CertOwnFiles, &[&path]) + " " + &names.join(", ");
                let evidence = l.t(M::CertDays, &[&label, &days, &day(*not_after)]);
                let remedy = (status != Status::Pass).then(|| l.t(M::CertOwnFix, &[]));
                step("certificate", title, status, evidence, remedy)
            }
        };
    }
    let stored: Vec<_> = local
        .certificates
        .iter()
        .filter_map(|c| c.not_after.map(|t| (c, t)))
        .collect();
    if stored.is_empty() {
        return step(
            "certificate",
            title,
            Status::Fail,
            l.t(M::CertNone, &[]),
            Some(l.t(M::CertNoneFix, &[])),
        );
    }
    let mut worst = Status::Pass;
    let mut parts = Vec::new();
    for (cert, not_after) in stored {
        let (days, status) = days_left_status(not_after, now);
        worst = worse(worst, status);
        parts.push(l.t(
            M::CertDays,
            &[&cert.names.join(", "), &days, &day(not_after)],
        ));
    }
    let remedy = (worst != Status::Pass).then(|| l.t(M::CertExpiringFix, &[]));
    step("certificate", title, worst, parts.join("; "), remedy)
}

fn worse(a: Status, b: Status) -> Status {
    let rank = |s| match s {
        Status::Fail => 3,
        Status::Warn => 2,
        Status::Pass => 1,
        Status::Skip => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// A failed renewal warns: the current certificate stays in use, and its expiry is judged above.
pub fn renewal(local: &Local, l: Lang) -> Step {
    let title = l.t(M::TitleRenewal, &[]);
    let failing: Vec<String> = local
        .certificates
        .iter()
        .filter_map(|c| {
            c.last_error
                .as_ref()
                .map(|e| l.t(M::RenewalFailed, &[&c.names.join(", "), &c.failures, e]))
        })
        .collect();
    if failing.is_empty() {
        step("renewal", title, Status::Pass, l.t(M::RenewalOk, &[]), None)
    } else {
        step(
            "renewal",
            title,
            Status::Warn,
            failing.join("; "),
            Some(l.t(M::RenewalFailedFix, &[])),
        )
    }
}

pub fn disk(local: &Local, l: Lang) -> Step {
    let title = l.t(M::TitleDisk, &[]);
    let path = local.disk.path.display();
    match &local.disk.space {
        Err(e) => step(
            "disk",
            title,
            Status::Warn,
            l.t(M::DiskUnknown, &[&path, e]),
            None,
        ),
        Ok(space) => {
            let gib = format!("{:.1}", space.free_bytes as f64 / (1u64 << 30) as f64);
            let evidence = l.t(M::DiskFree, &[&gib, &path]);
            let status = if space.free_bytes < DISK_FAIL_BYTES {
                Status::Fail
            } else if space.free_bytes < MIN_FREE_BYTES {
                Status::Warn
            } else {
                Status::Pass
            };
            let remedy = (status != Status::Pass).then(|| l.t(M::DiskLowFix, &[&path]));
            step("disk", title, status, evidence, remedy)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::{Disk, DiskRole, Space};
    use crate::docker::Observed;
    use time::Duration;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

    fn local() -> Local {
        Local {
            containers: Some(Ok(vec![])),
            database: Some(Ok(())),
            certificates: vec![],
            own_certificate: None,
            disk: Disk {
                role: DiskRole::State,
                path: "/var/lib/matrixbox".into(),
                space: Ok(Space {
                    free_bytes: 50 << 30,
                    dev: 1,
                }),
            },
        }
    }

    fn observed(running: bool, health: Option<&str>) -> Option<Observed> {
        Some(Observed {
            spec_hash: None,
            running,
            health: health.map(String::from),
            image: "i".into(),
            status: if running { "running" } else { "exited" }.into(),
            exit_code: None,
            restart_count: 0,
        })
    }

    #[test]
    fn certificate_days_left_thresholds() {
        let at = |days: i64| days_left_status(NOW + Duration::days(days) + Duration::hours(1), NOW);
        assert_eq!(at(60), (60, Status::Pass));
        assert_eq!(at(CERT_WARN_DAYS), (20, Status::Pass));
        assert_eq!(at(CERT_WARN_DAYS - 1), (19, Status::Warn));
        assert_eq!(at(CERT_FAIL_DAYS), (7, Status::Warn));
        assert_eq!(at(CERT_FAIL_DAYS - 1), (6, Status::Fail));
        assert_eq!(
            days_left_status(NOW - Duration::hours(1), NOW).1,
            Status::Fail
        );
    }

    #[test]
    fn a_stopped_container_fails_with_its_logs_named() {
        let mut l = local();
        l.containers = Some(Ok(vec![
            ("matrixbox-postgres".into(), observed(true, Some("healthy"))),
            ("matrixbox-synapse".into(), observed(false, None)),
        ]));
        let s = containers(&l, Lang::En);
        assert_eq!(s.status, Status::Fail);
        assert_eq!(
            s.evidence,
            "matrixbox-postgres running (healthy), matrixbox-synapse exited"
        );
        assert!(s.remedy.unwrap().contains("docker logs matrixbox-synapse"));
        l.containers = None;
        assert_eq!(containers(&l, Lang::En).status, Status::Skip);
        assert_eq!(database(&l, Lang::En).status, Status::Skip);
    }

    #[test]
    fn renewal_errors_warn_and_low_disk_fails() {
        let mut l = local();
        assert_eq!(renewal(&l, Lang::En).status, Status::Pass);
        l.certificates.push(crate::acme::CertStatus {
            names: vec!["a.org".into()],
            issuer: None,
            source: None,
            not_after: None,
            next_renewal: None,
            next_attempt: None,
            failures: 3,
            last_error: Some("connection refused".into()),
            path: None,
            trust_root: None,
        });
        let s = renewal(&l, Lang::ZhCn);
        assert_eq!(s.status, Status::Warn);
        assert!(s.evidence.contains("连续失败 3 次"), "{}", s.evidence);
        assert_eq!(certificate(&l, NOW, Lang::En).status, Status::Fail);
        l.disk.space = Ok(Space {
            free_bytes: 512 << 20,
            dev: 1,
        });
        assert_eq!(disk(&l, Lang::En).status, Status::Fail);
        l.disk.space = Ok(Space {
            free_bytes: 3 << 30,
            dev: 1,
        });
        assert_eq!(disk(&l, Lang::En).status, Status::Warn);
    }

    #[test]
    fn a_wrong_name_says_what_the_certificate_names() {
        let e = FetchError::Tls {
            addr: "127.0.0.1:443".parse().unwrap(),
            problem: TlsProblem::NotValidForName,
            presented: Some(Presented {
                names: vec!["other.example".into()],
                issuer: "CN=x".into(),
                not_after: None,
            }),
        };
        let (evidence, remedy) = fetch_failure(&e, "matrix.example.com", Lang::En);
        assert_eq!(
            evidence,
            "the certificate at 127.0.0.1:443 is not valid for matrix.example.com (it names other.example)"
        );
        assert!(remedy.starts_with("matrix.example.com must point to matrixbox"));
    }

    fn fetched(url: &str, body: &str, presented: Option<Presented>) -> Fetched {
        Fetched {
            addr: "203.0.113.5:443".parse().unwrap(),
            presented,
            answer: discovery::Answer {
                status: 200,
                content_type: Some("application/json".into()),
                cors: Some("*".into()),
                body: body.as_bytes().to_vec(),
                location: None,
            },
            url: url.into(),
        }
    }

    /// Delegated to matrix.example.org:443, whose certificate names another host; the local
    /// parts show a stopped container, a failing renewal and a filling disk.
    fn troubled() -> Facts {
        let presented = Presented {
            names: vec!["other.example".into()],
            issuer: "CN=R11, O=Let's Encrypt, C=US".into(),
            not_after: Some(NOW + Duration::days(40)),
        };
        let endpoint = discovery::literal(&discovery::HostPort {
            host: "matrix.example.org".into(),
            port: Some(443),
        })
        .unwrap();
        let mut l = local();
        l.containers = Some(Ok(vec![
            ("matrixbox-postgres".into(), observed(true, Some("healthy"))),
            ("matrixbox-synapse".into(), observed(false, None)),
        ]));
        l.certificates.push(crate::acme::CertStatus {
            names: vec!["matrix.example.org".into()],
            issuer: Some("CN=R11".into()),
            source: Some("https://acme-v02.api.letsencrypt.org/directory".into()),
            not_after: Some(NOW + Duration::days(12) + Duration::hours(1)),
            next_renewal: None,
            next_attempt: None,
            failures: 3,
            last_error: Some("connection refused".into()),
            path: None,
            trust_root: None,
        });
        l.disk.space = Ok(Space {
            free_bytes: 3 << 30,
            dev: 1,
        });
        Facts {
            domain: "matrix.example.org".into(),
            remote: Remote {
                server_name: discovery::HostPort {
                    host: "example.org".into(),
                    port: None,
                },
                well_known: Some(Ok(fetched(
                    "https://example.org/.well-known/matrix/server",
                    r#"{"m.server": "matrix.example.org:443"}"#,
                    None,
                ))),
                endpoint,
                srv_errors: vec![],
                address: Ok("203.0.113.5:443".parse().unwrap()),
                keys: Some(Err(FetchError::Tls {
                    addr: "203.0.113.5:443".parse().unwrap(),
                    problem: TlsProblem::NotValidForName,
                    presented: Some(presented),
                })),
                client_well_known: Ok(fetched(
                    "https://example.org/.well-known/matrix/client",
                    r#"{"m.homeserver": {"base_url": "https://matrix.example.org"}}"#,
                    None,
                )),
                versions: (
                    "https://matrix.example.org".into(),
                    Ok(fetched(
                        "https://matrix.example.org/_matrix/client/versions",
                        r#"{"versions": ["v1.11", "v1.12"]}"#,
                        None,
                    )),
                ),
                internal_root: None,
            },
            local: l,
            now: NOW,
        }
    }

    /// Every line the report prints, in both languages, held against tests/golden.
    #[test]
    fn the_report_matches_its_golden_text_in_both_languages() {
        for lang in [Lang::En, Lang::ZhCn] {
            let report =
                super::super::Report::new("example.org".into(), lang, evaluate(&troubled(), lang));
            let mut out = super::super::render::text(&report);
            out.push_str("--- json\n");
            out.push_str(&serde_json::to_string_pretty(&report).unwrap());
            out.push('\n');
            crate::golden::assert_golden(&format!("doctor.{}.txt", lang.code()), &out);
        }
    }
}
