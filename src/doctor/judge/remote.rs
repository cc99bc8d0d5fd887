//! The steps a remote server takes: find the endpoint, read the well-known documents, check the
//! certificate and the signing keys, and ask the client API as a client would.

use time::OffsetDateTime;

use super::{day, minute, skipped, step};
use crate::doctor::discovery::{self, DocProblem, DocWarning, Via};
use crate::doctor::keys::{self, KeyProblem};
use crate::doctor::messages::M;
use crate::doctor::net::{FetchError, Fetched, Presented, TlsProblem};
use crate::doctor::{Remote, Status, Step};
use crate::i18n::Lang;

/// Evidence and fix for a request that did not get an HTTP answer.
pub(super) fn fetch_failure(e: &FetchError, tls_name: &str, l: Lang) -> (String, String) {
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

pub fn keys(r: &Remote, now: OffsetDateTime, synapse: &str, l: Lang) -> Step {
    let title = l.t(M::TitleKeys, &[]);
    let fetched = match &r.keys {
        None => return skipped("keys", title, M::TitleDiscovery, l),
        Some(Err(FetchError::Http { addr, error, .. })) => {
            return step(
                "keys",
                title,
                Status::Fail,
                l.t(M::HttpFailed, &[addr, error]),
                Some(l.t(M::KeysStatusFix, &[&synapse])),
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
            Some(l.t(M::KeysStatusFix, &[&synapse])),
        );
    }
    let name = r.server_name.to_string();
    let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
    let broken = || Some(l.t(M::KeysBrokenFix, &[&synapse]));
    let (evidence, remedy) = match keys::verify(&fetched.answer.body, &name, now_ms) {
        Ok(v) => {
            let until = OffsetDateTime::from_unix_timestamp(v.valid_until_ts / 1000)
                .map(minute)
                .unwrap_or_else(|_| v.valid_until_ts.to_string());
            let evidence = l.t(M::KeysOk, &[&name, &v.key_ids.join(", "), &until]);
            return step("keys", title, Status::Pass, evidence, None);
        }
        Err(KeyProblem::NotJson(e)) => (
            l.t(M::KeysNotJson, &[&e]),
            Some(l.t(M::KeysStatusFix, &[&synapse])),
        ),
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

pub fn client_versions(r: &Remote, synapse: &str, l: Lang) -> Step {
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
                Some(l.t(M::VersionsFix, &[&synapse])),
            ),
        },
    }
}
