//! The one door to Synapse's HTTP API (health, shared-secret registration, the admin and client
//! calls of `session`): every request goes through `Synapse::send`, over Synapse's socket (or an
//! existing Synapse's address, see `synapse::upstream`).

use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use sha1::Sha1;

use crate::diagnostic::Diagnostic;
use crate::i18n::tr;

use super::messages::M;
use crate::upstream::UpstreamAddr;

const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{}", tr(M::Unreachable, &[url]))]
    Unreachable {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{}", tr(M::Timeout, &[url, &TIMEOUT.as_secs()]))]
    Timeout { url: String },
    #[error("{}", tr(M::Refused, &[user, errcode, message]))]
    Refused {
        user: String,
        errcode: String,
        message: String,
    },
    #[error("{}", tr(M::NotFound, &[what]))]
    NotFound { what: String },
    #[error("{}", tr(M::Rejected, &[what, errcode, message]))]
    Rejected {
        what: String,
        errcode: String,
        message: String,
    },
    #[error("{}", tr(M::Locked, &[user]))]
    ServiceAccountLocked { user: String },
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error(transparent)]
    Fs(#[from] crate::fsio::FsError),
    #[error("{}", tr(M::Unexpected, &[status, url, body]))]
    Unexpected {
        url: String,
        status: StatusCode,
        body: String,
    },
}

impl Diagnostic for AdminError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            AdminError::Refused { errcode, .. } if errcode == "M_USER_IN_USE" => {
                tr(M::InUseHint, &[])
            }
            AdminError::Refused { errcode, .. } if errcode == "M_INVALID_USERNAME" => {
                tr(M::InvalidNameHint, &[])
            }
            AdminError::NotFound { .. } => tr(M::NotFoundHint, &[]),
            AdminError::Rejected { .. } => tr(M::RejectedHint, &[]),
            AdminError::ServiceAccountLocked { .. } => tr(M::LockedHint, &[]),
            AdminError::Secrets(e) => return e.hint(),
            AdminError::Fs(e) => return e.hint(),
            // The caller knows the instance: `user add` names its container instead.
            _ if self.needs_logs() => tr(M::LogsHint, &[]),
            _ => tr(M::RunningHint, &[]),
        })
    }
}

impl AdminError {
    /// Whether only Synapse's own log can say more (the hint then names its container).
    pub fn needs_logs(&self) -> bool {
        match self {
            AdminError::Refused { errcode, .. } => {
                errcode != "M_USER_IN_USE" && errcode != "M_INVALID_USERNAME"
            }
            AdminError::Unexpected { .. } => true,
            _ => false,
        }
    }
}

/// A client for one Synapse. Calls are few (a probe, a registration): each opens its own
/// connection, so none is kept open to a Synapse that restarts.
pub struct Synapse {
    address: UpstreamAddr,
    /// How messages name it.
    base: String,
}

#[derive(Deserialize)]
pub struct Registered {
    pub user_id: String,
    /// Only the service account keeps it (see `session`); never printed.
    #[serde(default)]
    pub(crate) access_token: Option<String>,
}

impl Synapse {
    /// The Synapse at `address`: see `synapse::upstream`.
    pub fn new(address: UpstreamAddr) -> Self {
        let base = match &address {
            UpstreamAddr::Tcp(authority) => format!("http://{authority}"),
            unix => unix.describe(),
        };
        Synapse { address, base }
    }

    /// How messages name this Synapse: `http://host:port` or `unix:/path`.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(StatusCode, Bytes), AdminError> {
        self.send(method, path, body, &[]).await
    }

    /// One request with extra `headers` (an access token, the visitor's address); `path` carries
    /// its query, already encoded.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Result<(StatusCode, Bytes), AdminError> {
        let url = format!("{}{}", self.base, path);
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.address.host())
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        // Over the socket Synapse takes the client's address from this header (a UNIX peer has
        // none, and a login without one fails): matrixbox's own calls come from this host.
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("x-forwarded-for"))
        {
            request = request.header("x-forwarded-for", "127.0.0.1");
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| AdminError::Unreachable {
                url: url.clone(),
                source: Box::new(e),
            })?;
        let unreachable = |e: Box<dyn std::error::Error + Send + Sync>| AdminError::Unreachable {
            url: url.clone(),
            source: e,
        };
        let exchange = async {
            let stream = self
                .address
                .connect()
                .await
                .map_err(|e| unreachable(Box::new(e)))?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| unreachable(Box::new(e)))?;
            tokio::spawn(connection);
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| unreachable(Box::new(e)))?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| unreachable(Box::new(e)))?
                .to_bytes();
            Ok((status, bytes))
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| AdminError::Timeout { url: url.clone() })?
    }

    /// True when `/health` answers 200 OK.
    pub async fn healthy(&self) -> bool {
        matches!(
            self.call(Method::GET, "/health", None).await,
            Ok((StatusCode::OK, _))
        )
    }

    /// Whether a registration token can still be used, as a visitor's browser would ask (the
    /// client API, rate-limited per `forwarded_for`, the visitor's address).
    pub async fn token_validity(
        &self,
        token: &str,
        forwarded_for: &str,
    ) -> Result<Validity, AdminError> {
        let path = format!(
            "/_matrix/client/v1/register/m.login.registration_token/validity?token={}",
            percent_encoding::utf8_percent_encode(token, percent_encoding::NON_ALPHANUMERIC)
        );
        let (status, body) = self
            .send(
                Method::GET,
                &path,
                None,
                &[("x-forwarded-for", forwarded_for)],
            )
            .await?;
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Ok(Validity::TryLater);
        }
        #[derive(Deserialize)]
        struct Answer {
            valid: bool,
        }
        let answer: Answer = parse_json(&path, status, &body)?;
        Ok(if answer.valid {
            Validity::Valid
        } else {
            Validity::Invalid
        })
    }

    /// Registers a user through `/_synapse/admin/v1/register` (nonce + HMAC-SHA1 of the shared secret).
    pub async fn register(
        &self,
        shared_secret: &str,
        user: &str,
        password: &str,
        admin: bool,
    ) -> Result<Registered, AdminError> {
        const PATH: &str = "/_synapse/admin/v1/register";
        let (status, body) = self.call(Method::GET, PATH, None).await?;
        let nonce: Nonce = parse_json(PATH, status, &body)?;
        let mac = registration_mac(shared_secret, &nonce.nonce, user, password, admin);
        let request = serde_json::json!({
            "nonce": nonce.nonce,
            "username": user,
            "password": password,
            "admin": admin,
            "mac": mac,
        });
        let (status, body) = self.call(Method::POST, PATH, Some(request)).await?;
        if !status.is_success()
            && let Ok(err) = serde_json::from_slice::<MatrixError>(&body)
        {
            return Err(AdminError::Refused {
                user: user.to_string(),
                errcode: err.errcode,
                message: err.error,
            });
        }
        parse_json(PATH, status, &body)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Valid,
    /// Expired, used up, revoked or never issued: the client API does not say which.
    Invalid,
    /// Synapse rate-limited this visitor.
    TryLater,
}

#[derive(Deserialize)]
struct Nonce {
    nonce: String,
}

#[derive(Deserialize)]
pub(crate) struct MatrixError {
    pub(crate) errcode: String,
    #[serde(default)]
    pub(crate) error: String,
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    path: &str,
    status: StatusCode,
    body: &[u8],
) -> Result<T, AdminError> {
    let unexpected = || AdminError::Unexpected {
        url: path.to_string(),
        status,
        body: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
    };
    if !status.is_success() {
        return Err(unexpected());
    }
    serde_json::from_slice(body).map_err(|_| unexpected())
}

/// The MAC Synapse expects: HMAC-SHA1 over nonce, user, password and admin flag, NUL-separated.
pub fn registration_mac(
    shared_secret: &str,
    nonce: &str,
    user: &str,
    password: &str,
    admin: bool,
) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(shared_secret.as_bytes())
        .expect("HMAC takes keys of any length");
    for (i, part) in [
        nonce,
        user,
        password,
        if admin { "admin" } else { "notadmin" },
    ]
    .iter()
    .enumerate()
    {
        if i > 0 {
            mac.update(b"\x00");
        }
        mac.update(part.as_bytes());
    }
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_matches_synapse_reference() {
        // Computed with Python: hmac.new(b"secret", b"abcd\x00alice\x00pw\x00admin", hashlib.sha1).hexdigest()
        assert_eq!(
            registration_mac("secret", "abcd", "alice", "pw", true),
            "ad7e828b2e55e5373685e26f8551dd3fa7d77194"
        );
    }
}
