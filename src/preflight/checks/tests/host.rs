//! The `host` checks (OS, CPU, privileges, an existing installation).

use super::*;

#[test]
fn os_and_arch() {
    let mut f = healthy();
    f.os = "FreeBSD".into();
    f.arch = "riscv64".into();
    let (os, arch) = (os(&f, EN), arch(&f, EN));
    assert_eq!((os.status, os.blocking), (Status::Fail, true));
    assert!(os.evidence.contains("FreeBSD"));
    assert_eq!(arch.status, Status::Fail);
    assert!(arch.evidence.contains("riscv64") && arch.remedy.unwrap().contains("aarch64"));
    f.arch = "aarch64".into();
    assert_eq!(super::arch(&f, EN).status, Status::Pass);
}

#[test]
fn cpu_without_ssse3_fails_and_other_arches_need_none() {
    let mut f = healthy();
    f.cpuinfo = Ok(
        "processor\t: 0\nflags\t\t: fpu vme sse sse2 pni\nprocessor\t: 1\nflags\t\t: fpu sse2\n"
            .into(),
    );
    let c = cpu_features(&f, EN);
    assert_eq!((c.status, c.blocking), (Status::Fail, true));
    assert!(c.evidence.contains("SSSE3") && c.remedy.unwrap().contains("host"));
    f.cpuinfo = Err("permission denied".into());
    assert_eq!(cpu_features(&f, EN).status, Status::Warn);
    f.arch = "aarch64".into();
    assert_eq!(cpu_features(&f, EN).status, Status::Pass);
    assert!(
        !has_cpu_flag("flags : sse3 ssse3x", "ssse3"),
        "whole words only"
    );
}

#[test]
fn cpu_count() {
    let mut f = healthy();
    f.cpus = Ok(1);
    assert_eq!(cpus(&f, EN).status, Status::Pass);
    f.cpus = Ok(0);
    assert_eq!(cpus(&f, EN).status, Status::Fail);
    f.cpus = Err("sched_getaffinity failed".into());
    assert_eq!(cpus(&f, EN).status, Status::Warn);
}

#[test]
fn privileges_need_the_bind_capability_and_the_docker_socket() {
    let t = target(Mode::Setup);
    let mut f = healthy();
    f.uid = 1000;
    f.user = "alice".into();
    f.cap_eff = Some(0);
    let c = privileges(&f, &t, EN);
    assert_eq!((c.status, c.blocking), (Status::Fail, true));
    assert_eq!(
        c.evidence,
        "uid 1000 without CAP_NET_BIND_SERVICE cannot listen on port 80"
    );
    assert!(
        c.remedy
            .unwrap()
            .contains("setcap cap_net_bind_service=+ep /usr/bin/matrixbox")
    );
    f.cap_eff = Some(1 << 10);
    assert_eq!(privileges(&f, &t, EN).status, Status::Pass);
    f.docker.socket = Some(("/var/run/docker.sock".into(), SocketState::Denied));
    let c = privileges(&f, &t, EN);
    assert_eq!(c.status, Status::Fail);
    assert!(c.remedy.unwrap().contains("usermod -aG docker alice"));
    // High ports need nothing, whatever the capabilities.
    let mut f = healthy();
    f.uid = 1000;
    f.cap_eff = Some(0);
    let high = Target {
        listen: vec![("https", "127.0.0.1:8443".parse().unwrap())],
        ..target(Mode::Setup)
    };
    assert_eq!(privileges(&f, &high, EN).status, Status::Pass);
    f.unprivileged_port_start = 0;
    assert_eq!(
        privileges(&f, &t, EN).status,
        Status::Pass,
        "ip_unprivileged_port_start=0 lifts the rule"
    );
}

#[test]
fn existing_installation() {
    let mut f = healthy();
    assert_eq!(
        installation(&f, EN).evidence,
        "none in /var/lib/matrixbox: this is a fresh installation"
    );
    f.installation.secrets = true;
    f.installation.config = ConfigState::Loads {
        domain: "m.org".into(),
    };
    assert!(installation(&f, EN).evidence.contains("(m.org)"));
    f.installation.config =
        ConfigState::Invalid("/etc/matrixbox/matrixbox.yaml has 1 problem".into());
    let c = installation(&f, EN);
    assert_eq!((c.status, c.blocking), (Status::Warn, false));
}
