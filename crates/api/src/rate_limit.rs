//! Login rate limits per client address and per account, kept in the shared database so that
//! every instance draws on one budget and a deploy resets nothing.
//!
//! Each limit is a GCRA bucket (the generic cell rate algorithm, as the `governor` crate and
//! most rate limiters implement it): `n` attempts per minute with a burst of `n`, stored as the
//! *theoretical arrival time* (TAT) of the next attempt. An attempt at `now` is let through when
//! `max(TAT, now) − now ≤ (n − 1) × interval`, and then moves the TAT one interval on. One SQL
//! statement reads and writes the bucket, so concurrent attempts on any number of instances are
//! counted exactly once each.

use std::{net::IpAddr, time::Duration};

use sqlx::Row;

use crate::{db::Database, with_pool};

/// Attempts per minute per client address (burst allowed up to the same number).
pub const PER_ADDRESS_PER_MINUTE: u32 = 20;
/// Attempts per minute per account.
pub const PER_ACCOUNT_PER_MINUTE: u32 = 5;

/// The bucket an address draws on: an IPv4 address (IPv4-mapped IPv6 included) on its own, an
/// IPv6 address by its /64, the smallest network a host is usually given (RFC 6177 §3), so that
/// one host cannot take a fresh budget from each of its 2^64 addresses.
pub fn address_bucket(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => format!("address:{v4}"),
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !(u128::from(u64::MAX));
            format!("address:{}/64", std::net::Ipv6Addr::from(network))
        }
    }
}

#[cfg(test)]
mod address_tests {
    use super::address_bucket;

    #[test]
    fn ipv6_addresses_share_their_64_and_mapped_ipv4_is_ipv4() {
        let bucket = |s: &str| address_bucket(s.parse().unwrap());
        assert_eq!(bucket("2001:db8:1:2::7"), "address:2001:db8:1:2::/64");
        assert_eq!(bucket("2001:db8:1:2:ffff::1"), bucket("2001:db8:1:2::7"));
        assert_ne!(bucket("2001:db8:1:3::7"), bucket("2001:db8:1:2::7"));
        assert_eq!(bucket("::ffff:203.0.113.7"), "address:203.0.113.7");
        assert_eq!(bucket("203.0.113.7"), "address:203.0.113.7");
    }
}

/// `$1` bucket, `$2` now (ms), `$3` interval (ms), `$4` tolerance (ms). A new bucket lets the
/// attempt through; an existing one follows the GCRA rule above.
const ATTEMPT: &str =
    "INSERT INTO login_limits (bucket, tat_ms, last_allowed) VALUES ($1, $2 + $3, 1)
     ON CONFLICT (bucket) DO UPDATE SET
       tat_ms = CASE
         WHEN (CASE WHEN login_limits.tat_ms > $2 THEN login_limits.tat_ms ELSE $2 END) - $2 <= $4
         THEN (CASE WHEN login_limits.tat_ms > $2 THEN login_limits.tat_ms ELSE $2 END) + $3
         ELSE login_limits.tat_ms END,
       last_allowed = CASE
         WHEN (CASE WHEN login_limits.tat_ms > $2 THEN login_limits.tat_ms ELSE $2 END) - $2 <= $4
         THEN 1 ELSE 0 END
     RETURNING tat_ms, last_allowed";
const FORGET_FULL: &str = "DELETE FROM login_limits WHERE tat_ms < $1";

/// `n` attempts per minute, burst `n`.
#[derive(Debug, Clone, Copy)]
struct Quota {
    interval_ms: i64,
    tolerance_ms: i64,
}

impl Quota {
    const fn per_minute(n: u32) -> Quota {
        let interval_ms = 60_000 / n as i64;
        Quota {
            interval_ms,
            tolerance_ms: interval_ms * (n as i64 - 1),
        }
    }
}

/// What an attempt gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The attempt may proceed.
    Allowed,
    /// Refused: retry after this long (at least one second, as `Retry-After` counts).
    Limited(Duration),
}

/// The two limits a login attempt passes.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    per_address: Quota,
    per_account: Quota,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_address: Quota::per_minute(PER_ADDRESS_PER_MINUTE),
            per_account: Quota::per_minute(PER_ACCOUNT_PER_MINUTE),
        }
    }
}

impl LoginLimits {
    /// Counts one attempt against `address` (when known) and then `account`; an attempt refused
    /// by the address limit does not spend the account's budget.
    ///
    /// # Errors
    /// The database error when the limits cannot be read: the caller answers 503, never an
    /// unlimited attempt.
    pub async fn check(
        &self,
        db: &Database,
        address: Option<IpAddr>,
        account: &str,
    ) -> Result<Verdict, sqlx::Error> {
        if let Some(address) = address {
            let verdict = attempt(db, &address_bucket(address), self.per_address).await?;
            if verdict != Verdict::Allowed {
                return Ok(verdict);
            }
        }
        attempt(db, &format!("account:{account}"), self.per_account).await
    }

    /// Deletes buckets that are full again (their TAT has passed): what they hold is what a new
    /// bucket would. Returns how many went.
    ///
    /// # Errors
    /// The database error.
    pub async fn forget_full(db: &Database) -> Result<u64, sqlx::Error> {
        let now = now_ms();
        with_pool!(db, pool => sqlx::query(FORGET_FULL).bind(now).execute(pool).await.map(|r| r.rows_affected()))
    }
}

async fn attempt(db: &Database, bucket: &str, quota: Quota) -> Result<Verdict, sqlx::Error> {
    let now = now_ms();
    let row = with_pool!(db, pool => {
        let row = sqlx::query(ATTEMPT)
            .bind(bucket)
            .bind(now)
            .bind(quota.interval_ms)
            .bind(quota.tolerance_ms)
            .fetch_one(pool)
            .await?;
        Ok::<_, sqlx::Error>((row.try_get::<i64, _>("tat_ms")?, row.try_get::<i32, _>("last_allowed")?))
    })?;
    let (tat, allowed) = row;
    if allowed == 1 {
        return Ok(Verdict::Allowed);
    }
    // The earliest moment the rule lets an attempt through: TAT − tolerance.
    let wait_ms = (tat - quota.tolerance_ms - now).max(1000);
    Ok(Verdict::Limited(Duration::from_millis(
        u64::try_from(wait_ms).unwrap_or(1000).div_ceil(1000) * 1000,
    )))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
