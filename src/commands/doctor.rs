//! `matrixbox doctor`: prove the running server works as other servers and clients see it.

use crate::cli::DoctorArgs;
use crate::diagnostic::ExitCode;
use crate::doctor::{self, Options, render};
use crate::i18n::Lang;
use crate::paths::Paths;
use crate::report::Exit;

pub async fn doctor(paths: &Paths, args: DoctorArgs) -> anyhow::Result<()> {
    let config = super::load_config(paths)?;
    let options = Options {
        connect_to: args.connect_to,
        ca_file: args.ca_file,
    };
    let report = doctor::run(paths, &config, &options, Lang::current()).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render::text(&report));
    }
    // The report already says what is wrong; the exit status only tells scripts.
    if report.healthy {
        Ok(())
    } else {
        Err(Exit(ExitCode::Failure).into())
    }
}
