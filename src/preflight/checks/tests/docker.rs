//! The `docker` checks (the engine).

use super::*;

#[test]
fn engine_versions() {
    assert_eq!(parse_version("20.10.24+dfsg1"), Some((20, 10, 24)));
    assert_eq!(parse_version("17.03.0-ce"), Some((17, 3, 0)));
    assert_eq!(parse_version("28.1"), Some((28, 1, 0)));
    assert!(!engine_too_old("20.10.24+dfsg1", "1.41"));
    assert!(!engine_too_old("26.1.5", "1.45"));
    assert!(engine_too_old("20.10.13", "1.41"));
    assert!(engine_too_old("19.03.13", "1.40"));
    assert!(engine_too_old("17.03.0-ce", "1.26"));
}

#[test]
fn docker_states() {
    let mut f = healthy();
    let c = docker(&f, &target(Mode::Setup), EN);
    assert_eq!(
        c.evidence,
        "Docker 20.10.24+dfsg1 (API 1.41) at unix:///var/run/docker.sock, storage driver overlay2"
    );
    if let Ok(e) = &mut f.docker.engine {
        e.version = "17.03.0-ce".into();
        e.api = "1.26".into();
    }
    let c = docker(&f, &target(Mode::Setup), EN);
    assert_eq!((c.status, c.blocking), (Status::Fail, true));
    assert!(
        c.evidence.contains("too old")
            && c.evidence.contains("API 1.26")
            && c.evidence.contains("20.10.14"),
        "{c:?}"
    );
    let mut f = healthy();
    if let Ok(e) = &mut f.docker.engine {
        e.storage_driver = Some("vfs".into());
    }
    assert_eq!(docker(&f, &target(Mode::Setup), EN).status, Status::Warn);
    // Not installed: the exact package for this distribution.
    let mut f = healthy();
    f.docker.engine = Err("No such file or directory".into());
    f.docker.socket = Some(("/var/run/docker.sock".into(), SocketState::Missing));
    f.docker.dockerd_installed = false;
    let c = docker(&f, &target(Mode::Setup), EN);
    assert!(c.evidence.contains("not installed"), "{c:?}");
    assert_eq!(
        c.remedy.as_deref(),
        Some("install it: `apt install docker.io`, then `systemctl enable --now docker`")
    );
    f.os_release = OsRelease {
        id: "fedora".into(),
        id_like: vec![],
    };
    assert!(
        docker(&f, &target(Mode::Setup), EN)
            .remedy
            .unwrap()
            .contains("`dnf install moby-engine`")
    );
    // Installed but stopped.
    f.docker.dockerd_installed = true;
    let c = docker(&f, &target(Mode::Setup), EN);
    assert!(
        c.evidence
            .starts_with("cannot reach the Docker engine at unix:///var/run/docker.sock"),
        "{c:?}"
    );
    assert!(c.remedy.unwrap().contains("systemctl enable --now docker"));
}

#[test]
fn an_external_upstream_needs_no_docker() {
    let mut f = healthy();
    f.docker.engine = Err("Socket not found: /var/run/docker.sock".into());
    f.docker.socket = Some(("/var/run/docker.sock".into(), SocketState::Denied));
    let t = Target {
        upstream: Some("http://127.0.0.1:8008/".into()),
        ..target(Mode::Run)
    };
    for c in [
        docker(&f, &t, EN),
        registry(&f, &t, EN),
        privileges(&f, &t, EN),
    ] {
        assert_eq!(c.status, Status::Pass, "{c:?}");
    }
    assert!(
        docker(&f, &t, EN)
            .evidence
            .contains("http://127.0.0.1:8008/")
    );
}
