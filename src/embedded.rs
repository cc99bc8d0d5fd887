//! Assets compiled into the binary: Synapse templates, the web pages' files and the systemd unit.

use rust_embed::{EmbeddedFile, RustEmbed};

#[derive(RustEmbed)]
#[folder = "embedded/"]
struct Assets;

/// The unit sits at the top level (`systemd/`) because the .deb ships the same file (cargo-deb's
/// `systemd-units` in Cargo.toml).
#[derive(RustEmbed)]
#[folder = "systemd/"]
struct Systemd;

/// Returns an embedded text file; the names are fixed at build time, so absence is a bug.
pub fn text(name: &str) -> String {
    utf8(Assets::get(name), name)
}

/// Returns a file of the top-level `systemd/` directory, e.g. `matrixbox.service`.
pub fn systemd(name: &str) -> String {
    utf8(Systemd::get(name), name)
}

fn utf8(file: Option<EmbeddedFile>, name: &str) -> String {
    let file = file.unwrap_or_else(|| panic!("embedded asset {name} is missing"));
    String::from_utf8(file.data.into_owned())
        .unwrap_or_else(|_| panic!("embedded asset {name} is not UTF-8"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn templates_are_embedded() {
        assert!(super::text("synapse/homeserver.yaml").contains("listeners"));
        assert!(super::text("synapse/log.config").contains("version: 1"));
        assert!(super::systemd("matrixbox.service").contains("[Service]"));
    }
}
