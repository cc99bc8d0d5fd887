//! What a PostgreSQL major migration (`upgrade`, `upgrade --check`, `upgrade --cleanup`) prints,
//! in English and Simplified Chinese.

use crate::i18n::messages;

messages! {
    Pending => "PostgreSQL migration pending: the data directory is PostgreSQL {0}, images.postgres is {1} (PostgreSQL {2}); `matrixbox upgrade` dumps the database, restores it into a new data directory, verifies it and keeps the old one", "有待迁移 PostgreSQL：数据目录为 PostgreSQL {0}，images.postgres 为 {1}（PostgreSQL {2}）；`matrixbox upgrade` 会导出数据库、恢复到新的数据目录、校验，并保留旧目录";
    Room => "it needs {0} free in {1} (a second copy of the database and its dump); {2} free now", "需要 {1} 有 {0} 可用空间（数据库的第二份副本及其导出文件）；当前可用 {2}";
    Kept => "the data directory of PostgreSQL {0} is kept in {1} (`upgrade.keep_old_postgres: forever`): `matrixbox upgrade --cleanup` removes it", "PostgreSQL {0} 的数据目录保留在 {1}（`upgrade.keep_old_postgres: forever`）：`matrixbox upgrade --cleanup` 可将其删除";
    KeptUntil => "the data directory of PostgreSQL {0} is kept in {1} until {2} (`upgrade.keep_old_postgres`), then the daemon removes it; `matrixbox upgrade --cleanup` removes it now", "PostgreSQL {0} 的数据目录保留在 {1}，直到 {2}（`upgrade.keep_old_postgres`），之后由守护进程删除；`matrixbox upgrade --cleanup` 可立即将其删除";
    KeptUnrecorded => "the data directory of PostgreSQL {0} is kept in {1}; no time was recorded for it, so only `matrixbox upgrade --cleanup` removes it", "PostgreSQL {0} 的数据目录保留在 {1}；未记录其保留时间，因此只有 `matrixbox upgrade --cleanup` 会将其删除";
    Dumping => "stopping Synapse and dumping the database with PostgreSQL {0}", "正在停止 Synapse 并用 PostgreSQL {0} 导出数据库";
    Initialising => "initialising PostgreSQL {0} in {1} (UTF8, C collation)", "正在 {1} 中初始化 PostgreSQL {0}（UTF8，C 排序规则）";
    Restoring => "restoring the dump ({0}) into PostgreSQL {1}", "正在将导出文件（{0}）恢复到 PostgreSQL {1}";
    Verified => "row counts match: {0}", "行数一致：{0}";
    Switching => "stopping PostgreSQL {0}, putting the new data directory in place, starting PostgreSQL {1} and Synapse (health gate)", "正在停止 PostgreSQL {0}，启用新数据目录，启动 PostgreSQL {1} 与 Synapse（健康检查）";
    Migrated => "migrated PostgreSQL {0} -> {1}: Synapse was down {2} s", "已将 PostgreSQL {0} 迁移到 {1}：Synapse 停机 {2} 秒";
    Removed => "removed {0} (the data directory of PostgreSQL {1})", "已删除 {0}（PostgreSQL {1} 的数据目录）";
    NothingToClean => "no data directory of an earlier PostgreSQL to remove", "没有需要删除的旧版 PostgreSQL 数据目录";
    NoRoom => "not enough disk for the PostgreSQL {0} -> {1} migration: it needs {2} free in {3} (a second copy of the database and its dump), {4} are free", "磁盘空间不足，无法将 PostgreSQL {0} 迁移到 {1}：{3} 需要 {2} 可用空间（数据库的第二份副本及其导出文件），当前可用 {4}";
    NoRoomHint => "nothing was changed and PostgreSQL {0} keeps serving; free some space (or move the state directory to a larger disk) and run `matrixbox upgrade` again", "未做任何更改，PostgreSQL {0} 继续服务；请释放空间（或将状态目录移到更大的磁盘）后再次运行 `matrixbox upgrade`";
    Older => "the data directory is PostgreSQL {0}, images.postgres is PostgreSQL {1}: an older PostgreSQL cannot read a newer one's data", "数据目录为 PostgreSQL {0}，images.postgres 为 PostgreSQL {1}：旧版 PostgreSQL 无法读取新版的数据";
    OlderHint => "set images.postgres to a PostgreSQL {0} image; nothing was changed", "请将 images.postgres 设为 PostgreSQL {0} 镜像；未做任何更改";
    NoOld => "no PostgreSQL container ({0}) holds the data of PostgreSQL {1}: the migration dumps the running one", "没有持有 PostgreSQL {1} 数据的 PostgreSQL 容器（{0}）：迁移需从正在运行的容器导出";
    NoOldHint => "set images.postgres back to the PostgreSQL {0} image, run `matrixbox run` once, then set it to the new image and run `matrixbox upgrade`", "请将 images.postgres 改回 PostgreSQL {0} 镜像，运行一次 `matrixbox run`，再改为新镜像并运行 `matrixbox upgrade`";
    Failed => "the PostgreSQL {0} -> {1} migration failed while {2}", "PostgreSQL {0} -> {1} 迁移在{2}时失败";
    FailedHint => "nothing was lost: PostgreSQL {0} serves its data directory as before, Synapse was started again on it and the half-made new data directory was removed; fix the cause above and run `matrixbox upgrade` again", "没有丢失任何数据：PostgreSQL {0} 照常使用原数据目录服务，Synapse 已在其上重新启动，未完成的新数据目录已删除；请修正上述原因后再次运行 `matrixbox upgrade`";
    SwitchedBack => "PostgreSQL {1} with the migrated data did not pass the health gate; switched back: PostgreSQL {0} serves its own data directory again", "使用迁移后数据的 PostgreSQL {1} 未通过健康检查；已切换回去：PostgreSQL {0} 重新使用其原数据目录服务";
    SwitchBackFailed => "PostgreSQL {1} with the migrated data did not pass the health gate, and switching back to PostgreSQL {0} failed too", "使用迁移后数据的 PostgreSQL {1} 未通过健康检查，切换回 PostgreSQL {0} 也失败了";
    SwitchBackFailedHint => "the old data directory is {0}, untouched since PostgreSQL {1} stopped cleanly: set images.postgres back to the PostgreSQL {1} image, put that directory back as {2} and run `matrixbox run`", "旧数据目录为 {0}，PostgreSQL {1} 正常停止后未被改动：请将 images.postgres 改回 PostgreSQL {1} 镜像，把该目录放回 {2}，然后运行 `matrixbox run`";
    StepDump => "dumping the database", "导出数据库";
    StepCountOld => "counting rows in the old database", "统计旧数据库的行数";
    StepInit => "initialising the new PostgreSQL", "初始化新的 PostgreSQL";
    StepRestore => "restoring the dump", "恢复导出文件";
    StepCountNew => "counting rows in the new database", "统计新数据库的行数";
    StepCompare => "comparing row counts", "比较行数";
    StepStopNew => "stopping the new PostgreSQL", "停止新的 PostgreSQL";
    StepStopOld => "stopping the old PostgreSQL", "停止旧的 PostgreSQL";
    StepSwitch => "putting the new data directory in place", "启用新数据目录";
    StepLeftover => "removing a new data directory left by an interrupted migration", "删除中断的迁移留下的新数据目录";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn every_message_has_both_languages() {
        crate::i18n::assert_complete(M::ALL);
        for lang in [Lang::En, Lang::ZhCn] {
            let dir = "/var/lib/matrixbox";
            let kept = "/var/lib/matrixbox/postgres-15";
            let mut lines = vec![
                lang.t(M::Pending, &[&15, &"postgres:17", &17]),
                lang.t(M::Room, &[&"1.2 GiB", &dir, &"40.0 GiB"]),
                lang.t(M::Kept, &[&15, &kept]),
                lang.t(M::KeptUntil, &[&15, &kept, &"2026-12-12 04:30 UTC"]),
                lang.t(M::KeptUnrecorded, &[&15, &kept]),
                lang.t(M::Dumping, &[&15]),
                lang.t(M::Initialising, &[&17, &"/var/lib/matrixbox/postgres-next"]),
                lang.t(M::Restoring, &[&"12.0 MiB", &17]),
                lang.t(M::Verified, &[&"users 3, events 120"]),
                lang.t(M::Switching, &[&15, &17]),
                lang.t(M::Migrated, &[&15, &17, &"41.5"]),
                lang.t(M::Removed, &[&kept, &15]),
                lang.t(M::NothingToClean, &[]),
                lang.t(M::NoRoom, &[&15, &17, &"1.2 GiB", &dir, &"300.0 MiB"]),
                lang.t(M::NoRoomHint, &[&15]),
                lang.t(M::Older, &[&17, &15]),
                lang.t(M::OlderHint, &[&17]),
                lang.t(M::NoOld, &[&"matrixbox-postgres", &15]),
                lang.t(M::NoOldHint, &[&15]),
            ];
            let step = lang.t(M::StepRestore, &[]);
            lines.push(lang.t(M::Failed, &[&15, &17, &step]));
            lines.push(lang.t(M::FailedHint, &[&15]));
            lines.push(lang.t(M::SwitchedBack, &[&15, &17]));
            lines.push(lang.t(M::SwitchBackFailed, &[&15, &17]));
            lines.push(lang.t(M::SwitchBackFailedHint, &[&kept, &15, &dir]));
            let text = lines.join("\n") + "\n";
            crate::golden::assert_golden(&format!("upgrade-postgres.{}.txt", lang.code()), &text);
        }
    }
}
