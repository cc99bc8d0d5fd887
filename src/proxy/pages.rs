//! The edge's own web pages, in English and Simplified Chinese: the onboarding page at `/`, the
//! invite page at `/invite/<token>` (sign-up form, or a clear page when the token cannot be used)
//! and their same-origin stylesheet and script. Rendering is pure; `invite_page` asks Synapse
//! about the token first.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use qrcode::QrCode;

use super::{Body, HSTS, full, own_page};
use crate::config::Config;
use crate::embedded;
use crate::i18n::Lang;
use crate::people;
use crate::synapse::admin::{Synapse, Validity};

crate::i18n::messages! {
    OtherLang => "简体中文", "English";
    Title => "{0} · Matrix server", "{0} · Matrix 服务器";
    Intro => "This is a Matrix server: secure chat, on a server of your own.", "这是一台 Matrix 服务器：加密聊天，数据留在自己的服务器上。";
    ByInvite => "Accounts here are made by invitation: ask the server's administrator for an invite link.", "本服务器仅限受邀注册：请向服务器管理员索取邀请链接。";
    HowTitle => "How to connect", "如何连接";
    StepApp => "Install a Matrix app: Element X on your phone, or Element on your computer.", "安装 Matrix 应用：手机上用 Element X，电脑上用 Element。";
    StepServer => "In the app, choose to change the server (\"Other\" or \"Change\") and enter this address:", "在应用中选择更换服务器（“其他”或“更改”），并输入以下地址：";
    StepSignIn => "Sign in with your user name and password. User IDs here look like {0}.", "用你的用户名和密码登录。本服务器的用户 ID 形如 {0}。";
    QrCaption => "This server's address, for a phone's camera.", "本服务器地址，可用手机相机扫描。";
    AppsTitle => "Apps", "应用";
    IosLink => "Element X for iPhone and iPad (App Store)", "Element X：iPhone 和 iPad（App Store）";
    PlayLink => "Element X for Android (Google Play)", "Element X：Android（Google Play）";
    FdroidLink => "Element X for Android (F-Droid)", "Element X：Android（F-Droid）";
    ApkLink => "Element X for Android (APK from GitHub, without an app store)", "Element X：Android（GitHub 上的 APK，无需应用商店）";
    DesktopLink => "Element for Windows, macOS and Linux", "Element：Windows、macOS 和 Linux";
    WebLink => "Element in your browser, on this server", "Element 网页版：在浏览器中使用，由本服务器提供";
    SupportTitle => "Help", "帮助";
    SupportPage => "Support page", "支持页面";
    RoleAdmin => "Administrator", "管理员";
    RoleSecurity => "Security contact", "安全联系人";
    InviteTitle => "Join {0}", "加入 {0}";
    InviteIntro => "You have been invited to {0}. Choose a user name and a password.", "你已受邀加入 {0}。请选择用户名和密码。";
    LabelName => "User name", "用户名";
    NameHelp => "lower-case letters, digits and . _ = - / +", "小写字母、数字以及 . _ = - / +";
    LabelPassword => "Password (at least 8 characters)", "密码（至少 8 个字符）";
    LabelAgain => "Password again", "再次输入密码";
    Submit => "Create my account", "创建我的账号";
    NoScript => "This page needs JavaScript to create your account.", "本页面需要启用 JavaScript 才能创建账号。";
    Checking => "Checking…", "正在检查…";
    Available => "{0} is free.", "{0} 可以使用。";
    Taken => "This name is taken; choose another.", "该用户名已被占用，请换一个。";
    InvalidName => "Use lower-case letters, digits and . _ = - / + only.", "只能使用小写字母、数字以及 . _ = - / +。";
    Short => "The password is shorter than 8 characters.", "密码少于 8 个字符。";
    Differ => "The two passwords differ.", "两次输入的密码不一致。";
    Registering => "Creating your account…", "正在创建账号…";
    TokenGone => "This invitation can no longer be used (expired, used up or revoked). Ask for a new link.", "此邀请已无法使用（已过期、已用完或已撤销）。请索取新的链接。";
    Failed => "The account was not created:", "账号未能创建：";
    Offline => "The server cannot be reached; check your connection and try again.", "无法连接服务器；请检查网络后重试。";
    SlowDown => "Too many attempts; wait a moment and try again.", "尝试次数过多；请稍候再试。";
    Unsupported => "This server asks for a sign-up step this page cannot do.", "服务器要求的注册步骤本页面无法完成。";
    DoneTitle => "Your account is ready", "账号已创建";
    DoneUser => "Your user ID:", "你的用户 ID：";
    DoneNext => "Now open a Matrix app and sign in:", "现在打开 Matrix 应用并登录：";
    InvalidTitle => "This invitation cannot be used", "此邀请无法使用";
    InvalidText => "The invitation link is not valid: it may have expired, been used up or revoked, or it was copied incompletely.", "该邀请链接无效：可能已过期、已用完、已被撤销，或复制不完整。";
    InvalidNext => "Ask the person who invited you for a new link.", "请向邀请你的人索取新的链接。";
    TryLaterTitle => "Please wait a moment", "请稍候";
    TryLaterText => "Too many attempts from your network. Wait a minute, then reload this page.", "来自你所在网络的尝试次数过多。请等待一分钟后刷新本页面。";
    DownTitle => "The server is busy", "服务器暂时不可用";
    DownText => "This invitation cannot be checked right now. Try again in a few minutes.", "目前无法检查此邀请。请几分钟后再试。";
    AboutServer => "About this server", "关于本服务器";
}

const IOS: &str = "https://apps.apple.com/app/element-x-secure-chat-call/id1631335820";
const PLAY: &str = "https://play.google.com/store/apps/details?id=io.element.android.x";
const FDROID: &str = "https://f-droid.org/packages/io.element.android.x/";
const APK: &str = "https://github.com/element-hq/element-x-android/releases/latest";
const DESKTOP: &str = "https://element.io/download";

/// The pages' Content-Security-Policy: same-origin script, style and API calls only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Why an invite page shows no form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// Expired, used up, revoked, unknown or malformed.
    Invalid,
    TryLater,
    Unavailable,
}

/// The static files the pages load: (content type, bytes).
pub fn asset(name: &str) -> Option<(&'static str, Bytes)> {
    let kind = match name {
        "page.css" => "text/css; charset=utf-8",
        "invite.js" => "text/javascript; charset=utf-8",
        _ => return None,
    };
    Some((kind, embedded::text(&format!("web/{name}")).into()))
}

/// What the pages say about this server, taken from the configuration once per reload.
pub struct Site {
    domain: String,
    server_name: String,
    /// (role, Matrix ID or email address) and the support page, as in the MSC1929 document.
    contacts: Vec<(String, String)>,
    support_page: Option<String>,
    qr: String,
    /// Element Web's address, when this server serves it (`web_client:`).
    web_client: Option<String>,
}

impl Site {
    pub fn new(config: &Config) -> Site {
        let support = config.support.as_ref();
        let contacts = support
            .map(|s| {
                s.contacts
                    .iter()
                    .filter_map(|c| {
                        let reach = c.matrix_id.clone().or_else(|| c.email_address.clone())?;
                        Some((c.role.clone(), reach))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Site {
            domain: config.domain.clone(),
            server_name: config.server_name.clone(),
            contacts,
            support_page: support.and_then(|s| s.support_page.clone()),
            qr: qr_svg(&format!("https://{}", config.domain)),
            web_client: config
                .web_client
                .as_ref()
                .map(|web| format!("https://{}/", web.name)),
        }
    }

    pub fn onboarding(&self, lang: Lang) -> String {
        let body = format!(
            "<h1>{}</h1>\n<p>{}</p>\n<p>{}</p>\n{}{}",
            esc(&self.domain),
            esc(&lang.t(M::Intro, &[])),
            esc(&lang.t(M::ByInvite, &[])),
            self.how_to_connect(lang),
            self.support(lang),
        );
        let title = lang.t(M::Title, &[&self.domain]);
        page(lang, &title, false, &body)
    }

    pub fn invite(&self, lang: Lang, token: &str) -> String {
        let t = |m: M| esc(&lang.t(m, &[]));
        let data: String = [
            ("token", token.to_string()),
            ("server-name", self.server_name.clone()),
            ("msg-checking", lang.t(M::Checking, &[])),
            ("msg-available", lang.t(M::Available, &[])),
            ("msg-taken", lang.t(M::Taken, &[])),
            ("msg-invalid-name", lang.t(M::InvalidName, &[])),
            ("msg-short", lang.t(M::Short, &[])),
            ("msg-differ", lang.t(M::Differ, &[])),
            ("msg-registering", lang.t(M::Registering, &[])),
            ("msg-token-gone", lang.t(M::TokenGone, &[])),
            ("msg-failed", lang.t(M::Failed, &[])),
            ("msg-offline", lang.t(M::Offline, &[])),
            ("msg-slow-down", lang.t(M::SlowDown, &[])),
            ("msg-unsupported", lang.t(M::Unsupported, &[])),
        ]
        .iter()
        .map(|(k, v)| format!(" data-{k}=\"{}\"", esc(v)))
        .collect();
        let body = format!(
            r#"<h1>{title}</h1>
<p id="intro">{intro}</p>
<noscript><p class="notice">{noscript}</p></noscript>
<form id="signup"{data} autocomplete="on">
<label for="username">{name}</label>
<input id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="200">
<small>{name_help}</small>
<p id="name-status" class="status" aria-live="polite"></p>
<label for="password">{password}</label>
<input id="password" name="password" type="password" autocomplete="new-password" minlength="8" required>
<label for="password2">{again}</label>
<input id="password2" name="password2" type="password" autocomplete="new-password" minlength="8" required>
<button type="submit">{submit}</button>
<p id="status" class="status" aria-live="polite"></p>
</form>
<section id="done" hidden>
<h2>{done}</h2>
<p>{done_user} <code id="done-user"></code></p>
<p>{done_next}</p>
{how}</section>
"#,
            title = esc(&lang.t(M::InviteTitle, &[&self.domain])),
            intro = esc(&lang.t(M::InviteIntro, &[&self.domain])),
            noscript = t(M::NoScript),
            name = t(M::LabelName),
            name_help = t(M::NameHelp),
            password = t(M::LabelPassword),
            again = t(M::LabelAgain),
            submit = t(M::Submit),
            done = t(M::DoneTitle),
            done_user = t(M::DoneUser),
            done_next = t(M::DoneNext),
            how = self.how_to_connect(lang),
        );
        page(lang, &lang.t(M::InviteTitle, &[&self.domain]), true, &body)
    }

    /// The page shown instead of the form.
    pub fn unusable(&self, lang: Lang, why: Unusable) -> String {
        let (title, lines) = match why {
            Unusable::Invalid => (M::InvalidTitle, &[M::InvalidText, M::InvalidNext][..]),
            Unusable::TryLater => (M::TryLaterTitle, &[M::TryLaterText][..]),
            Unusable::Unavailable => (M::DownTitle, &[M::DownText][..]),
        };
        let text: String = lines
            .iter()
            .map(|m| format!("<p>{}</p>\n", esc(&lang.t(*m, &[]))))
            .collect();
        let body = format!(
            "<h1>{}</h1>\n{text}<p><a href=\"/?lang={}\">{}</a></p>",
            esc(&lang.t(title, &[])),
            lang.code(),
            esc(&lang.t(M::AboutServer, &[])),
        );
        page(lang, &lang.t(title, &[]), false, &body)
    }

    fn how_to_connect(&self, lang: Lang) -> String {
        let t = |m: M| esc(&lang.t(m, &[]));
        let links: String = [
            (IOS, M::IosLink),
            (PLAY, M::PlayLink),
            (FDROID, M::FdroidLink),
            (APK, M::ApkLink),
            (DESKTOP, M::DesktopLink),
        ]
        .iter()
        .map(|(href, m)| {
            format!(
                "<li><a href=\"{href}\" rel=\"noopener\">{}</a></li>\n",
                t(*m)
            )
        })
        .collect();
        // The web client first: it needs nothing installed.
        let web = self
            .web_client
            .as_ref()
            .map(|url| format!("<li><a href=\"{}\">{}</a></li>\n", esc(url), t(M::WebLink)))
            .unwrap_or_default();
        let links = web + &links;
        let example = format!("@name:{}", self.server_name);
        format!(
            "<h2>{}</h2>\n<ol>\n<li>{}</li>\n<li>{}<br><code>https://{}</code></li>\n<li>{}</li>\n</ol>\n\
             <div class=\"qr\">{}<p>{}</p></div>\n<h2>{}</h2>\n<ul>\n{links}</ul>\n",
            t(M::HowTitle),
            t(M::StepApp),
            t(M::StepServer),
            esc(&self.domain),
            esc(&lang.t(M::StepSignIn, &[&example])),
            self.qr,
            t(M::QrCaption),
            t(M::AppsTitle),
        )
    }

    fn support(&self, lang: Lang) -> String {
        if self.contacts.is_empty() && self.support_page.is_none() {
            return String::new();
        }
        let mut out = format!("<h2>{}</h2>\n<ul>\n", esc(&lang.t(M::SupportTitle, &[])));
        for (role, reach) in &self.contacts {
            let role = match role.as_str() {
                "m.role.admin" => lang.t(M::RoleAdmin, &[]),
                "m.role.security" => lang.t(M::RoleSecurity, &[]),
                other => other.to_string(),
            };
            let link = if reach.starts_with('@') {
                format!("https://matrix.to/#/{reach}")
            } else {
                format!("mailto:{reach}")
            };
            out.push_str(&format!(
                "<li>{}: <a href=\"{}\">{}</a></li>\n",
                esc(&role),
                esc(&link),
                esc(reach)
            ));
        }
        if let Some(page) = &self.support_page {
            out.push_str(&format!(
                "<li><a href=\"{}\">{}</a></li>\n",
                esc(page),
                esc(&lang.t(M::SupportPage, &[]))
            ));
        }
        out.push_str("</ul>\n");
        out
    }
}

static PAGE_CSP: HeaderValue = HeaderValue::from_static(CSP);

/// One of our HTML pages: same-origin script and style only, never framed, per-language.
pub(super) fn html_page(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    own_page(response.headers_mut());
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CONTENT_SECURITY_POLICY, PAGE_CSP.clone());
    h.insert(header::VARY, HeaderValue::from_static("Accept-Language"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The page language: `?lang=` first, then Accept-Language.
pub(super) fn page_lang<B>(req: &Request<B>) -> Lang {
    let choice = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("lang=")));
    let accept = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    people::page_lang(choice, accept)
}

/// The invite page once Synapse has said whether `token` can still be used (asked with the
/// visitor's address, so its rate limit counts per visitor).
pub(super) async fn invite_page(
    site: Arc<Site>,
    synapse: Arc<Synapse>,
    token: String,
    lang: Lang,
    forwarded_for: HeaderValue,
    hsts: bool,
) -> Response<Body> {
    let visitor = forwarded_for.to_str().unwrap_or_default();
    let (status, page) = match synapse.token_validity(&token, visitor).await {
        Ok(Validity::Valid) => (StatusCode::OK, site.invite(lang, &token)),
        Ok(Validity::Invalid) => (
            StatusCode::NOT_FOUND,
            site.unusable(lang, Unusable::Invalid),
        ),
        Ok(Validity::TryLater) => (
            StatusCode::TOO_MANY_REQUESTS,
            site.unusable(lang, Unusable::TryLater),
        ),
        Err(e) => {
            tracing::debug!("invite page: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                site.unusable(lang, Unusable::Unavailable),
            )
        }
    };
    let mut response = html_page(status, page.into());
    if hsts {
        response
            .headers_mut()
            .insert(header::STRICT_TRANSPORT_SECURITY, HSTS.clone());
    }
    response
}

/// The page skeleton: language switch, stylesheet, and the invite script when `script`.
fn page(lang: Lang, title: &str, script: bool, body: &str) -> String {
    let other = match lang {
        Lang::En => Lang::ZhCn,
        Lang::ZhCn => Lang::En,
    };
    let script = if script {
        "<script src=\"/assets/invite.js\" defer></script>\n"
    } else {
        ""
    };
    embedded::text("web/page.html")
        .replace("{{html_lang}}", html_lang(lang))
        .replace("{{title}}", &esc(title))
        .replace("{{script}}", script)
        .replace("{{other_code}}", other.code())
        .replace("{{other_html_lang}}", html_lang(other))
        .replace("{{other_name}}", &esc(&lang.t(M::OtherLang, &[])))
        .replace("{{body}}", body)
}

fn html_lang(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "en",
        Lang::ZhCn => "zh-CN",
    }
}

/// The QR code of `text` as inline SVG (no script, no style: allowed by the pages' CSP).
fn qr_svg(text: &str) -> String {
    QrCode::new(text.as_bytes())
        .map(|code| {
            let svg = code
                .render::<qrcode::render::svg::Color>()
                .min_dimensions(192, 192)
                .build();
            // Inline in HTML, the XML declaration is noise.
            match svg.find("<svg") {
                Some(start) => svg[start..].to_string(),
                None => svg,
            }
        })
        .unwrap_or_default()
}

/// HTML-escapes text for element content and quoted attributes.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::UpstreamAddr;
    use std::path::Path;

    fn site(extra: &str) -> Site {
        Site::new(
            &crate::config::parse(
                &format!("domain: matrix.example.com\nserver_name: example.com\n{extra}"),
                Path::new("t.yaml"),
            )
            .unwrap(),
        )
    }

    #[test]
    fn the_web_client_is_offered_first_when_served_here() {
        let page = site("web_client: {name: chat.example.com}\n").onboarding(Lang::ZhCn);
        let link = "<li><a href=\"https://chat.example.com/\">Element 网页版";
        assert!(page.contains(link), "{page}");
        assert!(page.find(link) < page.find(IOS));
        assert!(!site("").onboarding(Lang::En).contains("in your browser"));
    }

    #[test]
    fn messages_are_complete() {
        crate::i18n::assert_complete(M::ALL);
    }

    #[test]
    fn pages_in_both_languages() {
        let s = site(
            "support:\n  contacts: [{role: m.role.admin, matrix_id: '@admin:example.com'}, {role: m.role.security, email_address: 'sec@example.com'}]\n  support_page: https://example.com/help\n",
        );
        for lang in [Lang::En, Lang::ZhCn] {
            let onboarding = s.onboarding(lang);
            assert!(onboarding.contains("<code>https://matrix.example.com</code>"));
            assert!(onboarding.contains("<svg"), "the QR code is inline");
            assert!(onboarding.contains("mailto:sec@example.com"));
            assert!(
                !onboarding.contains("<script"),
                "the onboarding page runs nothing"
            );
            let invite = s.invite(lang, "Ab3dEf5hIj7lMn9p");
            assert!(invite.contains("data-token=\"Ab3dEf5hIj7lMn9p\""));
            assert!(invite.contains("<script src=\"/assets/invite.js\" defer>"));
            for page in [&onboarding, &invite] {
                assert!(!page.contains("{{"), "a placeholder is left: {page}");
                // No inline script or style: the CSP allows same-origin files only.
                assert!(!page.contains("<style") && !page.contains(" style="));
                assert!(!page.contains("<script>"));
                let handler = page.split(" on").skip(1).any(|rest| {
                    let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
                    !name.is_empty() && rest[name.len()..].starts_with('=')
                });
                assert!(!handler, "an inline event handler");
            }
        }
        assert!(s.onboarding(Lang::ZhCn).contains("<html lang=\"zh-CN\">"));
        assert!(s.onboarding(Lang::ZhCn).contains("如何连接"));
        assert!(s.onboarding(Lang::En).contains("href=\"?lang=zh_CN\""));
        assert!(s.invite(Lang::ZhCn, "t").contains("创建我的账号"));
        assert!(
            s.invite(Lang::En, "t")
                .contains("data-msg-taken=\"This name is taken; choose another.\"")
        );
    }

    #[test]
    fn unusable_pages() {
        let s = site("");
        assert!(
            s.unusable(Lang::En, Unusable::Invalid)
                .contains("This invitation cannot be used")
        );
        assert!(
            s.unusable(Lang::ZhCn, Unusable::Invalid)
                .contains("此邀请无法使用")
        );
        assert!(
            s.unusable(Lang::ZhCn, Unusable::TryLater)
                .contains("请稍候")
        );
        assert!(
            !s.onboarding(Lang::En).contains("<h2>Help</h2>"),
            "no contacts configured"
        );
    }

    /// A one-shot Synapse stand-in on loopback: answers `status` with `body`, hands back the
    /// request it read.
    async fn synapse_answering(
        status: &'static str,
        body: &'static str,
    ) -> (Arc<Synapse>, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = tcp.read(&mut buf).await.unwrap();
                assert!(n > 0, "the request ended early");
                request.extend_from_slice(&buf[..n]);
            }
            let answer = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            tcp.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8(request).unwrap()
        });
        (
            Arc::new(Synapse::new(UpstreamAddr::Tcp(
                addr.to_string().parse().unwrap(),
            ))),
            served,
        )
    }

    async fn invite_status(synapse: Arc<Synapse>) -> (StatusCode, String) {
        let visitor = HeaderValue::from_static("203.0.113.7");
        let response = invite_page(
            Arc::new(site("")),
            synapse,
            "tok".into(),
            Lang::En,
            visitor,
            false,
        )
        .await;
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn invite_page_follows_synapse() {
        let (synapse, served) = synapse_answering("200 OK", r#"{"valid": true}"#).await;
        let (status, page) = invite_status(synapse).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("data-token=\"tok\""));
        let request = served.await.unwrap().to_ascii_lowercase();
        assert!(
            request.starts_with(
                "get /_matrix/client/v1/register/m.login.registration_token/validity?token=tok "
            ),
            "{request}"
        );
        assert!(
            request.contains("x-forwarded-for: 203.0.113.7"),
            "Synapse limits each visitor: {request}"
        );

        let (synapse, _) = synapse_answering("200 OK", r#"{"valid": false}"#).await;
        let (status, page) = invite_status(synapse).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(page.contains("This invitation cannot be used"));

        let (synapse, _) = synapse_answering(
            "429 Too Many Requests",
            r#"{"errcode": "M_LIMIT_EXCEEDED"}"#,
        )
        .await;
        let (status, page) = invite_status(synapse).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(page.contains("Too many attempts"));

        // Synapse down (nothing listens) or answering nonsense: a page, not an error dump.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        for synapse in [
            Arc::new(Synapse::new(UpstreamAddr::Tcp(
                closed.to_string().parse().unwrap(),
            ))),
            synapse_answering("500 Internal Server Error", "<html>trace</html>")
                .await
                .0,
        ] {
            let (status, page) = invite_status(synapse).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(page.contains("cannot be checked right now") && !page.contains("trace"));
        }
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn assets_are_embedded() {
        assert!(asset("invite.js").unwrap().1.len() > 1000);
        assert!(asset("page.css").is_some());
        assert!(asset("../secrets").is_none());
    }
}
