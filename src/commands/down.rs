//! `matrixbox down [--remove]`: stop Synapse, then PostgreSQL; keep all data, and the containers
//! unless asked to remove them (uninstalling does).

use crate::docker::Engine;
use crate::i18n::{Lang, messages};
use crate::paths::Paths;
use crate::secrets;
use crate::stack::Stack;

messages! {
    Stopped => "stopped; data stays in {0}", "已停止；数据保留在 {0}";
    Removed => "stopped and removed the containers; data stays in {0}",
        "已停止并删除容器；数据保留在 {0}";
}

pub async fn down(paths: &Paths, remove: bool) -> anyhow::Result<()> {
    let config = super::load_config(paths)?;
    let secrets = secrets::load(&paths.secrets_dir())?;
    let engine = Engine::connect().await?;
    let stack = Stack::new(config, paths.clone(), secrets);
    stack.down(&engine).await?;
    let lang = Lang::current();
    if remove {
        stack.remove(&engine).await?;
        println!("{}", lang.t(M::Removed, &[&paths.state().display()]));
    } else {
        println!("{}", lang.t(M::Stopped, &[&paths.state().display()]));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages() {
        crate::i18n::assert_complete(M::ALL);
    }
}
