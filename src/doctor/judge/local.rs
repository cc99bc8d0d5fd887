//! What this host shows: the containers, the database locale, the certificates and their
//! renewal, and the space left for the data.

use time::OffsetDateTime;

use super::{day, step};
use crate::disk::MIN_FREE_BYTES;
use crate::doctor::messages::M;
use crate::doctor::{Local, Status, Step};
use crate::i18n::Lang;

/// Fewer days left than this: renewal (due at a third of the lifetime) has clearly not worked.
pub const CERT_FAIL_DAYS: i64 = 7;
/// Let's Encrypt warns at 20 days; a 90-day certificate renews at 30.
pub const CERT_WARN_DAYS: i64 = 20;
/// Below this PostgreSQL is about to stop; below preflight's floor it is time to clean up.
pub const DISK_FAIL_BYTES: u64 = 1 << 30;

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

/// 7: the TURN relay, with credentials as a user gets them.
pub fn turn(
    server: std::net::SocketAddr,
    outcome: &Result<std::net::SocketAddr, crate::doctor::turn::TurnProblem>,
    synapse: &str,
    coturn: &str,
    l: Lang,
) -> Step {
    use crate::doctor::turn::TurnProblem;
    let title = l.t(M::TitleTurn, &[]);
    let (status, evidence, remedy) = match outcome {
        Ok(relay) => (Status::Pass, l.t(M::TurnAllocated, &[relay, &server]), None),
        Err(TurnProblem::Credentials(e)) => (
            Status::Fail,
            l.t(M::TurnNoCredentials, &[e]),
            Some(l.t(M::TurnNoCredentialsFix, &[&synapse])),
        ),
        Err(TurnProblem::NoAnswer(at)) => (
            Status::Fail,
            l.t(M::TurnNoAnswer, &[at]),
            Some(l.t(M::TurnNoAnswerFix, &[&coturn])),
        ),
        Err(TurnProblem::Refused { code, reason }) => (
            Status::Fail,
            l.t(M::TurnRefused, &[code, reason]),
            Some(l.t(M::TurnRefusedFix, &[&coturn])),
        ),
        Err(TurnProblem::Malformed(e)) => (
            Status::Fail,
            l.t(M::TurnMalformed, &[e]),
            Some(l.t(M::TurnNoAnswerFix, &[&coturn])),
        ),
    };
    step("turn", title, status, evidence, remedy)
}
