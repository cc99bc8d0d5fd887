//! `matrixbox export ess --output DIR`: values, Secret manifests and runbook for the ESS
//! Community chart; never into a non-empty directory without `--force`.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::{EssArgs, PostgresMode};
use crate::ess::{self, Postgres};
use crate::fsio;
use crate::i18n::{Lang, messages};
use crate::paths::Paths;
use crate::report::Hinted;
use crate::secrets;

messages! {
    Wrote => "wrote the ESS export for {0} to {1}:", "已将 {0} 的 ESS 导出写入 {1}：";
    Values => "chart values, no secrets", "chart 取值，不含机密";
    Secret => "Kubernetes Secret (0600)", "Kubernetes Secret（0600）";
    Runbook => "the migration steps", "迁移步骤";
    Dropped => "{0} homeserver.yaml settings stay behind; the runbook lists them with the reason",
        "{0} 项 homeserver.yaml 设置不迁移；迁移步骤中列出了它们及原因";
    Next => "next: read {0}", "下一步：阅读 {0}";
    NoOwnSynapse => "this installation runs no Synapse of its own (`upstream: {0}`); nothing was written",
        "此安装没有运行自己的 Synapse（`upstream: {0}`）；未写入任何内容";
    NoOwnSynapseHint => "export the Synapse behind that upstream with its own tools; `export ess` moves the database, media and keys matrixbox manages",
        "请用该 upstream 背后 Synapse 自己的工具导出；`export ess` 只迁移 matrixbox 管理的数据库、媒体和密钥";
    BadHost => "--postgres-host `{0}` is not a host name or address; nothing was written", "--postgres-host `{0}` 不是主机名或地址；未写入任何内容";
    BadHostHint => "with --postgres external, name the database server, e.g. --postgres-host db.example.com",
        "使用 --postgres external 时，请指定数据库服务器，例如 --postgres-host db.example.com";
    NotEmpty => "{0} is not empty; nothing was written", "{0} 不是空目录；未写入任何内容";
    NotEmptyHint => "choose a new or empty directory, or pass --force to replace the files of an earlier export there",
        "请选择新目录或空目录，或传入 --force 以替换该处先前导出的文件";
    BadOutput => "cannot use {0} as the output directory: {1}; nothing was written", "无法将 {0} 用作输出目录：{1}；未写入任何内容";
    BadOutputHint => "--output must name a directory (new, or empty)", "--output 必须是一个目录（新目录或空目录）";
}

const VALUES: &str = "values.yaml";
const RUNBOOKS: [(Lang, &str); 2] = [(Lang::En, "RUNBOOK.md"), (Lang::ZhCn, "RUNBOOK.zh_CN.md")];

pub fn ess(paths: &Paths, args: EssArgs) -> anyhow::Result<()> {
    let config = super::load_config(paths)?;
    if let Some(upstream) = &config.external_upstream {
        let lang = Lang::current();
        return Err(Hinted::new(
            lang.t(M::NoOwnSynapse, &[upstream]),
            lang.t(M::NoOwnSynapseHint, &[]),
        )
        .into());
    }
    let postgres = postgres(&args)?;
    refuse_non_empty(&args.output, args.force)?;
    let secrets = secrets::load(&paths.secrets_dir())?;
    let smtp_password = match config.email.as_ref().and_then(|e| e.login.as_ref()) {
        Some(login) => Some(
            crate::synapse::email::read_password(login).map_err(crate::stack::StackError::from)?,
        ),
        None => None,
    };
    let export = ess::export(&config, &secrets, &postgres, smtp_password.as_ref());
    let mut files: Vec<(String, String, u32)> = vec![(VALUES.into(), export.values, 0o644)];
    for (name, manifest) in export.secrets {
        files.push((name, manifest, 0o600));
    }
    for (lang, name) in RUNBOOKS {
        let text = ess::runbook(lang, &config, paths, &secrets, &postgres, &export.dropped);
        files.push((name.into(), text, 0o644));
    }
    write_all(&args.output, &files)?;

    let files: Vec<(&str, u32)> = files.iter().map(|(n, _, m)| (n.as_str(), *m)).collect();
    print!(
        "{}",
        summary(
            Lang::current(),
            &config.server_name,
            &args.output,
            &files,
            export.dropped.len()
        )
    );
    Ok(())
}

/// What was written where, and what to read next.
fn summary(
    lang: Lang,
    server_name: &str,
    dir: &Path,
    files: &[(&str, u32)],
    dropped: usize,
) -> String {
    let mut out = lang.t(M::Wrote, &[&server_name, &dir.display()]) + "\n";
    for (name, mode) in files {
        let what = match *name {
            VALUES => M::Values,
            _ if *mode == 0o600 => M::Secret,
            _ => M::Runbook,
        };
        out += &format!("  {}  {}\n", crate::i18n::pad(name, 22), lang.t(what, &[]));
    }
    out += &(lang.t(M::Dropped, &[&dropped]) + "\n");
    let runbook = if lang == Lang::ZhCn {
        RUNBOOKS[1].1
    } else {
        RUNBOOKS[0].1
    };
    out + &lang.t(M::Next, &[&dir.join(runbook).display()]) + "\n"
}

fn postgres(args: &EssArgs) -> anyhow::Result<Postgres> {
    Ok(match args.postgres {
        PostgresMode::Bundled => Postgres::Bundled,
        PostgresMode::External => {
            let host = args.postgres_host.clone().unwrap_or_default();
            if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
                let lang = Lang::current();
                return Err(Hinted::usage(
                    lang.t(M::BadHost, &[&host]),
                    lang.t(M::BadHostHint, &[]),
                )
                .into());
            }
            Postgres::External {
                host,
                port: args.postgres_port,
            }
        }
    })
}

/// An existing directory must be empty, unless `force`; anything else there is refused.
fn refuse_non_empty(dir: &Path, force: bool) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() && !force {
                let lang = Lang::current();
                return Err(Hinted::usage(
                    lang.t(M::NotEmpty, &[&dir.display()]),
                    lang.t(M::NotEmptyHint, &[]),
                )
                .into());
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Hinted::usage(
            Lang::current().t(M::BadOutput, &[&dir.display(), &e]),
            Lang::current().t(M::BadOutputHint, &[]),
        )
        .into()),
    }
}

/// A new directory appears whole (written beside it, then renamed); into an existing one each
/// file is replaced atomically. The directory is 0700: it holds secrets.
fn write_all(dir: &Path, files: &[(String, String, u32)]) -> anyhow::Result<()> {
    if dir.exists() {
        fsio::ensure_dir(dir, 0o700)?;
        for (name, text, mode) in files {
            fsio::write_atomic(&dir.join(name), text.as_bytes(), *mode)?;
        }
        return Ok(());
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staging = tempfile::Builder::new()
        .prefix(".matrixbox-export-")
        .tempdir_in(&parent)
        .with_context(|| {
            format!(
                "cannot create a directory in {}; nothing was written",
                parent.display()
            )
        })?;
    fsio::ensure_dir(staging.path(), 0o700)?;
    for (name, text, mode) in files {
        fsio::write_atomic(&staging.path().join(name), text.as_bytes(), *mode)?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, dir).map_err(|e| {
        let _ = std::fs::remove_dir_all(&staged);
        anyhow::Error::new(e).context(format!("cannot move the export into {}", dir.display()))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_in_both_languages() {
        crate::i18n::assert_complete(M::ALL);
        let files = [
            (VALUES, 0o644),
            ("secret-synapse.yaml", 0o600),
            ("RUNBOOK.md", 0o644),
        ];
        for (lang, name) in [
            (Lang::En, "ess-export.en.txt"),
            (Lang::ZhCn, "ess-export.zh_CN.txt"),
        ] {
            let text = summary(lang, "example.com", Path::new("/root/ess"), &files, 3);
            crate::golden::assert_golden(name, &text);
        }
    }
}
