//! `matrixbox down`: stop Synapse, then PostgreSQL; keep every container and all data.

use crate::docker::Engine;
use crate::paths::Paths;
use crate::secrets;
use crate::stack::Stack;

pub async fn down(paths: &Paths) -> anyhow::Result<()> {
    let config = super::load_config(paths)?;
    let secrets = secrets::load(&paths.secrets_dir())?;
    let engine = Engine::connect().await?;
    Stack::new(config, paths.clone(), secrets)
        .down(&engine)
        .await?;
    println!("stopped; data stays in {}", paths.state().display());
    Ok(())
}
