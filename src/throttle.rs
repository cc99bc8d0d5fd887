//! Rate limits for log lines an outsider can trigger (a bad request, a reset stream, an
//! unreachable upstream under load): a token bucket per kind of line, and a count of the lines
//! left out, reported on the next line that gets through.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One kind of log line, usually a `static`.
pub struct Throttle {
    burst: u32,
    /// One token comes back per `refill`.
    refill: Duration,
    state: Mutex<State>,
}

struct State {
    tokens: u32,
    /// When the last token came back; `None` until first used.
    since: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    /// Up to `burst` lines at once, then one per `refill`.
    pub const fn new(burst: u32, refill: Duration) -> Throttle {
        Throttle {
            burst,
            refill,
            state: Mutex::new(State {
                tokens: burst,
                since: None,
                suppressed: 0,
            }),
        }
    }

    /// `Some(n)` when a line may be logged now, `n` being how many were left out before it;
    /// `None` when this one is to be left out (and counted).
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let since = *state.since.get_or_insert(now);
        let earned =
            now.saturating_duration_since(since).as_nanos() / self.refill.as_nanos().max(1);
        if earned > 0 {
            state.tokens = self.burst.min(
                state
                    .tokens
                    .saturating_add(u32::try_from(earned).unwrap_or(u32::MAX)),
            );
            state.since = Some(now);
        }
        if state.tokens == 0 {
            state.suppressed += 1;
            return None;
        }
        state.tokens -= 1;
        Some(std::mem::take(&mut state.suppressed))
    }
}

/// `tracing::warn!` through a [`Throttle`]: the line gets a `suppressed` field counting the
/// similar lines left out before it.
#[macro_export]
macro_rules! warn_throttled {
    ($throttle:expr, $($arg:tt)+) => {
        if let Some(suppressed) = $throttle.allow() {
            tracing::warn!(suppressed, $($arg)+);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills_and_counts_what_was_left_out() {
        let throttle = Throttle::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(throttle.allow_at(t0), Some(0));
        assert_eq!(throttle.allow_at(t0), Some(0));
        for _ in 0..5 {
            assert_eq!(throttle.allow_at(t0 + Duration::from_secs(9)), None);
        }
        assert_eq!(throttle.allow_at(t0 + Duration::from_secs(10)), Some(5));
        assert_eq!(throttle.allow_at(t0 + Duration::from_secs(11)), None);
        // A long quiet spell gives back the burst, not more.
        let later = t0 + Duration::from_secs(1000);
        assert_eq!(throttle.allow_at(later), Some(1));
        assert_eq!(throttle.allow_at(later), Some(0));
        assert_eq!(throttle.allow_at(later), None);
    }
}
