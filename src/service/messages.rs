//! The daemon's errors and their hints, in English and Simplified Chinese (see `crate::i18n`).

use crate::i18n::messages;

messages! {
    Bind => "cannot listen on {0} ({1})", "无法监听 {0}（{1}）";
    PortTakenHint => "another program listens on port {0}: stop it (`ss -ltnp 'sport = :{0}'` shows which), or change `listen.{1}` in matrixbox.yaml",
        "另一个程序正在监听端口 {0}：请停止它（`ss -ltnp 'sport = :{0}'` 可显示是哪个程序），或修改 matrixbox.yaml 中的 `listen.{1}`";
    BindHint => "ports below 1024 need root or CAP_NET_BIND_SERVICE, and the address must be this host's; run as root or change `listen.{0}` in matrixbox.yaml",
        "1024 以下的端口需要 root 或 CAP_NET_BIND_SERVICE 权限，且地址必须属于本机；请以 root 身份运行，或修改 matrixbox.yaml 中的 `listen.{0}`";
    TaskEnded => "{0} {1} while the daemon was running", "守护进程运行期间，{0}{1}";
    TaskEndedHint => "see the log above for why: a listener's socket closed under the process, or a bug in matrixbox (please report it with the log). The daemon exits so that systemd starts it afresh (Restart=on-failure); Synapse and PostgreSQL keep running meanwhile, and `matrixbox run` takes them over",
        "原因请见上面的日志：某个监听套接字在进程运行中被关闭，或 matrixbox 存在缺陷（请附上日志报告）。守护进程将退出，由 systemd 重新启动它（Restart=on-failure）；其间 Synapse 和 PostgreSQL 继续运行，`matrixbox run` 会接管它们";
    EndedOnItsOwn => "ended on its own", "自行结束了";
    Cancelled => "was cancelled", "被取消了";
    Panicked => "panicked ({0})", "发生了 panic（{0}）";
    EdgeStart => "cannot start the edge process ({0})", "无法启动边缘进程（{0}）";
    EdgeStartHint => "the edge runs as uid {0} with no capabilities: the matrixbox binary and every directory above it must be readable and executable by that uid, and `matrixbox run` must run as root (systemd's unit needs CAP_SETUID and CAP_SETGID in its CapabilityBoundingSet)",
        "边缘进程以 uid {0} 运行且不带任何 capability：matrixbox 程序文件及其上层各目录必须允许该 uid 读取和执行，且 `matrixbox run` 必须以 root 身份运行（systemd 单元的 CapabilityBoundingSet 需包含 CAP_SETUID 和 CAP_SETGID）";
    EdgeUidTaken => "uid {0}, which the edge process runs as, belongs to the account `{1}` in /etc/passwd", "边缘进程使用的 uid {0} 在 /etc/passwd 中属于账户 `{1}`";
    EdgeUidTakenHint => "that account could signal or trace the edge: give it another uid, or name the entry `{0}` if it was made for matrixbox",
        "该账户可以向边缘进程发送信号或跟踪它：请给它另一个 uid；如果该条目本就是为 matrixbox 创建的，请将其命名为 `{0}`";
    EdgeOrders => "the edge process cannot use what it was handed: {0}", "边缘进程无法使用交给它的内容：{0}";
    EdgeOrdersHint => "`matrixbox edge` is started by `matrixbox run` with its listeners and a socket for orders, never by hand",
        "`matrixbox edge` 由 `matrixbox run` 连同监听套接字和指令套接字一起启动，不能手动运行";
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_message_has_both_languages_with_the_same_placeholders() {
        crate::i18n::assert_complete(super::M::ALL);
    }
}
