//! What backup, verify and restore print, in English and Simplified Chinese (see `crate::i18n`).

use crate::i18n::{Lang, messages};

use super::manifest::Manifest;

messages! {
    Dumping => "dumping the database", "正在导出数据库";
    Writing => "writing", "正在写入";
    Verifying => "verifying", "正在校验";
    Extracting => "restoring files", "正在恢复文件";
    Written => "backup written: {0}", "备份已写入：{0}";
    Figures => "{0} members ({1} media files), {2} of data, {3} compressed, in {4}", "{0} 个成员（{1} 个媒体文件），数据 {2}，压缩后 {3}，用时 {4}";
    Made => "made {0} of {1} by matrixbox {2} (Synapse {3}, PostgreSQL {4}), signing key {5}", "创建于 {0}，服务器 {1}，matrixbox {2}（Synapse {3}，PostgreSQL {4}），签名密钥 {5}";
    Complete => "{0} is complete: every member matches its checksum", "{0} 完整：所有成员的校验和均一致";
    WillBeLost => "--force: the database in {0} is replaced by the backup's; everything written since the backup was made (messages, users, devices, room state) is lost, and so are the secrets and configuration now in place", "--force：{0} 中的数据库将被备份中的数据库替换；备份之后写入的一切（消息、用户、设备、房间状态）以及当前的密钥和配置都将丢失";
    StartingPostgres => "starting PostgreSQL", "正在启动 PostgreSQL";
    RestoringDatabase => "restoring the database", "正在恢复数据库";
    StartingSynapse => "starting Synapse and waiting until it is healthy", "正在启动 Synapse 并等待其就绪";
    Restored => "restored {0} from the backup made {1}; Synapse is healthy", "已从 {1} 的备份恢复 {0}；Synapse 运行正常";
    Pushing => "pushing {0} to {1}", "正在将 {0} 推送到 {1}";
    Pushed => "pushed {0} to {1} as {2}: {3} in {4}", "已将 {0} 推送到 {1}，键为 {2}：{3}，用时 {4}";
    PushedEncrypted => "the bucket holds it encrypted to {0}; keep the matching identity off this host, `backup fetch --identity` needs it",
        "存储桶中保存的是用 {0} 加密的副本；请把对应的私钥保存在本机之外，`backup fetch --identity` 需要它";
    PushedPlain => "the bucket holds it unencrypted (set `backup.offsite.recipient` to an age public key to change that)",
        "存储桶中保存的是未加密的副本（将 `backup.offsite.recipient` 设为 age 公钥即可加密）";
    Fetching => "fetching {0}", "正在下载 {0}";
    Fetched => "fetched {0} into {1} ({2})", "已将 {0} 下载到 {1}（{2}）";
    FetchedDecrypted => "fetched {0} into {1} ({2} encrypted), decrypted with {3}", "已将 {0} 下载到 {1}（加密后 {2}），已用 {3} 解密";
    FetchedNext => "next: `matrixbox backup verify {0}`, then `matrixbox backup restore {0}`", "下一步：`matrixbox backup verify {0}`，然后 `matrixbox backup restore {0}`";
    ListEmpty => "no objects under {0} in bucket {1}", "存储桶 {1} 中 {0} 下没有对象";
    ListHeader => "{0} objects under {1} in bucket {2}:", "存储桶 {2} 中 {1} 下有 {0} 个对象：";
    Next => "next: start matrixbox (`systemctl start matrixbox` or `matrixbox run`); it adopts the running containers", "下一步：启动 matrixbox（`systemctl start matrixbox` 或 `matrixbox run`），它会接管正在运行的容器";
}

/// The lines that describe a backup: who made it and what it holds.
pub fn describe(lang: Lang, m: &Manifest) -> String {
    lang.t(
        M::Made,
        &[
            &m.created,
            &m.server_name,
            &m.matrixbox_version,
            &m.synapse_version,
            &m.postgres_version,
            &m.signing_key_id,
        ],
    )
}

/// The figures at the end of a backup.
pub fn figures(lang: Lang, m: &Manifest, archive_bytes: u64, seconds: f64) -> String {
    lang.t(
        M::Figures,
        &[
            &(m.members.len() + 1),
            &m.media_files(),
            &super::human_bytes(m.total_bytes()),
            &super::human_bytes(archive_bytes),
            &format!("{seconds:.1} s"),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::manifest::{FORMAT, Member};

    #[test]
    fn every_message_has_both_languages() {
        crate::i18n::assert_complete(M::ALL);
    }

    #[test]
    fn summary_in_both_languages() {
        let m = Manifest {
            format: FORMAT,
            created: "2026-11-27T20:00:00Z".into(),
            server_name: "example.org".into(),
            matrixbox_version: "0.1.0".into(),
            synapse_version: "1.163.2".into(),
            postgres_version: "15.14".into(),
            signing_key_id: "ed25519:a_abc".into(),
            members: vec![
                Member {
                    path: "database.pgdump".into(),
                    size: 3 * 1024 * 1024,
                    sha256: "00".into(),
                },
                Member {
                    path: "media/local_content/ab/cd/x".into(),
                    size: 1024,
                    sha256: "11".into(),
                },
            ],
        };
        let text = |lang| {
            format!(
                "{}\n{}\n{}\n",
                lang_t(lang, M::Written, "/b.tar.gz"),
                describe(lang, &m),
                figures(lang, &m, 2 * 1024 * 1024, 4.25)
            )
        };
        crate::golden::assert_golden("backup.en.txt", &text(Lang::En));
        crate::golden::assert_golden("backup.zh_CN.txt", &text(Lang::ZhCn));
    }

    #[test]
    fn offsite_lines_in_both_languages() {
        let text = |lang: Lang| {
            [
                lang.t(
                    M::Pushed,
                    &[
                        &"/b/ex.org-20261127T200000Z.tar.gz",
                        &"https://s3.example.com",
                        &"mbx/ex.org-20261127T200000Z.tar.gz.age",
                        &"2.0 MiB",
                        &"1.5 s",
                    ],
                ),
                lang.t(M::PushedEncrypted, &[&"age1abc"]),
                lang.t(M::PushedPlain, &[]),
                lang.t(
                    M::FetchedDecrypted,
                    &[
                        &"mbx/x.tar.gz.age",
                        &"/tmp/x.tar.gz",
                        &"2.0 MiB",
                        &"/root/id.txt",
                    ],
                ),
                lang.t(M::FetchedNext, &[&"/tmp/x.tar.gz"]),
                lang.t(M::ListHeader, &[&2, &"mbx/", &"matrix-backups"]),
            ]
            .join("\n")
                + "\n"
        };
        crate::golden::assert_golden("offsite.en.txt", &text(Lang::En));
        crate::golden::assert_golden("offsite.zh_CN.txt", &text(Lang::ZhCn));
    }

    fn lang_t(lang: Lang, m: M, arg: &str) -> String {
        lang.t(m, &[&arg])
    }
}
