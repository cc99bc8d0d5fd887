//! Element Web on its own name: its generated `config.json`, its static files extracted once
//! from the pinned image into the state dir (`bundle`), and how the edge serves them (`serve`).
//!
//! No nginx container runs: on a 1 GB host the edge, which already terminates TLS, answers.

pub mod bundle;
pub mod serve;

use bytes::Bytes;
use serde_json::{Value as Json, json};

use crate::config::{Config, WebClient};
use crate::yaml::{self, Value};

/// Element Web's `config.json`: this server only. Nothing Element would otherwise reach out to
/// (matrix.org, an identity server, an integration manager, telemetry, bug reports, map tiles)
/// unless `web_client.config` names it; those keys are merged last and win.
pub fn config_json(config: &Config, web: &WebClient) -> Bytes {
    let base_url = format!("https://{}", config.domain);
    let generated = json!({
        "default_server_config": {
            "m.homeserver": { "base_url": base_url, "server_name": config.server_name }
        },
        // Only this server: no field to type another homeserver's URL into, no guests.
        "disable_custom_urls": true,
        "disable_guests": true,
        "brand": "Element",
        "room_directory": { "servers": [config.server_name] },
        // Empty strings and lists turn the integration manager (scalar.vector.im) off.
        "integrations_ui_url": "",
        "integrations_rest_url": "",
        "integrations_widgets_urls": [],
        "show_labs_settings": false,
        "setting_defaults": {
            // Feedback sends rageshakes; there is no bug report endpoint to send them to.
            "UIFeature.feedback": false,
        },
    });
    let mut doc = yaml::to_value(&generated);
    yaml::deep_merge(&mut doc, Value::Mapping(web.config.clone()));
    let merged: Json = serde_json::to_value(&doc).expect("YAML data is JSON data");
    Bytes::from(serde_json::to_vec_pretty(&merged).expect("JSON serialises"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Config {
        crate::config::parse(yaml, std::path::Path::new("/etc/matrixbox/matrixbox.yaml")).unwrap()
    }

    fn doc(yaml: &str) -> Json {
        let config = parse(yaml);
        let web = config.web_client.clone().unwrap();
        serde_json::from_slice(&config_json(&config, &web)).unwrap()
    }

    #[test]
    fn config_names_this_server_only_and_nothing_else() {
        let doc = doc("domain: matrix.example.com\nserver_name: example.com\nweb_client:\n");
        let hs = &doc["default_server_config"]["m.homeserver"];
        assert_eq!(hs["base_url"], "https://matrix.example.com");
        assert_eq!(hs["server_name"], "example.com");
        assert_eq!(doc["room_directory"]["servers"], json!(["example.com"]));
        assert_eq!(doc["disable_custom_urls"], true);
        assert_eq!(doc["integrations_ui_url"], "");
        assert_eq!(doc["integrations_widgets_urls"], json!([]));
        let text = doc.to_string();
        for absent in [
            "matrix.org",
            "vector.im",
            "m.identity_server",
            "posthog",
            "bug_report_endpoint_url",
            "map_style_url",
            "element.io",
        ] {
            assert!(!text.contains(absent), "{absent} in {text}");
        }
    }

    #[test]
    fn configured_keys_are_merged_last_and_win() {
        let doc = doc(
            "domain: matrix.example.com\nweb_client:\n  config:\n    brand: Ours\n    map_style_url: https://tiles.example.com/style.json\n    setting_defaults: {UIFeature.feedback: true}\n",
        );
        assert_eq!(doc["brand"], "Ours");
        assert_eq!(doc["map_style_url"], "https://tiles.example.com/style.json");
        assert_eq!(doc["setting_defaults"]["UIFeature.feedback"], true);
        assert_eq!(doc["disable_guests"], true);
    }
}
