//! `matrixbox invite create | list | revoke`: registration tokens through the admin API.

use std::time::{SystemTime, UNIX_EPOCH};

use super::people::{self as out, M};
use crate::i18n::Lang;
use crate::paths::Paths;
use crate::people::{self, ExpiryError};
use crate::report::Hinted;

pub async fn create(paths: &Paths, uses: u64, expires: &str) -> anyhow::Result<()> {
    let lang = Lang::current();
    let lifetime = people::parse_expiry(expires).map_err(|why| {
        let message = match why {
            ExpiryError::NoUnit => M::ExpiryNoUnit,
            ExpiryError::NotANumber => M::ExpiryNotANumber,
            ExpiryError::Zero => M::ExpiryZero,
            ExpiryError::TooLong => M::ExpiryTooLong,
        };
        Hinted::usage(lang.t(message, &[&expires]), lang.t(M::BadExpiryHint, &[]))
    })?;
    let config = super::load_config(paths)?;
    let admin = super::user::admin(paths, &config)?;
    let expiry_ms = now_ms() + i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
    let token = admin.create_token(Some(uses), Some(expiry_ms)).await?;
    let link = format!("https://{}/invite/{}", config.domain, token.token);
    print!("{}", out::invite_created(lang, &token, &link));
    Ok(())
}

pub async fn list(paths: &Paths) -> anyhow::Result<()> {
    let admin = super::user::admin(paths, &super::load_config(paths)?)?;
    let mut tokens = admin.tokens().await?;
    tokens.sort_by_key(|t| std::cmp::Reverse(t.expiry_time.unwrap_or(i64::MAX)));
    print!("{}", out::invite_table(Lang::current(), &tokens, now_ms()));
    Ok(())
}

pub async fn revoke(paths: &Paths, token: &str) -> anyhow::Result<()> {
    let admin = super::user::admin(paths, &super::load_config(paths)?)?;
    admin.revoke_token(token).await?;
    println!("{}", Lang::current().t(M::Revoked, &[&token]));
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
