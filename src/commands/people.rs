//! What `invite` and `user` print, in English and Simplified Chinese: pure functions of what
//! Synapse answered, `now` and the language, so both languages are snapshot-tested.

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

use crate::i18n::{self, Lang};
use crate::people::{RegistrationToken, TokenState};
use crate::synapse::session::UserEntry;

crate::i18n::messages! {
    InviteCreated => "invite created: {0} sign-up(s), valid until {1}", "邀请已创建：可注册 {0} 个账号，有效期至 {1}";
    InviteSend => "send this link, or let them scan the code:", "发送此链接，或让对方扫描二维码：";
    InviteRevokeHow => "revoke it with `matrixbox invite revoke {0}`", "撤销：`matrixbox invite revoke {0}`";
    ColToken => "TOKEN", "令牌";
    ColUses => "USED", "已用";
    ColExpires => "EXPIRES", "到期";
    ColState => "STATE", "状态";
    StateValid => "valid", "有效";
    StateExpired => "expired", "已过期";
    StateUsedUp => "used up", "已用完";
    Never => "never", "永不";
    NoInvites => "no invites; make one with `matrixbox invite create`", "没有邀请；用 `matrixbox invite create` 创建";
    Revoked => "invite {0} revoked; accounts made with it stay", "邀请 {0} 已撤销；用它创建的账号不受影响";
    ColUser => "USER", "用户";
    ColAdmin => "ADMIN", "管理员";
    ColCreated => "CREATED", "创建于";
    Yes => "yes", "是";
    No => "no", "否";
    Active => "active", "正常";
    Deactivated => "deactivated", "已停用";
    NoUsers => "no users yet; invite someone with `matrixbox invite create`", "还没有用户；用 `matrixbox invite create` 邀请";
    PasswordReset => "new password set for {0}; their sessions were signed out", "已为 {0} 设置新密码；其所有会话已登出";
    DeactivatedUser => "{0} deactivated: it can no longer sign in", "{0} 已停用：无法再登录";
    DeactivatedErased => "{0} deactivated; profile erased and messages hidden from new members", "{0} 已停用；资料已清除，新成员看不到其消息";
    AdminOn => "{0} is now a server admin", "{0} 现在是服务器管理员";
    AdminOff => "{0} is no longer a server admin", "{0} 不再是服务器管理员";
    ExpiryNoUnit => "--expires {0}: no unit", "--expires {0}：缺少单位";
    ExpiryNotANumber => "--expires {0}: not a whole number", "--expires {0}：不是整数";
    ExpiryZero => "--expires {0}: the invite would expire at once", "--expires {0}：邀请会立即过期";
    ExpiryTooLong => "--expires {0}: longer than a year", "--expires {0}：超过一年";
    BadExpiryHint => "write a number and a unit: 30m, 12h, 7d or 2w (at most 365d)", "写数字加单位：30m、12h、7d 或 2w（最长 365d）";
    NameOtherServer => "{0} is not a user of {1}", "{0} 不是 {1} 的用户";
    NameInvalid => "`{0}` is not a user name: use a-z, 0-9 and . _ = - / +", "`{0}` 不是有效的用户名：只能使用 a-z、0-9 以及 . _ = - / +";
    BadNameHint => "give the name as in `matrixbox user list` (alice or @alice:{0})", "请按 `matrixbox user list` 中的写法给出名字（alice 或 @alice:{0}）";
    ServiceAccount => "{0} is matrixbox's own service account; it is not changed here", "{0} 是 matrixbox 自己的服务账号，不能在这里修改";
    ServiceAccountHint => "it holds the admin API access for `invite` and `user`; leave it alone", "它为 `invite` 和 `user` 提供管理 API 访问，请勿改动";
    LogsHint => "see `docker logs {0}` for details", "详情请查看 `docker logs {0}`";
    Created => "created {0}; sign in at https://{1}/", "已创建 {0}；请在 https://{1}/ 登录";
    CreatedAdmin => "created {0} (admin); sign in at https://{1}/", "已创建 {0}（管理员）；请在 https://{1}/ 登录";
    PasswordPrompt => "password: ", "密码：";
    AgainPrompt => "again: ", "再次输入：";
    CannotReadPassword => "cannot read the password", "无法读取密码";
    CannotReadStdin => "cannot read the password from standard input", "无法从标准输入读取密码";
    PasswordsDiffer => "the passwords differ; nothing was created", "两次输入的密码不一致；未创建任何内容";
    PasswordsDifferHint => "type the same password twice", "请两次输入相同的密码";
    PasswordShort => "the password is shorter than 8 characters; nothing was created", "密码少于 8 个字符；未创建任何内容";
    PasswordShortHint => "choose a longer password (a passphrase of a few words is easy to type)", "请选择更长的密码（由几个词组成的短语便于输入）";
}

/// A time as the tables show it, in UTC.
pub fn when(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// Synapse's users list has given `creation_ts` in seconds, its user query in milliseconds:
/// anything before 1973 in milliseconds is read as seconds.
fn as_millis(ts: i64) -> i64 {
    if ts < 100_000_000_000 { ts * 1000 } else { ts }
}

/// The invite link with a terminal QR code (light modules drawn, for dark terminals).
pub fn invite_created(lang: Lang, token: &RegistrationToken, link: &str) -> String {
    let uses = token
        .uses_allowed
        .map_or_else(|| "∞".to_string(), |n| n.to_string());
    let until = token
        .expiry_time
        .map_or_else(|| lang.t(M::Never, &[]), when);
    let qr = QrCode::new(link.as_bytes())
        .map(|code| {
            code.render::<Dense1x2>()
                .dark_color(Dense1x2::Light)
                .light_color(Dense1x2::Dark)
                .build()
        })
        .unwrap_or_default();
    format!(
        "{}\n{}\n\n  {link}\n\n{qr}\n{}\n",
        lang.t(M::InviteCreated, &[&uses, &until]),
        lang.t(M::InviteSend, &[]),
        lang.t(M::InviteRevokeHow, &[&token.token]),
    )
}

pub fn invite_table(lang: Lang, tokens: &[RegistrationToken], now_ms: i64) -> String {
    if tokens.is_empty() {
        return format!("{}\n", lang.t(M::NoInvites, &[]));
    }
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            let used = t.completed + t.pending;
            let allowed = t.uses_allowed.map_or("∞".into(), |n| n.to_string());
            let state = match t.state(now_ms) {
                TokenState::Valid => M::StateValid,
                TokenState::Expired => M::StateExpired,
                TokenState::UsedUp => M::StateUsedUp,
            };
            vec![
                t.token.clone(),
                format!("{used}/{allowed}"),
                t.expiry_time.map_or_else(|| lang.t(M::Never, &[]), when),
                lang.t(state, &[]),
            ]
        })
        .collect();
    let header = [M::ColToken, M::ColUses, M::ColExpires, M::ColState].map(|m| lang.t(m, &[]));
    table(&header, &rows)
}

pub fn user_table(lang: Lang, users: &[UserEntry]) -> String {
    if users.is_empty() {
        return format!("{}\n", lang.t(M::NoUsers, &[]));
    }
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                u.name.clone(),
                lang.t(if u.admin { M::Yes } else { M::No }, &[]),
                lang.t(
                    if u.deactivated {
                        M::Deactivated
                    } else {
                        M::Active
                    },
                    &[],
                ),
                u.creation_ts
                    .map_or_else(String::new, |t| when(as_millis(t))),
            ]
        })
        .collect();
    let header = [M::ColUser, M::ColAdmin, M::ColState, M::ColCreated].map(|m| lang.t(m, &[]));
    table(&header, &rows)
}

/// Columns padded by display width (CJK headers take two columns a character).
fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| i18n::width(&r[i]))
                .chain([i18n::width(&header[i])])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| i18n::pad(c, *w))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header);
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golden::assert_golden;

    const NOW: i64 = 1_795_000_000_000;

    fn tokens() -> Vec<RegistrationToken> {
        let t = |token: &str, uses, pending, completed, expiry| RegistrationToken {
            token: token.into(),
            uses_allowed: uses,
            pending,
            completed,
            expiry_time: expiry,
        };
        vec![
            t(
                "Ab3dEf5hIj7lMn9p",
                Some(1),
                0,
                0,
                Some(NOW + 7 * 86_400_000),
            ),
            t("usedUpUsedUpUsed", Some(1), 0, 1, Some(NOW + 86_400_000)),
            t("expiredExpired00", Some(5), 0, 2, Some(NOW - 1)),
            t("forEveryoneForEv", None, 1, 40, None),
        ]
    }

    fn users() -> Vec<UserEntry> {
        let u = |name: &str, admin, deactivated| UserEntry {
            name: name.into(),
            displayname: None,
            admin,
            deactivated,
            creation_ts: Some(NOW / 1000),
        };
        vec![
            u("@alice:example.com", true, false),
            u("@bob:example.com", false, false),
            u("@carol:example.com", false, true),
        ]
    }

    #[test]
    fn messages_are_complete() {
        crate::i18n::assert_complete(M::ALL);
    }

    #[test]
    fn snapshots_in_both_languages() {
        for lang in [Lang::En, Lang::ZhCn] {
            let mut out = invite_created(
                lang,
                &tokens()[0],
                "https://matrix.example.com/invite/Ab3dEf5hIj7lMn9p",
            );
            out.push_str("---\n");
            out.push_str(&invite_table(lang, &tokens(), NOW));
            out.push_str(&invite_table(lang, &[], NOW));
            out.push_str("---\n");
            out.push_str(&user_table(lang, &users()));
            out.push_str(&user_table(lang, &[]));
            assert_golden(&format!("people.{}.txt", lang.code()), &out);
        }
    }

    #[test]
    fn creation_time_is_in_seconds_or_milliseconds() {
        assert_eq!(when(as_millis(1_795_000_000)), when(1_795_000_000_000));
        assert_eq!(when(as_millis(1_795_000_000_000)), "2026-11-18 11:06 UTC");
    }
}
