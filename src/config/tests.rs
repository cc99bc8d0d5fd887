//! Parsing and validation, end to end from file text.

use std::path::Path;

use super::*;

fn parse_str(text: &str) -> Result<Config, ConfigError> {
    parse(text, Path::new("/etc/matrixbox/matrixbox.yaml"))
}

fn problems(text: &str) -> Vec<Problem> {
    match parse_str(text) {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn minimal_config_gets_safe_defaults() {
    let c = parse_str("domain: Matrix.Example.com\n").unwrap();
    assert_eq!(c.domain, "matrix.example.com");
    assert_eq!(c.server_name, "matrix.example.com");
    assert_eq!(c.registration, Registration::Closed);
    assert_eq!(c.synapse_image, DEFAULT_SYNAPSE_IMAGE);
    assert_eq!(c.postgres_image, DEFAULT_POSTGRES_IMAGE);
    assert!(c.ignored_keys.is_empty());
    assert_eq!(c.memory_mb, None);
    assert!(!c.synapse_image.ends_with(":latest"));
}

#[test]
fn an_old_synapse_port_is_accepted_and_named_as_ignored() {
    let c = parse_str("domain: a.org\nsynapse_port: 8008\n").unwrap();
    assert_eq!(c.ignored_keys, vec!["synapse_port"]);
}

#[test]
fn all_problems_are_reported_at_once_with_dotted_paths() {
    let p = problems(
        "domain: https://x.org\nacme: {emial: a@b.c}\nimages: {synapse: 'matrixdotorg/synapse:latest'}\nregistration: maybe\nsynapse_port: lots\ndomian: x\n",
    );
    let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
    assert!(paths.contains(&"domain"), "{p:#?}");
    assert!(paths.contains(&"acme.emial"), "{p:#?}");
    assert!(paths.contains(&"images.synapse"), "{p:#?}");
    assert!(paths.contains(&"registration"), "{p:#?}");
    assert!(
        paths.contains(&"synapse_port"),
        "a type error still: {p:#?}"
    );
    assert!(paths.contains(&"domian"), "{p:#?}");
    let typo = p.iter().find(|p| p.path == "acme.emial").unwrap();
    assert_eq!(typo.hint.as_deref(), Some("did you mean `email`?"));
    let top = p.iter().find(|p| p.path == "domian").unwrap();
    assert_eq!(top.hint.as_deref(), Some("did you mean `domain`?"));
}

#[test]
fn syntax_errors_name_line_and_column() {
    let err = parse_str("domain: x.org\nsynapse: [oops\n").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ConfigError::Syntax { .. }));
    assert!(text.contains("line "), "{text}");
    assert!(text.contains("/etc/matrixbox/matrixbox.yaml"), "{text}");
}

#[test]
fn domain_rules() {
    assert_eq!(
        domain_problem("matrix.example.com", crate::i18n::Lang::En),
        None
    );
    assert_eq!(domain_problem("localhost", crate::i18n::Lang::En), None);
    assert!(
        domain_problem("https://matrix.example.com", crate::i18n::Lang::En)
            .unwrap()
            .contains("https")
    );
    assert!(
        domain_problem("matrix.example.com:8448", crate::i18n::Lang::En)
            .unwrap()
            .contains("port")
    );
    assert!(domain_problem("-bad.example.com", crate::i18n::Lang::En).is_some());
    assert!(domain_problem("bad..example.com", crate::i18n::Lang::En).is_some());
    assert!(domain_problem("under_score.example.com", crate::i18n::Lang::En).is_some());
}

#[test]
fn mirror_applies_to_hub_images_only() {
    let c = parse_str(
        "domain: x.org\nregistry_mirror: mirror.local:5000/\nimages: {postgres: 'registry.example.com/pg:15.4'}\n",
    )
    .unwrap();
    assert_eq!(
        c.synapse_image,
        format!("mirror.local:5000/{DEFAULT_SYNAPSE_IMAGE}")
    );
    assert_eq!(c.postgres_image, "registry.example.com/pg:15.4");
}

#[test]
fn digest_pins_are_kept_and_mirrored() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let c = parse_str(&format!(
        "domain: x.org\nregistry_mirror: 127.0.0.1:5000\nimages: {{synapse: 'matrixdotorg/synapse:v1.163.2@{digest}', postgres: 'registry.example.com/pg@{digest}'}}\n"
    ))
    .unwrap();
    assert_eq!(
        c.synapse_image,
        format!("127.0.0.1:5000/matrixdotorg/synapse:v1.163.2@{digest}")
    );
    assert_eq!(
        c.postgres_image,
        format!("registry.example.com/pg@{digest}")
    );
}

#[test]
fn malformed_digests_are_refused() {
    for bad in [
        "sha256:abc",
        "md5:0123",
        "",
        "sha256:ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB",
    ] {
        let p = problems(&format!(
            "domain: x.org\nimages: {{postgres: 'postgres:15@{bad}'}}\n"
        ));
        assert_eq!(p[0].path, "images.postgres", "{bad}: {p:#?}");
        assert!(p[0].message.contains("malformed digest"), "{bad}: {p:#?}");
    }
    let p = problems(&format!(
        "domain: x.org\nimages: {{postgres: '@sha256:{}'}}\n",
        "ab".repeat(32)
    ));
    assert_eq!(p[0].path, "images.postgres", "{p:#?}");
}

#[test]
fn images_must_be_pinned() {
    let p = problems("domain: x.org\nimages: {postgres: postgres}\n");
    assert_eq!(p[0].path, "images.postgres");
    assert!(p[0].message.contains("no version tag"));
}

#[test]
fn memory_setting() {
    assert_eq!(
        parse_str("domain: x.org\nmemory_mb: 1024\n")
            .unwrap()
            .memory_mb,
        Some(1024)
    );
    assert_eq!(
        parse_str("domain: x.org\nmemory_mb: auto\n")
            .unwrap()
            .memory_mb,
        None
    );
    assert_eq!(
        problems("domain: x.org\nmemory_mb: 100\n")[0].path,
        "memory_mb"
    );
    assert_eq!(
        problems("domain: x.org\nmemory_mb: lots\n")[0].path,
        "memory_mb"
    );
}

#[test]
fn initial_file_round_trips() {
    let text = render_initial(
        "matrix.example.com",
        Some("example.com"),
        Some("me@example.com"),
    );
    let c = parse_str(&text).unwrap();
    assert_eq!(c.domain, "matrix.example.com");
    assert_eq!(c.server_name, "example.com");
    assert_eq!(c.acme_email.as_deref(), Some("me@example.com"));
}

#[test]
fn edge_defaults() {
    let c = parse_str("domain: matrix.example.com\n").unwrap();
    assert_eq!(c.listen.https, Some("0.0.0.0:443".parse().unwrap()));
    assert_eq!(c.listen.federation, None);
    assert_eq!(c.acme.directory, Directory::LetsEncrypt);
    assert_eq!(c.acme.challenge, Challenge::Http01);
    assert_eq!(c.max_upload_bytes(), 50 << 20);
    assert_eq!(c.admin_allow.len(), 2);
    assert_eq!(
        parse_str("domain: localhost\n").unwrap().acme.directory,
        Directory::Internal
    );
    let c = parse_str("domain: a.org\nsynapse: {max_upload_size: 10M}\nlisten: {http: 'off', https: '127.0.0.1:8443'}\nacme: {challenge: tls-alpn-01, directory: 'https://127.0.0.1:14000/dir'}\n").unwrap();
    assert_eq!(c.max_upload_bytes(), 10 << 20);
    assert_eq!(c.listen.http, None);
    assert_eq!(c.acme.challenge, Challenge::TlsAlpn01);
    assert_eq!(c.acme.directory.url(), Some("https://127.0.0.1:14000/dir"));
}

#[test]
fn edge_problems() {
    let p = problems(
        "domain: a.org\nlisten: {https: 443}\nupstream: 'https://x/'\nadmin_allow: [nonsense]\nacme: {directory: zerossl}\n",
    );
    let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "listen.https",
            "acme.directory",
            "upstream",
            "admin_allow[0]"
        ],
        "{p:#?}"
    );
}

#[test]
fn server_name_is_certified_only_when_served_here() {
    let delegated = parse_str("domain: matrix.example.com\nserver_name: example.com\n").unwrap();
    assert_eq!(delegated.tls_names(), ["matrix.example.com"]);
    let here = parse_str(
        "domain: matrix.example.com\nserver_name: example.com\nserve_server_name: true\n",
    )
    .unwrap();
    assert_eq!(here.tls_names(), ["matrix.example.com", "example.com"]);
}

#[test]
fn sizes() {
    assert_eq!(parse_size("100M"), Some(100 << 20));
    assert_eq!(parse_size("512k"), Some(512 << 10));
    assert_eq!(parse_size("42"), Some(42));
    assert_eq!(parse_size("lots"), None);
}

#[test]
fn public_address() {
    assert_eq!(parse_str("domain: a.org\n").unwrap().public_address, None);
    let c = parse_str("domain: a.org\npublic_address: 203.0.113.5\n").unwrap();
    assert_eq!(c.public_address, Some("203.0.113.5".parse().unwrap()));
    let c = parse_str("domain: a.org\npublic_address: '2001:db8::5'\n").unwrap();
    assert_eq!(c.public_address, Some("2001:db8::5".parse().unwrap()));
    for bad in ["nat.example.com", "0.0.0.0", "127.0.0.1", "203.0.113.5:443"] {
        let p = problems(&format!("domain: a.org\npublic_address: '{bad}'\n"));
        assert_eq!(p[0].path, "public_address", "{bad}: {p:#?}");
        assert!(p[0].message.contains(bad), "{p:#?}");
    }
}

#[test]
fn debug_shows_no_synapse_option_value() {
    let c = parse_str(
        "domain: x.org\nsynapse:\n  turn_shared_secret: hunter2\n  email: {smtp_pass: swordfish}\n",
    )
    .unwrap();
    let shown = format!("{c:?}");
    assert!(shown.contains("turn_shared_secret"), "{shown}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("swordfish"),
        "{shown}"
    );
}

#[test]
fn synapse_overrides_are_kept_verbatim() {
    let c =
        parse_str("domain: x.org\nsynapse:\n  max_upload_size: 100M\n  email: {smtp_host: h}\n")
            .unwrap();
    assert_eq!(c.synapse_overrides.len(), 2);
}

#[test]
fn instance_names_are_docker_and_dns_safe() {
    assert_eq!(parse_str("domain: x.org\n").unwrap().instance, "matrixbox");
    let c = parse_str("domain: x.org\ninstance: matrix-2\n").unwrap();
    assert_eq!(c.instance, "matrix-2");
    let long = format!("a{}", "b".repeat(defaults::MAX_INSTANCE_LEN));
    for bad in ["Matrix", "2nd", "-x", "x-", "a_b", "a.b", "", long.as_str()] {
        let p = problems(&format!("domain: x.org\ninstance: '{bad}'\n"));
        assert_eq!(p.len(), 1, "{bad}: {p:#?}");
        assert_eq!(p[0].path, "instance");
        assert!(p[0].message.contains(&format!("`{bad}`")), "{p:#?}");
        assert!(
            p[0].hint.as_deref().unwrap().contains("lowercase"),
            "{p:#?}"
        );
    }
}

#[test]
fn metrics_listener_is_off_unless_given_an_address() {
    assert_eq!(parse_str("domain: a.org\n").unwrap().listen.metrics, None);
    assert_eq!(
        parse_str("domain: a.org\nlisten:\n  metrics: 127.0.0.1:9101\n")
            .unwrap()
            .listen
            .metrics,
        Some("127.0.0.1:9101".parse().unwrap())
    );
    let p = problems("domain: a.org\nlisten:\n  metrics: localhost\n  metrix: x\n");
    let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
    assert!(paths.contains(&"listen.metrix"), "{p:#?}");
    let p = problems("domain: a.org\nlisten:\n  metrics: localhost\n");
    assert_eq!(p[0].path, "listen.metrics", "{p:#?}");
    assert!(p[0].message.contains("not an address:port"), "{p:#?}");
}

#[test]
fn no_notary_by_default_and_a_configured_one_is_kept() {
    assert!(
        parse_str("domain: x.org\n")
            .unwrap()
            .trusted_key_servers
            .is_empty()
    );
    let c = parse_str("domain: x.org\ntrusted_key_servers: [Matrix.org]\n").unwrap();
    assert_eq!(c.trusted_key_servers, ["matrix.org"]);
}

#[test]
fn mirrors_are_tried_in_order_and_docker_io_is_the_hub_itself() {
    let c = parse_str(
        "domain: x.org\nregistry_mirror: [m1.example:5000, m2.example/hub/, docker.io]\nimages: {postgres: 'registry.example.com/pg:15.4'}\n",
    )
    .unwrap();
    assert_eq!(
        c.synapse_candidates,
        [
            format!("m1.example:5000/{DEFAULT_SYNAPSE_IMAGE}"),
            format!("m2.example/hub/{DEFAULT_SYNAPSE_IMAGE}"),
            DEFAULT_SYNAPSE_IMAGE.to_string(),
        ]
    );
    assert_eq!(c.synapse_image, c.synapse_candidates[0]);
    assert_eq!(
        c.postgres_candidates,
        ["registry.example.com/pg:15.4"],
        "an image naming its own registry ignores the mirrors"
    );
    // The single string of older configs still works; no mirror means the image itself.
    let one = parse_str("domain: x.org\nregistry_mirror: m1.example\n").unwrap();
    assert_eq!(
        one.postgres_candidates,
        [format!("m1.example/{DEFAULT_POSTGRES_IMAGE}")]
    );
    let none = parse_str("domain: x.org\n").unwrap();
    assert_eq!(none.postgres_candidates, [DEFAULT_POSTGRES_IMAGE]);
}

#[test]
fn bad_mirrors_are_reported_by_position() {
    let p =
        problems("domain: x.org\nregistry_mirror: [ok.example, 'https://m.example', ok.example]\n");
    let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["registry_mirror[1]", "registry_mirror[2]"],
        "{p:#?}"
    );
    assert!(p[0].hint.as_deref().unwrap().contains("without a scheme"));
    let p = problems("domain: x.org\nregistry_mirror: []\n");
    assert_eq!(p[0].path, "registry_mirror");
}

#[test]
fn federation_allow_list_and_ca_roots() {
    let c = parse_str(
        "domain: x.org\nfederation:\n  allow: [A.test, 'b.test:8448']\n  ca_roots: [/etc/matrixbox/ca.pem]\n",
    )
    .unwrap();
    assert_eq!(
        c.federation.allow.as_deref(),
        Some(&["a.test".to_string(), "b.test:8448".to_string()][..])
    );
    assert_eq!(c.federation.ca_roots, [Path::new("/etc/matrixbox/ca.pem")]);
    assert_eq!(
        parse_str("domain: x.org\n").unwrap().federation,
        Federation::default()
    );

    let p = problems(
        "domain: x.org\nfederation:\n  allow: [ok.test, 'https://bad', 'c.test:0']\n  ca_roots: [relative.pem]\n",
    );
    let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "federation.allow[1]",
            "federation.allow[2]",
            "federation.ca_roots[0]"
        ],
        "{p:#?}"
    );
    let p = problems("domain: x.org\nfederation: {alow: [a.test]}\n");
    assert_eq!(p[0].path, "federation.alow");
    assert!(p[0].hint.as_deref().unwrap().contains("allow"), "{p:#?}");
}

#[test]
fn problems_read_in_both_languages() {
    crate::i18n::assert_complete(super::messages::M::ALL);
    let text = "domain: https://matrix.example.com\nacme:\n  email: nobody\nmemory_mb: 100\nadmin_allow: [10.0.0.0/33]\ninstance: Matrix\nserve_server_name: maybe\nsynapse_port: eighty\nimages:\n  synapse: matrixdotorg/synapse:latest\nregistry_mirror: []\nbackup:\n  every: daily\n  keep: 0\nlisten:\n  https: everywhere\nfederaton: {}\nemail:\n  smtp_host: smtp.example.com:587\n  user: me\n  from: nobody\nturn:\n  enabled: true\n  port: 80\n  relay_ports: 50010-50000\ncalls:\n  livekit_url: http://livekit.example.com\n";
    let err = parse(text, std::path::Path::new("/etc/matrixbox/matrixbox.yaml")).unwrap_err();
    for (lang, golden) in [
        (crate::i18n::Lang::En, "config-errors.en.txt"),
        (crate::i18n::Lang::ZhCn, "config-errors.zh_CN.txt"),
    ] {
        crate::golden::assert_golden(golden, &format!("{}\n", err.describe(lang)));
    }
}

#[test]
fn email_section_defaults_and_login() {
    let c = parse_str(
        "domain: a.org\nemail:\n  smtp_host: SMTP.Example.com\n  user: matrix@example.com\n  password_file: /etc/matrixbox/smtp-password\n  from: Matrix <matrix@example.com>\n",
    )
    .unwrap();
    let email = c.email.unwrap();
    assert_eq!(email.smtp_host, "smtp.example.com");
    assert_eq!((email.tls, email.smtp_port), (SmtpTls::Starttls, 587));
    assert!(email.notifications);
    let login = email.login.unwrap();
    assert_eq!(login.user, "matrix@example.com");
    let implicit = parse_str(
        "domain: a.org\nemail: {smtp_host: 192.0.2.7, tls: implicit, from: m@example.com, notifications: false}\n",
    )
    .unwrap()
    .email
    .unwrap();
    assert_eq!((implicit.smtp_port, implicit.login), (465, None));
    assert!(!implicit.notifications);
    assert_eq!(parse_str("domain: a.org\n").unwrap().email, None);
}

#[test]
fn email_problems_are_named_by_path() {
    let p = problems(
        "domain: a.org\nemail:\n  smtp_host: https://smtp.example.com\n  smtp_port: 0\n  tls: ssl\n  user: me\n  from: nobody\n",
    );
    let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["email.tls"],
        "a type error stops the section: {p:#?}"
    );
    let p = problems(
        "domain: a.org\nemail:\n  smtp_host: https://smtp.example.com\n  smtp_port: 0\n  user: me\n  from: nobody\n",
    );
    let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "email.smtp_host",
            "email.smtp_port",
            "email.password_file",
            "email.from"
        ],
        "{p:#?}"
    );
    assert!(p[2].hint.as_deref().unwrap().contains("chmod 600"));
    let p = problems(
        "domain: a.org\nemail: {password_file: smtp-password, from: m@example.com, smpt_host: x}\n",
    );
    assert_eq!(p[0].path, "email.smpt_host");
    assert_eq!(p[0].hint.as_deref(), Some("did you mean `smtp_host`?"));
    let p = problems(
        "domain: a.org\nemail: {smtp_host: h.example.com, password_file: rel, user: u, from: m@example.com}\n",
    );
    assert_eq!(p[0].path, "email.password_file");
    assert!(p[0].message.contains("absolute"), "{p:#?}");
}

#[test]
fn federation_dns_servers_and_private_networks() {
    let c = parse_str(
        "domain: x.org\nfederation:\n  dns_servers: [10.0.0.53, 'fd00::53']\n  private_networks: [10.1.2.3/8, 'fd00::/8']\n",
    )
    .unwrap();
    let dns: Vec<String> = c
        .federation
        .dns_servers
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(dns, ["10.0.0.53", "fd00::53"]);
    let nets: Vec<String> = (c.federation.private_networks.iter())
        .map(|n| n.to_string())
        .collect();
    assert_eq!(nets, ["10.0.0.0/8", "fd00::/8"], "normalised to the range");

    let p = problems(
        "domain: x.org\nfederation:\n  dns_servers: [ns.example.org, '10.0.0.53:53', 0.0.0.0]\n  private_networks: [10.0.0.0, 10.0.0.0/33]\n",
    );
    let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "federation.dns_servers[0]",
            "federation.dns_servers[1]",
            "federation.dns_servers[2]",
            "federation.private_networks[0]",
            "federation.private_networks[1]"
        ],
        "{p:#?}"
    );
    assert!(
        p[0].hint.as_deref().unwrap().contains("10.0.0.53"),
        "{p:#?}"
    );
    assert!(p[3].hint.as_deref().unwrap().contains("/16"), "{p:#?}");
}

#[test]
fn the_web_client_is_off_unless_asked_for_and_defaults_to_chat_dot_domain() {
    assert_eq!(
        parse_str("domain: matrix.example.com\n")
            .unwrap()
            .web_client,
        None
    );
    let c = parse_str("domain: matrix.example.com\nweb_client:\n").unwrap();
    let web = c.web_client.clone().unwrap();
    assert_eq!(web.name, "chat.matrix.example.com");
    assert_eq!(web.candidates, [DEFAULT_ELEMENT_IMAGE]);
    assert!(web.config.is_empty());
    assert_eq!(
        c.tls_names(),
        ["matrix.example.com", "chat.matrix.example.com"]
    );
    let c = parse_str(
        "domain: matrix.example.com\nregistry_mirror: [m.example.cn, docker.io]\nweb_client: {name: Chat.Example.com, config: {brand: Ours}}\n",
    )
    .unwrap();
    let web = c.web_client.unwrap();
    assert_eq!(web.name, "chat.example.com");
    assert_eq!(
        web.candidates,
        [
            format!("m.example.cn/{DEFAULT_ELEMENT_IMAGE}"),
            DEFAULT_ELEMENT_IMAGE.to_string()
        ]
    );
    assert!(web.config.contains_key("brand"));
}

#[test]
fn web_client_problems_are_named_by_their_dotted_paths() {
    let p = problems(
        "domain: matrix.example.com\nweb_client: {name: 'not a name', image: 'vectorim/element-web:latest', colour: red}\n",
    );
    let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["web_client.colour"], "{p:?}");
    let p = problems(
        "domain: matrix.example.com\nweb_client: {name: 'not a name', image: 'vectorim/element-web:latest'}\n",
    );
    let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["web_client.image", "web_client.name"], "{p:?}");
    let p = problems("domain: matrix.example.com\nweb_client: {name: matrix.example.com}\n");
    assert_eq!(p[0].path, "web_client.name");
    assert!(p[0].message.contains("homeserver"), "{p:?}");
    let p =
        problems("domain: matrix.example.com\nupstream: http://127.0.0.1:8008\nweb_client: {}\n");
    assert_eq!(p[0].path, "web_client");
}

#[test]
fn turn_is_off_unless_enabled_and_bounded() {
    let c = parse_str("domain: a.org\n").unwrap();
    assert_eq!(c.turn, None, "TURN opens ports: off by default");
    assert_eq!(c.calls, None);
    let c = parse_str("domain: a.org\nturn: {enabled: false, port: 3479}\n").unwrap();
    assert_eq!(c.turn, None);
    let c = parse_str("domain: a.org\nturn: {enabled: true}\n").unwrap();
    assert_eq!(
        c.turn,
        Some(Turn {
            port: 3478,
            tls_port: 5349,
            relay_ports: (49160, 49200),
            user_lifetime: "1h".into(),
        })
    );
    let p = problems(
        "domain: a.org\nturn: {enabled: true, port: 50001, relay_ports: 50000-50010, user_lifetime: soon}\n",
    );
    let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["turn.port", "turn.user_lifetime"], "{p:?}");
    let p = problems("domain: a.org\nturn: {enabled: true, relay_ports: 80-90, tls_port: 3478}\n");
    let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["turn.relay_ports", "turn.tls_port"], "{p:?}");
    let p = problems("domain: a.org\nturn: {enabled: true, tls_port: 443}\n");
    assert_eq!(
        (p[0].path.as_str(), p[0].message.as_str()),
        ("turn.tls_port", "port 443 is below 1024")
    );
    let p = problems("domain: a.org\nturn: {enable: true}\n");
    assert_eq!(p[0].path, "turn.enable");
    assert!(p[0].hint.as_deref().unwrap().contains("enabled"), "{p:?}");
}

#[test]
fn calls_need_both_livekit_urls() {
    let c = parse_str(
        "domain: a.org\ncalls: {livekit_url: 'wss://sfu.a.org', jwt_service_url: 'https://jwt.a.org/'}\n",
    )
    .unwrap();
    let calls = c.calls.unwrap();
    assert_eq!(calls.livekit_url, "wss://sfu.a.org");
    assert_eq!(calls.jwt_service_url, "https://jwt.a.org");
    let p = problems("domain: a.org\ncalls: {livekit_url: 'https://sfu.a.org'}\n");
    let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["calls.livekit_url", "calls.jwt_service_url"],
        "{p:?}"
    );
    assert!(p[0].message.contains("not a wss:// URL"), "{p:?}");
    assert_eq!(p[1].message, "missing");
}
