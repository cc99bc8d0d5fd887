//! The decisions: each check is a pure function of gathered facts and the target, giving
//! pass / warn / fail with one line of evidence and, when something is wrong, the remedy.
//!
//! One file per group: `host` (OS, CPU, privileges, an existing installation), `resources`
//! (memory, disk), `docker`, `network` (listen ports, DNS names), `outbound` (clock, ACME,
//! registries). Each check is also tested on its own in `tests`.

mod docker;
mod host;
mod network;
mod outbound;
mod resources;
#[cfg(test)]
mod tests;

use super::facts::Facts;
use super::{Check, Mode, Status, Target};
use crate::i18n::Lang;
use docker::docker;
use host::{arch, cpu_features, cpus, installation, os, privileges};
use network::{dns, ports, turn_ports};
use outbound::{acme, clock, registry};
use resources::{disk, memory};

pub fn evaluate(f: &Facts, t: &Target, l: Lang) -> Vec<Check> {
    let mut checks = vec![
        os(f, l),
        arch(f, l),
        cpu_features(f, l),
        cpus(f, l),
        memory(f, t, l),
        disk(f, l),
        privileges(f, t, l),
        docker(f, t, l),
    ];
    checks.extend(ports(f, t, l));
    checks.extend(turn_ports(f, t, l));
    checks.extend(dns(f, t, l));
    checks.push(clock(f, t, l));
    checks.push(acme(f, l));
    checks.push(registry(f, t, l));
    checks.push(installation(f, l));
    checks
}

fn check(
    id: &str,
    title: String,
    status: Status,
    evidence: String,
    remedy: Option<String>,
    blocking: bool,
) -> Check {
    // Messages from the outside (engine, resolver) may span lines; a check reads as one line.
    let one_line = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
    Check {
        id: id.to_string(),
        title,
        status,
        evidence: one_line(evidence),
        remedy: remedy.map(one_line),
        blocking,
    }
}

/// Network-facing problems (DNS, clock) stop `setup` but not `run`: after a reboot the network
/// may come up late, and a homeserver that is down helps nobody.
fn network_blocking(mode: Mode) -> bool {
    mode != Mode::Run
}
