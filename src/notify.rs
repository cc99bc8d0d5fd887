//! Telling systemd how the daemon is doing (sd_notify): readiness, reloads, stopping, the watchdog
//! and a `STATUS=` line a person reads in `systemctl status`.
//!
//! Outside systemd (no `NOTIFY_SOCKET`) every call is a no-op, so `matrixbox run` in a terminal
//! behaves the same.

use std::future::Future;
use std::time::Duration;

use sd_notify::NotifyState;
use time::OffsetDateTime;

/// How often the supervisor wakes when systemd has no watchdog for it: the reconcile period.
pub const IDLE_TICK: Duration = Duration::from_secs(30);

/// The notification socket plus the watchdog interval systemd asked for (`WATCHDOG_USEC`).
#[derive(Debug, Clone)]
pub struct Notifier {
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `WATCHDOG_USEC`/`WATCHDOG_PID` (ignored when meant for another process).
    pub fn from_env() -> Notifier {
        Notifier {
            watchdog: sd_notify::watchdog_enabled(),
        }
    }

    /// How often the supervisor loop must wake to keep the watchdog fed.
    pub fn tick(&self) -> Duration {
        tick_for(self.watchdog)
    }

    pub fn ready(&self, status: &str) {
        send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    pub fn status(&self, status: &str) {
        send(&[NotifyState::Status(status)]);
    }

    /// systemd 253+ refuses `RELOADING=1` without `MONOTONIC_USEC` (and fails the unit).
    pub fn reloading(&self) {
        let mut states = vec![
            NotifyState::Reloading,
            NotifyState::Status("reloading the configuration"),
        ];
        match NotifyState::monotonic_usec_now() {
            Ok(now) => states.push(now),
            Err(e) => tracing::debug!("cannot read the monotonic clock for sd_notify: {e}"),
        }
        send(&states);
    }

    pub fn stopping(&self, status: &str) {
        send(&[NotifyState::Stopping, NotifyState::Status(status)]);
    }

    pub fn watchdog(&self) {
        if self.watchdog.is_some() {
            send(&[NotifyState::Watchdog]);
        }
    }

    /// Awaits `work` while feeding the watchdog every tick. The pings come from the task that
    /// awaits `work`, so a stopped or wedged process stops them and systemd restarts it, while a
    /// long reconcile (an image pull, Synapse's first migrations) does not.
    pub async fn while_working<F: Future>(&self, work: F) -> F::Output {
        tokio::pin!(work);
        let mut ticks = tokio::time::interval(self.tick());
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = ticks.tick() => self.watchdog(),
            }
        }
    }
}

fn send(states: &[NotifyState]) {
    // Failing to notify is not a reason to stop serving; systemd will say what it missed.
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("cannot notify systemd ({states:?}): {e}");
    }
}

/// Pure: wake at a third of the watchdog interval (systemd recommends half; a third leaves room
/// for a busy runtime), never less often than the reconcile period, never more than 10 times a second.
pub fn tick_for(watchdog: Option<Duration>) -> Duration {
    match watchdog {
        Some(w) => (w / 3).clamp(Duration::from_millis(100), IDLE_TICK),
        None => IDLE_TICK,
    }
}

/// What the supervisor knows about the homeserver behind the edge.
#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    /// Our containers passed the last reconcile.
    Healthy,
    /// The last reconcile failed (first line of the error).
    Failing(String),
    /// An external Synapse (`upstream:` in the config); matrixbox does not manage it.
    External(String),
}

/// Pure: the `STATUS=` line, e.g. "serving matrix.example.com; synapse healthy; cert valid 61 days".
pub fn status_line(
    domain: &str,
    backend: &Backend,
    cert_not_after: Option<OffsetDateTime>,
    reload_error: Option<&str>,
    now: OffsetDateTime,
) -> String {
    let mut parts = vec![format!("serving {domain}")];
    parts.push(match backend {
        Backend::Healthy => "synapse healthy".into(),
        Backend::Failing(why) => format!("synapse unhealthy: {}", first_line(why)),
        Backend::External(upstream) => format!("upstream {upstream}"),
    });
    parts.push(match cert_not_after {
        None => "no certificate".into(),
        Some(t) if t <= now => "certificate EXPIRED".into(),
        Some(t) => {
            let left = t - now;
            match left.whole_days() {
                0 => format!("cert valid {} hours", left.whole_hours().max(1)),
                1 => "cert valid 1 day".into(),
                days => format!("cert valid {days} days"),
            }
        }
    });
    if let Some(why) = reload_error {
        parts.push(format!(
            "last reload failed, previous configuration kept: {}",
            one_line(why)
        ));
    }
    first_line(&parts.join("; "))
}

/// Pure: the first line of `text`, shortened to what fits in `systemctl status` (a status line is
/// one line; errors from Docker or Synapse can span many).
pub fn first_line(text: &str) -> String {
    const MAX: usize = 400;
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

/// Pure: all of `text` on one line (a config error lists its problems on indented lines).
pub fn one_line(text: &str) -> String {
    let joined: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    first_line(&joined.join(" "))
}

/// The certificate's end of validity, read from its DER form.
pub fn not_after(der: &[u8]) -> Option<OffsetDateTime> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.to_datetime())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    #[test]
    fn tick_keeps_the_watchdog_fed() {
        assert_eq!(tick_for(None), IDLE_TICK);
        assert_eq!(
            tick_for(Some(Duration::from_secs(60))),
            Duration::from_secs(20)
        );
        // Never slower than the reconcile period, even with a long watchdog.
        assert_eq!(tick_for(Some(Duration::from_secs(600))), IDLE_TICK);
        assert_eq!(
            tick_for(Some(Duration::from_millis(30))),
            Duration::from_millis(100)
        );
        for secs in [1, 5, 30, 90] {
            let w = Duration::from_secs(secs);
            assert!(tick_for(Some(w)) * 2 <= w, "{w:?}");
        }
    }

    #[test]
    fn status_lines_read_like_sentences() {
        let in_61_days = NOW + time::Duration::days(61) + time::Duration::hours(3);
        assert_eq!(
            status_line(
                "matrix.example.com",
                &Backend::Healthy,
                Some(in_61_days),
                None,
                NOW
            ),
            "serving matrix.example.com; synapse healthy; cert valid 61 days"
        );
        assert_eq!(
            status_line(
                "m.example",
                &Backend::External("http://10.0.0.5:8008".into()),
                Some(NOW + time::Duration::hours(5)),
                None,
                NOW
            ),
            "serving m.example; upstream http://10.0.0.5:8008; cert valid 5 hours"
        );
        assert_eq!(
            status_line(
                "m.example",
                &Backend::Failing(
                    "Synapse (matrixbox-synapse) exited (status 1); its last log lines:\nTraceback"
                        .into()
                ),
                Some(NOW - time::Duration::days(1)),
                Some("/etc/matrixbox/matrixbox.yaml has 1 problem"),
                NOW
            ),
            "serving m.example; synapse unhealthy: Synapse (matrixbox-synapse) exited (status 1); its last log lines:; certificate EXPIRED; last reload failed, previous configuration kept: /etc/matrixbox/matrixbox.yaml has 1 problem"
        );
        assert_eq!(
            status_line("m.example", &Backend::Healthy, None, Some("bad key"), NOW),
            "serving m.example; synapse healthy; no certificate; last reload failed, previous configuration kept: bad key"
        );
    }

    #[test]
    fn long_lines_are_cut() {
        let long = "x".repeat(1000);
        assert_eq!(first_line(&long).chars().count(), 401);
        assert_eq!(first_line("a\nb"), "a");
        assert_eq!(
            one_line(
                "/m.yaml has 1 problem:\n  - domian: unknown key\n      did you mean `domain`?\n"
            ),
            "/m.yaml has 1 problem: - domian: unknown key did you mean `domain`?"
        );
    }

    #[test]
    fn expiry_is_read_from_the_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["a.example".into()]).unwrap();
        params.not_after = datetime!(2030-05-06 07:08:09 UTC);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            not_after(cert.der()),
            Some(datetime!(2030-05-06 07:08:09 UTC))
        );
        assert_eq!(not_after(b"not a certificate"), None);
    }
}
