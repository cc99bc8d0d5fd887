//! `matrixbox unit`, and the hidden `completions` / `manpages`: text derived from the binary itself,
//! so the package ships what this exact build does.

use std::path::Path;

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

/// One page per command: matrixbox.1, matrixbox-setup.1, matrixbox-user-add.1, ...
pub fn manpages(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("cannot write the man pages to {}", dir.display()))
}
