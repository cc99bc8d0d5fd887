//! `matrixbox preflight`: check the host and say what to fix; also the gate `setup` and `run` pass.

use crate::cli::PreflightArgs;
use crate::config;
use crate::diagnostic::ExitCode;
use crate::paths::Paths;
use crate::preflight::i18n::M;
use crate::preflight::{self, Lang, Mode, Target, render};
use crate::report::{Exit, Hinted};

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
    let report = preflight::run(&target, Lang::from_env()).await;
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

/// What `setup` (everything, it is interactive) or `run` (only problems, into the journal) prints.
pub(super) enum Show {
    All,
    Problems,
}

/// Runs the checks for `target`; a blocking failure becomes the command's error.
pub(super) async fn gate(target: &Target, show: Show) -> anyhow::Result<()> {
    let lang = Lang::from_env();
    let report = preflight::run(target, lang).await;
    match show {
        Show::All => print!("{}", render::text(&report, &target.names)),
        Show::Problems => eprint!("{}", render::problems(&report)),
    }
    if report.ready {
        return Ok(());
    }
    Err(Hinted::new(
        lang.t(M::Blocked, &[&render::stopping_titles(&report)]),
        lang.t(M::BlockedHint, &[]),
    )
    .into())
}
