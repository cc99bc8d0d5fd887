//! The host itself: operating system, architecture, CPU, privileges, and an installation
//! that is already there.

use std::path::Path;

use super::check;
use crate::i18n::Lang;
use crate::preflight::facts::{ConfigState, Facts, SocketState};
use crate::preflight::messages::M;
use crate::preflight::{Check, Status, Target};

const CAP_NET_BIND_SERVICE: u32 = 10;

pub fn os(f: &Facts, l: Lang) -> Check {
    let title = l.t(M::TitleOs, &[]);
    if f.os == "Linux" {
        check(
            "os",
            title,
            Status::Pass,
            l.t(M::OsLinux, &[&f.kernel]),
            None,
            true,
        )
    } else {
        check(
            "os",
            title,
            Status::Fail,
            l.t(M::OsOther, &[&f.os]),
            Some(l.t(M::OsOtherFix, &[])),
            true,
        )
    }
}

pub fn arch(f: &Facts, l: Lang) -> Check {
    let title = l.t(M::TitleArch, &[]);
    match f.arch.as_str() {
        "x86_64" | "aarch64" => check(
            "arch",
            title,
            Status::Pass,
            l.t(M::ArchOk, &[&f.arch]),
            None,
            true,
        ),
        other => check(
            "arch",
            title,
            Status::Fail,
            l.t(M::ArchOther, &[&other]),
            Some(l.t(M::ArchOtherFix, &[])),
            true,
        ),
    }
}

/// Whether a `flags` line of /proc/cpuinfo lists `flag`.
pub fn has_cpu_flag(cpuinfo: &str, flag: &str) -> bool {
    cpuinfo
        .lines()
        .filter(|line| line.starts_with("flags"))
        .any(|line| {
            line.split_once(':')
                .is_some_and(|(_, flags)| flags.split_whitespace().any(|f| f == flag))
        })
}

pub fn cpu_features(f: &Facts, l: Lang) -> Check {
    let title = l.t(M::TitleCpuFeatures, &[]);
    if f.arch != "x86_64" {
        return check(
            "cpu-features",
            title,
            Status::Pass,
            l.t(M::Ssse3NotNeeded, &[&f.arch]),
            None,
            true,
        );
    }
    match &f.cpuinfo {
        Ok(text) if has_cpu_flag(text, "ssse3") => check(
            "cpu-features",
            title,
            Status::Pass,
            l.t(M::Ssse3Ok, &[]),
            None,
            true,
        ),
        Ok(_) => check(
            "cpu-features",
            title,
            Status::Fail,
            l.t(M::Ssse3Missing, &[]),
            Some(l.t(M::Ssse3MissingFix, &[])),
            true,
        ),
        Err(e) => check(
            "cpu-features",
            title,
            Status::Warn,
            l.t(M::Ssse3Unknown, &[e]),
            Some(l.t(M::Ssse3UnknownFix, &[])),
            true,
        ),
    }
}

pub fn cpus(f: &Facts, l: Lang) -> Check {
    let title = l.t(M::TitleCpus, &[]);
    match f.cpus {
        Ok(0) => check(
            "cpus",
            title,
            Status::Fail,
            l.t(M::CpusNone, &[]),
            Some(l.t(M::CpusNoneFix, &[])),
            true,
        ),
        Ok(n) => check(
            "cpus",
            title,
            Status::Pass,
            l.t(M::CpusOk, &[&n]),
            None,
            true,
        ),
        Err(ref e) => check(
            "cpus",
            title,
            Status::Warn,
            l.t(M::CpusUnknown, &[e]),
            Some(l.t(M::CpusUnknownFix, &[])),
            true,
        ),
    }
}

pub fn privileges(f: &Facts, t: &Target, l: Lang) -> Check {
    let title = l.t(M::TitlePrivileges, &[]);
    let low_port = t
        .listen
        .iter()
        .map(|(_, a)| a.port())
        .filter(|p| *p < f.unprivileged_port_start)
        .min();
    let may_bind_low = match f.cap_eff {
        Some(caps) => caps & (1 << CAP_NET_BIND_SERVICE) != 0,
        // Without /proc/self/status, root is the best sign there is.
        None => f.uid == 0,
    };
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    if let Some(port) = low_port.filter(|_| !may_bind_low) {
        problems.push(l.t(M::PrivNoCap, &[&f.uid, &port]));
        fixes.push(l.t(M::PrivNoCapFix, &[&f.exe]));
    }
    if let Some((path, SocketState::Denied)) = &f.docker.socket
        && t.upstream.is_none()
    {
        problems.push(l.t(M::PrivDockerDenied, &[&f.uid, &path.display()]));
        fixes.push(l.t(M::PrivDockerDeniedFix, &[&f.user]));
    }
    if !problems.is_empty() {
        return check(
            "privileges",
            title,
            Status::Fail,
            problems.join("; "),
            Some(fixes.join("; ")),
            true,
        );
    }
    if f.cap_eff.is_none() && low_port.is_some() {
        return check(
            "privileges",
            title,
            Status::Warn,
            l.t(M::PrivUnknown, &[]),
            Some(l.t(M::PrivUnknownFix, &[])),
            true,
        );
    }
    let evidence = match low_port {
        Some(port) => l.t(M::PrivOk, &[&f.uid, &port]),
        None => l.t(M::PrivNoLowPorts, &[&f.uid, &f.unprivileged_port_start]),
    };
    check("privileges", title, Status::Pass, evidence, None, true)
}

pub fn installation(f: &Facts, l: Lang) -> Check {
    let title = l.t(M::TitleInstallation, &[]);
    let i = &f.installation;
    let show = |p: &Path| p.display().to_string();
    let (status, evidence, remedy) = match (&i.config, i.secrets) {
        (ConfigState::Invalid(e), _) => (
            Status::Warn,
            l.t(M::InstallBadConfig, &[&show(&i.config_path), e]),
            Some(l.t(M::InstallBadConfigFix, &[])),
        ),
        (ConfigState::Missing, false) => (
            Status::Pass,
            l.t(M::InstallNone, &[&show(&i.state_dir)]),
            None,
        ),
        (ConfigState::Missing, true) => (
            Status::Pass,
            l.t(
                M::InstallSecretsOnly,
                &[&show(&i.secrets_dir), &show(&i.config_path)],
            ),
            None,
        ),
        (ConfigState::Loads { domain }, true) => (
            Status::Pass,
            l.t(
                M::InstallFound,
                &[&show(&i.config_path), domain, &show(&i.secrets_dir)],
            ),
            None,
        ),
        (ConfigState::Loads { domain }, false) => (
            Status::Pass,
            l.t(
                M::InstallConfigOnly,
                &[&show(&i.config_path), domain, &show(&i.secrets_dir)],
            ),
            None,
        ),
    };
    check("installation", title, status, evidence, remedy, false)
}
