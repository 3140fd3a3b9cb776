//! Login attempts are limited per client address and account name: from one
//! address, one account's password can be guessed no faster than
//! `auth.login_attempts_per_minute` (all at once, then one per share of the
//! minute), while its owner logging in from elsewhere is not held up.

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    state::keyed::HashMapStateStore,
};

type Key = (IpAddr, String);

/// Past this many remembered (address, account) pairs, those back to a full allowance are dropped.
const MAX_KEYS: usize = 10_000;

pub struct LoginThrottle {
    /// `None`: unlimited.
    limiter: Option<RateLimiter<Key, HashMapStateStore<Key>, DefaultClock>>,
    clock: DefaultClock,
}

impl LoginThrottle {
    /// `per_minute` attempts per address and account; 0 for no limit.
    pub fn new(per_minute: u32) -> LoginThrottle {
        let limiter = NonZeroU32::new(per_minute).map(|n| RateLimiter::hashmap(Quota::per_minute(n)));
        LoginThrottle { limiter, clock: DefaultClock::default() }
    }

    /// Counts an attempt to log in to `account` (an id, or a name as typed) from
    /// `from`: `Err(wait)` when it is one too many, with how long until the next
    /// is allowed.
    pub fn attempt(&self, from: IpAddr, account: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        if limiter.len() > MAX_KEYS {
            limiter.retain_recent();
        }
        limiter.check_key(&(from, account.trim().to_lowercase())).map_err(|late| late.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_each_address_and_account_on_its_own() {
        let throttle = LoginThrottle::new(3);
        let (here, there): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            assert!(throttle.attempt(here, "admin").is_ok());
        }
        let wait = throttle.attempt(here, " ADMIN ").expect_err("the fourth in a minute is refused");
        assert!(wait > Duration::from_secs(15) && wait <= Duration::from_secs(20), "{wait:?}");
        assert!(throttle.attempt(there, "admin").is_ok(), "another address is not held up");
        assert!(throttle.attempt(here, "someone-else").is_ok(), "another account is not held up");
    }

    #[test]
    fn zero_means_no_limit() {
        let throttle = LoginThrottle::new(0);
        let here: IpAddr = "10.0.0.1".parse().unwrap();
        assert!((0..1000).all(|_| throttle.attempt(here, "admin").is_ok()));
    }
}
