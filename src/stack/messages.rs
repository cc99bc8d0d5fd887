//! The stack's errors, their hints and why a container is judged unhealthy, in English and
//! Simplified Chinese (see `crate::i18n`).

use crate::i18n::messages;

messages! {
    PostgresUnhealthy => "PostgreSQL ({0}) {1}; its last log lines:\n{2}", "PostgreSQL（{0}）{1}；其最后的日志：\n{2}";
    PostgresHint => "fix the cause shown in the log (often `images.postgres` in matrixbox.yaml or the data directory) and run again; the data stays in the state directory, `docker logs {0}` shows more",
        "请修复日志中显示的原因（通常是 matrixbox.yaml 中的 `images.postgres` 或数据目录）后重试；数据仍保留在状态目录中，`docker logs {0}` 可查看更多";
    WrongLocale => "database `{0}` in {1} has {2}, but Synapse needs encoding UTF8 with C collation and ctype",
        "{1} 中的数据库 `{0}` 为 {2}，但 Synapse 需要 UTF8 编码以及 C 排序规则和字符分类";
    WrongLocaleHint => "this database was created outside matrixbox; dump it, move the postgres directory aside and run again so matrixbox recreates it with C collation (see `docker logs {0}`)",
        "此数据库不是由 matrixbox 创建的；请先导出它，将 postgres 目录移到别处后重试，matrixbox 会以 C 排序规则重新创建（参见 `docker logs {0}`）";
    SynapseUnhealthy => "Synapse ({0}) {1}; its last log lines:\n{2}", "Synapse（{0}）{1}；其最后的日志：\n{2}";
    SynapseHint => "fix the cause shown in the log (often an option under `synapse:` in matrixbox.yaml) and run again",
        "请修复日志中显示的原因（通常是 matrixbox.yaml 中 `synapse:` 下的某个选项）后重试";
    RoleMigration => "could not give Synapse's database role in {0} up its superuser rights; psql said:\n{1}",
        "无法撤销 {0} 中 Synapse 数据库角色的超级用户权限；psql 输出：\n{1}";
    RoleMigrationHint => "nothing was changed (one transaction); Synapse is stopped until the next `run` tries again; see `docker logs {0}`",
        "没有任何更改（在同一事务中）；Synapse 将保持停止，直到下一次 `run` 重试；参见 `docker logs {0}`";
    MajorChange => "the database in {0} was made by PostgreSQL {1}, but images.postgres is `{2}` (PostgreSQL {3}), which cannot open it",
        "{0} 中的数据库由 PostgreSQL {1} 创建，但 images.postgres 为 `{2}`（PostgreSQL {3}），无法打开它";
    MajorUpgradeHint => "the running containers were left as they are; `matrixbox upgrade` migrates the data to the new major (dump, restore into a new data directory, verify, keep the old one). Until then, set images.postgres back to a PostgreSQL {0} image for `run`",
        "正在运行的容器保持不变；`matrixbox upgrade` 会把数据迁移到新的主版本（导出、恢复到新的数据目录、校验、保留旧目录）。在此之前，请将 images.postgres 改回 PostgreSQL {0} 镜像以便 `run`";
    MajorChangeHint => "the running containers were left as they are; an older PostgreSQL cannot read a newer one's data: set images.postgres back to a PostgreSQL {0} image",
        "正在运行的容器保持不变；较旧的 PostgreSQL 无法读取较新版本的数据：请将 images.postgres 改回 PostgreSQL {0} 镜像";
    NotReady => "did not become ready within {0}s", "在 {0} 秒内未就绪";
    NoHealth => "did not answer /health within {0}s", "在 {0} 秒内未响应 /health";
    Disappeared => "disappeared", "已消失";
    KeepsExiting => "keeps exiting (Docker restarted it {0} times; last exit status {1})", "反复退出（Docker 已重启它 {0} 次；最后退出状态 {1}）";
    Exited => "exited (status {0})", "已退出（状态 {0}）";
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_message_has_both_languages_with_the_same_placeholders() {
        crate::i18n::assert_complete(super::M::ALL);
    }
}
