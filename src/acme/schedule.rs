//! When to renew, how long to sleep between checks and how to back off after failures: pure
//! functions of `now` and observed state, so every rule is unit-tested.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// How often the manager looks again when nothing is due: often enough to notice a moved ARI
/// window or a jumped clock, rarely enough to cost nothing.
pub const CHECK_INTERVAL: Duration = Duration::minutes(10);
/// Below this lifetime a certificate is renewed at half of it rather than at a third.
const SHORT_LIFETIME: Duration = Duration::days(10);
/// Checks never come closer together than this, however short the certificate.
const MIN_CHECK: Duration = Duration::seconds(1);

/// The validity period written in a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Validity {
    pub fn lifetime(&self) -> Duration {
        self.not_after - self.not_before
    }

    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        self.not_before <= now && now < self.not_after
    }
}

/// A renewal window suggested by the CA through ACME Renewal Information (RFC 9773).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

/// Renewal by lifetime alone: when a third of it is left, or half for short-lived certificates
/// (a third of a 6-day certificate leaves too little time to retry a failure).
pub fn lifetime_renewal(validity: Validity) -> OffsetDateTime {
    let lifetime = validity.lifetime();
    let left = if lifetime < SHORT_LIFETIME {
        lifetime / 2
    } else {
        lifetime / 3
    };
    validity.not_after - left
}

/// When to renew. With an ARI window: the point `point` (in [0, 1]) of the way through it, since
/// RFC 9773 asks clients to pick a uniformly random time in the window so they spread out. A
/// window that would let the certificate expire first is not believed.
pub fn renewal_time(validity: Validity, ari: Option<Window>, point: f64) -> OffsetDateTime {
    match ari {
        Some(window) if window.end >= window.start => {
            let at = window.start + (window.end - window.start) * point.clamp(0.0, 1.0);
            if at < validity.not_after {
                at
            } else {
                lifetime_renewal(validity)
            }
        }
        _ => lifetime_renewal(validity),
    }
}

/// Time between checks: ten minutes, or a tenth of the lifetime for short test certificates,
/// scaled by `jitter` (in [0, 1]) into ±10 % so that many servers do not check in step.
pub fn check_interval(lifetime: Duration, jitter: f64) -> Duration {
    let base = CHECK_INTERVAL.min(lifetime / 10).max(MIN_CHECK);
    (base * (0.9 + 0.2 * jitter.clamp(0.0, 1.0))).max(MIN_CHECK)
}

/// Wait after the `failures`-th failure in a row: 1 min, 10 min, 100 min, then daily. Persisted,
/// so a crash-looping process cannot hammer the CA.
pub fn backoff_delay(failures: u32) -> Duration {
    match failures {
        0 => Duration::ZERO,
        1 => Duration::minutes(1),
        2 => Duration::minutes(10),
        3 => Duration::minutes(100),
        _ => Duration::days(1),
    }
}

/// Renewal bookkeeping kept in `state/acme/renewal.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RenewalState {
    /// The names this state is about; a different set (the config changed) starts afresh.
    #[serde(default)]
    pub names: Vec<String>,
    /// Failed attempts in a row.
    #[serde(default)]
    pub failures: u32,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_failure: Option<OffsetDateTime>,
    #[serde(default)]
    pub last_error: Option<String>,
    /// Set while an attempt runs. Still set at startup means the process died during it, which
    /// counts as a failure: otherwise a crash during an order would retry at full speed.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub attempt_started: Option<OffsetDateTime>,
    /// When the last certificate was obtained; see [`plan`].
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_obtained: Option<OffsetDateTime>,
    /// The renewal the manager last planned, for `matrixbox status`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub next_renewal: Option<OffsetDateTime>,
}

impl RenewalState {
    /// The state to continue from at startup, for `names`.
    pub fn resume(mut self, names: &[String]) -> RenewalState {
        if !same_names(&self.names, names) {
            // The user changed the names, probably to fix what failed: do not make them wait.
            return RenewalState {
                names: names.to_vec(),
                ..RenewalState::default()
            };
        }
        if let Some(started) = self.attempt_started.take() {
            self.failures += 1;
            self.last_failure = Some(started);
            self.last_error = Some("interrupted: matrixbox stopped during an attempt".into());
        }
        self
    }

    /// The earliest time another attempt may start, if failures hold it back.
    pub fn next_attempt(&self) -> Option<OffsetDateTime> {
        self.last_failure
            .map(|at| at + backoff_delay(self.failures))
    }

    pub fn begin(&mut self, now: OffsetDateTime) {
        self.attempt_started = Some(now);
    }

    /// Undoes `begin` for an attempt cut short on purpose (shutdown), which is no failure.
    pub fn abandon(&mut self) {
        self.attempt_started = None;
    }

    pub fn failed(&mut self, now: OffsetDateTime, error: String) {
        self.failures += 1;
        self.last_failure = Some(now);
        self.last_error = Some(error);
        self.attempt_started = None;
    }

    pub fn succeeded(&mut self, now: OffsetDateTime) {
        self.last_obtained = Some(now);
        self.failures = 0;
        self.last_failure = None;
        self.last_error = None;
        self.attempt_started = None;
    }
}

fn same_names(a: &[String], b: &[String]) -> bool {
    let norm = |names: &[String]| {
        let mut v: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        v.sort();
        v.dedup();
        v
    };
    norm(a) == norm(b)
}

/// Whether the certificate being served is the one the config asks for: from the configured
/// issuer and covering every name. A certificate that is not still gets served until replaced.
pub fn fits(
    source: &str,
    wanted_source: &str,
    cert_names: &[String],
    wanted_names: &[String],
) -> bool {
    source == wanted_source
        && wanted_names
            .iter()
            .all(|w| cert_names.iter().any(|c| c.eq_ignore_ascii_case(w)))
}

/// What the manager does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Get a certificate now.
    Obtain,
    /// Nothing to do before this time.
    Wait(OffsetDateTime),
}

/// The certificate currently served, as far as planning cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    pub validity: Validity,
    /// See [`fits`].
    pub fits: bool,
    /// From [`renewal_time`].
    pub renew_at: OffsetDateTime,
}

/// Decides between obtaining now and waiting. A certificate is obtained when none is served,
/// when the served one does not fit the config, or when its renewal time has come; in every
/// case only once the failure backoff allows. Until then the served certificate stays.
///
/// A fitting certificate obtained less than a check interval ago is never replaced, even if it
/// is already "due" (a CA issuing absurdly short certificates, or a bogus ARI window): nothing
/// may turn this into a loop of orders.
pub fn plan(
    now: OffsetDateTime,
    served: Option<Served>,
    state: &RenewalState,
    check: Duration,
) -> Plan {
    let next_check = now + check;
    match served {
        None => {}
        Some(s) if !s.fits => {}
        Some(s) if now < s.renew_at => return Plan::Wait(s.renew_at.min(next_check)),
        Some(_) => {
            if let Some(at) = state.last_obtained.map(|t| t + check).filter(|&t| t > now) {
                return Plan::Wait(at);
            }
        }
    }
    match state.next_attempt() {
        Some(at) if at > now => Plan::Wait(at.min(next_check)),
        _ => Plan::Obtain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2025-01-01 00:00 UTC);

    fn validity(days: i64) -> Validity {
        Validity {
            not_before: T0,
            not_after: T0 + Duration::days(days),
        }
    }

    #[test]
    fn lifetime_rule_third_or_half() {
        // Let's Encrypt's 90 days: renew with 30 days left.
        assert_eq!(lifetime_renewal(validity(90)), T0 + Duration::days(60));
        // 6-day certificates: half.
        assert_eq!(lifetime_renewal(validity(6)), T0 + Duration::days(3));
        // Exactly 10 days is not short.
        assert_eq!(lifetime_renewal(validity(30)), T0 + Duration::days(20));
        let short = Validity {
            not_before: T0,
            not_after: T0 + Duration::seconds(90),
        };
        assert_eq!(lifetime_renewal(short), T0 + Duration::seconds(45));
    }

    #[test]
    fn ari_window_is_followed_when_offered() {
        let v = validity(90);
        let window = Window {
            start: T0 + Duration::days(50),
            end: T0 + Duration::days(52),
        };
        assert_eq!(renewal_time(v, Some(window), 0.0), window.start);
        assert_eq!(renewal_time(v, Some(window), 1.0), window.end);
        assert_eq!(renewal_time(v, Some(window), 0.5), T0 + Duration::days(51));
        // Out-of-range points are clamped into the window.
        assert_eq!(renewal_time(v, Some(window), 7.0), window.end);
        // A CA asking for early renewal (e.g. a revocation incident) is obeyed.
        let urgent = Window {
            start: T0 - Duration::hours(2),
            end: T0 - Duration::hours(1),
        };
        assert!(renewal_time(v, Some(urgent), 0.3) < T0);
    }

    #[test]
    fn ari_absent_or_nonsense_falls_back_to_lifetime() {
        let v = validity(90);
        assert_eq!(renewal_time(v, None, 0.5), T0 + Duration::days(60));
        let after_expiry = Window {
            start: T0 + Duration::days(95),
            end: T0 + Duration::days(96),
        };
        assert_eq!(
            renewal_time(v, Some(after_expiry), 0.5),
            T0 + Duration::days(60)
        );
        let inverted = Window {
            start: T0 + Duration::days(52),
            end: T0 + Duration::days(50),
        };
        assert_eq!(
            renewal_time(v, Some(inverted), 0.5),
            T0 + Duration::days(60)
        );
    }

    #[test]
    fn check_interval_follows_short_certificates() {
        assert_eq!(
            check_interval(Duration::days(90), 0.5),
            Duration::minutes(10)
        );
        assert_eq!(
            check_interval(Duration::days(90), 0.0),
            Duration::minutes(9)
        );
        assert_eq!(
            check_interval(Duration::days(90), 1.0),
            Duration::minutes(11)
        );
        assert_eq!(
            check_interval(Duration::seconds(90), 0.5),
            Duration::seconds(9)
        );
        assert_eq!(
            check_interval(Duration::seconds(3), 0.0),
            Duration::seconds(1)
        );
        assert_eq!(check_interval(Duration::ZERO, 0.5), Duration::seconds(1));
    }

    #[test]
    fn backoff_schedule() {
        let delays: Vec<_> = (0..6).map(backoff_delay).collect();
        assert_eq!(
            delays,
            [
                Duration::ZERO,
                Duration::minutes(1),
                Duration::minutes(10),
                Duration::minutes(100),
                Duration::days(1),
                Duration::days(1)
            ]
        );
    }

    #[test]
    fn state_counts_failures_and_resets_on_success() {
        let names = vec!["a.org".to_string()];
        let mut s = RenewalState::default().resume(&names);
        assert_eq!(s.next_attempt(), None);
        s.begin(T0);
        s.failed(T0, "boom".into());
        assert_eq!(s.next_attempt(), Some(T0 + Duration::minutes(1)));
        s.failed(T0 + Duration::minutes(1), "boom".into());
        assert_eq!(s.next_attempt(), Some(T0 + Duration::minutes(11)));
        s.succeeded(T0 + Duration::minutes(2));
        assert_eq!(s.failures, 0);
        assert_eq!(s.next_attempt(), None);
        assert_eq!(s.last_error, None);
    }

    #[test]
    fn persisted_state_round_trips_and_interrupted_attempt_counts() {
        let names = vec!["a.org".to_string(), "b.org".to_string()];
        let mut s = RenewalState::default().resume(&names);
        s.failed(T0, "connection refused".into());
        s.begin(T0 + Duration::minutes(2));
        s.next_renewal = Some(T0 + Duration::days(60));
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("2025-01-01T00:02:00Z"), "{json}");
        let back: RenewalState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        // Restarted while the second attempt ran: that is a second failure, backing off 10 min.
        let resumed = back.resume(&["B.org".to_string(), "a.org".to_string()]);
        assert_eq!(resumed.failures, 2);
        assert_eq!(resumed.attempt_started, None);
        assert_eq!(resumed.next_attempt(), Some(T0 + Duration::minutes(12)));
        // Other names: start afresh.
        let other = s.clone().resume(&["c.org".to_string()]);
        assert_eq!(other.failures, 0);
        assert_eq!(other.names, ["c.org"]);
        // Older or hand-trimmed files still load.
        let empty: RenewalState = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, RenewalState::default());
    }

    #[test]
    fn abandon_is_not_a_failure() {
        let names = vec!["a.org".to_string()];
        let mut s = RenewalState::default().resume(&names);
        s.begin(T0);
        s.abandon();
        assert_eq!(s.clone().resume(&names).failures, 0);
    }

    #[test]
    fn fits_needs_issuer_and_all_names() {
        let cert = vec!["a.org".to_string(), "b.org".to_string()];
        assert!(fits(
            "https://ca/dir",
            "https://ca/dir",
            &cert,
            &["A.org".to_string()]
        ));
        assert!(!fits(
            "internal",
            "https://ca/dir",
            &cert,
            &["a.org".to_string()]
        ));
        assert!(!fits(
            "https://ca/dir",
            "https://ca/dir",
            &cert,
            &["c.org".to_string()]
        ));
    }

    #[test]
    fn plan_decisions() {
        let names = vec!["a.org".to_string()];
        let fresh = RenewalState::default().resume(&names);
        let check = Duration::minutes(10);
        let served = Served {
            validity: validity(90),
            fits: true,
            renew_at: T0 + Duration::days(60),
        };
        // Nothing served (or only the stand-in from the internal CA): obtain.
        assert_eq!(plan(T0, None, &fresh, check), Plan::Obtain);
        assert_eq!(
            plan(
                T0,
                Some(Served {
                    fits: false,
                    ..served
                }),
                &fresh,
                check
            ),
            Plan::Obtain
        );
        // Valid and not due: never re-issue, wake at the next check.
        assert_eq!(
            plan(T0 + Duration::days(1), Some(served), &fresh, check),
            Plan::Wait(T0 + Duration::days(1) + check)
        );
        // Renewal closer than a check: wake exactly then.
        let near = T0 + Duration::days(60) - Duration::minutes(3);
        assert_eq!(
            plan(near, Some(served), &fresh, check),
            Plan::Wait(T0 + Duration::days(60))
        );
        // Due.
        assert_eq!(
            plan(T0 + Duration::days(60), Some(served), &fresh, check),
            Plan::Obtain
        );
        // Due but backing off: wait for the backoff, capped by the check interval.
        let mut failing = fresh.clone();
        let now = T0 + Duration::days(61);
        failing.failed(now, "x".into());
        assert_eq!(
            plan(now, Some(served), &failing, check),
            Plan::Wait(now + Duration::minutes(1))
        );
        failing.failed(now, "x".into());
        failing.failed(now, "x".into());
        assert_eq!(
            plan(now, Some(served), &failing, check),
            Plan::Wait(now + check)
        );
        assert_eq!(
            plan(now + Duration::minutes(100), Some(served), &failing, check),
            Plan::Obtain
        );
        // Backoff also holds back a first certificate.
        assert_eq!(plan(now, None, &failing, check), Plan::Wait(now + check));
        // Just obtained and somehow already due: no second order before a check interval.
        let mut obtained = fresh.clone();
        obtained.succeeded(now);
        let due_at_once = Served {
            renew_at: now - Duration::seconds(1),
            ..served
        };
        assert_eq!(
            plan(
                now + Duration::seconds(5),
                Some(due_at_once),
                &obtained,
                check
            ),
            Plan::Wait(now + check)
        );
        assert_eq!(
            plan(now + check, Some(due_at_once), &obtained, check),
            Plan::Obtain
        );
    }
}
