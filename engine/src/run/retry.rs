//! Backoff between attempts: exponential from `initial`, capped at `max`, with jitter so that
//! many steps failing together do not retry in lockstep.

use std::time::Duration;

use crate::model::RetryPolicy;

/// The delay before attempt `next` (2 for the first retry), given `jitter` in `[0, 1)`.
/// "Equal jitter": half of the exponential delay is fixed, the other half random, so a retry
/// never comes sooner than half the nominal delay.
pub(crate) fn delay(policy: &RetryPolicy, next: u32, jitter: f64) -> Duration {
    let initial = policy.backoff.initial.get();
    let max = policy.backoff.max.get().max(initial);
    let doublings = next.saturating_sub(2).min(32);
    let nominal = initial.saturating_mul(1u32 << doublings.min(31)).min(max);
    let jitter = jitter.clamp(0.0, 1.0);
    nominal / 2 + nominal.mul_f64(jitter / 2.0)
}

/// True when a failed attempt `attempt` may be followed by another.
pub(crate) fn may_retry(policy: Option<&RetryPolicy>, attempt: u32) -> bool {
    policy.is_some_and(|p| attempt < p.attempts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Backoff, Duration as D};

    fn policy(initial_ms: u64, max_ms: u64) -> RetryPolicy {
        RetryPolicy {
            attempts: 10,
            backoff: Backoff {
                initial: D(Duration::from_millis(initial_ms)),
                max: D(Duration::from_millis(max_ms)),
            },
        }
    }

    #[test]
    fn doubles_up_to_the_cap() {
        let p = policy(100, 1000);
        let nominal: Vec<u128> = (2..8).map(|n| delay(&p, n, 1.0).as_millis()).collect();
        assert_eq!(nominal, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn jitter_stays_within_half_and_full() {
        let p = policy(1000, 30_000);
        for j in [0.0, 0.25, 0.5, 0.999] {
            let d = delay(&p, 3, j).as_millis();
            assert!((1000..=2000).contains(&d), "{d}");
        }
        assert_eq!(delay(&p, 3, 0.0).as_millis(), 1000);
        assert_eq!(delay(&p, 3, 0.5).as_millis(), 1500);
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        let p = policy(1000, 5000);
        assert_eq!(delay(&p, u32::MAX, 1.0).as_millis(), 5000);
    }

    #[test]
    fn attempts_count_the_first() {
        let p = RetryPolicy {
            attempts: 3,
            ..policy(1, 1)
        };
        assert!(may_retry(Some(&p), 2));
        assert!(!may_retry(Some(&p), 3));
        assert!(!may_retry(None, 1));
    }
}
