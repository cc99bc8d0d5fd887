//! The verb and noun phrases that errors are built from ("cannot {action} {path}"), in Simplified
//! Chinese; an error's template places them, so each phrase is translated once.

use super::Lang;

/// English phrase, Simplified Chinese phrase. Sorted, so a lookup is a binary search and a
/// duplicate shows in review.
const PHRASES: &[(&str, &str)] = &[
    ("a task", "一个任务"),
    ("aborting the upload", "中止上传"),
    ("an HTTPS listener", "一个 HTTPS 监听器"),
    ("attach to exec in", "附加到容器中的 exec"),
    ("change the owner of", "更改所有者"),
    ("change the restart policy of", "更改重启策略"),
    ("completing the upload", "完成上传"),
    ("compress", "压缩"),
    ("copy", "复制"),
    ("create", "创建"),
    ("create a temporary file in", "在此目录中创建临时文件"),
    ("create container", "创建容器"),
    ("create directory", "创建目录"),
    ("create network", "创建网络"),
    ("decrypt", "解密"),
    ("deleting", "删除对象"),
    ("download the certificate from", "下载证书"),
    ("downloading", "下载"),
    (
        "emptying e2e_one_time_keys_json",
        "清空 e2e_one_time_keys_json",
    ),
    ("encrypt", "加密"),
    (
        "exchange the PostgreSQL data directory with",
        "交换 PostgreSQL 数据目录",
    ),
    ("exec in", "在容器中执行命令"),
    ("export the images", "导出镜像"),
    ("fetch an authorization from", "获取授权"),
    ("finalize the order at", "完成订单"),
    ("follow the events of", "跟踪事件"),
    ("generate a TLS-ALPN-01 key", "生成 TLS-ALPN-01 密钥"),
    ("generate a certificate key", "生成证书密钥"),
    ("generate its key", "生成其密钥"),
    ("inspect", "检查"),
    ("inspect container", "检查容器"),
    ("inspect exec in", "检查容器中的 exec"),
    ("inspect image", "检查镜像"),
    ("inspect network", "检查网络"),
    ("link", "创建链接"),
    ("list", "列出目录"),
    ("list the compose containers of", "列出 compose 容器"),
    ("listing", "列出对象"),
    ("load", "加载"),
    ("lock", "锁定"),
    ("measure free space in", "测量可用空间"),
    ("open", "打开"),
    ("open directory", "打开目录"),
    ("parse", "解析"),
    ("parse the image digest record", "解析镜像摘要记录"),
    ("parse the imported image digests", "解析导入的镜像摘要"),
    ("pg_restore", "执行 pg_restore"),
    (
        "putting the restored database in place",
        "将恢复的数据库就位",
    ),
    ("read", "读取"),
    (
        "read backup.offsite.recipient",
        "读取 backup.offsite.recipient",
    ),
    ("read the output of exec in", "读取容器中 exec 的输出"),
    ("read the system info of", "读取系统信息"),
    ("reading PostgreSQL's version", "读取 PostgreSQL 版本"),
    ("reading the restored secrets", "读取恢复的密钥"),
    ("refresh the order at", "刷新订单"),
    ("remove", "删除"),
    ("remove container", "删除容器"),
    ("remove network", "删除网络"),
    ("rename", "重命名"),
    ("replace", "替换"),
    ("replacing Synapse's database", "替换 Synapse 的数据库"),
    ("restoring the database", "恢复数据库"),
    ("restoring the media files", "恢复媒体文件"),
    ("set permissions on", "设置权限"),
    ("set up an HTTPS client for", "建立 HTTPS 客户端"),
    ("sign a TLS-ALPN-01 certificate", "签发 TLS-ALPN-01 证书"),
    ("sign a certificate", "签发证书"),
    ("sign a certificate request", "签署证书请求"),
    ("sign its root certificate", "签发其根证书"),
    ("start container", "启动容器"),
    ("starting PostgreSQL", "启动 PostgreSQL"),
    (
        "starting Synapse on the restored database",
        "在恢复的数据库上启动 Synapse",
    ),
    ("starting a multipart upload", "开始分段上传"),
    ("stop container", "停止容器"),
    ("submit a challenge to", "提交验证"),
    ("sync", "同步到磁盘"),
    ("sync directory", "同步目录"),
    ("tag", "标记"),
    ("the Docker event watcher", "Docker 事件监视器"),
    ("the HTTP listener", "HTTP 监听器"),
    ("the certificate file", "证书文件"),
    ("the certificate manager", "证书管理器"),
    ("the edge process", "边缘进程"),
    ("the internal CA", "内部 CA"),
    ("the metrics listener", "指标监听器"),
    ("the old certificate manager", "旧的证书管理器"),
    ("the scheduled backups", "定时备份"),
    ("uploading", "上传"),
    ("uploading a part", "上传分段"),
    ("use these names", "使用这些名称"),
    ("use these names in a request", "在请求中使用这些名称"),
    ("use this name", "使用此名称"),
    ("wait for validation at", "等待验证"),
    ("write", "写入"),
    ("write the output of exec in", "写出容器中 exec 的输出"),
    ("write to exec in", "写入容器中的 exec"),
];

/// `english` in the language of this process; English when the table lacks it (the test below
/// keeps every phrase the sources pass in the table).
pub fn phrase(english: &'static str) -> &'static str {
    phrase_in(Lang::current(), english)
}

fn phrase_in(lang: Lang, english: &'static str) -> &'static str {
    match lang {
        Lang::En => english,
        Lang::ZhCn => PHRASES
            .binary_search_by(|(en, _)| en.cmp(&english))
            .map_or(english, |i| PHRASES[i].1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_without_duplicates() {
        assert!(PHRASES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn a_phrase_speaks_the_language_asked_for() {
        assert_eq!(phrase_in(Lang::En, "read"), "read");
        assert_eq!(phrase_in(Lang::ZhCn, "read"), "读取");
        assert_eq!(phrase_in(Lang::ZhCn, "no such phrase"), "no such phrase");
    }

    /// Every literal the sources hand to an error as its action or object is in the table:
    /// a new `api_error("...")` without a translation fails here, not in front of a reader.
    #[test]
    fn every_phrase_the_sources_use_is_translated() {
        let openers = [
            "action: ",
            "acme_error(",
            "Step::Acme(",
            "failed(",
            "api_error(",
            "fs_error(",
            " err(",
            "what: ",
            "tasks.spawn(",
            "interrupted(",
            "const SWAPPING: &str = ",
            "const STARTING_SYNAPSE: &str = ",
        ];
        let mut missing = Vec::new();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        // This file names the openers themselves.
        for file in rust_files(&src)
            .into_iter()
            .filter(|f| !f.ends_with("i18n/phrases.rs"))
        {
            let text = std::fs::read_to_string(&file).unwrap();
            for opener in openers {
                for (at, _) in text.match_indices(opener) {
                    let rest = text[at + opener.len()..].trim_start();
                    let Some(rest) = rest.strip_prefix('"') else {
                        continue;
                    };
                    let Some(end) = rest.find('"') else { continue };
                    // `action: "die".into()` is an engine event's name, not a phrase.
                    if rest[end + 1..].starts_with(".into()") {
                        continue;
                    }
                    let english = &rest[..end];
                    if PHRASES
                        .binary_search_by(|(en, _)| en.cmp(&english))
                        .is_err()
                    {
                        missing.push(format!("{}: {english}", file.display()));
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "phrases without a translation:\n{}",
            missing.join("\n")
        );
    }

    fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(rust_files(&path));
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
        files
    }
}
