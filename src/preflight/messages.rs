//! Every preflight message in English and Simplified Chinese, in one catalog (see `crate::i18n`).

use crate::i18n::messages;

messages! {
    // Report framing.
    Pass => "pass", "通过";
    Warn => "warn", "警告";
    Fail => "fail", "失败";
    Fix => "fix: ", "解决：";
    HeaderFor => "matrixbox preflight for {0}", "matrixbox 安装前检查：{0}";
    Header => "matrixbox preflight", "matrixbox 安装前检查";
    Summary => "{0} passed, {1} warnings, {2} failed", "通过 {0} 项，警告 {1} 项，失败 {2} 项";
    Ready => "ready: nothing blocks matrixbox on this host", "就绪：本机没有阻止 matrixbox 运行的问题";
    NotReady => "not ready: {0} must be fixed first", "未就绪：需先解决 {0}";
    Blocked => "this host is not ready for matrixbox ({0}); nothing was changed", "本机尚未满足 matrixbox 的要求（{0}）；未做任何更改";
    BlockedHint => "fix what is marked `fail` above and run again; `matrixbox preflight` checks again without changing anything (`--skip-preflight` skips the checks)",
        "请解决上面标为“失败”的问题后重试；`matrixbox preflight` 只检查、不做更改（`--skip-preflight` 可跳过检查）";

    // Titles.
    TitleOs => "operating system", "操作系统";
    TitleArch => "architecture", "处理器架构";
    TitleCpuFeatures => "CPU features", "CPU 指令集";
    TitlePrivileges => "privileges", "权限";
    TitleDocker => "Docker engine", "Docker 引擎";
    TitleCpus => "CPUs", "CPU 核数";
    TitleMemory => "memory", "内存";
    TitleDisk => "disk space", "磁盘空间";
    TitlePort => "port {0} ({1})", "端口 {0}（{1}）";
    TitleDns => "DNS {0}", "DNS {0}";
    TitleClock => "clock", "时钟";
    TitleAcme => "ACME directory", "ACME 目录";
    TitleRegistry => "image registry", "镜像仓库";
    TitleInstallation => "existing installation", "已有安装";

    // Operating system, architecture, CPU.
    OsLinux => "Linux {0}", "Linux {0}";
    OsOther => "{0} is not supported: matrixbox runs on Linux", "不支持 {0}：matrixbox 只能在 Linux 上运行";
    OsOtherFix => "use a Linux host, e.g. Debian 12", "请使用 Linux 主机，例如 Debian 12";
    ArchOk => "{0}", "{0}";
    ArchOther => "{0} is not supported: matrixbox needs x86_64 or aarch64", "不支持 {0}：matrixbox 需要 x86_64 或 aarch64";
    ArchOtherFix => "use an x86_64 or aarch64 (arm64) host: the container images exist only for these",
        "请使用 x86_64 或 aarch64（arm64）主机：容器镜像只提供这两种架构";
    Ssse3Ok => "the CPU has SSSE3", "CPU 支持 SSSE3";
    Ssse3Missing => "the CPU lacks SSSE3 (not among the flags in /proc/cpuinfo)", "CPU 不支持 SSSE3（/proc/cpuinfo 的 flags 中没有）";
    Ssse3MissingFix => "use a CPU with SSSE3; on a virtual machine, set the CPU model to `host` or to one from 2006 (Core 2) or later",
        "请换用支持 SSSE3 的 CPU；虚拟机请把 CPU 型号设为 `host` 或 2006 年（Core 2）以后的型号";
    Ssse3Unknown => "cannot read /proc/cpuinfo: {0}", "无法读取 /proc/cpuinfo：{0}";
    Ssse3UnknownFix => "check by hand: `grep -m1 -o ssse3 /proc/cpuinfo`", "请手动检查：`grep -m1 -o ssse3 /proc/cpuinfo`";
    Ssse3NotNeeded => "not needed on {0}", "{0} 无需此项";
    CpusOk => "{0} available", "可用 {0} 个";
    CpusNone => "no CPU is available to this process", "本进程没有可用的 CPU";
    CpusNoneFix => "check the CPU affinity or cgroup limit this command runs under", "请检查本命令运行时的 CPU 亲和性或 cgroup 限制";
    CpusUnknown => "cannot count the CPUs: {0}", "无法统计 CPU 数量：{0}";
    CpusUnknownFix => "check by hand: `nproc`", "请手动检查：`nproc`";

    // Privileges.
    PrivOk => "uid {0}, may listen on port {1}", "uid {0}，可以监听端口 {1}";
    PrivNoLowPorts => "uid {0}; every listen port is {1} or higher and needs no privilege", "uid {0}；所有监听端口都不低于 {1}，无需特权";
    PrivNoCap => "uid {0} without CAP_NET_BIND_SERVICE cannot listen on port {1}", "uid {0} 没有 CAP_NET_BIND_SERVICE，无法监听端口 {1}";
    PrivNoCapFix => "run as root (the systemd unit does), or grant the capability: `setcap cap_net_bind_service=+ep {0}`",
        "请以 root 运行（systemd 服务即是如此），或授予该能力：`setcap cap_net_bind_service=+ep {0}`";
    PrivDockerDenied => "uid {0} may not use the Docker socket {1}", "uid {0} 无权使用 Docker 套接字 {1}";
    PrivDockerDeniedFix => "run as root, or add the user to the `docker` group: `usermod -aG docker {0}`, then log in again",
        "请以 root 运行，或把用户加入 `docker` 组：`usermod -aG docker {0}`，然后重新登录";
    PrivUnknown => "cannot read the capabilities in /proc/self/status", "无法从 /proc/self/status 读取能力集";
    PrivUnknownFix => "run as root, as the systemd unit does", "请以 root 运行（与 systemd 服务相同）";

    // Docker.
    DockerOk => "Docker {0} (API {1}) at {2}, storage driver {3}", "Docker {0}（API {1}），地址 {2}，存储驱动 {3}";
    DockerNotInstalled => "Docker is not installed (no dockerd found, nothing at {0})", "未安装 Docker（找不到 dockerd，{0} 不存在）";
    DockerNotInstalledFix => "install it: {0}, then `systemctl enable --now docker`", "请安装：{0}，然后执行 `systemctl enable --now docker`";
    DockerUnreachable => "cannot reach the Docker engine at {0}: {1}", "无法连接 Docker 引擎 {0}：{1}";
    DockerUnreachableFix => "start it: `systemctl enable --now docker`, or point DOCKER_HOST at a running engine (not installed yet? {0})",
        "请启动：`systemctl enable --now docker`，或把 DOCKER_HOST 指向正在运行的引擎（尚未安装？{0}）";
    DockerTooOld => "Docker {0} (API {1}) at {2} is too old: matrixbox needs {3} (API {4}) or newer",
        "{2} 上的 Docker {0}（API {1}）版本过旧：matrixbox 需要 {3}（API {4}）或更新版本";
    DockerTooOldFix => "upgrade Docker to {0} or newer: {1} (Debian 12's docker.io is 20.10.24)", "请把 Docker 升级到 {0} 或更新版本：{1}（Debian 12 的 docker.io 为 20.10.24）";
    DockerSlowDriver => "Docker {0} (API {1}) at {2} uses storage driver {3}, which is slow and copies every image layer in full",
        "{2} 上的 Docker {0}（API {1}）使用存储驱动 {3}，速度慢且每层镜像都完整复制";
    DockerSlowDriverFix => "switch the engine to overlay2 (`\"storage-driver\": \"overlay2\"` in /etc/docker/daemon.json; images are pulled again)",
        "请把引擎改为 overlay2（在 /etc/docker/daemon.json 中写 `\"storage-driver\": \"overlay2\"`；镜像需重新拉取）";
    Unknown => "unknown", "未知";
    NoContainers => "not needed: matrixbox runs no containers and fronts the Synapse at {0} (`upstream:`)",
        "无需：matrixbox 不运行容器，只为 {0} 上的 Synapse 做前端（`upstream:`）";
    DockerInstallGeneric => "Docker Engine {0} or newer from your distribution's packages", "从发行版软件源安装 Docker Engine {0} 或更新版本";

    // Memory and disk.
    MemOk => "{0}", "{0}";
    MemLow => "{0}: the low-memory profile applies (PostgreSQL shared_buffers {1}, max_connections {2}; Synapse cache factor {3})",
        "{0}：将采用低内存配置（PostgreSQL shared_buffers {1}、max_connections {2}；Synapse 缓存系数 {3}）";
    MemLowFix => "it runs; with {0} or more, PostgreSQL and Synapse get larger caches (a swap file also helps a small host)",
        "可以运行；内存达到 {0} 或以上时，PostgreSQL 与 Synapse 可使用更大的缓存（小内存主机加一个交换文件也有帮助）";
    MemConfigured => "{0}, but `memory_mb: {1}` in matrixbox.yaml sizes PostgreSQL and Synapse for more", "{0}，但 matrixbox.yaml 中的 `memory_mb: {1}` 按更大的内存配置 PostgreSQL 与 Synapse";
    MemConfiguredFix => "remove `memory_mb:` (or set it to `auto`) so the low-memory profile applies", "请删除 `memory_mb:`（或设为 `auto`），以采用低内存配置";
    MemTooLow => "{0} is too little: PostgreSQL and Synapse need about 1 GiB", "{0} 不足：PostgreSQL 与 Synapse 需要约 1 GiB";
    MemTooLowFix => "use a host with at least 1 GiB of memory (2 GiB recommended)", "请使用至少 1 GiB 内存的主机（建议 2 GiB）";
    MemUnknown => "cannot read MemTotal from /proc/meminfo", "无法从 /proc/meminfo 读取 MemTotal";
    MemUnknownFix => "check by hand: `free -h`", "请手动检查：`free -h`";
    DiskState => "state {0}", "数据目录 {0}";
    DiskDockerRoot => "Docker data root {0}", "Docker 数据目录 {0}";
    DiskFree => "{0}: {1} free", "{0}：剩余 {1}";
    DiskSameFs => "{0}: same filesystem", "{0}：同一文件系统";
    DiskUnknown => "{0}: cannot check ({1})", "{0}：无法检查（{1}）";
    DiskLowFix => "free space on {0} (images, database and media need at least {1}); `docker system prune` removes unused images",
        "请在 {0} 上腾出空间（镜像、数据库和媒体文件至少需要 {1}）；`docker system prune` 可删除不用的镜像";
    DiskUnknownFix => "check by hand: `df -h {0}`", "请手动检查：`df -h {0}`";

    // Ports.
    PortFree => "free", "空闲";
    PortSelf => "held by this matrixbox process", "由本 matrixbox 进程占用";
    PortService => "used by the running matrixbox service (pid {0})", "正由运行中的 matrixbox 服务（pid {0}）使用";
    PortBusy => "port {0} is used by {1} (pid {2})", "端口 {0} 被 {1}（pid {2}）占用";
    PortBusyFix => "stop it (`systemctl disable --now {0}` if it is a service), or set `listen.{1}:` in matrixbox.yaml to another address",
        "请停止它（如果是系统服务：`systemctl disable --now {0}`），或在 matrixbox.yaml 中把 `listen.{1}:` 改为其他地址";
    PortContainerFix => "a container publishes it: find it with `docker ps --filter publish={0}` and stop it, or set `listen.{1}:` in matrixbox.yaml to another address",
        "有容器发布了该端口：用 `docker ps --filter publish={0}` 找到并停止它，或在 matrixbox.yaml 中把 `listen.{1}:` 改为其他地址";
    PortOtherMatrixboxFix => "another `matrixbox run` is already running: stop it first (`systemctl stop matrixbox`)",
        "已有另一个 `matrixbox run` 在运行：请先停止它（`systemctl stop matrixbox`）";
    PortHidden => "port {0} is in use by a process matrixbox cannot see", "端口 {0} 已被占用，但无法看到占用它的进程";
    PortHiddenFix => "find it with `ss -ltnp 'sport = :{0}'` as root and stop it, or set `listen.{1}:` in matrixbox.yaml to another address",
        "请以 root 运行 `ss -ltnp 'sport = :{0}'` 找到并停止它，或在 matrixbox.yaml 中把 `listen.{1}:` 改为其他地址";
    PortsUnknown => "cannot read the socket tables in /proc/net: {0}", "无法读取 /proc/net 中的套接字表：{0}";
    PortsUnknownFix => "check by hand: `ss -ltnp 'sport = :{0}'`", "请手动检查：`ss -ltnp 'sport = :{0}'`";

    // TURN ports (`turn.enabled`).
    TitleTurnPort => "TURN port {0}/{1} ({2})", "TURN 端口 {0}/{1}（{2}）";
    TurnPortFree => "free; open it in the firewall, and the relay ports {0}-{1}/udp", "空闲；请在防火墙中放行它，以及中继端口 {0}-{1}/udp";
    TurnPortCoturn => "used by a TURN server (turnserver, pid {0}): matrixbox's coturn while the service runs",
        "正由 TURN 服务器（turnserver，pid {0}）使用：服务运行时即 matrixbox 的 coturn";
    TurnPortBusyFix => "stop it, or set `{0}:` in matrixbox.yaml to another port", "请停止它，或在 matrixbox.yaml 中把 `{0}:` 改为其他端口";
    TurnPortHiddenFix => "find it with `ss -anp 'sport = :{0}'` as root and stop it, or set `{1}:` in matrixbox.yaml to another port",
        "请以 root 运行 `ss -anp 'sport = :{0}'` 找到并停止它，或在 matrixbox.yaml 中把 `{1}:` 改为其他端口";

    // DNS.
    DnsNoName => "no domain to check yet", "尚无可检查的域名";
    DnsNoNameFix => "run `matrixbox preflight --domain matrix.example.com`, or run it again after `matrixbox setup`",
        "请运行 `matrixbox preflight --domain matrix.example.com`，或在 `matrixbox setup` 之后再次运行";
    DnsOk => "{0} (this host)", "{0}（本机）";
    DnsLoopback => "{0}: a loopback address, so only this host can reach it", "{0}：这是回环地址，只有本机能访问";
    DnsLoopbackFix => "point the name at this host's public address: {0}", "请把域名指向本机的公网地址：{0}";
    DnsElsewhere => "{0}, which is not this host (this host: {1})", "{0}，不是本机（本机地址：{1}）";
    DnsElsewhereFix => "point the name at this host: {0}", "请把域名指向本机：{0}";
    DnsNatHint => "; behind NAT, set `public_address:` in matrixbox.yaml to the address the name points at",
        "；如果本机在 NAT 之后，请在 matrixbox.yaml 中把 `public_address:` 设为域名所指向的地址";
    DnsMissing => "{0} has no A or AAAA record", "{0} 没有 A 或 AAAA 记录";
    DnsMissingFix => "create the record at your DNS provider: {0}", "请在 DNS 服务商处添加记录：{0}";
    DnsError => "cannot look up {0}: {1}", "无法解析 {0}：{1}";
    DnsErrorFix => "check the name servers in /etc/resolv.conf and this host's network", "请检查 /etc/resolv.conf 中的域名服务器和本机网络";
    DnsBadOverride => "MATRIXBOX_DNS_SERVER=`{0}` is not ip:port", "MATRIXBOX_DNS_SERVER=`{0}` 不是 ip:端口 格式";
    DnsBadOverrideFix => "set it to a DNS server's address, e.g. `127.0.0.1:8053`, or unset it to use /etc/resolv.conf",
        "请设为域名服务器地址，例如 `127.0.0.1:8053`，或删除它以使用 /etc/resolv.conf";
    DnsPrivateFix => "{0} is a local or test name: fine for trying matrixbox out, but clients must resolve it themselves (e.g. /etc/hosts) and other servers cannot federate with it",
        "{0} 是本地或测试域名：可用于试用 matrixbox，但客户端需要自行解析（如 /etc/hosts），其他服务器也无法与之联邦";
    AThisHostPublicV4 => "<this host's public IPv4 address>", "<本机公网 IPv4 地址>";
    And => " and ", " 和 ";

    // Clock.
    ClockOk => "in step with {0}", "与 {0} 一致";
    ClockAhead => "this host's clock is {0} ahead of {1}", "本机时钟比 {1} 快 {0}";
    ClockBehind => "this host's clock is {0} behind {1}", "本机时钟比 {1} 慢 {0}";
    ClockFailNote => "; certificate issuance fails with a clock this far off", "；时钟偏差这么大会导致证书签发失败";
    ClockFix => "turn on time synchronisation: `timedatectl set-ntp true` (or install chrony)", "请开启时间同步：`timedatectl set-ntp true`（或安装 chrony）";
    ClockNoReference => "no other clock to compare with (the Docker engine and the ACME directory are unreachable)",
        "没有可对比的时钟（Docker 引擎和 ACME 目录都无法访问）";
    ClockNoReferenceFix => "make sure time synchronisation is on: `timedatectl`", "请确认已开启时间同步：`timedatectl`";
    TheDockerEngine => "the Docker engine", "Docker 引擎";

    // Outbound.
    Reachable => "{0} answers (HTTP {1})", "{0} 可访问（HTTP {1}）";
    Unreachable => "cannot reach {0}: {1}", "无法访问 {0}：{1}";
    AcmeInternal => "not needed: certificates come from matrixbox's internal CA", "无需访问：证书由 matrixbox 内部 CA 签发";
    AcmeOwnFiles => "not needed: the certificate comes from the files under `tls:`", "无需访问：证书来自 `tls:` 中配置的文件";
    AcmeUnreachableFix => "certificates cannot be issued until this host reaches {0} over HTTPS: check the firewall and any proxy",
        "在本机能通过 HTTPS 访问 {0} 之前无法签发证书：请检查防火墙和代理";
    ImagesPresent => "the images are already on this host: {0}", "镜像已在本机：{0}";
    RegistryHubFix => "set `registry_mirror:` in matrixbox.yaml to mirrors this host can reach (a list, tried in order), or bring the images offline: `matrixbox images export images.tar` on a connected host, copy the file here, then `matrixbox images import images.tar` (needed: {0})",
        "请在 matrixbox.yaml 中把 `registry_mirror:` 设为本机能访问的镜像加速地址（可写成列表，按顺序尝试），或离线导入镜像：在能联网的主机上执行 `matrixbox images export images.tar`，把文件复制到本机后执行 `matrixbox images import images.tar`（所需镜像：{0}）";
    RegistryOtherFix => "make one of {1} reachable from this host, or bring the images offline: `matrixbox images export images.tar` on a connected host, copy the file here, then `matrixbox images import images.tar` (needed: {0})",
        "请确保本机能访问 {1} 中的至少一个，或离线导入镜像：在能联网的主机上执行 `matrixbox images export images.tar`，把文件复制到本机后执行 `matrixbox images import images.tar`（所需镜像：{0}）";

    // Existing installation.
    InstallNone => "none in {0}: this is a fresh installation", "{0} 中没有：这是全新安装";
    InstallFound => "config {0} ({1}) and secrets in {2}: kept as they are", "配置 {0}（{1}）和 {2} 中的密钥：保持不变";
    InstallSecretsOnly => "secrets of an earlier installation in {0} will be reused; no config at {1} yet", "将沿用 {0} 中以前安装的密钥；{1} 尚无配置";
    InstallConfigOnly => "config {0} ({1}); secrets will be generated in {2}", "配置 {0}（{1}）；密钥将生成在 {2}";
    InstallBadConfig => "config {0} does not load: {1}", "配置 {0} 无法加载：{1}";
    InstallBadConfigFix => "`matrixbox status` lists every problem in it; fix them, or replace the file with `matrixbox setup --force --domain ...` (secrets are kept)",
        "`matrixbox status` 会列出其中所有问题；请逐一修正，或用 `matrixbox setup --force --domain ...` 重写该文件（密钥会保留）";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn every_message_has_both_languages_with_the_same_placeholders() {
        crate::i18n::assert_complete(M::ALL);
    }

    #[test]
    fn arguments_fill_placeholders() {
        assert_eq!(
            Lang::En.t(M::PortBusy, &[&443, &"nginx", &812]),
            "port 443 is used by nginx (pid 812)"
        );
        assert_eq!(
            Lang::ZhCn.t(M::PortBusy, &[&443, &"nginx", &812]),
            "端口 443 被 nginx（pid 812）占用"
        );
    }
}
