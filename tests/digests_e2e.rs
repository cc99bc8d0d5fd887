//! Image digests against a real registry on loopback (Debian's docker-registry) used as the
//! mirror: a correct pin is pulled and verified, a wrong pin is refused naming both digests, and a
//! tag re-pushed with other contents is refused on the next pull until the new digest is pinned.

mod common;

use std::time::Duration;

use common::registry::*;
use common::*;

fn assert_error(out: &std::process::Output, needles: &[&str]) {
    assert!(!out.status.success(), "expected failure: {}", describe(out));
    let err = stderr(out);
    // As the user sees it (shown with --nocapture).
    eprintln!("{err}");
    assert!(
        err.contains("\nhint: "),
        "every error ends with a hint: {err}"
    );
    for needle in needles {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
}

/// Pins the instance's images, written as Docker Hub names so the mirror prefix applies.
fn pin(mbx: &Instance, postgres: &str, synapse: &str) {
    let config = read(&mbx.config_path());
    let config = config
        .lines()
        .map(|l| match l.trim_start().split_once(": ") {
            Some(("postgres", _)) => format!("  postgres: {postgres}"),
            Some(("synapse", _)) => format!("  synapse: {synapse}"),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(mbx.config_path(), config + "\n").unwrap();
}

fn record(mbx: &Instance) -> serde_json::Value {
    serde_json::from_str(&read(&mbx.state_dir().join("image-digests.json"))).unwrap()
}

#[test]
fn pins_and_recorded_digests_are_enforced_through_a_mirror() {
    let registry = Registry::start();
    let _cleanup = Cleanup(registry.host());
    let pg_image = env("MATRIXBOX_TEST_PG_IMAGE");
    let synapse_image = env("MATRIXBOX_TEST_SYNAPSE_IMAGE");
    let pg_digest = registry.push(&pg_image, &pg_image);
    let synapse_digest = registry.push(&synapse_image, &synapse_image);

    let mbx = Instance::new();
    mbx.setup(&format!("registry_mirror: {}\n", registry.host()));
    let mirrored_pg = format!("{}/{pg_image}", registry.host());

    // A wrong pin: the registry has no such digest; the error names the image and both digests.
    let wrong = format!("sha256:{}", "0".repeat(64));
    pin(
        &mbx,
        &format!("{pg_image}@{wrong}"),
        &format!("{synapse_image}@{synapse_digest}"),
    );
    let out = mbx.run(&["run"]);
    assert_error(
        &out,
        &[
            &format!("image {mirrored_pg}@{wrong}"),
            &format!("pinned to digest {wrong}"),
            &format!("its tag names {pg_digest}"),
            &format!("pin `@{pg_digest}`"),
        ],
    );
    assert!(
        !docker(&["inspect", &mbx.objects.postgres()])
            .status
            .success(),
        "nothing was started"
    );
    forget_registry_images(&registry.host());

    // Correct pins: pulled through the mirror, verified, recorded; `run` goes on past the images.
    pin(
        &mbx,
        &format!("{pg_image}@{pg_digest}"),
        &format!("{synapse_image}@{synapse_digest}"),
    );
    let out = mbx.run_until_images();
    assert_error(&out, &[AFTER_IMAGES]);
    let pulled = docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        &format!("{mirrored_pg}@{pg_digest}"),
    ]);
    assert!(pulled.contains(&pg_digest), "{pulled}");
    assert_eq!(record(&mbx)[&mirrored_pg], pg_digest.as_str());

    // Unpinned tags are recorded on first use too.
    pin(&mbx, &pg_image, &synapse_image);
    forget_registry_images(&registry.host());
    assert_error(&mbx.run_until_images(), &[AFTER_IMAGES]);
    assert_eq!(record(&mbx)[&mirrored_pg], pg_digest.as_str());

    // The tag is re-pushed with other contents; the next pull is refused.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {pg_image}\nLABEL io.matrixbox.test.repushed={}\n",
            registry.port
        ),
    )
    .unwrap();
    let other = format!("{}/repushed:{}", registry.host(), registry.port);
    docker_ok(&[
        "build",
        "-q",
        "-t",
        &other,
        &dir.path().display().to_string(),
    ]);
    let new_digest = registry.push(&other, &pg_image);
    docker_ok(&["rmi", &other]);
    assert_ne!(new_digest, pg_digest);
    forget_registry_images(&registry.host());
    let out = mbx.run(&["run"]);
    assert_error(
        &out,
        &[
            &format!("image {mirrored_pg} was {pg_digest}"),
            &format!("is now {new_digest}"),
            "re-pushed",
            &format!("append `@{new_digest}`"),
            "image-digests.json",
        ],
    );
    assert!(
        !docker(&["inspect", &mbx.objects.postgres()])
            .status
            .success(),
        "nothing was started"
    );
    // Refused again while the tag stays as it is (no fresh pull needed).
    assert_error(&mbx.run(&["run"]), &["re-pushed"]);

    // The override: pinning the new digest accepts it, and the record follows.
    let pinned_pg = format!("{mirrored_pg}@{new_digest}");
    pin(
        &mbx,
        &format!("{pg_image}@{new_digest}"),
        &format!("{synapse_image}@{synapse_digest}"),
    );
    assert_error(&mbx.run_until_images(), &[AFTER_IMAGES]);
    assert_eq!(record(&mbx)[&mirrored_pg], new_digest.as_str());

    // Pinned references run: the containers are made from them and the stack comes up.
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, Duration::from_secs(300));
    assert_eq!(
        inspect(&mbx.objects.postgres(), "{{.Config.Image}}"),
        pinned_pg
    );
    daemon.stop();
}
