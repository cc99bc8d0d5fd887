//! Synapse's admin API as matrixbox's service account: its access token (made, cached 0600 and
//! renewed on 401 here, never printed), registration tokens (invites) and user management.
//!
//! Why a service account: the admin API wants an admin's access token, and borrowing a person's
//! would tie matrixbox to their password and sessions. `@matrixbox-admin` is registered with the
//! shared secret (admin, password from the CSPRNG in the secrets directory); `user list` hides it
//! and `user` refuses to change it.

use std::path::PathBuf;
use std::sync::Mutex;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::json;

use super::admin::{AdminError, MatrixError, Synapse, parse_json};
use super::messages::M;
use crate::fsio;
use crate::i18n::tr;
use crate::people::{self, RegistrationToken, SERVICE_ACCOUNT};
use crate::secrets;

/// The cached access token's file in the secrets directory.
const TOKEN_FILE: &str = "admin_access_token";

/// A user as `user list` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserEntry {
    pub name: String,
    #[serde(default)]
    pub displayname: Option<String>,
    #[serde(default, deserialize_with = "flag")]
    pub admin: bool,
    #[serde(default, deserialize_with = "flag")]
    pub deactivated: bool,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub creation_ts: Option<i64>,
}

/// Synapse has answered both `true` and `1` for these flags across versions.
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => b,
        serde_json::Value::Number(n) => n.as_i64().unwrap_or(0) != 0,
        _ => false,
    })
}

pub struct Admin {
    synapse: Synapse,
    secrets_dir: PathBuf,
    shared_secret: String,
    token: Mutex<Option<String>>,
}

impl Admin {
    pub fn new(synapse: Synapse, secrets_dir: PathBuf, shared_secret: String) -> Admin {
        Admin {
            synapse,
            secrets_dir,
            shared_secret,
            token: Mutex::new(None),
        }
    }

    /// The cached token, or a new one from a login (registering the account the first time).
    async fn access_token(&self, renew: bool) -> Result<String, AdminError> {
        let path = self.secrets_dir.join(TOKEN_FILE);
        if !renew {
            if let Some(token) = self.token.lock().expect("token lock").clone() {
                return Ok(token);
            }
            if let Ok(text) = std::fs::read_to_string(&path)
                && !text.trim().is_empty()
            {
                return Ok(text.trim().to_string());
            }
        }
        let password = secrets::admin_account_password(&self.secrets_dir)?;
        let token = match self.login(&password).await? {
            Some(token) => token,
            None => self.register(&password).await?,
        };
        fsio::write_atomic(&path, format!("{token}\n").as_bytes(), 0o600)?;
        *self.token.lock().expect("token lock") = Some(token.clone());
        Ok(token)
    }

    /// `None` when Synapse does not know the account (or the password).
    async fn login(&self, password: &str) -> Result<Option<String>, AdminError> {
        const PATH: &str = "/_matrix/client/v3/login";
        let request = json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": SERVICE_ACCOUNT},
            "password": password,
            "initial_device_display_name": "matrixbox",
        });
        let (status, body) = self
            .synapse
            .send(Method::POST, PATH, Some(request), &[])
            .await?;
        if status == StatusCode::FORBIDDEN {
            return Ok(None);
        }
        let answer: TokenAnswer = parse_json(PATH, status, &body)?;
        Ok(Some(answer.access_token))
    }

    async fn register(&self, password: &str) -> Result<String, AdminError> {
        match self
            .synapse
            .register(&self.shared_secret, SERVICE_ACCOUNT, password, true)
            .await
        {
            Ok(registered) => registered.access_token.ok_or(AdminError::Unexpected {
                url: "/_synapse/admin/v1/register".into(),
                status: StatusCode::OK,
                body: "no access token in the answer".into(),
            }),
            // Taken: another `matrixbox` command registered it a moment ago (its login then
            // works), or the password file changed since (it does not).
            Err(AdminError::Refused { errcode, .. }) if errcode == "M_USER_IN_USE" => self
                .login(password)
                .await?
                .ok_or(AdminError::ServiceAccountLocked {
                    user: SERVICE_ACCOUNT.into(),
                }),
            Err(e) => Err(e),
        }
    }

    /// TURN credentials as any logged-in user gets them (`/voip/turnServer`): (user name,
    /// password). `None` when Synapse hands out none (no TURN configured).
    pub async fn turn_credentials(&self) -> Result<Option<(String, String)>, AdminError> {
        #[derive(Deserialize)]
        struct Turn {
            username: Option<String>,
            password: Option<String>,
        }
        let turn: Turn = self
            .json(
                Method::GET,
                "/_matrix/client/v3/voip/turnServer",
                None,
                "TURN server",
            )
            .await?;
        Ok(turn.username.zip(turn.password))
    }

    /// An admin-API request; a token Synapse no longer accepts is renewed once.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(StatusCode, Bytes), AdminError> {
        let mut renew = false;
        loop {
            let token = self.access_token(renew).await?;
            let bearer = format!("Bearer {token}");
            let answer = self
                .synapse
                .send(
                    method.clone(),
                    path,
                    body.clone(),
                    &[("authorization", &bearer)],
                )
                .await?;
            if answer.0 != StatusCode::UNAUTHORIZED || renew {
                return Ok(answer);
            }
            renew = true;
        }
    }

    /// Calls and decodes; Synapse's 404 is `NotFound { what }`, other refusals `Rejected`.
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        what: &str,
    ) -> Result<T, AdminError> {
        let (status, bytes) = self.call(method, path, body).await?;
        if status == StatusCode::NOT_FOUND {
            return Err(AdminError::NotFound { what: what.into() });
        }
        if status.is_client_error()
            && let Ok(err) = serde_json::from_slice::<MatrixError>(&bytes)
        {
            return Err(AdminError::Rejected {
                what: what.into(),
                errcode: err.errcode,
                message: err.error,
            });
        }
        parse_json(path, status, &bytes)
    }

    pub async fn create_token(
        &self,
        uses_allowed: Option<u64>,
        expiry_ms: Option<i64>,
    ) -> Result<RegistrationToken, AdminError> {
        let token = secrets::invite_token()?;
        let body = json!({"token": token, "uses_allowed": uses_allowed, "expiry_time": expiry_ms});
        let path = "/_synapse/admin/v1/registration_tokens/new";
        self.json(Method::POST, path, Some(body), &tr(M::TheInvite, &[]))
            .await
    }

    pub async fn tokens(&self) -> Result<Vec<RegistrationToken>, AdminError> {
        #[derive(Deserialize)]
        struct List {
            registration_tokens: Vec<RegistrationToken>,
        }
        let path = "/_synapse/admin/v1/registration_tokens";
        let list: List = self
            .json(Method::GET, path, None, &tr(M::TheInvites, &[]))
            .await?;
        Ok(list.registration_tokens)
    }

    pub async fn revoke_token(&self, token: &str) -> Result<(), AdminError> {
        let what = tr(M::Invite, &[&token]);
        if !people::token_is_well_formed(token) {
            return Err(AdminError::NotFound { what });
        }
        let path = format!("/_synapse/admin/v1/registration_tokens/{token}");
        let _: serde_json::Value = self.json(Method::DELETE, &path, None, &what).await?;
        Ok(())
    }

    /// Every account, deactivated ones included, except the service account.
    pub async fn users(&self) -> Result<Vec<UserEntry>, AdminError> {
        #[derive(Deserialize)]
        struct Page {
            users: Vec<UserEntry>,
            next_token: Option<serde_json::Value>,
        }
        let mut all = Vec::new();
        let mut from = "0".to_string();
        loop {
            let path = format!(
                "/_synapse/admin/v2/users?from={from}&limit=100&guests=false&deactivated=true"
            );
            let page: Page = self
                .json(Method::GET, &path, None, &tr(M::TheUsers, &[]))
                .await?;
            all.extend(
                page.users
                    .into_iter()
                    .filter(|u| !people::is_service_account(&u.name)),
            );
            match page.next_token {
                Some(serde_json::Value::String(next)) => from = next,
                Some(serde_json::Value::Number(next)) => from = next.to_string(),
                _ => break,
            }
        }
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// The account `user_id`, or `NotFound` naming it.
    pub async fn user(&self, user_id: &str) -> Result<UserEntry, AdminError> {
        let path = format!("/_synapse/admin/v2/users/{}", encode(user_id));
        self.json(Method::GET, &path, None, &tr(M::User, &[&user_id]))
            .await
    }

    /// Sets a new password and ends the user's sessions.
    pub async fn reset_password(&self, user_id: &str, password: &str) -> Result<(), AdminError> {
        self.user(user_id).await?;
        let path = format!("/_synapse/admin/v1/reset_password/{}", encode(user_id));
        let body = json!({"new_password": password, "logout_devices": true});
        let what = tr(M::NewPassword, &[&user_id]);
        let _: serde_json::Value = self.json(Method::POST, &path, Some(body), &what).await?;
        Ok(())
    }

    pub async fn deactivate(&self, user_id: &str, erase: bool) -> Result<(), AdminError> {
        self.user(user_id).await?;
        let path = format!("/_synapse/admin/v1/deactivate/{}", encode(user_id));
        let what = tr(M::Deactivating, &[&user_id]);
        let _: serde_json::Value = self
            .json(Method::POST, &path, Some(json!({"erase": erase})), &what)
            .await?;
        Ok(())
    }

    pub async fn set_admin(&self, user_id: &str, admin: bool) -> Result<(), AdminError> {
        self.user(user_id).await?;
        let path = format!("/_synapse/admin/v1/users/{}/admin", encode(user_id));
        let what = tr(M::AdminFlag, &[&user_id]);
        let _: serde_json::Value = self
            .json(Method::PUT, &path, Some(json!({"admin": admin})), &what)
            .await?;
        Ok(())
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
}

fn encode(user_id: &str) -> String {
    utf8_percent_encode(user_id, NON_ALPHANUMERIC).to_string()
}
