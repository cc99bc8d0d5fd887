//! The systemd unit shipped with matrixbox: embedded in the binary, printed by `matrixbox unit`
//! with the path of the binary that prints it, and kept consistent with the exit codes.

use std::path::Path;

use crate::embedded;

/// Where the .deb installs the binary; the embedded unit names this path.
pub const PACKAGED_BINARY: &str = "/usr/bin/matrixbox";

pub fn embedded_unit() -> String {
    embedded::systemd("matrixbox.service")
}

/// Pure: the unit with `ExecStart=` pointing at `binary` (install.sh puts it in /usr/local/bin).
pub fn render(unit: &str, binary: &Path) -> String {
    unit.lines()
        .map(|line| match line.strip_prefix("ExecStart=") {
            Some(rest) => format!(
                "ExecStart={}\n",
                rest.replacen(PACKAGED_BINARY, &binary.display().to_string(), 1)
            ),
            None => format!("{line}\n"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::ExitCode;

    fn directive<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .collect()
    }

    /// What install.sh installs: `matrixbox unit` as printed by a binary in /usr/local/bin (the
    /// .deb ships systemd/matrixbox.service as is, which `render` leaves unchanged: see below).
    #[test]
    fn golden_rendered_unit() {
        let rendered = render(&embedded_unit(), Path::new("/usr/local/bin/matrixbox"));
        let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/matrixbox.service");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&golden, &rendered).unwrap();
        }
        assert_eq!(
            rendered,
            std::fs::read_to_string(&golden).unwrap(),
            "the rendered unit changed: review it, then UPDATE_GOLDEN=1 cargo test"
        );
    }

    #[test]
    fn unit_agrees_with_the_daemon() {
        let unit = embedded_unit();
        assert_eq!(directive(&unit, "Type"), ["notify"]);
        assert_eq!(
            directive(&unit, "RestartPreventExitStatus"),
            [ExitCode::Config.code().to_string().as_str()]
        );
        assert_eq!(
            directive(&unit, "ExecStart"),
            [format!("{PACKAGED_BINARY} run").as_str()]
        );
        assert_eq!(
            directive(&unit, "ConditionPathExists"),
            [crate::paths::DEFAULT_CONFIG]
        );
        assert_eq!(directive(&unit, "StateDirectory"), ["matrixbox"]);
        assert!(crate::paths::DEFAULT_STATE_DIR.ends_with("/matrixbox"));
        // The supervisor must be able to feed the watchdog at least twice per interval.
        let watchdog: u64 = directive(&unit, "WatchdogSec")[0]
            .trim_end_matches('s')
            .parse()
            .unwrap();
        let tick = crate::notify::tick_for(Some(std::time::Duration::from_secs(watchdog)));
        assert!(tick.as_secs() * 2 <= watchdog);
    }

    #[test]
    fn render_points_exec_start_at_the_binary() {
        let unit = embedded_unit();
        assert_eq!(render(&unit, Path::new(PACKAGED_BINARY)), unit);
        let local = render(&unit, Path::new("/usr/local/bin/matrixbox"));
        assert_eq!(
            directive(&local, "ExecStart"),
            ["/usr/local/bin/matrixbox run"]
        );
        let changed: Vec<_> = unit
            .lines()
            .zip(local.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(changed.len(), 1, "{changed:?}");
    }
}
