//! What `adopt` prints, its plan and its errors with their hints, in English and Simplified
//! Chinese (see `crate::i18n`).

use crate::i18n::{Lang, messages};

messages! {
    Found => "the guide's installation in {0}: Synapse in {1} (Synapse {2}), PostgreSQL in {3} (PostgreSQL {4})",
        "{0} 中按指南安装的服务器：Synapse 容器 {1}（Synapse {2}），PostgreSQL 容器 {3}（PostgreSQL {4}）";
    Server => "server name {0}, clients reach {1}, signing key {2} (kept)",
        "服务器名 {0}，客户端访问 {1}，签名密钥 {2}（保留）";
    Database => "database `{0}` of user `{1}`, dumped from the running PostgreSQL",
        "用户 `{1}` 的数据库 `{0}`，从运行中的 PostgreSQL 导出";
    Media => "media store {0}", "媒体库 {0}";
    Secrets => "secrets kept from homeserver.yaml: {0}; matrixbox makes the others",
        "沿用 homeserver.yaml 中的密钥：{0}；其余由 matrixbox 生成";
    Carried => "carried over as `synapse:` options: {0}", "作为 `synapse:` 选项沿用：{0}";
    Left => "set by matrixbox itself, not carried over: {0}", "由 matrixbox 自行设置、不沿用：{0}";
    ConfigNew => "configuration: {0} is written for {1}", "配置：为 {1} 写入 {0}";
    ConfigKept => "configuration: {0} (existing) gets the carried options", "配置：在已有的 {0} 中加入沿用的选项";
    Steps => "steps: stop the old Synapse; copy database, signing key, secrets and media into {0} and verify it; stop the old PostgreSQL; restore the copy into matrixbox and start Synapse. Nothing under {1} is changed.",
        "步骤：停止旧的 Synapse；把数据库、签名密钥、密钥和媒体复制到 {0} 并校验；停止旧的 PostgreSQL；把副本恢复到 matrixbox 并启动 Synapse。{1} 下的任何内容都不会被修改。";
    DryRun => "--dry-run: nothing was changed; run without it to adopt", "--dry-run：未做任何更改；去掉该选项即可接管";
    None_ => "none", "无";
    SigningKey => "the signing key", "签名密钥";
    StoppingSynapse => "stopping the old Synapse ({0})", "正在停止旧的 Synapse（{0}）";
    Copying => "dumping the database and copying the server into {0}", "正在导出数据库并把服务器复制到 {0}";
    Verified => "the copy is complete and verified: {0}", "副本完整且已校验：{0}";
    StoppingPostgres => "stopping the old PostgreSQL ({0})", "正在停止旧的 PostgreSQL（{0}）";
    Adopted => "{0} now runs under matrixbox (media files: {1}, signing key {2}); the copy stays at {3}",
        "{0} 现由 matrixbox 运行（媒体文件：{1} 个，签名密钥 {2}）；副本保留在 {3}";
    GoBack => "to go back: stop matrixbox, then `docker compose up -d` in {0} (its data was not changed)",
        "如需退回：停止 matrixbox，然后在 {0} 中运行 `docker compose up -d`（其数据未被修改）";

    ErrNoDir => "cannot open the compose directory {0}: {1}", "无法打开 compose 目录 {0}：{1}";
    HintNoDir => "give the directory that holds the guide's docker-compose.yml", "请指定存放指南中 docker-compose.yml 的目录";
    ErrNoCompose => "no docker compose container belongs to {0}", "没有属于 {0} 的 docker compose 容器";
    HintNoCompose => "run adopt on the host where the guide's stack runs, with the directory of its docker-compose.yml (compose labels each container with it; `docker compose ps` there lists them)",
        "请在运行指南中服务的主机上执行 adopt，并指定其 docker-compose.yml 所在目录（compose 会给每个容器标注该目录；在该目录运行 `docker compose ps` 可列出它们）";
    ErrMissingService => "the compose project in {0} has no `{1}` service (it has: {2})", "{0} 中的 compose 项目没有 `{1}` 服务（现有：{2}）";
    HintMissingService => "adopt takes over the guide's setup, whose services are `synapse` and `postgres`; create both (`docker compose up -d` in that directory) and run again",
        "adopt 接管的是指南中的部署，其服务名为 `synapse` 和 `postgres`；请先创建这两个服务（在该目录运行 `docker compose up -d`）后重试";
    ErrScaled => "service `{0}` runs in several containers ({1})", "服务 `{0}` 运行在多个容器中（{1}）";
    HintScaled => "scale it to one (`docker compose up -d --scale {0}=1`) and run again", "请将其缩减为一个（`docker compose up -d --scale {0}=1`）后重试";
    ErrNotMounted => "{1} in container {0} is not on a mounted host directory, so it cannot be copied", "容器 {0} 中的 {1} 不在挂载的主机目录上，无法复制";
    HintNotMounted => "mount it from the compose directory as the guide does (`./data:/data`), recreate the container and run again",
        "请像指南那样从 compose 目录挂载它（`./data:/data`），重建容器后重试";
    ErrRead => "cannot read {0}: {1}", "无法读取 {0}：{1}";
    HintRead => "check that it exists and is a regular file (adopt follows no links in Synapse's directories)", "请确认它存在且是普通文件（adopt 不跟随 Synapse 目录中的链接）";
    ErrBadHomeserver => "{0} cannot be used: {1}", "{0} 无法使用：{1}";
    HintBadHomeserver => "fix homeserver.yaml so that the old Synapse starts with it, then run again", "请修正 homeserver.yaml，使旧的 Synapse 能用它启动，然后重试";
    ErrNotPostgres => "the old Synapse keeps its data in `{0}`, not PostgreSQL", "旧的 Synapse 使用 `{0}` 存储数据，而不是 PostgreSQL";
    HintNotPostgres => "move it to PostgreSQL first with Synapse's `synapse_port_db` (the guide's setup uses PostgreSQL), then run again",
        "请先用 Synapse 的 `synapse_port_db` 迁移到 PostgreSQL（指南中的部署使用 PostgreSQL），然后重试";
    ErrBadKey => "{0} is not a Synapse signing key (`ed25519 <id> <key>`)", "{0} 不是 Synapse 签名密钥（`ed25519 <id> <key>`）";
    HintBadKey => "point signing_key_path at the key this server has always used: with a new key other servers would distrust what it signed before",
        "请让 signing_key_path 指向该服务器一直使用的密钥：换用新密钥会让其他服务器不再信任它之前签名的内容";
    ErrPgStopped => "the old PostgreSQL ({0}) is not running: the database is dumped from it", "旧的 PostgreSQL（{0}）未运行：数据库需要从它导出";
    HintPgStopped => "start it (`docker start {0}`, or `docker compose up -d postgres` in the compose directory) and run again", "请启动它（`docker start {0}`，或在 compose 目录运行 `docker compose up -d postgres`）后重试";
    ErrDatabase => "{1} in {0} failed (exit {2}): {3}", "{0} 中的{1}失败（退出码 {2}）：{3}";
    HintDatabase => "see `docker logs {0}`; the old server was left running", "请查看 `docker logs {0}`；旧服务器仍在运行";
    StepVersion => "reading the PostgreSQL version", "读取 PostgreSQL 版本";
    ErrServerName => "{0} is for server {1}, but the old server is {2}", "{0} 针对的是服务器 {1}，但旧服务器是 {2}";
    HintServerName => "user and room IDs carry the server name, so it cannot change: adopt onto a matrixbox configured for {2}, or move {0} aside so adopt writes one",
        "用户和房间 ID 含有服务器名，无法更改：请接管到为 {2} 配置的 matrixbox，或移走 {0} 让 adopt 自行写入";
    ErrNewerSynapse => "the old server runs Synapse {0}, newer than the {1} matrixbox runs (an older Synapse refuses a newer database schema)",
        "旧服务器运行 Synapse {0}，比 matrixbox 运行的 {1} 更新（旧版 Synapse 无法使用新版的数据库结构）";
    ErrNewerPostgres => "the old database is PostgreSQL {0}, newer than the PostgreSQL {1} matrixbox runs", "旧数据库是 PostgreSQL {0}，比 matrixbox 运行的 PostgreSQL {1} 更新";
    HintNewer => "set `images:` in matrixbox.yaml to a Synapse and PostgreSQL at least as new as the old server's, then run again; nothing was changed",
        "请在 matrixbox.yaml 的 `images:` 中设置不低于旧服务器版本的 Synapse 和 PostgreSQL，然后重试；未做任何更改";
    ErrExistingDb => "matrixbox already has a database in {0}", "matrixbox 在 {0} 中已有数据库";
    HintExistingDb => "adopt moves a server onto a fresh matrixbox: use another --state-dir, or move {0} aside (adopt deletes nothing)",
        "adopt 只会把服务器迁移到全新的 matrixbox：请使用其他 --state-dir，或移走 {0}（adopt 不删除任何内容）";
    ErrMbxRunning => "matrixbox's Synapse ({0}) is running", "matrixbox 的 Synapse（{0}）正在运行";
    HintMbxRunning => "stop matrixbox first (`systemctl stop matrixbox`, then `matrixbox down`); adopt starts the stack itself",
        "请先停止 matrixbox（`systemctl stop matrixbox`，然后 `matrixbox down`）；adopt 会自行启动服务";
    ErrCopy => "copying the old server failed; {0}", "复制旧服务器失败；{0}";
    CopyRestarted => "its Synapse was started again and nothing else changed", "其 Synapse 已重新启动，其他均未更改";
    CopyLeft => "nothing was changed", "未做任何更改";
    ErrRestore => "the copy {0} is verified and the old stack is stopped, but bringing it up under matrixbox failed",
        "副本 {0} 已校验且旧服务已停止，但在 matrixbox 中启动失败";
    HintRestore => "fix the cause above, then `matrixbox backup restore {0} --force` finishes the move; or go back: `docker compose up -d` in {1} (its data was not changed)",
        "请修复上述原因，然后运行 `matrixbox backup restore {0} --force` 完成迁移；或退回：在 {1} 中运行 `docker compose up -d`（其数据未被修改）";
}

/// Several names as one list, or "none".
pub fn list(lang: Lang, items: &[String]) -> String {
    if items.is_empty() {
        lang.t(M::None_, &[])
    } else {
        items.join(", ")
    }
}
