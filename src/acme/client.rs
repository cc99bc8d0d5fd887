//! Talking to an ACME CA with instant-acme: the account (created once, persisted), the order with
//! its challenges, fallback to the other challenge type, retries, and ARI renewal windows.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use instant_acme::{
    Account, AccountBuilder, AuthorizationState, AuthorizationStatus, ChallengeStatus,
    ChallengeType, Identifier, NewAccount, NewOrder, Order, OrderStatus, RetryPolicy,
};
use rcgen::{CertificateParams, DistinguishedName, KeyPair};
use time::{Duration, OffsetDateTime};

use super::certinfo::CertFacts;
use super::challenge::{Http01Tokens, Responses};
use super::schedule::Window;
use super::storage::{self, StoredAccount};
use super::{AcmeError, Issued};
use crate::config::Challenge;
use crate::diagnostic::one_line;
use crate::paths::Paths;
use crate::tls::CertStore;

/// Polling an order: quick first looks (a CA often validates within a second), then slower.
const POLL: RetryPolicy = RetryPolicy::new()
    .initial_delay(StdDuration::from_millis(100))
    .backoff(1.5)
    .timeout(StdDuration::from_secs(90));
/// Transient failures (bad nonce, connection reset, server error) tolerated within one attempt.
/// instant-acme retries a bad nonce only 3 times per request, which a busy CA can exhaust.
const TRANSIENT_RETRIES: u32 = 8;
const FIRST_RETRY_DELAY: StdDuration = StdDuration::from_millis(200);
const MAX_RETRY_DELAY: StdDuration = StdDuration::from_secs(2);
/// A whole attempt gives up after this: the HTTP client has no timeouts of its own, and a CA
/// that accepts connections but never answers must not stall renewals forever.
const ATTEMPT_TIMEOUT: StdDuration = StdDuration::from_secs(300);
/// Bounds on how long an ARI answer is trusted, whatever Retry-After says.
const ARI_MIN_REFRESH: Duration = Duration::minutes(1);
const ARI_MAX_REFRESH: Duration = Duration::days(1);

pub struct AcmeIssuer {
    directory: String,
    ca_root: Option<PathBuf>,
    email: Option<String>,
    /// Challenge types in the order to try them.
    kinds: Vec<Challenge>,
    paths: Paths,
    tokens: Http01Tokens,
    store: Arc<CertStore>,
    account: Option<Account>,
    /// The stored account is unknown to the CA (e.g. a test CA restarted): make a new one.
    account_gone: bool,
    /// Cleared once the CA says it has no ARI, so it is not asked again.
    ari_offered: bool,
}

/// How an error from the CA is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Worth trying again shortly: bad nonce, server error, connection trouble, poll timeout.
    Transient,
    /// The account no longer exists at the CA.
    AccountGone,
    /// Retrying would give the same answer (or hit a rate limit harder).
    Fatal,
}

fn classify(err: &instant_acme::Error) -> Class {
    use instant_acme::Error;
    match err {
        Error::Api(problem) => {
            let kind = problem.r#type.as_deref().unwrap_or("");
            match kind
                .strip_prefix("urn:ietf:params:acme:error:")
                .unwrap_or(kind)
            {
                "badNonce" | "serverInternal" => Class::Transient,
                "accountDoesNotExist" => Class::AccountGone,
                _ => Class::Fatal,
            }
        }
        // Connection errors arrive as `Other` (hyper-util) or `Hyper`; a JSON error means a
        // garbled or proxied answer; `Timeout` a slow CA.
        Error::Other(_) | Error::Hyper(_) | Error::Json(_) | Error::Timeout(_) => Class::Transient,
        _ => Class::Fatal,
    }
}

/// The problem type of an API error, without the ACME namespace.
pub fn problem_type(err: &instant_acme::Error) -> Option<&str> {
    match err {
        instant_acme::Error::Api(problem) => problem
            .r#type
            .as_deref()
            .map(|t| t.strip_prefix("urn:ietf:params:acme:error:").unwrap_or(t)),
        _ => None,
    }
}

/// Why an attempt at one order stopped.
enum Stop {
    /// A new order may succeed (the budget decides).
    Retry(AcmeError),
    /// Validation with this challenge type failed: try the other.
    Challenge(AcmeError),
    Fatal(AcmeError),
}

/// The transient-failure allowance of one attempt, with growing pauses.
struct Budget {
    left: u32,
    delay: StdDuration,
}

impl Budget {
    fn new() -> Budget {
        Budget {
            left: TRANSIENT_RETRIES,
            delay: FIRST_RETRY_DELAY,
        }
    }

    /// Waits before the next try; false when the allowance is used up.
    async fn spend(&mut self, err: &AcmeError) -> bool {
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        tracing::debug!(error = %one_line(err), retries_left = self.left, "transient ACME failure, retrying");
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(MAX_RETRY_DELAY);
        true
    }
}

impl AcmeIssuer {
    pub fn new(
        directory: String,
        ca_root: Option<PathBuf>,
        email: Option<String>,
        kinds: Vec<Challenge>,
        paths: Paths,
        tokens: Http01Tokens,
        store: Arc<CertStore>,
    ) -> AcmeIssuer {
        AcmeIssuer {
            directory,
            ca_root,
            email,
            kinds,
            paths,
            tokens,
            store,
            account: None,
            account_gone: false,
            ari_offered: true,
        }
    }

    pub fn directory(&self) -> &str {
        &self.directory
    }

    fn acme_error(&self, action: &'static str, source: instant_acme::Error) -> AcmeError {
        AcmeError::Acme {
            action,
            directory: self.directory.clone(),
            source,
        }
    }

    fn builder(&self) -> Result<AccountBuilder, AcmeError> {
        match &self.ca_root {
            Some(root) => Account::builder_with_root(root).map_err(|source| AcmeError::CaRoot {
                path: root.clone(),
                source,
            }),
            None => Account::builder()
                .map_err(|source| self.acme_error("set up an HTTPS client for", source)),
        }
    }

    /// The account: cached, else loaded from disk, else created at the CA and saved.
    async fn account(&mut self) -> Result<Account, Stop> {
        if let Some(account) = &self.account {
            return Ok(account.clone());
        }
        let stored = storage::load_account(&self.paths).map_err(Stop::Fatal)?;
        let builder = self.builder().map_err(Stop::Fatal)?;
        let account = match stored {
            Some(stored) if stored.directory == self.directory && !self.account_gone => builder
                .from_credentials(stored.credentials)
                .await
                .map_err(|e| self.stop("load the ACME account from", e))?,
            _ => {
                let contact: Vec<String> =
                    self.email.iter().map(|e| format!("mailto:{e}")).collect();
                let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
                let new = NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                };
                let (account, credentials) = builder
                    .create(&new, self.directory.clone(), None)
                    .await
                    .map_err(|e| self.stop("create an ACME account at", e))?;
                let stored = StoredAccount {
                    directory: self.directory.clone(),
                    credentials,
                };
                storage::save_account(&self.paths, &stored).map_err(Stop::Fatal)?;
                tracing::info!(directory = %self.directory, account = %account.id(), "created an ACME account");
                self.account_gone = false;
                account
            }
        };
        self.account = Some(account.clone());
        Ok(account)
    }

    /// Sorts a CA error into how to go on.
    fn stop(&mut self, action: &'static str, err: instant_acme::Error) -> Stop {
        let class = classify(&err);
        let err = self.acme_error(action, err);
        match class {
            Class::Transient => Stop::Retry(err),
            Class::AccountGone => {
                self.account = None;
                self.account_gone = true;
                Stop::Retry(err)
            }
            Class::Fatal => Stop::Fatal(err),
        }
    }

    /// One certificate for all `names`: each challenge type in turn, each order retried on
    /// transient failures (within a budget), resuming the order where it stood when possible.
    pub async fn obtain(&mut self, names: &[String]) -> Result<Issued, AcmeError> {
        match tokio::time::timeout(ATTEMPT_TIMEOUT, self.obtain_untimed(names)).await {
            Ok(result) => result,
            Err(_) => Err(AcmeError::Timeout {
                directory: self.directory.clone(),
                seconds: ATTEMPT_TIMEOUT.as_secs(),
            }),
        }
    }

    async fn obtain_untimed(&mut self, names: &[String]) -> Result<Issued, AcmeError> {
        if self.kinds.is_empty() {
            return Err(AcmeError::NoListener);
        }
        let mut budget = Budget::new();
        let mut challenge_error = None;
        for kind in self.kinds.clone() {
            loop {
                match self.order(names, kind, &mut budget).await {
                    Ok(issued) => return Ok(issued),
                    Err(Stop::Challenge(e)) => {
                        tracing::warn!(challenge = kind_name(kind), error = %one_line(&e), "challenge failed");
                        challenge_error = Some(e);
                        break;
                    }
                    Err(Stop::Retry(e)) => {
                        if !budget.spend(&e).await {
                            return Err(e);
                        }
                    }
                    Err(Stop::Fatal(e)) => return Err(e),
                }
            }
        }
        Err(challenge_error.expect("at least one challenge type was tried"))
    }

    async fn order(
        &mut self,
        names: &[String],
        kind: Challenge,
        budget: &mut Budget,
    ) -> Result<Issued, Stop> {
        let account = self.account().await?;
        let identifiers: Vec<Identifier> =
            names.iter().map(|n| Identifier::Dns(n.clone())).collect();
        let mut order = account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .map_err(|e| self.stop("create an order at", e))?;
        // The key and CSR are made once per order, so a resumed order finalises the same request.
        let failed = |action| move |source| Stop::Fatal(AcmeError::InternalCa { action, source });
        let key = KeyPair::generate().map_err(failed("generate a certificate key"))?;
        let mut params = CertificateParams::new(names.to_vec())
            .map_err(failed("use these names in a request"))?;
        params.distinguished_name = DistinguishedName::new();
        let csr = params
            .serialize_request(&key)
            .map_err(failed("sign a certificate request"))?;
        let mut responses = Responses::new(self.tokens.clone(), self.store.clone());
        loop {
            match self
                .advance(&mut order, kind, &mut responses, csr.der())
                .await
            {
                Ok(Some(chain_pem)) => {
                    return Ok(Issued {
                        chain_pem,
                        key_pem: key.serialize_pem(),
                    });
                }
                Ok(None) => continue,
                Err(Step::Stop(stop)) => return Err(stop),
                Err(Step::Acme(action, e)) => {
                    let class = classify(&e);
                    let stop = self.stop(action, e);
                    let Stop::Retry(mut last) = stop else {
                        return Err(stop);
                    };
                    if class != Class::Transient {
                        return Err(Stop::Retry(last));
                    }
                    // Resume this order: re-read its state, then carry on from where it stands.
                    loop {
                        if !budget.spend(&last).await {
                            return Err(Stop::Retry(last));
                        }
                        match order.refresh().await {
                            Ok(_) => break,
                            Err(e) if classify(&e) == Class::Transient => {
                                last = self.acme_error("refresh the order at", e);
                            }
                            Err(e) => return Err(self.stop("refresh the order at", e)),
                        }
                    }
                }
            }
        }
    }

    /// Moves the order one step on; `Some(chain)` once the certificate is there.
    async fn advance(
        &self,
        order: &mut Order,
        kind: Challenge,
        responses: &mut Responses,
        csr_der: &[u8],
    ) -> Result<Option<String>, Step> {
        match order.state().status {
            OrderStatus::Pending => {
                self.answer(order, kind, responses).await?;
                match order.poll_ready(&POLL).await {
                    Ok(_) => Ok(None),
                    // The order turned invalid: poll_ready reports its error, the authorizations say why.
                    Err(_) if order.state().status == OrderStatus::Invalid => {
                        Err(self.diagnose(order, kind).await)
                    }
                    Err(e) => Err(Step::Acme("wait for validation at", e)),
                }
            }
            OrderStatus::Ready => {
                order
                    .finalize_csr(csr_der)
                    .await
                    .map_err(|e| Step::Acme("finalize the order at", e))?;
                Ok(None)
            }
            OrderStatus::Processing | OrderStatus::Valid => order
                .poll_certificate(&POLL)
                .await
                .map(Some)
                .map_err(|e| Step::Acme("download the certificate from", e)),
            OrderStatus::Invalid => Err(self.diagnose(order, kind).await),
        }
    }

    /// Sets up the response for every pending authorization and tells the CA it is ready.
    async fn answer(
        &self,
        order: &mut Order,
        kind: Challenge,
        responses: &mut Responses,
    ) -> Result<(), Step> {
        let mut authorizations = order.authorizations();
        while let Some(result) = authorizations.next().await {
            let mut authz = result.map_err(|e| Step::Acme("fetch an authorization from", e))?;
            match authz.status {
                AuthorizationStatus::Valid => continue,
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Invalid => {
                    return Err(Step::Stop(Stop::Challenge(
                        self.challenge_error(&authz, kind),
                    )));
                }
                status => {
                    // Expired, revoked or deactivated: a fresh order gets fresh authorizations.
                    return Err(Step::Stop(Stop::Retry(AcmeError::Order {
                        directory: self.directory.clone(),
                        detail: format!("authorization for {} is {status:?}", authz.identifier()),
                    })));
                }
            }
            let name = authz.identifier().to_string();
            let Some(mut challenge) = authz.challenge(challenge_type(kind)) else {
                return Err(Step::Stop(Stop::Challenge(AcmeError::NotOffered {
                    directory: self.directory.clone(),
                    kind: kind_name(kind),
                    name,
                })));
            };
            let key_authorization = challenge.key_authorization();
            match kind {
                Challenge::Http01 => responses.http01(&challenge.token, key_authorization.as_str()),
                Challenge::TlsAlpn01 => responses
                    .tls_alpn01(&name, key_authorization.digest().as_ref())
                    .map_err(|e| Step::Stop(Stop::Fatal(e)))?,
            }
            // A resumed order may find the challenge already submitted; submitting twice is an error.
            if challenge.status == ChallengeStatus::Pending {
                challenge.set_ready().await.map_err(|e| {
                    // A CA that validates at once (Pebble under load) answers the submission
                    // with the validation's failure: this type failed, so try the other.
                    match problem_type(&e) {
                        Some(
                            "connection" | "dns" | "incorrectResponse" | "tls" | "unauthorized",
                        ) => {
                            Step::Stop(Stop::Challenge(self.acme_error("submit a challenge to", e)))
                        }
                        _ => Step::Acme("submit a challenge to", e),
                    }
                })?;
            }
        }
        Ok(())
    }

    /// Why an invalid order failed: a failed challenge (try the other type), or something else.
    async fn diagnose(&self, order: &mut Order, kind: Challenge) -> Step {
        let order_error = order.state().error.clone();
        let mut authorizations = order.authorizations();
        while let Some(Ok(mut authz)) = authorizations.next().await {
            if authz.status == AuthorizationStatus::Pending {
                // States cached before validation ended: look again.
                let _ = authz.refresh().await;
            }
            if authz.status == AuthorizationStatus::Invalid {
                return Step::Stop(Stop::Challenge(self.challenge_error(&authz, kind)));
            }
        }
        let detail =
            order_error.map_or_else(|| "the order became invalid".to_string(), |p| p.to_string());
        Step::Stop(Stop::Fatal(AcmeError::Order {
            directory: self.directory.clone(),
            detail,
        }))
    }

    fn challenge_error(&self, authz: &AuthorizationState, kind: Challenge) -> AcmeError {
        let details: Vec<String> = authz
            .challenges
            .iter()
            .filter_map(|c| c.error.as_ref())
            .map(|p| p.to_string())
            .collect();
        AcmeError::Challenge {
            name: authz.identifier().to_string(),
            kind: kind_name(kind),
            detail: if details.is_empty() {
                "no reason given".into()
            } else {
                details.join("; ")
            },
        }
    }

    /// The CA's suggested renewal window for `cert` and when to ask again, if it offers ARI.
    /// Never creates an account: a certificate from this CA implies one exists.
    pub async fn renewal_window(
        &mut self,
        cert: &CertFacts,
        now: OffsetDateTime,
    ) -> Option<(Window, OffsetDateTime)> {
        if !self.ari_offered {
            return None;
        }
        let id = cert.ari_id.as_ref()?;
        if self.account.is_none() && !self.paths.acme_account().exists() {
            return None;
        }
        let account = self.account().await.ok()?;
        match account.renewal_info(id).await {
            Ok((info, retry_after)) => {
                let window = Window {
                    start: info.suggested_window.start,
                    end: info.suggested_window.end,
                };
                Some((window, now + ari_refresh(retry_after)))
            }
            Err(instant_acme::Error::Unsupported(_)) => {
                tracing::debug!(directory = %self.directory, "the CA offers no ARI; renewing by lifetime");
                self.ari_offered = false;
                None
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot fetch the ARI window; renewing by lifetime for now");
                None
            }
        }
    }
}

/// How long to trust an ARI answer: the CA's Retry-After, within sane bounds.
fn ari_refresh(retry_after: StdDuration) -> Duration {
    Duration::try_from(retry_after)
        .unwrap_or(ARI_MAX_REFRESH)
        .clamp(ARI_MIN_REFRESH, ARI_MAX_REFRESH)
}

/// One step of an order went wrong: a CA error to classify, or an outcome already decided.
enum Step {
    Acme(&'static str, instant_acme::Error),
    Stop(Stop),
}

fn challenge_type(kind: Challenge) -> ChallengeType {
    match kind {
        Challenge::Http01 => ChallengeType::Http01,
        Challenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
    }
}

pub fn kind_name(kind: Challenge) -> &'static str {
    match kind {
        Challenge::Http01 => "http-01",
        Challenge::TlsAlpn01 => "tls-alpn-01",
    }
}

/// The challenge types to try, preferred first, leaving out one whose listener is disabled.
pub fn challenge_order(
    preferred: Challenge,
    http_enabled: bool,
    https_enabled: bool,
) -> Vec<Challenge> {
    let other = match preferred {
        Challenge::Http01 => Challenge::TlsAlpn01,
        Challenge::TlsAlpn01 => Challenge::Http01,
    };
    [preferred, other]
        .into_iter()
        .filter(|kind| match kind {
            Challenge::Http01 => http_enabled,
            Challenge::TlsAlpn01 => https_enabled,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(kind: &str) -> instant_acme::Error {
        instant_acme::Error::Api(
            serde_json::from_value(serde_json::json!({"type": format!("urn:ietf:params:acme:error:{kind}"), "detail": "x"}))
                .unwrap(),
        )
    }

    #[test]
    fn errors_are_classified() {
        assert_eq!(classify(&api("badNonce")), Class::Transient);
        assert_eq!(classify(&api("serverInternal")), Class::Transient);
        assert_eq!(classify(&api("accountDoesNotExist")), Class::AccountGone);
        assert_eq!(classify(&api("rateLimited")), Class::Fatal);
        assert_eq!(classify(&api("rejectedIdentifier")), Class::Fatal);
        assert_eq!(
            classify(&instant_acme::Error::Timeout(None)),
            Class::Transient
        );
        assert_eq!(
            classify(&instant_acme::Error::Other("connection refused".into())),
            Class::Transient
        );
        assert_eq!(
            classify(&instant_acme::Error::Unsupported("x")),
            Class::Fatal
        );
        assert_eq!(problem_type(&api("rateLimited")), Some("rateLimited"));
    }

    #[test]
    fn challenge_order_prefers_and_falls_back() {
        use Challenge::*;
        assert_eq!(challenge_order(Http01, true, true), [Http01, TlsAlpn01]);
        assert_eq!(challenge_order(TlsAlpn01, true, true), [TlsAlpn01, Http01]);
        assert_eq!(challenge_order(Http01, false, true), [TlsAlpn01]);
        assert_eq!(challenge_order(TlsAlpn01, true, false), [Http01]);
        assert!(challenge_order(Http01, false, false).is_empty());
    }

    #[test]
    fn ari_refresh_is_bounded() {
        assert_eq!(
            ari_refresh(StdDuration::from_secs(6 * 3600)),
            Duration::hours(6)
        );
        assert_eq!(ari_refresh(StdDuration::ZERO), ARI_MIN_REFRESH);
        assert_eq!(
            ari_refresh(StdDuration::from_secs(30 * 86400)),
            ARI_MAX_REFRESH
        );
    }
}
