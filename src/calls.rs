//! Calls: the TURN relay's config (coturn) and the settings that point clients at it and at a
//! LiveKit SFU (Synapse's `turn_*` and `matrix_rtc`, the well-known `rtc_foci`). Pure.

use serde_json::json;

use crate::config::{Calls, Config, Turn};
use crate::yaml::{Mapping, Value};

/// Where coturn reads its files in its container.
pub const COTURN_CONFIG_MOUNT: &str = "/etc/matrixbox-turn";
pub const COTURN_CONFIG: &str = "turnserver.conf";
pub const COTURN_CERT: &str = "fullchain.pem";
pub const COTURN_KEY: &str = "key.pem";
/// coturn runs as `nobody`, as in the official image.
pub const COTURN_UID: u32 = 65534;

/// Peers a relay must never reach: this host, its networks, the cloud's metadata service, and
/// addresses that are not unicast. A TURN server that relays there is an open door inside.
pub const DENIED_PEERS: &[&str] = &[
    "0.0.0.0-0.255.255.255",
    "10.0.0.0-10.255.255.255",
    "100.64.0.0-100.127.255.255",
    "127.0.0.0-127.255.255.255",
    "169.254.0.0-169.254.255.255",
    "172.16.0.0-172.31.255.255",
    "192.0.0.0-192.0.0.255",
    "192.0.2.0-192.0.2.255",
    "192.88.99.0-192.88.99.255",
    "192.168.0.0-192.168.255.255",
    "198.18.0.0-198.19.255.255",
    "198.51.100.0-198.51.100.255",
    "203.0.113.0-203.0.113.255",
    "224.0.0.0-255.255.255.255",
    "::1",
    "::ffff:0.0.0.0-::ffff:255.255.255.255",
    "64:ff9b::-64:ff9b::ffff:ffff",
    "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "ff00::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
];

/// The TURN URIs Synapse hands to clients: UDP and TCP on `port`, TLS on `tls_port` when coturn
/// has a certificate.
pub fn turn_uris(domain: &str, turn: &Turn, tls: bool) -> Vec<String> {
    let mut uris = vec![
        format!("turn:{domain}:{}?transport=udp", turn.port),
        format!("turn:{domain}:{}?transport=tcp", turn.port),
    ];
    if tls {
        uris.push(format!("turns:{domain}:{}?transport=tcp", turn.tls_port));
    }
    uris
}

/// Synapse's TURN settings: the URIs, the secret it signs time-limited credentials with
/// (coturn's `use-auth-secret`), and their lifetime. Guests get none.
pub fn synapse_turn_settings(config: &Config, turn: &Turn, secret: &str, tls: bool) -> Mapping {
    let mut m = Mapping::new();
    let uris = turn_uris(&config.domain, turn, tls)
        .into_iter()
        .map(Value::from)
        .collect();
    m.insert("turn_uris".into(), Value::Sequence(uris));
    m.insert("turn_shared_secret".into(), secret.into());
    m.insert(
        "turn_user_lifetime".into(),
        turn.user_lifetime.as_str().into(),
    );
    m.insert("turn_allow_guests".into(), false.into());
    m
}

/// The LiveKit transport as clients read it (MSC4143): the JWT service that hands out call
/// tokens for the SFU.
fn livekit_transport(calls: &Calls) -> serde_json::Value {
    json!({ "type": "livekit", "livekit_service_url": calls.jwt_service_url })
}

/// Synapse's MSC4143 settings: the experimental endpoint on, and the transport it lists.
pub fn synapse_rtc_settings(calls: &Calls) -> Mapping {
    let transport: Value = crate::yaml::to_value(&livekit_transport(calls));
    let mut rtc = Mapping::new();
    rtc.insert("transports".into(), Value::Sequence(vec![transport]));
    let mut experimental = Mapping::new();
    experimental.insert("msc4143_enabled".into(), true.into());
    let mut m = Mapping::new();
    m.insert("experimental_features".into(), Value::Mapping(experimental));
    m.insert("matrix_rtc".into(), Value::Mapping(rtc));
    m
}

/// What `/.well-known/matrix/client` adds for calls: the `org.matrix.msc4143.rtc_foci` list.
pub fn well_known_foci(calls: &Calls) -> serde_json::Value {
    json!([livekit_transport(calls)])
}

/// coturn's `turnserver.conf`. `tls` when the certificate files sit beside it.
pub fn render_coturn(config: &Config, turn: &Turn, secret: &str, tls: bool) -> String {
    let mut out = String::from(
        "# Written by matrixbox from matrixbox.yaml (turn:); edits are overwritten.\n",
    );
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!("listening-port={}", turn.port));
    line(format!("tls-listening-port={}", turn.tls_port));
    line(format!("min-port={}", turn.relay_ports.0));
    line(format!("max-port={}", turn.relay_ports.1));
    if let Some(public) = config.public_address {
        line(format!("external-ip={public}"));
    }
    line(format!("realm={}", config.server_name));
    line("use-auth-secret".into());
    line(format!("static-auth-secret={secret}"));
    line("fingerprint".into());
    if tls {
        line(format!("cert={COTURN_CONFIG_MOUNT}/{COTURN_CERT}"));
        line(format!("pkey={COTURN_CONFIG_MOUNT}/{COTURN_KEY}"));
        line("no-tlsv1".into());
        line("no-tlsv1_1".into());
    } else {
        line("no-tls".into());
        line("no-dtls".into());
    }
    line("no-cli".into());
    line("no-multicast-peers".into());
    line("no-software-attribute".into());
    line("no-rfc5780".into());
    line("no-stun-backward-compatibility".into());
    // Synapse's recommended quotas: a few calls per user, a bound for the whole host.
    line("user-quota=12".into());
    line("total-quota=1200".into());
    line("log-file=stdout".into());
    line("simple-log".into());
    line("pidfile=/tmp/turnserver.pid".into());
    for range in DENIED_PEERS {
        line(format!("denied-peer-ip={range}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(text: &str) -> Config {
        crate::config::parse(text, Path::new("t.yaml")).unwrap()
    }

    #[test]
    fn coturn_config_keeps_relays_away_from_private_peers() {
        let c = config(
            "domain: matrix.example.com\nserver_name: example.com\npublic_address: 203.0.113.7\nturn: {enabled: true, relay_ports: 50000-50009}\n",
        );
        let turn = c.turn.clone().unwrap();
        let conf = render_coturn(&c, &turn, "SECRET", true);
        for want in [
            "listening-port=3478",
            "tls-listening-port=5349",
            "min-port=50000",
            "max-port=50009",
            "external-ip=203.0.113.7",
            "realm=example.com",
            "use-auth-secret",
            "static-auth-secret=SECRET",
            "cert=/etc/matrixbox-turn/fullchain.pem",
            "denied-peer-ip=127.0.0.0-127.255.255.255",
            "denied-peer-ip=10.0.0.0-10.255.255.255",
            "denied-peer-ip=192.168.0.0-192.168.255.255",
            "denied-peer-ip=169.254.0.0-169.254.255.255",
            "denied-peer-ip=fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "no-multicast-peers",
            "no-cli",
        ] {
            assert!(conf.lines().any(|l| l == want), "{want} missing:\n{conf}");
        }
        assert!(!conf.contains("allow-loopback-peers"));
        let plain = render_coturn(&c, &turn, "SECRET", false);
        assert!(plain.lines().any(|l| l == "no-tls"));
        assert!(!plain.contains("cert="));
    }

    #[test]
    fn synapse_hands_out_turn_uris_for_the_domain() {
        let c = config(
            "domain: matrix.example.com\nturn: {enabled: true, port: 3479, tls_port: 5350, user_lifetime: 30m}\n",
        );
        let turn = c.turn.clone().unwrap();
        let m = synapse_turn_settings(&c, &turn, "S", true);
        assert_eq!(
            m["turn_uris"],
            crate::yaml::parse("[\"turn:matrix.example.com:3479?transport=udp\", \"turn:matrix.example.com:3479?transport=tcp\", \"turns:matrix.example.com:5350?transport=tcp\"]").unwrap()
        );
        assert_eq!(m["turn_shared_secret"], Value::from("S"));
        assert_eq!(m["turn_user_lifetime"], Value::from("30m"));
        assert_eq!(m["turn_allow_guests"], Value::from(false));
        assert_eq!(
            turn_uris("d", &turn, false).len(),
            2,
            "no turns: without a certificate"
        );
    }

    #[test]
    fn livekit_is_announced_in_both_places() {
        let c = config(
            "domain: a.org\ncalls: {livekit_url: 'wss://sfu.a.org', jwt_service_url: 'https://jwt.a.org/'}\n",
        );
        let calls = c.calls.clone().unwrap();
        assert_eq!(
            well_known_foci(&calls).to_string(),
            r#"[{"livekit_service_url":"https://jwt.a.org","type":"livekit"}]"#
        );
        let m = synapse_rtc_settings(&calls);
        assert_eq!(
            m["experimental_features"]["msc4143_enabled"],
            Value::from(true)
        );
        assert_eq!(
            m["matrix_rtc"]["transports"][0]["livekit_service_url"],
            Value::from("https://jwt.a.org")
        );
    }
}
