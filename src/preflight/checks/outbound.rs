//! What this host reaches: the ACME directory and the image registries, and the clock they
//! and the engine tell. Only the clock can stop `setup`; reachability only warns.

use std::time::Duration;

use super::{check, network_blocking};
use crate::i18n::Lang;
use crate::preflight::facts::{AcmeFacts, DOCKER_HUB, Facts, Registry, registry_of};
use crate::preflight::messages::M;
use crate::preflight::probe::{Probe, TimeSample};
use crate::preflight::{Check, Status, Target};

pub const CLOCK_WARN: Duration = Duration::from_secs(5);
pub const CLOCK_FAIL: Duration = Duration::from_secs(30);

/// `host[:port]` of a URL, for messages.
fn host_of(url: &str) -> String {
    url.parse::<http::Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| url.to_string())
}

/// Seconds this host is ahead (positive) or behind (negative) the other clock.
fn skew(sample: &TimeSample) -> f64 {
    (sample.local - sample.remote).as_seconds_f64()
}

pub fn clock(f: &Facts, t: &Target, l: Lang) -> Check {
    let title = l.t(M::TitleClock, &[]);
    let mut references: Vec<(String, f64)> = Vec::new();
    if let Ok(Some(sample)) = f.docker.engine.as_ref().map(|e| e.time) {
        references.push((l.t(M::TheDockerEngine, &[]), skew(&sample)));
    }
    if let AcmeFacts::Directory(Probe {
        url,
        result: Ok(answer),
    }) = &f.acme
        && let Some(sample) = &answer.date
    {
        references.push((host_of(url), skew(sample)));
    }
    let Some((worst, offset)) = references
        .iter()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .cloned()
    else {
        return check(
            "clock",
            title,
            Status::Warn,
            l.t(M::ClockNoReference, &[]),
            Some(l.t(M::ClockNoReferenceFix, &[])),
            false,
        );
    };
    let off = offset.abs();
    if off <= CLOCK_WARN.as_secs_f64() {
        let list = references
            .iter()
            .map(|(name, s)| format!("{name} ({s:+.1} s)"))
            .collect::<Vec<_>>()
            .join(", ");
        return check(
            "clock",
            title,
            Status::Pass,
            l.t(M::ClockOk, &[&list]),
            None,
            network_blocking(t.mode),
        );
    }
    let amount = format!("{off:.1} s");
    let mut evidence = l.t(
        if offset > 0.0 {
            M::ClockAhead
        } else {
            M::ClockBehind
        },
        &[&amount, &worst],
    );
    let status = if off > CLOCK_FAIL.as_secs_f64() {
        evidence.push_str(&l.t(M::ClockFailNote, &[]));
        Status::Fail
    } else {
        Status::Warn
    };
    check(
        "clock",
        title,
        status,
        evidence,
        Some(l.t(M::ClockFix, &[])),
        network_blocking(t.mode),
    )
}

/// Outbound reachability only ever warns: images may be loaded offline, and ACME retries.
pub fn acme(f: &Facts, l: Lang) -> Check {
    let title = l.t(M::TitleAcme, &[]);
    match &f.acme {
        AcmeFacts::Internal => check(
            "acme",
            title,
            Status::Pass,
            l.t(M::AcmeInternal, &[]),
            None,
            false,
        ),
        AcmeFacts::OwnFiles => check(
            "acme",
            title,
            Status::Pass,
            l.t(M::AcmeOwnFiles, &[]),
            None,
            false,
        ),
        AcmeFacts::Directory(probe) => {
            let host = host_of(&probe.url);
            match &probe.result {
                Ok(answer) => check(
                    "acme",
                    title,
                    Status::Pass,
                    l.t(M::Reachable, &[&host, &answer.status]),
                    None,
                    false,
                ),
                Err(e) => {
                    let fix = l.t(M::AcmeUnreachableFix, &[&host]);
                    check(
                        "acme",
                        title,
                        Status::Warn,
                        l.t(M::Unreachable, &[&host, e]),
                        Some(fix),
                        false,
                    )
                }
            }
        }
    }
}

pub fn registry(f: &Facts, t: &Target, l: Lang) -> Check {
    let title = l.t(M::TitleRegistry, &[]);
    if let Some(upstream) = &t.upstream {
        return check(
            "registry",
            title,
            Status::Pass,
            l.t(M::NoContainers, &[upstream]),
            None,
            false,
        );
    }
    let probed: Vec<(&Registry, &Probe)> = f
        .registries
        .iter()
        .filter_map(|r| r.probe.as_ref().map(|p| (r, p)))
        .collect();
    if probed.is_empty() {
        let images: Vec<&str> = f
            .registries
            .iter()
            .flat_map(|r| r.images.iter().map(String::as_str))
            .collect();
        return check(
            "registry",
            title,
            Status::Pass,
            l.t(M::ImagesPresent, &[&images.join(", ")]),
            None,
            false,
        );
    }
    // Every registry probed, in the order pulls try them: which answers and which does not.
    let evidence = probed
        .iter()
        .map(|(_, p)| match &p.result {
            Ok(a) => l.t(M::Reachable, &[&host_of(&p.url), &a.status]),
            Err(e) => l.t(M::Unreachable, &[&host_of(&p.url), e]),
        })
        .collect::<Vec<_>>()
        .join("; ");
    // Pulls fall back from mirror to mirror: an image is fine when any of its registries answers.
    let answers = |host: &str| {
        probed
            .iter()
            .any(|(r, p)| r.host == host && p.result.is_ok())
    };
    let unserved: Vec<&Vec<String>> = t
        .images
        .iter()
        .filter(|candidates| {
            let probed_here = |c: &String| probed.iter().any(|(r, _)| r.images.contains(c));
            let on_engine = |c: &String| {
                f.docker
                    .engine
                    .as_ref()
                    .is_ok_and(|e| e.images.iter().any(|(i, p)| i == c && *p))
            };
            candidates.iter().any(probed_here)
                && !candidates.iter().any(on_engine)
                && !candidates.iter().any(|c| answers(&registry_of(c)))
        })
        .collect();
    let Some(first) = unserved.first() else {
        return check("registry", title, Status::Pass, evidence, None, false);
    };
    let images = unserved
        .iter()
        .map(|c| c[0].as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let hosts: Vec<String> = first.iter().map(|c| registry_of(c)).collect();
    let remedy = if hosts.len() == 1 && hosts[0] == DOCKER_HUB {
        l.t(M::RegistryHubFix, &[&images])
    } else {
        l.t(M::RegistryOtherFix, &[&images, &hosts.join(", ")])
    };
    check(
        "registry",
        title,
        Status::Warn,
        evidence,
        Some(remedy),
        false,
    )
}
