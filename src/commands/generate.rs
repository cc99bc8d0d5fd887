//! `matrixbox unit`, and the hidden `completions` / `manpage`: text derived from the binary itself,
//! so the package ships what this exact build does.

use std::io::Write;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::Cli;
use crate::unit;

pub fn unit() -> anyhow::Result<()> {
    // The unit must start this binary wherever it was installed (/usr/local/bin for install.sh).
    let exe = std::env::current_exe().context("cannot find the path of this binary")?;
    print!("{}", unit::render(&unit::embedded_unit(), &exe));
    Ok(())
}

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "matrixbox",
        &mut std::io::stdout(),
    );
    Ok(())
}

pub fn manpage() -> anyhow::Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .context("cannot render the man page")?;
    std::io::stdout()
        .write_all(&out)
        .context("cannot write the man page")?;
    Ok(())
}
