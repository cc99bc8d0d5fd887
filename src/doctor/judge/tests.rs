use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::local::*;
use super::remote::fetch_failure;
use super::*;
use crate::config::SmtpTls;
use crate::disk::{Disk, DiskRole, Space};
use crate::docker::Observed;
use crate::doctor::discovery;
use crate::doctor::net::{FetchError, Fetched, Presented, TlsProblem};
use crate::doctor::smtp::{Failure, Session};
use crate::doctor::{Local, Remote};

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

pub(super) fn local() -> Local {
    Local {
        containers: Some(Ok(vec![])),
        database: Some(Ok(())),
        certificates: vec![],
        own_certificate: None,
        backup: Some((
            crate::backup::schedule::Freshness::Fresh {
                age: std::time::Duration::from_secs(5 * 3_600),
                bytes: 12 << 20,
            },
            true,
        )),
        disk: Disk {
            role: DiskRole::State,
            path: "/var/lib/matrixbox".into(),
            space: Ok(Space {
                free_bytes: 50 << 30,
                dev: 1,
            }),
        },
    }
}

fn observed(running: bool, health: Option<&str>) -> Option<Observed> {
    Some(Observed {
        spec_hash: None,
        running,
        health: health.map(String::from),
        image: "i".into(),
        status: if running { "running" } else { "exited" }.into(),
        exit_code: None,
        restart_count: 0,
    })
}

#[test]
fn certificate_days_left_thresholds() {
    let at = |days: i64| days_left_status(NOW + Duration::days(days) + Duration::hours(1), NOW);
    assert_eq!(at(60), (60, Status::Pass));
    assert_eq!(at(CERT_WARN_DAYS), (20, Status::Pass));
    assert_eq!(at(CERT_WARN_DAYS - 1), (19, Status::Warn));
    assert_eq!(at(CERT_FAIL_DAYS), (7, Status::Warn));
    assert_eq!(at(CERT_FAIL_DAYS - 1), (6, Status::Fail));
    assert_eq!(
        days_left_status(NOW - Duration::hours(1), NOW).1,
        Status::Fail
    );
}

#[test]
fn a_stopped_container_fails_with_its_logs_named() {
    let mut l = local();
    l.containers = Some(Ok(vec![
        ("matrixbox-postgres".into(), observed(true, Some("healthy"))),
        ("matrixbox-synapse".into(), observed(false, None)),
    ]));
    let s = containers(&l, Lang::En);
    assert_eq!(s.status, Status::Fail);
    assert_eq!(
        s.evidence,
        "matrixbox-postgres running (healthy), matrixbox-synapse exited"
    );
    assert!(s.remedy.unwrap().contains("docker logs matrixbox-synapse"));
    l.containers = None;
    assert_eq!(containers(&l, Lang::En).status, Status::Skip);
    assert_eq!(database(&l, Lang::En).status, Status::Skip);
}

#[test]
fn renewal_errors_warn_and_low_disk_fails() {
    let mut l = local();
    assert_eq!(renewal(&l, Lang::En).status, Status::Pass);
    l.certificates.push(crate::acme::CertStatus {
        names: vec!["a.org".into()],
        issuer: None,
        source: None,
        not_after: None,
        next_renewal: None,
        next_attempt: None,
        failures: 3,
        last_error: Some("connection refused".into()),
        path: None,
        trust_root: None,
    });
    let s = renewal(&l, Lang::ZhCn);
    assert_eq!(s.status, Status::Warn);
    assert!(s.evidence.contains("连续失败 3 次"), "{}", s.evidence);
    assert_eq!(certificate(&l, NOW, Lang::En).status, Status::Fail);
    l.disk.space = Ok(Space {
        free_bytes: 512 << 20,
        dev: 1,
    });
    assert_eq!(disk(&l, Lang::En).status, Status::Fail);
    l.disk.space = Ok(Space {
        free_bytes: 3 << 30,
        dev: 1,
    });
    assert_eq!(disk(&l, Lang::En).status, Status::Warn);
}

#[test]
fn a_wrong_name_says_what_the_certificate_names() {
    let e = FetchError::Tls {
        addr: "127.0.0.1:443".parse().unwrap(),
        problem: TlsProblem::NotValidForName,
        presented: Some(Presented {
            names: vec!["other.example".into()],
            issuer: "CN=x".into(),
            not_after: None,
        }),
    };
    let (evidence, remedy) = fetch_failure(&e, "matrix.example.com", Lang::En);
    assert_eq!(
        evidence,
        "the certificate at 127.0.0.1:443 is not valid for matrix.example.com (it names other.example)"
    );
    assert!(remedy.starts_with("matrix.example.com must point to matrixbox"));
}

fn fetched(url: &str, body: &str, presented: Option<Presented>) -> Fetched {
    Fetched {
        addr: "203.0.113.5:443".parse().unwrap(),
        presented,
        answer: discovery::Answer {
            status: 200,
            content_type: Some("application/json".into()),
            cors: Some("*".into()),
            body: body.as_bytes().to_vec(),
            location: None,
        },
        url: url.into(),
    }
}

/// Delegated to matrix.example.org:443, whose certificate names another host; the local
/// parts show a stopped container, a failing renewal and a filling disk.
fn troubled() -> Facts {
    let presented = Presented {
        names: vec!["other.example".into()],
        issuer: "CN=R11, O=Let's Encrypt, C=US".into(),
        not_after: Some(NOW + Duration::days(40)),
    };
    let endpoint = discovery::literal(&discovery::HostPort {
        host: "matrix.example.org".into(),
        port: Some(443),
    })
    .unwrap();
    let mut l = local();
    l.containers = Some(Ok(vec![
        ("matrixbox-postgres".into(), observed(true, Some("healthy"))),
        ("matrixbox-synapse".into(), observed(false, None)),
    ]));
    l.certificates.push(crate::acme::CertStatus {
        names: vec!["matrix.example.org".into()],
        issuer: Some("CN=R11".into()),
        source: Some("https://acme-v02.api.letsencrypt.org/directory".into()),
        not_after: Some(NOW + Duration::days(12) + Duration::hours(1)),
        next_renewal: None,
        next_attempt: None,
        failures: 3,
        last_error: Some("connection refused".into()),
        path: None,
        trust_root: None,
    });
    l.disk.space = Ok(Space {
        free_bytes: 3 << 30,
        dev: 1,
    });
    Facts {
        domain: "matrix.example.org".into(),
        // Its own golden text: judge/peers.rs.
        peers: None,
        remote: Remote {
            server_name: discovery::HostPort {
                host: "example.org".into(),
                port: None,
            },
            well_known: Some(Ok(fetched(
                "https://example.org/.well-known/matrix/server",
                r#"{"m.server": "matrix.example.org:443"}"#,
                None,
            ))),
            endpoint,
            srv_errors: vec![],
            address: Ok("203.0.113.5:443".parse().unwrap()),
            keys: Some(Err(FetchError::Tls {
                addr: "203.0.113.5:443".parse().unwrap(),
                problem: TlsProblem::NotValidForName,
                presented: Some(presented),
            })),
            client_well_known: Ok(fetched(
                "https://example.org/.well-known/matrix/client",
                r#"{"m.homeserver": {"base_url": "https://matrix.example.org"}}"#,
                None,
            )),
            versions: (
                "https://matrix.example.org".into(),
                Ok(fetched(
                    "https://matrix.example.org/_matrix/client/versions",
                    r#"{"versions": ["v1.11", "v1.12"]}"#,
                    None,
                )),
            ),
            login: Ok(fetched(
                "https://matrix.example.org/_matrix/client/v3/login",
                r#"{"flows": [{"type": "m.login.password"}]}"#,
                None,
            )),
            internal_root: None,
        },
        local: l,
        synapse_container: "matrixbox-synapse".into(),
        turn: None,
        coturn_container: "matrixbox-coturn".into(),
        email: Some(Err(Failure::LoginRefused {
            server: "smtp.example.org:587".into(),
            user: "matrix@example.org".into(),
            file: "/etc/matrixbox/smtp-password".into(),
            reply: "535 5.7.8 Authentication credentials invalid".into(),
        })),
        now: NOW,
    }
}

/// Every line the report prints, in both languages, held against tests/golden.
#[test]
fn the_report_matches_its_golden_text_in_both_languages() {
    for lang in [Lang::En, Lang::ZhCn] {
        let report =
            super::super::Report::new("example.org".into(), lang, evaluate(&troubled(), lang));
        let mut out = super::super::render::text(&report);
        out.push_str("--- json\n");
        out.push_str(&serde_json::to_string_pretty(&report).unwrap());
        out.push('\n');
        crate::golden::assert_golden(&format!("doctor.{}.txt", lang.code()), &out);
    }
}

/// Every outcome of the SMTP step, in both languages, held against tests/golden.
#[test]
fn each_smtp_outcome_reads_in_both_languages() {
    let server = || "smtp.example.org:587".to_string();
    let outcomes = [
        Ok(Session {
            server: server(),
            greeting: "smtp.example.org ESMTP ready".into(),
            tls: SmtpTls::Starttls,
            user: Some("matrix@example.org".into()),
            cleartext_beyond_private: false,
        }),
        Ok(Session {
            server: "10.0.0.5:25".into(),
            greeting: "relay ESMTP".into(),
            tls: SmtpTls::Off,
            user: None,
            cleartext_beyond_private: false,
        }),
        Ok(Session {
            server: "203.0.113.9:25".into(),
            greeting: "mx ESMTP".into(),
            tls: SmtpTls::Off,
            user: Some("matrix@example.org".into()),
            cleartext_beyond_private: true,
        }),
        Err(Failure::PasswordFile {
            file: "/etc/matrixbox/smtp-password".into(),
            error: "others can read it (mode 644)".into(),
        }),
        Err(Failure::Connect {
            server: server(),
            error: "Connection refused (os error 111)".into(),
        }),
        Err(Failure::Protocol {
            server: server(),
            error: "the server closed the connection".into(),
        }),
        Err(Failure::NoStartTls { server: server() }),
        Err(Failure::Tls {
            server: server(),
            error: "invalid peer certificate: UnknownIssuer".into(),
        }),
        Err(Failure::NoAuth {
            server: server(),
            offered: "none".into(),
        }),
        Err(Failure::LoginRefused {
            server: server(),
            user: "matrix@example.org".into(),
            file: "/etc/matrixbox/smtp-password".into(),
            reply: "535 5.7.8 Authentication credentials invalid".into(),
        }),
    ];
    for lang in [Lang::En, Lang::ZhCn] {
        let mut out = String::new();
        for outcome in &outcomes {
            let step = super::email::email(outcome, lang);
            let cleartext = outcome.as_ref().is_ok_and(|s| s.cleartext_beyond_private);
            let expected = match outcome {
                Ok(_) if cleartext => Status::Warn,
                Ok(_) => Status::Pass,
                Err(_) => Status::Fail,
            };
            assert_eq!(step.status, expected);
            assert_eq!(
                step.remedy.is_some(),
                expected != Status::Pass,
                "say what to do"
            );
            out.push_str(&format!(
                "{:?}: {}\n  {}\n",
                step.status,
                step.evidence,
                step.remedy.unwrap_or_default()
            ));
        }
        assert!(!out.contains('{'), "a placeholder is left: {out}");
        crate::golden::assert_golden(&format!("doctor-email.{}.txt", lang.code()), &out);
    }
}

/// Element X: each missing piece is named with its fix; all present passes; no `/versions`
/// answer skips.
#[test]
fn element_x_names_what_it_misses() {
    let mut r = troubled().remote;
    let s = super::element_x::element_x(&r, Lang::En);
    assert_eq!(s.status, Status::Warn);
    assert!(
        s.evidence.contains("org.matrix.simplified_msc3575"),
        "{}",
        s.evidence
    );
    assert!(!s.evidence.contains("password"), "{}", s.evidence);
    assert!(s.remedy.unwrap().contains("Synapse 1.114"));

    r.versions.1 = Ok(fetched(
        "https://matrix.example.org/_matrix/client/versions",
        r#"{"versions": ["v1.11"], "unstable_features": {"org.matrix.simplified_msc3575": true}}"#,
        None,
    ));
    let s = super::element_x::element_x(&r, Lang::En);
    assert_eq!((s.status, s.remedy), (Status::Pass, None));

    r.login = Ok(fetched(
        "u",
        r#"{"flows": [{"type": "m.login.sso"}]}"#,
        None,
    ));
    r.client_well_known = Ok(fetched("u", "<html>", None));
    let s = super::element_x::element_x(&r, Lang::ZhCn);
    assert_eq!(s.status, Status::Warn);
    assert!(s.evidence.contains("m.login.password"), "{}", s.evidence);
    assert!(
        s.evidence
            .contains("example.org 上可用的 /.well-known/matrix/client"),
        "{}",
        s.evidence
    );
    assert!(s.remedy.unwrap().contains("serve_server_name: true"));

    r.versions.1 = Ok(fetched("u", r#"{"errcode": "M_UNKNOWN"}"#, None));
    assert_eq!(
        super::element_x::element_x(&r, Lang::En).status,
        Status::Skip
    );
    r.versions.1 = Err(FetchError::Resolve {
        host: "matrix.example.org".into(),
        error: "NXDOMAIN".into(),
    });
    assert_eq!(
        super::element_x::element_x(&r, Lang::En).status,
        Status::Skip
    );
}

/// With `turn.enabled`, a seventh step: each outcome of the allocation, both languages against
/// tests/golden.
#[test]
fn turn_outcomes_match_their_golden_text_in_both_languages() {
    use crate::doctor::turn::TurnProblem;
    let server: std::net::SocketAddr = "127.0.0.1:3478".parse().unwrap();
    let outcomes = [
        Ok("127.0.0.1:49170".parse().unwrap()),
        Err(TurnProblem::Credentials(
            "Synapse hands out no TURN credentials".into(),
        )),
        Err(TurnProblem::NoAnswer(server)),
        Err(TurnProblem::Refused {
            code: 401,
            reason: "Unauthorized".into(),
        }),
        Err(TurnProblem::Malformed(
            "no relayed address in the answer".into(),
        )),
    ];
    let mut out = String::new();
    for lang in [Lang::En, Lang::ZhCn] {
        for outcome in &outcomes {
            let mut f = troubled();
            f.turn = Some((server, outcome.clone()));
            let steps = evaluate(&f, lang);
            let s = steps.last().unwrap();
            assert_eq!(s.id, "turn");
            assert_eq!(s.status == Status::Pass, outcome.is_ok());
            out.push_str(&format!(
                "{:?} {} | {} | {}\n",
                s.status,
                s.title,
                s.evidence,
                s.remedy.clone().unwrap_or_default()
            ));
        }
    }
    assert!(
        !evaluate(&troubled(), Lang::En)
            .iter()
            .any(|s| s.id == "turn"),
        "no TURN step when TURN is off"
    );
    crate::golden::assert_golden("doctor.turn.txt", &out);
}
