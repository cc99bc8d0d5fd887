//! Element Web through the edge, from the bench's stand-in image: its own name with a certificate
//! that names it, the generated config.json (this server only, plus what the config adds),
//! Element's security headers, cache rules, the single-page-app fallback and hostile paths; an
//! image that is not a web app is refused by name and the files served before are kept.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);
const WEB_NAME: &str = "chat.matrix.test.internal";

fn element_image() -> String {
    std::env::var("MATRIXBOX_TEST_ELEMENT_IMAGE")
        .unwrap_or_else(|_| "matrixbox-test/element-web:1.0.0".into())
}

/// One answer as curl saw it: status, lower-cased headers, body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

/// GET over TLS, trusting only `ca` (so the certificate must name `name`), the path sent as is.
fn get(ca: &Path, name: &str, port: u16, path: &str) -> Answer {
    get_with(ca, name, port, path, &[])
}

fn get_with(ca: &Path, name: &str, port: u16, path: &str, extra: &[&str]) -> Answer {
    let out = Command::new("curl")
        .args(extra)
        .args(["-sS", "--path-as-is", "-D", "-", "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("{name}:{port}:127.0.0.1")])
        .arg(format!("https://{name}:{port}{path}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "curl {path}: {}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

/// The names in the certificate the edge presents for `name`.
fn certificate_names(port: u16, name: &str) -> String {
    let script = format!(
        "openssl s_client -connect 127.0.0.1:{port} -servername {name} </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName"
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `doctor --json`'s Element X step, the edge reached on the test domain through `--connect-to`.
fn element_x_step(instance: &Instance) -> serde_json::Value {
    let ca = instance.state_dir().join("ca/root.pem");
    let connect_to = format!("{TEST_DOMAIN}:443:127.0.0.1:{}", instance.https_port);
    let ca = ca.display().to_string();
    let out = instance
        .cmd(&[
            "doctor",
            "--json",
            "--ca-file",
            &ca,
            "--connect-to",
            &connect_to,
        ])
        .env("LANG", "C.UTF-8")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("doctor printed no JSON: {}", describe(&out)));
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "element-x")
        .cloned()
        .unwrap_or_else(|| panic!("no element-x step: {report}"))
}

/// A later "release" of the stand-in (its version file changed), tagged for this test only.
struct NewerImage(String);

impl NewerImage {
    fn build(instance: &str, base: &str) -> NewerImage {
        let context = tempfile::tempdir().unwrap();
        std::fs::write(
            context.path().join("Dockerfile"),
            format!("FROM {base}\nCOPY version /app/version\n"),
        )
        .unwrap();
        std::fs::write(context.path().join("version"), "2.0.0-test\n").unwrap();
        let tag = format!("{instance}/element-web:2");
        let out = docker_command()
            .env("DOCKER_BUILDKIT", "0")
            .args(["build", "-q", "-t", &tag])
            .arg(context.path())
            .output()
            .unwrap();
        assert_success(&out);
        NewerImage(tag)
    }
}

impl Drop for NewerImage {
    fn drop(&mut self) {
        let _ = docker(&["rmi", &self.0]);
    }
}

#[test]
fn element_web_is_served_on_its_own_name_from_the_pinned_image() {
    let instance = Instance::new();
    let image = element_image();
    instance.setup(&format!(
        "web_client:\n  image: {image}\n  config:\n    brand: Bench Chat\n"
    ));
    let mut daemon = instance.spawn_run();
    instance.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    let ca = instance.state_dir().join("ca/root.pem");
    let port = instance.https_port;
    let status = instance.status_json();
    assert_eq!(status["web_client"]["url"], format!("https://{WEB_NAME}/"));
    let files = status["web_client"]["files"].as_str().unwrap();
    assert!(files.contains("/web/sha256-"), "{status}");

    // Its own name, in the certificate beside the homeserver's.
    let names = certificate_names(port, WEB_NAME);
    assert!(names.contains(&format!("DNS:{WEB_NAME}")), "{names}");
    assert!(names.contains(&format!("DNS:{TEST_DOMAIN}")), "{names}");

    // The app, with Element's security headers; index.html is revalidated.
    let index = get(&ca, WEB_NAME, port, "/");
    assert_eq!(index.status, 200);
    assert!(index.body.contains("bench stand-in for Element Web"));
    assert_eq!(index.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(index.header("cache-control"), "no-cache");
    assert_eq!(index.header("x-frame-options"), "SAMEORIGIN");
    assert_eq!(index.header("x-content-type-options"), "nosniff");
    assert_eq!(index.header("x-xss-protection"), "1; mode=block");
    assert_eq!(
        index.header("content-security-policy"),
        "frame-ancestors 'self'"
    );

    // config.json: generated (not the image's sample), this server only, plus the config's keys.
    for path in ["/config.json", &format!("/config.{WEB_NAME}.json")] {
        let config = get(&ca, WEB_NAME, port, path);
        assert_eq!(config.status, 200, "{path}");
        assert_eq!(config.header("cache-control"), "no-cache");
        let doc: serde_json::Value = serde_json::from_str(&config.body).unwrap();
        assert_eq!(
            doc["default_server_config"]["m.homeserver"]["base_url"],
            format!("https://{TEST_DOMAIN}")
        );
        assert_eq!(doc["brand"], "Bench Chat");
        assert_eq!(doc["disable_custom_urls"], true);
        assert_eq!(doc["integrations_ui_url"], "");
        for absent in [
            "matrix.org",
            "vector.im",
            "posthog",
            "bug_report_endpoint_url",
            "map_style_url",
        ] {
            assert!(!config.body.contains(absent), "{absent} in {}", config.body);
        }
    }

    // Hashed bundles are cached for good; the version file is revalidated.
    let js = get(&ca, WEB_NAME, port, "/bundles/5f3a9c0e1d2b/init.js");
    assert_eq!(js.status, 200);
    assert_eq!(js.header("content-type"), "text/javascript; charset=utf-8");
    assert_eq!(
        js.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    // Text is sent compressed to clients that take gzip (from the copy made when unpacking).
    let plain = get(&ca, WEB_NAME, port, "/bundles/5f3a9c0e1d2b/vendor.js");
    assert!(plain.headers.iter().all(|(n, _)| n != "content-encoding"));
    let zipped = get_with(
        &ca,
        WEB_NAME,
        port,
        "/bundles/5f3a9c0e1d2b/vendor.js",
        &["--compressed"],
    );
    assert_eq!(zipped.header("content-encoding"), "gzip");
    assert_eq!(zipped.header("vary"), "Accept-Encoding");
    assert!(zipped.header("content-length").parse::<usize>().unwrap() < plain.body.len() / 4);
    assert_eq!(zipped.body, plain.body);
    let version = get(&ca, WEB_NAME, port, "/version");
    assert_eq!((version.status, version.body.trim()), (200, "1.0.0-bench"));
    assert_eq!(version.header("cache-control"), "no-cache");

    // App routes get the app; a missing file and paths out of the bundle do not.
    let route = get(&ca, WEB_NAME, port, "/welcome");
    assert_eq!(route.status, 200);
    assert!(route.body.contains("bench stand-in"));
    assert_eq!(route.header("cache-control"), "no-cache");
    assert_eq!(
        get(&ca, WEB_NAME, port, "/bundles/5f3a9c0e1d2b/gone.js").status,
        404
    );
    for hostile in [
        "/../../../etc/passwd",
        "/bundles/%2e%2e/%2e%2e/version",
        "/.copy.tar",
    ] {
        let answer = get(&ca, WEB_NAME, port, hostile);
        assert_eq!(answer.status, 404, "{hostile}: {}", answer.body);
    }

    // The homeserver's name is unchanged: its onboarding page, not the web client.
    let home = get(&ca, TEST_DOMAIN, port, "/");
    assert!(!home.body.contains("bench stand-in"));
    // Its onboarding page (and the invite page's last step) offers the web client first.
    assert!(
        home.body
            .contains(&format!("<a href=\"https://{WEB_NAME}/\">")),
        "{}",
        home.body
    );
    let versions = get(&ca, TEST_DOMAIN, port, "/_matrix/client/versions");
    assert_eq!(versions.status, 200);

    // Plain HTTP on its name redirects to HTTPS on its name.
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
        ])
        .args([
            "--resolve",
            &format!("{WEB_NAME}:{}:127.0.0.1", instance.http_port),
        ])
        .arg(format!("http://{WEB_NAME}:{}/welcome", instance.http_port))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("308 https://{WEB_NAME}:{port}/welcome")
    );

    // A new pin (reloaded): its files replace the old ones in one swap, the old copy is removed.
    let newer = NewerImage::build(&instance.objects.name, &image);
    let old = std::fs::read_link(instance.state_dir().join("web/current")).unwrap();
    let config = read(&instance.config_path())
        .replace(&format!("image: {image}"), &format!("image: {}", newer.0));
    std::fs::write(instance.config_path(), config).unwrap();
    daemon.signal(nix::sys::signal::Signal::SIGHUP);
    daemon.wait_log("web client files updated", 2, HEALTHY_WITHIN);
    let version = get(&ca, WEB_NAME, port, "/version");
    assert_eq!(version.body.trim(), "2.0.0-test");
    assert!(!instance.state_dir().join("web").join(&old).exists());
    let image = newer.0.clone();

    // doctor: Element X's needs, as the bench's Synapse offers them.
    let step = element_x_step(&instance);
    assert_eq!(step["status"], "pass", "{step}");
    // Password login turned off (reloaded): named as missing, with its fix.
    instance.append_config("synapse:\n  password_config:\n    enabled: false\n");
    daemon.signal(nix::sys::signal::Signal::SIGHUP);
    let deadline = std::time::Instant::now() + HEALTHY_WITHIN;
    let step = loop {
        let step = element_x_step(&instance);
        if step["status"] == "warn" || std::time::Instant::now() > deadline {
            break step;
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    assert_eq!(step["status"], "warn", "{step}\n{}", daemon.log_text());
    let evidence = step["evidence"].as_str().unwrap();
    assert!(evidence.contains("m.login.password"), "{evidence}");
    assert!(!evidence.contains("sliding sync"), "{evidence}");
    assert!(
        step["remedy"].as_str().unwrap().contains("password_config"),
        "{step}"
    );

    // An image without a web app: refused by name, the daemon stops, the old files stay served
    // by the next daemon.
    daemon.stop();
    let served = std::fs::read_link(instance.state_dir().join("web/current")).unwrap();
    let config = read(&instance.config_path()).replace(
        &format!("image: {image}"),
        &format!("image: {}", env("MATRIXBOX_TEST_PG_IMAGE")),
    );
    std::fs::write(instance.config_path(), config).unwrap();
    let out = instance.run(&["run"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("is not a usable Element Web bundle: it has no /app"),
        "{err}"
    );
    assert!(
        err.contains("hint:") && err.contains("web_client.image"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_link(instance.state_dir().join("web/current")).unwrap(),
        served
    );
    assert!(
        instance
            .state_dir()
            .join("web")
            .join(&served)
            .join("index.html")
            .is_file()
    );
}

/// The test's own tags of bench images, removed at the end (never the bench's own tags).
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

#[test]
fn the_web_clients_image_travels_with_images_export_and_import() {
    let mbx = Instance::new();
    let name = &mbx.objects.name;
    let own = [
        (
            env("MATRIXBOX_TEST_PG_IMAGE"),
            format!("{name}/postgres:15"),
        ),
        (
            env("MATRIXBOX_TEST_SYNAPSE_IMAGE"),
            format!("{name}/synapse:1"),
        ),
        (element_image(), format!("{name}/element-web:1")),
    ];
    let tags = TestTags(own.iter().map(|(_, tag)| tag.clone()).collect());
    for (bench, tag) in &own {
        docker_ok(&["tag", bench, tag]);
    }
    let ids: Vec<String> = own.iter().map(|(_, t)| image_id(t).unwrap()).collect();
    mbx.setup(&format!("web_client:\n  image: {}\n", own[2].1));
    let config = read(&mbx.config_path())
        .replace(&env("MATRIXBOX_TEST_PG_IMAGE"), &own[0].1)
        .replace(&env("MATRIXBOX_TEST_SYNAPSE_IMAGE"), &own[1].1);
    std::fs::write(mbx.config_path(), config).unwrap();

    let file = mbx.dir.path().join("images.tar");
    assert_success(&mbx.run(&["images", "export", &file.display().to_string()]));
    let mut archive = tar::Archive::new(std::fs::File::open(&file).unwrap());
    let mut first = archive.entries().unwrap().next().unwrap().unwrap();
    let mut json = String::new();
    std::io::Read::read_to_string(&mut first, &mut json).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(manifest["images"][2]["role"], "element-web", "{manifest}");
    assert_eq!(manifest["images"][2]["reference"], own[2].1.as_str());
    assert_eq!(manifest["images"][2]["id"], ids[2].as_str());

    // "Another host": the names are gone; import brings all three back under their IDs.
    tags.untag();
    assert_eq!(image_id(&own[2].1), None);
    assert_success(&mbx.run(&["images", "import", &file.display().to_string()]));
    for ((_, tag), id) in own.iter().zip(&ids) {
        assert_eq!(image_id(tag).as_ref(), Some(id), "{tag}");
    }
}
