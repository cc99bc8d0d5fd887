//! `email:` end to end with a real SMTP server (aiosmtpd) as the sink: `doctor` tries its login
//! (good, wrong, an unsafe password file, STARTTLS trusted or not, implicit TLS), and Synapse in
//! its container mails the link that confirms an address a person adds to their account, then a
//! password reset whose link, followed, lets them set a new password.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);
const SMTP_USER: &str = "matrix@mail.test.internal";
const SMTP_PASSWORD: &str = "correct horse battery";

/// aiosmtpd on `host:port`, taking one login and keeping each message as a file in `maildir`.
struct Sink {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Sink {
    /// `tls`: `starttls` or `implicit`, with the certificate and key files.
    fn start(host: &str, tls: Option<(&str, &Path, &Path)>) -> Sink {
        let maildir = tempfile::tempdir().unwrap();
        let port = free_port();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/client/smtp_sink.py");
        let mut cmd = Command::new(env("MATRIXBOX_TEST_CLIENT_PY"));
        cmd.arg(script)
            .args([host, &port.to_string(), SMTP_USER, SMTP_PASSWORD])
            .arg(maildir.path());
        if let Some((mode, cert, key)) = tls {
            cmd.arg(mode).args([cert, key]);
        }
        // Its log (aiosmtpd's warnings, a refused handshake's traceback) beside the mail.
        let log = std::fs::File::create(maildir.path().join("sink.log")).unwrap();
        let mut child = cmd.stdout(Stdio::piped()).stderr(log).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            format!("ready {port}"),
            "the sink did not start"
        );
        Sink {
            child,
            port,
            maildir,
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A password file as the README says to keep it: 0600.
fn password_file(dir: &Path, password: &str) -> PathBuf {
    let path = dir.join("smtp-password");
    std::fs::write(&path, format!("{password}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn email_config(host: &str, port: u16, tls: &str, password_file: &Path) -> String {
    format!(
        "email:\n  smtp_host: {host}\n  smtp_port: {port}\n  tls: {tls}\n  user: {SMTP_USER}\n  password_file: {}\n  from: Matrix <noreply@test.internal>\n",
        password_file.display()
    )
}

/// A DNS server on loopback that knows no name (NXDOMAIN to every query), so that doctor's
/// steps about the public path fail at once; the SMTP step does not depend on them.
fn nxdomain_dns() -> String {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            if n < 12 {
                continue;
            }
            let mut answer = buf[..n].to_vec();
            answer[2] = 0x80 | (buf[2] & 0x01); // a response; RD copied
            answer[3] = 0x80 | 3; // RA, NXDOMAIN
            answer[6..12].fill(0); // no answer, authority or additional records
            let _ = socket.send_to(&answer, peer);
        }
    });
    addr
}

/// `doctor --json`'s email step.
fn email_step(mbx: &Instance, extra: &[&str]) -> serde_json::Value {
    static DNS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let mut args = vec!["doctor", "--json"];
    args.extend(extra);
    let out = mbx
        .cmd(&args)
        .env("MATRIXBOX_DNS_SERVER", DNS.get_or_init(nxdomain_dns))
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("MATRIXBOX_LANG")
        .output()
        .unwrap();
    doctor_step(&out, "email")
}

/// A CA and a certificate for `localhost` it signed, as PEM files in `dir`: (ca, cert, key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("smtp.pem"),
        dir.join("smtp.key"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, leaf.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

#[test]
fn doctor_tries_the_smtp_login() {
    let sink = Sink::start("127.0.0.1", None);
    let mbx = Instance::new();
    let secret_dir = tempfile::tempdir().unwrap();
    let file = password_file(secret_dir.path(), SMTP_PASSWORD);
    mbx.setup(&email_config("127.0.0.1", sink.port, "off", &file));

    let good = email_step(&mbx, &[]);
    assert_eq!(good["status"], "pass", "{good:#}");
    let evidence = good["evidence"].as_str().unwrap();
    assert!(
        evidence.contains(&format!("127.0.0.1:{}", sink.port))
            && evidence.contains(&format!("logged in as {SMTP_USER}")),
        "{evidence}"
    );

    // A wrong password: the server's refusal, and where to fix it, in both languages.
    password_file(secret_dir.path(), "wrong horse");
    let bad = email_step(&mbx, &[]);
    assert_eq!(bad["status"], "fail", "{bad:#}");
    let evidence = bad["evidence"].as_str().unwrap();
    assert!(
        evidence.contains(&format!("refused the login of {SMTP_USER}")) && evidence.contains("535"),
        "{evidence}"
    );
    let remedy = bad["remedy"].as_str().unwrap();
    assert!(
        remedy.contains("email.user") && remedy.contains(&file.display().to_string()),
        "{remedy}"
    );
    let zh = email_step(&mbx, &["--lang", "zh_CN"]);
    assert!(
        zh["evidence"].as_str().unwrap().contains("拒绝了")
            && zh["remedy"].as_str().unwrap().contains("请检查"),
        "{zh:#}"
    );

    // A password file others can read is not used, and says how to fix it.
    password_file(secret_dir.path(), SMTP_PASSWORD);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let readable = email_step(&mbx, &[]);
    assert_eq!(readable["status"], "fail", "{readable:#}");
    assert!(
        readable["remedy"]
            .as_str()
            .unwrap()
            .contains(&format!("chmod 600 {}", file.display())),
        "{readable:#}"
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();

    // Nothing listening: a connection failure, not a hang.
    drop(sink);
    let closed = email_step(&mbx, &[]);
    assert_eq!(closed["status"], "fail", "{closed:#}");
    assert!(
        closed["evidence"]
            .as_str()
            .unwrap()
            .contains("cannot connect to the SMTP server"),
        "{closed:#}"
    );
}

#[test]
fn doctor_verifies_the_smtp_servers_certificate_with_starttls_and_implicit_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let sink = Sink::start("127.0.0.1", Some(("starttls", &cert, &key)));
    let mbx = Instance::new();
    let file = password_file(dir.path(), SMTP_PASSWORD);
    mbx.setup(&email_config("localhost", sink.port, "starttls", &file));

    // The sink's CA is nobody's: refused, with the way to trust a private CA.
    let untrusted = email_step(&mbx, &[]);
    assert_eq!(untrusted["status"], "fail", "{untrusted:#}");
    assert!(
        untrusted["evidence"].as_str().unwrap().contains("TLS with")
            && untrusted["remedy"].as_str().unwrap().contains("--ca-file"),
        "{untrusted:#}"
    );
    let ca = ca.display().to_string();
    let trusted = email_step(&mbx, &["--ca-file", &ca]);
    assert_eq!(trusted["status"], "pass", "{trusted:#}");
    assert!(
        trusted["evidence"]
            .as_str()
            .unwrap()
            .contains("STARTTLS with a valid certificate"),
        "{trusted:#}"
    );

    // `tls: off` against a server that wants STARTTLS first: its refusal of a clear-text login.
    let plain = Instance::new();
    plain.setup(&email_config("localhost", sink.port, "off", &file));
    let refused = email_step(&plain, &[]);
    assert_eq!(refused["status"], "fail", "{refused:#}");

    // `tls: implicit` (port 465 style): TLS from the first byte, then the login.
    let implicit_sink = Sink::start("127.0.0.1", Some(("implicit", &cert, &key)));
    let implicit = Instance::new();
    implicit.setup(&email_config(
        "localhost",
        implicit_sink.port,
        "implicit",
        &file,
    ));
    let step = email_step(&implicit, &["--ca-file", &ca]);
    assert_eq!(step["status"], "pass", "{step:#}");
    assert!(
        step["evidence"]
            .as_str()
            .unwrap()
            .contains("TLS with a valid certificate, logged in as"),
        "{step:#}"
    );
    // The same server taken for STARTTLS: it speaks TLS first, which is not an SMTP greeting.
    let mixed = Instance::new();
    mixed.setup(&email_config(
        "localhost",
        implicit_sink.port,
        "starttls",
        &file,
    ));
    let step = email_step(&mixed, &["--ca-file", &ca]);
    assert_eq!(step["status"], "fail", "{step:#}");
    assert!(
        step["remedy"].as_str().unwrap().contains("tls: implicit"),
        "{step:#}"
    );
}

/// Synapse in its container reaches the sink on this host's address on the bench's bridge.
fn host_address_for_containers() -> String {
    docker_ok(&[
        "network",
        "inspect",
        "bridge",
        "--format",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
    ])
    .trim()
    .to_string()
}

#[test]
fn a_password_reset_mail_lets_the_person_set_a_new_password() {
    let host = host_address_for_containers();
    let sink = Sink::start(&host, None);
    let mbx = Instance::new();
    let secret_dir = tempfile::tempdir().unwrap();
    let file = password_file(secret_dir.path(), SMTP_PASSWORD);
    mbx.setup(&email_config(&host, sink.port, "off", &file));
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);

    // The password reached Synapse's config only, which others cannot read.
    let config = mbx.state_dir().join("synapse-config/homeserver.yaml");
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o007, 0, "homeserver.yaml is {mode:o}");
    assert!(
        !daemon.log_text().contains(SMTP_PASSWORD),
        "the SMTP password is in the log"
    );

    let old = "the old long password";
    let new = "a brand new long password";
    assert_success(&mbx.run_with_stdin(
        &["user", "add", "alice", "--password-stdin"],
        &format!("{old}\n"),
    ));
    let user = format!("@alice:{TEST_DOMAIN}");
    let mut args = vec![
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/client/password_reset.py")
            .display()
            .to_string(),
        "--maildir".into(),
        sink.maildir.path().display().to_string(),
        "--user".into(),
        user,
        "--email".into(),
        "alice@mail.test.internal".into(),
        "--old".into(),
        old.into(),
        "--new".into(),
        new.into(),
    ];
    args.extend(mbx.client_args());
    let out = Command::new(env("MATRIXBOX_TEST_CLIENT_PY"))
        .args(&args)
        .output()
        .unwrap();
    assert_success(&out);
    let flow: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("no JSON: {}", describe(&out)));
    eprintln!("the person's steps: {flow:#}");
    let context = || format!("{flow:#}\n{}", daemon.log_text());
    // Alice adds her address as her client would: confirmed by mail, then bound.
    assert_eq!(flow["add_request_token"], 200, "{}", context());
    assert_eq!(flow["add_link"], 200, "{}", context());
    assert_eq!(flow["add_bind"], 200, "{}", context());
    assert_eq!(flow["request_token"], 200, "{}", context());
    assert_eq!(
        flow["mail"]["from"],
        "Matrix <noreply@test.internal>",
        "{}",
        context()
    );
    assert_eq!(flow["mail"]["to"], "alice@mail.test.internal");
    assert_eq!(flow["link_host"], TEST_DOMAIN, "the link names this server");
    // Without the mail, nothing: a forged token does not validate, the password stays.
    assert_eq!(flow["forged_submit"], 400, "{}", context());
    assert_eq!(flow["change_before_validation"], 401, "{}", context());
    // With it: the link's page, its confirmation, the new password.
    assert_eq!(flow["link_page"], 200, "{}", context());
    assert_eq!(flow["confirm"], 200, "{}", context());
    assert!(
        flow["validated_page"]
            .as_str()
            .unwrap()
            .starts_with("Password reset success"),
        "{}",
        context()
    );
    assert_eq!(flow["change"], 200, "{}", context());
    assert_eq!(flow["login_new"], 200, "{}", context());
    assert_eq!(flow["login_old"], 403, "{}", context());

    daemon.stop();
}

#[test]
fn run_refuses_a_password_file_others_can_read_before_starting_anything() {
    let mbx = Instance::new();
    let secret_dir = tempfile::tempdir().unwrap();
    let file = password_file(secret_dir.path(), SMTP_PASSWORD);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    mbx.setup(&email_config("127.0.0.1", 25, "off", &file));
    let out = mbx.run(&["run"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "cannot use {} (email.password_file)",
            file.display()
        )) && err.contains("others can read it (mode 644)")
            && err.contains(&format!("hint: `chmod 600 {}`", file.display())),
        "{err}"
    );
    assert!(
        !err.contains(SMTP_PASSWORD),
        "the password is printed: {err}"
    );
    assert!(
        !docker(&["inspect", &mbx.objects.postgres()])
            .status
            .success(),
        "nothing was started"
    );
}
