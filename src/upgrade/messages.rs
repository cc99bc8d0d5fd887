//! What `matrixbox upgrade` and `status` print about upgrades, in English and Simplified Chinese.

use crate::i18n::{Lang, messages};

use super::plan::{Outcome, Plan, Record};

messages! {
    UpToDate => "Synapse is up to date: {0}", "Synapse 已是最新：{0}";
    Pending => "upgrade pending: Synapse {0} -> {1} (`matrixbox upgrade` takes a backup, recreates Synapse, waits for the health gate and rolls back on failure)", "有待升级：Synapse {0} -> {1}（`matrixbox upgrade` 会先备份，重建 Synapse，等待健康检查，失败时自动回滚）";
    WillPull => "{0} is not on this host yet: it will be pulled first", "{0} 尚不在本机：将先拉取";
    NotInstalled => "no Synapse container yet: `matrixbox run` creates it on {0}; nothing to upgrade", "尚无 Synapse 容器：`matrixbox run` 会用 {0} 创建它；无需升级";
    Pulling => "pulling {0}", "正在拉取 {0}";
    BackingUp => "stopping Synapse and taking a backup", "正在停止 Synapse 并备份";
    Backup => "backup written: {0}", "备份已写入：{0}";
    Gate => "starting Synapse on {0} and waiting for the health gate (at most {1} s)", "正在用 {0} 启动 Synapse 并等待健康检查（最多 {1} 秒）";
    RollingBack => "the health gate failed: rolling back to {0} and the database of {1}", "健康检查未通过：正在回滚到 {0} 以及 {1} 中的数据库";
    Upgraded => "upgraded Synapse {0} -> {1}: down {2} s; the backup stays at {3}", "Synapse 已从 {0} 升级到 {1}：停机 {2} 秒；备份保留在 {3}";
    LastUpgraded => "{0} -> {1} at {2}: upgraded, down {3} s", "{2}：{0} -> {1}，已升级，停机 {3} 秒";
    LastRolledBack => "{0} -> {1} at {2}: rolled back in {3} s ({4}); Synapse runs {0}", "{2}：{0} -> {1}，已在 {3} 秒内回滚（{4}）；Synapse 运行 {0}";
    LastRollbackFailed => "{0} -> {1} at {2}: the rollback failed ({3}); restore {4}", "{2}：{0} -> {1}，回滚失败（{3}）；请恢复 {4}";
    LastInProgress => "{0} -> {1} at {2}: did not finish (stopped midway); run `matrixbox upgrade` again", "{2}：{0} -> {1}，未完成（中途停止）；请再次运行 `matrixbox upgrade`";
    ErrNotRunning => "PostgreSQL ({0}) is not running: an upgrade starts with a backup of the running database", "PostgreSQL（{0}）未运行：升级首先要备份运行中的数据库";
    ErrNotRunningHint => "start matrixbox first (`systemctl start matrixbox` or `matrixbox run`)", "请先启动 matrixbox（`systemctl start matrixbox` 或 `matrixbox run`）";
    ErrDowngrade => "images.synapse is {0}, an older Synapse than the {1} that runs: an older Synapse refuses the schema a newer one migrated",
        "images.synapse 为 {0}，比正在运行的 {1} 更旧：较旧的 Synapse 不接受较新版本迁移过的数据库结构";
    ErrDowngradeHint => "set images.synapse to {0} or newer; to go back to an older release, restore a backup made with it (`matrixbox backup restore`)",
        "请将 images.synapse 设为 {0} 或更新版本；若要回到旧版本，请恢复用它制作的备份（`matrixbox backup restore`）";
    ErrRolledBack => "the health gate failed for {0}: {1}\nrolled back: Synapse runs {2} again on the database as it was before the upgrade",
        "{0} 未通过健康检查：{1}\n已回滚：Synapse 重新以 {2} 运行，数据库恢复到升级前的状态";
    ErrRolledBackHint => "nothing was lost; the reason above and `matrixbox status` say what failed. Fix it or choose another images.synapse, then run `matrixbox upgrade` again",
        "没有丢失任何数据；上面的原因和 `matrixbox status` 说明了失败之处。修复后或选择其他 images.synapse，再运行 `matrixbox upgrade`";
    ErrRollbackFailed => "the health gate failed for {0} ({1}), and so did the rollback to {2}", "{0} 未通过健康检查（{1}），回滚到 {2} 也失败了";
    ErrRollbackFailedHint => "Synapse is stopped. Restore by hand: `matrixbox down`, then `matrixbox backup restore --force {0}` (set images.synapse to the old image first)",
        "Synapse 已停止。请手动恢复：先执行 `matrixbox down`，再执行 `matrixbox backup restore --force {0}`（先把 images.synapse 改回旧镜像）";
    ErrBackup => "the backup before the upgrade failed; Synapse was started again on {0}", "升级前的备份失败；Synapse 已以 {0} 重新启动";
}

/// The line `upgrade --check` prints for a plan (a downgrade is refused as an error instead).
pub fn plan(lang: Lang, plan: &Plan, configured: &str) -> String {
    match plan {
        Plan::NotInstalled => lang.t(M::NotInstalled, &[&configured]),
        Plan::UpToDate { image } => lang.t(M::UpToDate, &[image]),
        Plan::Upgrade { from, to, pull } => {
            let mut line = lang.t(M::Pending, &[from, to]);
            if *pull {
                line.push('\n');
                line.push_str(&lang.t(M::WillPull, &[to]));
            }
            line
        }
        Plan::Downgrade { from, to } => format!("{from} -> {to}"),
    }
}

/// The last upgrade in one line, for `status` and `upgrade --check`.
pub fn last(lang: Lang, r: &Record) -> String {
    let secs = |s: Option<f64>| format!("{:.1}", s.unwrap_or(0.0));
    let reason = r.reason.clone().unwrap_or_default();
    let backup = r.backup.clone().unwrap_or_default();
    match r.outcome {
        Outcome::Upgraded => lang.t(
            M::LastUpgraded,
            &[&r.from, &r.to, &r.started, &secs(r.downtime_s)],
        ),
        Outcome::RolledBack => lang.t(
            M::LastRolledBack,
            &[&r.from, &r.to, &r.started, &secs(r.rollback_s), &reason],
        ),
        Outcome::RollbackFailed => lang.t(
            M::LastRollbackFailed,
            &[&r.from, &r.to, &r.started, &reason, &backup],
        ),
        Outcome::InProgress => lang.t(M::LastInProgress, &[&r.from, &r.to, &r.started]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages() {
        crate::i18n::assert_complete(M::ALL);
        let record = Record {
            from: "synapse:v1.161.0".into(),
            to: "synapse:v1.163.2".into(),
            started: "2026-11-27T22:00:00Z".into(),
            outcome: Outcome::RolledBack,
            backup: Some("/var/lib/matrixbox/backups/a.tar.gz".into()),
            downtime_s: Some(20.0),
            rollback_s: Some(9.5),
            reason: Some("Synapse exited (status 3)".into()),
        };
        let pending = Plan::Upgrade {
            from: record.from.clone(),
            to: record.to.clone(),
            pull: true,
        };
        for lang in [Lang::En, Lang::ZhCn] {
            let mut text = plan(lang, &pending, &record.to);
            for outcome in [
                Outcome::Upgraded,
                Outcome::RolledBack,
                Outcome::RollbackFailed,
                Outcome::InProgress,
            ] {
                text.push('\n');
                text.push_str(&last(
                    lang,
                    &Record {
                        outcome,
                        ..record.clone()
                    },
                ));
            }
            text.push('\n');
            crate::golden::assert_golden(&format!("upgrade.{}.txt", lang.code()), &text);
        }
    }
}
