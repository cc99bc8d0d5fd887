//! The `/.well-known/matrix/*` documents, built from config (pure).

use serde_json::json;

use crate::config::Config;

/// `/.well-known/matrix/server`: federation is delegated to port 443 of `domain`, so 8448 need not be open.
pub fn server(config: &Config) -> String {
    json!({ "m.server": format!("{}:443", config.domain) }).to_string()
}

/// `/.well-known/matrix/client`: where clients find the homeserver, and the LiveKit focus for
/// group calls when `calls:` names one (MSC4143).
pub fn client(config: &Config) -> String {
    let mut doc = json!({ "m.homeserver": { "base_url": format!("https://{}", config.domain) } });
    if let Some(calls) = &config.calls {
        doc["org.matrix.msc4143.rtc_foci"] = crate::calls::well_known_foci(calls);
    }
    doc.to_string()
}

/// `/.well-known/matrix/support` (MSC1929), only when contacts or a page are configured.
pub fn support(config: &Config) -> Option<String> {
    let support = config.support.as_ref()?;
    if support.contacts.is_empty() && support.support_page.is_none() {
        return None;
    }
    let contacts: Vec<serde_json::Value> = support
        .contacts
        .iter()
        .map(|c| {
            let mut v = json!({ "role": c.role });
            if let Some(id) = &c.matrix_id {
                v["matrix_id"] = json!(id);
            }
            if let Some(mail) = &c.email_address {
                v["email_address"] = json!(mail);
            }
            v
        })
        .collect();
    let mut doc = json!({ "contacts": contacts });
    if let Some(page) = &support.support_page {
        doc["support_page"] = json!(page);
    }
    Some(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(text: &str) -> Config {
        crate::config::parse(text, Path::new("t.yaml")).unwrap()
    }

    #[test]
    fn documents() {
        let c = config("domain: matrix.example.com\nserver_name: example.com\n");
        assert_eq!(server(&c), r#"{"m.server":"matrix.example.com:443"}"#);
        assert_eq!(
            client(&c),
            r#"{"m.homeserver":{"base_url":"https://matrix.example.com"}}"#
        );
        assert_eq!(support(&c), None);
        let c = config(
            "domain: a.org\ncalls: {livekit_url: 'wss://sfu.a.org', jwt_service_url: 'https://jwt.a.org'}\n",
        );
        assert_eq!(
            client(&c),
            r#"{"m.homeserver":{"base_url":"https://a.org"},"org.matrix.msc4143.rtc_foci":[{"livekit_service_url":"https://jwt.a.org","type":"livekit"}]}"#
        );
        let c = config(
            "domain: a.org\nsupport:\n  contacts: [{role: m.role.admin, matrix_id: '@admin:a.org'}]\n  support_page: https://a.org/help\n",
        );
        assert_eq!(
            support(&c).unwrap(),
            r#"{"contacts":[{"matrix_id":"@admin:a.org","role":"m.role.admin"}],"support_page":"https://a.org/help"}"#
        );
    }
}
