use std::path::Path;

use super::*;
use crate::paths::Paths;

fn secrets() -> Secrets {
    Secrets {
        postgres_password: "PG-PASSWORD".into(),
        registration_shared_secret: "REG-SECRET".into(),
        macaroon_secret_key: "MACAROON".into(),
        form_secret: "FORM".into(),
        signing_key: "ed25519 a_abc SEEDSEED".into(),
    }
}

fn config(text: &str) -> Config {
    crate::config::parse(text, Path::new("test.yaml")).unwrap()
}

const WITH_OVERRIDES: &str = "domain: matrix.example.com
server_name: example.com
registration: token
support:
  contacts:
    - role: m.role.admin
      email_address: admin@example.com
synapse:
  max_upload_size: 100M
  email:
    smtp_host: smtp.example.com
    smtp_pass: SMTP-PASS
  caches:
    global_factor: 2.0
  listeners: []
  url_preview_enabled: true
";

#[test]
fn values_golden_with_overrides_external() {
    let export = export(
        &config(WITH_OVERRIDES),
        &secrets(),
        &Postgres::External {
            host: "db.example.com".into(),
            port: 5433,
        },
        None,
    );
    crate::golden::assert_golden("ess-values.external.yaml", &export.values);
    crate::golden::assert_golden("ess-secret-synapse.external.yaml", &export.secrets[0].1);
}

#[test]
fn no_secret_reaches_the_values() {
    for postgres in [
        Postgres::Bundled,
        Postgres::External {
            host: "db".into(),
            port: 5432,
        },
    ] {
        let export = export(&config(WITH_OVERRIDES), &secrets(), &postgres, None);
        for secret in [
            "PG-PASSWORD",
            "REG-SECRET",
            "MACAROON",
            "FORM",
            "SEEDSEED",
            "SMTP-PASS",
        ] {
            assert!(!export.values.contains(secret), "{secret} in values");
        }
        let all: String = export.secrets.iter().map(|(_, m)| m.as_str()).collect();
        for secret in ["PG-PASSWORD", "REG-SECRET", "MACAROON", "FORM", "SMTP-PASS"] {
            assert!(all.contains(secret), "{secret} missing from the Secrets");
        }
    }
}

#[test]
fn overrides_split_into_kept_and_dropped() {
    let export = export(
        &config(WITH_OVERRIDES),
        &secrets(),
        &Postgres::Bundled,
        None,
    );
    let synapse_secret = yaml::parse(&export.secrets[0].1).unwrap();
    let overrides = yaml::parse(
        synapse_secret["stringData"][SNIPPET_OVERRIDES]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(overrides["url_preview_enabled"], Value::from(true));
    assert_eq!(overrides["email"]["smtp_pass"], Value::from("SMTP-PASS"));
    for key in ["listeners", "caches", "max_upload_size"] {
        assert!(overrides.get(key).is_none(), "{key} carried over");
    }
    let dropped = |key: &str| {
        export
            .dropped
            .iter()
            .find(|d| d.key == key && d.override_)
            .map(|d| d.reason)
    };
    assert_eq!(dropped("listeners"), Some(Reason::ChartOwned));
    assert_eq!(dropped("caches"), Some(Reason::HostSized));
    assert_eq!(dropped("max_upload_size"), Some(Reason::ChartValue));
    let values = yaml::parse(&export.values).unwrap();
    assert_eq!(
        values["synapse"]["media"]["maxUploadSize"],
        Value::from("100M")
    );
    assert_eq!(values["postgres"]["enabled"], Value::from(true));
    assert!(values["synapse"].get("postgres").is_none());
}

#[test]
fn minimal_config_has_no_override_snippet() {
    let export = export(
        &config("domain: matrix.example.org\n"),
        &secrets(),
        &Postgres::Bundled,
        None,
    );
    let values = yaml::parse(&export.values).unwrap();
    assert_eq!(values["serverName"], Value::from("matrix.example.org"));
    assert_eq!(
        values["synapse"]["ingress"]["host"],
        Value::from("matrix.example.org")
    );
    assert!(
        values["synapse"]["additional"]
            .get(SNIPPET_OVERRIDES)
            .is_none()
    );
    let settings = yaml::parse(
        values["synapse"]["additional"][SNIPPET_SETTINGS]["config"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(settings["enable_registration"], Value::from(false));
    assert_eq!(
        values["synapse"]["media"]["maxUploadSize"],
        Value::from("50M")
    );
}

#[test]
fn metrics_stay_behind_with_the_chart_owning_them() {
    let with = config("domain: a.example.org\nlisten:\n  metrics: 127.0.0.1:9101\n");
    let dropped = export(&with, &secrets(), &Postgres::Bundled, None).dropped;
    assert!(
        dropped
            .iter()
            .any(|d| d.key == "enable_metrics" && !d.override_)
    );
    let without = config("domain: a.example.org\n");
    let dropped = export(&without, &secrets(), &Postgres::Bundled, None).dropped;
    assert!(!dropped.iter().any(|d| d.key == "enable_metrics"));
}

#[test]
fn a_private_federation_keeps_its_allow_list_and_ranges_and_names_what_stays_behind() {
    let c = config(
        "domain: a.lan\nfederation:\n  allow: [a.lan, b.lan]\n  ca_roots: [/etc/matrixbox/ca.pem]\n  dns_servers: [10.0.0.53]\n  private_networks: [10.0.0.0/8]\n",
    );
    let s = settings(&c);
    assert_eq!(
        s["federation_domain_whitelist"],
        Value::Sequence(vec!["a.lan".into(), "b.lan".into()])
    );
    assert_eq!(
        s["ip_range_whitelist"],
        Value::Sequence(vec!["10.0.0.0/8".into()])
    );
    let dropped = own_dropped(&c);
    for key in ["federation.ca_roots", "federation.dns_servers"] {
        assert!(
            dropped
                .iter()
                .any(|d| d.key == key && d.reason == Reason::HostSpecific),
            "{key}: {dropped:?}"
        );
    }
    assert!(
        !own_dropped(&config("domain: a.lan\n"))
            .iter()
            .any(|d| d.reason == Reason::HostSpecific)
    );
}

#[test]
fn upload_sizes_in_the_charts_syntax() {
    assert_eq!(upload_size(50 << 20), "50M");
    assert_eq!(upload_size(1536), "2K");
    assert_eq!(upload_size(1000), "1K");
    assert_eq!(upload_size(0), "1K");
}

#[test]
fn runbook_keeps_only_the_chosen_database_steps() {
    let c = config(WITH_OVERRIDES);
    let paths = Paths::new("/etc/matrixbox/matrixbox.yaml", "/var/lib/matrixbox");
    let external = Postgres::External {
        host: "db.example.com".into(),
        port: 5433,
    };
    for lang in [Lang::En, Lang::ZhCn] {
        let dropped = export(&c, &secrets(), &external, None).dropped;
        let text = runbook(lang, &c, &paths, &secrets(), &external, &dropped);
        assert!(
            text.contains("PGHOST=db.example.com PGPORT=5433"),
            "{lang:?}"
        );
        assert!(!text.contains("exec -i ess-postgres-0"), "{lang:?}");
        assert!(!text.contains("<!--") && !text.contains("{{"), "{lang:?}");
        assert!(text.contains("TRUNCATE e2e_one_time_keys_json"));
        assert!(text.contains("matrixbox backup create"));
        assert!(text.contains("ed25519:a_abc"));
        assert!(text.contains("/var/lib/matrixbox/synapse/media_store"));
        assert!(text.contains("`listeners`"));
        assert!(!text.contains("SEEDSEED"));
        let bundled = runbook(lang, &c, &paths, &secrets(), &Postgres::Bundled, &dropped);
        assert!(bundled.contains("exec -i ess-postgres-0") && !bundled.contains("PGHOST"));
    }
}

#[test]
fn runbook_snapshots() {
    let c = config(WITH_OVERRIDES);
    let paths = Paths::new("/etc/matrixbox/matrixbox.yaml", "/var/lib/matrixbox");
    let dropped = export(&c, &secrets(), &Postgres::Bundled, None).dropped;
    for (lang, name) in [
        (Lang::En, "ess-runbook.en.md"),
        (Lang::ZhCn, "ess-runbook.zh_CN.md"),
    ] {
        let text = runbook(lang, &c, &paths, &secrets(), &Postgres::Bundled, &dropped);
        crate::golden::assert_golden(name, &text);
    }
}

#[test]
fn catalogs_complete() {
    crate::i18n::assert_complete(M::ALL);
    runbook::assert_complete();
}

#[test]
fn email_is_carried_in_the_secret_with_its_password() {
    let password = crate::synapse::email::SmtpPassword::for_tests("SMTP-FILE-PASS");
    let section = "email: {smtp_host: smtp.example.com, user: m@example.com, password_file: /etc/matrixbox/smtp-password, from: m@example.com}\n";
    let snippet = |text: &str, name: &str| {
        let export = export(
            &config(text),
            &secrets(),
            &Postgres::Bundled,
            Some(&password),
        );
        assert!(
            !export.values.contains("SMTP-FILE-PASS"),
            "password in values"
        );
        let secret = yaml::parse(&export.secrets[0].1).unwrap();
        yaml::parse(secret["stringData"][name].as_str().unwrap()).unwrap()
    };
    let own = snippet(&format!("domain: a.org\n{section}"), SNIPPET_SECRETS);
    assert_eq!(own["email"]["smtp_pass"], Value::from("SMTP-FILE-PASS"));
    assert_eq!(
        own["email"]["require_transport_security"],
        Value::from(true)
    );
    assert_eq!(own["form_secret"], Value::from("FORM"));
    // With `synapse: email:` too, one `email` key holds both (Synapse reads top-level keys whole).
    let both = snippet(
        &format!("domain: a.org\n{section}synapse:\n  email: {{app_name: Chat}}\n"),
        SNIPPET_OVERRIDES,
    );
    assert_eq!(both["email"]["smtp_pass"], Value::from("SMTP-FILE-PASS"));
    assert_eq!(both["email"]["app_name"], Value::from("Chat"));
}
