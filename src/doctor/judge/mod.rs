//! The decisions: each step is a pure function of the gathered facts, giving pass / warn / fail
//! (or skip when a step it depends on failed) with evidence and, when something is wrong, the fix.
//!
//! `remote` judges what a remote server meets (discovery, well-known, TLS, keys, client API);
//! `local` what this host shows (containers, database, certificates, disk, backups); `email`
//! the SMTP server of `email:`, when there is one; `peers` whether Synapse can reach the servers
//! on `federation.allow`; `element_x` what Element X needs to sign in.

mod backups;
mod element_x;
mod email;
mod local;
mod peers;
mod remote;
#[cfg(test)]
mod tests;

use time::OffsetDateTime;
use time::macros::format_description;

use super::messages::M;
use super::{Facts, Status, Step};
use crate::i18n::Lang;
use element_x::element_x;
use local::{certificate, containers, database, disk, renewal};
use remote::{client_versions, client_well_known, discovery, keys, tls, well_known};

pub fn evaluate(f: &Facts, l: Lang) -> Vec<Step> {
    let r = &f.remote;
    let mut steps = vec![
        discovery(r, l),
        well_known(r, l),
        tls(r, l),
        keys(r, f.now, &f.synapse_container, l),
        client_well_known(r, &f.domain, l),
        client_versions(r, &f.synapse_container, l),
        element_x(r, l),
        containers(&f.local, l),
        database(&f.local, l),
        certificate(&f.local, f.now, l),
        renewal(&f.local, l),
        disk(&f.local, l),
        backups::backups(&f.local, l),
    ];
    steps.extend(f.email.as_ref().map(|outcome| email::email(outcome, l)));
    if let Some((server, outcome)) = &f.turn {
        let (synapse, coturn) = (&f.synapse_container, &f.coturn_container);
        steps.push(local::turn(*server, outcome, synapse, coturn, l));
    }
    // Only with an allow-list naming other servers: the step would have nothing to look at.
    steps.extend(f.peers.as_ref().map(|p| peers::peers(p, l)));
    steps
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
