//! The preflight gate `setup` and `run` pass before they change anything: a blocking failure
//! stops the command with the checks' own words.

use crate::i18n::Lang;
use crate::preflight::messages::M;
use crate::preflight::{self, Target, render};
use crate::report::Hinted;

/// What `setup` (everything, it is interactive) or `run` (only problems, into the journal) prints.
pub(super) enum Show {
    All,
    Problems,
}

/// Runs the checks for `target`; a blocking failure becomes the command's error.
pub(super) async fn pass(target: &Target, show: Show) -> anyhow::Result<()> {
    let lang = Lang::current();
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
