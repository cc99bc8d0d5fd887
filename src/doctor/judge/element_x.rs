//! What Element X needs from a server before it can sign in: the client well-known on the
//! server name, simplified sliding sync (MSC4186) in `/versions`, and password login.

use super::{skipped, step};
use crate::doctor::discovery::{self, Answer};
use crate::doctor::messages::M;
use crate::doctor::{Remote, Status, Step};
use crate::i18n::Lang;

/// Warns (not fails) with each missing piece named: federation does not need any of them.
pub fn element_x(r: &Remote, l: Lang) -> Step {
    let title = l.t(M::TitleElementX, &[]);
    // Judged only on a usable `/versions` answer (a Synapse restarting answers 502 meanwhile).
    let versions = match &r.versions.1 {
        Ok(f) if discovery::client_versions(&f.answer).is_ok() => f,
        _ => return skipped("element-x", title, M::TitleClientVersions, l),
    };
    let host = &r.server_name.host;
    let mut missing = Vec::new();
    let well_known = r
        .client_well_known
        .as_ref()
        .is_ok_and(|f| discovery::client_well_known(&f.answer).is_ok());
    if !well_known {
        missing.push((
            l.t(M::ElementXNoWellKnown, &[host]),
            l.t(M::ElementXNoWellKnownFix, &[host]),
        ));
    }
    if !simplified_sliding_sync(&versions.answer) {
        missing.push((
            l.t(M::ElementXNoSlidingSync, &[]),
            l.t(M::ElementXNoSlidingSyncFix, &[]),
        ));
    }
    if !r.login.as_ref().is_ok_and(|f| password_login(&f.answer)) {
        missing.push((
            l.t(M::ElementXNoPassword, &[]),
            l.t(M::ElementXNoPasswordFix, &[]),
        ));
    }
    if missing.is_empty() {
        return step(
            "element-x",
            title,
            Status::Pass,
            l.t(M::ElementXOk, &[]),
            None,
        );
    }
    let (what, fixes): (Vec<String>, Vec<String>) = missing.into_iter().unzip();
    step(
        "element-x",
        title,
        Status::Warn,
        l.t(M::ElementXMissing, &[&what.join("; ")]),
        Some(fixes.join("; ")),
    )
}

fn json(answer: &Answer) -> Option<serde_json::Value> {
    (answer.status == 200)
        .then(|| serde_json::from_slice(&answer.body).ok())
        .flatten()
}

/// `/versions` says `"org.matrix.simplified_msc3575": true` among its unstable features.
pub fn simplified_sliding_sync(answer: &Answer) -> bool {
    json(answer).is_some_and(|doc| {
        doc["unstable_features"]["org.matrix.simplified_msc3575"] == serde_json::Value::Bool(true)
    })
}

/// `/login` offers the `m.login.password` flow.
pub fn password_login(answer: &Answer) -> bool {
    json(answer).is_some_and(|doc| {
        doc["flows"]
            .as_array()
            .is_some_and(|flows| flows.iter().any(|f| f["type"] == "m.login.password"))
    })
}
