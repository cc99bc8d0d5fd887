//! The `resources` checks (memory and disk).

use super::*;

#[test]
fn memory_thresholds_and_the_low_memory_profile() {
    let t = target(Mode::Setup);
    let mut f = healthy();
    f.memory_mb = Some(512);
    let c = memory(&f, &t, EN);
    assert_eq!((c.status, c.blocking), (Status::Fail, true));
    assert!(c.evidence.contains("512 MiB"), "{c:?}");
    // A "1 GB" VPS: runs, with the profile named exactly as `run` will apply it.
    f.memory_mb = Some(992);
    let c = memory(&f, &t, EN);
    assert_eq!(c.status, Status::Warn);
    assert!(
        c.evidence.contains("low-memory profile") && c.evidence.contains("shared_buffers 124MB"),
        "{c:?}"
    );
    assert!(
        c.evidence.contains("max_connections 30") && c.evidence.contains("cache factor 0.5"),
        "{c:?}"
    );
    let zh = memory(&f, &t, Lang::ZhCn);
    assert!(zh.evidence.contains("低内存配置"), "{zh:?}");
    // memory_mb in the config overrides the host's amount: say the profile will not apply.
    let big = Target {
        memory_mb: Some(4096),
        ..target(Mode::Setup)
    };
    let c = memory(&f, &big, EN);
    assert_eq!(c.status, Status::Warn);
    assert!(c.evidence.contains("memory_mb: 4096"), "{c:?}");
    f.memory_mb = None;
    assert_eq!(memory(&f, &t, EN).status, Status::Warn);
}

#[test]
fn disk_space_is_judged_per_filesystem() {
    let mut f = healthy();
    let c = disk(&f, EN);
    assert_eq!(
        c.evidence,
        "state /var/lib/matrixbox: 40.0 GiB free; Docker data root /var/lib/docker: same filesystem"
    );
    f.disks[1].space = Ok(Space {
        free_bytes: 2 << 30,
        dev: 2,
    });
    let c = disk(&f, EN);
    assert_eq!((c.status, c.blocking), (Status::Fail, true));
    assert!(
        c.remedy.as_deref().unwrap().contains("/var/lib/docker")
            && c.remedy.unwrap().contains("5.0 GiB")
    );
    // An existing installation is not refused on a filling disk; it is warned.
    f.installation.secrets = true;
    assert_eq!(disk(&f, EN).status, Status::Warn);
    let mut f = healthy();
    f.disks[0].space = Err("/var: permission denied".into());
    assert_eq!(disk(&f, EN).status, Status::Warn);
}
