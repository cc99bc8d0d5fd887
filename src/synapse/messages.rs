//! The errors of Synapse's API, its SMTP password file and its federation CA roots, with their
//! hints, in English and Simplified Chinese (see `crate::i18n`).

use crate::i18n::messages;

messages! {
    Unreachable => "cannot reach Synapse at {0}", "无法连接 {0} 上的 Synapse";
    Timeout => "Synapse at {0} did not answer within {1}s", "{0} 上的 Synapse 在 {1} 秒内没有响应";
    Refused => "Synapse refused the registration of `{0}`: {1}: {2}", "Synapse 拒绝注册 `{0}`：{1}：{2}";
    NotFound => "{0} does not exist on this server", "此服务器上不存在{0}";
    Rejected => "Synapse refused {0}: {1}: {2}", "Synapse 拒绝了{0}：{1}：{2}";
    Locked => "matrixbox's service account `{0}` exists, but its password file does not match", "matrixbox 的服务账号 `{0}` 已存在，但其密码文件不匹配";
    Unexpected => "Synapse answered {0} to {1}: {2}", "Synapse 对 {1} 的响应为 {0}：{2}";
    InUseHint => "choose another name; existing users are not changed", "请选择其他名称；现有用户不会被更改";
    InvalidNameHint => "user names may contain a-z, 0-9 and . _ = - /", "用户名只能包含 a-z、0-9 以及 . _ = - /";
    NotFoundHint => "check the spelling; `matrixbox user list` and `matrixbox invite list` show what exists",
        "请检查拼写；`matrixbox user list` 和 `matrixbox invite list` 会列出现有内容";
    RejectedHint => "nothing was changed; the message above is Synapse's own", "没有任何更改；上面的消息来自 Synapse 本身";
    LockedHint => "its password file in the secrets directory was replaced; set it back from a backup, or delete the account's access token file and reset the password with Synapse's admin tools",
        "密钥目录中它的密码文件已被替换；请从备份中恢复，或删除该账号的访问令牌文件并用 Synapse 的管理工具重置密码";
    LogsHint => "see Synapse's log for details (`docker logs <instance>-synapse`)", "详情请查看 Synapse 的日志（`docker logs <instance>-synapse`）";
    RunningHint => "is the homeserver running? start it with `matrixbox run` (or `systemctl start matrixbox`)",
        "主服务器是否在运行？请用 `matrixbox run`（或 `systemctl start matrixbox`）启动它";
    TheInvite => "the invite", "该邀请";
    TheInvites => "the invites", "邀请列表";
    TheUsers => "the users", "用户列表";
    User => "user {0}", "用户 {0}";
    Invite => "invite `{0}`", "邀请 `{0}`";
    NewPassword => "the new password of {0}", "{0} 的新密码";
    Deactivating => "deactivating {0}", "停用 {0}";
    AdminFlag => "changing the admin flag of {0}", "更改 {0} 的管理员标志";
    PasswordFile => "cannot use {0} (email.password_file) as the SMTP password: {1}", "无法将 {0}（email.password_file）用作 SMTP 密码：{1}";
    NotAFile => "it is not a regular file", "它不是普通文件";
    Readable => "others can read it (mode {0})", "其他用户可以读取它（权限 {0}）";
    Empty => "it is empty", "它是空的";
    NotOneLine => "it is not one line of text", "它不是单行文本";
    ChmodHint => "`chmod 600 {0}`: the SMTP password is a secret only root may read", "`chmod 600 {0}`：SMTP 密码是只有 root 可读的机密";
    PasswordHint => "write the SMTP password alone, on one line, into {0} (`chmod 600`), or change `email.password_file` in matrixbox.yaml",
        "请将 SMTP 密码单独写成一行存入 {0}（`chmod 600`），或修改 matrixbox.yaml 中的 `email.password_file`";
    CaRoot => "cannot use {0} (federation.ca_roots) as a CA root: {1}", "无法将 {0}（federation.ca_roots）用作 CA 根证书：{1}";
    CaRootHint => "list PEM files with `-----BEGIN CERTIFICATE-----` blocks under `federation.ca_roots:` in matrixbox.yaml (e.g. your private CA's root), or remove the entry",
        "请在 matrixbox.yaml 的 `federation.ca_roots:` 下列出含 `-----BEGIN CERTIFICATE-----` 块的 PEM 文件（例如你的私有 CA 根证书），或删除该条目";
    InvalidPem => "invalid PEM: {0}", "PEM 无效：{0}";
    NoCertificate => "no certificate in the file", "文件中没有证书";
    InvalidCertificate => "invalid certificate: {0}", "证书无效：{0}";
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_message_has_both_languages_with_the_same_placeholders() {
        crate::i18n::assert_complete(super::M::ALL);
    }
}
