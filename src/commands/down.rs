//! `matrixbox down [--remove]`: stop Synapse, then PostgreSQL; keep all data, and the containers
//! unless asked to remove them (uninstalling does).

use crate::docker::Engine;
use crate::paths::Paths;
use crate::secrets;
use crate::stack::Stack;

pub async fn down(paths: &Paths, remove: bool) -> anyhow::Result<()> {
    let config = super::load_config(paths)?;
    let secrets = secrets::load(&paths.secrets_dir())?;
    let engine = Engine::connect().await?;
    let stack = Stack::new(config, paths.clone(), secrets);
    stack.down(&engine).await?;
    if remove {
        stack.remove(&engine).await?;
        println!(
            "stopped and removed the containers; data stays in {}",
            paths.state().display()
        );
    } else {
        println!("stopped; data stays in {}", paths.state().display());
    }
    Ok(())
}
