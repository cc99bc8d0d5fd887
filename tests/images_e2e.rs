//! Restricted networks: registry mirrors tried in order with fallback (two real registries on
//! loopback, one dead), and images carried by `images export` / `images import` on the bench's
//! engine, including archives damaged or altered on the way, which are refused.

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::registry::*;
use common::*;

fn assert_error(out: &std::process::Output, needles: &[&str]) -> String {
    assert!(!out.status.success(), "expected failure: {}", describe(out));
    let err = stderr(out);
    eprintln!("{err}");
    assert!(
        err.contains("\nhint: ") || err.contains("\n提示："),
        "every error ends with a hint (in the reader's language): {err}"
    );
    for needle in needles {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    err
}

/// Points the instance's `images:` at these references.
fn set_images(mbx: &Instance, postgres: &str, synapse: &str) {
    let config = read(&mbx.config_path())
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

fn registry_check(mbx: &Instance, lang: &str) -> serde_json::Value {
    let out = mbx
        .cmd(&["preflight", "--json"])
        .env("LANG", lang)
        .env("LC_ALL", lang)
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "registry")
        .unwrap()
        .clone()
}

#[test]
fn pulls_fall_back_from_a_dead_mirror_and_every_failure_is_named() {
    let alive = Registry::start();
    let _cleanup = Cleanup(alive.host());
    // Nothing listens on the dead mirror's port.
    let dead = format!("127.0.0.1:{}", free_port());
    let pg_image = env("MATRIXBOX_TEST_PG_IMAGE");
    let synapse_image = env("MATRIXBOX_TEST_SYNAPSE_IMAGE");
    let pg_digest = alive.push(&pg_image, &pg_image);
    alive.push(&synapse_image, &synapse_image);

    let mbx = Instance::new();
    mbx.setup(&format!(
        "registry_mirror:\n  - {dead}\n  - {}\n",
        alive.host()
    ));

    // Preflight checks each mirror in order and passes while one answers, in both languages.
    let check = registry_check(&mbx, "C.UTF-8");
    eprintln!("{check}");
    assert_eq!(check["status"], "pass", "{check}");
    let evidence = check["evidence"].as_str().unwrap();
    assert!(
        evidence.starts_with(&format!("cannot reach {dead}: ")),
        "{evidence}"
    );
    assert!(
        evidence.ends_with(&format!("{} answers (HTTP 200)", alive.host())),
        "{evidence}"
    );
    let zh = registry_check(&mbx, "zh_CN.UTF-8");
    let evidence = zh["evidence"].as_str().unwrap();
    assert!(
        evidence.starts_with(&format!("无法访问 {dead}：")),
        "{evidence}"
    );
    assert!(
        evidence.contains(&format!("{} 可访问（HTTP 200）", alive.host())),
        "{evidence}"
    );

    // The pull falls back to the live mirror; the digest is recorded under its reference.
    assert_error(&mbx.run_until_images(), &[AFTER_IMAGES]);
    let mirrored_pg = format!("{}/{pg_image}", alive.host());
    let record: serde_json::Value =
        serde_json::from_str(&read(&mbx.state_dir().join("image-digests.json"))).unwrap();
    assert_eq!(record[&mirrored_pg], pg_digest.as_str(), "{record}");
    // The copy it found stays the one used: the next run pulls nothing.
    assert_error(&mbx.run_until_images(), &[AFTER_IMAGES]);

    // Every mirror dead: the error names each reference tried, in order, and why it failed.
    forget_registry_images(&alive.host());
    let dead2 = format!("127.0.0.1:{}", free_port());
    let config = read(&mbx.config_path()).replace(&alive.host(), &dead2);
    std::fs::write(mbx.config_path(), config).unwrap();
    let err = assert_error(
        &mbx.run(&["run"]),
        &[
            "no registry mirror has it",
            &format!("\n  {dead}/{pg_image}: "),
            &format!("\n  {dead2}/{pg_image}: "),
            "matrixbox preflight",
            "images export",
        ],
    );
    assert!(
        err.find(&format!("{dead}/")).unwrap() < err.find(&format!("{dead2}/")).unwrap(),
        "in the order tried: {err}"
    );
    let check = registry_check(&mbx, "C.UTF-8");
    assert_eq!(check["status"], "warn", "{check}");
    let fix = check["remedy"].as_str().unwrap();
    assert!(fix.contains("matrixbox images import"), "{fix}");
}

/// The test's own tags of the bench images, removed again at the end (never the bench's tags).
struct TestTags(Vec<String>);

impl TestTags {
    fn untag(&self) {
        for tag in &self.0 {
            let _ = docker(&["rmi", tag]);
        }
    }
}

impl Drop for TestTags {
    fn drop(&mut self) {
        self.untag();
    }
}

fn image_id(reference: &str) -> Option<String> {
    let out = docker(&["image", "inspect", "--format", "{{.Id}}", reference]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Where the first byte of the largest layer's contents sits in the archive.
fn largest_layer_offset(file: &Path) -> u64 {
    let mut archive = tar::Archive::new(std::fs::File::open(file).unwrap());
    let mut best = (0, 0);
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let is_layer = entry
            .path()
            .unwrap()
            .to_string_lossy()
            .ends_with("layer.tar");
        if is_layer && entry.size() > best.0 {
            best = (entry.size(), entry.raw_file_position());
        }
    }
    assert!(best.0 > 0, "no layer in the archive");
    best.1 + best.0 / 2
}

fn flip_byte(file: &Path, at: u64) {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .unwrap();
    let mut byte = [0u8];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut byte).unwrap();
    byte[0] ^= 0x01;
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&byte).unwrap();
}

#[test]
fn exported_images_import_verified_and_altered_archives_are_refused() {
    let mbx = Instance::new();
    // The test's own names for the bench images, as on a host that has them from a registry.
    let pg = format!("{}/postgres:15", mbx.objects.name);
    let synapse = format!("{}/synapse:1", mbx.objects.name);
    let tags = TestTags(vec![pg.clone(), synapse.clone()]);
    docker_ok(&["tag", &env("MATRIXBOX_TEST_PG_IMAGE"), &pg]);
    docker_ok(&["tag", &env("MATRIXBOX_TEST_SYNAPSE_IMAGE"), &synapse]);
    let ids = [image_id(&pg).unwrap(), image_id(&synapse).unwrap()];
    mbx.setup("");
    set_images(&mbx, &pg, &synapse);

    let file = mbx.dir.path().join("images.tar");
    let out = mbx.run(&["images", "export", &file.display().to_string()]);
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(stdout.contains("matrixbox images import"), "{stdout}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the archive is readable only by its owner");
    assert!(
        !std::fs::read_dir(mbx.dir.path()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".matrixbox")),
        "no temporary file is left behind"
    );
    // The manifest comes first and names each image by its ID.
    let mut archive = tar::Archive::new(std::fs::File::open(&file).unwrap());
    let mut first = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(
        first.path().unwrap().to_str(),
        Some("matrixbox-images.json")
    );
    let mut json = String::new();
    first.read_to_string(&mut json).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(manifest["images"][0]["role"], "postgres");
    assert_eq!(manifest["images"][0]["reference"], pg.as_str());
    assert_eq!(manifest["images"][0]["id"], ids[0].as_str());
    assert_eq!(manifest["images"][1]["id"], ids[1].as_str());

    // "Another host": the names are gone; nothing can be pulled (no registry has them).
    tags.untag();
    assert_eq!(image_id(&pg), None);
    let out = mbx.run(&["images", "import", &file.display().to_string()]);
    assert_success(&out);
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(image_id(&pg).as_ref(), Some(&ids[0]));
    assert_eq!(image_id(&synapse).as_ref(), Some(&ids[1]));

    // `run` comes up from the imported images without pulling.
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, Duration::from_secs(300));
    assert_eq!(inspect(&mbx.objects.postgres(), "{{.Config.Image}}"), pg);
    assert_eq!(
        inspect(&mbx.objects.synapse(), "{{.Config.Image}}"),
        synapse
    );
    let log = daemon.stop();
    assert!(!log.contains("pulling image"), "nothing was pulled:\n{log}");

    // A flipped byte in a layer: refused naming the image, and nothing is tagged.
    tags.untag();
    let at = largest_layer_offset(&file);
    flip_byte(&file, at);
    let out = mbx.run(&["images", "import", &file.display().to_string()]);
    let err = assert_error(
        &out,
        &["is damaged or was altered", "layer", "nothing was loaded"],
    );
    assert!(
        err.contains(&pg) || err.contains(&synapse),
        "names the image: {err}"
    );
    assert_eq!(image_id(&pg), None, "the bad image is not tagged");
    assert_eq!(image_id(&synapse), None, "the bad image is not tagged");
    // The same in Chinese.
    let out = mbx
        .cmd(&["images", "import", &file.display().to_string()])
        .env("LC_ALL", "zh_CN.UTF-8")
        .output()
        .unwrap();
    assert_error(&out, &["已损坏或被篡改", "未导入任何内容"]);
    flip_byte(&file, at);

    // An edited manifest (another ID for PostgreSQL): refused naming the image, before loading.
    let bytes = std::fs::read(&file).unwrap();
    let other = format!("sha256:{}", "0".repeat(64));
    let at = bytes
        .windows(ids[0].len())
        .position(|w| w == ids[0].as_bytes())
        .unwrap();
    assert!(at < 4096, "the ID is in the manifest at the start");
    let mut f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    f.seek(SeekFrom::Start(at as u64)).unwrap();
    f.write_all(other.as_bytes()).unwrap();
    drop(f);
    let out = mbx.run(&["images", "import", &file.display().to_string()]);
    assert_error(&out, &["postgres", &other, &pg, "nothing was loaded"]);
    assert_eq!(image_id(&pg), None, "nothing is tagged");
    // On a host that has no record of the image yet, the contents give the edit away.
    for name in ["image-digests.json", "image-imports.json"] {
        std::fs::remove_file(mbx.state_dir().join(name)).unwrap();
    }
    let out = mbx.run(&["images", "import", &file.display().to_string()]);
    assert_error(
        &out,
        &[
            "is damaged or was altered",
            &ids[0],
            "its manifest does not list",
        ],
    );
    assert_eq!(image_id(&pg), None, "nothing is tagged");
    assert_eq!(image_id(&synapse), None, "nothing is tagged");
}

/// A pinned image carried offline: the engine knows no registry digest for a loaded image, so the
/// archive's vouched digest is what `run` holds the pin to; a pin the archive does not vouch for is
/// refused before anything is loaded.
#[test]
fn pinned_images_imported_offline_run_under_their_pin() {
    let registry = Registry::start();
    let host = registry.host();
    let _cleanup = Cleanup(host.clone());
    let pg_image = env("MATRIXBOX_TEST_PG_IMAGE");
    let synapse_image = env("MATRIXBOX_TEST_SYNAPSE_IMAGE");
    let pg_digest = registry.push(&pg_image, &pg_image);
    let synapse_digest = registry.push(&synapse_image, &synapse_image);

    let mbx = Instance::new();
    mbx.setup(&format!("registry_mirror: [{host}]\n"));
    let pinned_pg = format!("{pg_image}@{pg_digest}");
    set_images(
        &mbx,
        &pinned_pg,
        &format!("{synapse_image}@{synapse_digest}"),
    );
    let file = mbx.dir.path().join("pinned.tar");
    assert_success(&mbx.run(&["images", "export", &file.display().to_string()]));

    // Offline now: the registry is gone, and so are its names on the engine.
    drop(registry);
    forget_registry_images(&host);
    let mirrored_pg = format!("{host}/{pg_image}");
    assert_eq!(image_id(&mirrored_pg), None);

    // A pin the archive does not vouch for is refused before loading.
    let wrong = format!("sha256:{}", "0".repeat(64));
    set_images(
        &mbx,
        &format!("{pg_image}@{wrong}"),
        &format!("{synapse_image}@{synapse_digest}"),
    );
    let out = mbx.run(&["images", "import", &file.display().to_string()]);
    assert_error(
        &out,
        &["postgres", &wrong, &pg_digest, "nothing was loaded"],
    );
    assert_eq!(image_id(&mirrored_pg), None, "nothing is tagged");

    // The right pins: imported under the mirror's names, and `run` accepts them without a pull.
    set_images(
        &mbx,
        &pinned_pg,
        &format!("{synapse_image}@{synapse_digest}"),
    );
    assert_success(&mbx.run(&["images", "import", &file.display().to_string()]));
    assert!(image_id(&mirrored_pg).is_some());
    let out = mbx.run_until_images();
    let err = assert_error(&out, &[AFTER_IMAGES]);
    assert!(!err.contains("pulling image"), "nothing was pulled: {err}");
    let record: serde_json::Value =
        serde_json::from_str(&read(&mbx.state_dir().join("image-digests.json"))).unwrap();
    assert_eq!(record[&mirrored_pg], pg_digest.as_str(), "{record}");
}
