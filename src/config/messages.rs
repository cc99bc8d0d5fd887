//! Every configuration problem and hint in English and Simplified Chinese (see `crate::i18n`).
//! Messages that serde writes itself (type mismatches) stay in English.

crate::i18n::messages! {
    // The error around the problems.
    CannotRead => "cannot read configuration file {0}", "无法读取配置文件 {0}";
    CannotReadFix => "create it with `matrixbox setup --domain <your domain>`, or point --config / MATRIXBOX_CONFIG at it (looked at {0})",
        "请用 `matrixbox setup --domain <你的域名>` 创建它，或用 --config / MATRIXBOX_CONFIG 指向它（查找位置：{0}）";
    NotYaml => "{0} is not valid YAML{1}: {2}", "{0} 不是有效的 YAML{1}：{2}";
    AtLine => " (line {0}, column {1})", "（第 {0} 行，第 {1} 列）";
    HasOne => "{0} has 1 problem:", "{0} 有 1 个问题：";
    HasMany => "{0} has {1} problems:", "{0} 有 {1} 个问题：";
    Document => "(document)", "（整个文件）";
    FixFile => "fix the file and run the command again; nothing was changed", "请修改该文件后再次运行命令；没有做任何更改";

    // Problems.
    Missing => "missing", "缺失";
    DomainMissingFix => "set `domain: matrix.example.com` (the name clients connect to)", "请设置 `domain: matrix.example.com`（客户端连接所用的域名）";
    NotEmail => "`{0}` is not an email address", "`{0}` 不是电子邮件地址";
    NotEmailFix => "Let's Encrypt uses it for expiry warnings, e.g. `me@example.com`", "Let's Encrypt 用它发送到期提醒，例如 `me@example.com`";
    TooLittleMemory => "{0} MB is too little to run PostgreSQL and Synapse", "{0} MB 内存不足以运行 PostgreSQL 和 Synapse";
    TooLittleMemoryFix => "use `auto` or at least {0}", "请使用 `auto` 或至少 {0}";
    UnknownDirectory => "`{0}` is not a known directory", "`{0}` 不是已知的 ACME 目录";
    UnknownDirectoryFix => "use letsencrypt, letsencrypt-staging, internal, or an https:// directory URL", "请使用 letsencrypt、letsencrypt-staging、internal 或 https:// 开头的目录 URL";
    MustBeAbsolute => "must be an absolute path", "必须是绝对路径";
    NotAbsolute => "`{0}` is not an absolute path", "`{0}` 不是绝对路径";
    CaRootFix => "write the full path of a PEM file, e.g. `/etc/matrixbox/private-ca.pem`", "请写 PEM 文件的完整路径，例如 `/etc/matrixbox/private-ca.pem`";
    NotUpstream => "`{0}` is not a plain http:// URL of a Synapse", "`{0}` 不是 Synapse 的普通 http:// URL";
    NotUpstreamFix => "e.g. `http://127.0.0.1:8008` (no path; TLS to the upstream is not supported)", "例如 `http://127.0.0.1:8008`（不带路径；不支持到上游的 TLS）";
    NotNetwork => "`{0}` is not an address or CIDR network", "`{0}` 不是地址或 CIDR 网段";
    NotNetworkFix => "e.g. `10.0.0.0/8` or `192.168.1.5`", "例如 `10.0.0.0/8` 或 `192.168.1.5`";
    NotPublicAddress => "`{0}` is not a public IP address", "`{0}` 不是公网 IP 地址";
    NotPublicAddressFix => "write the address other hosts reach this one at (behind NAT: the router's public address), e.g. `203.0.113.5`",
        "请写其他主机访问本机所用的地址（在 NAT 后：路由器的公网地址），例如 `203.0.113.5`";
    NotInstance => "`{0}` is not a usable instance name: {1}", "`{0}` 不是可用的实例名：{1}";
    NotInstanceFix => "e.g. `{0}` or `matrix-2`: lowercase letters, digits and `-`, starting with a letter, at most {1} characters",
        "例如 `{0}` 或 `matrix-2`：小写字母、数字和 `-`，以字母开头，最多 {1} 个字符";
    InstanceStart => "it must start with a lowercase letter", "必须以小写字母开头";
    InstanceLong => "it is too long", "太长了";
    InstanceChars => "only lowercase letters, digits and `-` are allowed", "只允许小写字母、数字和 `-`";
    InstanceDash => "it must not end with `-`", "不能以 `-` 结尾";
    EmptyList => "the list is empty", "列表为空";
    EmptyMirrorsFix => "list at least one mirror, or remove the key to pull from Docker Hub", "请至少列出一个镜像源，或删除此项以从 Docker Hub 拉取";
    NotMirror => "`{0}` is not a registry prefix", "`{0}` 不是镜像仓库前缀";
    NotMirrorFix => "write host[:port][/path] without a scheme, e.g. `docker.mirror.example.com` (`docker.io` is Docker Hub itself)",
        "请写不带协议的 host[:port][/path]，例如 `docker.mirror.example.com`（`docker.io` 即 Docker Hub 本身）";
    NotIp => "`{0}` is not an IP address", "`{0}` 不是 IP 地址";
    NotIpFix => "write a resolver's address (no port, no name), e.g. `10.0.0.53`", "请写 DNS 服务器的地址（不带端口，不写名称），例如 `10.0.0.53`";
    NotCidr => "`{0}` is not a CIDR network", "`{0}` 不是 CIDR 网段";
    NotCidrFix => "write a range with its prefix length, e.g. `10.20.0.0/16`", "请写带前缀长度的网段，例如 `10.20.0.0/16`";
    ListedTwice => "`{0}` is listed twice", "`{0}` 重复列出";
    NoValidPort => "`{0}` has no valid port", "`{0}` 的端口无效";
    ServerNameFix => "write a server name as in user IDs, e.g. `example.com` or `example.com:8448`", "请按用户 ID 中的写法填写服务器名，例如 `example.com` 或 `example.com:8448`";
    NotAddrPort => "`{0}` is not an address:port", "`{0}` 不是 地址:端口";
    NotAddrPortFix => "e.g. `0.0.0.0:443`, `[::]:443`, or `off`", "例如 `0.0.0.0:443`、`[::]:443` 或 `off`";
    NotDomain => "`{0}` is not a valid domain name", "`{0}` 不是有效的域名";
    DomainScheme => "write the bare host name, without `https://`", "请只写主机名，不要带 `https://`";
    DomainPath => "write the bare host name, without a path", "请只写主机名，不要带路径";
    DomainPort => "write the host name without a port; matrixbox serves on 443", "请写不带端口的主机名；matrixbox 在 443 端口提供服务";
    DomainLength => "a domain name has 1 to 253 characters", "域名长度为 1 到 253 个字符";
    DomainLabels => "use letters, digits and hyphens in dot-separated labels, e.g. `matrix.example.com`", "请使用以点分隔、由字母、数字和连字符组成的标签，例如 `matrix.example.com`";
    BadDigest => "`{0}` has a malformed digest `{1}`", "`{0}` 的摘要 `{1}` 格式错误";
    BadDigestFix => "write `name:tag@sha256:` followed by the 64 lowercase hex digits `docker image inspect --format '{{.RepoDigests}}'` shows",
        "请写 `名称:标签@sha256:`，后接 `docker image inspect --format '{{.RepoDigests}}'` 显示的 64 位小写十六进制数字";
    NoTag => "`{0}` has no version tag", "`{0}` 没有版本标签";
    NoTagFix => "pin an exact version, e.g. `matrixdotorg/synapse:v1.163.2`", "请固定一个确切版本，例如 `matrixdotorg/synapse:v1.163.2`";
    NotPinned => "`{0}` is not pinned", "`{0}` 没有固定版本";
    NotPinnedFix => "`latest` changes under you; pin an exact version", "`latest` 会在你不知情时变化；请固定一个确切版本";
    NotImage => "`{0}` is not an image reference", "`{0}` 不是镜像引用";
    NotMapping => "the file must be a mapping of keys to values", "文件必须是键值映射";
    KeyNotString => "keys must be strings, found {0}", "键必须是字符串，实际为 {0}";
    UnknownKey => "unknown key", "未知的键";
    DidYouMean => "did you mean `{0}`?", "你是想写 `{0}` 吗？";
    KnownKeys => "known keys here: {0}", "此处可用的键：{0}";
    NotInterval => "`{0}` is not an interval of at least 10 seconds", "`{0}` 不是至少 10 秒的时间间隔";
    NotIntervalFix => "e.g. `1d` (daily, the default), `12h`, or `off`", "例如 `1d`（每天，默认值）、`12h` 或 `off`";
    KeepZero => "0 would remove every backup as soon as it is made", "0 会让每份备份一做好就被删除";
    KeepZeroFix => "keep at least 1 (the default is {0}); to stop scheduled backups, set `every: off`", "请至少保留 1 份（默认 {0} 份）；若要停止定时备份，请设置 `every: off`";
    BackupDirFix => "e.g. `/srv/backups/matrixbox` (the default is the state dir's `backups`)", "例如 `/srv/backups/matrixbox`（默认是状态目录下的 `backups`）";
    // upgrade:
    NotKeepFor => "`{0}` is not a time to keep the old PostgreSQL data directory", "`{0}` 不是保留旧 PostgreSQL 数据目录的时长";
    NotKeepForFix => "e.g. `14d` (the default), `4w`, or `forever` (then only `matrixbox upgrade --cleanup` removes it)", "例如 `14d`（默认值）、`4w` 或 `forever`（此时只有 `matrixbox upgrade --cleanup` 会删除它）";

    // email:
    SmtpHostFix => "name the SMTP server that sends this server's mail, e.g. `smtp.example.com`", "请填写为本服务器发送邮件的 SMTP 服务器，例如 `smtp.example.com`";
    NotHost => "`{0}` is not a host name or IP address", "`{0}` 不是主机名或 IP 地址";
    SmtpHostPort => "write the host name without a port; set `email.smtp_port`", "请写不带端口的主机名；端口请设置 `email.smtp_port`";
    PortZero => "0 is not a port", "0 不是有效端口";
    SmtpPortFix => "587 for STARTTLS, 465 for `tls: implicit`", "STARTTLS 用 587，`tls: implicit` 用 465";
    PasswordFileMissing => "missing: `email.user` is set", "缺失：已设置 `email.user`";
    PasswordFileFix => "write the SMTP password alone into a file readable only by root (`chmod 600`), e.g. `/etc/matrixbox/smtp-password`, and name it here", "请把 SMTP 密码单独写入一个只有 root 可读的文件（`chmod 600`），例如 `/etc/matrixbox/smtp-password`，并在此填写其路径";
    UserMissing => "missing: `email.password_file` is set", "缺失：已设置 `email.password_file`";
    UserFix => "write the SMTP login name, or remove `password_file` for a server that needs no login", "请填写 SMTP 登录名；若服务器无需登录，请删除 `password_file`";
    UserBad => "is empty or has control characters", "为空或包含控制字符";
    PasswordPathFix => "e.g. `/etc/matrixbox/smtp-password`", "例如 `/etc/matrixbox/smtp-password`";
    FromFix => "the sender of this server's mail, e.g. `Matrix <matrix@example.com>`", "本服务器邮件的发件人，例如 `Matrix <matrix@example.com>`";
    NotSender => "`{0}` is not a sender address", "`{0}` 不是发件人地址";
    NotSenderFix => "write `name@example.com` or `Name <name@example.com>`", "请写 `name@example.com` 或 `Name <name@example.com>`";
    // web_client:
    WebNameTaken => "`{0}` is also the homeserver's name", "`{0}` 也是主服务器的名称";
    WebNameTakenFix => "Element Web needs a name of its own (its own origin), e.g. `chat.example.com`, with a DNS record pointing to this host", "Element Web 需要一个独立的名称（独立的源），例如 `chat.example.com`，并有指向本机的 DNS 记录";
    WebUpstream => "needs the containers matrixbox manages (its files come from an image), not `upstream:`", "需要由 matrixbox 管理的容器（文件来自镜像），不能与 `upstream:` 同用";
    WebUpstreamFix => "remove `web_client:`, or serve Element Web beside the Synapse you point to", "请删除 `web_client:`，或在你所指向的 Synapse 旁自行部署 Element Web";
    // turn: and calls:
    NotRange => "`{0}` is not a range", "`{0}` 不是端口范围";
    RangeLow => "`{0}` starts below 1024, among the system's ports", "`{0}` 起始端口低于 1024，属于系统端口";
    RangeReversed => "`{0}` ends before it starts", "`{0}` 的结束端口小于起始端口";
    RangeLarge => "`{0}` has too many ports", "`{0}` 包含的端口太多";
    RangeFix => "write `first-last` with 1024 <= first <= last, at most {0} ports, e.g. `{1}-{2}`", "请写 `起始-结束`，且 1024 <= 起始 <= 结束，最多 {0} 个端口，例如 `{1}-{2}`";
    PortInRange => "port {0} is inside turn.relay_ports {1}-{2}", "端口 {0} 位于 turn.relay_ports {1}-{2} 之内";
    PortInRangeFix => "choose a listening port outside the relay range", "请选择中继端口范围之外的监听端口";
    SamePort => "port {0} is turn.port too", "端口 {0} 同时也是 turn.port";
    SamePortFix => "TURN over TLS needs its own port, e.g. {0}", "TLS 上的 TURN 需要独立的端口，例如 {0}";
    NotDuration => "`{0}` is not a duration", "`{0}` 不是时长";
    NotDurationFix => "a number with a unit: `s`, `m`, `h` or `d`, e.g. `1h`", "数字加单位：`s`、`m`、`h` 或 `d`，例如 `1h`";
    LiveKitFix => "group calls need both LiveKit URLs, e.g. `{0}`; remove `calls:` to turn them off", "群组通话需要两个 LiveKit URL，例如 `{0}`；删除 `calls:` 即可关闭";
    NotSchemeUrl => "`{0}` is not a {1}:// URL", "`{0}` 不是 {1}:// URL";
    ForExample => "e.g. `{0}`", "例如 `{0}`";
    PortNotPort => "port 0 is not a port", "端口 0 不是有效端口";
    PortLow => "port {0} is below 1024", "端口 {0} 低于 1024";
    PortLowFix => "the TURN relay runs unprivileged; use 1024 or above, e.g. {0} and {1}", "TURN 中继以非特权用户运行；请使用 1024 及以上的端口，例如 {0} 和 {1}";

    // `workers:`.
    UnknownWorker => "`{0}` is not a kind of worker matrixbox runs", "`{0}` 是未知的 worker 类型，matrixbox 不运行它";
    UnknownWorkerFix => "use `off`, `auto`, or a list of: {0}", "请使用 `off`、`auto`，或以下类型的列表：{0}";
    WorkerTwice => "`{0}` is listed twice", "`{0}` 被列出了两次";
    WorkerTwiceFix => "one worker of each kind runs; list each kind once", "每种类型只运行一个 worker；每种类型请只列一次";
    NotWorkers => "`{0}` is not `off`, `auto` or a list of workers", "`{0}` 不是 `off`、`auto` 或 worker 列表";
    WorkersWithUpstream => "workers cannot run with `upstream:` (an existing Synapse, whose processes matrixbox does not manage)", "设置了 `upstream:`（matrixbox 不管理的现有 Synapse）时不能运行 workers";
    WorkersWithUpstreamFix => "remove `workers:`, or remove `upstream:` so that matrixbox runs Synapse", "请删除 `workers:`，或删除 `upstream:` 让 matrixbox 运行 Synapse";

    // backup.offsite:
    EndpointFix => "the S3 endpoint's base URL, e.g. `https://s3.eu-central-1.amazonaws.com` or `https://minio.example.com:9000`",
        "S3 端点的基础 URL，例如 `https://s3.eu-central-1.amazonaws.com` 或 `https://minio.example.com:9000`";
    NotEndpoint => "`{0}` is not an https:// URL without a path", "`{0}` 不是不带路径的 https:// URL";
    EndpointPlain => "`{0}` is plain http:// to another host: anyone on the way could read the backups", "`{0}` 是指向其他主机的明文 http://：途中任何人都能读取备份";
    BucketFix => "the bucket's name, e.g. `matrix-backups` (create it first; matrixbox does not)", "存储桶名称，例如 `matrix-backups`（请先创建它；matrixbox 不会创建）";
    NotBucket => "`{0}` is not a bucket name", "`{0}` 不是存储桶名称";
    NotPrefix => "`{0}` is not a key prefix", "`{0}` 不是键前缀";
    PrefixFix => "e.g. `matrixbox/` (no leading `/`); the archives' keys are the prefix followed by their names", "例如 `matrixbox/`（不以 `/` 开头）；归档的键是前缀加上归档文件名";
    KeyFileFix => "write the key alone into a file only root may read (`chmod 600`), e.g. `/etc/matrixbox/s3-secret-key`, and name it here",
        "请把密钥单独写入一个只有 root 可读的文件（`chmod 600`），例如 `/etc/matrixbox/s3-secret-key`，并在此填写其路径";
    NotRecipient => "`{0}` is not an age public key", "`{0}` 不是 age 公钥";
    RecipientFix => "the `age1...` line `age-keygen` prints as its public key; keep the identity file it writes off this host",
        "即 `age-keygen` 输出的公钥（`age1...`）；它生成的私钥文件请保存在本机之外";
    OffsiteKeepFix => "keep at least 1 in the bucket (the default is `backup.keep`)", "存储桶中至少保留 1 份（默认与 `backup.keep` 相同）";
}
