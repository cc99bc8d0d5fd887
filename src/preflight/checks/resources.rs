//! Memory and disk space: enough to run PostgreSQL and Synapse, and room to grow.

use super::check;
use crate::disk::{DiskRole, MIN_FREE_BYTES};
use crate::i18n::Lang;
use crate::preflight::facts::Facts;
use crate::preflight::messages::M;
use crate::preflight::{Check, Status, Target};
use crate::tuning::{self, LOW_MEMORY_MB};

/// A "1 GB" VPS reports 950-1000 MiB of MemTotal (the kernel keeps some), so the floor sits below.
pub const MIN_MEMORY_MB: u64 = 900;

pub fn memory(f: &Facts, t: &Target, l: Lang) -> Check {
    let title = l.t(M::TitleMemory, &[]);
    let Some(mb) = f.memory_mb else {
        return check(
            "memory",
            title,
            Status::Warn,
            l.t(M::MemUnknown, &[]),
            Some(l.t(M::MemUnknownFix, &[])),
            true,
        );
    };
    let amount = mebibytes(mb);
    if mb < MIN_MEMORY_MB {
        return check(
            "memory",
            title,
            Status::Fail,
            l.t(M::MemTooLow, &[&amount]),
            Some(l.t(M::MemTooLowFix, &[])),
            true,
        );
    }
    if mb >= LOW_MEMORY_MB {
        return check(
            "memory",
            title,
            Status::Pass,
            l.t(M::MemOk, &[&amount]),
            None,
            true,
        );
    }
    // Say exactly what `run` will apply: the same tuning function, on the same input.
    let profile = tuning::for_memory(t.memory_mb.unwrap_or(mb));
    if !profile.low_memory {
        let configured = t.memory_mb.unwrap_or(mb);
        return check(
            "memory",
            title,
            Status::Warn,
            l.t(M::MemConfigured, &[&amount, &configured]),
            Some(l.t(M::MemConfiguredFix, &[])),
            true,
        );
    }
    let setting = |name: &str| {
        profile
            .postgres
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    check(
        "memory",
        title,
        Status::Warn,
        l.t(
            M::MemLow,
            &[
                &amount,
                &setting("shared_buffers"),
                &setting("max_connections"),
                &profile.synapse_cache_factor,
            ],
        ),
        Some(l.t(M::MemLowFix, &[&mebibytes(LOW_MEMORY_MB)])),
        true,
    )
}

fn mebibytes(mb: u64) -> String {
    if mb >= 1024 {
        format!("{:.1} GiB", mb as f64 / 1024.0)
    } else {
        format!("{mb} MiB")
    }
}

fn gibibytes(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

pub fn disk(f: &Facts, l: Lang) -> Check {
    let title = l.t(M::TitleDisk, &[]);
    let mut parts = Vec::new();
    let mut low = Vec::new();
    let mut unknown = Vec::new();
    let mut seen = Vec::new();
    for d in &f.disks {
        let path = d.path.display();
        let label = match d.role {
            DiskRole::State => l.t(M::DiskState, &[&path]),
            DiskRole::DockerRoot => l.t(M::DiskDockerRoot, &[&path]),
        };
        match &d.space {
            Err(e) => {
                parts.push(l.t(M::DiskUnknown, &[&label, e]));
                unknown.push(path.to_string());
            }
            Ok(space) if seen.contains(&space.dev) => parts.push(l.t(M::DiskSameFs, &[&label])),
            Ok(space) => {
                seen.push(space.dev);
                parts.push(l.t(M::DiskFree, &[&label, &gibibytes(space.free_bytes)]));
                if space.free_bytes < MIN_FREE_BYTES {
                    low.push(path.to_string());
                }
            }
        }
    }
    let evidence = parts.join("; ");
    if !low.is_empty() {
        // An installation that exists keeps running on a filling disk rather than refusing to.
        let status = if f.installation.secrets {
            Status::Warn
        } else {
            Status::Fail
        };
        let remedy = l.t(
            M::DiskLowFix,
            &[&low.join(", "), &gibibytes(MIN_FREE_BYTES)],
        );
        return check("disk", title, status, evidence, Some(remedy), true);
    }
    if let Some(path) = unknown.first() {
        return check(
            "disk",
            title,
            Status::Warn,
            evidence,
            Some(l.t(M::DiskUnknownFix, &[path])),
            true,
        );
    }
    check("disk", title, Status::Pass, evidence, None, true)
}
