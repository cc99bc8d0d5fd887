//! The Docker engine: installed, reachable, recent enough, on a storage driver that copes.

use super::check;
use crate::docker::engine::{MIN_API, parse_api};
use crate::i18n::Lang;
use crate::preflight::facts::{Facts, OsRelease, SocketState};
use crate::preflight::messages::M;
use crate::preflight::{Check, Status, Target};

/// The oldest engine matrixbox supports: Docker 20.10.14, with API 1.41.
pub const MIN_ENGINE_VERSION: (u32, u32, u32) = (20, 10, 14);

/// The leading `major.minor[.patch]` of an engine version such as `20.10.24+dfsg1` or `17.03.0-ce`.
pub fn parse_version(version: &str) -> Option<(u32, u32, u32)> {
    let core = version
        .trim_start_matches('v')
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((major, minor, patch))
}

pub fn engine_too_old(version: &str, api: &str) -> bool {
    let api_old = parse_api(api).is_none_or(|a| a < MIN_API);
    let version_old = parse_version(version).is_some_and(|v| v < MIN_ENGINE_VERSION);
    api_old || version_old
}

/// The command that installs Docker on this distribution, ready to quote.
pub fn install_command(release: &OsRelease, l: Lang) -> String {
    let is = |id: &str| release.id == id || release.id_like.iter().any(|like| like == id);
    let command = if is("debian") || is("ubuntu") {
        "apt install docker.io"
    } else if is("fedora") {
        "dnf install moby-engine"
    } else if is("alpine") {
        "apk add docker"
    } else if is("arch") {
        "pacman -S docker"
    } else {
        return l.t(
            M::DockerInstallGeneric,
            &[&version_text(MIN_ENGINE_VERSION)],
        );
    };
    format!("`{command}`")
}

fn version_text((major, minor, patch): (u32, u32, u32)) -> String {
    format!("{major}.{minor}.{patch}")
}

pub fn docker(f: &Facts, t: &Target, l: Lang) -> Check {
    let title = l.t(M::TitleDocker, &[]);
    if let Some(upstream) = &t.upstream {
        return check(
            "docker",
            title,
            Status::Pass,
            l.t(M::NoContainers, &[upstream]),
            None,
            true,
        );
    }
    let d = &f.docker;
    let install = install_command(&f.os_release, l);
    match &d.engine {
        Ok(e) => {
            let driver = e
                .storage_driver
                .clone()
                .unwrap_or_else(|| l.t(M::Unknown, &[]));
            if engine_too_old(&e.version, &e.api) {
                let min_api = format!("{}.{}", MIN_API.0, MIN_API.1);
                let min = version_text(MIN_ENGINE_VERSION);
                let evidence = l.t(
                    M::DockerTooOld,
                    &[&e.version, &e.api, &d.host, &min, &min_api],
                );
                return check(
                    "docker",
                    title,
                    Status::Fail,
                    evidence,
                    Some(l.t(M::DockerTooOldFix, &[&min, &install])),
                    true,
                );
            }
            // vfs copies whole layers; devicemapper is deprecated and gone from current Docker.
            if matches!(driver.as_str(), "vfs" | "devicemapper") {
                let evidence = l.t(M::DockerSlowDriver, &[&e.version, &e.api, &d.host, &driver]);
                return check(
                    "docker",
                    title,
                    Status::Warn,
                    evidence,
                    Some(l.t(M::DockerSlowDriverFix, &[])),
                    true,
                );
            }
            check(
                "docker",
                title,
                Status::Pass,
                l.t(M::DockerOk, &[&e.version, &e.api, &d.host, &driver]),
                None,
                true,
            )
        }
        Err(error) => {
            let (evidence, remedy) = match &d.socket {
                Some((path, SocketState::Missing)) if !d.dockerd_installed => (
                    l.t(M::DockerNotInstalled, &[&path.display()]),
                    l.t(M::DockerNotInstalledFix, &[&install]),
                ),
                Some((_, SocketState::Denied)) => (
                    l.t(M::DockerUnreachable, &[&d.host, error]),
                    l.t(M::PrivDockerDeniedFix, &[&f.user]),
                ),
                _ => (
                    l.t(M::DockerUnreachable, &[&d.host, error]),
                    l.t(M::DockerUnreachableFix, &[&install]),
                ),
            };
            check("docker", title, Status::Fail, evidence, Some(remedy), true)
        }
    }
}
