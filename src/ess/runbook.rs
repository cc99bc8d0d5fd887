//! The migration runbook, in English and Simplified Chinese, filled in for this installation.

use super::{Dropped, Postgres};
use crate::config::Config;
use crate::embedded;
use crate::i18n::{Lang, messages};
use crate::paths::Paths;
use crate::secrets::Secrets;
use crate::stack::Names;

messages! {
    Bundled => "the chart's bundled PostgreSQL", "chart 自带的 PostgreSQL";
    External => "external, {0}:{1}", "外部数据库 {0}:{1}";
    SetByMatrixbox => "set by matrixbox", "由 matrixbox 设置";
    SetByYou => "your `synapse:` override", "你的 `synapse:` 覆盖项";
}

/// The runbook in `lang` (its file: `RUNBOOK.md` for English, `RUNBOOK.zh_CN.md`).
pub fn runbook(
    lang: Lang,
    config: &Config,
    paths: &Paths,
    secrets: &Secrets,
    postgres: &Postgres,
    dropped: &[Dropped],
) -> String {
    let template = embedded::text(&format!("ess/RUNBOOK.{}.md", lang.code()));
    let (keep, cut, mode, host, port) = match postgres {
        Postgres::Bundled => ("bundled", "external", lang.t(M::Bundled, &[]), "", 0),
        Postgres::External { host, port } => (
            "external",
            "bundled",
            lang.t(M::External, &[host, port]),
            host.as_str(),
            *port,
        ),
    };
    let names = Names::of(&config.instance);
    // The key id (second field of the key line) is public: other servers fetch it.
    let key_id = secrets
        .signing_key
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(":");
    let dropped_list: String = dropped
        .iter()
        .map(|d| {
            let who = lang.t(
                if d.override_ {
                    M::SetByYou
                } else {
                    M::SetByMatrixbox
                },
                &[],
            );
            format!("  - `{}` ({who}): {}\n", d.key, d.reason.text(lang))
        })
        .collect();
    let text = only_block(&template, keep, cut);
    text.replace("{{server_name}}", &config.server_name)
        .replace("{{domain}}", &config.domain)
        .replace("{{postgres_mode}}", &mode)
        .replace("{{postgres_host}}", host)
        .replace("{{postgres_port}}", &port.to_string())
        .replace("{{key_id}}", &key_id)
        .replace("{{synapse_container}}", &names.synapse)
        .replace("{{postgres_container}}", &names.postgres)
        .replace(
            "{{media_dir}}",
            &paths
                .synapse_dir()
                .join("media_store")
                .display()
                .to_string(),
        )
        .replace("{{dropped}}\n", &dropped_list)
}

/// Keeps the lines between `<!-- keep -->` markers (without the markers) and removes the `cut`
/// block whole.
fn only_block(template: &str, keep: &str, cut: &str) -> String {
    let (open_keep, close_keep) = (format!("<!-- {keep} -->"), format!("<!-- /{keep} -->"));
    let (open_cut, close_cut) = (format!("<!-- {cut} -->"), format!("<!-- /{cut} -->"));
    let mut out = String::new();
    let mut cutting = false;
    for line in template.lines() {
        if line == open_cut {
            cutting = true;
        } else if line == close_cut {
            cutting = false;
        } else if !cutting && line != open_keep && line != close_keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
pub(super) fn assert_complete() {
    crate::i18n::assert_complete(M::ALL);
}
