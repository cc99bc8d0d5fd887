//! Step 7: the SMTP server of `email:` answers, speaks TLS as configured and takes the login.

use super::step;
use crate::config::SmtpTls;
use crate::doctor::messages::M;
use crate::doctor::smtp::{Failure, Session};
use crate::doctor::{Status, Step};
use crate::i18n::Lang;

pub fn email(outcome: &Result<Session, Failure>, l: Lang) -> Step {
    let title = l.t(M::TitleEmail, &[]);
    let fail = |evidence: String, fix: String| {
        step("email", title.clone(), Status::Fail, evidence, Some(fix))
    };
    match outcome {
        Ok(s) => {
            let tls = l.t(
                match s.tls {
                    SmtpTls::Starttls => M::SmtpStarttls,
                    SmtpTls::Implicit => M::SmtpImplicit,
                    SmtpTls::Off => M::SmtpPlain,
                },
                &[],
            );
            let login = match &s.user {
                Some(user) => l.t(M::SmtpLoggedIn, &[user]),
                None => l.t(M::SmtpNoLogin, &[]),
            };
            let evidence = l.t(M::SmtpOk, &[&s.server, &s.greeting, &tls, &login]);
            if s.cleartext_beyond_private {
                return step(
                    "email",
                    title,
                    Status::Warn,
                    evidence,
                    Some(l.t(M::SmtpCleartextFix, &[])),
                );
            }
            step("email", title, Status::Pass, evidence, None)
        }
        Err(Failure::PasswordFile { file, error }) => fail(
            l.t(M::SmtpPasswordFile, &[file, error]),
            l.t(M::SmtpPasswordFileFix, &[file]),
        ),
        Err(Failure::Connect { server, error }) => fail(
            l.t(M::SmtpConnect, &[server, error]),
            l.t(M::SmtpConnectFix, &[]),
        ),
        Err(Failure::Protocol { server, error }) => fail(
            l.t(M::SmtpProtocol, &[server, error]),
            l.t(M::SmtpProtocolFix, &[]),
        ),
        Err(Failure::NoStartTls { server }) => fail(
            l.t(M::SmtpNoStartTls, &[server]),
            l.t(M::SmtpNoStartTlsFix, &[]),
        ),
        Err(Failure::Tls { server, error }) => fail(
            l.t(M::SmtpTlsFailed, &[server, error]),
            l.t(M::SmtpTlsFailedFix, &[]),
        ),
        Err(Failure::NoAuth { server, offered }) => fail(
            l.t(M::SmtpNoAuth, &[server, offered]),
            l.t(M::SmtpNoAuthFix, &[]),
        ),
        Err(Failure::LoginRefused {
            server,
            user,
            file,
            reply,
        }) => fail(
            l.t(M::SmtpLoginRefused, &[server, user, reply]),
            l.t(M::SmtpLoginRefusedFix, &[file]),
        ),
    }
}
