//! Login attempts are limited twice. Per client address and account: from one
//! address (IPv6: one /64, what a single host usually gets), one account's
//! password can be guessed no faster than `auth.login_attempts_per_minute` (all
//! at once, then one per share of the minute), while its owner logging in from
//! elsewhere is not held up. Per account from all addresses together:
//! `auth.login_attempts_per_account_per_hour`, so many addresses buy an attacker
//! no more guesses (the price: such an attacker can hold the account's logins
//! up for the rest of the hour, which tokens and API keys already issued survive).

use std::{
    net::{IpAddr, Ipv6Addr},
    num::NonZeroU32,
    time::Duration,
};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    state::keyed::HashMapStateStore,
};

type Key = (IpAddr, String);
type Limiter<K> = RateLimiter<K, HashMapStateStore<K>, DefaultClock>;

/// Past this many remembered keys, those back to a full allowance are dropped.
const MAX_KEYS: usize = 10_000;

pub struct LoginThrottle {
    /// `None`: unlimited.
    per_address: Option<Limiter<Key>>,
    per_account: Option<Limiter<String>>,
    clock: DefaultClock,
}

impl LoginThrottle {
    /// `per_minute` attempts per address and account, `per_account_per_hour` per
    /// account from everywhere; 0 for no limit.
    pub fn new(per_minute: u32, per_account_per_hour: u32) -> LoginThrottle {
        LoginThrottle {
            per_address: NonZeroU32::new(per_minute).map(|n| RateLimiter::hashmap(Quota::per_minute(n))),
            per_account: NonZeroU32::new(per_account_per_hour).map(|n| RateLimiter::hashmap(Quota::per_hour(n))),
            clock: DefaultClock::default(),
        }
    }

    /// Counts an attempt to log in to `account` (an id, or a name as typed) from
    /// `from`: `Err(wait)` when it is one too many, with how long until the next
    /// is allowed.
    pub fn attempt(&self, from: IpAddr, account: &str) -> Result<(), Duration> {
        let account = account.trim().to_lowercase();
        let late = |late: governor::NotUntil<_>| late.wait_time_from(self.clock.now());
        if let Some(limiter) = &self.per_address {
            if limiter.len() > MAX_KEYS {
                limiter.retain_recent();
            }
            limiter.check_key(&(network_of(from), account.clone())).map_err(late)?;
        }
        if let Some(limiter) = &self.per_account {
            if limiter.len() > MAX_KEYS {
                limiter.retain_recent();
            }
            limiter.check_key(&account).map_err(late)?;
        }
        Ok(())
    }
}

/// The address as throttling counts it: IPv6 by /64, IPv4-mapped as IPv4.
fn network_of(ip: IpAddr) -> IpAddr {
    match crate::net::canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_each_address_and_account_on_its_own() {
        let throttle = LoginThrottle::new(3, 0);
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
    fn ipv6_counts_by_64() {
        let throttle = LoginThrottle::new(2, 0);
        for host in ["2001:db8:1:2::1", "2001:db8:1:2::2"] {
            assert!(throttle.attempt(host.parse().unwrap(), "admin").is_ok());
        }
        assert!(throttle.attempt("2001:db8:1:2:ffff::9".parse().unwrap(), "admin").is_err(), "same /64");
        assert!(throttle.attempt("2001:db8:1:3::1".parse().unwrap(), "admin").is_ok(), "another /64");
        let mapped = LoginThrottle::new(1, 0);
        assert!(mapped.attempt("10.0.0.1".parse().unwrap(), "admin").is_ok());
        assert!(mapped.attempt("::ffff:10.0.0.1".parse().unwrap(), "admin").is_err(), "IPv4-mapped is IPv4");
    }

    #[test]
    fn many_addresses_share_one_account_allowance() {
        let throttle = LoginThrottle::new(3, 5);
        for n in 0..5 {
            let from: IpAddr = format!("198.51.100.{n}").parse().unwrap();
            assert!(throttle.attempt(from, "admin").is_ok());
        }
        let wait = throttle.attempt("203.0.113.1".parse().unwrap(), "admin").expect_err("a sixth address is refused");
        assert!(wait > Duration::from_secs(600), "{wait:?}");
        assert!(throttle.attempt("203.0.113.1".parse().unwrap(), "other").is_ok());
    }

    #[test]
    fn zero_means_no_limit() {
        let throttle = LoginThrottle::new(0, 0);
        let here: IpAddr = "10.0.0.1".parse().unwrap();
        assert!((0..1000).all(|_| throttle.attempt(here, "admin").is_ok()));
    }
}
