//! Server discovery in the Matrix spec's order (well-known, SRV `_matrix-fed._tcp`, SRV
//! `_matrix._tcp`, port 8448), and the well-known documents judged as a remote reads them (pure).

use std::net::IpAddr;

use serde_json::Value;

pub const DEFAULT_FEDERATION_PORT: u16 = 8448;

/// A server name or delegation: a host (DNS name or IP literal) and maybe a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: Option<u16>,
}

impl HostPort {
    pub fn parse(text: &str) -> Result<HostPort, String> {
        let bad = || format!("`{text}` is not a server name (host or host:port)");
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (ip, after) = rest.split_once(']').ok_or_else(bad)?;
            ip.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(bad)?),
            };
            (ip.to_string(), port)
        } else {
            match text.rsplit_once(':') {
                Some((host, port)) => (host.to_string(), Some(port)),
                None => (text.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?),
            None => None,
        };
        let name_ok = !host.is_empty()
            && host.len() <= 255
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !name_ok && host.parse::<IpAddr>().is_err() {
            return Err(bad());
        }
        Ok(HostPort {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// The `Host` header for this name: IPv6 literals in brackets, the port only when given.
    fn authority(&self) -> String {
        let host = match self.ip() {
            Some(IpAddr::V6(v6)) => format!("[{v6}]"),
            _ => self.host.clone(),
        };
        match self.port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        }
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.authority())
    }
}

/// How the federation endpoint was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// The name (server name or delegation) is an IP literal or has an explicit port.
    Literal,
    /// SRV record (`_matrix-fed._tcp.` or the deprecated `_matrix._tcp.`) of this name.
    Srv(String),
    /// No SRV record: A/AAAA of the name, port 8448.
    DefaultPort,
}

/// Where a remote server sends federation requests for a server name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The name the certificate must be valid for (also the SNI).
    pub tls_name: String,
    pub host_header: String,
    /// What to resolve and connect to: the name itself, or an SRV target.
    pub connect_host: String,
    pub port: u16,
    pub via: Via,
}

/// Step 1-2 of the spec (and 3.1-3.2 after delegation): a name that is an IP literal or carries
/// a port is used as is; otherwise `None`, and discovery goes on (well-known, then SRV).
pub fn literal(name: &HostPort) -> Option<Endpoint> {
    if name.ip().is_none() && name.port.is_none() {
        return None;
    }
    Some(Endpoint {
        tls_name: name.host.clone(),
        host_header: name.authority(),
        connect_host: name.host.clone(),
        port: name.port.unwrap_or(DEFAULT_FEDERATION_PORT),
        via: Via::Literal,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// RFC 2782 order: lowest priority first, and within one the heaviest weight (a remote picks
/// at random by weight; doctor reports the likeliest). A lone `.` target means "no service".
pub fn order_srv(mut records: Vec<Srv>) -> Vec<Srv> {
    records.retain(|r| !r.target.trim_end_matches('.').is_empty());
    records.sort_by(|a, b| a.priority.cmp(&b.priority).then(b.weight.cmp(&a.weight)));
    records
}

/// Steps 3.3-3.5 / 4-6: from the SRV answers for `host` (new name first, deprecated second),
/// or port 8448 when neither has a usable record. The certificate is checked against `host`,
/// never the SRV target.
pub fn after_srv(host: &str, fed: &[Srv], legacy: &[Srv]) -> Endpoint {
    let chosen = [("_matrix-fed._tcp", fed), ("_matrix._tcp", legacy)]
        .into_iter()
        .find_map(|(prefix, records)| {
            order_srv(records.to_vec())
                .into_iter()
                .next()
                .map(|r| (format!("{prefix}.{host}"), r))
        });
    match chosen {
        Some((record, srv)) => Endpoint {
            tls_name: host.to_string(),
            host_header: host.to_string(),
            connect_host: srv.target.trim_end_matches('.').to_string(),
            port: srv.port,
            via: Via::Srv(record),
        },
        None => Endpoint {
            tls_name: host.to_string(),
            host_header: host.to_string(),
            connect_host: host.to_string(),
            port: DEFAULT_FEDERATION_PORT,
            via: Via::DefaultPort,
        },
    }
}

/// One HTTP answer, as much as the judgements need.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    /// `Access-Control-Allow-Origin`.
    pub cors: Option<String>,
    pub body: Vec<u8>,
    /// `Location`, for redirects.
    pub location: Option<String>,
}

/// Where a redirect from `https://host:port/...` to `location` leads: `(host, port, path)`.
/// Only https targets are followed (the spec wants the well-known over TLS); `None` ends the chain
/// and the 30x is judged as the answer.
pub fn redirect_target(host: &str, port: u16, location: &str) -> Option<(String, u16, String)> {
    if location.starts_with('/') && !location.starts_with("//") {
        return Some((host.to_string(), port, location.to_string()));
    }
    let uri: http::Uri = location.parse().ok()?;
    if uri.scheme_str() != Some("https") {
        return None;
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    Some((uri.host()?.to_string(), uri.port_u16().unwrap_or(443), path))
}

/// Pure: a status that sends the client on to `Location`.
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

#[derive(Debug, Clone, PartialEq)]
pub enum DocProblem {
    Status(u16),
    NotJson(String),
    /// The field is missing or not a string.
    Missing(&'static str),
    Invalid {
        field: &'static str,
        value: String,
    },
}

/// Things a remote tolerates but browsers or some clients do not.
#[derive(Debug, Clone, PartialEq)]
pub enum DocWarning {
    ContentType(Option<String>),
    Cors(Option<String>),
}

fn json_object(answer: &Answer) -> Result<Value, DocProblem> {
    if answer.status != 200 {
        return Err(DocProblem::Status(answer.status));
    }
    let doc: Value =
        serde_json::from_slice(&answer.body).map_err(|e| DocProblem::NotJson(e.to_string()))?;
    if !doc.is_object() {
        return Err(DocProblem::NotJson("not a JSON object".into()));
    }
    Ok(doc)
}

fn warnings(answer: &Answer) -> Vec<DocWarning> {
    let mut out = Vec::new();
    let json = answer
        .content_type
        .as_deref()
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        out.push(DocWarning::ContentType(answer.content_type.clone()));
    }
    if answer.cors.as_deref().map(str::trim) != Some("*") {
        out.push(DocWarning::Cors(answer.cors.clone()));
    }
    out
}

/// `/.well-known/matrix/server`: `{"m.server": "host[:port]"}`.
pub fn server_well_known(answer: &Answer) -> Result<(HostPort, Vec<DocWarning>), DocProblem> {
    let doc = json_object(answer)?;
    let value = doc["m.server"]
        .as_str()
        .ok_or(DocProblem::Missing("m.server"))?;
    let to = HostPort::parse(value).map_err(|_| DocProblem::Invalid {
        field: "m.server",
        value: value.to_string(),
    })?;
    Ok((to, warnings(answer)))
}

/// `/.well-known/matrix/client`: `m.homeserver.base_url`, an https URL with a host.
pub fn client_well_known(answer: &Answer) -> Result<(http::Uri, Vec<DocWarning>), DocProblem> {
    let doc = json_object(answer)?;
    let value = doc["m.homeserver"]["base_url"]
        .as_str()
        .ok_or(DocProblem::Missing("m.homeserver.base_url"))?;
    let invalid = || DocProblem::Invalid {
        field: "m.homeserver.base_url",
        value: value.to_string(),
    };
    let url: http::Uri = value.parse().map_err(|_| invalid())?;
    if url.scheme_str() != Some("https") || url.host().is_none() {
        return Err(invalid());
    }
    Ok((url, warnings(answer)))
}

/// `/_matrix/client/versions`: the spec versions the server offers.
pub fn client_versions(answer: &Answer) -> Result<Vec<String>, DocProblem> {
    let doc = json_object(answer)?;
    let versions: Vec<String> = doc["versions"]
        .as_array()
        .ok_or(DocProblem::Missing("versions"))?
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    if versions.is_empty() {
        return Err(DocProblem::Missing("versions"));
    }
    Ok(versions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(text: &str) -> HostPort {
        HostPort::parse(text).unwrap()
    }

    fn json_answer(body: &str) -> Answer {
        Answer {
            status: 200,
            content_type: Some("application/json".into()),
            cors: Some("*".into()),
            body: body.as_bytes().to_vec(),
            location: None,
        }
    }

    #[test]
    fn redirects_are_followed_over_https_only() {
        let t = |l: &str| redirect_target("example.com", 443, l);
        assert_eq!(
            t("https://matrix.example.com/.well-known/matrix/server"),
            Some((
                "matrix.example.com".into(),
                443,
                "/.well-known/matrix/server".into()
            ))
        );
        assert_eq!(
            t("https://www.example.com:8443/x?y=1"),
            Some(("www.example.com".into(), 8443, "/x?y=1".into()))
        );
        assert_eq!(
            t("/moved"),
            Some(("example.com".into(), 443, "/moved".into()))
        );
        assert_eq!(t("http://www.example.com/.well-known/matrix/server"), None);
        assert_eq!(t("//www.example.com/x"), None);
        assert_eq!(t("not a url"), None);
        assert!(is_redirect(308) && is_redirect(301) && !is_redirect(200) && !is_redirect(304));
    }

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Srv {
        Srv {
            priority,
            weight,
            port,
            target: target.into(),
        }
    }

    #[test]
    fn server_names_parse_with_and_without_ports() {
        assert_eq!(
            hp("Matrix.Example.com:443"),
            HostPort {
                host: "matrix.example.com".into(),
                port: Some(443)
            }
        );
        assert_eq!(hp("[::1]:8448").to_string(), "[::1]:8448");
        assert_eq!(hp("1.2.3.4").ip(), Some("1.2.3.4".parse().unwrap()));
        for bad in [
            "",
            "a b",
            "host:",
            "host:0",
            "host:99999",
            "[::1",
            "ex_ample.com",
        ] {
            assert!(HostPort::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn literal_names_skip_discovery() {
        assert_eq!(literal(&hp("example.org")), None);
        let e = literal(&hp("matrix.example.org:443")).unwrap();
        assert_eq!(
            (e.tls_name.as_str(), e.host_header.as_str(), e.port),
            ("matrix.example.org", "matrix.example.org:443", 443)
        );
        let e = literal(&hp("[2001:db8::1]")).unwrap();
        assert_eq!((e.host_header.as_str(), e.port), ("[2001:db8::1]", 8448));
    }

    #[test]
    fn srv_records_are_ordered_by_priority_then_weight() {
        let ordered = order_srv(vec![
            srv(20, 100, 1, "c.example."),
            srv(10, 5, 2, "b.example."),
            srv(10, 60, 3, "a.example."),
            srv(0, 0, 0, "."),
        ]);
        let ports: Vec<u16> = ordered.iter().map(|r| r.port).collect();
        assert_eq!(ports, vec![3, 2, 1]);
    }

    #[test]
    fn the_new_srv_name_wins_then_the_deprecated_then_8448() {
        let fed = [srv(10, 0, 8443, "fed.example.")];
        let legacy = [srv(10, 0, 8000, "legacy.example.")];
        let e = after_srv("example.org", &fed, &legacy);
        assert_eq!(
            e,
            Endpoint {
                tls_name: "example.org".into(),
                host_header: "example.org".into(),
                connect_host: "fed.example".into(),
                port: 8443,
                via: Via::Srv("_matrix-fed._tcp.example.org".into()),
            }
        );
        let e = after_srv("example.org", &[], &legacy);
        assert_eq!(
            (e.connect_host.as_str(), e.via),
            (
                "legacy.example",
                Via::Srv("_matrix._tcp.example.org".into())
            )
        );
        let e = after_srv("example.org", &[srv(0, 0, 0, ".")], &[]);
        assert_eq!((e.port, e.via), (8448, Via::DefaultPort));
    }

    #[test]
    fn good_server_well_known() {
        let (to, warnings) =
            server_well_known(&json_answer(r#"{"m.server":"matrix.example.com:443"}"#)).unwrap();
        assert_eq!(to, hp("matrix.example.com:443"));
        assert!(warnings.is_empty());
        let mut lax = json_answer(r#"{"m.server":"matrix.example.com"}"#);
        lax.content_type = Some("text/plain".into());
        lax.cors = None;
        let (_, warnings) = server_well_known(&lax).unwrap();
        assert_eq!(
            warnings,
            vec![
                DocWarning::ContentType(Some("text/plain".into())),
                DocWarning::Cors(None)
            ]
        );
        let mut charset = json_answer(r#"{"m.server":"a.org"}"#);
        charset.content_type = Some("application/json; charset=utf-8".into());
        assert!(server_well_known(&charset).unwrap().1.is_empty());
    }

    #[test]
    fn bad_server_well_known() {
        assert!(matches!(
            server_well_known(&json_answer("<html>hello</html>")),
            Err(DocProblem::NotJson(_))
        ));
        assert!(matches!(
            server_well_known(&json_answer("[1]")),
            Err(DocProblem::NotJson(_))
        ));
        assert_eq!(
            server_well_known(&json_answer(r#"{"m.homeserver":"x"}"#)),
            Err(DocProblem::Missing("m.server"))
        );
        assert_eq!(
            server_well_known(&json_answer(r#"{"m.server":"https://x.org"}"#)),
            Err(DocProblem::Invalid {
                field: "m.server",
                value: "https://x.org".into()
            })
        );
        let mut missing = json_answer("");
        missing.status = 404;
        assert_eq!(server_well_known(&missing), Err(DocProblem::Status(404)));
    }

    #[test]
    fn client_well_known_and_versions() {
        let (url, _) = client_well_known(&json_answer(
            r#"{"m.homeserver":{"base_url":"https://matrix.example.com"}}"#,
        ))
        .unwrap();
        assert_eq!(url.host(), Some("matrix.example.com"));
        assert!(matches!(
            client_well_known(&json_answer(
                r#"{"m.homeserver":{"base_url":"http://matrix.example.com"}}"#
            )),
            Err(DocProblem::Invalid { .. })
        ));
        assert_eq!(
            client_versions(&json_answer(r#"{"versions":["v1.11","v1.12"]}"#)),
            Ok(vec!["v1.11".into(), "v1.12".into()])
        );
        assert_eq!(
            client_versions(&json_answer(r#"{"versions":[]}"#)),
            Err(DocProblem::Missing("versions"))
        );
    }
}
