//! End-to-end: `matrixbox adopt` takes over the manual guide's setup on the real engine. The
//! bench recreates it as compose would (containers with compose's project, service and working
//! directory labels, the guide's `./data:/data` and `./postgres` volumes, its init SQL with a
//! password, a homeserver.yaml made by Synapse's `--generate-config` and edited as the guide
//! says, a user registered with `register_new_matrix_user`, messages and an image sent by a real
//! client). A matrixbox configured for another server name is refused, and a copy that cannot be
//! written starts the old Synapse again; then the adoption runs,
//! the user reads the earlier messages and the image through matrixbox's edge, the server's key
//! is the same, the old files are unchanged, and the old stack starts again from them.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);
const PASSWORD: &str = "alice password";

/// The guide's stack: two containers, a network, labelled as compose labels them; removed when
/// dropped (its files go with the instance's directory).
struct Guide {
    dir: PathBuf,
    project: String,
    port: u16,
}

impl Guide {
    fn synapse(&self) -> String {
        format!("{}-synapse-1", self.project)
    }

    fn postgres(&self) -> String {
        format!("{}-postgres-1", self.project)
    }

    fn network(&self) -> String {
        format!("{}_default", self.project)
    }

    fn labels(&self, service: &str) -> Vec<String> {
        [
            format!("com.docker.compose.project={}", self.project),
            format!("com.docker.compose.service={service}"),
            format!(
                "com.docker.compose.project.working_dir={}",
                self.dir.display()
            ),
            "com.docker.compose.oneoff=False".into(),
            "com.docker.compose.container-number=1".into(),
        ]
        .into_iter()
        .flat_map(|l| ["--label".to_string(), l])
        .collect()
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + HEALTHY_WITHIN;
        loop {
            let out = Command::new("curl")
                .args(["-sf", &format!("{}/health", self.base_url())])
                .output()
                .unwrap();
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the guide's Synapse is not healthy: {}",
                docker(&["logs", "--tail", "40", &self.synapse()])
                    .stderr
                    .iter()
                    .map(|&b| b as char)
                    .collect::<String>()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The old PostgreSQL accepts connections over TCP (its init-time server listens on its
    /// socket only).
    fn wait_postgres(&self) {
        let deadline = Instant::now() + HEALTHY_WITHIN;
        while !docker(&[
            "exec",
            &self.postgres(),
            "pg_isready",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
        ])
        .status
        .success()
        {
            assert!(
                Instant::now() < deadline,
                "the guide's PostgreSQL is not ready"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn running(&self, container: &str) -> bool {
        inspect(container, "{{.State.Running}}") == "true"
    }
}

impl Drop for Guide {
    fn drop(&mut self) {
        docker(&["rm", "-f", &self.synapse(), &self.postgres()]);
        docker(&["network", "rm", &self.network()]);
    }
}

/// The guide's init SQL: Synapse's role with a password and its database, C-collated.
const INIT_SQL: &str = "CREATE USER synapse_user WITH PASSWORD 'guide password';\n\
CREATE DATABASE synapse ENCODING 'UTF8' LC_COLLATE='C' LC_CTYPE='C' TEMPLATE=template0 OWNER synapse_user;\n";

/// The compose file the guide has its readers write (kept for realism: the bench runs the same
/// services through the engine's API, as compose would).
const COMPOSE: &str = "services:\n  synapse:\n    image: matrixdotorg/synapse:latest\n    volumes: ['./data:/data']\n    ports: ['8008:8008']\n    depends_on: [postgres]\n  postgres:\n    image: postgres:latest\n    environment:\n      POSTGRES_PASSWORD: superuser password\n    volumes: ['./postgres:/var/lib/postgresql/data', './init.sql:/docker-entrypoint-initdb.d/init.sql']\n";

/// Starts the guide's stack in `dir` and returns it once its Synapse answers.
fn start_guide(mbx: &Instance, dir: &Path) -> Guide {
    let guide = Guide {
        dir: dir.to_path_buf(),
        project: format!("{}-guide", mbx.objects.name),
        port: free_port(),
    };
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::chown(&data, Some(991), Some(991)).unwrap();
    std::fs::write(dir.join("docker-compose.yml"), COMPOSE).unwrap();
    std::fs::write(dir.join("init.sql"), INIT_SQL).unwrap();
    std::fs::set_permissions(dir.join("init.sql"), std::fs::Permissions::from_mode(0o644)).unwrap();
    docker_ok(&["network", "create", &guide.network()]);

    let mut args: Vec<String> = vec![
        "run".into(),
        "-d".into(),
        "--name".into(),
        guide.postgres(),
        "--network".into(),
        guide.network(),
        "--network-alias".into(),
        "postgres".into(),
    ];
    args.extend(guide.labels("postgres"));
    args.extend([
        "-e".into(),
        "POSTGRES_PASSWORD=superuser password".into(),
        "-v".into(),
        format!(
            "{}:/var/lib/postgresql/data",
            dir.join("postgres").display()
        ),
        "-v".into(),
        format!(
            "{}:/docker-entrypoint-initdb.d/init.sql:ro",
            dir.join("init.sql").display()
        ),
        env("MATRIXBOX_TEST_PG_IMAGE"),
    ]);
    docker_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    guide.wait_postgres();

    // The guide's `generate`, then its hand edits of homeserver.yaml.
    let volume = format!("{}:/data", data.display());
    docker_ok(&[
        "run",
        "--rm",
        "-v",
        &volume,
        &env("MATRIXBOX_TEST_SYNAPSE_IMAGE"),
        "--server-name",
        TEST_DOMAIN,
        "--config-path",
        "/data/homeserver.yaml",
        "--generate-config",
        "--report-stats=no",
    ]);
    let path = data.join("homeserver.yaml");
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&read(&path)).unwrap();
    let edits: serde_yaml::Value = serde_yaml::from_str(&format!(
        "listeners:\n  - port: 8008\n    tls: false\n    type: http\n    x_forwarded: true\n    bind_addresses: ['0.0.0.0']\n    resources:\n      - names: [client, federation]\n        compress: false\n\
database:\n  name: psycopg2\n  args:\n    user: synapse_user\n    password: guide password\n    database: synapse\n    host: postgres\n    cp_min: 5\n    cp_max: 10\n\
public_baseurl: https://{TEST_DOMAIN}/\n\
max_upload_size: 100M\n\
retention:\n  enabled: true\n\
rc_login:\n  address:\n    per_second: 100\n    burst_count: 200\n  account:\n    per_second: 100\n    burst_count: 200\n"
    ))
    .unwrap();
    for (k, v) in edits.as_mapping().unwrap() {
        doc.as_mapping_mut().unwrap().insert(k.clone(), v.clone());
    }
    std::fs::write(&path, serde_yaml::to_string(&doc).unwrap()).unwrap();

    let mut args: Vec<String> = vec![
        "run".into(),
        "-d".into(),
        "--name".into(),
        guide.synapse(),
        "--network".into(),
        guide.network(),
    ];
    args.extend(guide.labels("synapse"));
    args.extend([
        "--restart".into(),
        "unless-stopped".into(),
        "-v".into(),
        volume,
        "-p".into(),
        format!("127.0.0.1:{}:8008", guide.port),
        env("MATRIXBOX_TEST_SYNAPSE_IMAGE"),
    ]);
    docker_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    guide.wait_healthy();
    guide
}

/// The real Matrix client against the guide's Synapse (plain HTTP on its published port).
fn guide_client(guide: &Guide, args: &[&str]) -> String {
    let out = Command::new(env("MATRIXBOX_TEST_CLIENT_PY"))
        .arg(env("MATRIXBOX_TEST_CLIENT_SCRIPT"))
        .args(args)
        .args(["--base-url", &guide.base_url()])
        .output()
        .unwrap();
    assert_success(&out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_field(text: &str, field: &str) -> String {
    let line = text.lines().last().unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("{text}"));
    value[field].as_str().unwrap().to_string()
}

fn client_ok(mbx: &Instance, args: &[&str]) -> String {
    let out = mbx.client(args);
    assert_success(&out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn digest(path: &Path) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

#[test]
fn the_guides_setup_is_adopted_with_its_history_media_and_key() {
    let mbx = Instance::new();
    let dir = mbx.dir.path().join("guide");
    let guide = start_guide(&mbx, &dir);

    // The guide's way to make a user, then history and an image from a real client.
    docker_ok(&[
        "exec",
        &guide.synapse(),
        "register_new_matrix_user",
        "-u",
        "alice",
        "-p",
        PASSWORD,
        "--no-admin",
        "-c",
        "/data/homeserver.yaml",
        "http://localhost:8008",
    ]);
    let login = ["--user", "alice", "--password", PASSWORD];
    for message in ["written before the adoption", "and a second one"] {
        let mut args = vec![
            "send",
            "--room-alias-localpart",
            "lobby",
            "--message",
            message,
        ];
        args.extend(login);
        guide_client(&guide, &args);
    }
    let image: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let image_file = mbx.dir.path().join("image.png");
    std::fs::write(&image_file, &image).unwrap();
    let mut args = vec![
        "upload",
        "--file",
        image_file.to_str().unwrap(),
        "--content-type",
        "image/png",
    ];
    args.extend(login);
    let mxc = json_field(&guide_client(&guide, &args), "mxc");
    let keys_before: serde_json::Value = {
        let out = Command::new("curl")
            .args([
                "-sf",
                &format!("{}/_matrix/key/v2/server", guide.base_url()),
            ])
            .output()
            .unwrap();
        assert_success(&out);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["verify_keys"].clone()
    };
    let watched = [
        dir.join("data/homeserver.yaml"),
        dir.join(format!("data/{TEST_DOMAIN}.signing.key")),
        dir.join("init.sql"),
    ];
    let before: Vec<Vec<u8>> = watched.iter().map(|p| digest(p)).collect();

    // A matrixbox configured for another server is refused before anything changes.
    std::fs::create_dir_all(mbx.config_path().parent().unwrap()).unwrap();
    std::fs::write(
        mbx.config_path(),
        format!("domain: other.test.internal\n{}", mbx.bench_lines()),
    )
    .unwrap();
    let compose_dir = dir.to_str().unwrap();
    let refused = mbx.run(&["adopt", "--compose-dir", compose_dir]);
    assert!(!refused.status.success(), "{}", describe(&refused));
    assert!(
        stderr(&refused).contains(&format!(
            "is for server other.test.internal, but the old server is {TEST_DOMAIN}"
        )),
        "{}",
        describe(&refused)
    );
    assert!(guide.running(&guide.synapse()) && !mbx.state_dir().exists());

    // matrixbox's own file: the bench's images, name and ports, for the same server.
    std::fs::write(
        mbx.config_path(),
        format!("domain: {TEST_DOMAIN}\n{}", mbx.bench_lines()),
    )
    .unwrap();

    // --dry-run says what would happen, in both languages, and changes nothing.
    let t = Instant::now();
    let plan = mbx.run(&["adopt", "--compose-dir", compose_dir, "--dry-run"]);
    assert_success(&plan);
    eprintln!("dry run in {:?}:\n{}", t.elapsed(), stdout(&plan));
    let text = stdout(&plan);
    for needle in [
        TEST_DOMAIN,
        "synapse_user",
        "max_upload_size",
        "retention",
        "trusted_key_servers",
        "--dry-run",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from the plan:\n{text}"
        );
    }
    let plan_zh = mbx.run(&[
        "--lang",
        "zh_CN",
        "adopt",
        "--compose-dir",
        compose_dir,
        "--dry-run",
    ]);
    assert_success(&plan_zh);
    assert!(
        stdout(&plan_zh).contains("未做任何更改"),
        "{}",
        describe(&plan_zh)
    );
    assert!(guide.running(&guide.synapse()) && guide.running(&guide.postgres()));
    assert!(!mbx.state_dir().join("postgres").exists());

    // A copy that cannot be written: the old Synapse, stopped for the copy, serves again.
    std::fs::create_dir_all(mbx.state_dir()).unwrap();
    let blocker = mbx.state_dir().join("backups");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let failed = mbx.run(&["adopt", "--compose-dir", compose_dir]);
    assert!(!failed.status.success(), "{}", describe(&failed));
    let err = stderr(&failed);
    assert!(
        err.contains("copying the old server failed; its Synapse was started again"),
        "{err}"
    );
    assert!(
        guide.running(&guide.synapse()),
        "the old Synapse runs again"
    );
    guide.wait_healthy();
    std::fs::remove_file(&blocker).unwrap();

    // The adoption.
    let t = Instant::now();
    let adopted = mbx.run(&["adopt", "--compose-dir", compose_dir]);
    assert_success(&adopted);
    eprintln!("adopted in {:?}:\n{}", t.elapsed(), describe(&adopted));
    assert!(!guide.running(&guide.synapse()) && !guide.running(&guide.postgres()));
    for c in [guide.synapse(), guide.postgres()] {
        assert_eq!(
            inspect(&c, "{{.HostConfig.RestartPolicy.Name}}"),
            "no",
            "{c}"
        );
    }
    let archive = std::fs::read_dir(mbx.state_dir().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("adopted-")
        })
        .expect("the copy is kept");
    assert_eq!(
        std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_success(&mbx.run(&["backup", "verify", archive.to_str().unwrap()]));
    let rendered = read(&mbx.state_dir().join("synapse-config/homeserver.yaml"));
    assert!(
        rendered.contains("retention:") && rendered.contains("max_upload_size: 100M"),
        "{rendered}"
    );
    assert!(
        !rendered.contains("matrix.org"),
        "the generated notary is not carried:\n{rendered}"
    );

    // The same server under matrixbox: history, media and key.
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    for message in ["written before the adoption", "and a second one"] {
        let mut args = vec![
            "read",
            "--room-alias-localpart",
            "lobby",
            "--expect",
            message,
        ];
        args.extend(login);
        client_ok(&mbx, &args);
    }
    let copy = mbx.dir.path().join("image-after.png");
    let mut args = vec![
        "download",
        "--mxc",
        mxc.as_str(),
        "--output",
        copy.to_str().unwrap(),
    ];
    args.extend(login);
    client_ok(&mbx, &args);
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        image,
        "the image is the same"
    );
    let ca = mbx.state_dir().join("ca/root.pem");
    let (code, body) = curl(&ca, TEST_DOMAIN, mbx.https_port, "/_matrix/key/v2/server");
    assert_eq!(code, "200", "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        doc["verify_keys"], keys_before,
        "the signing key is the same"
    );
    // New history lands under matrixbox.
    let mut args = vec![
        "send",
        "--room-alias-localpart",
        "lobby",
        "--message",
        "after",
    ];
    args.extend(login);
    client_ok(&mbx, &args);
    daemon.stop();

    // The old files are as they were, and the old stack starts from them again.
    let after: Vec<Vec<u8>> = watched.iter().map(|p| digest(p)).collect();
    assert_eq!(before, after, "the guide's files are unchanged");
    docker_ok(&["start", &guide.postgres()]);
    guide.wait_postgres();
    docker_ok(&["start", &guide.synapse()]);
    guide.wait_healthy();
    let mut args = vec![
        "read",
        "--room-alias-localpart",
        "lobby",
        "--expect",
        "and a second one",
    ];
    args.extend(login);
    guide_client(&guide, &args);
}

#[test]
fn a_directory_without_the_guides_stack_is_refused_in_both_languages() {
    let mbx = Instance::new();
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().to_str().unwrap();
    let out = mbx.run(&["adopt", "--compose-dir", dir]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("no docker compose container belongs to"),
        "{err}"
    );
    assert!(err.contains("hint: run adopt on the host"), "{err}");
    let out = mbx.run(&["--lang", "zh_CN", "adopt", "--compose-dir", dir]);
    assert!(stderr(&out).contains("没有属于"), "{}", describe(&out));
    let out = mbx.run(&["adopt", "--compose-dir", "/nonexistent/guide"]);
    assert!(
        stderr(&out).contains("cannot open the compose directory"),
        "{}",
        describe(&out)
    );
    assert!(
        !mbx.config_path().exists() && !mbx.state_dir().exists(),
        "nothing was written"
    );
}
