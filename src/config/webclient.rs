//! `web_client:` -> `WebClient`: its name (its own origin), its pinned image and its overrides.

use super::WebClient;
use super::error::{Problem, problem_t};
use super::messages::M;
use super::raw::RawWebClient;
use super::validate::check_domain;

/// `candidates` are the image references already checked (mirrors applied) by the caller, which
/// checks every image alike; `None` when the image was refused.
pub(super) fn check_web_client(
    raw: RawWebClient,
    candidates: Option<Vec<String>>,
    homeserver_names: &[Option<&str>],
    external_upstream: bool,
    problems: &mut Vec<Problem>,
) -> Option<WebClient> {
    let domain = homeserver_names.first().copied().flatten();
    let name = match (raw.name, domain) {
        (Some(name), _) => check_domain("web_client.name", &name, problems)?,
        (None, Some(domain)) => format!("chat.{domain}"),
        // The domain's own problem is reported already.
        (None, None) => return None,
    };
    if homeserver_names.iter().flatten().any(|n| *n == name) {
        problems.push(problem_t(
            "web_client.name",
            (M::WebNameTaken, &[&name]),
            Some((M::WebNameTakenFix, &[])),
        ));
        return None;
    }
    if external_upstream {
        problems.push(problem_t(
            "web_client",
            (M::WebUpstream, &[]),
            Some((M::WebUpstreamFix, &[])),
        ));
        return None;
    }
    Some(WebClient {
        name,
        candidates: candidates?,
        config: raw.config.unwrap_or_default(),
    })
}
