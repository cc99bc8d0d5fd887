//! Reading the file (`load`, `parse`) and writing the first one (`render_initial`).

use std::path::Path;

use super::Config;
use super::error::ConfigError;
use super::raw::raw_from_value;
use super::validate::validate;
use crate::yaml;

pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Parses and validates config text; `path` is only used in messages.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let value = yaml::parse(text).map_err(|source| ConfigError::Syntax {
        path: path.to_path_buf(),
        source,
    })?;
    let mut problems = Vec::new();
    let raw = raw_from_value(value, &mut problems);
    let config = validate(raw, &mut problems);
    match config {
        Some(config) if problems.is_empty() => Ok(config),
        _ => Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        }),
    }
}

/// The file `setup` writes: only what the user chose, with comments pointing at the rest.
pub fn render_initial(domain: &str, server_name: Option<&str>, email: Option<&str>) -> String {
    let mut out = String::from(
        "# matrixbox configuration: the only file to edit. Apply changes with\n\
         # `systemctl reload matrixbox` (or restart `matrixbox run`).\n",
    );
    out.push_str(&format!("domain: {}\n", yaml_scalar(domain)));
    match server_name {
        Some(s) => out.push_str(&format!("server_name: {}\n", yaml_scalar(s))),
        None => out.push_str("# server_name: example.com   # user IDs look like @alice:<server_name>; defaults to domain\n"),
    }
    match email {
        Some(e) => out.push_str(&format!("acme:\n  email: {}\n", yaml_scalar(e))),
        None => out.push_str("# acme:\n#   email: me@example.com\n"),
    }
    out.push_str(
        "registration: closed          # closed | token | open\n\
         # images:                     # pinned; change only to upgrade deliberately\n\
         #   synapse: matrixdotorg/synapse:v1.163.2\n\
         #   postgres: postgres:15.14-bookworm\n\
         # registry_mirror: [docker.mirror.example.com, docker.io]  # tried in order\n\
         # public_address: 203.0.113.5 # behind NAT: the address your domain points at\n\
         # synapse:                    # any homeserver.yaml option, merged last\n\
         #   max_upload_size: 100M\n\
         # web_client:                 # Element Web on its own name (DNS record needed)\n\
         #   name: chat.example.com    # default chat.<domain>\n",
    );
    out
}

fn yaml_scalar(s: &str) -> String {
    yaml::to_string(&s).trim_end().to_string()
}
