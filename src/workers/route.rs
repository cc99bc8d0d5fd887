//! Which worker answers a request, by the endpoint patterns of Synapse's workers documentation
//! (`docs/workers.md`, "Available worker applications"): a pure function of method and path.
//!
//! Matched segment by segment on the raw path, without allocating: the edge asks for every
//! request. A path it does not recognise (or spells unusually) goes to the main process, which
//! serves every endpoint a worker serves.

use crate::config::WorkerKind;

/// The worker of `running` that should answer `path`; `None`: the main process.
pub fn pick(method: &http::Method, path: &str, running: &[WorkerKind]) -> Option<WorkerKind> {
    worker_for(method, path).filter(|kind| running.contains(kind))
}

/// The kind of worker Synapse's documentation allows to answer `path`, if any.
pub fn worker_for(method: &http::Method, path: &str) -> Option<WorkerKind> {
    if let Some(rest) = path.strip_prefix("/_matrix/client/") {
        return client(method, rest);
    }
    if path.starts_with("/_matrix/media/") {
        return Some(WorkerKind::Media);
    }
    if let Some(rest) = path.strip_prefix("/_matrix/federation/") {
        return federation(rest);
    }
    if path == "/_matrix/key/v2/query" || path.starts_with("/_matrix/key/v2/query/") {
        return Some(WorkerKind::FederationInbound);
    }
    if let Some(rest) = path.strip_prefix("/_synapse/admin/v1/") {
        return admin_media(rest).then_some(WorkerKind::Media);
    }
    None
}

/// The version segment of a client-server path and what follows it.
#[derive(Clone, Copy, PartialEq)]
enum Version {
    ApiV1,
    R0,
    V1,
    V3,
    Unstable,
}

fn client(method: &http::Method, rest: &str) -> Option<WorkerKind> {
    use Version::*;
    if rest == "versions" {
        return Some(WorkerKind::ClientReader);
    }
    let (version, rest) = if let Some(rest) = rest.strip_prefix("api/v1/") {
        (ApiV1, rest)
    } else {
        let (segment, rest) = rest.split_once('/')?;
        let version = match segment {
            "r0" => R0,
            "v1" => V1,
            "v3" => V3,
            "unstable" => Unstable,
            _ => return None,
        };
        (version, rest)
    };
    if version == V1 && rest.starts_with("media/") {
        return Some(WorkerKind::Media);
    }
    if is_sync(version, rest) {
        return Some(WorkerKind::Sync);
    }
    is_client_read(method, version, rest).then_some(WorkerKind::ClientReader)
}

fn is_sync(version: Version, rest: &str) -> bool {
    use Version::*;
    let classic = matches!(version, ApiV1 | R0 | V3);
    match rest {
        "sync" => matches!(version, R0 | V3),
        "events" | "initialSync" => classic,
        // Simplified sliding sync (MSC4186), as Element X long-polls it.
        "org.matrix.simplified_msc3575/sync" => version == Unstable,
        _ => {
            classic
                && room_action(rest)
                    .is_some_and(|(action, tail)| action == "initialSync" && tail.is_none())
        }
    }
}

/// The documented client reads ("Client API requests", "Encryption requests", "Registration/login
/// requests"); writes and the stream writers' endpoints stay on the main process.
fn is_client_read(method: &http::Method, version: Version, rest: &str) -> bool {
    use Version::*;
    let any = matches!(version, ApiV1 | R0 | V3 | Unstable);
    let modern = matches!(version, R0 | V3 | Unstable);
    if let Some((action, tail)) = room_action(rest) {
        return match (action, tail) {
            ("joined_members" | "members" | "state" | "messages", None) => any,
            ("context", Some(_)) => any,
            ("hierarchy" | "threads" | "timestamp_to_event", None) => version == V1,
            ("relations", Some(_)) => matches!(version, V1 | Unstable),
            _ => false,
        };
    }
    if let Some(user) = rest.strip_prefix("user/") {
        // `user/<id>/filter` and `user/<id>/filter/<filter id>`.
        let filter = user.split_once('/').map(|(_, tail)| tail);
        return modern
            && filter.is_some_and(|tail| tail == "filter" || tail.starts_with("filter/"));
    }
    if rest.starts_with("directory/room/") {
        return any;
    }
    match rest {
        "publicRooms" | "login" | "joined_rooms" | "search" | "voip/turnServer" => any,
        "devices" => any,
        _ if rest.starts_with("devices/") => any && method == http::Method::GET,
        "account/whoami" | "account/3pid" | "register" | "register/available"
        | "password_policy" | "capabilities" | "notifications" | "keys/query" | "keys/changes"
        | "keys/claim" => modern,
        "delete_devices" => matches!(version, R0 | V3),
        "register/m.login.registration_token/validity" => version == V1,
        _ => false,
    }
}

/// `rooms/<room>/<action>[/<tail>]` -> (action, tail).
fn room_action(rest: &str) -> Option<(&str, Option<&str>)> {
    let (_room, after) = rest.strip_prefix("rooms/")?.split_once('/')?;
    Some(match after.split_once('/') {
        Some((action, tail)) => (action, Some(tail)),
        None => (after, None),
    })
}

/// Federation requests other servers make, and their transactions (`send`), with their version.
fn federation(rest: &str) -> Option<WorkerKind> {
    let (version, rest) = rest.split_once('/')?;
    if !matches!(version, "v1" | "v2") {
        return None;
    }
    if version == "v1" && rest.starts_with("media/") {
        return Some(WorkerKind::Media);
    }
    let first = rest.split('/').next().unwrap_or("");
    let inbound = match first {
        "version" => rest == "version" && version == "v1",
        "event"
        | "state"
        | "state_ids"
        | "backfill"
        | "get_missing_events"
        | "query"
        | "make_join"
        | "make_leave"
        | "send_join"
        | "send_leave"
        | "invite"
        | "query_auth"
        | "event_auth"
        | "exchange_third_party_invite"
        | "send" => rest.len() > first.len(),
        "publicRooms" => true,
        "make_knock" | "send_knock" | "timestamp_to_event" => {
            version == "v1" && rest.len() > first.len()
        }
        "user" => rest.starts_with("user/devices/"),
        _ => false,
    };
    inbound.then_some(WorkerKind::FederationInbound)
}

/// The media admin API, which the media worker serves when it runs.
fn admin_media(rest: &str) -> bool {
    if rest == "purge_media_cache"
        || rest.starts_with("media/")
        || rest.starts_with("quarantine_media/")
    {
        return true;
    }
    let scoped = rest
        .strip_prefix("room/")
        .or_else(|| rest.strip_prefix("user/"));
    scoped
        .and_then(|s| s.split_once('/'))
        .is_some_and(|(_, tail)| tail.starts_with("media"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use WorkerKind::*;
    use http::Method;

    fn get(path: &str) -> Option<WorkerKind> {
        worker_for(&Method::GET, path)
    }

    #[test]
    fn sync_and_its_relatives() {
        for path in [
            "/_matrix/client/v3/sync",
            "/_matrix/client/r0/sync",
            "/_matrix/client/api/v1/events",
            "/_matrix/client/v3/initialSync",
            "/_matrix/client/v3/rooms/!a:x/initialSync",
            "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync",
        ] {
            assert_eq!(get(path), Some(Sync), "{path}");
        }
        assert_eq!(
            worker_for(
                &Method::POST,
                "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
            ),
            Some(Sync)
        );
        for path in [
            "/_matrix/client/v1/sync",
            "/_matrix/client/v3/syncs",
            "/_matrix/client/v3/sync/x",
            "/_matrix/client/v3/rooms/!a:x/initialSync/x",
        ] {
            assert_eq!(get(path), None, "{path}");
        }
    }

    #[test]
    fn client_reads_go_to_the_reader_and_writes_stay_on_main() {
        for path in [
            "/_matrix/client/versions",
            "/_matrix/client/v3/login",
            "/_matrix/client/r0/register",
            "/_matrix/client/v3/register/available",
            "/_matrix/client/v1/register/m.login.registration_token/validity",
            "/_matrix/client/v3/account/whoami",
            "/_matrix/client/v3/capabilities",
            "/_matrix/client/v3/publicRooms",
            "/_matrix/client/v3/joined_rooms",
            "/_matrix/client/v3/rooms/!a:x/members",
            "/_matrix/client/v3/rooms/!a:x/joined_members",
            "/_matrix/client/v3/rooms/!a:x/state",
            "/_matrix/client/v3/rooms/!a:x/messages",
            "/_matrix/client/v3/rooms/!a:x/context/$e",
            "/_matrix/client/v1/rooms/!a:x/hierarchy",
            "/_matrix/client/v1/rooms/!a:x/relations/$e/m.thread",
            "/_matrix/client/v1/rooms/!a:x/threads",
            "/_matrix/client/v3/user/@a:x/filter",
            "/_matrix/client/v3/user/@a:x/filter/7",
            "/_matrix/client/v3/directory/room/#a:x",
            "/_matrix/client/v3/keys/query",
            "/_matrix/client/v3/keys/changes",
            "/_matrix/client/v3/keys/claim",
            "/_matrix/client/v3/devices",
            "/_matrix/client/v3/devices/ABC",
            "/_matrix/client/v3/notifications",
            "/_matrix/client/v3/search",
        ] {
            assert_eq!(get(path), Some(ClientReader), "{path}");
        }
        for (method, path) in [
            (
                Method::PUT,
                "/_matrix/client/v3/rooms/!a:x/send/m.room.message/t",
            ),
            (
                Method::PUT,
                "/_matrix/client/v3/rooms/!a:x/state/m.room.name/",
            ),
            (Method::POST, "/_matrix/client/v3/createRoom"),
            (Method::POST, "/_matrix/client/v3/keys/upload"),
            (
                Method::PUT,
                "/_matrix/client/v3/sendToDevice/m.room.encrypted/1",
            ),
            (Method::PUT, "/_matrix/client/v3/devices/ABC"),
            (Method::DELETE, "/_matrix/client/v3/devices/ABC"),
            (Method::PUT, "/_matrix/client/v3/user/@a:x/account_data/m.x"),
            (
                Method::POST,
                "/_matrix/client/v3/rooms/!a:x/receipt/m.read/$e",
            ),
            (Method::GET, "/_matrix/client/v3/pushrules/"),
            (Method::GET, "/_matrix/client/v3/presence/@a:x/status"),
            (Method::GET, "/_matrix/client/v3/user/@a:x"),
            (Method::GET, "/_matrix/client/v4/versions"),
            (Method::GET, "/_matrix/client/v3/hierarchy"),
            (Method::GET, "/_matrix/client/v3/rooms/!a:x/hierarchy"),
        ] {
            assert_eq!(worker_for(&method, path), None, "{method} {path}");
        }
    }

    #[test]
    fn federation_and_media() {
        for path in [
            "/_matrix/federation/v1/send/1234",
            "/_matrix/federation/v1/event/$e",
            "/_matrix/federation/v2/send_join/!a:x/$e",
            "/_matrix/federation/v1/make_knock/!a:x/@u:y",
            "/_matrix/federation/v1/publicRooms",
            "/_matrix/federation/v1/user/devices/@a:x",
            "/_matrix/federation/v1/version",
            "/_matrix/key/v2/query",
        ] {
            assert_eq!(get(path), Some(FederationInbound), "{path}");
        }
        for path in [
            "/_matrix/federation/v1/user/keys/query",
            "/_matrix/federation/v1/openid/userinfo",
            "/_matrix/federation/v1/send",
            "/_matrix/federation/v3/send/1",
            "/_matrix/key/v2/server",
        ] {
            assert_eq!(get(path), None, "{path}");
        }
        for path in [
            "/_matrix/media/v3/download/x/y",
            "/_matrix/media/r0/upload",
            "/_matrix/client/v1/media/thumbnail/x/y",
            "/_matrix/federation/v1/media/download/y",
            "/_synapse/admin/v1/media/x/y",
            "/_synapse/admin/v1/purge_media_cache",
            "/_synapse/admin/v1/room/!a:x/media",
            "/_synapse/admin/v1/user/@a:x/media",
        ] {
            assert_eq!(get(path), Some(Media), "{path}");
        }
        assert_eq!(get("/_synapse/admin/v1/users/@a:x"), None);
        assert_eq!(get("/_matrix/client/v3/media/x"), None);
    }

    #[test]
    fn only_running_workers_are_picked() {
        let path = "/_matrix/client/v3/sync";
        assert_eq!(pick(&Method::GET, path, &[Sync]), Some(Sync));
        assert_eq!(pick(&Method::GET, path, &[ClientReader, Media]), None);
        assert_eq!(pick(&Method::GET, path, &[]), None);
        assert_eq!(
            pick(&Method::GET, "/_matrix/client/v3/login", &[Sync]),
            None
        );
    }
}
