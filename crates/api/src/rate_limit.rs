//! Login rate limits, per client address and per account, so neither one address trying many
//! accounts nor many addresses trying one account get far. In memory per instance: with N
//! instances an attacker gets at most N times the budget, which the limits allow for.

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{clock::DefaultClock, state::keyed::DefaultKeyedStateStore, Quota, RateLimiter};

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// Attempts per minute per client address (burst allowed up to the same number).
pub const PER_ADDRESS_PER_MINUTE: u32 = 20;
/// Attempts per minute per account.
pub const PER_ACCOUNT_PER_MINUTE: u32 = 5;

pub struct LoginLimits {
    by_address: Keyed<IpAddr>,
    by_account: Keyed<String>,
}

impl Default for LoginLimits {
    fn default() -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).expect("non-zero"));
        Self {
            by_address: RateLimiter::keyed(quota(PER_ADDRESS_PER_MINUTE)),
            by_account: RateLimiter::keyed(quota(PER_ACCOUNT_PER_MINUTE)),
        }
    }
}

impl LoginLimits {
    /// `Err(wait)` when either limit is exhausted: the caller answers 429 with `Retry-After`.
    pub fn check(&self, address: Option<IpAddr>, account: &str) -> Result<(), Duration> {
        use governor::clock::{Clock, DefaultClock};
        let clock = DefaultClock::default();
        if let Some(address) = address {
            self.by_address
                .check_key(&address)
                .map_err(|n| n.wait_time_from(clock.now()))?;
        }
        self.by_account
            .check_key(&account.to_owned())
            .map_err(|n| n.wait_time_from(clock.now()))
    }

    /// Forgets keys whose buckets are full again; called periodically so memory stays bounded.
    pub fn forget_idle(&self) {
        self.by_address.retain_recent();
        self.by_account.retain_recent();
        self.by_address.shrink_to_fit();
        self.by_account.shrink_to_fit();
    }
}
