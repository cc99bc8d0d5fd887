//! The `outbound` checks (clock, ACME and registries).

use super::*;

#[test]
fn clock_skew() {
    let mut f = healthy();
    let t = target(Mode::Setup);
    assert_eq!(
        clock(&f, &t, EN).evidence,
        "in step with the Docker engine (+0.0 s), acme.test (+0.3 s)"
    );
    f.acme = AcmeFacts::Directory(Probe {
        url: "https://acme.test/dir".into(),
        result: Ok(Answer {
            status: 200,
            date: Some(at(-12_000)),
        }),
    });
    let c = clock(&f, &t, EN);
    assert_eq!(c.status, Status::Warn);
    assert_eq!(c.evidence, "this host's clock is 12.0 s behind acme.test");
    f.acme = AcmeFacts::Directory(Probe {
        url: "https://acme.test/dir".into(),
        result: Ok(Answer {
            status: 200,
            date: Some(at(120_000)),
        }),
    });
    let c = clock(&f, &t, EN);
    assert_eq!((c.status, c.blocking), (Status::Fail, true));
    assert!(
        c.evidence.starts_with(
            "this host's clock is 120.0 s ahead of acme.test; certificate issuance fails"
        ),
        "{c:?}"
    );
    assert!(c.remedy.unwrap().contains("timedatectl set-ntp true"));
    assert!(!clock(&f, &target(Mode::Run), EN).blocking);
    f.acme = AcmeFacts::Internal;
    f.docker.engine = Err("down".into());
    assert_eq!(
        clock(&f, &t, EN).status,
        Status::Warn,
        "nothing to compare with"
    );
}

#[test]
fn outbound_reachability_only_warns() {
    let mut f = healthy();
    f.acme = AcmeFacts::Directory(Probe {
        url: "https://acme-v02.api.letsencrypt.org/directory".into(),
        result: Err("dns error".into()),
    });
    let c = acme(&f, EN);
    assert_eq!((c.status, c.blocking), (Status::Warn, false));
    assert_eq!(
        c.evidence,
        "cannot reach acme-v02.api.letsencrypt.org: dns error"
    );
    f.registries = vec![Registry {
        host: "docker.io".into(),
        images: vec!["postgres:15".into(), "matrixdotorg/synapse:v1".into()],
        probe: Some(Probe {
            url: "https://registry-1.docker.io/v2/".into(),
            result: Err("timed out".into()),
        }),
    }];
    let mut t = target(Mode::Setup);
    t.images = vec![
        vec!["postgres:15".into()],
        vec!["matrixdotorg/synapse:v1".into()],
    ];
    if let Ok(engine) = &mut f.docker.engine {
        engine.images = vec![("postgres:15".into(), false)];
    }
    let c = registry(&f, &t, EN);
    assert_eq!((c.status, c.blocking), (Status::Warn, false));
    let fix = c.remedy.unwrap();
    assert!(
        fix.contains("registry_mirror")
            && fix.contains("matrixbox images export images.tar")
            && fix.contains("matrixbox images import images.tar")
            && fix.contains("needed: postgres:15 matrixdotorg/synapse:v1"),
        "{fix}"
    );
    f.registries[0].host = "mirror.local:5000".into();
    t.images = vec![vec!["mirror.local:5000/postgres:15".into()]];
    f.registries[0].images = t.images[0].clone();
    assert!(
        registry(&f, &t, EN)
            .remedy
            .unwrap()
            .contains("make one of mirror.local:5000 reachable")
    );
    f.registries[0].probe = Some(Probe {
        url: "https://mirror.local:5000/v2/".into(),
        result: Ok(Answer {
            status: 401,
            date: None,
        }),
    });
    assert_eq!(
        registry(&f, &t, EN).evidence,
        "mirror.local:5000 answers (HTTP 401)"
    );
}

/// Two mirrors, tried in order: preflight says which answers, and passes while one does.
#[test]
fn each_mirror_is_checked_and_one_answering_is_enough() {
    let mut f = healthy();
    let mirror = |host: &str, result: Result<Answer, String>| Registry {
        host: host.into(),
        images: vec![format!("{host}/postgres:15")],
        probe: Some(Probe {
            url: format!("https://{host}/v2/"),
            result,
        }),
    };
    let answer = Ok(Answer {
        status: 200,
        date: None,
    });
    f.registries = vec![
        mirror("dead.example", Err("connection refused".into())),
        mirror("live.example", answer),
    ];
    let mut t = target(Mode::Setup);
    t.images = vec![vec![
        "dead.example/postgres:15".into(),
        "live.example/postgres:15".into(),
    ]];
    for (lang, expected) in [
        (
            EN,
            "cannot reach dead.example: connection refused; live.example answers (HTTP 200)",
        ),
        (
            Lang::ZhCn,
            "无法访问 dead.example：connection refused；live.example 可访问（HTTP 200）",
        ),
    ] {
        let c = registry(&f, &t, lang);
        assert_eq!(c.status, Status::Pass);
        assert_eq!(c.evidence.replace("; ", "；"), expected.replace("; ", "；"));
    }
    f.registries[1].probe.as_mut().unwrap().result = Err("timed out".into());
    let c = registry(&f, &t, EN);
    assert_eq!(c.status, Status::Warn);
    assert_eq!(
        c.evidence,
        "cannot reach dead.example: connection refused; cannot reach live.example: timed out"
    );
    let fix = c.remedy.unwrap();
    assert!(
        fix.contains("make one of dead.example, live.example reachable"),
        "{fix}"
    );
    assert!(
        registry(&f, &t, Lang::ZhCn)
            .remedy
            .unwrap()
            .contains("matrixbox images import images.tar")
    );
}
