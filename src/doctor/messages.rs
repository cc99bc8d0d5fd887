//! Every doctor message in English and Simplified Chinese, in one catalog (see `crate::i18n`).

crate::i18n::messages! {
    // Report framing.
    Pass => "pass", "通过";
    Warn => "warn", "警告";
    Fail => "fail", "失败";
    Skip => "skip", "跳过";
    Fix => "fix: ", "解决：";
    Header => "matrixbox doctor for {0}, as a remote server sees it", "matrixbox 诊断：{0}（以远程服务器的视角）";
    Summary => "{0} passed, {1} warnings, {2} failed, {3} skipped", "通过 {0} 项，警告 {1} 项，失败 {2} 项，跳过 {3} 项";
    Healthy => "healthy: other servers can federate with {0}", "正常：其他服务器可以与 {0} 联邦通信";
    Unhealthy => "not healthy: fix {0} first", "不正常：请先解决 {0}";
    NotReached => "not tried: {0} failed", "未尝试：{0} 失败";

    // Titles.
    TitleDiscovery => "1 server discovery", "1 服务器发现";
    TitleWellKnown => "2 /.well-known/matrix/server", "2 /.well-known/matrix/server";
    TitleTls => "3 TLS certificate", "3 TLS 证书";
    TitleKeys => "4 signing keys", "4 签名密钥";
    TitleClientWellKnown => "5 /.well-known/matrix/client", "5 /.well-known/matrix/client";
    TitleClientVersions => "5 /_matrix/client/versions", "5 /_matrix/client/versions";
    TitleElementX => "5 Element X", "5 Element X";
    TitleContainers => "6 containers", "6 容器";
    TitleDatabase => "6 database locale", "6 数据库区域设置";
    TitleCertificate => "6 certificate expiry", "6 证书有效期";
    TitleRenewal => "6 certificate renewal", "6 证书续期";
    TitleDisk => "6 disk space", "6 磁盘空间";
    TitleTurn => "7 TURN relay", "7 TURN 中继";

    // 1. Discovery.
    ViaLiteral => "{0} names its host and port itself", "{0} 自带主机和端口";
    ViaWellKnown => "{0} delegates to {1} (well-known)", "{0} 委托给 {1}（well-known）";
    ViaNoWellKnown => "{0} has no usable well-known", "{0} 没有可用的 well-known";
    ViaSrv => "SRV {0}", "SRV {0}";
    ViaDefault => "no SRV record: port 8448", "没有 SRV 记录：使用端口 8448";
    SrvError => "SRV lookup failed ({0}), as if none", "SRV 查询失败（{0}），按无记录处理";
    ConnectsTo => "connect to {0} → {1}", "连接 {0} → {1}";
    ResolveFailed => "{0} does not resolve: {1}", "{0} 无法解析：{1}";
    ResolveFailedFix => "create an A (or AAAA) record for {0} pointing to this host's public address",
        "请为 {0} 创建指向本机公网地址的 A（或 AAAA）记录";

    // Fetch failures (any HTTPS step).
    ConnectFailed => "cannot connect to {0}: {1}", "无法连接 {0}：{1}";
    ConnectFailedFix => "check that matrixbox is running (`systemctl status matrixbox`) and that the firewall or NAT lets port {0} through to it",
        "请确认 matrixbox 正在运行（`systemctl status matrixbox`），并且防火墙或 NAT 放行端口 {0}";
    HttpFailed => "the HTTP exchange with {0} failed: {1}", "与 {0} 的 HTTP 交互失败：{1}";
    HttpFailedFix => "something other than matrixbox may answer on this port; check `ss -ltnp`", "此端口上可能不是 matrixbox 在应答；请用 `ss -ltnp` 检查";
    TlsNameMismatch => "the certificate at {0} is not valid for {1} (it names {2})", "{0} 上的证书对 {1} 无效（证书中的名称：{2}）";
    TlsNameMismatchFix => "{0} must point to matrixbox, whose certificate covers it: check the DNS record, and that no other server or proxy answers on that address",
        "{0} 必须指向 matrixbox（其证书包含该名称）：请检查 DNS 记录，并确认该地址上没有其他服务器或代理在应答";
    TlsUntrusted => "the certificate at {0} (issued by {1}) does not chain to a trusted root", "{0} 上的证书（签发者 {1}）无法追溯到受信任的根证书";
    TlsUntrustedFix => "use a publicly trusted CA (the default, Let's Encrypt); for a private CA, give its root with --ca-file",
        "请使用公开受信任的 CA（默认 Let's Encrypt）；私有 CA 请用 --ca-file 指定其根证书";
    TlsExpired => "the certificate at {0} has expired ({1})", "{0} 上的证书已过期（{1}）";
    TlsExpiredFix => "see why renewal fails with `matrixbox status` and `journalctl -u matrixbox`", "请用 `matrixbox status` 和 `journalctl -u matrixbox` 查看续期失败的原因";
    TlsNotYetValid => "the certificate at {0} is not valid yet", "{0} 上的证书尚未生效";
    TlsNotYetValidFix => "check this host's clock (`timedatectl`)", "请检查本机时钟（`timedatectl`）";
    TlsOther => "TLS with {0} failed: {1}", "与 {0} 的 TLS 握手失败：{1}";
    TlsOtherFix => "check that matrixbox's edge answers on this address (`matrixbox status`)", "请确认 matrixbox 的入口在该地址上应答（`matrixbox status`）";

    // 2 and 5. Well-known documents.
    DocOk => "{0} from {1}", "{0}（来自 {1}）";
    DocStatus => "HTTP {0} from {1}", "{1} 返回 HTTP {0}";
    DocNotJson => "not a JSON object ({0})", "不是 JSON 对象（{0}）";
    DocMissing => "no string `{0}` in the document", "文档中没有字符串字段 `{0}`";
    DocInvalid => "`{0}` is `{1}`, which is not valid", "`{0}` 的值 `{1}` 无效";
    ServerDocFix => "serve {0} at https://{1}/.well-known/matrix/server with Content-Type application/json (matrixbox does this when {1} points to it)",
        "请在 https://{1}/.well-known/matrix/server 提供 {0}，Content-Type 为 application/json（{1} 指向 matrixbox 时它会自动提供）";
    ClientDocFix => "serve {0} at https://{1}/.well-known/matrix/client with Content-Type application/json and Access-Control-Allow-Origin: * (matrixbox does this when {1} points to it)",
        "请在 https://{1}/.well-known/matrix/client 提供 {0}，Content-Type 为 application/json 并带 Access-Control-Allow-Origin: *（{1} 指向 matrixbox 时它会自动提供）";
    WarnContentType => "Content-Type is {0}, not application/json", "Content-Type 是 {0}，不是 application/json";
    WarnCors => "Access-Control-Allow-Origin is {0}, not *", "Access-Control-Allow-Origin 是 {0}，不是 *";
    None_ => "missing", "缺失";
    LiteralNoWellKnown => "{0} names its host and port itself: remote servers do not ask for a well-known", "{0} 自带主机和端口：远程服务器不会请求 well-known";
    ClientFallback => "; checking https://{0} instead", "；改为检查 https://{0}";

    // 3. TLS.
    TlsOk => "{0} at {1}: certificate for {2}, issued by {3}, valid until {4}", "{0}（{1}）：证书包含 {2}，签发者 {3}，有效期至 {4}";
    TlsInternalRoot => " (trusting matrixbox's internal CA root {0})", "（已信任 matrixbox 内部 CA 根证书 {0}）";

    // 4. Keys.
    KeysOk => "{0} signed by {1}, valid until {2}", "{0} 由 {1} 签名，有效期至 {2}";
    KeysStatus => "HTTP {0} from {1}", "{1} 返回 HTTP {0}";
    KeysStatusFix => "Synapse does not answer behind the edge: check `matrixbox status` and `docker logs {0}`, then `systemctl restart matrixbox`",
        "Synapse 没有在入口后应答：请检查 `matrixbox status` 和 `docker logs {0}`，然后执行 `systemctl restart matrixbox`";
    KeysNotJson => "the key response is not JSON: {0}", "密钥响应不是 JSON：{0}";
    KeysWrongName => "the key response is for `{0}`, not {1}", "密钥响应属于 `{0}`，而不是 {1}";
    KeysWrongNameFix => "the delegation points to another homeserver: make `server_name` in matrixbox.yaml and the well-known agree",
        "委托指向了另一台主服务器：请让 matrixbox.yaml 中的 `server_name` 与 well-known 一致";
    KeysNoValidUntil => "the key response has no valid_until_ts", "密钥响应缺少 valid_until_ts";
    KeysExpired => "valid_until_ts {0} is in the past", "valid_until_ts {0} 已经过去";
    KeysExpiredFix => "check this host's clock (`timedatectl`), then restart Synapse (`systemctl restart matrixbox`)",
        "请检查本机时钟（`timedatectl`），然后重启 Synapse（`systemctl restart matrixbox`）";
    KeysNone => "the key response publishes no ed25519 key", "密钥响应中没有 ed25519 密钥";
    KeysBadKey => "key {0} is not a valid ed25519 public key", "密钥 {0} 不是有效的 ed25519 公钥";
    KeysUnsigned => "the key response is not signed with {0}", "密钥响应没有用 {0} 签名";
    KeysBadSignature => "the signature by {0} does not verify", "{0} 的签名验证失败";
    KeysBrokenFix => "something between the edge and Synapse changes the response, or the signing key file is damaged: see `docker logs {0}`",
        "入口与 Synapse 之间有东西修改了响应，或签名密钥文件已损坏：请查看 `docker logs {0}`";

    // 5. Client versions.
    VersionsOk => "{0}: {1}", "{0}：{1}";
    VersionsFix => "Synapse does not answer clients behind the edge: check `matrixbox status` and `docker logs {0}`",
        "Synapse 没有在入口后应答客户端：请检查 `matrixbox status` 和 `docker logs {0}`";

    // 5. What Element X needs.
    ElementXOk => "well-known client, simplified sliding sync and password login are all offered", "客户端 well-known、简化滑动同步与密码登录均已提供";
    ElementXMissing => "Element X cannot sign in here; missing: {0}", "Element X 无法在此登录；缺少：{0}";
    ElementXNoWellKnown => "a usable /.well-known/matrix/client on {0}", "{0} 上可用的 /.well-known/matrix/client";
    ElementXNoWellKnownFix => "Element X finds the server from the user ID's name: serve /.well-known/matrix/client on {0} (`serve_server_name: true` when it points to this host, or the web server that answers there)",
        "Element X 通过用户 ID 中的服务器名查找服务器：请在 {0} 上提供 /.well-known/matrix/client（若该名称指向本机，设置 `serve_server_name: true`；否则在应答该名称的网站上配置）";
    ElementXNoSlidingSync => "simplified sliding sync (`org.matrix.simplified_msc3575` in /versions)", "简化滑动同步（/versions 中的 `org.matrix.simplified_msc3575`）";
    ElementXNoSlidingSyncFix => "use Synapse 1.114 or newer (`images.synapse`), and do not turn simplified sliding sync off under `synapse:`",
        "请使用 Synapse 1.114 或更新版本（`images.synapse`），并且不要在 `synapse:` 下关闭简化滑动同步";
    ElementXNoPassword => "password login (`m.login.password` in /login)", "密码登录（/login 中的 `m.login.password`）";
    ElementXNoPasswordFix => "Element X signs in with a password or through OIDC (Matrix Authentication Service, which matrixbox does not run): do not turn `password_config` off under `synapse:`",
        "Element X 使用密码或 OIDC（Matrix Authentication Service，matrixbox 不运行它）登录：请不要在 `synapse:` 下关闭 `password_config`";

    // 6. Local facts.
    Upstream => "`upstream:` is set: matrixbox runs no containers", "已设置 `upstream:`：matrixbox 不运行容器";
    DockerUnreachable => "Docker is unreachable: {0}", "无法连接 Docker：{0}";
    DockerUnreachableFix => "start Docker (`systemctl start docker`)", "请启动 Docker（`systemctl start docker`）";
    ContainerMissing => "{0} does not exist", "{0} 不存在";
    ContainerState => "{0} {1}", "{0} {1}";
    ContainersFix => "`systemctl restart matrixbox` (or `matrixbox run`) brings them up; see `docker logs {0}` for why it stopped",
        "执行 `systemctl restart matrixbox`（或 `matrixbox run`）启动它们；停止原因请查看 `docker logs {0}`";
    DatabaseOk => "UTF8 with C collation and ctype", "UTF8，排序规则与字符类型均为 C";
    DatabaseNotRunning => "PostgreSQL is not running", "PostgreSQL 未运行";
    CertNone => "no certificate is stored yet", "尚未保存任何证书";
    CertNoneFix => "matrixbox obtains one at start: see `matrixbox status` and `journalctl -u matrixbox`", "matrixbox 启动时会申请证书：请查看 `matrixbox status` 和 `journalctl -u matrixbox`";
    CertDays => "{0}: {1} days left (until {2})", "{0}：剩余 {1} 天（至 {2}）";
    CertExpiringFix => "renewal should have happened by now: see `matrixbox status` and `journalctl -u matrixbox`", "本应已完成续期：请查看 `matrixbox status` 和 `journalctl -u matrixbox`";
    CertOwnFix => "replace the files under `tls:` with a renewed certificate and restart matrixbox", "请用续期后的证书替换 `tls:` 下的文件并重启 matrixbox";
    CertOwnFiles => "own certificate {0}", "自有证书 {0}";
    CertUnreadable => "cannot read {0}: {1}", "无法读取 {0}：{1}";
    RenewalOk => "no renewal errors", "没有续期错误";
    RenewalFailed => "{0}: {1} failures in a row, last: {2}", "{0}：连续失败 {1} 次，最近一次：{2}";
    RenewalFailedFix => "matrixbox keeps the current certificate and retries by itself; fix the cause above (often DNS or a closed port 80/443)",
        "matrixbox 会保留当前证书并自动重试；请解决上述原因（通常是 DNS 或端口 80/443 未开放）";
    DiskFree => "{0} GiB free for {1}", "{1} 可用 {0} GiB";
    DiskLowFix => "free space on the filesystem of {0}: PostgreSQL stops when it is full (`docker system prune` removes unused images)",
        "请释放 {0} 所在文件系统的空间：磁盘写满时 PostgreSQL 会停止（`docker system prune` 可删除未使用的镜像）";
    DiskUnknown => "cannot measure {0}: {1}", "无法测量 {0}：{1}";

    // 6. Backups.
    TitleBackups => "6 backups", "6 备份";
    BackupFresh => "the last good backup is {0} hours old ({1})", "最近一次成功备份在 {0} 小时前（{1}）";
    BackupNone => "no backup yet; the daemon takes the first within 10 minutes of starting", "尚无备份；守护进程启动后 10 分钟内会进行第一次备份";
    BackupNoneOff => "no backup yet, and scheduled backups are off", "尚无备份，且定时备份已关闭";
    BackupStale => "the last good backup is {0} days old ({1})", "最近一次成功备份已有 {0} 天（{1}）";
    BackupFailed => "the last backup failed: {0}", "上次备份失败：{0}";
    BackupFix => "`matrixbox backup create` takes one now and says what stands in the way; `matrixbox status` shows the schedule",
        "运行 `matrixbox backup create` 立即备份，并查看失败原因；`matrixbox status` 显示备份计划";
    // 7. Email (only with `email:`).
    TitleEmail => "7 email (SMTP)", "7 邮件（SMTP）";
    SmtpOk => "{0} answers ({1}), {2}{3}", "{0} 已应答（{1}），{2}{3}";
    SmtpStarttls => "STARTTLS with a valid certificate", "STARTTLS，证书有效";
    SmtpImplicit => "TLS with a valid certificate", "TLS，证书有效";
    SmtpPlain => "without TLS", "未使用 TLS";
    SmtpLoggedIn => ", logged in as {0}", "，已以 {0} 登录";
    SmtpNoLogin => ", no login configured", "，未配置登录";
    SmtpCleartextFix => "the password crosses the network in clear (`tls: off`) to an address outside this host and the private ranges: use `tls: starttls` or `implicit`",
        "密码以明文（`tls: off`）发送到本机和内网以外的地址：请改用 `tls: starttls` 或 `implicit`";
    SmtpPasswordFile => "cannot use the SMTP password file {0}: {1}", "无法使用 SMTP 密码文件 {0}：{1}";
    SmtpPasswordFileFix => "write the SMTP password alone, on one line, into {0}, readable only by root (`chmod 600 {0}`)",
        "请将 SMTP 密码单独写成一行存入 {0}，并只允许 root 读取（`chmod 600 {0}`）";
    SmtpConnect => "cannot connect to the SMTP server {0}: {1}", "无法连接 SMTP 服务器 {0}：{1}";
    SmtpConnectFix => "check `email.smtp_host` and `email.smtp_port` in matrixbox.yaml, and that this host may connect out to that port (many cloud providers block port 25)",
        "请检查 matrixbox.yaml 中的 `email.smtp_host` 和 `email.smtp_port`，并确认本机可以向该端口发起连接（许多云服务商封锁 25 端口）";
    SmtpProtocol => "{0} does not answer as an SMTP server: {1}", "{0} 没有以 SMTP 服务器的方式应答：{1}";
    SmtpProtocolFix => "check `email.smtp_port` and `email.tls`: port 465 needs `tls: implicit`, port 587 `tls: starttls`",
        "请检查 `email.smtp_port` 和 `email.tls`：465 端口需要 `tls: implicit`，587 端口需要 `tls: starttls`";
    SmtpNoStartTls => "{0} does not offer STARTTLS", "{0} 不提供 STARTTLS";
    SmtpNoStartTlsFix => "use the provider's TLS port (`tls: implicit` on 465, or `tls: starttls` on 587); `tls: off` is only for a relay on this host or its private network",
        "请使用服务商的 TLS 端口（465 端口用 `tls: implicit`，587 端口用 `tls: starttls`）；`tls: off` 仅适用于本机或内网中的中继";
    SmtpTlsFailed => "TLS with {0} failed: {1}", "与 {0} 的 TLS 握手失败：{1}";
    SmtpTlsFailedFix => "the server's certificate must be valid for `email.smtp_host` (write the name on its certificate, not an address); for a private CA, give its root with --ca-file",
        "服务器证书必须对 `email.smtp_host` 有效（请填写证书上的名称，而不是地址）；私有 CA 请用 --ca-file 指定其根证书";
    SmtpNoAuth => "{0} offers no login that Synapse can use (offered: {1})", "{0} 没有提供 Synapse 可用的登录方式（提供的是：{1}）";
    SmtpNoAuthFix => "Synapse logs in with AUTH PLAIN or LOGIN: check `email.tls` (servers often offer a login only over TLS), or remove `email.user` and `email.password_file` for a relay that needs none",
        "Synapse 使用 AUTH PLAIN 或 LOGIN 登录：请检查 `email.tls`（服务器通常只在 TLS 下提供登录），或对无需登录的中继删除 `email.user` 和 `email.password_file`";
    SmtpLoginRefused => "{0} refused the login of {1}: {2}", "{0} 拒绝了 {1} 的登录：{2}";
    SmtpLoginRefusedFix => "check `email.user` in matrixbox.yaml and the password in {0} (one line, nothing else); some providers want an app password for SMTP",
        "请检查 matrixbox.yaml 中的 `email.user` 以及 {0} 中的密码（仅一行，无其他内容）；部分服务商的 SMTP 需要应用专用密码";
    // 7. Federation peers (the servers on `federation.allow`).
    TitlePeers => "8 federation peers", "8 联邦对端";
    ResolversHost => "the host's resolvers", "本机的 DNS 服务器";
    PeerOk => "{0} → {1}", "{0} → {1}";
    PeerResolverFailed => "cannot ask {0}: {1}", "无法查询 {0}：{1}";
    PeerUnresolved => "{0} does not resolve through {1}", "{0} 无法通过 {1} 解析";
    PeerUnresolvedFix => "Synapse finds the servers on federation.allow through {0}: add a record for {1} there, or list your network's DNS server under federation.dns_servers in matrixbox.yaml",
        "Synapse 通过 {0} 查找 federation.allow 中的服务器：请在那里为 {1} 添加记录，或在 matrixbox.yaml 的 federation.dns_servers 中填写你网络中的 DNS 服务器";
    PeerBlocked => "{0} → {1}, a private address Synapse refuses to connect to", "{0} → {1}，是 Synapse 拒绝连接的私有地址";
    PeerBlockedFix => "if {0} is one of your servers, add its range to federation.private_networks in matrixbox.yaml, e.g. `{1}`",
        "如果 {0} 是你自己的服务器，请把它所在的网段加入 matrixbox.yaml 的 federation.private_networks，例如 `{1}`";
    // 7. TURN.
    TurnAllocated => "a user's credentials from Synapse allocated relay {0} at {1}", "用 Synapse 发给用户的凭据在 {1} 分配到中继 {0}";
    TurnNoCredentials => "no TURN credentials from Synapse: {0}", "未能从 Synapse 取得 TURN 凭据：{0}";
    TurnNoCredentialsFix => "check `turn:` in matrixbox.yaml and that matrixbox runs (`systemctl status matrixbox`); Synapse's log: `docker logs {0}`",
        "请检查 matrixbox.yaml 中的 `turn:`，并确认 matrixbox 正在运行（`systemctl status matrixbox`）；Synapse 日志：`docker logs {0}`";
    TurnNoAnswer => "no answer from the TURN relay at {0}", "{0} 处的 TURN 中继没有应答";
    TurnNoAnswerFix => "is coturn running? `docker ps -a --filter name={0}` and `docker logs {0}`; `matrixbox run` starts it",
        "coturn 是否在运行？请查看 `docker ps -a --filter name={0}` 和 `docker logs {0}`；`matrixbox run` 会启动它";
    TurnRefused => "the TURN relay refused the allocation: {0} {1}", "TURN 中继拒绝了分配：{0} {1}";
    TurnRefusedFix => "Synapse and coturn must share the secret in the secrets directory: restart matrixbox so both are rendered again (`systemctl restart matrixbox`); coturn's log: `docker logs {0}`",
        "Synapse 与 coturn 必须使用 secrets 目录中的同一密钥：请重启 matrixbox 以重新生成两者的配置（`systemctl restart matrixbox`）；coturn 日志：`docker logs {0}`";
    TurnMalformed => "the TURN exchange failed: {0}", "TURN 交互失败：{0}";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages_with_the_same_placeholders() {
        crate::i18n::assert_complete(M::ALL);
    }
}
