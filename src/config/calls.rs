//! `turn:` and `calls:`: the TURN relay matrixbox runs (coturn) and the LiveKit services it points
//! clients at, validated into `Turn` and `Calls`.

use serde::Deserialize;

use super::error::{Problem, problem_t};
use super::messages::M;

/// The relay ports coturn uses unless told otherwise: bounded, so the firewall rule is finite.
pub const DEFAULT_RELAY_PORTS: (u16, u16) = (49160, 49200);
pub const DEFAULT_TURN_PORT: u16 = 3478;
pub const DEFAULT_TURNS_PORT: u16 = 5349;
/// How long the credentials Synapse hands out stay valid (Synapse's own default).
pub const DEFAULT_USER_LIFETIME: &str = "1h";
/// More relay ports than this is a typo, not a plan: each one is an open port.
const MAX_RELAY_PORTS: u32 = 10_000;

/// `turn:` as written.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawTurn {
    /// Off unless `true`: TURN opens ports to the internet.
    pub enabled: Option<bool>,
    /// TURN over UDP and TCP.
    pub port: Option<u16>,
    /// TURN over TLS, with the edge's certificate.
    pub tls_port: Option<u16>,
    /// The relay ports, `first-last`.
    pub relay_ports: Option<String>,
    /// Lifetime of the credentials Synapse hands out, in Synapse's duration syntax (`1h`, `30m`).
    pub user_lifetime: Option<String>,
}

/// `calls:` as written.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawCalls {
    /// The LiveKit SFU's WebSocket URL (`wss://`).
    pub livekit_url: Option<String>,
    /// The LiveKit JWT service's URL (`https://`): what clients ask for a call token.
    pub jwt_service_url: Option<String>,
}

/// The TURN relay, when enabled.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub port: u16,
    pub tls_port: u16,
    pub relay_ports: (u16, u16),
    pub user_lifetime: String,
}

/// Group calls through a LiveKit SFU that runs elsewhere (MSC4143).
#[derive(Debug, Clone, PartialEq)]
pub struct Calls {
    pub livekit_url: String,
    pub jwt_service_url: String,
}

pub(super) fn check_turn(raw: RawTurn, problems: &mut Vec<Problem>) -> Option<Turn> {
    let enabled = raw.enabled.unwrap_or(false);
    let port = check_port("turn.port", raw.port, DEFAULT_TURN_PORT, problems);
    let tls_port = check_port("turn.tls_port", raw.tls_port, DEFAULT_TURNS_PORT, problems);
    let relay_ports = match raw.relay_ports.as_deref() {
        None => Some(DEFAULT_RELAY_PORTS),
        Some(text) => match parse_range(text) {
            Ok(range) => Some(range),
            Err(why) => {
                problems.push(problem_t(
                    "turn.relay_ports",
                    (why, &[&text]),
                    Some((
                        M::RangeFix,
                        &[
                            &MAX_RELAY_PORTS,
                            &DEFAULT_RELAY_PORTS.0,
                            &DEFAULT_RELAY_PORTS.1,
                        ],
                    )),
                ));
                None
            }
        },
    };
    if let (Some((first, last)), Some(p), Some(t)) = (relay_ports, port, tls_port) {
        for (path, listen) in [("turn.port", p), ("turn.tls_port", t)] {
            if (first..=last).contains(&listen) {
                problems.push(problem_t(
                    path,
                    (M::PortInRange, &[&listen, &first, &last]),
                    Some((M::PortInRangeFix, &[])),
                ));
            }
        }
    }
    if let (Some(p), Some(t)) = (port, tls_port)
        && p == t
    {
        problems.push(problem_t(
            "turn.tls_port",
            (M::SamePort, &[&t]),
            Some((M::SamePortFix, &[&DEFAULT_TURNS_PORT])),
        ));
    }
    let user_lifetime = raw
        .user_lifetime
        .unwrap_or_else(|| DEFAULT_USER_LIFETIME.into());
    if !is_duration(&user_lifetime) {
        problems.push(problem_t(
            "turn.user_lifetime",
            (M::NotDuration, &[&user_lifetime]),
            Some((M::NotDurationFix, &[])),
        ));
    }
    enabled.then_some(Turn {
        port: port?,
        tls_port: tls_port?,
        relay_ports: relay_ports?,
        user_lifetime,
    })
}

pub(super) fn check_calls(raw: Option<RawCalls>, problems: &mut Vec<Problem>) -> Option<Calls> {
    let raw = raw?;
    let livekit_url = url("calls.livekit_url", raw.livekit_url, "wss", problems);
    let jwt_service_url = url(
        "calls.jwt_service_url",
        raw.jwt_service_url,
        "https",
        problems,
    );
    Some(Calls {
        livekit_url: livekit_url?,
        jwt_service_url: jwt_service_url?,
    })
}

fn url(
    path: &str,
    value: Option<String>,
    scheme: &str,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let example = match scheme {
        "wss" => "wss://livekit.example.com",
        _ => "https://livekit-jwt.example.com",
    };
    let Some(text) = value else {
        problems.push(problem_t(
            path,
            (M::Missing, &[]),
            Some((M::LiveKitFix, &[&example])),
        ));
        return None;
    };
    match text.parse::<http::Uri>() {
        Ok(uri)
            if uri.scheme_str() == Some(scheme)
                && uri.host().is_some_and(|h| !h.is_empty())
                && uri.query().is_none() =>
        {
            Some(text.trim_end_matches('/').to_string())
        }
        _ => {
            problems.push(problem_t(
                path,
                (M::NotSchemeUrl, &[&text, &scheme]),
                Some((M::ForExample, &[&example])),
            ));
            None
        }
    }
}

fn check_port(
    path: &str,
    value: Option<u16>,
    default: u16,
    problems: &mut Vec<Problem>,
) -> Option<u16> {
    match value.unwrap_or(default) {
        0 => {
            problems.push(problem_t(path, (M::PortNotPort, &[]), None));
            None
        }
        // coturn runs without privileges (no capability to bind below 1024).
        p if p < 1024 => {
            problems.push(problem_t(
                path,
                (M::PortLow, &[&p]),
                Some((M::PortLowFix, &[&DEFAULT_TURN_PORT, &DEFAULT_TURNS_PORT])),
            ));
            None
        }
        p => Some(p),
    }
}

/// `first-last` -> the inclusive range; the reason when it is not one.
fn parse_range(text: &str) -> Result<(u16, u16), M> {
    let (first, last) = text.split_once('-').ok_or(M::NotRange)?;
    let first: u16 = first.trim().parse().map_err(|_| M::NotRange)?;
    let last: u16 = last.trim().parse().map_err(|_| M::NotRange)?;
    if first < 1024 {
        return Err(M::RangeLow);
    }
    if first > last {
        return Err(M::RangeReversed);
    }
    if u32::from(last - first) + 1 > MAX_RELAY_PORTS {
        return Err(M::RangeLarge);
    }
    Ok((first, last))
}

/// Synapse's duration syntax as far as matrixbox accepts it: digits and one unit.
fn is_duration(text: &str) -> bool {
    let Some(unit) = text.chars().last() else {
        return false;
    };
    let digits = &text[..text.len() - unit.len_utf8()];
    matches!(unit, 's' | 'm' | 'h' | 'd')
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && digits.parse::<u32>().is_ok_and(|n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("49160-49200"), Ok((49160, 49200)));
        assert_eq!(parse_range("50000 - 50000"), Ok((50000, 50000)));
        assert_eq!(parse_range("80-90"), Err(M::RangeLow));
        assert_eq!(parse_range("50010-50000"), Err(M::RangeReversed));
        assert_eq!(parse_range("20000-40000"), Err(M::RangeLarge));
        assert_eq!(parse_range("50000"), Err(M::NotRange));
    }

    #[test]
    fn durations() {
        for ok in ["1h", "30m", "86400s", "1d"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["", "h", "1", "1w", "-1h", "0h", "1.5h", "一h"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }
}
