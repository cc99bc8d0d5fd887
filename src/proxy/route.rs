//! Which handler answers a request: a pure function of listener, method, path and peer.

use std::borrow::Cow;
use std::net::IpAddr;

use percent_encoding::percent_decode_str;

use crate::metrics::RouteClass;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WellKnown {
    Server,
    Client,
    Support,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// HTTP-01 validation on :80.
    AcmeChallenge(String),
    /// Anything else on :80.
    RedirectToHttps,
    WellKnown(WellKnown),
    /// CORS preflight for a well-known document.
    WellKnownOptions,
    /// Synapse answers; the class is the metrics', worked out with the route (one look at the
    /// path serves both).
    Upstream(RouteClass),
    AdminForbidden,
    Landing,
    /// The invite page for a token (as sent; the page checks it).
    Invite(String),
    /// A file the pages load (`/assets/<name>`).
    Asset(String),
    NotFound,
}

const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// Routing on the plain-HTTP listener.
pub fn route_http(path: &str) -> Route {
    match path.strip_prefix(CHALLENGE_PREFIX) {
        Some(token) if !token.is_empty() && !token.contains('/') => {
            Route::AcmeChallenge(token.to_string())
        }
        _ => Route::RedirectToHttps,
    }
}

/// Routing on the TLS listener. `path` is the raw request path (no query).
pub fn route_https(
    method: &http::Method,
    path: &str,
    admin_allowed: impl Fn(IpAddr) -> bool,
    peer: IpAddr,
) -> Route {
    let well_known = match path {
        "/.well-known/matrix/server" => Some(WellKnown::Server),
        "/.well-known/matrix/client" => Some(WellKnown::Client),
        "/.well-known/matrix/support" => Some(WellKnown::Support),
        _ => None,
    };
    if let Some(kind) = well_known {
        return if method == http::Method::OPTIONS {
            Route::WellKnownOptions
        } else {
            Route::WellKnown(kind)
        };
    }
    // Judge admin access on the path as Synapse will understand it, whatever encoding or dot
    // segments a client uses to disguise it (the plain path is checked without allocating).
    let understood = if disguised(path) {
        Cow::Owned(normalized(path))
    } else {
        Cow::Borrowed(path)
    };
    if understood.starts_with("/_synapse/admin") {
        return if admin_allowed(peer) {
            Route::Upstream(RouteClass::Admin)
        } else {
            Route::AdminForbidden
        };
    }
    if path.starts_with("/_matrix/") || path.starts_with("/_synapse/client/") {
        return Route::Upstream(upstream_class(method, &understood));
    }
    if path == "/" {
        return Route::Landing;
    }
    if let Some(token) = path.strip_prefix("/invite/")
        && !token.is_empty()
        && !token.contains('/')
    {
        return Route::Invite(token.to_string());
    }
    if let Some(name) = path.strip_prefix("/assets/")
        && !name.is_empty()
        && !name.contains('/')
    {
        return Route::Asset(name.to_string());
    }
    Route::NotFound
}

/// A long-poll `/sync` (client-server API, any version; simplified sliding sync, as Element X
/// uses, is a POST): Synapse holds it open until there is news or its `timeout` passes, so it gets
/// a pool of connections of its own.
pub fn is_long_poll(method: &http::Method, path: &str) -> bool {
    if !path.starts_with("/_matrix/client/") {
        return false;
    }
    (method == http::Method::GET && path.ends_with("/sync"))
        || (method == http::Method::POST && path.ends_with(SLIDING_SYNC))
}

/// Simplified sliding sync (MSC4186), which Element X long-polls with POST.
const SLIDING_SYNC: &str = "/org.matrix.simplified_msc3575/sync";

/// The metrics' route class of a request `route_https` or `route_http` sent to `route`.
pub fn class(route: &Route) -> RouteClass {
    match route {
        Route::WellKnown(_) | Route::WellKnownOptions => RouteClass::WellKnown,
        Route::Landing | Route::Invite(_) | Route::Asset(_) => RouteClass::Landing,
        Route::AdminForbidden => RouteClass::Admin,
        Route::NotFound => RouteClass::Other,
        Route::AcmeChallenge(_) | Route::RedirectToHttps => RouteClass::PlainHttp,
        Route::Upstream(class) => *class,
    }
}

fn upstream_class(method: &http::Method, path: &str) -> RouteClass {
    if path.starts_with("/_synapse/admin") {
        return RouteClass::Admin;
    }
    if path.starts_with("/_synapse/client/") {
        return RouteClass::SynapseClient;
    }
    if path.starts_with("/_matrix/federation/") || path.starts_with("/_matrix/key/") {
        return RouteClass::Federation;
    }
    if path.starts_with("/_matrix/media/") {
        return RouteClass::Media;
    }
    let Some(client) = path.strip_prefix("/_matrix/client/") else {
        return RouteClass::Other;
    };
    // `v1/media/...` (authenticated media) after the version segment.
    let rest = client.split_once('/').map_or("", |(_, rest)| rest);
    if rest.starts_with("media/") {
        RouteClass::Media
    } else if path.ends_with("/sync") {
        // Sliding sync long-polls with POST.
        RouteClass::ClientSync
    } else if method == http::Method::PUT
        && rest.starts_with("rooms/")
        && (rest.contains("/send/") || rest.contains("/state/"))
    {
        RouteClass::ClientSend
    } else {
        RouteClass::Client
    }
}

/// Whether `path` holds a percent escape, an empty segment or a dot segment, which
/// `normalized` would change. This runs for every request, so eight bytes are looked at a time
/// (a byte loop took about ten instructions a byte).
fn disguised(path: &str) -> bool {
    let mut after_slash = 0; // 0x80 when the previous word ended in '/'
    for chunk in path.as_bytes().chunks(8) {
        let mut word = [0u8; 8]; // zero bytes match nothing
        word[..chunk.len()].copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let slash = bytes_equal(word, b'/');
        let slash_or_dot = slash | bytes_equal(word, b'.');
        // A byte's flag shifted onto the next byte (little endian: the next is higher).
        let follows_slash = (slash << 8) | after_slash;
        if bytes_equal(word, b'%') != 0 || follows_slash & slash_or_dot != 0 {
            return true;
        }
        after_slash = slash >> 56;
    }
    false
}

/// 0x80 in each byte of `word` that is `b`, 0 in the others (exact: no carries between bytes).
fn bytes_equal(word: u64, b: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = word ^ (u64::from(b) * 0x0101_0101_0101_0101);
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// Percent-decoded, duplicate slashes collapsed, `.`/`..` segments resolved.
fn normalized(path: &str) -> String {
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    format!("/{}", segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn route(method: Method, path: &str, allowed: bool) -> Route {
        route_https(&method, path, |_| allowed, "203.0.113.9".parse().unwrap())
    }

    #[test]
    fn http_listener() {
        assert_eq!(
            route_http("/.well-known/acme-challenge/abc"),
            Route::AcmeChallenge("abc".into())
        );
        assert_eq!(
            route_http("/.well-known/acme-challenge/"),
            Route::RedirectToHttps
        );
        assert_eq!(
            route_http("/_matrix/client/versions"),
            Route::RedirectToHttps
        );
    }

    #[test]
    fn https_listener() {
        assert_eq!(
            route(Method::GET, "/.well-known/matrix/server", false),
            Route::WellKnown(WellKnown::Server)
        );
        assert_eq!(
            route(Method::OPTIONS, "/.well-known/matrix/client", false),
            Route::WellKnownOptions
        );
        assert_eq!(
            route(Method::GET, "/_matrix/client/versions", false),
            Route::Upstream(RouteClass::Client)
        );
        assert_eq!(
            route(Method::PUT, "/_matrix/media/v3/upload", false),
            Route::Upstream(RouteClass::Media)
        );
        assert_eq!(
            route(Method::GET, "/_synapse/client/sso", false),
            Route::Upstream(RouteClass::SynapseClient)
        );
        assert_eq!(route(Method::GET, "/", false), Route::Landing);
        assert_eq!(
            route(Method::GET, "/_synapse/metrics", false),
            Route::NotFound
        );
        assert_eq!(route(Method::GET, "/favicon.ico", false), Route::NotFound);
        assert_eq!(
            route(Method::GET, "/invite/Ab3._~-", false),
            Route::Invite("Ab3._~-".into())
        );
        assert_eq!(route(Method::GET, "/invite/", false), Route::NotFound);
        assert_eq!(route(Method::GET, "/invite/a/b", false), Route::NotFound);
        assert_eq!(
            route(Method::GET, "/assets/invite.js", false),
            Route::Asset("invite.js".into())
        );
        assert_eq!(route(Method::GET, "/assets/../x", false), Route::NotFound);
    }

    #[test]
    fn long_polls_are_recognised() {
        for path in [
            "/_matrix/client/v3/sync",
            "/_matrix/client/r0/sync",
            "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync",
        ] {
            assert!(is_long_poll(&Method::GET, path), "{path}");
        }
        assert!(is_long_poll(
            &Method::POST,
            "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
        ));
        assert!(!is_long_poll(&Method::POST, "/_matrix/client/v3/sync"));
        assert!(!is_long_poll(&Method::GET, "/_matrix/client/v3/syncs"));
        assert!(!is_long_poll(&Method::GET, "/sync"));
    }

    fn class_of(method: Method, path: &str, allowed: bool) -> RouteClass {
        class(&route(method, path, allowed))
    }

    #[test]
    fn route_classes() {
        use RouteClass::*;
        for (method, path, allowed, expected) in [
            (Method::GET, "/_matrix/client/v3/sync", false, ClientSync),
            (
                Method::POST,
                "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync",
                false,
                ClientSync,
            ),
            (
                Method::PUT,
                "/_matrix/client/v3/rooms/!a:x/send/m.room.message/t1",
                false,
                ClientSend,
            ),
            (
                Method::PUT,
                "/_matrix/client/v3/rooms/!a:x/state/m.room.name/",
                false,
                ClientSend,
            ),
            (
                Method::GET,
                "/_matrix/client/v3/rooms/!a:x/messages",
                false,
                Client,
            ),
            (Method::POST, "/_matrix/client/v3/login", false, Client),
            (Method::GET, "/_matrix/client/versions", false, Client),
            (Method::POST, "/_matrix/media/v3/upload", false, Media),
            (
                Method::GET,
                "/_matrix/client/v1/media/download/x/y",
                false,
                Media,
            ),
            (
                Method::PUT,
                "/_matrix/federation/v1/send/1",
                false,
                Federation,
            ),
            (Method::GET, "/_matrix/key/v2/server", false, Federation),
            (Method::GET, "/_synapse/client/sso", false, SynapseClient),
            (Method::GET, "/_synapse/admin/v1/users", true, Admin),
            (Method::GET, "/_synapse/admin/v1/users", false, Admin),
            (Method::GET, "/_matrix/%2e%2e/_synapse/admin", true, Admin),
            (Method::GET, "/_matrix/../_synapse/admin/v1/x", false, Admin),
            (Method::GET, "/.well-known/matrix/server", false, WellKnown),
            (
                Method::OPTIONS,
                "/.well-known/matrix/client",
                false,
                WellKnown,
            ),
            (Method::GET, "/", false, Landing),
            (Method::GET, "/_synapse/metrics", true, Other),
            (Method::GET, "/favicon.ico", false, Other),
            (Method::GET, "/_matrix/unknown", false, Other),
        ] {
            assert_eq!(class_of(method, path, allowed), expected, "{path}");
        }
        let challenge = route_http("/.well-known/acme-challenge/abc");
        assert_eq!(class(&challenge), PlainHttp);
        assert_eq!(class(&route_http("/")), PlainHttp);
    }

    #[test]
    fn disguised_paths_are_found_wherever_the_sign_is() {
        // What `disguised` must agree with, a byte at a time.
        fn plainly(path: &str) -> bool {
            let b = path.as_bytes();
            (0..b.len()).any(|i| {
                b[i] == b'%' || (b[i] == b'/' && matches!(b.get(i + 1), Some(b'/' | b'.')))
            })
        }
        let base = "/_matrix/client/v3/rooms/abcdefgh/messages";
        let mut paths = vec![base.to_string(), String::new(), "/".into(), "a/".into()];
        // Every sign at every offset, across the eight-byte boundaries.
        for i in 0..base.len() {
            for sign in ["%", "//", "/.", ".", "/", "%2e", "-", "\u{e9}"] {
                let mut p = base.to_string();
                p.insert_str(i, sign);
                paths.push(p);
            }
        }
        for path in &paths {
            assert_eq!(disguised(path), plainly(path), "{path}");
        }
        assert!(paths.iter().filter(|p| disguised(p)).count() > base.len() * 3);
    }

    #[test]
    fn admin_is_guarded_however_it_is_spelled() {
        for path in [
            "/_synapse/admin/v1/users",
            "/_synapse//admin/v1/users",
            "/_synapse/%61dmin/v1/users",
            "/_matrix/../_synapse/admin/v1/users",
            "/_matrix/%2e%2e/_synapse/admin",
            "/./_synapse/admin",
        ] {
            assert_eq!(
                route(Method::GET, path, false),
                Route::AdminForbidden,
                "{path}"
            );
            assert_eq!(
                route(Method::GET, path, true),
                Route::Upstream(RouteClass::Admin),
                "{path}"
            );
        }
    }
}
