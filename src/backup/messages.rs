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
    Open => "cannot read the backup {0}", "无法读取备份 {0}";
    OpenHint => "check the path and that you may read it (backups are 0600, root's)", "请检查路径以及你是否有权读取（备份文件权限为 0600，属于 root）";
    WriteFailed => "cannot write the backup {0}", "无法写入备份 {0}";
    WriteHint => "check that the directory exists, is writable and has room; nothing was left that `backup verify` accepts",
        "请确认目录存在、可写且有足够空间；没有留下任何能通过 `backup verify` 的文件";
    DamagedAt => "the archive is damaged or cut short at or after member {0}", "归档已损坏或被截断，位置在成员 {0} 处或之后";
    DamagedStart => "the archive is damaged or cut short at its start", "归档在开头处已损坏或被截断";
    UntrustedHint => "this copy cannot be trusted: use another copy of the backup (nothing was restored from this one)",
        "此副本不可信：请使用该备份的另一份副本（未从此副本恢复任何内容）";
    NoManifest => "the archive has no manifest: the backup did not complete, or this is not a matrixbox backup",
        "归档中没有清单：备份未完成，或这不是 matrixbox 备份";
    NoManifestHint => "an interrupted `backup create` leaves such a file (`.matrixbox-backup-*.partial`): delete it and use a complete backup",
        "中断的 `backup create` 会留下这样的文件（`.matrixbox-backup-*.partial`）：请删除它并使用完整的备份";
    BadManifest => "the archive's manifest cannot be read: {0}", "无法读取归档的清单：{0}";
    ForeignHint => "this file was not written by `matrixbox backup create` (or by a newer matrixbox); use a backup made by this version",
        "此文件不是由 `matrixbox backup create` 写入的（或来自更新版本的 matrixbox）；请使用本版本制作的备份";
    AfterManifest => "member {0} follows the manifest, which must be last", "成员 {0} 位于清单之后，而清单必须在最后";
    UnexpectedMember => "member {0} is not something a matrixbox backup holds", "成员 {0} 不属于 matrixbox 备份的内容";
    Duplicate => "member {0} is in the archive twice", "成员 {0} 在归档中出现了两次";
    MissingMember => "member {0} is listed in the manifest but missing from the archive", "成员 {0} 列在清单中，但归档中没有";
    Unlisted => "member {0} is in the archive but not in its manifest", "成员 {0} 在归档中，但不在清单中";
    Checksum => "member {0} is damaged: the manifest says {1}, the archive holds {2}", "成员 {0} 已损坏：清单记录为 {1}，归档中为 {2}";
    NotRunning => "PostgreSQL ({0}) is not running: a backup is taken from the running database", "PostgreSQL（{0}）未运行：备份需要从运行中的数据库导出";
    NotRunningHint => "start matrixbox first (`systemctl start matrixbox` or `matrixbox run`); the backup is taken online",
        "请先启动 matrixbox（`systemctl start matrixbox` 或 `matrixbox run`）；备份在线进行";
    Dump => "pg_dump in {0} failed (exit {1}): {2}", "{0} 中的 pg_dump 失败（退出码 {1}）：{2}";
    DumpHint => "see the message above and `docker logs {0}`; no backup was written", "请查看上面的消息和 `docker logs {0}`；没有写入任何备份";
    ArchiveConfig => "the backup's matrixbox.yaml is not valid here", "备份中的 matrixbox.yaml 在本机无效";
    ExistingConfig => "the configuration already on this host cannot be read", "无法读取本机已有的配置";
    Refused => "this backup cannot be restored here: {0}", "此备份无法在这里恢复：{0}";
    RefusedHint => "restore it with a matrixbox whose pinned images are at least as new (or set `images:` accordingly), on a host configured for the same server name; nothing was changed",
        "请使用固定镜像至少同样新的 matrixbox 恢复（或相应设置 `images:`），且主机配置为相同的服务器名；未做任何更改";
    ExistingDatabase => "a database already exists in {0}; restoring would replace it", "{0} 中已有数据库；恢复会替换它";
    ExistingDatabaseHint => "to replace it and lose what it holds, run again with --force; to keep it, restore onto a fresh host or another --state-dir",
        "若要替换它并丢失其中的数据，请加 --force 重新运行；若要保留它，请恢复到新主机或另一个 --state-dir";
    SynapseRunning => "Synapse ({0}) is running; a restore replaces its database underneath it", "Synapse（{0}）正在运行；恢复会在它运行时替换其数据库";
    SynapseRunningHint => "stop matrixbox first (`systemctl stop matrixbox`, or stop `matrixbox run`, then `matrixbox down`); restore starts the stack itself",
        "请先停止 matrixbox（`systemctl stop matrixbox`，或停止 `matrixbox run` 后执行 `matrixbox down`）；恢复会自行启动服务";
    DatabaseStep => "{0} failed in {1} (exit {2}): {3}", "在 {1} 中{0}失败（退出码 {2}）：{3}";
    LogsHint => "see `docker logs {0}`", "请查看 `docker logs {0}`";
    Interrupted => "the restore stopped while {0}; {1}", "恢复在{0}时中止；{1}";
    InterruptedHint => "fix the cause above and run the same `matrixbox backup restore` again (with --force when it says a database exists)",
        "请修复上述原因后再次运行同样的 `matrixbox backup restore`（若提示数据库已存在，请加 --force）";
    LeftSynapse => "the database, media, secrets and {0} are restored; Synapse did not become healthy", "数据库、媒体、密钥和 {0} 已恢复；Synapse 未能就绪";
    LeftSwapping => "the restored database may not be in place yet (it is complete, as `synapse_restore`); {0} was not written and Synapse was not started",
        "恢复的数据库可能尚未就位（它是完整的，名为 `synapse_restore`）；{0} 未写入，Synapse 未启动";
    LeftOther => "the secrets and media from the backup are in place, Synapse's database was not replaced (a restore in progress is dropped), {0} was not written and Synapse was not started",
        "备份中的密钥和媒体已就位，Synapse 的数据库未被替换（进行中的恢复已丢弃），{0} 未写入，Synapse 未启动";
    RefuseFormat => "the archive's format {0} is not the {1} this matrixbox reads", "归档格式 {0} 不是本 matrixbox 读取的格式 {1}";
    RefuseServerName => "the backup is of server `{0}`, but the configuration to restore onto is for `{1}` (user and room IDs carry the name: they cannot move)",
        "该备份属于服务器 `{0}`，但要恢复到的配置是 `{1}`（用户和房间 ID 中带有服务器名，无法迁移）";
    RefuseSynapse => "the backup was made by Synapse {0}, newer than the {1} this installation runs (an older Synapse refuses a newer database schema)",
        "该备份由 Synapse {0} 制作，比本安装运行的 {1} 更新（较旧的 Synapse 不接受较新的数据库结构）";
    RefusePostgres => "the backup's database is from PostgreSQL {0}, newer than the PostgreSQL {1} this installation runs",
        "该备份的数据库来自 PostgreSQL {0}，比本安装运行的 PostgreSQL {1} 更新";
    OffNotConfigured => "no off-host target is configured (`backup.offsite` in matrixbox.yaml)", "没有配置异地备份目标（matrixbox.yaml 中的 `backup.offsite`）";
    OffNotConfiguredHint => "add `backup.offsite:` with the endpoint, bucket and key files (see the README's \"Off-host copies\")",
        "请添加 `backup.offsite:`，写明端点、存储桶和密钥文件（参见 README 的“异地副本”）";
    OffEndpoint => "the endpoint {0} cannot be used: {1}", "无法使用端点 {0}：{1}";
    OffEndpointHint => "fix `backup.offsite.endpoint`, e.g. `https://s3.eu-central-1.amazonaws.com`", "请修正 `backup.offsite.endpoint`，例如 `https://s3.eu-central-1.amazonaws.com`";
    OffKeyFile => "cannot use {0} ({1}) as a credential: {2}", "无法将 {0}（{1}）用作凭据：{2}";
    OffChmodHint => "`chmod 600 {0}`: an S3 key is a secret only root may read", "`chmod 600 {0}`：S3 密钥是只有 root 可读的机密";
    OffKeyHint => "write the key alone, on one line, into {0} (`chmod 600`), or change `{1}` in matrixbox.yaml",
        "请将密钥单独写成一行存入 {0}（`chmod 600`），或修改 matrixbox.yaml 中的 `{1}`";
    OffUnreachable => "cannot reach {0} while {1} (tried {2} times): {3}", "{1}时无法连接 {0}（已尝试 {2} 次）：{3}";
    OffUnreachableHint => "check the endpoint, this host's network and DNS, and that the S3 service runs; the local backup is kept and the next scheduled one pushes again",
        "请检查端点、本机网络和 DNS，以及 S3 服务是否在运行；本地备份会保留，下一次定时备份会再次推送";
    OffRefused => "{0} refused {1} in bucket {2} (HTTP {3}): {4}", "{0} 拒绝了存储桶 {2} 中的{1}（HTTP {3}）：{4}";
    OffForbiddenHint => "check the access key, the secret key and the bucket's policy (it must allow PutObject, GetObject, ListBucket and DeleteObject under the prefix); the local backup is kept",
        "请检查访问密钥、私密密钥和存储桶策略（必须允许在该前缀下 PutObject、GetObject、ListBucket 和 DeleteObject）；本地备份会保留";
    OffNoBucketHint => "check `backup.offsite.bucket` and that the bucket exists (matrixbox does not create it); the local backup is kept",
        "请检查 `backup.offsite.bucket` 以及该存储桶是否存在（matrixbox 不会创建它）；本地备份会保留";
    OffServiceHint => "see the service's message above; the local backup is kept", "请查看上面来自服务的消息；本地备份会保留";
    OffBadAnswer => "{0} gave an answer to {1} that cannot be read: {2}", "{0} 对{1}的响应无法读取：{2}";
    OffNoSuchKey => "there is no object {0} in bucket {1}", "存储桶 {1} 中没有对象 {0}";
    OffNoSuchKeyHint => "`matrixbox backup list` shows the keys in the bucket", "`matrixbox backup list` 会列出存储桶中的键";
    OffNotAFile => "{0} is not a file name to push", "{0} 不是可推送的文件名";
    OffNotAFileHint => "name an archive file, e.g. one `matrixbox backup create` wrote", "请指定一个归档文件，例如 `matrixbox backup create` 写出的文件";
    OffOutputExists => "{0} already exists", "{0} 已存在";
    OffOutputExistsHint => "choose another --output (nothing is overwritten)", "请选择另一个 --output（不会覆盖任何文件）";
    OffNeedsIdentity => "{0} is encrypted (age) and no identity was given", "{0} 已加密（age），但没有提供私钥";
    OffNeedsIdentityHint => "give the identity file that matches `backup.offsite.recipient` with --identity FILE (what `age-keygen` wrote)",
        "请用 --identity FILE 提供与 `backup.offsite.recipient` 匹配的私钥文件（即 `age-keygen` 写出的文件）";
    OffWrongIdentity => "the identity in {0} does not match the key {1} was encrypted to", "{0} 中的私钥与 {1} 加密时所用的公钥不匹配";
    OffWrongIdentityHint => "use the identity file whose public key is `backup.offsite.recipient` when the backup was pushed; nothing was written",
        "请使用推送备份时其公钥为 `backup.offsite.recipient` 的私钥文件；没有写入任何内容";
    OffIdentity => "cannot read the age identity {0}: {1}", "无法读取 age 私钥 {0}：{1}";
    OffIdentityHint => "give a file as `age-keygen` writes it (a line starting with AGE-SECRET-KEY-)", "请提供 `age-keygen` 写出的那种文件（以 AGE-SECRET-KEY- 开头的一行）";
    OffCrypt => "cannot {0}: {1}", "无法{0}：{1}";
    OffCryptHint => "the object is damaged or not an age file; fetch another backup; nothing was written", "该对象已损坏或不是 age 文件；请获取另一份备份；没有写入任何内容";
    OffLocal => "cannot read or write {0}", "无法读写 {0}";
    OffLocalHint => "check that the directory exists, is writable and has room", "请确认目录存在、可写且有足够空间";
    KeyNotAFile => "it is not a regular file", "它不是普通文件";
    KeyReadable => "others can read it (mode {0})", "其他用户可以读取它（权限 {0}）";
    KeyEmpty => "it is empty", "它是空的";
    KeyNotOneLine => "it is not one line of text", "它不是单行文本";
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
