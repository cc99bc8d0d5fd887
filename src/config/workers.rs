//! `workers:`: which of Synapse's generic workers run beside the main process (`off`, `auto`,
//! or a list of kinds), validated into `Workers`.

use super::error::{Problem, problem_t};
use super::messages::M;
use crate::yaml::Value;

/// One kind of generic worker: a group of endpoints (or a background duty) Synapse's workers
/// documentation says a worker may take from the main process. One worker of each kind runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerKind {
    /// `/sync` (and Element X's sliding sync), `/events`, `/initialSync`.
    Sync,
    /// Client reads: room state and members, messages, login, keys queries, search.
    ClientReader,
    /// Inbound federation: transactions and the requests other servers make.
    FederationInbound,
    /// Outbound federation (no HTTP endpoints).
    FederationSender,
    /// The media repository (uploads, downloads, thumbnails) and its background jobs.
    Media,
    /// Writes events to the database (the `events` stream writer).
    EventPersister,
}

impl WorkerKind {
    pub const ALL: [WorkerKind; 6] = [
        WorkerKind::Sync,
        WorkerKind::ClientReader,
        WorkerKind::FederationInbound,
        WorkerKind::FederationSender,
        WorkerKind::Media,
        WorkerKind::EventPersister,
    ];

    /// As written in `workers:`, and Synapse's `worker_name` of the one worker of this kind.
    pub fn name(self) -> &'static str {
        match self {
            WorkerKind::Sync => "sync",
            WorkerKind::ClientReader => "client_reader",
            WorkerKind::FederationInbound => "federation_inbound",
            WorkerKind::FederationSender => "federation_sender",
            WorkerKind::Media => "media",
            WorkerKind::EventPersister => "event_persister",
        }
    }

    fn parse(text: &str) -> Option<WorkerKind> {
        WorkerKind::ALL.into_iter().find(|k| k.name() == text)
    }
}

/// `workers:` as validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Workers {
    /// The main process serves everything (the default: workers cost memory a small host lacks).
    #[default]
    Off,
    /// Chosen by the host's core count (`crate::workers::plan`).
    Auto,
    /// Exactly these kinds, each once, in the order of `WorkerKind::ALL`.
    List(Vec<WorkerKind>),
}

pub(super) fn check_workers(
    raw: Option<Value>,
    external_upstream: bool,
    problems: &mut Vec<Problem>,
) -> Workers {
    let kinds = WorkerKind::ALL.map(WorkerKind::name).join(", ");
    let workers = match raw {
        None => Workers::Off,
        Some(Value::String(word)) if word == "off" => Workers::Off,
        Some(Value::Bool(false)) => Workers::Off,
        Some(Value::String(word)) if word == "auto" => Workers::Auto,
        Some(Value::Sequence(list)) => {
            let mut chosen = Vec::new();
            for (i, item) in list.iter().enumerate() {
                let path = format!("workers[{i}]");
                match item.as_str().and_then(WorkerKind::parse) {
                    Some(kind) if chosen.contains(&kind) => problems.push(problem_t(
                        path,
                        (M::WorkerTwice, &[&kind.name()]),
                        Some((M::WorkerTwiceFix, &[])),
                    )),
                    Some(kind) => chosen.push(kind),
                    None => problems.push(problem_t(
                        path,
                        (M::UnknownWorker, &[&shown(item)]),
                        Some((M::UnknownWorkerFix, &[&kinds])),
                    )),
                }
            }
            chosen.sort();
            if chosen.is_empty() {
                Workers::Off
            } else {
                Workers::List(chosen)
            }
        }
        Some(other) => {
            problems.push(problem_t(
                "workers",
                (M::NotWorkers, &[&shown(&other)]),
                Some((M::UnknownWorkerFix, &[&kinds])),
            ));
            Workers::Off
        }
    };
    if workers != Workers::Off && external_upstream {
        problems.push(problem_t(
            "workers",
            (M::WorkersWithUpstream, &[]),
            Some((M::WorkersWithUpstreamFix, &[])),
        ));
        return Workers::Off;
    }
    workers
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => crate::yaml::to_string(other).trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    fn check(text: &str, upstream: bool) -> (Workers, Vec<Problem>) {
        let mut problems = vec![];
        let value = crate::yaml::parse(text).unwrap();
        let raw = (!value.is_null()).then_some(value);
        (check_workers(raw, upstream, &mut problems), problems)
    }

    #[test]
    fn off_auto_and_lists() {
        assert_eq!(check("", false).0, Workers::Off);
        assert_eq!(check("off", false).0, Workers::Off);
        assert_eq!(check("false", false).0, Workers::Off);
        assert_eq!(check("auto", false).0, Workers::Auto);
        let (list, problems) = check("[media, sync]", false);
        assert!(problems.is_empty());
        assert_eq!(
            list,
            Workers::List(vec![WorkerKind::Sync, WorkerKind::Media])
        );
    }

    #[test]
    fn mistakes_are_named_with_their_path_in_both_languages() {
        let (_, problems) = check("[sync, synchrotron, sync]", false);
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].path, "workers[1]");
        assert!(problems[0].message.contains("`synchrotron`"));
        let hint = problems[0].hint.as_deref().unwrap();
        assert!(hint.contains("client_reader, federation_inbound"), "{hint}");
        assert_eq!(problems[1].path, "workers[2]");
        assert!(problems[1].message.contains("twice"));
        let zh = problems[0].zh.as_ref().unwrap();
        assert!(
            zh.0.contains("synchrotron") && zh.0.contains("未知"),
            "{zh:?}"
        );

        let (w, problems) = check("yes please", false);
        assert_eq!(w, Workers::Off);
        assert_eq!(problems[0].path, "workers");
        let (w, problems) = check("auto", true);
        assert_eq!(w, Workers::Off);
        assert!(problems[0].message.contains("upstream"));
        assert!(
            Lang::ZhCn
                .t(M::WorkersWithUpstream, &[])
                .contains("upstream")
        );
    }
}
