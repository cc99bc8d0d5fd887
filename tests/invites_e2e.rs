//! End-to-end: `invite` and `user` against a real Synapse with `registration: closed`; people sign
//! up through the edge over TLS exactly as the invite page's script does (availability, then the
//! m.login.registration_token user-interactive auth), then use a real Matrix client; revoked and
//! used-up invites cannot register; the pages answer in English and Simplified Chinese.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);

/// The edge over TLS, trusting only the internal CA's root: (status, body, headers).
struct Edge {
    ca: PathBuf,
    port: u16,
}

impl Edge {
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[&str],
        body: Option<&Value>,
    ) -> (u16, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let head = dir.path().join("head");
        let mut cmd = std::process::Command::new("curl");
        cmd.args(["-sS", "-X", method, "--cacert"])
            .arg(&self.ca)
            .arg("-D")
            .arg(&head)
            .args(["-w", "\n%{http_code}"]);
        for h in headers {
            cmd.args(["-H", h]);
        }
        if let Some(body) = body {
            cmd.args(["-H", "Content-Type: application/json", "--data-binary"])
                .arg(body.to_string());
        }
        let out = cmd
            .arg(format!("https://localhost:{}{path}", self.port))
            .output()
            .unwrap();
        assert!(out.status.success(), "curl {path}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (
            code.parse().unwrap(),
            body.to_string(),
            std::fs::read_to_string(head).unwrap_or_default(),
        )
    }

    fn page(&self, path: &str, accept_language: &str) -> (u16, String) {
        let header = format!("Accept-Language: {accept_language}");
        let (code, body, _) = self.request("GET", path, &[&header], None);
        (code, body)
    }

    fn json(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let (code, text, _) = self.request(method, path, &[], body);
        (code, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// What embedded/web/invite.js does: check the name, then walk the UIA stages with the token.
    fn sign_up(&self, token: &str, name: &str, password: &str) -> (u16, Value) {
        let (code, answer) = self.json(
            "GET",
            &format!("/_matrix/client/v3/register/available?username={name}"),
            None,
        );
        assert_eq!(
            (code, &answer["available"]),
            (200, &json!(true)),
            "{answer}"
        );
        let mut request = json!({"username": name, "password": password, "inhibit_login": true});
        for _ in 0..5 {
            let (code, answer) = self.json("POST", "/_matrix/client/v3/register", Some(&request));
            if code != 401 || answer.get("errcode").is_some() {
                return (code, answer);
            }
            let done: Vec<&str> = answer["completed"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let supported = ["m.login.registration_token", "m.login.dummy"];
            let flow = answer["flows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["stages"].as_array().unwrap())
                .find(|stages| {
                    stages
                        .iter()
                        .all(|s| supported.contains(&s.as_str().unwrap()))
                })
                .unwrap_or_else(|| panic!("no flow the page can do: {answer}"));
            let stage = flow
                .iter()
                .map(|s| s.as_str().unwrap())
                .find(|s| !done.contains(s))
                .unwrap_or_else(|| panic!("every stage done, still 401: {answer}"));
            request["auth"] = json!({"type": stage, "session": answer["session"]});
            if stage == "m.login.registration_token" {
                request["auth"]["token"] = json!(token);
            }
        }
        panic!("the user-interactive auth did not end");
    }
}

fn token_in(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    let at = text
        .find("https://localhost/invite/")
        .expect("an invite link");
    text[at + "https://localhost/invite/".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn invites_sign_up_and_user_management() {
    let mbx = Instance::new();
    assert_success(&mbx.run(&["setup", "--domain", "localhost", "--skip-preflight"]));
    // Many sign-ups, checks and logins from one address in a few seconds.
    let limits = "{per_second: 50, burst_count: 200}";
    mbx.append_config(&format!(
        "{}synapse:\n  rc_registration: {limits}\n  rc_registration_token_validity: {limits}\n  rc_login:\n    address: {limits}\n    account: {limits}\n    failed_attempts: {limits}\n",
        mbx.bench_lines()
    ));
    let mut daemon = mbx.spawn_run();
    mbx.wait_healthy(&mut daemon, HEALTHY_WITHIN);
    let status = mbx.status_json();
    let edge = Edge {
        ca: PathBuf::from(status["certificates"][0]["trust_root"].as_str().unwrap()),
        port: mbx.https_port,
    };
    let lang = |lang: &str, args: &[&str]| mbx.cmd(args).env("LANG", lang).output().unwrap();

    // An invite for one sign-up; the service account appears with it, its secrets private.
    let created = mbx.run(&["invite", "create", "--uses", "1", "--expires", "1d"]);
    assert_success(&created);
    let stdout = String::from_utf8_lossy(&created.stdout).into_owned();
    assert!(stdout.contains("1 sign-up(s)"), "{stdout}");
    assert!(
        stdout.contains('▀') || stdout.contains('▄'),
        "a QR code: {stdout}"
    );
    let token = token_in(&created);
    let secrets = mbx.state_dir().join("secrets");
    for file in ["admin_account_password", "admin_access_token"] {
        assert_eq!(mode(&secrets.join(file)), 0o600, "{file}");
        let value = std::fs::read_to_string(secrets.join(file)).unwrap();
        assert!(!stdout.contains(value.trim()), "{file} printed");
        assert!(!daemon.log_text().contains(value.trim()), "{file} logged");
    }

    // The invite page, in the browser's language and on request.
    let (code, en) = edge.page(&format!("/invite/{token}"), "en-US,en;q=0.9");
    assert_eq!(code, 200, "{en}");
    assert!(en.contains(&format!("data-token=\"{token}\"")), "{en}");
    assert!(en.contains("Create my account") && en.contains("<html lang=\"en\">"));
    let (_, zh) = edge.page(&format!("/invite/{token}"), "zh-CN,zh;q=0.9");
    assert!(
        zh.contains("创建我的账号") && zh.contains("<html lang=\"zh-CN\">"),
        "{zh}"
    );
    let (_, chosen) = edge.page(&format!("/invite/{token}?lang=en"), "zh-CN");
    assert!(chosen.contains("Create my account"), "{chosen}");
    let (code, script, head) = edge.request("GET", "/assets/invite.js", &[], None);
    assert_eq!(code, 200);
    assert!(script.contains("m.login.registration_token"));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/javascript"),
        "{head}"
    );
    let (_, _, head) = edge.request("GET", &format!("/invite/{token}"), &[], None);
    assert!(head.contains("script-src 'self'"), "{head}");

    // Sign up through the edge as the page does; the one use is gone afterwards.
    let (code, answer) = edge.sign_up(&token, "dora", "dora's long password");
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["user_id"], "@dora:localhost");
    let (code, answer) = edge.json(
        "POST",
        "/_matrix/client/v3/register",
        Some(&json!({"username": "eve", "password": "whatever-password"})),
    );
    assert_eq!(code, 401, "no registration without a token: {answer}");
    let (code, answer) = edge.sign_up(&token, "eve", "eve's long password");
    assert_ne!(code, 200, "a used-up invite registered someone: {answer}");
    let (code, page) = edge.page(&format!("/invite/{token}"), "en");
    assert_eq!(code, 404);
    assert!(page.contains("This invitation cannot be used"), "{page}");

    // A revoked invite cannot register either.
    let second = mbx.run(&["invite", "create", "--uses", "5", "--expires", "2h"]);
    assert_success(&second);
    let revoked = token_in(&second);
    let listed = lang("C", &["invite", "list"]);
    assert_success(&listed);
    let table = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(table.contains(&format!("{token}  1/1")), "{table}");
    assert!(
        table.contains("used up") && table.contains("0/5"),
        "{table}"
    );
    let listed_zh = lang("zh_CN.UTF-8", &["invite", "list"]);
    let table_zh = String::from_utf8_lossy(&listed_zh.stdout).into_owned();
    assert!(
        table_zh.contains("令牌") && table_zh.contains("已用完"),
        "{table_zh}"
    );
    assert_success(&mbx.run(&["invite", "revoke", &revoked]));
    let (code, answer) = edge.sign_up(&revoked, "eve", "eve's long password");
    assert_ne!(code, 200, "a revoked invite registered someone: {answer}");
    let again = mbx.run(&["invite", "revoke", &revoked]);
    assert_eq!(again.status.code(), Some(1), "{}", describe(&again));
    assert!(
        stderr(&again).contains("does not exist"),
        "{}",
        stderr(&again)
    );
    assert!(stderr(&again).contains("hint:"), "{}", stderr(&again));
    let bad = mbx.run(&["invite", "create", "--expires", "7"]);
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));

    // Unknown tokens get the clear page in both languages; the onboarding page too.
    for (accept, text) in [
        ("en", "This invitation cannot be used"),
        ("zh-CN", "此邀请无法使用"),
    ] {
        for path in ["/invite/noSuchInvite0000", "/invite/%3Cscript%3E"] {
            let (code, page) = edge.page(path, accept);
            assert_eq!(code, 404, "{path}");
            assert!(page.contains(text), "{path}: {page}");
        }
    }
    let (code, page) = edge.page("/", "zh-CN");
    assert_eq!(code, 200);
    assert!(
        page.contains("如何连接") && page.contains("https://localhost"),
        "{page}"
    );
    let (_, page) = edge.page("/?lang=en", "zh-CN");
    assert!(page.contains("How to connect"), "{page}");

    // The new user talks with another one through the edge with a real Matrix client.
    assert_success(&mbx.run_with_stdin(
        &["user", "add", "erin", "--password-stdin"],
        "erin's long password\n",
    ));
    let client = |user: &str, password: &str, args: &[&str]| {
        let base = format!("https://localhost:{}", mbx.https_port);
        std::process::Command::new(env("MATRIXBOX_TEST_CLIENT_PY"))
            .arg(env("MATRIXBOX_TEST_CLIENT_SCRIPT"))
            .args(args)
            .args(["--user", user, "--password", password])
            .args([
                "--room-alias-localpart",
                "welcome",
                "--base-url",
                &base,
                "--ca-file",
            ])
            .arg(&edge.ca)
            .output()
            .unwrap()
    };
    let dora = |password: &str, args: &[&str]| client("dora", password, args);
    assert_success(&dora(
        "dora's long password",
        &["send", "--message", "hello erin"],
    ));
    let erin = |args: &[&str]| client("erin", "erin's long password", args);
    assert_success(&erin(&["read", "--expect", "hello erin"]));
    assert_success(&erin(&["send", "--message", "welcome dora"]));
    assert_success(&dora(
        "dora's long password",
        &["read", "--expect", "welcome dora"],
    ));

    // user list / admin / reset-password / deactivate.
    let list = |who: &str| {
        let out = lang(who, &["user", "list"]);
        assert_success(&out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let users = list("C");
    assert!(
        users.contains("@dora:localhost") && users.contains("@erin:localhost"),
        "{users}"
    );
    assert!(
        !users.contains("matrixbox-admin"),
        "the service account is hidden: {users}"
    );
    assert_success(&mbx.run(&["user", "admin", "dora", "on"]));
    let dora_row = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("@dora:"))
            .unwrap()
            .to_string()
    };
    assert!(dora_row(&list("C")).contains(" yes "), "{}", list("C"));
    assert!(
        dora_row(&list("zh_CN.UTF-8")).contains(" 是 "),
        "{}",
        list("zh_CN.UTF-8")
    );
    assert_success(&mbx.run(&["user", "admin", "@dora:localhost", "off"]));
    assert!(dora_row(&list("C")).contains(" no "), "{}", list("C"));

    let reset = mbx.run_with_stdin(
        &["user", "reset-password", "dora", "--password-stdin"],
        "dora's new password\n",
    );
    assert_success(&reset);
    assert!(
        !dora(
            "dora's long password",
            &["read", "--expect", "welcome dora"]
        )
        .status
        .success()
    );
    assert_success(&dora(
        "dora's new password",
        &["read", "--expect", "welcome dora"],
    ));

    assert_success(&mbx.run(&["user", "deactivate", "erin", "--erase"]));
    assert!(
        list("C")
            .lines()
            .any(|l| l.starts_with("@erin:") && l.contains("deactivated"))
    );
    assert!(!erin(&["read", "--expect", "hello erin"]).status.success());

    // Clear errors: unknown users, matrixbox's own account, a name of another server.
    for args in [
        &["user", "deactivate", "nobody"][..],
        &["user", "admin", "nobody", "on"],
        &["user", "reset-password", "nobody", "--password-stdin"],
    ] {
        let out = mbx.run_with_stdin(args, "some long password\n");
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
        assert!(
            stderr(&out).contains("@nobody:localhost does not exist"),
            "{}",
            stderr(&out)
        );
    }
    for args in [
        &["user", "deactivate", "matrixbox-admin"][..],
        &["user", "admin", "@alice:elsewhere.org", "on"],
    ] {
        let out = mbx.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));
    }

    // A cached token Synapse no longer accepts is renewed, not reported.
    std::fs::write(secrets.join("admin_access_token"), "syt_not_a_token\n").unwrap();
    assert!(list("C").contains("@dora:localhost"));
    assert_eq!(mode(&secrets.join("admin_access_token")), 0o600);

    // A replaced password file is named, not papered over; the right one works again.
    let password = std::fs::read_to_string(secrets.join("admin_account_password")).unwrap();
    std::fs::write(secrets.join("admin_account_password"), "not the password\n").unwrap();
    std::fs::remove_file(secrets.join("admin_access_token")).unwrap();
    let locked = mbx.run(&["user", "list"]);
    assert_eq!(locked.status.code(), Some(1), "{}", describe(&locked));
    assert!(
        stderr(&locked).contains("password file does not match"),
        "{}",
        stderr(&locked)
    );
    assert!(stderr(&locked).contains("hint:"), "{}", stderr(&locked));
    std::fs::write(secrets.join("admin_account_password"), password).unwrap();
    assert!(list("C").contains("@dora:localhost"));
    daemon.stop();
}
