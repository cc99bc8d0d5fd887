//! Assets compiled into the binary: Synapse templates, the landing page and the systemd unit.

use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "embedded/"]
struct Assets;

/// Returns an embedded text file; the names are fixed at build time, so absence is a bug.
pub fn text(name: &str) -> String {
    let file = Assets::get(name).unwrap_or_else(|| panic!("embedded asset {name} is missing"));
    String::from_utf8(file.data.into_owned())
        .unwrap_or_else(|_| panic!("embedded asset {name} is not UTF-8"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn templates_are_embedded() {
        assert!(super::text("synapse/homeserver.yaml").contains("listeners"));
        assert!(super::text("synapse/log.config").contains("version: 1"));
    }
}
