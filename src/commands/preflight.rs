//! `matrixbox preflight`: check the host and say what to fix, changing nothing.

use crate::cli::PreflightArgs;
use crate::config;
use crate::diagnostic::ExitCode;
use crate::i18n::Lang;
use crate::paths::Paths;
use crate::preflight::{self, Mode, Target, render};
use crate::report::Exit;

pub async fn preflight(paths: &Paths, args: PreflightArgs) -> anyhow::Result<()> {
    let target = match &args.domain {
        Some(domain) => {
            let (_, wanted) =
                super::setup::config_from_args(paths, domain, args.server_name.as_deref(), None)?;
            Target::from_config(Mode::Preflight, paths, &wanted)
        }
        // A broken file is reported by the installation check; the others use the defaults.
        None => match config::load(&paths.config) {
            Ok(config) => Target::from_config(Mode::Preflight, paths, &config),
            Err(_) => Target::without_config(Mode::Preflight, paths),
        },
    };
    let report = preflight::run(&target, Lang::current()).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render::text(&report, &target.names));
    }
    // The report already says what is wrong; the exit status only tells scripts.
    if report.ready {
        Ok(())
    } else {
        Err(Exit(ExitCode::Failure).into())
    }
}
