//! `matrixbox setup`: check the host, then write the configuration and generate secrets, idempotently.

use anyhow::Context;

use super::gate::{self, Show};
use crate::cli::SetupArgs;
use crate::config::{self, Config};
use crate::fsio;
use crate::i18n::{Lang, messages};
use crate::paths::Paths;
use crate::preflight::{Mode, Target};
use crate::report::Hinted;
use crate::secrets;

messages! {
    BadDomain => "{0} `{1}` is not a valid domain name; nothing was written",
        "{0} `{1}` 不是有效的域名；未写入任何内容";
    ConfigExists => "{0} already exists with other settings; not overwritten",
        "{0} 已存在且设置不同；未覆盖";
    ConfigExistsHint => "edit it by hand, or run `matrixbox setup --force ...` to replace it (secrets are kept)",
        "手动编辑它，或运行 `matrixbox setup --force ...` 替换它（密钥会保留）";
    Kept => "{0} already configures {1}; left as it is.", "{0} 已配置 {1}；保持不变。";
    Wrote => "wrote {0}", "已写入 {0}";
    Secrets => "secrets are in {0} (generated once, never rotated)",
        "密钥位于 {0}（只生成一次，不会轮换）";
    Running => "matrixbox.service is running: `systemctl status matrixbox` shows how it is doing",
        "matrixbox.service 正在运行：`systemctl status matrixbox` 可查看其状态";
    Next => "next: start the homeserver with `matrixbox run` (or `systemctl enable --now matrixbox`),",
        "下一步：用 `matrixbox run`（或 `systemctl enable --now matrixbox`）启动主服务器，";
    FirstUser => "      then create your first user: `matrixbox user add alice --admin`",
        "      然后创建第一个用户：`matrixbox user add alice --admin`";
    Reloading => "reloading matrixbox.service with this configuration",
        "正在用此配置重新加载 matrixbox.service";
    Starting => "starting matrixbox.service (a first start pulls images and prepares the database; `journalctl -fu matrixbox` follows it)",
        "正在启动 matrixbox.service（首次启动会拉取镜像并准备数据库；`journalctl -fu matrixbox` 可跟踪进度）";
    SystemctlFailed => "`systemctl {0}` failed: {1}", "`systemctl {0}` 失败：{1}";
    SystemctlFailedHint => "`systemctl status matrixbox` and `journalctl -u matrixbox` say why; fix it and run `systemctl start matrixbox`",
        "`systemctl status matrixbox` 和 `journalctl -u matrixbox` 会说明原因；修复后运行 `systemctl start matrixbox`";
}

/// The configuration `setup` would write for these arguments: its text and what it means.
pub(super) fn config_from_args(
    paths: &Paths,
    domain: &str,
    server_name: Option<&str>,
    email: Option<&str>,
) -> anyhow::Result<(String, Config)> {
    for (flag, name) in [("--domain", Some(domain)), ("--server-name", server_name)] {
        if let Some(hint) = name.and_then(|n| config::domain_problem(n, Lang::current())) {
            return Err(Hinted::usage(
                Lang::current().t(M::BadDomain, &[&flag, &name.unwrap()]),
                hint,
            )
            .into());
        }
    }
    let text = config::render_initial(domain, server_name, email);
    // Validate exactly what would be written, so a bad --domain writes nothing.
    let config =
        config::parse(&text, &paths.config).context("the values given to `setup` are not valid")?;
    Ok((text, config))
}

pub async fn setup(paths: &Paths, args: SetupArgs) -> anyhow::Result<()> {
    let lang = Lang::current();
    let (text, wanted) = config_from_args(
        paths,
        &args.domain,
        args.server_name.as_deref(),
        args.email.as_deref(),
    )?;

    // Decide about an existing file first: refusing to overwrite it needs no host checks.
    let kept = match std::fs::read_to_string(&paths.config) {
        Ok(existing) if !args.force => match config::parse(&existing, &paths.config) {
            Ok(current)
                if current.domain == wanted.domain && current.server_name == wanted.server_name =>
            {
                Some(current)
            }
            _ => {
                return Err(Hinted::new(
                    lang.t(M::ConfigExists, &[&paths.config.display()]),
                    lang.t(M::ConfigExistsHint, &[]),
                )
                .into());
            }
        },
        _ => None,
    };

    // Before anything is written: the config it would keep or write, on this host.
    if !args.skip_preflight {
        let target = Target::from_config(Mode::Setup, paths, kept.as_ref().unwrap_or(&wanted));
        gate::pass(&target, Show::All).await?;
        println!();
    }

    match kept {
        Some(current) => println!(
            "{}",
            lang.t(M::Kept, &[&paths.config.display(), &current.domain])
        ),
        None => {
            if let Some(dir) = paths.config.parent() {
                fsio::ensure_dir(dir, 0o755)?;
            }
            fsio::write_atomic(&paths.config, text.as_bytes(), 0o640)?;
            println!("{}", lang.t(M::Wrote, &[&paths.config.display()]));
        }
    }

    fsio::ensure_dir(paths.state(), 0o700)?;
    secrets::load_or_create(&paths.secrets_dir())?;
    println!("{}", lang.t(M::Secrets, &[&paths.secrets_dir().display()]));
    println!();
    if !args.no_start && service_installed(paths) {
        start_service(lang)?;
        println!("{}", lang.t(M::Running, &[]));
    } else {
        println!("{}", lang.t(M::Next, &[]));
    }
    println!("{}", lang.t(M::FirstUser, &[]));
    Ok(())
}

/// Whether systemd runs this host and knows matrixbox.service, which reads the default config.
fn service_installed(paths: &Paths) -> bool {
    paths.config == std::path::Path::new(crate::paths::DEFAULT_CONFIG)
        && sd_notify::booted().unwrap_or(false)
        && systemctl(&["cat", "matrixbox.service"]).is_ok_and(|out| out.status.success())
}

fn systemctl(args: &[&str]) -> std::io::Result<std::process::Output> {
    std::process::Command::new("systemctl")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
}

/// Starts the service (a running one reloads the config instead); returns once systemd reports
/// it ready, which is when Synapse answers behind the edge.
fn start_service(lang: Lang) -> anyhow::Result<()> {
    let running = systemctl(&["is-active", "--quiet", "matrixbox.service"])
        .is_ok_and(|out| out.status.success());
    let args: &[&str] = if running {
        println!("{}", lang.t(M::Reloading, &[]));
        &["reload", "matrixbox.service"]
    } else {
        println!("{}", lang.t(M::Starting, &[]));
        &["enable", "--now", "matrixbox.service"]
    };
    let out = systemctl(args).context("cannot run systemctl")?;
    if !out.status.success() {
        return Err(Hinted::new(
            lang.t(
                M::SystemctlFailed,
                &[
                    &args.join(" "),
                    &String::from_utf8_lossy(&out.stderr).trim(),
                ],
            ),
            lang.t(M::SystemctlFailedHint, &[]),
        )
        .into());
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
