//! Pure decisions about people: invite expiry (`7d`), a registration token's state, which user
//! names matrixbox keeps for itself, and which language a browser asks for.

use std::time::Duration;

use serde::Deserialize;

use crate::i18n::Lang;

/// matrixbox's own admin account (see `synapse::session`): never listed, never changed by `user`.
pub const SERVICE_ACCOUNT: &str = "matrixbox-admin";

/// Longest invite lifetime `--expires` accepts: a forgotten link should not stay usable for years.
const MAX_EXPIRY: Duration = Duration::from_secs(365 * 86_400);

/// A registration token as Synapse's admin API describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegistrationToken {
    pub token: String,
    /// `None`: unlimited.
    pub uses_allowed: Option<u64>,
    #[serde(default)]
    pub pending: u64,
    #[serde(default)]
    pub completed: u64,
    /// Milliseconds since the epoch; `None`: never expires.
    pub expiry_time: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    Valid,
    Expired,
    UsedUp,
}

impl RegistrationToken {
    /// Expiry wins over exhaustion: an expired link stays expired whatever its uses.
    pub fn state(&self, now_ms: i64) -> TokenState {
        if self.expiry_time.is_some_and(|at| at <= now_ms) {
            TokenState::Expired
        } else if self
            .uses_allowed
            .is_some_and(|allowed| self.pending + self.completed >= allowed)
        {
            TokenState::UsedUp
        } else {
            TokenState::Valid
        }
    }
}

/// Why an `--expires` value was refused (the command says it in the reader's language).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryError {
    NoUnit,
    NotANumber,
    Zero,
    TooLong,
}

/// `--expires`: a positive number followed by `m` (minutes), `h`, `d` or `w`; at most a year.
pub fn parse_expiry(text: &str) -> Result<Duration, ExpiryError> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let seconds = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(ExpiryError::NoUnit),
    };
    let n: u64 = number.parse().map_err(|_| ExpiryError::NotANumber)?;
    if n == 0 {
        return Err(ExpiryError::Zero);
    }
    let duration = Duration::from_secs(n.saturating_mul(seconds));
    if duration > MAX_EXPIRY {
        return Err(ExpiryError::TooLong);
    }
    Ok(duration)
}

/// Synapse's token alphabet (`A-Z a-z 0-9 . _ ~ -`, at most 64 characters); anything else never
/// reaches Synapse or a page.
pub fn token_is_well_formed(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 64
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
}

/// Why a name given to `user` is not one of this server's users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    OtherServer,
    Invalid,
}

/// `alice` or `@alice:server` as a full user ID on `server_name`.
pub fn user_id(name: &str, server_name: &str) -> Result<String, NameError> {
    let local = match name.strip_prefix('@') {
        Some(full) => match full.split_once(':') {
            Some((local, server)) if server == server_name => local,
            _ => return Err(NameError::OtherServer),
        },
        None => name,
    };
    let valid = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._=-/+".contains(&b));
    if !valid {
        return Err(NameError::Invalid);
    }
    Ok(format!("@{local}:{server_name}"))
}

/// Whether `user_id` is matrixbox's own account.
pub fn is_service_account(user_id: &str) -> bool {
    user_id
        .strip_prefix('@')
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(local, _)| local == SERVICE_ACCOUNT)
}

/// The page language: an explicit choice (`?lang=`) first, then the browser's Accept-Language,
/// the highest-weighted of English or any Chinese; English when neither is asked for.
pub fn page_lang(choice: Option<&str>, accept_language: Option<&str>) -> Lang {
    match choice {
        Some("zh_CN" | "zh") => return Lang::ZhCn,
        Some("en") => return Lang::En,
        _ => {}
    }
    let mut best: Option<(f32, Lang)> = None;
    for item in accept_language.unwrap_or("").split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let lang = if tag == "zh" || tag.starts_with("zh-") {
            Lang::ZhCn
        } else if tag == "en" || tag.starts_with("en-") {
            Lang::En
        } else {
            continue;
        };
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, lang));
        }
    }
    best.map_or(Lang::En, |(_, lang)| lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_parsing() {
        assert_eq!(parse_expiry("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_expiry("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_expiry("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_expiry("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_expiry("365d"), Ok(MAX_EXPIRY));
        for bad in ["", "7", "7D", "7y"] {
            assert_eq!(parse_expiry(bad), Err(ExpiryError::NoUnit), "{bad:?}");
        }
        for bad in ["d", "-1d", "1.5d", "7 d"] {
            assert_eq!(parse_expiry(bad), Err(ExpiryError::NotANumber), "{bad:?}");
        }
        assert_eq!(parse_expiry("0d"), Err(ExpiryError::Zero));
        for bad in ["366d", "53w", "99999999999999999w"] {
            assert_eq!(parse_expiry(bad), Err(ExpiryError::TooLong), "{bad:?}");
        }
    }

    fn token(
        uses: Option<u64>,
        pending: u64,
        completed: u64,
        expiry: Option<i64>,
    ) -> RegistrationToken {
        RegistrationToken {
            token: "t".into(),
            uses_allowed: uses,
            pending,
            completed,
            expiry_time: expiry,
        }
    }

    #[test]
    fn token_states() {
        let now = 1_000_000;
        assert_eq!(token(None, 0, 50, None).state(now), TokenState::Valid);
        assert_eq!(
            token(Some(2), 0, 1, Some(now + 1)).state(now),
            TokenState::Valid
        );
        assert_eq!(token(Some(1), 0, 1, None).state(now), TokenState::UsedUp);
        // A registration in progress holds its use.
        assert_eq!(token(Some(1), 1, 0, None).state(now), TokenState::UsedUp);
        assert_eq!(token(None, 0, 0, Some(now)).state(now), TokenState::Expired);
        assert_eq!(
            token(Some(1), 0, 1, Some(now - 1)).state(now),
            TokenState::Expired
        );
    }

    #[test]
    fn token_alphabet() {
        assert!(token_is_well_formed("aB3._~-"));
        assert!(token_is_well_formed(&"a".repeat(64)));
        for bad in ["", "a/b", "a%2f", "a b", "ä", "<x>", &"a".repeat(65)] {
            assert!(!token_is_well_formed(bad), "{bad:?}");
        }
    }

    #[test]
    fn user_ids() {
        assert_eq!(user_id("alice", "ex.org"), Ok("@alice:ex.org".into()));
        assert_eq!(
            user_id("@alice:ex.org", "ex.org"),
            Ok("@alice:ex.org".into())
        );
        assert_eq!(
            user_id("@alice:other.org", "ex.org"),
            Err(NameError::OtherServer)
        );
        assert_eq!(user_id("@alice", "ex.org"), Err(NameError::OtherServer));
        assert_eq!(user_id("Alice", "ex.org"), Err(NameError::Invalid));
        assert_eq!(user_id("", "ex.org"), Err(NameError::Invalid));
        assert_eq!(user_id("@:ex.org", "ex.org"), Err(NameError::Invalid));
        assert!(is_service_account("@matrixbox-admin:ex.org"));
        assert!(!is_service_account("@alice:ex.org"));
    }

    #[test]
    fn page_language() {
        assert_eq!(page_lang(None, None), Lang::En);
        assert_eq!(page_lang(None, Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::ZhCn);
        assert_eq!(
            page_lang(None, Some("en-US,en;q=0.9,zh-CN;q=0.8")),
            Lang::En
        );
        assert_eq!(page_lang(None, Some("de-DE,zh;q=0.5")), Lang::ZhCn);
        assert_eq!(page_lang(None, Some("fr, de")), Lang::En);
        assert_eq!(page_lang(None, Some("zh;q=0, en;q=0.1")), Lang::En);
        assert_eq!(page_lang(None, Some("en;q=0.2, zh-Hans;q=0.7")), Lang::ZhCn);
        assert_eq!(page_lang(Some("en"), Some("zh-CN")), Lang::En);
        assert_eq!(page_lang(Some("zh_CN"), Some("en")), Lang::ZhCn);
        assert_eq!(page_lang(Some("xx"), Some("zh-CN")), Lang::ZhCn);
    }
}
